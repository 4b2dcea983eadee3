//! Through Debian's real Level Zero loader, in child processes (loader settings are read once
//! per process): plain, with loader intercept, and with the validation layer.
use zes_sys::*;

const CHILD: &str = "ZES_SIM_TEST_LOADER_CHILD";

fn run_child(extra: &[(&str, &str)]) {
    // The child drives the loader's legacy path by hand: Sysman must be enabled before zeInit.
    let mut env = vec![("ZES_ENABLE_SYSMAN", "1")];
    env.extend_from_slice(extra);
    zes_sim::testing::run_in_loader_child("child_reads_through_loader", CHILD, &env);
}

#[test]
fn through_loader_plain() {
    run_child(&[]);
}

#[test]
fn through_loader_intercept() {
    run_child(&[("ZE_ENABLE_LOADER_INTERCEPT", "1")]);
}

#[test]
fn through_loader_validation() {
    run_child(&[("ZE_ENABLE_VALIDATION_LAYER", "1"), ("ZE_ENABLE_PARAMETER_VALIDATION", "1")]);
}

#[test]
#[ignore = "runs in a child process started by the through_loader_* tests"]
fn child_reads_through_loader() {
    assert!(std::env::var_os(CHILD).is_some(), "needs the loader environment its parent sets");
    let lib = Library::open_path(std::path::Path::new("libze_loader.so.1")).unwrap();
    assert_eq!(lib.kind(), LibraryKind::Loader);
    let f = lib.functions();
    // SAFETY: plain calls through the loader with valid pointers.
    unsafe {
        assert_eq!(f.zeInit.unwrap()(ze_init_flags_t(0)), ZE_RESULT_SUCCESS);
        let mut n = 0;
        assert_eq!(f.zeDriverGet.unwrap()(&mut n, std::ptr::null_mut()), ZE_RESULT_SUCCESS);
        assert!(n >= 1);
        let mut drivers = vec![ze_driver_handle_t::NULL; n as usize];
        f.zeDriverGet.unwrap()(&mut n, drivers.as_mut_ptr());
        let mut names = Vec::new();
        let mut devs = Vec::new();
        for drv in drivers {
            let mut c = 0;
            assert_eq!(f.zeDeviceGet.unwrap()(drv, &mut c, std::ptr::null_mut()), ZE_RESULT_SUCCESS);
            let mut ds = vec![ze_device_handle_t::NULL; c as usize];
            f.zeDeviceGet.unwrap()(drv, &mut c, ds.as_mut_ptr());
            devs.extend(ds);
        }
        for d in &devs {
            let mut p = zes_device_properties_t::default();
            assert_eq!(f.zesDeviceGetProperties.unwrap()(*d, &mut p), ZE_RESULT_SUCCESS);
            names.push(c_chars_to_str(&p.core.name));
        }
        assert_eq!(
            names,
            [
                "Intel(R) Data Center GPU Max 1550",
                "Intel(R) Data Center GPU Max 1550",
                "Intel(R) Arc(TM) A770 Graphics"
            ]
        );
        // Memory of the first Max 1550: 2 x 64 GiB.
        let mut c = 0;
        assert_eq!(
            f.zesDeviceEnumMemoryModules.unwrap()(devs[0], &mut c, std::ptr::null_mut()),
            ZE_RESULT_SUCCESS
        );
        assert_eq!(c, 2);
        let mut mems = vec![zes_mem_handle_t::NULL; 2];
        f.zesDeviceEnumMemoryModules.unwrap()(devs[0], &mut c, mems.as_mut_ptr());
        let mut total = 0;
        for m in &mems {
            let mut s = zes_mem_state_t::default();
            assert_eq!(f.zesMemoryGetState.unwrap()(*m, &mut s), ZE_RESULT_SUCCESS);
            assert!(s.free < s.size);
            total += s.size;
        }
        assert_eq!(total, 128 << 30);
        // Power and energy.
        let mut c = 0;
        assert_eq!(
            f.zesDeviceEnumPowerDomains.unwrap()(devs[2], &mut c, std::ptr::null_mut()),
            ZE_RESULT_SUCCESS
        );
        assert_eq!(c, 1);
        let mut pw = zes_pwr_handle_t::NULL;
        f.zesDeviceEnumPowerDomains.unwrap()(devs[2], &mut c, &mut pw);
        let mut e0 = zes_power_energy_counter_t::default();
        assert_eq!(f.zesPowerGetEnergyCounter.unwrap()(pw, &mut e0), ZE_RESULT_SUCCESS);
        std::thread::sleep(std::time::Duration::from_millis(20));
        let mut e1 = zes_power_energy_counter_t::default();
        f.zesPowerGetEnergyCounter.unwrap()(pw, &mut e1);
        assert!(e1.energy > e0.energy && e1.timestamp > e0.timestamp);
        // Engines.
        let mut c = 0;
        assert_eq!(
            f.zesDeviceEnumEngineGroups.unwrap()(devs[2], &mut c, std::ptr::null_mut()),
            ZE_RESULT_SUCCESS
        );
        assert!(c >= 4);
        let mut eh = vec![zes_engine_handle_t::NULL; c as usize];
        f.zesDeviceEnumEngineGroups.unwrap()(devs[2], &mut c, eh.as_mut_ptr());
        let mut st = zes_engine_stats_t::default();
        assert_eq!(f.zesEngineGetActivity.unwrap()(eh[0], &mut st), ZE_RESULT_SUCCESS);
        assert!(st.timestamp > 0);
    }
}
