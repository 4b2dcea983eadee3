//! Through Debian's real Level Zero loader (`libze_loader.so.1` 1.8.12, spec 1.4), in child
//! processes (the loader reads its settings once per process), with the simulated driver as its
//! alternative driver: plainly and with the validation layer. On this loader `Auto` must take the
//! legacy path. A missing loader fails these tests (scripts/setup.sh installs it).

use std::time::Duration;

use zes::sys::LibraryKind;
use zes::{InitPath, Sysman};

const CHILD: &str = "ZES_TEST_LOADER_CHILD";
const LOADER: &str = "libze_loader.so.1";

fn run_child(extra: &[(&str, &str)]) {
    zes_sim::testing::run_in_loader_child("child_through_the_loader", CHILD, extra);
}

#[test]
fn through_the_loader_plain() {
    run_child(&[]);
}

#[test]
fn through_the_loader_with_validation() {
    run_child(&[("ZE_ENABLE_VALIDATION_LAYER", "1"), ("ZE_ENABLE_PARAMETER_VALIDATION", "1")]);
}

#[test]
#[ignore = "runs in a child process started by the through_the_loader_* tests"]
fn child_through_the_loader() {
    assert!(std::env::var_os(CHILD).is_some(), "needs the loader environment its parent sets");
    let sysman = Sysman::builder().library(LOADER).init().expect("initializes through the loader");
    assert_eq!(sysman.library_kind(), Some(LibraryKind::Loader));
    assert_eq!(sysman.init_path(), InitPath::Legacy, "a spec 1.4 loader has no zesInit");
    assert!(!sysman.has_function("zesInit"));
    assert_eq!(std::env::var("ZES_ENABLE_SYSMAN").as_deref(), Ok("1"));
    let version = sysman.loader_version().expect("the loader reports its version after zeInit");
    assert!(version.starts_with("1.8"), "{version}");

    let devices = sysman.devices().unwrap();
    let names: Vec<String> = devices.iter().map(|d| d.properties().unwrap().name).collect();
    assert_eq!(
        names,
        [
            "Intel(R) Data Center GPU Max 1550",
            "Intel(R) Data Center GPU Max 1550",
            "Intel(R) Arc(TM) A770 Graphics"
        ]
    );
    let a770 = &devices[2];
    let props = a770.properties().unwrap();
    assert_eq!((props.vendor_id, props.device_id), (0x8086, 0x56a0));
    let total: u64 = devices[0].memory_modules().unwrap().iter().map(|m| m.state().unwrap().size).sum();
    assert_eq!(total, 128 << 30);
    assert_eq!(a770.fans().unwrap().len(), 1);

    // Default workload: 30 % compute, 5 % copy on every device; one process per device.
    let snaps = sysman.snapshot_all(Duration::from_millis(60)).unwrap();
    assert_eq!(snaps.len(), 3);
    for s in &snaps {
        let w = *s.power_w.value().unwrap_or_else(|| panic!("{:?}", s.power_w));
        assert!(w > 10.0 && w < 600.0, "{w} W");
        let engines = s.engines.value().unwrap();
        let compute: Vec<f64> = engines
            .iter()
            .filter(|e| e.group == "COMPUTE_ALL")
            .map(|e| *e.utilization_pct.value().unwrap())
            .collect();
        assert!(!compute.is_empty());
        for c in compute {
            assert!((c - 30.0).abs() < 1.0, "compute {c} %");
        }
        assert_eq!(s.processes.value().unwrap().len(), 1);
        let temps = s.temperatures.value().unwrap();
        assert!(temps.iter().all(|t| t.celsius.value().is_some_and(|c| *c > 20.0 && *c < 110.0)));
        assert!(s.memory.value().unwrap().iter().all(|m| m.used_bytes.value().is_some()));
    }
    println!("loader {version}, path {}", sysman.init_path());
}
