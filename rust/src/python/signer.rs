//! Bindings of `crate::signer` and the `Signer` class, whose methods reach into `tx` and `eip712`;
//! plus the argument converters (uint256, address, bytes32) the signing bindings share.

use alloy_primitives::{Address, B256, U256};
use pyo3::exceptions::{PyOverflowError, PyTypeError};
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyInt, PyList, PyString};

use super::eip712::{order_ref, PyExchangeDomain, PySignedTypedData};
use super::tx::{PyEip1559Tx, PySignedTx};
use super::{to_py_err, without_gil};
use crate::error::CoreError;
use crate::signer::{self, Signer};
use crate::{eip712, tx};

pub(crate) fn invalid(msg: String) -> PyErr {
    to_py_err(CoreError::InvalidInput(msg))
}

/// A Python int in 0 ≤ v < 2**256. Floats and other types are a `TypeError`; out of range is `InvalidInputError`.
pub(crate) fn uint256_arg(obj: &Bound<'_, PyAny>, what: &str) -> PyResult<U256> {
    // Most amounts fit u128, which PyO3 converts without a Python call.
    if let Ok(small) = obj.extract::<u128>() {
        return Ok(U256::from(small));
    }
    let int = obj
        .cast::<PyInt>()
        .map_err(|_| PyTypeError::new_err(format!("{what} must be an int, not {}", type_name(obj))))?;
    match int.call_method1("to_bytes", (32, "big")) {
        Ok(raw) => Ok(U256::from_be_slice(raw.cast::<PyBytes>()?.as_bytes())),
        Err(_) => Err(invalid(format!("{what} must be a uint256 (0 ≤ value < 2**256), got {int}"))),
    }
}

/// A Python int below 2**`bits` (at most 128), else `InvalidInputError` naming the value.
fn bounded_uint_arg(obj: &Bound<'_, PyAny>, what: &str, bits: u32) -> PyResult<u128> {
    let out_of_range = || invalid(format!("{what} must be in 0 ≤ value < 2**{bits}, got {obj}"));
    match obj.extract::<u128>() {
        Ok(v) if bits >= 128 || v >> bits == 0 => Ok(v),
        Ok(_) => Err(out_of_range()),
        Err(err) if err.is_instance_of::<PyOverflowError>(obj.py()) => Err(out_of_range()),
        Err(_) => Err(PyTypeError::new_err(format!("{what} must be an int, not {}", type_name(obj)))),
    }
}

/// A Python int that fits `u64`.
pub(crate) fn u64_arg(obj: &Bound<'_, PyAny>, what: &str) -> PyResult<u64> {
    bounded_uint_arg(obj, what, 64).map(|v| v as u64)
}

/// A Python int that fits `u128`.
pub(crate) fn u128_arg(obj: &Bound<'_, PyAny>, what: &str) -> PyResult<u128> {
    bounded_uint_arg(obj, what, 128)
}

/// An address given as `0x` + 40 hex digits in any case.
pub(crate) fn address_arg(text: &str) -> PyResult<Address> {
    signer::parse_address(text).map_err(to_py_err)
}

/// 32 raw bytes or `0x` + 64 hex digits.
pub(crate) fn bytes32_arg(obj: &Bound<'_, PyAny>, what: &str) -> PyResult<B256> {
    if let Ok(raw) = obj.cast::<PyBytes>() {
        let raw = raw.as_bytes();
        return B256::try_from(raw)
            .map_err(|_| invalid(format!("{what} must be 32 bytes, got {} bytes", raw.len())));
    }
    if let Ok(text) = obj.cast::<PyString>() {
        let text = text.to_str()?;
        return crate::hash::tx_hash_from_hex(text).map(B256::from).map_err(|_| {
            invalid(format!("{what} must be 0x + 64 hex digits: {:?}", crate::hash::truncate(text)))
        });
    }
    Err(PyTypeError::new_err(format!("{what} must be bytes or str, not {}", type_name(obj))))
}

/// `0x` + 40 lower-case hex digits, the boundary's address form.
pub(crate) fn address_str(address: &Address) -> String {
    format!("{address:#x}")
}

/// A U256 as a Python int.
pub(crate) fn uint256_to_py<'py>(py: Python<'py>, value: &U256) -> PyResult<Bound<'py, PyAny>> {
    match u128::try_from(*value) {
        Ok(small) => Ok(small.into_pyobject(py)?.into_any()),
        Err(_) => py
            .get_type::<PyInt>()
            .call_method1("from_bytes", (PyBytes::new(py, &value.to_be_bytes::<32>()), "big")),
    }
}

fn type_name(obj: &Bound<'_, PyAny>) -> String {
    obj.get_type().name().map(|n| n.to_string()).unwrap_or_else(|_| "?".into())
}

/// Signs transactions, Polymarket orders and CLOB auth with one private key, which it never shows.
#[pyclass(frozen, name = "Signer", module = "polyhunter._core")]
pub struct PySigner {
    pub(crate) inner: Signer,
}

#[pymethods]
impl PySigner {
    #[new]
    fn new(private_key: &Bound<'_, PyAny>) -> PyResult<Self> {
        let inner = if let Ok(text) = private_key.cast::<PyString>() {
            Signer::from_hex(text.to_str()?)
        } else if let Ok(raw) = private_key.cast::<PyBytes>() {
            let raw = raw.as_bytes();
            match <&[u8; 32]>::try_from(raw) {
                Ok(key) => Signer::from_bytes(key),
                Err(_) => Err(CoreError::InvalidInput(format!(
                    "private key bytes must be 32 long, got {} bytes",
                    raw.len()
                ))),
            }
        } else {
            return Err(PyTypeError::new_err(format!(
                "private key must be str (hex) or bytes, not {}",
                type_name(private_key)
            )));
        };
        inner.map(|inner| Self { inner }).map_err(to_py_err)
    }

    /// `0x` + 40 lower-case hex digits.
    #[getter]
    fn address(&self) -> String {
        address_str(&self.inner.address())
    }

    /// The EIP-55 mixed-case form of the address.
    #[getter]
    fn checksum_address(&self) -> String {
        self.inner.address().to_checksum(None)
    }

    /// Signs a 32-byte digest; returns r ‖ s ‖ v (65 bytes, v = 27/28).
    fn sign_hash<'py>(&self, py: Python<'py>, digest: &Bound<'py, PyAny>) -> PyResult<Bound<'py, PyBytes>> {
        let digest = bytes32_arg(digest, "digest")?;
        let sig = without_gil(py, || self.inner.sign_hash_rsv(&digest));
        Ok(PyBytes::new(py, &sig))
    }

    /// Signs one EIP-1559 transaction.
    fn sign_transaction(&self, py: Python<'_>, tx: &Bound<'_, PyEip1559Tx>) -> PySignedTx {
        let tx = &tx.get().inner;
        PySignedTx::from(without_gil(py, || tx::sign_eip1559(&self.inner, tx)))
    }

    /// Signs many EIP-1559 transactions in one call, the GIL released throughout.
    fn sign_transactions(&self, py: Python<'_>, txs: Vec<Bound<'_, PyEip1559Tx>>) -> Vec<PySignedTx> {
        let txs: Vec<&tx::Eip1559Tx> = txs.iter().map(|tx| &tx.get().inner).collect();
        let signed = without_gil(py, || tx::sign_eip1559_batch(&self.inner, txs.iter().copied()));
        signed.into_iter().map(PySignedTx::from).collect()
    }

    /// Signs one CLOB order (`OrderV1` or `OrderV2`) under `domain`.
    fn sign_order(
        &self,
        py: Python<'_>,
        domain: &Bound<'_, PyExchangeDomain>,
        order: &Bound<'_, PyAny>,
    ) -> PyResult<PySignedTypedData> {
        let domain = &domain.get().inner;
        let order = order_ref(order)?;
        without_gil(py, || eip712::sign_order(&self.inner, domain, order)).map(Into::into).map_err(to_py_err)
    }

    /// Signs many orders under one domain in one call, the GIL released throughout.
    fn sign_orders(
        &self,
        py: Python<'_>,
        domain: &Bound<'_, PyExchangeDomain>,
        orders: &Bound<'_, PyAny>,
    ) -> PyResult<Vec<PySignedTypedData>> {
        let domain = &domain.get().inner;
        if orders.is_instance_of::<PyString>() {
            return Err(PyTypeError::new_err("orders must be a sequence of orders, not str"));
        }
        let items: Vec<Bound<'_, PyAny>> = match orders.cast::<PyList>() {
            Ok(list) => list.iter().collect(),
            Err(_) => orders.try_iter()?.collect::<PyResult<_>>()?,
        };
        let refs = items.iter().map(order_ref).collect::<PyResult<Vec<_>>>()?;
        let signed = without_gil(py, || eip712::sign_orders(&self.inner, domain, refs.iter().copied()));
        Ok(signed.map_err(to_py_err)?.into_iter().map(Into::into).collect())
    }

    /// Signs Polymarket's L1 `ClobAuth` message for this address.
    #[pyo3(signature = (chain_id, timestamp, nonce = None))]
    fn sign_clob_auth(
        &self,
        py: Python<'_>,
        chain_id: &Bound<'_, PyAny>,
        timestamp: &Bound<'_, PyAny>,
        nonce: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<PySignedTypedData> {
        let chain_id = u64_arg(chain_id, "chain_id")?;
        // The struct field is a string; Polymarket sends the decimal seconds.
        let timestamp = if let Ok(text) = timestamp.cast::<PyString>() {
            text.to_str()?.to_owned()
        } else {
            u64_arg(timestamp, "timestamp")?.to_string()
        };
        let nonce = nonce.map(|n| uint256_arg(n, "nonce")).transpose()?.unwrap_or_default();
        let signed = without_gil(py, || eip712::sign_clob_auth(&self.inner, chain_id, &timestamp, nonce));
        Ok(signed.into())
    }

    fn __repr__(&self) -> String {
        format!("Signer(address='{}')", self.inner.address().to_checksum(None))
    }
}

/// The address that signed `digest` with the 65-byte signature `signature`.
#[pyfunction]
fn recover_address(digest: &Bound<'_, PyAny>, signature: &[u8]) -> PyResult<String> {
    let digest = bytes32_arg(digest, "digest")?;
    signer::recover_address(&digest, signature).map(|a| address_str(&a)).map_err(to_py_err)
}

pub(super) fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<PySigner>()?;
    m.add_function(wrap_pyfunction!(recover_address, m)?)?;
    Ok(())
}
