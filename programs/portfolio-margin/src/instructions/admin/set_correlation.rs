use anchor_lang::prelude::*;

use crate::error::MarginError;
use crate::events::ParametersUpdated;
use crate::math;
use crate::state::*;

#[derive(Accounts)]
pub struct SetCorrelation<'info> {
    pub admin: Signer<'info>,
    #[account(has_one = admin @ MarginError::NotAdmin)]
    pub exchange: AccountLoader<'info, Exchange>,
}

/// Sets the whole correlation matrix (`n x n`, row-major, `expo = -6`, n = the exchange's
/// underlying count). It must be symmetric, have a unit diagonal and be positive
/// semi-definite. `remaining_accounts`: every `Underlying`, writable, in index order; each
/// stores its row.
pub fn set_correlation<'info>(
    ctx: Context<'info, SetCorrelation<'info>>,
    matrix: Vec<i64>,
) -> Result<()> {
    let exchange = ctx.accounts.exchange.load()?;
    let n = exchange.underlying_count as usize;
    require!(matrix.len() == n * n, MarginError::CorrelationWrongSize);
    for i in 0..n {
        require!(
            matrix[i * n + i] == PPM_SIGNED,
            MarginError::CorrelationNotUnitDiagonal
        );
        for j in 0..n {
            require!(
                matrix[i * n + j].unsigned_abs() <= PPM,
                MarginError::CorrelationNotUnitDiagonal
            );
            require!(
                matrix[i * n + j] == matrix[j * n + i],
                MarginError::CorrelationNotSymmetric
            );
        }
    }
    let mut flat = Vec::with_capacity(n * n);
    for value in matrix.iter() {
        flat.push(math::from_ppm_signed(*value)?);
    }
    risk::Correlation::new(n, &flat).map_err(|e| error!(MarginError::from(e)))?;

    require!(
        ctx.remaining_accounts.len() >= n,
        MarginError::MissingRemainingAccount
    );
    require!(
        ctx.remaining_accounts.len() == n,
        MarginError::ExtraRemainingAccount
    );
    for (i, info) in ctx.remaining_accounts.iter().enumerate() {
        require_keys_eq!(
            info.key(),
            exchange.underlyings[i],
            MarginError::WrongRemainingAccount
        );
        let loader = AccountLoader::<Underlying>::try_from(info)
            .map_err(|_| error!(MarginError::WrongRemainingAccount))?;
        let mut underlying = loader.load_mut()?;
        underlying.correlation = [0; MAX_UNDERLYINGS];
        underlying.correlation[..n].copy_from_slice(&matrix[i * n..(i + 1) * n]);
    }
    emit!(ParametersUpdated {
        exchange: ctx.accounts.exchange.key(),
    });
    Ok(())
}
