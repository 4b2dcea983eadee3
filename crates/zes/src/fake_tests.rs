//! Unit tests over hand-made function tables (test doubles): every error path.
//!
//! A child of the raw layer, the only place with `unsafe`: the doubles are C functions that
//! write through the pointers they are given, as a driver does.

use core::ffi::{c_char, c_void};
use std::cell::Cell;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use zes_sys::*;

use crate::{Error, ErrorClass, InitPath, Reading, Sysman};

thread_local! {
    static RESULT: Cell<u32> = const { Cell::new(0) };
    static COUNTS: Cell<[u32; 4]> = const { Cell::new([0; 4]) };
    static CALL: Cell<usize> = const { Cell::new(0) };
    static ENGINE_TYPE: Cell<u32> = const { Cell::new(1) };
}

const DRIVER: usize = 0xd000;
const DEVICE: usize = 0xde00;

unsafe extern "C" fn ok_init(_: zes_init_flags_t) -> ze_result_t {
    ZE_RESULT_SUCCESS
}
unsafe extern "C" fn failing_init(_: zes_init_flags_t) -> ze_result_t {
    ze_result_t::ERROR_UNINITIALIZED
}
unsafe extern "C" fn ok_ze_init(_: ze_init_flags_t) -> ze_result_t {
    ZE_RESULT_SUCCESS
}

/// Writes `n` handles starting at `base` the way every two-call enumeration does.
///
/// # Safety
/// `count` is writable; `out` is null or holds `*count` writable handles.
unsafe fn fill_handles<H>(
    n: u32,
    base: usize,
    count: *mut u32,
    out: *mut H,
    make: fn(usize) -> H,
) -> ze_result_t {
    // SAFETY: per the function's contract.
    unsafe {
        if out.is_null() {
            *count = n;
            return ZE_RESULT_SUCCESS;
        }
        let k = (*count).min(n);
        for i in 0..k as usize {
            out.add(i).write(make(base + i));
        }
        *count = k;
    }
    ZE_RESULT_SUCCESS
}

unsafe extern "C" fn one_driver(count: *mut u32, out: *mut zes_driver_handle_t) -> ze_result_t {
    // SAFETY: the caller follows the C contract of `zesDriverGet`.
    unsafe { fill_handles(1, DRIVER, count, out, zes_driver_handle_t::from_raw) }
}
unsafe extern "C" fn one_device(
    _: zes_driver_handle_t,
    count: *mut u32,
    out: *mut zes_device_handle_t,
) -> ze_result_t {
    // SAFETY: the caller follows the C contract of `zesDeviceGet`.
    unsafe { fill_handles(1, DEVICE, count, out, zes_device_handle_t::from_raw) }
}

fn base_table() -> FunctionTable {
    FunctionTable {
        zesInit: Some(ok_init),
        zesDriverGet: Some(one_driver),
        zesDeviceGet: Some(one_device),
        ..FunctionTable::default()
    }
}

/// A Sysman over a table of this module's doubles.
fn from_table(table: FunctionTable, init_path: InitPath) -> crate::Result<Sysman> {
    // SAFETY: the table points at functions compiled into this test binary (or at none), which
    // stay callable for the whole process.
    unsafe { Sysman::from_function_table(table, init_path) }
}

fn device_of(table: FunctionTable) -> crate::Device {
    let sysman = from_table(table, InitPath::Auto).expect("init");
    sysman.devices().expect("devices").remove(0)
}

unsafe extern "C" fn props_from_result(
    _: zes_device_handle_t,
    _: *mut zes_device_properties_t,
) -> ze_result_t {
    ze_result_t(RESULT.with(Cell::get))
}

#[test]
fn every_result_code_maps_to_its_name_function_and_class() {
    let device = device_of(FunctionTable { zesDeviceGetProperties: Some(props_from_result), ..base_table() });
    let mut checked = 0;
    for &(name, value, _) in ze_result_t::KNOWN {
        if value == 0 {
            continue;
        }
        RESULT.with(|r| r.set(value));
        let err = device.properties().expect_err(name);
        assert_eq!(err.code(), Some(ze_result_t(value)));
        // Several C names may share a value (aliases): the name must be one with this value.
        let got = err.code_name();
        assert!(ze_result_t::KNOWN.iter().any(|k| k.0 == got && k.1 == value), "{name}: {got}");
        assert_eq!(err.function(), Some("zesDeviceGetProperties"));
        let expected = match name {
            "ZE_RESULT_ERROR_INSUFFICIENT_PERMISSIONS" => ErrorClass::Permission,
            "ZE_RESULT_ERROR_DEVICE_LOST" => ErrorClass::DeviceLost,
            "ZE_RESULT_ERROR_UNSUPPORTED_FEATURE"
            | "ZE_RESULT_ERROR_UNSUPPORTED_VERSION"
            | "ZE_RESULT_ERROR_UNSUPPORTED_ENUMERATION" => ErrorClass::Unsupported,
            _ => ErrorClass::Other,
        };
        assert_eq!(err.class(), expected, "{name}");
        assert_eq!(err.is_permission_denied(), expected == ErrorClass::Permission);
        assert_eq!(err.is_device_lost(), expected == ErrorClass::DeviceLost);
        assert_eq!(err.is_unsupported(), expected == ErrorClass::Unsupported);
        assert!(err.to_string().contains("zesDeviceGetProperties failed: ZE_RESULT_"), "{err}");
        checked += 1;
    }
    assert!(checked > 50);
    // A code this crate does not know is kept, shown in hex.
    RESULT.with(|r| r.set(0x7123_4567));
    let err = device.properties().unwrap_err();
    assert_eq!(err.code(), Some(ze_result_t(0x7123_4567)));
    assert_eq!(err.code_name(), "0x71234567");
    assert_eq!(err.class(), ErrorClass::Other);
    RESULT.with(|r| r.set(0));
    assert!(device.properties().is_ok());
}

#[test]
fn a_missing_function_names_itself_and_the_loader() {
    let device = device_of(base_table());
    let err = match device.power_domains() {
        Err(e) => e,
        Ok(_) => panic!("must fail"),
    };
    assert!(matches!(err, Error::FunctionUnavailable { function: "zesDeviceEnumPowerDomains", .. }));
    assert!(err.is_unsupported());
    let text = err.to_string();
    assert!(
        text.contains("zesDeviceEnumPowerDomains is not available in this loader (version unknown)"),
        "{text}"
    );
    assert!(text.contains("spec 1.0"), "{text}");
}

#[test]
fn an_absent_library_lists_what_was_tried() {
    let err = Sysman::builder().library("/nonexistent/libze_loader.so.1").init().unwrap_err();
    assert!(err.is_library_not_found());
    let Error::LibraryNotFound(load) = &err else { panic!("{err:?}") };
    assert_eq!(load.tried.len(), 1);
    assert_eq!(load.tried[0].0, "/nonexistent/libze_loader.so.1");
    assert!(err.to_string().contains("/nonexistent/libze_loader.so.1"));
    assert_eq!(err.code(), None);
    assert_eq!(err.code_name(), "LIBRARY_NOT_FOUND");
}

/// Engine groups whose count is `COUNTS[call]` on each successive call (the last one sticks).
unsafe extern "C" fn changing_engines(
    _: zes_device_handle_t,
    count: *mut u32,
    out: *mut zes_engine_handle_t,
) -> ze_result_t {
    let call = CALL.with(|c| {
        let v = c.get();
        c.set(v + 1);
        v
    });
    let n = COUNTS.with(Cell::get)[call.min(3)];
    // SAFETY: the caller follows the C contract of `zesDeviceEnumEngineGroups`.
    unsafe { fill_handles(n, 0xe000, count, out, zes_engine_handle_t::from_raw) }
}

#[test]
fn two_call_enumeration_retries_when_the_count_grows_and_truncates_when_it_shrinks() {
    let device =
        device_of(FunctionTable { zesDeviceEnumEngineGroups: Some(changing_engines), ..base_table() });
    // Grows between the first two calls (2 announced, 5 present), then stable at 5.
    COUNTS.with(|c| c.set([2, 5, 5, 5]));
    CALL.with(|c| c.set(0));
    let engines = device.engines().unwrap();
    assert_eq!(engines.len(), 5);
    assert_eq!(engines[4].raw().as_raw(), 0xe004);
    // The count, an array of 3 (full: grew), an array of 6 with 5 written.
    assert_eq!(CALL.with(Cell::get), 3);
    // Shrinks between the calls: 4 announced, 1 written.
    COUNTS.with(|c| c.set([4, 1, 1, 1]));
    CALL.with(|c| c.set(0));
    assert_eq!(device.engines().unwrap().len(), 1);
    assert_eq!(CALL.with(Cell::get), 2);
    // Zero: one call only.
    COUNTS.with(|c| c.set([0, 0, 0, 0]));
    CALL.with(|c| c.set(0));
    assert!(device.engines().unwrap().is_empty());
    assert_eq!(CALL.with(Cell::get), 1);
}

static GROWING: AtomicU32 = AtomicU32::new(1);

unsafe extern "C" fn always_growing(
    _: zes_device_handle_t,
    count: *mut u32,
    out: *mut zes_engine_handle_t,
) -> ze_result_t {
    // Faster than the doubling of the array on each retry.
    let n = GROWING.fetch_add(1, Ordering::SeqCst);
    // SAFETY: the caller follows the C contract of `zesDeviceEnumEngineGroups`.
    unsafe { fill_handles(n.pow(4), 0xe000, count, out, zes_engine_handle_t::from_raw) }
}

#[test]
fn a_count_that_never_settles_is_an_error_not_a_loop() {
    let device = device_of(FunctionTable { zesDeviceEnumEngineGroups: Some(always_growing), ..base_table() });
    let err = device.engines().unwrap_err();
    assert!(matches!(err, Error::Driver { function: "zesDeviceEnumEngineGroups", .. }), "{err:?}");
}

/// Processes: answers `ERROR_INVALID_SIZE` once when the array is too small (a new process).
unsafe extern "C" fn processes(
    _: zes_device_handle_t,
    count: *mut u32,
    out: *mut zes_process_state_t,
) -> ze_result_t {
    let call = CALL.with(|c| {
        let v = c.get();
        c.set(v + 1);
        v
    });
    let n = if call == 0 { 1 } else { 3 };
    // SAFETY: the caller follows the C contract of `zesDeviceProcessesGetState`.
    unsafe {
        if out.is_null() {
            *count = n;
            return ZE_RESULT_SUCCESS;
        }
        if *count < n {
            *count = n;
            return ze_result_t::ERROR_INVALID_SIZE;
        }
        for i in 0..n as usize {
            let p = &mut *out.add(i);
            p.processId = 100 + i as u32;
            p.memSize = 1 << 20;
        }
        *count = n;
    }
    ZE_RESULT_SUCCESS
}

#[test]
fn processes_retry_on_invalid_size() {
    let device = device_of(FunctionTable { zesDeviceProcessesGetState: Some(processes), ..base_table() });
    CALL.with(|c| c.set(0));
    let list = device.processes().unwrap();
    assert_eq!(list.iter().map(|p| p.pid).collect::<Vec<_>>(), vec![100, 101, 102]);
    assert_eq!(list[0].mem_size, 1 << 20);
}

unsafe extern "C" fn one_engine(
    _: zes_device_handle_t,
    count: *mut u32,
    out: *mut zes_engine_handle_t,
) -> ze_result_t {
    // SAFETY: the caller follows the C contract of `zesDeviceEnumEngineGroups`.
    unsafe { fill_handles(1, 0xe000, count, out, zes_engine_handle_t::from_raw) }
}
unsafe extern "C" fn engine_props(_: zes_engine_handle_t, p: *mut zes_engine_properties_t) -> ze_result_t {
    // SAFETY: `p` points to a writable struct.
    unsafe {
        (*p).r#type = zes_engine_group_t(ENGINE_TYPE.with(Cell::get));
        (*p).onSubdevice = 1;
        (*p).subdeviceId = 1;
    }
    ZE_RESULT_SUCCESS
}
unsafe extern "C" fn engine_activity(_: zes_engine_handle_t, s: *mut zes_engine_stats_t) -> ze_result_t {
    let call = CALL.with(|c| {
        let v = c.get();
        c.set(v + 1);
        v
    }) as u64;
    // SAFETY: `s` points to a writable struct. 25% busy: 250 us active per 1000 us.
    unsafe {
        (*s).timestamp = 1_000_000 + call * 1000;
        (*s).activeTime = 500 + call * 250;
    }
    ZE_RESULT_SUCCESS
}

#[test]
fn unknown_enum_values_are_kept_and_labelled() {
    let device = device_of(FunctionTable {
        zesDeviceEnumEngineGroups: Some(one_engine),
        zesEngineGetProperties: Some(engine_props),
        zesEngineGetActivity: Some(engine_activity),
        ..base_table()
    });
    ENGINE_TYPE.with(|t| t.set(0x99));
    CALL.with(|c| c.set(0));
    let engine = device.engines().unwrap().remove(0);
    let props = engine.properties().unwrap();
    assert_eq!(props.group, zes_engine_group_t(0x99));
    assert_eq!(props.group.name(), None);
    assert_eq!(props.subdevice_id, Some(1));
    let snap = device.snapshot(Duration::ZERO);
    let engines = snap.engines.value().unwrap();
    assert_eq!(engines[0].group, "UNKNOWN(0x99)");
    assert_eq!(engines[0].subdevice_id, Some(1));
    let pct = *engines[0].utilization_pct.value().unwrap();
    assert!((pct - 25.0).abs() < 1e-9, "{pct}");
    assert_eq!(snap.engine_utilization_pct.value().copied(), Some(pct));
    ENGINE_TYPE.with(|t| t.set(1));
    assert_eq!(device.engines().unwrap()[0].properties().unwrap().group, zes_engine_group_t::COMPUTE_ALL);
}

unsafe extern "C" fn legacy_driver(count: *mut u32, out: *mut ze_driver_handle_t) -> ze_result_t {
    // SAFETY: the caller follows the C contract of `zeDriverGet`.
    unsafe { fill_handles(1, DRIVER + 1, count, out, ze_driver_handle_t::from_raw) }
}
unsafe extern "C" fn legacy_device(
    _: ze_driver_handle_t,
    count: *mut u32,
    out: *mut ze_device_handle_t,
) -> ze_result_t {
    // SAFETY: the caller follows the C contract of `zeDeviceGet`.
    unsafe { fill_handles(2, DEVICE + 0x10, count, out, ze_device_handle_t::from_raw) }
}

fn legacy_table() -> FunctionTable {
    FunctionTable {
        zeInit: Some(ok_ze_init),
        zeDriverGet: Some(legacy_driver),
        zeDeviceGet: Some(legacy_device),
        ..FunctionTable::default()
    }
}

#[test]
fn init_paths_auto_zes_legacy_and_fallback() {
    // Old loader without zesInit: Auto takes the legacy path and sets ZES_ENABLE_SYSMAN.
    let s = from_table(legacy_table(), InitPath::Auto).unwrap();
    assert_eq!(s.init_path(), InitPath::Legacy);
    assert_eq!(std::env::var("ZES_ENABLE_SYSMAN").as_deref(), Ok("1"));
    let devices = s.devices().unwrap();
    assert_eq!(devices.len(), 2);
    assert_eq!(devices[1].raw().as_raw(), DEVICE + 0x11);
    assert_eq!(s.loader_version(), None);
    // Explicit zes on an old loader: the function is named.
    let err = from_table(legacy_table(), InitPath::Zes).unwrap_err();
    assert!(matches!(err, Error::FunctionUnavailable { function: "zesInit", .. }), "{err:?}");
    // New loader: Auto takes zes.
    let s = from_table(base_table(), InitPath::Auto).unwrap();
    assert_eq!(s.init_path(), InitPath::Zes);
    assert_eq!(s.drivers()[0].raw().as_raw(), DRIVER);
    // zesInit fails but the core API works: Auto falls back to legacy.
    let both = FunctionTable { zesInit: Some(failing_init), ..legacy_table() };
    assert_eq!(from_table(both, InitPath::Auto).unwrap().init_path(), InitPath::Legacy);
    // zesInit fails and there is no core API: zesInit's error.
    let only = FunctionTable { zesInit: Some(failing_init), ..FunctionTable::default() };
    let err = from_table(only, InitPath::Auto).unwrap_err();
    assert_eq!(err.code(), Some(ze_result_t::ERROR_UNINITIALIZED));
    assert_eq!(err.function(), Some("zesInit"));
}

static EXT_LOOKUPS: AtomicU32 = AtomicU32::new(0);

unsafe extern "C" fn sub_devices(
    _: zes_device_handle_t,
    count: *mut u32,
    out: *mut zes_subdevice_exp_properties_t,
) -> ze_result_t {
    // SAFETY: the caller follows the C contract of `zesDeviceGetSubDevicePropertiesExp`.
    unsafe {
        if out.is_null() {
            *count = 2;
            return ZE_RESULT_SUCCESS;
        }
        let k = (*count).min(2);
        for i in 0..k as usize {
            (*out.add(i)).subdeviceId = i as u32;
            (*out.add(i)).uuid.id[0] = 0xa0 + i as u8;
        }
        *count = k;
    }
    ZE_RESULT_SUCCESS
}

unsafe extern "C" fn ext_address(
    driver: zes_driver_handle_t,
    name: *const c_char,
    out: *mut *mut c_void,
) -> ze_result_t {
    EXT_LOOKUPS.fetch_add(1, Ordering::SeqCst);
    assert_eq!(driver.as_raw(), DRIVER);
    // SAFETY: `name` is a NUL-terminated string and `out` a writable slot.
    unsafe {
        if core::ffi::CStr::from_ptr(name).to_bytes() == b"zesDeviceGetSubDevicePropertiesExp" {
            *out = sub_devices as PFN_zesDeviceGetSubDevicePropertiesExp as *mut c_void;
            return ZE_RESULT_SUCCESS;
        }
        *out = core::ptr::null_mut();
    }
    ze_result_t::ERROR_UNSUPPORTED_FEATURE
}

#[test]
fn experimental_functions_resolve_through_the_driver_and_are_cached() {
    let device =
        device_of(FunctionTable { zesDriverGetExtensionFunctionAddress: Some(ext_address), ..base_table() });
    let before = EXT_LOOKUPS.load(Ordering::SeqCst);
    let subs = device.sub_devices().unwrap();
    assert_eq!(subs.len(), 2);
    assert_eq!(subs[1].id, 1);
    assert!(subs[1].uuid.to_string().starts_with("a1000000-"));
    device.sub_devices().unwrap();
    assert_eq!(EXT_LOOKUPS.load(Ordering::SeqCst) - before, 1, "looked up once, then cached");
    assert!(device.sysman().has_function("zesDeviceGetSubDevicePropertiesExp"));
    // A plain function the table lacks; an experimental one the driver lacks too.
    let err = match device.sysman().drivers()[0].devices().unwrap()[0].engines() {
        Err(e) => e,
        Ok(_) => panic!(),
    };
    assert!(err.is_unsupported());
    assert!(!device.sysman().has_function("zesRasGetStateExp"));
}

unsafe extern "C" fn chained_props(_: zes_device_handle_t, p: *mut zes_device_properties_t) -> ze_result_t {
    // SAFETY: `p` is writable and its chain links writable structs identified by `stype`.
    unsafe {
        str_to_c_chars("Fake GPU", &mut (*p).core.name);
        str_to_c_chars("unknown", &mut (*p).serialNumber);
        str_to_c_chars("B-42", &mut (*p).boardNumber);
        (*p).core.uuid.id = [0x12; 16];
        (*p).numSubdevices = 2;
        let mut next = (*p).pNext as *mut zes_base_properties_t;
        while !next.is_null() {
            if (*next).stype == ZES_STRUCTURE_TYPE_DEVICE_EXT_PROPERTIES {
                let ext = next as *mut zes_device_ext_properties_t;
                (*ext).r#type = zes_device_type_t::GPU;
                (*ext).uuid.id = [0x34; 16];
            } else if (*next).stype.0 == zes_oem_serial_id_ext_properties_t::STYPE {
                let ext = next as *mut zes_oem_serial_id_ext_properties_t;
                str_to_c_chars("OEM-7", &mut (*ext).oemSerialId);
                (*ext).length = 5;
            }
            next = (*next).pNext as *mut zes_base_properties_t;
        }
    }
    ZE_RESULT_SUCCESS
}

#[test]
fn typed_pnext_chains_reach_the_driver_and_come_back_unlinked() {
    let device = device_of(FunctionTable { zesDeviceGetProperties: Some(chained_props), ..base_table() });
    let (props, ext) = device.properties_with::<zes_device_ext_properties_t>().unwrap();
    assert_eq!(props.name, "Fake GPU");
    assert_eq!(props.serial_number, None, "\"unknown\" is None");
    assert_eq!(props.board_number.as_deref(), Some("B-42"));
    assert_eq!(props.num_subdevices, 2);
    assert_eq!(props.uuid.to_string(), "12121212-1212-1212-1212-121212121212");
    assert_eq!(ext.r#type, zes_device_type_t::GPU);
    assert_eq!(ext.uuid.id, [0x34; 16]);
    assert!(ext.pNext.is_null());
    let (_, crate::Chain2(a, b)) = device
        .properties_with::<crate::Chain2<zes_device_ext_properties_t, zes_oem_serial_id_ext_properties_t>>()
        .unwrap();
    assert_eq!(a.uuid.id, [0x34; 16]);
    assert!(a.pNext.is_null(), "unlinked after the call");
    assert_eq!(c_chars_to_str(&b.oemSerialId), "OEM-7");
    assert_eq!(device.ext_properties().unwrap().device_type, zes_device_type_t::GPU);
}

unsafe extern "C" fn one_power(
    _: zes_device_handle_t,
    count: *mut u32,
    out: *mut zes_pwr_handle_t,
) -> ze_result_t {
    // SAFETY: the caller follows the C contract of `zesDeviceEnumPowerDomains`.
    unsafe { fill_handles(1, 0xf000, count, out, zes_pwr_handle_t::from_raw) }
}
unsafe extern "C" fn no_card(_: zes_device_handle_t, _: *mut zes_pwr_handle_t) -> ze_result_t {
    ze_result_t::ERROR_UNSUPPORTED_FEATURE
}
unsafe extern "C" fn power_props(_: zes_pwr_handle_t, _: *mut zes_power_properties_t) -> ze_result_t {
    ZE_RESULT_SUCCESS
}
unsafe extern "C" fn energy_denied(_: zes_pwr_handle_t, _: *mut zes_power_energy_counter_t) -> ze_result_t {
    ze_result_t::ERROR_INSUFFICIENT_PERMISSIONS
}
unsafe extern "C" fn energy_lost(_: zes_pwr_handle_t, _: *mut zes_power_energy_counter_t) -> ze_result_t {
    ze_result_t::ERROR_DEVICE_LOST
}

#[test]
fn snapshots_keep_per_metric_errors_and_serialize_with_stable_names() {
    let table = FunctionTable {
        zesDeviceEnumPowerDomains: Some(one_power),
        zesDeviceGetCardPowerDomain: Some(no_card),
        zesPowerGetProperties: Some(power_props),
        zesPowerGetEnergyCounter: Some(energy_denied),
        ..base_table()
    };
    let sysman = from_table(table, InitPath::Zes).unwrap();
    let snaps = sysman.snapshot_all(Duration::from_millis(1)).unwrap();
    assert_eq!(snaps.len(), 1);
    let snap = &snaps[0];
    let e = snap.power_w.error().expect("no power without permission");
    assert_eq!(e.reason, ErrorClass::Permission);
    assert_eq!(e.code, "ZE_RESULT_ERROR_INSUFFICIENT_PERMISSIONS");
    assert_eq!(e.function, Some("zesPowerGetEnergyCounter"));
    assert!(matches!(&snap.power_domains, Reading::Value(v) if v.len() == 1));
    // Missing functions are "unsupported", not failures of the snapshot.
    assert_eq!(snap.engines.error().unwrap().reason, ErrorClass::Unsupported);
    assert_eq!(snap.properties.error().unwrap().code, "FUNCTION_UNAVAILABLE");
    assert!(snap.window_s >= 0.001);
    let json = serde_json::to_value(snap).unwrap();
    for key in [
        "index",
        "window_s",
        "properties",
        "power_w",
        "power_domains",
        "engine_utilization_pct",
        "engines",
        "frequencies",
        "temperatures",
        "memory",
        "pci",
        "processes",
    ] {
        assert!(json.get(key).is_some(), "{key} missing in {json}");
    }
    assert_eq!(json["power_w"]["error"]["reason"], "permission");
    assert_eq!(
        json["power_domains"]["value"][0]["power_w"]["error"]["code"],
        "ZE_RESULT_ERROR_INSUFFICIENT_PERMISSIONS"
    );
    assert_eq!(json["pci"]["rx_bytes_per_sec"]["error"]["reason"], "unsupported");

    let lost = FunctionTable {
        zesDeviceEnumPowerDomains: Some(one_power),
        zesDeviceGetCardPowerDomain: Some(no_card),
        zesPowerGetEnergyCounter: Some(energy_lost),
        ..base_table()
    };
    let device = device_of(lost);
    let snap = device.snapshot(Duration::ZERO);
    assert_eq!(snap.power_w.error().unwrap().reason, ErrorClass::DeviceLost);
    assert!(device.power_domains().unwrap()[0].energy_counter().unwrap_err().is_device_lost());
}

#[test]
fn handles_are_send_sync_clone() {
    fn check<T: Send + Sync + Clone + 'static>() {}
    check::<Sysman>();
    check::<crate::Driver>();
    check::<crate::Device>();
    check::<crate::Power>();
    check::<crate::Engine>();
    check::<crate::Frequency>();
    check::<crate::Temperature>();
    check::<crate::Memory>();
    check::<crate::Fan>();
    check::<crate::Firmware>();
    check::<crate::Ras>();
    check::<crate::Standby>();
    check::<crate::Scheduler>();
    check::<crate::PerformanceFactor>();
    check::<crate::DeviceSnapshot>();
    check::<Error>();
}

/// Engine groups: `COUNTS[0]` announced on the count call; on an array call, `COUNTS[1]` written
/// back with `ERROR_INVALID_SIZE` when it is larger than the array, else as many handles as fit.
unsafe extern "C" fn huge_engines(
    _: zes_device_handle_t,
    count: *mut u32,
    out: *mut zes_engine_handle_t,
) -> ze_result_t {
    let [announced, later, ..] = COUNTS.with(Cell::get);
    // SAFETY: the caller follows the C contract of `zesDeviceEnumEngineGroups`.
    unsafe {
        if out.is_null() {
            *count = announced;
            return ZE_RESULT_SUCCESS;
        }
        if later > *count {
            *count = later;
            return ze_result_t::ERROR_INVALID_SIZE;
        }
        fill_handles(later, 0xe000, count, out, zes_engine_handle_t::from_raw)
    }
}

#[test]
fn a_huge_announced_count_is_refused_before_any_allocation() {
    let device = device_of(FunctionTable { zesDeviceEnumEngineGroups: Some(huge_engines), ..base_table() });
    // The largest count accepted still enumerates.
    let cap = crate::MAX_ENUMERATION_COUNT;
    COUNTS.with(|c| c.set([cap, cap, 0, 0]));
    assert_eq!(device.engines().unwrap().len(), cap as usize);
    // One more is refused, naming the function and the count.
    for huge in [cap + 1, u32::MAX] {
        COUNTS.with(|c| c.set([huge, huge, 0, 0]));
        let err = device.engines().unwrap_err();
        let Error::CountTooLarge { function, count, cap: reported_cap } = err else { panic!("{err:?}") };
        assert_eq!((function, count, reported_cap), ("zesDeviceEnumEngineGroups", huge, cap));
        assert_eq!(err.code_name(), "COUNT_TOO_LARGE");
        assert_eq!(err.function(), Some("zesDeviceEnumEngineGroups"));
        assert_eq!(
            err.to_string(),
            format!("zesDeviceEnumEngineGroups reported {huge} elements, more than the 65536 an enumeration accepts")
        );
    }
}

#[test]
fn a_huge_count_written_back_on_a_retry_is_refused() {
    let device = device_of(FunctionTable { zesDeviceEnumEngineGroups: Some(huge_engines), ..base_table() });
    // 3 announced, then "the array is too small, 4,000,000,000 are needed".
    COUNTS.with(|c| c.set([3, 4_000_000_000, 0, 0]));
    let err = device.engines().unwrap_err();
    assert!(
        matches!(
            err,
            Error::CountTooLarge { function: "zesDeviceEnumEngineGroups", count: 4_000_000_000, .. }
        ),
        "{err:?}"
    );
    // Growth up to the cap is followed.
    COUNTS.with(|c| c.set([3, 40_000, 0, 0]));
    assert_eq!(device.engines().unwrap().len(), 40_000);
}

#[test]
fn a_snapshot_keeps_a_huge_count_as_the_error_of_that_metric() {
    let device = device_of(FunctionTable { zesDeviceEnumEngineGroups: Some(huge_engines), ..base_table() });
    COUNTS.with(|c| c.set([u32::MAX, u32::MAX, 0, 0]));
    let snap = device.snapshot(Duration::ZERO);
    let e = snap.engines.error().expect("the engines are an error");
    assert_eq!((e.code.as_str(), e.function), ("COUNT_TOO_LARGE", Some("zesDeviceEnumEngineGroups")));
    assert_eq!(e.reason, ErrorClass::Other);
}

unsafe extern "C" fn no_engines(
    _: zes_device_handle_t,
    count: *mut u32,
    out: *mut zes_engine_handle_t,
) -> ze_result_t {
    // SAFETY: the caller follows the C contract of `zesDeviceEnumEngineGroups`.
    unsafe { fill_handles(0, 0xe000, count, out, zes_engine_handle_t::from_raw) }
}
unsafe extern "C" fn energy_needs_root(
    _: zes_pwr_handle_t,
    _: *mut zes_power_energy_counter_t,
) -> ze_result_t {
    ze_result_t::ERROR_INSUFFICIENT_PERMISSIONS
}

#[test]
fn zero_engine_groups_are_a_permission_reading_only_beside_permission_refusals() {
    // Issue 8, case 21. A device that answers its other telemetry and has no engine group.
    let device = device_of(FunctionTable { zesDeviceEnumEngineGroups: Some(no_engines), ..base_table() });
    let e = device.snapshot(Duration::ZERO).engine_utilization_pct.error().cloned().unwrap();
    assert_eq!((e.code.as_str(), e.reason, e.function), ("NO_SAMPLE", ErrorClass::Other, None));
    // The same with its energy counter refused for permission: the groups were hidden.
    let device = device_of(FunctionTable {
        zesDeviceEnumEngineGroups: Some(no_engines),
        zesDeviceEnumPowerDomains: Some(one_power),
        zesPowerGetEnergyCounter: Some(energy_needs_root),
        ..base_table()
    });
    let snap = device.snapshot(Duration::ZERO);
    assert_eq!(snap.engines, Reading::Value(vec![]));
    let e = snap.engine_utilization_pct.error().cloned().unwrap();
    assert_eq!(
        (e.code.as_str(), e.reason, e.function),
        (
            "ZE_RESULT_ERROR_INSUFFICIENT_PERMISSIONS",
            ErrorClass::Permission,
            Some("zesDeviceEnumEngineGroups")
        )
    );
    assert_eq!(
        e.message,
        "no engine groups enumerated while zesPowerGetEnergyCounter was refused for missing privileges: \
         drivers hide engine groups from unprivileged processes"
    );
    assert_eq!(
        serde_json::to_value(&snap).unwrap()["engine_utilization_pct"]["error"]["reason"],
        "permission"
    );
}
