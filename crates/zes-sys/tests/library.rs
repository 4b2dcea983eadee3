//! Opening libraries: the real loader where installed, and the errors when none fits.

use std::path::Path;
use zes_sys::{Library, LibraryKind};

#[test]
fn an_absent_library_is_a_clear_error_naming_what_was_tried() {
    let err = Library::open(Some(Path::new("/nonexistent/libze_loader.so.1"))).unwrap_err();
    assert_eq!(err.tried.len(), 1);
    assert_eq!(err.tried[0].0, "/nonexistent/libze_loader.so.1");
    let text = err.to_string();
    assert!(text.contains("/nonexistent/libze_loader.so.1"), "{text}");
    assert!(text.contains("install the Level Zero loader"), "{text}");
}

#[cfg(target_os = "linux")]
#[test]
fn a_library_that_is_not_level_zero_is_refused() {
    let err = Library::open_path(Path::new("libc.so.6")).unwrap_err();
    assert!(err.contains("neither a Level Zero loader"), "{err}");
}

/// Debian's libze1 (installed by .ci/run) is found through the dynamic linker's normal search.
#[cfg(target_os = "linux")]
#[test]
fn the_real_loader_is_found_and_its_functions_resolved_one_by_one() {
    let lib = Library::open_path(Path::new("libze_loader.so.1")).expect("libze1 must be installed");
    assert_eq!(lib.kind(), LibraryKind::Loader);
    let functions = lib.functions();
    assert!(functions.zeInit.is_some());
    assert!(functions.zesDeviceGetProperties.is_some());
    assert!(functions.zesPowerGetLimitsExt.is_some(), "spec 1.4 function");
    // Each symbol is resolved on its own: a spec 1.4 loader (Debian bookworm's 1.8.12) lacks the
    // three 1.5 entry points together and still serves all the others.
    let has_15 = functions.zesInit.is_some();
    assert_eq!(functions.has("zesDriverGet"), has_15);
    assert_eq!(functions.has("zesDeviceGet"), has_15);
    // Loaders list their components (and so their version) only once a driver was loaded.
    // SAFETY: zeInit(0) is valid on any loader; with no GPU driver it fails cleanly.
    let result = unsafe { functions.zeInit.unwrap()(zes_sys::ze_init_flags_t(0)) };
    if !result.is_success() {
        assert_eq!(lib.loader_version(), None);
    }
}
