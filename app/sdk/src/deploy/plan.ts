/**
 * Applies a market config to a cluster idempotently: reads what exists (the exchange of the payer,
 * its underlyings, collateral table and instrument registries), works out the actions that make it
 * match the config, and only then sends them. Anything the config asks that no instruction can do
 * (change an oracle, a haircut, a mint, remove an underlying) is a `ConfigError` naming the field,
 * raised before anything is sent.
 *
 * Matching: underlying i of the config is underlying i of the exchange (names must agree),
 * collateral i is collateral asset i + 1 (the quote is 0), and the k-th instrument of an underlying
 * in config order is index k of its registry (kind, strike and contract size must agree; the expiry
 * is relative to the listing, so it is not compared).
 *
 * Order of the actions: initialize_exchange; set_underlying_params of underlyings whose scan range
 * shrinks; set_parameters; set_underlying_params of the others (so `extreme_fits` holds at every
 * step); oracles and add_underlying; set_correlation; add_collateral_asset; list_instrument;
 * refresh_risk_array.
 *
 * Risk arrays: every active, unexpired option of the configured underlyings (listed now or
 * before, in the config or not) whose cached risk array the margin check would refuse once the
 * plan is applied — never built, built under another pricing volatility, scan range, volatility
 * shock, rate, extreme multiple or initial multiplier than the config's, older than its max age,
 * or the oracle price out of its 2% band (`riskArrayStatus`) — gets a `refresh_risk_array`, one
 * transaction each behind a 1,400,000-unit compute limit. Nothing else: a run that changes nothing
 * the arrays depend on refreshes nothing. An oracle the refresh could not use (missing, not in a
 * Pyth format, older or wider than the config's `risk` oracle limits) is a note, not an error.
 */
import {
  AccountRole,
  generateKeyPairSigner,
  getAddressEncoder,
  type AccountSignerMeta,
  type Address,
  type EncodedAccount,
  type Instruction,
  type KeyPairSigner,
  type TransactionSigner,
} from "@solana/kit";
import { decodeCachedRiskArrays, decodeExchangeData, decodeUnderlyingData } from "../accounts.js";
import { nameBytes, nameString, type CachedRiskArray } from "../codecs.js";
import {
  OracleKind,
  PPM,
  PYTH_LEGACY_PROGRAM_ADDRESS,
  InstrumentKind,
  InstrumentStatus,
  PYTH_RECEIVER_PROGRAM_ADDRESS,
  RISK_ARRAY_BAND,
  RISK_ARRAY_MAX_AGE,
  SYSTEM_PROGRAM_ADDRESS,
  TOKEN_PROGRAM_ADDRESS,
} from "../constants.js";
import {
  PORTFOLIO_MARGIN_PROGRAM_ADDRESS,
  findExchangePda,
  findInsuranceVaultPda,
  findVaultPda,
  getAddCollateralAssetInstruction,
  getAddUnderlyingInstruction,
  getInitializeExchangeInstruction,
  getListInstrumentInstruction,
  getSetCorrelationInstruction,
  getSetParametersInstruction,
  getSetUnderlyingParamsInstruction,
  type Exchange,
  type RiskParameters,
  type Underlying,
  type UnderlyingParamsArgs,
} from "../generated/index.js";
import { getRefreshRiskArrayTransaction, getSetComputeUnitLimitInstruction, withRemainingAccounts } from "../instructions.js";
import { findUnderlyingPda } from "../pda.js";
import { decodePythPrice, pythAccount, pythPriceE6, type PythQuote } from "../pyth.js";
import { isqrt, riskArrayBand, riskArrayStatus, type RiskArrayMarket } from "../risk-arrays.js";
import { ConfigError, fromPpm, type ConfigIssue, type MarketSpec } from "./config.js";
import type { DeployTarget } from "./target.js";

export type DeployAction = {
  /**
   * `create` (accounts or listings), `update` (parameters), `oracle` (a price account written by LiteSVM or a Surfpool cheatcode) or
   * `refresh` (an option's cached risk array, `refresh_risk_array`).
   */
  kind: "create" | "update" | "oracle" | "refresh";
  /** The instruction (or step) and its subject, e.g. `set_underlying_params SOL`. */
  label: string;
  /** What changes, one line each (`underlyings[1].scan_range: 0.1 -> 0.12`). */
  details: string[];
  /** Sent as one transaction (with the payer and these instructions' signers). */
  instructions?: Instruction[];
  /** Written with the target's `setAccount` (LiteSVM, or a Surfpool node's `surfnet_setAccount`). */
  account?: EncodedAccount;
  /** `refresh`: the array it builds (read back and printed once applied). */
  riskArray?: { underlying: Address; instrument: number; name: string };
};

export type DeployPlan = {
  target: string;
  exchange: Address;
  admin: Address;
  actions: DeployAction[];
  /** On-chain items the config does not mention, left alone. */
  notes: string[];
};

export type DeployOptions = {
  target: DeployTarget;
  /** Pays, creates the exchange (its PDA seed) and signs as its admin. */
  payer: TransactionSigner;
  spec: MarketSpec;
  programAddress?: Address;
};

export type DeployResult = { plan: DeployPlan; sent: { label: string; signature?: string }[] };

const U64_MAX = 2n ** 64n - 1n;
const MINT_LEN = 82;
const SPL_MINT_DECIMALS_OFFSET = 44;

/** Reads the cluster and works out what to do; sends nothing. Throws `ConfigError` on conflicts. */
export async function planDeployment(options: DeployOptions): Promise<DeployPlan> {
  const { target, payer, spec } = options;
  const programAddress = options.programAddress ?? PORTFOLIO_MARGIN_PROGRAM_ADDRESS;
  const pda = { programAddress };
  const issues: ConfigIssue[] = [];
  const issue = (field: string, message: string) => issues.push({ field, message });
  const where = target.description;

  const program = await target.getAccount(programAddress);
  if (!program || !program.executable) {
    throw new Error(
      `the portfolio-margin program ${programAddress} is not deployed on ${where}: deploy it first with ` +
        "`deploy --program target/deploy/portfolio_margin.so` (through the upgradeable loader; build it with scripts/build-sbf) or " +
        "`solana program deploy target/deploy/portfolio_margin.so --program-id migrations/keys/portfolio_margin-keypair.json` " +
        "(see migrations/README.md)",
    );
  }

  const [exchange] = await findExchangePda({ creator: payer.address }, pda);
  const [insuranceVault] = await findInsuranceVaultPda({ exchange }, pda);
  const exchangeAccount = await target.getAccount(exchange);
  const state: Exchange | null = exchangeAccount ? decodeExchangeData(exchangeAccount.data) : null;
  const now = await target.now();
  const actions: DeployAction[] = [];
  const notes: string[] = [];
  const withBudget = (instructions: Instruction[]) => [getSetComputeUnitLimitInstruction(400_000), ...instructions];

  /** Checks a configured mint: an SPL mint with `decimals`. */
  const checkMint = async (field: string, mint: Address, decimals: number, decimalsField: string) => {
    const account = await target.getAccount(mint);
    if (!account) return issue(field, `mint ${mint} does not exist on ${where}`);
    if (account.owner !== TOKEN_PROGRAM_ADDRESS || account.data.length !== MINT_LEN) return issue(field, `${mint} is not an SPL Token mint`);
    const onChain = account.data[SPL_MINT_DECIMALS_OFFSET]!;
    if (onChain !== decimals) issue(decimalsField, `the mint ${mint} has ${onChain} decimals, the config says ${decimals}`);
  };
  /** A new mint (authority = payer), created in the transaction that registers it. */
  const newMint = async (decimals: number) => {
    const mint = await generateKeyPairSigner();
    return { mint, instructions: createMintInstructions(payer, mint, decimals, await target.rentExempt(MINT_LEN)) };
  };

  // ---------------------------------------------------------------- exchange
  let underlyingCount = 0;
  let collateralCount = 1;
  let paramsUpdate: DeployAction | undefined;
  if (!state) {
    const instructions: Instruction[] = [];
    let quoteMint = spec.quote.mint;
    let created = "";
    if (quoteMint) {
      await checkMint("quote.mint", quoteMint, spec.quote.decimals, "quote.decimals");
    } else if (target.localnet) {
      const made = await newMint(spec.quote.decimals);
      quoteMint = made.mint.address;
      instructions.push(...made.instructions);
      created = `, new mint (authority ${payer.address})`;
    } else {
      issue("quote.mint", `required on ${where} (the script creates mints only on localnet)`);
    }
    if (quoteMint) {
      const [quoteVault] = await findVaultPda({ exchange, mint: quoteMint }, pda);
      instructions.push(
        getInitializeExchangeInstruction(
          { creator: payer, exchange, quoteMint, quoteVault, insuranceVault, params: spec.params, quoteDepositCap: spec.quote.depositCap ?? U64_MAX },
          pda,
        ),
      );
      actions.push({
        kind: "create",
        label: "initialize_exchange",
        details: [
          `exchange ${exchange} (admin ${payer.address})`,
          `quote ${spec.quote.symbol} mint ${quoteMint}${created}, ${spec.quote.decimals} decimals, vault ${quoteVault}, insurance vault ${insuranceVault}`,
        ],
        instructions,
      });
    }
  } else {
    underlyingCount = state.underlyingCount;
    collateralCount = state.collateralCount;
    if (state.admin !== payer.address) {
      issue("--keypair", `${payer.address} is not the admin of exchange ${exchange} (admin ${state.admin})`);
    }
    if (spec.quote.mint && spec.quote.mint !== state.quoteMint) {
      issue("quote.mint", `the exchange's quote mint is ${state.quoteMint}, the config says ${spec.quote.mint} (no instruction changes it)`);
    }
    const quote = state.collateral[0]!;
    if (quote.decimals !== spec.quote.decimals) {
      issue("quote.decimals", `the exchange's quote mint has ${quote.decimals} decimals, the config says ${spec.quote.decimals}`);
    }
    if (spec.quote.depositCap !== null && quote.depositCap !== spec.quote.depositCap) {
      issue("quote.deposit_cap", `on-chain ${quote.depositCap} native units, the config asks ${spec.quote.depositCap} (no instruction changes it)`);
    }
    const changed = diffParams(state.params, spec.params);
    if (changed.length > 0) {
      const remainingAccounts = state.underlyings.slice(0, state.underlyingCount).map((address) => ({ address, role: AccountRole.READONLY }));
      paramsUpdate = {
        kind: "update",
        label: "set_parameters",
        details: changed,
        instructions: withBudget([withRemainingAccounts(getSetParametersInstruction({ admin: payer, exchange, params: spec.params }, pda), remainingAccounts)]),
      };
    }
  }

  // ---------------------------------------------------------------- underlyings
  const n = spec.underlyings.length;
  if (underlyingCount > n) {
    issue("underlyings", `the exchange has ${underlyingCount} underlyings, the config lists ${n} (underlyings cannot be removed)`);
  }
  const existing: (Underlying | null)[] = [];
  const addresses: Address[] = [];
  /** Per configured underlying: its cached risk arrays on chain, its oracle and what it reads (or why it cannot be read). */
  const existingArrays: CachedRiskArray[][] = [];
  const oracles: ({ address: Address; quote: PythQuote } | { address: Address | null; problem: string })[] = [];
  const shrinking: DeployAction[] = [];
  const growing: DeployAction[] = [];
  const adding: DeployAction[] = [];
  for (const u of spec.underlyings) {
    const field = `underlyings[${u.index}]`;
    const [address] = await findUnderlyingPda(exchange, u.index, pda);
    addresses.push(address);
    if (u.index < underlyingCount) {
      const account = await target.getAccount(address);
      if (!account) throw new Error(`${field}: the exchange lists ${address}, which does not exist`);
      const onChain = decodeUnderlyingData(account.data);
      existing.push(onChain);
      existingArrays.push(decodeCachedRiskArrays(account.data));
      oracles.push(await readOracle(target, onChain.oracle, onChain.oracleKind));
      const name = nameString(onChain.name);
      if (name !== u.name) {
        issue(`${field}.name`, `underlying #${u.index} of the exchange is ${name}, the config says ${u.name} (underlyings are matched by position)`);
        continue;
      }
      if (onChain.oracleKind !== u.oracleKind) {
        issue(`${field}.oracle.kind`, `on-chain ${oracleKindName(onChain.oracleKind)}, the config says ${oracleKindName(u.oracleKind)} (no instruction changes it)`);
      }
      if (u.oracle && onChain.oracle !== u.oracle) {
        issue(`${field}.oracle.address`, `on-chain ${onChain.oracle}, the config says ${u.oracle} (no instruction changes it)`);
      }
      if (!equalBytes(onChain.feedId, u.feedId)) {
        issue(`${field}.oracle.feed_id`, `on-chain 0x${hex(onChain.feedId)}, the config gives 0x${hex(u.feedId)} (no instruction changes it)`);
      }
      const changed = diffUnderlyingParams(field, onChain, u.params);
      if (changed.length > 0) {
        const action: DeployAction = {
          kind: "update",
          label: `set_underlying_params ${u.name}`,
          details: changed,
          instructions: withBudget([getSetUnderlyingParamsInstruction({ admin: payer, exchange, underlying: address, params: u.params }, pda)]),
        };
        (u.params.scanRange <= onChain.scanRange ? shrinking : growing).push(action);
      }
      continue;
    }
    existing.push(null);
    existingArrays.push([]);
    // A new underlying: its oracle first.
    let oracle = u.oracle;
    if (oracle) {
      oracles.push(await readOracle(target, oracle, u.oracleKind));
      const account = await target.getAccount(oracle);
      const owner = u.oracleKind === OracleKind.PythPull ? PYTH_RECEIVER_PROGRAM_ADDRESS : PYTH_LEGACY_PROGRAM_ADDRESS;
      if (!account) issue(`${field}.oracle.address`, `${oracle} does not exist on ${where}`);
      else if (account.owner !== owner) {
        issue(`${field}.oracle.address`, `${oracle} is owned by ${account.owner}; a ${oracleKindName(u.oracleKind)} account is owned by ${owner}`);
      }
    } else if (target.setAccount) {
      oracle = (await generateKeyPairSigner()).address;
      const quote: PythQuote = { price: u.localnetPriceE8, conf: u.localnetPriceE8 / 1000n, emaPrice: u.localnetPriceE8, expo: -8, publishTime: now };
      oracles.push({ address: oracle, quote });
      adding.push({
        kind: "oracle",
        label: `oracle ${u.name}`,
        details: [`${oracleKindName(u.oracleKind)} account ${oracle} at ${formatE8(u.localnetPriceE8)} USD (${target.kind === "litesvm" ? "LiteSVM setAccount" : "surfnet_setAccount cheatcode"})`],
        account: pythAccount(oracle, u.oracleKind, quote, u.feedId),
      });
    } else {
      oracles.push({ address: null, problem: "not configured" });
      issue(`${field}.oracle.address`, `required on ${where} (Pyth-format accounts are written only on LiteSVM or a node with Surfpool cheatcodes)`);
    }
    if (u.oracleKind === OracleKind.PythPull && !u.feedIdGiven && target.kind !== "litesvm") {
      issue(`${field}.oracle.feed_id`, `required for a pyth_pull oracle on ${where}`);
    }
    if (oracle) {
      adding.push({
        kind: "create",
        label: `add_underlying ${u.name}`,
        details: [
          `underlying #${u.index} ${address}, oracle ${oracle} (${oracleKindName(u.oracleKind)})`,
          `vol ${fromPpm(u.params.vol)} in [${fromPpm(u.params.volMin)}, ${fromPpm(u.params.volMax)}], scan_range ${fromPpm(u.params.scanRange)}, vol_shock ${fromPpm(u.params.volShock)}, calendar_spread ${fromPpm(u.params.calendarSpread)}`,
        ],
        instructions: withBudget([
          getAddUnderlyingInstruction(
            { admin: payer, exchange, underlying: address, oracle, index: u.index, name: nameBytes(u.name), oracleKind: u.oracleKind, feedId: u.feedId, params: u.params },
            pda,
          ),
        ]),
      });
    }
  }

  // ---------------------------------------------------------------- correlation
  const correlation: DeployAction[] = [];
  if (underlyingCount <= n) {
    // What the rows will hold once the new underlyings exist (add_underlying sets the diagonal only).
    const current = (i: number, j: number) => existing[i]?.correlation[j] ?? (i === j ? PPM : 0n);
    const changed: string[] = [];
    for (let i = 0; i < n; i++) {
      for (let j = i + 1; j < n; j++) {
        const want = spec.correlation[i * n + j]!;
        const have = [current(i, j), current(j, i)];
        if (have.some((x) => x !== want)) {
          changed.push(`correlation[${i}][${j}] (${spec.underlyings[i]!.name}/${spec.underlyings[j]!.name}): ${fromPpm(have[0]!)} -> ${fromPpm(want)}`);
        }
      }
    }
    if (changed.length > 0) {
      correlation.push({
        kind: "update",
        label: "set_correlation",
        details: changed,
        instructions: withBudget([
          withRemainingAccounts(
            getSetCorrelationInstruction({ admin: payer, exchange, matrix: [...spec.correlation] }, pda),
            addresses.map((address) => ({ address, role: AccountRole.WRITABLE })),
          ),
        ]),
      });
    }
  }

  // ---------------------------------------------------------------- collateral
  const collateral: DeployAction[] = [];
  for (const c of spec.collateral) {
    const field = `collateral[${c.index - 1}]`;
    if (state && c.index < collateralCount) {
      const onChain = state.collateral[c.index]!;
      const fixed = "(no instruction changes it)";
      if (c.mint && onChain.mint !== c.mint) issue(`${field}.mint`, `collateral asset #${c.index} is mint ${onChain.mint}, the config says ${c.mint} ${fixed}`);
      if (onChain.underlying !== c.underlying) {
        issue(`${field}.underlying`, `collateral asset #${c.index} is priced by underlying #${onChain.underlying}, the config says ${spec.underlyings[c.underlying]!.name} ${fixed}`);
      }
      if (onChain.decimals !== c.decimals) issue(`${field}.decimals`, `collateral asset #${c.index}'s mint has ${onChain.decimals} decimals, the config says ${c.decimals}`);
      if (onChain.depositCap !== c.depositCap) issue(`${field}.deposit_cap`, `on-chain ${onChain.depositCap} native units, the config asks ${c.depositCap} ${fixed}`);
      const haircut: [string, number, number][] = [
        ["base", onChain.haircutBase, c.haircut.base],
        ["vol_slope", onChain.haircutVolSlope, c.haircut.volSlope],
        ["conf_slope", onChain.haircutConfSlope, c.haircut.confSlope],
        ["max", onChain.haircutMax, c.haircut.max],
      ];
      for (const [name, have, want] of haircut) {
        if (have !== want) issue(`${field}.haircut.${name}`, `on-chain ${have / 1e6}, the config asks ${want / 1e6} ${fixed}`);
      }
      continue;
    }
    const instructions: Instruction[] = [];
    let mint = c.mint;
    let created = "";
    if (mint) {
      await checkMint(`${field}.mint`, mint, c.decimals, `${field}.decimals`);
    } else if (target.localnet) {
      const made = await newMint(c.decimals);
      mint = made.mint.address;
      instructions.push(...made.instructions);
      created = ` (new mint, authority ${payer.address})`;
    } else {
      issue(`${field}.mint`, `required on ${where} (the script creates mints only on localnet)`);
      continue;
    }
    const [vault] = await findVaultPda({ exchange, mint }, pda);
    instructions.push(
      getAddCollateralAssetInstruction({ admin: payer, exchange, mint, vault, underlying: c.underlying, depositCap: c.depositCap, haircut: c.haircut }, pda),
    );
    const h = c.haircut;
    collateral.push({
      kind: "create",
      label: `add_collateral_asset ${c.symbol}`,
      details: [
        `asset #${c.index} mint ${mint}${created}, ${c.decimals} decimals, vault ${vault}, priced by ${spec.underlyings[c.underlying]!.name}`,
        `deposit cap ${c.depositCap} native units; haircut ${h.base / 1e6} + ${h.volSlope / 1e6} x vol + ${h.confSlope / 1e6} x conf/price, at most ${h.max / 1e6}`,
      ],
      instructions,
    });
  }
  if (state && collateralCount - 1 > spec.collateral.length) {
    notes.push(`the exchange has ${collateralCount - 1} collateral assets besides the quote, the config lists ${spec.collateral.length}: the others are left alone`);
  }

  // ---------------------------------------------------------------- instruments
  const listings: DeployAction[] = [];
  /** Options listed by this plan, by underlying: [registry index, expiry]. */
  const newOptions = new Map<number, [number, bigint][]>();
  spec.instruments.forEach((instrument, i) => {
    const field = `instruments[${i}]`;
    const u = spec.underlyings[instrument.underlying]!;
    const onChain = existing[instrument.underlying];
    if (onChain && instrument.index < onChain.instrumentCount) {
      const have = onChain.instruments[instrument.index]!;
      if (have.kind !== instrument.kind) {
        issue(`${field}.kind`, `${u.name} instrument #${instrument.index} is a ${kindName(have.kind)}, the config says ${kindName(instrument.kind)} (listings are matched by position per underlying)`);
      } else if (have.strike !== instrument.strike) {
        issue(`${field}.strike`, `${u.name} instrument #${instrument.index} has strike ${fromPpm(have.strike)}, the config says ${fromPpm(instrument.strike)}`);
      } else if (have.contractSize !== instrument.contractSize) {
        issue(`${field}.contract_size`, `${u.name} instrument #${instrument.index} has contract size ${fromPpm(have.contractSize)}, the config says ${fromPpm(instrument.contractSize)}`);
      }
      return;
    }
    const expiry = now + instrument.expirySeconds;
    if (instrument.kind !== InstrumentKind.Future) {
      newOptions.set(instrument.underlying, [...(newOptions.get(instrument.underlying) ?? []), [instrument.index, expiry]]);
    }
    listings.push({
      kind: "create",
      label: `list_instrument ${instrument.id}`,
      details: [
        `${u.name} #${instrument.index}: ${kindName(instrument.kind)}${instrument.kind === 0 ? "" : ` strike ${fromPpm(instrument.strike)}`}, ` +
          `contract size ${fromPpm(instrument.contractSize)}, expiry ${new Date(Number(expiry) * 1000).toISOString()}`,
      ],
      instructions: withBudget([
        getListInstrumentInstruction(
          { admin: payer, exchange, underlying: addresses[instrument.underlying]!, kind: instrument.kind, strike: instrument.strike, expiry, contractSize: instrument.contractSize },
          pda,
        ),
      ]),
    });
  });
  existing.forEach((onChain, u) => {
    const listed = spec.instruments.filter((i) => i.underlying === u).length;
    if (onChain && onChain.instrumentCount > listed) {
      notes.push(
        `${spec.underlyings[u]!.name} has ${onChain.instrumentCount} instruments, the config lists ${listed}: ` +
          "the others are left alone (their risk arrays are still refreshed when stale)",
      );
    }
  });

  // ---------------------------------------------------------------- risk arrays
  const refreshes: DeployAction[] = [];
  spec.underlyings.forEach((u, i) => {
    const onChain = existing[i] ?? null;
    const oracle = oracles[i];
    // Every active option after the plan: the registry on chain, then this plan's listings.
    const options: { index: number; expiry: bigint; cached?: CachedRiskArray }[] = [];
    for (let k = 0; onChain && k < onChain.instrumentCount; k++) {
      const listed = onChain.instruments[k]!;
      if (listed.kind === InstrumentKind.Future || listed.status !== InstrumentStatus.Active) continue;
      options.push({ index: k, expiry: listed.expiry, cached: existingArrays[i]![k] });
    }
    for (const [index, expiry] of newOptions.get(i) ?? []) options.push({ index, expiry });
    if (options.length === 0 || !oracle || !oracle.address) return;
    const nameOf = (k: number) => spec.instruments.find((x) => x.underlying === i && x.index === k)?.id ?? `${u.name} #${k}`;
    const expired = options.filter((o) => o.expiry <= now);
    for (const o of expired) notes.push(`${nameOf(o.index)}: expired, awaiting settle_instrument: its risk array is not refreshed`);
    const live = options.filter((o) => o.expiry > now);
    if (live.length === 0) return;
    if (!("quote" in oracle)) {
      notes.push(`${u.name}: risk arrays not checked or refreshed: the oracle ${oracle.address} ${oracle.problem}`);
      return;
    }
    const price = pythPriceE6(oracle.quote.price, oracle.quote.expo);
    // The market once the plan is applied: the config's parameters, the EWMA on chain.
    const market: RiskArrayMarket = {
      price,
      now,
      vol: maxBig(u.params.vol, isqrt(onChain?.ewmaVariance ?? 0n)),
      scanRange: u.params.scanRange,
      volShock: u.params.volShock,
      rate: spec.params.rate,
      extremeMultiple: spec.params.extremeMultiple,
      initialMultiplier: spec.params.initialMultiplier,
    };
    const stale = live
      .map((o) => ({ ...o, status: riskArrayStatus(o.cached, market) }))
      .filter((o): o is typeof o & { status: { fresh: false; detail: string } } => !o.status.fresh);
    if (stale.length === 0) return;
    // `refresh_risk_array` accepts any price the liquidation class does (index 1).
    const unusable = oracleProblem(oracle.quote, spec.params.oracleLimits[1]!, now);
    if (unusable) {
      notes.push(
        `${u.name}: ${stale.length} option risk array${stale.length === 1 ? "" : "s"} need${stale.length === 1 ? "s" : ""} a refresh ` +
          `(${stale.map((o) => `${nameOf(o.index)}: ${o.status.detail}`).join("; ")}), but the oracle ${oracle.address} ${unusable}: ` +
          "not refreshed (run the deploy again, or the keeper, once it publishes)",
      );
      return;
    }
    const underlying = addresses[i]!;
    const band = riskArrayBand({ spot: price, band: RISK_ARRAY_BAND });
    for (const o of stale) {
      const maxAge = minBig(RISK_ARRAY_MAX_AGE, (o.expiry - now) / 2n);
      refreshes.push({
        kind: "refresh",
        label: `refresh_risk_array ${nameOf(o.index)}`,
        details: [
          `${u.name} #${o.index}: ${o.status.detail}`,
          `built at ${formatE6(price)} USD, vol ${fromPpm(market.vol)}: usable at ${formatE6(band.low)} to ${formatE6(band.high)} USD for up to ${maxAge} s`,
        ],
        instructions: getRefreshRiskArrayTransaction({ exchange, underlying, oracle: oracle.address }, o.index, pda).instructions,
        riskArray: { underlying, instrument: o.index, name: nameOf(o.index) },
      });
    }
  });

  if (issues.length > 0) throw new ConfigError(issues, `${where}: the config cannot be applied to exchange ${exchange}`);
  return {
    target: where,
    exchange,
    admin: payer.address,
    actions: [
      ...actions,
      ...shrinking,
      ...(paramsUpdate ? [paramsUpdate] : []),
      ...growing,
      ...adding,
      ...correlation,
      ...collateral,
      ...listings,
      ...refreshes,
    ],
    notes,
  };
}

/** A transaction failed after `sent` actions were applied (re-running finishes the job). */
export class PartialDeployError extends Error {
  constructor(
    message: string,
    readonly sent: DeployResult["sent"],
  ) {
    super(message);
    this.name = "PartialDeployError";
  }
}

/** Sends the plan's actions in order (one transaction each); stops at the first failure. */
export async function applyDeployment(
  plan: DeployPlan,
  options: Pick<DeployOptions, "target" | "payer"> & { log?: (line: string) => void },
): Promise<DeployResult["sent"]> {
  const sent: DeployResult["sent"] = [];
  for (const action of plan.actions) {
    if (action.account) {
      if (!options.target.setAccount) throw new Error(`${action.label}: ${options.target.description} cannot write accounts`);
      await options.target.setAccount(action.account);
      sent.push({ label: action.label });
      options.log?.(`  done ${action.label}`);
      continue;
    }
    try {
      const signature = await options.target.send(action.instructions!, options.payer);
      sent.push({ label: action.label, signature });
      options.log?.(`  done ${action.label}  ${signature}`);
    } catch (error) {
      const detail = error instanceof Error ? error.message : String(error);
      const logs = (error as { logs?: string[] }).logs ?? [];
      throw new PartialDeployError(
        `${action.label} failed after ${sent.length} of ${plan.actions.length} actions: ${detail}${logs.length ? `\n${logs.join("\n")}` : ""}`,
        sent,
      );
    }
  }
  return sent;
}

/** Plans, prints the plan, and (unless `dryRun`) applies it. */
export async function deployMarket(options: DeployOptions & { dryRun?: boolean; log?: (line: string) => void }): Promise<DeployResult> {
  const log = options.log ?? (() => {});
  const plan = await planDeployment(options);
  log(`exchange ${plan.exchange} on ${plan.target} (admin ${plan.admin})`);
  for (const note of plan.notes) log(`  note: ${note}`);
  if (plan.actions.length === 0) {
    log("nothing to do: the exchange matches the config");
    return { plan, sent: [] };
  }
  log(`${options.dryRun ? "plan (dry run, nothing sent)" : "plan"}: ${plan.actions.length} action${plan.actions.length === 1 ? "" : "s"}`);
  for (const action of plan.actions) {
    log(`  ${action.kind === "update" ? "~" : action.kind === "refresh" ? "*" : "+"} ${action.label}`);
    for (const line of action.details) log(`      ${line}`);
  }
  if (options.dryRun) return { plan, sent: [] };
  const sent = await applyDeployment(plan, { ...options, log });
  const count = (kind: DeployAction["kind"]) => plan.actions.filter((a) => a.kind === kind).length;
  const created = count("create") + count("oracle");
  const refreshed = count("refresh");
  log(
    `applied ${sent.length} action${sent.length === 1 ? "" : "s"}: ${created} created, ${count("update")} updated` +
      (refreshed > 0 ? `, ${refreshed} risk array${refreshed === 1 ? "" : "s"} refreshed` : ""),
  );
  // What the refreshes built, read back from the chain.
  for (const action of plan.actions) {
    if (!action.riskArray) continue;
    const account = await options.target.getAccount(action.riskArray.underlying);
    const cached = account ? decodeCachedRiskArrays(account.data)[action.riskArray.instrument] : undefined;
    if (!cached || cached.spot === 0n) {
      log(`  risk array ${action.riskArray.name}: not built`);
      continue;
    }
    const band = riskArrayBand(cached);
    log(
      `  risk array ${action.riskArray.name}: built at ${formatE6(cached.spot)} USD, vol ${fromPpm(cached.vol)}; ` +
        `usable at ${formatE6(band.low)} to ${formatE6(band.high)} USD until ${new Date(Number(cached.builtAt + cached.maxAge) * 1000).toISOString()}`,
    );
  }
  return { plan, sent };
}

// ------------------------------------------------------------------ helpers

/** `SystemProgram::CreateAccount` + `spl_token::InitializeMint2` (no freeze authority). */
/** System `CreateAccount`: `account` (a new keypair) gets `lamports` and `space` bytes owned by `owner`. */
export function createAccountInstruction(payer: TransactionSigner, account: KeyPairSigner, lamports: bigint, space: number, owner: Address): Instruction {
  const data = new Uint8Array(4 + 8 + 8 + 32);
  const view = new DataView(data.buffer);
  view.setUint32(0, 0, true); // CreateAccount
  view.setBigUint64(4, lamports, true);
  view.setBigUint64(12, BigInt(space), true);
  data.set(getAddressEncoder().encode(owner), 20);
  const signers: AccountSignerMeta[] = [
    { address: payer.address, role: AccountRole.WRITABLE_SIGNER, signer: payer },
    { address: account.address, role: AccountRole.WRITABLE_SIGNER, signer: account },
  ];
  return { programAddress: SYSTEM_PROGRAM_ADDRESS, accounts: signers, data };
}

export function createMintInstructions(payer: TransactionSigner, mint: KeyPairSigner, decimals: number, rent: bigint): Instruction[] {
  const init = new Uint8Array(1 + 1 + 32 + 1);
  init[0] = 20; // InitializeMint2
  init[1] = decimals;
  init.set(getAddressEncoder().encode(payer.address), 2);
  init[34] = 0; // freeze authority: None
  return [
    createAccountInstruction(payer, mint, rent, MINT_LEN, TOKEN_PROGRAM_ADDRESS),
    { programAddress: TOKEN_PROGRAM_ADDRESS, accounts: [{ address: mint.address, role: AccountRole.WRITABLE }], data: init },
  ];
}

/** Config names of the risk parameters before `oracle_limits`, in the program's order. */
const PARAM_FIELDS: [keyof RiskParameters, string, "ppm" | "int"][] = [
  ["rate", "rate", "ppm"],
  ["extremeMultiple", "extreme_multiple", "ppm"],
  ["extremeFraction", "extreme_fraction", "ppm"],
  ["initialMultiplier", "initial_multiplier", "ppm"],
  ["shortOptionMin", "short_option_min", "ppm"],
  ["liquidationFeeStart", "liquidation_fee_start", "ppm"],
  ["liquidationFeeMax", "liquidation_fee_max", "ppm"],
  ["liquidationFeeRampSecs", "liquidation_fee_ramp_secs", "int"],
  ["insuranceFeeShare", "insurance_fee_share", "ppm"],
  ["liquidationBuffer", "liquidation_buffer", "ppm"],
  ["volUpdateIntervalSecs", "vol_update_interval_secs", "int"],
  ["volHalfLifeSecs", "vol_half_life_secs", "int"],
  ["priceBand", "price_band", "ppm"],
  ["liquidationMaxFraction", "liquidation_max_fraction", "ppm"],
  ["dustValue", "dust_value (native units)", "int"],
];
/** And those appended after `oracle_limits`. */
const APPENDED_PARAM_FIELDS: [keyof RiskParameters, string, "ppm" | "int"][] = [
  ["optionBandVol", "option_band_vol", "ppm"],
  ["optionBandFloor", "option_band_floor", "ppm"],
  ["volMaxStep", "vol_max_step", "ppm"],
];
const LIMIT_NAMES = ["risk", "liquidation", "settlement"];

function diffParams(have: RiskParameters, want: RiskParameters): string[] {
  const out: string[] = [];
  const diffFields = (fields: typeof PARAM_FIELDS) => {
    for (const [key, name, unit] of fields) {
      const a = have[key] as bigint;
      const b = want[key] as bigint;
      if (a !== b) out.push(`risk_parameters.${name}: ${unit === "ppm" ? fromPpm(a) : a} -> ${unit === "ppm" ? fromPpm(b) : b}`);
    }
  };
  diffFields(PARAM_FIELDS);
  LIMIT_NAMES.forEach((name, i) => {
    const a = have.oracleLimits[i]!;
    const b = want.oracleLimits[i]!;
    const field = `risk_parameters.oracle_limits.${name}`;
    if (a.maxAgeSecs !== b.maxAgeSecs) out.push(`${field}.max_age_secs: ${a.maxAgeSecs} -> ${b.maxAgeSecs}`);
    if (a.maxConfPpm !== b.maxConfPpm) out.push(`${field}.max_conf: ${a.maxConfPpm / 1e6} -> ${b.maxConfPpm / 1e6}`);
  });
  diffFields(APPENDED_PARAM_FIELDS);
  return out;
}

function diffUnderlyingParams(field: string, have: Underlying, want: { [K in keyof UnderlyingParamsArgs]: bigint }): string[] {
  const pairs: [string, bigint, bigint][] = [
    ["vol", have.vol, BigInt(want.vol)],
    ["vol_min", have.volMin, BigInt(want.volMin)],
    ["vol_max", have.volMax, BigInt(want.volMax)],
    ["scan_range", have.scanRange, BigInt(want.scanRange)],
    ["vol_shock", have.volShock, BigInt(want.volShock)],
    ["calendar_spread", have.calendarSpread, BigInt(want.calendarSpread)],
  ];
  return pairs.filter(([, a, b]) => a !== b).map(([name, a, b]) => `${field}.${name}: ${fromPpm(a)} -> ${fromPpm(b)}`);
}

const oracleKindName = (kind: number) => (kind === OracleKind.PythPull ? "pyth_pull" : kind === OracleKind.PythLegacy ? "pyth_legacy" : `kind ${kind}`);
const kindName = (kind: number) => ["future", "call", "put"][kind] ?? `kind ${kind}`;
const hex = (bytes: ArrayLike<number>) => Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
const equalBytes = (a: ArrayLike<number>, b: ArrayLike<number>) => a.length === b.length && Array.from(a).every((x, i) => x === b[i]);
const formatE8 = (x: bigint) => (Number(x) / 1e8).toString();
const formatE6 = (x: bigint) => (Number(x) / 1e6).toString();
const maxBig = (a: bigint, b: bigint) => (a > b ? a : b);
const minBig = (a: bigint, b: bigint) => (a < b ? a : b);

/** An oracle account's price (Pyth layout only), or why it cannot be read. */
async function readOracle(
  target: DeployTarget,
  address: Address,
  kind: number,
): Promise<{ address: Address; quote: PythQuote } | { address: Address; problem: string }> {
  const account = await target.getAccount(address);
  if (!account) return { address, problem: "does not exist" };
  try {
    return { address, quote: decodePythPrice(account.data, kind) };
  } catch (error) {
    return { address, problem: `cannot be read (${(error as Error).message})` };
  }
}

/** Why `refresh_risk_array` would refuse this oracle reading under the liquidation limits (`oracle::validate`), if it would. */
function oracleProblem(quote: PythQuote, limits: { maxAgeSecs: number; maxConfPpm: number }, now: bigint): string | undefined {
  if (quote.trading === false) return "is not trading";
  if (quote.price <= 0n || quote.emaPrice <= 0n) return "has a non-positive price";
  const age = now - quote.publishTime;
  if (age > BigInt(limits.maxAgeSecs)) return `was published ${age} s ago (liquidation limit ${limits.maxAgeSecs} s)`;
  if (quote.conf * PPM > quote.price * BigInt(limits.maxConfPpm)) {
    return `has a confidence of ${(Number(quote.conf) / Number(quote.price)).toPrecision(3)} of its price (liquidation limit ${limits.maxConfPpm / 1e6})`;
  }
  return undefined;
}
