/**
 * The README's "A frontend's three calls" (app/sdk/README.md), compiled with the tests so the
 * example keeps type-checking against the generated client. Not run: it needs a cluster.
 */
import type { Address, Instruction, Rpc, SolanaRpcApi, TransactionSigner } from "@solana/kit";
import {
  PortfolioMarginClient,
  QUOTE_ASSET_INDEX,
  createRpcConnection,
  fetchExchange,
  fetchMarginAccount,
  findMarginAccountPda,
  getCreateMarginAccountInstructionAsync,
  getDepositInstruction,
  isLiquidatable,
  underlyingGreeks,
} from "../src/index.js";

/** 1. Open a margin account and deposit quote (USDC): two generated builders, one transaction. */
export async function openAndDeposit(
  rpc: Rpc<SolanaRpcApi>,
  wallet: TransactionSigner,
  exchange: Address,
  walletUsdc: Address,
): Promise<Instruction[]> {
  const { data: state } = await fetchExchange(rpc, exchange); // generated fetcher and codec
  const quote = state.collateral[QUOTE_ASSET_INDEX]!; // mint and vault of the quote asset
  // The margin account's address comes from the IDL's seeds ["margin", exchange, owner, id]:
  const open = await getCreateMarginAccountInstructionAsync({ owner: wallet, exchange, accountId: 0 });
  const [marginAccount] = await findMarginAccountPda({ exchange, owner: wallet.address, accountId: 0 });
  const deposit = getDepositInstruction({
    authority: wallet,
    exchange,
    marginAccount,
    mint: quote.mint,
    vault: quote.vault,
    source: walletUsdc,
    asset: QUOTE_ASSET_INDEX,
    amount: 1_000_000_000n, // 1,000 USDC in native units
  });
  return [open, deposit];
}

/** 2. Trade: the generated `getTradeInstruction`, with the margin check's remaining accounts filled by the client. */
export async function trade(
  rpc: Rpc<SolanaRpcApi>,
  alice: TransactionSigner,
  bob: TransactionSigner,
  aliceAccount: Address,
  bobAccount: Address,
): Promise<Instruction> {
  const client = new PortfolioMarginClient(createRpcConnection(rpc, alice.address));
  return client.trade({
    signerA: alice,
    signerB: bob,
    accountA: aliceAccount,
    accountB: bobAccount,
    underlying: 0,
    instrument: 3,
    quantity: 10n, // A buys 10 contracts (negative: sells)
    price: 15_250_000n, // USD, expo -6
  });
}

/** 3. Read a margin report (simulated `margin_report`, decoded by the generated `getMarginReportCodec`). */
export async function report(rpc: Rpc<SolanaRpcApi>, wallet: Address, marginAccount: Address) {
  const client = new PortfolioMarginClient(createRpcConnection(rpc, wallet));
  const report = await client.marginReport(marginAccount);
  const { data: account } = await fetchMarginAccount(rpc, marginAccount);
  return {
    equity: report.equity,
    initialMargin: report.initialMargin,
    maintenanceMargin: report.maintenanceMargin,
    liquidatable: isLiquidatable(report),
    greeks: report.underlyings.map(underlyingGreeks),
    openPositions: account.positions.filter((p) => p.quantity !== 0n).length,
  };
}
