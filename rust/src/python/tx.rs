//! Bindings of `crate::tx`: the `Eip1559Tx` request and the `SignedTx` result.

use alloy_primitives::{Bytes, B256};
use pyo3::exceptions::PyTypeError;
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict, PyString, PyTuple};

use super::signer::{address_arg, address_str, bytes32_arg, u128_arg, u64_arg, uint256_arg, uint256_to_py};
use crate::tx::{AccessList, AccessListItem, Eip1559Tx, SignedTx, TxKind};

/// An unsigned EIP-1559 (type 2) transaction, converted once at construction.
#[pyclass(frozen, name = "Eip1559Tx", module = "polyhunter._core")]
pub struct PyEip1559Tx {
    pub(crate) inner: Eip1559Tx,
}

/// One access-list entry: `(address, [storage keys])` or eth-account's `{"address", "storageKeys"}`.
fn access_item(item: &Bound<'_, PyAny>) -> PyResult<AccessListItem> {
    let (address, keys) = if let Ok(dict) = item.cast::<PyDict>() {
        let get = |key: &str| {
            dict.get_item(key)?
                .ok_or_else(|| super::signer::invalid(format!("access list entry lacks {key:?}")))
        };
        (get("address")?, get("storageKeys")?)
    } else if let Ok(pair) = item.cast::<PyTuple>() {
        if pair.len() != 2 {
            return Err(super::signer::invalid(format!(
                "access list entry must be (address, storage_keys), got {} items",
                pair.len()
            )));
        }
        (pair.get_item(0)?, pair.get_item(1)?)
    } else {
        return Err(PyTypeError::new_err(
            "access list entries must be (address, storage_keys) tuples or dicts",
        ));
    };
    let address = address_arg(address.cast::<PyString>()?.to_str()?)?;
    let storage_keys =
        keys.try_iter()?.map(|key| bytes32_arg(&key?, "storage key")).collect::<PyResult<Vec<B256>>>()?;
    Ok(AccessListItem { address, storage_keys })
}

#[pymethods]
impl PyEip1559Tx {
    #[new]
    #[pyo3(signature = (
        *, chain_id, nonce, max_fee_per_gas, max_priority_fee_per_gas, gas, to, value = None, data = None,
        access_list = None
    ))]
    #[allow(clippy::too_many_arguments)]
    fn new(
        chain_id: &Bound<'_, PyAny>,
        nonce: &Bound<'_, PyAny>,
        max_fee_per_gas: &Bound<'_, PyAny>,
        max_priority_fee_per_gas: &Bound<'_, PyAny>,
        gas: &Bound<'_, PyAny>,
        to: Option<&str>,
        value: Option<&Bound<'_, PyAny>>,
        data: Option<&[u8]>,
        access_list: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<Self> {
        let to = match to {
            Some(address) => TxKind::Call(address_arg(address)?),
            None => TxKind::Create,
        };
        let access_list = match access_list {
            Some(items) => {
                AccessList(items.try_iter()?.map(|item| access_item(&item?)).collect::<PyResult<_>>()?)
            }
            None => AccessList::default(),
        };
        Ok(Self {
            inner: Eip1559Tx {
                chain_id: u64_arg(chain_id, "chain_id")?,
                nonce: u64_arg(nonce, "nonce")?,
                gas_limit: u64_arg(gas, "gas")?,
                max_fee_per_gas: u128_arg(max_fee_per_gas, "max_fee_per_gas")?,
                max_priority_fee_per_gas: u128_arg(max_priority_fee_per_gas, "max_priority_fee_per_gas")?,
                to,
                value: value.map(|v| uint256_arg(v, "value")).transpose()?.unwrap_or_default(),
                access_list,
                input: data.map(Bytes::copy_from_slice).unwrap_or_default(),
            },
        })
    }

    #[getter]
    fn chain_id(&self) -> u64 {
        self.inner.chain_id
    }

    #[getter]
    fn nonce(&self) -> u64 {
        self.inner.nonce
    }

    #[getter]
    fn gas(&self) -> u64 {
        self.inner.gas_limit
    }

    #[getter]
    fn max_fee_per_gas(&self) -> u128 {
        self.inner.max_fee_per_gas
    }

    #[getter]
    fn max_priority_fee_per_gas(&self) -> u128 {
        self.inner.max_priority_fee_per_gas
    }

    /// The recipient, or None for a contract creation.
    #[getter]
    fn to(&self) -> Option<String> {
        self.inner.to.to().map(address_str)
    }

    #[getter]
    fn value<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        uint256_to_py(py, &self.inner.value)
    }

    #[getter]
    fn data<'py>(&self, py: Python<'py>) -> Bound<'py, PyBytes> {
        PyBytes::new(py, &self.inner.input)
    }

    /// `[(address, [storage key bytes, ...]), ...]`
    #[getter]
    fn access_list<'py>(&self, py: Python<'py>) -> Vec<(String, Vec<Bound<'py, PyBytes>>)> {
        self.inner
            .access_list
            .iter()
            .map(|item| {
                (
                    address_str(&item.address),
                    item.storage_keys.iter().map(|k| PyBytes::new(py, k.as_slice())).collect(),
                )
            })
            .collect()
    }

    /// The same transaction with other fees: what a replacement (speed-up) sends under the same nonce.
    fn with_fees(
        &self,
        max_fee_per_gas: &Bound<'_, PyAny>,
        max_priority_fee_per_gas: &Bound<'_, PyAny>,
    ) -> PyResult<Self> {
        let mut inner = self.inner.clone();
        inner.max_fee_per_gas = u128_arg(max_fee_per_gas, "max_fee_per_gas")?;
        inner.max_priority_fee_per_gas = u128_arg(max_priority_fee_per_gas, "max_priority_fee_per_gas")?;
        Ok(Self { inner })
    }

    fn __repr__(&self) -> String {
        let to = self.inner.to.to().map(address_str).unwrap_or_else(|| "None".into());
        format!(
            "Eip1559Tx(chain_id={}, nonce={}, to={to}, value={}, gas={}, max_fee_per_gas={}, \
             max_priority_fee_per_gas={}, data=<{} bytes>, access_list=<{} entries>)",
            self.inner.chain_id,
            self.inner.nonce,
            self.inner.value,
            self.inner.gas_limit,
            self.inner.max_fee_per_gas,
            self.inner.max_priority_fee_per_gas,
            self.inner.input.len(),
            self.inner.access_list.len()
        )
    }
}

/// A signed transaction: `raw` for `eth_sendRawTransaction`, `hash` as the chain will know it.
#[pyclass(frozen, name = "SignedTx", module = "polyhunter._core")]
pub struct PySignedTx {
    inner: SignedTx,
}

impl From<SignedTx> for PySignedTx {
    fn from(inner: SignedTx) -> Self {
        Self { inner }
    }
}

#[pymethods]
impl PySignedTx {
    /// The EIP-2718 bytes: 0x02 ‖ rlp(fields, y_parity, r, s).
    #[getter]
    fn raw<'py>(&self, py: Python<'py>) -> Bound<'py, PyBytes> {
        PyBytes::new(py, &self.inner.raw)
    }

    /// keccak256(raw), 32 bytes.
    #[getter]
    fn hash<'py>(&self, py: Python<'py>) -> Bound<'py, PyBytes> {
        PyBytes::new(py, self.inner.hash.as_slice())
    }

    fn __repr__(&self) -> String {
        format!(
            "SignedTx(hash=0x{}, raw=<{} bytes>)",
            alloy_primitives::hex::encode(self.inner.hash),
            self.inner.raw.len()
        )
    }
}

pub(super) fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<PyEip1559Tx>()?;
    m.add_class::<PySignedTx>()?;
    Ok(())
}
