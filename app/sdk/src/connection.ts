/**
 * What the client needs from a cluster: account bytes and transaction simulation. Two
 * implementations: a kit RPC (`createRpcConnection`, any validator or cluster) and an in-process
 * LiteSVM (`createLiteSvmConnection`, local tests). Anything else that can read accounts and
 * simulate (a bankrun, a cache) can implement the interface.
 */
import {
  appendTransactionMessageInstructions,
  compileTransaction,
  createTransactionMessage,
  getBase64Decoder,
  getBase64EncodedWireTransaction,
  getBase64Encoder,
  pipe,
  setTransactionMessageFeePayer,
  setTransactionMessageFeePayerSigner,
  setTransactionMessageLifetimeUsingBlockhash,
  signTransactionMessageWithSigners,
  type Address,
  type Base64EncodedWireTransaction,
  type Blockhash,
  type Instruction,
  type ReadonlyUint8Array,
  type Transaction,
  type TransactionSigner,
} from "@solana/kit";
import { getPortfolioMarginError } from "./errors.js";

export type SimulationResult = {
  /** The program's return data (empty when it set none). */
  returnData: Uint8Array;
  unitsConsumed?: bigint;
  logs: string[];
};

export interface PortfolioMarginConnection {
  /** The account's data, or `null` when it does not exist. */
  getAccountData(address: Address): Promise<ReadonlyUint8Array | null>;
  /** Simulates the instructions in one transaction; throws `SimulationError` when it fails. */
  simulate(instructions: readonly Instruction[]): Promise<SimulationResult>;
}

/** A failed simulation, with the program error decoded from the logs when there is one. */
export class SimulationError extends Error {
  readonly logs: string[];
  /** The custom error code (`6000 + MarginError` variant, or an Anchor framework code). */
  readonly code?: number;
  readonly errorName?: string;
  constructor(detail: string, logs: string[]) {
    const code = customErrorCode(logs);
    const known = code === undefined ? undefined : getPortfolioMarginError(code);
    super(
      known
        ? `simulation failed: ${known.name} (${known.code}): ${known.msg}`
        : `simulation failed: ${detail}${code === undefined ? "" : ` (custom error ${code})`}`,
    );
    this.name = "SimulationError";
    this.logs = logs;
    this.code = code;
    this.errorName = known?.name;
  }
}

/** The custom program error code in a failed transaction's logs, if any. */
export function customErrorCode(logs: readonly string[]): number | undefined {
  for (let i = logs.length - 1; i >= 0; i--) {
    const match = /custom program error: 0x([0-9a-f]+)/i.exec(logs[i]!);
    if (match) return parseInt(match[1]!, 16);
  }
  return undefined;
}

// ------------------------------------------------------------------ kit RPC

/** The part of kit's `Rpc<SolanaRpcApi>` the client uses. */
export type RpcLike = {
  getAccountInfo(
    address: Address,
    config: { encoding: "base64" },
  ): { send(): Promise<{ value: { data: readonly [string, string] | [string, string] } | null }> };
  simulateTransaction(
    transaction: Base64EncodedWireTransaction,
    config: { encoding: "base64"; sigVerify: false; replaceRecentBlockhash: true },
  ): {
    send(): Promise<{
      value: {
        err: unknown;
        logs: readonly string[] | null;
        unitsConsumed?: bigint;
        returnData: { data: readonly [string, string] | [string, string] } | null;
      };
    }>;
  };
};

/**
 * A connection over a kit RPC (`createSolanaRpc(url)`). Simulations are unsigned
 * (`sigVerify: false`, `replaceRecentBlockhash: true`) and paid by `feePayer`, which must exist.
 */
export function createRpcConnection(rpc: RpcLike, feePayer: Address): PortfolioMarginConnection {
  const base64 = getBase64Encoder();
  return {
    async getAccountData(address) {
      const { value } = await rpc.getAccountInfo(address, { encoding: "base64" }).send();
      return value ? base64.encode(value.data[0]) : null;
    },
    async simulate(instructions) {
      const message = pipe(
        createTransactionMessage({ version: 0 }),
        (m) => setTransactionMessageFeePayer(feePayer, m),
        // Replaced by the node (replaceRecentBlockhash); any well-formed hash will do.
        (m) =>
          setTransactionMessageLifetimeUsingBlockhash(
            { blockhash: "11111111111111111111111111111111" as Blockhash, lastValidBlockHeight: 0n },
            m,
          ),
        (m) => appendTransactionMessageInstructions(instructions, m),
      );
      const wire = getBase64EncodedWireTransaction(compileTransaction(message));
      const { value } = await rpc
        .simulateTransaction(wire, { encoding: "base64", sigVerify: false, replaceRecentBlockhash: true })
        .send();
      const logs = [...(value.logs ?? [])];
      if (value.err) throw new SimulationError(JSON.stringify(value.err, (_, v) => (typeof v === "bigint" ? v.toString() : v)), logs);
      return {
        returnData: value.returnData ? Uint8Array.from(base64.encode(value.returnData.data[0])) : new Uint8Array(),
        unitsConsumed: value.unitsConsumed,
        logs,
      };
    },
  };
}

// ------------------------------------------------------------------ LiteSVM

/** The part of npm `litesvm`'s `LiteSVM` the connection uses (typed structurally: no import). */
export type LiteSvmLike = {
  getAccount(address: Address): { exists: boolean; data?: Uint8Array | ReadonlyUint8Array };
  latestBlockhash(): Blockhash;
  simulateTransaction(transaction: Transaction): unknown;
};

type LiteSvmMeta = { logs(): string[]; computeUnitsConsumed(): bigint; returnData(): { data(): Uint8Array } };
type LiteSvmFailure = { err(): unknown; meta(): LiteSvmMeta; toString(): string };
type LiteSvmSimulated = { meta(): LiteSvmMeta };

/** A connection over an in-process LiteSVM; simulations are signed by `feePayer`. */
export function createLiteSvmConnection(svm: LiteSvmLike, feePayer: TransactionSigner): PortfolioMarginConnection {
  return {
    async getAccountData(address) {
      const account = svm.getAccount(address);
      return account.exists && account.data ? account.data : null;
    },
    async simulate(instructions) {
      const message = pipe(
        createTransactionMessage({ version: 0 }),
        (m) => setTransactionMessageFeePayerSigner(feePayer, m),
        (m) => setTransactionMessageLifetimeUsingBlockhash({ blockhash: svm.latestBlockhash(), lastValidBlockHeight: 0n }, m),
        (m) => appendTransactionMessageInstructions(instructions, m),
      );
      const transaction = await signTransactionMessageWithSigners(message);
      const result = svm.simulateTransaction(transaction) as LiteSvmFailure | LiteSvmSimulated;
      if ("err" in result) {
        throw new SimulationError(String(result.toString()), result.meta().logs());
      }
      const meta = result.meta();
      return {
        returnData: Uint8Array.from(meta.returnData().data()),
        unitsConsumed: meta.computeUnitsConsumed(),
        logs: meta.logs(),
      };
    },
  };
}

/** Base64 of bytes (for logs and RPC payloads). */
export const toBase64 = (bytes: ReadonlyUint8Array) => getBase64Decoder().decode(bytes);
