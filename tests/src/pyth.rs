//! Pyth oracle accounts in their real byte formats, so tests can move prices between steps.

use anchor_lang::prelude::Pubkey;
use anchor_lang::{AccountSerialize, Discriminator};
use pyth_sdk_solana::state::{
    AccountType, PriceInfo, PriceStatus, Rational, SolanaPriceAccount, MAGIC, VERSION_2,
};
use pyth_solana_receiver_sdk::price_update::{PriceFeedMessage, PriceUpdateV2, VerificationLevel};
use solana_account::Account;

pub use portfolio_margin::oracle::{PYTH_LEGACY_PROGRAM_ID, PYTH_RECEIVER_PROGRAM_ID};

/// Pyth's usual exponent for USD prices.
pub const EXPO: i32 = -8;

/// A price as a test sets it: USD with `expo = -8` (as Pyth publishes), confidence and EMA.
#[derive(Clone, Copy, Debug)]
pub struct Quote {
    pub price: i64,
    pub conf: u64,
    pub ema_price: i64,
    pub publish_time: i64,
    pub trading: bool,
    pub verification_full: bool,
}

impl Quote {
    /// A clean quote at `usd` (whole dollars with up to 8 decimals via `price_e8`).
    pub fn at(price_e8: i64, publish_time: i64) -> Quote {
        Quote {
            price: price_e8,
            conf: (price_e8 / 1000).unsigned_abs(),
            ema_price: price_e8,
            publish_time,
            trading: true,
            verification_full: true,
        }
    }
}

pub fn usd(whole: f64) -> i64 {
    (whole * 1e8).round() as i64
}

/// A legacy price account (`pyth-sdk-solana` layout), owned by the Pyth oracle program.
pub fn legacy_account(quote: &Quote) -> Account {
    let mut price = SolanaPriceAccount {
        magic: MAGIC,
        ver: VERSION_2,
        atype: AccountType::Price as u32,
        size: std::mem::size_of::<SolanaPriceAccount>() as u32,
        expo: EXPO,
        timestamp: quote.publish_time,
        ema_price: Rational {
            val: quote.ema_price,
            numer: quote.ema_price,
            denom: 1,
        },
        ..SolanaPriceAccount::default()
    };
    price.agg = PriceInfo {
        price: quote.price,
        conf: quote.conf,
        status: if quote.trading {
            PriceStatus::Trading
        } else {
            PriceStatus::Halted
        },
        corp_act: Default::default(),
        pub_slot: 1,
    };
    Account {
        lamports: 1_000_000_000,
        data: bytemuck::bytes_of(&price).to_vec(),
        owner: PYTH_LEGACY_PROGRAM_ID,
        executable: false,
        rent_epoch: 0,
    }
}

/// A `PriceUpdateV2` account (Pyth receiver), serialized with the receiver SDK's own type.
pub fn pull_account(quote: &Quote, feed_id: [u8; 32]) -> Account {
    let update = PriceUpdateV2 {
        write_authority: Pubkey::new_unique(),
        verification_level: if quote.verification_full {
            VerificationLevel::Full
        } else {
            VerificationLevel::Partial { num_signatures: 5 }
        },
        price_message: PriceFeedMessage {
            feed_id,
            price: quote.price,
            conf: quote.conf,
            exponent: EXPO,
            publish_time: quote.publish_time,
            prev_publish_time: quote.publish_time - 1,
            ema_price: quote.ema_price,
            ema_conf: quote.conf,
        },
        posted_slot: 1,
    };
    let mut data = Vec::with_capacity(PriceUpdateV2::LEN);
    update
        .try_serialize(&mut data)
        .expect("serialize PriceUpdateV2");
    assert_eq!(&data[..8], PriceUpdateV2::DISCRIMINATOR);
    Account {
        lamports: 1_000_000_000,
        data,
        owner: PYTH_RECEIVER_PROGRAM_ID,
        executable: false,
        rent_epoch: 0,
    }
}
