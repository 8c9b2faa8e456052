//! Bindings of `crate::calldata`: `MatchDecoder`, `OrderFill`, `MatchCall`, `PendingMatch`,
//! `PendingTransactions`.

use alloy_primitives::{Address, B256, U256};
use pyo3::exceptions::PyTypeError;
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyList, PyString};

use super::logs::{now_ns, PySignal};
use super::primitives::{address_arg, addresses_arg, b256_to_py, u256_to_py};
use super::{to_py_err, without_gil};
use crate::calldata::{self, Match, OrderFill, PendingMatch, SignatureCheck};
use crate::logs::AddressSet;
use crate::signal::address_hex;

fn address_set(obj: Option<&Bound<'_, PyAny>>) -> PyResult<Option<AddressSet>> {
    obj.filter(|o| !o.is_none()).map(|o| addresses_arg(o).map(|v| v.into_iter().collect())).transpose()
}

fn bytes_arg<'a>(raw: &'a Bound<'_, PyAny>, what: &str) -> PyResult<&'a [u8]> {
    if let Ok(b) = raw.cast::<PyBytes>() {
        Ok(b.as_bytes())
    } else if let Ok(s) = raw.cast::<PyString>() {
        Ok(s.to_str()?.as_bytes())
    } else {
        Err(PyTypeError::new_err(format!("{what} takes bytes or str, not {}", raw.get_type().name()?)))
    }
}

/// One order of a `matchOrders` call: the order, its hash, what it executes and its signature's check.
#[pyclass(frozen, module = "polyhunter._core", name = "OrderFill")]
pub struct PyOrderFill {
    fill: OrderFill,
    tx_hash: B256,
    exchange: Address,
    seen_at_ns: u64,
}

#[pymethods]
impl PyOrderFill {
    #[getter]
    fn salt<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        u256_to_py(py, &self.fill.order.salt)
    }
    #[getter]
    fn token_id<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        u256_to_py(py, &self.fill.order.tokenId)
    }
    #[getter]
    fn maker_amount<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        u256_to_py(py, &self.fill.order.makerAmount)
    }
    #[getter]
    fn taker_amount<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        u256_to_py(py, &self.fill.order.takerAmount)
    }
    #[getter]
    fn timestamp<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        u256_to_py(py, &self.fill.order.timestamp)
    }
    #[getter]
    fn fill_amount<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        u256_to_py(py, &self.fill.fill_amount)
    }
    #[getter]
    fn making<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        u256_to_py(py, &self.fill.making)
    }
    #[getter]
    fn taking<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        u256_to_py(py, &self.fill.taking)
    }
    #[getter]
    fn fee<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        u256_to_py(py, &self.fill.fee)
    }

    #[getter]
    fn position(&self) -> u32 {
        self.fill.position
    }
    #[getter]
    fn is_taker(&self) -> bool {
        self.fill.is_taker
    }
    #[getter]
    fn match_type(&self) -> Option<&'static str> {
        self.fill.match_type.map(calldata::MatchType::as_str)
    }
    #[getter]
    fn maker(&self) -> String {
        address_hex(&self.fill.order.maker)
    }
    #[getter]
    fn signer(&self) -> String {
        address_hex(&self.fill.order.signer)
    }
    #[getter]
    fn side(&self) -> &'static str {
        self.fill.side().as_str()
    }
    #[getter]
    fn signature_type(&self) -> u8 {
        self.fill.order.signatureType
    }
    #[getter]
    fn metadata<'py>(&self, py: Python<'py>) -> Bound<'py, PyBytes> {
        b256_to_py(py, &self.fill.order.metadata)
    }
    #[getter]
    fn builder<'py>(&self, py: Python<'py>) -> Bound<'py, PyBytes> {
        b256_to_py(py, &self.fill.order.builder)
    }
    #[getter]
    fn signature<'py>(&self, py: Python<'py>) -> Bound<'py, PyBytes> {
        PyBytes::new(py, &self.fill.signature)
    }
    #[getter]
    fn order_hash<'py>(&self, py: Python<'py>) -> Bound<'py, PyBytes> {
        b256_to_py(py, &self.fill.order_hash)
    }
    /// Outcome tokens the fill moves.
    #[getter]
    fn size<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        u256_to_py(py, &self.fill.size_and_usd().0)
    }
    /// Collateral the fill moves (before fees).
    #[getter]
    fn usd<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        u256_to_py(py, &self.fill.size_and_usd().1)
    }
    /// The fill's price as `(collateral, tokens)`, not reduced.
    #[getter]
    fn price<'py>(&self, py: Python<'py>) -> PyResult<(Bound<'py, PyAny>, Bound<'py, PyAny>)> {
        let (size, usd) = self.fill.size_and_usd();
        Ok((u256_to_py(py, &usd)?, u256_to_py(py, &size)?))
    }
    /// The order's own limit as `(collateral, tokens)`, not reduced.
    #[getter]
    fn limit_price<'py>(&self, py: Python<'py>) -> PyResult<(Bound<'py, PyAny>, Bound<'py, PyAny>)> {
        let (num, den): (U256, U256) = self.fill.limit_price();
        Ok((u256_to_py(py, &num)?, u256_to_py(py, &den)?))
    }
    /// `"valid"`, `"needs_owner"`, `"invalid"`, `"unsupported"` or `"unchecked"`.
    #[getter]
    fn signature_status(&self) -> &'static str {
        match self.fill.signature_check {
            SignatureCheck::Valid => "valid",
            SignatureCheck::NeedsOwner { .. } => "needs_owner",
            SignatureCheck::Invalid(_) => "invalid",
            SignatureCheck::Unsupported(_) => "unsupported",
            SignatureCheck::Unchecked => "unchecked",
        }
    }
    /// For `needs_owner`: the key that signed the POLY_1271 wrap (valid if it owns the maker wallet).
    #[getter]
    fn wrap_signer(&self) -> Option<String> {
        match &self.fill.signature_check {
            SignatureCheck::NeedsOwner { owner } => Some(address_hex(owner)),
            _ => None,
        }
    }
    /// Why the signature is `invalid` or `unsupported`.
    #[getter]
    fn signature_error(&self) -> Option<&str> {
        match &self.fill.signature_check {
            SignatureCheck::Invalid(reason) | SignatureCheck::Unsupported(reason) => Some(reason),
            _ => None,
        }
    }
    #[getter]
    fn watched(&self) -> bool {
        self.fill.watched
    }

    /// The `mempool` signal of this fill (no log index: `NO_LOG_INDEX`; sub index = position).
    fn signal(&self) -> PySignal {
        PySignal(self.fill.signal(self.tx_hash, self.exchange, self.seen_at_ns))
    }

    fn __repr__(&self) -> String {
        let f = &self.fill;
        let (size, usd) = f.size_and_usd();
        format!(
            "OrderFill(#{} {}{} {} {} of {} usd={} hash={:#x} signature={})",
            f.position,
            if f.is_taker { "taker " } else { "" },
            address_hex(&f.order.maker),
            f.side().as_str(),
            size,
            f.order.tokenId,
            usd,
            f.order_hash,
            self.signature_status()
        )
    }
}

fn fills(py: Python<'_>, call: Match, tx_hash: B256, seen_at_ns: u64) -> PyResult<Py<PyList>> {
    let exchange = call.exchange;
    let items = call.fills.into_iter().map(|fill| PyOrderFill { fill, tx_hash, exchange, seen_at_ns });
    Ok(PyList::new(py, items)?.unbind())
}

/// A decoded `matchOrders` call: makers in calldata order, then the taker.
#[pyclass(frozen, get_all, module = "polyhunter._core", name = "MatchCall")]
pub struct PyMatchCall {
    exchange: String,
    condition_id: Py<PyBytes>,
    taker_fill_amount: Py<PyAny>,
    fills: Py<PyList>,
}

impl PyMatchCall {
    fn new(py: Python<'_>, call: Match, tx_hash: B256, seen_at_ns: u64) -> PyResult<Self> {
        Ok(Self {
            exchange: address_hex(&call.exchange),
            condition_id: b256_to_py(py, &call.condition_id).unbind(),
            taker_fill_amount: u256_to_py(py, &call.taker_fill_amount)?.unbind(),
            fills: fills(py, call, tx_hash, seen_at_ns)?,
        })
    }
}

#[pymethods]
impl PyMatchCall {
    fn __repr__(&self, py: Python<'_>) -> String {
        format!("MatchCall(exchange={}, orders={})", self.exchange, self.fills.bind(py).len())
    }
}

/// A pending transaction calling `matchOrders` on a watched exchange.
#[pyclass(frozen, get_all, module = "polyhunter._core", name = "PendingMatch")]
pub struct PyPendingMatch {
    tx_hash: Py<PyBytes>,
    sender: String,
    nonce: Option<u64>,
    call: Py<PyMatchCall>,
    seen_at_ns: u64,
}

#[pymethods]
impl PyPendingMatch {
    fn __repr__(&self, py: Python<'_>) -> String {
        format!(
            "PendingMatch(tx=0x{}, sender={}, {})",
            alloy_primitives::hex::encode(self.tx_hash.bind(py).as_bytes()),
            self.sender,
            self.call.bind(py).get().__repr__(py)
        )
    }
}

/// The result of `MatchDecoder.decode_transactions`.
#[pyclass(frozen, get_all, module = "polyhunter._core", name = "PendingTransactions")]
pub struct PyPendingTransactions {
    matches: Py<PyList>,
    /// `(index in the input, reason)` of each matchOrders call that does not decode or would revert.
    rejects: Py<PyList>,
    ignored: usize,
    hashes: Py<PyList>,
}

#[pymethods]
impl PyPendingTransactions {
    fn __repr__(&self, py: Python<'_>) -> String {
        format!(
            "PendingTransactions(matches={}, rejects={}, ignored={}, hashes={})",
            self.matches.bind(py).len(),
            self.rejects.bind(py).len(),
            self.ignored,
            self.hashes.bind(py).len()
        )
    }
}

fn pending(py: Python<'_>, m: PendingMatch, seen_at_ns: u64) -> PyResult<PyPendingMatch> {
    Ok(PyPendingMatch {
        tx_hash: b256_to_py(py, &m.tx_hash).unbind(),
        sender: address_hex(&m.sender),
        nonce: m.nonce,
        call: Py::new(py, PyMatchCall::new(py, m.call, m.tx_hash, seen_at_ns)?)?,
        seen_at_ns,
    })
}

/// Decodes `matchOrders` calls to Polymarket's V2 exchanges on one chain; built once.
#[pyclass(frozen, module = "polyhunter._core", name = "MatchDecoder")]
pub struct PyMatchDecoder(calldata::MatchDecoder);

#[pymethods]
impl PyMatchDecoder {
    #[new]
    #[pyo3(signature = (*, chain_id, exchanges, leaders = None))]
    fn new(
        chain_id: u64,
        exchanges: &Bound<'_, PyAny>,
        leaders: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<Self> {
        calldata::MatchDecoder::new(chain_id, addresses_arg(exchanges)?, address_set(leaders)?)
            .map(Self)
            .map_err(to_py_err)
    }

    /// Decodes one call's input (selector included) sent to `exchange`.
    #[pyo3(signature = (exchange, data, *, tx_hash = None))]
    fn decode_call(
        &self,
        py: Python<'_>,
        exchange: &Bound<'_, PyAny>,
        data: &[u8],
        tx_hash: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<PyMatchCall> {
        let exchange = address_arg(exchange)?;
        let tx_hash = tx_hash.map(super::hash::tx_hash_arg).transpose()?.map_or(B256::ZERO, B256::from);
        let seen = now_ns();
        let call = without_gil(py, || self.0.decode_call(exchange, data)).map_err(to_py_err)?;
        PyMatchCall::new(py, call, tx_hash, seen)
    }

    /// Decodes pending transactions (JSON bytes or str) with the GIL released.
    fn decode_transactions(&self, py: Python<'_>, raw: &Bound<'_, PyAny>) -> PyResult<PyPendingTransactions> {
        let bytes = bytes_arg(raw, "decode_transactions")?;
        let seen = now_ns();
        let out = without_gil(py, || self.0.decode_transactions(bytes)).map_err(to_py_err)?;
        let matches = out.matches.into_iter().map(|m| pending(py, m, seen)).collect::<PyResult<Vec<_>>>()?;
        let rejects = out.rejects.into_iter().map(|r| (r.index, r.reason));
        let hashes = out.hashes.iter().map(|h| b256_to_py(py, h));
        Ok(PyPendingTransactions {
            matches: PyList::new(py, matches)?.unbind(),
            rejects: PyList::new(py, rejects)?.unbind(),
            ignored: out.ignored,
            hashes: PyList::new(py, hashes)?.unbind(),
        })
    }

    /// Replaces the tracked leaders; `None` tracks every maker.
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

    /// The watched exchanges (lower-case, sorted).
    #[getter]
    fn exchanges(&self) -> Vec<String> {
        let mut v: Vec<String> = self.0.exchanges().map(address_hex).collect();
        v.sort_unstable();
        v
    }

    #[getter]
    fn chain_id(&self) -> u64 {
        self.0.chain_id()
    }
}

pub(super) fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<PyOrderFill>()?;
    m.add_class::<PyMatchCall>()?;
    m.add_class::<PyPendingMatch>()?;
    m.add_class::<PyPendingTransactions>()?;
    m.add_class::<PyMatchDecoder>()?;
    m.add(
        "MATCH_ORDERS_SELECTOR",
        format!("0x{}", alloy_primitives::hex::encode(calldata::MATCH_ORDERS_SELECTOR)),
    )?;
    m.add("NO_LOG_INDEX", calldata::NO_LOG_INDEX)?;
    Ok(())
}
