//! Pyth legacy price accounts, decoded with `pyth-sdk-solana` from the account bytes.

use anchor_lang::prelude::*;
use pyth_sdk_solana::state::{load_price_account, PriceStatus, SolanaPriceAccount};

use super::RawPrice;
use crate::error::MarginError;

pub(crate) fn decode(data: &[u8]) -> Result<RawPrice> {
    let account: &SolanaPriceAccount =
        load_price_account::<32, ()>(data).map_err(|_| error!(MarginError::InvalidOracleData))?;
    Ok(RawPrice {
        price: account.agg.price,
        conf: account.agg.conf,
        ema_price: account.ema_price.val,
        expo: account.expo,
        publish_time: account.timestamp,
        trading: account.agg.status == PriceStatus::Trading,
    })
}
