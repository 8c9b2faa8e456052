//! Decoder tests: logs built with alloy's encoder, rules checked one by one, and no panic on any input.

use super::*;
use alloy_primitives::{address, b256, hex, Bytes, FixedBytes, LogData};
use alloy_sol_types::SolEvent;
use proptest::prelude::*;
use rstest::rstest;

const CTF: Address = address!("4d97dcd97ec945f40cf65f87097ace5ea0476045");
const V1X: Address = address!("4bfb41d5b3570defd03c39a9a4d8de6bd8b8982e");
const V2X: Address = address!("e111180000d2663c0091e4f400237545b87b996b");
const LEADER: Address = address!("1111111111111111111111111111111111111111");
const OTHER: Address = address!("2222222222222222222222222222222222222222");
const TX: B256 = b256!("abababababababababababababababababababababababababababababababab");

fn decoder() -> LogDecoder {
    LogDecoder::new(CTF, [V1X], [V2X], Some([LEADER].into_iter().collect())).unwrap()
}

fn log_json(address: Address, data: &LogData, removed: bool) -> String {
    let topics: Vec<String> = data.topics().iter().map(|t| format!("\"{t:#x}\"")).collect();
    format!(
        r#"{{"address":"{address:#x}","topics":[{}],"data":"0x{}","blockNumber":"0x2a","blockHash":"0x{}","transactionHash":"{TX:#x}","logIndex":"0x7","removed":{removed}}}"#,
        topics.join(","),
        hex::encode(&data.data),
        "cd".repeat(32),
    )
}

fn decode_one(address: Address, data: &LogData) -> CoreResult<Vec<Signal>> {
    decoder().decode(log_json(address, data, false).as_bytes(), 5).map(|d| d.signals)
}

fn u(n: u64) -> U256 {
    U256::from(n)
}

fn v1_fill(maker: Address, taker: Address, maker_asset: u64, taker_asset: u64, m: u64, t: u64) -> LogData {
    v1::OrderFilled {
        orderHash: FixedBytes::repeat_byte(9),
        maker,
        taker,
        makerAssetId: u(maker_asset),
        takerAssetId: u(taker_asset),
        makerAmountFilled: u(m),
        takerAmountFilled: u(t),
        fee: u(0),
    }
    .encode_log_data()
}

fn v2_fill(maker: Address, taker: Address, side: u8, m: u64, t: u64) -> LogData {
    v2::OrderFilled {
        orderHash: FixedBytes::repeat_byte(9),
        maker,
        taker,
        side,
        tokenId: u(77),
        makerAmountFilled: u(m),
        takerAmountFilled: u(t),
        fee: u(1),
        builder: FixedBytes::ZERO,
        metadata: FixedBytes::ZERO,
    }
    .encode_log_data()
}

fn batch(operator: Address, from: Address, to: Address, ids: &[u64], values: &[u64]) -> LogData {
    ctf::TransferBatch {
        operator,
        from,
        to,
        ids: ids.iter().copied().map(u).collect(),
        values: values.iter().copied().map(u).collect(),
    }
    .encode_log_data()
}

#[test]
fn v1_buy_and_sell() {
    // makerAssetId 0: the maker paid 55 collateral for 100 of token 5.
    let buy = decode_one(V1X, &v1_fill(LEADER, OTHER, 0, 5, 55, 100)).unwrap();
    assert_eq!(buy.len(), 1);
    let s = &buy[0];
    assert_eq!((s.leader, s.side, s.token_id, s.size, s.usd), (LEADER, Side::Buy, u(5), u(100), u(55)));
    assert_eq!((s.price_num, s.price_den), (u(55), u(100)));
    assert_eq!((s.tx_hash, s.log_index, s.sub_index, s.block_number), (TX, 7, 0, Some(42)));
    assert_eq!((s.exchange, s.source, s.removed, s.seen_at_ns), (V1X, Source::V1, false, 5));
    assert_eq!(s.order_hash, Some(B256::repeat_byte(9)));
    let sell = decode_one(V1X, &v1_fill(LEADER, OTHER, 5, 0, 100, 45)).unwrap();
    let s = &sell[0];
    assert_eq!(
        (s.side, s.token_id, s.size, s.usd, s.price_num, s.price_den),
        (Side::Sell, u(5), u(100), u(45), u(45), u(100))
    );
}

#[rstest]
#[case(0, Side::Buy, 60, 100)]
#[case(1, Side::Sell, 100, 60)]
fn v2_sides(#[case] side: u8, #[case] expected: Side, #[case] m: u64, #[case] t: u64) {
    let s = decode_one(V2X, &v2_fill(LEADER, OTHER, side, m, t)).unwrap().remove(0);
    assert_eq!((s.side, s.token_id, s.size, s.usd, s.source), (expected, u(77), u(100), u(60), Source::V2));
    assert_eq!(s.order_hash, Some(B256::repeat_byte(9)));
}

#[test]
fn taker_row_counts_and_topic3_only_does_not() {
    // A taker order's own row: maker = the leader, taker = the exchange.
    assert_eq!(decode_one(V2X, &v2_fill(LEADER, V2X, 0, 60, 100)).unwrap().len(), 1);
    // The leader only as counterparty (topic 3): that is someone else's fill.
    assert!(decode_one(V2X, &v2_fill(OTHER, LEADER, 0, 60, 100)).unwrap().is_empty());
    assert!(decode_one(V1X, &v1_fill(OTHER, LEADER, 0, 5, 60, 100)).unwrap().is_empty());
}

#[test]
fn transfer_batch_gives_one_signal_per_id() {
    let signals = decode_one(CTF, &batch(OTHER, OTHER, LEADER, &[1, 2, 3], &[10, 20, 30])).unwrap();
    assert!(signals.iter().all(|s| s.order_hash.is_none()), "a transfer names no order");
    let got: Vec<_> = signals.iter().map(|s| (s.sub_index, s.token_id, s.size, s.side)).collect();
    assert_eq!(
        got,
        vec![(0, u(1), u(10), Side::Buy), (1, u(2), u(20), Side::Buy), (2, u(3), u(30), Side::Buy)]
    );
    assert!(signals.iter().all(|s| s.source == Source::Ctf && !s.has_price() && s.usd.is_zero()));
}

#[rstest]
#[case::mint(OTHER, Address::ZERO, LEADER)]
#[case::burn(OTHER, LEADER, Address::ZERO)]
#[case::operated_by_exchange(V1X, OTHER, LEADER)]
#[case::self_transfer(LEADER, LEADER, LEADER)]
fn transfers_that_are_not_trades(#[case] operator: Address, #[case] from: Address, #[case] to: Address) {
    let single = ctf::TransferSingle { operator, from, to, id: u(1), value: u(10) }.encode_log_data();
    assert!(decode_one(CTF, &single).unwrap().is_empty());
    assert!(decode_one(CTF, &batch(operator, from, to, &[1], &[10])).unwrap().is_empty());
}

#[test]
fn transfer_single_sell_and_zero_value() {
    let e = ctf::TransferSingle { operator: LEADER, from: LEADER, to: OTHER, id: u(9), value: u(3) };
    let s = decode_one(CTF, &e.encode_log_data()).unwrap().remove(0);
    assert_eq!((s.side, s.token_id, s.size), (Side::Sell, u(9), u(3)));
    let zero = ctf::TransferSingle { value: u(0), ..e };
    assert!(decode_one(CTF, &zero.encode_log_data()).unwrap().is_empty());
}

#[test]
fn removed_flag_is_carried() {
    let text = log_json(V2X, &v2_fill(LEADER, OTHER, 0, 60, 100), true);
    let signals = decoder().decode(text.as_bytes(), 0).unwrap().signals;
    assert!(signals[0].removed);
}

#[test]
fn leaders_none_tracks_everyone_and_set_leaders_swaps() {
    let d = LogDecoder::new(CTF, [V1X], [V2X], None).unwrap();
    let text = log_json(V2X, &v2_fill(OTHER, LEADER, 0, 60, 100), false);
    assert_eq!(d.decode(text.as_bytes(), 0).unwrap().signals[0].leader, OTHER);
    d.set_leaders(Some([LEADER].into_iter().collect()));
    assert!(d.decode(text.as_bytes(), 0).unwrap().signals.is_empty());
}

#[test]
fn an_address_in_two_roles_is_refused() {
    assert!(LogDecoder::new(CTF, [V1X], [V1X], None).is_err());
    assert!(LogDecoder::new(CTF, [CTF], [V2X], None).is_err());
}

#[rstest]
#[case::unknown_topic(V2X, "unknown event topic0")]
#[case::unwatched(OTHER, "unwatched address")]
fn malformed_single_logs_are_errors(#[case] address: Address, #[case] reason: &str) {
    let data = v1_fill(LEADER, OTHER, 0, 5, 55, 100);
    let err = decode_one(address, &data).unwrap_err();
    assert!(matches!(&err, CoreError::Decode(m) if m.contains(reason)), "{err}");
}

#[test]
fn short_data_wrong_topics_and_bad_side_are_rejected() {
    let good = v2_fill(LEADER, OTHER, 0, 60, 100);
    let short = LogData::new_unchecked(good.topics().to_vec(), Bytes::from(good.data[..100].to_vec()));
    let few = LogData::new_unchecked(good.topics()[..3].to_vec(), good.data.clone());
    let mut side = good.data.to_vec();
    side[31] = 2;
    let side = LogData::new_unchecked(good.topics().to_vec(), Bytes::from(side));
    let v1_both = v1_fill(LEADER, OTHER, 3, 5, 55, 100);
    for (addr, data, reason) in [
        (V2X, short, "V2 OrderFilled"),
        (V2X, few, "V2 OrderFilled"),
        (V2X, side, "side must be 0"),
        (V1X, v1_both, "neither asset id"),
    ] {
        let err = decode_one(addr, &data).unwrap_err();
        assert!(matches!(&err, CoreError::Decode(m) if m.contains(reason)), "{err}");
    }
}

#[test]
fn batch_keeps_good_signals_and_lists_rejects() {
    let good = log_json(V2X, &v2_fill(LEADER, OTHER, 0, 60, 100), false);
    let bad = log_json(OTHER, &v2_fill(LEADER, OTHER, 0, 60, 100), false);
    let text = format!(r#"{{"jsonrpc":"2.0","id":1,"result":[{good},{bad},{{"x":1}},{good}]}}"#);
    let out = decoder().decode(text.as_bytes(), 0).unwrap();
    assert_eq!(out.signals.len(), 2);
    assert_eq!(out.rejects.iter().map(|r| r.index).collect::<Vec<_>>(), vec![1, 2]);
    assert!(out.rejects[1].reason.contains("malformed log: missing field"));
}

proptest! {
    #[test]
    fn never_panics_on_arbitrary_bytes(raw in proptest::collection::vec(any::<u8>(), 0..512)) {
        let _ = decoder().decode(&raw, 0);
    }

    #[test]
    fn never_panics_on_mutated_logs(side in 0u8..3, cut in 0usize..700, byte in any::<u8>(), pos in 0usize..700) {
        let mut text = log_json(V2X, &v2_fill(LEADER, OTHER, side, 60, 100), false).into_bytes();
        if pos < text.len() {
            text[pos] = byte;
        }
        text.truncate(cut.max(1));
        let _ = decoder().decode(&text, 0);
        let wrapped = [b"[".as_slice(), &text, b"]"].concat();
        let _ = decoder().decode(&wrapped, 0);
    }

    #[test]
    fn v2_round_trips(side in 0u8..2, m in any::<u64>(), t in any::<u64>(), tracked in any::<bool>()) {
        let maker = if tracked { LEADER } else { OTHER };
        let signals = decode_one(V2X, &v2_fill(maker, OTHER, side, m, t)).unwrap();
        prop_assert_eq!(signals.len(), usize::from(tracked));
        if let Some(s) = signals.first() {
            prop_assert_eq!(s.usd + s.size, u(m) + u(t));
            prop_assert_eq!((s.price_num, s.price_den), (s.usd, s.size));
        }
    }
}

/// Polymarket's contracts on Polygon, and a decoder watching them as production does.
mod polymarket {
    use super::*;

    pub const V1_NEG_RISK: Address = address!("c5d563a36ae78145c45a50134d48a1215220f80a");
    pub const V2_NEG_RISK: Address = address!("e2222d279d744050d28e00520010520000310f59");
    pub const NEG_RISK_ADAPTER: Address = address!("d91e80cf2e7be2e162c6513ced06f1dd0da35296");
    pub const COLLATERAL_ADAPTER: Address = address!("ada100874d00e3331d00f2007a9c336a65009718");
    pub const NEG_RISK_COLLATERAL_ADAPTER: Address = address!("ada200001000ef00d07553cee7006808f895c6f1");
    pub const ONRAMP: Address = address!("93070a847efef7f70739046a929d47a521f5b8ee");

    pub fn decoder(leaders: &[Address]) -> LogDecoder {
        LogDecoder::new(CTF, [V1X, V1_NEG_RISK], [V2X, V2_NEG_RISK], Some(leaders.iter().copied().collect()))
            .unwrap()
            .with_non_trading([NEG_RISK_ADAPTER, COLLATERAL_ADAPTER, NEG_RISK_COLLATERAL_ADAPTER, ONRAMP])
            .unwrap()
    }

    pub fn decode(d: &LogDecoder, logs: &[(Address, LogData)]) -> Vec<Signal> {
        let body: Vec<String> = logs.iter().map(|(a, l)| log_json(*a, l, false)).collect();
        let out = d.decode(format!("[{}]", body.join(",")).as_bytes(), 1).unwrap();
        assert!(out.rejects.is_empty(), "{:?}", out.rejects);
        out.signals
    }
}

#[test]
fn v1_neg_risk_fill_moved_by_the_adapter_is_one_signal() {
    use polymarket::*;
    // The neg-risk exchange's fill: the adapter moves the tokens (operator = adapter), then OrderFilled.
    let transfer =
        ctf::TransferSingle { operator: NEG_RISK_ADAPTER, from: OTHER, to: LEADER, id: u(5), value: u(10) };
    let signals = decode(
        &decoder(&[LEADER]),
        &[(CTF, transfer.encode_log_data()), (V1_NEG_RISK, v1_fill(LEADER, OTHER, 0, 5, 4, 10))],
    );
    assert_eq!(signals.len(), 1);
    assert_eq!((signals[0].source, signals[0].side, signals[0].size), (Source::V1, Side::Buy, u(10)));
}

#[rstest]
#[case::split_through_the_neg_risk_adapter(
    polymarket::NEG_RISK_ADAPTER,
    polymarket::NEG_RISK_ADAPTER,
    LEADER
)]
#[case::conversion_into_the_adapter(polymarket::NEG_RISK_ADAPTER, LEADER, polymarket::NEG_RISK_ADAPTER)]
#[case::merge_through_the_collateral_adapter(LEADER, LEADER, polymarket::COLLATERAL_ADAPTER)]
#[case::split_out_of_the_neg_risk_collateral_adapter(
    polymarket::NEG_RISK_COLLATERAL_ADAPTER,
    polymarket::NEG_RISK_COLLATERAL_ADAPTER,
    LEADER
)]
#[case::approved_operator_sends_to_the_onramp(OTHER, LEADER, polymarket::ONRAMP)]
#[case::adapter_operates_between_users(polymarket::NEG_RISK_ADAPTER, OTHER, LEADER)]
fn plumbing_transfers_are_not_trades(#[case] operator: Address, #[case] from: Address, #[case] to: Address) {
    let single = ctf::TransferSingle { operator, from, to, id: u(1), value: u(10) }.encode_log_data();
    let d = polymarket::decoder(&[LEADER, OTHER]);
    assert!(polymarket::decode(&d, &[(CTF, single), (CTF, batch(operator, from, to, &[1, 2], &[3, 4]))])
        .is_empty());
    // Without the plumbing table, the same logs would have been trades.
    let bare = LogDecoder::new(CTF, [V1X], [V2X], None).unwrap();
    let single = ctf::TransferSingle { operator, from, to, id: u(1), value: u(10) }.encode_log_data();
    assert!(!polymarket::decode(&bare, &[(CTF, single)]).is_empty());
}

#[test]
fn a_transfer_between_two_leaders_is_two_fills_with_two_keys() {
    let d = polymarket::decoder(&[LEADER, OTHER]);
    let logs = [
        (
            CTF,
            ctf::TransferSingle { operator: LEADER, from: LEADER, to: OTHER, id: u(1), value: u(10) }
                .encode_log_data(),
        ),
        (CTF, batch(OTHER, OTHER, LEADER, &[1, 2], &[3, 4])),
    ];
    let signals = polymarket::decode(&d, &logs);
    let sides: Vec<(Address, Side, u32)> = signals.iter().map(|s| (s.leader, s.side, s.sub_index)).collect();
    assert_eq!(
        sides,
        vec![
            (LEADER, Side::Sell, 0),
            (OTHER, Side::Buy, 0),
            (OTHER, Side::Sell, 0),
            (LEADER, Side::Buy, 0),
            (OTHER, Side::Sell, 1),
            (LEADER, Side::Buy, 1),
        ]
    );
    // (The helper gives every log index 7: keys are compared within one log, as the chain numbers logs.)
    for one_log in [&signals[..2], &signals[2..]] {
        let keys: std::collections::HashSet<[u8; 32]> = one_log.iter().map(Signal::dedup_key).collect();
        assert_eq!(keys.len(), one_log.len());
    }
    let signals = &signals[..2];
    let mut cache = crate::dedup::DedupCache::new(60_000, 100).unwrap();
    let fresh = cache.check_and_insert(&signals.iter().map(Signal::dedup_key).collect::<Vec<_>>(), 0);
    assert!(fresh.iter().all(|f| *f));
    // A retraction of the same log carries the same keys, party by party.
    let removed = d.decode(log_json(CTF, &logs[0].1, true).as_bytes(), 2).unwrap().signals;
    assert_eq!(
        removed.iter().map(Signal::dedup_key).collect::<Vec<_>>(),
        vec![signals[0].dedup_key(), signals[1].dedup_key()]
    );
}

#[test]
fn order_filled_keys_stay_tx_log_sub() {
    let s = &decode_one(V2X, &v2_fill(LEADER, OTHER, 0, 5, 10)).unwrap()[0];
    assert_eq!(s.dedup_key(), crate::hash::dedup_key(&TX.0, 7, 0));
}

#[test]
fn plumbing_cannot_be_an_exchange_or_the_ctf() {
    assert!(LogDecoder::new(CTF, [V1X], [V2X], None).unwrap().with_non_trading([V2X]).is_err());
    assert!(LogDecoder::new(CTF, [V1X], [V2X], None).unwrap().with_non_trading([CTF]).is_err());
}

/// Leaders' exits: merges and redemptions, on the CTF directly or through an adapter.
mod exits {
    use super::polymarket::{decoder, NEG_RISK_ADAPTER};
    use super::*;

    const CONDITION: B256 = b256!("c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0");
    const COLLATERAL: Address = address!("3333333333333333333333333333333333333333");

    fn ctf_merge(stakeholder: Address, amount: u64) -> LogData {
        ctf::PositionsMerge {
            stakeholder,
            collateralToken: COLLATERAL,
            parentCollectionId: B256::ZERO,
            conditionId: CONDITION,
            partition: vec![u(1), u(2)],
            amount: u(amount),
        }
        .encode_log_data()
    }

    fn ctf_redeem(redeemer: Address, payout: u64) -> LogData {
        ctf::PayoutRedemption {
            redeemer,
            collateralToken: COLLATERAL,
            parentCollectionId: B256::ZERO,
            conditionId: CONDITION,
            indexSets: vec![u(1), u(2)],
            payout: u(payout),
        }
        .encode_log_data()
    }

    fn decode_all(d: &LogDecoder, logs: &[(Address, LogData)]) -> Decoded {
        let body: Vec<String> = logs.iter().map(|(a, l)| log_json(*a, l, false)).collect();
        d.decode(format!("[{}]", body.join(",")).as_bytes(), 9).unwrap()
    }

    #[test]
    fn a_merge_on_the_ctf_is_an_exit_and_its_burn_no_sell() {
        let burn = batch(LEADER, LEADER, Address::ZERO, &[1, 2], &[5, 5]);
        let out = decode_all(&decoder(&[LEADER]), &[(CTF, burn), (CTF, ctf_merge(LEADER, 5))]);
        assert!(out.signals.is_empty() && out.rejects.is_empty());
        let exit = &out.exits[0];
        assert_eq!(out.exits.len(), 1);
        assert_eq!(
            (exit.leader, exit.kind, exit.condition_id, exit.amount, exit.via),
            (LEADER, ExitKind::Merge, CONDITION, u(5), CTF)
        );
        assert_eq!((exit.tx_hash, exit.log_index, exit.block_number, exit.seen_at_ns), (TX, 7, Some(42), 9));
    }

    #[test]
    fn a_redemption_on_the_ctf_is_an_exit_of_its_payout() {
        let burn =
            ctf::TransferSingle { operator: LEADER, from: LEADER, to: Address::ZERO, id: u(1), value: u(8) };
        let out =
            decode_all(&decoder(&[LEADER]), &[(CTF, burn.encode_log_data()), (CTF, ctf_redeem(LEADER, 8))]);
        assert!(out.signals.is_empty());
        assert_eq!(out.exits.len(), 1);
        assert_eq!((out.exits[0].kind, out.exits[0].amount), (ExitKind::Redeem, u(8)));
        assert_eq!(out.exits[0].kind.as_str(), "redeem");
    }

    #[test]
    fn untracked_exits_are_nothing() {
        let out = decode_all(&decoder(&[LEADER]), &[(CTF, ctf_merge(OTHER, 5)), (CTF, ctf_redeem(OTHER, 1))]);
        assert!(out.exits.is_empty() && out.signals.is_empty() && out.rejects.is_empty());
    }

    #[test]
    fn through_the_adapter_one_exit_names_the_leader() {
        // The adapter pulls the leader's tokens, merges them on the CTF in its own name, pays the leader.
        let pull = batch(NEG_RISK_ADAPTER, LEADER, NEG_RISK_ADAPTER, &[1, 2], &[4, 4]);
        let merged = adapter::PositionsMerge { stakeholder: LEADER, conditionId: CONDITION, amount: u(4) };
        let redeemed = adapter::PayoutRedemption {
            redeemer: LEADER,
            conditionId: CONDITION,
            amounts: vec![u(4), u(0)],
            payout: u(4),
        };
        // Even tracking everyone, the CTF's event naming the adapter is no exit of its own.
        let everyone = LogDecoder::new(CTF, [V1X], [V2X], None).unwrap().with_non_trading([NEG_RISK_ADAPTER]);
        for d in [decoder(&[LEADER]), everyone.unwrap()] {
            let out = decode_all(
                &d,
                &[
                    (CTF, pull.clone()),
                    (CTF, ctf_merge(NEG_RISK_ADAPTER, 4)),
                    (NEG_RISK_ADAPTER, merged.encode_log_data()),
                    (NEG_RISK_ADAPTER, redeemed.encode_log_data()),
                ],
            );
            assert!(out.signals.is_empty() && out.rejects.is_empty(), "{out:?}");
            let got: Vec<_> = out.exits.iter().map(|e| (e.leader, e.kind, e.amount, e.via)).collect();
            assert_eq!(
                got,
                vec![
                    (LEADER, ExitKind::Merge, u(4), NEG_RISK_ADAPTER),
                    (LEADER, ExitKind::Redeem, u(4), NEG_RISK_ADAPTER)
                ]
            );
        }
    }

    #[test]
    fn malformed_and_unknown_exit_logs_are_rejects_and_removed_is_carried() {
        let d = decoder(&[LEADER]);
        let mut short = ctf_merge(LEADER, 5);
        short = LogData::new_unchecked(short.topics().to_vec(), Bytes::from(short.data[..40].to_vec()));
        let other = LogData::new_unchecked(vec![B256::repeat_byte(1)], Bytes::new());
        let out = decode_all(&d, &[(CTF, short), (NEG_RISK_ADAPTER, other), (CTF, ctf_merge(LEADER, 5))]);
        assert_eq!(out.rejects.iter().map(|r| r.index).collect::<Vec<_>>(), vec![0, 1]);
        assert!(out.rejects[0].reason.starts_with("PositionsMerge"), "{:?}", out.rejects);
        assert!(out.rejects[1].reason.contains("an adapter"), "{:?}", out.rejects);
        assert_eq!(out.exits.len(), 1);
        let removed = d.decode(log_json(CTF, &ctf_redeem(LEADER, 3), true).as_bytes(), 1).unwrap();
        assert!(removed.exits[0].removed);
    }
}
