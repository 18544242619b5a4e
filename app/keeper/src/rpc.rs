//! [`Cluster`] over Solana's JSON-RPC API with a small blocking HTTP client (ureq): no
//! solana-client, no async runtime. Works against `solana-test-validator`, devnet or mainnet.

use std::time::{Duration, Instant};

use anchor_lang::prelude::Pubkey;
use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine as _;
use serde_json::{json, Value};
use solana_hash::Hash;
use solana_transaction::Transaction;

use crate::cluster::{AccountData, Cluster, ClusterError, Simulation};

pub struct RpcCluster {
    url: String,
    agent: ureq::Agent,
    /// `processed`, `confirmed` or `finalized`.
    pub commitment: String,
    /// How long `send` waits for confirmation.
    pub confirm_timeout: Duration,
    next_id: u64,
}

impl RpcCluster {
    pub fn new(url: &str) -> RpcCluster {
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .timeout_global(Some(Duration::from_secs(30)))
            .http_status_as_error(false)
            .build()
            .into();
        RpcCluster {
            url: url.to_string(),
            agent,
            commitment: "confirmed".into(),
            confirm_timeout: Duration::from_secs(60),
            next_id: 0,
        }
    }

    /// One JSON-RPC call; returns `result`.
    pub fn call(&mut self, method: &str, params: Value) -> Result<Value, ClusterError> {
        self.next_id += 1;
        let body =
            json!({ "jsonrpc": "2.0", "id": self.next_id, "method": method, "params": params });
        let mut response = self
            .agent
            .post(&self.url)
            .header("Content-Type", "application/json")
            .send(body.to_string())
            .map_err(|e| ClusterError::Transport(format!("{method}: {e}")))?;
        let status = response.status().as_u16();
        let text = response
            .body_mut()
            .read_to_string()
            .map_err(|e| ClusterError::Transport(format!("{method}: reading the response: {e}")))?;
        let reply: Value = serde_json::from_str(&text).map_err(|e| {
            ClusterError::Transport(format!(
                "{method}: HTTP {status}, not JSON ({e}): {}",
                text.chars().take(200).collect::<String>()
            ))
        })?;
        if let Some(error) = reply.get("error") {
            let code = error.get("code").and_then(Value::as_i64).unwrap_or(0);
            let message = error
                .get("message")
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_string();
            // -32002: the preflight simulation of sendTransaction failed.
            if code == -32002 {
                return Err(ClusterError::Transaction(message));
            }
            return Err(ClusterError::Rpc { code, message });
        }
        reply.get("result").cloned().ok_or_else(|| {
            ClusterError::Transport(format!(
                "{method}: no result in {}",
                text.chars().take(200).collect::<String>()
            ))
        })
    }

    fn encode(transaction: &Transaction) -> Result<String, ClusterError> {
        let bytes = bincode::serialize(transaction)
            .map_err(|e| ClusterError::Transport(format!("serialize transaction: {e}")))?;
        Ok(BASE64.encode(bytes))
    }
}

fn bad(what: &str) -> ClusterError {
    ClusterError::Transport(format!("unexpected response shape: {what}"))
}

fn parse_pubkey(text: &str) -> Result<Pubkey, ClusterError> {
    text.parse::<Pubkey>().map_err(|_| bad("address"))
}

/// `{lamports, owner, data: [base64, "base64"]}`.
fn parse_account(value: &Value) -> Result<Option<AccountData>, ClusterError> {
    if value.is_null() {
        return Ok(None);
    }
    let lamports = value
        .get("lamports")
        .and_then(Value::as_u64)
        .ok_or_else(|| bad("lamports"))?;
    let owner = parse_pubkey(
        value
            .get("owner")
            .and_then(Value::as_str)
            .ok_or_else(|| bad("owner"))?,
    )?;
    let encoded = value
        .get("data")
        .and_then(|d| d.get(0))
        .and_then(Value::as_str)
        .ok_or_else(|| bad("data"))?;
    let data = BASE64.decode(encoded).map_err(|_| bad("base64 data"))?;
    Ok(Some(AccountData {
        lamports,
        data,
        owner,
    }))
}

impl Cluster for RpcCluster {
    async fn account(&mut self, key: &Pubkey) -> Result<Option<AccountData>, ClusterError> {
        let commitment = self.commitment.clone();
        let result = self.call(
            "getAccountInfo",
            json!([key.to_string(), { "encoding": "base64", "commitment": commitment }]),
        )?;
        parse_account(result.get("value").ok_or_else(|| bad("value"))?)
    }

    async fn accounts(
        &mut self,
        keys: &[Pubkey],
    ) -> Result<Vec<Option<AccountData>>, ClusterError> {
        let commitment = self.commitment.clone();
        let mut out = Vec::with_capacity(keys.len());
        for chunk in keys.chunks(100) {
            let addresses: Vec<String> = chunk.iter().map(Pubkey::to_string).collect();
            let result = self.call(
                "getMultipleAccounts",
                json!([addresses, { "encoding": "base64", "commitment": commitment }]),
            )?;
            let values = result
                .get("value")
                .and_then(Value::as_array)
                .ok_or_else(|| bad("value"))?;
            if values.len() != chunk.len() {
                return Err(bad("getMultipleAccounts length"));
            }
            for value in values {
                out.push(parse_account(value)?);
            }
        }
        Ok(out)
    }

    async fn program_accounts(
        &mut self,
        program: &Pubkey,
        size: usize,
        prefix: &[u8],
    ) -> Result<Vec<(Pubkey, AccountData)>, ClusterError> {
        let commitment = self.commitment.clone();
        let result = self.call(
            "getProgramAccounts",
            json!([program.to_string(), {
                "encoding": "base64",
                "commitment": commitment,
                "filters": [
                    { "dataSize": size },
                    { "memcmp": { "offset": 0, "bytes": bs58::encode(prefix).into_string() } }
                ]
            }]),
        )?;
        let entries = result.as_array().ok_or_else(|| bad("getProgramAccounts"))?;
        let mut out = Vec::with_capacity(entries.len());
        for entry in entries {
            let key = parse_pubkey(
                entry
                    .get("pubkey")
                    .and_then(Value::as_str)
                    .ok_or_else(|| bad("pubkey"))?,
            )?;
            if let Some(account) =
                parse_account(entry.get("account").ok_or_else(|| bad("account"))?)?
            {
                out.push((key, account));
            }
        }
        Ok(out)
    }

    async fn latest_blockhash(&mut self) -> Result<Hash, ClusterError> {
        let commitment = self.commitment.clone();
        let result = self.call("getLatestBlockhash", json!([{ "commitment": commitment }]))?;
        let text = result
            .get("value")
            .and_then(|v| v.get("blockhash"))
            .and_then(Value::as_str)
            .ok_or_else(|| bad("blockhash"))?;
        let bytes: [u8; 32] = bs58::decode(text)
            .into_vec()
            .ok()
            .and_then(|v| v.try_into().ok())
            .ok_or_else(|| bad("blockhash encoding"))?;
        Ok(Hash::new_from_array(bytes))
    }

    async fn simulate(&mut self, transaction: &Transaction) -> Result<Simulation, ClusterError> {
        let commitment = self.commitment.clone();
        let encoded = Self::encode(transaction)?;
        let result = self.call(
            "simulateTransaction",
            json!([encoded, {
                "encoding": "base64",
                "commitment": commitment,
                "sigVerify": true,
                "replaceRecentBlockhash": false
            }]),
        )?;
        let value = result.get("value").ok_or_else(|| bad("value"))?;
        let error = value
            .get("err")
            .filter(|e| !e.is_null())
            .map(Value::to_string);
        let logs = value
            .get("logs")
            .and_then(Value::as_array)
            .map(|lines| {
                lines
                    .iter()
                    .filter_map(Value::as_str)
                    .map(str::to_string)
                    .collect()
            })
            .unwrap_or_default();
        let units_consumed = value
            .get("unitsConsumed")
            .and_then(Value::as_u64)
            .unwrap_or(0);
        Ok(Simulation {
            error,
            logs,
            units_consumed,
        })
    }

    async fn send(&mut self, transaction: &Transaction) -> Result<String, ClusterError> {
        let commitment = self.commitment.clone();
        let encoded = Self::encode(transaction)?;
        let signature = self
            .call(
                "sendTransaction",
                json!([encoded, { "encoding": "base64", "preflightCommitment": commitment }]),
            )?
            .as_str()
            .ok_or_else(|| bad("signature"))?
            .to_string();
        let started = Instant::now();
        while started.elapsed() < self.confirm_timeout {
            let result = self.call("getSignatureStatuses", json!([[signature]]))?;
            let status = result
                .get("value")
                .and_then(|v| v.get(0))
                .cloned()
                .unwrap_or(Value::Null);
            if !status.is_null() {
                if let Some(error) = status.get("err").filter(|e| !e.is_null()) {
                    return Err(ClusterError::Transaction(error.to_string()));
                }
                let level = status
                    .get("confirmationStatus")
                    .and_then(Value::as_str)
                    .unwrap_or("");
                let done = match self.commitment.as_str() {
                    "processed" => true,
                    "finalized" => level == "finalized",
                    _ => level == "confirmed" || level == "finalized",
                };
                if done {
                    return Ok(signature);
                }
            }
            std::thread::sleep(Duration::from_millis(400));
        }
        Err(ClusterError::Transport(format!(
            "{signature} not confirmed within {:?}",
            self.confirm_timeout
        )))
    }

    async fn sleep(&mut self, duration: Duration) {
        std::thread::sleep(duration);
    }
}
