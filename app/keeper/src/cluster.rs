//! What the keeper needs from a cluster, as one trait: read accounts, list the program's margin
//! accounts, read the clock, simulate and send a transaction, and wait (for backoff).
//!
//! Two implementations: [`crate::rpc::RpcCluster`] (JSON-RPC over HTTP, any validator or
//! public endpoint) and, behind the `program-test` feature, [`crate::banks::BanksCluster`]
//! (solana-program-test's in-process runtime). The keeper logic is written once against this
//! trait, so the tests exercise the code that runs in production.

use std::fmt;
use std::time::Duration;

use anchor_lang::prelude::Pubkey;
use solana_hash::Hash;
use solana_transaction::Transaction;

/// An account as the cluster returns it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AccountData {
    pub lamports: u64,
    pub data: Vec<u8>,
    pub owner: Pubkey,
}

/// What simulating a transaction reported.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Simulation {
    /// `None` when the transaction would succeed; otherwise the runtime's error.
    pub error: Option<String>,
    pub logs: Vec<String>,
    pub units_consumed: u64,
}

impl Simulation {
    /// The error and the last program log lines, for a log message.
    pub fn describe_error(&self) -> String {
        let error = self.error.clone().unwrap_or_default();
        let tail: Vec<&str> = self
            .logs
            .iter()
            .rev()
            .filter(|line| line.contains("Error") || line.contains("failed"))
            .take(2)
            .map(String::as_str)
            .collect();
        if tail.is_empty() {
            error
        } else {
            format!("{error} ({})", tail.join("; "))
        }
    }
}

/// The fields of the `Clock` sysvar the keeper uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ClusterClock {
    pub slot: u64,
    pub unix_timestamp: i64,
}

impl ClusterClock {
    /// Decodes the `Clock` sysvar account (bincode: slot, epoch_start_timestamp, epoch,
    /// leader_schedule_epoch, unix_timestamp; little-endian, 40 bytes).
    pub fn decode(data: &[u8]) -> Result<ClusterClock, ClusterError> {
        let field = |offset: usize| -> Result<[u8; 8], ClusterError> {
            data.get(offset..offset + 8)
                .and_then(|bytes| <[u8; 8]>::try_from(bytes).ok())
                .ok_or_else(|| {
                    ClusterError::Transport(format!("clock sysvar of {} bytes", data.len()))
                })
        };
        Ok(ClusterClock {
            slot: u64::from_le_bytes(field(0)?),
            unix_timestamp: i64::from_le_bytes(field(32)?),
        })
    }
}

/// The `Clock` sysvar's address.
pub const CLOCK_SYSVAR: Pubkey =
    anchor_lang::pubkey!("SysvarC1ock11111111111111111111111111111111");

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ClusterError {
    /// The endpoint could not be reached, timed out or answered something unreadable.
    Transport(String),
    /// The endpoint answered with a JSON-RPC error.
    Rpc { code: i64, message: String },
    /// The transaction was executed (or preflighted) and failed.
    Transaction(String),
}

impl ClusterError {
    /// Whether trying again later can help: transport trouble and node-side RPC errors, not
    /// malformed requests and not failed transactions.
    pub fn is_retryable(&self) -> bool {
        match self {
            ClusterError::Transport(_) => true,
            // -32600 invalid request, -32601 method not found, -32602 invalid params.
            ClusterError::Rpc { code, .. } => !matches!(code, -32602..=-32600),
            ClusterError::Transaction(_) => false,
        }
    }
}

impl fmt::Display for ClusterError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ClusterError::Transport(message) => write!(f, "transport: {message}"),
            ClusterError::Rpc { code, message } => write!(f, "rpc error {code}: {message}"),
            ClusterError::Transaction(message) => write!(f, "transaction failed: {message}"),
        }
    }
}

impl std::error::Error for ClusterError {}

/// A cluster the keeper can watch and act on.
///
/// Methods are `async` so that the in-process runtime (which is async) and a blocking HTTP
/// client fit the same trait; an implementation that never awaits (the RPC one) can be driven
/// by [`crate::block_on`].
#[allow(async_fn_in_trait)]
pub trait Cluster {
    /// One account, or `None` if it does not exist.
    async fn account(&mut self, key: &Pubkey) -> Result<Option<AccountData>, ClusterError>;

    /// Several accounts in one round trip where the cluster allows it.
    async fn accounts(
        &mut self,
        keys: &[Pubkey],
    ) -> Result<Vec<Option<AccountData>>, ClusterError> {
        let mut out = Vec::with_capacity(keys.len());
        for key in keys {
            out.push(self.account(key).await?);
        }
        Ok(out)
    }

    /// Every account owned by `program` whose data is `size` bytes long and starts with
    /// `prefix` (`getProgramAccounts` with a `dataSize` and a `memcmp` filter at offset 0: the
    /// Anchor discriminator, then the exchange key).
    async fn program_accounts(
        &mut self,
        program: &Pubkey,
        size: usize,
        prefix: &[u8],
    ) -> Result<Vec<(Pubkey, AccountData)>, ClusterError>;

    /// The cluster's clock.
    async fn clock(&mut self) -> Result<ClusterClock, ClusterError> {
        let account = self
            .account(&CLOCK_SYSVAR)
            .await?
            .ok_or_else(|| ClusterError::Transport("clock sysvar missing".into()))?;
        ClusterClock::decode(&account.data)
    }

    async fn latest_blockhash(&mut self) -> Result<Hash, ClusterError>;

    /// Simulates a signed transaction against the current state; changes nothing.
    async fn simulate(&mut self, transaction: &Transaction) -> Result<Simulation, ClusterError>;

    /// Sends a signed transaction and waits until it is confirmed; returns its signature.
    async fn send(&mut self, transaction: &Transaction) -> Result<String, ClusterError>;

    /// Waits (retry backoff).
    async fn sleep(&mut self, duration: Duration);
}
