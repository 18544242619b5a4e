//! Program foundation on the real runtime: admin set-up, accounts, deposits, withdrawals,
//! Pyth oracles per action class, margin reports; each bad input with its exact error and
//! no state change.

use anchor_lang::error::ErrorCode as AnchorError;
use anchor_lang::prelude::Pubkey;
use portfolio_margin::error::MarginError;
use portfolio_margin::instructions::*;
use portfolio_margin::state::*;
use portfolio_margin_tests::*;
use solana_keypair::Keypair;
use solana_signer::Signer;

const SOL_E8: i64 = 15_000_000_000; // 150 USD, expo -8

/// Exchange with SOL (legacy Pyth) and ETH (pull oracle) underlyings and SOL (9 decimals)
/// collateral, one trader with a margin account holding 1,000 USDC and 10 SOL.
async fn setup() -> (Env, Trader, Pubkey) {
    let mut env = Env::new().await;
    env.add_underlying("SOL", oracle_kind::PYTH_LEGACY, SOL_E8, sol_params())
        .await;
    env.add_underlying("ETH", oracle_kind::PYTH_PULL, usd(3000.0), sol_params())
        .await;
    env.add_collateral(0, 9, default_haircut()).await;
    let trader = env.trader(1_000).await;
    let account = env.create_account(&trader, 0).await;
    env.deposit(&trader, &account, 0, 1_000 * USDC)
        .await
        .unwrap();
    env.deposit(&trader, &account, 1, 10_000_000_000)
        .await
        .unwrap();
    (env, trader, account)
}

fn watched(env: &Env, account: &Pubkey, trader: &Trader) -> Vec<Pubkey> {
    let mut keys = vec![env.exchange, *account];
    keys.extend(env.assets.iter().map(|a| a.vault));
    keys.extend(trader.tokens.iter().copied());
    keys.extend(env.underlyings.iter().map(|u| u.key));
    keys
}

#[tokio::test]
async fn exchange_markets_and_accounts_are_created() {
    let (mut env, trader, account) = setup().await;
    let exchange = env.exchange_state().await;
    assert_eq!(exchange.admin, env.admin.pubkey());
    assert_eq!(exchange.collateral_count, 2);
    assert_eq!(exchange.underlying_count, 2);
    assert_eq!(exchange.params, RiskParameters::defaults());
    assert_eq!(exchange.collateral[1].underlying, 0);
    assert_eq!(exchange.collateral[1].total_deposits, 10_000_000_000);
    assert_eq!(exchange.collateral[0].total_deposits, 1_000 * USDC);

    let sol = env
        .load::<Underlying>(&env.underlyings[0].key.clone())
        .await;
    assert_eq!(sol.oracle, env.underlyings[0].oracle);
    assert_eq!(sol.correlation[0], 1_000_000);
    assert_eq!(sol.scan_range, 150_000);

    let margin = env.load::<MarginAccount>(&account).await;
    assert_eq!(margin.owner, trader.key());
    assert_eq!(margin.balances[0], 1_000 * USDC as i64);
    assert_eq!(margin.balances[1], 10_000_000_000);
    assert_eq!(
        env.token_balance(&env.assets[1].vault.clone()).await,
        10_000_000_000
    );
    assert_eq!(env.token_balance(&trader.tokens[1]).await, 990_000_000_000);

    let expiry = env.now().await + 30 * 86_400;
    let index = env
        .list(
            0,
            ListInstrumentArgs {
                kind: instrument_kind::CALL,
                strike: 160_000_000,
                expiry,
                contract_size: 1_000_000,
            },
        )
        .await;
    let sol = env
        .load::<Underlying>(&env.underlyings[0].key.clone())
        .await;
    assert_eq!(index, 0);
    assert_eq!(sol.instrument_count, 1);
    assert_eq!(sol.instruments[0].strike, 160_000_000);
    assert_eq!(sol.instruments[0].status, instrument_status::ACTIVE);
}

#[tokio::test]
async fn margin_report_values_collateral_after_haircut() {
    let (mut env, _trader, account) = setup().await;
    let (report, _units) = env.margin_report(&account).await.unwrap();
    // 10 SOL at 150 with haircut 2% + 5% * 0.8 + conf/price (0.1%) = 6.1%: 1500 * 0.939 = 1408.5,
    // rounded down by the fixed-point conversions (never up).
    let exact = 1_000 * USDC as i64 + 1_408_500_000;
    assert!(
        report.equity <= exact && report.equity >= exact - 2,
        "equity {}",
        report.equity
    );
    assert_eq!(report.underlyings.len(), 1);
    let sol = &report.underlyings[0];
    assert_eq!(sol.index, 0);
    assert_eq!(sol.price, 150_000_000);
    assert_eq!(sol.delta_bits, risk::I80F48::from_num(10).to_bits());
    // Long 10 SOL loses 10 * 150 * 0.15 = 225 in the worst full-weight move; the extreme
    // (-45%) at 35% weight loses 10 * 150 * 0.45 * 0.35 = 236.25.
    // The engine adds its bounded rounding slack (1 atom = 2^-20 USD) and the program rounds
    // up: never below.
    assert!(
        (236_250_000..=236_250_002).contains(&sol.scanning_loss),
        "{}",
        sol.scanning_loss
    );
    assert!(report.initial_margin >= report.maintenance_margin);
    assert!(report.isolated_margin >= report.netted_margin);
    assert!(report.netted_margin >= report.portfolio_margin);
    assert_eq!(report.health, report.equity - report.maintenance_margin);
}

#[tokio::test]
async fn withdraw_moves_tokens_and_checks_margin() {
    let (mut env, trader, account) = setup().await;
    env.withdraw(&trader, &account, 1, 4_000_000_000)
        .await
        .unwrap();
    assert_eq!(env.token_balance(&trader.tokens[1]).await, 994_000_000_000);
    let margin = env.load::<MarginAccount>(&account).await;
    assert_eq!(margin.balances[1], 6_000_000_000);
    assert_eq!(
        env.exchange_state().await.collateral[1].total_deposits,
        6_000_000_000
    );

    env.withdraw(&trader, &account, 0, 1_000 * USDC)
        .await
        .unwrap();
    env.withdraw(&trader, &account, 1, 6_000_000_000)
        .await
        .unwrap();
    let margin = env.load::<MarginAccount>(&account).await;
    assert!(margin.is_empty());
    assert_eq!(env.token_balance(&env.assets[1].vault.clone()).await, 0);
}

#[tokio::test]
async fn withdraw_bad_inputs_change_nothing() {
    let (mut env, trader, account) = setup().await;
    let keys = watched(&env, &account, &trader);
    let before = env.snapshot(&keys).await;

    assert_error(
        env.withdraw(&trader, &account, 1, 0).await,
        MarginError::ZeroAmount,
    );
    assert_error(
        env.withdraw(&trader, &account, 1, u64::MAX).await,
        MarginError::InsufficientBalance,
    );
    assert_error(
        env.withdraw(&trader, &account, 1, 10_000_000_001).await,
        MarginError::InsufficientBalance,
    );
    assert_error(
        env.withdraw(&trader, &account, 7, 1).await,
        MarginError::UnknownCollateralAsset,
    );

    // Wrong mint and wrong vault.
    let remaining = env.margin_accounts(&account).await;
    // Asset 1 (SOL) named with the quote mint (and a quote destination).
    let mut instruction =
        env.ix_withdraw(&trader.key(), &account, &trader.tokens[0], 1, 1, &remaining);
    instruction.accounts[3].pubkey = env.assets[0].mint;
    assert_error(
        env.send(&[instruction], &[&trader.keypair]).await,
        MarginError::WrongMint,
    );
    let mut instruction =
        env.ix_withdraw(&trader.key(), &account, &trader.tokens[1], 1, 1, &remaining);
    instruction.accounts[4].pubkey = env.assets[0].vault;
    assert_error(
        env.send(&[instruction], &[&trader.keypair]).await,
        MarginError::WrongVault,
    );
    // Destination of another mint.
    let instruction = env.ix_withdraw(&trader.key(), &account, &trader.tokens[0], 1, 1, &remaining);
    assert_error(
        env.send(&[instruction], &[&trader.keypair]).await,
        MarginError::WrongTokenAccount,
    );

    // Someone else, and a delegate, may not withdraw.
    let thief = env.trader(0).await;
    let instruction = env.ix_withdraw(&thief.key(), &account, &thief.tokens[1], 1, 1, &remaining);
    assert_error(
        env.send(&[instruction], &[&thief.keypair]).await,
        MarginError::NotOwner,
    );
    let set = ix(
        portfolio_margin::accounts::SetDelegate {
            owner: trader.key(),
            margin_account: account,
        },
        portfolio_margin::instruction::SetDelegate {
            delegate: thief.key(),
        },
    );
    env.send(&[set], &[&trader.keypair]).await.unwrap();
    let keys_after_delegate = keys.clone();
    let before_delegate = env.snapshot(&keys_after_delegate).await;
    let instruction = env.ix_withdraw(&thief.key(), &account, &thief.tokens[1], 1, 1, &remaining);
    assert_error(
        env.send(&[instruction], &[&thief.keypair]).await,
        MarginError::NotOwner,
    );
    assert_eq!(env.snapshot(&keys_after_delegate).await, before_delegate);

    // The delegate aside, nothing changed.
    let after = env.snapshot(&keys).await;
    for (i, (a, b)) in before.iter().zip(after.iter()).enumerate() {
        if keys[i] != account {
            assert_eq!(a, b, "account {} changed", keys[i]);
        }
    }
}

#[tokio::test]
async fn withdraw_remaining_accounts_are_checked() {
    let (mut env, trader, account) = setup().await;
    let keys = watched(&env, &account, &trader);
    let before = env.snapshot(&keys).await;
    let sol = env.underlyings[0];
    let eth = env.underlyings[1];
    let cases: Vec<(Vec<anchor_lang::prelude::AccountMeta>, MarginError)> = vec![
        (vec![], MarginError::MissingRemainingAccount),
        (
            env.remaining_for_mask(0b11),
            MarginError::ExtraRemainingAccount,
        ),
        (
            env.remaining_for_mask(0b10),
            MarginError::WrongRemainingAccount,
        ),
        (
            vec![
                anchor_lang::prelude::AccountMeta::new_readonly(sol.oracle, false),
                anchor_lang::prelude::AccountMeta::new_readonly(sol.key, false),
            ],
            MarginError::WrongRemainingAccount,
        ),
        (
            vec![
                anchor_lang::prelude::AccountMeta::new_readonly(sol.key, false),
                anchor_lang::prelude::AccountMeta::new_readonly(eth.oracle, false),
            ],
            MarginError::WrongRemainingAccount,
        ),
        (
            vec![
                anchor_lang::prelude::AccountMeta::new_readonly(sol.key, false),
                anchor_lang::prelude::AccountMeta::new_readonly(sol.key, false),
            ],
            MarginError::WrongRemainingAccount,
        ),
    ];
    for (remaining, expected) in cases {
        let instruction =
            env.ix_withdraw(&trader.key(), &account, &trader.tokens[1], 1, 1, &remaining);
        assert_error(env.send(&[instruction], &[&trader.keypair]).await, expected);
    }
    assert_eq!(env.snapshot(&keys).await, before);
}

#[tokio::test]
async fn oracle_validity_is_checked_per_action_class() {
    let (mut env, trader, account) = setup().await;
    let keys = watched(&env, &account, &trader);
    let now = env.now().await;
    let limits = RiskParameters::defaults().oracle_limits;
    let fresh = Quote::at(SOL_E8, now);

    // Stale for a withdrawal (risk class: 60 s) but fine for a report (liquidation: 300 s).
    env.set_quote(
        0,
        Quote {
            publish_time: now - i64::from(limits[0].max_age_secs) - 1,
            ..fresh
        },
    );
    let before = env.snapshot(&keys).await;
    assert_error(
        env.withdraw(&trader, &account, 1, 1).await,
        MarginError::OracleStale,
    );
    assert!(env.margin_report(&account).await.is_ok());
    env.set_quote(
        0,
        Quote {
            publish_time: now - i64::from(limits[1].max_age_secs) - 1,
            ..fresh
        },
    );
    let result = env.margin_report(&account).await.map(|_| ());
    assert_error(result, MarginError::OracleStale);

    // Confidence 3% of price: too wide to withdraw (2%), accepted for a report (5%).
    env.set_quote(
        0,
        Quote {
            conf: 450_000000,
            ..fresh
        },
    );
    assert_error(
        env.withdraw(&trader, &account, 1, 1).await,
        MarginError::OracleConfidenceTooWide,
    );
    assert!(env.margin_report(&account).await.is_ok());

    env.set_quote(
        0,
        Quote {
            trading: false,
            ..fresh
        },
    );
    assert_error(
        env.withdraw(&trader, &account, 1, 1).await,
        MarginError::OracleNotTrading,
    );
    env.set_quote(0, Quote { price: 0, ..fresh });
    assert_error(
        env.withdraw(&trader, &account, 1, 1).await,
        MarginError::OracleNonPositive,
    );
    env.set_quote(
        0,
        Quote {
            price: -SOL_E8,
            ..fresh
        },
    );
    assert_error(
        env.withdraw(&trader, &account, 1, 1).await,
        MarginError::OracleNonPositive,
    );

    // Deposits need no oracle at all.
    let mut deposit_keys = keys.clone();
    deposit_keys.retain(|k| {
        *k != account
            && !env.assets.iter().any(|a| a.vault == *k)
            && !trader.tokens.contains(k)
            && *k != env.exchange
    });
    env.deposit(&trader, &account, 1, 1).await.unwrap();
    let after = env.snapshot(&deposit_keys).await;
    let before_filtered: Vec<_> = keys
        .iter()
        .zip(before.iter())
        .filter(|(k, _)| deposit_keys.contains(k))
        .map(|(_, v)| v.clone())
        .collect();
    assert_eq!(after, before_filtered);
}

#[tokio::test]
async fn pull_oracle_checks_verification_feed_and_owner() {
    let mut env = Env::new().await;
    env.add_underlying("SOL", oracle_kind::PYTH_PULL, SOL_E8, sol_params())
        .await;
    env.add_collateral(0, 9, default_haircut()).await;
    let trader = env.trader(100).await;
    let account = env.create_account(&trader, 0).await;
    env.deposit(&trader, &account, 1, 10_000_000_000)
        .await
        .unwrap();
    env.withdraw(&trader, &account, 1, 1).await.unwrap();
    let now = env.now().await;
    let fresh = Quote::at(SOL_E8, now);

    env.set_quote(
        0,
        Quote {
            verification_full: false,
            ..fresh
        },
    );
    assert_error(
        env.withdraw(&trader, &account, 1, 1).await,
        MarginError::OracleNotFullyVerified,
    );

    env.set_quote(0, fresh);
    let oracle = env.underlyings[0].oracle;
    env.ctx
        .set_account(&oracle, &pyth::pull_account(&fresh, [9u8; 32]).into());
    assert_error(
        env.withdraw(&trader, &account, 1, 1).await,
        MarginError::WrongFeedId,
    );

    let mut foreign = pyth::pull_account(&fresh, env.underlyings[0].feed_id);
    foreign.owner = Pubkey::new_unique();
    env.ctx.set_account(&oracle, &foreign.into());
    assert_error(
        env.withdraw(&trader, &account, 1, 1).await,
        MarginError::WrongOracleOwner,
    );

    // A legacy-format account where a pull update is configured.
    let mut legacy = pyth::legacy_account(&fresh);
    legacy.owner = pyth::PYTH_RECEIVER_PROGRAM_ID;
    env.ctx.set_account(&oracle, &legacy.into());
    assert_error(
        env.withdraw(&trader, &account, 1, 1).await,
        MarginError::InvalidOracleData,
    );
}

#[tokio::test]
async fn deposit_bad_inputs_change_nothing() {
    let (mut env, trader, account) = setup().await;
    let keys = watched(&env, &account, &trader);
    let before = env.snapshot(&keys).await;

    assert_error(
        env.deposit(&trader, &account, 1, 0).await,
        MarginError::ZeroAmount,
    );
    assert_error(
        env.deposit(&trader, &account, 0, u64::MAX).await,
        MarginError::DepositCapExceeded,
    );
    assert_error(
        env.deposit(&trader, &account, 5, 1).await,
        MarginError::UnknownCollateralAsset,
    );

    let mut instruction = env.ix_deposit(&trader.key(), &account, &trader.tokens[1], 1, 1);
    instruction.accounts[3].pubkey = env.assets[0].mint;
    assert_error(
        env.send(&[instruction], &[&trader.keypair]).await,
        MarginError::WrongTokenAccount,
    );
    let mut instruction = env.ix_deposit(&trader.key(), &account, &trader.tokens[0], 1, 1);
    instruction.accounts[3].pubkey = env.assets[0].mint;
    assert_error(
        env.send(&[instruction], &[&trader.keypair]).await,
        MarginError::WrongMint,
    );
    let mut instruction = env.ix_deposit(&trader.key(), &account, &trader.tokens[1], 1, 1);
    instruction.accounts[4].pubkey = env.assets[0].vault;
    assert_error(
        env.send(&[instruction], &[&trader.keypair]).await,
        MarginError::WrongVault,
    );

    // A stranger depositing from their own tokens into someone's account is refused.
    let stranger = env.trader(10).await;
    let instruction = env.ix_deposit(&stranger.key(), &account, &stranger.tokens[1], 1, 1);
    assert_error(
        env.send(&[instruction], &[&stranger.keypair]).await,
        MarginError::NotOwnerOrDelegate,
    );
    // Someone else's token account as source.
    let instruction = env.ix_deposit(&trader.key(), &account, &stranger.tokens[1], 1, 1);
    assert_error(
        env.send(&[instruction], &[&trader.keypair]).await,
        MarginError::WrongTokenAccount,
    );

    // Missing signer: the authority does not sign.
    let mut instruction = env.ix_deposit(&trader.key(), &account, &trader.tokens[1], 1, 1);
    instruction.accounts[0].is_signer = false;
    assert_code(
        env.send(&[instruction], &[]).await,
        anchor_code(AnchorError::AccountNotSigner),
    );

    assert_eq!(env.snapshot(&keys).await, before);
}

#[tokio::test]
async fn accounts_of_the_wrong_owner_type_or_exchange_are_refused() {
    let (mut env, trader, account) = setup().await;
    // A second exchange and an account on it.
    let other_admin = Keypair::new();
    env.airdrop(&other_admin.pubkey(), 10_000_000_000).await;
    let quote_mint = env.assets[0].mint;
    let other_exchange = exchange_pda(&other_admin.pubkey());
    let init = ix(
        portfolio_margin::accounts::InitializeExchange {
            creator: other_admin.pubkey(),
            exchange: other_exchange,
            quote_mint,
            quote_vault: vault_pda(&other_exchange, &quote_mint),
            insurance_vault: insurance_pda(&other_exchange),
            token_program: anchor_spl::token::ID,
            system_program: anchor_lang::system_program::ID,
        },
        portfolio_margin::instruction::InitializeExchange {
            args: InitializeExchangeArgs {
                params: RiskParameters::defaults(),
                quote_deposit_cap: u64::MAX,
            },
        },
    );
    env.send(&[init], &[&other_admin]).await.unwrap();
    let create = ix(
        portfolio_margin::accounts::CreateMarginAccount {
            owner: trader.key(),
            exchange: other_exchange,
            margin_account: margin_pda(&other_exchange, &trader.key(), 0),
            system_program: anchor_lang::system_program::ID,
        },
        portfolio_margin::instruction::CreateMarginAccount { account_id: 0 },
    );
    env.send(&[create], &[&trader.keypair]).await.unwrap();
    let foreign_account = margin_pda(&other_exchange, &trader.key(), 0);

    let keys = watched(&env, &account, &trader);
    let before = env.snapshot(&keys).await;
    // Foreign exchange's account with this exchange's vault.
    let instruction = env.ix_deposit(&trader.key(), &foreign_account, &trader.tokens[0], 0, 1);
    assert_error(
        env.send(&[instruction], &[&trader.keypair]).await,
        MarginError::WrongExchange,
    );
    // Wrong type: an Underlying where a MarginAccount is expected.
    let sol = env.underlyings[0].key;
    let instruction = env.ix_deposit(&trader.key(), &sol, &trader.tokens[0], 0, 1);
    assert_code(
        env.send(&[instruction], &[&trader.keypair]).await,
        anchor_code(AnchorError::AccountDiscriminatorMismatch),
    );
    // Wrong owner: a token account (owned by SPL Token) where a MarginAccount is expected.
    let instruction = env.ix_deposit(&trader.key(), &trader.tokens[0], &trader.tokens[0], 0, 1);
    assert_code(
        env.send(&[instruction], &[&trader.keypair]).await,
        anchor_code(AnchorError::AccountOwnedByWrongProgram),
    );
    // Non-admin admin call: the other exchange's admin on this exchange.
    let instruction = ix(
        portfolio_margin::accounts::SetPause {
            admin: other_admin.pubkey(),
            exchange: env.exchange,
        },
        portfolio_margin::instruction::SetPause {
            pause_flags: pause::TRADE,
        },
    );
    assert_error(
        env.send(&[instruction], &[&other_admin]).await,
        MarginError::NotAdmin,
    );
    assert_eq!(env.snapshot(&keys).await, before);
}

#[tokio::test]
async fn margin_accounts_pda_reinit_delegate_and_close() {
    let (mut env, trader, account) = setup().await;
    // Re-initialisation of an existing account: the system program refuses (already in use).
    let instruction = env.ix_create_account(&trader.key(), 0);
    assert_code(env.send(&[instruction], &[&trader.keypair]).await, 0);
    // Wrong seeds: the address of account id 1 with id 2 in the data.
    let mut instruction = env.ix_create_account(&trader.key(), 2);
    instruction.accounts[2].pubkey = margin_pda(&env.exchange, &trader.key(), 1);
    assert_code(
        env.send(&[instruction], &[&trader.keypair]).await,
        anchor_code(AnchorError::ConstraintSeeds),
    );

    // Closing needs an empty account, and the owner.
    let close = |owner: Pubkey| {
        ix(
            portfolio_margin::accounts::CloseMarginAccount {
                owner,
                margin_account: account,
            },
            portfolio_margin::instruction::CloseMarginAccount {},
        )
    };
    assert_error(
        env.send(&[close(trader.key())], &[&trader.keypair]).await,
        MarginError::AccountNotEmpty,
    );
    let delegate = env.trader(0).await;
    let set = ix(
        portfolio_margin::accounts::SetDelegate {
            owner: trader.key(),
            margin_account: account,
        },
        portfolio_margin::instruction::SetDelegate {
            delegate: delegate.key(),
        },
    );
    env.send(&[set], &[&trader.keypair]).await.unwrap();
    // The delegate may deposit for the owner, from its own tokens.
    let delegate_sol = env
        .create_token_account(&env.assets[1].mint.clone(), &delegate.key())
        .await;
    env.mint_to(&env.assets[1].mint.clone(), &delegate_sol, 5)
        .await;
    let instruction = env.ix_deposit(&delegate.key(), &account, &delegate_sol, 1, 5);
    env.send(&[instruction], &[&delegate.keypair])
        .await
        .unwrap();
    assert_eq!(
        env.load::<MarginAccount>(&account).await.balances[1],
        10_000_000_005
    );

    env.withdraw(&trader, &account, 0, 1_000 * USDC)
        .await
        .unwrap();
    env.withdraw(&trader, &account, 1, 10_000_000_005)
        .await
        .unwrap();
    assert_error(
        env.send(&[close(delegate.key())], &[&delegate.keypair])
            .await,
        MarginError::NotOwner,
    );
    let lamports_before = env.account(&trader.key()).await.unwrap().lamports;
    let rent = env.account(&account).await.unwrap().lamports;
    env.send(&[close(trader.key())], &[&trader.keypair])
        .await
        .unwrap();
    assert!(env.account(&account).await.is_none());
    assert_eq!(
        env.account(&trader.key()).await.unwrap().lamports,
        lamports_before + rent
    );
}

#[tokio::test]
async fn admin_parameters_pause_and_transfer() {
    let (mut env, trader, account) = setup().await;
    let admin = env.admin.pubkey();
    let all_underlyings: Vec<_> = env
        .underlyings
        .iter()
        .map(|u| anchor_lang::prelude::AccountMeta::new_readonly(u.key, false))
        .collect();
    let set_params = |params: RiskParameters,
                      remaining: &[anchor_lang::prelude::AccountMeta],
                      exchange: Pubkey| {
        with_remaining(
            ix(
                portfolio_margin::accounts::SetParameters { admin, exchange },
                portfolio_margin::instruction::SetParameters { params },
            ),
            remaining,
        )
    };
    let before = env.snapshot(&[env.exchange]).await;
    let defaults = RiskParameters::defaults();
    let out_of_range = [
        RiskParameters {
            extreme_multiple: 500_000,
            ..defaults
        },
        RiskParameters {
            extreme_fraction: 1_000_001,
            ..defaults
        },
        RiskParameters {
            initial_multiplier: 999_999,
            ..defaults
        },
        RiskParameters {
            liquidation_fee_start: 60_000,
            ..defaults
        },
        RiskParameters {
            liquidation_fee_max: 300_000,
            ..defaults
        },
        RiskParameters {
            vol_half_life_secs: 59,
            ..defaults
        },
        RiskParameters {
            price_band: 0,
            ..defaults
        },
        RiskParameters {
            rate: 300_000,
            ..defaults
        },
    ];
    for params in out_of_range {
        let instruction = set_params(params, &all_underlyings, env.exchange);
        assert_error(
            env.admin_send(instruction).await,
            MarginError::ParameterOutOfRange,
        );
    }
    let mut bad_limits = defaults;
    bad_limits.oracle_limits[0].max_age_secs = 0;
    assert_error(
        env.admin_send(set_params(bad_limits, &all_underlyings, env.exchange))
            .await,
        MarginError::OracleLimitOutOfRange,
    );
    // E x R x initial multiplier >= 1 for the SOL scan range of 15%: 7 x 0.15 x 1.25 = 1.31.
    let too_wide = RiskParameters {
        extreme_multiple: 7_000_000,
        ..defaults
    };
    assert_error(
        env.admin_send(set_params(too_wide, &all_underlyings, env.exchange))
            .await,
        MarginError::ScanParametersOutOfRange,
    );
    assert_error(
        env.admin_send(set_params(defaults, &all_underlyings[..1], env.exchange))
            .await,
        MarginError::MissingRemainingAccount,
    );
    assert_eq!(env.snapshot(&[env.exchange]).await, before);

    let tuned = RiskParameters {
        extreme_fraction: 300_000,
        ..defaults
    };
    env.admin_send(set_params(tuned, &all_underlyings, env.exchange))
        .await
        .unwrap();
    assert_eq!(env.exchange_state().await.params, tuned);

    // Pause: invalid bits do not exist (all 8 are defined), so check blocking per class.
    let exchange = env.exchange;
    let pause = |flags: u8| {
        ix(
            portfolio_margin::accounts::SetPause { admin, exchange },
            portfolio_margin::instruction::SetPause { pause_flags: flags },
        )
    };
    env.admin_send(pause(pause::DEPOSIT)).await.unwrap();
    assert_error(
        env.deposit(&trader, &account, 1, 1).await,
        MarginError::Paused,
    );
    env.withdraw(&trader, &account, 1, 1).await.unwrap();
    env.admin_send(pause(pause::WITHDRAW)).await.unwrap();
    env.deposit(&trader, &account, 1, 1).await.unwrap();
    assert_error(
        env.withdraw(&trader, &account, 1, 1).await,
        MarginError::Paused,
    );
    env.admin_send(pause(pause::ALL)).await.unwrap();
    env.deposit(&trader, &account, 1, 1).await.unwrap();
    assert_error(
        env.withdraw(&trader, &account, 1, 1).await,
        MarginError::Paused,
    );
    let newcomer = env.trader(0).await;
    let create = env.ix_create_account(&newcomer.key(), 0);
    assert_error(
        env.send(&[create], &[&newcomer.keypair]).await,
        MarginError::Paused,
    );
    env.admin_send(pause(0)).await.unwrap();
    env.withdraw(&trader, &account, 1, 1).await.unwrap();

    // Two-step admin transfer.
    let successor = Keypair::new();
    let propose = ix(
        portfolio_margin::accounts::ProposeAdmin {
            admin,
            exchange: env.exchange,
        },
        portfolio_margin::instruction::ProposeAdmin {
            pending_admin: successor.pubkey(),
        },
    );
    let accept = |signer: Pubkey| {
        ix(
            portfolio_margin::accounts::AcceptAdmin {
                pending_admin: signer,
                exchange,
            },
            portfolio_margin::instruction::AcceptAdmin {},
        )
    };
    // Nobody proposed yet: accepting fails.
    assert_error(
        env.send(&[accept(successor.pubkey())], &[&successor]).await,
        MarginError::NotPendingAdmin,
    );
    env.admin_send(propose).await.unwrap();
    assert_eq!(
        env.exchange_state().await.admin,
        admin,
        "not transferred until accepted"
    );
    assert_error(
        env.send(&[accept(trader.key())], &[&trader.keypair]).await,
        MarginError::NotPendingAdmin,
    );
    env.send(&[accept(successor.pubkey())], &[&successor])
        .await
        .unwrap();
    let state = env.exchange_state().await;
    assert_eq!(state.admin, successor.pubkey());
    assert_eq!(state.pending_admin, Pubkey::default());
    assert_error(
        env.admin_send(pause(pause::TRADE)).await,
        MarginError::NotAdmin,
    );
}

#[tokio::test]
async fn market_configuration_is_range_checked() {
    let mut env = Env::new().await;
    let sol = env
        .add_underlying("SOL", oracle_kind::PYTH_LEGACY, SOL_E8, sol_params())
        .await;
    let before = env.snapshot(&[env.exchange, sol.key]).await;

    // Underlying parameters out of range.
    let next = UnderlyingInfo {
        index: 1,
        key: underlying_pda(&env.exchange, 1),
        oracle: sol.oracle,
        ..sol
    };
    let bad = [
        (
            UnderlyingParamsArgs {
                vol: 50_000,
                ..sol_params()
            },
            MarginError::VolatilityOutOfRange,
        ),
        (
            UnderlyingParamsArgs {
                vol_max: 6_000_000,
                ..sol_params()
            },
            MarginError::VolatilityOutOfRange,
        ),
        (
            UnderlyingParamsArgs {
                scan_range: 0,
                ..sol_params()
            },
            MarginError::ScanParametersOutOfRange,
        ),
        (
            UnderlyingParamsArgs {
                vol_shock: 1_000_000,
                calendar_spread: 100_000,
                ..sol_params()
            },
            MarginError::ScanParametersOutOfRange,
        ),
        (
            UnderlyingParamsArgs {
                scan_range: 400_000,
                ..sol_params()
            },
            MarginError::ScanParametersOutOfRange,
        ),
    ];
    for (params, expected) in bad {
        let instruction = env.ix_add_underlying("BAD", &next, params);
        assert_error(env.admin_send(instruction).await, expected);
    }
    // Oracle of the wrong owner for its kind.
    let instruction = env.ix_add_underlying(
        "BAD",
        &UnderlyingInfo {
            kind: oracle_kind::PYTH_PULL,
            ..next
        },
        sol_params(),
    );
    assert_error(
        env.admin_send(instruction).await,
        MarginError::WrongOracleOwner,
    );

    // Instruments.
    let now = env.now().await;
    let (admin, exchange) = (env.admin.pubkey(), env.exchange);
    let list = |args: ListInstrumentArgs| {
        ix(
            portfolio_margin::accounts::ListInstrument {
                admin,
                exchange,
                underlying: sol.key,
                system_program: anchor_lang::system_program::ID,
            },
            portfolio_margin::instruction::ListInstrument { args },
        )
    };
    let call = ListInstrumentArgs {
        kind: instrument_kind::CALL,
        strike: 150_000_000,
        expiry: now + 86_400,
        contract_size: 1_000_000,
    };
    for (args, expected) in [
        (
            ListInstrumentArgs { kind: 9, ..call },
            MarginError::InvalidInstrumentKind,
        ),
        (
            ListInstrumentArgs { strike: 0, ..call },
            MarginError::InvalidInstrument,
        ),
        (
            ListInstrumentArgs {
                contract_size: 0,
                ..call
            },
            MarginError::InvalidInstrument,
        ),
        (
            ListInstrumentArgs {
                expiry: now - 1,
                ..call
            },
            MarginError::InvalidInstrument,
        ),
        (
            ListInstrumentArgs {
                kind: instrument_kind::FUTURE,
                ..call
            },
            MarginError::InvalidInstrument,
        ),
    ] {
        assert_error(env.admin_send(list(args)).await, expected);
    }
    // Haircuts and the collateral table.
    let mint = env.create_mint(9).await;
    let bad_haircut = HaircutArgs {
        base: 600_000,
        ..default_haircut()
    };
    assert_error(
        env.admin_send(env.ix_add_collateral(mint, 0, bad_haircut))
            .await,
        MarginError::HaircutOutOfRange,
    );
    assert_error(
        env.admin_send(env.ix_add_collateral(mint, 3, default_haircut()))
            .await,
        MarginError::UnknownUnderlying,
    );
    assert_eq!(env.snapshot(&[env.exchange, sol.key]).await, before);

    for _ in 1..MAX_COLLATERAL_ASSETS {
        env.add_collateral(0, 6, default_haircut()).await;
    }
    let ninth = env.create_mint(6).await;
    let before = env.snapshot(&[env.exchange]).await;
    assert_error(
        env.admin_send(env.ix_add_collateral(ninth, 0, default_haircut()))
            .await,
        MarginError::CollateralTableFull,
    );
    assert_eq!(env.snapshot(&[env.exchange]).await, before);
    let dup = env.assets[1].mint;
    assert_code(
        env.admin_send(env.ix_add_collateral(dup, 0, default_haircut()))
            .await,
        0,
    );
}
