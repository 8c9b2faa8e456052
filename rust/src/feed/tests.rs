use alloy_primitives::address;
use proptest::prelude::*;
use rstest::rstest;

use super::*;

const WALLET: Address = address!("510F4963b66B1B18505faaB74b0bB943D1dDa43C");
const TX: &str = "0xb6acf6859bc84216f4b3e2567fb392a2eae19d275340ad96ea17218ccfec27b7";

fn payload(fields: &[(&str, &str)]) -> String {
    let mut all: Vec<(String, String)> = vec![
        ("asset".into(), "\"1001\"".into()),
        ("price".into(), "0.43".into()),
        ("proxyWallet".into(), "\"0x510F4963b66B1B18505faaB74b0bB943D1dDa43C\"".into()),
        ("side".into(), "\"SELL\"".into()),
        ("size".into(), "12.5".into()),
        ("timestamp".into(), "1787102287".into()),
        ("transactionHash".into(), format!("\"{TX}\"")),
    ];
    for (key, value) in fields {
        all.retain(|(k, _)| k != key);
        if !value.is_empty() {
            all.push(((*key).into(), (*value).into()));
        }
    }
    let body: Vec<String> = all.iter().map(|(k, v)| format!("\"{k}\":{v}")).collect();
    format!("{{{}}}", body.join(","))
}

fn frame_of(kind: &str, payload: &str) -> String {
    format!(
        "{{\"connection_id\":\"abc\",\"payload\":{payload},\"timestamp\":1787102288123,\"topic\":\"activity\",\
         \"type\":\"{kind}\"}}"
    )
}

fn frame(fields: &[(&str, &str)]) -> String {
    frame_of("trades", &payload(fields))
}

fn leaders() -> AddressSet {
    [WALLET].into_iter().collect()
}

fn one(frame: &str) -> Result<Option<ActivityTrade>, String> {
    parse_frame(frame.as_bytes(), Some(&leaders()), 7)
}

#[test]
fn a_trade_frame_becomes_an_activity_signal() {
    let trade = one(&frame(&[])).unwrap().unwrap();
    let s = &trade.signal;
    assert_eq!((s.leader, s.side, s.source), (WALLET, Side::Sell, Source::Activity));
    assert_eq!(s.token_id, U256::from(1001u16));
    assert_eq!(s.size, U256::from(12_500_000u64));
    assert_eq!((s.price_num, s.price_den), (U256::from(430_000u64), U256::from(UNITS)));
    assert_eq!(s.usd, U256::from(5_375_000u64));
    assert_eq!(format!("{:#x}", s.tx_hash), TX);
    assert_eq!((s.log_index, s.sub_index, s.block_number, s.seen_at_ns), (NO_LOG_INDEX, 0, None, 7));
    assert_eq!(trade.frame_type, FrameType::Trades);
    assert_eq!(trade.timestamp_ms, 1_787_102_287_000);
    assert_eq!(trade.pushed_ms, Some(1_787_102_288_123));
}

#[rstest]
#[case(&[("size", "\"12.5\""), ("price", "\"0.43\"")])]
#[case(&[("size", "12.500000"), ("price", "0.4300")])]
#[case(&[("timestamp", "1787102287000")])]
#[case(&[("timestamp", "\"1787102287\"")])]
#[case(&[("timestamp", "1787102287.000")])]
#[case(&[("proxyWallet", ""), ("proxy_wallet", "\"0x510f4963b66b1b18505faab74b0bb943d1dda43c\"")])]
#[case(&[("proxyWallet", ""), ("wallet", "\"0x510F4963b66B1B18505faaB74b0bB943D1dDa43C\"")])]
#[case(&[("proxyWallet", ""), ("user", "\"0x510F4963b66B1B18505faaB74b0bB943D1dDa43C\"")])]
#[case(&[("proxyWallet", "null"), ("user", "\"0x510F4963b66B1B18505faaB74b0bB943D1dDa43C\"")])]
#[case(&[("asset", "1001")])]
#[case(&[("asset", ""), ("asset_id", "\"1001\"")])]
#[case(&[("side", "\"sell\"")])]
#[case(&[("transactionHash", ""), ("transaction_hash", &format!("\"{TX}\""))])]
fn field_variants_give_the_same_trade(#[case] fields: &[(&str, &str)]) {
    let base = one(&frame(&[])).unwrap().unwrap();
    let variant = one(&frame(fields)).unwrap().unwrap();
    assert_eq!(variant, base);
}

#[test]
fn timestamps_fall_back_to_the_envelope_and_keep_milliseconds() {
    let t = one(&frame(&[("timestamp", "")])).unwrap().unwrap();
    assert_eq!(t.timestamp_ms, 1_787_102_288_123);
    let t = one(&frame(&[("timestamp", "1787102287.25")])).unwrap().unwrap();
    assert_eq!(t.timestamp_ms, 1_787_102_287_250);
}

#[test]
fn orders_matched_frames_say_so() {
    let t = one(&frame_of("orders_matched", &payload(&[]))).unwrap().unwrap();
    assert_eq!(t.frame_type, FrameType::OrdersMatched);
}

#[test]
fn other_wallets_are_skipped_and_none_keeps_all() {
    let other = frame(&[("proxyWallet", "\"0x0000000000000000000000000000000000000001\"")]);
    assert_eq!(one(&other), Ok(None));
    assert!(parse_frame(other.as_bytes(), None, 0).unwrap().is_some());
}

#[rstest]
#[case(&[("size", "0")], "size is zero")]
#[case(&[("size", "-1")], "size is negative")]
#[case(&[("size", "1e3")], "size is in exponent form")]
#[case(&[("size", "\"NaN\"")], "size is not a plain decimal")]
#[case(&[("size", "0.0000001")], "size has more than 6 decimals")]
#[case(&[("size", "")], "size is missing")]
#[case(&[("size", "null")], "size is missing")]
#[case(&[("size", "true")], "size is a boolean")]
#[case(&[("price", "1")], "outside (0, 1)")]
#[case(&[("price", "0")], "outside (0, 1)")]
#[case(&[("price", "0.4300001")], "price has more than 6 decimals")]
#[case(&[("side", "\"HOLD\"")], "side \"HOLD\" is not BUY or SELL")]
#[case(&[("asset", "\"0x12\"")], "not a decimal token id")]
#[case(&[("asset", "1.5")], "not a decimal token id")]
#[case(&[("proxyWallet", "\"0x12\"")], "proxyWallet: address must have 40 hex digits")]
#[case(&[("proxyWallet", "")], "proxyWallet is missing")]
#[case(&[("transactionHash", "")], "transactionHash is missing")]
#[case(&[("transactionHash", "\"0x12\"")], "not a 0x-prefixed 32-byte hash")]
#[case(&[("timestamp", "-5")], "timestamp is negative")]
#[case(&[("timestamp", "0")], "timestamp is zero")]
#[case(&[("timestamp", "1.2345")], "timestamp has more than 3 decimals")]
fn bad_fields_are_rejects_that_say_why(#[case] fields: &[(&str, &str)], #[case] reason: &str) {
    let err = one(&frame(fields)).unwrap_err();
    assert!(err.contains(reason), "{err}");
}

#[rstest]
#[case("", "empty")]
#[case("pong", "not a JSON object")]
#[case("[1,2]", "not a JSON object")]
#[case("{\"type\":\"error\",\"message\":\"bad\"}", "\"error\" frame without payload: \"bad\"")]
#[case("{\"topic\":\"comments\",\"type\":\"trades\",\"payload\":{}}", "topic \"comments\" is not activity")]
#[case(
    "{\"topic\":\"activity\",\"type\":\"x\",\"payload\":{}}",
    "type \"x\" is not trades or orders_matched"
)]
#[case("{\"topic\":\"activity\",\"type\":\"trades\",\"payload\":[]}", "payload is not a JSON object")]
#[case("{\"topic\":1}", "not a well-formed object")]
fn bad_frames_are_rejects_that_say_why(#[case] frame: &str, #[case] reason: &str) {
    let err = one(frame).unwrap_err();
    assert!(err.contains(reason), "{err}");
}

#[test]
fn a_batch_keeps_indexes_of_rejects() {
    let parser = ActivityParser::new(Some(leaders()));
    let frames = [
        frame(&[]),
        "garbage".to_owned(),
        frame(&[("proxyWallet", "\"0x0000000000000000000000000000000000000001\"")]),
        frame(&[("size", "0")]),
    ];
    let out = parser.parse_frames(&frames, 1);
    assert_eq!(out.trades.len(), 1);
    assert_eq!(out.skipped, 1);
    assert_eq!(out.rejects.iter().map(|r| r.index).collect::<Vec<_>>(), vec![1, 3]);
    parser.set_leaders(Some(AddressSet::default()));
    assert_eq!(parser.parse_frames(&frames, 1).trades.len(), 0);
}

proptest! {
    #[test]
    fn sizes_and_prices_round_trip_exactly(
        size in 1u64..=1_000_000_000_000_000, price in 1u64..UNITS, quoted in any::<bool>()
    ) {
        let text = |units: u64| format!("{}.{:06}", units / UNITS, units % UNITS);
        let q = |t: String| if quoted { format!("\"{t}\"") } else { t };
        let f = frame(&[("size", &q(text(size))), ("price", &q(text(price)))]);
        let t = one(&f).unwrap().unwrap();
        prop_assert_eq!(t.signal.size, U256::from(size));
        prop_assert_eq!(t.signal.price_num, U256::from(price));
        prop_assert_eq!(t.signal.usd, U256::from(u128::from(size) * u128::from(price) / u128::from(UNITS)));
    }

    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..300)) {
        let _ = parse_frame(&bytes, None, 0);
    }

    #[test]
    fn mutated_frames_never_panic(cut in 0usize..400, byte in any::<u8>()) {
        let mut f = frame(&[]).into_bytes();
        let at = cut % f.len();
        f[at] = byte;
        let _ = parse_frame(&f, None, 0);
        f.truncate(at);
        let _ = parse_frame(&f, None, 0);
    }
}
