//! Conversions of EVM values at the boundary: uint256 ↔ `int`, addresses ↔ `str`, bytes32 ↔ `bytes`.

use alloy_primitives::{Address, B256, U256};
use pyo3::exceptions::{PyOverflowError, PyTypeError};
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyInt, PyString};

use super::to_py_err;
use crate::signal;

/// A uint256 as a Python `int` (the u128 path covers every realistic amount without a method call).
pub fn u256_to_py<'py>(py: Python<'py>, value: &U256) -> PyResult<Bound<'py, PyAny>> {
    match u128::try_from(*value) {
        Ok(small) => Ok(small.into_pyobject(py)?.into_any()),
        Err(_) => py.get_type::<PyInt>().call_method1("from_bytes", (value.to_be_bytes::<32>(), "big")),
    }
}

/// A Python `int` in 0..2**256 as a uint256.
pub fn u256_arg(obj: &Bound<'_, PyAny>) -> PyResult<U256> {
    if let Ok(small) = obj.extract::<u128>() {
        return Ok(U256::from(small));
    }
    let Ok(int) = obj.cast::<PyInt>() else {
        return Err(PyTypeError::new_err(format!("expected an int, not {}", obj.get_type().name()?)));
    };
    if int.lt(0)? {
        return Err(PyOverflowError::new_err(format!("expected a uint256, got a negative int {int}")));
    }
    let raw = int
        .call_method1("to_bytes", (32, "big"))
        .map_err(|_| PyOverflowError::new_err("expected a uint256, got an int of more than 256 bits"))?;
    Ok(U256::from_be_slice(raw.cast::<PyBytes>()?.as_bytes()))
}

/// An address given as a `str` (`0x` + 40 hex digits, any case).
pub fn address_arg(obj: &Bound<'_, PyAny>) -> PyResult<Address> {
    let Ok(text) = obj.cast::<PyString>() else {
        return Err(PyTypeError::new_err(format!(
            "an address must be a str, not {}",
            obj.get_type().name()?
        )));
    };
    signal::parse_address(text.to_str()?).map_err(to_py_err)
}

/// Parses every address of an iterable of `str`.
pub fn addresses_arg(obj: &Bound<'_, PyAny>) -> PyResult<Vec<Address>> {
    obj.try_iter()?.map(|item| address_arg(&item?)).collect()
}

/// A bytes32 as Python `bytes`.
pub fn b256_to_py<'py>(py: Python<'py>, value: &B256) -> Bound<'py, PyBytes> {
    PyBytes::new(py, value.as_slice())
}
