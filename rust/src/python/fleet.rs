//! Bindings of `crate::fleet`: `derive_signers`.

use pyo3::prelude::*;

use super::signer::PySigner;
use super::{to_py_err, without_gil};
use crate::fleet;

/// Signers at m/44'/60'/0'/0/start … start+count-1 of an English BIP-39 mnemonic (+ optional passphrase).
#[pyfunction]
#[pyo3(signature = (mnemonic, count, *, passphrase = "", start = 0))]
fn derive_signers(
    py: Python<'_>,
    mnemonic: &str,
    count: u32,
    passphrase: &str,
    start: u32,
) -> PyResult<Vec<PySigner>> {
    // PBKDF2's 2048 rounds and one derivation per signer: milliseconds, so other threads run meanwhile.
    let signers =
        without_gil(py, || fleet::derive_signers(mnemonic, passphrase, start, count)).map_err(to_py_err)?;
    Ok(signers.into_iter().map(|inner| PySigner { inner }).collect())
}

pub(super) fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add("FLEET_ACCOUNT_PATH", fleet::ACCOUNT_PATH)?;
    m.add_function(wrap_pyfunction!(derive_signers, m)?)?;
    Ok(())
}
