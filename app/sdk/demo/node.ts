/**
 * What the demo's `--url` mode does on the node, all over JSON-RPC: transactions (SPL Token
 * accounts and mints, the program's instructions), SOL by `requestAirdrop`, and what only a local
 * node allows, through Surfpool's cheatcodes: Pyth price accounts written in their byte formats and
 * the clock moved forward. The keeper is the real binary, one `--once` tick at a time.
 */
import { execFile } from "node:child_process";
import {
  AccountRole,
  createSolanaRpc,
  generateKeyPairSigner,
  getAddressEncoder,
  type AccountMeta,
  type AccountSignerMeta,
  type Address,
  type Instruction,
  type KeyPairSigner,
  type Signature,
} from "@solana/kit";
import {
  PortfolioMarginClient,
  TOKEN_PROGRAM_ADDRESS,
  createRpcConnection,
  pythAccount,
  pythQuote,
  rpcCall,
  surfnetCheatcodes,
  type SurfnetCheatcodes,
} from "../src/index.js";
import { createAccountInstruction, createRpcTarget, type DeployTarget } from "../src/deploy/index.js";

const TOKEN_ACCOUNT_LEN = 165;

/** SPL Token `InitializeAccount3 { owner }` (tag 18). */
function initializeAccountInstruction(account: Address, mint: Address, owner: Address): Instruction {
  const data = new Uint8Array(33);
  data[0] = 18;
  data.set(getAddressEncoder().encode(owner), 1);
  return { programAddress: TOKEN_PROGRAM_ADDRESS, accounts: [{ address: account, role: AccountRole.WRITABLE }, { address: mint, role: AccountRole.READONLY }], data };
}

/** SPL Token `MintTo { amount }` (tag 7). */
function mintToInstruction(mint: Address, destination: Address, authority: KeyPairSigner, amount: bigint): Instruction {
  const data = new Uint8Array(9);
  data[0] = 7;
  new DataView(data.buffer).setBigUint64(1, amount, true);
  const accounts: (AccountMeta | AccountSignerMeta)[] = [
    { address: mint, role: AccountRole.WRITABLE },
    { address: destination, role: AccountRole.WRITABLE },
    { address: authority.address, role: AccountRole.READONLY_SIGNER, signer: authority },
  ];
  return { programAddress: TOKEN_PROGRAM_ADDRESS, accounts, data };
}

export class DemoNode {
  readonly rpc: ReturnType<typeof createSolanaRpc>;
  readonly target: DeployTarget;

  private constructor(
    readonly url: string,
    readonly cheatcodes: SurfnetCheatcodes,
    readonly payer: KeyPairSigner,
  ) {
    this.rpc = createSolanaRpc(url);
    this.target = createRpcTarget(url, { cheatcodes });
  }

  /**
   * The node at `url`, checked before anything is sent: it answers JSON-RPC (else
   * `RpcUnreachableError`) and takes cheatcodes (else `NoCheatcodesError`, saying what is needed).
   */
  static async connect(url: string): Promise<DemoNode> {
    await rpcCall(url, "getVersion", []);
    const cheatcodes = surfnetCheatcodes(url);
    await cheatcodes.check();
    const node = new DemoNode(url, cheatcodes, await generateKeyPairSigner());
    await node.airdrop(node.payer.address, 1_000n);
    return node;
  }

  /** A client whose margin reports are simulated over JSON-RPC, fees paid by the demo's payer. */
  client(): PortfolioMarginClient {
    return new PortfolioMarginClient(createRpcConnection(this.rpc, this.payer.address));
  }

  /** `sol` SOL by `requestAirdrop`, waited for. */
  async airdrop(address: Address, sol: bigint): Promise<void> {
    const signature = await rpcCall<string>(this.url, "requestAirdrop", [address, Number(sol * 1_000_000_000n)]);
    for (let i = 0; i < 200; i++) {
      const { value } = await this.rpc.getSignatureStatuses([signature as Signature]).send();
      if (value[0]?.confirmationStatus === "confirmed" || value[0]?.confirmationStatus === "finalized") return;
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    throw new Error(`${this.url}: the airdrop to ${address} was not confirmed`);
  }

  send(instructions: Instruction[], signers?: KeyPairSigner): Promise<string> {
    return this.target.send(instructions, signers ?? this.payer);
  }

  now(): Promise<bigint> {
    return this.target.now();
  }

  /** Moves the clock `seconds` forward (`surfnet_timeTravel`). */
  async advance(seconds: bigint): Promise<void> {
    await this.cheatcodes.timeTravelTo((await this.now()) + seconds);
  }

  /** Publishes `usd` on a Pyth account of `kind` now (`surfnet_setAccount`, the real byte layout). */
  async publishPrice(oracle: Address, kind: number, usd: string, feedId: Uint8Array): Promise<void> {
    await this.cheatcodes.setAccount(pythAccount(oracle, kind, pythQuote(usd, await this.now()), feedId));
  }

  /** A token account of `mint` for `owner` holding `amount`, minted by `mintAuthority` (SPL Token). */
  async tokenAccount(mint: Address, owner: Address, amount: bigint, mintAuthority: KeyPairSigner): Promise<Address> {
    const account = await generateKeyPairSigner();
    const rent = await this.target.rentExempt(TOKEN_ACCOUNT_LEN);
    const instructions = [createAccountInstruction(this.payer, account, rent, TOKEN_ACCOUNT_LEN, TOKEN_PROGRAM_ADDRESS), initializeAccountInstruction(account.address, mint, owner)];
    if (amount > 0n) instructions.push(mintToInstruction(mint, account.address, mintAuthority, amount));
    await this.send(instructions);
    return account.address;
  }

  /** SPL token account balance. */
  async tokenBalance(account: Address): Promise<bigint> {
    const data = (await this.target.getAccount(account))?.data;
    if (!data) throw new Error(`token account ${account} does not exist`);
    return new DataView(data.buffer, data.byteOffset).getBigUint64(64, true);
  }
}

/** One `keeper --once` tick of the keeper binary; its log lines and exit status. */
export function keeperTick(binary: string, args: string[]): Promise<{ code: number; lines: string[] }> {
  return new Promise((done) =>
    execFile(binary, [...args, "--once"], { maxBuffer: 16 << 20 }, (error, stdout, stderr) =>
      done({
        code: error ? (typeof error.code === "number" ? error.code : 1) : 0,
        lines: `${stdout}${stderr}`
          .split("\n")
          .filter((l) => l.trim())
          .map((l) => l.replace(/^keeper: /, "")),
      }),
    ),
  );
}
