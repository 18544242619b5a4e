/**
 * Program constants, mirrored from `programs/portfolio-margin/src/state/*.rs` and `oracle/mod.rs`:
 * what the IDL does not carry (limits, scales, enums stored as u8). `test/idl.test.ts` checks the
 * account sizes against the generated client's.
 */
import { address, type Address } from "@solana/kit";

// The program id is the generated `PORTFOLIO_MARGIN_PROGRAM_ADDRESS` (from the IDL's `address`).

export const SYSTEM_PROGRAM_ADDRESS = address("11111111111111111111111111111111");
export const TOKEN_PROGRAM_ADDRESS = address("TokenkegQfeZyiNwAJbNbGKPFXCWuBvf9Ss623VQ5DA");
export const COMPUTE_BUDGET_PROGRAM_ADDRESS = address("ComputeBudget111111111111111111111111111111");
/** Owner of Pyth legacy price accounts (mainnet Pyth oracle program). */
export const PYTH_LEGACY_PROGRAM_ADDRESS = address("FsJ3A3u2vn5cTVofAjvy6y5kwABJAqYWpe4975bi2epH");
/** Owner of `PriceUpdateV2` accounts (Pyth receiver program). */
export const PYTH_RECEIVER_PROGRAM_ADDRESS = address("rec5EKMGg6MxZYaMdyBfgwp4d5rB9T1VQH5pJv5LtFJ");

/** PDA seed prefixes (state/mod.rs). */
export const SEEDS = {
  exchange: "exchange",
  vault: "vault",
  insurance: "insurance",
  underlying: "underlying",
  margin: "margin",
} as const;

/** One in `expo = -6` fixed point: prices, strikes, volatilities, fractions. */
export const PPM = 1_000_000n;
/** Seconds in the program's (365.25-day) year, used for option expiries. */
export const SECONDS_PER_YEAR = 31_557_600n;
/** `Exchange::quote_loss_index` starts here (`expo = -12`). */
export const LOSS_INDEX_ONE = 1_000_000_000_000n;

export const MAX_COLLATERAL_ASSETS = 8;
export const MAX_UNDERLYINGS = 8;
export const MAX_INSTRUMENTS = 32;
export const MAX_POSITIONS = 64;
export const NAME_LEN = 16;
/** `CollateralAsset::underlying` of the quote asset (priced by no underlying). */
export const NO_UNDERLYING = 255;
export const QUOTE_ASSET_INDEX = 0;

/** Account sizes including the 8-byte discriminator (`T::SPACE`). */
export const EXCHANGE_SPACE = 8 + 1680;
export const UNDERLYING_SPACE = 8 + 1912;
export const MARGIN_ACCOUNT_SPACE = 8 + 1848;

/**
 * Cached option risk arrays (state/underlying.rs `CachedRiskArray`): one per listed instrument,
 * in listing order, after the `Underlying` struct (`list_instrument` grows the account by one).
 * 80 bytes of build conditions, then `risk::compact::OptionArray` (3 x 41 points + 6 words).
 */
export const RISK_ARRAY_POINTS = 41;
export const CACHED_RISK_ARRAY_SIZE = 80 + 8 * (3 * RISK_ARRAY_POINTS + 7);
/** `Underlying::space_with(n)`: the account size with `n` instruments listed. */
export const underlyingSpaceWith = (instruments: number) => UNDERLYING_SPACE + instruments * CACHED_RISK_ARRAY_SIZE;
/** `RISK_ARRAY_VOL_TOLERANCE`: the pricing volatility may differ from an array's by up to 2% of it (`expo = -6`). */
export const RISK_ARRAY_VOL_TOLERANCE = 20_000n;
/** `RISK_ARRAY_BAND`: an array is used while the oracle price is within 2% of its build price (`expo = -6`). */
export const RISK_ARRAY_BAND = 20_000n;
/** `RISK_ARRAY_MAX_AGE`: the longest an array is used, seconds (and at most half the time to expiry at the build). */
export const RISK_ARRAY_MAX_AGE = 3_600n;
/** Compute-unit limit to send `refresh_risk_array` with (it costs about 330,000 CU). */
export const REFRESH_RISK_ARRAY_COMPUTE_UNITS = 1_400_000;

export const InstrumentKind = { Future: 0, Call: 1, Put: 2 } as const;
export type InstrumentKind = (typeof InstrumentKind)[keyof typeof InstrumentKind];

export const InstrumentStatus = { Unused: 0, Active: 1, Settled: 2 } as const;
export type InstrumentStatus = (typeof InstrumentStatus)[keyof typeof InstrumentStatus];

export const OracleKind = { PythLegacy: 0, PythPull: 1 } as const;
export type OracleKind = (typeof OracleKind)[keyof typeof OracleKind];

/** `Exchange::pause_flags` bits (state/exchange.rs `pause`). */
export const PauseFlag = {
  Deposit: 1 << 0,
  Withdraw: 1 << 1,
  Trade: 1 << 2,
  Liquidate: 1 << 3,
  Settle: 1 << 4,
  Crank: 1 << 5,
  Accounts: 1 << 6,
  /** Blocks everything except deposits and settlement. */
  All: 1 << 7,
} as const;

/** Indexes of `RiskParameters::oracle_limits`. */
export const ActionClass = { Risk: 0, Liquidation: 1, Settlement: 2 } as const;

/** Anchor's offset of program error codes (`#[error_code]` variant n is 6000 + n). */
export const ERROR_CODE_OFFSET = 6000;

export type { Address };
