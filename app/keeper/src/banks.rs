//! [`Cluster`] on solana-program-test's in-process runtime (feature `program-test`), so the
//! keeper's tests and the demo drive the very code that runs against an RPC endpoint.
//!
//! The in-process `BanksClient` has no `getProgramAccounts`; [`BanksCluster`] answers it from
//! the addresses it was told to [`watch`](BanksCluster::watch), applying the same owner, size
//! and prefix filter the RPC node applies.

use std::time::Duration;

use anchor_lang::prelude::Pubkey;
use solana_hash::Hash;
use solana_program_test::{BanksClient, BanksClientError};
use solana_transaction::Transaction;

use crate::cluster::{AccountData, Cluster, ClusterError, Simulation};

pub struct BanksCluster {
    pub client: BanksClient,
    watched: Vec<Pubkey>,
}

impl BanksCluster {
    pub fn new(client: BanksClient) -> BanksCluster {
        BanksCluster {
            client,
            watched: Vec::new(),
        }
    }

    /// Adds addresses that `program_accounts` considers (margin accounts created in the test).
    pub fn watch(&mut self, keys: impl IntoIterator<Item = Pubkey>) {
        for key in keys {
            if !self.watched.contains(&key) {
                self.watched.push(key);
            }
        }
    }
}

fn transport(error: BanksClientError) -> ClusterError {
    match error {
        BanksClientError::TransactionError(e) => ClusterError::Transaction(e.to_string()),
        BanksClientError::SimulationError { err, .. } => ClusterError::Transaction(err.to_string()),
        other => ClusterError::Transport(other.to_string()),
    }
}

impl Cluster for BanksCluster {
    async fn account(&mut self, key: &Pubkey) -> Result<Option<AccountData>, ClusterError> {
        let account = self.client.get_account(*key).await.map_err(transport)?;
        Ok(account.map(|a| AccountData {
            lamports: a.lamports,
            data: a.data,
            owner: a.owner,
        }))
    }

    async fn program_accounts(
        &mut self,
        program: &Pubkey,
        size: usize,
        prefix: &[u8],
    ) -> Result<Vec<(Pubkey, AccountData)>, ClusterError> {
        let mut out = Vec::new();
        for key in self.watched.clone() {
            if let Some(account) = self.account(&key).await? {
                if account.owner == *program
                    && account.data.len() == size
                    && account.data.starts_with(prefix)
                {
                    out.push((key, account));
                }
            }
        }
        Ok(out)
    }

    async fn latest_blockhash(&mut self) -> Result<Hash, ClusterError> {
        self.client.get_latest_blockhash().await.map_err(transport)
    }

    async fn simulate(&mut self, transaction: &Transaction) -> Result<Simulation, ClusterError> {
        let result = self
            .client
            .simulate_transaction(transaction.clone())
            .await
            .map_err(transport)?;
        let (logs, units_consumed) = result
            .simulation_details
            .map(|d| (d.logs, d.units_consumed))
            .unwrap_or_default();
        let error = match result.result {
            Some(Err(e)) => Some(e.to_string()),
            Some(Ok(())) => None,
            None => Some("no simulation result".into()),
        };
        Ok(Simulation {
            error,
            logs,
            units_consumed,
        })
    }

    async fn send(&mut self, transaction: &Transaction) -> Result<String, ClusterError> {
        self.client
            .process_transaction(transaction.clone())
            .await
            .map_err(transport)?;
        Ok(transaction
            .signatures
            .first()
            .map(ToString::to_string)
            .unwrap_or_default())
    }

    async fn sleep(&mut self, duration: Duration) {
        tokio::time::sleep(duration).await;
    }
}
