//! Bindings of `crate::logs` and `crate::signal`: `LogDecoder`, `Signal`, `LeaderExit`, `DecodedLogs`, `Reject`.

use std::time::{SystemTime, UNIX_EPOCH};

use alloy_primitives::{Address, B256};
use pyo3::exceptions::PyTypeError;
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict, PyList, PyString};

use super::primitives::{address_arg, addresses_arg, b256_to_py, u256_arg, u256_to_py};
use super::{to_py_err, without_gil};
use crate::error::CoreError;
use crate::hash;
use crate::logs::{self, events, AddressSet, Exit};
use crate::signal::{address_hex, Side, Signal, Source};

/// Nanoseconds since the Unix epoch: the `seen_at_ns` stamp of signals decoded now.
pub(crate) fn now_ns() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX))
}

fn address_set(obj: Option<&Bound<'_, PyAny>>) -> PyResult<Option<AddressSet>> {
    obj.filter(|o| !o.is_none()).map(|o| addresses_arg(o).map(|v| v.into_iter().collect())).transpose()
}

/// An order hash as Python hands it over (32 bytes or `0x` hex), the error naming the argument.
fn order_hash_arg(obj: &Bound<'_, PyAny>) -> PyResult<B256> {
    let parsed = if let Ok(raw) = obj.cast::<PyBytes>() {
        hash::tx_hash_from_bytes(raw.as_bytes())
    } else if let Ok(text) = obj.cast::<PyString>() {
        hash::tx_hash_from_hex(text.to_str()?)
    } else {
        return Err(PyTypeError::new_err(format!(
            "order_hash must be bytes or str, not {}",
            obj.get_type().name()?
        )));
    };
    parsed.map(B256::from).map_err(|err| {
        to_py_err(match err {
            CoreError::Decode(m) => CoreError::Decode(m.replacen("tx hash", "order_hash", 1)),
            CoreError::InvalidInput(m) => CoreError::InvalidInput(m.replacen("tx hash", "order_hash", 1)),
        })
    })
}

/// One leader fill (see docs/seams.md); immutable.
#[pyclass(frozen, eq, module = "polyhunter._core", name = "Signal")]
#[derive(Clone, PartialEq)]
pub struct PySignal(pub Signal);

#[pymethods]
impl PySignal {
    #[new]
    #[pyo3(signature = (
        *, leader, token_id, side, size, tx_hash, log_index, sub_index = 0, price_num = None, price_den = None,
        usd = None, block_number = None, block_hash = None, exchange = None, source = "activity",
        removed = false, seen_at_ns = None, order_hash = None
    ))]
    #[allow(clippy::too_many_arguments)]
    fn new(
        leader: &Bound<'_, PyAny>,
        token_id: &Bound<'_, PyAny>,
        side: &str,
        size: &Bound<'_, PyAny>,
        tx_hash: &Bound<'_, PyAny>,
        log_index: u64,
        sub_index: u32,
        price_num: Option<&Bound<'_, PyAny>>,
        price_den: Option<&Bound<'_, PyAny>>,
        usd: Option<&Bound<'_, PyAny>>,
        block_number: Option<u64>,
        block_hash: Option<&Bound<'_, PyAny>>,
        exchange: Option<&Bound<'_, PyAny>>,
        source: &str,
        removed: bool,
        seen_at_ns: Option<u64>,
        order_hash: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<Self> {
        let uint = |o: Option<&Bound<'_, PyAny>>| o.map_or(Ok(Default::default()), u256_arg);
        Ok(Self(Signal {
            leader: address_arg(leader)?,
            token_id: u256_arg(token_id)?,
            side: Side::parse(side).map_err(to_py_err)?,
            size: u256_arg(size)?,
            price_num: uint(price_num)?,
            price_den: uint(price_den)?,
            usd: uint(usd)?,
            tx_hash: B256::from(super::hash::tx_hash_arg(tx_hash)?),
            log_index,
            sub_index,
            block_number,
            block_hash: block_hash.map(|h| super::hash::tx_hash_arg(h).map(B256::from)).transpose()?,
            exchange: exchange.map_or(Ok(Address::ZERO), address_arg)?,
            source: Source::parse(source).map_err(to_py_err)?,
            removed,
            seen_at_ns: seen_at_ns.unwrap_or_else(now_ns),
            order_hash: order_hash.filter(|o| !o.is_none()).map(order_hash_arg).transpose()?,
        }))
    }

    #[getter]
    fn leader(&self) -> String {
        address_hex(&self.0.leader)
    }
    #[getter]
    fn token_id<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        u256_to_py(py, &self.0.token_id)
    }
    #[getter]
    fn side(&self) -> &'static str {
        self.0.side.as_str()
    }
    #[getter]
    fn size<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        u256_to_py(py, &self.0.size)
    }
    #[getter]
    fn price_num<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        u256_to_py(py, &self.0.price_num)
    }
    #[getter]
    fn price_den<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        u256_to_py(py, &self.0.price_den)
    }
    #[getter]
    fn usd<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        u256_to_py(py, &self.0.usd)
    }
    #[getter]
    fn tx_hash<'py>(&self, py: Python<'py>) -> Bound<'py, PyBytes> {
        b256_to_py(py, &self.0.tx_hash)
    }
    #[getter]
    fn log_index(&self) -> u64 {
        self.0.log_index
    }
    #[getter]
    fn sub_index(&self) -> u32 {
        self.0.sub_index
    }
    #[getter]
    fn block_number(&self) -> Option<u64> {
        self.0.block_number
    }
    #[getter]
    fn block_hash<'py>(&self, py: Python<'py>) -> Option<Bound<'py, PyBytes>> {
        self.0.block_hash.as_ref().map(|h| b256_to_py(py, h))
    }
    #[getter]
    fn exchange(&self) -> String {
        address_hex(&self.0.exchange)
    }
    #[getter]
    fn source(&self) -> &'static str {
        self.0.source.as_str()
    }
    #[getter]
    fn removed(&self) -> bool {
        self.0.removed
    }
    #[getter]
    fn seen_at_ns(&self) -> u64 {
        self.0.seen_at_ns
    }
    /// The order's hash (an `OrderFilled` row's topic 1, a pending order's digest), else `None`.
    #[getter]
    fn order_hash<'py>(&self, py: Python<'py>) -> Option<Bound<'py, PyBytes>> {
        self.0.order_hash.as_ref().map(|h| b256_to_py(py, h))
    }
    #[getter]
    fn dedup_key<'py>(&self, py: Python<'py>) -> Bound<'py, PyBytes> {
        PyBytes::new(py, &self.0.dedup_key())
    }

    /// Every field as a dict (for logs, JSON and tests).
    fn to_dict<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let d = PyDict::new(py);
        d.set_item("leader", self.leader())?;
        d.set_item("token_id", self.token_id(py)?)?;
        d.set_item("side", self.side())?;
        d.set_item("size", self.size(py)?)?;
        d.set_item("price_num", self.price_num(py)?)?;
        d.set_item("price_den", self.price_den(py)?)?;
        d.set_item("usd", self.usd(py)?)?;
        d.set_item("tx_hash", self.tx_hash(py))?;
        d.set_item("log_index", self.0.log_index)?;
        d.set_item("sub_index", self.0.sub_index)?;
        d.set_item("block_number", self.0.block_number)?;
        d.set_item("block_hash", self.block_hash(py))?;
        d.set_item("exchange", self.exchange())?;
        d.set_item("source", self.source())?;
        d.set_item("removed", self.0.removed)?;
        d.set_item("seen_at_ns", self.0.seen_at_ns)?;
        d.set_item("order_hash", self.order_hash(py))?;
        d.set_item("dedup_key", self.dedup_key(py))?;
        Ok(d)
    }

    fn __repr__(&self) -> String {
        let s = &self.0;
        format!(
            "Signal({} {} {} of {} usd={} price={}/{} tx={:#x}:{}:{} source={}{})",
            s.side.as_str(),
            address_hex(&s.leader),
            s.size,
            s.token_id,
            s.usd,
            s.price_num,
            s.price_den,
            s.tx_hash,
            s.log_index,
            s.sub_index,
            s.source.as_str(),
            if s.removed { " removed" } else { "" }
        )
    }
}

/// A tracked leader's merge or redemption (docs/seams.md "Leaders' exits"); immutable.
#[pyclass(frozen, eq, module = "polyhunter._core", name = "LeaderExit")]
#[derive(Clone, PartialEq)]
pub struct PyLeaderExit(pub Exit);

#[pymethods]
impl PyLeaderExit {
    #[getter]
    fn leader(&self) -> String {
        address_hex(&self.0.leader)
    }
    #[getter]
    fn kind(&self) -> &'static str {
        self.0.kind.as_str()
    }
    #[getter]
    fn condition_id<'py>(&self, py: Python<'py>) -> Bound<'py, PyBytes> {
        b256_to_py(py, &self.0.condition_id)
    }
    #[getter]
    fn amount<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        u256_to_py(py, &self.0.amount)
    }
    #[getter]
    fn via(&self) -> String {
        address_hex(&self.0.via)
    }
    #[getter]
    fn tx_hash<'py>(&self, py: Python<'py>) -> Bound<'py, PyBytes> {
        b256_to_py(py, &self.0.tx_hash)
    }
    #[getter]
    fn log_index(&self) -> u64 {
        self.0.log_index
    }
    #[getter]
    fn block_number(&self) -> Option<u64> {
        self.0.block_number
    }
    #[getter]
    fn block_hash<'py>(&self, py: Python<'py>) -> Option<Bound<'py, PyBytes>> {
        self.0.block_hash.as_ref().map(|h| b256_to_py(py, h))
    }
    #[getter]
    fn removed(&self) -> bool {
        self.0.removed
    }
    #[getter]
    fn seen_at_ns(&self) -> u64 {
        self.0.seen_at_ns
    }

    fn __repr__(&self) -> String {
        let e = &self.0;
        format!(
            "LeaderExit({} {} of condition {:#x} amount={} via {} tx={:#x}:{}{})",
            e.kind.as_str(),
            address_hex(&e.leader),
            e.condition_id,
            e.amount,
            address_hex(&e.via),
            e.tx_hash,
            e.log_index,
            if e.removed { " removed" } else { "" }
        )
    }
}

/// A log of a batch that could not be decoded: its position in the batch and the reason.
#[pyclass(frozen, get_all, module = "polyhunter._core")]
pub struct Reject {
    index: usize,
    reason: String,
}

#[pymethods]
impl Reject {
    fn __repr__(&self) -> String {
        format!("Reject(index={}, reason={:?})", self.index, self.reason)
    }
}

/// The result of `LogDecoder.decode`: good signals and the rejected logs of a batch.
#[pyclass(frozen, get_all, module = "polyhunter._core")]
pub struct DecodedLogs {
    signals: Py<PyList>,
    exits: Py<PyList>,
    rejects: Py<PyList>,
}

#[pymethods]
impl DecodedLogs {
    fn __repr__(&self, py: Python<'_>) -> String {
        format!(
            "DecodedLogs(signals={}, exits={}, rejects={})",
            self.signals.bind(py).len(),
            self.exits.bind(py).len(),
            self.rejects.bind(py).len()
        )
    }
}

/// Decodes JSON-RPC bytes into signals; built once with the addresses it watches.
#[pyclass(frozen, module = "polyhunter._core", name = "LogDecoder")]
pub struct PyLogDecoder(logs::LogDecoder);

#[pymethods]
impl PyLogDecoder {
    #[new]
    #[pyo3(signature = (*, ctf, v1_exchanges = None, v2_exchanges = None, leaders = None, non_trading = None))]
    fn new(
        ctf: &Bound<'_, PyAny>,
        v1_exchanges: Option<&Bound<'_, PyAny>>,
        v2_exchanges: Option<&Bound<'_, PyAny>>,
        leaders: Option<&Bound<'_, PyAny>>,
        non_trading: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<Self> {
        let list = |o: Option<&Bound<'_, PyAny>>| o.map_or(Ok(Vec::new()), addresses_arg);
        let non_trading = list(non_trading)?;
        logs::LogDecoder::new(
            address_arg(ctf)?,
            list(v1_exchanges)?,
            list(v2_exchanges)?,
            address_set(leaders)?,
        )
        .and_then(|decoder| decoder.with_non_trading(non_trading))
        .map(Self)
        .map_err(to_py_err)
    }

    /// Decodes an `eth_subscription` notification, an `eth_getLogs` response, a bare array or one log.
    fn decode(&self, py: Python<'_>, raw: &Bound<'_, PyAny>) -> PyResult<DecodedLogs> {
        let bytes: &[u8] = if let Ok(b) = raw.cast::<PyBytes>() {
            b.as_bytes()
        } else if let Ok(s) = raw.cast::<PyString>() {
            s.to_str()?.as_bytes()
        } else {
            return Err(PyTypeError::new_err(format!(
                "decode takes bytes or str, not {}",
                raw.get_type().name()?
            )));
        };
        let seen = now_ns();
        let out = without_gil(py, || self.0.decode(bytes, seen)).map_err(to_py_err)?;
        let signals = PyList::new(py, out.signals.into_iter().map(PySignal))?;
        let exits = PyList::new(py, out.exits.into_iter().map(PyLeaderExit))?;
        let rejects =
            PyList::new(py, out.rejects.into_iter().map(|r| Reject { index: r.index, reason: r.reason }))?;
        Ok(DecodedLogs { signals: signals.unbind(), exits: exits.unbind(), rejects: rejects.unbind() })
    }

    /// Replaces the tracked leaders; `None` tracks every maker and transfer party.
    #[pyo3(signature = (leaders))]
    fn set_leaders(&self, leaders: Option<&Bound<'_, PyAny>>) -> PyResult<()> {
        self.0.set_leaders(address_set(leaders)?);
        Ok(())
    }

    /// The tracked leaders (lower-case, sorted), or `None` when every maker is tracked.
    #[getter]
    fn leaders(&self) -> Option<Vec<String>> {
        self.0.leaders().map(|set| {
            let mut v: Vec<String> = set.iter().map(address_hex).collect();
            v.sort_unstable();
            v
        })
    }
}

pub(super) fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<PySignal>()?;
    m.add_class::<PyLeaderExit>()?;
    m.add_class::<Reject>()?;
    m.add_class::<DecodedLogs>()?;
    m.add_class::<PyLogDecoder>()?;
    for (name, topic) in [
        ("TOPIC_ORDER_FILLED_V1", events::V1_ORDER_FILLED),
        ("TOPIC_ORDER_FILLED_V2", events::V2_ORDER_FILLED),
        ("TOPIC_TRANSFER_SINGLE", events::TRANSFER_SINGLE),
        ("TOPIC_TRANSFER_BATCH", events::TRANSFER_BATCH),
        ("TOPIC_POSITIONS_MERGE", events::CTF_POSITIONS_MERGE),
        ("TOPIC_PAYOUT_REDEMPTION", events::CTF_PAYOUT_REDEMPTION),
        ("TOPIC_ADAPTER_POSITIONS_MERGE", events::ADAPTER_POSITIONS_MERGE),
        ("TOPIC_ADAPTER_PAYOUT_REDEMPTION", events::ADAPTER_PAYOUT_REDEMPTION),
    ] {
        m.add(name, format!("{topic:#x}"))?;
    }
    Ok(())
}
