use anchor_lang::prelude::*;

use super::add_underlying::UnderlyingParamsArgs;
use crate::error::MarginError;
use crate::events::ParametersUpdated;
use crate::state::*;

#[derive(Accounts)]
pub struct SetUnderlyingParams<'info> {
    pub admin: Signer<'info>,
    #[account(has_one = admin @ MarginError::NotAdmin)]
    pub exchange: AccountLoader<'info, Exchange>,
    #[account(mut, has_one = exchange @ MarginError::WrongExchange)]
    pub underlying: AccountLoader<'info, Underlying>,
}

pub fn set_underlying_params(
    ctx: Context<SetUnderlyingParams>,
    params: UnderlyingParamsArgs,
) -> Result<()> {
    let exchange = ctx.accounts.exchange.load()?;
    params.validate(&exchange.params)?;
    let mut underlying = ctx.accounts.underlying.load_mut()?;
    params.apply(&mut underlying);
    emit!(ParametersUpdated {
        exchange: ctx.accounts.exchange.key(),
    });
    Ok(())
}
