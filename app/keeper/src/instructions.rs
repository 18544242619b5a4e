//! The keeper's instructions, with their remaining accounts in the program's documented order.

use anchor_lang::prelude::{AccountMeta, Pubkey};
use anchor_lang::solana_program::instruction::Instruction;
use anchor_lang::{InstructionData, ToAccountMetas};
use portfolio_margin::instructions::{LiquidateArgs, LiquidationTarget};

use crate::snapshot::Snapshot;

/// SPL Token program.
pub const TOKEN_PROGRAM_ID: Pubkey =
    anchor_lang::pubkey!("TokenkegQfeZyiNwAJbNbGKPFXCWuBvf9Ss623VQ5DA");
/// Compute budget program.
pub const COMPUTE_BUDGET_ID: Pubkey =
    anchor_lang::pubkey!("ComputeBudget111111111111111111111111111111");

fn program_ix<A: ToAccountMetas, D: InstructionData>(
    program_id: Pubkey,
    accounts: A,
    data: D,
    remaining: Vec<AccountMeta>,
) -> Instruction {
    let mut metas = accounts.to_account_metas(None);
    metas.extend(remaining);
    Instruction {
        program_id,
        accounts: metas,
        data: data.data(),
    }
}

/// `ComputeBudgetInstruction::SetComputeUnitLimit` (discriminant 2, u32 LE).
pub fn compute_unit_limit(units: u32) -> Instruction {
    let mut data = vec![2u8];
    data.extend_from_slice(&units.to_le_bytes());
    Instruction {
        program_id: COMPUTE_BUDGET_ID,
        accounts: vec![],
        data,
    }
}

pub fn update_volatility(snapshot: &Snapshot, underlying: usize) -> Option<Instruction> {
    let u = snapshot.underlyings.get(underlying)?;
    Some(program_ix(
        snapshot.program_id,
        portfolio_margin::accounts::UpdateVolatility {
            exchange: snapshot.exchange_key,
            underlying: u.key,
            oracle: u.state.oracle,
        },
        portfolio_margin::instruction::UpdateVolatility {},
        vec![],
    ))
}

/// `refresh_risk_array` of one option instrument (about 332,000 CU: the keeper's compute limit
/// must allow it).
pub fn refresh_risk_array(
    snapshot: &Snapshot,
    underlying: usize,
    instrument: u8,
) -> Option<Instruction> {
    let u = snapshot.underlyings.get(underlying)?;
    Some(program_ix(
        snapshot.program_id,
        portfolio_margin::accounts::RefreshRiskArray {
            exchange: snapshot.exchange_key,
            underlying: u.key,
            oracle: u.state.oracle,
        },
        portfolio_margin::instruction::RefreshRiskArray { instrument },
        vec![],
    ))
}

pub fn settle_instrument(
    snapshot: &Snapshot,
    underlying: usize,
    instrument: u8,
) -> Option<Instruction> {
    let u = snapshot.underlyings.get(underlying)?;
    Some(program_ix(
        snapshot.program_id,
        portfolio_margin::accounts::SettleInstrument {
            exchange: snapshot.exchange_key,
            underlying: u.key,
            oracle: u.state.oracle,
        },
        portfolio_margin::instruction::SettleInstrument { instrument },
        vec![],
    ))
}

/// `settle_positions` against the given underlyings (ascending index).
pub fn settle_positions(
    snapshot: &Snapshot,
    margin_account: &Pubkey,
    underlyings: &[u8],
) -> Instruction {
    let remaining = underlyings
        .iter()
        .filter_map(|u| snapshot.underlyings.get(usize::from(*u)))
        .map(|u| AccountMeta::new_readonly(u.key, false))
        .collect();
    program_ix(
        snapshot.program_id,
        portfolio_margin::accounts::SettlePositions {
            exchange: snapshot.exchange_key,
            margin_account: *margin_account,
        },
        portfolio_margin::instruction::SettlePositions {},
        remaining,
    )
}

/// `liquidate`, with the margin check's remaining accounts for the union of both accounts'
/// underlyings as they are now, plus the target's.
pub fn liquidate(
    snapshot: &Snapshot,
    authority: &Pubkey,
    liquidator: &Pubkey,
    liquidatee: &Pubkey,
    target: LiquidationTarget,
    quantity: u64,
) -> Instruction {
    let target_underlying = match target {
        LiquidationTarget::Position { underlying, .. } => underlying,
        LiquidationTarget::Collateral { asset } => {
            snapshot.collateral_underlying(usize::from(asset))
        }
        // A slice touches only what the liquidatee already holds: no extra underlying.
        LiquidationTarget::Slice => u8::MAX,
    };
    let mut mask = 1u8.checked_shl(u32::from(target_underlying)).unwrap_or(0);
    for key in [liquidator, liquidatee] {
        if let Some(account) = snapshot.account(key) {
            mask |= snapshot.mask(account);
        }
    }
    program_ix(
        snapshot.program_id,
        portfolio_margin::accounts::Liquidate {
            liquidator_authority: *authority,
            exchange: snapshot.exchange_key,
            liquidator: *liquidator,
            liquidatee: *liquidatee,
            quote_vault: snapshot.exchange.collateral[0].vault,
            insurance_vault: snapshot.exchange.insurance_vault,
            token_program: TOKEN_PROGRAM_ID,
        },
        portfolio_margin::instruction::Liquidate {
            args: LiquidateArgs { target, quantity },
        },
        snapshot.remaining(mask),
    )
}

pub fn resolve_bankruptcy(snapshot: &Snapshot, margin_account: &Pubkey) -> Instruction {
    program_ix(
        snapshot.program_id,
        portfolio_margin::accounts::ResolveBankruptcy {
            exchange: snapshot.exchange_key,
            margin_account: *margin_account,
            quote_vault: snapshot.exchange.collateral[0].vault,
            insurance_vault: snapshot.exchange.insurance_vault,
            token_program: TOKEN_PROGRAM_ID,
        },
        portfolio_margin::instruction::ResolveBankruptcy {},
        vec![],
    )
}

/// The margin account PDA of (exchange, owner, account id).
pub fn margin_account_address(
    program_id: &Pubkey,
    exchange: &Pubkey,
    owner: &Pubkey,
    account_id: u32,
) -> Pubkey {
    Pubkey::find_program_address(
        &[
            portfolio_margin::state::MARGIN_SEED,
            exchange.as_ref(),
            owner.as_ref(),
            &account_id.to_le_bytes(),
        ],
        program_id,
    )
    .0
}
