/**
 * The canonical hedged books over JSON-RPC against the Surfpool node scripts/test-rpc started: the
 * same suite as in LiteSVM (books-suite.ts), every margin report by `simulateTransaction`.
 */
import { canonicalBooks } from "../books-suite.js";
import { nodeChain, rpcUrl } from "./node.js";

canonicalBooks(`JSON-RPC, ${rpcUrl()}`, nodeChain);
