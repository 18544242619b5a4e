//! Keeper bot for the portfolio-margin program.
//!
//! Each [`Keeper::tick`] reads the exchange through a [`Cluster`], then
//! 1. runs the volatility crank on every underlying whose interval has elapsed,
//! 2. settles expired instruments, then the positions accounts hold in settled instruments,
//! 3. computes every margin account's health with the program's own margin code
//!    ([`snapshot::Snapshot::evaluate`]),
//! 4. liquidates each unhealthy account with the smallest effective step ([`liquidation::plan`]),
//! 5. resolves bankruptcies (no positions, no collateral, negative quote).
//!
//! Every transaction is simulated first and only sent if the simulation succeeds; every
//! action is logged with its reason and recorded in [`Keeper::journal`]; cluster calls are
//! retried with exponential backoff.

pub mod cluster;
pub mod instructions;
pub mod keeper;
pub mod liquidation;
pub mod snapshot;

#[cfg(feature = "program-test")]
pub mod banks;
#[cfg(feature = "rpc")]
pub mod rpc;

use std::fmt;

pub use cluster::{AccountData, Cluster, ClusterClock, ClusterError, Simulation};
pub use keeper::{Action, Keeper, KeeperConfig, Outcome, Record, RetryPolicy, Stats, TickSummary};
pub use snapshot::Snapshot;
/// The blockhash type of `Cluster::latest_blockhash`.
pub use solana_hash::Hash;

#[derive(Debug)]
pub enum KeeperError {
    /// The cluster could not be read or written (after retries).
    Cluster(ClusterError),
    /// An account is missing or does not decode as the program's type.
    Decode(String),
    /// The program's margin code refused the state (a stale oracle, an overflow...).
    Engine(String),
    /// The keeper's configuration does not match the cluster (liquidator account, keypair...).
    Config(String),
}

impl KeeperError {
    /// Wraps an error of the program's code (`anchor_lang::error::Error`).
    pub fn engine(error: anchor_lang::error::Error) -> KeeperError {
        KeeperError::Engine(describe_program_error(&error))
    }
}

/// `MarginError` variant name and message of a program error, or its display form.
fn describe_program_error(error: &anchor_lang::error::Error) -> String {
    match error {
        anchor_lang::error::Error::AnchorError(e) => format!("{} ({})", e.error_name, e.error_msg),
        other => other.to_string(),
    }
}

impl fmt::Display for KeeperError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            KeeperError::Cluster(e) => write!(f, "{e}"),
            KeeperError::Decode(m) => write!(f, "decode: {m}"),
            KeeperError::Engine(m) => write!(f, "{m}"),
            KeeperError::Config(m) => write!(f, "config: {m}"),
        }
    }
}

impl std::error::Error for KeeperError {}

impl From<ClusterError> for KeeperError {
    fn from(e: ClusterError) -> Self {
        KeeperError::Cluster(e)
    }
}

/// Runs a future that never waits on I/O readiness (the blocking RPC cluster's) to completion
/// on the current thread: no async runtime needed for the binary.
pub fn block_on<F: std::future::Future>(future: F) -> F::Output {
    let mut future = std::pin::pin!(future);
    let mut context = std::task::Context::from_waker(std::task::Waker::noop());
    loop {
        if let std::task::Poll::Ready(value) = future.as_mut().poll(&mut context) {
            return value;
        }
        std::thread::yield_now();
    }
}

/// A USD amount (`I80F48`) for logs, two decimals.
pub fn usd(value: risk::I80F48) -> String {
    format!("{:.2}", value.to_num::<f64>())
}

/// A quote amount in native units for logs, two decimals.
pub fn quote(amount: i64, decimals: u8) -> String {
    let scale = 10f64.powi(i32::from(decimals));
    format!("{:.2}", amount as f64 / scale)
}

/// A `expo = -6` fraction as a percentage.
pub fn percent(ppm: u64) -> String {
    format!("{:.2}%", ppm as f64 / 10_000.0)
}

/// A `expo = -6` price.
pub fn price(ppm: u64) -> String {
    format!("{:.2}", ppm as f64 / 1_000_000.0)
}
