/**
 * The instruction builders are the generated ones (src/generated/instructions: one
 * `get<Name>Instruction` per instruction, `get<Name>InstructionAsync` where the IDL's seeds let
 * them derive PDAs). They take accounts and arguments in one object:
 *
 *   getTradeInstruction({ signerA, signerB, exchange, accountA, accountB, underlying, instrument, quantity, price })
 *
 * What is here adds what the IDL does not carry:
 * - `withRemainingAccounts`: the program reads `Underlying`s and oracles from remaining accounts,
 *   which the generated builders do not take. `PortfolioMarginClient` (client.ts) works out the
 *   margin check's order (src/margin.rs) and appends them with this.
 * - `getSetComputeUnitLimitInstruction` (the compute-budget program's, not ours).
 * - The `refresh_risk_array` transactions (one option each, behind a compute-unit limit).
 */
import type { AccountMeta, Address, Instruction } from "@solana/kit";
import { COMPUTE_BUDGET_PROGRAM_ADDRESS, InstrumentKind, InstrumentStatus, REFRESH_RISK_ARRAY_COMPUTE_UNITS } from "./constants.js";
import { getRefreshRiskArrayInstruction, type Instrument, type Underlying } from "./generated/index.js";

/** `instruction` with `remaining` appended after its named accounts, in order. */
export function withRemainingAccounts<T extends Instruction>(instruction: T, remaining: readonly AccountMeta[]): T {
  if (remaining.length === 0) return instruction;
  return Object.freeze({ ...instruction, accounts: [...(instruction.accounts ?? []), ...remaining] });
}

/** Options of the builders here: the program to address (default: the generated `PORTFOLIO_MARGIN_PROGRAM_ADDRESS`). */
export type BuildOptions = { programAddress?: Address };

// ------------------------------------------------------------------ keeper

/** One `refresh_risk_array` with its compute-unit limit: send `instructions` as one transaction. */
export type RefreshRiskArrayTransaction = { instrument: number; instructions: Instruction[] };

/**
 * `[setComputeUnitLimit(1,400,000), refresh_risk_array(instrument)]`: one transaction's
 * instructions. A refresh builds option `instrument`'s cached risk array at the oracle's current
 * price (permissionless, about 330,000 CU). A future fails with `InvalidInstrumentKind`, a settled
 * option with `InstrumentSettled`.
 */
export function getRefreshRiskArrayTransaction(
  accounts: { exchange: Address; underlying: Address; oracle: Address },
  instrument: number,
  options: BuildOptions & { computeUnits?: number } = {},
): RefreshRiskArrayTransaction {
  const config = options.programAddress ? { programAddress: options.programAddress } : undefined;
  return {
    instrument,
    instructions: [
      getSetComputeUnitLimitInstruction(options.computeUnits ?? REFRESH_RISK_ARRAY_COMPUTE_UNITS),
      getRefreshRiskArrayInstruction({ ...accounts, instrument }, config),
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
