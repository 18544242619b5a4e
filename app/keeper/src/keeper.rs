//! The keeper loop: one `tick` reads the exchange and does what is due, simulating every
//! transaction before sending it.

use std::collections::BTreeSet;
use std::time::Duration;

use anchor_lang::prelude::Pubkey;
use anchor_lang::solana_program::instruction::Instruction;
use portfolio_margin::instructions::LiquidationTarget;
use portfolio_margin::state::*;
use risk::I80F48;
use solana_keypair::Keypair;
use solana_signer::Signer;
use solana_transaction::Transaction;

use crate::cluster::{Cluster, ClusterError};
use crate::liquidation::{self, StepPreview};
use crate::snapshot::Snapshot;
use crate::{instructions, percent, price, quote, usd, KeeperError};

/// Exponential backoff for cluster calls: `base_delay`, doubling, at most `max_delay`, for at
/// most `attempts` tries in all.
#[derive(Clone, Copy, Debug)]
pub struct RetryPolicy {
    pub attempts: u32,
    pub base_delay: Duration,
    pub max_delay: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            attempts: 5,
            base_delay: Duration::from_millis(250),
            max_delay: Duration::from_secs(8),
        }
    }
}

impl RetryPolicy {
    /// The wait before try `attempt + 1` (attempt 0 is the first retry).
    pub fn delay(&self, attempt: u32) -> Duration {
        let factor = 1u32.checked_shl(attempt).unwrap_or(u32::MAX);
        self.base_delay.saturating_mul(factor).min(self.max_delay)
    }
}

#[derive(Clone, Debug)]
pub struct KeeperConfig {
    pub program_id: Pubkey,
    pub exchange: Pubkey,
    /// The keeper's own margin account: it takes over what it liquidates. Its owner (or
    /// delegate) is the keeper's signer.
    pub liquidator: Pubkey,
    /// Compute-unit limit of each transaction. Each action lowers it by a per-action nonce so
    /// that two identical actions within one blockhash's lifetime are distinct transactions.
    pub compute_unit_limit: u32,
    /// Liquidation steps per account per tick (the Dutch-auction fee rises between ticks).
    pub max_steps_per_account: u32,
    pub retry: RetryPolicy,
}

impl KeeperConfig {
    pub fn new(exchange: Pubkey, liquidator: Pubkey) -> KeeperConfig {
        KeeperConfig {
            program_id: portfolio_margin::ID,
            exchange,
            liquidator,
            // A risk-array refresh takes ~332,000 CU and a slice liquidation of the largest
            // account ~386,000: the transaction maximum leaves room for both.
            compute_unit_limit: 1_400_000,
            max_steps_per_account: 1,
            retry: RetryPolicy::default(),
        }
    }
}

/// What the keeper did.
#[derive(Clone, Debug, PartialEq)]
pub enum Action {
    UpdateVolatility {
        underlying: u8,
    },
    RefreshRiskArray {
        underlying: u8,
        instrument: u8,
    },
    SettleInstrument {
        underlying: u8,
        instrument: u8,
    },
    SettlePositions {
        account: Pubkey,
        underlyings: Vec<u8>,
    },
    Liquidate {
        account: Pubkey,
        step: StepPreview,
    },
    ResolveBankruptcy {
        account: Pubkey,
        debt: u64,
    },
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Simulated successfully, sent and confirmed.
    Sent { signature: String, units: u64 },
    /// The simulation failed: nothing was sent.
    Skipped { error: String },
    /// Sent after a successful simulation, and failed on chain (state changed in between).
    Failed { error: String },
    /// The cluster could not be reached within the retry policy.
    GaveUp { error: String },
}

impl Outcome {
    pub fn is_sent(&self) -> bool {
        matches!(self, Outcome::Sent { .. })
    }
}

/// One action with its reason and outcome, at cluster time `time`.
#[derive(Clone, Debug, PartialEq)]
pub struct Record {
    pub time: i64,
    pub action: Action,
    pub reason: String,
    pub outcome: Outcome,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Stats {
    pub ticks: u64,
    pub simulated: u64,
    /// Transactions sent (each after a successful simulation).
    pub sent: u64,
    /// Transactions not sent because their simulation failed.
    pub skipped: u64,
    /// Transactions sent that failed on chain.
    pub failed: u64,
    /// Actions abandoned after the retry policy ran out.
    pub gave_up: u64,
    /// Cluster calls retried.
    pub retries: u64,
}

/// What one tick saw and did.
#[derive(Clone, Debug, Default)]
pub struct TickSummary {
    pub time: i64,
    pub accounts: usize,
    /// Accounts below maintenance margin when evaluated.
    pub unhealthy: usize,
    pub records: Vec<Record>,
}

type Logger = Box<dyn FnMut(&str) + Send>;

pub struct Keeper<C: Cluster> {
    pub cluster: C,
    signer: Keypair,
    pub config: KeeperConfig,
    pub stats: Stats,
    pub journal: Vec<Record>,
    nonce: u32,
    logger: Logger,
}

impl<C: Cluster> Keeper<C> {
    pub fn new(cluster: C, signer: Keypair, config: KeeperConfig) -> Keeper<C> {
        Keeper {
            cluster,
            signer,
            config,
            stats: Stats::default(),
            journal: Vec::new(),
            nonce: 0,
            logger: Box::new(|line| eprintln!("keeper: {line}")),
        }
    }

    /// Replaces where log lines go (stderr by default).
    pub fn with_logger(mut self, logger: impl FnMut(&str) + Send + 'static) -> Keeper<C> {
        self.logger = Box::new(logger);
        self
    }

    pub fn signer(&self) -> Pubkey {
        self.signer.pubkey()
    }

    fn log(&mut self, line: &str) {
        (self.logger)(line);
    }

    /// Reads the whole exchange (with retries).
    pub async fn snapshot(&mut self) -> Result<Snapshot, KeeperError> {
        let mut attempt = 0;
        loop {
            match Snapshot::fetch(
                &mut self.cluster,
                self.config.program_id,
                self.config.exchange,
            )
            .await
            {
                Err(KeeperError::Cluster(e)) if self.should_retry(&e, attempt) => {
                    self.backoff("read the exchange", &e, attempt).await;
                    attempt += 1;
                }
                other => return other,
            }
        }
    }

    async fn refresh(
        &mut self,
        snapshot: &mut Snapshot,
        accounts: &[Pubkey],
    ) -> Result<(), KeeperError> {
        let mut attempt = 0;
        loop {
            match snapshot.refresh(&mut self.cluster, accounts).await {
                Err(KeeperError::Cluster(e)) if self.should_retry(&e, attempt) => {
                    self.backoff("refresh accounts", &e, attempt).await;
                    attempt += 1;
                }
                other => return other,
            }
        }
    }

    fn should_retry(&self, error: &ClusterError, attempt: u32) -> bool {
        error.is_retryable() && attempt + 1 < self.config.retry.attempts
    }

    async fn backoff(&mut self, what: &str, error: &ClusterError, attempt: u32) {
        let delay = self.config.retry.delay(attempt);
        self.stats.retries += 1;
        self.log(&format!(
            "retry {what} in {delay:?} (try {} failed: {error})",
            attempt + 1
        ));
        self.cluster.sleep(delay).await;
    }

    /// One pass: crank, settle, liquidate, resolve. Per-account problems are logged and the
    /// tick goes on; an error is returned only when the exchange cannot be read at all.
    pub async fn tick(&mut self) -> Result<TickSummary, KeeperError> {
        self.stats.ticks += 1;
        let first = self.journal.len();
        let mut snapshot = self.snapshot().await?;
        let mut summary = TickSummary {
            time: snapshot.now,
            accounts: snapshot.accounts.len(),
            ..TickSummary::default()
        };
        let mut changed = self.crank(&snapshot).await?;
        changed |= self.settle_instruments(&snapshot).await?;
        if changed {
            snapshot = self.snapshot().await?;
        }
        // After the volatility crank (a new pricing volatility makes every array stale) and
        // before any margin check.
        if self.refresh_risk_arrays(&snapshot).await? {
            snapshot = self.snapshot().await?;
        }
        if self.settle_positions(&snapshot).await? {
            snapshot = self.snapshot().await?;
        }
        summary.unhealthy = self.liquidate_and_resolve(&mut snapshot).await?;
        summary.records = self.journal[first..].to_vec();
        Ok(summary)
    }

    /// Only the volatility crank, the first thing a tick does (for a caller that wants to show
    /// the volatility update before any liquidation).
    pub async fn crank_volatility(&mut self) -> Result<Vec<Record>, KeeperError> {
        let first = self.journal.len();
        let snapshot = self.snapshot().await?;
        self.crank(&snapshot).await?;
        Ok(self.journal[first..].to_vec())
    }

    /// Only the risk-array refresh (for a caller that wants to show it on its own): rebuilds
    /// every stale option array.
    pub async fn refresh_arrays(&mut self) -> Result<Vec<Record>, KeeperError> {
        let first = self.journal.len();
        let snapshot = self.snapshot().await?;
        self.refresh_risk_arrays(&snapshot).await?;
        Ok(self.journal[first..].to_vec())
    }

    /// The volatility crank on every underlying whose interval has elapsed (by oracle publish
    /// time, as the program counts it). Returns whether anything was sent.
    async fn crank(&mut self, snapshot: &Snapshot) -> Result<bool, KeeperError> {
        if snapshot.exchange.is_paused(pause::CRANK) {
            return Ok(false);
        }
        let interval =
            i64::try_from(snapshot.exchange.params.vol_update_interval_secs).unwrap_or(i64::MAX);
        let mut sent = false;
        for (u, underlying) in snapshot.underlyings.iter().enumerate() {
            let name = underlying.name();
            let state = &underlying.state;
            let reading = match snapshot.oracle_price(u, ActionClass::Settlement) {
                Ok(reading) => reading,
                Err(e) => {
                    self.log(&format!(
                        "crank {name}: not now, the oracle fails the crank's limits: {e}"
                    ));
                    continue;
                }
            };
            let elapsed = reading.publish_time.saturating_sub(state.last_price_time);
            let reason = if state.last_price == 0 {
                format!(
                    "{name}: first volatility sample at {}",
                    price(reading.price)
                )
            } else if elapsed >= interval {
                format!(
                    "{name}: {elapsed}s since the last sample (interval {interval}s), price {} -> {}",
                    price(state.last_price),
                    price(reading.price)
                )
            } else {
                continue;
            };
            let Some(instruction) = instructions::update_volatility(snapshot, u) else {
                continue;
            };
            let action = Action::UpdateVolatility {
                underlying: state.index,
            };
            sent |= self
                .execute(snapshot, action, reason, vec![instruction])
                .await?
                .is_sent();
        }
        Ok(sent)
    }

    /// `refresh_risk_array` for every active option whose cached array the margin check would
    /// refuse (`StaleRiskArray`): never built, built at another pricing volatility or
    /// parameters, too old, or the oracle price outside its band. Returns whether anything was
    /// sent.
    async fn refresh_risk_arrays(&mut self, snapshot: &Snapshot) -> Result<bool, KeeperError> {
        // Never paused; the oracle needs the liquidation class's validity (the program's rule).
        let mut sent = false;
        for (u, underlying) in snapshot.underlyings.iter().enumerate() {
            let state = &underlying.state;
            let count = usize::from(state.instrument_count).min(MAX_INSTRUMENTS);
            let options: Vec<u8> = (0..count)
                .filter(|&i| {
                    let listed = &state.instruments[i];
                    listed.kind != instrument_kind::FUTURE
                        && listed.status == instrument_status::ACTIVE
                })
                .filter_map(|i| u8::try_from(i).ok())
                .collect();
            if options.is_empty() {
                continue;
            }
            let name = underlying.name();
            let mask = 1u8.checked_shl(u32::try_from(u).unwrap_or(8)).unwrap_or(0);
            let markets = match snapshot.markets(mask, ActionClass::Liquidation) {
                Ok(markets) => markets,
                Err(e) => {
                    self.log(&format!(
                        "risk arrays {name}: not now, the oracle fails the liquidation limits: {e}"
                    ));
                    continue;
                }
            };
            let Ok(market) = markets.market(state.index) else {
                continue;
            };
            for instrument in options {
                let Some(reason) = stale_reason(snapshot, underlying, market, instrument) else {
                    continue;
                };
                let Some(ix) = instructions::refresh_risk_array(snapshot, u, instrument) else {
                    continue;
                };
                let action = Action::RefreshRiskArray {
                    underlying: state.index,
                    instrument,
                };
                let reason = format!("{name} #{instrument}: {reason}");
                sent |= self
                    .execute(snapshot, action, reason, vec![ix])
                    .await?
                    .is_sent();
            }
        }
        Ok(sent)
    }

    /// `settle_instrument` for every active instrument past its expiry.
    async fn settle_instruments(&mut self, snapshot: &Snapshot) -> Result<bool, KeeperError> {
        if snapshot.exchange.is_paused(pause::SETTLE) {
            return Ok(false);
        }
        let mut sent = false;
        for (u, underlying) in snapshot.underlyings.iter().enumerate() {
            let state = &underlying.state;
            let count = usize::from(state.instrument_count).min(MAX_INSTRUMENTS);
            for (i, instrument) in state.instruments[..count].iter().enumerate() {
                if instrument.status != instrument_status::ACTIVE
                    || snapshot.now < instrument.expiry
                {
                    continue;
                }
                let name = underlying.name();
                let reading = match snapshot.oracle_price(u, ActionClass::Settlement) {
                    Ok(reading) => reading,
                    Err(e) => {
                        self.log(&format!("settle {name}#{i}: expired, but the oracle fails settlement's limits: {e}"));
                        continue;
                    }
                };
                let index = u8::try_from(i).unwrap_or(u8::MAX);
                let reason = format!(
                    "{name}#{i} expired {}s ago; settles at {}",
                    snapshot.now - instrument.expiry,
                    price(reading.price)
                );
                let Some(instruction) = instructions::settle_instrument(snapshot, u, index) else {
                    continue;
                };
                let action = Action::SettleInstrument {
                    underlying: state.index,
                    instrument: index,
                };
                sent |= self
                    .execute(snapshot, action, reason, vec![instruction])
                    .await?
                    .is_sent();
            }
        }
        Ok(sent)
    }

    /// `settle_positions` for every account holding positions in settled instruments.
    async fn settle_positions(&mut self, snapshot: &Snapshot) -> Result<bool, KeeperError> {
        if snapshot.exchange.is_paused(pause::SETTLE) {
            return Ok(false);
        }
        let mut sent = false;
        for account in snapshot.accounts.iter() {
            let mut underlyings = BTreeSet::new();
            let mut legs = Vec::new();
            for position in account.state.positions.iter().filter(|p| p.is_active()) {
                let Some(instrument) = snapshot
                    .underlyings
                    .get(usize::from(position.underlying))
                    .and_then(|u| u.state.instruments.get(usize::from(position.instrument)))
                else {
                    continue;
                };
                if instrument.status == instrument_status::SETTLED {
                    underlyings.insert(position.underlying);
                    legs.push(format!(
                        "{} {}#{} at {}",
                        position.quantity,
                        snapshot.underlying_name(position.underlying),
                        position.instrument,
                        price(instrument.settlement_price)
                    ));
                }
            }
            if underlyings.is_empty() {
                continue;
            }
            let underlyings: Vec<u8> = underlyings.into_iter().collect();
            let instruction = instructions::settle_positions(snapshot, &account.key, &underlyings);
            let reason = format!(
                "{} holds settled positions: {}",
                short(&account.key),
                legs.join(", ")
            );
            let action = Action::SettlePositions {
                account: account.key,
                underlyings,
            };
            sent |= self
                .execute(snapshot, action, reason, vec![instruction])
                .await?
                .is_sent();
        }
        Ok(sent)
    }

    /// Liquidates unhealthy accounts and resolves bankrupt ones. Returns how many accounts
    /// were below maintenance margin.
    async fn liquidate_and_resolve(
        &mut self,
        snapshot: &mut Snapshot,
    ) -> Result<usize, KeeperError> {
        let liquidator = self.config.liquidator;
        let liquidator_owner = snapshot.account(&liquidator).map(|a| a.owner);
        let liquidator_ready = match snapshot.account(&liquidator) {
            None => {
                self.log(&format!(
                    "liquidator account {liquidator} not found: liquidation is off"
                ));
                false
            }
            Some(account) if !account.is_owner_or_delegate(&self.signer.pubkey()) => {
                self.log(&format!("the keeper's key is neither owner nor delegate of {liquidator}: liquidation is off"));
                false
            }
            Some(_) => true,
        };
        let decimals = snapshot.quote_decimals();
        let keys: Vec<Pubkey> = snapshot.accounts.iter().map(|a| a.key).collect();
        let mut unhealthy = 0;
        for key in keys {
            let mut steps = 0;
            let mut counted = false;
            while let Some(account) = snapshot.account(&key).copied() {
                if snapshot.is_bankrupt(&account)? {
                    let debt = account
                        .effective_quote(snapshot.exchange.quote_loss_index)
                        .map_err(KeeperError::engine)?
                        .unsigned_abs();
                    let fund = snapshot.exchange.insurance_balance;
                    let reason = format!(
                        "{} is bankrupt: no positions, no collateral, quote -{}; the insurance fund ({}) pays {}{}",
                        short(&key),
                        quote(debt as i64, decimals),
                        quote(fund as i64, decimals),
                        quote(debt.min(fund) as i64, decimals),
                        if debt > fund {
                            format!(", {} is socialised", quote((debt - fund) as i64, decimals))
                        } else {
                            String::new()
                        }
                    );
                    let instruction = instructions::resolve_bankruptcy(snapshot, &key);
                    let action = Action::ResolveBankruptcy { account: key, debt };
                    if self
                        .execute(snapshot, action, reason, vec![instruction])
                        .await?
                        .is_sent()
                    {
                        self.refresh(snapshot, &[key]).await?;
                    }
                    break;
                }
                let state = match snapshot.evaluate(&account) {
                    Ok(state) => state,
                    Err(e) => {
                        self.log(&format!("{}: cannot evaluate: {e}", short(&key)));
                        break;
                    }
                };
                let health = state.health().map_err(KeeperError::engine)?;
                if health >= I80F48::ZERO {
                    break;
                }
                if !counted {
                    unhealthy += 1;
                    counted = true;
                }
                if steps >= self.config.max_steps_per_account || !liquidator_ready {
                    break;
                }
                if key == liquidator || liquidator_owner == Some(account.owner) {
                    self.log(&format!(
                        "{}: unhealthy, but it is the keeper's own",
                        short(&key)
                    ));
                    break;
                }
                if snapshot.exchange.is_paused(pause::LIQUIDATE) {
                    self.log(&format!(
                        "{}: unhealthy, but liquidation is paused",
                        short(&key)
                    ));
                    break;
                }
                let plan = match liquidation::plan(snapshot, &liquidator, &key) {
                    Ok(Ok(plan)) => plan,
                    Ok(Err(why)) => {
                        self.log(&format!(
                            "{}: unhealthy (health {}), no step: {why}",
                            short(&key),
                            usd(health)
                        ));
                        break;
                    }
                    Err(e) => {
                        self.log(&format!("{}: cannot plan a step: {e}", short(&key)));
                        break;
                    }
                };
                let step = plan.preview;
                let reason = format!(
                    "{} equity {} < maintenance {}: take {} {} at mark {}, fee {} ({}), health {} -> {}{}",
                    short(&key),
                    usd(state.equity),
                    usd(state.maintenance_margin()),
                    step.quantity,
                    describe_target(snapshot, step.target),
                    price(step.mark),
                    percent(step.fee_rate),
                    quote(step.fee, decimals),
                    usd(step.health_before),
                    usd(step.health_after),
                    if step.recovered() {
                        " (healthy again)"
                    } else if step.closes_out {
                        " (closes out)"
                    } else {
                        ""
                    }
                );
                let instruction = instructions::liquidate(
                    snapshot,
                    &self.signer.pubkey(),
                    &liquidator,
                    &key,
                    step.target,
                    step.requested,
                );
                let action = Action::Liquidate { account: key, step };
                let outcome = self
                    .execute(snapshot, action, reason, vec![instruction])
                    .await?;
                steps += 1;
                if !outcome.is_sent() {
                    break;
                }
                self.refresh(snapshot, &[key, liquidator]).await?;
            }
        }
        Ok(unhealthy)
    }

    /// Simulates, then (only if the simulation succeeded) sends, retrying transport failures
    /// with backoff; records and logs the action with its reason and outcome.
    async fn execute(
        &mut self,
        snapshot: &Snapshot,
        action: Action,
        reason: String,
        instructions: Vec<Instruction>,
    ) -> Result<Outcome, KeeperError> {
        self.nonce = self.nonce.wrapping_add(1);
        let limit = self
            .config
            .compute_unit_limit
            .saturating_sub(self.nonce % 100_000)
            .max(1);
        let mut all = vec![instructions::compute_unit_limit(limit)];
        all.extend(instructions);
        let payer = self.signer.pubkey();
        let mut attempt = 0;
        let outcome = loop {
            let result: Result<Outcome, ClusterError> = async {
                let blockhash = self.cluster.latest_blockhash().await?;
                let tx = Transaction::new_signed_with_payer(
                    &all,
                    Some(&payer),
                    &[&self.signer],
                    blockhash,
                );
                self.stats.simulated += 1;
                let simulation = self.cluster.simulate(&tx).await?;
                if simulation.error.is_some() {
                    return Ok(Outcome::Skipped {
                        error: simulation.describe_error(),
                    });
                }
                match self.cluster.send(&tx).await {
                    Ok(signature) => Ok(Outcome::Sent {
                        signature,
                        units: simulation.units_consumed,
                    }),
                    Err(ClusterError::Transaction(error)) => Ok(Outcome::Failed { error }),
                    Err(other) => Err(other),
                }
            }
            .await;
            match result {
                Ok(outcome) => break outcome,
                Err(e) if self.should_retry(&e, attempt) => {
                    self.backoff("the transaction", &e, attempt).await;
                    attempt += 1;
                }
                Err(e) => {
                    break Outcome::GaveUp {
                        error: e.to_string(),
                    }
                }
            }
        };
        match &outcome {
            Outcome::Sent { .. } => self.stats.sent += 1,
            Outcome::Skipped { .. } => self.stats.skipped += 1,
            Outcome::Failed { .. } => self.stats.failed += 1,
            Outcome::GaveUp { .. } => self.stats.gave_up += 1,
        }
        let verb = match &action {
            Action::UpdateVolatility { .. } => "crank",
            Action::RefreshRiskArray { .. } => "risk array",
            Action::SettleInstrument { .. } => "settle instrument",
            Action::SettlePositions { .. } => "settle positions",
            Action::Liquidate { .. } => "liquidate",
            Action::ResolveBankruptcy { .. } => "resolve bankruptcy",
        };
        let result = match &outcome {
            Outcome::Sent { signature, units } => {
                format!("sent {} ({units} CU)", short_signature(signature))
            }
            Outcome::Skipped { error } => format!("NOT sent, simulation failed: {error}"),
            Outcome::Failed { error } => format!("sent and FAILED: {error}"),
            Outcome::GaveUp { error } => format!("gave up: {error}"),
        };
        self.log(&format!("{verb}: {reason}: {result}"));
        self.journal.push(Record {
            time: snapshot.now,
            action,
            reason,
            outcome: outcome.clone(),
        });
        Ok(outcome)
    }
}

/// The first characters of an address, for logs.
pub fn short(key: &Pubkey) -> String {
    let text = key.to_string();
    text.chars().take(8).collect()
}

fn short_signature(signature: &str) -> String {
    signature.chars().take(12).collect()
}

fn describe_target(snapshot: &Snapshot, target: LiquidationTarget) -> String {
    match target {
        LiquidationTarget::Position {
            underlying,
            instrument,
        } => {
            let kind = snapshot
                .underlyings
                .get(usize::from(underlying))
                .and_then(|u| u.state.instruments.get(usize::from(instrument)))
                .map_or("instrument", |i| match i.kind {
                    instrument_kind::FUTURE => "future",
                    instrument_kind::CALL => "call",
                    _ => "put",
                });
            format!(
                "{}#{instrument} {kind}",
                snapshot.underlying_name(underlying)
            )
        }
        LiquidationTarget::Collateral { asset } => {
            let underlying = snapshot.collateral_underlying(usize::from(asset));
            format!(
                "units of collateral asset {asset} ({})",
                snapshot.underlying_name(underlying)
            )
        }
        LiquidationTarget::Slice => "ppm of every position and collateral balance".to_string(),
    }
}

/// Why option `instrument`'s cached array would be refused by the margin check now, or `None`
/// when it is fresh (the program's own `fresh_age` and band rule).
fn stale_reason(
    snapshot: &Snapshot,
    underlying: &crate::snapshot::UnderlyingState,
    market: &portfolio_margin::margin::Market,
    instrument: u8,
) -> Option<String> {
    let Ok(cached) = cached_array(&underlying.raw.data, usize::from(instrument)) else {
        return Some("no array yet".into());
    };
    if cached.spot == 0 {
        return Some("no array yet".into());
    }
    if portfolio_margin::margin::fresh_age(cached, market, &snapshot.exchange.params, snapshot.now)
        .is_err()
    {
        return Some(format!(
            "built at {} (age {}s of {}s, vol {} now {})",
            price(cached.spot),
            snapshot.now.saturating_sub(cached.built_at),
            cached.max_age,
            cached.vol,
            market.vol
        ));
    }
    let inside = portfolio_margin::margin::band_offset(cached, market).is_ok();
    (!inside).then(|| {
        format!(
            "price {} left the band around {}",
            price(market.price.price),
            price(cached.spot)
        )
    })
}
