/**
 * The high-level client: builders that read the margin accounts and the exchange themselves and
 * fill the remaining accounts in the order the program documents (src/margin.rs):
 *
 *   for each underlying index u the account references — an open position, or a non-zero balance
 *   of a collateral asset priced by u — in ascending u: `Underlying[u]`, then its oracle.
 *
 * `trade` and `liquidate` use the union of both accounts' underlyings as they are before the
 * instruction plus the traded (liquidated) one; `withdraw` uses the account as it will be after
 * the withdrawal; `margin_report` the account as it is.
 */
import { AccountRole, type AccountMeta, type Address, type Instruction, type TransactionSigner } from "@solana/kit";
import { decodeExchangeData, decodeMarginAccountData, decodeUnderlyingData, decodeUnderlyingWithRiskArrays } from "./accounts.js";
import type { CachedRiskArray } from "./codecs.js";
import type { PortfolioMarginConnection, SimulationResult } from "./connection.js";
import { MAX_UNDERLYINGS, QUOTE_ASSET_INDEX } from "./constants.js";
import {
  PORTFOLIO_MARGIN_PROGRAM_ADDRESS,
  findVaultPda,
  getDepositInstruction,
  getLiquidateInstruction,
  getMarginReportCodec,
  getMarginReportInstruction,
  getSetCorrelationInstruction,
  getSetParametersInstruction,
  getSettlePositionsInstruction,
  getTradeInstruction,
  getWithdrawInstruction,
  type Exchange,
  type Instrument,
  type LiquidationTarget,
  type MarginAccount,
  type MarginReport,
  type RiskParametersArgs,
  type Underlying,
} from "./generated/index.js";
import {
  getRefreshRiskArrayTransactions,
  getSetComputeUnitLimitInstruction,
  withRemainingAccounts,
  type RefreshRiskArrayTransaction,
} from "./instructions.js";
import { decodePythPrice, pythPriceE6 } from "./pyth.js";
import { riskArrayMarket, riskArrayStatus, type RiskArrayMarket, type RiskArrayStatus } from "./risk-arrays.js";

const CLOCK_SYSVAR = "SysvarC1ock11111111111111111111111111111111" as Address;

/** An active option of an underlying with its cached risk array and what the margin check would make of it. */
export type RiskArrayEntry = { instrument: number; listed: Instrument; cached: CachedRiskArray | undefined; status: RiskArrayStatus };

/** Accounts the program wants a signature from: a kit signer (the generated builders need one). */
type Signer = TransactionSigner;

/**
 * The bit set of underlying indexes an account's margin check needs (`MarginAccount::
 * underlying_mask`): every open position's underlying, and the underlying pricing every non-zero
 * collateral balance.
 */
export function underlyingMask(account: Pick<MarginAccount, "balances" | "positions">, exchange: Pick<Exchange, "collateral">): number {
  let mask = 0;
  account.balances.forEach((balance, index) => {
    const underlying = exchange.collateral[index]!.underlying;
    if (balance !== 0n && underlying < MAX_UNDERLYINGS) mask |= 1 << underlying;
  });
  for (const position of account.positions) {
    if (position.quantity !== 0n) mask |= 1 << (position.underlying & 7);
  }
  return mask;
}

/** Ascending underlying indexes of a mask. */
export function maskIndexes(mask: number): number[] {
  const out: number[] = [];
  for (let u = 0; u < MAX_UNDERLYINGS; u++) if (mask & (1 << u)) out.push(u);
  return out;
}

export type ClientOptions = {
  programAddress?: Address;
  /** Compute-unit limit put in front of simulations (`marginReport`); default 1,400,000. */
  simulationComputeUnits?: number;
};

export class PortfolioMarginClient {
  readonly connection: PortfolioMarginConnection;
  readonly programAddress: Address;
  readonly simulationComputeUnits: number;
  /** The generated builders' `config` argument. */
  private readonly config: { programAddress: Address };

  constructor(connection: PortfolioMarginConnection, options: ClientOptions = {}) {
    this.connection = connection;
    this.programAddress = options.programAddress ?? PORTFOLIO_MARGIN_PROGRAM_ADDRESS;
    this.simulationComputeUnits = options.simulationComputeUnits ?? 1_400_000;
    this.config = { programAddress: this.programAddress };
  }

  // -------------------------------------------------------------- accounts

  private async data(address: Address, what: string) {
    const data = await this.connection.getAccountData(address);
    if (!data) throw new Error(`${what} ${address} does not exist`);
    return data;
  }

  async fetchExchange(address: Address): Promise<Exchange> {
    return decodeExchangeData(await this.data(address, "exchange"));
  }

  async fetchUnderlying(address: Address): Promise<Underlying> {
    return decodeUnderlyingData(await this.data(address, "underlying"));
  }

  async fetchMarginAccount(address: Address): Promise<MarginAccount> {
    return decodeMarginAccountData(await this.data(address, "margin account"));
  }

  /** `fetchUnderlying` with the cached risk arrays after the struct (`riskArrays[i]`: instrument i). */
  async fetchUnderlyingWithRiskArrays(address: Address): Promise<Underlying & { riskArrays: CachedRiskArray[] }> {
    return decodeUnderlyingWithRiskArrays(await this.data(address, "underlying"));
  }

  /** The cluster's unix time (the Clock sysvar). */
  async clock(): Promise<bigint> {
    const data = await this.data(CLOCK_SYSVAR, "the clock sysvar");
    return new DataView(Uint8Array.from(data).buffer).getBigInt64(32, true);
  }

  /**
   * The underlying's oracle price as the program reads it (USD `expo = -6`, rounded down) and its
   * publish time. Only the layout is decoded: the program's age and confidence limits still apply.
   */
  async oraclePrice(underlying: Pick<Underlying, "oracle" | "oracleKind">): Promise<{ price: bigint; publishTime: bigint }> {
    const quote = decodePythPrice(await this.data(underlying.oracle, "oracle"), underlying.oracleKind);
    return { price: pythPriceE6(quote.price, quote.expo), publishTime: quote.publishTime };
  }

  /**
   * The active options of an underlying, each with its cached risk array and its status against
   * the market now (oracle price, clock, pricing volatility and parameters; `price` and `now`
   * override the oracle and the clock).
   */
  async riskArrays(
    underlyingAddress: Address,
    options: { price?: bigint; now?: bigint } = {},
  ): Promise<{ underlying: Underlying; market: RiskArrayMarket; arrays: RiskArrayEntry[] }> {
    const underlying = await this.fetchUnderlyingWithRiskArrays(underlyingAddress);
    const exchange = await this.fetchExchange(underlying.exchange);
    const price = options.price ?? (await this.oraclePrice(underlying)).price;
    const now = options.now ?? (await this.clock());
    const market = riskArrayMarket(underlying, exchange.params, price, now);
    const arrays: RiskArrayEntry[] = [];
    getRefreshRiskArrayTransactions(underlying, underlyingAddress).forEach(({ instrument }) => {
      const cached = underlying.riskArrays[instrument];
      arrays.push({ instrument, listed: underlying.instruments[instrument]!, cached, status: riskArrayStatus(cached, market) });
    });
    return { underlying, market, arrays };
  }

  /**
   * The `refresh_risk_array` transactions an underlying needs now: one per active option whose
   * array the margin check would refuse (every active option with `all`), each with its
   * 1,400,000-unit compute limit, and why.
   */
  async refreshRiskArrays(
    underlyingAddress: Address,
    options: { all?: boolean; price?: bigint; now?: bigint } = {},
  ): Promise<(RefreshRiskArrayTransaction & { reason: string })[]> {
    const { underlying, arrays } = await this.riskArrays(underlyingAddress, options);
    const reasons = new Map(arrays.map((a) => [a.instrument, a.status.fresh ? "fresh" : a.status.detail]));
    return getRefreshRiskArrayTransactions(underlying, underlyingAddress, {
      programAddress: this.programAddress,
      only: (i) => options.all === true || reasons.get(i) !== "fresh",
    }).map((tx) => ({ ...tx, reason: reasons.get(tx.instrument)! }));
  }

  /** Every underlying of the exchange, by index. */
  async fetchUnderlyings(exchange: Exchange): Promise<Underlying[]> {
    return Promise.all(exchange.underlyings.slice(0, exchange.underlyingCount).map((key) => this.fetchUnderlying(key)));
  }

  /** `Underlying[u]`, then its oracle, for each u of `mask` ascending (all readonly). */
  async remainingAccountsForMask(exchange: Exchange, mask: number): Promise<AccountMeta[]> {
    const metas: AccountMeta[] = [];
    for (const u of maskIndexes(mask)) {
      if (u >= exchange.underlyingCount) throw new Error(`underlying ${u} is not listed on the exchange`);
      const key = exchange.underlyings[u]!;
      const underlying = await this.fetchUnderlying(key);
      metas.push({ address: key, role: AccountRole.READONLY }, { address: underlying.oracle, role: AccountRole.READONLY });
    }
    return metas;
  }

  /** The margin check's remaining accounts for one margin account as it is now. */
  async marginCheckAccounts(marginAccount: Address): Promise<{ exchangeAddress: Address; exchange: Exchange; account: MarginAccount; remaining: AccountMeta[] }> {
    const account = await this.fetchMarginAccount(marginAccount);
    const exchange = await this.fetchExchange(account.exchange);
    const remaining = await this.remainingAccountsForMask(exchange, underlyingMask(account, exchange));
    return { exchangeAddress: account.exchange, exchange, account, remaining };
  }

  // -------------------------------------------------------------- margin report

  /** Simulates `margin_report` for the account and decodes its return data. */
  async marginReport(marginAccount: Address): Promise<MarginReport> {
    return (await this.simulateMarginReport(marginAccount)).report;
  }

  /** `marginReport` with the simulation's compute units and logs. */
  async simulateMarginReport(marginAccount: Address): Promise<{ report: MarginReport } & SimulationResult> {
    const { exchangeAddress, remaining } = await this.marginCheckAccounts(marginAccount);
    const instruction = withRemainingAccounts(getMarginReportInstruction({ exchange: exchangeAddress, marginAccount }, this.config), remaining);
    const result = await this.connection.simulate([getSetComputeUnitLimitInstruction(this.simulationComputeUnits), instruction]);
    if (result.returnData.length === 0) throw new Error("margin_report returned no data");
    return { ...result, report: getMarginReportCodec().decode(result.returnData) };
  }

  // -------------------------------------------------------------- instructions with a margin check

  /** A bilateral fill: A buys `quantity` contracts (negative: sells) from B at `price` (USD e6). */
  async trade(input: {
    signerA: Signer;
    signerB: Signer;
    accountA: Address;
    accountB: Address;
    underlying: number;
    instrument: number;
    quantity: number | bigint;
    price: number | bigint;
  }): Promise<Instruction> {
    const [a, b] = await Promise.all([this.fetchMarginAccount(input.accountA), this.fetchMarginAccount(input.accountB)]);
    const exchange = await this.fetchExchange(a.exchange);
    const mask = underlyingMask(a, exchange) | underlyingMask(b, exchange) | (1 << input.underlying);
    return withRemainingAccounts(
      getTradeInstruction(
        {
          signerA: input.signerA,
          signerB: input.signerB,
          exchange: a.exchange,
          accountA: input.accountA,
          accountB: input.accountB,
          underlying: input.underlying,
          instrument: input.instrument,
          quantity: input.quantity,
          price: input.price,
        },
        this.config,
      ),
      await this.remainingAccountsForMask(exchange, mask),
    );
  }

  /** Withdraws `amount` of collateral asset `asset` to `destination` (a token account of its mint). */
  async withdraw(input: { owner: Signer; marginAccount: Address; asset: number; amount: number | bigint; destination: Address }): Promise<Instruction> {
    const account = await this.fetchMarginAccount(input.marginAccount);
    const exchange = await this.fetchExchange(account.exchange);
    const asset = exchange.collateral[input.asset];
    if (!asset || input.asset >= exchange.collateralCount) throw new Error(`unknown collateral asset ${input.asset}`);
    // The margin check runs on the account after the withdrawal.
    const balances = account.balances.map((balance, i) => {
      if (i !== input.asset) return balance;
      const after = balance - BigInt(input.amount);
      return after > 0n ? after : 0n;
    });
    const mask = underlyingMask({ balances, positions: account.positions }, exchange);
    return withRemainingAccounts(
      getWithdrawInstruction(
        {
          owner: input.owner,
          exchange: account.exchange,
          marginAccount: input.marginAccount,
          mint: asset.mint,
          vault: asset.vault,
          destination: input.destination,
          asset: input.asset,
          amount: input.amount,
        },
        this.config,
      ),
      await this.remainingAccountsForMask(exchange, mask),
    );
  }

  /** Deposits `amount` of asset `asset` from `source` (owned by `authority`); no margin check. */
  async deposit(input: { authority: Signer; marginAccount: Address; asset: number; amount: number | bigint; source: Address }): Promise<Instruction> {
    const account = await this.fetchMarginAccount(input.marginAccount);
    const exchange = await this.fetchExchange(account.exchange);
    const asset = exchange.collateral[input.asset];
    if (!asset || input.asset >= exchange.collateralCount) throw new Error(`unknown collateral asset ${input.asset}`);
    return getDepositInstruction(
      {
        authority: input.authority,
        exchange: account.exchange,
        marginAccount: input.marginAccount,
        mint: asset.mint,
        vault: asset.vault,
        source: input.source,
        asset: input.asset,
        amount: input.amount,
      },
      this.config,
    );
  }

  /** A liquidation step of `liquidatee` by the keeper's margin account `liquidator`. */
  async liquidate(input: {
    liquidatorAuthority: Signer;
    liquidator: Address;
    liquidatee: Address;
    target: LiquidationTarget;
    quantity: number | bigint;
  }): Promise<Instruction> {
    const [keeper, account] = await Promise.all([this.fetchMarginAccount(input.liquidator), this.fetchMarginAccount(input.liquidatee)]);
    const exchange = await this.fetchExchange(account.exchange);
    // A slice touches only what the liquidatee already holds: no extra underlying.
    const targetUnderlying =
      input.target.__kind === "Position"
        ? input.target.underlying
        : input.target.__kind === "Collateral"
          ? exchange.collateral[input.target.asset]?.underlying ?? 255
          : 255;
    const targetBit = targetUnderlying < MAX_UNDERLYINGS ? 1 << targetUnderlying : 0;
    const mask = underlyingMask(keeper, exchange) | underlyingMask(account, exchange) | targetBit;
    const quote = exchange.collateral[QUOTE_ASSET_INDEX]!;
    return withRemainingAccounts(
      getLiquidateInstruction(
        {
          liquidatorAuthority: input.liquidatorAuthority,
          exchange: account.exchange,
          liquidator: input.liquidator,
          liquidatee: input.liquidatee,
          quoteVault: quote.vault,
          insuranceVault: exchange.insuranceVault,
          target: input.target,
          quantity: input.quantity,
        },
        this.config,
      ),
      await this.remainingAccountsForMask(exchange, mask),
    );
  }

  /** Settles the account's positions in settled instruments (remaining: their underlyings, ascending). */
  async settlePositions(marginAccount: Address): Promise<Instruction> {
    const account = await this.fetchMarginAccount(marginAccount);
    const exchange = await this.fetchExchange(account.exchange);
    let mask = 0;
    for (const position of account.positions) if (position.quantity !== 0n) mask |= 1 << (position.underlying & 7);
    const remainingAccounts = maskIndexes(mask).map((u) => ({ address: exchange.underlyings[u]!, role: AccountRole.READONLY }));
    return withRemainingAccounts(getSettlePositionsInstruction({ exchange: account.exchange, marginAccount }, this.config), remainingAccounts);
  }

  // -------------------------------------------------------------- admin instructions over every underlying

  /** Sets the correlation matrix (n x n, row-major, `expo = -6`); every underlying, writable. */
  async setCorrelation(input: { admin: Signer; exchange: Address; matrix: readonly (number | bigint)[] }): Promise<Instruction> {
    const exchange = await this.fetchExchange(input.exchange);
    const remainingAccounts = exchange.underlyings
      .slice(0, exchange.underlyingCount)
      .map((address) => ({ address, role: AccountRole.WRITABLE }));
    return withRemainingAccounts(
      getSetCorrelationInstruction({ admin: input.admin, exchange: input.exchange, matrix: [...input.matrix] }, this.config),
      remainingAccounts,
    );
  }

  /** Replaces the risk parameters; every underlying, readonly. */
  async setParameters(input: { admin: Signer; exchange: Address; params: RiskParametersArgs }): Promise<Instruction> {
    const exchange = await this.fetchExchange(input.exchange);
    const remainingAccounts = exchange.underlyings
      .slice(0, exchange.underlyingCount)
      .map((address) => ({ address, role: AccountRole.READONLY }));
    return withRemainingAccounts(getSetParametersInstruction({ admin: input.admin, exchange: input.exchange, params: input.params }, this.config), remainingAccounts);
  }

  /** The vault of a collateral mint (for token accounts the program checks against). */
  async vaultOf(exchange: Address, mint: Address): Promise<Address> {
    return (await findVaultPda({ exchange, mint }, this.config))[0];
  }
}

