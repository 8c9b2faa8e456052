//! Keccak-256 and the copy-job dedup key.

use alloy_primitives::{keccak256 as alloy_keccak, B256};

use crate::error::{CoreError, CoreResult};

/// Length of a dedup key in bytes.
pub const DEDUP_KEY_LEN: usize = 32;

/// Keccak-256 of `data` (Ethereum's hash, not NIST SHA3-256).
#[inline]
pub fn keccak256(data: &[u8]) -> [u8; 32] {
    alloy_keccak(data).0
}

/// The dedup key of one copy-job source: `keccak256(tx_hash ‖ be64(log_index) ‖ be32(sub_index))`.
///
/// A fixed 32-byte key, so that the local TTL set and Redis hold keys of one size whatever the source.
/// `sub_index` is the position inside a `TransferBatch` and 0 for every other log.
#[inline]
pub fn dedup_key(tx_hash: &[u8; 32], log_index: u64, sub_index: u32) -> [u8; DEDUP_KEY_LEN] {
    let mut buf = [0u8; 44];
    buf[..32].copy_from_slice(tx_hash);
    buf[32..40].copy_from_slice(&log_index.to_be_bytes());
    buf[40..].copy_from_slice(&sub_index.to_be_bytes());
    keccak256(&buf)
}

/// Parses a transaction hash given as 32 raw bytes.
pub fn tx_hash_from_bytes(raw: &[u8]) -> CoreResult<[u8; 32]> {
    <[u8; 32]>::try_from(raw)
        .map_err(|_| CoreError::InvalidInput(format!("tx hash must be 32 bytes, got {} bytes", raw.len())))
}

/// Parses a transaction hash given as `0x` + 64 hex digits (either case).
pub fn tx_hash_from_hex(text: &str) -> CoreResult<[u8; 32]> {
    let digits = text
        .strip_prefix("0x")
        .or_else(|| text.strip_prefix("0X"))
        .ok_or_else(|| CoreError::Decode(format!("tx hash must start with 0x: {:?}", truncate(text))))?;
    if digits.len() != 64 {
        return Err(CoreError::Decode(format!(
            "tx hash must have 64 hex digits, got {}: {:?}",
            digits.len(),
            truncate(text)
        )));
    }
    digits
        .parse::<B256>()
        .map(|h| h.0)
        .map_err(|_| CoreError::Decode(format!("tx hash is not hex: {:?}", truncate(text))))
}

/// Cuts long untrusted text so that an error message stays one readable line.
pub(crate) fn truncate(text: &str) -> String {
    const MAX: usize = 80;
    if text.len() <= MAX {
        text.to_owned()
    } else {
        let mut end = MAX;
        while !text.is_char_boundary(end) {
            end -= 1;
        }
        format!("{}…", &text[..end])
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use rstest::rstest;

    // Known answers from the Keccak team's test vectors and Ethereum itself.
    #[rstest]
    #[case(b"", "c5d2460186f7233c927e7db2dcc703c0e500b653ca82273b7bfad8045d85a470")]
    #[case(b"abc", "4e03657aea45a94fc7d47ba826c8d667c0d1e6e33a64a036ec44f58fa12d6c45")]
    #[case(
        b"Transfer(address,address,uint256)",
        "ddf252ad1be2c89b69c2b068fc378daa952ba7f163c4a11628f55a4df523b3ef"
    )]
    fn keccak_known_answers(#[case] input: &[u8], #[case] expected: &str) {
        assert_eq!(hex::encode(keccak256(input)), expected);
    }

    #[test]
    fn dedup_key_is_keccak_of_packed_fields() {
        let tx = [0xab; 32];
        let mut packed = Vec::from(tx);
        packed.extend_from_slice(&7u64.to_be_bytes());
        packed.extend_from_slice(&2u32.to_be_bytes());
        assert_eq!(dedup_key(&tx, 7, 2), keccak256(&packed));
    }

    #[test]
    fn hex_parsing_rejects_bad_input_with_reason() {
        assert!(matches!(tx_hash_from_hex("ab"), Err(CoreError::Decode(m)) if m.contains("0x")));
        assert!(matches!(tx_hash_from_hex("0x12"), Err(CoreError::Decode(m)) if m.contains("64 hex")));
        let bad = format!("0x{}", "zz".repeat(32));
        assert!(matches!(tx_hash_from_hex(&bad), Err(CoreError::Decode(m)) if m.contains("not hex")));
        assert!(matches!(tx_hash_from_bytes(&[0; 31]), Err(CoreError::InvalidInput(_))));
    }

    proptest! {
        #[test]
        fn dedup_keys_differ_when_any_field_differs(
            tx in any::<[u8; 32]>(), li in any::<u64>(), si in any::<u32>(), d in 1u32..1000,
        ) {
            let base = dedup_key(&tx, li, si);
            prop_assert_ne!(base, dedup_key(&tx, li.wrapping_add(u64::from(d)), si));
            prop_assert_ne!(base, dedup_key(&tx, li, si.wrapping_add(d)));
            let mut other = tx;
            other[0] ^= 1;
            prop_assert_ne!(base, dedup_key(&other, li, si));
        }

        #[test]
        fn hex_roundtrip(tx in any::<[u8; 32]>()) {
            prop_assert_eq!(tx_hash_from_hex(&format!("0x{}", hex::encode(tx))).unwrap(), tx);
            prop_assert_eq!(tx_hash_from_hex(&format!("0x{}", hex::encode_upper(tx))).unwrap(), tx);
        }

        #[test]
        fn hex_parsing_never_panics(s in ".*") {
            let _ = tx_hash_from_hex(&s);
        }
    }
}
