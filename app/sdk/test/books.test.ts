/** The canonical hedged books on the SBF program in LiteSVM (the suite: books-suite.ts). */
import { canonicalBooks } from "./books-suite.js";

canonicalBooks("LiteSVM");
