//! One follower config applied to one signal: filters, sizing, cap, venue minimum (docs/seams.md units).
//!
//! Amounts are `u128` base units: BUY amounts are collateral to spend, SELL amounts are tokens to sell.
//! Every computed amount rounds **down**; the per-trade cap applies after rounding, and a bump to the venue
//! minimum (which rounds up, or it would not reach the minimum) is refused when it would pass the cap. So no
//! amount is ever above a cap.

use alloy_primitives::{Address, U256};

use crate::signal::{Side, Signal};

/// `ppm` and `bps` denominators.
pub const PPM: u128 = 1_000_000;
pub const BPS: u128 = 10_000;

/// A follower config's sizing rule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Sizing {
    /// Spend `usd` per copy (a SELL sells that much collateral's worth at the leader's price).
    Fixed { usd: u128 },
    /// Copy the leader's trade scaled by `ppm` (BUY: the leader's collateral; SELL: the leader's tokens).
    Ratio { ppm: u128 },
    /// Copy `bps` of the follower's collateral balance (a SELL converts it to tokens at the leader's price).
    Percent { bps: u128 },
    /// Like `Ratio`, with the multiplier of the first tier whose range holds the leader's collateral.
    Tiered(Vec<Tier>),
}

/// `min_leader_usd <= leader usd < max_leader_usd` (no upper bound when `None`) → `multiplier_ppm`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tier {
    pub min_leader_usd: u128,
    pub max_leader_usd: Option<u128>,
    pub multiplier_ppm: u128,
}

/// What to do when the copy is below the venue's minimum size.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MinSizePolicy {
    Skip,
    /// Raise it to the minimum, unless that passes the per-trade cap.
    Bump,
}

/// A follower's rule for copying one leader (docs/seams.md, `CopyConfig`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CopyConfig {
    pub config_id: u64,
    pub follower: Address,
    pub proxy: Address,
    pub leader: Address,
    pub sizing: Sizing,
    /// Sorted (binary search); empty: every token.
    pub token_allow: Vec<U256>,
    /// Sorted.
    pub token_deny: Vec<U256>,
    pub side_filter: Option<Side>,
    pub min_leader_usd: Option<u128>,
    pub max_leader_usd: Option<u128>,
    pub min_price_ppm: Option<u128>,
    pub max_price_ppm: Option<u128>,
    pub max_per_trade_usd: Option<u128>,
    pub min_size_policy: MinSizePolicy,
    pub enabled: bool,
    pub updated_at: u64,
}

/// Why a config gave no intent for a signal.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SkipReason {
    /// A filter excluded it: token, side, leader size bounds, price band, no matching tier.
    Filtered,
    /// The rule needs a price (or the leader's collateral) and the signal has none.
    NoPrice,
    /// Percent sizing without the follower's balance.
    NoBalance,
    /// Below the venue's minimum size (policy skip, or a bump would pass the cap).
    BelowMinSize,
    /// The amount rounds down to zero.
    ZeroAmount,
    /// A value too large for the arithmetic (not a real trade).
    Overflow,
}

impl SkipReason {
    /// The snake_case code of docs/seams.md.
    pub fn as_str(self) -> &'static str {
        match self {
            SkipReason::Filtered => "filtered",
            SkipReason::NoPrice => "no_price",
            SkipReason::NoBalance => "no_balance",
            SkipReason::BelowMinSize => "below_min_size",
            SkipReason::ZeroAmount => "zero_amount",
            SkipReason::Overflow => "overflow",
        }
    }
}

/// `floor(a * b / c)`, exact for any `u128` inputs; `None` when `c == 0` or the result passes `u128`.
pub fn mul_div(a: u128, b: u128, c: u128) -> Option<u128> {
    if c == 0 {
        return None;
    }
    match a.checked_mul(b) {
        Some(p) => Some(p / c),
        None => u128::try_from(U256::from(a) * U256::from(b) / U256::from(c)).ok(),
    }
}

/// `ceil(a * b / c)`, same domain as [`mul_div`].
pub fn mul_div_ceil(a: u128, b: u128, c: u128) -> Option<u128> {
    if c == 0 {
        return None;
    }
    let p = U256::from(a) * U256::from(b);
    let (q, r) = p.div_rem(U256::from(c));
    u128::try_from(if r.is_zero() { q } else { q + U256::from(1) }).ok()
}

/// A signal's values that every config reads, converted once.
#[derive(Debug, Clone, Copy)]
pub struct Leg {
    pub side: Side,
    pub token_id: U256,
    /// Tokens the leader traded.
    pub size: u128,
    /// `Some((collateral, tokens))`, the exact price, when known and usable (`tokens > 0`).
    pub price: Option<(u128, u128)>,
    /// Leader's price in ppm: rounded up for a BUY limit, down for a SELL limit.
    pub limit_price_ppm: Option<u128>,
}

impl Leg {
    /// `None` when an amount does not fit `u128` (not a real trade).
    pub fn of(signal: &Signal) -> Option<Leg> {
        let size = u128::try_from(signal.size).ok()?;
        let price = if signal.has_price() {
            Some((u128::try_from(signal.price_num).ok()?, u128::try_from(signal.price_den).ok()?))
        } else {
            None
        };
        let limit_price_ppm = match price {
            Some((num, den)) => Some(match signal.side {
                Side::Buy => mul_div_ceil(num, PPM, den)?,
                Side::Sell => mul_div(num, PPM, den)?,
            }),
            None => None,
        };
        Some(Leg { side: signal.side, token_id: signal.token_id, size, price, limit_price_ppm })
    }

    /// The venue's minimum of `min_tokens` in the amount's unit: tokens for a SELL; for a BUY the least
    /// collateral that buys them at the leader's price, `ceil(min_tokens * num / den)` (for integers,
    /// `floor(amount * den / num) >= min_tokens` exactly when `amount >= ceil(min_tokens * num / den)`).
    /// `None` when there is no minimum, or for a BUY without a (non-zero) price: execution checks the quote.
    pub fn min_amount(&self, min_tokens: u128) -> Result<Option<u128>, SkipReason> {
        match (min_tokens, self.side, self.price) {
            (0, _, _) | (_, Side::Buy, None | Some((0, _))) => Ok(None),
            (_, Side::Sell, _) => Ok(Some(min_tokens)),
            (_, Side::Buy, Some((num, den))) => {
                mul_div_ceil(min_tokens, num, den).map(Some).ok_or(SkipReason::Overflow)
            }
        }
    }

    /// The leader's collateral, when the price is known.
    fn usd(&self) -> Option<u128> {
        self.price.map(|(num, _)| num)
    }

    /// Collateral → tokens at the leader's price, rounded down. A zero price has no token equivalent.
    fn tokens_for(&self, usd: u128) -> Result<u128, SkipReason> {
        match self.price {
            Some((num, den)) if num > 0 => mul_div(usd, den, num).ok_or(SkipReason::Overflow),
            _ => Err(SkipReason::NoPrice),
        }
    }
}

/// The per-call inputs that are not part of the configs.
#[derive(Debug, Clone, Copy)]
pub struct Context {
    /// The follower's collateral balance (percent sizing).
    pub balance: Option<u128>,
    /// The venue's minimum in the amount's unit ([`Leg::min_amount`]).
    pub min_amount: Result<Option<u128>, SkipReason>,
}

/// The copy amount of `cfg` for `leg` (BUY: collateral; SELL: tokens), or why there is none.
pub fn size_copy(cfg: &CopyConfig, leg: &Leg, ctx: &Context) -> Result<u128, SkipReason> {
    passes_filters(cfg, leg)?;
    let mut amount = match &cfg.sizing {
        Sizing::Fixed { usd } => side_amount(leg, *usd)?,
        Sizing::Ratio { ppm } => scaled(leg, *ppm)?,
        Sizing::Percent { bps } => {
            let balance = ctx.balance.ok_or(SkipReason::NoBalance)?;
            side_amount(leg, mul_div(balance, *bps, BPS).ok_or(SkipReason::Overflow)?)?
        }
        Sizing::Tiered(tiers) => {
            let usd = leg.usd().ok_or(SkipReason::NoPrice)?;
            let tier = tiers
                .iter()
                .find(|t| usd >= t.min_leader_usd && t.max_leader_usd.is_none_or(|max| usd < max))
                .ok_or(SkipReason::Filtered)?;
            scaled(leg, tier.multiplier_ppm)?
        }
    };
    // The cap in the amount's unit; a SELL's cap converts collateral to tokens, rounding down.
    let cap = match cfg.max_per_trade_usd {
        None => None,
        Some(usd) => Some(side_amount(leg, usd)?),
    };
    if let Some(cap) = cap {
        amount = amount.min(cap);
    }
    if let Some(min_amount) = ctx.min_amount? {
        amount = apply_min_size(cfg, amount, cap, min_amount)?;
    }
    if amount == 0 {
        return Err(SkipReason::ZeroAmount);
    }
    Ok(amount)
}

fn passes_filters(cfg: &CopyConfig, leg: &Leg) -> Result<(), SkipReason> {
    let excluded = cfg.side_filter.is_some_and(|s| s != leg.side)
        || (!cfg.token_allow.is_empty() && cfg.token_allow.binary_search(&leg.token_id).is_err())
        || cfg.token_deny.binary_search(&leg.token_id).is_ok();
    if excluded {
        return Err(SkipReason::Filtered);
    }
    if cfg.min_leader_usd.is_some() || cfg.max_leader_usd.is_some() {
        let usd = leg.usd().ok_or(SkipReason::NoPrice)?;
        if cfg.min_leader_usd.is_some_and(|min| usd < min) || cfg.max_leader_usd.is_some_and(|max| usd > max)
        {
            return Err(SkipReason::Filtered);
        }
    }
    if cfg.min_price_ppm.is_some() || cfg.max_price_ppm.is_some() {
        let (num, den) = leg.price.ok_or(SkipReason::NoPrice)?;
        // Exact comparison of num/den with ppm/1e6 by cross-multiplying (in 256 bits: no overflow).
        let scaled = U256::from(num) * U256::from(PPM);
        let below = cfg.min_price_ppm.is_some_and(|min| scaled < U256::from(min) * U256::from(den));
        let above = cfg.max_price_ppm.is_some_and(|max| scaled > U256::from(max) * U256::from(den));
        if below || above {
            return Err(SkipReason::Filtered);
        }
    }
    Ok(())
}

/// A collateral amount in the side's unit: as is for a BUY, in tokens at the leader's price for a SELL.
fn side_amount(leg: &Leg, usd: u128) -> Result<u128, SkipReason> {
    match leg.side {
        Side::Buy => Ok(usd),
        Side::Sell => leg.tokens_for(usd),
    }
}

/// The leader's trade scaled by `ppm`: collateral for a BUY (needs the price), tokens for a SELL.
fn scaled(leg: &Leg, ppm: u128) -> Result<u128, SkipReason> {
    let base = match leg.side {
        Side::Buy => leg.usd().ok_or(SkipReason::NoPrice)?,
        Side::Sell => leg.size,
    };
    mul_div(base, ppm, PPM).ok_or(SkipReason::Overflow)
}

fn apply_min_size(
    cfg: &CopyConfig,
    amount: u128,
    cap: Option<u128>,
    min_amount: u128,
) -> Result<u128, SkipReason> {
    if amount >= min_amount {
        return Ok(amount);
    }
    match cfg.min_size_policy {
        MinSizePolicy::Bump if cap.is_none_or(|cap| min_amount <= cap) => Ok(min_amount),
        _ => Err(SkipReason::BelowMinSize),
    }
}
