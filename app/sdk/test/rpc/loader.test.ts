/**
 * The SBF build deployed through the upgradeable BPF loader over JSON-RPC, on the fresh node
 * scripts/test-rpc started (this suite runs first): buffer, writes, `DeployWithMaxDataLen`; then
 * invoked, since a deploy alone does not prove the runtime runs the ELF (sBPF v3 programs are
 * checked when executed); then upgraded with the loader's `Upgrade` (the program data replaced),
 * and refused to another key.
 */
import { strict as assert } from "node:assert";
import { readFileSync } from "node:fs";
import { resolve } from "node:path";
import { after, before, describe, test } from "node:test";
import {
  appendTransactionMessageInstructions,
  compileTransaction,
  createKeyPairSignerFromBytes,
  createSolanaRpc,
  createTransactionMessage,
  getAddressEncoder,
  getBase64EncodedWireTransaction,
  pipe,
  setTransactionMessageFeePayer,
  setTransactionMessageLifetimeUsingBlockhash,
  type Address,
  type Blockhash,
} from "@solana/kit";
import { PORTFOLIO_MARGIN_PROGRAM_ADDRESS } from "../../src/index.js";
import { BPF_LOADER_UPGRADEABLE_ADDRESS, PROGRAM_DATA_METADATA_LEN, WRITE_CHUNK, createRpcTarget, deployProgram } from "../../src/deploy/index.js";
import { Env, REPO_ROOT, requireProgramSo } from "../harness.js";
import { surfnetChain } from "../chain.js";
import { fundedKeypairFile, nodeChain, rpcUrl, startNode } from "./node.js";

const programKeypair = () =>
  createKeyPairSignerFromBytes(Uint8Array.from(JSON.parse(readFileSync(resolve(REPO_ROOT, "migrations/keys/portfolio_margin-keypair.json"), "utf8"))));

/** Simulates an instruction the program does not have (discriminator 9 x 8); its logs and error. */
async function unknownInstruction(url: string, payer: Address) {
  const message = pipe(
    createTransactionMessage({ version: 0 }),
    (m) => setTransactionMessageFeePayer(payer, m),
    (m) => setTransactionMessageLifetimeUsingBlockhash({ blockhash: "11111111111111111111111111111111" as Blockhash, lastValidBlockHeight: 0n }, m),
    (m) => appendTransactionMessageInstructions([{ programAddress: PORTFOLIO_MARGIN_PROGRAM_ADDRESS, accounts: [], data: new Uint8Array(8).fill(9) }], m),
  );
  const { value } = await createSolanaRpc(url)
    .simulateTransaction(getBase64EncodedWireTransaction(compileTransaction(message)), { encoding: "base64", sigVerify: false, replaceRecentBlockhash: true })
    .send();
  return { logs: [...(value.logs ?? [])], err: JSON.stringify(value.err, (_, v) => (typeof v === "bigint" ? Number(v) : v)) };
}

describe(`the program through the upgradeable BPF loader over JSON-RPC (${process.env.PM_RPC_URL ?? "PM_RPC_URL unset"})`, () => {
  const url = rpcUrl();
  const chain = nodeChain();
  const target = createRpcTarget(url);
  const elf = Uint8Array.from(readFileSync(requireProgramSo()));
  let authority: Awaited<ReturnType<typeof fundedKeypairFile>>;

  test("deploy: a buffer, its writes and DeployWithMaxDataLen; the loader's accounts hold the build", async () => {
    const program = await programKeypair();
    assert.equal(program.address, PORTFOLIO_MARGIN_PROGRAM_ADDRESS);
    assert.equal(await target.getAccount(program.address), null, "a fresh node: scripts/test-rpc starts one for these suites");
    authority = await fundedKeypairFile(chain, 100n);
    const lines: string[] = [];
    const result = await deployProgram({ target, authority: authority.signer, program, elf, log: (l) => lines.push(l) });
    assert.equal(result.outcome, "deployed");
    assert.equal(result.transactions, 1 + Math.ceil(elf.length / WRITE_CHUNK) + 1);
    assert.match(lines.at(-1)!, /through the upgradeable loader/);

    const account = (await target.getAccount(program.address))!;
    assert.equal(account.owner, BPF_LOADER_UPGRADEABLE_ADDRESS);
    assert.ok(account.executable);
    // UpgradeableLoaderState::Program { programdata_address }.
    assert.deepEqual([...account.data.subarray(0, 4)], [2, 0, 0, 0]);
    assert.deepEqual([...account.data.subarray(4, 36)], [...getAddressEncoder().encode(result.programData)]);
    const data = (await target.getAccount(result.programData))!;
    assert.equal(data.owner, BPF_LOADER_UPGRADEABLE_ADDRESS);
    // ProgramData { slot, upgrade_authority_address: Some(authority) }, then the ELF.
    assert.deepEqual([...data.data.subarray(0, 4)], [3, 0, 0, 0]);
    assert.equal(data.data[12], 1);
    assert.deepEqual([...data.data.subarray(13, 45)], [...getAddressEncoder().encode(authority.signer.address)]);
    assert.equal(data.data.length, PROGRAM_DATA_METADATA_LEN + elf.length);
    assert.ok(Buffer.from(data.data.subarray(PROGRAM_DATA_METADATA_LEN)).equals(elf), "program data = the .so");
    assert.equal(await target.getAccount(result.buffer!), null, "the deploy consumed the buffer");
  });

  test("the deployed program runs: an unknown instruction gets Anchor's InstructionFallbackNotFound; initialize_exchange creates an exchange", async () => {
    const { logs, err } = await unknownInstruction(url, authority.signer.address);
    assert.equal(err, '{"InstructionError":[0,{"Custom":101}]}');
    assert.ok(logs.includes(`Program ${PORTFOLIO_MARGIN_PROGRAM_ADDRESS} invoke [1]`), logs.join("\n"));
    assert.ok(logs.some((l) => l.includes("Error Message: Fallback functions are not supported.")), logs.join("\n"));
    // A real instruction, through the SDK: the fixture's initialize_exchange.
    const env = await Env.create(chain);
    const exchange = await env.client.fetchExchange(env.exchange);
    assert.equal(exchange.admin, env.admin.address);
  });

  test("the same build again: nothing sent", async () => {
    const result = await deployProgram({ target, authority: authority.signer, program: await programKeypair(), elf });
    assert.deepEqual([result.outcome, result.transactions], ["unchanged", 0]);
  });

  // Surfpool 1.7 refuses to execute a program after a loader Upgrade ("This program may not be used
  // for executing instructions": its program cache keeps the upgraded entry unloaded), so upgrades
  // run on a node of their own and the shared one keeps the first deploy (README, "Known limits").
  describe("upgrades, on a second node", () => {
    let second: Awaited<ReturnType<typeof startNode>>;
    let secondTarget: ReturnType<typeof createRpcTarget>;
    let owner: Awaited<ReturnType<typeof fundedKeypairFile>>;
    before(async () => {
      second = await startNode();
      secondTarget = createRpcTarget(second.url);
      owner = await fundedKeypairFile(surfnetChain(second.url), 100n);
      assert.equal((await deployProgram({ target: secondTarget, authority: owner.signer, program: await programKeypair(), elf })).outcome, "deployed");
    });
    after(() => second.stop());

    test("a changed build is an Upgrade: the loader replaces the program data (then the real build again)", async () => {
      const text = Buffer.from("Fallback functions are not supported");
      const at = Buffer.from(elf).indexOf(text);
      assert.ok(at > 0, "the message is in the .so's read-only data");
      const changed = Uint8Array.from(elf);
      changed.set(Buffer.from("Fallback functions are NOT supported"), at);
      const upgraded = await deployProgram({ target: secondTarget, authority: owner.signer, program: await programKeypair(), elf: changed });
      assert.equal(upgraded.outcome, "upgraded");
      const data = (await secondTarget.getAccount(upgraded.programData))!.data;
      assert.ok(Buffer.from(data.subarray(PROGRAM_DATA_METADATA_LEN)).equals(changed), "program data = the changed build");
      assert.equal((await deployProgram({ target: secondTarget, authority: owner.signer, program: await programKeypair(), elf })).outcome, "upgraded");
      const restored = (await secondTarget.getAccount(upgraded.programData))!.data;
      assert.ok(Buffer.from(restored.subarray(PROGRAM_DATA_METADATA_LEN)).equals(elf), "program data = the real build again");
    });

    test("another key cannot upgrade: refused before anything is sent, naming the key", async () => {
      const stranger = await fundedKeypairFile(surfnetChain(second.url), 10n);
      const changed = Uint8Array.from(elf);
      changed[changed.length - 1] ^= 1;
      await assert.rejects(
        deployProgram({ target: secondTarget, authority: stranger.signer, program: await programKeypair(), elf: changed }),
        new RegExp(`${PORTFOLIO_MARGIN_PROGRAM_ADDRESS} on ${second.url}: ${stranger.signer.address} is not its upgrade authority`),
      );
    });
  });
});
