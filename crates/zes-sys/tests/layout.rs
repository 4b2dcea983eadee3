//! The ABI description's layouts against the real C headers (Debian's libze-dev, spec 1.4).
//!
//! `layout_check.c` is generated from abi/sysman.json: a `_Static_assert` per struct size,
//! alignment and field offset, and per enum value, of everything that exists in spec 1.4. The
//! Rust declarations are checked against the same numbers at compile time (generated.rs).

use std::path::{Path, PathBuf};
use std::process::Command;

fn header_dir() -> PathBuf {
    let dir = std::env::var_os("ZES_HEADER_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| "/usr/include/level_zero".into());
    assert!(
        dir.join("zes_api.h").exists(),
        "Level Zero headers not found in {} (install libze-dev, or set ZES_HEADER_DIR)",
        dir.display()
    );
    dir
}

fn check_source() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("layout-check/layout_check.c")
}

fn compile(source: &Path) -> std::process::Output {
    let cc = std::env::var("CC").unwrap_or_else(|_| "cc".into());
    Command::new(cc)
        .args(["-std=c11", "-fsyntax-only", "-I"])
        .arg(header_dir())
        .arg(source)
        .output()
        .expect("a C compiler (cc) is needed for the layout check")
}

#[test]
fn layouts_match_the_c_headers() {
    let out = compile(&check_source());
    assert!(out.status.success(), "layout check failed:\n{}", String::from_utf8_lossy(&out.stderr));
    let text = std::fs::read_to_string(check_source()).unwrap();
    assert!(text.matches("CHECK_SIZE(").count() > 60, "too few structs checked");
}

#[test]
fn a_deliberate_mismatch_fails_the_check() {
    let text = std::fs::read_to_string(check_source()).unwrap();
    let needle = "CHECK_OFFSET(zes_device_properties_t, numSubdevices, ";
    let at = text.find(needle).expect("the check covers zes_device_properties_t") + needle.len();
    let end = at + text[at..].find(')').unwrap();
    let wrong: usize = text[at..end].parse::<usize>().unwrap() + 4;
    let broken = format!("{}{}{}", &text[..at], wrong, &text[end..]);
    let dir = std::env::temp_dir().join(format!("zes-layout-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("broken.c");
    std::fs::write(&path, broken).unwrap();
    let out = compile(&path);
    std::fs::remove_dir_all(&dir).ok();
    assert!(!out.status.success(), "a wrong offset compiled");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("offset of zes_device_properties_t.numSubdevices"), "{stderr}");
}

#[test]
fn rust_sizes_of_structs_newer_than_the_headers() {
    // Hand-written from the spec 1.17 text, for structs that spec 1.4 headers lack.
    use core::mem::{offset_of, size_of};
    use zes_sys::*;
    assert_eq!(size_of::<zes_uuid_t>(), 16);
    assert_eq!(size_of::<zes_power_limit_ext_desc_t>(), 48);
    assert_eq!(offset_of!(zes_power_limit_ext_desc_t, interval), 32);
    assert_eq!(offset_of!(zes_power_limit_ext_desc_t, limit), 40);
    assert_eq!(size_of::<zes_engine_ext_properties_t>(), 24);
    assert_eq!(size_of::<zes_subdevice_exp_properties_t>(), 40);
    assert_eq!(offset_of!(zes_subdevice_exp_properties_t, uuid), 20);
}
