//! The events the decoder reads, ABI-decoded by alloy, and the rules that turn fills into signals.

use alloy_primitives::{Address, B256, U256};
use alloy_sol_types::{abi::AbiDecoderConfig, SolEvent};

use crate::signal::Side;

/// V1 CTF Exchange (Polymarket, 2022).
pub mod v1 {
    alloy_sol_types::sol! {
        event OrderFilled(
            bytes32 indexed orderHash,
            address indexed maker,
            address indexed taker,
            uint256 makerAssetId,
            uint256 takerAssetId,
            uint256 makerAmountFilled,
            uint256 takerAmountFilled,
            uint256 fee
        );
    }
}

/// V2 CTF Exchange (and LocalExchange, which emits the same layout).
pub mod v2 {
    alloy_sol_types::sol! {
        event OrderFilled(
            bytes32 indexed orderHash,
            address indexed maker,
            address indexed taker,
            uint8 side,
            uint256 tokenId,
            uint256 makerAmountFilled,
            uint256 takerAmountFilled,
            uint256 fee,
            bytes32 builder,
            bytes32 metadata
        );
    }
}

/// ERC-1155 events of the ConditionalTokens contract.
pub mod ctf {
    alloy_sol_types::sol! {
        event TransferSingle(
            address indexed operator, address indexed from, address indexed to, uint256 id, uint256 value
        );
        event TransferBatch(
            address indexed operator, address indexed from, address indexed to, uint256[] ids, uint256[] values
        );
        event PositionsMerge(
            address indexed stakeholder,
            address collateralToken,
            bytes32 indexed parentCollectionId,
            bytes32 indexed conditionId,
            uint256[] partition,
            uint256 amount
        );
        event PayoutRedemption(
            address indexed redeemer,
            address indexed collateralToken,
            bytes32 indexed parentCollectionId,
            bytes32 conditionId,
            uint256[] indexSets,
            uint256 payout
        );
    }
}

/// Polymarket's adapters (NegRiskAdapter, CtfCollateralAdapter, NegRiskCtfCollateralAdapter): one layout.
/// They merge and redeem on the CTF in their own name, so the CTF's event names the adapter, and only
/// these name the wallet that exited.
pub mod adapter {
    alloy_sol_types::sol! {
        event PositionsMerge(address indexed stakeholder, bytes32 indexed conditionId, uint256 amount);
        event PayoutRedemption(
            address indexed redeemer, bytes32 indexed conditionId, uint256[] amounts, uint256 payout
        );
    }
}

pub const V1_ORDER_FILLED: B256 = v1::OrderFilled::SIGNATURE_HASH;
pub const V2_ORDER_FILLED: B256 = v2::OrderFilled::SIGNATURE_HASH;
pub const TRANSFER_SINGLE: B256 = ctf::TransferSingle::SIGNATURE_HASH;
pub const TRANSFER_BATCH: B256 = ctf::TransferBatch::SIGNATURE_HASH;
pub const CTF_POSITIONS_MERGE: B256 = ctf::PositionsMerge::SIGNATURE_HASH;
pub const CTF_PAYOUT_REDEMPTION: B256 = ctf::PayoutRedemption::SIGNATURE_HASH;
pub const ADAPTER_POSITIONS_MERGE: B256 = adapter::PositionsMerge::SIGNATURE_HASH;
pub const ADAPTER_PAYOUT_REDEMPTION: B256 = adapter::PayoutRedemption::SIGNATURE_HASH;

/// Strict decoding, like eth-abi's: address padding must be zero, `uint8` must fit, no trailing bytes.
fn strict() -> AbiDecoderConfig {
    AbiDecoderConfig::new().validate(true)
}

/// Decodes `E` from raw topics and data, prefixing alloy's reason with the event's name.
pub fn decode<E: SolEvent>(name: &str, topics: &[B256], data: &[u8]) -> Result<E, String> {
    E::decode_raw_log_with_config(topics.iter().copied(), data, strict()).map_err(|e| format!("{name}: {e}"))
}

/// What a fill means for its maker: side, token, tokens traded, collateral moved, and the order's hash
/// (topic 1 of an `OrderFilled`; `None` for a CTF transfer, which names no order).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Fill {
    pub maker: Address,
    pub side: Side,
    pub token_id: U256,
    pub size: U256,
    pub usd: U256,
    pub order_hash: Option<B256>,
}

/// V1: the asset id that is 0 is the collateral; the maker gives `makerAsset` and gets `takerAsset`.
pub fn v1_fill(e: &v1::OrderFilled) -> Result<Fill, String> {
    match (e.makerAssetId.is_zero(), e.takerAssetId.is_zero()) {
        // Maker paid collateral for takerAssetId: a BUY.
        (true, false) => Ok(Fill {
            maker: e.maker,
            side: Side::Buy,
            token_id: e.takerAssetId,
            size: e.takerAmountFilled,
            usd: e.makerAmountFilled,
            order_hash: Some(e.orderHash),
        }),
        // Maker gave makerAssetId for collateral: a SELL.
        (false, true) => Ok(Fill {
            maker: e.maker,
            side: Side::Sell,
            token_id: e.makerAssetId,
            size: e.makerAmountFilled,
            usd: e.takerAmountFilled,
            order_hash: Some(e.orderHash),
        }),
        (true, true) => Err("V1 OrderFilled: both asset ids are 0 (collateral for collateral)".into()),
        (false, false) => Err(format!(
            "V1 OrderFilled: neither asset id is 0 (collateral): {} and {}",
            e.makerAssetId, e.takerAssetId
        )),
    }
}

/// V2: explicit side; a BUY's maker amount is collateral, a SELL's maker amount is tokens.
pub fn v2_fill(e: &v2::OrderFilled) -> Result<Fill, String> {
    let (side, size, usd) = match e.side {
        0 => (Side::Buy, e.takerAmountFilled, e.makerAmountFilled),
        1 => (Side::Sell, e.makerAmountFilled, e.takerAmountFilled),
        other => return Err(format!("V2 OrderFilled: side must be 0 (BUY) or 1 (SELL), got {other}")),
    };
    Ok(Fill { maker: e.maker, side, token_id: e.tokenId, size, usd, order_hash: Some(e.orderHash) })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hash::keccak256;
    use rstest::rstest;

    // The selectors are keccak256 of the canonical signatures written out by hand here.
    #[rstest]
    #[case(V1_ORDER_FILLED, "OrderFilled(bytes32,address,address,uint256,uint256,uint256,uint256,uint256)")]
    #[case(
        V2_ORDER_FILLED,
        "OrderFilled(bytes32,address,address,uint8,uint256,uint256,uint256,uint256,bytes32,bytes32)"
    )]
    #[case(TRANSFER_SINGLE, "TransferSingle(address,address,address,uint256,uint256)")]
    #[case(TRANSFER_BATCH, "TransferBatch(address,address,address,uint256[],uint256[])")]
    #[case(CTF_POSITIONS_MERGE, "PositionsMerge(address,address,bytes32,bytes32,uint256[],uint256)")]
    #[case(CTF_PAYOUT_REDEMPTION, "PayoutRedemption(address,address,bytes32,bytes32,uint256[],uint256)")]
    #[case(ADAPTER_POSITIONS_MERGE, "PositionsMerge(address,bytes32,uint256)")]
    #[case(ADAPTER_PAYOUT_REDEMPTION, "PayoutRedemption(address,bytes32,uint256[],uint256)")]
    fn selectors_are_keccak_of_signatures(#[case] selector: B256, #[case] signature: &str) {
        assert_eq!(selector.0, keccak256(signature.as_bytes()));
    }

    #[test]
    fn transfer_single_selector_is_the_erc1155_constant() {
        // ERC-1155's published TransferSingle topic.
        assert_eq!(
            format!("{TRANSFER_SINGLE:#x}"),
            "0xc3d58168c5ae7397731d063d5bbf3d657854427343f4c083240f7aacaa2d0f62"
        );
    }
}
