//! Bindings of `crate::orders`: `market_order_amounts`, `MarketOrderBuilder` and their results.
//!
//! An order below the market's minimum is a normal outcome of sizing, so `build` raises
//! `polyhunter.errors.GuardrailRejected` with the store's skip reason `below_min_size`, not a bad-input error.

use alloy_primitives::B256;
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::PyType;

use super::eip712::{PyExchangeDomain, PyOrderV2, PySignedTypedData};
use super::signer::{address_arg, address_str, bytes32_arg, u128_arg, u64_arg, uint256_arg, PySigner};
use super::{to_py_err, without_gil};
use crate::eip712::v2;
use crate::orders::{
    self, AmountRule, BuiltOrder, MarketOrderAmounts, MarketOrderRequest, MarketParams, OrderMaker, Side,
};

/// The skip reason the store records for an order too small for the market.
const BELOW_MIN_SIZE: &str = "below_min_size";

static GUARDRAIL_REJECTED: PyOnceLock<Py<PyType>> = PyOnceLock::new();

fn below_minimum_err(py: Python<'_>, amounts: &MarketOrderAmounts, market: &MarketParams) -> PyErr {
    let detail = match amounts.side {
        Side::Buy => format!(
            "a BUY at {} ppm spends {} base units after rounding (fee {}), below the minimum of {}",
            amounts.price_ppm, amounts.maker_amount, amounts.fee, market.min_usd
        ),
        Side::Sell => format!(
            "a SELL at {} ppm sells {} share base units after rounding, below the minimum of {}",
            amounts.price_ppm, amounts.maker_amount, market.min_shares
        ),
    };
    let class = GUARDRAIL_REJECTED.get_or_try_init(py, || {
        py.import("polyhunter.errors")?
            .getattr("GuardrailRejected")?
            .cast_into::<PyType>()
            .map(Bound::unbind)
            .map_err(PyErr::from)
    });
    match class {
        Ok(cls) => PyErr::from_type(cls.bind(py).clone(), (BELOW_MIN_SIZE, detail)),
        Err(err) => err,
    }
}

fn market_params(
    tick_ppm: &Bound<'_, PyAny>,
    min_usd: &Bound<'_, PyAny>,
    min_shares: &Bound<'_, PyAny>,
    fee_rate_bps: &Bound<'_, PyAny>,
    fee_exponent: &Bound<'_, PyAny>,
) -> PyResult<MarketParams> {
    let small = |obj: &Bound<'_, PyAny>, what: &str| -> PyResult<u32> {
        let value = u64_arg(obj, what)?;
        u32::try_from(value)
            .map_err(|_| super::signer::invalid(format!("{what} must fit 32 bits, got {value}")))
    };
    MarketParams::new(
        u64_arg(tick_ppm, "tick_ppm")?,
        u128_arg(min_usd, "min_usd")?,
        u128_arg(min_shares, "min_shares")?,
        small(fee_rate_bps, "fee_rate_bps")?,
        small(fee_exponent, "fee_exponent")?,
    )
    .map_err(to_py_err)
}

/// A market order's amounts in base units; BUY: maker = collateral, taker = shares; SELL the reverse.
#[pyclass(frozen, name = "MarketOrderAmounts", module = "polyhunter._core")]
pub struct PyMarketOrderAmounts {
    inner: MarketOrderAmounts,
    rule: AmountRule,
}

#[pymethods]
impl PyMarketOrderAmounts {
    #[getter]
    fn side(&self) -> &'static str {
        self.inner.side.name()
    }
    #[getter]
    fn maker_amount(&self) -> u128 {
        self.inner.maker_amount
    }
    #[getter]
    fn taker_amount(&self) -> u128 {
        self.inner.taker_amount
    }
    #[getter]
    fn shares(&self) -> u128 {
        self.inner.shares()
    }
    #[getter]
    fn usd(&self) -> u128 {
        self.inner.usd()
    }
    #[getter]
    fn price_ppm(&self) -> u64 {
        self.inner.price_ppm
    }
    #[getter]
    fn fee(&self) -> u128 {
        self.inner.fee
    }
    #[getter]
    fn below_minimum(&self) -> bool {
        self.inner.below_minimum
    }
    #[getter]
    fn rule(&self) -> &'static str {
        self.rule.name()
    }

    fn __repr__(&self) -> String {
        let a = &self.inner;
        format!(
            "MarketOrderAmounts(side='{}', maker_amount={}, taker_amount={}, price_ppm={}, fee={}, below_minimum={}, \
             rule='{}')",
            a.side.name(),
            a.maker_amount,
            a.taker_amount,
            a.price_ppm,
            a.fee,
            if a.below_minimum { "True" } else { "False" },
            self.rule.name()
        )
    }
}

/// Market-order amounts for a BUY budget (fee included) or a SELL share count at a worst price on the tick.
#[pyfunction]
#[pyo3(signature = (
    side, amount, price_ppm, tick_ppm, *, rule = "cents", min_usd = None, min_shares = None, fee_rate_bps = None,
    fee_exponent = None
))]
#[allow(clippy::too_many_arguments)]
fn market_order_amounts(
    py: Python<'_>,
    side: &str,
    amount: &Bound<'_, PyAny>,
    price_ppm: &Bound<'_, PyAny>,
    tick_ppm: &Bound<'_, PyAny>,
    rule: &str,
    min_usd: Option<&Bound<'_, PyAny>>,
    min_shares: Option<&Bound<'_, PyAny>>,
    fee_rate_bps: Option<&Bound<'_, PyAny>>,
    fee_exponent: Option<&Bound<'_, PyAny>>,
) -> PyResult<PyMarketOrderAmounts> {
    let side = Side::parse(side).map_err(to_py_err)?;
    let rule = AmountRule::parse(rule).map_err(to_py_err)?;
    let defaults = Defaults::new(py);
    let market = market_params(
        tick_ppm,
        min_usd.unwrap_or(&defaults.min_usd),
        min_shares.unwrap_or(&defaults.zero),
        fee_rate_bps.unwrap_or(&defaults.zero),
        fee_exponent.unwrap_or(&defaults.one),
    )?;
    let amount = u128_arg(amount, "amount")?;
    let price_ppm = u64_arg(price_ppm, "price_ppm")?;
    orders::market_order_amounts(side, amount, price_ppm, &market, rule)
        .map(|inner| PyMarketOrderAmounts { inner, rule })
        .map_err(to_py_err)
}

/// Python ints for the optional market arguments' defaults.
struct Defaults<'py> {
    min_usd: Bound<'py, PyAny>,
    zero: Bound<'py, PyAny>,
    one: Bound<'py, PyAny>,
}

impl<'py> Defaults<'py> {
    fn new(py: Python<'py>) -> Self {
        let int = |v: u128| v.into_pyobject(py).map(|i| i.into_any()).expect("an int converts");
        Self { min_usd: int(orders::UNIT), zero: int(0), one: int(1) }
    }
}

/// A built and signed market order: the order, its signature and hash, and the amounts behind it.
#[pyclass(frozen, name = "SignedMarketOrder", module = "polyhunter._core")]
pub struct PySignedMarketOrder {
    order: Py<PyOrderV2>,
    signed: Py<PySignedTypedData>,
    amounts: Py<PyMarketOrderAmounts>,
    hash: B256,
}

#[pymethods]
impl PySignedMarketOrder {
    #[getter]
    fn order(&self, py: Python<'_>) -> Py<PyOrderV2> {
        self.order.clone_ref(py)
    }
    #[getter]
    fn signed(&self, py: Python<'_>) -> Py<PySignedTypedData> {
        self.signed.clone_ref(py)
    }
    #[getter]
    fn amounts(&self, py: Python<'_>) -> Py<PyMarketOrderAmounts> {
        self.amounts.clone_ref(py)
    }

    fn __repr__(&self) -> String {
        let order = &self.order.get().inner;
        format!(
            "SignedMarketOrder(hash=0x{}, side='{}', maker_amount={}, taker_amount={})",
            alloy_primitives::hex::encode(self.hash),
            if order.side == crate::eip712::SIDE_BUY { "BUY" } else { "SELL" },
            order.makerAmount,
            order.takerAmount
        )
    }
}

/// Builds and signs one wallet's market orders on one exchange under one amount rule; build it once.
#[pyclass(frozen, name = "MarketOrderBuilder", module = "polyhunter._core")]
pub struct PyMarketOrderBuilder {
    signer: Py<PySigner>,
    maker: OrderMaker,
}

#[pymethods]
impl PyMarketOrderBuilder {
    #[new]
    #[pyo3(signature = (signer, domain, *, maker = None, signature_type = 0, rule = "cents", metadata = None, builder = None))]
    #[allow(clippy::too_many_arguments)]
    fn new(
        signer: Py<PySigner>,
        domain: &Bound<'_, PyExchangeDomain>,
        maker: Option<&str>,
        signature_type: u8,
        rule: &str,
        metadata: Option<&Bound<'_, PyAny>>,
        builder: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<Self> {
        let maker = maker.map(address_arg).transpose()?;
        let rule = AmountRule::parse(rule).map_err(to_py_err)?;
        let metadata = metadata.map(|m| bytes32_arg(m, "metadata")).transpose()?.unwrap_or(B256::ZERO);
        let builder = builder.map(|b| bytes32_arg(b, "builder")).transpose()?.unwrap_or(B256::ZERO);
        let order_maker = OrderMaker::new(
            &signer.get().inner,
            domain.get().inner.clone(),
            maker,
            signature_type,
            rule,
            metadata,
            builder,
        )
        .map_err(to_py_err)?;
        Ok(Self { signer, maker: order_maker })
    }

    /// The orders' maker (the signer's address, or its deposit wallet for type 3).
    #[getter]
    fn maker(&self) -> String {
        address_str(&self.maker.maker)
    }
    #[getter]
    fn signature_type(&self) -> u8 {
        self.maker.signature_type
    }
    #[getter]
    fn rule(&self) -> &'static str {
        self.maker.rule.name()
    }

    /// Computes the amounts, builds the `OrderV2` and signs it, in one call with the GIL released.
    #[pyo3(signature = (
        *, token_id, side, amount, price_ppm, tick_ppm, salt, timestamp, min_usd = None, min_shares = None,
        fee_rate_bps = None, fee_exponent = None
    ))]
    #[allow(clippy::too_many_arguments)]
    fn build(
        &self,
        py: Python<'_>,
        token_id: &Bound<'_, PyAny>,
        side: &str,
        amount: &Bound<'_, PyAny>,
        price_ppm: &Bound<'_, PyAny>,
        tick_ppm: &Bound<'_, PyAny>,
        salt: &Bound<'_, PyAny>,
        timestamp: &Bound<'_, PyAny>,
        min_usd: Option<&Bound<'_, PyAny>>,
        min_shares: Option<&Bound<'_, PyAny>>,
        fee_rate_bps: Option<&Bound<'_, PyAny>>,
        fee_exponent: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<PySignedMarketOrder> {
        let defaults = Defaults::new(py);
        let market = market_params(
            tick_ppm,
            min_usd.unwrap_or(&defaults.min_usd),
            min_shares.unwrap_or(&defaults.zero),
            fee_rate_bps.unwrap_or(&defaults.zero),
            fee_exponent.unwrap_or(&defaults.one),
        )?;
        let request = MarketOrderRequest {
            token_id: uint256_arg(token_id, "token_id")?,
            side: Side::parse(side).map_err(to_py_err)?,
            amount: u128_arg(amount, "amount")?,
            price_ppm: u64_arg(price_ppm, "price_ppm")?,
            salt: uint256_arg(salt, "salt")?,
            timestamp: uint256_arg(timestamp, "timestamp")?,
        };
        let signer = &self.signer.get().inner;
        let built = without_gil(py, || orders::build_market_order(signer, &self.maker, &market, &request))
            .map_err(to_py_err)?;
        match built {
            BuiltOrder::Signed { order, signed, amounts } => Ok(PySignedMarketOrder {
                hash: signed.hash,
                order: Py::new(py, order_class(order))?,
                signed: Py::new(py, PySignedTypedData::from(signed))?,
                amounts: Py::new(py, PyMarketOrderAmounts { inner: amounts, rule: self.maker.rule })?,
            }),
            BuiltOrder::BelowMinimum(amounts) => Err(below_minimum_err(py, &amounts, &market)),
        }
    }

    fn __repr__(&self) -> String {
        format!(
            "MarketOrderBuilder(maker='{}', signature_type={}, exchange='{}', chain_id={}, rule='{}')",
            address_str(&self.maker.maker),
            self.maker.signature_type,
            address_str(&self.maker.domain.exchange),
            self.maker.domain.chain_id,
            self.maker.rule.name()
        )
    }
}

fn order_class(inner: v2::Order) -> PyOrderV2 {
    PyOrderV2 { inner }
}

pub(super) fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<PyMarketOrderAmounts>()?;
    m.add_class::<PySignedMarketOrder>()?;
    m.add_class::<PyMarketOrderBuilder>()?;
    m.add_function(wrap_pyfunction!(market_order_amounts, m)?)?;
    Ok(())
}
