/**
 * The market deploy script's library (`migrations/deploy.ts` is its command line): config reading
 * and checking (`config.ts`), cluster access (`target.ts`), planning and applying (`plan.ts`), the program through the
 * upgradeable loader (`program.ts`).
 */
export * from "./cli.js";
export * from "./config.js";
export * from "./plan.js";
export * from "./program.js";
export * from "./target.js";
