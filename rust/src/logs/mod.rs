//! Log decoding: JSON-RPC bytes → leader `Signal`s, by a decoder built once with the addresses it watches.
//!
//! Rules (DESIGN.md §1, §5):
//! - `OrderFilled` (V1, V2) yields a signal for its **maker** (topic 2) when the maker is tracked, including
//!   the row of a taker order whose topic 3 is the exchange itself. A leader present only in topic 3 is the
//!   counterparty of someone else's fill: no signal, or the fill would be counted twice.
//! - CTF `TransferSingle` / `TransferBatch` yield one signal per id (sub index = position in the batch): SELL
//!   for a tracked sender, BUY for a tracked receiver, price unknown. A transfer between two tracked leaders
//!   gives both signals, each with its own dedup key (`Signal::dedup_key` binds a CTF signal to its party).
//!   No signal when the operator (topic 1) is a watched exchange (its `OrderFilled` already describes the
//!   fill), for mints and burns (zero address: splits and merges, not trades), for self-transfers and for
//!   zero values.
//! - Polymarket's plumbing (the `non_trading` addresses: in the Polygon table, `neg_risk_adapter`,
//!   `collateral_adapter`, `neg_risk_collateral_adapter`, `onramp`, `offramp`) never trades. A CTF transfer
//!   it operates gives no signal: V1's neg-risk exchange (`neg_risk_exchange_v1`) moves a fill's tokens
//!   through the NegRiskAdapter, whose transfer would otherwise become a second signal beside that fill's
//!   `OrderFilled`, and the adapter's own transfers are splits, merges, conversions and redemptions. For
//!   the same reason a transfer to or from any of them is not a trade: no signal (a leader's redemption is
//!   a position change, not a SELL).
//! - A tracked leader's **exit** (docs/seams.md "Leaders' exits") is an [`Exit`], never a signal: the CTF's
//!   `PositionsMerge` / `PayoutRedemption` naming the leader (topic 1), or the same events of a
//!   `non_trading` adapter, which merges and redeems in its own name (the CTF's event then names the
//!   adapter, which is no leader: one exit per exit). The burns beside them stay silent (zero address).
//! - A `removed: true` log decodes like any other and carries the flag, so the caller can undo what the
//!   original caused.

pub mod events;
pub mod json;

use std::collections::HashSet;
use std::sync::{Arc, PoisonError, RwLock};

use alloy_primitives::{Address, B256, U256};

use crate::error::{CoreError, CoreResult};
use crate::signal::{address_hex, Side, Signal, Source};
use events::{
    adapter, ctf, v1, v2, Fill, ADAPTER_PAYOUT_REDEMPTION, ADAPTER_POSITIONS_MERGE, CTF_PAYOUT_REDEMPTION,
    CTF_POSITIONS_MERGE, TRANSFER_BATCH, TRANSFER_SINGLE, V1_ORDER_FILLED, V2_ORDER_FILLED,
};
use json::{LogRecord, Payload};

/// A set of addresses with a fast hasher.
pub type AddressSet = HashSet<Address, foldhash::fast::RandomState>;

/// One log of a batch that could not be decoded: its position in the batch and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reject {
    pub index: usize,
    pub reason: String,
}

/// How a leader left a position without trading it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ExitKind {
    /// Full sets of a condition turned back into collateral.
    Merge,
    /// A resolved condition's positions paid out.
    Redeem,
}

impl ExitKind {
    /// The boundary spelling: `"merge"` / `"redeem"`.
    pub fn as_str(self) -> &'static str {
        match self {
            ExitKind::Merge => "merge",
            ExitKind::Redeem => "redeem",
        }
    }
}

/// A tracked leader's merge or redemption: a position change that is not a trade (never a SELL signal).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Exit {
    pub leader: Address,
    pub kind: ExitKind,
    pub condition_id: B256,
    /// Merge: full sets merged (tokens of each outcome, base units). Redeem: collateral paid out.
    pub amount: U256,
    /// The contract that emitted the event: the CTF, or the adapter the leader went through.
    pub via: Address,
    pub tx_hash: B256,
    pub log_index: u64,
    pub block_number: Option<u64>,
    pub block_hash: Option<B256>,
    pub removed: bool,
    pub seen_at_ns: u64,
}

/// The outcome of decoding a batch: good signals and exits, plus one reject per malformed log.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Decoded {
    pub signals: Vec<Signal>,
    pub exits: Vec<Exit>,
    pub rejects: Vec<Reject>,
}

/// The addresses the decoder watches and, optionally, the leaders it tracks.
pub struct LogDecoder {
    ctf: Address,
    v1: AddressSet,
    v2: AddressSet,
    /// v1 ∪ v2: the operators whose CTF transfers are already described by an `OrderFilled`.
    exchanges: AddressSet,
    /// Adapters and ramps: neither an operator nor a party of a CTF transfer that is a trade.
    non_trading: AddressSet,
    /// `None`: every maker / transfer party is tracked. Swapped whole, so a decode sees one consistent set.
    leaders: RwLock<Option<Arc<AddressSet>>>,
}

impl LogDecoder {
    /// Builds a decoder; an address may hold only one role.
    pub fn new(
        ctf: Address,
        v1_exchanges: impl IntoIterator<Item = Address>,
        v2_exchanges: impl IntoIterator<Item = Address>,
        leaders: Option<AddressSet>,
    ) -> CoreResult<Self> {
        let v1: AddressSet = v1_exchanges.into_iter().collect();
        let v2: AddressSet = v2_exchanges.into_iter().collect();
        let twice = v1
            .intersection(&v2)
            .next()
            .or_else(|| [&ctf].into_iter().find(|a| v1.contains(*a) || v2.contains(*a)));
        if let Some(addr) = twice {
            return Err(CoreError::InvalidInput(format!(
                "address {} is given two roles (CTF, V1 exchange, V2 exchange)",
                address_hex(addr)
            )));
        }
        let exchanges = v1.union(&v2).copied().collect();
        Ok(Self {
            ctf,
            v1,
            v2,
            exchanges,
            non_trading: AddressSet::default(),
            leaders: RwLock::new(leaders.map(Arc::new)),
        })
    }

    /// Adds Polymarket's adapters and ramps, whose CTF transfers are never trades (see the module rules).
    /// An exchange or the CTF itself cannot be one.
    pub fn with_non_trading(mut self, addresses: impl IntoIterator<Item = Address>) -> CoreResult<Self> {
        for address in addresses {
            if address == self.ctf || self.exchanges.contains(&address) {
                return Err(CoreError::InvalidInput(format!(
                    "address {} is given two roles (non-trading and the CTF or an exchange)",
                    address_hex(&address)
                )));
            }
            self.non_trading.insert(address);
        }
        Ok(self)
    }

    /// Replaces the tracked leaders (`None`: track everyone). Decodes in flight keep the set they started with.
    pub fn set_leaders(&self, leaders: Option<AddressSet>) {
        *self.leaders.write().unwrap_or_else(PoisonError::into_inner) = leaders.map(Arc::new);
    }

    /// The tracked leaders, or `None` when everyone is tracked.
    pub fn leaders(&self) -> Option<Arc<AddressSet>> {
        self.leaders.read().unwrap_or_else(PoisonError::into_inner).clone()
    }

    /// Decodes a notification, an `eth_getLogs` response, a bare array or one log object.
    ///
    /// One log (bare or in a notification) that is malformed is an `Err`; in a batch, each malformed log
    /// becomes a [`Reject`] and the others still decode.
    pub fn decode(&self, raw: &[u8], seen_at_ns: u64) -> CoreResult<Decoded> {
        let leaders = self.leaders();
        let leaders = leaders.as_deref();
        let mut out = Decoded::default();
        match json::payload(raw).map_err(CoreError::Decode)? {
            Payload::Single(log) => {
                let rec = json::log_record(log).map_err(CoreError::Decode)?;
                self.decode_record(&rec, leaders, seen_at_ns, &mut out).map_err(CoreError::Decode)?;
            }
            Payload::Batch(logs) => {
                for (index, log) in logs.into_iter().enumerate() {
                    let before = out.signals.len();
                    let result = json::log_record(log)
                        .and_then(|rec| self.decode_record(&rec, leaders, seen_at_ns, &mut out));
                    if let Err(reason) = result {
                        out.signals.truncate(before);
                        out.rejects.push(Reject { index, reason });
                    }
                }
            }
        }
        Ok(out)
    }

    /// Appends the signals or the exit of one parsed log (an exit is pushed last, so a log that fails
    /// leaves nothing behind).
    pub fn decode_record(
        &self,
        rec: &LogRecord,
        leaders: Option<&AddressSet>,
        seen_at_ns: u64,
        decoded: &mut Decoded,
    ) -> Result<(), String> {
        let out = &mut decoded.signals;
        let topic0 = *rec.topics.first().ok_or("log has no topics (anonymous event)")?;
        let tracked = |a: &Address| leaders.is_none_or(|set| set.contains(a));
        let base = Base { rec, seen_at_ns };
        let plumbing = |a: &Address| self.non_trading.contains(a);
        let exit = |leader: Address, kind: ExitKind, condition_id: B256, amount: U256| {
            // An adapter's own merge on the CTF is the adapter's plumbing; its event names the leader.
            (tracked(&leader) && !plumbing(&leader)).then(|| base.exit(leader, kind, condition_id, amount))
        };
        if rec.address == self.ctf && (topic0 == CTF_POSITIONS_MERGE || topic0 == CTF_PAYOUT_REDEMPTION) {
            let found = if topic0 == CTF_POSITIONS_MERGE {
                let e: ctf::PositionsMerge = events::decode("PositionsMerge", &rec.topics, &rec.data)?;
                exit(e.stakeholder, ExitKind::Merge, e.conditionId, e.amount)
            } else {
                let e: ctf::PayoutRedemption = events::decode("PayoutRedemption", &rec.topics, &rec.data)?;
                exit(e.redeemer, ExitKind::Redeem, e.conditionId, e.payout)
            };
            decoded.exits.extend(found);
            return Ok(());
        }
        if rec.address == self.ctf {
            let (operator, from, to, items) = if topic0 == TRANSFER_SINGLE {
                let e: ctf::TransferSingle = events::decode("TransferSingle", &rec.topics, &rec.data)?;
                (e.operator, e.from, e.to, vec![(e.id, e.value)])
            } else if topic0 == TRANSFER_BATCH {
                let e: ctf::TransferBatch = events::decode("TransferBatch", &rec.topics, &rec.data)?;
                if e.ids.len() != e.values.len() {
                    return Err(format!("TransferBatch: {} ids but {} values", e.ids.len(), e.values.len()));
                }
                (e.operator, e.from, e.to, e.ids.into_iter().zip(e.values).collect())
            } else {
                return Err(unknown(topic0, "the CTF", rec.address));
            };
            if self.exchanges.contains(&operator)
                || plumbing(&operator)
                || plumbing(&from)
                || plumbing(&to)
                || from.is_zero()
                || to.is_zero()
                || from == to
            {
                return Ok(());
            }
            for (sub, (token_id, size)) in items.into_iter().enumerate() {
                if size.is_zero() {
                    continue;
                }
                let sub = u32::try_from(sub).map_err(|_| "TransferBatch has more than 2^32 ids")?;
                for (party, side) in [(from, Side::Sell), (to, Side::Buy)] {
                    if tracked(&party) {
                        let fill =
                            Fill { maker: party, side, token_id, size, usd: U256::ZERO, order_hash: None };
                        out.push(base.signal(fill, Source::Ctf, sub));
                    }
                }
            }
            return Ok(());
        }
        let (fill, source) = if self.v1.contains(&rec.address) {
            if topic0 != V1_ORDER_FILLED {
                return Err(unknown(topic0, "a V1 exchange", rec.address));
            }
            let e: v1::OrderFilled = events::decode("V1 OrderFilled", &rec.topics, &rec.data)?;
            (events::v1_fill(&e)?, Source::V1)
        } else if self.v2.contains(&rec.address) {
            if topic0 != V2_ORDER_FILLED {
                return Err(unknown(topic0, "a V2 exchange", rec.address));
            }
            let e: v2::OrderFilled = events::decode("V2 OrderFilled", &rec.topics, &rec.data)?;
            (events::v2_fill(&e)?, Source::V2)
        } else if plumbing(&rec.address) {
            // Last: adapters' exits are rare beside fills, whose path this keeps free of an extra lookup.
            let found = if topic0 == ADAPTER_POSITIONS_MERGE {
                let e: adapter::PositionsMerge =
                    events::decode("adapter PositionsMerge", &rec.topics, &rec.data)?;
                exit(e.stakeholder, ExitKind::Merge, e.conditionId, e.amount)
            } else if topic0 == ADAPTER_PAYOUT_REDEMPTION {
                let e: adapter::PayoutRedemption =
                    events::decode("adapter PayoutRedemption", &rec.topics, &rec.data)?;
                exit(e.redeemer, ExitKind::Redeem, e.conditionId, e.payout)
            } else {
                return Err(unknown(topic0, "an adapter", rec.address));
            };
            decoded.exits.extend(found);
            return Ok(());
        } else {
            return Err(format!("log from an unwatched address {}", address_hex(&rec.address)));
        };
        // Only the maker's row is the maker's fill; topic 3 (taker) is never a signal of its own.
        if tracked(&fill.maker) {
            out.push(base.signal(fill, source, 0));
        }
        Ok(())
    }
}

fn unknown(topic0: B256, what: &str, address: Address) -> String {
    format!("unknown event topic0 {topic0:#x} from {what} {}", address_hex(&address))
}

/// The fields every signal of one log shares.
struct Base<'a> {
    rec: &'a LogRecord,
    seen_at_ns: u64,
}

impl Base<'_> {
    fn exit(&self, leader: Address, kind: ExitKind, condition_id: B256, amount: U256) -> Exit {
        Exit {
            leader,
            kind,
            condition_id,
            amount,
            via: self.rec.address,
            tx_hash: self.rec.tx_hash,
            log_index: self.rec.log_index,
            block_number: self.rec.block_number,
            block_hash: self.rec.block_hash,
            removed: self.rec.removed,
            seen_at_ns: self.seen_at_ns,
        }
    }

    fn signal(&self, fill: Fill, source: Source, sub_index: u32) -> Signal {
        let (price_num, price_den) =
            if source == Source::Ctf { (U256::ZERO, U256::ZERO) } else { (fill.usd, fill.size) };
        Signal {
            leader: fill.maker,
            token_id: fill.token_id,
            side: fill.side,
            size: fill.size,
            price_num,
            price_den,
            usd: fill.usd,
            tx_hash: self.rec.tx_hash,
            log_index: self.rec.log_index,
            sub_index,
            block_number: self.rec.block_number,
            block_hash: self.rec.block_hash,
            exchange: self.rec.address,
            source,
            removed: self.rec.removed,
            seen_at_ns: self.seen_at_ns,
            order_hash: fill.order_hash,
        }
    }
}

#[cfg(test)]
mod tests;
