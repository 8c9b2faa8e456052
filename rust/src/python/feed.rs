//! Bindings of `crate::feed`: `ActivityParser`, `ActivityTrade`.

use pyo3::exceptions::PyTypeError;
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyList, PyString};

use super::logs::{now_ns, PySignal};
use super::primitives::{addresses_arg, b256_to_py, u256_to_py};
use super::without_gil;
use crate::feed::{self, ActivityTrade};
use crate::logs::AddressSet;
use crate::signal::address_hex;

fn address_set(obj: Option<&Bound<'_, PyAny>>) -> PyResult<Option<AddressSet>> {
    obj.filter(|o| !o.is_none()).map(|o| addresses_arg(o).map(|v| v.into_iter().collect())).transpose()
}

/// One trade of a watched wallet from the activity feed: its signal and what joins it to its fill.
#[pyclass(frozen, module = "polyhunter._core", name = "ActivityTrade")]
pub struct PyActivityTrade(ActivityTrade);

#[pymethods]
impl PyActivityTrade {
    #[getter]
    fn signal(&self) -> PySignal {
        PySignal(self.0.signal.clone())
    }
    #[getter]
    fn wallet(&self) -> String {
        address_hex(&self.0.signal.leader)
    }
    #[getter]
    fn asset<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        u256_to_py(py, &self.0.signal.token_id)
    }
    #[getter]
    fn side(&self) -> &'static str {
        self.0.signal.side.as_str()
    }
    #[getter]
    fn size<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        u256_to_py(py, &self.0.signal.size)
    }
    /// The exact price as `(price in base units, 10**6)`.
    #[getter]
    fn price<'py>(&self, py: Python<'py>) -> PyResult<(Bound<'py, PyAny>, Bound<'py, PyAny>)> {
        Ok((u256_to_py(py, &self.0.signal.price_num)?, u256_to_py(py, &self.0.signal.price_den)?))
    }
    #[getter]
    fn usd<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        u256_to_py(py, &self.0.signal.usd)
    }
    #[getter]
    fn tx_hash<'py>(&self, py: Python<'py>) -> Bound<'py, PyBytes> {
        b256_to_py(py, &self.0.signal.tx_hash)
    }
    #[getter]
    fn frame_type(&self) -> &'static str {
        self.0.frame_type.as_str()
    }
    #[getter]
    fn timestamp_ms(&self) -> u64 {
        self.0.timestamp_ms
    }
    #[getter]
    fn pushed_ms(&self) -> Option<u64> {
        self.0.pushed_ms
    }
    #[getter]
    fn seen_at_ns(&self) -> u64 {
        self.0.signal.seen_at_ns
    }

    fn __repr__(&self) -> String {
        let s = &self.0.signal;
        format!(
            "ActivityTrade({} {} {} of {} at {}/{} tx={:#x} {} ts={})",
            s.side.as_str(),
            address_hex(&s.leader),
            s.size,
            s.token_id,
            s.price_num,
            s.price_den,
            s.tx_hash,
            self.0.frame_type.as_str(),
            self.0.timestamp_ms
        )
    }
}

/// Parses activity-feed frames for the watched wallets; built once.
#[pyclass(frozen, module = "polyhunter._core", name = "ActivityParser")]
pub struct PyActivityParser(feed::ActivityParser);

#[pymethods]
impl PyActivityParser {
    #[new]
    #[pyo3(signature = (leaders))]
    fn new(leaders: Option<&Bound<'_, PyAny>>) -> PyResult<Self> {
        Ok(Self(feed::ActivityParser::new(address_set(leaders)?)))
    }

    /// Parses a batch of frames (`bytes` or `str`) with the GIL released: the trades of watched wallets
    /// and `(index, reason)` of each frame that is not a well-formed trade frame.
    #[allow(clippy::type_complexity)]
    fn parse_frames(
        &self,
        py: Python<'_>,
        frames: &Bound<'_, PyAny>,
    ) -> PyResult<(Py<PyList>, Vec<(usize, String)>)> {
        let items: Vec<Bound<'_, PyAny>> = frames.try_iter()?.collect::<PyResult<_>>()?;
        let mut raw: Vec<&[u8]> = Vec::with_capacity(items.len());
        for item in &items {
            if let Ok(b) = item.cast::<PyBytes>() {
                raw.push(b.as_bytes());
            } else if let Ok(s) = item.cast::<PyString>() {
                raw.push(s.to_str()?.as_bytes());
            } else {
                return Err(PyTypeError::new_err(format!(
                    "parse_frames takes bytes or str frames, not {}",
                    item.get_type().name()?
                )));
            }
        }
        let seen = now_ns();
        let out = without_gil(py, || self.0.parse_frames(&raw, seen));
        let trades = PyList::new(py, out.trades.into_iter().map(PyActivityTrade))?.unbind();
        Ok((trades, out.rejects.into_iter().map(|r| (r.index, r.reason)).collect()))
    }

    /// Replaces the watched wallets; `None` keeps every wallet's trades.
    #[pyo3(signature = (leaders))]
    fn set_leaders(&self, leaders: Option<&Bound<'_, PyAny>>) -> PyResult<()> {
        self.0.set_leaders(address_set(leaders)?);
        Ok(())
    }

    /// The watched wallets (lower-case, sorted), or `None` when every wallet is kept.
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
    m.add_class::<PyActivityTrade>()?;
    m.add_class::<PyActivityParser>()?;
    Ok(())
}
