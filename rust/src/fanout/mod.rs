//! `FanoutIndex`: leader → follower configs, turning signals into copy intents in one pass.
//!
//! Configs are grouped by leader in contiguous vectors, so one signal walks only its leader's followers;
//! the per-signal values (price, limit) are computed once, and each config costs a few integer operations.

pub mod sizing;

use std::collections::HashMap;

use alloy_primitives::{Address, B256, U256, U512};

use crate::error::{CoreError, CoreResult};
use crate::hash::keccak256;
use crate::signal::{Side, Signal};
use sizing::{size_copy, Context, Leg, BPS};
pub use sizing::{CopyConfig, MinSizePolicy, Sizing, SkipReason, Tier};

type FastMap<K, V> = HashMap<K, V, foldhash::fast::RandomState>;

/// The venue's minimum order size, in tokens.
#[derive(Debug, Clone, Default)]
pub enum MinSize {
    #[default]
    None,
    /// The same minimum for every token.
    All(u128),
    /// Per token id; tokens not listed have none.
    PerToken(FastMap<U256, u128>),
}

impl MinSize {
    fn of(&self, token: &U256) -> u128 {
        match self {
            MinSize::None => 0,
            MinSize::All(n) => *n,
            MinSize::PerToken(map) => map.get(token).copied().unwrap_or(0),
        }
    }
}

/// One copy to make: which config, how much, for which signal (index into [`Matched::signals`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Intent {
    pub config_id: u64,
    pub follower: Address,
    pub proxy: Address,
    /// BUY: collateral to spend; SELL: tokens to sell. Base units.
    pub amount: u128,
    pub signal: u32,
}

/// A config of the signal's leader that gave no intent, and why.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Skip {
    pub config_id: u64,
    pub signal: u32,
    pub reason: SkipReason,
}

/// The outcome of matching a batch of signals.
#[derive(Debug, Clone, Default)]
pub struct Matched {
    pub signals: Vec<Signal>,
    /// Per signal: the leader's price in ppm (BUY rounded up, SELL down), `None` when unknown.
    pub limit_price_ppm: Vec<Option<u128>>,
    pub intents: Vec<Intent>,
    pub skips: Vec<Skip>,
}

/// Everything about one intent, joined with its signal (docs/seams.md, `CopyIntent`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CopyIntent {
    pub config_id: u64,
    pub follower: Address,
    pub proxy: Address,
    pub leader: Address,
    pub token_id: U256,
    pub side: Side,
    pub amount: u128,
    pub limit_price_ppm: Option<u128>,
    pub tx_hash: B256,
    pub log_index: u64,
    pub sub_index: u32,
    pub signal_index: u32,
}

impl CopyIntent {
    /// The copy job's idempotency key: `keccak256(dedup_key ‖ be64(config_id))`.
    pub fn idempotency_key(&self) -> [u8; 32] {
        let mut buf = [0u8; 40];
        buf[..32].copy_from_slice(&crate::hash::dedup_key(&self.tx_hash.0, self.log_index, self.sub_index));
        buf[32..].copy_from_slice(&self.config_id.to_be_bytes());
        keccak256(&buf)
    }
}

/// What a copy job carries from its signal, computed once per signal of a batch (docs/seams.md, `CopyJob`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JobSignal {
    /// `dedup_key(tx_hash, log_index, sub_index)`, the first half of every idempotency key of the signal.
    pub dedup_key: [u8; 32],
    /// The leader's price in ppm, rounded down: `price_num * 1e6 / price_den` (exact, so a U512).
    pub leader_price_ppm: Option<U512>,
    /// The payload's text shared by the signal's jobs: from the leader to the side, and after the amount.
    payload_middle: String,
    payload_tail: String,
}

/// A batch's copy jobs in the form the next stages take: per signal the shared parts, per intent its key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Prepared {
    pub signals: Vec<JobSignal>,
    /// The idempotency key of each intent, in order.
    pub keys: Vec<[u8; 32]>,
}

/// Appends `bytes` as lower-case hex.
fn push_hex(out: &mut Vec<u8>, bytes: &[u8]) {
    let start = out.len();
    out.resize(start + bytes.len() * 2, 0);
    // The slice is exactly twice the input: encoding cannot fail.
    let _ = alloy_primitives::hex::encode_to_slice(bytes, &mut out[start..]);
}

impl Matched {
    /// Every intent's idempotency key and every signal's job fields, each hash and number text computed
    /// once.
    pub fn prepare(&self) -> Prepared {
        let signals: Vec<JobSignal> = self
            .signals
            .iter()
            .zip(&self.limit_price_ppm)
            .map(|(s, limit)| {
                let price = (!s.price_den.is_zero())
                    .then(|| U512::from(s.price_num) * U512::from(1_000_000u64) / U512::from(s.price_den));
                let hex = alloy_primitives::hex::encode;
                JobSignal {
                    dedup_key: crate::hash::dedup_key(&s.tx_hash.0, s.log_index, s.sub_index),
                    leader_price_ppm: price,
                    payload_middle: format!(
                        "\"0x{}\",\"{}\",\"{}\",",
                        hex(s.leader.as_slice()),
                        s.token_id,
                        s.side.as_str()
                    ),
                    payload_tail: format!(
                        ",{},\"{}\",{},{},{},{},{}]",
                        limit.unwrap_or(0),
                        hex(s.tx_hash.as_slice()),
                        s.log_index,
                        s.sub_index,
                        s.size,
                        price.map_or_else(|| "null".to_owned(), |p| p.to_string()),
                        s.block_number.unwrap_or(0),
                    ),
                }
            })
            .collect();
        let keys = self
            .intents
            .iter()
            .map(|it| {
                let mut buf = [0u8; 40];
                buf[..32].copy_from_slice(&signals[it.signal as usize].dedup_key);
                buf[32..].copy_from_slice(&it.config_id.to_be_bytes());
                keccak256(&buf)
            })
            .collect();
        Prepared { signals, keys }
    }

    /// The queue payload of intent `i` (the bytes of `CopyJob.to_bytes()`: a compact JSON array), appended
    /// to `out`; `key` is its idempotency key and `job` its signal's prepared fields.
    pub fn write_payload(&self, i: usize, key: &[u8; 32], job: &JobSignal, out: &mut Vec<u8>) {
        let it = &self.intents[i];
        out.extend_from_slice(b"[\"");
        push_hex(out, key);
        out.extend_from_slice(b"\",");
        out.extend_from_slice(it.config_id.to_string().as_bytes());
        out.extend_from_slice(b",\"0x");
        push_hex(out, it.follower.as_slice());
        out.extend_from_slice(b"\",\"0x");
        push_hex(out, it.proxy.as_slice());
        out.extend_from_slice(b"\",");
        out.extend_from_slice(job.payload_middle.as_bytes());
        out.extend_from_slice(it.amount.to_string().as_bytes());
        out.extend_from_slice(job.payload_tail.as_bytes());
    }

    /// The `i`-th intent joined with its signal.
    pub fn intent(&self, i: usize) -> Option<CopyIntent> {
        let it = self.intents.get(i)?;
        let idx = it.signal as usize;
        let s = &self.signals[idx];
        Some(CopyIntent {
            config_id: it.config_id,
            follower: it.follower,
            proxy: it.proxy,
            leader: s.leader,
            token_id: s.token_id,
            side: s.side,
            amount: it.amount,
            limit_price_ppm: self.limit_price_ppm[idx],
            tx_hash: s.tx_hash,
            log_index: s.log_index,
            sub_index: s.sub_index,
            signal_index: it.signal,
        })
    }
}

impl CopyConfig {
    /// Checks the config's own consistency; the message names the config and the field.
    pub fn validate(&self) -> CoreResult<()> {
        let id = self.config_id;
        let bad = |what: String| Err(CoreError::InvalidInput(format!("config {id}: {what}")));
        if id == 0 {
            return bad("config_id must be > 0".into());
        }
        match &self.sizing {
            Sizing::Fixed { usd: 0 } => return bad("fixed_usd must be > 0".into()),
            Sizing::Ratio { ppm: 0 } => return bad("ratio_ppm must be > 0".into()),
            Sizing::Percent { bps } if *bps == 0 || *bps > BPS => {
                return bad(format!("percent_bps must be in 1..=10000, got {bps}"));
            }
            Sizing::Tiered(tiers) if tiers.is_empty() => return bad("tiers must not be empty".into()),
            Sizing::Tiered(tiers) => {
                if let Some(t) =
                    tiers.iter().find(|t| t.max_leader_usd.is_some_and(|max| max <= t.min_leader_usd))
                {
                    return bad(format!(
                        "tier max_leader_usd {:?} must be above min_leader_usd {}",
                        t.max_leader_usd, t.min_leader_usd
                    ));
                }
            }
            _ => {}
        }
        if let (Some(min), Some(max)) = (self.min_leader_usd, self.max_leader_usd) {
            if min > max {
                return bad(format!("min_leader_usd {min} is above max_leader_usd {max}"));
            }
        }
        if let (Some(min), Some(max)) = (self.min_price_ppm, self.max_price_ppm) {
            if min > max {
                return bad(format!("min_price_ppm {min} is above max_price_ppm {max}"));
            }
        }
        Ok(())
    }
}

/// Follower configs indexed by leader, and the followers' collateral balances (percent sizing).
#[derive(Debug, Default)]
pub struct FanoutIndex {
    by_leader: FastMap<Address, Vec<CopyConfig>>,
    /// config id → (leader, position in its vector).
    position: FastMap<u64, (Address, usize)>,
    /// Proxy → collateral, kept between calls so that a match does not convert thousands of balances.
    balances: FastMap<Address, u128>,
}

impl FanoutIndex {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn len(&self) -> usize {
        self.position.len()
    }

    pub fn is_empty(&self) -> bool {
        self.position.is_empty()
    }

    pub fn contains(&self, config_id: u64) -> bool {
        self.position.contains_key(&config_id)
    }

    pub fn get(&self, config_id: u64) -> Option<&CopyConfig> {
        let (leader, at) = self.position.get(&config_id)?;
        self.by_leader.get(leader).and_then(|v| v.get(*at))
    }

    /// Leaders with at least one config (enabled or not).
    pub fn leaders(&self) -> impl Iterator<Item = &Address> {
        self.by_leader.keys()
    }

    /// Records Proxy collateral balances (merged into those already known).
    pub fn set_balances(&mut self, balances: impl IntoIterator<Item = (Address, u128)>) {
        self.balances.extend(balances);
    }

    /// Forgets every recorded balance.
    pub fn clear_balances(&mut self) {
        self.balances.clear();
    }

    /// Inserts or replaces a config (by `config_id`), after validating it.
    pub fn upsert(&mut self, mut cfg: CopyConfig) -> CoreResult<()> {
        cfg.validate()?;
        cfg.token_allow.sort_unstable();
        cfg.token_allow.dedup();
        cfg.token_deny.sort_unstable();
        cfg.token_deny.dedup();
        if let Some(&(leader, at)) = self.position.get(&cfg.config_id) {
            if leader == cfg.leader {
                if let Some(slot) = self.by_leader.get_mut(&leader).and_then(|v| v.get_mut(at)) {
                    *slot = cfg;
                    return Ok(());
                }
            }
            self.remove(cfg.config_id);
        }
        let list = self.by_leader.entry(cfg.leader).or_default();
        self.position.insert(cfg.config_id, (cfg.leader, list.len()));
        list.push(cfg);
        Ok(())
    }

    /// Removes a config; `false` when it was not there.
    pub fn remove(&mut self, config_id: u64) -> bool {
        let Some((leader, at)) = self.position.remove(&config_id) else {
            return false;
        };
        if let Some(list) = self.by_leader.get_mut(&leader) {
            list.swap_remove(at);
            if let Some(moved) = list.get(at) {
                self.position.insert(moved.config_id, (leader, at));
            }
            if list.is_empty() {
                self.by_leader.remove(&leader);
            }
        }
        true
    }

    /// Intents for every enabled config of each signal's leader. Removed (reorged) signals give none:
    /// the caller cancels what their originals caused. `balances` (Proxy → collateral) take precedence
    /// over the recorded ones for this call.
    pub fn match_signals<S: std::hash::BuildHasher>(
        &self,
        signals: Vec<Signal>,
        balances: &HashMap<Address, u128, S>,
        min_size: &MinSize,
    ) -> Matched {
        let mut out = Matched { limit_price_ppm: Vec::with_capacity(signals.len()), ..Matched::default() };
        for (index, signal) in signals.iter().enumerate() {
            let leg = Leg::of(signal);
            out.limit_price_ppm.push(leg.and_then(|l| l.limit_price_ppm));
            let Some(configs) = self.by_leader.get(&signal.leader).filter(|_| !signal.removed) else {
                continue;
            };
            let index = u32::try_from(index).unwrap_or(u32::MAX);
            let min_tokens = min_size.of(&signal.token_id);
            let min_amount = leg.map_or(Ok(None), |l| l.min_amount(min_tokens));
            out.intents.reserve(configs.len());
            for cfg in configs.iter().filter(|c| c.enabled) {
                let sized = match &leg {
                    None => Err(SkipReason::Overflow),
                    Some(leg) => {
                        let balance = match cfg.sizing {
                            Sizing::Percent { .. } => {
                                balances.get(&cfg.proxy).or_else(|| self.balances.get(&cfg.proxy)).copied()
                            }
                            _ => None,
                        };
                        size_copy(cfg, leg, &Context { balance, min_amount })
                    }
                };
                match sized {
                    Ok(amount) => out.intents.push(Intent {
                        config_id: cfg.config_id,
                        follower: cfg.follower,
                        proxy: cfg.proxy,
                        amount,
                        signal: index,
                    }),
                    Err(reason) => out.skips.push(Skip { config_id: cfg.config_id, signal: index, reason }),
                }
            }
        }
        out.signals = signals;
        out
    }
}

#[cfg(test)]
mod tests;
