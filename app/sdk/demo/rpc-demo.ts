/**
 * The demo against a JSON-RPC node (`scripts/demo --url http://127.0.0.1:8899`, after
 * `scripts/localnet`): the in-process demo's story (app/demo) over JSON-RPC.
 *
 *   node app/sdk/dist/demo/rpc-demo.js --url <URL> --keeper <keeper binary> [--config <path>]
 *
 * 1. the exchange and markets from the config, applied by the deploy script's code (a new admin
 *    each run, so the demo can run again on the same node; the program must be deployed there);
 * 2. a market maker, the keeper's account (with an insurance deposit) and three traders, funded
 *    with SPL Token `MintTo` from the config's localnet mint;
 * 3. the canonical hedged books through `trade`; margin reports by `simulateTransaction`;
 * 4. an hour later (`surfnet_timeTravel`) a sharp move, written into the Pyth accounts in their
 *    byte formats (`surfnet_setAccount`);
 * 5. the keeper binary, one `--once` tick a minute: volatility crank, risk-array refreshes and the
 *    liquidation, step by step, until every account is healthy;
 * 6. reconciliation: each vault's token balance against the exchange's books.
 * A node without cheatcodes (devnet, a validator) is refused before anything is sent.
 */
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import type { Address, KeyPairSigner } from "@solana/kit";
import {
  InstrumentKind,
  decodeExchangeData,
  decodeUnderlyingData,
  findInsuranceVaultPda,
  findMarginAccountPda,
  getCreateMarginAccountInstruction,
  getDepositInsuranceInstruction,
  i80f48ToNumber,
  isLiquidatable,
  nameString,
  pricingVol,
  blackScholes,
  decodePythPrice,
  pythPriceE6,
  type Underlying,
} from "../src/index.js";
import { deployMarket, loadMarketConfig, newKeypairFile } from "../src/deploy/index.js";
import { DemoNode, keeperTick } from "./node.js";
import { money, printReport, short } from "./print.js";

const USDC = 1_000_000n;
const YEAR = 31_557_600;
/** label, story, USDC deposited, legs (config instrument id, contracts), slices, delta-hedge future. */
const BOOKS: { label: string; story: string; usdc: bigint; legs: [string, bigint][]; slices: bigint; hedge?: string }[] = [
  { label: "straddle", story: "delta-hedged long straddle: +10 C150 +10 P150 (T 0.1), SOL futures sold against its delta", usdc: 1_000n, legs: [["SOL-C150-0.1Y", 10n], ["SOL-P150-0.1Y", 10n]], slices: 1n, hedge: "SOL-FUT-90D" },
  { label: "vertical", story: "call vertical: +10 C150 / -10 C170 (T 0.1)", usdc: 500n, legs: [["SOL-C150-0.1Y", 10n], ["SOL-C170-0.1Y", -10n]], slices: 1n },
  { label: "pair", story: "BTC/ETH pair: +1 BTC (100 x 0.01) / -30 ETH (300 x 0.1) futures, correlation 0.8", usdc: 10_000n, legs: [["BTC-FUT-90D", 100n], ["ETH-FUT-90D", -300n]], slices: 10n },
];
/** BTC falls hard while ETH, its hedge, barely moves. */
const SHOCK: [string, string][] = [["SOL", "147"], ["BTC", "82800"], ["ETH", "2955"]];
const TICK_SECS = 60n;

type Args = { url: string; keeper: string; config: string };

function parseArgs(argv: string[]): Args {
  const args: Partial<Args> = { config: resolve(process.cwd(), "migrations/config/localnet.json") };
  for (let i = 0; i < argv.length; i++) {
    const value = () => argv[++i] ?? (() => { throw new Error(`${argv[i - 1]} needs a value`); })();
    switch (argv[i]) {
      case "--url": args.url = value(); break;
      case "--keeper": args.keeper = value(); break;
      case "--config": args.config = value(); break;
      default: throw new Error(`unknown argument ${argv[i]}`);
    }
  }
  if (!args.url || !args.keeper) throw new Error("usage: rpc-demo --url <RPC URL> --keeper <keeper binary> [--config <path>]");
  return args as Args;
}

async function main(args: Args) {
  const started = Date.now();
  const section = (title: string) => console.log(`\n[${pad((Date.now() - started) / 1000)}s] ${title}`);
  console.log("portfolio-margin localnet demo");
  const node = await DemoNode.connect(args.url);
  console.log(`  runtime: JSON-RPC node ${args.url} (Surfpool: LiteSVM and the Agave runtime; cheatcodes for prices and the clock)`);
  const { config, spec } = loadMarketConfig(args.config);
  console.log(`  config:  ${args.config} (${config.cluster}: ${spec.underlyings.length} underlyings, ${spec.collateral.length} collateral assets, ${spec.instruments.length} instruments)`);

  section("Exchange and markets from the config (the deploy script's plan, sent over JSON-RPC)");
  const dir = mkdtempSync(join(tmpdir(), "pm-demo-"));
  const admin = await newKeypairFile(join(dir, "admin.json"));
  await node.airdrop(admin.address, 1_000n);
  const deployed = await deployMarket({ target: node.target, payer: admin, spec, log: (line) => console.log(`  ${line}`) });
  const exchangeAddress = deployed.plan.exchange;
  const client = node.client();
  let exchange = await client.fetchExchange(exchangeAddress);
  const underlyings = async () => Promise.all(exchange.underlyings.slice(0, exchange.underlyingCount).map(async (a) => decodeUnderlyingData((await node.target.getAccount(a))!.data)));
  const names = (await underlyings()).map((u) => nameString(u.name));
  const instrument = (id: string) => {
    const found = spec.instruments.find((i) => i.id === id);
    if (!found) throw new Error(`the books use instrument ${id}, which ${args.config} does not list`);
    return found;
  };

  section("Accounts: a market maker, the keeper, and three traders");
  const quoteMint = exchange.collateral[0]!.mint;
  const open = async (signer: KeyPairSigner, usdc: bigint) => {
    await node.airdrop(signer.address, 10n);
    const tokens = await node.tokenAccount(quoteMint, signer.address, usdc * USDC, admin);
    const [account] = await findMarginAccountPda({ exchange: exchangeAddress, owner: signer.address, accountId: 0 });
    await node.send([getCreateMarginAccountInstruction({ owner: signer, exchange: exchangeAddress, marginAccount: account, accountId: 0 })], signer);
    await node.send([await client.deposit({ authority: signer, marginAccount: account, asset: 0, amount: usdc * USDC, source: tokens })], signer);
    return { signer, account, tokens };
  };
  const maker = await open(await newKeypairFile(join(dir, "maker.json")), 10_000_000n);
  const keeperPath = join(dir, "keeper.json");
  const keeper = await open(await newKeypairFile(keeperPath), 1_000_000n);
  const insurance = await node.tokenAccount(quoteMint, keeper.signer.address, 10_000n * USDC, admin);
  const [insuranceVault] = await findInsuranceVaultPda({ exchange: exchangeAddress });
  await node.send([getDepositInsuranceInstruction({ depositor: keeper.signer, exchange: exchangeAddress, insuranceVault, source: insurance, amount: 10_000n * USDC })], keeper.signer);
  console.log(`  maker    ${short(maker.account)}  10,000,000.00 USDC (the counterparty of every trade)`);
  console.log(`  keeper   ${short(keeper.account)}   1,000,000.00 USDC (the liquidator's own margin account); insurance fund 10,000.00`);
  const traders: { label: string; signer: KeyPairSigner; account: Address }[] = [];
  for (const book of BOOKS) {
    const trader = await open(await newKeypairFile(join(dir, `${book.label}.json`)), book.usdc);
    traders.push({ label: book.label, signer: trader.signer, account: trader.account });
    console.log(`  ${book.label.padEnd(8)} ${short(trader.account)}  ${money(Number(book.usdc)).padStart(13)} USDC`);
  }

  section("The canonical hedged books, through `trade` with the maker");
  const now = Number(await node.now());
  const modelPrice = (u: Underlying, kind: number, strike: bigint, expiry: bigint, spotE6: bigint) => {
    if (kind === InstrumentKind.Future) return spotE6;
    const years = (Number(expiry) - now) / YEAR;
    const usd = blackScholes(kind === InstrumentKind.Call ? "call" : "put", Number(spotE6) / 1e6, Number(strike) / 1e6, Number(pricingVol(u)) / 1e6, years);
    return BigInt(Math.round(usd * 1e6));
  };
  /** The oracle's price now, USD `expo = -6`. */
  const spot = async (index: number) => {
    const u = (await underlyings())[index]!;
    const quote = decodePythPrice((await node.target.getAccount(u.oracle))!.data, u.oracleKind);
    return pythPriceE6(quote.price, quote.expo);
  };
  for (const [b, book] of BOOKS.entries()) {
    const trader = traders[b]!;
    console.log(`  ${book.label}: ${book.story}`);
    for (let slice = 0n; slice < book.slices; slice++) {
      for (const [id, quantity] of book.legs) {
        const spec = instrument(id);
        const u = (await underlyings())[spec.underlying]!;
        const listed = u.instruments[spec.index]!;
        const price = modelPrice(u, listed.kind, listed.strike, listed.expiry, await spot(spec.underlying));
        const part = quantity / book.slices;
        await node.send([await client.trade({ signerA: trader.signer, signerB: maker.signer, accountA: trader.account, accountB: maker.account, underlying: spec.underlying, instrument: spec.index, quantity: part, price })], trader.signer);
        if (slice + 1n === book.slices) console.log(`    ${(quantity > 0n ? "+" : "") + quantity} ${id.padEnd(15)} at ${money(Number(price) / 1e6).padStart(10)}${book.slices > 1n ? `  (in ${book.slices} slices of ${part})` : ""}`);
      }
    }
    if (book.hedge) {
      const hedge = instrument(book.hedge);
      const report = await client.marginReport(trader.account);
      const delta = i80f48ToNumber(report.underlyings.find((r) => r.index === hedge.underlying)?.deltaBits ?? 0n);
      const contracts = BigInt(-Math.round(delta / (Number(hedge.contractSize) / 1e6)));
      const price = await spot(hedge.underlying);
      await node.send([await client.trade({ signerA: trader.signer, signerB: maker.signer, accountA: trader.account, accountB: maker.account, underlying: hedge.underlying, instrument: hedge.index, quantity: contracts, price })], trader.signer);
      console.log(`    ${contracts} ${book.hedge.padEnd(15)} at ${money(Number(price) / 1e6).padStart(10)}  (the options' delta was ${delta >= 0 ? "+" : ""}${delta.toFixed(4)})`);
    }
  }

  const reports = async () => {
    for (const t of traders) printReport(t.label, t.account, t.signer.address, await client.marginReport(t.account), names);
  };
  section("Margin reports (margin_report simulated over JSON-RPC: the program's own margin code)");
  const keeperArgs = ["--url", args.url, "--keypair", keeperPath, "--exchange", exchangeAddress];
  let header = true;
  /** One keeper tick, its log indented (the start-up line once); the tick's summary counts. */
  const tick = async () => {
    const { code, lines } = await keeperTick(args.keeper, keeperArgs);
    for (const line of lines.filter((l, i) => header || i > 0)) console.log(`    keeper │ ${line}`);
    header = false;
    const summary = lines.map((l) => /tick at \d+: \d+ accounts, (\d+) unhealthy, \d+ actions \(sent (\d+) \/ not sent (\d+) \/ failed (\d+)/.exec(l)).find(Boolean);
    if (code !== 0 || !summary) throw new Error(`the keeper's tick failed (exit ${code})`);
    return { unhealthy: Number(summary[1]), sent: Number(summary[2]), notSent: Number(summary[3]), failed: Number(summary[4]) };
  };
  console.log("  the keeper's first tick takes each underlying's first volatility sample:");
  let counts = await tick();
  await reports();

  section("A sharp move an hour later: BTC -8%, its ETH hedge -1.5%, SOL -2% (time travel; Pyth accounts by cheatcode)");
  const before = (await underlyings()).map((u) => pricingVol(u));
  await node.advance(3_600n);
  const prices = new Map<number, string>();
  for (const [name, usd] of SHOCK) {
    const index = names.indexOf(name);
    const u = (await underlyings())[index]!;
    const old = Number(await spot(index)) / 1e6;
    await node.publishPrice(u.oracle, u.oracleKind, usd, Uint8Array.from(u.feedId));
    prices.set(index, usd);
    console.log(`  ${name.padEnd(4)} ${money(old).padStart(10)} -> ${money(Number(usd)).padStart(10)}  (${(100 * (Number(usd) / old - 1)).toFixed(1)}%)`);
  }

  section("The keeper binary, one tick a minute (keeper --once: volatility crank, risk-array refreshes, liquidation)");
  for (let n = 1; n <= 20; n++) {
    if (n > 1) {
      await node.advance(TICK_SECS);
      for (const [index, usd] of prices) {
        const u = (await underlyings())[index]!;
        await node.publishPrice(u.oracle, u.oracleKind, usd, Uint8Array.from(u.feedId));
      }
    }
    console.log(`  ── tick ${n} · t+${(BigInt(n - 1) * TICK_SECS).toString()}s`);
    const result = await tick();
    counts = { ...result, sent: counts.sent + result.sent, notSent: counts.notSent + result.notSent, failed: counts.failed + result.failed };
    if (result.unhealthy === 0) {
      console.log("  no account below maintenance margin: the keeper is idle");
      break;
    }
  }
  const vols = (await underlyings()).map((u, i) => `${names[i]} ${(Number(before[i]) / 1e4).toFixed(1)}% -> ${(Number(pricingVol(u)) / 1e4).toFixed(1)}%`);
  console.log(`  pricing volatility: ${vols.join(", ")}`);

  section("After the liquidation");
  await reports();
  if (await Promise.all(traders.map(async (t) => isLiquidatable(await client.marginReport(t.account)))).then((l) => l.some(Boolean))) {
    throw new Error("an account is still below maintenance margin after the keeper's ticks");
  }

  section("Reconciliation: vaults and insurance fund (SPL Token balances against the exchange's books)");
  exchange = decodeExchangeData((await node.target.getAccount(exchangeAddress))!.data);
  let ok = true;
  const check = (what: string, left: bigint, right: bigint) => {
    ok &&= left === right;
    console.log(`  ${left === right ? "✓" : "✗"} ${what}: ${left} ${left === right ? "=" : "≠"} ${right} native units`);
  };
  check("USDC vault = the exchange's USDC deposits", await node.tokenBalance(exchange.collateral[0]!.vault), exchange.collateral[0]!.totalDeposits);
  check("insurance vault = insurance fund", await node.tokenBalance(exchange.insuranceVault), exchange.insuranceBalance);
  console.log(`  keeper (over ${args.url}): ${counts.sent} transactions sent, ${counts.notSent} not sent (simulation failed), ${counts.failed} failed on chain`);
  console.log(`\ndone in ${pad((Date.now() - started) / 1000)}s`);
  if (!ok || counts.failed > 0) throw new Error("reconciliation failed");
}

const pad = (seconds: number) => seconds.toFixed(1).padStart(5);

try {
  await main(parseArgs(process.argv.slice(2)));
} catch (error) {
  console.error(`demo: ${error instanceof Error ? error.message : String(error)}`);
  process.exitCode = 1;
}
