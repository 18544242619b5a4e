//! Liquidation, bankruptcy and the insurance fund.

use super::*;

impl Env {
    #[allow(clippy::too_many_arguments)]
    pub fn ix_liquidate(
        &self,
        authority: &Pubkey,
        liquidator: &Pubkey,
        liquidatee: &Pubkey,
        target: LiquidationTarget,
        quantity: u64,
        remaining: &[AccountMeta],
    ) -> Instruction {
        with_remaining(
            ix(
                portfolio_margin::accounts::Liquidate {
                    liquidator_authority: *authority,
                    exchange: self.exchange,
                    liquidator: *liquidator,
                    liquidatee: *liquidatee,
                    quote_vault: self.assets[0].vault,
                    insurance_vault: self.insurance_vault,
                    token_program: spl_token::ID,
                },
                portfolio_margin::instruction::Liquidate {
                    args: LiquidateArgs { target, quantity },
                },
            ),
            remaining,
        )
    }

    /// Remaining accounts of a liquidation: both accounts' underlyings and the target's.
    pub async fn liquidation_accounts(
        &mut self,
        liquidator: &Pubkey,
        liquidatee: &Pubkey,
        target: LiquidationTarget,
    ) -> Vec<AccountMeta> {
        let exchange = self.exchange_state().await;
        let target_bit = match target {
            LiquidationTarget::Position { underlying, .. } => {
                1u8.checked_shl(u32::from(underlying)).unwrap_or(0)
            }
            LiquidationTarget::Collateral { asset } => {
                let underlying = exchange.collateral[asset as usize].underlying;
                1u8.checked_shl(u32::from(underlying)).unwrap_or(0)
            }
            // A slice touches only what the liquidatee already holds.
            LiquidationTarget::Slice => 0,
        };
        let mask = self.mask(liquidator).await | self.mask(liquidatee).await | target_bit;
        self.remaining_for_mask(mask)
    }

    /// A `liquidate` instruction signed by `authority`, with the margin check's remaining
    /// accounts for both accounts as they are now.
    pub async fn liquidation_ix(
        &mut self,
        authority: &Pubkey,
        liquidator: &Pubkey,
        liquidatee: &Pubkey,
        target: LiquidationTarget,
        quantity: u64,
    ) -> Instruction {
        let remaining = self
            .liquidation_accounts(liquidator, liquidatee, target)
            .await;
        self.ix_liquidate(
            authority, liquidator, liquidatee, target, quantity, &remaining,
        )
    }

    pub async fn liquidate(
        &mut self,
        keeper: &Trader,
        liquidator: &Pubkey,
        liquidatee: &Pubkey,
        target: LiquidationTarget,
        quantity: u64,
    ) -> Result<(), BanksClientError> {
        let instruction = self
            .liquidation_ix(&keeper.key(), liquidator, liquidatee, target, quantity)
            .await;
        self.send(&[instruction], &[&keeper.keypair]).await
    }

    pub fn ix_resolve_bankruptcy(&self, margin_account: &Pubkey) -> Instruction {
        ix(
            portfolio_margin::accounts::ResolveBankruptcy {
                exchange: self.exchange,
                margin_account: *margin_account,
                quote_vault: self.assets[0].vault,
                insurance_vault: self.insurance_vault,
                token_program: spl_token::ID,
            },
            portfolio_margin::instruction::ResolveBankruptcy {},
        )
    }

    pub async fn resolve_bankruptcy(
        &mut self,
        margin_account: &Pubkey,
    ) -> Result<(), BanksClientError> {
        let instruction = self.ix_resolve_bankruptcy(margin_account);
        self.send(&[instruction], &[]).await
    }

    pub async fn deposit_insurance(
        &mut self,
        depositor: &Trader,
        amount: u64,
    ) -> Result<(), BanksClientError> {
        let instruction = ix(
            portfolio_margin::accounts::DepositInsurance {
                depositor: depositor.key(),
                exchange: self.exchange,
                insurance_vault: self.insurance_vault,
                source: depositor.tokens[0],
                token_program: spl_token::ID,
            },
            portfolio_margin::instruction::DepositInsurance { amount },
        );
        self.send(&[instruction], &[&depositor.keypair]).await
    }
}
