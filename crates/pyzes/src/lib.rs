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

/// Selects the library to open instead of the default search (None: default search). Only
/// before the first call that needs the library.
#[pyfunction]
#[pyo3(signature = (path=None))]
fn use_library(path: Option<String>) -> PyResult<()> {
    state::select(path).map_err(pyo3::exceptions::PyRuntimeError::new_err)
}

/// Opens the library now (if not yet open): None on success, else the reason.
#[pyfunction]
fn load(py: Python<'_>) -> Option<String> {
    state::library(py, true).err().map(|_| state::last_error().unwrap_or_default())
}

/// Why the library could not be loaded (every candidate tried), or None.
#[pyfunction]
fn last_load_error() -> Option<String> {
    state::last_error()
}

/// A description of the opened library: path, kind, loader version, whether the legacy
/// (zeInit + ZES_ENABLE_SYSMAN) path is in use. None when nothing is open.
#[pyfunction]
fn library_info(py: Python<'_>) -> PyResult<Option<Bound<'_, PyDict>>> {
    let Some(lib) = state::loaded() else { return Ok(None) };
    let d = PyDict::new(py);
    d.set_item("path", lib.path().to_string_lossy().into_owned())?;
    d.set_item("kind", format!("{:?}", lib.kind()).to_lowercase())?;
    d.set_item("loader_version", lib.loader_version())?;
    d.set_item("legacy", state::is_legacy())?;
    d.set_item("has_zesInit", lib.functions().zesInit.is_some())?;
    Ok(Some(d))
}

/// Sends one JSON request to the simulated driver linked into this module and returns its reply.
#[pyfunction]
fn sim_control(py: Python<'_>, request: String) -> PyResult<String> {
    py.allow_threads(|| zes_sim::control(&request)).map_err(pyo3::exceptions::PyValueError::new_err)
}

/// A snapshot taken by the safe Rust API (`zes` crate) over one `interval_s` window, as JSON text
/// (a list of `zes::DeviceSnapshot`): of every device, one thread per device, or of the device of
/// that index. The Pythonic snapshots are built on it.
#[pyfunction]
#[pyo3(signature = (interval_s=0.0, device=None))]
fn snapshot_json(py: Python<'_>, interval_s: f64, device: Option<usize>) -> PyResult<String> {
    static SYSMAN: std::sync::OnceLock<zes::Sysman> = std::sync::OnceLock::new();
    let lib = state::library(py, true).map_err(|rc| {
        let reason = state::last_error().unwrap_or_else(|| format!("{rc:?}"));
        pyo3::exceptions::PyOSError::new_err(reason)
    })?;
    let window = std::time::Duration::from_secs_f64(interval_s.max(0.0));
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
fn zes_smi(py: Python<'_>, argv: Vec<String>) -> i32 {
    py.allow_threads(|| zes_cli::run(argv.into_iter().map(std::ffi::OsString::from)))
}

/// How many distinct handles the library has returned so far (tracked to reject foreign ones).
#[pyfunction]
fn tracked_handles() -> usize {
    raw::tracked_handle_count()
}

#[pymodule]
fn _native(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(use_library, m)?)?;
    m.add_function(wrap_pyfunction!(load, m)?)?;
    m.add_function(wrap_pyfunction!(last_load_error, m)?)?;
    m.add_function(wrap_pyfunction!(library_info, m)?)?;
    m.add_function(wrap_pyfunction!(sim_control, m)?)?;
    m.add_function(wrap_pyfunction!(tracked_handles, m)?)?;
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
