//! `pyzes._native`: the native half of the pyzes Python package.
//!
//! It opens the Level Zero library lazily (the loader, a driver file, or the simulated driver
//! linked into this very module), and exposes every C function of the ABI under its C name with
//! its C parameters (the C-mirror API, see `raw`), making the calls itself with the GIL released.
#![deny(unsafe_code)]

use pyo3::prelude::*;
use pyo3::types::PyDict;

// The simulated driver is linked in so that its dispatch-table getters and `zesSimControl` are
// exported by this module: `pyzes.simulate()` opens it in-process, and the real loader can load
// the same file as a driver through `ZE_ENABLE_ALT_DRIVERS`.
use zes_sim as _;

mod metrics;
#[allow(unsafe_code)]
mod raw;
mod state;

/// `ZE_RESULT_ERROR_UNKNOWN`: the code of the exception a panic becomes.
const ZE_RESULT_ERROR_UNKNOWN: u32 = 0x7fff_fffe;

/// The longest snapshot window accepted, seconds (one hour): a window is one sleep with the
/// GIL released; longer ones are almost certainly a unit mistake (ms for s), and `inf`, `1e300`
/// cannot be represented as a `Duration` at all.
const MAX_SNAPSHOT_WINDOW_S: f64 = 3600.0;

/// Runs the body of a `#[pyfunction]`: a panic in it (a bug) becomes `pyzes.UnknownError`, a
/// `ZesError` naming the function, never a `pyo3_runtime.PanicException` (which is not an
/// `Exception` and escapes `except Exception`).
pub(crate) fn guard<T>(py: Python<'_>, function: &str, body: impl FnOnce() -> PyResult<T>) -> PyResult<T> {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(body)).unwrap_or_else(|payload| {
        let message = LAST_PANIC.with(|last| last.borrow_mut().take()).unwrap_or_else(|| {
            payload
                .downcast_ref::<&str>()
                .map(|s| (*s).to_owned())
                .or_else(|| payload.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "a panic without a message".into())
        });
        Err(internal_error(py, function, &format!("internal error (a bug in pyzes): {message}")))
    })
}

thread_local! {
    /// The last panic of this thread, with its location, kept by the hook for [`guard`].
    static LAST_PANIC: std::cell::RefCell<Option<String>> = const { std::cell::RefCell::new(None) };
}

/// Replaces the printing panic hook of this module's Rust code (the module carries its own
/// copy of the standard library, so nothing else in the process is affected): a library does
/// not write to stderr; the panic and its location reach Python through [`guard`] instead.
fn keep_panics_for_guard() {
    std::panic::set_hook(Box::new(|info| {
        let text = info.to_string();
        LAST_PANIC.with(|last| *last.borrow_mut() = Some(text));
    }));
}

/// `pyzes.errors.error_for(ZE_RESULT_ERROR_UNKNOWN, function, detail)`; a `RuntimeError` when
/// the Python package is not importable (the native module used on its own).
fn internal_error(py: Python<'_>, function: &str, detail: &str) -> PyErr {
    let made = py
        .import("pyzes.errors")
        .and_then(|errors| errors.getattr("error_for")?.call1((ZE_RESULT_ERROR_UNKNOWN, function, detail)));
    match made {
        Ok(exception) => PyErr::from_value(exception),
        Err(_) => pyo3::exceptions::PyRuntimeError::new_err(format!("{function}: {detail}")),
    }
}

/// A snapshot window from Python seconds: finite, from 0 to [`MAX_SNAPSHOT_WINDOW_S`].
fn snapshot_window(interval_s: f64) -> PyResult<std::time::Duration> {
    if !(0.0..=MAX_SNAPSHOT_WINDOW_S).contains(&interval_s) {
        return Err(pyo3::exceptions::PyValueError::new_err(format!(
            "interval: expected a number of seconds from 0 to {MAX_SNAPSHOT_WINDOW_S}, got {interval_s}"
        )));
    }
    Ok(std::time::Duration::from_secs_f64(interval_s))
}

/// Selects the library to open instead of the default search (None: default search). Only
/// before the first call that needs the library.
#[pyfunction]
#[pyo3(signature = (path=None))]
fn use_library(py: Python<'_>, path: Option<String>) -> PyResult<()> {
    guard(py, "use_library", || state::select(path).map_err(pyo3::exceptions::PyRuntimeError::new_err))
}

/// Opens the library now (if not yet open): None on success, else the reason.
#[pyfunction]
fn load(py: Python<'_>) -> PyResult<Option<String>> {
    guard(py, "load", || Ok(state::library(py, true).err().map(|_| state::last_error().unwrap_or_default())))
}

/// Why the library could not be loaded (every candidate tried), or None.
#[pyfunction]
fn last_load_error(py: Python<'_>) -> PyResult<Option<String>> {
    guard(py, "last_load_error", || Ok(state::last_error()))
}

/// A description of the opened library: path, kind, loader version, whether the legacy
/// (zeInit + ZES_ENABLE_SYSMAN) path is in use. None when nothing is open.
#[pyfunction]
fn library_info(py: Python<'_>) -> PyResult<Option<Bound<'_, PyDict>>> {
    guard(py, "library_info", || {
        let Some(lib) = state::loaded() else { return Ok(None) };
        let d = PyDict::new(py);
        d.set_item("path", lib.path().to_string_lossy().into_owned())?;
        d.set_item("kind", format!("{:?}", lib.kind()).to_lowercase())?;
        d.set_item("loader_version", lib.loader_version())?;
        d.set_item("legacy", state::is_legacy())?;
        d.set_item("has_zesInit", lib.functions().zesInit.is_some())?;
        Ok(Some(d))
    })
}

/// Sends one JSON request to the simulated driver linked into this module and returns its reply.
#[pyfunction]
fn sim_control(py: Python<'_>, request: String) -> PyResult<String> {
    guard(py, "sim_control", || {
        py.allow_threads(|| zes_sim::control(&request)).map_err(pyo3::exceptions::PyValueError::new_err)
    })
}

/// A snapshot taken by the safe Rust API (`zes` crate) over one `interval_s` window, as JSON text
/// (a list of `zes::DeviceSnapshot`): of every device, one thread per device, or of the device of
/// that index. The Pythonic snapshots are built on it.
///
/// `interval_s` must be finite, from 0 to 3600 (`ValueError` otherwise).
#[pyfunction]
#[pyo3(signature = (interval_s=0.0, device=None))]
fn snapshot_json(py: Python<'_>, interval_s: f64, device: Option<usize>) -> PyResult<String> {
    guard(py, "snapshot_json", || {
        let window = snapshot_window(interval_s)?;
        take_snapshot(py, window, device)
    })
}

fn take_snapshot(py: Python<'_>, window: std::time::Duration, device: Option<usize>) -> PyResult<String> {
    static SYSMAN: std::sync::OnceLock<zes::Sysman> = std::sync::OnceLock::new();
    let lib = state::library(py, true).map_err(|rc| {
        let reason = state::last_error().unwrap_or_else(|| format!("{rc:?}"));
        pyo3::exceptions::PyOSError::new_err(reason)
    })?;
    py.allow_threads(|| {
        let sysman = match SYSMAN.get() {
            Some(s) => s,
            None => {
                // `lib` lives in a static and is never unloaded.
                let s =
                    zes::Sysman::from_static_library(lib, zes::InitPath::Auto).map_err(|e| e.to_string())?;
                SYSMAN.get_or_init(|| s)
            }
        };
        let snaps = match device {
            None => sysman.snapshot_all(window).map_err(|e| e.to_string())?,
            Some(index) => {
                let devices = sysman.devices().map_err(|e| e.to_string())?;
                let device = devices.get(index).ok_or_else(|| format!("no device of index {index}"))?;
                let mut snap = device.snapshot(window);
                snap.index = index;
                vec![snap]
            }
        };
        serde_json::to_string(&snaps).map_err(|e| e.to_string())
    })
    .map_err(pyo3::exceptions::PyRuntimeError::new_err)
}

/// Runs the `zes-smi` command line (`argv` with the program name first) and returns its exit
/// code; the Python package's `zes-smi` console script calls this.
#[pyfunction]
fn zes_smi(py: Python<'_>, argv: Vec<String>) -> PyResult<i32> {
    guard(py, "zes_smi", || {
        Ok(py.allow_threads(|| zes_cli::run(argv.into_iter().map(std::ffi::OsString::from))))
    })
}

/// How many distinct handles the library has returned so far (tracked to reject foreign ones).
#[pyfunction]
fn tracked_handles(py: Python<'_>) -> PyResult<usize> {
    guard(py, "tracked_handles", || Ok(raw::tracked_handle_count()))
}

/// Panics inside [`guard`] with `message`: lets the tests see that a panic arrives as
/// `pyzes.UnknownError`, not as a `PanicException`.
#[pyfunction]
fn _panic_for_tests(py: Python<'_>, message: String) -> PyResult<()> {
    guard(py, "_panic_for_tests", || std::panic::panic_any(message))
}

#[pymodule]
fn _native(m: &Bound<'_, PyModule>) -> PyResult<()> {
    keep_panics_for_guard();
    m.add_function(wrap_pyfunction!(use_library, m)?)?;
    m.add_function(wrap_pyfunction!(load, m)?)?;
    m.add_function(wrap_pyfunction!(last_load_error, m)?)?;
    m.add_function(wrap_pyfunction!(library_info, m)?)?;
    m.add_function(wrap_pyfunction!(sim_control, m)?)?;
    m.add_function(wrap_pyfunction!(tracked_handles, m)?)?;
    m.add_function(wrap_pyfunction!(_panic_for_tests, m)?)?;
    m.add("MAX_SNAPSHOT_WINDOW_S", MAX_SNAPSHOT_WINDOW_S)?;
    m.add_function(wrap_pyfunction!(snapshot_json, m)?)?;
    m.add_function(wrap_pyfunction!(zes_smi, m)?)?;
    m.add_function(wrap_pyfunction!(raw::_register_types, m)?)?;
    m.add_function(wrap_pyfunction!(raw::_driver_floor_ns, m)?)?;
    metrics::register(m)?;
    raw::generated::register(m)?;
    m.add(
        "_simulated_driver_entry_points",
        std::hint::black_box(raw::generated::simulated_driver_exports()).len(),
    )?;
    Ok(())
}
