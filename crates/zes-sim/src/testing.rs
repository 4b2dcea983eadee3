//! Support for tests that use the simulator as a separate library file, the way programs meet a
//! driver: where cargo put the built cdylib, the control API of that very instance, and child
//! processes that run one test through the real Level Zero loader (which reads its settings once
//! per process). Used by the tests of zes-sim, zes and the bindings.

use std::ffi::{c_char, CString};
use std::path::PathBuf;
use std::process::Command;

/// The environment variables that steer the simulator or the library choice: a test that
/// starts a process removes them, so that the machine it meets is the one the test sets up.
pub const SETTINGS: &[&str] = &[
    "ZES_LIBRARY",
    "ZES_SIM_CONFIG",
    "ZES_SIM_PRESET",
    "ZES_SIM_FAULTS",
    "ZES_SIM_UNPRIVILEGED",
    "ZES_SIM_LATENCY_US",
    "ZES_SIM_CLOCK",
];

/// File name of the simulator's cdylib on this platform.
pub const LIBRARY_NAME: &str = if cfg!(windows) { "zes_sim.dll" } else { "libzes_sim.so" };

/// The simulated driver's cdylib beside the running test binary (cargo builds it in the target
/// directory's `deps` folder, and copies it one level up). Panics when it is missing.
pub fn library_path() -> PathBuf {
    let exe = std::env::current_exe().expect("the test binary's path");
    let deps = exe.parent().expect("the test binary's folder");
    for dir in [Some(deps), deps.parent()].into_iter().flatten() {
        let candidate = dir.join(LIBRARY_NAME);
        if candidate.exists() {
            return candidate;
        }
    }
    panic!("{LIBRARY_NAME} not found next to {}", exe.display());
}

/// Sends one JSON request to `zesSimControl` of the instance `lib` is (a test that opened the
/// library file, or the file the loader loaded: the dynamic linker hands out one instance per
/// path). `Ok` with the reply, `Err` with the `{"error": ...}` reply.
pub fn control(lib: &libloading::Library, request: &str) -> Result<serde_json::Value, serde_json::Value> {
    type Control = unsafe extern "C" fn(*const c_char, *mut c_char, usize) -> i32;
    // SAFETY: `zesSimControl` is exported by the simulator with this signature (control.rs).
    let control = unsafe { lib.get::<Control>(b"zesSimControl\0") }.expect("zesSimControl is exported");
    let request_c = CString::new(request).expect("a request without NUL bytes");
    let mut reply = vec![0u8; 1 << 20];
    // SAFETY: a NUL-terminated request and a writable buffer of the size passed.
    let rc = unsafe { control(request_c.as_ptr(), reply.as_mut_ptr().cast(), reply.len()) };
    assert!(rc <= 0, "the reply to {request} needs {rc} bytes");
    let end = reply.iter().position(|b| *b == 0).expect("a NUL-terminated reply");
    let value: serde_json::Value = serde_json::from_slice(&reply[..end]).expect("a JSON reply");
    if rc == 0 {
        Ok(value)
    } else {
        Err(value)
    }
}

/// Runs the `#[ignore]`d test `test` of the current test binary in a child process whose Level
/// Zero loader loads the simulator (`ZE_ENABLE_ALT_DRIVERS`), with the simulator's own settings
/// cleared, `flag=1` set (so the child can tell it is one) and `extra` added. Asserts that the
/// child ran that one test and passed. Debian's `libze_loader.so.1` must be installed: its absence
/// fails the test.
pub fn run_in_loader_child(test: &str, flag: &str, extra: &[(&str, &str)]) {
    assert!(
        zes_sys::Library::open_path(std::path::Path::new("libze_loader.so.1")).is_ok(),
        "libze_loader.so.1 not found: install libze1 (scripts/setup.sh)"
    );
    let mut cmd = Command::new(std::env::current_exe().expect("the test binary's path"));
    cmd.args(["--exact", test, "--ignored", "--nocapture", "--test-threads=1"])
        .env(flag, "1")
        .env("ZE_ENABLE_ALT_DRIVERS", library_path());
    cmd.env_remove("ZES_ENABLE_SYSMAN");
    for var in SETTINGS {
        cmd.env_remove(var);
    }
    // Also every instance's own form of them (`ZES_SIM_PRESET_<file stem>`...).
    for (var, _) in std::env::vars_os() {
        if var.to_string_lossy().starts_with("ZES_SIM_") {
            cmd.env_remove(var);
        }
    }
    for (key, value) in extra {
        cmd.env(key, value);
    }
    let out = cmd.output().expect("the child test process runs");
    let text = format!("{}\n{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "child {test} failed ({extra:?}):\n{text}");
    assert!(text.contains("1 passed"), "child {test} did not run ({extra:?}):\n{text}");
}
