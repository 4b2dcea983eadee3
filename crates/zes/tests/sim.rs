//! Integration tests against the simulated driver (`crates/zes-sim`), opened directly as a
//! driver library (`libzes_sim.so` beside the test binary), on both init paths.
//!
//! The simulator's state is process-global: every test that steers it takes [`lock`], which
//! resets the machine (default: 2 x Max 1550 + 1 x A770), drops faults and freezes the clock.
//! Rates are checked against the model's truth (`{"op":"truth"}`) with the window made by
//! stepping the frozen clock, so nothing depends on real time.

use std::path::PathBuf;
use std::sync::{Mutex, MutexGuard, OnceLock};
use std::time::Duration;

use serde_json::Value;
use zes::snapshot::DeviceSnapshot;
use zes::sys::{
    zes_device_ecc_state_t, zes_engine_group_t, zes_event_type_flags_t, zes_freq_domain_t,
    zes_freq_throttle_reason_flags_t, LibraryKind,
};
use zes::{Device, ErrorClass, InitPath, Reading, Sysman, Uuid};

fn sim_path() -> PathBuf {
    zes_sim::testing::library_path()
}

/// `zesSimControl` of the instance `Sysman` opened (the same file: the dynamic linker hands out
/// the same instance).
fn ctl(request: &str) -> Value {
    static LIB: OnceLock<libloading::Library> = OnceLock::new();
    // SAFETY: opening the simulated driver runs no code beyond its (trivial) initializers.
    let lib = LIB.get_or_init(|| unsafe { libloading::Library::new(sim_path()) }.unwrap());
    zes_sim::testing::control(lib, request).unwrap_or_else(|reply| panic!("{request} -> {reply}"))
}

/// Serializes the tests and resets the simulator: default machine, no faults, frozen clock.
fn lock() -> MutexGuard<'static, ()> {
    static LOCK: Mutex<()> = Mutex::new(());
    let guard = LOCK.lock().unwrap_or_else(|e| e.into_inner());
    sysman(InitPath::Zes); // the library must be open before it can be steered
    ctl(r#"{"op":"reset"}"#);
    ctl(r#"{"op":"clear_faults"}"#);
    ctl(r#"{"op":"clock","mode":"frozen"}"#);
    guard
}

fn sysman(path: InitPath) -> Sysman {
    Sysman::builder().library(sim_path()).init_path(path).init().expect("the simulated driver initializes")
}

fn advance(seconds: f64) {
    ctl(&format!(r#"{{"op":"advance","seconds":{seconds}}}"#));
}

fn truth(device: usize) -> Value {
    ctl(&format!(r#"{{"op":"truth","device":{device}}}"#))
}

fn close(a: f64, b: f64, rel: f64) -> bool {
    (a - b).abs() <= rel * b.abs().max(1e-9)
}

#[track_caller]
fn value<T: Clone + std::fmt::Debug>(r: &Reading<T>) -> T {
    match r {
        Reading::Value(v) => v.clone(),
        Reading::Error(e) => panic!("expected a value, got {e:?}"),
    }
}

/// Snapshot of one device over one second of simulated time.
fn snap(device: &Device) -> DeviceSnapshot {
    device.snapshot_with(|| advance(1.0))
}

fn where_of(sub: Option<u32>) -> String {
    sub.map_or("device".into(), |t| format!("tile{t}"))
}

/// Sum of a truth counter over entries matching `filter`.
fn counter(t: &Value, list: &str, key: &str, filter: impl Fn(&Value) -> bool) -> f64 {
    t[list].as_array().unwrap().iter().filter(|e| filter(e)).map(|e| e[key].as_f64().unwrap()).sum()
}

#[test]
fn init_is_idempotent_and_reports_its_path() {
    let _g = lock();
    let a = sysman(InitPath::Zes);
    let b = sysman(InitPath::Zes);
    assert!(a.same_as(&b));
    assert_eq!(a.library_kind(), Some(LibraryKind::Driver));
    assert_eq!(a.init_path(), InitPath::Zes);
    assert_eq!(a.loader_version(), None, "a driver opened directly is no loader");
    let auto = Sysman::builder().library(sim_path()).init().unwrap();
    assert_eq!(auto.init_path(), InitPath::Zes, "Auto prefers zesInit where the library has it");
    let legacy = sysman(InitPath::Legacy);
    assert_eq!(legacy.init_path(), InitPath::Legacy);
    assert!(!legacy.same_as(&a));
    assert_eq!(std::env::var("ZES_ENABLE_SYSMAN").as_deref(), Ok("1"));
    let status = ctl(r#"{"op":"status"}"#);
    assert_eq!(status["zes_initialized"], true);
    assert_eq!(status["ze_initialized"], true);
    for s in [&a, &legacy] {
        let names: Vec<String> = s.devices().unwrap().iter().map(|d| d.properties().unwrap().name).collect();
        assert_eq!(
            names,
            [
                "Intel(R) Data Center GPU Max 1550",
                "Intel(R) Data Center GPU Max 1550",
                "Intel(R) Arc(TM) A770 Graphics"
            ]
        );
    }
}

fn check_metrics_against_truth(path: InitPath) {
    let _g = lock();
    let s = sysman(path);
    ctl(
        r#"{"op":"workload","device":0,"compute":0.9,"render":0,"copy":0.2,"media":0.4,"memory_read_gbps":100,"memory_write_gbps":50,"pci_rx_gbps":8,"pci_tx_gbps":2}"#,
    );
    advance(30.0); // temperatures follow power with a lag
    let device = &s.devices().unwrap()[0];
    let t0 = truth(0);
    let snap = snap(device);
    let t1 = truth(0);
    let dt = t1["time_s"].as_f64().unwrap() - t0["time_s"].as_f64().unwrap();
    assert!(close(dt, 1.0, 1e-9));
    assert_eq!(value(&snap.properties).name, "Intel(R) Data Center GPU Max 1550");

    // Power: card and every domain.
    let powers = t1["power_w"].as_array().unwrap();
    let card = powers.iter().find(|p| p["domain"] == "ZES_POWER_DOMAIN_CARD").unwrap();
    let card_w = card["watts"].as_f64().unwrap();
    assert!(card_w > 300.0, "a busy Max 1550 draws real power: {card_w}");
    assert!(close(value(&snap.power_w), card_w, 1e-3), "{:?} vs {card_w}", snap.power_w);
    let domains = value(&snap.power_domains);
    assert_eq!(domains.len(), powers.len());
    for d in &domains {
        let truth_d = powers
            .iter()
            .find(|p| {
                p["where"] == where_of(d.subdevice_id).as_str()
                    && p["domain"].as_str().unwrap().ends_with(&d.domain)
            })
            .unwrap_or_else(|| panic!("no truth for {d:?}"));
        assert!(close(value(&d.power_w), truth_d["watts"].as_f64().unwrap(), 1e-3), "{d:?} vs {truth_d}");
    }

    // Engines: per group against the workload, overall = the ALL group.
    let util = &t1["utilization"];
    let expected = |group: &str| -> Option<f64> {
        let u = |k: &str| util[k].as_f64().unwrap() * 100.0;
        Some(match group {
            "ALL" => u("compute").max(u("render")).max(u("copy")).max(u("media")),
            "COMPUTE_ALL" | "COMPUTE_SINGLE" => u("compute"),
            "RENDER_ALL" | "RENDER_SINGLE" => u("render"),
            "COPY_ALL" | "COPY_SINGLE" => u("copy"),
            "MEDIA_ALL" | "MEDIA_DECODE_SINGLE" | "MEDIA_ENCODE_SINGLE" => u("media"),
            _ => return None,
        })
    };
    let engines = value(&snap.engines);
    assert!(engines.len() >= 10, "{engines:?}");
    let mut checked = 0;
    for e in &engines {
        let got = value(&e.utilization_pct);
        // The truth's own counters over the window.
        let key = format!("ZES_ENGINE_GROUP_{}", e.group);
        let w = where_of(e.subdevice_id);
        let pick = |t: &Value| {
            counter(t, "engines", "active_time_us", |x| {
                x["group"] == key.as_str() && x["where"] == w.as_str()
            })
        };
        let from_counters = (pick(&t1) - pick(&t0)) / (dt * 1e6) * 100.0;
        assert!((got - from_counters).abs() < 0.01, "{e:?}: {got} vs counters {from_counters}");
        if let Some(want) = expected(&e.group) {
            if e.group != "ALL" {
                assert!((got - want).abs() < 0.01, "{e:?}: {got} vs workload {want}");
            }
            checked += 1;
        }
    }
    assert!(checked >= 10);
    let all = engines.iter().find(|e| e.group == "ALL").unwrap();
    assert_eq!(value(&snap.engine_utilization_pct), value(&all.utilization_pct));
    assert!((value(&snap.engine_utilization_pct) - 90.0).abs() < 0.01);

    // Memory: used bytes per module and bandwidth from the counters (= the workload).
    let mems = value(&snap.memory);
    assert_eq!(mems.len(), 2);
    let (mut read, mut write) = (0.0, 0.0);
    for m in &mems {
        let w = where_of(m.subdevice_id);
        let tm = t1["memory"].as_array().unwrap().iter().find(|x| x["where"] == w.as_str()).unwrap();
        assert_eq!(value(&m.used_bytes), tm["used_bytes"].as_u64().unwrap());
        assert_eq!(value(&m.total_bytes), tm["size_bytes"].as_u64().unwrap());
        assert_eq!(value(&m.total_bytes) - value(&m.free_bytes), value(&m.used_bytes));
        let pick = |t: &Value, k: &str| counter(t, "memory", k, |x| x["where"] == w.as_str());
        let r = (pick(&t1, "read_bytes") - pick(&t0, "read_bytes")) / dt;
        assert!(close(value(&m.read_bytes_per_sec), r, 1e-6), "{m:?} vs {r}");
        read += value(&m.read_bytes_per_sec);
        write += value(&m.write_bytes_per_sec);
    }
    assert_eq!(
        mems.iter().map(|m| value(&m.used_bytes)).sum::<u64>(),
        t1["memory_used_bytes"].as_u64().unwrap()
    );
    assert!(close(read, 100e9, 1e-6), "{read}");
    assert!(close(write, 50e9, 1e-6), "{write}");

    // PCI throughput.
    assert!(close(value(&snap.pci.rx_bytes_per_sec), 8e9, 1e-6), "{:?}", snap.pci);
    assert!(close(value(&snap.pci.tx_bytes_per_sec), 2e9, 1e-6), "{:?}", snap.pci);

    // Temperatures (the API reports whole degrees) and frequencies.
    let temps = value(&snap.temperatures);
    assert_eq!(temps.len(), t1["temperatures_c"].as_array().unwrap().len());
    for tr in &temps {
        let w = where_of(tr.subdevice_id);
        let key = format!("ZES_TEMP_SENSORS_{}", tr.sensor);
        let c = counter(&t1, "temperatures_c", "celsius", |x| {
            x["sensor"] == key.as_str() && x["where"] == w.as_str()
        });
        assert!((value(&tr.celsius) - c).abs() <= 1.0, "{tr:?} vs {c}");
        assert!(c > 40.0);
    }
    let freqs = value(&snap.frequencies);
    assert_eq!(freqs.len(), 6);
    for f in &freqs {
        let w = where_of(f.subdevice_id);
        let key = format!("ZES_FREQ_DOMAIN_{}", f.domain);
        let tf = t1["frequencies_mhz"]
            .as_array()
            .unwrap()
            .iter()
            .find(|x| x["domain"] == key.as_str() && x["where"] == w.as_str())
            .unwrap();
        assert_eq!(value(&f.actual_mhz), tf["actual"].as_f64());
        assert_eq!(value(&f.request_mhz), tf["request"].as_f64());
        assert_eq!(value(&f.throttle_ratio), 0.0, "{f:?}");
        assert!(value(&f.throttle_reasons).is_empty());
    }
    let gpu0 = freqs.iter().find(|f| f.domain == "GPU" && f.subdevice_id == Some(0)).unwrap();
    assert_eq!((value(&gpu0.min_mhz), value(&gpu0.max_mhz)), (900.0, 1600.0));

    // Processes.
    let procs = value(&snap.processes);
    let tp = t1["processes"].as_array().unwrap();
    assert_eq!(procs.len(), tp.len());
    assert_eq!(procs[0].pid as u64, tp[0]["pid"].as_u64().unwrap());
    assert_eq!(procs[0].mem_size, tp[0]["memory_bytes"].as_u64().unwrap());
    serde_json::to_string(&snap).unwrap();
}

#[test]
fn metrics_match_the_model_zes_path() {
    check_metrics_against_truth(InitPath::Zes);
}

#[test]
fn metrics_match_the_model_legacy_path() {
    check_metrics_against_truth(InitPath::Legacy);
}

#[test]
fn all_devices_concurrently_and_sequentially() {
    let _g = lock();
    ctl(r#"{"op":"clock","mode":"real"}"#);
    let s = sysman(InitPath::Zes);
    for snaps in [
        s.snapshot_all(Duration::from_millis(30)).unwrap(),
        s.snapshot_all_sequential(Duration::from_millis(30)).unwrap(),
    ] {
        assert_eq!(snaps.len(), 3);
        for (i, snap) in snaps.iter().enumerate() {
            assert_eq!(snap.index, i);
            let w = value(&snap.power_w);
            assert!(w > 10.0 && w < 700.0, "{w} W");
            let u = value(&snap.engine_utilization_pct);
            assert!((0.0..=100.0).contains(&u));
            assert!(snap.window_s >= 0.03);
        }
    }
}

#[test]
fn throttled_by_a_lowered_power_limit() {
    let _g = lock();
    let s = sysman(InitPath::Zes);
    let device = &s.devices().unwrap()[0];
    let card = device.card_power_domain().unwrap();
    let mut limits = card.limits().unwrap();
    assert_eq!(limits.sustained.enabled, 1);
    assert_eq!(limits.sustained.power, 600_000);
    limits.sustained.power = 300_000;
    card.set_limits(Some(&limits.sustained), None, None).unwrap();
    assert_eq!(card.limits().unwrap().sustained.power, 300_000, "read back");
    let t = truth(0);
    assert_eq!(t["power_w"][0]["sustained_limit_mw"], 300_000);

    ctl(r#"{"op":"workload","device":0,"compute":1.0,"render":1.0,"copy":0.5,"media":0.5}"#);
    advance(5.0);
    let snap = snap(device);
    let t = truth(0);
    assert!(t["demand_w"].as_f64().unwrap() > 300.0, "{}", t["demand_w"]);
    let w = value(&snap.power_w);
    assert!(w <= 300.0 + 1e-6 && w > 250.0, "capped at the limit: {w}");
    let gpu = value(&snap.frequencies).into_iter().filter(|f| f.domain == "GPU").collect::<Vec<_>>();
    assert_eq!(gpu.len(), 2);
    for f in &gpu {
        let ratio = value(&f.throttle_ratio);
        assert!(ratio > 0.99 && ratio <= 1.0, "{f:?}");
        assert!(value(&f.throttle_reasons).contains(&"AVE_PWR_CAP".to_string()), "{f:?}");
    }
    let raw = s.devices().unwrap()[0].frequency_domains().unwrap()[0].state().unwrap();
    assert!(raw.throttle_reasons.contains(zes_freq_throttle_reason_flags_t::AVE_PWR_CAP));
}

#[test]
fn set_operations_read_back() {
    let _g = lock();
    let s = sysman(InitPath::Zes);
    let device = &s.devices().unwrap()[0];

    // Frequency range.
    let gpu = device
        .frequency_domains()
        .unwrap()
        .into_iter()
        .find(|f| f.properties().unwrap().domain == zes_freq_domain_t::GPU)
        .unwrap();
    assert_eq!(gpu.range().unwrap(), (900.0, 1600.0));
    gpu.set_range(1000.0, 1200.0).unwrap();
    assert_eq!(gpu.range().unwrap(), (1000.0, 1200.0));
    advance(1.0);
    let state = gpu.state().unwrap();
    assert!(state.actual_mhz.unwrap() <= 1200.0 && state.actual_mhz.unwrap() >= 1000.0, "{state:?}");
    let f0 = &truth(0)["frequencies_mhz"][0];
    assert_eq!((f0["min"].as_f64(), f0["max"].as_f64()), (Some(1000.0), Some(1200.0)));

    // Power limit through the Ext interface.
    let card = device.card_power_domain().unwrap();
    let mut ext = card.limits_ext().unwrap();
    assert!(!ext.is_empty());
    let sustained = ext.iter().position(|l| l.level == zes::sys::zes_power_level_t::SUSTAINED).unwrap();
    ext[sustained].limit = 450_000;
    card.set_limits_ext(&mut ext).unwrap();
    assert_eq!(card.limits().unwrap().sustained.power, 450_000);

    // ECC: the change is pending until a reset.
    assert!(device.ecc_available().unwrap());
    assert!(device.ecc_configurable().unwrap());
    let before = device.ecc_state().unwrap();
    assert_eq!(before.current, zes_device_ecc_state_t::ENABLED);
    let after = device.set_ecc_state(zes_device_ecc_state_t::DISABLED).unwrap();
    assert_eq!(after.current, zes_device_ecc_state_t::ENABLED);
    assert_eq!(after.pending, zes_device_ecc_state_t::DISABLED);
    assert_eq!(truth(0)["ecc"]["pending"], "ZES_DEVICE_ECC_STATE_DISABLED");
    device.reset(true).unwrap();
    let reset = device.ecc_state().unwrap();
    assert_eq!(reset.current, zes_device_ecc_state_t::DISABLED);
    assert_eq!(truth(0)["ecc"]["current"], "ZES_DEVICE_ECC_STATE_DISABLED");

    // The A770 has no ECC.
    let a770 = &s.devices().unwrap()[2];
    assert!(!a770.ecc_available().unwrap());
}

#[test]
fn unprivileged_gives_per_metric_permission_errors() {
    let _g = lock();
    ctl(r#"{"op":"fault","unprivileged":true}"#);
    let s = sysman(InitPath::Zes);
    let device = &s.devices().unwrap()[0];
    let snap = snap(device);
    let perm = |r: &Reading<f64>, what: &str| {
        let e = r.error().unwrap_or_else(|| panic!("{what}: expected a permission error, got {r:?}"));
        assert_eq!(e.reason, ErrorClass::Permission, "{what}: {e:?}");
        assert_eq!(e.code, "ZE_RESULT_ERROR_INSUFFICIENT_PERMISSIONS");
    };
    // The device itself is fine.
    assert_eq!(value(&snap.properties).vendor_id, 0x8086);
    perm(&snap.power_w, "card power");
    for d in value(&snap.power_domains) {
        perm(&d.power_w, "domain power");
    }
    for t in value(&snap.temperatures) {
        perm(&t.celsius, "temperature");
    }
    for m in value(&snap.memory) {
        perm(&m.read_bytes_per_sec, "memory bandwidth");
        value(&m.used_bytes); // memory state needs no privileges
    }
    assert!(value(&snap.engines).is_empty(), "no engine groups without privileges");
    // No call refuses the engines: zero groups while the rest is refused for permission is one.
    perm(&snap.engine_utilization_pct, "engine utilization");
    let e = snap.engine_utilization_pct.error().unwrap();
    assert_eq!(e.function, Some("zesDeviceEnumEngineGroups"));
    assert!(e.message.contains("zesPowerGetEnergyCounter was refused"), "{}", e.message);
    assert!(value(&snap.frequencies).iter().all(|f| f.actual_mhz.value().is_some()));
    let json = serde_json::to_value(&snap).unwrap();
    assert_eq!(json["power_w"]["error"]["reason"], "permission");
    assert_eq!(json["power_w"]["error"]["function"], "zesPowerGetEnergyCounter");
    // And through the component API.
    let e = device.power_domains().unwrap()[0].energy_counter().unwrap_err();
    assert!(e.is_permission_denied());
}

#[test]
fn device_lost_mid_snapshot() {
    let _g = lock();
    let s = sysman(InitPath::Zes);
    let snaps = s
        .snapshot_all_with(|| {
            advance(1.0);
            ctl(r#"{"op":"fault","device_lost":{"device":1}}"#);
        })
        .unwrap();
    assert_eq!(snaps.len(), 3);
    let lost = &snaps[1];
    for (what, e) in [
        ("power", lost.power_w.error()),
        ("properties", lost.properties.error()),
        ("processes", lost.processes.error()),
        ("pci", lost.pci.rx_bytes_per_sec.error()),
    ] {
        let e = e.unwrap_or_else(|| panic!("{what}: expected device lost"));
        assert_eq!(e.reason, ErrorClass::DeviceLost, "{what}: {e:?}");
    }
    for e in value(&lost.engines) {
        assert_eq!(e.utilization_pct.error().unwrap().reason, ErrorClass::DeviceLost);
    }
    for ok in [&snaps[0], &snaps[2]] {
        value(&ok.power_w);
        value(&ok.engine_utilization_pct);
    }
    let d1 = &s.devices().unwrap()[1];
    assert!(d1.properties().unwrap_err().is_device_lost());
}

#[test]
fn process_churn_never_breaks_enumeration() {
    let _g = lock();
    ctl(r#"{"op":"fault","process_churn":true}"#);
    let s = sysman(InitPath::Zes);
    let device = &s.devices().unwrap()[0];
    let mut counts = std::collections::BTreeSet::new();
    for _ in 0..20 {
        let procs = device.processes().unwrap();
        assert!(procs.iter().all(|p| p.pid != 0), "no zeroed entries: {procs:?}");
        counts.insert(procs.len());
    }
    assert!(!counts.is_empty());
    // Processes added and removed through the control API show up.
    ctl(r#"{"op":"clear_faults"}"#);
    let n = device.processes().unwrap().len();
    ctl(r#"{"op":"process","device":0,"pid":99,"memory_mib":512,"command":"x"}"#);
    let procs = device.processes().unwrap();
    assert_eq!(procs.len(), n + 1);
    assert!(procs.iter().any(|p| p.pid == 99 && p.mem_size == 512 << 20));
    ctl(r#"{"op":"process","device":0,"pid":99,"remove":true}"#);
    assert_eq!(device.processes().unwrap().len(), n);
}

#[test]
fn energy_wrap_never_yields_absurd_watts() {
    let _g = lock();
    // 2^32 uJ = 4295 J: a busy card wraps every few seconds.
    ctl(r#"{"op":"fault","energy_wrap_uj":4294967296}"#);
    ctl(r#"{"op":"workload","device":0,"compute":1.0}"#);
    let s = sysman(InitPath::Zes);
    let device = &s.devices().unwrap()[0];
    let (mut values, mut wraps) = (0, 0);
    for _ in 0..12 {
        let snap = device.snapshot_with(|| advance(2.0));
        match &snap.power_w {
            Reading::Value(w) => {
                assert!(*w >= 0.0 && *w <= 700.0, "{w} W");
                values += 1;
            }
            Reading::Error(e) => {
                assert_eq!(e.code, "NO_SAMPLE", "{e:?}");
                wraps += 1;
            }
        }
    }
    assert!(wraps >= 2, "the counter wrapped: {wraps} windows without a value");
    assert!(values >= 6);
}

#[test]
fn repeated_timestamps_yield_no_value_not_infinity() {
    let _g = lock();
    ctl(r#"{"op":"fault","repeat_timestamps":true}"#);
    let s = sysman(InitPath::Zes);
    let device = &s.devices().unwrap()[2];
    let mut no_sample = 0;
    for _ in 0..4 {
        let snap = snap(device);
        let mut all = vec![snap.power_w.clone(), snap.engine_utilization_pct.clone()];
        all.extend(value(&snap.engines).into_iter().map(|e| e.utilization_pct));
        for r in all {
            match r {
                Reading::Value(v) => assert!(v.is_finite() && (0.0..=1000.0).contains(&v), "{v}"),
                Reading::Error(e) => {
                    assert_eq!(e.code, "NO_SAMPLE");
                    no_sample += 1;
                }
            }
        }
    }
    assert!(no_sample > 0, "some window repeated its first sample");
    // The raw counters do repeat.
    let p = device.power_domains().unwrap().remove(0);
    let (a, b) = (p.energy_counter().unwrap(), p.energy_counter().unwrap());
    let c = p.energy_counter().unwrap();
    assert!(a.timestamp == b.timestamp || b.timestamp == c.timestamp);
    assert_eq!(zes::metrics::power_watts(&a, &a), Err(zes::metrics::RateError::NoSample));
}

#[test]
fn device_by_uuid_and_sub_devices() {
    let _g = lock();
    for path in [InitPath::Zes, InitPath::Legacy] {
        let s = sysman(path);
        let devices = s.devices().unwrap();
        let driver = &s.drivers()[0];
        for d in &devices {
            let uuid = d.properties().unwrap().uuid;
            let (found, sub) = driver.device_by_uuid(uuid).unwrap();
            assert_eq!(found.raw(), d.raw());
            assert_eq!(sub, None);
        }
        let subs = devices[0].sub_devices().unwrap();
        assert_eq!(subs.iter().map(|s| s.id).collect::<Vec<_>>(), [0, 1]);
        for sd in &subs {
            assert!(!sd.uuid.is_nil());
            let (found, sub) = driver.device_by_uuid(sd.uuid).unwrap();
            assert_eq!(found.raw(), devices[0].raw());
            assert_eq!(sub, Some(sd.id));
        }
        assert!(devices[2].sub_devices().unwrap().is_empty());
        let e = driver.device_by_uuid(Uuid([0xee; 16])).unwrap_err();
        assert!(e.code().is_some(), "{e}");
        assert!(s.has_function("zesDriverGetDeviceByUuidExp"));
    }
}

#[test]
fn events_are_registered_and_listened_for() {
    let _g = lock();
    let s = sysman(InitPath::Zes);
    let devices = s.devices().unwrap();
    let driver = &s.drivers()[0];
    let flags = zes_event_type_flags_t::DEVICE_RESET_REQUIRED | zes_event_type_flags_t::TEMP_CRITICAL;
    devices[0].register_events(flags).unwrap();
    assert!(driver.listen_events(&devices[..1], Duration::ZERO).unwrap().is_empty());
    ctl(&format!(r#"{{"op":"event","device":0,"events":{}}}"#, zes_event_type_flags_t::TEMP_CRITICAL.0));
    let got = driver.listen_events(&devices[..2], Duration::from_millis(100)).unwrap();
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].0.raw(), devices[0].raw());
    assert_eq!(got[0].1, zes_event_type_flags_t::TEMP_CRITICAL);
    assert!(driver.listen_events(&devices[..1], Duration::ZERO).unwrap().is_empty(), "consumed");
}

/// Serializes the tests that use the simulator linked into this binary (its own instance).
fn in_process_lock() -> MutexGuard<'static, ()> {
    static LOCK: Mutex<()> = Mutex::new(());
    LOCK.lock().unwrap_or_else(|e| e.into_inner())
}

#[test]
fn an_in_process_driver_through_library_instance() {
    // The rlib linked into this test binary: its own instance, steered with zes_sim::control.
    let _g = in_process_lock();
    let s = Sysman::builder().library_instance(zes_sim::in_process_library()).init().unwrap();
    assert_eq!(s.init_path(), InitPath::Zes);
    assert_eq!(s.library_kind(), Some(LibraryKind::Driver));
    let devices = s.devices().unwrap();
    assert_eq!(devices.len(), 3);
    zes_sim::control(r#"{"op":"clock","mode":"frozen"}"#).unwrap();
    zes_sim::control(r#"{"op":"workload","device":2,"compute":0.5,"render":0,"copy":0,"media":0}"#).unwrap();
    zes_sim::control(r#"{"op":"advance","seconds":1}"#).unwrap();
    let snap = devices[2].snapshot_with(|| {
        zes_sim::control(r#"{"op":"advance","seconds":1}"#).unwrap();
    });
    let compute: Vec<f64> = value(&snap.engines)
        .iter()
        .filter(|e| e.group == "COMPUTE_ALL")
        .map(|e| value(&e.utilization_pct))
        .collect();
    assert_eq!(compute.len(), 1);
    assert!((compute[0] - 50.0).abs() < 0.01, "{compute:?}");
    let groups: Vec<zes_engine_group_t> =
        devices[2].engines().unwrap().iter().map(|e| e.properties().unwrap().group).collect();
    assert!(groups.contains(&zes_engine_group_t::COMPUTE_ALL));
}

#[test]
fn owned_configurations_round_trip() {
    let _g = lock();
    let s = sysman(InitPath::Zes);
    let devices = s.devices().unwrap();

    // Fan of the A770: fixed speed, then a table.
    let fan = devices[2].fans().unwrap().remove(0);
    fan.set_fixed_speed(1800, zes::sys::zes_fan_speed_units_t::RPM).unwrap();
    let c = fan.config().unwrap();
    assert_eq!(c.mode, zes::sys::zes_fan_speed_mode_t::FIXED);
    assert_eq!(c.fixed, zes::FanSpeed { speed: 1800, units: zes::sys::zes_fan_speed_units_t::RPM });
    let pct = zes::sys::zes_fan_speed_units_t::PERCENT;
    let table = [
        zes::FanTempSpeed { celsius: 40, speed: zes::FanSpeed { speed: 30, units: pct } },
        zes::FanTempSpeed { celsius: 80, speed: zes::FanSpeed { speed: 90, units: pct } },
    ];
    fan.set_speed_table(&table).unwrap();
    let c = fan.config().unwrap();
    assert_eq!(c.mode, zes::sys::zes_fan_speed_mode_t::TABLE);
    assert_eq!(c.table, table);
    assert!(fan.set_speed_table(&[table[0]; 33]).is_err());
    fan.set_default_mode().unwrap();
    assert_eq!(fan.config().unwrap().mode, zes::sys::zes_fan_speed_mode_t::DEFAULT);

    // Scheduler of a Max 1550.
    let sched = devices[0].schedulers().unwrap().remove(0);
    let p = sched.properties().unwrap();
    assert!(!p.supported_modes.is_empty(), "{p:?}");
    assert!(p.supported_modes.contains(&sched.current_mode().unwrap()), "{p:?}");

    // RAS thresholds.
    let ras = devices[0].ras_error_sets().unwrap().remove(0);
    let mut config = ras.config().unwrap();
    config.total_threshold = 10;
    config.category_thresholds[1] = 3;
    ras.set_config(&config).unwrap();
    assert_eq!(ras.config().unwrap(), config);

    // Temperature thresholds.
    let temp = devices[0].temperature_sensors().unwrap().remove(0);
    let mut t = temp.thresholds().unwrap();
    t.enable_critical = true;
    t.threshold1 =
        zes::TemperatureThreshold { enable_low_to_high: true, enable_high_to_low: false, celsius: 90.0 };
    temp.set_thresholds(&t).unwrap();
    assert_eq!(temp.thresholds().unwrap(), t);
}

static ENGINE_PROPS: OnceLock<zes::sys::PFN_zesEngineGetProperties> = OnceLock::new();

/// The simulator's `zesEngineGetProperties`, answering with an engine group from the future.
unsafe extern "C" fn future_engine_group(
    h: zes::sys::zes_engine_handle_t,
    p: *mut zes::sys::zes_engine_properties_t,
) -> zes::sys::ze_result_t {
    // SAFETY: forwarded unchanged to the simulator's own function.
    let rc = unsafe { ENGINE_PROPS.get().unwrap()(h, p) };
    if rc == zes::sys::ZE_RESULT_SUCCESS {
        // SAFETY: the simulator succeeded, so `p` is a valid, writable properties struct.
        unsafe { (*p).r#type = zes_engine_group_t(0x7777) };
    }
    rc
}

#[test]
fn unknown_enum_values_are_preserved() {
    let _g = in_process_lock();
    let library = zes_sim::in_process_library();
    let mut table = *library.functions();
    ENGINE_PROPS.get_or_init(|| table.zesEngineGetProperties.unwrap());
    table.zesEngineGetProperties = Some(future_engine_group);
    // SAFETY: the table points into the simulator linked into this test binary and at
    // `future_engine_group`, both callable for the whole process.
    let s = unsafe { Sysman::from_function_table(table, InitPath::Zes) }.unwrap();
    let device = &s.devices().unwrap()[2];
    let engine = device.engines().unwrap().remove(0);
    let group = engine.properties().unwrap().group;
    assert_eq!(group, zes_engine_group_t(0x7777));
    assert_eq!(group.name(), None);
    zes_sim::control(r#"{"op":"clock","mode":"frozen"}"#).unwrap();
    let snap = device.snapshot_with(|| {
        zes_sim::control(r#"{"op":"advance","seconds":1}"#).unwrap();
    });
    let engines = value(&snap.engines);
    assert!(!engines.is_empty());
    assert!(engines.iter().all(|e| e.group == "UNKNOWN(0x7777)"), "{engines:?}");
    assert!(engines.iter().all(|e| e.utilization_pct.value().is_some()));
    assert!(value(&snap.engine_utilization_pct).is_finite(), "the busiest unknown group");
    // `library` keeps the (in-process) code alive for the table; nothing to unload.
    drop(library);
}

#[test]
fn a_machine_with_more_clocks_than_the_cap_gives_an_error_not_an_allocation() {
    let _g = lock();
    // 100,001 available clocks (1 MHz to 100,001 MHz in 1 MHz steps) on the A770's GPU domain.
    let toml = "[[devices]]\npreset='a770'\n[devices.frequency]\nmin_mhz=1\nmax_mhz=100001\nstep_mhz=1\n";
    ctl(&serde_json::json!({"op": "load", "toml": toml}).to_string());
    let s = sysman(InitPath::Zes);
    let device = s.devices().unwrap().remove(0);
    let gpu = device
        .frequency_domains()
        .unwrap()
        .into_iter()
        .find(|f| f.properties().unwrap().domain == zes_freq_domain_t::GPU)
        .unwrap();
    let err = gpu.available_clocks().unwrap_err();
    assert!(
        matches!(
            err,
            zes::Error::CountTooLarge {
                function: "zesFrequencyGetAvailableClocks",
                count: 100_001,
                cap: zes::MAX_ENUMERATION_COUNT
            }
        ),
        "{err:?}"
    );
    // The rest of the device still answers.
    assert_eq!(value(&snap(&device).frequencies)[0].max_mhz, Reading::Value(100_001.0));
}

/// Whether the simulated driver's file is mapped into this process.
fn sim_is_mapped() -> bool {
    let file = std::fs::canonicalize(sim_path()).unwrap();
    std::fs::read_to_string("/proc/self/maps").unwrap().contains(file.to_str().unwrap())
}

/// The child half of `handles_keep_their_library_loaded`: the only user of the driver file.
fn keep_alive_child() {
    assert!(!sim_is_mapped(), "nothing else may hold the driver file in the child");
    let library = zes::sys::Library::open_path(&sim_path()).unwrap();
    let sysman = Sysman::builder().library_instance(library).init_path(InitPath::Zes).init().unwrap();
    let device = sysman.devices().unwrap().remove(0);
    let name = device.properties().unwrap().name;
    drop(sysman);
    // The last handle keeps the library loaded: its code is still there to call.
    assert!(sim_is_mapped());
    assert_eq!(device.properties().unwrap().name, name);
    let power = device.power_domains().unwrap();
    drop(device);
    assert!(power[0].energy_counter().is_ok());
    // Once the last handle is gone, the library is unloaded: the mapping above was the handles'.
    drop(power);
    assert!(!sim_is_mapped(), "the driver file stays mapped after the last handle");
    // A library that is never unloaded: `from_static_library`.
    let library: &'static zes::sys::Library =
        Box::leak(Box::new(zes::sys::Library::open_path(&sim_path()).unwrap()));
    let sysman = Sysman::from_static_library(library, InitPath::Zes).unwrap();
    assert_eq!(sysman.library_path(), Some(sim_path().as_path()));
    assert_eq!(sysman.devices().unwrap()[0].properties().unwrap().name, name);
}

#[test]
fn handles_keep_their_library_loaded() {
    const CHILD: &str = "ZES_TEST_KEEP_ALIVE_CHILD";
    if std::env::var_os(CHILD).is_some() {
        keep_alive_child();
        return;
    }
    // In a child process: the other tests of this binary keep the driver file loaded.
    let out = std::process::Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "handles_keep_their_library_loaded", "--nocapture", "--test-threads=1"])
        .env(CHILD, "1")
        .output()
        .unwrap();
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "{:?}\n{text}", out.status);
    assert!(text.contains("1 passed"), "{text}");
}

#[test]
fn a_near_zero_energy_read_then_recovery_is_implausible_then_the_truth() {
    let _g = lock();
    let s = sysman(InitPath::Zes);
    let device = &s.devices().unwrap()[2]; // the A770: 228 W max limit, bound 912 W
    ctl(r#"{"op":"workload","device":2,"compute":1.0}"#);
    advance(1000.0); // the counters hold ~1000 s of energy
                     // The first samples of the window read near zero (the counter "wraps" at 1 mJ), the second
                     // ones read the true counter again: forwards by the whole history within one second.
    ctl(r#"{"op":"fault","energy_wrap_uj":1000}"#);
    let glitched = device.snapshot_with(|| {
        ctl(r#"{"op":"fault","energy_wrap_uj":null}"#);
        advance(1.0);
    });
    let implausible = |r: &Reading<f64>, what: &str| {
        let e = r.error().unwrap_or_else(|| panic!("{what}: expected implausible, got {r:?}"));
        assert_eq!(
            (e.code.as_str(), e.reason, e.function),
            ("IMPLAUSIBLE", ErrorClass::Implausible, None),
            "{what}"
        );
        assert!(e.message.contains("beyond the plausible bound 912"), "{what}: {}", e.message);
    };
    implausible(&glitched.power_w, "card power");
    let domains = value(&glitched.power_domains);
    assert!(!domains.is_empty());
    for d in &domains {
        implausible(&d.power_w, &d.domain);
    }
    let json = serde_json::to_value(&glitched).unwrap();
    assert_eq!(json["power_w"]["error"]["reason"], "implausible");
    assert_eq!(json["power_w"]["error"]["code"], "IMPLAUSIBLE");
    // The next window is the model's truth again.
    let snap = snap(device);
    let truth = truth(2);
    let card =
        truth["power_w"].as_array().unwrap().iter().find(|p| p["domain"] == "ZES_POWER_DOMAIN_CARD").unwrap();
    let card_w = card["watts"].as_f64().unwrap();
    assert!(card_w > 100.0, "a busy A770 draws real power: {card_w}");
    assert!(close(value(&snap.power_w), card_w, 1e-3), "{:?} vs {card_w}", snap.power_w);
}

#[test]
fn a_failed_init_names_the_library_and_its_kind() {
    let _g = lock();
    ctl(r#"{"op":"fault","rule":"zesInit=ZE_RESULT_ERROR_UNSUPPORTED_VERSION"}"#);
    let library = zes::sys::Library::open(Some(&sim_path())).unwrap();
    let err = Sysman::builder().library_instance(library).init_path(InitPath::Zes).init().unwrap_err();
    ctl(r#"{"op":"clear_faults"}"#);
    assert!(matches!(err, zes::Error::Init { function: "zesInit", .. }), "{err:?}");
    assert_eq!(err.code(), Some(zes::sys::ze_result_t::ERROR_UNSUPPORTED_VERSION));
    assert_eq!(err.code_name(), "ZE_RESULT_ERROR_UNSUPPORTED_VERSION");
    let text = err.to_string();
    assert!(text.contains(&sim_path().display().to_string()), "{text}");
    assert!(text.contains("driver opened directly"), "{text}");
    assert!(text.contains("ERROR_UNSUPPORTED_VERSION"), "{text}");
}
