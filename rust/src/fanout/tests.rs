//! Fan-out tests: each sizing rule, filter, cap and minimum by hand; caps and rounding by property.

use super::*;
use crate::signal::Source;
use proptest::prelude::*;
use rstest::rstest;

const LEADER: Address = Address::repeat_byte(0x11);
const TX: B256 = B256::repeat_byte(0xab);

fn signal(side: Side, size: u128, usd: u128) -> Signal {
    Signal {
        leader: LEADER,
        token_id: U256::from(5),
        side,
        size: U256::from(size),
        price_num: U256::from(usd),
        price_den: U256::from(size),
        usd: U256::from(usd),
        tx_hash: TX,
        log_index: 3,
        sub_index: 0,
        block_number: Some(1),
        block_hash: None,
        exchange: Address::ZERO,
        source: Source::V2,
        removed: false,
        seen_at_ns: 0,
        order_hash: None,
    }
}

fn ctf_signal(side: Side, size: u128) -> Signal {
    Signal {
        price_num: U256::ZERO,
        price_den: U256::ZERO,
        usd: U256::ZERO,
        source: Source::Ctf,
        ..signal(side, size, 0)
    }
}

fn config(id: u64, sizing: Sizing) -> CopyConfig {
    CopyConfig {
        config_id: id,
        follower: Address::repeat_byte(0x20 + id as u8),
        proxy: Address::repeat_byte(0x40 + id as u8),
        leader: LEADER,
        sizing,
        token_allow: vec![],
        token_deny: vec![],
        side_filter: None,
        min_leader_usd: None,
        max_leader_usd: None,
        min_price_ppm: None,
        max_price_ppm: None,
        max_per_trade_usd: None,
        min_size_policy: MinSizePolicy::Skip,
        enabled: true,
        updated_at: 0,
    }
}

/// The single outcome of one config for one signal.
fn outcome(cfg: CopyConfig, s: Signal, balance: Option<u128>, min: MinSize) -> Result<u128, SkipReason> {
    let mut index = FanoutIndex::new();
    let proxy = cfg.proxy;
    index.upsert(cfg).unwrap();
    let balances: HashMap<Address, u128> = balance.map(|b| (proxy, b)).into_iter().collect();
    let m = index.match_signals(vec![s], &balances, &min);
    match (m.intents.first(), m.skips.first()) {
        (Some(i), None) => Ok(i.amount),
        (None, Some(s)) => Err(s.reason),
        other => panic!("expected one outcome, got {other:?}"),
    }
}

fn run(cfg: CopyConfig, s: Signal) -> Result<u128, SkipReason> {
    outcome(cfg, s, None, MinSize::None)
}

// Leader BUY: 10 shares for $5.50 (price 0.55); leader SELL: 10 shares for $4.00 (price 0.40).
#[rstest]
#[case::fixed_buy(Sizing::Fixed { usd: 2_000_000 }, Side::Buy, Ok(2_000_000))]
#[case::fixed_sell(Sizing::Fixed { usd: 2_000_000 }, Side::Sell, Ok(5_000_000))]
#[case::ratio_buy(Sizing::Ratio { ppm: 250_000 }, Side::Buy, Ok(1_375_000))]
#[case::ratio_sell(Sizing::Ratio { ppm: 333_333 }, Side::Sell, Ok(3_333_330))]
fn sizing_rules(#[case] sizing: Sizing, #[case] side: Side, #[case] want: Result<u128, SkipReason>) {
    let s = match side {
        Side::Buy => signal(side, 10_000_000, 5_500_000),
        Side::Sell => signal(side, 10_000_000, 4_000_000),
    };
    assert_eq!(run(config(1, sizing), s), want);
}

#[test]
fn percent_of_balance() {
    let cfg = config(1, Sizing::Percent { bps: 250 });
    let buy = signal(Side::Buy, 10_000_000, 5_500_000);
    assert_eq!(outcome(cfg.clone(), buy.clone(), Some(100_000_000), MinSize::None), Ok(2_500_000));
    assert_eq!(outcome(cfg.clone(), buy, None, MinSize::None), Err(SkipReason::NoBalance));
    // SELL: 2.5 % of $100 = $2.50 at 0.40 → 6.25 shares.
    let sell = signal(Side::Sell, 10_000_000, 4_000_000);
    assert_eq!(outcome(cfg, sell, Some(100_000_000), MinSize::None), Ok(6_250_000));
}

#[test]
fn recorded_balances_and_per_call_overrides() {
    let cfg = config(1, Sizing::Percent { bps: 10_000 });
    let proxy = cfg.proxy;
    let mut index = FanoutIndex::new();
    index.upsert(cfg).unwrap();
    index.set_balances([(proxy, 7)]);
    let s = || vec![signal(Side::Buy, 10, 5)];
    let none = HashMap::<Address, u128>::new();
    assert_eq!(index.match_signals(s(), &none, &MinSize::None).intents[0].amount, 7);
    let over: HashMap<Address, u128> = [(proxy, 9)].into_iter().collect();
    assert_eq!(index.match_signals(s(), &over, &MinSize::None).intents[0].amount, 9);
    index.clear_balances();
    assert_eq!(index.match_signals(s(), &none, &MinSize::None).skips[0].reason, SkipReason::NoBalance);
}

#[rstest]
#[case(999_999, Err(SkipReason::Filtered))]
#[case(1_000_000, Ok(500_000))]
#[case(9_999_999, Ok(4_999_999))]
#[case(10_000_000, Ok(2_000_000))]
fn tiers_pick_the_first_matching_range(#[case] usd: u128, #[case] want: Result<u128, SkipReason>) {
    let tiers = vec![
        Tier { min_leader_usd: 1_000_000, max_leader_usd: Some(10_000_000), multiplier_ppm: 500_000 },
        Tier { min_leader_usd: 10_000_000, max_leader_usd: None, multiplier_ppm: 200_000 },
    ];
    assert_eq!(run(config(1, Sizing::Tiered(tiers)), signal(Side::Buy, 20_000_000, usd)), want);
}

#[test]
fn filters() {
    let s = signal(Side::Buy, 10_000_000, 5_500_000);
    let base = config(1, Sizing::Fixed { usd: 1_000_000 });
    let cases: Vec<(CopyConfig, Result<u128, SkipReason>)> = vec![
        (CopyConfig { side_filter: Some(Side::Sell), ..base.clone() }, Err(SkipReason::Filtered)),
        (CopyConfig { side_filter: Some(Side::Buy), ..base.clone() }, Ok(1_000_000)),
        (CopyConfig { token_allow: vec![U256::from(6)], ..base.clone() }, Err(SkipReason::Filtered)),
        (CopyConfig { token_allow: vec![U256::from(6), U256::from(5)], ..base.clone() }, Ok(1_000_000)),
        (CopyConfig { token_deny: vec![U256::from(5)], ..base.clone() }, Err(SkipReason::Filtered)),
        (CopyConfig { min_leader_usd: Some(5_500_001), ..base.clone() }, Err(SkipReason::Filtered)),
        (CopyConfig { min_leader_usd: Some(5_500_000), ..base.clone() }, Ok(1_000_000)),
        (CopyConfig { max_leader_usd: Some(5_499_999), ..base.clone() }, Err(SkipReason::Filtered)),
        // Price 0.55 exactly: the band is inclusive.
        (
            CopyConfig { min_price_ppm: Some(550_000), max_price_ppm: Some(550_000), ..base.clone() },
            Ok(1_000_000),
        ),
        (CopyConfig { min_price_ppm: Some(550_001), ..base.clone() }, Err(SkipReason::Filtered)),
        (CopyConfig { max_price_ppm: Some(549_999), ..base.clone() }, Err(SkipReason::Filtered)),
    ];
    for (cfg, want) in cases {
        assert_eq!(run(cfg.clone(), s.clone()), want, "{cfg:?}");
    }
}

#[test]
fn signals_without_price() {
    let buy = ctf_signal(Side::Buy, 10_000_000);
    let sell = ctf_signal(Side::Sell, 10_000_000);
    assert_eq!(run(config(1, Sizing::Fixed { usd: 1_000_000 }), buy.clone()), Ok(1_000_000));
    assert_eq!(run(config(1, Sizing::Ratio { ppm: 500_000 }), buy.clone()), Err(SkipReason::NoPrice));
    assert_eq!(run(config(1, Sizing::Ratio { ppm: 500_000 }), sell.clone()), Ok(5_000_000));
    assert_eq!(run(config(1, Sizing::Fixed { usd: 1 }), sell.clone()), Err(SkipReason::NoPrice));
    let band = CopyConfig { min_price_ppm: Some(1), ..config(1, Sizing::Fixed { usd: 1 }) };
    assert_eq!(run(band, buy), Err(SkipReason::NoPrice));
    // A SELL cap cannot be checked without a price: skipped rather than risk passing it.
    let capped = CopyConfig { max_per_trade_usd: Some(1), ..config(1, Sizing::Ratio { ppm: 500_000 }) };
    assert_eq!(run(capped, sell), Err(SkipReason::NoPrice));
}

#[test]
fn caps_apply_after_rounding() {
    let buy = signal(Side::Buy, 10_000_000, 5_500_000);
    let cfg =
        CopyConfig { max_per_trade_usd: Some(1_000_000), ..config(1, Sizing::Ratio { ppm: 1_000_000 }) };
    assert_eq!(run(cfg.clone(), buy), Ok(1_000_000));
    // SELL at 0.40: a $1 cap is 2.5 shares.
    assert_eq!(run(cfg, signal(Side::Sell, 10_000_000, 4_000_000)), Ok(2_500_000));
}

#[test]
fn venue_minimum_skip_or_bump() {
    let buy = signal(Side::Buy, 10_000_000, 5_500_000);
    let small = config(1, Sizing::Fixed { usd: 1_000_000 }); // $1 at 0.55 buys 1.818181 shares
    let min = || MinSize::All(5_000_000);
    assert_eq!(outcome(small.clone(), buy.clone(), None, min()), Err(SkipReason::BelowMinSize));
    let bump = CopyConfig { min_size_policy: MinSizePolicy::Bump, ..small.clone() };
    // 5 shares at 0.55 = $2.75, rounded up.
    assert_eq!(outcome(bump.clone(), buy.clone(), None, min()), Ok(2_750_000));
    let capped = CopyConfig { max_per_trade_usd: Some(2_749_999), ..bump.clone() };
    assert_eq!(outcome(capped, buy.clone(), None, min()), Err(SkipReason::BelowMinSize));
    let per_token = MinSize::PerToken([(U256::from(6), 5_000_000)].into_iter().collect());
    assert_eq!(outcome(small, buy, None, per_token), Ok(1_000_000));
    let sell = signal(Side::Sell, 10_000_000, 4_000_000);
    let sell_bump =
        CopyConfig { min_size_policy: MinSizePolicy::Bump, ..config(1, Sizing::Ratio { ppm: 100_000 }) };
    assert_eq!(outcome(sell_bump, sell, None, min()), Ok(5_000_000));
}

#[test]
fn zero_amount_disabled_and_removed() {
    let s = signal(Side::Sell, 3, 1);
    assert_eq!(run(config(1, Sizing::Ratio { ppm: 100_000 }), s.clone()), Err(SkipReason::ZeroAmount));
    let mut index = FanoutIndex::new();
    index.upsert(CopyConfig { enabled: false, ..config(1, Sizing::Fixed { usd: 1 }) }).unwrap();
    index.upsert(config(2, Sizing::Fixed { usd: 1 })).unwrap();
    let none = HashMap::<Address, u128>::new();
    let m = index.match_signals(vec![signal(Side::Buy, 10, 5)], &none, &MinSize::None);
    assert_eq!((m.intents.len(), m.skips.len()), (1, 0));
    let removed = Signal { removed: true, ..signal(Side::Buy, 10, 5) };
    assert!(index.match_signals(vec![removed], &none, &MinSize::None).intents.is_empty());
}

#[test]
fn upsert_replace_move_and_remove() {
    let mut index = FanoutIndex::new();
    for id in 1..=3 {
        index.upsert(config(id, Sizing::Fixed { usd: id as u128 })).unwrap();
    }
    index.upsert(config(2, Sizing::Fixed { usd: 20 })).unwrap();
    assert_eq!(index.get(2).unwrap().sizing, Sizing::Fixed { usd: 20 });
    let other = Address::repeat_byte(0x99);
    index.upsert(CopyConfig { leader: other, ..config(1, Sizing::Fixed { usd: 1 }) }).unwrap();
    assert_eq!(index.get(1).unwrap().leader, other);
    assert!(index.remove(3));
    assert!(!index.remove(3));
    assert_eq!(index.len(), 2);
    assert_eq!(index.get(2).unwrap().config_id, 2);
    let none = HashMap::<Address, u128>::new();
    let m = index.match_signals(vec![signal(Side::Buy, 10, 5)], &none, &MinSize::None);
    assert_eq!(m.intents.iter().map(|i| (i.config_id, i.amount)).collect::<Vec<_>>(), vec![(2, 20)]);
    let intent = m.intent(0).unwrap();
    assert_eq!(
        (intent.leader, intent.tx_hash, intent.log_index, intent.limit_price_ppm),
        (LEADER, TX, 3, Some(500_000))
    );
    let mut packed = crate::hash::dedup_key(&TX.0, 3, 0).to_vec();
    packed.extend_from_slice(&2u64.to_be_bytes());
    assert_eq!(intent.idempotency_key(), keccak256(&packed));
}

#[rstest]
#[case(CopyConfig { config_id: 0, ..config(1, Sizing::Fixed { usd: 1 }) }, "config_id")]
#[case(config(1, Sizing::Fixed { usd: 0 }), "fixed_usd")]
#[case(config(1, Sizing::Percent { bps: 10_001 }), "percent_bps")]
#[case(config(1, Sizing::Tiered(vec![])), "tiers")]
#[case(config(1, Sizing::Tiered(vec![Tier { min_leader_usd: 5, max_leader_usd: Some(5), multiplier_ppm: 1 }])), "tier max")]
#[case(CopyConfig { min_price_ppm: Some(2), max_price_ppm: Some(1), ..config(1, Sizing::Fixed { usd: 1 }) }, "min_price_ppm")]
fn invalid_configs_are_refused(#[case] cfg: CopyConfig, #[case] field: &str) {
    let err = FanoutIndex::new().upsert(cfg).unwrap_err();
    assert!(matches!(&err, CoreError::InvalidInput(m) if m.contains(field)), "{err}");
}

#[test]
fn limit_price_rounds_toward_the_leader() {
    // 1 collateral for 3 tokens = 333333.33 ppm: BUY limit 333334, SELL limit 333333.
    let buy = Leg::of(&signal(Side::Buy, 3, 1)).unwrap();
    let sell = Leg::of(&signal(Side::Sell, 3, 1)).unwrap();
    assert_eq!((buy.limit_price_ppm, sell.limit_price_ppm), (Some(333_334), Some(333_333)));
}

#[test]
fn prepared_keys_and_payloads_match_each_intent() {
    let mut index = FanoutIndex::new();
    index.upsert(config(1, Sizing::Fixed { usd: 10_000_000 })).unwrap();
    index.upsert(config(2, Sizing::Ratio { ppm: 500_000 })).unwrap();
    let priceless = ctf_signal(Side::Sell, 8);
    let m = index.match_signals(
        vec![signal(Side::Buy, 3, 1), priceless],
        &HashMap::<Address, u128>::new(),
        &MinSize::None,
    );
    let prepared = m.prepare();
    assert_eq!(prepared.keys.len(), m.intents.len());
    for (i, key) in prepared.keys.iter().enumerate() {
        assert_eq!(*key, m.intent(i).unwrap().idempotency_key(), "intent {i}");
    }
    // 1 collateral for 3 tokens: 333333 ppm, rounded down; no price, no ppm.
    assert_eq!(prepared.signals[0].leader_price_ppm, Some(U512::from(333_333u64)));
    assert_eq!(prepared.signals[1].leader_price_ppm, None);
    let first = m.intents.iter().position(|it| it.config_id == 1 && it.signal == 0).unwrap();
    let mut out = Vec::new();
    m.write_payload(first, &prepared.keys[first], &prepared.signals[0], &mut out);
    let want = format!(
        "[\"{}\",1,\"0x{}\",\"0x{}\",\"0x{}\",\"5\",\"BUY\",{},333334,\"{}\",3,0,3,333333,1]",
        alloy_primitives::hex::encode(prepared.keys[first]),
        "21".repeat(20),
        "41".repeat(20),
        "11".repeat(20),
        m.intents[first].amount,
        "ab".repeat(32),
    );
    assert_eq!(String::from_utf8(out).unwrap(), want);
}

fn any_sizing() -> impl Strategy<Value = Sizing> {
    prop_oneof![
        (1u128..u64::MAX as u128).prop_map(|usd| Sizing::Fixed { usd }),
        (1u128..5_000_000).prop_map(|ppm| Sizing::Ratio { ppm }),
        (1u128..=10_000).prop_map(|bps| Sizing::Percent { bps }),
        (0u128..1_000_000_000, 1u128..5_000_000).prop_map(|(split, m)| Sizing::Tiered(vec![
            Tier { min_leader_usd: 0, max_leader_usd: Some(split + 1), multiplier_ppm: m },
            Tier { min_leader_usd: split + 1, max_leader_usd: None, multiplier_ppm: m / 2 + 1 },
        ])),
    ]
}

proptest! {
    /// No amount is ever above the per-trade cap (in collateral, at the leader's price) and no amount is 0.
    #[test]
    fn never_above_the_cap(
        sizing in any_sizing(),
        cap in proptest::option::of(1u128..1_000_000_000),
        size in 1u128..u64::MAX as u128,
        usd in 0u128..u64::MAX as u128,
        sell in any::<bool>(),
        balance in 0u128..u64::MAX as u128,
        min in 0u128..100_000_000,
        bump in any::<bool>(),
    ) {
        let side = if sell { Side::Sell } else { Side::Buy };
        let policy = if bump { MinSizePolicy::Bump } else { MinSizePolicy::Skip };
        let cfg = CopyConfig { max_per_trade_usd: cap, min_size_policy: policy, ..config(1, sizing) };
        if let Ok(amount) = outcome(cfg, signal(side, size, usd), Some(balance), MinSize::All(min)) {
            prop_assert!(amount > 0);
            if let Some(cap) = cap {
                match side {
                    Side::Buy => prop_assert!(amount <= cap),
                    // tokens × price ≤ cap  ⇔  amount × usd ≤ cap × size
                    Side::Sell => prop_assert!(U256::from(amount) * U256::from(usd) <= U256::from(cap) * U256::from(size)),
                }
            }
        }
    }

    /// Ratio sizing rounds down: never above the exact product, and less than one base unit below it.
    #[test]
    fn ratio_rounds_down(size in 1u128..u64::MAX as u128, ppm in 1u128..10_000_000) {
        if let Ok(amount) = run(config(1, Sizing::Ratio { ppm }), signal(Side::Sell, size, 1)) {
            let exact = U256::from(size) * U256::from(ppm);
            prop_assert!(U256::from(amount) * U256::from(1_000_000u64) <= exact);
            prop_assert!(exact < (U256::from(amount) + U256::from(1)) * U256::from(1_000_000u64));
        }
    }
}
