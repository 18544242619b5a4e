//! Starting and stopping an offline Surfnet (Surfpool's node: LiteSVM and the Agave runtime behind
//! standard Solana JSON-RPC and WebSocket) on a chosen port of 127.0.0.1.
//!
//! `surfpool_sdk::Surfnet::start` does the same with a free port it picks itself; a localnet has to
//! answer on the port users and tools expect (8899), so this starts the same surfpool-core pieces
//! the SDK starts, with the caller's ports.

use std::net::TcpListener;
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, Sender};
use surfpool_core::surfnet::locker::SurfnetSvmLocker;
use surfpool_core::surfnet::svm::{SurfnetSvm, SurfnetSvmConfig};
use surfpool_sdk::Pubkey;
use surfpool_types::{
    BlockProductionMode, RpcConfig, SimnetCommand, SimnetConfig, SimnetEvent, SurfpoolConfig,
    SvmFeatureConfig,
};

/// What the node is started with.
pub struct NodeConfig {
    /// The JSON-RPC port; 0 picks a free one.
    pub port: u16,
    /// Funded at start-up with `airdrop_lamports` each.
    pub airdrop: Vec<Pubkey>,
    pub airdrop_lamports: u64,
    /// Milliseconds per slot.
    pub slot_time_ms: u64,
    /// `Clock`: slots (and the clock sysvar) advance with wall time, as on a validator.
    /// `Transaction`: a block per transaction, the clock nearly still between them (tests).
    pub block_production: BlockProductionMode,
}

/// A running node; [`Node::stop`] shuts its RPC servers down and frees the ports.
pub struct Node {
    pub rpc_url: String,
    pub ws_url: String,
    commands: Sender<SimnetCommand>,
    events: Receiver<SimnetEvent>,
}

/// The port if it can be bound on 127.0.0.1 now, or a free one for 0.
fn claim_port(port: u16, what: &str) -> Result<u16, String> {
    let listener = TcpListener::bind(("127.0.0.1", port)).map_err(|e| {
        format!("cannot listen on 127.0.0.1:{port} for {what}: {e} (is another localnet running? stop it, or pass --port)")
    })?;
    let port = listener
        .local_addr()
        .map_err(|e| format!("{what}: {e}"))?
        .port();
    drop(listener);
    Ok(port)
}

impl Node {
    pub fn start(config: NodeConfig) -> Result<Node, String> {
        let bind_port = claim_port(config.port, "JSON-RPC")?;
        let ws_port = claim_port(
            if config.port == 0 {
                0
            } else {
                bind_port.checked_add(1).unwrap_or(0)
            },
            "WebSocket",
        )
        .or_else(|_| claim_port(0, "WebSocket"))?;
        let host = "127.0.0.1".to_string();
        let simnet = SimnetConfig {
            // No mainnet fallback: every account is local.
            offline_mode: true,
            remote_rpc_url: None,
            slot_time: config.slot_time_ms,
            block_production_mode: config.block_production,
            airdrop_addresses: config.airdrop,
            airdrop_token_amount: config.airdrop_lamports,
            // Surfpool re-executes every transaction instruction by instruction to profile it
            // (surfnet_profileTransaction); that doubles the cost of each one and nobody reads it here.
            instruction_profiling_enabled: false,
            ..Default::default()
        };
        let surfpool = SurfpoolConfig {
            simnets: vec![simnet],
            rpc: RpcConfig {
                bind_host: host.clone(),
                bind_port,
                ws_port,
                ..Default::default()
            },
            ..Default::default()
        };
        let simnet = &surfpool.simnets[0];
        let svm_config = SurfnetSvmConfig {
            surfnet_id: simnet.surfnet_id.clone(),
            slot_time: simnet.slot_time,
            instruction_profiling_enabled: simnet.instruction_profiling_enabled,
            max_profiles: simnet.max_profiles,
            log_bytes_limit: simnet.log_bytes_limit,
            feature_config: SvmFeatureConfig::default(),
            skip_blockhash_check: false,
        };
        let (svm, events, geyser_events) =
            SurfnetSvm::new(svm_config).map_err(|e| format!("cannot create the SVM: {e}"))?;
        let (commands, commands_rx) = crossbeam_channel::unbounded();
        let locker = SurfnetSvmLocker::new(svm);
        let runloop_commands = commands.clone();
        std::thread::Builder::new()
            .name("surfnet".into())
            .spawn(move || {
                let runloop = surfpool_core::runloops::start_local_surfnet_runloop(
                    locker,
                    surfpool,
                    runloop_commands,
                    commands_rx,
                    geyser_events,
                );
                if let Err(e) = hiro_system_kit::nestable_block_on(runloop) {
                    eprintln!("localnet: the node stopped: {e}");
                }
            })
            .map_err(|e| format!("cannot start the node's thread: {e}"))?;
        loop {
            match events.recv() {
                Ok(SimnetEvent::CoreStarted(_)) => break,
                Ok(SimnetEvent::Aborted(e)) => return Err(format!("the node aborted: {e}")),
                Ok(SimnetEvent::Shutdown) => return Err("the node shut down while starting".into()),
                Ok(_) => {}
                Err(e) => return Err(format!("the node's event channel closed: {e}")),
            }
        }
        Ok(Node {
            rpc_url: format!("http://{host}:{bind_port}"),
            ws_url: format!("ws://{host}:{ws_port}"),
            commands,
            events,
        })
    }

    /// Events the node reports (logs, errors) until it shuts down; `None` once it has.
    pub fn next_event(&self, timeout: Duration) -> Option<Option<SimnetEvent>> {
        match self.events.recv_timeout(timeout) {
            Ok(event) => Some(Some(event)),
            Err(crossbeam_channel::RecvTimeoutError::Timeout) => Some(None),
            Err(crossbeam_channel::RecvTimeoutError::Disconnected) => None,
        }
    }

    /// Asks the node to terminate and waits (5 s at most) until both RPC servers (HTTP and
    /// WebSocket) have acknowledged, so their ports are free when this returns `Ok`.
    pub fn stop(self) -> Result<(), String> {
        self.commands
            .send(SimnetCommand::Terminate(None))
            .map_err(|e| format!("cannot send terminate: {e}"))?;
        let deadline = Instant::now() + Duration::from_secs(5);
        let mut acknowledged = 0;
        while acknowledged < 2 {
            let Some(left) = deadline.checked_duration_since(Instant::now()) else {
                break;
            };
            match self.events.recv_timeout(left) {
                Ok(SimnetEvent::Shutdown) => acknowledged += 1,
                Ok(_) => {}
                Err(_) => break,
            }
        }
        if acknowledged < 2 {
            return Err(format!(
                "shutdown not confirmed within 5 s ({acknowledged} of 2 RPC servers)"
            ));
        }
        Ok(())
    }
}
