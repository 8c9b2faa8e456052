//! Maps [`CoreError`] onto the exception tree defined in `polyhunter.errors`.
//!
//! The tree lives in Python (one source of truth, importable without the extension); the classes are
//! looked up once and cached.

use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::PyType;

use crate::error::CoreError;

static DECODE_ERROR: PyOnceLock<Py<PyType>> = PyOnceLock::new();
static INVALID_INPUT: PyOnceLock<Py<PyType>> = PyOnceLock::new();

fn class<'py>(
    py: Python<'py>,
    cell: &'static PyOnceLock<Py<PyType>>,
    name: &str,
) -> PyResult<&'py Bound<'py, PyType>> {
    cell.get_or_try_init(py, || {
        py.import("polyhunter.errors")?
            .getattr(name)?
            .cast_into::<PyType>()
            .map(Bound::unbind)
            .map_err(Into::into)
    })
    .map(|t| t.bind(py))
}

/// Converts a core error into the matching `polyhunter.errors` exception.
pub fn to_py_err(err: CoreError) -> PyErr {
    Python::attach(|py| {
        let (cell, name, msg) = match err {
            CoreError::Decode(msg) => (&DECODE_ERROR, "DecodeError", msg),
            CoreError::InvalidInput(msg) => (&INVALID_INPUT, "InvalidInputError", msg),
        };
        match class(py, cell, name) {
            Ok(cls) => PyErr::from_type(cls.clone(), msg),
            // Only when polyhunter.errors itself cannot be imported; still a ValueError for callers.
            Err(_) => PyValueError::new_err(msg),
        }
    })
}
