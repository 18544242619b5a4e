//! `keeper`: watches a portfolio-margin exchange on an RPC endpoint and keeps it solvent.
//!
//! ```text
//! cargo run -p keeper -- --url http://127.0.0.1:8899 --keypair ~/.config/solana/id.json \
//!     --exchange <EXCHANGE> [--account-id 0 | --liquidator <MARGIN ACCOUNT>] [--interval 10] [--once]
//! ```

use std::process::ExitCode;
use std::time::Duration;

use anchor_lang::prelude::Pubkey;
use keeper::instructions::margin_account_address;
use keeper::rpc::RpcCluster;
use keeper::{block_on, Keeper, KeeperConfig};
use solana_signer::Signer;

const USAGE: &str = "usage: keeper --exchange <ADDRESS> [--url <RPC URL>] [--keypair <FILE>]
              [--account-id <N> | --liquidator <MARGIN ACCOUNT>] [--program-id <ADDRESS>]
              [--interval <SECONDS>] [--max-steps <N>] [--commitment processed|confirmed|finalized] [--once]

  --url         JSON-RPC endpoint (default http://127.0.0.1:8899)
  --keypair     the keeper's key: pays fees and signs for its margin account
                (default ~/.config/solana/id.json)
  --exchange    the exchange account to watch
  --account-id  the keeper's own margin account, as (exchange, keypair, id) (default 0)
  --liquidator  ... or its address
  --interval    seconds between ticks (default 10)
  --max-steps   liquidation steps per account per tick (default 1; the fee rises between ticks)
  --once        one tick, then exit (non-zero if the exchange could not be read)";

struct Args {
    url: String,
    keypair: String,
    exchange: Pubkey,
    liquidator: Option<Pubkey>,
    account_id: u32,
    program_id: Pubkey,
    interval: u64,
    max_steps: u32,
    commitment: String,
    once: bool,
}

fn parse_args() -> Result<Args, String> {
    let mut args = std::env::args().skip(1);
    let home = std::env::var("HOME").unwrap_or_else(|_| ".".into());
    let mut parsed = Args {
        url: "http://127.0.0.1:8899".into(),
        keypair: format!("{home}/.config/solana/id.json"),
        exchange: Pubkey::default(),
        liquidator: None,
        account_id: 0,
        program_id: portfolio_margin::ID,
        interval: 10,
        max_steps: 1,
        commitment: "confirmed".into(),
        once: false,
    };
    let mut exchange = None;
    let address = |flag: &str, value: Option<String>| -> Result<Pubkey, String> {
        let value = value.ok_or_else(|| format!("{flag} needs a value"))?;
        value
            .parse::<Pubkey>()
            .map_err(|_| format!("{flag}: not an address: {value}"))
    };
    while let Some(flag) = args.next() {
        match flag.as_str() {
            "--url" => parsed.url = args.next().ok_or("--url needs a value")?,
            "--keypair" => parsed.keypair = args.next().ok_or("--keypair needs a value")?,
            "--exchange" => exchange = Some(address("--exchange", args.next())?),
            "--liquidator" => parsed.liquidator = Some(address("--liquidator", args.next())?),
            "--program-id" => parsed.program_id = address("--program-id", args.next())?,
            "--account-id" => {
                let value = args.next().ok_or("--account-id needs a value")?;
                parsed.account_id = value
                    .parse()
                    .map_err(|_| format!("--account-id: not a number: {value}"))?;
            }
            "--interval" => {
                let value = args.next().ok_or("--interval needs a value")?;
                parsed.interval = value
                    .parse()
                    .map_err(|_| format!("--interval: not a number: {value}"))?;
            }
            "--max-steps" => {
                let value = args.next().ok_or("--max-steps needs a value")?;
                parsed.max_steps = value
                    .parse()
                    .map_err(|_| format!("--max-steps: not a number: {value}"))?;
            }
            "--commitment" => {
                let value = args.next().ok_or("--commitment needs a value")?;
                if !matches!(value.as_str(), "processed" | "confirmed" | "finalized") {
                    return Err(format!(
                        "--commitment: {value} is not processed, confirmed or finalized"
                    ));
                }
                parsed.commitment = value;
            }
            "--once" => parsed.once = true,
            "-h" | "--help" => return Err(String::new()),
            other => return Err(format!("unknown argument {other}")),
        }
    }
    parsed.exchange = exchange.ok_or("--exchange is required")?;
    Ok(parsed)
}

fn main() -> ExitCode {
    let args = match parse_args() {
        Ok(args) => args,
        Err(message) => {
            if !message.is_empty() {
                eprintln!("keeper: {message}");
            }
            eprintln!("{USAGE}");
            return ExitCode::from(2);
        }
    };
    let signer = match solana_keypair::read_keypair_file(&args.keypair) {
        Ok(signer) => signer,
        Err(e) => {
            eprintln!("keeper: cannot read keypair {}: {e}", args.keypair);
            return ExitCode::from(2);
        }
    };
    let liquidator = args.liquidator.unwrap_or_else(|| {
        margin_account_address(
            &args.program_id,
            &args.exchange,
            &signer.pubkey(),
            args.account_id,
        )
    });
    let mut config = KeeperConfig::new(args.exchange, liquidator);
    config.program_id = args.program_id;
    config.max_steps_per_account = args.max_steps;
    let mut cluster = RpcCluster::new(&args.url);
    cluster.commitment = args.commitment.clone();
    eprintln!(
        "keeper: {} on {} — exchange {}, liquidator account {}, every {}s",
        signer.pubkey(),
        args.url,
        args.exchange,
        liquidator,
        args.interval
    );
    let mut keeper = Keeper::new(cluster, signer, config);
    loop {
        match block_on(keeper.tick()) {
            Ok(summary) => eprintln!(
                "keeper: tick at {}: {} accounts, {} unhealthy, {} actions (sent {} / not sent {} / failed {} in all)",
                summary.time,
                summary.accounts,
                summary.unhealthy,
                summary.records.len(),
                keeper.stats.sent,
                keeper.stats.skipped,
                keeper.stats.failed
            ),
            Err(e) => {
                eprintln!("keeper: tick failed: {e}");
                if args.once {
                    return ExitCode::FAILURE;
                }
            }
        }
        if args.once {
            return ExitCode::SUCCESS;
        }
        std::thread::sleep(Duration::from_secs(args.interval));
    }
}
