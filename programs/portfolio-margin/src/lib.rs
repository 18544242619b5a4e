//! Portfolio-margin clearing engine. `lib.rs` only dispatches: each instruction lives in its
//! own file under `instructions/{admin,user,keeper}/`, the margin math in the `risk` crate.
#![allow(unexpected_cfgs)]

#[cfg(target_arch = "bpf")]
use solana_compiler_builtins as _;

use anchor_lang::prelude::*;

/// Under the `bench` feature, logs `probe: <label>` and the compute units left (`BENCH_PROFILE=1
/// cargo run -p bench` turns consecutive probes into a per-phase table); nothing otherwise.
#[macro_export]
macro_rules! probe {
    ($label:literal) => {
        #[cfg(feature = "bench")]
        risk::probe(concat!("probe: ", $label));
        #[cfg(all(feature = "bench", target_os = "solana"))]
        $crate::log_heap_used();
    };
}

/// Logs how much of the 32 KiB bump heap is in use (feature `bench`, on SBF): the entrypoint's
/// allocator keeps its next position in the heap's first word and allocates downward.
#[cfg(all(feature = "bench", target_os = "solana"))]
#[inline(never)]
pub fn log_heap_used() {
    const HEAP_START: usize = 0x3_0000_0000;
    const HEAP_LENGTH: usize = 32 * 1024;
    // SAFETY: the heap region is mapped for every SBF program and its first word is the bump
    // allocator's position (0 before the first allocation).
    let position = unsafe { core::ptr::read_volatile(HEAP_START as *const usize) };
    let used = if position == 0 {
        0
    } else {
        HEAP_START + HEAP_LENGTH - position
    };
    // "heap <used>" without allocating.
    let mut text = *b"heap 00000000";
    let mut rest = used;
    for digit in text[5..].iter_mut().rev() {
        *digit = b'0' + (rest % 10) as u8;
        rest /= 10;
    }
    if let Ok(line) = core::str::from_utf8(&text) {
        anchor_lang::solana_program::msg!(line);
    }
}

pub mod error;
pub mod events;
pub mod expiry;
pub mod instructions;
pub mod margin;
pub mod math;
pub mod oracle;
pub mod state;

use instructions::*;
use state::RiskParameters;

declare_id!("93ULddwbsX8HxJQ9twpcSoqa5LwtSgGPj5U9cDdaT8zu");

#[program]
pub mod portfolio_margin {
    use super::*;

    // --- admin ---
    pub fn initialize_exchange(
        ctx: Context<InitializeExchange>,
        args: InitializeExchangeArgs,
    ) -> Result<()> {
        admin::initialize_exchange(ctx, args)
    }

    pub fn add_collateral_asset(
        ctx: Context<AddCollateralAsset>,
        args: AddCollateralAssetArgs,
    ) -> Result<()> {
        admin::add_collateral_asset(ctx, args)
    }

    pub fn add_underlying(ctx: Context<AddUnderlying>, args: AddUnderlyingArgs) -> Result<()> {
        admin::add_underlying(ctx, args)
    }

    pub fn list_instrument(ctx: Context<ListInstrument>, args: ListInstrumentArgs) -> Result<()> {
        admin::list_instrument(ctx, args)
    }

    pub fn set_parameters<'info>(
        ctx: Context<'info, SetParameters<'info>>,
        params: RiskParameters,
    ) -> Result<()> {
        admin::set_parameters(ctx, params)
    }

    pub fn set_underlying_params(
        ctx: Context<SetUnderlyingParams>,
        params: UnderlyingParamsArgs,
    ) -> Result<()> {
        admin::set_underlying_params(ctx, params)
    }

    pub fn set_correlation<'info>(
        ctx: Context<'info, SetCorrelation<'info>>,
        matrix: Vec<i64>,
    ) -> Result<()> {
        admin::set_correlation(ctx, matrix)
    }

    pub fn set_pause(ctx: Context<SetPause>, pause_flags: u8) -> Result<()> {
        admin::set_pause(ctx, pause_flags)
    }

    pub fn propose_admin(ctx: Context<ProposeAdmin>, pending_admin: Pubkey) -> Result<()> {
        admin::propose_admin(ctx, pending_admin)
    }

    pub fn accept_admin(ctx: Context<AcceptAdmin>) -> Result<()> {
        admin::accept_admin(ctx)
    }

    // --- user ---
    pub fn create_margin_account(ctx: Context<CreateMarginAccount>, account_id: u32) -> Result<()> {
        user::create_margin_account(ctx, account_id)
    }

    pub fn set_delegate(ctx: Context<SetDelegate>, delegate: Pubkey) -> Result<()> {
        user::set_delegate(ctx, delegate)
    }

    pub fn deposit(ctx: Context<Deposit>, asset: u8, amount: u64) -> Result<()> {
        user::deposit(ctx, asset, amount)
    }

    pub fn withdraw<'info>(
        ctx: Context<'info, Withdraw<'info>>,
        asset: u8,
        amount: u64,
    ) -> Result<()> {
        user::withdraw(ctx, asset, amount)
    }

    pub fn close_margin_account(ctx: Context<CloseMarginAccount>) -> Result<()> {
        user::close_margin_account(ctx)
    }

    pub fn trade<'info>(ctx: Context<'info, Trade<'info>>, args: TradeArgs) -> Result<()> {
        user::trade(ctx, args)
    }

    // --- keeper (permissionless) ---
    pub fn update_volatility(ctx: Context<UpdateVolatility>) -> Result<()> {
        keeper::update_volatility(ctx)
    }

    pub fn refresh_risk_array(ctx: Context<RefreshRiskArray>, instrument: u8) -> Result<()> {
        keeper::refresh_risk_array(ctx, instrument)
    }

    pub fn settle_instrument(ctx: Context<SettleInstrument>, instrument: u8) -> Result<()> {
        keeper::settle_instrument(ctx, instrument)
    }

    pub fn settle_positions<'info>(ctx: Context<'info, SettlePositions<'info>>) -> Result<()> {
        keeper::settle_positions(ctx)
    }

    pub fn liquidate<'info>(
        ctx: Context<'info, Liquidate<'info>>,
        args: LiquidateArgs,
    ) -> Result<()> {
        keeper::liquidate(ctx, args)
    }

    pub fn resolve_bankruptcy(ctx: Context<ResolveBankruptcy>) -> Result<()> {
        keeper::resolve_bankruptcy(ctx)
    }

    pub fn deposit_insurance(ctx: Context<DepositInsurance>, amount: u64) -> Result<()> {
        user::deposit_insurance(ctx, amount)
    }

    // --- benchmark only (feature `bench`, never deployed) ---
    #[cfg(feature = "bench")]
    pub fn bench_primitive(
        ctx: Context<BenchPrimitive>,
        op: u8,
        iterations: u32,
        input: i128,
    ) -> Result<()> {
        instructions::bench_primitive(ctx, op, iterations, input)
    }

    // --- view ---
    pub fn margin_report<'info>(
        ctx: Context<'info, MarginReportAccounts<'info>>,
    ) -> Result<events::MarginReport> {
        user::margin_report(ctx)
    }
}
