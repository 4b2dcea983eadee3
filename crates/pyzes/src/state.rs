//! Which library is open: chosen before first use, opened once, never closed.

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, OnceLock};

use pyo3::Python;
use zes_sys::{ze_result_t, Library};

static LIBRARY: OnceLock<Library> = OnceLock::new();
static LOAD: Mutex<Load> = Mutex::new(Load { explicit: None, error: None, failed: false });
static LEGACY: AtomicBool = AtomicBool::new(false);

struct Load {
    explicit: Option<PathBuf>,
    error: Option<String>,
    failed: bool,
}

fn lock() -> std::sync::MutexGuard<'static, Load> {
    LOAD.lock().unwrap_or_else(|p| p.into_inner())
}

/// The open library, opening it on first use. After a failed attempt only the init functions
/// (`retry`) try again; the others answer `ZE_RESULT_ERROR_UNINITIALIZED` at once.
pub(crate) fn library(py: Python<'_>, retry: bool) -> Result<&'static Library, ze_result_t> {
    if let Some(lib) = LIBRARY.get() {
        return Ok(lib);
    }
    py.allow_threads(|| {
        let mut load = lock();
        if let Some(lib) = LIBRARY.get() {
            return Ok(lib);
        }
        if load.failed && !retry {
            return Err(zes_sys::ZE_RESULT_ERROR_UNINITIALIZED);
        }
        let opened = match &load.explicit {
            Some(path) => Library::open_path(path).map_err(|e| format!("{}: {e}", path.display())),
            None => Library::open(None).map_err(|e| e.to_string()),
        };
        match opened {
            Ok(lib) => {
                load.error = None;
                load.failed = false;
                Ok(LIBRARY.get_or_init(|| lib))
            }
            Err(e) => {
                load.error = Some(e);
                load.failed = true;
                Err(zes_sys::ZE_RESULT_ERROR_UNINITIALIZED)
            }
        }
    })
}

pub(crate) fn loaded() -> Option<&'static Library> {
    LIBRARY.get()
}

pub(crate) fn select(path: Option<String>) -> Result<(), String> {
    let mut load = lock();
    let wanted = path.map(PathBuf::from);
    if let Some(lib) = LIBRARY.get() {
        return match &wanted {
            Some(p) if p.as_path() == lib.path() => Ok(()),
            None => Ok(()),
            Some(p) => Err(format!(
                "the Level Zero library is already open ({}); cannot switch to {} in this process",
                lib.path().display(),
                p.display()
            )),
        };
    }
    load.explicit = wanted;
    load.failed = false;
    Ok(())
}

pub(crate) fn last_error() -> Option<String> {
    lock().error.clone()
}

pub(crate) fn set_legacy() {
    LEGACY.store(true, Ordering::Relaxed);
}

pub(crate) fn is_legacy() -> bool {
    LEGACY.load(Ordering::Relaxed)
}
