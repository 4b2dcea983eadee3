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
    // Loaders list their components (and so their version) once a driver was loaded; some
    // (1.32) also after a failed zeInit, older ones (1.8.12) not. What a loader reports must be
    // consistent with what it exports: spec 1.5 brought zesInit.
    // SAFETY: zeInit(0) is valid on any loader; with no GPU driver it fails cleanly.
    let _ = unsafe { functions.zeInit.unwrap()(zes_sys::ze_init_flags_t(0)) };
    if let Some(spec) = lib.loader_spec_version() {
        assert_eq!(has_15, spec >= (1, 5), "spec {spec:?} vs the zesInit export");
        let version = lib.loader_version().expect("a spec version comes with a version");
        let parts: Vec<u32> = version.split('.').map(|p| p.parse().expect("a numeric version")).collect();
        assert_eq!(parts.len(), 3, "{version}");
    } else {
        assert_eq!(lib.loader_version(), None);
    }
}

/// An explicit path gets its loader's own directory for the layers (`ZEL_LIBRARY_PATH`), and
/// gives it back when the file is not a loader. Run in a child process: it changes the
/// environment of the process.
#[cfg(target_os = "linux")]
#[test]
fn an_explicit_loader_path_gets_its_directory_for_its_layers() {
    let child = std::env::var_os("ZES_SYS_TEST_LAYER_CHILD").is_some();
    if !child {
        let out = std::process::Command::new(std::env::current_exe().unwrap())
            .args(["--exact", "an_explicit_loader_path_gets_its_directory_for_its_layers", "--nocapture"])
            .env("ZES_SYS_TEST_LAYER_CHILD", "1")
            .env_remove(zes_sys::library::LAYER_PATH_ENV_VAR)
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success() && text.contains("1 passed"), "{text}");
        return;
    }
    let var = zes_sys::library::LAYER_PATH_ENV_VAR;
    // A bare name is searched for by the dynamic linker: nothing is set.
    let bare = Library::open_path(Path::new("libze_loader.so.1")).expect("libze1 must be installed");
    assert_eq!(std::env::var_os(var), None);
    // The same loader through a path with a directory (a symlink's directory counts as given).
    let dir = tempdir();
    let explicit = dir.join("libze_loader.so.1");
    std::os::unix::fs::symlink(installed_loader(), &explicit).unwrap();
    let lib = Library::open_path(&explicit).unwrap();
    assert_eq!(lib.kind(), LibraryKind::Loader);
    assert_eq!(
        std::env::var_os(var).map(std::path::PathBuf::from),
        Some(std::fs::canonicalize(&dir).unwrap())
    );
    // A file that is not a loader leaves the variable as it found it.
    std::env::remove_var(var);
    assert!(Library::open_path(&dir.join("missing.so")).is_err());
    assert_eq!(std::env::var_os(var), None);
    // The user's own setting wins.
    std::env::set_var(var, "/users/choice");
    Library::open_path(&explicit).unwrap();
    assert_eq!(std::env::var(var).as_deref(), Ok("/users/choice"));
    drop((bare, lib));
}

/// An init failure names the library, its version, the likely cause and the fix.
#[cfg(target_os = "linux")]
#[test]
fn an_init_failure_says_what_to_do() {
    let lib = Library::open_path(Path::new("libze_loader.so.1")).expect("libze1 must be installed");
    let text = lib.init_failure_message("zesInit", zes_sys::ZE_RESULT_ERROR_UNSUPPORTED_VERSION);
    assert!(text.starts_with("zesInit of libze_loader.so.1 (loader "), "{text}");
    assert!(text.contains("ERROR_UNSUPPORTED_VERSION"), "{text}");
    assert!(text.contains("a tracing or validation layer of another version"), "{text}");
    assert!(text.contains("set ZEL_LIBRARY_PATH"), "{text}");
    let text = lib.init_failure_message("zeInit", zes_sys::ZE_RESULT_ERROR_UNINITIALIZED);
    assert!(text.contains("no GPU driver"), "{text}");
    assert!(text.contains("ZE_ENABLE_ALT_DRIVERS"), "{text}");
}

#[cfg(target_os = "linux")]
fn installed_loader() -> std::path::PathBuf {
    // The file the dynamic linker found, as /proc/self/maps shows it.
    let maps = std::fs::read_to_string("/proc/self/maps").unwrap();
    let line = maps.lines().find(|l| l.contains("libze_loader.so")).expect("the loader is mapped");
    std::path::PathBuf::from(line.split_whitespace().last().unwrap())
}

#[cfg(target_os = "linux")]
fn tempdir() -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("zes-sys-layers-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}
