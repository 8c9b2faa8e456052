//! Bindings of `crate::fanout`: `FanoutIndex`, `CopyIntent`, `Intents`.
//!
//! Configs arrive in the shape of docs/seams.md (a mapping, or any object with those attributes).

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock, PoisonError, RwLock};

use alloy_primitives::{Address, U256, U512};
use pyo3::exceptions::{PyIndexError, PyKeyError, PyTypeError};
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict, PyList, PyMapping, PySlice, PyString, PyTuple, PyType};
use pyo3::{ffi, intern};

use super::logs::PySignal;
use super::primitives::{address_arg, b256_to_py, u256_arg, u256_to_py};
use super::{to_py_err, without_gil};
use crate::error::CoreError;
use crate::fanout::{self, CopyConfig, FanoutIndex, Matched, MinSize, MinSizePolicy, Prepared, Sizing, Tier};
use crate::signal::{address_hex, Side};

/// A config field by name: a mapping's item or an object's attribute; `None` when absent or None.
fn field<'py>(obj: &Bound<'py, PyAny>, name: &str) -> PyResult<Option<Bound<'py, PyAny>>> {
    let value = if let Ok(d) = obj.cast::<PyDict>() {
        d.get_item(name)?
    } else if let Ok(m) = obj.cast::<PyMapping>() {
        match m.get_item(name) {
            Ok(v) => Some(v),
            Err(e) if e.is_instance_of::<PyKeyError>(obj.py()) => None,
            Err(e) => return Err(e),
        }
    } else {
        obj.getattr_opt(name)?
    };
    Ok(value.filter(|v| !v.is_none()))
}

/// Reads and converts config fields, naming the config and the field in every error.
struct Fields<'a, 'py> {
    obj: &'a Bound<'py, PyAny>,
    id: u64,
}

impl<'py> Fields<'_, 'py> {
    fn err(&self, name: &str, what: impl std::fmt::Display) -> PyErr {
        to_py_err(CoreError::InvalidInput(format!("config {}: {name}: {what}", self.id)))
    }

    fn opt<T>(&self, name: &str, f: impl FnOnce(&Bound<'py, PyAny>) -> PyResult<T>) -> PyResult<Option<T>> {
        field(self.obj, name)?.map(|v| f(&v).map_err(|e| self.err(name, e))).transpose()
    }

    fn req<T>(&self, name: &str, f: impl FnOnce(&Bound<'py, PyAny>) -> PyResult<T>) -> PyResult<T> {
        self.opt(name, f)?.ok_or_else(|| self.err(name, "missing"))
    }

    fn amount(&self, name: &str) -> PyResult<Option<u128>> {
        self.opt(name, |v| v.extract::<u128>().map_err(|_| self.err(name, "must be an int in 0..2**128")))
    }

    fn tokens(&self, name: &str) -> PyResult<Vec<U256>> {
        Ok(self.opt(name, |v| v.try_iter()?.map(|t| token_arg(&t?)).collect())?.unwrap_or_default())
    }
}

/// A token id as an int, or a decimal / `0x` hex string (deployment.json writes them as strings).
fn token_arg(obj: &Bound<'_, PyAny>) -> PyResult<U256> {
    if let Ok(s) = obj.cast::<PyString>() {
        let text = s.to_str()?;
        let parsed = match text.strip_prefix("0x") {
            Some(hex) => U256::from_str_radix(hex, 16),
            None => U256::from_str_radix(text, 10),
        };
        parsed.map_err(|_| PyTypeError::new_err(format!("token id is not a number: {text:?}")))
    } else {
        u256_arg(obj)
    }
}

fn tier_arg(obj: &Bound<'_, PyAny>) -> PyResult<Tier> {
    let (min, max, mult): (u128, Option<u128>, u128) =
        if obj.cast::<PyTuple>().is_ok() || obj.cast::<PyList>().is_ok() {
            obj.extract()?
        } else {
            let get = |n: &str| field(obj, n);
            (
                get("min_leader_usd")?.map_or(Ok(0), |v| v.extract())?,
                get("max_leader_usd")?.map(|v| v.extract()).transpose()?,
                get("multiplier_ppm")?
                    .ok_or_else(|| PyTypeError::new_err("tier has no multiplier_ppm"))?
                    .extract()?,
            )
        };
    Ok(Tier { min_leader_usd: min, max_leader_usd: max, multiplier_ppm: mult })
}

/// Converts one config in the docs/seams.md shape.
fn config_arg(obj: &Bound<'_, PyAny>) -> PyResult<CopyConfig> {
    let id = field(obj, "config_id")?
        .ok_or_else(|| to_py_err(CoreError::InvalidInput("config has no config_id".into())))?
        .extract::<u64>()
        .map_err(|e| to_py_err(CoreError::InvalidInput(format!("config_id must be an int > 0: {e}"))))?;
    let f = Fields { obj, id };
    let mode: String = f.req("mode", |v| v.extract())?;
    let need = |name: &str| f.amount(name)?.ok_or_else(|| f.err(name, format!("required by mode {mode:?}")));
    let sizing = match mode.as_str() {
        "fixed" => Sizing::Fixed { usd: need("fixed_usd")? },
        "ratio" => Sizing::Ratio { ppm: need("ratio_ppm")? },
        "percent" => Sizing::Percent { bps: need("percent_bps")? },
        "tiered" => Sizing::Tiered(
            f.req("tiers", |v| v.try_iter()?.map(|t| tier_arg(&t?)).collect::<PyResult<Vec<_>>>())?,
        ),
        other => return Err(f.err("mode", format!("must be fixed, ratio, percent or tiered, got {other:?}"))),
    };
    let policy = f.opt("min_size_policy", |v| match v.extract::<String>()?.as_str() {
        "skip" => Ok(MinSizePolicy::Skip),
        "bump" => Ok(MinSizePolicy::Bump),
        other => Err(PyTypeError::new_err(format!("must be \"skip\" or \"bump\", got {other:?}"))),
    })?;
    Ok(CopyConfig {
        config_id: id,
        follower: f.req("follower", address_arg)?,
        proxy: f.req("proxy", address_arg)?,
        leader: f.req("leader", address_arg)?,
        sizing,
        token_allow: f.tokens("token_allow")?,
        token_deny: f.tokens("token_deny")?,
        side_filter: f.opt("side_filter", |v| Side::parse(&v.extract::<String>()?).map_err(to_py_err))?,
        min_leader_usd: f.amount("min_leader_usd")?,
        max_leader_usd: f.amount("max_leader_usd")?,
        min_price_ppm: f.amount("min_price_ppm")?,
        max_price_ppm: f.amount("max_price_ppm")?,
        max_per_trade_usd: f.amount("max_per_trade_usd")?,
        min_size_policy: policy.unwrap_or(MinSizePolicy::Skip),
        enabled: f.opt("enabled", |v| v.extract())?.unwrap_or(true),
        updated_at: f.opt("updated_at", |v| v.extract())?.unwrap_or(0),
    })
}

fn balances_arg(obj: Option<&Bound<'_, PyAny>>) -> PyResult<HashMap<Address, u128>> {
    let Some(obj) = obj.filter(|o| !o.is_none()) else {
        return Ok(HashMap::new());
    };
    let items = obj.call_method0("items")?;
    items
        .try_iter()?
        .map(|kv| {
            let (k, v): (Bound<'_, PyAny>, Bound<'_, PyAny>) = kv?.extract()?;
            Ok((address_arg(&k)?, v.extract::<u128>()?))
        })
        .collect()
}

fn min_size_arg(obj: Option<&Bound<'_, PyAny>>) -> PyResult<MinSize> {
    let Some(obj) = obj.filter(|o| !o.is_none()) else {
        return Ok(MinSize::None);
    };
    if let Ok(n) = obj.extract::<u128>() {
        return Ok(MinSize::All(n));
    }
    let items = obj.call_method0("items")?;
    let map = items
        .try_iter()?
        .map(|kv| {
            let (k, v): (Bound<'_, PyAny>, Bound<'_, PyAny>) = kv?.extract()?;
            Ok((token_arg(&k)?, v.extract::<u128>()?))
        })
        .collect::<PyResult<_>>()?;
    Ok(MinSize::PerToken(map))
}

/// One copy to make (docs/seams.md, `CopyIntent`); immutable.
///
/// A handle on its (shared) batch and a position, so that building one is an allocation and two words;
/// fields are joined with the intent's signal when read.
#[pyclass(frozen, eq, module = "polyhunter._core", name = "CopyIntent")]
pub struct PyCopyIntent {
    batch: Arc<Matched>,
    /// Always a valid position in `batch.intents` (checked when built).
    index: usize,
}

impl PartialEq for PyCopyIntent {
    fn eq(&self, other: &Self) -> bool {
        self.view() == other.view()
    }
}

impl PyCopyIntent {
    fn new(batch: &Arc<Matched>, index: usize) -> Option<Self> {
        (index < batch.intents.len()).then(|| Self { batch: Arc::clone(batch), index })
    }

    fn view(&self) -> Option<fanout::CopyIntent> {
        self.batch.intent(self.index)
    }
}

/// The joined fields; `new` checked the position, so the fallback never runs.
macro_rules! field_of {
    ($self:ident, $f:ident) => {
        $self.view().map(|v| v.$f).unwrap_or_default()
    };
}

#[pymethods]
impl PyCopyIntent {
    #[getter]
    fn config_id(&self) -> u64 {
        self.batch.intents[self.index].config_id
    }
    #[getter]
    fn follower(&self) -> String {
        address_hex(&self.batch.intents[self.index].follower)
    }
    #[getter]
    fn proxy(&self) -> String {
        address_hex(&self.batch.intents[self.index].proxy)
    }
    #[getter]
    fn leader(&self) -> String {
        address_hex(&field_of!(self, leader))
    }
    #[getter]
    fn token_id<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        u256_to_py(py, &field_of!(self, token_id))
    }
    #[getter]
    fn side(&self) -> &'static str {
        self.view().map_or(Side::Buy, |v| v.side).as_str()
    }
    #[getter]
    fn amount(&self) -> u128 {
        self.batch.intents[self.index].amount
    }
    #[getter]
    fn limit_price_ppm(&self) -> Option<u128> {
        field_of!(self, limit_price_ppm)
    }
    #[getter]
    fn tx_hash<'py>(&self, py: Python<'py>) -> Bound<'py, PyBytes> {
        b256_to_py(py, &field_of!(self, tx_hash))
    }
    #[getter]
    fn log_index(&self) -> u64 {
        field_of!(self, log_index)
    }
    #[getter]
    fn sub_index(&self) -> u32 {
        field_of!(self, sub_index)
    }
    #[getter]
    fn signal_index(&self) -> u32 {
        self.batch.intents[self.index].signal
    }
    #[getter]
    fn dedup_key<'py>(&self, py: Python<'py>) -> Bound<'py, PyBytes> {
        let key = self.view().map(|v| crate::hash::dedup_key(&v.tx_hash.0, v.log_index, v.sub_index));
        PyBytes::new(py, &key.unwrap_or_default())
    }
    #[getter]
    fn idempotency_key<'py>(&self, py: Python<'py>) -> Bound<'py, PyBytes> {
        PyBytes::new(py, &self.view().map(|v| v.idempotency_key()).unwrap_or_default())
    }

    /// Every field as a dict (without the two keys).
    fn to_dict<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let d = PyDict::new(py);
        d.set_item("config_id", self.config_id())?;
        d.set_item("follower", self.follower())?;
        d.set_item("proxy", self.proxy())?;
        d.set_item("leader", self.leader())?;
        d.set_item("token_id", self.token_id(py)?)?;
        d.set_item("side", self.side())?;
        d.set_item("amount", self.amount())?;
        d.set_item("limit_price_ppm", self.limit_price_ppm())?;
        d.set_item("tx_hash", self.tx_hash(py))?;
        d.set_item("log_index", self.log_index())?;
        d.set_item("sub_index", self.sub_index())?;
        d.set_item("signal_index", self.signal_index())?;
        Ok(d)
    }

    fn __repr__(&self) -> String {
        let Some(i) = self.view() else { return "CopyIntent(?)".into() };
        format!(
            "CopyIntent(config {} {} {} of {} for {} limit_ppm={} tx={:#x}:{}:{})",
            i.config_id,
            i.side.as_str(),
            i.amount,
            i.token_id,
            address_hex(&i.proxy),
            i.limit_price_ppm.map_or_else(|| "none".to_owned(), |p| p.to_string()),
            i.tx_hash,
            i.log_index,
            i.sub_index
        )
    }
}

/// The intents of one `FanoutIndex.match` call: a read-only sequence of `CopyIntent`, built on access;
/// `jobs` and `rows` hand the whole batch over at once, its keys computed once (cached).
#[pyclass(frozen, sequence, module = "polyhunter._core")]
pub struct Intents(Arc<Matched>, OnceLock<Prepared>, OnceLock<Vec<Py<PyTuple>>>);

/// A U512 as a Python `int`.
fn u512_to_py<'py>(py: Python<'py>, value: &U512) -> PyResult<Bound<'py, PyAny>> {
    match u128::try_from(*value) {
        Ok(small) => Ok(small.into_pyobject(py)?.into_any()),
        Err(_) => {
            py.get_type::<pyo3::types::PyInt>().call_method1("from_bytes", (value.to_be_bytes::<64>(), "big"))
        }
    }
}

/// An address as `0x` + lower-case hex, made on the stack.
fn address_py<'py>(py: Python<'py>, address: &Address) -> Bound<'py, PyString> {
    let mut text = [0u8; 42];
    text[..2].copy_from_slice(b"0x");
    // 20 bytes into 40 digits: cannot fail; hex digits are ASCII.
    let _ = alloy_primitives::hex::encode_to_slice(address.as_slice(), &mut text[2..]);
    PyString::new(py, std::str::from_utf8(&text).unwrap_or_default())
}

/// An amount as a Python `int` (the u64 path is the fast one).
fn int_py(py: Python<'_>, value: u128) -> PyResult<Bound<'_, PyAny>> {
    match u64::try_from(value) {
        Ok(small) => Ok(small.into_pyobject(py)?.into_any()),
        Err(_) => Ok(value.into_pyobject(py)?.into_any()),
    }
}

/// The Python values one signal gives every job of it, made once per signal.
struct SignalValues<'py> {
    leader: Bound<'py, PyAny>,
    token_id: Bound<'py, PyAny>,
    token_text: Bound<'py, PyAny>,
    side: Bound<'py, PyAny>,
    tx_hash: Bound<'py, PyAny>,
    log_index: Bound<'py, PyAny>,
    sub_index: Bound<'py, PyAny>,
    leader_size: Bound<'py, PyAny>,
    leader_price_ppm: Bound<'py, PyAny>,
    block_number: Bound<'py, PyAny>,
    limit_price_ppm: Bound<'py, PyAny>,
}

impl Intents {
    fn prepared(&self) -> &Prepared {
        self.1.get_or_init(|| self.0.prepare())
    }

    fn signal_values<'py>(&self, py: Python<'py>) -> PyResult<Vec<SignalValues<'py>>> {
        let prepared = self.prepared();
        self.0
            .signals
            .iter()
            .zip(&prepared.signals)
            .zip(&self.0.limit_price_ppm)
            .map(|((s, job), limit)| {
                Ok(SignalValues {
                    leader: PyString::new(py, &address_hex(&s.leader)).into_any(),
                    token_id: u256_to_py(py, &s.token_id)?,
                    token_text: PyString::new(py, &s.token_id.to_string()).into_any(),
                    side: PyString::new(py, s.side.as_str()).into_any(),
                    tx_hash: b256_to_py(py, &s.tx_hash).into_any(),
                    log_index: s.log_index.into_pyobject(py)?.into_any(),
                    sub_index: s.sub_index.into_pyobject(py)?.into_any(),
                    leader_size: u256_to_py(py, &s.size)?,
                    leader_price_ppm: match &job.leader_price_ppm {
                        Some(p) => u512_to_py(py, p)?,
                        None => py.None().into_bound(py),
                    },
                    block_number: s.block_number.unwrap_or(0).into_pyobject(py)?.into_any(),
                    limit_price_ppm: limit.unwrap_or(0).into_pyobject(py)?.into_any(),
                })
            })
            .collect()
    }

    /// Each intent's job as a tuple of `CopyJob`'s fields (token id as an int), built once and kept: `rows`
    /// takes its values from the same objects.
    fn job_tuples(&self, py: Python<'_>) -> PyResult<&[Py<PyTuple>]> {
        if let Some(made) = self.2.get() {
            return Ok(made);
        }
        let values = self.signal_values(py)?;
        let keys = &self.prepared().keys;
        let made = self
            .0
            .intents
            .iter()
            .zip(keys)
            .map(|(it, key)| {
                let v = &values[it.signal as usize];
                let fields: [Bound<'_, PyAny>; 15] = [
                    PyBytes::new(py, key).into_any(),
                    it.config_id.into_pyobject(py)?.into_any(),
                    address_py(py, &it.follower).into_any(),
                    address_py(py, &it.proxy).into_any(),
                    v.leader.clone(),
                    v.token_id.clone(),
                    v.side.clone(),
                    int_py(py, it.amount)?,
                    v.limit_price_ppm.clone(),
                    v.tx_hash.clone(),
                    v.log_index.clone(),
                    v.sub_index.clone(),
                    v.leader_size.clone(),
                    v.leader_price_ppm.clone(),
                    v.block_number.clone(),
                ];
                Ok(PyTuple::new(py, fields)?.unbind())
            })
            .collect::<PyResult<Vec<_>>>()?;
        // Another thread may have filled it meanwhile: either list is the same.
        let _ = self.2.set(made);
        Ok(self.2.get().map_or(&[], Vec::as_slice))
    }

    fn at(&self, index: isize) -> PyResult<PyCopyIntent> {
        let len = self.0.intents.len() as isize;
        let i = if index < 0 { index + len } else { index };
        usize::try_from(i)
            .ok()
            .and_then(|i| PyCopyIntent::new(&self.0, i))
            .ok_or_else(|| PyIndexError::new_err(format!("intent index {index} out of range (len {len})")))
    }
}

/// `CopyJob`'s fields in order: what `jobs()`'s tuples hold and `jobs_as` sets.
const JOB_FIELDS: [&str; 15] = [
    "key",
    "config_id",
    "follower",
    "proxy",
    "leader",
    "token_id",
    "side",
    "amount",
    "limit_price_ppm",
    "tx_hash",
    "log_index",
    "sub_index",
    "leader_size",
    "leader_price_ppm",
    "block_number",
];

#[pymethods]
impl Intents {
    fn __len__(&self) -> usize {
        self.0.intents.len()
    }

    /// One intent by position (negative counts from the end), or a list for a slice.
    fn __getitem__<'py>(&self, py: Python<'py>, index: &Bound<'py, PyAny>) -> PyResult<Bound<'py, PyAny>> {
        if let Ok(slice) = index.cast::<PySlice>() {
            let ix = slice.indices(self.0.intents.len() as isize)?;
            let items = (0..ix.slicelength)
                .map(|k| self.at(ix.start + k as isize * ix.step))
                .collect::<PyResult<Vec<_>>>()?;
            return Ok(PyList::new(py, items)?.into_any());
        }
        Ok(Bound::new(py, self.at(index.extract()?)?)?.into_any())
    }

    fn __iter__(slf: Bound<'_, Self>) -> IntentsIter {
        IntentsIter { batch: slf.unbind(), next: AtomicUsize::new(0) }
    }

    /// Every intent, built now.
    fn to_list(&self) -> Vec<PyCopyIntent> {
        (0..self.0.intents.len()).filter_map(|i| PyCopyIntent::new(&self.0, i)).collect()
    }

    /// Every intent as the copy job it becomes, in one pass: `(jobs, payloads, signal_indexes)`, where each
    /// job is a tuple of `CopyJob`'s fields in order (`CopyJob(*job)`), each payload the exact bytes of
    /// `CopyJob.to_bytes()`, and each signal index the intent's position in the `match` input.
    fn jobs<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyTuple>> {
        let jobs = self.job_tuples(py)?;
        let prepared = self.prepared();
        let mut payloads = Vec::with_capacity(jobs.len());
        let mut buf = Vec::with_capacity(512);
        for (i, it) in self.0.intents.iter().enumerate() {
            buf.clear();
            self.0.write_payload(i, &prepared.keys[i], &prepared.signals[it.signal as usize], &mut buf);
            payloads.push(PyBytes::new(py, &buf));
        }
        let indexes: Vec<u32> = self.0.intents.iter().map(|it| it.signal).collect();
        PyTuple::new(
            py,
            [
                PyList::new(py, jobs.iter().map(|t| t.bind(py)))?.into_any(),
                PyList::new(py, payloads)?.into_any(),
                PyList::new(py, indexes)?.into_any(),
            ],
        )
    }

    /// Every intent's job as an instance of `cls`, a frozen slotted dataclass whose fields are `CopyJob`'s
    /// in order (`cls.__slots__`), equal to `cls(*job)` for each of `jobs()`'s tuples: the instances are
    /// allocated and their slots filled here, without a Python `__init__` per job (about a microsecond
    /// each, the largest part of building a fill's jobs).
    fn jobs_as<'py>(&self, py: Python<'py>, cls: &Bound<'py, PyType>) -> PyResult<Bound<'py, PyList>> {
        let slots: Vec<Bound<'py, PyString>> = cls.getattr(intern!(py, "__slots__"))?.extract()?;
        let names: Vec<String> = slots.iter().map(|n| n.to_string()).collect();
        if names != JOB_FIELDS {
            return Err(PyTypeError::new_err(format!(
                "jobs_as needs a slotted class with the fields {JOB_FIELDS:?}, got __slots__ {names:?}"
            )));
        }
        // Only a direct subclass of `object` with no `__new__` of its own is built without one: its slots are
        // then all its instances hold.
        let object = py.get_type::<PyAny>();
        let plain = cls.getattr(intern!(py, "__base__"))?.is(&object)
            && cls.getattr(intern!(py, "__new__"))?.is(&object.getattr(intern!(py, "__new__"))?);
        if !plain {
            return Err(PyTypeError::new_err(
                "jobs_as needs a slotted class deriving from object alone, with no __new__ of its own",
            ));
        }
        let tp = cls.as_type_ptr();
        let jobs = self.job_tuples(py)?;
        let mut out = Vec::with_capacity(jobs.len());
        for job in jobs {
            // SAFETY: `tp` is a live type object (held by `cls`); its `tp_alloc` returns a new reference
            // with every slot NULL, or NULL with an exception set.
            let obj = unsafe {
                let alloc = (*tp).tp_alloc.unwrap_or(ffi::PyType_GenericAlloc);
                Bound::from_owned_ptr_or_err(py, alloc(tp, 0))?
            };
            for (name, value) in slots.iter().zip(job.bind(py).iter()) {
                // SAFETY: every pointer is live. The generic setattr stores through the slot's member
                // descriptor (taking a new reference), past the frozen class's `__setattr__`.
                let rc = unsafe { ffi::PyObject_GenericSetAttr(obj.as_ptr(), name.as_ptr(), value.as_ptr()) };
                if rc != 0 {
                    return Err(PyErr::fetch(py));
                }
            }
            out.push(obj);
        }
        PyList::new(py, out)
    }

    /// Every intent as a new PENDING row of the store, in the order of
    /// `polyhunter.store.base.INSERT_COLUMNS` (a new trade's columns, the intake token, the claim), ready
    /// for `executemany`: claimed by `claimer` (one attempt) when given. Columns a new trade holds at
    /// their defaults (`reorged`, the fill's and the worker's, `tx_hashes`) are left out: each bound value
    /// costs the insert on the hand-off's path.
    #[pyo3(signature = (created_at, expires_at, intake = None, claimer = None))]
    fn rows<'py>(
        &self,
        py: Python<'py>,
        created_at: i64,
        expires_at: i64,
        intake: Option<Bound<'py, PyString>>,
        claimer: Option<Bound<'py, PyString>>,
    ) -> PyResult<Bound<'py, PyList>> {
        let values = self.signal_values(py)?;
        let none = py.None().into_bound(py);
        let pending = PyString::new(py, "PENDING").into_any();
        let zero = 0i64.into_pyobject(py)?.into_any();
        let created = created_at.into_pyobject(py)?.into_any();
        let expires = expires_at.into_pyobject(py)?.into_any();
        let intake = intake.map_or_else(|| none.clone(), |t| t.into_any());
        let (claimed_by, claimed_at, attempts) = match claimer {
            Some(c) => (c.into_any(), created.clone(), 1i64.into_pyobject(py)?.into_any()),
            None => (none.clone(), none.clone(), zero.clone()),
        };
        let jobs = self.job_tuples(py)?;
        let mut rows = Vec::with_capacity(jobs.len());
        for (job, it) in jobs.iter().zip(&self.0.intents) {
            let job = job.bind(py);
            let field = |k: usize| job.get_borrowed_item(k).map(|v| v.to_owned());
            rows.push(PyTuple::new(
                py,
                [
                    field(0)?,
                    field(1)?,
                    field(2)?,
                    field(3)?,
                    field(4)?,
                    values[it.signal as usize].token_text.clone(),
                    field(6)?,
                    field(7)?,
                    field(8)?,
                    field(9)?,
                    field(10)?,
                    field(11)?,
                    field(12)?,
                    field(13)?,
                    field(14)?,
                    pending.clone(),
                    none.clone(),
                    created.clone(),
                    created.clone(),
                    expires.clone(),
                    intake.clone(),
                    claimed_by.clone(),
                    claimed_at.clone(),
                    attempts.clone(),
                ],
            )?);
        }
        PyList::new(py, rows)
    }

    /// Configs of the signals' leaders that gave no intent: `(signal_index, config_id, reason)`.
    #[getter]
    fn skipped(&self) -> Vec<(u32, u64, &'static str)> {
        self.0.skips.iter().map(|s| (s.signal, s.config_id, s.reason.as_str())).collect()
    }

    fn __repr__(&self) -> String {
        format!("Intents({} intents, {} skipped)", self.0.intents.len(), self.0.skips.len())
    }
}

/// Iterator over an `Intents` batch.
#[pyclass(frozen, module = "polyhunter._core")]
pub struct IntentsIter {
    batch: Py<Intents>,
    next: AtomicUsize,
}

#[pymethods]
impl IntentsIter {
    fn __iter__(slf: Bound<'_, Self>) -> Bound<'_, Self> {
        slf
    }

    fn __next__(&self) -> Option<PyCopyIntent> {
        let i = self.next.fetch_add(1, Ordering::Relaxed);
        PyCopyIntent::new(&self.batch.get().0, i)
    }
}

/// Follower configs indexed by leader; turns signals into copy intents. Thread-safe.
#[pyclass(frozen, module = "polyhunter._core", name = "FanoutIndex")]
pub struct PyFanoutIndex(RwLock<FanoutIndex>);

impl PyFanoutIndex {
    fn read(&self) -> std::sync::RwLockReadGuard<'_, FanoutIndex> {
        self.0.read().unwrap_or_else(PoisonError::into_inner)
    }
    fn write(&self) -> std::sync::RwLockWriteGuard<'_, FanoutIndex> {
        self.0.write().unwrap_or_else(PoisonError::into_inner)
    }
}

#[pymethods]
impl PyFanoutIndex {
    #[new]
    fn new() -> Self {
        Self(RwLock::new(FanoutIndex::new()))
    }

    /// Inserts or replaces one config (by `config_id`).
    fn upsert(&self, config: &Bound<'_, PyAny>) -> PyResult<()> {
        let cfg = config_arg(config)?;
        self.write().upsert(cfg).map_err(to_py_err)
    }

    /// Inserts or replaces many configs; all are checked before any is applied. Returns how many.
    fn upsert_many(&self, configs: &Bound<'_, PyAny>) -> PyResult<usize> {
        let configs = configs.try_iter()?.map(|c| config_arg(&c?)).collect::<PyResult<Vec<_>>>()?;
        configs.iter().try_for_each(CopyConfig::validate).map_err(to_py_err)?;
        let mut index = self.write();
        let n = configs.len();
        for cfg in configs {
            index.upsert(cfg).map_err(to_py_err)?;
        }
        Ok(n)
    }

    /// Records Proxy collateral balances for percent sizing (merged into those already recorded).
    fn set_balances(&self, balances: &Bound<'_, PyAny>) -> PyResult<()> {
        let balances = balances_arg(Some(balances))?;
        self.write().set_balances(balances);
        Ok(())
    }

    /// Forgets every recorded balance.
    fn clear_balances(&self) {
        self.write().clear_balances();
    }

    /// Removes a config; False when it was not there.
    fn remove(&self, config_id: u64) -> bool {
        self.write().remove(config_id)
    }

    fn __len__(&self) -> usize {
        self.read().len()
    }

    fn __contains__(&self, config_id: u64) -> bool {
        self.read().contains(config_id)
    }

    /// Leaders with at least one config, lower-case and sorted.
    fn leaders(&self) -> Vec<String> {
        let mut v: Vec<String> = self.read().leaders().map(address_hex).collect();
        v.sort_unstable();
        v
    }

    /// Copy intents for a batch of signals (the matching runs with the GIL released).
    #[pyo3(signature = (signals, balances = None, min_size = None))]
    fn r#match(
        &self,
        py: Python<'_>,
        signals: &Bound<'_, PyAny>,
        balances: Option<&Bound<'_, PyAny>>,
        min_size: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<Intents> {
        let signals = signals
            .try_iter()?
            .map(|s| Ok(s?.cast::<PySignal>()?.get().0.clone()))
            .collect::<PyResult<Vec<_>>>()?;
        let balances = balances_arg(balances)?;
        let min_size = min_size_arg(min_size)?;
        let matched = without_gil(py, || self.read().match_signals(signals, &balances, &min_size));
        Ok(Intents(Arc::new(matched), OnceLock::new(), OnceLock::new()))
    }
}

pub(super) fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<PyFanoutIndex>()?;
    m.add_class::<PyCopyIntent>()?;
    m.add_class::<Intents>()?;
    m.add_class::<IntentsIter>()?;
    Ok(())
}
