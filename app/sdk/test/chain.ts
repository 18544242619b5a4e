/**
 * Where the test fixture (harness.ts) runs: the SBF program in an in-process LiteSVM, or a real
 * JSON-RPC node with Surfpool cheatcodes (scripts/localnet; scripts/test-rpc starts one). The same
 * fixture and the same tests run on both; only these primitives differ.
 */
import {
  appendTransactionMessageInstructions,
  createSolanaRpc,
  createTransactionMessage,
  lamports,
  pipe,
  setTransactionMessageFeePayerSigner,
  signTransactionMessageWithSigners,
  type Address,
  type EncodedAccount,
  type Instruction,
  type KeyPairSigner,
  type Signature,
} from "@solana/kit";
import { FailedTransactionMetadata, LiteSVM } from "litesvm";
import {
  PORTFOLIO_MARGIN_PROGRAM_ADDRESS,
  createLiteSvmConnection,
  createRpcConnection,
  customErrorCode,
  getPortfolioMarginError,
  surfnetCheatcodes,
  type PortfolioMarginConnection,
} from "../src/index.js";
import { createRpcTarget, SendError } from "../src/deploy/index.js";

export class TransactionFailed extends Error {
  constructor(
    readonly logs: string[],
    readonly code: number | undefined,
    readonly errorName: string | undefined,
    detail: string,
  ) {
    super(`transaction failed: ${errorName ?? detail}\n${logs.join("\n")}`);
  }
}

const failed = (logs: string[], detail: string) => {
  const code = customErrorCode(logs);
  return new TransactionFailed(logs, code, code === undefined ? undefined : getPortfolioMarginError(code)?.name, detail);
};

export interface Chain {
  /** For test names and messages: "LiteSVM" or the node's URL. */
  readonly name: string;
  /** The in-process runtime, for LiteSVM-only tests; `undefined` on a node. */
  readonly svm?: LiteSVM;
  connection(payer: KeyPairSigner): PortfolioMarginConnection;
  /** The cluster clock, unix seconds. */
  now(): Promise<bigint>;
  /** Moves the clock forward by `seconds`. */
  advanceClock(seconds: bigint): Promise<void>;
  /** Gives `address` `amount` lamports. */
  fund(address: Address, amount: bigint): Promise<void>;
  /** Writes an account directly (mints, token accounts, Pyth prices). */
  setAccount(account: EncodedAccount): Promise<void>;
  rentExempt(space: number): Promise<bigint>;
  accountData(address: Address): Promise<Uint8Array | null>;
  /** Signs (payer and the instructions' signers), sends, waits; the compute units, or `TransactionFailed`. */
  send(instructions: Instruction[], payer: KeyPairSigner): Promise<bigint>;
}

/** The SBF program at `so` in a fresh LiteSVM whose clock starts at `start`. */
export function liteSvmChain(so: string, start: bigint): Chain {
  const svm = new LiteSVM();
  svm.addProgramFromFile(PORTFOLIO_MARGIN_PROGRAM_ADDRESS, so);
  const clock = svm.getClock();
  clock.unixTimestamp = start;
  svm.setClock(clock);
  return {
    name: "LiteSVM",
    svm,
    connection: (payer) => createLiteSvmConnection(svm, payer),
    async now() {
      return svm.getClock().unixTimestamp;
    },
    async advanceClock(seconds) {
      const clock = svm.getClock();
      clock.unixTimestamp += seconds;
      svm.setClock(clock);
    },
    async fund(address, amount) {
      svm.airdrop(address, lamports(amount));
    },
    async setAccount(account) {
      svm.setAccount(account);
    },
    async rentExempt(space) {
      return svm.minimumBalanceForRentExemption(BigInt(space));
    },
    async accountData(address) {
      const account = svm.getAccount(address);
      return account.exists && account.data ? Uint8Array.from(account.data) : null;
    },
    async send(instructions, payer) {
      const message = pipe(
        createTransactionMessage({ version: 0 }),
        (m) => setTransactionMessageFeePayerSigner(payer, m),
        (m) => svm.setTransactionMessageLifetimeUsingLatestBlockhash(m),
        (m) => appendTransactionMessageInstructions(instructions, m),
      );
      const transaction = await signTransactionMessageWithSigners(message);
      const result = svm.sendTransaction(transaction);
      // A fresh blockhash per transaction, so identical instructions are not deduplicated.
      svm.expireBlockhash();
      if (result instanceof FailedTransactionMetadata) throw failed(result.meta().logs(), result.toString());
      return result.computeUnitsConsumed();
    },
  };
}

/**
 * A JSON-RPC node with Surfpool cheatcodes at `url`, the program already deployed there. Accounts
 * are written with `surfnet_setAccount`, the clock moved with `surfnet_timeTravel` (forward only),
 * transactions sent with `sendTransaction` (preflight on) and confirmed.
 */
export function surfnetChain(url: string): Chain {
  const rpc = createSolanaRpc(url);
  const cheatcodes = surfnetCheatcodes(url);
  const target = createRpcTarget(url, { cheatcodes });
  return {
    name: url,
    connection: (payer) => createRpcConnection(rpc, payer.address),
    now: () => target.now(),
    async advanceClock(seconds) {
      if (seconds < 0n) throw new Error(`${url}: the clock only moves forward (asked ${seconds}s)`);
      await cheatcodes.timeTravelTo((await target.now()) + seconds);
    },
    async fund(address, amount) {
      const existing = await target.getAccount(address);
      await cheatcodes.setAccount({
        address,
        lamports: lamports((existing?.lamports ?? 0n) + amount),
        data: existing?.data ?? new Uint8Array(),
        programAddress: existing?.owner ?? ("11111111111111111111111111111111" as Address),
        executable: false,
      });
    },
    setAccount: (account) => cheatcodes.setAccount(account),
    rentExempt: (space) => target.rentExempt(space),
    async accountData(address) {
      return (await target.getAccount(address))?.data ?? null;
    },
    async send(instructions, payer) {
      let signature: string;
      try {
        signature = await target.send(instructions, payer);
      } catch (error) {
        if (error instanceof SendError) throw failed(error.logs, error.message);
        throw error;
      }
      const confirmed = await rpc.getTransaction(signature as Signature, { encoding: "base64", maxSupportedTransactionVersion: 0, commitment: "confirmed" }).send();
      return BigInt(confirmed?.meta?.computeUnitsConsumed ?? 0n);
    },
  };
}
