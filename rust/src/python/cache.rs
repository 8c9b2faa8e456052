//! Bindings of `crate::cache`: `TtlLru` holding Python values under str / bytes / int keys.

use std::sync::{Mutex, MutexGuard, OnceLock, PoisonError};
use std::time::Instant;

use alloy_primitives::U256;
use pyo3::exceptions::PyTypeError;
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyInt, PyString};

use super::primitives::u256_arg;
use super::to_py_err;
use crate::cache::{Lookup, TtlLru};

/// Milliseconds of a monotonic clock shared by every cache of the process (the default `now_ms`).
pub(crate) fn monotonic_ms() -> u64 {
    static EPOCH: OnceLock<Instant> = OnceLock::new();
    u64::try_from(EPOCH.get_or_init(Instant::now).elapsed().as_millis()).unwrap_or(u64::MAX)
}

/// A cache key as Rust holds it; equal Python keys give equal `CacheKey`s.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum CacheKey {
    Str(Box<str>),
    Bytes(Box<[u8]>),
    Int(i128),
    /// Ints beyond i128 (token ids are uint256).
    Uint(U256),
}

fn cache_key(obj: &Bound<'_, PyAny>) -> PyResult<CacheKey> {
    if let Ok(s) = obj.cast::<PyString>() {
        Ok(CacheKey::Str(s.to_str()?.into()))
    } else if let Ok(b) = obj.cast::<PyBytes>() {
        Ok(CacheKey::Bytes(b.as_bytes().into()))
    } else if obj.is_instance_of::<PyInt>() {
        match obj.extract::<i128>() {
            Ok(i) => Ok(CacheKey::Int(i)),
            Err(_) => u256_arg(obj).map(CacheKey::Uint),
        }
    } else {
        Err(PyTypeError::new_err(format!(
            "a TtlLru key must be str, bytes or int, not {}",
            obj.get_type().name()?
        )))
    }
}

/// A thread-safe LRU cache whose entries expire `ttl_ms` after they were set.
#[pyclass(frozen, module = "polyhunter._core", name = "TtlLru")]
pub struct PyTtlLru(Mutex<TtlLru<CacheKey, Py<PyAny>>>);

impl PyTtlLru {
    fn lock(&self) -> MutexGuard<'_, TtlLru<CacheKey, Py<PyAny>>> {
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

// Values removed under the lock are returned from the locked block and dropped after it: a value's
// `__del__` may call back into this cache.
#[pymethods]
impl PyTtlLru {
    #[new]
    fn new(capacity: usize, ttl_ms: u64) -> PyResult<Self> {
        TtlLru::new(capacity, ttl_ms).map(|c| Self(Mutex::new(c))).map_err(to_py_err)
    }

    /// The live value of `key` (now most recently used), else `default`.
    #[pyo3(signature = (key, default = None, *, now_ms = None))]
    fn get(
        &self,
        py: Python<'_>,
        key: &Bound<'_, PyAny>,
        default: Option<Py<PyAny>>,
        now_ms: Option<u64>,
    ) -> PyResult<Py<PyAny>> {
        let key = cache_key(key)?;
        let (hit, _expired) = match self.lock().get(&key, now_ms.unwrap_or_else(monotonic_ms)) {
            Lookup::Hit(v) => (Some(v.clone_ref(py)), None),
            Lookup::Miss => (None, None),
            Lookup::Expired(v) => (None, Some(v)),
        };
        Ok(hit.or(default).unwrap_or_else(|| py.None()))
    }

    /// Sets `key` to `value` with a fresh TTL; evicts the least recently used entry when full.
    #[pyo3(signature = (key, value, *, now_ms = None))]
    fn set(&self, key: &Bound<'_, PyAny>, value: Py<PyAny>, now_ms: Option<u64>) -> PyResult<()> {
        let key = cache_key(key)?;
        let _displaced = self.lock().insert(key, value, now_ms.unwrap_or_else(monotonic_ms));
        Ok(())
    }

    /// Removes `key`; returns its live value, else `default`.
    #[pyo3(signature = (key, default = None, *, now_ms = None))]
    fn pop(
        &self,
        py: Python<'_>,
        key: &Bound<'_, PyAny>,
        default: Option<Py<PyAny>>,
        now_ms: Option<u64>,
    ) -> PyResult<Py<PyAny>> {
        let key = cache_key(key)?;
        let removed = self.lock().remove(&key, now_ms.unwrap_or_else(monotonic_ms));
        Ok(match removed {
            Some((value, true)) => value,
            _ => default.unwrap_or_else(|| py.None()),
        })
    }

    /// Whether `key` holds a live value (recency unchanged).
    #[pyo3(signature = (key, *, now_ms = None))]
    fn contains(&self, key: &Bound<'_, PyAny>, now_ms: Option<u64>) -> PyResult<bool> {
        let key = cache_key(key)?;
        Ok(self.lock().contains(&key, now_ms.unwrap_or_else(monotonic_ms)))
    }

    fn __contains__(&self, key: &Bound<'_, PyAny>) -> PyResult<bool> {
        self.contains(key, None)
    }

    /// Entries held, including expired ones not yet read or purged.
    fn __len__(&self) -> usize {
        self.lock().len()
    }

    /// Drops expired entries; returns how many.
    #[pyo3(signature = (*, now_ms = None))]
    fn purge_expired(&self, now_ms: Option<u64>) -> usize {
        let purged = self.lock().purge_expired(now_ms.unwrap_or_else(monotonic_ms));
        purged.len()
    }

    fn clear(&self) {
        let _values = self.lock().clear();
    }

    #[getter]
    fn capacity(&self) -> usize {
        self.lock().capacity()
    }

    #[getter]
    fn ttl_ms(&self) -> u64 {
        self.lock().ttl_ms()
    }
}

pub(super) fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<PyTtlLru>()
}
