//! `localnet`: a local Solana JSON-RPC node (Surfpool's Surfnet, offline) on 127.0.0.1.
//!
//! ```text
//! localnet [--port 8899] [--airdrop <ADDRESS>]... [--airdrop-sol <SOL>] [--slot-time-ms 400] [--log]
//! ```
//!
//! Prints `rpc: <URL>` and `ready` on standard output once the node answers, then runs until
//! SIGINT or SIGTERM, when it shuts its RPC servers down (freeing the ports) and exits 0.
//! `scripts/localnet` runs it with the program deployed through the upgradeable loader and the
//! market config applied; `scripts/test-rpc` runs it on a free port (`--port 0`) for the RPC suites.

mod node;

use std::io::Write;
use std::process::ExitCode;
use std::time::Duration;

use node::{Node, NodeConfig};
use surfpool_sdk::{BlockProductionMode, Pubkey, SimnetEvent};

const USAGE: &str = "usage: localnet [--port <PORT>] [--airdrop <ADDRESS>]... [--airdrop-sol <SOL>] [--slot-time-ms <MS>]
                [--blocks clock|transaction] [--log]

  --port          JSON-RPC port on 127.0.0.1 (default 8899; WebSocket on the next one); 0 picks a free port
  --airdrop       an address funded at start-up (repeatable)
  --airdrop-sol   SOL each --airdrop address gets (default 1000)
  --slot-time-ms  milliseconds per slot (default 400, a validator's)
  --blocks        clock: slots and the clock sysvar follow wall time (default); transaction: a block
                  per transaction, so the clock stands still between them unless time-travelled (tests)
  --log           print the node's log (transactions, errors) on standard error";

struct Args {
    node: NodeConfig,
    log: bool,
}

fn parse_args(mut args: impl Iterator<Item = String>) -> Result<Args, String> {
    let mut node = NodeConfig {
        port: 8899,
        airdrop: Vec::new(),
        airdrop_lamports: 1_000 * 1_000_000_000,
        slot_time_ms: 400,
        block_production: BlockProductionMode::Clock,
    };
    let mut log = false;
    let number = |flag: &str, value: Option<String>| -> Result<u64, String> {
        let value = value.ok_or_else(|| format!("{flag} needs a value"))?;
        value
            .parse::<u64>()
            .map_err(|_| format!("{flag}: not a number: {value}"))
    };
    while let Some(flag) = args.next() {
        match flag.as_str() {
            "--port" => {
                node.port = u16::try_from(number("--port", args.next())?)
                    .map_err(|_| "--port: at most 65535".to_string())?
            }
            "--airdrop" => {
                let value = args.next().ok_or("--airdrop needs an address")?;
                node.airdrop.push(
                    value
                        .parse::<Pubkey>()
                        .map_err(|_| format!("--airdrop: not an address: {value}"))?,
                );
            }
            "--airdrop-sol" => {
                node.airdrop_lamports = number("--airdrop-sol", args.next())?
                    .checked_mul(1_000_000_000)
                    .ok_or("--airdrop-sol: too large")?
            }
            "--slot-time-ms" => {
                node.slot_time_ms = number("--slot-time-ms", args.next())?.max(1);
            }
            "--blocks" => {
                node.block_production = match args.next().as_deref() {
                    Some("clock") => BlockProductionMode::Clock,
                    Some("transaction") => BlockProductionMode::Transaction,
                    other => {
                        return Err(format!(
                            "--blocks: clock or transaction, not {}",
                            other.unwrap_or("nothing")
                        ))
                    }
                }
            }
            "--log" => log = true,
            "-h" | "--help" => return Err(String::new()),
            other => return Err(format!("unknown argument {other}")),
        }
    }
    Ok(Args { node, log })
}

fn main() -> ExitCode {
    let args = match parse_args(std::env::args().skip(1)) {
        Ok(args) => args,
        Err(message) => {
            if !message.is_empty() {
                eprintln!("localnet: {message}");
            }
            eprintln!("{USAGE}");
            return ExitCode::from(2);
        }
    };
    let node = match Node::start(args.node) {
        Ok(node) => node,
        Err(e) => {
            eprintln!("localnet: {e}");
            return ExitCode::FAILURE;
        }
    };
    // Machine-readable for scripts: the URL line, then `ready`.
    println!("rpc: {}", node.rpc_url);
    println!("ws: {}", node.ws_url);
    println!("ready");
    let _ = std::io::stdout().flush();

    let stop_requested = match stop_signal() {
        Ok(flag) => flag,
        Err(e) => {
            eprintln!("localnet: {e}");
            return finish(node, ExitCode::FAILURE);
        }
    };
    // The node's events are drained here (the channel is unbounded) and printed with --log.
    while !stop_requested.load(std::sync::atomic::Ordering::Relaxed) {
        match node.next_event(Duration::from_millis(100)) {
            None => {
                eprintln!("localnet: the node stopped by itself");
                return ExitCode::FAILURE;
            }
            Some(Some(event)) => print_event(&event, args.log),
            Some(None) => {}
        }
    }
    eprintln!("localnet: stopping");
    finish(node, ExitCode::SUCCESS)
}

fn finish(node: Node, code: ExitCode) -> ExitCode {
    match node.stop() {
        Ok(()) => code,
        Err(e) => {
            eprintln!("localnet: {e}");
            ExitCode::FAILURE
        }
    }
}

fn print_event(event: &SimnetEvent, log: bool) {
    match event {
        SimnetEvent::Aborted(e) => eprintln!("localnet: aborted: {e}"),
        SimnetEvent::ErrorLog(_, line) if log => eprintln!("localnet: error: {line}"),
        SimnetEvent::WarnLog(_, line) | SimnetEvent::InfoLog(_, line) if log => {
            eprintln!("localnet: {line}")
        }
        SimnetEvent::TransactionProcessed(_, meta, error) if log => eprintln!(
            "localnet: transaction {} {}",
            meta.signature,
            error
                .as_ref()
                .map_or_else(|| "ok".to_string(), |e| format!("failed: {e}"))
        ),
        _ => {}
    }
}

/// A flag set on SIGINT or SIGTERM (watched by a small tokio runtime on its own thread).
fn stop_signal() -> Result<std::sync::Arc<std::sync::atomic::AtomicBool>, String> {
    let flag = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let set = flag.clone();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start the signal watcher: {e}"))?;
    std::thread::Builder::new()
        .name("signals".into())
        .spawn(move || {
            runtime.block_on(async move {
                use tokio::signal::unix::{signal, SignalKind};
                let (Ok(mut interrupt), Ok(mut terminate)) = (
                    signal(SignalKind::interrupt()),
                    signal(SignalKind::terminate()),
                ) else {
                    eprintln!("localnet: cannot watch SIGINT/SIGTERM");
                    return;
                };
                tokio::select! {
                    _ = interrupt.recv() => {}
                    _ = terminate.recv() => {}
                }
                set.store(true, std::sync::atomic::Ordering::Relaxed);
            })
        })
        .map_err(|e| format!("cannot start the signal watcher: {e}"))?;
    Ok(flag)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Result<Args, String> {
        parse_args(args.iter().map(|s| s.to_string()))
    }

    #[test]
    fn defaults_are_a_validators() {
        let args = parse(&[]).expect("no arguments");
        assert_eq!(args.node.port, 8899);
        assert_eq!(args.node.slot_time_ms, 400);
        assert_eq!(args.node.block_production, BlockProductionMode::Clock);
        assert!(args.node.airdrop.is_empty());
        assert!(!args.log);
    }

    #[test]
    fn bad_arguments_are_named() {
        assert_eq!(
            parse(&["--port", "x"]).err(),
            Some("--port: not a number: x".into())
        );
        assert_eq!(
            parse(&["--port", "70000"]).err(),
            Some("--port: at most 65535".into())
        );
        assert_eq!(
            parse(&["--airdrop", "nope"]).err(),
            Some("--airdrop: not an address: nope".into())
        );
        assert_eq!(
            parse(&["--frob"]).err(),
            Some("unknown argument --frob".into())
        );
        assert_eq!(
            parse(&["--blocks", "sometimes"]).err(),
            Some("--blocks: clock or transaction, not sometimes".into())
        );
    }
}
