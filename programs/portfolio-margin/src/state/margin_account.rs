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
    /// The exchange's `quote_loss_index` that the quote balance is expressed at.
    pub quote_index: u64,
    /// Unix time the current Dutch auction started (its first step, or its restart), 0 when
    /// healthy.
    pub liquidation_started_at: i64,
    pub account_id: u32,
    pub bump: u8,
    pub version: u8,
    pub in_liquidation: u8,
    pub padding: [u8; 1],
    /// Unix time of the last liquidation step, 0 before the first. An auction whose last step
    /// is older than `liquidation_fee_ramp_secs` restarts at the starting fee. Carved out of
    /// `reserved` (8-aligned at offset 1,720), so existing accounts read 0 here.
    pub last_liquidation_at: i64,
    pub reserved: [u8; 120],
}

const _: () = assert!(core::mem::size_of::<Position>() == 24);
const _: () = assert!(
    core::mem::size_of::<MarginAccount>()
        == 32 * 3 + 8 * 8 + 24 * MAX_POSITIONS + 8 + 8 + 8 + 8 + 120
);
// The layout accounts were created with: 1,848 bytes, the new field where `reserved` began.
const _: () = assert!(core::mem::size_of::<MarginAccount>() == 1_848);
const _: () = assert!(core::mem::offset_of!(MarginAccount, last_liquidation_at) == 1_720);

impl MarginAccount {
    pub const SPACE: usize = 8 + core::mem::size_of::<MarginAccount>();

    /// The quote balance at the exchange's current loss index (what the account is owed or owes).
    pub fn effective_quote(&self, loss_index: u64) -> Result<i64> {
        super::exchange::apply_index(
            self.balances[super::exchange::QUOTE_ASSET_INDEX],
            self.quote_index,
            loss_index,
        )
    }

    pub fn quote(&self) -> i64 {
        self.balances[super::exchange::QUOTE_ASSET_INDEX]
    }

    /// Clears the liquidation state (the Dutch auction restarts if it becomes liquidatable
    /// again). Called wherever a margin check that writes the account finds it healthy:
    /// `liquidate` (the step restored health), `trade` (healthy after the fill), `withdraw`
    /// (initial margin met), `resolve_bankruptcy`. `last_liquidation_at` stays as a record.
    pub fn leave_liquidation(&mut self) {
        self.in_liquidation = 0;
        self.liquidation_started_at = 0;
    }

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

/// 10^12: a price (`expo = -6`) times a contract size (`expo = -6`) is USD with `expo = -12`.
const E12: i128 = 1_000_000_000_000;

/// Quote native units of `usd_e12` (USD `expo = -12`), rounded down (toward -inf).
pub fn quote_floor(usd_e12: i128, quote_decimals: u8) -> Result<i64> {
    let scaled = usd_e12
        .checked_mul(10i128.pow(u32::from(quote_decimals)))
        .ok_or(MarginError::MathOverflow)?;
    i64::try_from(scaled.div_euclid(E12)).map_err(|_| error!(MarginError::MathOverflow))
}

/// Quote native units of `usd_e12`, rounded up (toward +inf).
pub fn quote_ceil(usd_e12: i128, quote_decimals: u8) -> Result<i64> {
    let floor = quote_floor(usd_e12, quote_decimals)?;
    let exact = usd_e12
        .checked_mul(10i128.pow(u32::from(quote_decimals)))
        .ok_or(MarginError::MathOverflow)?;
    if exact.rem_euclid(E12) == 0 {
        Ok(floor)
    } else {
        floor
            .checked_add(1)
            .ok_or_else(|| error!(MarginError::MathOverflow))
    }
}

/// One side of a fill: `quantity` contracts (signed: + buys) of (underlying, instrument) at
/// `price` (USD `expo = -6`).
#[derive(Clone, Copy, Debug)]
pub struct Fill {
    pub underlying: u8,
    pub instrument: u8,
    pub is_future: bool,
    /// Underlying units per contract, `expo = -6`.
    pub contract_size: u64,
    pub quantity: i64,
    pub price: u64,
}

impl MarginAccount {
    /// Index of the position in (underlying, instrument), or of a free slot for it.
    pub fn position_slot(&self, underlying: u8, instrument: u8) -> Result<usize> {
        if let Some(i) = self
            .positions
            .iter()
            .position(|p| p.is_active() && p.underlying == underlying && p.instrument == instrument)
        {
            return Ok(i);
        }
        self.positions
            .iter()
            .position(|p| !p.is_active())
            .ok_or_else(|| error!(MarginError::PositionsFull))
    }

    /// Applies a fill of `quantity` contracts (signed: + buys) at `price` (USD `expo = -6`).
    /// Futures: the part that reduces the position realises P&L against the entry price into
    /// the quote balance (rounded down); the part that opens or extends sets the average entry
    /// (rounded against the holder). Returns the realised P&L in quote native units.
    pub fn apply_fill(&mut self, fill: &Fill, quote_decimals: u8) -> Result<i64> {
        let Fill {
            underlying,
            instrument,
            is_future,
            contract_size,
            quantity,
            price,
        } = *fill;
        let slot = self.position_slot(underlying, instrument)?;
        let position = &mut self.positions[slot];
        let old = position.quantity;
        let new = old.checked_add(quantity).ok_or(MarginError::MathOverflow)?;
        let mut realised = 0i64;
        if is_future {
            let reducing = old != 0 && (old > 0) != (quantity > 0);
            let closed = if reducing {
                old.unsigned_abs().min(quantity.unsigned_abs())
            } else {
                0
            };
            if closed > 0 {
                // P&L of closing `closed` contracts of a position of sign(old).
                let diff = i128::from(price) - i128::from(position.entry_price);
                let signed = if old > 0 { diff } else { -diff };
                let usd_e12 = signed
                    .checked_mul(i128::from(closed))
                    .and_then(|v| v.checked_mul(i128::from(contract_size)))
                    .ok_or(MarginError::MathOverflow)?;
                realised = quote_floor(usd_e12, quote_decimals)?;
            }
            if new == 0 {
                position.entry_price = 0;
            } else if (new > 0) != (old > 0) || old == 0 {
                // Opened or flipped: the remainder is entered at the fill price.
                position.entry_price = price;
            } else if new.unsigned_abs() > old.unsigned_abs() {
                // Extended: volume-weighted average, rounded against the holder
                // (up for longs, down for shorts).
                let total = u128::from(position.entry_price) * u128::from(old.unsigned_abs())
                    + u128::from(price) * u128::from(quantity.unsigned_abs());
                let size = u128::from(new.unsigned_abs());
                let average = if new > 0 {
                    total.div_ceil(size)
                } else {
                    total / size
                };
                position.entry_price =
                    u64::try_from(average).map_err(|_| MarginError::MathOverflow)?;
            }
        }
        position.quantity = new;
        position.underlying = underlying;
        position.instrument = instrument;
        if new == 0 {
            *position = Position::default();
        }
        let quote = &mut self.balances[super::exchange::QUOTE_ASSET_INDEX];
        *quote = quote
            .checked_add(realised)
            .ok_or(MarginError::MathOverflow)?;
        Ok(realised)
    }

    /// Moves `amount` of quote (may go negative: a debt covered by margin).
    pub fn add_quote(&mut self, amount: i64) -> Result<()> {
        let quote = &mut self.balances[super::exchange::QUOTE_ASSET_INDEX];
        *quote = quote.checked_add(amount).ok_or(MarginError::MathOverflow)?;
        Ok(())
    }
}
