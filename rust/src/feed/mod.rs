//! Frames of Polymarket's activity feed (RTDS, topic `activity`) → one [`ActivityTrade`] per trade of a
//! watched wallet, its numbers read exactly.
//!
//! A data frame is `{"connection_id", "payload": {...}, "timestamp": <ms>, "topic": "activity", "type":
//! "trades" | "orders_matched"}`. Of its payload:
//! - the wallet is `proxyWallet` (else `proxy_wallet`, `wallet` or `user`, the first present): the order's
//!   maker, which is the deposit or proxy wallet, never the key that signed; frames of other wallets are
//!   skipped, not rejected;
//! - `asset` (or `asset_id`) is the token id, decimal digits as a string or a JSON integer;
//! - `side` is `BUY`/`SELL` (any case);
//! - `size` (shares) and `price` arrive as JSON numbers or strings: their decimal text is read into
//!   6-decimal base units, exactly (`decimal::parse_units`); a size of zero, a price outside (0, 1), more
//!   than 6 decimals, a sign or an exponent is a reject;
//! - `transactionHash` (or `transaction_hash`) is required: it joins the trade to its fill;
//! - `timestamp` is whole seconds, milliseconds (any value ≥ 10^11 is taken as ms) or seconds with up to
//!   3 decimals; without one the envelope's (ms) is used.
//!
//! The signal: source `activity`, leader = the wallet, `log_index` = [`NO_LOG_INDEX`] (no log yet), sub
//! index 0, price = `price_units / 10^6` exactly, `usd = floor(size × price)`, no block, no exchange.
//! Anything else (not JSON, not an object, no payload, another topic or type, a bad field) is a
//! [`Reject`] with its index in the batch and a reason; nothing here panics on input.

pub mod decimal;

use std::borrow::Cow;
use std::sync::{Arc, PoisonError, RwLock};

use alloy_primitives::{Address, B256, U256};
use serde::Deserialize;
use serde_json::value::RawValue;

use crate::calldata::NO_LOG_INDEX;
use crate::logs::{AddressSet, Reject};
use crate::signal::{parse_address, Side, Signal, Source};

/// Base units per share and per unit of collateral (6 decimals).
pub const UNITS: u64 = 1_000_000;
const SCALE: u32 = 6;
/// Timestamps at or above this are milliseconds (10^11 s is the year 5138; 10^11 ms is 1973).
const MS_THRESHOLD: u64 = 100_000_000_000;
/// Frames above this size are refused before parsing (a real trade frame is under 2 KiB).
pub const MAX_FRAME: usize = 64 * 1024;

/// Which of the topic's two message types carried the trade (they can carry the same trade twice).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FrameType {
    Trades,
    OrdersMatched,
}

impl FrameType {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Trades => "trades",
            Self::OrdersMatched => "orders_matched",
        }
    }
}

/// One trade of a watched wallet, as the feed reported it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ActivityTrade {
    /// Leader, token, side, size, exact price, usd, transaction; source `activity`, no log index.
    pub signal: Signal,
    pub frame_type: FrameType,
    /// The trade's time in ms (the payload's, else the envelope's).
    pub timestamp_ms: u64,
    /// When the service pushed the frame (the envelope's ms), if it said.
    pub pushed_ms: Option<u64>,
}

/// The outcome of one batch of frames.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ParsedFrames {
    pub trades: Vec<ActivityTrade>,
    pub rejects: Vec<Reject>,
    /// Well-formed trade frames of wallets that are not watched.
    pub skipped: usize,
}

#[derive(Deserialize)]
struct Envelope<'a> {
    #[serde(borrow, default)]
    topic: Option<Cow<'a, str>>,
    #[serde(rename = "type", borrow, default)]
    kind: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    payload: Option<&'a RawValue>,
    #[serde(borrow, default)]
    timestamp: Option<&'a RawValue>,
    #[serde(borrow, default)]
    message: Option<Cow<'a, str>>,
}

#[derive(Deserialize)]
#[allow(non_snake_case)]
struct Payload<'a> {
    #[serde(borrow, default)]
    proxyWallet: Option<&'a RawValue>,
    #[serde(borrow, default)]
    proxy_wallet: Option<&'a RawValue>,
    #[serde(borrow, default)]
    wallet: Option<&'a RawValue>,
    #[serde(borrow, default)]
    user: Option<&'a RawValue>,
    #[serde(borrow, default)]
    asset: Option<&'a RawValue>,
    #[serde(borrow, default)]
    asset_id: Option<&'a RawValue>,
    #[serde(borrow, default)]
    side: Option<&'a RawValue>,
    #[serde(borrow, default)]
    size: Option<&'a RawValue>,
    #[serde(borrow, default)]
    price: Option<&'a RawValue>,
    #[serde(borrow, default)]
    transactionHash: Option<&'a RawValue>,
    #[serde(borrow, default)]
    transaction_hash: Option<&'a RawValue>,
    #[serde(borrow, default)]
    timestamp: Option<&'a RawValue>,
}

/// The first field present (serde reads a JSON `null` as absent).
fn first<'a>(fields: &[Option<&'a RawValue>]) -> Option<&'a RawValue> {
    fields.iter().flatten().copied().next()
}

/// A field's text (a number's digits or a string's contents), or a reason naming the field.
fn field_text<'a>(name: &str, raw: Option<&'a RawValue>) -> Result<Cow<'a, str>, String> {
    let raw = raw.ok_or_else(|| format!("{name} is missing"))?;
    decimal::value_text(raw.get()).map_err(|why| format!("{name} {why}"))
}

fn units(name: &str, raw: Option<&RawValue>) -> Result<U256, String> {
    let text = field_text(name, raw)?;
    decimal::parse_units(&text, SCALE).map_err(|why| format!("{name} {why}"))
}

/// Seconds, milliseconds, or seconds with up to 3 decimals → ms.
fn timestamp_ms(name: &str, raw: &RawValue) -> Result<u64, String> {
    let text = field_text(name, Some(raw))?;
    let ms = if text.contains('.') {
        decimal::parse_units(&text, 3).map_err(|why| format!("{name} {why}"))?
    } else {
        let whole = decimal::parse_units(&text, 0).map_err(|why| format!("{name} {why}"))?;
        if whole < U256::from(MS_THRESHOLD) {
            whole * U256::from(1000u16)
        } else {
            whole
        }
    };
    match u64::try_from(ms) {
        Ok(0) => Err(format!("{name} is zero")),
        Ok(ms) => Ok(ms),
        Err(_) => Err(format!("{name} is out of range ({})", decimal::shown(&text))),
    }
}

/// Parses feed frames for a set of watched wallets; built once, leaders replaceable.
pub struct ActivityParser {
    leaders: RwLock<Option<Arc<AddressSet>>>,
}

impl ActivityParser {
    /// `leaders`: `None` keeps every wallet's trades.
    pub fn new(leaders: Option<AddressSet>) -> Self {
        Self { leaders: RwLock::new(leaders.map(Arc::new)) }
    }

    pub fn set_leaders(&self, leaders: Option<AddressSet>) {
        *self.leaders.write().unwrap_or_else(PoisonError::into_inner) = leaders.map(Arc::new);
    }

    pub fn leaders(&self) -> Option<Arc<AddressSet>> {
        self.leaders.read().unwrap_or_else(PoisonError::into_inner).clone()
    }

    /// Parses a batch of frames (one crossing per batch), stamping each trade `seen_at_ns`.
    pub fn parse_frames<F: AsRef<[u8]>>(&self, frames: &[F], seen_at_ns: u64) -> ParsedFrames {
        let leaders = self.leaders();
        let mut out = ParsedFrames::default();
        for (index, frame) in frames.iter().enumerate() {
            match parse_frame(frame.as_ref(), leaders.as_deref(), seen_at_ns) {
                Ok(Some(trade)) => out.trades.push(trade),
                Ok(None) => out.skipped += 1,
                Err(reason) => out.rejects.push(Reject { index, reason }),
            }
        }
        out
    }
}

/// One frame: `Ok(None)` for a trade of a wallet that is not watched.
pub fn parse_frame(
    frame: &[u8],
    leaders: Option<&AddressSet>,
    seen_at_ns: u64,
) -> Result<Option<ActivityTrade>, String> {
    if frame.len() > MAX_FRAME {
        return Err(format!("frame of {} bytes is over {MAX_FRAME}", frame.len()));
    }
    let text = std::str::from_utf8(frame).map_err(|_| "frame is not UTF-8".to_owned())?;
    if text.trim().is_empty() {
        return Err("frame is empty".to_owned());
    }
    let envelope: Envelope<'_> = serde_json::from_str(text).map_err(|e| {
        if text.trim_start().starts_with('{') {
            format!("frame is not a well-formed object: {e}")
        } else {
            format!("frame is not a JSON object: {}", decimal::shown(text.trim()))
        }
    })?;
    let kind = envelope.kind.as_deref().unwrap_or("");
    let Some(payload) = envelope.payload else {
        return Err(match envelope.message {
            Some(message) => {
                format!("{} frame without payload: {}", decimal::shown(kind), decimal::shown(&message))
            }
            None => format!("{} frame without payload", decimal::shown(kind)),
        });
    };
    let topic = envelope.topic.as_deref().unwrap_or("");
    if topic != "activity" {
        return Err(format!("topic {} is not activity", decimal::shown(topic)));
    }
    let frame_type = match kind {
        "trades" => FrameType::Trades,
        "orders_matched" => FrameType::OrdersMatched,
        other => return Err(format!("type {} is not trades or orders_matched", decimal::shown(other))),
    };
    if !payload.get().starts_with('{') {
        return Err("payload is not a JSON object".to_owned());
    }
    let p: Payload<'_> = serde_json::from_str(payload.get())
        .map_err(|e| format!("payload is not a well-formed object: {e}"))?;

    let wallet_raw = first(&[p.proxyWallet, p.proxy_wallet, p.wallet, p.user]);
    let wallet_text = field_text("proxyWallet", wallet_raw)?;
    let wallet: Address = parse_address(&wallet_text).map_err(|e| format!("proxyWallet: {e}"))?;
    if leaders.is_some_and(|set| !set.contains(&wallet)) {
        return Ok(None);
    }

    let asset_text = field_text("asset", first(&[p.asset, p.asset_id]))?;
    if asset_text.is_empty() || asset_text.len() > 78 || !asset_text.bytes().all(|b| b.is_ascii_digit()) {
        return Err(format!("asset {} is not a decimal token id", decimal::shown(&asset_text)));
    }
    let token_id = U256::from_str_radix(&asset_text, 10)
        .map_err(|_| format!("asset {} is out of range", decimal::shown(&asset_text)))?;

    let side_text = field_text("side", p.side)?;
    let side = Side::parse(&side_text.to_ascii_uppercase())
        .map_err(|_| format!("side {} is not BUY or SELL", decimal::shown(&side_text)))?;

    let size = units("size", p.size)?;
    if size.is_zero() {
        return Err("size is zero".to_owned());
    }
    let price = units("price", p.price)?;
    let one = U256::from(UNITS);
    if price.is_zero() || price >= one {
        return Err(format!("price {} is outside (0, 1)", decimal::shown(&field_text("price", p.price)?)));
    }

    let tx_text = field_text("transactionHash", first(&[p.transactionHash, p.transaction_hash]))?;
    let tx_hash = parse_hash(&tx_text).ok_or_else(|| {
        format!("transactionHash {} is not a 0x-prefixed 32-byte hash", decimal::shown(&tx_text))
    })?;

    let pushed_ms = envelope.timestamp.map(|raw| timestamp_ms("envelope timestamp", raw)).transpose()?;
    let timestamp_ms = match p.timestamp {
        Some(raw) => timestamp_ms("timestamp", raw)?,
        None => pushed_ms.ok_or_else(|| "timestamp is missing (payload and envelope)".to_owned())?,
    };

    let signal = Signal {
        leader: wallet,
        token_id,
        side,
        size,
        price_num: price,
        price_den: one,
        usd: size * price / one,
        tx_hash,
        log_index: NO_LOG_INDEX,
        sub_index: 0,
        block_number: None,
        block_hash: None,
        exchange: Address::ZERO,
        source: Source::Activity,
        removed: false,
        seen_at_ns,
        order_hash: None,
    };
    Ok(Some(ActivityTrade { signal, frame_type, timestamp_ms, pushed_ms }))
}

fn parse_hash(text: &str) -> Option<B256> {
    let digits = text.strip_prefix("0x").or_else(|| text.strip_prefix("0X"))?;
    let mut out = [0u8; 32];
    (digits.len() == 64).then_some(())?;
    alloy_primitives::hex::decode_to_slice(digits, &mut out).ok()?;
    Some(B256::from(out))
}

#[cfg(test)]
mod tests;
