use alloy_primitives::{address, Bytes};
use proptest::prelude::*;

use super::*;
use crate::eip712::{sign_order, SIDE_BUY, SIDE_SELL};
use crate::signer::Signer;

const EXCHANGE: Address = address!("E111180000d2663C0091e4f400237545B87B996B");
const USD: u64 = 1_000_000;

fn key(i: u8) -> Signer {
    let mut bytes = [0u8; 32];
    bytes[31] = i + 1;
    Signer::from_bytes(&bytes).unwrap()
}

fn decoder() -> MatchDecoder {
    MatchDecoder::new(137, [EXCHANGE], None).unwrap()
}

fn domain() -> ExchangeDomain {
    ExchangeDomain::new(EXCHANGE, 137, 2, eip712::EXCHANGE_DOMAIN_NAME).unwrap()
}

/// An EOA order signed by key `who`.
fn order(who: u8, token: u64, side: u8, maker_amount: u64, taker_amount: u64) -> abi::Order {
    let signer = key(who);
    let o = eip712::v2::Order {
        salt: U256::from(u64::from(who) * 1000 + token),
        maker: signer.address(),
        signer: signer.address(),
        tokenId: U256::from(token),
        makerAmount: U256::from(maker_amount),
        takerAmount: U256::from(taker_amount),
        side,
        signatureType: 0,
        timestamp: U256::from(1_767_225_600_000u64),
        metadata: B256::ZERO,
        builder: B256::repeat_byte(0xb1),
    };
    let signed = sign_order(&signer, &domain(), OrderRef::V2(&o)).unwrap();
    abi::Order {
        salt: o.salt,
        maker: o.maker,
        signer: o.signer,
        tokenId: o.tokenId,
        makerAmount: o.makerAmount,
        takerAmount: o.takerAmount,
        side: o.side,
        signatureType: o.signatureType,
        timestamp: o.timestamp,
        metadata: o.metadata,
        builder: o.builder,
        signature: Bytes::from(signed.signature),
    }
}

fn call(taker: abi::Order, makers: Vec<abi::Order>, taker_fill: u64, fills: &[u64]) -> Vec<u8> {
    abi::matchOrdersCall {
        conditionId: B256::repeat_byte(0xc0),
        takerOrder: taker,
        makerOrders: makers,
        takerFillAmount: U256::from(taker_fill),
        makerFillAmounts: fills.iter().map(|f| U256::from(*f)).collect(),
        takerFeeAmount: U256::from(625_000u64),
        makerFeeAmounts: vec![U256::ZERO; fills.len()],
    }
    .abi_encode()
}

fn amounts(m: &Match) -> Vec<(bool, U256, U256)> {
    m.fills.iter().map(|f| (f.is_taker, f.making, f.taking)).collect()
}

const YES: u64 = 1;
const NO: u64 = 2;

#[test]
fn selector_is_polymarkets() {
    assert_eq!(MATCH_ORDERS_SELECTOR, [0x3c, 0x2b, 0x43, 0x99]);
}

#[test]
fn complementary_taker_buy_reads_like_the_exchange_settles_it() {
    // The exchange test's numbers: 100 YES at 0.40 and 50 YES at 0.45 sold to a BUY of up to 150 at 0.50.
    let makers =
        vec![order(1, YES, SIDE_SELL, 100 * USD, 40 * USD), order(2, YES, SIDE_SELL, 50 * USD, 22_500_000)];
    let taker = order(0, YES, SIDE_BUY, 75 * USD, 150 * USD);
    let m = decoder().decode_call(EXCHANGE, &call(taker, makers, 75 * USD, &[100 * USD, 50 * USD])).unwrap();
    let u = |v: u64| U256::from(v);
    assert_eq!(
        amounts(&m),
        vec![
            (false, u(100 * USD), u(40 * USD)),
            (false, u(50 * USD), u(22_500_000)),
            (true, u(62_500_000), u(150 * USD)),
        ]
    );
    let taker = &m.fills[2];
    assert_eq!((taker.position, taker.match_type, taker.fee), (2, None, u(625_000)));
    assert_eq!(m.fills[0].match_type, Some(MatchType::Complementary));
    assert_eq!(taker.size_and_usd(), (u(150 * USD), u(62_500_000)));
    assert_eq!(taker.limit_price(), (u(75 * USD), u(150 * USD)));
    for fill in &m.fills {
        assert_eq!(fill.signature_check, SignatureCheck::Valid);
        assert_eq!(fill.order_hash, domain().order_hash(OrderRef::V2(&fill.order)).unwrap());
    }
    let signal = taker.signal(B256::repeat_byte(9), EXCHANGE, 5);
    assert_eq!((signal.side, signal.size, signal.usd), (Side::Buy, u(150 * USD), u(62_500_000)));
    assert_eq!((signal.log_index, signal.sub_index, signal.source), (NO_LOG_INDEX, 2, Source::Mempool));
    assert_eq!(signal.order_hash, Some(taker.order_hash), "the signal names its order");
}

#[test]
fn mint_and_merge_give_the_taker_the_rest_of_the_split_or_merge() {
    let u = |v: u64| U256::from(v);
    // MINT: YES at 0.60 against NO at 0.45: 100 split, the NO buyer pays 45, the taker 55.
    let m = decoder()
        .decode_call(
            EXCHANGE,
            &call(
                order(0, YES, SIDE_BUY, 60 * USD, 100 * USD),
                vec![order(1, NO, SIDE_BUY, 45 * USD, 100 * USD)],
                60 * USD,
                &[45 * USD],
            ),
        )
        .unwrap();
    assert_eq!(amounts(&m), vec![(false, u(45 * USD), u(100 * USD)), (true, u(55 * USD), u(100 * USD))]);
    assert_eq!(m.fills[0].match_type, Some(MatchType::Mint));
    // MERGE: YES at 0.50 against NO at 0.45: 100 merged, the NO seller gets 45, the taker 55.
    let m = decoder()
        .decode_call(
            EXCHANGE,
            &call(
                order(0, YES, SIDE_SELL, 100 * USD, 50 * USD),
                vec![order(1, NO, SIDE_SELL, 100 * USD, 45 * USD)],
                100 * USD,
                &[100 * USD],
            ),
        )
        .unwrap();
    assert_eq!(amounts(&m), vec![(false, u(100 * USD), u(45 * USD)), (true, u(100 * USD), u(55 * USD))]);
    assert_eq!(m.fills[0].match_type, Some(MatchType::Merge));
}

#[test]
fn calls_that_would_revert_or_do_not_decode_are_typed_errors() {
    let d = decoder();
    let taker = || order(0, YES, SIDE_BUY, 75 * USD, 150 * USD);
    let seller = || order(1, YES, SIDE_SELL, 100 * USD, 40 * USD);
    let err = d.decode_call(EXCHANGE, &call(taker(), vec![seller()], 10 * USD, &[100 * USD])).unwrap_err();
    assert!(matches!(&err, CoreError::InvalidInput(m) if m.contains("more than its fill amount")), "{err}");
    let err = d.decode_call(EXCHANGE, &call(taker(), vec![], 10 * USD, &[])).unwrap_err();
    assert!(err.to_string().contains("no maker orders"), "{err}");
    let err = d.decode_call(EXCHANGE, &call(taker(), vec![seller()], 75 * USD, &[])).unwrap_err();
    assert!(err.to_string().contains("1 maker orders but 0 fill amounts"), "{err}");
    let full = call(taker(), vec![seller()], 75 * USD, &[100 * USD]);
    let err = d.decode_call(EXCHANGE, &full[..full.len() - 1]).unwrap_err();
    assert!(matches!(err, CoreError::Decode(_)), "{err}");
    let err = d.decode_call(EXCHANGE, &[0xde, 0xad]).unwrap_err();
    assert!(err.to_string().contains("not a matchOrders call"), "{err}");
    let err = d.decode_call(Address::ZERO, &full).unwrap_err();
    assert!(err.to_string().contains("not a watched V2 exchange"), "{err}");
    // A MINT whose prices sum below 1 cannot be split.
    let cheap = call(
        order(0, YES, SIDE_BUY, 40 * USD, 100 * USD),
        vec![order(1, NO, SIDE_BUY, 45 * USD, 100 * USD)],
        60 * USD,
        &[45 * USD],
    );
    let err = d.decode_call(EXCHANGE, &cheap).unwrap_err();
    assert!(err.to_string().contains("does not cross the taker's (MINT)"), "{err}");
    let mut other_token = seller();
    other_token.tokenId = U256::from(NO);
    let err = d.decode_call(EXCHANGE, &call(taker(), vec![other_token], 75 * USD, &[100 * USD])).unwrap_err();
    assert!(err.to_string().contains("another token"), "{err}");
    // A taker that would receive less than its own price asks.
    let greedy = order(0, YES, SIDE_BUY, 30 * USD, 150 * USD);
    let err = d.decode_call(EXCHANGE, &call(greedy, vec![seller()], 75 * USD, &[100 * USD])).unwrap_err();
    assert!(err.to_string().contains("does not cross") || err.to_string().contains("less than"), "{err}");
}

#[test]
fn forged_and_foreign_signatures_are_invalid() {
    let mut forged = order(1, YES, SIDE_SELL, 100 * USD, 40 * USD);
    forged.makerAmount = U256::from(200 * USD); // tampered after signing
    let mut stolen = order(2, YES, SIDE_SELL, 50 * USD, 20 * USD);
    stolen.maker = key(3).address();
    stolen.signer = key(3).address();
    let m = decoder()
        .decode_call(
            EXCHANGE,
            &call(
                order(0, YES, SIDE_BUY, 75 * USD, 150 * USD),
                vec![forged, stolen],
                75 * USD,
                &[100 * USD, 50 * USD],
            ),
        )
        .unwrap();
    assert!(
        matches!(&m.fills[0].signature_check, SignatureCheck::Invalid(r) if r.contains("not the signer"))
    );
    assert!(
        matches!(&m.fills[1].signature_check, SignatureCheck::Invalid(r) if r.contains("not the signer"))
    );
    assert_eq!(m.fills[2].signature_check, SignatureCheck::Valid);
}

#[test]
fn only_watched_makers_are_checked() {
    let leader = key(1).address();
    let d = MatchDecoder::new(137, [EXCHANGE], Some([leader].into_iter().collect())).unwrap();
    let m = d
        .decode_call(
            EXCHANGE,
            &call(
                order(0, YES, SIDE_BUY, 75 * USD, 150 * USD),
                vec![order(1, YES, SIDE_SELL, 100 * USD, 40 * USD)],
                75 * USD,
                &[100 * USD],
            ),
        )
        .unwrap();
    assert!(m.fills[0].watched && !m.fills[1].watched);
    assert_eq!(m.fills[1].signature_check, SignatureCheck::Unchecked);
}

#[test]
fn poly_1271_orders_name_the_key_that_signed_the_wrap() {
    let owner = key(4);
    let wallet = address!("1111111111111111111111111111111111111111");
    let o = eip712::v2::Order {
        maker: wallet,
        signer: wallet,
        tokenId: U256::from(YES),
        makerAmount: U256::from(10 * USD),
        takerAmount: U256::from(20 * USD),
        side: SIDE_BUY,
        signatureType: SIGNATURE_TYPE_POLY_1271,
        ..Default::default()
    };
    let signed = sign_order(&owner, &domain(), OrderRef::V2(&o)).unwrap();
    let check = check_signature(&o, &signed.signature, &signed.hash, 137);
    assert_eq!(check, SignatureCheck::NeedsOwner { owner: owner.address() });
    // Another chain's wallet domain recovers some other key, which the owner comparison refuses.
    let other = check_signature(&o, &signed.signature, &signed.hash, 1);
    assert_ne!(other, SignatureCheck::NeedsOwner { owner: owner.address() });
    assert!(matches!(
        check_signature(&o, &signed.signature[..300], &signed.hash, 137),
        SignatureCheck::Invalid(_)
    ));
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(3_000))]

    #[test]
    fn arbitrary_bytes_never_panic(tail in prop::collection::vec(any::<u8>(), 0..2_000)) {
        let mut input = MATCH_ORDERS_SELECTOR.to_vec();
        input.extend(tail);
        let _ = decoder().decode_call(EXCHANGE, &input);
    }

    #[test]
    fn mutated_calls_never_panic(at in 0usize..4_000, byte in any::<u8>(), cut in 0usize..4_000) {
        let makers = vec![order(1, YES, SIDE_SELL, 100 * USD, 40 * USD), order(2, NO, SIDE_BUY, 20 * USD, 50 * USD)];
        let mut input = call(order(0, YES, SIDE_BUY, 75 * USD, 150 * USD), makers, 75 * USD, &[100 * USD, 20 * USD]);
        let len = input.len();
        input[at % len] = byte;
        input.truncate(len - cut % (len - 4));
        let _ = decoder().decode_call(EXCHANGE, &input);
    }
}
