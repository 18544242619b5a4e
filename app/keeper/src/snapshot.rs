//! The exchange as the keeper sees it at one moment (exchange, underlyings, their oracles,
//! every margin account, the clock), and the program's own margin code evaluated on it.
//!
//! Evaluation builds `AccountInfo`s over the fetched bytes and calls
//! `portfolio_margin::margin::MarketSet::load(..).evaluate(..)`: the same functions the program
//! runs in `liquidate` and `margin_report`, on the same bytes, so the keeper's numbers are the
//! program's to the last unit.

use anchor_lang::prelude::{AccountInfo, AccountMeta, Pubkey};
use anchor_lang::Discriminator;
use portfolio_margin::events::MarginReport;
use portfolio_margin::margin::{MarginState, MarketSet};
use portfolio_margin::oracle::{self, OraclePrice};
use portfolio_margin::state::*;

use crate::cluster::{AccountData, Cluster};
use crate::KeeperError;

/// One underlying with its oracle account as fetched.
#[derive(Clone, Debug)]
pub struct UnderlyingState {
    pub key: Pubkey,
    pub state: Underlying,
    pub raw: AccountData,
    /// The configured oracle account; `None` if it does not exist on the cluster.
    pub oracle: Option<AccountData>,
}

impl UnderlyingState {
    /// The underlying's name (its 16-byte label without trailing zeros).
    pub fn name(&self) -> String {
        let end = self
            .state
            .name
            .iter()
            .position(|b| *b == 0)
            .unwrap_or(self.state.name.len());
        String::from_utf8_lossy(&self.state.name[..end]).into_owned()
    }
}

/// A margin account as fetched.
#[derive(Clone, Copy, Debug)]
pub struct AccountState {
    pub key: Pubkey,
    pub state: MarginAccount,
}

#[derive(Clone, Debug)]
pub struct Snapshot {
    pub program_id: Pubkey,
    pub exchange_key: Pubkey,
    pub exchange: Exchange,
    /// By underlying index.
    pub underlyings: Vec<UnderlyingState>,
    pub accounts: Vec<AccountState>,
    /// Cluster time (the `Clock` sysvar), unix seconds.
    pub now: i64,
}

/// Decodes a zero-copy Anchor account (discriminator, then the `Pod` body), copying so the
/// source needs no alignment.
pub fn decode<T: bytemuck::Pod + Discriminator>(what: &str, data: &[u8]) -> Result<T, KeeperError> {
    let disc = T::DISCRIMINATOR;
    let size = std::mem::size_of::<T>();
    let body = data.get(disc.len()..disc.len() + size).ok_or_else(|| {
        KeeperError::Decode(format!(
            "{what}: {} bytes, expected {}",
            data.len(),
            disc.len() + size
        ))
    })?;
    if !data.starts_with(disc) {
        return Err(KeeperError::Decode(format!("{what}: wrong discriminator")));
    }
    bytemuck::try_pod_read_unaligned::<T>(body)
        .map_err(|e| KeeperError::Decode(format!("{what}: {e}")))
}

impl Snapshot {
    /// Fetches the exchange, its underlyings and their oracles, every margin account of the
    /// exchange (`getProgramAccounts` filtered by the `MarginAccount` discriminator and the
    /// exchange key) and the clock.
    pub async fn fetch<C: Cluster>(
        cluster: &mut C,
        program_id: Pubkey,
        exchange_key: Pubkey,
    ) -> Result<Snapshot, KeeperError> {
        let exchange_data = cluster
            .account(&exchange_key)
            .await?
            .ok_or_else(|| KeeperError::Decode(format!("exchange {exchange_key} not found")))?;
        if exchange_data.owner != program_id {
            return Err(KeeperError::Decode(format!(
                "exchange {exchange_key} is not owned by {program_id}"
            )));
        }
        let exchange = decode::<Exchange>("exchange", &exchange_data.data)?;
        let mut prefix = MarginAccount::DISCRIMINATOR.to_vec();
        prefix.extend_from_slice(exchange_key.as_ref());
        let listed = cluster
            .program_accounts(&program_id, MarginAccount::SPACE, &prefix)
            .await?;
        let mut accounts = Vec::with_capacity(listed.len());
        for (key, data) in listed {
            let state = decode::<MarginAccount>("margin account", &data.data)?;
            accounts.push(AccountState { key, state });
        }
        accounts.sort_by_key(|a| a.key.to_bytes());
        let clock = cluster.clock().await?;
        let mut snapshot = Snapshot {
            program_id,
            exchange_key,
            exchange,
            underlyings: Vec::new(),
            accounts,
            now: clock.unix_timestamp,
        };
        snapshot.fetch_underlyings(cluster).await?;
        Ok(snapshot)
    }

    /// Re-reads the exchange, the underlyings, their oracles, the clock and the given margin
    /// accounts (after the keeper's own transactions changed them).
    pub async fn refresh<C: Cluster>(
        &mut self,
        cluster: &mut C,
        accounts: &[Pubkey],
    ) -> Result<(), KeeperError> {
        let exchange_data = cluster
            .account(&self.exchange_key)
            .await?
            .ok_or_else(|| KeeperError::Decode("exchange disappeared".into()))?;
        self.exchange = decode::<Exchange>("exchange", &exchange_data.data)?;
        let fetched = cluster.accounts(accounts).await?;
        for (key, data) in accounts.iter().zip(fetched) {
            let position = self.accounts.iter().position(|a| a.key == *key);
            match (data, position) {
                (Some(data), Some(i)) if data.owner == self.program_id => {
                    self.accounts[i].state = decode::<MarginAccount>("margin account", &data.data)?;
                }
                (Some(data), None) if data.owner == self.program_id => {
                    let state = decode::<MarginAccount>("margin account", &data.data)?;
                    self.accounts.push(AccountState { key: *key, state });
                }
                (_, Some(i)) => {
                    // Closed (or no longer ours).
                    self.accounts.remove(i);
                }
                _ => {}
            }
        }
        self.now = cluster.clock().await?.unix_timestamp;
        self.fetch_underlyings(cluster).await
    }

    async fn fetch_underlyings<C: Cluster>(&mut self, cluster: &mut C) -> Result<(), KeeperError> {
        let count = usize::from(self.exchange.underlying_count).min(MAX_UNDERLYINGS);
        let keys: Vec<Pubkey> = self.exchange.underlyings[..count].to_vec();
        let fetched = cluster.accounts(&keys).await?;
        let mut underlyings = Vec::with_capacity(count);
        for (key, data) in keys.iter().zip(fetched) {
            let raw =
                data.ok_or_else(|| KeeperError::Decode(format!("underlying {key} not found")))?;
            let state = decode::<Underlying>("underlying", &raw.data)?;
            underlyings.push((*key, state, raw));
        }
        let oracle_keys: Vec<Pubkey> = underlyings
            .iter()
            .map(|(_, state, _)| state.oracle)
            .collect();
        let oracles = cluster.accounts(&oracle_keys).await?;
        self.underlyings = underlyings
            .into_iter()
            .zip(oracles)
            .map(|((key, state, raw), oracle)| UnderlyingState {
                key,
                state,
                raw,
                oracle,
            })
            .collect();
        Ok(())
    }

    pub fn account(&self, key: &Pubkey) -> Option<&MarginAccount> {
        self.accounts
            .iter()
            .find(|a| a.key == *key)
            .map(|a| &a.state)
    }

    /// The underlying that prices collateral asset `index` (`NO_UNDERLYING` for the quote).
    pub fn collateral_underlying(&self, index: usize) -> u8 {
        self.exchange
            .collateral
            .get(index)
            .map_or(NO_UNDERLYING, |a| a.underlying)
    }

    /// The bit set of underlyings the margin check of `account` needs.
    pub fn mask(&self, account: &MarginAccount) -> u8 {
        account.underlying_mask(|i| self.collateral_underlying(i))
    }

    /// Remaining accounts of the margin check for `mask`: `Underlying[u]`, `oracle[u]` for each
    /// set bit in ascending order (the order documented in `margin.rs`).
    pub fn remaining(&self, mask: u8) -> Vec<AccountMeta> {
        let mut metas = Vec::new();
        for u in self
            .underlyings
            .iter()
            .filter(|u| mask & (1 << u.state.index) != 0)
        {
            metas.push(AccountMeta::new_readonly(u.key, false));
            metas.push(AccountMeta::new_readonly(u.state.oracle, false));
        }
        metas
    }

    /// Runs `f` over `AccountInfo`s of the fetched underlyings and oracles of `mask`, in the
    /// margin check's remaining-accounts order (what `MarketSet::load` and `evaluate` read).
    pub fn with_infos<R>(
        &self,
        mask: u8,
        f: impl for<'a> FnOnce(&'a [AccountInfo<'a>]) -> Result<R, KeeperError>,
    ) -> Result<R, KeeperError> {
        let mut storage: Vec<(Pubkey, u64, Vec<u8>, Pubkey)> = Vec::new();
        for u in (0..MAX_UNDERLYINGS).filter(|u| mask & (1 << u) != 0) {
            let underlying = self
                .underlyings
                .get(u)
                .ok_or_else(|| KeeperError::Decode(format!("underlying {u} is not listed")))?;
            let oracle = underlying.oracle.as_ref().ok_or_else(|| {
                KeeperError::Decode(format!(
                    "oracle {} of underlying {u} not found",
                    underlying.state.oracle
                ))
            })?;
            storage.push((
                underlying.key,
                underlying.raw.lamports,
                underlying.raw.data.clone(),
                underlying.raw.owner,
            ));
            storage.push((
                underlying.state.oracle,
                oracle.lamports,
                oracle.data.clone(),
                oracle.owner,
            ));
        }
        let infos: Vec<AccountInfo> = storage
            .iter_mut()
            .map(|(key, lamports, data, owner)| {
                AccountInfo::new(key, false, false, lamports, data, owner, false)
            })
            .collect();
        f(&infos)
    }

    /// Loads the program's `MarketSet` for `mask` from the fetched underlyings and oracles,
    /// exactly as the program does from its remaining accounts.
    pub fn markets(&self, mask: u8, class: ActionClass) -> Result<MarketSet, KeeperError> {
        self.with_infos(mask, |infos| self.load_markets(mask, class, infos))
    }

    fn load_markets<'a>(
        &self,
        mask: u8,
        class: ActionClass,
        infos: &'a [AccountInfo<'a>],
    ) -> Result<MarketSet, KeeperError> {
        MarketSet::load(
            &self.program_id,
            &self.exchange,
            &self.exchange_key,
            mask,
            infos,
            class,
            self.now,
            // Every registry: previews read any position's terms.
            u8::MAX,
        )
        .map_err(KeeperError::engine)
    }

    /// `account`'s margin state over `markets` (loaded for a mask covering it), evaluated on
    /// the fetched underlyings' cached risk arrays.
    pub fn evaluate_with(
        &self,
        markets: &MarketSet,
        mask: u8,
        account: &MarginAccount,
    ) -> Result<MarginState, KeeperError> {
        self.with_infos(mask, |infos| {
            markets
                .evaluate(&self.exchange, account, self.now, infos)
                .map_err(KeeperError::engine)
        })
    }

    /// The account's margin state with the liquidation class's oracle limits (what `liquidate`
    /// and `margin_report` see).
    pub fn evaluate(&self, account: &MarginAccount) -> Result<MarginState, KeeperError> {
        let mask = self.mask(account);
        self.with_infos(mask, |infos| {
            self.load_markets(mask, ActionClass::Liquidation, infos)?
                .evaluate(&self.exchange, account, self.now, infos)
                .map_err(KeeperError::engine)
        })
    }

    /// The account's margin report, as `margin_report` returns it (quote native units).
    pub fn report(&self, account: &MarginAccount) -> Result<MarginReport, KeeperError> {
        let mask = self.mask(account);
        self.with_infos(mask, |infos| {
            let markets = self.load_markets(mask, ActionClass::Liquidation, infos)?;
            let state = markets
                .evaluate(&self.exchange, account, self.now, infos)
                .map_err(KeeperError::engine)?;
            portfolio_margin::instructions::build_report(&state, &markets, self.quote_decimals())
                .map_err(KeeperError::engine)
        })
    }

    /// A validated oracle reading of underlying `u` with the limits of `class`.
    pub fn oracle_price(&self, u: usize, class: ActionClass) -> Result<OraclePrice, KeeperError> {
        let underlying = self
            .underlyings
            .get(u)
            .ok_or_else(|| KeeperError::Decode(format!("underlying {u} is not listed")))?;
        let data = underlying
            .oracle
            .as_ref()
            .ok_or_else(|| KeeperError::Decode(format!("oracle of underlying {u} not found")))?;
        let (key, mut lamports, mut bytes, owner) = (
            underlying.state.oracle,
            data.lamports,
            data.data.clone(),
            data.owner,
        );
        let info = AccountInfo::new(&key, false, false, &mut lamports, &mut bytes, &owner, false);
        let limits = *self.exchange.params.oracle_limits(class);
        oracle::read_price(&info, &underlying.state, &limits, self.now).map_err(KeeperError::engine)
    }

    pub fn quote_decimals(&self) -> u8 {
        self.exchange.collateral[QUOTE_ASSET_INDEX].decimals
    }

    /// No positions, no collateral besides the quote, and a negative quote balance at the
    /// current loss index: what `resolve_bankruptcy` accepts.
    pub fn is_bankrupt(&self, account: &MarginAccount) -> Result<bool, KeeperError> {
        let quote = account
            .effective_quote(self.exchange.quote_loss_index)
            .map_err(KeeperError::engine)?;
        // A debt that neither the fund nor the loss index can take now waits (the program
        // refuses the call with `DebtAwaitsInsurance`).
        let debt = quote.min(0).unsigned_abs();
        let uncovered = debt.saturating_sub(self.exchange.insurance_balance);
        let mut exchange = self.exchange;
        let resolvable = self.exchange.insurance_balance > 0
            || exchange
                .socialise_quote_loss(uncovered)
                .map_err(KeeperError::engine)?
                > 0;
        Ok(account.positions.iter().all(|p| !p.is_active())
            && account.balances[1..].iter().all(|b| *b == 0)
            && quote < 0
            && resolvable)
    }

    /// Name of underlying `u`, or `#u`.
    pub fn underlying_name(&self, u: u8) -> String {
        self.underlyings
            .get(usize::from(u))
            .map_or_else(|| format!("#{u}"), UnderlyingState::name)
    }
}
