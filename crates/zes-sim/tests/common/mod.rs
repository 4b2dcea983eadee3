#![allow(dead_code)]
use std::ffi::{c_char, CString};
use std::path::PathBuf;

/// The built cdylib: next to the test binary's `deps` folder or inside it.
pub fn sim_so() -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    let deps = exe.parent().unwrap();
    for dir in [deps.to_path_buf(), deps.parent().unwrap().to_path_buf()] {
        let p = dir.join("libzes_sim.so");
        if p.exists() {
            return p;
        }
    }
    panic!("libzes_sim.so not found next to {}", exe.display());
}

/// Calls `zesSimControl` of the library instance `lib` (the one the loader or test opened).
pub fn control(lib: &libloading::Library, request: &str) -> Result<serde_json::Value, serde_json::Value> {
    type Ctl = unsafe extern "C" fn(*const c_char, *mut c_char, usize) -> i32;
    // SAFETY: zesSimControl has this signature.
    let f = unsafe { lib.get::<Ctl>(b"zesSimControl\0") }.unwrap();
    let req = CString::new(request).unwrap();
    let mut buf = vec![0u8; 1 << 16];
    // SAFETY: valid request string and buffer.
    let rc = unsafe { f(req.as_ptr(), buf.as_mut_ptr().cast(), buf.len()) };
    assert!(rc <= 0, "reply did not fit: {rc}");
    let end = buf.iter().position(|b| *b == 0).unwrap();
    let v: serde_json::Value = serde_json::from_slice(&buf[..end]).unwrap();
    if rc == 0 {
        Ok(v)
    } else {
        Err(v)
    }
}
