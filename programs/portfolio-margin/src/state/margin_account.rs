use anchor_lang::prelude::*;

use super::exchange::MAX_COLLATERAL_ASSETS;
use crate::error::MarginError;

pub const MAX_POSITIONS: usize = 64;

#[zero_copy]
#[derive(Debug, Default, PartialEq, Eq)]
#[repr(C)]
pub struct Position {
    /// Signed quantity in contracts; 0 means the slot is free.
    pub quantity: i64,
    /// Average entry price of a future, USD `expo = -6`; premium of options is settled in quote at trade.
    pub entry_price: u64,
    pub underlying: u8,
    pub instrument: u8,
    pub padding: [u8; 6],
}

impl Position {
    pub fn is_active(&self) -> bool {
        self.quantity != 0
    }
}

#[account(zero_copy)]
#[derive(Debug)]
#[repr(C)]
pub struct MarginAccount {
    pub exchange: Pubkey,
    pub owner: Pubkey,
    /// May trade and deposit for the owner; may not withdraw or close. Default = none.
    pub delegate: Pubkey,
    /// Balances by the exchange's collateral asset index, native units. Only the quote (index 0)
    /// may be negative (premium and futures losses); the others are >= 0.
    pub balances: [i64; MAX_COLLATERAL_ASSETS],
    pub positions: [Position; MAX_POSITIONS],
    /// Unix time the account was first seen liquidatable, 0 when healthy.
    pub liquidation_started_at: i64,
    pub account_id: u32,
    pub bump: u8,
    pub version: u8,
    pub in_liquidation: u8,
    pub padding: [u8; 1],
    pub reserved: [u8; 128],
}

const _: () = assert!(core::mem::size_of::<Position>() == 24);
const _: () = assert!(
    core::mem::size_of::<MarginAccount>() == 32 * 3 + 8 * 8 + 24 * MAX_POSITIONS + 8 + 8 + 128
);

impl MarginAccount {
    pub const SPACE: usize = 8 + core::mem::size_of::<MarginAccount>();

    pub fn is_owner_or_delegate(&self, key: &Pubkey) -> bool {
        *key == self.owner || (self.delegate != Pubkey::default() && *key == self.delegate)
    }

    pub fn is_empty(&self) -> bool {
        self.balances.iter().all(|b| *b == 0) && self.positions.iter().all(|p| !p.is_active())
    }

    /// Bit set of the underlying indexes that this account's positions and priced collateral
    /// reference: the margin check needs exactly these `Underlying`s and oracles.
    pub fn underlying_mask(&self, collateral_underlying: impl Fn(usize) -> u8) -> u8 {
        let mut mask = 0u8;
        for (index, balance) in self.balances.iter().enumerate() {
            let underlying = collateral_underlying(index);
            if *balance != 0 && (underlying as usize) < 8 {
                mask |= 1 << underlying;
            }
        }
        for position in self.positions.iter().filter(|p| p.is_active()) {
            mask |= 1 << (position.underlying & 7);
        }
        mask
    }

    pub fn credit(&mut self, asset: usize, amount: u64) -> Result<()> {
        let amount = i64::try_from(amount).map_err(|_| MarginError::MathOverflow)?;
        let balance = &mut self.balances[asset];
        *balance = balance
            .checked_add(amount)
            .ok_or(MarginError::MathOverflow)?;
        Ok(())
    }

    /// Takes `amount` out of a balance that must cover it (no withdrawal into debt).
    pub fn debit(&mut self, asset: usize, amount: u64) -> Result<()> {
        let amount = i64::try_from(amount).map_err(|_| MarginError::InsufficientBalance)?;
        let balance = &mut self.balances[asset];
        require!(*balance >= amount, MarginError::InsufficientBalance);
        *balance -= amount;
        Ok(())
    }
}
