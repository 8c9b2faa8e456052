//! `shard_of`: which supervisor instance owns a leader, by rendezvous (highest-random-weight) hashing.
//!
//! For shard `i` in `0..n` the weight of an address is the first 8 bytes, big-endian, of
//! `keccak256(address (20 bytes) ‖ be32(i))`; the shard with the highest weight owns the address (the lowest
//! index on a tie). Any language with Keccak-256 reproduces it. Growing `n` to `n + 1` moves only the
//! addresses whose new shard is `n` (about 1/(n+1) of them) and no address between old shards, so a resize
//! resubscribes few leaders.

use alloy_primitives::Address;

use crate::error::{CoreError, CoreResult};
use crate::hash::keccak256;

/// The weight of `address` for shard `index`.
pub fn weight(address: &Address, index: u32) -> u64 {
    let mut buf = [0u8; 24];
    buf[..20].copy_from_slice(address.as_slice());
    buf[20..].copy_from_slice(&index.to_be_bytes());
    let h = keccak256(&buf);
    u64::from_be_bytes([h[0], h[1], h[2], h[3], h[4], h[5], h[6], h[7]])
}

/// The shard in `0..shard_count` that owns `address`.
pub fn shard_of(address: &Address, shard_count: u32) -> CoreResult<u32> {
    if shard_count == 0 {
        return Err(CoreError::InvalidInput("shard_count must be at least 1, got 0".into()));
    }
    let mut best = (weight(address, 0), 0);
    for i in 1..shard_count {
        let w = weight(address, i);
        if w > best.0 {
            best = (w, i);
        }
    }
    Ok(best.1)
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloy_primitives::address;
    use proptest::prelude::*;
    use rstest::rstest;

    // Vectors computed independently with eth_utils.keccak in Python (tests/unit/test_shard.py holds the
    // same table and recomputes it).
    #[rstest]
    #[case(address!("0000000000000000000000000000000000000000"), 1, 0)]
    #[case(address!("0000000000000000000000000000000000000000"), 4, 1)]
    #[case(address!("f39fd6e51aad88f6f4ce6ab8827279cfffb92266"), 2, 1)]
    #[case(address!("f39fd6e51aad88f6f4ce6ab8827279cfffb92266"), 8, 6)]
    #[case(address!("70997970c51812dc3a010c7d01b50e0d17dc79c8"), 3, 0)]
    #[case(address!("70997970c51812dc3a010c7d01b50e0d17dc79c8"), 16, 15)]
    fn test_vectors(#[case] addr: Address, #[case] n: u32, #[case] shard: u32) {
        assert_eq!(shard_of(&addr, n).unwrap(), shard);
    }

    #[test]
    fn zero_shards_is_refused() {
        assert!(shard_of(&Address::ZERO, 0).is_err());
    }

    proptest! {
        #[test]
        fn in_range_and_minimal_moves_on_growth(bytes in any::<[u8; 20]>(), n in 1u32..64) {
            let a = Address::from(bytes);
            let before = shard_of(&a, n).unwrap();
            let after = shard_of(&a, n + 1).unwrap();
            prop_assert!(before < n);
            prop_assert!(after == before || after == n);
        }
    }
}
