//! Pyth pull-oracle `PriceUpdateV2` accounts, decoded with the official receiver SDK type
//! (discriminator checked); only fully verified updates of the configured feed are accepted.

use anchor_lang::prelude::*;
use pyth_solana_receiver_sdk::price_update::{PriceUpdateV2, VerificationLevel};

use super::RawPrice;
use crate::error::MarginError;

pub(crate) fn decode(data: &[u8], feed_id: &[u8; 32]) -> Result<RawPrice> {
    let mut bytes = data;
    let update = PriceUpdateV2::try_deserialize(&mut bytes)
        .map_err(|_| error!(MarginError::InvalidOracleData))?;
    require!(
        update.verification_level == VerificationLevel::Full,
        MarginError::OracleNotFullyVerified
    );
    let message = &update.price_message;
    require!(message.feed_id == *feed_id, MarginError::WrongFeedId);
    Ok(RawPrice {
        price: message.price,
        conf: message.conf,
        ema_price: message.ema_price,
        expo: message.exponent,
        publish_time: message.publish_time,
        // Pull updates carry no status: an update only exists for an aggregated price.
        trading: true,
    })
}
