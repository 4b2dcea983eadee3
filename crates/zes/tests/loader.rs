//! Through the installed real Level Zero loader (`libze_loader.so.1`: Debian bookworm's 1.8.12,
//! spec 1.4, takes the legacy path; trixie's 1.20.6 and later take the zesInit path), in child
//! processes (the loader reads its settings once per process), with the simulated driver as its
//! alternative driver, in every mode a user's stack can put the loader in: plain, intercept
//! layer, validation layer (also with threading validation) and two drivers. The path `Auto`
//! must take is read from the loader itself (its spec version and its `zesInit` export), never
//! assumed; `ZES_TEST_EXPECT_LOADER_VERSION` (set by scripts/test.sh) pins the version (or `major.minor`)
//! the run is meant to meet. A missing loader fails these tests (scripts/setup.sh installs it).

use std::path::Path;
use std::time::Duration;

use zes::sys::{Library, LibraryKind};
use zes::{InitPath, Sysman};

const CHILD: &str = "ZES_TEST_LOADER_CHILD";
const LOADER: &str = "libze_loader.so.1";
/// Set by the parent for the child: how many copies of the simulated driver the loader loads.
const DRIVERS: &str = "ZES_TEST_LOADER_DRIVERS";

fn run_child(extra: &[(&str, &str)]) {
    zes_sim::testing::run_in_loader_child("child_through_the_loader", CHILD, extra);
}

#[test]
fn through_the_loader_plain() {
    run_child(&[]);
}

#[test]
fn through_the_loader_with_intercept() {
    run_child(&[("ZE_ENABLE_LOADER_INTERCEPT", "1")]);
}

#[test]
fn through_the_loader_with_validation() {
    run_child(&[("ZE_ENABLE_VALIDATION_LAYER", "1"), ("ZE_ENABLE_PARAMETER_VALIDATION", "1")]);
}

#[test]
fn through_the_loader_with_threading_validation() {
    run_child(&[
        ("ZE_ENABLE_VALIDATION_LAYER", "1"),
        ("ZE_ENABLE_PARAMETER_VALIDATION", "1"),
        ("ZE_ENABLE_THREADING_VALIDATION", "1"),
    ]);
}

/// Two drivers: the simulator's file and a copy of it under another name (the dynamic linker
/// gives each file its own instance); the loader then wraps every handle, as on a machine with
/// two GPU drivers. Both instances model the default machine.
#[test]
fn through_the_loader_with_two_drivers() {
    let first = zes_sim::testing::library_path();
    let second = first.with_file_name(format!("second-{}", zes_sim::testing::LIBRARY_NAME));
    std::fs::copy(&first, &second).expect("a copy of the simulated driver beside it");
    let both = format!("{},{}", first.display(), second.display());
    run_child(&[("ZE_ENABLE_ALT_DRIVERS", &both), (DRIVERS, "2")]);
}

/// The path a loader must take, from what it reports of itself: `(spec major, minor)` and
/// whether it exports `zesInit`. Spec 1.5 added `zesInit`; a loader must not claim one without
/// the other.
fn expected_path(spec: (u32, u32), has_zes_init: bool) -> InitPath {
    assert_eq!(has_zes_init, spec >= (1, 5), "spec {spec:?} and the zesInit export disagree");
    if has_zes_init {
        InitPath::Zes
    } else {
        InitPath::Legacy
    }
}

#[test]
fn the_path_follows_the_spec_version() {
    assert_eq!(expected_path((1, 4), false), InitPath::Legacy);
    assert_eq!(expected_path((1, 5), true), InitPath::Zes);
    assert_eq!(expected_path((1, 17), true), InitPath::Zes);
    assert!(std::panic::catch_unwind(|| expected_path((1, 4), true)).is_err());
    assert!(std::panic::catch_unwind(|| expected_path((1, 20), false)).is_err());
}

#[test]
#[ignore = "runs in a child process started by the through_the_loader_* tests"]
fn child_through_the_loader() {
    assert!(std::env::var_os(CHILD).is_some(), "needs the loader environment its parent sets");
    let drivers: usize = std::env::var(DRIVERS).map_or(1, |n| n.parse().expect("a driver count"));
    let sysman = Sysman::builder().library(LOADER).init().expect("initializes through the loader");
    assert_eq!(sysman.library_kind(), Some(LibraryKind::Loader));
    // The same loader again (the dynamic linker hands out the loaded instance), to ask it what
    // it is now that it is initialized.
    let loader = Library::open_path(Path::new(LOADER)).unwrap();
    let spec = loader.loader_spec_version().expect("the loader reports its spec version after init");
    let version = sysman.loader_version().expect("the loader reports its version after init").to_owned();
    assert_eq!(loader.loader_version().as_deref(), Some(version.as_str()));
    if let Ok(expected) = std::env::var("ZES_TEST_EXPECT_LOADER_VERSION") {
        // `1.20` or `1.20.6`: Debian's libze1 1.8.12 reports itself as 1.8.0.
        let meets = version == expected || version.starts_with(&format!("{expected}."));
        assert!(meets, "the run meant to meet loader {expected}, met {version}");
    }
    let path = expected_path(spec, loader.functions().zesInit.is_some());
    assert_eq!(sysman.init_path(), path, "loader {version}, spec {spec:?}");
    assert_eq!(sysman.has_function("zesInit"), path == InitPath::Zes);
    if path == InitPath::Legacy {
        assert_eq!(std::env::var("ZES_ENABLE_SYSMAN").as_deref(), Ok("1"));
    }
    assert_eq!(sysman.drivers().len(), drivers);
    let mut handles: Vec<usize> = sysman.drivers().iter().map(|d| d.raw().as_raw()).collect();
    handles.dedup();
    assert_eq!(handles.len(), drivers, "distinct driver handles from the loader");

    let devices = sysman.devices().unwrap();
    let names: Vec<String> = devices.iter().map(|d| d.properties().unwrap().name).collect();
    let machine = [
        "Intel(R) Data Center GPU Max 1550",
        "Intel(R) Data Center GPU Max 1550",
        "Intel(R) Arc(TM) A770 Graphics",
    ];
    assert_eq!(names, machine.repeat(drivers));
    // Every device is found again by its UUID, in every mode (the loader wraps handles under
    // intercept and with two drivers). A loader without the export (spec < 1.9) may lack the
    // function altogether; a wrong device or a failed call is an error on any loader.
    let exported = loader.functions().zesDriverGetDeviceByUuidExp.is_some();
    for driver in sysman.drivers() {
        for device in driver.devices().unwrap() {
            let uuid = device.properties().unwrap().uuid;
            match driver.device_by_uuid(uuid) {
                Ok((found, sub)) => assert_eq!((found.raw(), sub), (device.raw(), None)),
                Err(zes::Error::FunctionUnavailable { .. }) if !exported => {}
                Err(e) => panic!("zesDriverGetDeviceByUuidExp through loader {version}: {e}"),
            }
        }
    }
    let a770 = &devices[2];
    let props = a770.properties().unwrap();
    assert_eq!((props.vendor_id, props.device_id), (0x8086, 0x56a0));
    let total: u64 = devices[0].memory_modules().unwrap().iter().map(|m| m.state().unwrap().size).sum();
    assert_eq!(total, 128 << 30);
    assert_eq!(a770.fans().unwrap().len(), 1);

    // Default workload: 30 % compute, 5 % copy on every device; one process per device.
    let snaps = sysman.snapshot_all(Duration::from_millis(60)).unwrap();
    assert_eq!(snaps.len(), 3 * drivers);
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
    println!(
        "loader {version} (spec {}.{}), path {}, {drivers} driver(s)",
        spec.0,
        spec.1,
        sysman.init_path()
    );
}
