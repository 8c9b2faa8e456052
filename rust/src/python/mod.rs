//! The PyO3 skin: `polyhunter._core`. Converts types and errors; holds no domain logic.

use pyo3::prelude::*;

mod errors;
mod hash;

// Log decoding, dedup, shards, fan-out, caches (issue 3, items 1-5).
mod cache;
mod dedup;
mod fanout;
mod logs;
mod primitives;
// Signing and the fleet (issue 3, items 6-7).
mod eip712;
mod fleet;
// Pending matchOrders calls (issue 13).
mod calldata;
mod feed;
mod orders;
mod signer;
mod tx;

pub use errors::to_py_err;

/// Runs `f` with the GIL released; the one helper every long call goes through.
#[allow(dead_code)]
pub(crate) fn without_gil<T, F>(py: Python<'_>, f: F) -> T
where
    F: FnOnce() -> T + Send,
    T: Send,
{
    py.detach(f)
}

#[pymodule]
fn _core(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add("__version__", crate::VERSION)?;
    hash::register(m)?;
    // Log decoding, dedup, shards, fan-out, caches (issue 3, items 1-5).
    logs::register(m)?;
    dedup::register(m)?;
    cache::register(m)?;
    fanout::register(m)?;
    // Signing and the fleet (issue 3, items 6-7).
    signer::register(m)?;
    tx::register(m)?;
    eip712::register(m)?;
    fleet::register(m)?;
    // CLOB V2 market orders (issue 12).
    orders::register(m)?;
    // Pending matchOrders calls (issue 13).
    calldata::register(m)?;
    // The activity feed's frames (issue 13).
    feed::register(m)?;
    Ok(())
}
