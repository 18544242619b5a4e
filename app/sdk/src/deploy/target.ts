/**
 * Where the deploy script reads and sends: a cluster over JSON-RPC (`createRpcTarget`, any URL) or
 * an in-process LiteSVM (`createLiteSvmTarget`, tests and local runs). LiteSVM, and a Surfpool node
 * through its `surfnet_setAccount` cheatcode, can write accounts directly (`setAccount`), which the
 * script uses for Pyth-format price accounts.
 */
import {
  appendTransactionMessageInstructions,
  createSolanaRpc,
  createTransactionMessage,
  getBase64EncodedWireTransaction,
  getBase64Encoder,
  getSignatureFromTransaction,
  pipe,
  setTransactionMessageFeePayerSigner,
  setTransactionMessageLifetimeUsingBlockhash,
  signTransactionMessageWithSigners,
  type Address,
  type Blockhash,
  type EncodedAccount,
  type Instruction,
  type Signature,
  type Transaction,
  type TransactionSigner,
} from "@solana/kit";
import { customErrorCode } from "../connection.js";
import { getPortfolioMarginError } from "../errors.js";
import type { SurfnetCheatcodes } from "../surfnet.js";

export type TargetAccount = { data: Uint8Array; owner: Address; executable: boolean; lamports: bigint };

export interface DeployTarget {
  readonly kind: "litesvm" | "rpc";
  /** For messages: the URL, or "LiteSVM (in-process)". */
  readonly description: string;
  /** Whether mints may be created here (LiteSVM, or a validator on this machine). */
  readonly localnet: boolean;
  getAccount(address: Address): Promise<TargetAccount | null>;
  rentExempt(space: number): Promise<bigint>;
  /** The cluster's clock (unix seconds). */
  now(): Promise<bigint>;
  /** Signs with the instructions' signers and `feePayer`, sends, waits for confirmation; the signature. */
  send(instructions: readonly Instruction[], feePayer: TransactionSigner): Promise<string>;
  /** LiteSVM, or a node with Surfpool cheatcodes: writes an account. */
  setAccount?(account: EncodedAccount): void | Promise<void>;
}

/** A transaction the cluster rejected, with its logs and the program error when there is one. */
export class SendError extends Error {
  constructor(
    readonly logs: string[],
    readonly code: number | undefined,
    detail: string,
  ) {
    const known = code === undefined ? undefined : getPortfolioMarginError(code);
    super(known ? `${known.name} (${known.code}): ${known.msg}` : detail);
    this.name = "SendError";
  }
}

const CLOCK_SYSVAR = "SysvarC1ock11111111111111111111111111111111" as Address;

// ------------------------------------------------------------------ JSON-RPC

/** Whether `url` points at this machine (a local `solana-test-validator`). */
export function isLocalUrl(url: string): boolean {
  try {
    const host = new URL(url).hostname;
    return host === "localhost" || host === "127.0.0.1" || host === "[::1]" || host === "0.0.0.0";
  } catch {
    return false;
  }
}

/**
 * A cluster over JSON-RPC. With `cheatcodes` (a Surfpool node's, `surfnetCheatcodes(url)`), the
 * target can also write accounts. Confirmations are polled every `pollMs` (400 by default, a slot;
 * 50 on this machine).
 */
export function createRpcTarget(url: string, options: { confirmTimeoutMs?: number; cheatcodes?: SurfnetCheatcodes; pollMs?: number } = {}): DeployTarget {
  const rpc = createSolanaRpc(url);
  const base64 = getBase64Encoder();
  const timeout = options.confirmTimeoutMs ?? 60_000;
  const poll = options.pollMs ?? (isLocalUrl(url) ? 50 : 400);
  const cheatcodes = options.cheatcodes;
  const target: DeployTarget = {
    kind: "rpc",
    description: url,
    localnet: isLocalUrl(url),
    async getAccount(address) {
      const { value } = await rpc.getAccountInfo(address, { encoding: "base64", commitment: "confirmed" }).send();
      if (!value) return null;
      return { data: Uint8Array.from(base64.encode(value.data[0])), owner: value.owner, executable: value.executable, lamports: BigInt(value.lamports) };
    },
    async rentExempt(space) {
      return BigInt(await rpc.getMinimumBalanceForRentExemption(BigInt(space)).send());
    },
    async now() {
      const clock = await target.getAccount(CLOCK_SYSVAR);
      if (!clock) throw new Error(`${url}: no clock sysvar`);
      return new DataView(clock.data.buffer, clock.data.byteOffset).getBigInt64(32, true);
    },
    async send(instructions, feePayer) {
      // A blockhash the node has already dropped (many blocks went by since it was fetched, as
      // when hundreds of loader writes are in flight) is retried with a fresh one, as wallets do.
      let signature: Signature | undefined;
      for (let attempt = 1; !signature; attempt++) {
        const { value: latest } = await rpc.getLatestBlockhash({ commitment: "confirmed" }).send();
        const message = pipe(
          createTransactionMessage({ version: 0 }),
          (m) => setTransactionMessageFeePayerSigner(feePayer, m),
          (m) => setTransactionMessageLifetimeUsingBlockhash(latest, m),
          (m) => appendTransactionMessageInstructions(instructions, m),
        );
        const transaction = await signTransactionMessageWithSigners(message);
        try {
          await rpc
            .sendTransaction(getBase64EncodedWireTransaction(transaction), { encoding: "base64", preflightCommitment: "confirmed" })
            .send();
          signature = getSignatureFromTransaction(transaction);
        } catch (error) {
          // Preflight failures carry the simulation's logs and error (kit's SolanaError context;
          // its `cause` has the transaction error).
          const failure = error as { message?: string; context?: { logs?: string[] }; cause?: { message?: string; context?: unknown } };
          const logs = (failure.context?.logs ?? []) as string[];
          const cause = failure.cause?.message ?? (failure.cause?.context ? JSON.stringify(failure.cause.context, (_, v) => (typeof v === "bigint" ? `${v}` : v)) : "");
          const detail = `${failure.message ?? String(error)}${cause ? `: ${cause}` : ""}`;
          if (/blockhash not found/i.test(detail) && attempt < 5) continue;
          throw new SendError(logs, customErrorCode(logs), detail);
        }
      }
      const deadline = Date.now() + timeout;
      for (;;) {
        const { value } = await rpc.getSignatureStatuses([signature]).send();
        const status = value[0];
        if (status?.err) throw new SendError([], undefined, `transaction ${signature} failed: ${JSON.stringify(status.err, (_, v) => (typeof v === "bigint" ? v.toString() : v))}`);
        if (status && (status.confirmationStatus === "confirmed" || status.confirmationStatus === "finalized")) return signature;
        if (Date.now() > deadline) throw new Error(`transaction ${signature} not confirmed after ${timeout / 1000}s`);
        await new Promise((resolve) => setTimeout(resolve, poll));
      }
    },
  };
  if (cheatcodes) target.setAccount = (account) => cheatcodes.setAccount(account);
  return target;
}

// ------------------------------------------------------------------ LiteSVM

/** The part of npm `litesvm`'s `LiteSVM` the target uses (typed structurally: no import). */
export type LiteSvmDeployLike = {
  getAccount(address: Address): { exists: boolean; data?: Uint8Array | ArrayLike<number>; programAddress?: Address; executable?: boolean; lamports?: bigint };
  setAccount(account: EncodedAccount): void;
  latestBlockhash(): Blockhash;
  expireBlockhash(): void;
  minimumBalanceForRentExemption(dataLen: bigint): bigint;
  getClock(): { unixTimestamp: bigint };
  sendTransaction(transaction: Transaction): unknown;
};

export function createLiteSvmTarget(svm: LiteSvmDeployLike): DeployTarget {
  return {
    kind: "litesvm",
    description: "LiteSVM (in-process)",
    localnet: true,
    async getAccount(address) {
      const account = svm.getAccount(address);
      if (!account.exists || !account.data) return null;
      return {
        data: Uint8Array.from(account.data),
        owner: account.programAddress!,
        executable: account.executable ?? false,
        lamports: BigInt(account.lamports ?? 0n),
      };
    },
    async rentExempt(space) {
      return svm.minimumBalanceForRentExemption(BigInt(space));
    },
    async now() {
      return svm.getClock().unixTimestamp;
    },
    async send(instructions, feePayer) {
      const message = pipe(
        createTransactionMessage({ version: 0 }),
        (m) => setTransactionMessageFeePayerSigner(feePayer, m),
        (m) => setTransactionMessageLifetimeUsingBlockhash({ blockhash: svm.latestBlockhash(), lastValidBlockHeight: 0n }, m),
        (m) => appendTransactionMessageInstructions(instructions, m),
      );
      const transaction = await signTransactionMessageWithSigners(message);
      const result = svm.sendTransaction(transaction) as { err?(): unknown; meta(): { logs(): string[] }; toString(): string };
      // A fresh blockhash per transaction, so identical instructions are not deduplicated.
      svm.expireBlockhash();
      if (typeof result.err === "function") {
        const logs = result.meta().logs();
        throw new SendError(logs, customErrorCode(logs), result.toString());
      }
      return getSignatureFromTransaction(transaction);
    },
    setAccount(account) {
      svm.setAccount(account);
    },
  };
}
