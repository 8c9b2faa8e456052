//! Bindings of `crate::dedup` and `crate::shard`: `DedupCache`, `shard_of`.

use std::sync::{Mutex, PoisonError};

use pyo3::exceptions::PyTypeError;
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyList};

use super::cache::monotonic_ms;
use super::primitives::address_arg;
use super::{to_py_err, without_gil};
use crate::dedup::{self, Key};
use crate::error::CoreError;
use crate::shard;

fn key_arg(obj: &Bound<'_, PyAny>) -> PyResult<Key> {
    let Ok(raw) = obj.cast::<PyBytes>() else {
        return Err(PyTypeError::new_err(format!(
            "a dedup key must be bytes, not {}",
            obj.get_type().name()?
        )));
    };
    Key::try_from(raw.as_bytes()).map_err(|_| {
        to_py_err(CoreError::InvalidInput(format!(
            "a dedup key must be 32 bytes, got {}",
            raw.as_bytes().len()
        )))
    })
}

/// The local TTL set of dedup keys, bounded in time and memory; safe to share across threads.
#[pyclass(frozen, module = "polyhunter._core", name = "DedupCache")]
pub struct PyDedupCache(Mutex<dedup::DedupCache>);

impl PyDedupCache {
    fn lock(&self) -> std::sync::MutexGuard<'_, dedup::DedupCache> {
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

#[pymethods]
impl PyDedupCache {
    #[new]
    #[pyo3(signature = (ttl_ms = 60_000, capacity = 1_000_000))]
    fn new(ttl_ms: u64, capacity: usize) -> PyResult<Self> {
        dedup::DedupCache::new(ttl_ms, capacity).map(|c| Self(Mutex::new(c))).map_err(to_py_err)
    }

    /// For each key: True on its first sighting within the TTL (and remembers it), else False.
    #[pyo3(signature = (keys, *, now_ms = None))]
    fn check_and_insert(
        &self,
        py: Python<'_>,
        keys: &Bound<'_, PyAny>,
        now_ms: Option<u64>,
    ) -> PyResult<Vec<bool>> {
        let keys = if let Ok(list) = keys.cast::<PyList>() {
            list.iter().map(|k| key_arg(&k)).collect::<PyResult<Vec<Key>>>()?
        } else {
            keys.try_iter()?.map(|k| key_arg(&k?)).collect::<PyResult<Vec<Key>>>()?
        };
        let now = now_ms.unwrap_or_else(monotonic_ms);
        Ok(without_gil(py, || self.lock().check_and_insert(&keys, now)))
    }

    /// Whether `key` is live, without inserting it.
    #[pyo3(signature = (key, *, now_ms = None))]
    fn contains(&self, key: &Bound<'_, PyAny>, now_ms: Option<u64>) -> PyResult<bool> {
        let key = key_arg(key)?;
        Ok(self.lock().contains(&key, now_ms.unwrap_or_else(monotonic_ms)))
    }

    fn __contains__(&self, key: &Bound<'_, PyAny>) -> PyResult<bool> {
        self.contains(key, None)
    }

    fn __len__(&self) -> usize {
        self.lock().len()
    }

    fn clear(&self) {
        self.lock().clear();
    }

    #[getter]
    fn ttl_ms(&self) -> u64 {
        self.lock().ttl_ms()
    }

    #[getter]
    fn capacity(&self) -> usize {
        self.lock().capacity()
    }
}

/// The shard in `range(shard_count)` that owns `address` (rendezvous hashing; see `crate::shard`).
#[pyfunction]
fn shard_of(address: &Bound<'_, PyAny>, shard_count: u32) -> PyResult<u32> {
    shard::shard_of(&address_arg(address)?, shard_count).map_err(to_py_err)
}

pub(super) fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<PyDedupCache>()?;
    m.add_function(wrap_pyfunction!(shard_of, m)?)?;
    Ok(())
}
