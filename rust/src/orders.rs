//! CLOB V2 market orders: their amounts in integers under the venue's amount rule, and the one call that
//! builds and signs such an order.
//!
//! Amounts are 6-decimal base units (`1_000_000` = $1 or one share); prices are in ppm of $1 and must sit on
//! the market's tick, so a price is the exact ratio `num / den` (reduced) of collateral to shares. Every
//! amount rounds down: a BUY never spends more than its budget (taker fee included), a SELL never sells
//! more than the shares held. What rounding leaves too small to trade is reported as below the minimum,
//! never silently turned into an order of zero.
//!
//! The amount rules ([`AmountRule`], the setting `CLOB_AMOUNT_RULE`):
//! - `cents` (default): maker amount ≤ 2 decimals, taker ≤ 4, and maker/taker exactly the price. All
//!   solutions are `j × (num, den)`; the caps make `j` a multiple of one step, so a BUY's maker moves by
//!   `num / gcd(num, 100)` cents when `den` divides 100 (the general step is computed below).
//! - `lots`: the exact ratio without decimal caps: a whole number of lots `(num, den)` base units.
//! - `legacy`: the 2/4-decimal caps without the exact ratio, rounded as py-clob-client-v2 rounds (maker
//!   floored to the cap, taker floored at the price). The implied price then lies within one tick of the
//!   limit on the crossing side, so the book is still taken at the limit and never beyond it. Where that
//!   rounding would leave the venue's price range `[tick, 1 − tick]` or move a tick or more away from the
//!   limit (tiny amounts, extreme prices), the `cents` amounts are used instead.

use alloy_primitives::{Address, B256, U256};

use crate::eip712::{self, v2, ExchangeDomain, OrderRef, SignedTypedData, SIDE_BUY, SIDE_SELL};
use crate::error::{CoreError, CoreResult};
use crate::signer::Signer;

/// Base units per share and per dollar.
pub const UNIT: u128 = 1_000_000;
/// Prices are parts per million of $1.
pub const PPM: u64 = 1_000_000;
/// Taker fees are rounded (half up) to 1e-5 collateral, as the local CLOB and the operator do.
pub const FEE_QUANTUM: u128 = 10;
/// The largest budget or share count accepted: far above any real order, low enough that no product
/// below overflows `u128`.
pub const MAX_AMOUNT: u128 = 1_000_000_000_000_000_000_000_000_000_000;
/// Base units in one step of a 2-decimal amount and of a 4-decimal amount.
const CENT: u128 = 10_000;
const TAKER_QUANTUM: u128 = 100;

/// The precision regime an order's amounts follow (the setting `CLOB_AMOUNT_RULE`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum AmountRule {
    /// Maker ≤ 2 decimals, taker ≤ 4 decimals, exact price ratio.
    #[default]
    Cents,
    /// Exact price ratio, whole base units.
    Lots,
    /// Maker ≤ 2 decimals, taker ≤ 4 decimals, price rounded.
    Legacy,
}

impl AmountRule {
    /// `"cents"`, `"lots"` or `"legacy"`.
    pub fn parse(text: &str) -> CoreResult<Self> {
        match text {
            "cents" => Ok(Self::Cents),
            "lots" => Ok(Self::Lots),
            "legacy" => Ok(Self::Legacy),
            other => Err(CoreError::InvalidInput(format!(
                "amount rule must be \"cents\", \"lots\" or \"legacy\", got {other:?}"
            ))),
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Self::Cents => "cents",
            Self::Lots => "lots",
            Self::Legacy => "legacy",
        }
    }
}

/// Order side, numbered as the exchange numbers it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side {
    Buy,
    Sell,
}

impl Side {
    pub fn parse(text: &str) -> CoreResult<Self> {
        match text {
            "BUY" => Ok(Self::Buy),
            "SELL" => Ok(Self::Sell),
            other => Err(CoreError::InvalidInput(format!("side must be \"BUY\" or \"SELL\", got {other:?}"))),
        }
    }

    pub fn code(self) -> u8 {
        match self {
            Self::Buy => SIDE_BUY,
            Self::Sell => SIDE_SELL,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Self::Buy => "BUY",
            Self::Sell => "SELL",
        }
    }
}

/// What a market imposes on a market order: its tick, its minimums and its taker fee.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MarketParams {
    /// Tick size in ppm (0.01 = 10_000); divides 1_000_000.
    pub tick_ppm: u64,
    /// A marketable BUY below this many collateral base units is refused (production: $1).
    pub min_usd: u128,
    /// A SELL below this many share base units is reported below the minimum.
    pub min_shares: u128,
    /// Taker fee rate in basis points (`fee = shares × rate × (p(1−p))^exponent`).
    pub fee_rate_bps: u32,
    pub fee_exponent: u32,
}

impl MarketParams {
    /// Checks the tick (0 < tick < 1, dividing $1 into whole ticks), the fee rate (≤ 100 %) and exponent
    /// (1 to 3).
    pub fn new(
        tick_ppm: u64,
        min_usd: u128,
        min_shares: u128,
        fee_rate_bps: u32,
        fee_exponent: u32,
    ) -> CoreResult<Self> {
        if tick_ppm == 0 || tick_ppm >= PPM || PPM % tick_ppm != 0 {
            return Err(CoreError::InvalidInput(format!(
                "tick size must divide $1 into whole ticks (in ppm: 0 < tick < 1000000 and 1000000 % tick == 0), \
                 got {tick_ppm} ppm"
            )));
        }
        if fee_rate_bps > 10_000 {
            return Err(CoreError::InvalidInput(format!(
                "taker fee rate must be at most 10000 bps, got {fee_rate_bps}"
            )));
        }
        if !(1..=3).contains(&fee_exponent) {
            return Err(CoreError::InvalidInput(format!(
                "fee exponent must be 1, 2 or 3, got {fee_exponent}"
            )));
        }
        Ok(Self { tick_ppm, min_usd, min_shares, fee_rate_bps, fee_exponent })
    }
}

/// A market order's amounts. BUY: maker = collateral paid, taker = shares received; SELL the reverse.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MarketOrderAmounts {
    pub side: Side,
    pub maker_amount: u128,
    pub taker_amount: u128,
    /// The limit the amounts were built for, in ppm.
    pub price_ppm: u64,
    /// The taker fee if the whole order fills at the limit (a BUY pays it on top, a SELL out of proceeds).
    pub fee: u128,
    /// Nothing tradeable survives rounding, or less than the market's minimum.
    pub below_minimum: bool,
}

impl MarketOrderAmounts {
    /// Shares (base units) the order trades in full.
    pub fn shares(&self) -> u128 {
        match self.side {
            Side::Buy => self.taker_amount,
            Side::Sell => self.maker_amount,
        }
    }

    /// Collateral (base units) the order trades in full, before the fee.
    pub fn usd(&self) -> u128 {
        match self.side {
            Side::Buy => self.maker_amount,
            Side::Sell => self.taker_amount,
        }
    }
}

/// A limit price as the reduced ratio `num / den` of collateral to shares.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Price {
    ppm: u64,
    num: u128,
    den: u128,
}

impl Price {
    fn new(ppm: u64, tick_ppm: u64) -> CoreResult<Self> {
        if ppm == 0 || ppm >= PPM {
            return Err(CoreError::InvalidInput(format!(
                "price must be strictly between 0 and 1 (in ppm: 0 < price < 1000000), got {ppm} ppm"
            )));
        }
        if ppm % tick_ppm != 0 {
            return Err(CoreError::InvalidInput(format!(
                "price {ppm} ppm is not on the market's tick of {tick_ppm} ppm"
            )));
        }
        let g = gcd(u128::from(ppm), u128::from(PPM));
        Ok(Self { ppm, num: u128::from(ppm) / g, den: u128::from(PPM) / g })
    }
}

fn gcd(mut a: u128, mut b: u128) -> u128 {
    while b != 0 {
        (a, b) = (b, a % b);
    }
    a
}

fn lcm(a: u128, b: u128) -> u128 {
    a / gcd(a, b) * b
}

/// `(maker, taker)` per side: the coefficients of one lot and the caps' quanta.
#[derive(Debug, Clone, Copy)]
struct Shape {
    /// maker = j × maker_coef, taker = j × taker_coef in the exact-ratio rules.
    maker_coef: u128,
    taker_coef: u128,
    maker_quantum: u128,
    taker_quantum: u128,
}

impl Shape {
    fn new(side: Side, price: &Price, rule: AmountRule) -> Self {
        let (maker_coef, taker_coef) = match side {
            Side::Buy => (price.num, price.den),
            Side::Sell => (price.den, price.num),
        };
        let (maker_quantum, taker_quantum) = match rule {
            AmountRule::Lots => (1, 1),
            AmountRule::Cents | AmountRule::Legacy => (CENT, TAKER_QUANTUM),
        };
        Self { maker_coef, taker_coef, maker_quantum, taker_quantum }
    }

    /// Base units of maker amount in one step of the exact-ratio rule: the smallest `j × maker_coef`
    /// whose maker and taker both fit their quanta.
    fn exact_step(&self) -> u128 {
        let j = lcm(
            self.maker_quantum / gcd(self.maker_quantum, self.maker_coef),
            self.taker_quantum / gcd(self.taker_quantum, self.taker_coef),
        );
        j * self.maker_coef
    }

    /// The largest exact-ratio amounts whose maker is at most `limit`.
    fn exact(&self, limit: u128) -> (u128, u128) {
        let step = self.exact_step();
        let maker = limit / step * step;
        (maker, maker / self.maker_coef * self.taker_coef)
    }

    /// The legacy rounding: maker floored to its quantum, taker floored at the price to its quantum.
    fn rounded(&self, limit: u128) -> (u128, u128) {
        let maker = limit / self.maker_quantum * self.maker_quantum;
        let taker = maker * self.taker_coef / self.maker_coef / self.taker_quantum * self.taker_quantum;
        (maker, taker)
    }
}

/// Whether legacy amounts keep an implied price the venue accepts and that takes the book at the limit
/// and nowhere beyond it.
fn legacy_price_ok(side: Side, maker: u128, taker: u128, price: &Price, tick: u64) -> bool {
    if maker == 0 || taker == 0 {
        return false;
    }
    let (ppm, tick, one) = (u128::from(price.ppm), u128::from(tick), u128::from(PPM));
    match side {
        // implied = maker / taker ≥ limit (taker floored); keep it < limit + tick and ≤ 1 − tick.
        Side::Buy => maker * one < (ppm + tick) * taker && maker * one <= (one - tick) * taker,
        // implied = taker / maker ≤ limit; keep it > limit − tick and ≥ tick.
        Side::Sell => taker * one > (ppm - tick) * maker && taker * one >= tick * maker,
    }
}

/// The largest amounts under `rule` whose maker is at most `limit`, and the maker step to try next.
fn amounts_within(side: Side, limit: u128, price: &Price, tick: u64, rule: AmountRule) -> (u128, u128, u128) {
    let shape = Shape::new(side, price, rule);
    match rule {
        AmountRule::Cents | AmountRule::Lots => {
            let (maker, taker) = shape.exact(limit);
            (maker, taker, shape.exact_step())
        }
        AmountRule::Legacy => {
            let (maker, taker) = shape.rounded(limit);
            if legacy_price_ok(side, maker, taker, price, tick) {
                (maker, taker, shape.maker_quantum)
            } else {
                let (maker, taker) = shape.exact(limit);
                (maker, taker, shape.maker_quantum)
            }
        }
    }
}

/// The taker fee on `shares` at `price_ppm`: `shares × rate × (p(1−p))^exponent`, rounded half up to
/// [`FEE_QUANTUM`] as the local CLOB rounds it (`localpoly.trades.taker_fee`).
pub fn taker_fee(shares: u128, price_ppm: u64, rate_bps: u32, exponent: u32) -> u128 {
    if rate_bps == 0 || shares == 0 {
        return 0;
    }
    let pq = U256::from(price_ppm) * U256::from(PPM - price_ppm);
    let numerator = U256::from(shares) * U256::from(rate_bps) * pq.pow(U256::from(exponent));
    let denominator =
        U256::from(10_000u64 * 10) * U256::from(u128::from(PPM) * u128::from(PPM)).pow(U256::from(exponent));
    let two = U256::from(2u8);
    let quanta = (numerator * two + denominator) / (denominator * two);
    // A fee cannot exceed the shares it is charged on, so it always fits u128.
    quanta.to::<u128>() * FEE_QUANTUM
}

/// A market order's amounts: a BUY spends at most `amount` collateral including the taker fee at the
/// limit; a SELL sells at most `amount` shares. `price_ppm` is the worst acceptable price, on the tick.
pub fn market_order_amounts(
    side: Side,
    amount: u128,
    price_ppm: u64,
    market: &MarketParams,
    rule: AmountRule,
) -> CoreResult<MarketOrderAmounts> {
    if amount > MAX_AMOUNT {
        return Err(CoreError::InvalidInput(format!(
            "amount must be at most {MAX_AMOUNT} base units, got {amount}"
        )));
    }
    let price = Price::new(price_ppm, market.tick_ppm)?;
    let tick = market.tick_ppm;
    let fee_of = |shares: u128| taker_fee(shares, price_ppm, market.fee_rate_bps, market.fee_exponent);
    let (maker, taker) = match side {
        Side::Sell => {
            let (maker, taker, _) = amounts_within(side, amount, &price, tick, rule);
            (maker, taker)
        }
        Side::Buy => {
            let (maker, taker, step) = amounts_within(side, amount, &price, tick, rule);
            if maker + fee_of(taker) <= amount {
                (maker, taker)
            } else {
                // Spend + fee grows with the maker, so the largest whole number of maker steps that fits is
                // found by bisection (a low price's fee is a large share of the spend: no fixed cut works).
                let fits = |steps: u128| {
                    let (m, t, _) = amounts_within(side, steps * step, &price, tick, rule);
                    (m + fee_of(t) <= amount).then_some((m, t))
                };
                let (mut lo, mut hi) = (0u128, amount / step);
                let mut best = (0, 0);
                while lo < hi {
                    let mid = lo + (hi - lo).div_ceil(2);
                    match fits(mid) {
                        Some(found) => {
                            best = found;
                            lo = mid;
                        }
                        None => hi = mid - 1,
                    }
                }
                best
            }
        }
    };
    let shares = if side == Side::Buy { taker } else { maker };
    let below_minimum = maker == 0
        || taker == 0
        || match side {
            Side::Buy => maker < market.min_usd,
            Side::Sell => maker < market.min_shares,
        };
    Ok(MarketOrderAmounts {
        side,
        maker_amount: maker,
        taker_amount: taker,
        price_ppm,
        fee: fee_of(shares),
        below_minimum,
    })
}

/// Who makes a wallet's orders on one exchange under one amount rule: built once, used for every order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrderMaker {
    pub domain: ExchangeDomain,
    /// The order's maker: the signer's own address (type 0) or its deposit wallet (type 3).
    pub maker: Address,
    pub signature_type: u8,
    pub rule: AmountRule,
    pub metadata: B256,
    pub builder: B256,
}

impl OrderMaker {
    /// Checks the pairing of signer, maker and signature type: type 0 makes the signer's own orders,
    /// type 3 (POLY_1271) a deposit wallet's, which is never the signer's own address.
    pub fn new(
        signer: &Signer,
        domain: ExchangeDomain,
        maker: Option<Address>,
        signature_type: u8,
        rule: AmountRule,
        metadata: B256,
        builder: B256,
    ) -> CoreResult<Self> {
        if domain.version != 2 {
            return Err(CoreError::InvalidInput(format!(
                "market orders are CLOB V2 orders; the domain is version {}",
                domain.version
            )));
        }
        let maker = match (signature_type, maker) {
            (0, None) => signer.address(),
            (0, Some(m)) if m == signer.address() => m,
            (0, Some(m)) => {
                return Err(CoreError::InvalidInput(format!(
                    "a type 0 (EOA) order's maker is its signer {:#x}, got maker {m:#x}",
                    signer.address()
                )))
            }
            (eip712::SIGNATURE_TYPE_POLY_1271, Some(m)) if m != signer.address() => m,
            (eip712::SIGNATURE_TYPE_POLY_1271, _) => return Err(CoreError::InvalidInput(
                "a type 3 (POLY_1271) order's maker is the deposit wallet, which must be given and differ \
                     from the signer's own address"
                    .into(),
            )),
            (other, _) => {
                return Err(CoreError::InvalidInput(format!(
                    "market orders are signed as type 0 (EOA) or 3 (POLY_1271), got signature type {other}"
                )))
            }
        };
        Ok(Self { domain, maker, signature_type, rule, metadata, builder })
    }
}

/// One market order to build: what to trade, how much, at what worst price, and its unique parts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MarketOrderRequest {
    pub token_id: U256,
    pub side: Side,
    /// BUY: collateral budget (fee included); SELL: shares held.
    pub amount: u128,
    pub price_ppm: u64,
    pub salt: U256,
    /// Milliseconds since the epoch.
    pub timestamp: U256,
}

/// A built market order: signed, or reported below the minimum (nothing signed).
#[derive(Debug, Clone, PartialEq, Eq)]
// Returned once per order and destructured at once: boxing would add an allocation per order for nothing.
#[allow(clippy::large_enum_variant)]
pub enum BuiltOrder {
    Signed { order: v2::Order, signed: SignedTypedData, amounts: MarketOrderAmounts },
    BelowMinimum(MarketOrderAmounts),
}

/// Computes the amounts of one market order and, unless they are below the minimum, builds and signs it.
pub fn build_market_order(
    signer: &Signer,
    maker: &OrderMaker,
    market: &MarketParams,
    request: &MarketOrderRequest,
) -> CoreResult<BuiltOrder> {
    let amounts = market_order_amounts(request.side, request.amount, request.price_ppm, market, maker.rule)?;
    if amounts.below_minimum {
        return Ok(BuiltOrder::BelowMinimum(amounts));
    }
    let order = v2::Order {
        salt: request.salt,
        maker: maker.maker,
        // A deposit wallet's order names the wallet as signer; the owner's key signs the ERC-7739 wrap.
        signer: if maker.signature_type == eip712::SIGNATURE_TYPE_POLY_1271 {
            maker.maker
        } else {
            signer.address()
        },
        tokenId: request.token_id,
        makerAmount: U256::from(amounts.maker_amount),
        takerAmount: U256::from(amounts.taker_amount),
        side: request.side.code(),
        signatureType: maker.signature_type,
        timestamp: request.timestamp,
        metadata: maker.metadata,
        builder: maker.builder,
    };
    let signed = eip712::sign_order(signer, &maker.domain, OrderRef::V2(&order))?;
    Ok(BuiltOrder::Signed { order, signed, amounts })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use rstest::rstest;

    const CENTS_TICK: u64 = 10_000;

    fn market(tick_ppm: u64) -> MarketParams {
        MarketParams::new(tick_ppm, UNIT, 0, 0, 1).unwrap()
    }

    fn decimals(amount: u128) -> u32 {
        let mut frac = amount % UNIT;
        if frac == 0 {
            return 0;
        }
        let mut places = 6;
        while frac % 10 == 0 {
            frac /= 10;
            places -= 1;
        }
        places
    }

    #[rstest]
    // $0.55 = 11/20: the maker moves by 11 cents, so $10 spends $9.90 for 18 shares.
    #[case(Side::Buy, 10_000_000, 550_000, 9_900_000, 18_000_000)]
    #[case(Side::Buy, 1_000_000, 500_000, 1_000_000, 2_000_000)]
    #[case(Side::Buy, 1_009_999, 500_000, 1_000_000, 2_000_000)]
    // $0.37 = 37/100: 37-cent steps.
    #[case(Side::Buy, 5_000_000, 370_000, 4_810_000, 13_000_000)]
    // SELL 7.777 shares at 0.55 = 11/20: shares move by 0.01, proceeds land on 4 decimals.
    #[case(Side::Sell, 7_777_000, 550_000, 7_770_000, 4_273_500)]
    fn cents_examples(
        #[case] side: Side,
        #[case] amount: u128,
        #[case] price: u64,
        #[case] maker: u128,
        #[case] taker: u128,
    ) {
        let got = market_order_amounts(side, amount, price, &market(CENTS_TICK), AmountRule::Cents).unwrap();
        assert_eq!((got.maker_amount, got.taker_amount), (maker, taker));
        assert!(!got.below_minimum);
    }

    #[test]
    fn cents_step_matches_the_issue_formula() {
        // maker steps by num / gcd(num, 100) cents for prices whose den divides 100.
        for cents in 1..100u64 {
            let price = Price::new(cents * 10_000, CENTS_TICK).unwrap();
            let step = Shape::new(Side::Buy, &price, AmountRule::Cents).exact_step();
            assert_eq!(step, price.num / gcd(price.num, 100) * CENT, "price {cents} cents");
        }
    }

    #[rstest]
    #[case(0)]
    #[case(1_000_000)]
    #[case(2_000_000)]
    fn price_outside_the_unit_interval_is_refused(#[case] price: u64) {
        let err =
            market_order_amounts(Side::Buy, UNIT, price, &market(CENTS_TICK), AmountRule::Cents).unwrap_err();
        assert!(
            matches!(err, CoreError::InvalidInput(ref m) if m.contains("strictly between 0 and 1")),
            "{err:?}"
        );
    }

    #[test]
    fn price_off_tick_is_refused() {
        let err = market_order_amounts(Side::Buy, UNIT, 555_000, &market(CENTS_TICK), AmountRule::Cents)
            .unwrap_err();
        assert_eq!(
            err,
            CoreError::InvalidInput("price 555000 ppm is not on the market's tick of 10000 ppm".into())
        );
    }

    #[rstest]
    #[case(0)]
    #[case(3_000)]
    #[case(1_000_000)]
    fn bad_tick_is_refused(#[case] tick: u64) {
        assert!(MarketParams::new(tick, 0, 0, 0, 1).is_err());
    }

    #[test]
    fn below_minimum_is_reported_not_zeroed_silently() {
        // 0.1234 = 617/5000 needs $6.17 steps: a $5 budget buys nothing.
        let got =
            market_order_amounts(Side::Buy, 5_000_000, 123_400, &market(100), AmountRule::Cents).unwrap();
        assert!(got.below_minimum);
        assert_eq!(got.maker_amount, 0);
        // Under $1 after rounding.
        let got = market_order_amounts(Side::Buy, 999_999, 500_000, &market(CENTS_TICK), AmountRule::Cents)
            .unwrap();
        assert!(got.below_minimum);
        assert_eq!(got.maker_amount, 990_000);
    }

    #[test]
    fn fee_matches_the_local_clob_rounding() {
        // 100 shares × 2 % × 0.5 × 0.5 = 0.5 = 500_000 base units exactly.
        assert_eq!(taker_fee(100 * UNIT, 500_000, 200, 1), 500_000);
        // 1 share × 1 bps × 0.25 = 25 units → 2.5 quanta → rounds half up to 30.
        assert_eq!(taker_fee(UNIT, 500_000, 1, 1), 30);
        // 24 units → 2.4 quanta → 20.
        assert_eq!(taker_fee(960_000, 500_000, 1, 1), 20);
        assert_eq!(taker_fee(UNIT, 500_000, 0, 1), 0);
    }

    #[test]
    fn fee_adjusted_buy_fits_budget() {
        let m = MarketParams::new(CENTS_TICK, UNIT, 0, 1_000, 1).unwrap();
        let got = market_order_amounts(Side::Buy, 100 * UNIT, 500_000, &m, AmountRule::Cents).unwrap();
        assert!(got.maker_amount + got.fee <= 100 * UNIT);
        // 10 % × 0.25 = 2.5 % of shares; with 2 shares per $1 that is 5 % of spend: 95.23 → 95.23 + 4.7615...
        assert_eq!(got.maker_amount, 95_230_000);
        assert_eq!(got.fee, 4_761_500);
        // The next cent up would not fit.
        assert!(95_240_000 + taker_fee(190_480_000, 500_000, 1_000, 1) > 100 * UNIT);
    }

    #[test]
    fn order_maker_pairs_signature_types() {
        let signer =
            Signer::from_hex("0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80").unwrap();
        let domain =
            ExchangeDomain::new(Address::repeat_byte(0xe1), 137, 2, eip712::EXCHANGE_DOMAIN_NAME).unwrap();
        let new = |maker, kind| {
            OrderMaker::new(&signer, domain.clone(), maker, kind, AmountRule::Cents, B256::ZERO, B256::ZERO)
        };
        assert_eq!(new(None, 0).unwrap().maker, signer.address());
        assert!(new(Some(Address::repeat_byte(1)), 0).is_err());
        assert!(new(None, 3).is_err());
        assert!(new(Some(signer.address()), 3).is_err());
        assert!(new(Some(Address::repeat_byte(1)), 1).is_err());
        let wallet = new(Some(Address::repeat_byte(1)), 3).unwrap();
        let market = market(CENTS_TICK);
        let request = MarketOrderRequest {
            token_id: U256::from(7u8),
            side: Side::Buy,
            amount: 10 * UNIT,
            price_ppm: 500_000,
            salt: U256::from(1u8),
            timestamp: U256::from(2u8),
        };
        let BuiltOrder::Signed { order, signed, .. } =
            build_market_order(&signer, &wallet, &market, &request).unwrap()
        else {
            panic!("a $10 BUY is above the minimum");
        };
        assert_eq!(order.signer, wallet.maker);
        assert_eq!(signed.signature.len(), crate::poly1271::WRAP_LEN);
        assert_eq!(signed.hash, domain.order_hash(OrderRef::V2(&order)).unwrap());
        let small = MarketOrderRequest { amount: UNIT / 2, ..request };
        assert!(matches!(
            build_market_order(&signer, &wallet, &market, &small).unwrap(),
            BuiltOrder::BelowMinimum(_)
        ));
    }

    fn p_num(price: u64) -> u128 {
        Price::new(price, 100).unwrap().num
    }

    fn p_den(price: u64) -> u128 {
        Price::new(price, 100).unwrap().den
    }

    const TICKS: [u64; 6] = [100, 1_000, 2_500, 5_000, 10_000, 100_000];

    fn rules() -> impl Strategy<Value = AmountRule> {
        prop_oneof![Just(AmountRule::Cents), Just(AmountRule::Lots), Just(AmountRule::Legacy)]
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2_000))]

        #[test]
        fn amounts_never_exceed_and_keep_their_rule(
            tick in prop::sample::select(TICKS.to_vec()),
            ticks in 1u64..1_000_000,
            amount in 0u128..10_000_000_000,
            buy in any::<bool>(),
            rule in rules(),
            fee_rate in prop_oneof![Just(0u32), 1u32..2_000],
        ) {
            let count = PPM / tick;
            let price = (ticks % (count - 1) + 1) * tick;
            let side = if buy { Side::Buy } else { Side::Sell };
            let market = MarketParams::new(tick, UNIT, 0, fee_rate, 1).unwrap();
            let got = market_order_amounts(side, amount, price, &market, rule).unwrap();
            let (maker, taker) = (got.maker_amount, got.taker_amount);
            match side {
                Side::Buy => prop_assert!(maker + got.fee <= amount),
                Side::Sell => prop_assert!(maker <= amount),
            }
            if maker == 0 || taker == 0 {
                prop_assert!(got.below_minimum);
                return Ok(());
            }
            let one = u128::from(PPM);
            let p = u128::from(price);
            let (usd, shares) = if buy { (maker, taker) } else { (taker, maker) };
            match rule {
                AmountRule::Cents | AmountRule::Lots => prop_assert_eq!(usd * one, p * shares),
                AmountRule::Legacy => {
                    // Within one tick of the limit on the crossing side, inside [tick, 1 - tick].
                    let t = u128::from(tick);
                    prop_assert!(usd * one >= t * shares && usd * one <= (one - t) * shares);
                    if buy {
                        prop_assert!(usd * one >= p * shares && usd * one < (p + t) * shares);
                    } else {
                        prop_assert!(usd * one <= p * shares && usd * one > (p - t) * shares);
                    }
                }
            }
            if rule != AmountRule::Lots {
                prop_assert!(decimals(maker) <= 2 && decimals(taker) <= 4);
            }
            // Nothing larger under the same rule fits: one maker step more overshoots, fee included.
            if rule != AmountRule::Legacy {
                let step = Shape::new(side, &Price::new(price, tick).unwrap(), rule).exact_step();
                let bigger = maker + step;
                let extra = if buy { taker_fee(bigger / p_num(price) * p_den(price), price, fee_rate, 1) } else { 0 };
                prop_assert!(bigger + extra > amount);
            }
        }
    }
}
