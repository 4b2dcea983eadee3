//! Integration tests against the simulated driver (`crates/zes-sim`), opened directly as a
//! driver library. Ignored until the simulated driver exports its dispatch tables; run with
//! `cargo test -p zes -- --ignored`.

use std::path::PathBuf;
use std::time::Duration;

use zes::{InitPath, Sysman};

fn sim_path() -> PathBuf {
    // The test binary lives in <target>/debug/deps, beside the simulated driver's cdylib.
    let exe = std::env::current_exe().unwrap();
    let dir = exe.parent().unwrap();
    let name = if cfg!(windows) { "zes_sim.dll" } else { "libzes_sim.so" };
    dir.join(name)
}

fn sim() -> Sysman {
    Sysman::builder().library(sim_path()).init().expect("the simulated driver initializes")
}

#[test]
#[ignore = "needs the simulated driver's dispatch tables (crates/zes-sim in progress)"]
fn init_is_idempotent_and_reports_its_path() {
    let a = sim();
    let b = sim();
    assert!(a.same_as(&b));
    assert_eq!(a.library_kind(), Some(zes::sys::LibraryKind::Driver));
    assert_eq!(a.init_path(), InitPath::Zes);
    let legacy = Sysman::builder().library(sim_path()).init_path(InitPath::Legacy).init().unwrap();
    assert_eq!(legacy.init_path(), InitPath::Legacy);
    assert!(!legacy.same_as(&a));
}

#[test]
#[ignore = "needs the simulated driver's dispatch tables (crates/zes-sim in progress)"]
fn devices_have_properties_and_plausible_snapshots() {
    let sysman = sim();
    let devices = sysman.devices().unwrap();
    assert!(!devices.is_empty());
    for device in &devices {
        let p = device.properties().unwrap();
        assert!(!p.name.is_empty());
        assert!(!p.uuid.is_nil());
        assert_eq!(p.vendor_id, 0x8086);
    }
    let snaps = sysman.snapshot_all(Duration::from_millis(50)).unwrap();
    assert_eq!(snaps.len(), devices.len());
    for s in &snaps {
        if let Some(w) = s.power_w.value() {
            assert!(*w >= 0.0 && *w < 2000.0, "{w} W");
        }
        if let Some(u) = s.engine_utilization_pct.value() {
            assert!((0.0..=100.0).contains(u));
        }
        serde_json::to_string(s).unwrap();
    }
}
