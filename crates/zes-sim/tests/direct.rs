//! The simulated driver opened directly (no loader), as `zes_sys::Library` does.
mod common;

use common::{control, sim_so};
use std::sync::{Mutex, MutexGuard, OnceLock};
use zes_sys::*;

struct Sim {
    lib: Library,
    raw: libloading::Library,
}

fn sim() -> (MutexGuard<'static, ()>, &'static Sim) {
    static LOCK: Mutex<()> = Mutex::new(());
    static SIM: OnceLock<Sim> = OnceLock::new();
    let guard = LOCK.lock().unwrap_or_else(|e| e.into_inner());
    let s = SIM.get_or_init(|| {
        let path = sim_so();
        let lib = Library::open_path(&path).unwrap();
        // SAFETY: the same library again (same instance), for zesSimControl.
        let raw = unsafe { libloading::Library::new(&path) }.unwrap();
        Sim { lib, raw }
    });
    (guard, s)
}

fn load(s: &Sim, toml: &str) {
    control(&s.raw, &serde_json::json!({"op": "load", "toml": toml}).to_string()).unwrap();
    control(&s.raw, r#"{"op":"clear_faults"}"#).unwrap();
}

fn devices(f: &FunctionTable) -> Vec<zes_device_handle_t> {
    // SAFETY: plain calls with valid pointers throughout these tests.
    unsafe {
        assert_eq!(f.zesInit.unwrap()(zes_init_flags_t(0)), ZE_RESULT_SUCCESS);
        let mut n = 0;
        assert_eq!(f.zesDriverGet.unwrap()(&mut n, std::ptr::null_mut()), ZE_RESULT_SUCCESS);
        assert_eq!(n, 1);
        let mut drv = zes_driver_handle_t::NULL;
        assert_eq!(f.zesDriverGet.unwrap()(&mut n, &mut drv), ZE_RESULT_SUCCESS);
        let mut count = 0;
        assert_eq!(f.zesDeviceGet.unwrap()(drv, &mut count, std::ptr::null_mut()), ZE_RESULT_SUCCESS);
        let mut devs = vec![zes_device_handle_t::NULL; count as usize];
        assert_eq!(f.zesDeviceGet.unwrap()(drv, &mut count, devs.as_mut_ptr()), ZE_RESULT_SUCCESS);
        devs
    }
}

const TWO: &str = "[clock]\nmode='frozen'\n[[devices]]\npreset='max1550'\n[[devices]]\npreset='a770'\n[[devices]]\npreset='igpu'\n[[processes]]\npid=10\ndevice=1\nmemory_mib=1024\n[[workloads]]\ndevice=1\ncompute=1.0\nmemory_read_gbps=100\n";

#[test]
fn opens_as_driver_and_reads() {
    let (_g, s) = sim();
    assert_eq!(s.lib.kind(), LibraryKind::Driver);
    load(s, TWO);
    let f = s.lib.functions();
    let devs = devices(f);
    assert_eq!(devs.len(), 3);
    // SAFETY: valid pointers throughout.
    unsafe {
        let mut props = zes_device_properties_t::default();
        let mut ext = zes_device_ext_properties_t::default();
        props.pNext = (&mut ext as *mut zes_device_ext_properties_t).cast();
        assert_eq!(f.zesDeviceGetProperties.unwrap()(devs[0], &mut props), ZE_RESULT_SUCCESS);
        assert_eq!(c_chars_to_str(&props.core.name), "Intel(R) Data Center GPU Max 1550");
        assert_eq!(props.numSubdevices, 2);
        assert_eq!(props.core.vendorId, 0x8086);
        assert_eq!(ext.r#type, ZES_DEVICE_TYPE_GPU);
        assert!(ext.flags.contains(ZES_DEVICE_PROPERTY_FLAG_ECC));
        assert_eq!(&ext.uuid.id[..], &props.core.uuid.id[..]);
        // UUID lookup.
        let mut drv = zes_driver_handle_t::NULL;
        let mut n = 1;
        f.zesDriverGet.unwrap()(&mut n, &mut drv);
        let mut found = zes_device_handle_t::NULL;
        let (mut on_sub, mut sub_id) = (1u8, 9u32);
        assert_eq!(
            f.zesDriverGetDeviceByUuidExp.unwrap()(drv, ext.uuid, &mut found, &mut on_sub, &mut sub_id),
            ZE_RESULT_SUCCESS
        );
        assert_eq!((found, on_sub, sub_id), (devs[0], 0, 0));
        let mut subs = [zes_subdevice_exp_properties_t::default(); 4];
        let mut n = 4;
        assert_eq!(
            f.zesDeviceGetSubDevicePropertiesExp.unwrap()(devs[0], &mut n, subs.as_mut_ptr()),
            ZE_RESULT_SUCCESS
        );
        assert_eq!(n, 2);
        assert_eq!(subs[1].subdeviceId, 1);

        // Memory: a770 has 16 GiB, 1 GiB process + reserved in use.
        let mut n = 0;
        f.zesDeviceEnumMemoryModules.unwrap()(devs[1], &mut n, std::ptr::null_mut());
        assert_eq!(n, 1);
        let mut mem = zes_mem_handle_t::NULL;
        f.zesDeviceEnumMemoryModules.unwrap()(devs[1], &mut n, &mut mem);
        let mut mp = zes_mem_properties_t::default();
        assert_eq!(f.zesMemoryGetProperties.unwrap()(mem, &mut mp), ZE_RESULT_SUCCESS);
        assert_eq!(mp.physicalSize, 16 << 30);
        assert_eq!(mp.r#type, ZES_MEM_TYPE_GDDR6);
        let mut ms = zes_mem_state_t::default();
        assert_eq!(f.zesMemoryGetState.unwrap()(mem, &mut ms), ZE_RESULT_SUCCESS);
        assert_eq!(ms.size - ms.free, (1 << 30) + (448 << 20));

        // Power: energy grows at the modeled power with the stepped clock.
        let mut card = zes_pwr_handle_t::NULL;
        assert_eq!(f.zesDeviceGetCardPowerDomain.unwrap()(devs[1], &mut card), ZE_RESULT_SUCCESS);
        let mut e0 = zes_power_energy_counter_t::default();
        f.zesPowerGetEnergyCounter.unwrap()(card, &mut e0);
        control(&s.raw, r#"{"op":"advance","seconds":2.0}"#).unwrap();
        let mut e1 = zes_power_energy_counter_t::default();
        f.zesPowerGetEnergyCounter.unwrap()(card, &mut e1);
        assert_eq!(e1.timestamp - e0.timestamp, 2_000_000);
        let watts = (e1.energy - e0.energy) as f64 / 2e6;
        assert!((watts - 225.0).abs() < 1.0, "{watts}");
        // Limit it: later reads show the lower power and throttling.
        let mut sus = zes_power_sustained_limit_t::default();
        f.zesPowerGetLimits.unwrap()(card, &mut sus, std::ptr::null_mut(), std::ptr::null_mut());
        assert_eq!(sus.power, 225_000);
        sus.power = 10;
        assert_eq!(
            f.zesPowerSetLimits.unwrap()(card, &sus, std::ptr::null(), std::ptr::null()),
            ZE_RESULT_ERROR_INVALID_ARGUMENT
        );
        sus.power = 160_000;
        assert_eq!(
            f.zesPowerSetLimits.unwrap()(card, &sus, std::ptr::null(), std::ptr::null()),
            ZE_RESULT_SUCCESS
        );
        control(&s.raw, r#"{"op":"advance","seconds":1.0}"#).unwrap();
        let mut e2 = zes_power_energy_counter_t::default();
        f.zesPowerGetEnergyCounter.unwrap()(card, &mut e2);
        let watts = (e2.energy - e1.energy) as f64 / 1e6;
        assert!((watts - 160.0).abs() < 1.0, "{watts}");
        let mut fh = [zes_freq_handle_t::NULL; 8];
        let mut n = 8;
        f.zesDeviceEnumFrequencyDomains.unwrap()(devs[1], &mut n, fh.as_mut_ptr());
        let mut fs = zes_freq_state_t::default();
        f.zesFrequencyGetState.unwrap()(fh[0], &mut fs);
        assert!(fs.throttleReasons.contains(ZES_FREQ_THROTTLE_REASON_FLAG_AVE_PWR_CAP));
        let mut tt = zes_freq_throttle_time_t::default();
        f.zesFrequencyGetThrottleTime.unwrap()(fh[0], &mut tt);
        assert_eq!(tt.throttleTime, 1_000_000);
        // LimitsExt sees the same sustained limit.
        let mut n = 0;
        f.zesPowerGetLimitsExt.unwrap()(card, &mut n, std::ptr::null_mut());
        assert_eq!(n, 3);
        let mut descs = [zes_power_limit_ext_desc_t::default(); 3];
        f.zesPowerGetLimitsExt.unwrap()(card, &mut n, descs.as_mut_ptr());
        assert_eq!(descs[0].level, ZES_POWER_LEVEL_SUSTAINED);
        assert_eq!(descs[0].limit, 160_000);

        // Frequency range.
        let bad = zes_freq_range_t { min: 100.0, max: 5000.0 };
        assert_eq!(f.zesFrequencySetRange.unwrap()(fh[0], &bad), ZE_RESULT_ERROR_INVALID_ARGUMENT);
        let good = zes_freq_range_t { min: 600.0, max: 1800.0 };
        assert_eq!(f.zesFrequencySetRange.unwrap()(fh[0], &good), ZE_RESULT_SUCCESS);
        let mut r = zes_freq_range_t::default();
        f.zesFrequencyGetRange.unwrap()(fh[0], &mut r);
        assert_eq!((r.min, r.max), (600.0, 1800.0));

        // Engines: compute at 100 % for 1 s.
        let mut n = 0;
        f.zesDeviceEnumEngineGroups.unwrap()(devs[1], &mut n, std::ptr::null_mut());
        let mut eh = vec![zes_engine_handle_t::NULL; n as usize];
        f.zesDeviceEnumEngineGroups.unwrap()(devs[1], &mut n, eh.as_mut_ptr());
        let compute = eh
            .iter()
            .copied()
            .find(|h| {
                let mut p = zes_engine_properties_t::default();
                f.zesEngineGetProperties.unwrap()(*h, &mut p);
                p.r#type == ZES_ENGINE_GROUP_COMPUTE_ALL
            })
            .unwrap();
        let mut a0 = zes_engine_stats_t::default();
        f.zesEngineGetActivity.unwrap()(compute, &mut a0);
        control(&s.raw, r#"{"op":"advance","seconds":1.0}"#).unwrap();
        let mut a1 = zes_engine_stats_t::default();
        f.zesEngineGetActivity.unwrap()(compute, &mut a1);
        assert_eq!(a1.activeTime - a0.activeTime, 1_000_000);
        assert_eq!(a1.timestamp - a0.timestamp, 1_000_000);

        // ECC: pending until reset.
        let mut avail = 0u8;
        f.zesDeviceEccAvailable.unwrap()(devs[1], &mut avail);
        assert_eq!(avail, 0);
        let desc = zes_device_ecc_desc_t { state: ZES_DEVICE_ECC_STATE_DISABLED, ..Default::default() };
        let mut st = zes_device_ecc_properties_t::default();
        assert_eq!(
            f.zesDeviceSetEccState.unwrap()(devs[1], &desc, &mut st),
            ZE_RESULT_ERROR_UNSUPPORTED_FEATURE
        );
        assert_eq!(f.zesDeviceSetEccState.unwrap()(devs[0], &desc, &mut st), ZE_RESULT_SUCCESS);
        assert_eq!(st.currentState, ZES_DEVICE_ECC_STATE_ENABLED);
        assert_eq!(st.pendingState, ZES_DEVICE_ECC_STATE_DISABLED);
        assert_eq!(f.zesDeviceReset.unwrap()(devs[0], 1), ZE_RESULT_SUCCESS);
        f.zesDeviceGetEccState.unwrap()(devs[0], &mut st);
        assert_eq!(st.currentState, ZES_DEVICE_ECC_STATE_DISABLED);

        // Temperatures, fans, PCI on the a770; the iGPU lacks fans and RAS.
        let mut n = 0;
        f.zesDeviceEnumTemperatureSensors.unwrap()(devs[1], &mut n, std::ptr::null_mut());
        assert!(n >= 2);
        let mut th = zes_temp_handle_t::NULL;
        let mut one = 1;
        f.zesDeviceEnumTemperatureSensors.unwrap()(devs[1], &mut one, &mut th);
        let mut t = 0.0;
        assert_eq!(f.zesTemperatureGetState.unwrap()(th, &mut t), ZE_RESULT_SUCCESS);
        assert!(t > 30.0 && t < 100.0, "{t}");
        let mut n = 0;
        f.zesDeviceEnumFans.unwrap()(devs[1], &mut n, std::ptr::null_mut());
        assert_eq!(n, 1);
        f.zesDeviceEnumFans.unwrap()(devs[2], &mut n, std::ptr::null_mut());
        assert_eq!(n, 0);
        f.zesDeviceEnumRasErrorSets.unwrap()(devs[2], &mut n, std::ptr::null_mut());
        assert_eq!(n, 0);
        let mut pp = zes_pci_properties_t::default();
        f.zesDevicePciGetProperties.unwrap()(devs[0], &mut pp);
        assert_eq!((pp.maxSpeed.gen, pp.maxSpeed.width), (5, 16));
        let mut card = zes_pwr_handle_t::NULL;
        assert_eq!(
            f.zesDeviceGetCardPowerDomain.unwrap()(devs[2], &mut card),
            ZE_RESULT_ERROR_UNSUPPORTED_FEATURE
        );
        // Not modeled: the trait default.
        let mut n = 0;
        assert_eq!(
            f.zesDeviceEnumPsus.unwrap()(devs[0], &mut n, std::ptr::null_mut()),
            ZE_RESULT_ERROR_UNSUPPORTED_FEATURE
        );
    }
    let truth = control(&s.raw, r#"{"op":"truth","device":1}"#).unwrap();
    assert_eq!(truth["name"], "Intel(R) Arc(TM) A770 Graphics");
    assert!(truth["calls"].as_u64().unwrap() > 10);
}

#[test]
fn counts_handles_and_pointers() {
    let (_g, s) = sim();
    load(s, TWO);
    let f = s.lib.functions();
    let devs = devices(f);
    // SAFETY: deliberate null and bogus arguments: the driver must reject them.
    unsafe {
        let mut n = 0;
        let enum_power = f.zesDeviceEnumPowerDomains.unwrap();
        assert_eq!(
            enum_power(zes_device_handle_t::NULL, &mut n, std::ptr::null_mut()),
            ZE_RESULT_ERROR_INVALID_NULL_HANDLE
        );
        assert_eq!(
            enum_power(zes_device_handle_t::from_raw(0xdead0), &mut n, std::ptr::null_mut()),
            ZE_RESULT_ERROR_INVALID_NULL_HANDLE
        );
        assert_eq!(
            enum_power(devs[0], std::ptr::null_mut(), std::ptr::null_mut()),
            ZE_RESULT_ERROR_INVALID_NULL_POINTER
        );
        assert_eq!(enum_power(devs[0], &mut n, std::ptr::null_mut()), ZE_RESULT_SUCCESS);
        assert_eq!(n, 3);
        // Larger count is fixed down; smaller fills that many.
        let mut hs = [zes_pwr_handle_t::NULL; 8];
        let mut big = 8;
        enum_power(devs[0], &mut big, hs.as_mut_ptr());
        assert_eq!(big, 3);
        let mut hs2 = [zes_pwr_handle_t::NULL; 8];
        let mut small = 1;
        enum_power(devs[0], &mut small, hs2.as_mut_ptr());
        assert_eq!(small, 1);
        assert_eq!(hs2[0], hs[0]);
        assert!(hs2[1].is_null());
        // A power handle is not an engine handle.
        let mut st = zes_engine_stats_t::default();
        assert_eq!(
            f.zesEngineGetActivity.unwrap()(zes_engine_handle_t(hs[0].0), &mut st),
            ZE_RESULT_ERROR_INVALID_NULL_HANDLE
        );
        assert_eq!(
            f.zesPowerGetEnergyCounter.unwrap()(hs[0], std::ptr::null_mut()),
            ZE_RESULT_ERROR_INVALID_NULL_POINTER
        );
        let mut props = zes_power_properties_t::default();
        let mut ext = zes_power_ext_properties_t::default();
        let mut dl = zes_power_limit_ext_desc_t::default();
        ext.defaultLimit = &mut dl;
        props.pNext = (&mut ext as *mut zes_power_ext_properties_t).cast();
        assert_eq!(f.zesPowerGetProperties.unwrap()(hs[0], &mut props), ZE_RESULT_SUCCESS);
        assert_eq!(ext.domain, ZES_POWER_DOMAIN_CARD);
        assert_eq!(dl.limit, 600_000);
        assert_eq!(props.maxLimit, 600_000);
    }
}

#[test]
fn faults() {
    let (_g, s) = sim();
    load(s, TWO);
    let f = s.lib.functions();
    let devs = devices(f);
    // SAFETY: valid pointers throughout.
    unsafe {
        let mut n = 1;
        let mut pw = zes_pwr_handle_t::NULL;
        f.zesDeviceEnumPowerDomains.unwrap()(devs[1], &mut n, &mut pw);
        let mut e = zes_power_energy_counter_t::default();
        let energy = f.zesPowerGetEnergyCounter.unwrap();
        // A chosen code on the n-th call.
        control(
            &s.raw,
            r#"{"op":"fault","rule":"zesPowerGetEnergyCounter=ZE_RESULT_ERROR_NOT_AVAILABLE@nth:2"}"#,
        )
        .unwrap();
        let rcs: Vec<ze_result_t> = (0..3).map(|_| energy(pw, &mut e)).collect();
        assert_eq!(rcs, [ZE_RESULT_SUCCESS, ZE_RESULT_ERROR_NOT_AVAILABLE, ZE_RESULT_SUCCESS]);
        control(&s.raw, r#"{"op":"clear_faults"}"#).unwrap();
        // Unprivileged.
        control(&s.raw, r#"{"op":"fault","unprivileged":true}"#).unwrap();
        assert_eq!(energy(pw, &mut e), ZE_RESULT_ERROR_INSUFFICIENT_PERMISSIONS);
        let mut n = 0;
        f.zesDeviceEnumEngineGroups.unwrap()(devs[1], &mut n, std::ptr::null_mut());
        assert_eq!(n, 0);
        control(&s.raw, r#"{"op":"clear_faults"}"#).unwrap();
        // Energy wrap and repeated timestamps.
        control(&s.raw, r#"{"op":"fault","energy_wrap_uj":1000000,"repeat_timestamps":true}"#).unwrap();
        let mut a = zes_power_energy_counter_t::default();
        let mut b = zes_power_energy_counter_t::default();
        energy(pw, &mut a);
        control(&s.raw, r#"{"op":"advance","seconds":0.5}"#).unwrap();
        energy(pw, &mut b);
        assert_eq!((a.energy, a.timestamp), (b.energy, b.timestamp), "second read repeats the first");
        assert!(a.energy < 1_000_000);
        control(&s.raw, r#"{"op":"clear_faults"}"#).unwrap();
        // Process churn: count and fill disagree.
        control(&s.raw, r#"{"op":"fault","process_churn":true}"#).unwrap();
        let mut c1 = 0;
        f.zesDeviceProcessesGetState.unwrap()(devs[1], &mut c1, std::ptr::null_mut());
        let mut procs = vec![zes_process_state_t::default(); 8];
        let mut c2 = 8;
        f.zesDeviceProcessesGetState.unwrap()(devs[1], &mut c2, procs.as_mut_ptr());
        assert_ne!(c1, c2);
        assert_eq!(procs[0].processId, 10);
        control(&s.raw, r#"{"op":"clear_faults"}"#).unwrap();
        // Device lost after N calls.
        control(&s.raw, r#"{"op":"fault","device_lost":{"device":1,"after_calls":2}}"#).unwrap();
        let rcs: Vec<ze_result_t> = (0..4).map(|_| energy(pw, &mut e)).collect();
        assert_eq!(
            rcs,
            [ZE_RESULT_SUCCESS, ZE_RESULT_SUCCESS, ZE_RESULT_ERROR_DEVICE_LOST, ZE_RESULT_ERROR_DEVICE_LOST]
        );
        let mut n = 0;
        assert_eq!(
            f.zesDeviceEnumEngineGroups.unwrap()(devs[1], &mut n, std::ptr::null_mut()),
            ZE_RESULT_ERROR_DEVICE_LOST
        );
        assert_eq!(
            f.zesDeviceEnumEngineGroups.unwrap()(devs[0], &mut n, std::ptr::null_mut()),
            ZE_RESULT_SUCCESS
        );
        control(&s.raw, r#"{"op":"clear_faults"}"#).unwrap();
        // Latency: concurrent callers overlap (4 sequential calls would take 0.8 s; the bound
        // leaves room for a loaded machine).
        control(&s.raw, r#"{"op":"fault","latency_us":200000}"#).unwrap();
        let t0 = std::time::Instant::now();
        std::thread::scope(|sc| {
            for _ in 0..4 {
                sc.spawn(|| {
                    let mut e = zes_power_energy_counter_t::default();
                    assert_eq!(energy(pw, &mut e), ZE_RESULT_SUCCESS);
                });
            }
        });
        let took = t0.elapsed().as_secs_f64();
        assert!((0.2..0.6).contains(&took), "{took}");
        control(&s.raw, r#"{"op":"clear_faults"}"#).unwrap();
        // A slow device among fast ones: only calls on its handles wait.
        control(&s.raw, r#"{"op":"fault","latency_us":400000,"device":1}"#).unwrap();
        let mut pw0 = zes_pwr_handle_t::NULL;
        let mut n = 1;
        f.zesDeviceEnumPowerDomains.unwrap()(devs[0], &mut n, &mut pw0);
        let (slow, fast) = std::thread::scope(|sc| {
            let slow = sc.spawn(|| {
                let t = std::time::Instant::now();
                let mut e = zes_power_energy_counter_t::default();
                assert_eq!(energy(pw, &mut e), ZE_RESULT_SUCCESS);
                t.elapsed().as_secs_f64()
            });
            std::thread::sleep(std::time::Duration::from_millis(50));
            let t = std::time::Instant::now();
            let mut e = zes_power_energy_counter_t::default();
            assert_eq!(energy(pw0, &mut e), ZE_RESULT_SUCCESS, "device 0 answers meanwhile");
            let fast = t.elapsed().as_secs_f64();
            (slow.join().unwrap(), fast)
        });
        assert!(slow >= 0.4, "the slow device waited {slow}");
        assert!(fast < 0.3, "the fast device waited {fast} behind the slow one");
        let status = control(&s.raw, r#"{"op":"status"}"#).unwrap();
        assert_eq!(status["device_latency_us"], serde_json::json!([[1, 400000]]));
        control(&s.raw, r#"{"op":"clear_faults"}"#).unwrap();
        let status = control(&s.raw, r#"{"op":"status"}"#).unwrap();
        assert_eq!(status["device_latency_us"], serde_json::json!([]));
    }
    let calls = control(&s.raw, r#"{"op":"calls","function":"zesPowerGetEnergyCounter"}"#).unwrap();
    assert!(calls["calls"].as_u64().unwrap() >= 10);
    let e = control(&s.raw, r#"{"op":"nope"}"#).unwrap_err();
    assert!(e["error"].as_str().unwrap().contains("unknown operation"));
    let e = control(&s.raw, &serde_json::json!({"op":"load","toml":"[[devices]]\npreset='a770'\n[devices.power]\ntdp_watts=-1\n"}).to_string()).unwrap_err();
    assert_eq!(e["error"], "devices[0].power.tdp_watts: expected a number > 0");
}

fn error_of(s: &Sim, request: serde_json::Value) -> String {
    let reply = control(&s.raw, &request.to_string()).expect_err("the request is refused");
    reply["error"].as_str().expect("an error message").to_string()
}

fn load_error(s: &Sim, toml: &str) -> String {
    error_of(s, serde_json::json!({"op": "load", "toml": toml}))
}

/// Issue 8 case 10: `advance` by 1e9 s took hours (50 ms steps under the machine's lock); an
/// `advance` of 1e300 s never ended (the clock stopped moving). Now a settled device with a
/// constant workload crosses any stretch in one step, with the counters of the 50 ms
/// integration; a varying workload that needs more than the step budget is refused, and the
/// clock has an end.
#[test]
fn advance_is_bounded_and_exact() {
    let (_g, s) = sim();
    load(
        s,
        "[clock]\nmode='frozen'\n[[devices]]\npreset='a770'\n[[workloads]]\ncompute=0.6\npci_rx_gbps=2\n",
    );
    // Let the temperatures settle, then a billion seconds.
    control(&s.raw, r#"{"op":"advance","seconds":3600}"#).unwrap();
    let before = control(&s.raw, r#"{"op":"truth","device":0}"#).unwrap();
    let reply = control(&s.raw, r#"{"op":"advance","seconds":1e9}"#).unwrap();
    assert_eq!(reply["time_s"], 1e9 + 3600.0);
    let after = control(&s.raw, r#"{"op":"truth","device":0}"#).unwrap();
    assert_eq!(after["timestamp_us"].as_u64().unwrap(), 5_000_000 + (1e9 as u64 + 3600) * 1_000_000);
    let watts = before["power_w"][0]["watts"].as_f64().unwrap();
    assert_eq!(after["power_w"][0]["watts"].as_f64().unwrap(), watts, "settled: the same power");
    let energy = |t: &serde_json::Value| t["power_w"][0]["energy_uj"].as_u64().unwrap() as f64;
    let expected = watts * 1e9 * 1e6;
    assert!((energy(&after) - energy(&before) - expected).abs() <= 1e-12 * expected, "{after}");
    let active = |t: &serde_json::Value| {
        t["engines"]
            .as_array()
            .unwrap()
            .iter()
            .find(|e| e["group"] == "ZES_ENGINE_GROUP_COMPUTE_ALL")
            .unwrap()["active_time_us"]
            .as_u64()
            .unwrap() as f64
    };
    assert!((active(&after) - active(&before) - 0.6e15).abs() <= 1e-12 * 0.6e15);
    let rx = |t: &serde_json::Value| t["pci"]["rx_bytes"].as_u64().unwrap() as f64;
    assert!((rx(&after) - rx(&before) - 2e18).abs() <= 1e-12 * 2e18);

    // A varying workload: refused, nothing changed.
    load(
        s,
        "[clock]\nmode='frozen'\n[[devices]]\npreset='a770'\n[[workloads]]\ncompute={kind='square',high=1.0,period_s=2}\n",
    );
    let e = error_of(s, serde_json::json!({"op": "advance", "seconds": 1e9}));
    assert!(
        e.starts_with("seconds: advancing 1000000000 s needs more than 1000000 integration steps"),
        "{e}"
    );
    assert!(e.ends_with("advance in parts of at most 50000 s"), "{e}");
    let status = control(&s.raw, r#"{"op":"status"}"#).unwrap();
    assert_eq!(status["time_s"], 0.0);
    assert_eq!(control(&s.raw, r#"{"op":"truth","device":0}"#).unwrap()["power_w"][0]["energy_uj"], 0);
    control(&s.raw, r#"{"op":"advance","seconds":50000}"#).unwrap();

    // The clock's end.
    for seconds in [1e300, 1e10] {
        let e = error_of(s, serde_json::json!({"op": "advance", "seconds": seconds}));
        assert!(e.starts_with("seconds: the simulated clock ends at 10000000000 s and is at 50000 s"), "{e}");
    }
    let e = error_of(s, serde_json::json!({"op": "advance", "seconds": -1}));
    assert_eq!(e, "seconds: expected a number >= 0");
}

/// Issue 8 case 10: `latency_us` 1e12 was accepted (every driver call then blocked for 11
/// days); the cap is 10 s everywhere a latency comes from.
#[test]
fn latency_is_capped_everywhere() {
    let (_g, s) = sim();
    load(s, TWO);
    for request in [
        serde_json::json!({"op": "fault", "latency_us": 1e12 as u64}),
        serde_json::json!({"op": "fault", "latency_us": 10_000_001}),
        serde_json::json!({"op": "fault", "latency_us": 1e12 as u64, "device": 1}),
        serde_json::json!({"op": "fault", "latency_us": 1e12 as u64, "unprivileged": true}),
    ] {
        assert_eq!(error_of(s, request), "latency_us: expected microseconds from 0 to 10000000 (10 s)");
    }
    let status = control(&s.raw, r#"{"op":"status"}"#).unwrap();
    assert_eq!(
        (status["latency_us"].as_u64(), status["device_latency_us"].clone()),
        (Some(0), serde_json::json!([]))
    );
    let unprivileged = control(&s.raw, r#"{"op":"truth","device":0}"#).unwrap();
    assert!(unprivileged.is_object(), "a refused request changed nothing");
    control(&s.raw, r#"{"op":"fault","latency_us":10000000,"device":1}"#).unwrap();
    control(&s.raw, r#"{"op":"clear_faults"}"#).unwrap();
    let e = load_error(s, "[faults]\nlatency_us = 1000000000000\n");
    assert_eq!(e, "faults.latency_us: expected an integer from 0 to 10000000");
    let e = load_error(s, "[faults]\ndevice_latency = [{ device = 0, latency_us = 1000000000000 }]\n");
    assert_eq!(e, "faults.device_latency[0].latency_us: expected an integer from 0 to 10000000");
    // The environment (read by `reset`); this binary's tests are serialized by `sim()`.
    std::env::set_var("ZES_SIM_LATENCY_US", "1000000000000");
    let e = error_of(s, serde_json::json!({"op": "reset"}));
    std::env::remove_var("ZES_SIM_LATENCY_US");
    assert_eq!(e, "ZES_SIM_LATENCY_US: expected microseconds from 0 to 10000000, got \"1000000000000\"");
    assert_eq!(control(&s.raw, r#"{"op":"status"}"#).unwrap()["latency_us"], 0);
}

/// Issue 8 case 10: every other count from outside has a cap with an error naming the field.
#[test]
fn counts_from_files_and_requests_are_capped() {
    let (_g, s) = sim();
    let devices = |n: usize| "[[devices]]\npreset='igpu'\n".repeat(n);
    let e = load_error(s, &devices(257));
    assert_eq!(e, "devices: at most 256 devices (got 257)");
    let processes = "[[processes]]\npid=1\n".repeat(4097);
    assert_eq!(load_error(s, &processes), "processes: at most 4096 processes (got 4097)");
    let firmware =
        format!("[[devices]]\npreset='a770'\nfirmware=[{}]\n", "{name='x',version='1'},".repeat(65));
    assert_eq!(load_error(s, &firmware), "devices[0].firmware: at most 64 firmwares (got 65)");
    let rules = format!("[faults]\nrules=[{}]\n", "'zesDeviceGet=ZE_RESULT_ERROR_UNKNOWN',".repeat(1025));
    assert_eq!(load_error(s, &rules), "faults.rules: at most 1024 rules (got 1025)");
    let e = load_error(s, "[[devices]]\npreset='a770'\nmemory={size_gib=1e300}\n");
    assert_eq!(e, "devices[0].memory.size_gib: expected a number > 0 and at most 1048576");
    let e = load_error(s, "[[processes]]\npid=1\nmemory_mib=1e300\n");
    assert_eq!(e, "processes[0].memory_mib: expected a number from 0 to 1073741824");

    load(s, TWO);
    let e = error_of(s, serde_json::json!({"op": "process", "device": 0, "pid": 1u64 << 32}));
    assert_eq!(e, "pid: expected a number from 1 to 4294967295");
    let e = error_of(s, serde_json::json!({"op": "process", "device": 0, "pid": 5, "memory_mib": 1e300}));
    assert_eq!(e, "memory_mib: expected a number from 0 to 1073741824");
    let e =
        error_of(s, serde_json::json!({"op": "workload", "device": 0, "compute": 0.5, "pci_rx_gbps": 1e300}));
    assert_eq!(e, "pci_rx_gbps: expected a number from 0 to 1000000");
    control(&s.raw, r#"{"op":"advance","seconds":1}"#).unwrap();
    assert_eq!(
        control(&s.raw, r#"{"op":"truth","device":0}"#).unwrap()["utilization"]["compute"],
        0.0,
        "unchanged"
    );
    let e = error_of(s, serde_json::json!({"op": "event", "device": 0, "events": 1u64 << 32}));
    assert_eq!(e, "events: expected event flag bits (a 32-bit number)");
    for pid in 1..=4095u32 {
        control(&s.raw, &serde_json::json!({"op": "process", "device": 0, "pid": 100 + pid}).to_string())
            .unwrap();
    }
    let e = error_of(s, serde_json::json!({"op": "process", "device": 0, "pid": 99_999}));
    assert_eq!(e, "pid: at most 4096 processes");
    // Replacing a process is not adding one.
    control(&s.raw, r#"{"op":"process","device":0,"pid":101,"memory_mib":1}"#).unwrap();
    for _ in 0..1024 {
        control(&s.raw, r#"{"op":"fault","rule":"zesDeviceGet=ZE_RESULT_ERROR_UNKNOWN@nth:1000000"}"#)
            .unwrap();
    }
    let e = error_of(s, serde_json::json!({"op": "fault", "rule": "zesDeviceGet=ZE_RESULT_ERROR_UNKNOWN"}));
    assert_eq!(e, "rule: at most 1024 rules (clear_faults drops them)");
    control(&s.raw, r#"{"op":"clear_faults"}"#).unwrap();
    control(&s.raw, r#"{"op":"fault","device_lost":{"device":0,"after_calls":18446744073709551615}}"#)
        .unwrap();
    control(&s.raw, r#"{"op":"clear_faults"}"#).unwrap();
}

/// Issue 8 case 3's machine file (a frequency domain with 1e18 clocks) is refused with the field
/// named: a `uint32_t` count cannot say it. Up to 4294967295 clocks are accepted and reported,
/// generated one by one on request (nothing of that size is allocated).
#[test]
fn available_clocks_are_counted_not_stored() {
    let (_g, s) = sim();
    let e = load_error(s, "[[devices]]\npreset='a770'\nfrequency={min_mhz=1, max_mhz=1e12, step_mhz=1e-6}\n");
    assert_eq!(
        e,
        "devices[0].frequency.step_mhz: the GPU domain would have 999999999999000065 available clocks \
         from 1 to 1000000000000 MHz; at most 4294967295"
    );
    let e = load_error(s, "[[devices]]\npreset='max1550'\nfrequency={step_mhz=1e-7}\n");
    assert!(
        e.starts_with("devices[0].frequency.step_mhz: the GPU domain would have 7000000001 available"),
        "{e}"
    );
    load(s, "[[devices]]\npreset='a770'\nfrequency={min_mhz=1, max_mhz=4295.967294, step_mhz=1e-6}\n");
    let f = s.lib.functions();
    let devs = devices(f);
    // SAFETY: valid pointers; the clock array holds the 3 elements asked for.
    unsafe {
        let mut n = 1;
        let mut fh = zes_freq_handle_t::NULL;
        assert_eq!(f.zesDeviceEnumFrequencyDomains.unwrap()(devs[0], &mut n, &mut fh), ZE_RESULT_SUCCESS);
        let mut count = 0;
        let clocks = f.zesFrequencyGetAvailableClocks.unwrap();
        assert_eq!(clocks(fh, &mut count, std::ptr::null_mut()), ZE_RESULT_SUCCESS);
        assert_eq!(count, u32::MAX);
        let mut first = [0.0f64; 3];
        let mut three = 3;
        assert_eq!(clocks(fh, &mut three, first.as_mut_ptr()), ZE_RESULT_SUCCESS);
        assert_eq!((three, first), (3, [1.0, 1.0 + 1e-6, 1.0 + 2e-6]));
    }
}

fn pci_address(f: &FunctionTable, device: zes_device_handle_t) -> (u32, u32, u32, u32) {
    let mut p = zes_pci_properties_t::default();
    // SAFETY: a valid properties struct.
    assert_eq!(unsafe { f.zesDevicePciGetProperties.unwrap()(device, &mut p) }, ZE_RESULT_SUCCESS);
    (p.address.domain, p.address.bus, p.address.device, p.address.function)
}

/// Issue 8 case 19: device 65536 was device 0 again (a 16-bit field in the handle) and device 16
/// got PCI bus 0x103. Now a machine has at most 256 devices, each with its own handle and a
/// valid PCI address of its own.
#[test]
fn every_device_has_its_own_handle_and_a_valid_pci_address() {
    let (_g, s) = sim();
    let mut file = String::new();
    for i in 0..256 {
        file += [
            "[[devices]]\npreset='a770'\n",
            "[[devices]]\npreset='max1550'\n",
            "[[devices]]\npreset='igpu'\n",
        ][i % 3];
    }
    load(s, &file);
    let f = s.lib.functions();
    let devs = devices(f);
    assert_eq!(devs.len(), 256);
    let distinct: std::collections::HashSet<usize> = devs.iter().map(|d| d.0 as usize).collect();
    assert_eq!(distinct.len(), 256);
    let mut addresses = std::collections::HashSet::new();
    let mut uuids = std::collections::HashSet::new();
    for (i, d) in devs.iter().enumerate() {
        let (domain, bus, device, function) = pci_address(f, *d);
        assert!(
            bus <= 0xFF && device <= 0x1F && function <= 7,
            "device {i}: {domain:x}:{bus:x}:{device:x}.{function}"
        );
        assert!(addresses.insert((domain, bus, device, function)), "device {i}: address repeated");
        let mut props = zes_device_properties_t::default();
        // SAFETY: a valid properties struct.
        assert_eq!(unsafe { f.zesDeviceGetProperties.unwrap()(*d, &mut props) }, ZE_RESULT_SUCCESS);
        assert!(uuids.insert(props.core.uuid.id), "device {i}: UUID repeated");
        let expected = [
            "Intel(R) Arc(TM) A770 Graphics",
            "Intel(R) Data Center GPU Max 1550",
            "Intel(R) UHD Graphics 770",
        ];
        assert_eq!(c_chars_to_str(&props.core.name), expected[i % 3], "device {i} is its own");
    }
    // The first devices keep the addresses they always had.
    assert_eq!(pci_address(f, devs[0]), (0, 0x03, 0, 0));
    assert_eq!(pci_address(f, devs[1]), (0, 0x39, 0, 0));
    assert_eq!(pci_address(f, devs[2]), (0, 0x00, 2, 0));
    assert_eq!(pci_address(f, devs[15]), (0, 0xF3, 0, 0));
    // The second iGPU (00:02.0 is taken) and device 16 (a max1550 at 0x29 + 0x100) get the
    // first free valid address instead.
    assert_eq!(pci_address(f, devs[5]), (0, 0x01, 0, 0));
    assert_eq!(pci_address(f, devs[16]), (0, 0x01, 4, 0));
    // Truth answers for the last device, and its calls are its own.
    let last = control(&s.raw, r#"{"op":"truth","device":255}"#).unwrap();
    assert_eq!(last["preset"], "a770");
    assert_eq!(
        error_of(s, serde_json::json!({"op": "truth", "device": 256})),
        "device: 256 is out of range (there are 256)"
    );

    // Addresses given in the file are kept and must be unique; the others avoid them.
    let e = load_error(
        s,
        "[[devices]]\npreset='a770'\npci={bus=5}\n[[devices]]\npreset='max1550'\npci={bus=5, device=0}\n",
    );
    assert_eq!(e, "devices[1].pci: address 0000:05:00.0 is already another device's");
    load(s, "[[devices]]\npreset='a770'\n[[devices]]\npreset='a770'\npci={bus=3}\n");
    let devs = devices(f);
    assert_eq!(pci_address(f, devs[1]), (0, 0x03, 0, 0));
    assert_eq!(pci_address(f, devs[0]), (0, 0x01, 0, 0));
}

/// Issue 8 case 18: a handle obtained before the machine was rebuilt read the new machine's
/// device of the same index. Now it is refused with INVALID_NULL_HANDLE (the code of the
/// validation layer's handle-lifetime check); the driver handle stays valid.
#[test]
fn handles_of_a_rebuilt_machine_are_refused() {
    let (_g, s) = sim();
    load(s, TWO);
    let f = s.lib.functions();
    let old = devices(f);
    // SAFETY: valid pointers; the handles are the driver's own (old or new).
    unsafe {
        let mut n = 1;
        let mut old_power = zes_pwr_handle_t::NULL;
        assert_eq!(f.zesDeviceEnumPowerDomains.unwrap()(old[0], &mut n, &mut old_power), ZE_RESULT_SUCCESS);
        let mut drv = zes_driver_handle_t::NULL;
        let mut one = 1;
        assert_eq!(f.zesDriverGet.unwrap()(&mut one, &mut drv), ZE_RESULT_SUCCESS);

        for rebuild in
            [r#"{"op":"reset"}"#.to_string(), serde_json::json!({"op": "load", "toml": TWO}).to_string()]
        {
            control(&s.raw, &rebuild).unwrap();
            let mut props = zes_device_properties_t::default();
            assert_eq!(
                f.zesDeviceGetProperties.unwrap()(old[0], &mut props),
                ZE_RESULT_ERROR_INVALID_NULL_HANDLE
            );
            assert_eq!(props.core.name[0], 0, "nothing written");
            let mut e = zes_power_energy_counter_t::default();
            assert_eq!(
                f.zesPowerGetEnergyCounter.unwrap()(old_power, &mut e),
                ZE_RESULT_ERROR_INVALID_NULL_HANDLE
            );
            let mut n = 0;
            assert_eq!(
                f.zesDeviceEnumPowerDomains.unwrap()(old[1], &mut n, std::ptr::null_mut()),
                ZE_RESULT_ERROR_INVALID_NULL_HANDLE
            );
            // The driver handle of before still serves; the new handles are other values.
            let mut count = 0;
            assert_eq!(f.zesDeviceGet.unwrap()(drv, &mut count, std::ptr::null_mut()), ZE_RESULT_SUCCESS);
            let new = devices(f);
            assert!(new.iter().all(|h| !old.contains(h)));
            assert_eq!(f.zesDeviceGetProperties.unwrap()(new[0], &mut props), ZE_RESULT_SUCCESS);
        }
        // A load that fails keeps the machine, and so its handles.
        let current = devices(f);
        let e = load_error(s, "[[devices]]\npreset='h100'\n");
        assert!(e.starts_with("devices[0].preset: unknown preset"), "{e}");
        let mut props = zes_device_properties_t::default();
        assert_eq!(f.zesDeviceGetProperties.unwrap()(current[0], &mut props), ZE_RESULT_SUCCESS);
    }
}
