//! `Signal`: one leader fill, whatever source detected it (DESIGN.md §1, docs/seams.md).

use alloy_primitives::{Address, B256, U256};

use crate::error::{CoreError, CoreResult};
use crate::hash::{self, truncate};

/// Which way the leader traded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Side {
    Buy,
    Sell,
}

impl Side {
    /// The boundary spelling: `"BUY"` / `"SELL"`.
    pub fn as_str(self) -> &'static str {
        match self {
            Side::Buy => "BUY",
            Side::Sell => "SELL",
        }
    }

    /// Parses the boundary spelling (exact, upper case).
    pub fn parse(text: &str) -> CoreResult<Side> {
        match text {
            "BUY" => Ok(Side::Buy),
            "SELL" => Ok(Side::Sell),
            other => Err(CoreError::InvalidInput(format!(
                "side must be \"BUY\" or \"SELL\", got {:?}",
                truncate(other)
            ))),
        }
    }
}

/// What produced the signal.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Source {
    /// A V1 exchange's `OrderFilled`.
    V1,
    /// A V2 exchange's `OrderFilled`.
    V2,
    /// A CTF `TransferSingle` / `TransferBatch`.
    Ctf,
    /// A pending transaction (later sources build signals through the same type).
    Mempool,
    /// Polymarket's activity feed.
    Activity,
}

impl Source {
    pub fn as_str(self) -> &'static str {
        match self {
            Source::V1 => "v1",
            Source::V2 => "v2",
            Source::Ctf => "ctf",
            Source::Mempool => "mempool",
            Source::Activity => "activity",
        }
    }

    pub fn parse(text: &str) -> CoreResult<Source> {
        match text {
            "v1" => Ok(Source::V1),
            "v2" => Ok(Source::V2),
            "ctf" => Ok(Source::Ctf),
            "mempool" => Ok(Source::Mempool),
            "activity" => Ok(Source::Activity),
            other => Err(CoreError::InvalidInput(format!(
                "source must be one of v1, v2, ctf, mempool, activity; got {:?}",
                truncate(other)
            ))),
        }
    }
}

/// One leader fill. Amounts are base units (6 decimals); the price is the exact ratio
/// `price_num / price_den` (collateral ÷ tokens, not reduced), `0/0` when unknown (CTF transfers).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Signal {
    pub leader: Address,
    pub token_id: U256,
    pub side: Side,
    /// Outcome tokens traded.
    pub size: U256,
    pub price_num: U256,
    pub price_den: U256,
    /// Collateral moved; 0 when unknown.
    pub usd: U256,
    pub tx_hash: B256,
    pub log_index: u64,
    /// Position inside a `TransferBatch`, else 0.
    pub sub_index: u32,
    pub block_number: Option<u64>,
    pub block_hash: Option<B256>,
    /// The emitting exchange, or the CTF.
    pub exchange: Address,
    pub source: Source,
    pub removed: bool,
    pub seen_at_ns: u64,
    /// The order's EIP-712 hash when the source names it: an `OrderFilled` row's topic 1 (v1, v2), a pending
    /// order's digest (mempool); `None` for CTF transfers and feed frames. It joins a fill's sightings
    /// across transactions (a re-settled match keeps its orders' hashes); the dedup key does not include it.
    pub order_hash: Option<B256>,
}

impl Signal {
    /// `dedup_key(tx_hash, log_index, sub_index)`; for a CTF transfer
    /// `keccak256(tx_hash ‖ be64(log_index) ‖ be32(sub_index) ‖ leader)`, because one transfer between two
    /// leaders is two fills (the sender's SELL, the receiver's BUY) that must not drop each other.
    pub fn dedup_key(&self) -> [u8; 32] {
        match self.source {
            Source::Ctf => party_dedup_key(&self.tx_hash.0, self.log_index, self.sub_index, &self.leader),
            _ => hash::dedup_key(&self.tx_hash.0, self.log_index, self.sub_index),
        }
    }

    /// Whether the price is known (`price_den > 0`).
    pub fn has_price(&self) -> bool {
        !self.price_den.is_zero()
    }
}

/// The dedup key of one party's side of a CTF transfer: `dedup_key`'s fields followed by the party.
pub fn party_dedup_key(tx_hash: &[u8; 32], log_index: u64, sub_index: u32, party: &Address) -> [u8; 32] {
    let mut buf = [0u8; 64];
    buf[..32].copy_from_slice(tx_hash);
    buf[32..40].copy_from_slice(&log_index.to_be_bytes());
    buf[40..44].copy_from_slice(&sub_index.to_be_bytes());
    buf[44..].copy_from_slice(party.as_slice());
    hash::keccak256(&buf)
}

/// Parses an address given as `0x` + 40 hex digits, any case.
pub fn parse_address(text: &str) -> CoreResult<Address> {
    let digits = text.strip_prefix("0x").or_else(|| text.strip_prefix("0X")).ok_or_else(|| {
        CoreError::InvalidInput(format!("address must start with 0x: {:?}", truncate(text)))
    })?;
    if digits.len() != 40 {
        return Err(CoreError::InvalidInput(format!(
            "address must have 40 hex digits, got {}: {:?}",
            digits.len(),
            truncate(text)
        )));
    }
    let mut out = [0u8; 20];
    alloy_primitives::hex::decode_to_slice(digits, &mut out)
        .map_err(|_| CoreError::InvalidInput(format!("address is not hex: {:?}", truncate(text))))?;
    Ok(Address::from(out))
}

/// Lower-case `0x` form, the boundary spelling of every address we output.
pub fn address_hex(address: &Address) -> String {
    format!("0x{}", alloy_primitives::hex::encode(address.as_slice()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use rstest::rstest;

    #[rstest]
    #[case("0x4D97DCd97eC945f40cF65F87097ACe5EA0476045", "0x4d97dcd97ec945f40cf65f87097ace5ea0476045")]
    #[case("0X0000000000000000000000000000000000000000", "0x0000000000000000000000000000000000000000")]
    fn addresses_parse_any_case_and_print_lower(#[case] input: &str, #[case] lower: &str) {
        assert_eq!(address_hex(&parse_address(input).unwrap()), lower);
    }

    #[rstest]
    #[case("4d97dcd97ec945f40cf65f87097ace5ea0476045", "start with 0x")]
    #[case("0x4d97", "40 hex digits, got 4")]
    #[case("0xzz97dcd97ec945f40cf65f87097ace5ea0476045", "not hex")]
    fn bad_addresses_say_why(#[case] input: &str, #[case] reason: &str) {
        assert!(matches!(parse_address(input), Err(CoreError::InvalidInput(m)) if m.contains(reason)));
    }

    #[rstest]
    #[case("BUY", Side::Buy)]
    #[case("SELL", Side::Sell)]
    fn sides_round_trip(#[case] text: &str, #[case] side: Side) {
        assert_eq!(Side::parse(text).unwrap(), side);
        assert_eq!(side.as_str(), text);
        assert!(Side::parse(&text.to_lowercase()).is_err());
    }

    #[test]
    fn sources_round_trip() {
        for s in [Source::V1, Source::V2, Source::Ctf, Source::Mempool, Source::Activity] {
            assert_eq!(Source::parse(s.as_str()).unwrap(), s);
        }
        assert!(Source::parse("V1").is_err());
    }
}
