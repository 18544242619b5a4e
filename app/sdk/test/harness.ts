/**
 * A fixture running the real SBF build (target/deploy/portfolio_margin.so) in LiteSVM or on a
 * JSON-RPC node with Surfpool cheatcodes (chain.ts): an exchange with a 6-decimal quote mint,
 * underlyings with Pyth accounts, collateral, instruments and funded traders, each in a line, all
 * through the SDK's builders.
 */
import { existsSync } from "node:fs";
import { dirname, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { generateKeyPairSigner, getAddressEncoder, lamports, type Address, type Instruction, type KeyPairSigner } from "@solana/kit";
import type { LiteSVM } from "litesvm";
import {
  COMPUTE_BUDGET_PROGRAM_ADDRESS,
  PortfolioMarginClient,
  TOKEN_PROGRAM_ADDRESS,
  decodeUnderlyingData,
  defaultRiskParameters,
  findExchangePda,
  findInsuranceVaultPda,
  findMarginAccountPda,
  findUnderlyingPda,
  findVaultPda,
  getAddCollateralAssetInstruction,
  getAddUnderlyingInstruction,
  getCreateMarginAccountInstruction,
  getInitializeExchangeInstruction,
  getListInstrumentInstruction,
  getSetComputeUnitLimitInstruction,
  nameBytes,
  pythAccount,
  pythQuote,
  type HaircutArgs,
  type PythQuote,
  type UnderlyingParamsArgs,
} from "../src/index.js";
import { liteSvmChain, TransactionFailed, type Chain } from "./chain.js";

export { TransactionFailed };

export const REPO_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "../../../..");
const TARGET_DIR = process.env.CARGO_TARGET_DIR ? resolve(REPO_ROOT, process.env.CARGO_TARGET_DIR) : resolve(REPO_ROOT, "target");
export const PROGRAM_SO = resolve(TARGET_DIR, "deploy/portfolio_margin.so");

/** Fails (never skips) when the SBF build is missing, naming the command that makes it. */
export function requireProgramSo(): string {
  if (!existsSync(PROGRAM_SO)) {
    throw new Error(
      `${PROGRAM_SO} is missing: build the program with \`scripts/build-sbf\` (from ${REPO_ROOT}), ` +
        "then run the SDK tests again (scripts/test-sdk, or npm test in app/sdk)",
    );
  }
  return PROGRAM_SO;
}

export const QUOTE_DECIMALS = 6;
export const USDC = 1_000_000n;
export const YEAR = 31_557_600n;
export const DAY = 86_400n;
/** The cluster clock the fixture starts at (unix seconds). */
export const START_TIME = 1_767_225_600n;

export type UnderlyingInfo = {
  index: number;
  name: string;
  address: Address;
  oracle: Address;
  oracleKind: number;
  feedId: Uint8Array;
  quote: PythQuote;
};

export type AssetInfo = { index: number; mint: Address; vault: Address; decimals: number };
export type Trader = { signer: KeyPairSigner; tokens: Address[]; account: Address };

const MINT_LEN = 82;
const TOKEN_ACCOUNT_LEN = 165;

export class Env {
  readonly client: PortfolioMarginClient;
  readonly underlyings: UnderlyingInfo[] = [];
  readonly assets: AssetInfo[] = [];
  /** Compute units of every successful transaction, by label. */
  readonly units: { label: string; units: bigint }[] = [];

  private constructor(
    readonly chain: Chain,
    readonly payer: KeyPairSigner,
    readonly admin: KeyPairSigner,
    readonly mintAuthority: KeyPairSigner,
    readonly exchange: Address,
    readonly insuranceVault: Address,
  ) {
    this.client = new PortfolioMarginClient(chain.connection(payer));
  }

  /** The in-process runtime (LiteSVM-only tests). */
  get svm(): LiteSVM {
    if (!this.chain.svm) throw new Error(`this test needs LiteSVM, not ${this.chain.name}`);
    return this.chain.svm;
  }

  /**
   * An exchange with default parameters and a 6-decimal quote, on `chain` (default: a fresh
   * LiteSVM with the SBF program, its clock at START_TIME).
   */
  static async create(chain?: Chain): Promise<Env> {
    chain ??= liteSvmChain(requireProgramSo(), START_TIME);
    const [payer, admin, mintAuthority] = await Promise.all([generateKeyPairSigner(), generateKeyPairSigner(), generateKeyPairSigner()]);
    for (const who of [payer, admin]) await chain.fund(who.address, 100_000_000_000n);
    const [exchange] = await findExchangePda({ creator: admin.address });
    const [insuranceVault] = await findInsuranceVaultPda({ exchange });
    const env = new Env(chain, payer, admin, mintAuthority, exchange, insuranceVault);
    const quoteMint = await env.createMint(QUOTE_DECIMALS);
    const [quoteVault] = await findVaultPda({ exchange: exchange, mint: quoteMint });
    await env.send(
      "initialize_exchange",
      [
        getInitializeExchangeInstruction({ creator: admin, exchange, quoteMint, quoteVault, insuranceVault, params: defaultRiskParameters(), quoteDepositCap: 2n ** 62n }),
      ],
    );
    env.assets.push({ index: 0, mint: quoteMint, vault: quoteVault, decimals: QUOTE_DECIMALS });
    return env;
  }

  /** The cluster clock (unix seconds). */
  now(): Promise<bigint> {
    return this.chain.now();
  }

  /**
   * Sends one transaction (payer + the instructions' signers) with a 1.4M compute-unit limit, put
   * in front unless the instructions bring their own (`getRefreshRiskArrayTransactions` does).
   */
  async send(label: string, instructions: Instruction[]): Promise<bigint> {
    const budgeted = instructions.some((ix) => ix.programAddress === COMPUTE_BUDGET_PROGRAM_ADDRESS);
    const units = await this.chain.send(budgeted ? instructions : [getSetComputeUnitLimitInstruction(1_400_000), ...instructions], this.payer);
    this.units.push({ label, units });
    return units;
  }

  /** An SPL mint written directly (mint authority = the fixture's). */
  async createMint(decimals: number): Promise<Address> {
    const mint = (await generateKeyPairSigner()).address;
    const data = new Uint8Array(MINT_LEN);
    new DataView(data.buffer).setUint32(0, 1, true); // COption::Some(mint authority)
    data.set(getAddressEncoder().encode(this.mintAuthority.address), 4);
    data[44] = decimals;
    data[45] = 1; // is_initialized
    await this.setTokenProgramAccount(mint, data);
    return mint;
  }

  /** An initialized SPL token account holding `amount`, written directly. */
  async createTokenAccount(mint: Address, owner: Address, amount: bigint): Promise<Address> {
    const account = (await generateKeyPairSigner()).address;
    const data = new Uint8Array(TOKEN_ACCOUNT_LEN);
    const encoder = getAddressEncoder();
    data.set(encoder.encode(mint), 0);
    data.set(encoder.encode(owner), 32);
    new DataView(data.buffer).setBigUint64(64, amount, true);
    data[108] = 1; // AccountState::Initialized
    await this.setTokenProgramAccount(account, data);
    return account;
  }

  private async setTokenProgramAccount(address: Address, data: Uint8Array) {
    await this.chain.setAccount({
      address,
      data,
      executable: false,
      lamports: lamports(await this.chain.rentExempt(data.length)),
      programAddress: TOKEN_PROGRAM_ADDRESS,
      space: BigInt(data.length),
    });
  }

  /** Writes an underlying's Pyth account (its format by oracle kind). */
  async writeOracle(info: UnderlyingInfo) {
    await this.chain.setAccount(pythAccount(info.oracle, info.oracleKind, info.quote, info.feedId));
  }

  /**
   * Sets an underlying's price (decimal USD), published now. Option arrays built more than 2% away
   * become stale: call `refreshRiskArrays` before the next margin check touching those options.
   */
  async setPrice(index: number, usd: string) {
    const info = this.underlyings[index]!;
    info.quote = pythQuote(usd, await this.now());
    await this.writeOracle(info);
  }

  /** Publishes every underlying's current price again, now (after the clock moved). */
  async republishPrices() {
    const now = await this.now();
    for (const info of this.underlyings) {
      info.quote = { ...info.quote, publishTime: now };
      await this.writeOracle(info);
    }
  }

  /** Moves the cluster clock by `seconds` (arrays older than their max age become stale). */
  async advanceClock(seconds: bigint) {
    await this.chain.advanceClock(seconds);
  }

  /**
   * `refresh_risk_array` for every active option (of `underlying`, or of every underlying) whose
   * cached array the margin check would refuse now (every active option with `all`), one
   * transaction each with the SDK's 1.4M compute limit. Returns what was refreshed and why.
   */
  async refreshRiskArrays(underlying?: number, options: { all?: boolean } = {}): Promise<{ underlying: number; instrument: number; reason: string; units: bigint }[]> {
    const done: { underlying: number; instrument: number; reason: string; units: bigint }[] = [];
    for (const info of this.underlyings) {
      if (underlying !== undefined && info.index !== underlying) continue;
      for (const tx of await this.client.refreshRiskArrays(info.address, options)) {
        const units = await this.send(`refresh_risk_array ${info.name} #${tx.instrument}`, tx.instructions);
        done.push({ underlying: info.index, instrument: tx.instrument, reason: tx.reason, units });
      }
    }
    return done;
  }

  async addUnderlying(name: string, oracleKind: number, usd: string, params: UnderlyingParamsArgs): Promise<UnderlyingInfo> {
    const index = this.underlyings.length;
    const [address] = await findUnderlyingPda(this.exchange, index);
    const feedId = new Uint8Array(32);
    feedId.set(new TextEncoder().encode(name));
    const info: UnderlyingInfo = {
      index,
      name,
      address,
      oracle: (await generateKeyPairSigner()).address,
      oracleKind,
      feedId,
      quote: pythQuote(usd, await this.now()),
    };
    await this.writeOracle(info);
    await this.send(`add_underlying ${name}`, [
      getAddUnderlyingInstruction({ admin: this.admin, exchange: this.exchange, underlying: address, oracle: info.oracle, index, name: nameBytes(name), oracleKind, feedId, params }),
    ]);
    this.underlyings.push(info);
    return info;
  }

  async addCollateral(underlying: number, decimals: number, haircut: HaircutArgs): Promise<AssetInfo> {
    const mint = await this.createMint(decimals);
    const [vault] = await findVaultPda({ exchange: this.exchange, mint });
    await this.send("add_collateral_asset", [
      getAddCollateralAssetInstruction({ admin: this.admin, exchange: this.exchange, mint, vault, underlying, depositCap: 2n ** 62n, haircut }),
    ]);
    const info = { index: this.assets.length, mint, vault, decimals };
    this.assets.push(info);
    return info;
  }

  /**
   * Lists an instrument expiring `seconds` from now; returns its index. An option's risk array is
   * not built yet: `refreshRiskArrays` before trading it.
   */
  async list(underlying: number, kind: number, strikeE6: bigint, seconds: bigint, contractSizeE6 = 1_000_000n): Promise<number> {
    const address = this.underlyings[underlying]!.address;
    const before = decodeUnderlyingData((await this.chain.accountData(address))!).instrumentCount;
    await this.send("list_instrument", [
      getListInstrumentInstruction({ admin: this.admin, exchange: this.exchange, underlying: address, kind, strike: strikeE6, expiry: (await this.now()) + seconds, contractSize: contractSizeE6 }),
    ]);
    return before;
  }

  /**
   * A trader with SOL for fees, a token account per collateral asset (holding `tokens[i]` native
   * units of asset i), a margin account (id 0), and `depositQuote` native quote units deposited;
   * `signer` is a new key unless given.
   */
  async trader(tokens: bigint[], depositQuote: bigint, signer?: KeyPairSigner): Promise<Trader> {
    signer ??= await generateKeyPairSigner();
    await this.chain.fund(signer.address, 10_000_000_000n);
    const accounts: Address[] = [];
    for (const asset of this.assets) {
      // The quote account also holds what is deposited below.
      const amount = (tokens[asset.index] ?? 0n) + (asset.index === 0 ? depositQuote : 0n);
      accounts.push(await this.createTokenAccount(asset.mint, signer.address, amount));
    }
    const [account] = await findMarginAccountPda({ exchange: this.exchange, owner: signer.address, accountId: 0 });
    await this.send("create_margin_account", [
      getCreateMarginAccountInstruction({ owner: signer, exchange: this.exchange, marginAccount: account, accountId: 0 }),
    ]);
    const trader = { signer, tokens: accounts, account };
    if (depositQuote > 0n) await this.deposit(trader, 0, depositQuote);
    return trader;
  }

  async deposit(trader: Trader, asset: number, amount: bigint) {
    await this.send(`deposit ${asset}`, [
      await this.client.deposit({ authority: trader.signer, marginAccount: trader.account, asset, amount, source: trader.tokens[asset]! }),
    ]);
  }

  /** A buys `quantity` contracts (negative: sells) from B at `priceE6`, through the client. */
  async trade(a: Trader, b: Trader, underlying: number, instrument: number, quantity: bigint, priceE6: bigint): Promise<bigint> {
    const instruction = await this.client.trade({
      signerA: a.signer,
      signerB: b.signer,
      accountA: a.account,
      accountB: b.account,
      underlying,
      instrument,
      quantity,
      price: priceE6,
    });
    return this.send(`trade u${underlying} i${instrument}`, [instruction]);
  }
}

export { blackScholes } from "../src/index.js";
