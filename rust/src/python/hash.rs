//! Bindings of `crate::hash`: `keccak256` and `dedup_key`.

use pyo3::exceptions::PyTypeError;
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyString};

use super::to_py_err;
use crate::hash;

/// Parses a tx hash as Python hands it over: 32 raw bytes or a `0x` hex string.
pub(crate) fn tx_hash_arg(obj: &Bound<'_, PyAny>) -> PyResult<[u8; 32]> {
    if let Ok(raw) = obj.cast::<PyBytes>() {
        hash::tx_hash_from_bytes(raw.as_bytes()).map_err(to_py_err)
    } else if let Ok(text) = obj.cast::<PyString>() {
        hash::tx_hash_from_hex(text.to_str()?).map_err(to_py_err)
    } else {
        Err(PyTypeError::new_err(format!("tx hash must be bytes or str, not {}", obj.get_type().name()?)))
    }
}

/// Keccak-256 of `data`.
#[pyfunction]
fn keccak256<'py>(py: Python<'py>, data: &[u8]) -> Bound<'py, PyBytes> {
    PyBytes::new(py, &hash::keccak256(data))
}

/// The 32-byte dedup key of (tx hash, log index, sub index).
#[pyfunction]
#[pyo3(signature = (tx_hash, log_index, sub_index = 0))]
fn dedup_key<'py>(
    py: Python<'py>,
    tx_hash: &Bound<'_, PyAny>,
    log_index: u64,
    sub_index: u32,
) -> PyResult<Bound<'py, PyBytes>> {
    let tx = tx_hash_arg(tx_hash)?;
    Ok(PyBytes::new(py, &hash::dedup_key(&tx, log_index, sub_index)))
}

pub(super) fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add("DEDUP_KEY_LEN", hash::DEDUP_KEY_LEN)?;
    m.add_function(wrap_pyfunction!(keccak256, m)?)?;
    m.add_function(wrap_pyfunction!(dedup_key, m)?)?;
    Ok(())
}
