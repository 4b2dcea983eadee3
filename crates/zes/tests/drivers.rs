//! Two drivers at once through Debian's real loader: the simulator's file copied under two names
//! (`ZE_ENABLE_ALT_DRIVERS=sim_a.so,sim_b.so`; one path opened twice would be one instance), each
//! copy given its own machine by its own variables (`ZES_SIM_PRESET_<file stem>`). Every device of
//! every driver is listed, in driver order, each with its driver's index, and each reading comes
//! from the right instance. In child processes (the loader reads its settings once per process).

use std::path::PathBuf;

use zes::Sysman;

const CHILD: &str = "ZES_TEST_DRIVERS_CHILD";
const LOADER: &str = "libze_loader.so.1";

/// Two copies of the simulator's file in a folder of this test run.
fn two_copies(tag: &str) -> (PathBuf, PathBuf) {
    let dir = std::env::temp_dir().join(format!("zes-two-drivers-{}-{tag}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let source = zes_sim::testing::library_path();
    let (a, b) = (dir.join("sim_a.so"), dir.join("sim_b.so"));
    std::fs::copy(&source, &a).unwrap();
    std::fs::copy(&source, &b).unwrap();
    (a, b)
}

fn run_child(tag: &str, extra: &[(&str, &str)]) {
    let (a, b) = two_copies(tag);
    let list = format!("{},{}", a.display(), b.display());
    let mut env = vec![
        ("ZE_ENABLE_ALT_DRIVERS", list.as_str()),
        ("ZES_SIM_PRESET_sim_a", "a770"),
        ("ZES_SIM_PRESET_sim_b", "igpu,max1550"),
        // A plain machine variable that both copies must ignore in favour of their own.
        ("ZES_SIM_PRESET", "max1550,max1550,max1550"),
        ("ZES_SIM_CLOCK", "frozen"),
    ];
    env.extend_from_slice(extra);
    zes_sim::testing::run_in_loader_child("child_two_drivers", CHILD, &env);
    let _ = std::fs::remove_dir_all(a.parent().unwrap());
}

#[test]
fn two_drivers_through_the_loader() {
    run_child("plain", &[]);
}

#[test]
fn two_drivers_through_the_loader_with_validation() {
    run_child("validation", &[("ZE_ENABLE_VALIDATION_LAYER", "1"), ("ZE_ENABLE_PARAMETER_VALIDATION", "1")]);
}

#[test]
#[ignore = "runs in a child process started by the two_drivers_* tests"]
fn child_two_drivers() {
    assert!(std::env::var_os(CHILD).is_some(), "needs the loader environment its parent sets");
    let files: Vec<PathBuf> =
        std::env::var("ZE_ENABLE_ALT_DRIVERS").unwrap().split(',').map(PathBuf::from).collect();
    let sysman = Sysman::builder().library(LOADER).init().expect("initializes through the loader");
    let drivers = sysman.drivers();
    assert_eq!(drivers.len(), 2, "one driver per copy");
    assert_eq!(drivers.iter().map(|d| d.index()).collect::<Vec<_>>(), [0, 1]);

    let devices = sysman.devices().unwrap();
    let names: Vec<String> = devices.iter().map(|d| d.properties().unwrap().name).collect();
    assert_eq!(
        names,
        ["Intel(R) Arc(TM) A770 Graphics", "Intel(R) UHD Graphics 770", "Intel(R) Data Center GPU Max 1550"],
        "each copy's own machine, in driver order"
    );
    assert_eq!(devices.iter().map(|d| d.driver_index()).collect::<Vec<_>>(), [0, 1, 1]);
    for (driver, expected) in drivers.iter().zip([1, 2]) {
        assert_eq!(driver.devices().unwrap().len(), expected);
    }
    // Stable: a second enumeration gives the same devices in the same order.
    let again: Vec<_> = sysman.devices().unwrap().iter().map(|d| d.raw()).collect();
    assert_eq!(again, devices.iter().map(|d| d.raw()).collect::<Vec<_>>());

    // Each reading comes from its own instance: opening a loaded path again returns that instance.
    let controls: Vec<libloading::Library> =
        // SAFETY: the files are the simulator, already loaded by the loader (no initializers run).
        files.iter().map(|f| unsafe { libloading::Library::new(f) }.unwrap()).collect();
    for instance in &controls {
        zes_sim::testing::control(instance, r#"{"op":"advance","seconds":3}"#).unwrap();
    }
    let local = [(0usize, 0usize), (1, 0), (1, 1)];
    for (device, &(driver, index)) in devices.iter().zip(&local) {
        let truth =
            zes_sim::testing::control(&controls[driver], &format!(r#"{{"op":"truth","device":{index}}}"#))
                .unwrap();
        let used: u64 = device
            .memory_modules()
            .unwrap()
            .iter()
            .map(|m| m.state().unwrap())
            .map(|s| s.size - s.free)
            .sum();
        assert_eq!(used, truth["memory_used_bytes"].as_u64().unwrap(), "device {index} of driver {driver}");
        let energy = device.power_domains().unwrap()[0].energy_counter().unwrap().energy;
        assert_eq!(
            energy,
            truth["power_w"][0]["energy_uj"].as_u64().unwrap(),
            "device {index} of driver {driver}"
        );
    }
}
