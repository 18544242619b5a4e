use anchor_lang::prelude::*;

use super::add_underlying::extreme_fits;
use crate::error::MarginError;
use crate::events::ParametersUpdated;
use crate::state::*;

#[derive(Accounts)]
pub struct SetParameters<'info> {
    pub admin: Signer<'info>,
    #[account(mut, has_one = admin @ MarginError::NotAdmin)]
    pub exchange: AccountLoader<'info, Exchange>,
}

/// Replaces the exchange's risk parameters. `remaining_accounts`: every `Underlying` of the
/// exchange in index order, so the new extreme multiple is checked against each scan range.
pub fn set_parameters<'info>(
    ctx: Context<'info, SetParameters<'info>>,
    params: RiskParameters,
) -> Result<()> {
    params.validate()?;
    let mut exchange = ctx.accounts.exchange.load_mut()?;
    let count = exchange.underlying_count as usize;
    require!(
        ctx.remaining_accounts.len() >= count,
        MarginError::MissingRemainingAccount
    );
    require!(
        ctx.remaining_accounts.len() == count,
        MarginError::ExtraRemainingAccount
    );
    for (info, key) in ctx
        .remaining_accounts
        .iter()
        .zip(exchange.underlyings.iter())
    {
        require_keys_eq!(info.key(), *key, MarginError::WrongRemainingAccount);
        let loader = AccountLoader::<Underlying>::try_from(info)
            .map_err(|_| error!(MarginError::WrongRemainingAccount))?;
        let underlying = loader.load()?;
        require!(
            extreme_fits(underlying.scan_range, &params),
            MarginError::ScanParametersOutOfRange
        );
    }
    exchange.params = params;
    emit!(ParametersUpdated {
        exchange: ctx.accounts.exchange.key(),
    });
    Ok(())
}
