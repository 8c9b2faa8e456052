//! POLY_1271 (signature type 3): the ERC-7739 wrap a deposit wallet's owner signs for a V2 order, and its check.
//!
//! A deposit wallet is an ERC-1271 contract; the exchange asks it `isValidSignature(orderHash, wrap)`. The
//! wallet (Solady's ERC-7739 "nested TypedDataSign") wants the owner's signature over
//! `keccak(0x1901 ‖ exchangeSeparator ‖ hashStruct(TypedDataSign{contents: order, wallet's own domain}))`,
//! which binds the signature to both the exchange and this one wallet, so a key that owns several wallets
//! cannot have one wallet's order replayed through another. The wrap carries what the wallet needs to rebuild
//! that digest:
//!
//! ```text
//! sig65 (r ‖ s ‖ v) ‖ exchangeSeparator ‖ contentsHash (the order struct hash) ‖ ORDER_TYPE ‖ uint16be(len)
//! ```
//!
//! The order's id stays the exchange's own EIP-712 digest of the order; only the signature differs.

use std::sync::LazyLock;

use alloy_primitives::{keccak256, Address, Keccak256, B256, U256};

use crate::eip712::{typed_digest, v2, ExchangeDomain, OrderRef, SignedTypedData, SIGNATURE_TYPE_POLY_1271};
use crate::error::{CoreError, CoreResult};
use crate::signer::{recover_address, Signer, SIGNATURE_LEN};

/// The EIP-712 domain name and version of a deposit wallet (its `eip712Domain()`), salt zero.
pub const DEPOSIT_WALLET_DOMAIN_NAME: &str = "DepositWallet";
pub const DEPOSIT_WALLET_DOMAIN_VERSION: &str = "1";

/// The V2 `Order` type string, as the wrap carries it (checked against alloy's `encodeType` in the tests).
pub const ORDER_TYPE: &str =
    "Order(uint256 salt,address maker,address signer,uint256 tokenId,uint256 makerAmount,\
uint256 takerAmount,uint8 side,uint8 signatureType,uint256 timestamp,bytes32 metadata,bytes32 builder)";

/// Length of an order's wrap: 317 bytes (`0x` + 634 hex digits, the 636 characters the CLOB API carries).
pub const WRAP_LEN: usize = SIGNATURE_LEN + 32 + 32 + ORDER_TYPE.len() + 2;

/// The `TypedDataSign` type hash for `Order` contents, and the wallet domain's name and version hashes.
struct Constants {
    typed_data_sign: B256,
    name: B256,
    version: B256,
}

static CONSTANTS: LazyLock<Constants> = LazyLock::new(|| Constants {
    typed_data_sign: keccak256(format!(
        "TypedDataSign(Order contents,string name,string version,uint256 chainId,address verifyingContract,\
         bytes32 salt){ORDER_TYPE}"
    )),
    name: keccak256(DEPOSIT_WALLET_DOMAIN_NAME),
    version: keccak256(DEPOSIT_WALLET_DOMAIN_VERSION),
});

/// `hashStruct(TypedDataSign)`: the order struct hash `contents` under `wallet`'s domain on `chain_id`.
pub fn typed_data_sign_hash(contents: &B256, wallet: Address, chain_id: u64) -> B256 {
    let constants = &*CONSTANTS;
    let mut hasher = Keccak256::new();
    hasher.update(constants.typed_data_sign);
    hasher.update(contents);
    hasher.update(constants.name);
    hasher.update(constants.version);
    hasher.update(U256::from(chain_id).to_be_bytes::<32>());
    hasher.update(wallet.into_word());
    // The wallet domain's salt is bytes32(0).
    hasher.update(B256::ZERO);
    hasher.finalize()
}

/// The digest the wallet's owner signs for an order whose struct hash is `contents`.
fn owner_digest(exchange_separator: &B256, contents: &B256, wallet: Address, chain_id: u64) -> B256 {
    typed_digest(exchange_separator, &typed_data_sign_hash(contents, wallet, chain_id))
}

/// Signs a type-3 V2 order with the key of the wallet's owner: `hash` is the order hash (the order id),
/// `signature` the [`WRAP_LEN`]-byte wrap. The wallet is `order.signer`, which must equal `order.maker` and
/// differ from the owner's own address.
pub fn sign_order(owner: &Signer, domain: &ExchangeDomain, order: &v2::Order) -> CoreResult<SignedTypedData> {
    if order.signatureType != SIGNATURE_TYPE_POLY_1271 {
        return Err(CoreError::InvalidInput(format!(
            "a POLY_1271 wrap is for signature type 3 orders, got signature type {}",
            order.signatureType
        )));
    }
    // The exchange refuses a type-3 order whose signer is not its maker; refuse it before signing.
    if order.signer != order.maker {
        return Err(CoreError::InvalidInput(format!(
            "a POLY_1271 order's signer must be its maker (the deposit wallet): signer {:#x}, maker {:#x}",
            order.signer, order.maker
        )));
    }
    // A wallet is a contract, never its owner's own address: this is an EOA order mislabelled as type 3.
    if order.signer == owner.address() {
        return Err(CoreError::InvalidInput(format!(
            "a POLY_1271 order's signer is the deposit wallet, not its owner {:#x}; an owner's own orders are type 0",
            order.signer
        )));
    }
    if domain.version != 2 {
        return Err(CoreError::InvalidInput(format!(
            "POLY_1271 orders are V2 orders; the domain is version {}",
            domain.version
        )));
    }
    let contents = OrderRef::V2(order).struct_hash();
    let signature =
        owner.sign_hash_rsv(&owner_digest(&domain.separator, &contents, order.signer, domain.chain_id));
    let mut wrap = Vec::with_capacity(WRAP_LEN);
    wrap.extend_from_slice(&signature);
    wrap.extend_from_slice(domain.separator.as_slice());
    wrap.extend_from_slice(contents.as_slice());
    wrap.extend_from_slice(ORDER_TYPE.as_bytes());
    wrap.extend_from_slice(&(ORDER_TYPE.len() as u16).to_be_bytes());
    debug_assert_eq!(wrap.len(), WRAP_LEN);
    Ok(SignedTypedData { hash: typed_digest(&domain.separator, &contents), signature: wrap })
}

/// The parts of an order's wrap, borrowed from its bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Poly1271Wrap<'a> {
    /// The owner's `r ‖ s ‖ v`.
    pub signature: &'a [u8; SIGNATURE_LEN],
    /// The exchange's EIP-712 domain separator.
    pub exchange_separator: B256,
    /// The order's struct hash.
    pub contents: B256,
}

impl<'a> Poly1271Wrap<'a> {
    /// Splits a wrap; anything but exactly `sig65 ‖ separator ‖ contents ‖ ORDER_TYPE ‖ uint16be(len)` is a
    /// `Decode` error (a wallet that accepts other contents types is not one an order can be signed for).
    pub fn parse(wrap: &'a [u8]) -> CoreResult<Self> {
        if wrap.len() < SIGNATURE_LEN + 64 + 2 {
            return Err(CoreError::Decode(format!(
                "a POLY_1271 wrap is {WRAP_LEN} bytes, got {} bytes",
                wrap.len()
            )));
        }
        let (body, suffix) = wrap.split_at(wrap.len() - 2);
        let declared = usize::from(u16::from_be_bytes([suffix[0], suffix[1]]));
        if declared != ORDER_TYPE.len() || wrap.len() != WRAP_LEN {
            return Err(CoreError::Decode(format!(
                "a POLY_1271 wrap is {WRAP_LEN} bytes ending in a type length of {}, got {} bytes declaring {declared}",
                ORDER_TYPE.len(),
                wrap.len()
            )));
        }
        let contents_type = &body[SIGNATURE_LEN + 64..];
        if contents_type != ORDER_TYPE.as_bytes() {
            return Err(CoreError::Decode(
                "a POLY_1271 wrap's contents type is not the V2 Order type".into(),
            ));
        }
        Ok(Self {
            signature: body[..SIGNATURE_LEN].try_into().expect("length checked above"),
            exchange_separator: B256::from_slice(&body[SIGNATURE_LEN..SIGNATURE_LEN + 32]),
            contents: B256::from_slice(&body[SIGNATURE_LEN + 32..SIGNATURE_LEN + 64]),
        })
    }
}

/// Checks a wrap as the deposit wallet `wallet` on `chain_id` does for `isValidSignature(order_hash, wrap)`
/// and returns the address that signed it; the caller compares it with the wallet's owner.
///
/// Refused (as errors): a malformed wrap, a separator and contents that do not hash to `order_hash` (another
/// order, another exchange or chain), and a signature from which no key recovers. A wrap signed for another
/// wallet or chain id recovers to some other address, which the owner comparison refuses.
pub fn recover_owner(wrap: &[u8], wallet: Address, chain_id: u64, order_hash: &B256) -> CoreResult<Address> {
    let parts = Poly1271Wrap::parse(wrap)?;
    let wrapped_hash = typed_digest(&parts.exchange_separator, &parts.contents);
    if wrapped_hash != *order_hash {
        return Err(CoreError::InvalidInput(format!(
            "the POLY_1271 wrap is for order hash {wrapped_hash}, not {order_hash}"
        )));
    }
    let digest = owner_digest(&parts.exchange_separator, &parts.contents, wallet, chain_id);
    recover_address(&digest, parts.signature)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::eip712::{self, EXCHANGE_DOMAIN_NAME, SIDE_BUY};
    use alloy_primitives::{address, b256};
    use alloy_sol_types::SolStruct;
    use proptest::prelude::*;

    const ANVIL_KEY_0: &str = "ac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80";
    const ANVIL_ADDR_0: Address = address!("f39Fd6e51aad88F6F4ce6aB8827279cffFb92266");
    const WALLET: Address = address!("1111111111111111111111111111111111111111");

    fn owner() -> Signer {
        Signer::from_hex(ANVIL_KEY_0).unwrap()
    }

    /// py-clob-client-v2's `_poly_1271_order_data()` with its fixed salt and timestamp.
    fn vector_order() -> v2::Order {
        v2::Order {
            salt: U256::from(479_249_096_354u64),
            maker: WALLET,
            signer: WALLET,
            tokenId: U256::from(1234),
            makerAmount: U256::from(100_000_000),
            takerAmount: U256::from(50_000_000),
            side: SIDE_BUY,
            signatureType: SIGNATURE_TYPE_POLY_1271,
            timestamp: U256::from(1_710_000_000_000u64),
            metadata: B256::ZERO,
            builder: B256::ZERO,
        }
    }

    /// Amoy (80002), the V2 exchange py-clob-client-v2's config names for it.
    fn amoy_domain() -> ExchangeDomain {
        ExchangeDomain::new(
            address!("E111180000d2663C0091e4f400237545B87B996B"),
            80_002,
            2,
            EXCHANGE_DOMAIN_NAME,
        )
        .unwrap()
    }

    /// Verbatim from py-clob-client-v2's tests/order_utils/test_exchange_order_builder_v2.py.
    const EXPECTED_WRAP: &str = concat!(
        "a3a093c83b6c20c83355c16ce94c92e6e9fcbdeb840618cc74f6c57a42ad145b",
        "2b98db73d2c73cbf1f2b6af288566ae81960ddbc3a13921027358a8bff3be6ff1c",
        "a440cbd865bc0c6243d7a8df9a8bf48a8827b0a4abbb61c30e96d305423af148",
        "d23d42d3ad94e65d78258cecaf8dcbaddac0f73dc085040f2c12bb595dd83804",
        "4f726465722875696e743235362073616c742c61646472657373206d616b65722c",
        "61646472657373207369676e65722c75696e7432353620746f6b656e49642c75",
        "696e74323536206d616b6572416d6f756e742c75696e743235362074616b6572",
        "416d6f756e742c75696e743820736964652c75696e7438207369676e61747572",
        "65547970652c75696e743235362074696d657374616d702c6279746573333220",
        "6d657461646174612c62797465733332206275696c6465722900ba",
    );

    #[test]
    fn order_type_is_alloys_and_the_wrap_is_317_bytes() {
        assert_eq!(ORDER_TYPE, v2::Order::eip712_encode_type());
        assert_eq!(WRAP_LEN, 317);
        assert_eq!(ORDER_TYPE.len(), 0xba);
    }

    #[test]
    fn matches_py_clob_client_v2_vector() {
        let signed = eip712::sign_order(&owner(), &amoy_domain(), OrderRef::V2(&vector_order())).unwrap();
        assert_eq!(hex::encode(&signed.signature), EXPECTED_WRAP);
        assert_eq!(signed.hash, b256!("2afca94626db91b2d556c351584a4cd93e13da32e377dc48c7983e43afa5ab47"));
        assert_eq!(recover_owner(&signed.signature, WALLET, 80_002, &signed.hash).unwrap(), ANVIL_ADDR_0);
    }

    #[test]
    fn refuses_orders_it_cannot_wrap() {
        let domain = amoy_domain();
        let other_signer = v2::Order { signer: ANVIL_ADDR_0, ..vector_order() };
        let err = sign_order(&owner(), &domain, &other_signer).unwrap_err();
        assert!(err.to_string().contains("signer must be its maker"), "{err}");
        let eoa = v2::Order { signatureType: 0, ..vector_order() };
        assert!(sign_order(&owner(), &domain, &eoa).is_err());
        let own = v2::Order { maker: ANVIL_ADDR_0, signer: ANVIL_ADDR_0, ..vector_order() };
        let err = sign_order(&owner(), &domain, &own).unwrap_err();
        assert!(err.to_string().contains("not its owner"), "{err}");
        let v1_domain = ExchangeDomain::new(domain.exchange, 80_002, 1, EXCHANGE_DOMAIN_NAME).unwrap();
        assert!(sign_order(&owner(), &v1_domain, &vector_order()).is_err());
    }

    #[test]
    fn forged_wraps_are_refused() {
        let domain = amoy_domain();
        let signed = sign_order(&owner(), &domain, &vector_order()).unwrap();
        let hash = signed.hash;
        let wrap = &signed.signature;
        // Another wallet or chain id: the signature recovers to someone else.
        assert_ne!(recover_owner(wrap, ANVIL_ADDR_0, 80_002, &hash).unwrap(), ANVIL_ADDR_0);
        assert_ne!(recover_owner(wrap, WALLET, 137, &hash).unwrap(), ANVIL_ADDR_0);
        // Another exchange: the order hash it expects is not the wrapped one.
        let other = ExchangeDomain::new(Address::repeat_byte(9), 80_002, 2, EXCHANGE_DOMAIN_NAME).unwrap();
        let other_hash = other.order_hash(OrderRef::V2(&vector_order())).unwrap();
        assert!(recover_owner(wrap, WALLET, 80_002, &other_hash)
            .unwrap_err()
            .to_string()
            .contains("order hash"));
        // Truncated, extended, wrong length suffix.
        assert!(matches!(
            recover_owner(&wrap[..WRAP_LEN - 1], WALLET, 80_002, &hash),
            Err(CoreError::Decode(_))
        ));
        assert!(matches!(recover_owner(&wrap[..10], WALLET, 80_002, &hash), Err(CoreError::Decode(_))));
        let mut longer = wrap.clone();
        longer.insert(SIGNATURE_LEN + 64, b' ');
        assert!(matches!(recover_owner(&longer, WALLET, 80_002, &hash), Err(CoreError::Decode(_))));
        let mut suffix = wrap.clone();
        suffix[WRAP_LEN - 1] = 0xbb;
        assert!(matches!(recover_owner(&suffix, WALLET, 80_002, &hash), Err(CoreError::Decode(_))));
    }

    fn order_strategy() -> impl Strategy<Value = v2::Order> {
        (
            any::<[u8; 32]>(),
            any::<[u8; 20]>(),
            any::<[u8; 32]>(),
            any::<u128>(),
            any::<u128>(),
            0u8..2,
            any::<u64>(),
            any::<[u8; 32]>(),
            any::<[u8; 32]>(),
        )
            .prop_map(|(salt, wallet, token, making, taking, side, timestamp, metadata, builder)| {
                v2::Order {
                    salt: U256::from_be_bytes(salt),
                    maker: Address::from(wallet),
                    signer: Address::from(wallet),
                    tokenId: U256::from_be_bytes(token),
                    makerAmount: U256::from(making),
                    takerAmount: U256::from(taking),
                    side,
                    signatureType: SIGNATURE_TYPE_POLY_1271,
                    timestamp: U256::from(timestamp),
                    metadata: B256::from(metadata),
                    builder: B256::from(builder),
                }
            })
    }

    proptest! {
        #[test]
        fn recovers_the_owner_and_refuses_any_flipped_byte(
            order in order_strategy(),
            key in any::<[u8; 32]>(),
            exchange in any::<[u8; 20]>(),
            chain_id in 1u64..u64::MAX,
            at in 0usize..WRAP_LEN,
            flip in 1u8..=255,
        ) {
            let Ok(owner) = Signer::from_bytes(&key) else { return Ok(()) };
            let domain = ExchangeDomain::new(Address::from(exchange), chain_id, 2, EXCHANGE_DOMAIN_NAME).unwrap();
            let signed = sign_order(&owner, &domain, &order).unwrap();
            prop_assert_eq!(signed.signature.len(), WRAP_LEN);
            prop_assert_eq!(signed.hash, domain.order_hash(OrderRef::V2(&order)).unwrap());
            prop_assert_eq!(recover_owner(&signed.signature, order.signer, chain_id, &signed.hash).unwrap(), owner.address());
            let mut forged = signed.signature.clone();
            forged[at] ^= flip;
            // A flipped byte either makes the wrap fail the checks or recovers to another key.
            if let Ok(recovered) = recover_owner(&forged, order.signer, chain_id, &signed.hash) {
                prop_assert_ne!(recovered, owner.address());
            }
        }
    }
}
