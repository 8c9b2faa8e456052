//! EIP-1559 transactions: signing one or many into raw EIP-2718 bytes and their hashes.
//!
//! The envelope is alloy-consensus's `TxEip1559`; we add nothing but the signature and one encode.

use alloy_consensus::transaction::RlpEcdsaEncodableTx;
use alloy_consensus::{SignableTransaction, TxEip1559};
use alloy_primitives::{keccak256, B256};

use crate::signer::Signer;

pub use alloy_consensus::TxEip1559 as Eip1559Tx;
pub use alloy_eips::eip2930::{AccessList, AccessListItem};
pub use alloy_primitives::TxKind;

/// A signed transaction: what `eth_sendRawTransaction` takes, and the hash the chain will know it by.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignedTx {
    /// `0x02 ‖ rlp([chain_id, nonce, …, access_list, y_parity, r, s])`.
    pub raw: Vec<u8>,
    /// keccak256 of `raw`.
    pub hash: B256,
}

/// Signs one EIP-1559 transaction.
pub fn sign_eip1559(signer: &Signer, tx: &TxEip1559) -> SignedTx {
    let signature = signer.sign_hash(&tx.signature_hash());
    let mut raw = Vec::with_capacity(tx.eip2718_encoded_length(&signature));
    // Encode once and hash those bytes, rather than letting `tx_hash` encode a second time.
    tx.eip2718_encode(&signature, &mut raw);
    let hash = keccak256(&raw);
    SignedTx { raw, hash }
}

/// Signs many transactions with one signer, in order.
pub fn sign_eip1559_batch<'a>(
    signer: &Signer,
    txs: impl IntoIterator<Item = &'a TxEip1559>,
) -> Vec<SignedTx> {
    txs.into_iter().map(|tx| sign_eip1559(signer, tx)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloy_primitives::{address, b256, Bytes, U256};
    use proptest::prelude::*;

    const ANVIL_KEY_0: &str = "ac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80";

    fn signer() -> Signer {
        Signer::from_hex(ANVIL_KEY_0).unwrap()
    }

    // Known answers from eth-account 0.14 `Account.sign_transaction` (an independent implementation).
    #[test]
    fn call_with_access_list_matches_eth_account() {
        let tx = TxEip1559 {
            chain_id: 137,
            nonce: 7,
            gas_limit: 210_000,
            max_fee_per_gas: 150_000_000_000,
            max_priority_fee_per_gas: 30_000_000_000,
            to: TxKind::Call(address!("4bFb41d5B3570DeFd03C39a9A4D8dE6Bd8B8982E")),
            value: U256::from(12_345),
            access_list: AccessList(vec![AccessListItem {
                address: address!("C011a7E12a19f7B1f670d46F03B03f3342E82DFB"),
                storage_keys: vec![B256::with_last_byte(1)],
            }]),
            input: Bytes::from_static(&[0xde, 0xad, 0xbe, 0xef]),
        };
        let signed = sign_eip1559(&signer(), &tx);
        assert_eq!(
            hex::encode(&signed.raw),
            "02f8ad8189078506fc23ac008522ecb25c0083033450944bfb41d5b3570defd03c39a9a4d8de6bd8b8982e82303984deadbeef\
             f838f794c011a7e12a19f7b1f670d46f03b03f3342e82dfbe1a000000000000000000000000000000000000000000000000000\
             0000000000000180a0d33505a29c973ffa5ff332df305710efc666824ef72f6215b0a733a3afc718c0a00eb88378dd93aac233\
             5aede8e8aced7cbc858971cdec1b3bd5d4ef89595b1581"
        );
        assert_eq!(signed.hash, b256!("80903d835414536e2d69ebb7240371bf077eabcf055ef4f0f2a27f6e6d2e8dc2"));
    }

    #[test]
    fn contract_creation_matches_eth_account() {
        let tx = TxEip1559 {
            chain_id: 31_337,
            nonce: 0,
            gas_limit: 100_000,
            max_fee_per_gas: 2_000_000_000,
            max_priority_fee_per_gas: 1_000_000_000,
            to: TxKind::Create,
            value: U256::ZERO,
            access_list: AccessList::default(),
            input: Bytes::from_static(&[0x60, 0x00]),
        };
        let signed = sign_eip1559(&signer(), &tx);
        assert_eq!(
            hex::encode(&signed.raw),
            "02f85b827a6980843b9aca008477359400830186a08080826000c001a0e7d9fe607a2505f6010f99978034f46e29d41a7985\
             ee3092a1f66bc080adfc45a0400a36dfdb1619144b56144df318b1ae1e56da616026b3d759410a1397928370"
        );
        assert_eq!(signed.hash, b256!("0f7a96895ee9657c15870101af164bd64f33c2fee2702798e8087b24b8e01979"));
    }

    proptest! {
        #[test]
        fn batch_equals_one_by_one_and_hash_is_keccak_of_raw(nonces in proptest::collection::vec(any::<u64>(), 0..8)) {
            let txs: Vec<TxEip1559> = nonces
                .iter()
                .map(|&nonce| TxEip1559 { chain_id: 1, nonce, gas_limit: 21_000, ..Default::default() })
                .collect();
            let batch = sign_eip1559_batch(&signer(), &txs);
            prop_assert_eq!(batch.len(), txs.len());
            for (tx, signed) in txs.iter().zip(&batch) {
                prop_assert_eq!(signed, &sign_eip1559(&signer(), tx));
                prop_assert_eq!(signed.hash, keccak256(&signed.raw));
                prop_assert_eq!(signed.raw[0], 0x02);
            }
        }
    }
}
