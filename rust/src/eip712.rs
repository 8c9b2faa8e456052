//! EIP-712 for Polymarket: CLOB V1 and V2 `Order`s under an exchange's domain, and the L1 `ClobAuth` message.
//!
//! Structs come from alloy's `sol!` (its `encodeData`); type hashes and each exchange's domain separator are
//! computed once ("compile once, run many"), so signing an order costs two keccaks and one ECDSA signature.

use std::sync::LazyLock;

use alloy_primitives::{keccak256, Address, Keccak256, B256, U256};
use alloy_sol_types::{Eip712Domain, SolStruct};

use crate::error::{CoreError, CoreResult};
use crate::poly1271;
use crate::signer::Signer;

/// The EIP-712 domain name of Polymarket's CTF exchanges (V1, V2, and their NegRisk twins).
pub const EXCHANGE_DOMAIN_NAME: &str = "Polymarket CTF Exchange";
/// The `ClobAuth` domain: name, version, chain id, no verifying contract.
pub const CLOB_AUTH_DOMAIN_NAME: &str = "ClobAuthDomain";
pub const CLOB_AUTH_DOMAIN_VERSION: &str = "1";
/// The fixed text every `ClobAuth` carries.
pub const CLOB_AUTH_MESSAGE: &str = "This message attests that I control the given wallet";

/// Order sides as the exchange contracts number them.
pub const SIDE_BUY: u8 = 0;
pub const SIDE_SELL: u8 = 1;
/// V2 signature type whose signature is an ERC-7739 wrapper, not a plain 65-byte ECDSA signature.
pub const SIGNATURE_TYPE_POLY_1271: u8 = 3;

/// CLOB V1 (CTF Exchange, domain version "1").
pub mod v1 {
    alloy_sol_types::sol! {
        #[derive(Debug, Default, PartialEq, Eq)]
        struct Order {
            uint256 salt;
            address maker;
            address signer;
            address taker;
            uint256 tokenId;
            uint256 makerAmount;
            uint256 takerAmount;
            uint256 expiration;
            uint256 nonce;
            uint256 feeRateBps;
            uint8 side;
            uint8 signatureType;
        }
    }
}

/// CLOB V2 (CTF Exchange V2, domain version "2").
pub mod v2 {
    alloy_sol_types::sol! {
        #[derive(Debug, Default, PartialEq, Eq)]
        struct Order {
            uint256 salt;
            address maker;
            address signer;
            uint256 tokenId;
            uint256 makerAmount;
            uint256 takerAmount;
            uint8 side;
            uint8 signatureType;
            uint256 timestamp;
            bytes32 metadata;
            bytes32 builder;
        }
    }
}

mod auth {
    alloy_sol_types::sol! {
        #[derive(Debug)]
        struct ClobAuth {
            address address;
            string timestamp;
            uint256 nonce;
            string message;
        }
    }
}

static V1_TYPEHASH: LazyLock<B256> = LazyLock::new(|| keccak256(v1::Order::eip712_encode_type().as_bytes()));
static V2_TYPEHASH: LazyLock<B256> = LazyLock::new(|| keccak256(v2::Order::eip712_encode_type().as_bytes()));

/// An order of either CLOB version, borrowed.
#[derive(Debug, Clone, Copy)]
pub enum OrderRef<'a> {
    V1(&'a v1::Order),
    V2(&'a v2::Order),
}

impl OrderRef<'_> {
    fn version(self) -> u8 {
        match self {
            OrderRef::V1(_) => 1,
            OrderRef::V2(_) => 2,
        }
    }

    /// EIP-712 `hashStruct`, with the type hash taken from the once-computed static.
    pub(crate) fn struct_hash(self) -> B256 {
        let mut hasher = Keccak256::new();
        match self {
            OrderRef::V1(order) => {
                hasher.update(*V1_TYPEHASH);
                hasher.update(order.eip712_encode_data());
            }
            OrderRef::V2(order) => {
                hasher.update(*V2_TYPEHASH);
                hasher.update(order.eip712_encode_data());
            }
        }
        hasher.finalize()
    }
}

/// One exchange's EIP-712 domain with its separator precomputed; build once per (exchange, chain id).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExchangeDomain {
    pub name: String,
    /// 1 or 2: the domain version, which also fixes the `Order` struct it signs.
    pub version: u8,
    pub chain_id: u64,
    pub exchange: Address,
    pub separator: B256,
}

impl ExchangeDomain {
    /// The domain of `exchange` on `chain_id` for CLOB `version` 1 or 2, named `name`
    /// (Polymarket's exchanges all use [`EXCHANGE_DOMAIN_NAME`]).
    pub fn new(exchange: Address, chain_id: u64, version: u8, name: &str) -> CoreResult<Self> {
        if !(1..=2).contains(&version) {
            return Err(CoreError::InvalidInput(format!("order version must be 1 or 2, got {version}")));
        }
        let domain = Eip712Domain::new(
            Some(name.to_owned().into()),
            Some(version.to_string().into()),
            Some(U256::from(chain_id)),
            Some(exchange),
            None,
        );
        Ok(Self { name: name.to_owned(), version, chain_id, exchange, separator: domain.hash_struct() })
    }

    /// The order hash the exchange computes (and emits in `OrderFilled`): keccak256(0x1901 ‖ separator ‖ hashStruct).
    pub fn order_hash(&self, order: OrderRef<'_>) -> CoreResult<B256> {
        if order.version() != self.version {
            return Err(CoreError::InvalidInput(format!(
                "a V{} order cannot be hashed under a version {} domain",
                order.version(),
                self.version
            )));
        }
        Ok(typed_digest(&self.separator, &order.struct_hash()))
    }
}

/// A signed EIP-712 message: its digest and its signature, the 65-byte `r ‖ s ‖ v` (v = 27/28), or for a
/// POLY_1271 order the [`poly1271::WRAP_LEN`]-byte wrap of the wallet owner's signature.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignedTypedData {
    pub hash: B256,
    pub signature: Vec<u8>,
}

/// Signs one order under `domain`. A V2 order of signature type 3 (POLY_1271) gets the deposit wallet's
/// wrap ([`poly1271::sign_order`]): `signer` is then the wallet's owner and `order.signer` the wallet.
pub fn sign_order(
    signer: &Signer,
    domain: &ExchangeDomain,
    order: OrderRef<'_>,
) -> CoreResult<SignedTypedData> {
    if let OrderRef::V2(o) = order {
        if o.signatureType == SIGNATURE_TYPE_POLY_1271 {
            return poly1271::sign_order(signer, domain, o);
        }
    }
    let hash = domain.order_hash(order)?;
    Ok(SignedTypedData { hash, signature: signer.sign_hash_rsv(&hash).to_vec() })
}

/// Signs many orders under one domain, in order; the first bad order fails the whole batch.
pub fn sign_orders<'a>(
    signer: &Signer,
    domain: &ExchangeDomain,
    orders: impl IntoIterator<Item = OrderRef<'a>>,
) -> CoreResult<Vec<SignedTypedData>> {
    orders.into_iter().map(|order| sign_order(signer, domain, order)).collect()
}

/// The digest of a `ClobAuth` (L1 auth) message for `address` on `chain_id`.
pub fn clob_auth_hash(chain_id: u64, address: Address, timestamp: &str, nonce: U256) -> B256 {
    let domain = Eip712Domain::new(
        Some(CLOB_AUTH_DOMAIN_NAME.into()),
        Some(CLOB_AUTH_DOMAIN_VERSION.into()),
        Some(U256::from(chain_id)),
        None,
        None,
    );
    let message = auth::ClobAuth {
        address,
        timestamp: timestamp.to_owned(),
        nonce,
        message: CLOB_AUTH_MESSAGE.to_owned(),
    };
    message.eip712_signing_hash(&domain)
}

/// Signs the `ClobAuth` message that proves control of the signer's address (Polymarket's L1 auth).
pub fn sign_clob_auth(signer: &Signer, chain_id: u64, timestamp: &str, nonce: U256) -> SignedTypedData {
    let hash = clob_auth_hash(chain_id, signer.address(), timestamp, nonce);
    SignedTypedData { hash, signature: signer.sign_hash_rsv(&hash).to_vec() }
}

/// `keccak256(0x1901 ‖ separator ‖ struct_hash)`: the EIP-712 digest.
pub(crate) fn typed_digest(separator: &B256, struct_hash: &B256) -> B256 {
    let mut input = [0u8; 66];
    input[..2].copy_from_slice(&[0x19, 0x01]);
    input[2..34].copy_from_slice(separator.as_slice());
    input[34..].copy_from_slice(struct_hash.as_slice());
    keccak256(input)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::signer::recover_address;
    use alloy_primitives::{address, b256};
    use proptest::prelude::*;

    const ANVIL_KEY_0: &str = "ac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80";
    const ANVIL_ADDR_0: Address = address!("f39Fd6e51aad88F6F4ce6aB8827279cffFb92266");

    fn signer() -> Signer {
        Signer::from_hex(ANVIL_KEY_0).unwrap()
    }

    #[test]
    fn type_strings_are_polymarkets() {
        // Verbatim from py-clob-client-v2 (ORDER_TYPE_STRING) and the V1 exchange's OrderStructs.sol.
        assert_eq!(
            v2::Order::eip712_encode_type(),
            "Order(uint256 salt,address maker,address signer,uint256 tokenId,uint256 makerAmount,\
             uint256 takerAmount,uint8 side,uint8 signatureType,uint256 timestamp,bytes32 metadata,bytes32 builder)"
        );
        assert_eq!(
            v1::Order::eip712_encode_type(),
            "Order(uint256 salt,address maker,address signer,address taker,uint256 tokenId,uint256 makerAmount,\
             uint256 takerAmount,uint256 expiration,uint256 nonce,uint256 feeRateBps,uint8 side,uint8 signatureType)"
        );
        assert_eq!(
            auth::ClobAuth::eip712_encode_type(),
            "ClobAuth(address address,string timestamp,uint256 nonce,string message)"
        );
    }

    /// py-clob-client's own test vector (tests/test_order_builder.py, "generated via ethers"), Amoy V1 exchange.
    #[test]
    fn v1_order_matches_py_order_utils_vector() {
        let order = v1::Order {
            salt: U256::from(479_249_096_354u64),
            maker: ANVIL_ADDR_0,
            signer: ANVIL_ADDR_0,
            taker: Address::ZERO,
            tokenId: U256::from(1234),
            makerAmount: U256::from(100_000_000),
            takerAmount: U256::from(50_000_000),
            expiration: U256::ZERO,
            nonce: U256::ZERO,
            feeRateBps: U256::from(100),
            side: SIDE_BUY,
            signatureType: 0,
        };
        let domain = ExchangeDomain::new(
            address!("dFE02Eb6733538f8Ea35D585af8DE5958AD99E40"),
            80_002,
            1,
            EXCHANGE_DOMAIN_NAME,
        )
        .unwrap();
        let signed = sign_order(&signer(), &domain, OrderRef::V1(&order)).unwrap();
        // What py-order-utils calls the "struct hash" is the full EIP-712 digest.
        assert_eq!(signed.hash, b256!("02ca1d1aa31103804173ad1acd70066cb6c1258a4be6dada055111f9a7ea4e55"));
        assert_eq!(
            hex::encode(&signed.signature),
            "302cd9abd0b5fcaa202a344437ec0b6660da984e24ae9ad915a592a90facf5a51bb8a873cd8d270f070217fea1986531d5eec66f1162a81f66e026db653bf7ce1c"
        );
        assert_eq!(recover_address(&signed.hash, &signed.signature).unwrap(), ANVIL_ADDR_0);
    }

    /// py-clob-client-v2 1.2.1 `ExchangeOrderBuilderV2` on the Polygon V2 exchange (computed by that library).
    #[test]
    fn v2_order_matches_py_clob_client_v2() {
        let order = v2::Order {
            salt: U256::from(479_249_096_354u64),
            maker: ANVIL_ADDR_0,
            signer: ANVIL_ADDR_0,
            tokenId: "71321045679252212594626385532706912750332728571942532289631379312455583992563"
                .parse()
                .unwrap(),
            makerAmount: U256::from(100_000_000),
            takerAmount: U256::from(50_000_000),
            side: SIDE_BUY,
            signatureType: 0,
            timestamp: U256::from(1_714_000_000_000u64),
            metadata: B256::ZERO,
            builder: B256::repeat_byte(0xab),
        };
        let domain = ExchangeDomain::new(
            address!("E111180000d2663C0091e4f400237545B87B996B"),
            137,
            2,
            EXCHANGE_DOMAIN_NAME,
        )
        .unwrap();
        let signed = sign_order(&signer(), &domain, OrderRef::V2(&order)).unwrap();
        assert_eq!(signed.hash, b256!("ea9a4861bed5cea55c06799c61d1164f5929e390bfa3549f51281ddc7784a47f"));
        assert_eq!(
            hex::encode(&signed.signature),
            "b4426321e3faaa9a12a7f8a2234633eae07dba091834caddb4714f0c9b403fb21f5829f07734d50ad909d8b989160e1f4aac03b17d617f4df050335db7a167fa1c"
        );
    }

    /// py-clob-client's own ClobAuth vector (tests/signing/test_eip712.py): Amoy, timestamp 10000000, nonce 23.
    #[test]
    fn clob_auth_matches_py_clob_client_vector() {
        let signed = sign_clob_auth(&signer(), 80_002, "10000000", U256::from(23));
        assert_eq!(
            hex::encode(&signed.signature),
            "f62319a987514da40e57e2f4d7529f7bac38f0355bd88bb5adbb3768d80de6c1682518e0af677d5260366425f4361e7b70c25ae232aff0ab2331e2b164a1aedc1b"
        );
    }

    #[test]
    fn version_mismatch_and_bad_poly_1271_orders_are_refused() {
        let domain = ExchangeDomain::new(Address::ZERO, 137, 2, EXCHANGE_DOMAIN_NAME).unwrap();
        let v1_order = v1::Order::default();
        assert!(sign_order(&signer(), &domain, OrderRef::V1(&v1_order)).is_err());
        // Type 3 is the deposit wallet's wrap, which needs the wallet as both maker and signer.
        let v2_order = v2::Order {
            signatureType: SIGNATURE_TYPE_POLY_1271,
            signer: Address::repeat_byte(1),
            ..Default::default()
        };
        let err = sign_order(&signer(), &domain, OrderRef::V2(&v2_order)).unwrap_err();
        assert!(err.to_string().contains("POLY_1271"));
        let wallet = Address::repeat_byte(1);
        let v2_order = v2::Order { maker: wallet, ..v2_order };
        let signed = sign_order(&signer(), &domain, OrderRef::V2(&v2_order)).unwrap();
        assert_eq!(signed.signature.len(), poly1271::WRAP_LEN);
        assert_eq!(signed.hash, domain.order_hash(OrderRef::V2(&v2_order)).unwrap());
        assert!(ExchangeDomain::new(Address::ZERO, 137, 3, EXCHANGE_DOMAIN_NAME).is_err());
    }

    proptest! {
        #[test]
        fn cached_type_hash_equals_alloys_and_signatures_recover(
            salt in any::<u64>(), token in any::<[u8; 32]>(), amount in any::<u128>(), side in 0u8..2, chain in 1u64..100_000,
        ) {
            let order = v2::Order {
                salt: U256::from(salt),
                tokenId: U256::from_be_bytes(token),
                makerAmount: U256::from(amount),
                side,
                ..Default::default()
            };
            let domain = ExchangeDomain::new(Address::repeat_byte(7), chain, 2, EXCHANGE_DOMAIN_NAME).unwrap();
            let alloy_domain = Eip712Domain::new(
                Some(EXCHANGE_DOMAIN_NAME.into()), Some("2".into()), Some(U256::from(chain)), Some(Address::repeat_byte(7)), None,
            );
            let signed = sign_order(&signer(), &domain, OrderRef::V2(&order)).unwrap();
            prop_assert_eq!(signed.hash, order.eip712_signing_hash(&alloy_domain));
            prop_assert_eq!(recover_address(&signed.hash, &signed.signature).unwrap(), ANVIL_ADDR_0);
            let batch = sign_orders(&signer(), &domain, [OrderRef::V2(&order), OrderRef::V2(&order)]).unwrap();
            prop_assert_eq!(&batch[0], &signed);
            prop_assert_eq!(&batch[1], &signed);
        }
    }
}
