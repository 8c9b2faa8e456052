//! Bindings of `crate::eip712` and `crate::poly1271`: `ExchangeDomain`, `OrderV1`, `OrderV2`, the
//! `SignedTypedData` result, and the POLY_1271 wrap's verifier.

use alloy_primitives::{Address, B256};
use pyo3::exceptions::PyTypeError;
use pyo3::prelude::*;
use pyo3::types::PyBytes;

use super::signer::{address_arg, address_str, bytes32_arg, invalid, u64_arg, uint256_arg, uint256_to_py};
use super::{to_py_err, without_gil};
use crate::eip712::{
    v1, v2, ExchangeDomain, OrderRef, SignedTypedData, EXCHANGE_DOMAIN_NAME, SIDE_BUY, SIDE_SELL,
};
use crate::poly1271;

fn side_arg(side: &str) -> PyResult<u8> {
    match side {
        "BUY" => Ok(SIDE_BUY),
        "SELL" => Ok(SIDE_SELL),
        other => Err(invalid(format!("side must be \"BUY\" or \"SELL\", got {other:?}"))),
    }
}

fn side_str(side: u8) -> &'static str {
    if side == SIDE_BUY {
        "BUY"
    } else {
        "SELL"
    }
}

fn signature_type_arg(value: u8) -> PyResult<u8> {
    if value <= 3 {
        Ok(value)
    } else {
        Err(invalid(format!(
            "signature_type must be 0 (EOA), 1 (POLY_PROXY), 2 (POLY_GNOSIS_SAFE) or 3 (POLY_1271), got {value}"
        )))
    }
}

/// The order a Python object holds, borrowed: an `OrderV1` or an `OrderV2`.
pub(crate) fn order_ref<'a>(obj: &'a Bound<'_, PyAny>) -> PyResult<OrderRef<'a>> {
    if let Ok(order) = obj.cast::<PyOrderV2>() {
        Ok(OrderRef::V2(&order.get().inner))
    } else if let Ok(order) = obj.cast::<PyOrderV1>() {
        Ok(OrderRef::V1(&order.get().inner))
    } else {
        Err(PyTypeError::new_err(format!(
            "order must be OrderV1 or OrderV2, not {}",
            obj.get_type().name().map(|n| n.to_string()).unwrap_or_default()
        )))
    }
}

/// One exchange's EIP-712 domain (name, version, chain id, verifying contract), its separator precomputed.
#[pyclass(frozen, name = "ExchangeDomain", module = "polyhunter._core")]
pub struct PyExchangeDomain {
    pub(crate) inner: ExchangeDomain,
}

#[pymethods]
impl PyExchangeDomain {
    #[new]
    #[pyo3(signature = (exchange, chain_id, version = 2, name = EXCHANGE_DOMAIN_NAME))]
    fn new(exchange: &str, chain_id: &Bound<'_, PyAny>, version: u8, name: &str) -> PyResult<Self> {
        let exchange = address_arg(exchange)?;
        let chain_id = u64_arg(chain_id, "chain_id")?;
        ExchangeDomain::new(exchange, chain_id, version, name).map(|inner| Self { inner }).map_err(to_py_err)
    }

    #[getter]
    fn exchange(&self) -> String {
        address_str(&self.inner.exchange)
    }

    #[getter]
    fn chain_id(&self) -> u64 {
        self.inner.chain_id
    }

    #[getter]
    fn version(&self) -> u8 {
        self.inner.version
    }

    #[getter]
    fn name(&self) -> &str {
        &self.inner.name
    }

    /// The EIP-712 domain separator, 32 bytes.
    #[getter]
    fn separator<'py>(&self, py: Python<'py>) -> Bound<'py, PyBytes> {
        PyBytes::new(py, self.inner.separator.as_slice())
    }

    /// The order's EIP-712 digest: the hash the exchange emits as `orderHash`.
    fn order_hash<'py>(&self, py: Python<'py>, order: &Bound<'py, PyAny>) -> PyResult<Bound<'py, PyBytes>> {
        let hash = self.inner.order_hash(order_ref(order)?).map_err(to_py_err)?;
        Ok(PyBytes::new(py, hash.as_slice()))
    }

    fn __repr__(&self) -> String {
        format!(
            "ExchangeDomain(exchange='{}', chain_id={}, version={}, name={:?})",
            address_str(&self.inner.exchange),
            self.inner.chain_id,
            self.inner.version,
            self.inner.name
        )
    }
}

/// The `#[pymethods]` of an order class: its own constructor and getters, plus the getters and `repr`
/// that V1 and V2 share (PyO3 takes one `#[pymethods]` block per class, so the shared part is a macro).
macro_rules! order_methods {
    ($class:ident, $name:literal, { $($own:tt)* }) => {
        #[pymethods]
        impl $class {
            $($own)*

            #[getter]
            fn salt<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
                uint256_to_py(py, &self.inner.salt)
            }
            #[getter]
            fn maker(&self) -> String {
                address_str(&self.inner.maker)
            }
            #[getter]
            fn signer(&self) -> String {
                address_str(&self.inner.signer)
            }
            #[getter]
            fn token_id<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
                uint256_to_py(py, &self.inner.tokenId)
            }
            #[getter]
            fn maker_amount<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
                uint256_to_py(py, &self.inner.makerAmount)
            }
            #[getter]
            fn taker_amount<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
                uint256_to_py(py, &self.inner.takerAmount)
            }
            #[getter]
            fn side(&self) -> &'static str {
                side_str(self.inner.side)
            }
            #[getter]
            fn signature_type(&self) -> u8 {
                self.inner.signatureType
            }

            fn __repr__(&self) -> String {
                format!(
                    "{}(salt={}, maker='{}', token_id={}, side='{}', maker_amount={}, taker_amount={})",
                    $name,
                    self.inner.salt,
                    address_str(&self.inner.maker),
                    self.inner.tokenId,
                    side_str(self.inner.side),
                    self.inner.makerAmount,
                    self.inner.takerAmount
                )
            }
        }
    };
}

/// A Polymarket CLOB V2 order (the struct the V2 exchange verifies).
#[pyclass(frozen, name = "OrderV2", module = "polyhunter._core")]
pub struct PyOrderV2 {
    pub(crate) inner: v2::Order,
}

order_methods!(PyOrderV2, "OrderV2", {
    #[new]
    #[pyo3(signature = (
        *, salt, maker, token_id, maker_amount, taker_amount, side, timestamp, signer = None, signature_type = 0,
        metadata = None, builder = None
    ))]
    #[allow(clippy::too_many_arguments)]
    fn new(
        salt: &Bound<'_, PyAny>,
        maker: &str,
        token_id: &Bound<'_, PyAny>,
        maker_amount: &Bound<'_, PyAny>,
        taker_amount: &Bound<'_, PyAny>,
        side: &str,
        timestamp: &Bound<'_, PyAny>,
        signer: Option<&str>,
        signature_type: u8,
        metadata: Option<&Bound<'_, PyAny>>,
        builder: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<Self> {
        let maker = address_arg(maker)?;
        Ok(Self {
            inner: v2::Order {
                salt: uint256_arg(salt, "salt")?,
                maker,
                signer: signer.map(address_arg).transpose()?.unwrap_or(maker),
                tokenId: uint256_arg(token_id, "token_id")?,
                makerAmount: uint256_arg(maker_amount, "maker_amount")?,
                takerAmount: uint256_arg(taker_amount, "taker_amount")?,
                side: side_arg(side)?,
                signatureType: signature_type_arg(signature_type)?,
                timestamp: uint256_arg(timestamp, "timestamp")?,
                metadata: metadata.map(|m| bytes32_arg(m, "metadata")).transpose()?.unwrap_or(B256::ZERO),
                builder: builder.map(|b| bytes32_arg(b, "builder")).transpose()?.unwrap_or(B256::ZERO),
            },
        })
    }

    #[getter]
    fn timestamp<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        uint256_to_py(py, &self.inner.timestamp)
    }
    #[getter]
    fn metadata<'py>(&self, py: Python<'py>) -> Bound<'py, PyBytes> {
        PyBytes::new(py, self.inner.metadata.as_slice())
    }
    #[getter]
    fn builder<'py>(&self, py: Python<'py>) -> Bound<'py, PyBytes> {
        PyBytes::new(py, self.inner.builder.as_slice())
    }
});

/// A Polymarket CLOB V1 order (the struct the V1 exchange verifies).
#[pyclass(frozen, name = "OrderV1", module = "polyhunter._core")]
pub struct PyOrderV1 {
    pub(crate) inner: v1::Order,
}

order_methods!(PyOrderV1, "OrderV1", {
    #[new]
    #[pyo3(signature = (
        *, salt, maker, token_id, maker_amount, taker_amount, side, signer = None, taker = None, expiration = None,
        nonce = None, fee_rate_bps = None, signature_type = 0
    ))]
    #[allow(clippy::too_many_arguments)]
    fn new(
        salt: &Bound<'_, PyAny>,
        maker: &str,
        token_id: &Bound<'_, PyAny>,
        maker_amount: &Bound<'_, PyAny>,
        taker_amount: &Bound<'_, PyAny>,
        side: &str,
        signer: Option<&str>,
        taker: Option<&str>,
        expiration: Option<&Bound<'_, PyAny>>,
        nonce: Option<&Bound<'_, PyAny>>,
        fee_rate_bps: Option<&Bound<'_, PyAny>>,
        signature_type: u8,
    ) -> PyResult<Self> {
        let maker = address_arg(maker)?;
        let optional = |v: Option<&Bound<'_, PyAny>>, what| v.map(|v| uint256_arg(v, what)).transpose();
        Ok(Self {
            inner: v1::Order {
                salt: uint256_arg(salt, "salt")?,
                maker,
                signer: signer.map(address_arg).transpose()?.unwrap_or(maker),
                taker: taker.map(address_arg).transpose()?.unwrap_or(Address::ZERO),
                tokenId: uint256_arg(token_id, "token_id")?,
                makerAmount: uint256_arg(maker_amount, "maker_amount")?,
                takerAmount: uint256_arg(taker_amount, "taker_amount")?,
                expiration: optional(expiration, "expiration")?.unwrap_or_default(),
                nonce: optional(nonce, "nonce")?.unwrap_or_default(),
                feeRateBps: optional(fee_rate_bps, "fee_rate_bps")?.unwrap_or_default(),
                side: side_arg(side)?,
                signatureType: signature_type_arg(signature_type)?,
            },
        })
    }

    #[getter]
    fn taker(&self) -> String {
        address_str(&self.inner.taker)
    }
    #[getter]
    fn expiration<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        uint256_to_py(py, &self.inner.expiration)
    }
    #[getter]
    fn nonce<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        uint256_to_py(py, &self.inner.nonce)
    }
    #[getter]
    fn fee_rate_bps<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        uint256_to_py(py, &self.inner.feeRateBps)
    }
});

/// A signed EIP-712 message (an order or a ClobAuth): its digest and its signature, r ‖ s ‖ v (v = 27/28) or,
/// for a POLY_1271 order, the deposit wallet's wrap.
#[pyclass(frozen, name = "SignedTypedData", module = "polyhunter._core")]
pub struct PySignedTypedData {
    inner: SignedTypedData,
}

impl From<SignedTypedData> for PySignedTypedData {
    fn from(inner: SignedTypedData) -> Self {
        Self { inner }
    }
}

#[pymethods]
impl PySignedTypedData {
    /// The EIP-712 digest that was signed (for an order: its order hash), 32 bytes.
    #[getter]
    fn hash<'py>(&self, py: Python<'py>) -> Bound<'py, PyBytes> {
        PyBytes::new(py, self.inner.hash.as_slice())
    }

    /// r ‖ s ‖ v (65 bytes), or a POLY_1271 order's wrap (317 bytes).
    #[getter]
    fn signature<'py>(&self, py: Python<'py>) -> Bound<'py, PyBytes> {
        PyBytes::new(py, &self.inner.signature)
    }

    /// `0x` + hex digits (130, or 634 for a wrap), as the CLOB API takes it.
    #[getter]
    fn signature_hex(&self) -> String {
        format!("0x{}", alloy_primitives::hex::encode(&self.inner.signature))
    }

    fn __repr__(&self) -> String {
        format!(
            "SignedTypedData(hash=0x{}, signature={})",
            alloy_primitives::hex::encode(self.inner.hash),
            self.signature_hex()
        )
    }
}

/// The address that signed a POLY_1271 `wrap` for `order_hash`, checked as the deposit wallet `wallet` on
/// `chain_id` checks it; a malformed wrap or one made for another order hash is refused.
#[pyfunction]
fn recover_poly1271_owner(
    py: Python<'_>,
    wrap: &[u8],
    wallet: &str,
    chain_id: &Bound<'_, PyAny>,
    order_hash: &Bound<'_, PyAny>,
) -> PyResult<String> {
    let wallet = address_arg(wallet)?;
    let chain_id = u64_arg(chain_id, "chain_id")?;
    let order_hash = bytes32_arg(order_hash, "order_hash")?;
    without_gil(py, || poly1271::recover_owner(wrap, wallet, chain_id, &order_hash))
        .map(|owner| address_str(&owner))
        .map_err(to_py_err)
}

pub(super) fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<PyExchangeDomain>()?;
    m.add_class::<PyOrderV1>()?;
    m.add_class::<PyOrderV2>()?;
    m.add_class::<PySignedTypedData>()?;
    m.add("EXCHANGE_DOMAIN_NAME", EXCHANGE_DOMAIN_NAME)?;
    m.add("POLY1271_WRAP_LEN", poly1271::WRAP_LEN)?;
    m.add_function(wrap_pyfunction!(recover_poly1271_owner, m)?)?;
    Ok(())
}
