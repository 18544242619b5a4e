/**
 * Deploys (or upgrades) the program's `.so` the way `solana program deploy` does, with the
 * upgradeable BPF loader's own instructions (loader v3, `BPFLoaderUpgradeab1e11111111111111111111111`):
 *
 * 1. a buffer account (`create_account` owned by the loader, then `InitializeBuffer` with the
 *    upgrade authority);
 * 2. the ELF written into it in `Write` chunks that fit a transaction, many in flight at once;
 * 3. `DeployWithMaxDataLen` (a new program: its account created at the program keypair's address)
 *    or `Upgrade` (a deployed one whose bytes differ; the authority must be its upgrade authority).
 *
 * Nothing is sent when the deployed bytes already equal the `.so`. The loader checks the ELF when
 * it deploys; only an invocation proves the runtime runs it (test/rpc/loader.test.ts does both).
 */
import {
  AccountRole,
  generateKeyPairSigner,
  getAddressEncoder,
  getProgramDerivedAddress,
  type Address,
  type Instruction,
  type KeyPairSigner,
  type TransactionSigner,
} from "@solana/kit";
import { createAccountInstruction } from "./plan.js";
import type { DeployTarget } from "./target.js";

export const BPF_LOADER_UPGRADEABLE_ADDRESS = "BPFLoaderUpgradeab1e11111111111111111111111" as Address;
const SYSTEM_PROGRAM = "11111111111111111111111111111111" as Address;
const RENT_SYSVAR = "SysvarRent111111111111111111111111111111111" as Address;
const CLOCK_SYSVAR = "SysvarC1ock11111111111111111111111111111111" as Address;

/** UpgradeableLoaderState sizes: Buffer {authority: Option<Pubkey>} and ProgramData {slot, authority}. */
export const BUFFER_METADATA_LEN = 37;
export const PROGRAM_DATA_METADATA_LEN = 45;
const PROGRAM_ACCOUNT_LEN = 36;
/** `Write` bytes per transaction: a 1,232-byte transaction less signature, keys, header and the instruction's own 16 bytes. */
export const WRITE_CHUNK = 950;
/** `Write` transactions in flight at once. */
const WRITES_IN_FLIGHT = 32;

/** Upgradeable loader instruction tags (bincode: a u32 enum tag, then the fields little-endian). */
const enum LoaderInstruction {
  InitializeBuffer = 0,
  Write = 1,
  DeployWithMaxDataLen = 2,
  Upgrade = 3,
}

const u32 = (value: number) => {
  const bytes = new Uint8Array(4);
  new DataView(bytes.buffer).setUint32(0, value, true);
  return bytes;
};
const u64 = (value: bigint) => {
  const bytes = new Uint8Array(8);
  new DataView(bytes.buffer).setBigUint64(0, value, true);
  return bytes;
};
const concat = (...parts: Uint8Array[]) => {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let offset = 0;
  for (const part of parts) {
    out.set(part, offset);
    offset += part.length;
  }
  return out;
};

const meta = (address: Address, role: AccountRole, signer?: TransactionSigner) =>
  signer ? { address, role, signer } : { address, role };

/** `ProgramData` address of a program: PDA of [program] under the loader. */
export async function programDataAddress(program: Address): Promise<Address> {
  const [address] = await getProgramDerivedAddress({ programAddress: BPF_LOADER_UPGRADEABLE_ADDRESS, seeds: [getAddressEncoder().encode(program)] });
  return address;
}

export function initializeBufferInstruction(buffer: Address, authority: Address): Instruction {
  return {
    programAddress: BPF_LOADER_UPGRADEABLE_ADDRESS,
    accounts: [meta(buffer, AccountRole.WRITABLE), meta(authority, AccountRole.READONLY)],
    data: u32(LoaderInstruction.InitializeBuffer),
  };
}

/** `Write { offset: u32, bytes: Vec<u8> }` (the Vec as a u64 length and the bytes). */
export function writeInstruction(buffer: Address, authority: TransactionSigner, offset: number, bytes: Uint8Array): Instruction {
  return {
    programAddress: BPF_LOADER_UPGRADEABLE_ADDRESS,
    accounts: [meta(buffer, AccountRole.WRITABLE), meta(authority.address, AccountRole.READONLY_SIGNER, authority)],
    data: concat(u32(LoaderInstruction.Write), u32(offset), u64(BigInt(bytes.length)), bytes),
  };
}

export function deployWithMaxDataLenInstruction(
  payer: TransactionSigner,
  programData: Address,
  program: Address,
  buffer: Address,
  authority: TransactionSigner,
  maxDataLen: bigint,
): Instruction {
  return {
    programAddress: BPF_LOADER_UPGRADEABLE_ADDRESS,
    accounts: [
      meta(payer.address, AccountRole.WRITABLE_SIGNER, payer),
      meta(programData, AccountRole.WRITABLE),
      meta(program, AccountRole.WRITABLE),
      meta(buffer, AccountRole.WRITABLE),
      meta(RENT_SYSVAR, AccountRole.READONLY),
      meta(CLOCK_SYSVAR, AccountRole.READONLY),
      meta(SYSTEM_PROGRAM, AccountRole.READONLY),
      meta(authority.address, AccountRole.READONLY_SIGNER, authority),
    ],
    data: concat(u32(LoaderInstruction.DeployWithMaxDataLen), u64(maxDataLen)),
  };
}

export function upgradeInstruction(programData: Address, program: Address, buffer: Address, spill: Address, authority: TransactionSigner): Instruction {
  return {
    programAddress: BPF_LOADER_UPGRADEABLE_ADDRESS,
    accounts: [
      meta(programData, AccountRole.WRITABLE),
      meta(program, AccountRole.WRITABLE),
      meta(buffer, AccountRole.WRITABLE),
      meta(spill, AccountRole.WRITABLE),
      meta(RENT_SYSVAR, AccountRole.READONLY),
      meta(CLOCK_SYSVAR, AccountRole.READONLY),
      meta(authority.address, AccountRole.READONLY_SIGNER, authority),
    ],
    data: u32(LoaderInstruction.Upgrade),
  };
}

export type ProgramDeployment = {
  program: Address;
  programData: Address;
  /** `deployed` (new), `upgraded`, or `unchanged` (nothing sent). */
  outcome: "deployed" | "upgraded" | "unchanged";
  /** The buffer written (none when unchanged). */
  buffer?: Address;
  transactions: number;
};

/**
 * Deploys `elf` at `program`'s address with `authority` as upgrade authority (and fee payer), or
 * upgrades it when its bytes differ (the same bytes: nothing to do, whoever asks). Throws, naming
 * the account, when the address holds something else or another authority controls the program.
 */
export async function deployProgram(options: {
  target: DeployTarget;
  authority: KeyPairSigner;
  program: KeyPairSigner;
  elf: Uint8Array;
  log?: (line: string) => void;
}): Promise<ProgramDeployment> {
  const { target, authority, program, elf } = options;
  const log = options.log ?? (() => {});
  if (elf.length < 4 || elf[0] !== 0x7f || elf[1] !== 0x45 || elf[2] !== 0x4c || elf[3] !== 0x46) {
    throw new Error("the program file is not an ELF file (build it with scripts/build-sbf)");
  }
  const programData = await programDataAddress(program.address);
  const existing = await target.getAccount(program.address);
  let upgrade = false;
  if (existing) {
    if (existing.owner !== BPF_LOADER_UPGRADEABLE_ADDRESS || !existing.executable) {
      throw new Error(`${program.address} on ${target.description} is not an upgradeable program (owner ${existing.owner}); no loader instruction can deploy there`);
    }
    const data = await target.getAccount(programData);
    if (!data) throw new Error(`${program.address} on ${target.description} has no program data account ${programData}`);
    const deployed = data.data.subarray(PROGRAM_DATA_METADATA_LEN, PROGRAM_DATA_METADATA_LEN + elf.length);
    const tail = data.data.subarray(PROGRAM_DATA_METADATA_LEN + elf.length);
    if (bytesEqual(deployed, elf) && tail.every((b) => b === 0)) {
      log(`program ${program.address}: deployed, same ${elf.length} bytes: nothing to do`);
      return { program: program.address, programData, outcome: "unchanged", transactions: 0 };
    }
    // An upgrade: ProgramData { slot: u64, upgrade_authority_address: Option<Pubkey> } after its tag.
    const hasAuthority = data.data[12] === 1;
    if (!hasAuthority || !bytesEqual(data.data.subarray(13, 45), getAddressEncoder().encode(authority.address))) {
      throw new Error(`${program.address} on ${target.description}: ${authority.address} is not its upgrade authority`);
    }
    if (data.data.length - PROGRAM_DATA_METADATA_LEN < elf.length) {
      throw new Error(`${program.address} on ${target.description}: the new build (${elf.length} bytes) exceeds the program's ${data.data.length - PROGRAM_DATA_METADATA_LEN}; extend it first`);
    }
    upgrade = true;
  }

  const bufferSigner = await generateKeyPairSigner();
  const bufferLen = BUFFER_METADATA_LEN + elf.length;
  let transactions = 0;
  await target.send(
    [
      createAccountInstruction(authority, bufferSigner, await target.rentExempt(bufferLen), bufferLen, BPF_LOADER_UPGRADEABLE_ADDRESS),
      initializeBufferInstruction(bufferSigner.address, authority.address),
    ],
    authority,
  );
  transactions++;
  const chunks: [number, Uint8Array][] = [];
  for (let offset = 0; offset < elf.length; offset += WRITE_CHUNK) chunks.push([offset, elf.subarray(offset, offset + WRITE_CHUNK)]);
  log(`program ${program.address}: buffer ${bufferSigner.address}, writing ${elf.length} bytes in ${chunks.length} transactions`);
  let next = 0;
  const worker = async () => {
    while (next < chunks.length) {
      const [offset, bytes] = chunks[next++]!;
      await target.send([writeInstruction(bufferSigner.address, authority, offset, bytes)], authority);
      transactions++;
    }
  };
  await Promise.all(Array.from({ length: Math.min(WRITES_IN_FLIGHT, chunks.length) }, worker));

  if (upgrade) {
    await target.send([upgradeInstruction(programData, program.address, bufferSigner.address, authority.address, authority)], authority);
  } else {
    await target.send(
      [
        createAccountInstruction(authority, program, await target.rentExempt(PROGRAM_ACCOUNT_LEN), PROGRAM_ACCOUNT_LEN, BPF_LOADER_UPGRADEABLE_ADDRESS),
        deployWithMaxDataLenInstruction(authority, programData, program.address, bufferSigner.address, authority, BigInt(elf.length)),
      ],
      authority,
    );
  }
  transactions++;
  const outcome = upgrade ? "upgraded" : "deployed";
  log(`program ${program.address}: ${outcome} through the upgradeable loader (program data ${programData}, upgrade authority ${authority.address}, ${transactions} transactions)`);
  return { program: program.address, programData, outcome, buffer: bufferSigner.address, transactions };
}

function bytesEqual(a: ArrayLike<number>, b: ArrayLike<number>): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}
