/**
 * One builder per instruction. Each takes its accounts by name (an `Address`, or a kit
 * `TransactionSigner` where the program wants a signature, so `signTransactionMessageWithSigners`
 * finds it), its arguments, and, where the program reads them, `remainingAccounts`.
 *
 * These builders put remaining accounts where the caller says. `PortfolioMarginClient`
 * (client.ts) works them out itself in the documented order (src/margin.rs).
 * `ACCOUNTS` is the single table of every instruction's accounts, in the program's order with
 * their roles; `test/idl.test.ts` checks it against the IDL.
 */
import {
  AccountRole,
  getArrayEncoder,
  getI64Encoder,
  type AccountMeta,
  type AccountSignerMeta,
  type Address,
  type Encoder,
  type Instruction,
  type TransactionSigner,
} from "@solana/kit";
import {
  addCollateralAssetArgsCodec,
  addUnderlyingArgsCodec,
  addressCodec,
  initializeExchangeArgsCodec,
  liquidateArgsCodec,
  listInstrumentArgsCodec,
  riskParametersCodec,
  tradeArgsCodec,
  u32Codec,
  u64Codec,
  u8Codec,
  underlyingParamsArgsCodec,
  type AddCollateralAssetArgs,
  type AddUnderlyingArgs,
  type InitializeExchangeArgs,
  type LiquidateArgs,
  type ListInstrumentArgs,
  type RiskParameters,
  type TradeArgs,
  type Instrument,
  type Underlying,
  type UnderlyingParamsArgs,
} from "./codecs.js";
import {
  COMPUTE_BUDGET_PROGRAM_ADDRESS,
  InstrumentKind,
  InstrumentStatus,
  PORTFOLIO_MARGIN_PROGRAM_ADDRESS,
  REFRESH_RISK_ARRAY_COMPUTE_UNITS,
  SYSTEM_PROGRAM_ADDRESS,
  TOKEN_PROGRAM_ADDRESS,
} from "./constants.js";
import { instructionDiscriminator } from "./idl.js";

/** `w`: writable, `s`: signer. */
type Role = "" | "w" | "s" | "ws";

/** Every instruction's accounts in the program's order (Rust `#[derive(Accounts)]` structs). */
export const ACCOUNTS = {
  initialize_exchange: [["creator", "ws"], ["exchange", "w"], ["quote_mint", ""], ["quote_vault", "w"], ["insurance_vault", "w"], ["token_program", ""], ["system_program", ""]],
  add_collateral_asset: [["admin", "ws"], ["exchange", "w"], ["mint", ""], ["vault", "w"], ["token_program", ""], ["system_program", ""]],
  add_underlying: [["admin", "ws"], ["exchange", "w"], ["underlying", "w"], ["oracle", ""], ["system_program", ""]],
  list_instrument: [["admin", "ws"], ["exchange", ""], ["underlying", "w"], ["system_program", ""]],
  set_parameters: [["admin", "s"], ["exchange", "w"]],
  set_underlying_params: [["admin", "s"], ["exchange", ""], ["underlying", "w"]],
  set_correlation: [["admin", "s"], ["exchange", ""]],
  set_pause: [["admin", "s"], ["exchange", "w"]],
  propose_admin: [["admin", "s"], ["exchange", "w"]],
  accept_admin: [["pending_admin", "s"], ["exchange", "w"]],
  create_margin_account: [["owner", "ws"], ["exchange", ""], ["margin_account", "w"], ["system_program", ""]],
  set_delegate: [["owner", "s"], ["margin_account", "w"]],
  deposit: [["authority", "s"], ["exchange", "w"], ["margin_account", "w"], ["mint", ""], ["vault", "w"], ["source", "w"], ["token_program", ""]],
  withdraw: [["owner", "s"], ["exchange", "w"], ["margin_account", "w"], ["mint", ""], ["vault", "w"], ["destination", "w"], ["token_program", ""]],
  close_margin_account: [["owner", "ws"], ["margin_account", "w"]],
  trade: [["signer_a", "s"], ["signer_b", "s"], ["exchange", "w"], ["account_a", "w"], ["account_b", "w"]],
  update_volatility: [["exchange", ""], ["underlying", "w"], ["oracle", ""]],
  settle_instrument: [["exchange", ""], ["underlying", "w"], ["oracle", ""]],
  refresh_risk_array: [["exchange", ""], ["underlying", "w"], ["oracle", ""]],
  settle_positions: [["exchange", "w"], ["margin_account", "w"]],
  liquidate: [["liquidator_authority", "s"], ["exchange", "w"], ["liquidator", "w"], ["liquidatee", "w"], ["quote_vault", "w"], ["insurance_vault", "w"], ["token_program", ""]],
  resolve_bankruptcy: [["exchange", "w"], ["margin_account", "w"], ["quote_vault", "w"], ["insurance_vault", "w"], ["token_program", ""]],
  deposit_insurance: [["depositor", "s"], ["exchange", "w"], ["insurance_vault", "w"], ["source", "w"], ["token_program", ""]],
  margin_report: [["exchange", ""], ["margin_account", ""]],
} as const satisfies Record<string, readonly (readonly [string, Role])[]>;

export type InstructionName = keyof typeof ACCOUNTS;

type SnakeToCamel<S extends string> = S extends `${infer H}_${infer T}` ? `${H}${Capitalize<SnakeToCamel<T>>}` : S;
/** Programs with a fixed address default to it. */
type Defaulted = "tokenProgram" | "systemProgram";
type AccountsOf<N extends InstructionName> = {
  [K in (typeof ACCOUNTS)[N][number] as SnakeToCamel<K[0]>]: K[1] extends "s" | "ws" ? TransactionSigner | Address : Address;
};
export type InstructionAccounts<N extends InstructionName> = Omit<AccountsOf<N>, Defaulted> &
  Partial<Pick<AccountsOf<N>, Extract<keyof AccountsOf<N>, Defaulted>>>;

export type BuildOptions = {
  programAddress?: Address;
  /** Appended after the named accounts, in order. */
  remainingAccounts?: readonly AccountMeta[];
};

const camel = (snake: string) => snake.replace(/_([a-z])/g, (_, c: string) => c.toUpperCase());
const DEFAULTS: Record<string, Address> = { tokenProgram: TOKEN_PROGRAM_ADDRESS, systemProgram: SYSTEM_PROGRAM_ADDRESS };

function isSigner(value: unknown): value is TransactionSigner {
  return typeof value === "object" && value !== null && "address" in value;
}

/** The address of an account given as an address or a signer. */
export function addressOf(value: Address | TransactionSigner): Address {
  return isSigner(value) ? value.address : value;
}

function meta(value: Address | TransactionSigner, role: Role): AccountMeta | AccountSignerMeta {
  const address = addressOf(value);
  switch (role) {
    case "":
      return { address, role: AccountRole.READONLY };
    case "w":
      return { address, role: AccountRole.WRITABLE };
    case "s":
    case "ws": {
      const signerRole = role === "s" ? AccountRole.READONLY_SIGNER : AccountRole.WRITABLE_SIGNER;
      return isSigner(value) ? { address, role: signerRole, signer: value } : { address, role: signerRole };
    }
  }
}

/** Builds any instruction from its name, named accounts and encoded arguments. */
export function buildInstruction<N extends InstructionName>(
  name: N,
  accounts: InstructionAccounts<N>,
  args: Uint8Array = new Uint8Array(),
  options: BuildOptions = {},
): Instruction {
  const given = accounts as Record<string, Address | TransactionSigner | undefined>;
  const metas = ACCOUNTS[name].map(([snake, role]) => {
    const key = camel(snake);
    const value = given[key] ?? DEFAULTS[key];
    if (value === undefined) throw new Error(`${name}: missing account '${key}'`);
    return meta(value, role as Role);
  });
  const discriminator = instructionDiscriminator(name);
  const data = new Uint8Array(8 + args.length);
  data.set(discriminator);
  data.set(args, 8);
  return {
    programAddress: options.programAddress ?? PORTFOLIO_MARGIN_PROGRAM_ADDRESS,
    accounts: [...metas, ...(options.remainingAccounts ?? [])],
    data,
  };
}

const encode = <T>(encoder: Encoder<T>, value: T) => Uint8Array.from(encoder.encode(value));

// ------------------------------------------------------------------ admin

export const getInitializeExchangeInstruction = (
  accounts: InstructionAccounts<"initialize_exchange">,
  args: InitializeExchangeArgs,
  options?: BuildOptions,
) => buildInstruction("initialize_exchange", accounts, encode(initializeExchangeArgsCodec, args), options);

export const getAddCollateralAssetInstruction = (
  accounts: InstructionAccounts<"add_collateral_asset">,
  args: AddCollateralAssetArgs,
  options?: BuildOptions,
) => buildInstruction("add_collateral_asset", accounts, encode(addCollateralAssetArgsCodec, args), options);

export const getAddUnderlyingInstruction = (
  accounts: InstructionAccounts<"add_underlying">,
  args: AddUnderlyingArgs,
  options?: BuildOptions,
) => buildInstruction("add_underlying", accounts, encode(addUnderlyingArgsCodec, args), options);

/**
 * The admin pays the rent of the instrument's cached risk array (the `Underlying` account grows by
 * `CACHED_RISK_ARRAY_SIZE` bytes), so it is a writable signer; `systemProgram` defaults. An option
 * listed this way has no array yet: refresh it (`getRefreshRiskArrayTransactions`) before any
 * margin check touches it.
 */
export const getListInstrumentInstruction = (
  accounts: InstructionAccounts<"list_instrument">,
  args: ListInstrumentArgs,
  options?: BuildOptions,
) => buildInstruction("list_instrument", accounts, encode(listInstrumentArgsCodec, args), options);

/** `remainingAccounts`: every `Underlying` of the exchange in index order (readonly). */
export const getSetParametersInstruction = (
  accounts: InstructionAccounts<"set_parameters">,
  params: RiskParameters<number | bigint>,
  options?: BuildOptions,
) => buildInstruction("set_parameters", accounts, encode(riskParametersCodec, params), options);

export const getSetUnderlyingParamsInstruction = (
  accounts: InstructionAccounts<"set_underlying_params">,
  params: UnderlyingParamsArgs,
  options?: BuildOptions,
) => buildInstruction("set_underlying_params", accounts, encode(underlyingParamsArgsCodec, params), options);

/**
 * `matrix`: n x n row-major, `expo = -6` (n = the exchange's underlying count).
 * `remainingAccounts`: every `Underlying` in index order, writable.
 */
export const getSetCorrelationInstruction = (
  accounts: InstructionAccounts<"set_correlation">,
  matrix: readonly (number | bigint)[],
  options?: BuildOptions,
) => buildInstruction("set_correlation", accounts, encode(getArrayEncoder(getI64Encoder()), [...matrix]), options);

export const getSetPauseInstruction = (accounts: InstructionAccounts<"set_pause">, pauseFlags: number, options?: BuildOptions) =>
  buildInstruction("set_pause", accounts, encode(u8Codec, pauseFlags), options);

export const getProposeAdminInstruction = (
  accounts: InstructionAccounts<"propose_admin">,
  pendingAdmin: Address,
  options?: BuildOptions,
) => buildInstruction("propose_admin", accounts, encode(addressCodec, pendingAdmin), options);

export const getAcceptAdminInstruction = (accounts: InstructionAccounts<"accept_admin">, options?: BuildOptions) =>
  buildInstruction("accept_admin", accounts, undefined, options);

// ------------------------------------------------------------------ user

export const getCreateMarginAccountInstruction = (
  accounts: InstructionAccounts<"create_margin_account">,
  accountId: number,
  options?: BuildOptions,
) => buildInstruction("create_margin_account", accounts, encode(u32Codec, accountId), options);

export const getSetDelegateInstruction = (accounts: InstructionAccounts<"set_delegate">, delegate: Address, options?: BuildOptions) =>
  buildInstruction("set_delegate", accounts, encode(addressCodec, delegate), options);

const assetAmount = (asset: number, amount: number | bigint) =>
  Uint8Array.from([...u8Codec.encode(asset), ...u64Codec.encode(amount)]);

export const getDepositInstruction = (
  accounts: InstructionAccounts<"deposit">,
  args: { asset: number; amount: number | bigint },
  options?: BuildOptions,
) => buildInstruction("deposit", accounts, assetAmount(args.asset, args.amount), options);

/** `remainingAccounts`: the margin check's order for the account as it is after the withdrawal. */
export const getWithdrawInstruction = (
  accounts: InstructionAccounts<"withdraw">,
  args: { asset: number; amount: number | bigint },
  options?: BuildOptions,
) => buildInstruction("withdraw", accounts, assetAmount(args.asset, args.amount), options);

export const getCloseMarginAccountInstruction = (accounts: InstructionAccounts<"close_margin_account">, options?: BuildOptions) =>
  buildInstruction("close_margin_account", accounts, undefined, options);

/** `remainingAccounts`: the margin check's order for both accounts' underlyings plus the traded one. */
export const getTradeInstruction = (accounts: InstructionAccounts<"trade">, args: TradeArgs, options?: BuildOptions) =>
  buildInstruction("trade", accounts, encode(tradeArgsCodec, args), options);

export const getDepositInsuranceInstruction = (
  accounts: InstructionAccounts<"deposit_insurance">,
  amount: number | bigint,
  options?: BuildOptions,
) => buildInstruction("deposit_insurance", accounts, encode(u64Codec, amount), options);

/** A view: simulate it and decode the return data with `marginReportCodec`. */
export const getMarginReportInstruction = (accounts: InstructionAccounts<"margin_report">, options?: BuildOptions) =>
  buildInstruction("margin_report", accounts, undefined, options);

// ------------------------------------------------------------------ keeper

export const getUpdateVolatilityInstruction = (accounts: InstructionAccounts<"update_volatility">, options?: BuildOptions) =>
  buildInstruction("update_volatility", accounts, undefined, options);

export const getSettleInstrumentInstruction = (
  accounts: InstructionAccounts<"settle_instrument">,
  instrument: number,
  options?: BuildOptions,
) => buildInstruction("settle_instrument", accounts, encode(u8Codec, instrument), options);

/**
 * Builds option `instrument`'s cached risk array at the oracle's current price (permissionless).
 * About 330,000 CU: send it alone in a transaction behind
 * `getSetComputeUnitLimitInstruction(REFRESH_RISK_ARRAY_COMPUTE_UNITS)`, or use
 * `getRefreshRiskArrayTransactions`, which does. A future fails with `InvalidInstrumentKind`, a
 * settled option with `InstrumentSettled`.
 */
export const getRefreshRiskArrayInstruction = (
  accounts: InstructionAccounts<"refresh_risk_array">,
  instrument: number,
  options?: BuildOptions,
) => buildInstruction("refresh_risk_array", accounts, encode(u8Codec, instrument), options);

/** One `refresh_risk_array` with its compute-unit limit: send `instructions` as one transaction. */
export type RefreshRiskArrayTransaction = { instrument: number; instructions: Instruction[] };

/** `[setComputeUnitLimit(1,400,000), refresh_risk_array(instrument)]`: one transaction's instructions. */
export function getRefreshRiskArrayTransaction(
  accounts: InstructionAccounts<"refresh_risk_array">,
  instrument: number,
  options: BuildOptions & { computeUnits?: number } = {},
): RefreshRiskArrayTransaction {
  return {
    instrument,
    instructions: [
      getSetComputeUnitLimitInstruction(options.computeUnits ?? REFRESH_RISK_ARRAY_COMPUTE_UNITS),
      getRefreshRiskArrayInstruction(accounts, instrument, { programAddress: options.programAddress }),
    ],
  };
}

/**
 * The `refresh_risk_array` transactions for the active options of `underlying` (decoded; its
 * address is not in the account, so pass it), one per option, each
 * `[setComputeUnitLimit(1,400,000), refresh_risk_array]` (a refresh costs about 330,000 CU; one
 * per transaction keeps each independent). `only` narrows the list (e.g. to stale arrays: see
 * `riskArrayStatus`, or `PortfolioMarginClient.refreshRiskArrays`, which reads the oracle and the
 * clock and keeps the stale ones).
 */
export function getRefreshRiskArrayTransactions(
  underlying: Pick<Underlying, "exchange" | "oracle" | "instruments" | "instrumentCount">,
  underlyingAddress: Address,
  options: BuildOptions & { computeUnits?: number; only?: (instrument: number, listed: Instrument) => boolean } = {},
): RefreshRiskArrayTransaction[] {
  const out: RefreshRiskArrayTransaction[] = [];
  const count = Math.min(underlying.instrumentCount, underlying.instruments.length);
  for (let i = 0; i < count; i++) {
    const listed = underlying.instruments[i]!;
    if (listed.kind === InstrumentKind.Future || listed.status !== InstrumentStatus.Active) continue;
    if (options.only && !options.only(i, listed)) continue;
    out.push(getRefreshRiskArrayTransaction({ exchange: underlying.exchange, underlying: underlyingAddress, oracle: underlying.oracle }, i, options));
  }
  return out;
}

/** `remainingAccounts`: the `Underlying` accounts to settle against, ascending index, readonly. */
export const getSettlePositionsInstruction = (accounts: InstructionAccounts<"settle_positions">, options?: BuildOptions) =>
  buildInstruction("settle_positions", accounts, undefined, options);

/** `remainingAccounts`: the margin check's order for both accounts' underlyings plus the target's. */
export const getLiquidateInstruction = (accounts: InstructionAccounts<"liquidate">, args: LiquidateArgs, options?: BuildOptions) =>
  buildInstruction("liquidate", accounts, encode(liquidateArgsCodec, args), options);

export const getResolveBankruptcyInstruction = (accounts: InstructionAccounts<"resolve_bankruptcy">, options?: BuildOptions) =>
  buildInstruction("resolve_bankruptcy", accounts, undefined, options);

// ------------------------------------------------------------------ compute budget

/**
 * `ComputeBudgetInstruction::SetComputeUnitLimit`. Margin checks of larger books (trades,
 * withdrawals, liquidations, reports) need more than the default 200,000 units per instruction, and
 * `refresh_risk_array` about 330,000.
 */
export function getSetComputeUnitLimitInstruction(units: number): Instruction {
  const data = new Uint8Array(5);
  data[0] = 2;
  new DataView(data.buffer).setUint32(1, units, true);
  return { programAddress: COMPUTE_BUDGET_PROGRAM_ADDRESS, data };
}
