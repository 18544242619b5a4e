/**
 * Surfpool's cheatcodes over JSON-RPC: the `surfnet_*` methods of a Surfpool node (`scripts/localnet`,
 * `anchor localnet`), which write any account and move the clock. Local runs use them to publish
 * Pyth prices in their real byte formats (`pythAccount`) and to let time pass; a cluster without
 * them (devnet, mainnet, `solana-test-validator`) answers with `NoCheatcodesError`, which says what
 * is needed instead.
 */
import { createHash } from "node:crypto";
import { getAddressDecoder, type EncodedAccount } from "@solana/kit";

/** An address nobody holds a key for (sha256 of a phrase): `check()` writes nothing to it. */
const PROBE_ADDRESS = getAddressDecoder().decode(createHash("sha256").update("portfolio-margin: surfnet cheatcode probe").digest());

/** A JSON-RPC endpoint that could not be reached, or answered something that is not JSON-RPC. */
export class RpcUnreachableError extends Error {
  constructor(
    readonly url: string,
    detail: string,
  ) {
    super(`cannot reach ${url}: ${detail} (is a node running there? start one with scripts/localnet)`);
    this.name = "RpcUnreachableError";
  }
}

/** The node does not offer the cheatcode (no such method, or disabled there). */
export class NoCheatcodesError extends Error {
  constructor(
    readonly url: string,
    readonly method: string,
    detail: string,
  ) {
    super(
      `${url} offers no Surfpool cheatcodes (${method}: ${detail}): moving prices and the clock needs a node ` +
        `that writes accounts and time-travels, such as scripts/localnet (Surfpool); on devnet or mainnet, prices come from Pyth itself`,
    );
    this.name = "NoCheatcodesError";
  }
}

/** A JSON-RPC error answer. */
export class RpcError extends Error {
  constructor(
    readonly method: string,
    readonly code: number,
    readonly detail: string,
  ) {
    super(`${method}: rpc error ${code}: ${detail}`);
    this.name = "RpcError";
  }
}

let nextId = 0;

/** One JSON-RPC call with `fetch`; the `result`, or `RpcUnreachableError` / `RpcError`. */
export async function rpcCall<T>(url: string, method: string, params: unknown[]): Promise<T> {
  let text: string;
  try {
    const response = await fetch(url, {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ jsonrpc: "2.0", id: ++nextId, method, params }),
      signal: AbortSignal.timeout(30_000),
    });
    text = await response.text();
  } catch (error) {
    const cause = (error as { cause?: { code?: string; message?: string } }).cause;
    throw new RpcUnreachableError(url, cause?.code ?? cause?.message ?? (error as Error).message);
  }
  let reply: { result?: T; error?: { code: number; message: string } };
  try {
    reply = JSON.parse(text);
  } catch {
    throw new RpcUnreachableError(url, `not a JSON-RPC answer: ${text.slice(0, 120)}`);
  }
  if (reply.error) throw new RpcError(method, reply.error.code, reply.error.message);
  return reply.result as T;
}

/** What `surfnet_timeTravel` answers (the node's epoch info after the jump). */
export type EpochInfo = { absoluteSlot: number; epoch: number; slotIndex: number };

export type SurfnetCheatcodes = {
  readonly url: string;
  /** Writes an account: lamports, owner, data and executable flag, as given. */
  setAccount(account: Pick<EncodedAccount, "address" | "data" | "lamports" | "programAddress" | "executable">): Promise<void>;
  /** Moves the clock forward to `unixTimestamp` (seconds); Surfpool does not go back. */
  timeTravelTo(unixTimestamp: bigint): Promise<EpochInfo>;
  /** Throws `NoCheatcodesError` (or `RpcUnreachableError`) unless the node takes cheatcodes now. */
  check(): Promise<void>;
};

/** The cheatcodes of the node at `url`. Calls fail with `NoCheatcodesError` where there are none. */
export function surfnetCheatcodes(url: string): SurfnetCheatcodes {
  const cheat = async <T>(method: string, params: unknown[]): Promise<T> => {
    try {
      return await rpcCall<T>(url, method, params);
    } catch (error) {
      // -32601: no such method (not a Surfpool node); Surfpool answers a disabled cheatcode with
      // "Cheatcode rpc method: <method> is currently disabled".
      if (error instanceof RpcError && (error.code === -32601 || /cheatcode.*disabled/i.test(error.detail))) {
        throw new NoCheatcodesError(url, method, error.detail);
      }
      throw error;
    }
  };
  return {
    url,
    async setAccount(account) {
      await cheat("surfnet_setAccount", [
        account.address,
        {
          lamports: Number(account.lamports),
          data: Buffer.from(account.data).toString("hex"),
          owner: account.programAddress,
          executable: account.executable,
        },
      ]);
    },
    async timeTravelTo(unixTimestamp) {
      // Surfpool takes the target in milliseconds.
      return cheat<EpochInfo>("surfnet_timeTravel", [{ absoluteTimestamp: Number(unixTimestamp) * 1000 }]);
    },
    async check() {
      // An update with no fields to an address nobody uses: the cheapest call that needs the
      // cheatcode itself (surfnet_getSurfnetInfo answers even where cheatcodes are disabled).
      await cheat("surfnet_setAccount", [PROBE_ADDRESS, {}]);
    },
  };
}
