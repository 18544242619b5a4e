//! The keeper bot (app/keeper) against the program on the in-process runtime: the same keeper
//! code that runs against an RPC endpoint, through `keeper::banks::BanksCluster`.
//!
//! A SOL market crashes from 152 to 115. The keeper cranks volatility, settles an expired
//! future and the positions in it, liquidates one account in capped steps at a Dutch-auction
//! fee that rises between ticks until it is healthy again, closes out a second account whose
//! equity went negative and resolves its bankruptcy from the insurance fund; it never sends a transaction
//! that its simulation says would fail, and the vaults reconcile.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use anchor_lang::prelude::Pubkey;
use anchor_lang::Discriminator;
use keeper::banks::BanksCluster;
use keeper::liquidation::{LiquidationContext, Refusal};
use keeper::{
    AccountData, Action, Cluster, ClusterError, Keeper, KeeperConfig, Outcome, RetryPolicy,
    Simulation,
};
use portfolio_margin::error::MarginError;
use portfolio_margin::instructions::{LiquidationTarget, ListInstrumentArgs, UnderlyingParamsArgs};
use portfolio_margin::state::*;
use portfolio_margin_tests::*;
use solana_signer::Signer;
use solana_transaction::Transaction;

const DAY: i64 = 86_400;
const SOL: usize = 0;

/// The in-process cluster with two faults a real one has: calls that fail in transit, and
/// another transaction landing between the keeper's read and its own (a front-run).
struct RacingCluster {
    inner: BanksCluster,
    /// The next this many account reads fail with a transport error.
    transport_failures: u32,
    /// Sent just before the next simulation of a transaction carrying this instruction.
    front_run: Option<(Vec<u8>, Transaction)>,
}

impl Cluster for RacingCluster {
    async fn account(&mut self, key: &Pubkey) -> Result<Option<AccountData>, ClusterError> {
        if self.transport_failures > 0 {
            self.transport_failures -= 1;
            return Err(ClusterError::Transport("injected: connection reset".into()));
        }
        self.inner.account(key).await
    }

    async fn program_accounts(
        &mut self,
        program: &Pubkey,
        size: usize,
        prefix: &[u8],
    ) -> Result<Vec<(Pubkey, AccountData)>, ClusterError> {
        self.inner.program_accounts(program, size, prefix).await
    }

    async fn latest_blockhash(&mut self) -> Result<keeper::Hash, ClusterError> {
        self.inner.latest_blockhash().await
    }

    async fn simulate(&mut self, transaction: &Transaction) -> Result<Simulation, ClusterError> {
        let carries = |discriminator: &[u8]| {
            transaction
                .message
                .instructions
                .iter()
                .any(|ix| ix.data.starts_with(discriminator))
        };
        if let Some((discriminator, front_run)) = self.front_run.take() {
            if carries(&discriminator) {
                self.inner.send(&front_run).await.expect("front-run");
            } else {
                self.front_run = Some((discriminator, front_run));
            }
        }
        self.inner.simulate(transaction).await
    }

    async fn send(&mut self, transaction: &Transaction) -> Result<String, ClusterError> {
        self.inner.send(transaction).await
    }

    async fn sleep(&mut self, duration: Duration) {
        self.inner.sleep(duration).await;
    }
}

/// A keeper with the default configuration on the in-process runtime, watching `accounts`.
fn banks_keeper<const N: usize>(
    env: &Env,
    keeper: &Trader,
    keeper_account: Pubkey,
    accounts: [Pubkey; N],
) -> Keeper<BanksCluster> {
    let mut banks = BanksCluster::new(env.ctx.banks_client.clone());
    banks.watch(accounts);
    Keeper::new(
        banks,
        keeper.keypair.insecure_clone(),
        KeeperConfig::new(env.exchange, keeper_account),
    )
}

fn future_args(expiry: i64) -> ListInstrumentArgs {
    ListInstrumentArgs {
        kind: instrument_kind::FUTURE,
        strike: 0,
        expiry,
        contract_size: 1_000_000,
    }
}

fn position(account: &MarginAccount) -> i64 {
    account
        .positions
        .iter()
        .filter(|p| p.is_active())
        .map(|p| p.quantity)
        .sum()
}

/// Alice's first liquidation fee, quote native units: 0.5% of the maintenance margin that 10
/// futures at 115 release (10 x 15.75% x 115 = 181.125), rounded up.
const ALICE_FIRST_FEE: u64 = 905_625;

/// (quantity, fee rate) of every liquidation step the keeper sent on `account`, in order.
fn steps_on(keeper: &Keeper<RacingCluster>, account: &Pubkey) -> Vec<(u64, u64)> {
    keeper
        .journal
        .iter()
        .filter(|r| r.outcome.is_sent())
        .filter_map(|r| match &r.action {
            Action::Liquidate { account: a, step } if a == account => {
                Some((step.quantity, step.fee_rate))
            }
            _ => None,
        })
        .collect()
}

/// The fee of every liquidation step the keeper sent on `account`, quote native units, as its
/// replay of the program computed them.
fn fees_on(keeper: &Keeper<RacingCluster>, account: &Pubkey) -> Vec<i64> {
    keeper
        .journal
        .iter()
        .filter(|r| r.outcome.is_sent())
        .filter_map(|r| match &r.action {
            Action::Liquidate { account: a, step } if a == account => Some(step.fee),
            _ => None,
        })
        .collect()
}

fn sent(keeper: &Keeper<RacingCluster>, matches: impl Fn(&Action) -> bool) -> usize {
    keeper
        .journal
        .iter()
        .filter(|r| r.outcome.is_sent() && matches(&r.action))
        .count()
}

#[tokio::test]
async fn keeper_cranks_settles_liquidates_and_resolves() {
    let mut env = Env::new().await;
    env.add_underlying("SOL", oracle_kind::PYTH_LEGACY, 150_00000000, sol_params())
        .await;
    env.add_collateral(0, 9, default_haircut()).await;
    let (maker, maker_account) = env.funded_account(1_000_000).await;
    let now = env.now().await;
    let future = env.list(SOL, future_args(now + 90 * DAY)).await;
    let daily = env.list(SOL, future_args(now + DAY)).await;
    let (keeper_trader, keeper_account) = env.funded_account(100_000).await;
    env.deposit_insurance(&keeper_trader, 300 * USDC)
        .await
        .unwrap();

    // Alice: long 20 at 150 on 850 USDC. At 115 her equity is 150 against a maintenance
    // margin of 362.25: more than one capped step (half the position) is needed.
    let (alice, alice_account) = env.funded_account(850).await;
    env.trade(
        &alice,
        &alice_account,
        &maker,
        &maker_account,
        0,
        future,
        20,
        150_000_000,
    )
    .await
    .unwrap();
    // Bob: long 5 at 150 on 150 USDC; at 115 his equity is negative.
    let (bob, bob_account) = env.funded_account(150).await;
    env.trade(
        &bob,
        &bob_account,
        &maker,
        &maker_account,
        0,
        future,
        5,
        150_000_000,
    )
    .await
    .unwrap();
    // Dave: short 3 of the one-day future; it expires and settles.
    let (dave, dave_account) = env.funded_account(1_000).await;
    env.trade(
        &dave,
        &dave_account,
        &maker,
        &maker_account,
        0,
        daily,
        -3,
        150_000_000,
    )
    .await
    .unwrap();

    let mut banks = BanksCluster::new(env.ctx.banks_client.clone());
    banks.watch([
        maker_account,
        keeper_account,
        alice_account,
        bob_account,
        dave_account,
    ]);
    let cluster = RacingCluster {
        inner: banks,
        transport_failures: 0,
        front_run: None,
    };
    let mut config = KeeperConfig::new(env.exchange, keeper_account);
    config.retry = RetryPolicy {
        attempts: 4,
        base_delay: Duration::from_millis(5),
        max_delay: Duration::from_millis(50),
    };
    let log = Arc::new(Mutex::new(Vec::<String>::new()));
    let sink = log.clone();
    let mut keeper = Keeper::new(cluster, keeper_trader.keypair.insecure_clone(), config)
        .with_logger(move |line| {
            println!("keeper: {line}");
            sink.lock().unwrap().push(line.to_string());
        });

    // Tick 1, all healthy: the first volatility sample, nothing else. Tick 2 at once: nothing is due.
    let summary = keeper.tick().await.unwrap();
    assert_eq!((summary.accounts, summary.unhealthy), (5, 0));
    assert_eq!(summary.records.len(), 1);
    assert_eq!(
        summary.records[0].action,
        Action::UpdateVolatility { underlying: 0 }
    );
    let sol = env
        .load::<Underlying>(&env.underlyings[SOL].key.clone())
        .await;
    assert_eq!((sol.last_price, sol.ewma_variance), (150_000_000, 0));
    assert!(keeper.tick().await.unwrap().records.is_empty());

    // A day later at 152: crank, settle the expired future, then Dave's and the maker's positions in it.
    env.advance(DAY).await;
    env.set_price(SOL, 152_00000000).await;
    let dave_quote = env.load::<MarginAccount>(&dave_account).await.balances[0];
    let summary = keeper.tick().await.unwrap();
    assert!(
        summary.records.iter().all(|r| r.outcome.is_sent()),
        "{:?}",
        summary.records
    );
    assert_eq!(
        sent(
            &keeper,
            |a| matches!(a, Action::SettleInstrument { underlying: 0, instrument } if *instrument == daily)
        ),
        1
    );
    let sol = env
        .load::<Underlying>(&env.underlyings[SOL].key.clone())
        .await;
    assert_eq!(
        sol.instruments[daily as usize].status,
        instrument_status::SETTLED
    );
    assert_eq!(
        sol.instruments[daily as usize].settlement_price,
        152_000_000
    );
    let dave_state = env.load::<MarginAccount>(&dave_account).await;
    assert_eq!(position(&dave_state), 0);
    // Short 3 settled at 152 against 150: -6 USDC.
    assert_eq!(dave_state.balances[0], dave_quote - 6 * USDC as i64);
    assert_eq!(
        sent(&keeper, |a| matches!(a, Action::SettlePositions { .. })),
        2
    );

    // The crash to 115. The first reads fail in transit (retried with backoff), and liquidation
    // gets paused between the keeper's read and its transactions: their simulations fail,
    // so nothing is sent.
    env.advance(60).await;
    env.set_price(SOL, 115_00000000).await;
    let pause_on = ix(
        portfolio_margin::accounts::SetPause {
            admin: env.admin.pubkey(),
            exchange: env.exchange,
        },
        portfolio_margin::instruction::SetPause {
            pause_flags: pause::LIQUIDATE,
        },
    );
    let blockhash = env.ctx.banks_client.get_latest_blockhash().await.unwrap();
    let pause_tx = Transaction::new_signed_with_payer(
        &[pause_on],
        Some(&env.admin.pubkey()),
        &[&env.admin],
        blockhash,
    );
    keeper.cluster.transport_failures = 2;
    keeper.cluster.front_run = Some((
        portfolio_margin::instruction::Liquidate::DISCRIMINATOR.to_vec(),
        pause_tx,
    ));
    let before = env
        .snapshot(&[alice_account, bob_account, keeper_account])
        .await;
    let summary = keeper.tick().await.unwrap();
    assert_eq!(summary.unhealthy, 2);
    assert_eq!(keeper.stats.retries, 2);
    let skipped: Vec<_> = summary
        .records
        .iter()
        .filter(|r| matches!(r.action, Action::Liquidate { .. }))
        .collect();
    assert_eq!(skipped.len(), 2);
    let paused = format!("{:#x}", code(MarginError::Paused));
    for record in skipped {
        match &record.outcome {
            Outcome::Skipped { error } => assert!(error.contains(&paused), "{error}"),
            other => panic!("expected a skipped liquidation, got {other:?}"),
        }
    }
    assert_eq!(keeper.stats.skipped, 2);
    assert_eq!(
        env.snapshot(&[alice_account, bob_account, keeper_account])
            .await,
        before
    );
    // The vol crank saw the crash: realised volatility now prices above the 0.8 parameter.
    let sol = env
        .load::<Underlying>(&env.underlyings[SOL].key.clone())
        .await;
    assert_eq!(sol.last_price, 115_000_000);
    assert!(sol.pricing_vol() > 800_000);

    // Unpaused: the first steps, at the starting fee (0.5%). Alice (equity still positive):
    // the cap, 10 of 20, not enough to recover. Bob (equity negative, so no cap): all 5 at
    // once; he is left with no positions and a debt, and the keeper resolves his bankruptcy in
    // the same tick, from the insurance fund.
    env.admin_send(ix(
        portfolio_margin::accounts::SetPause {
            admin: env.admin.pubkey(),
            exchange: env.exchange,
        },
        portfolio_margin::instruction::SetPause { pause_flags: 0 },
    ))
    .await
    .unwrap();
    let fund_before = env.exchange_state().await.insurance_balance;
    keeper.tick().await.unwrap();
    assert_eq!(steps_on(&keeper, &alice_account), [(10, 5_000)]);
    assert_eq!(steps_on(&keeper, &bob_account), [(5, 5_000)]);
    let alice_state = env.load::<MarginAccount>(&alice_account).await;
    assert_eq!(
        (position(&alice_state), alice_state.in_liquidation),
        (10, 1)
    );
    let (report, _) = env.margin_report(&alice_account).await.unwrap();
    assert!(report.health < 0);
    // Bob: 150 - 5 x 35 = -25, and no fee: his equity is negative (the fee never exceeds the
    // equity left; on the notional it was 0.5% x 5 x 115 = 2.875, paid by the fund).
    let debt = 25_000_000u64;
    let resolved: Vec<_> = keeper
        .journal
        .iter()
        .filter(|r| matches!(r.action, Action::ResolveBankruptcy { account, .. } if account == bob_account))
        .collect();
    assert_eq!(resolved.len(), 1);
    assert_eq!(
        resolved[0].action,
        Action::ResolveBankruptcy {
            account: bob_account,
            debt
        }
    );
    assert!(resolved[0].outcome.is_sent());
    let bob_state = env.load::<MarginAccount>(&bob_account).await;
    assert!(bob_state.is_empty());
    let exchange = env.exchange_state().await;
    // The fund received 25% of Alice's fee (0.5% x the 10 x 18.1125 of maintenance margin
    // released, 15.75% of 115 per contract, rounded up) and paid Bob's debt.
    assert_eq!(
        exchange.insurance_balance,
        fund_before + ALICE_FIRST_FEE / 4 - debt
    );
    assert_eq!(
        exchange.quote_loss_index, LOSS_INDEX_ONE,
        "absorbed by the fund"
    );

    // Five minutes later the fee is 2.75%. Alice: the smallest step that restores health is 2
    // (1 would not; on the notional, the fee made it 3).
    env.advance(300).await;
    env.set_price(SOL, 115_00000000).await;
    let snapshot = keeper.snapshot().await.unwrap();
    let alice_now = *snapshot.account(&alice_account).unwrap();
    let context = LiquidationContext::new(
        &snapshot,
        snapshot.account(&keeper_account).unwrap(),
        &alice_now,
        0,
    )
    .unwrap();
    let target = LiquidationTarget::Position {
        underlying: 0,
        instrument: future,
    };
    assert!(context.capped());
    assert_eq!(context.fee_rate(), 27_500);
    assert!(!context.preview(target, 1).unwrap().recovered());
    assert!(context.preview(target, 2).unwrap().recovered());
    // Local previews name the program's refusals: more than the cap, and far past the target.
    assert_eq!(
        context.preview(target, 6).unwrap().refusal,
        Some(Refusal::TooLarge)
    );
    assert_eq!(
        context.preview(target, 5).unwrap().refusal,
        Some(Refusal::OverLiquidation)
    );
    keeper.tick().await.unwrap();
    assert_eq!(
        steps_on(&keeper, &alice_account),
        [(10, 5_000), (2, 27_500)]
    );
    // The fees the keeper's replay computed are what the program charged (balances below).
    assert_eq!(fees_on(&keeper, &alice_account), [905_625, 996_188]);
    assert_eq!(fees_on(&keeper, &bob_account), [0]);
    let alice_state = env.load::<MarginAccount>(&alice_account).await;
    assert_eq!(
        (
            position(&alice_state),
            alice_state.in_liquidation,
            alice_state.liquidation_started_at
        ),
        (8, 0, 0)
    );
    let (report, _) = env.margin_report(&alice_account).await.unwrap();
    assert!(report.health >= 0, "Alice healthy again: {report:?}");
    // Fees: 0.5% x 10 x 18.1125 and 2.75% x 2 x 18.1125 (= 0.9961875) of maintenance margin
    // released, rounded up; realised 35 per contract.
    assert_eq!(
        alice_state.balances[0],
        850_000_000 - 12 * 35_000_000 - ALICE_FIRST_FEE as i64 - 996_188
    );

    // Quiet afterwards: the crank only.
    env.advance(120).await;
    env.set_price(SOL, 115_00000000).await;
    let summary = keeper.tick().await.unwrap();
    assert_eq!(summary.unhealthy, 0);
    assert!(summary
        .records
        .iter()
        .all(|r| matches!(r.action, Action::UpdateVolatility { .. })));

    // Never a failing transaction sent; the two refused by simulation were not sent at all.
    let stats = keeper.stats;
    assert_eq!((stats.failed, stats.gave_up, stats.skipped), (0, 0, 2));
    assert_eq!(
        stats.sent as usize,
        keeper
            .journal
            .iter()
            .filter(|r| r.outcome.is_sent())
            .count()
    );
    assert_eq!(stats.simulated, stats.sent + stats.skipped);
    assert!(keeper.journal.iter().all(|r| !r.reason.is_empty()));
    assert_eq!(
        sent(&keeper, |a| matches!(a, Action::UpdateVolatility { .. })),
        5
    );
    assert!(log
        .lock()
        .unwrap()
        .iter()
        .any(|line| line.contains("retry")));

    // The keeper holds what it took over: 12 from Alice and 5 from Bob, long at 115.
    let keeper_state = env.load::<MarginAccount>(&keeper_account).await;
    assert_eq!(position(&keeper_state), 17);

    // Reconciliation: each vault holds what the exchange records, and what the accounts are
    // owed (quote at the loss index plus futures P&L at 115) never exceeds the quote vault.
    let exchange = env.exchange_state().await;
    let vault = env.token_balance(&env.assets[0].vault.clone()).await;
    assert_eq!(vault, exchange.collateral[0].total_deposits);
    assert_eq!(
        env.token_balance(&env.insurance_vault.clone()).await,
        exchange.insurance_balance
    );
    assert_eq!(
        env.token_balance(&env.assets[1].vault.clone()).await,
        exchange.collateral[1].total_deposits
    );
    let mut claims: i128 = 0;
    for key in [
        maker_account,
        keeper_account,
        alice_account,
        bob_account,
        dave_account,
    ] {
        let state = env.load::<MarginAccount>(&key).await;
        let quote = state.effective_quote(exchange.quote_loss_index).unwrap();
        assert!(quote >= 0, "negative balance on {key}");
        claims += i128::from(quote);
        for p in state.positions.iter().filter(|p| p.is_active()) {
            claims += i128::from(p.quantity) * (115_000_000 - i128::from(p.entry_price));
        }
    }
    assert!(
        claims <= i128::from(vault),
        "claims {claims} > vault {vault}"
    );
    assert!(
        i128::from(vault) - claims <= 10,
        "rounding dust only: {}",
        i128::from(vault) - claims
    );
}

#[tokio::test]
async fn keeper_reports_equal_the_programs() {
    // The keeper's local evaluation is the program's margin code on the same bytes: its report
    // equals `margin_report` (on the SBF build, the program's return data) for every account.
    let mut env = Env::new().await;
    env.add_underlying("SOL", oracle_kind::PYTH_LEGACY, 150_00000000, sol_params())
        .await;
    env.add_collateral(0, 9, default_haircut()).await;
    let (maker, maker_account) = env.funded_account(1_000_000).await;
    let now = env.now().await;
    let future = env.list(SOL, future_args(now + 90 * DAY)).await;
    let (trader, account) = env.funded_account(2_000).await;
    env.deposit(&trader, &account, 1, 3_000_000_000)
        .await
        .unwrap();
    env.trade(
        &trader,
        &account,
        &maker,
        &maker_account,
        0,
        future,
        -4,
        150_000_000,
    )
    .await
    .unwrap();
    let (keeper_trader, keeper_account) = env.funded_account(10_000).await;
    env.set_price(SOL, 141_00000000).await;

    let mut keeper = banks_keeper(
        &env,
        &keeper_trader,
        keeper_account,
        [maker_account, account, keeper_account],
    );
    let snapshot = keeper.snapshot().await.unwrap();
    assert_eq!(snapshot.accounts.len(), 3);
    for key in [maker_account, account, keeper_account] {
        let local = snapshot.report(snapshot.account(&key).unwrap()).unwrap();
        let (program, _) = env.margin_report(&key).await.unwrap();
        assert_eq!(local, program, "{key}");
    }
}

#[tokio::test]
async fn keeper_refreshes_stale_risk_arrays_before_any_margin_check() {
    // An option book whose cached risk arrays go stale when the price leaves their 2% band:
    // every margin check on it is refused with StaleRiskArray until a keeper rebuilds them.
    let mut env = Env::new().await;
    let CallBook {
        maker_account,
        account,
        call,
        ..
    } = env.long_call_book().await;
    // 3% up, arrays untouched: outside the band.
    env.set_price_only(SOL, 154_50000000).await;
    let refused = env.margin_report(&account).await.map(|_| ());
    assert_error(refused, MarginError::StaleRiskArray);

    let (keeper_trader, keeper_account) = env.funded_account(10_000).await;
    let mut keeper = banks_keeper(
        &env,
        &keeper_trader,
        keeper_account,
        [maker_account, account, keeper_account],
    );
    let summary = keeper.tick().await.unwrap();
    let refreshes: Vec<_> = summary
        .records
        .iter()
        .filter(|r| matches!(r.action, Action::RefreshRiskArray { .. }))
        .collect();
    assert_eq!(refreshes.len(), 1, "{:?}", summary.records);
    assert_eq!(
        refreshes[0].action,
        Action::RefreshRiskArray {
            underlying: 0,
            instrument: call
        }
    );
    assert!(refreshes[0].outcome.is_sent(), "{:?}", refreshes[0].outcome);
    assert!(
        refreshes[0].reason.contains("left the band"),
        "{}",
        refreshes[0].reason
    );
    let cached = env
        .account(&env.underlyings[SOL].key.clone())
        .await
        .unwrap();
    let cached = *cached_array(&cached.data, usize::from(call)).unwrap();
    assert_eq!(cached.spot, 154_500_000);
    // The check works again, and a fresh array is left alone on the next tick.
    env.margin_report(&account).await.unwrap();
    let summary = keeper.tick().await.unwrap();
    assert!(!summary
        .records
        .iter()
        .any(|r| matches!(r.action, Action::RefreshRiskArray { .. })));
}

/// A JSON-RPC endpoint over the in-process runtime: the methods the keeper's `RpcCluster` calls,
/// answered from a `BanksClient` with the encodings of a Solana RPC node (base64 account data and
/// transactions, base58 keys and `memcmp` bytes, `dataSize` filters, signature statuses).
mod rpc_shim {
    use std::collections::HashMap;
    use std::io::{Read, Write};
    use std::net::{TcpListener, TcpStream};

    use anchor_lang::prelude::Pubkey;
    use base64::engine::general_purpose::STANDARD as BASE64;
    use base64::Engine as _;
    use serde_json::{json, Value};
    use solana_program_test::BanksClient;
    use solana_transaction::Transaction;

    pub struct Shim {
        pub client: BanksClient,
        pub handle: tokio::runtime::Handle,
        /// Accounts `getProgramAccounts` looks through (the runtime cannot list them).
        pub known: Vec<Pubkey>,
        pub statuses: HashMap<String, Value>,
    }

    /// Serves on 127.0.0.1 from a thread; returns the URL and a handle to the call counts.
    pub fn serve(
        shim: Shim,
    ) -> (
        String,
        std::sync::Arc<std::sync::Mutex<HashMap<String, usize>>>,
    ) {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let url = format!("http://{}", listener.local_addr().expect("address"));
        let calls = std::sync::Arc::new(std::sync::Mutex::new(HashMap::new()));
        let counts = calls.clone();
        std::thread::spawn(move || {
            let mut shim = shim;
            for stream in listener.incoming().flatten() {
                if let Some(method) = handle_connection(&mut shim, stream) {
                    *counts.lock().unwrap().entry(method).or_insert(0) += 1;
                }
            }
        });
        (url, calls)
    }

    fn handle_connection(shim: &mut Shim, mut stream: TcpStream) -> Option<String> {
        let mut buffer = Vec::new();
        let mut chunk = [0u8; 8192];
        let header_end = loop {
            let n = stream.read(&mut chunk).ok()?;
            if n == 0 {
                return None;
            }
            buffer.extend_from_slice(&chunk[..n]);
            if let Some(i) = buffer.windows(4).position(|w| w == b"\r\n\r\n") {
                break i + 4;
            }
        };
        let headers = String::from_utf8_lossy(&buffer[..header_end]).to_lowercase();
        let length: usize = headers
            .lines()
            .find_map(|line| line.strip_prefix("content-length:"))
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or(0);
        while buffer.len() < header_end + length {
            let n = stream.read(&mut chunk).ok()?;
            if n == 0 {
                break;
            }
            buffer.extend_from_slice(&chunk[..n]);
        }
        let request: Value =
            serde_json::from_slice(&buffer[header_end..header_end + length]).ok()?;
        let method = request["method"].as_str().unwrap_or("").to_string();
        let body = match shim.dispatch(&method, &request["params"]) {
            Ok(result) => json!({ "jsonrpc": "2.0", "id": request["id"], "result": result }),
            Err((code, message)) => {
                json!({ "jsonrpc": "2.0", "id": request["id"], "error": { "code": code, "message": message } })
            }
        };
        let text = body.to_string();
        let response = format!(
            "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{text}",
            text.len()
        );
        stream.write_all(response.as_bytes()).ok()?;
        Some(method)
    }

    fn account_json(account: &solana_account::Account) -> Value {
        json!({
            "lamports": account.lamports,
            "owner": account.owner.to_string(),
            "data": [BASE64.encode(&account.data), "base64"],
            "executable": account.executable,
            "rentEpoch": account.rent_epoch,
            "space": account.data.len(),
        })
    }

    fn key(value: &Value) -> Result<Pubkey, (i64, String)> {
        value
            .as_str()
            .and_then(|s| s.parse().ok())
            .ok_or((-32602, "Invalid param: not a base58 address".into()))
    }

    fn transaction(value: &Value) -> Result<Transaction, (i64, String)> {
        let bytes = BASE64
            .decode(value.as_str().unwrap_or(""))
            .map_err(|_| (-32602, "invalid base64".to_string()))?;
        bincode::deserialize(&bytes).map_err(|e| (-32602, format!("invalid transaction: {e}")))
    }

    impl Shim {
        fn get(&self, key: Pubkey) -> Option<solana_account::Account> {
            self.handle
                .block_on(self.client.get_account(key))
                .ok()
                .flatten()
        }

        fn dispatch(&mut self, method: &str, params: &Value) -> Result<Value, (i64, String)> {
            let context = json!({ "slot": 1 });
            match method {
                "getAccountInfo" => {
                    let account = self.get(key(&params[0])?);
                    Ok(json!({ "context": context, "value": account.as_ref().map(account_json) }))
                }
                "getMultipleAccounts" => {
                    let keys = params[0].as_array().ok_or((-32602, "keys".to_string()))?;
                    let mut values = Vec::new();
                    for k in keys {
                        values.push(
                            self.get(key(k)?)
                                .as_ref()
                                .map(account_json)
                                .unwrap_or(Value::Null),
                        );
                    }
                    Ok(json!({ "context": context, "value": values }))
                }
                "getProgramAccounts" => {
                    let program = key(&params[0])?;
                    let filters = params[1]["filters"].as_array().cloned().unwrap_or_default();
                    let mut out = Vec::new();
                    for k in self.known.clone() {
                        let Some(account) = self.get(k) else { continue };
                        let keep = account.owner == program
                            && filters.iter().all(|f| {
                                if let Some(size) = f["dataSize"].as_u64() {
                                    return account.data.len() as u64 == size;
                                }
                                let offset = f["memcmp"]["offset"].as_u64().unwrap_or(0) as usize;
                                let bytes =
                                    bs58::decode(f["memcmp"]["bytes"].as_str().unwrap_or(""))
                                        .into_vec()
                                        .unwrap_or_default();
                                account.data.get(offset..offset + bytes.len()) == Some(&bytes[..])
                            });
                        if keep {
                            out.push(json!({ "pubkey": k.to_string(), "account": account_json(&account) }));
                        }
                    }
                    Ok(Value::Array(out))
                }
                "getLatestBlockhash" => {
                    let hash = self
                        .handle
                        .block_on(self.client.get_latest_blockhash())
                        .map_err(|e| (-32005, e.to_string()))?;
                    Ok(
                        json!({ "context": context, "value": { "blockhash": hash.to_string(), "lastValidBlockHeight": 1000 } }),
                    )
                }
                "simulateTransaction" => {
                    let tx = transaction(&params[0])?;
                    let result = self
                        .handle
                        .block_on(self.client.simulate_transaction(tx))
                        .map_err(|e| (-32005, e.to_string()))?;
                    let (logs, units) = result
                        .simulation_details
                        .map(|d| (d.logs, d.units_consumed))
                        .unwrap_or_default();
                    let err = match result.result {
                        Some(Err(e)) => json!(format!("{e:?}")),
                        _ => Value::Null,
                    };
                    Ok(
                        json!({ "context": context, "value": { "err": err, "logs": logs, "unitsConsumed": units } }),
                    )
                }
                "sendTransaction" => {
                    let tx = transaction(&params[0])?;
                    let signature = tx.signatures[0].to_string();
                    match self.handle.block_on(self.client.process_transaction(tx)) {
                        Ok(()) => {
                            self.statuses.insert(signature.clone(), Value::Null);
                            Ok(json!(signature))
                        }
                        Err(e) => Err((-32002, format!("Transaction simulation failed: {e}"))),
                    }
                }
                "getSignatureStatuses" => {
                    let signatures = params[0].as_array().cloned().unwrap_or_default();
                    let values: Vec<Value> = signatures
                        .iter()
                        .map(|s| match self.statuses.get(s.as_str().unwrap_or("")) {
                            Some(err) => json!({ "slot": 1, "confirmations": null, "err": err, "confirmationStatus": "confirmed" }),
                            None => Value::Null,
                        })
                        .collect();
                    Ok(json!({ "context": context, "value": values }))
                }
                other => Err((-32601, format!("Method not found: {other}"))),
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keeper_over_json_rpc() {
    // The production path: `RpcCluster` (ureq, JSON-RPC) against an endpoint answering from the
    // runtime. `getProgramAccounts` is answered by applying the keeper's own filters, so the
    // exchange, the underlying and the oracle (also offered) must be filtered out.
    let mut env = Env::new().await;
    env.add_underlying("SOL", oracle_kind::PYTH_LEGACY, 150_00000000, sol_params())
        .await;
    let (maker, maker_account) = env.funded_account(1_000_000).await;
    let now = env.now().await;
    let future = env.list(SOL, future_args(now + 90 * DAY)).await;
    let (keeper_trader, keeper_account) = env.funded_account(100_000).await;
    let (alice, alice_account) = env.funded_account(850).await;
    env.trade(
        &alice,
        &alice_account,
        &maker,
        &maker_account,
        0,
        future,
        20,
        150_000_000,
    )
    .await
    .unwrap();
    env.set_price(SOL, 115_00000000).await;

    let shim = rpc_shim::Shim {
        client: env.ctx.banks_client.clone(),
        handle: tokio::runtime::Handle::current(),
        known: vec![
            maker_account,
            keeper_account,
            alice_account,
            env.exchange,
            env.underlyings[SOL].key,
            env.underlyings[SOL].oracle,
        ],
        statuses: Default::default(),
    };
    let (url, calls) = rpc_shim::serve(shim);
    let cluster = keeper::rpc::RpcCluster::new(&url);
    let mut keeper = Keeper::new(
        cluster,
        keeper_trader.keypair.insecure_clone(),
        KeeperConfig::new(env.exchange, keeper_account),
    );
    let summary = keeper::block_on(keeper.tick()).unwrap();
    assert_eq!((summary.accounts, summary.unhealthy), (3, 1));
    let kinds: Vec<&Action> = summary.records.iter().map(|r| &r.action).collect();
    assert!(
        matches!(
            kinds[..],
            [Action::UpdateVolatility { .. }, Action::Liquidate { .. }]
        ),
        "{kinds:?}"
    );
    assert!(summary.records.iter().all(|r| r.outcome.is_sent()));
    let alice_state = env.load::<MarginAccount>(&alice_account).await;
    assert_eq!(
        (position(&alice_state), alice_state.in_liquidation),
        (10, 1)
    );
    assert_eq!((keeper.stats.failed, keeper.stats.skipped), (0, 0));
    let calls = calls.lock().unwrap().clone();
    for method in [
        "getProgramAccounts",
        "getMultipleAccounts",
        "getLatestBlockhash",
        "simulateTransaction",
        "sendTransaction",
        "getSignatureStatuses",
    ] {
        assert!(
            calls.get(method).copied().unwrap_or(0) > 0,
            "{method} never called: {calls:?}"
        );
    }
    assert_eq!(calls["sendTransaction"], calls["simulateTransaction"]);
}

#[tokio::test]
async fn keeper_slices_a_hedged_book_that_no_single_leg_can_help() {
    let mut env = Env::new().await;
    let btc = UnderlyingParamsArgs {
        vol: 500_000,
        vol_min: 100_000,
        vol_max: 3_000_000,
        scan_range: 100_000,
        vol_shock: 250_000,
        calendar_spread: 100_000,
    };
    let eth = UnderlyingParamsArgs {
        vol: 650_000,
        vol_min: 100_000,
        vol_max: 3_000_000,
        scan_range: 120_000,
        vol_shock: 250_000,
        calendar_spread: 100_000,
    };
    env.add_underlying("BTC", oracle_kind::PYTH_PULL, 9_000_000_000_000, btc)
        .await;
    env.add_underlying("ETH", oracle_kind::PYTH_LEGACY, 300_000_000_000, eth)
        .await;
    env.set_correlation(vec![1_000_000, 800_000, 800_000, 1_000_000])
        .await
        .unwrap();
    let (maker, maker_account) = env.funded_account(10_000_000).await;
    let (keeper_trader, keeper_account) = env.funded_account(1_000_000).await;
    let expiry = env.now().await + 90 * DAY;
    let btc_future = env
        .list(
            0,
            ListInstrumentArgs {
                kind: instrument_kind::FUTURE,
                strike: 0,
                expiry,
                contract_size: 100_000,
            },
        )
        .await;
    let eth_future = env
        .list(
            1,
            ListInstrumentArgs {
                kind: instrument_kind::FUTURE,
                strike: 0,
                expiry,
                contract_size: 500_000,
            },
        )
        .await;
    // A balanced pair: +1 BTC (9,000 of scan risk) against -25 ETH (9,000): taking either leg
    // alone unbalances it and raises the requirement.
    let (pair, pair_account) = env.funded_account(7_600).await;
    // Built in ten slices (0.1 BTC against 2.5 ETH) so that every fill meets initial margin.
    for _ in 0..10 {
        env.trade(
            &pair,
            &pair_account,
            &maker,
            &maker_account,
            0,
            btc_future,
            1,
            90_000_000_000,
        )
        .await
        .unwrap();
        env.trade(
            &pair,
            &pair_account,
            &maker,
            &maker_account,
            1,
            eth_future,
            -5,
            3_000_000_000,
        )
        .await
        .unwrap();
    }
    // Both fall 20%: the pair loses 3,000 and stays balanced, but falls below maintenance.
    env.set_price(0, 7_200_000_000_000).await;
    env.set_price(1, 240_000_000_000).await;
    let (before, _) = env.margin_report(&pair_account).await.unwrap();
    assert!(before.health < 0, "health {}", before.health);

    let mut banks = BanksCluster::new(env.ctx.banks_client.clone());
    banks.watch([maker_account, keeper_account, pair_account]);
    let cluster = RacingCluster {
        inner: banks,
        transport_failures: 0,
        front_run: None,
    };
    let config = KeeperConfig::new(env.exchange, keeper_account);
    let mut keeper = Keeper::new(cluster, keeper_trader.keypair.insecure_clone(), config);
    keeper.tick().await.unwrap();
    let steps: Vec<_> = keeper
        .journal
        .iter()
        .filter(|r| r.outcome.is_sent())
        .filter_map(|r| match &r.action {
            Action::Liquidate { account, step } if *account == pair_account => {
                Some((step.target, step.quantity))
            }
            _ => None,
        })
        .collect();
    assert_eq!(steps.len(), 1, "{steps:?}");
    assert_eq!(steps[0].0, LiquidationTarget::Slice);
    let (after, _) = env.margin_report(&pair_account).await.unwrap();
    assert!(
        after.health >= 0,
        "health {} -> {}",
        before.health,
        after.health
    );
    let state = env.load::<MarginAccount>(&pair_account).await;
    let held: Vec<i64> = state
        .positions
        .iter()
        .filter(|p| p.is_active())
        .map(|p| p.quantity)
        .collect();
    assert_eq!(
        held.len(),
        2,
        "both legs kept, each cut by the slice: {held:?}"
    );
}
