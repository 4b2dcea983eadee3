//! Prints figures (not a test): the safe API's overhead over a raw call (simulated driver, no
//! added latency), and full snapshots of 8 simulated Max 1550 with `ZES_SIM_LATENCY_US=20`,
//! sequential vs concurrent.
//!
//! `cargo bench -p zes --bench overhead`; needs the simulated driver (`libzes_sim.so` beside
//! the bench binary or one folder up, which building the workspace's zes-sim provides).

use std::ffi::{c_char, CString};
use std::hint::black_box;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use zes::{InitPath, Sysman};

fn per_call(n: u32, mut f: impl FnMut()) -> f64 {
    for _ in 0..n / 10 {
        f(); // warm up
    }
    let start = Instant::now();
    for _ in 0..n {
        f();
    }
    start.elapsed().as_nanos() as f64 / n as f64
}

fn sim_path() -> Option<PathBuf> {
    let exe = std::env::current_exe().ok()?;
    let deps = exe.parent()?;
    let name = if cfg!(windows) { "zes_sim.dll" } else { "libzes_sim.so" };
    let found = [deps, deps.parent()?].into_iter().map(|d| d.join(name)).find(|p| p.exists());
    found
}

fn control(lib: &libloading::Library, request: &str) {
    type Ctl = unsafe extern "C" fn(*const c_char, *mut c_char, usize) -> i32;
    // SAFETY: `zesSimControl` has this signature.
    let f = unsafe { lib.get::<Ctl>(b"zesSimControl\0") }.expect("zesSimControl");
    let req = CString::new(request).unwrap();
    let mut buf = vec![0u8; 4096];
    // SAFETY: a NUL-terminated request and a writable buffer of the given size.
    let rc = unsafe { f(req.as_ptr(), buf.as_mut_ptr().cast(), buf.len()) };
    assert_eq!(rc, 0, "{request}");
}

fn main() {
    // Read by the simulator when it first initializes (before the library is opened).
    std::env::set_var("ZES_SIM_PRESET", ["max1550"; 8].join(","));
    std::env::set_var("ZES_SIM_LATENCY_US", "20");
    std::env::remove_var("ZES_SIM_CONFIG");
    let Some(path) = sim_path() else {
        println!("libzes_sim.so not found beside the bench binary; no figures");
        return;
    };
    let sysman = Sysman::builder().library(&path).init_path(InitPath::Zes).init().expect("the simulator");
    // SAFETY: the same library Sysman opened; only its control function is used.
    let ctl_lib = unsafe { libloading::Library::new(&path) }.expect("opens");
    let library = zes::sys::Library::open_path(&path).expect("opens");
    let table = *library.functions();
    let devices = sysman.devices().unwrap();
    println!("{} simulated devices ({})", devices.len(), devices[0].properties().unwrap().name);

    // Per-call overhead without simulated latency.
    control(&ctl_lib, r#"{"op":"fault","latency_us":0}"#);
    let device = &devices[0];
    let n = 20_000;
    let handle = device.raw();
    let raw_fn = table.zesDeviceGetProperties.unwrap();
    let raw_ns = per_call(n, || {
        let mut p = zes::sys::zes_device_properties_t::default();
        // SAFETY: a live, writable properties struct and a handle from the same driver.
        black_box(unsafe { raw_fn(handle, &mut p) });
    });
    let safe_ns = per_call(n, || {
        black_box(device.properties_raw().ok());
    });
    let decoded_ns = per_call(n, || {
        black_box(device.properties().ok());
    });
    println!(
        "zesDeviceGetProperties    raw {raw_ns:7.0} ns   safe {safe_ns:7.0} ns   decoded {decoded_ns:7.0} ns"
    );
    let power = device.card_power_domain().unwrap();
    let (ph, raw_fn) = (power.raw(), table.zesPowerGetEnergyCounter.unwrap());
    let raw_ns = per_call(n, || {
        let mut e = zes::sys::zes_power_energy_counter_t::default();
        // SAFETY: a live, writable counter struct and a handle from the same driver.
        black_box(unsafe { raw_fn(ph, &mut e) });
    });
    let safe_ns = per_call(n, || {
        black_box(power.energy_counter().ok());
    });
    println!("zesPowerGetEnergyCounter  raw {raw_ns:7.0} ns   safe {safe_ns:7.0} ns");
    let engine = device.engines().unwrap().remove(0);
    let (eh, raw_fn) = (engine.raw(), table.zesEngineGetActivity.unwrap());
    let raw_ns = per_call(n, || {
        let mut s = zes::sys::zes_engine_stats_t::default();
        // SAFETY: a live, writable stats struct and a handle from the same driver.
        black_box(unsafe { raw_fn(eh, &mut s) });
    });
    let safe_ns = per_call(n, || {
        black_box(engine.activity().ok());
    });
    println!("zesEngineGetActivity      raw {raw_ns:7.0} ns   safe {safe_ns:7.0} ns");
    let raw_fn = table.zesDeviceEnumEngineGroups.unwrap();
    let raw_ns = per_call(n / 4, || {
        let mut count = 0u32;
        // SAFETY: count query, then a fill into an array of that size.
        unsafe {
            raw_fn(handle, &mut count, std::ptr::null_mut());
            let mut v = vec![zes::sys::zes_engine_handle_t::NULL; count as usize];
            black_box(raw_fn(handle, &mut count, v.as_mut_ptr()));
        }
    });
    let safe_ns = per_call(n / 4, || {
        black_box(device.engines().ok());
    });
    println!("zesDeviceEnumEngineGroups raw {raw_ns:7.0} ns   safe {safe_ns:7.0} ns   (two-call, 20 groups)");

    // Full snapshots with 20 us per call.
    control(&ctl_lib, r#"{"op":"fault","latency_us":20}"#);
    let window = Duration::from_millis(10);
    for round in 0..3 {
        let t = Instant::now();
        let seq = sysman.snapshot_all_sequential(window).unwrap();
        let seq_ms = t.elapsed().as_secs_f64() * 1e3;
        let t = Instant::now();
        let con = sysman.snapshot_all(window).unwrap();
        let con_ms = t.elapsed().as_secs_f64() * 1e3;
        assert!(seq.iter().chain(&con).all(|s| s.power_w.value().is_some()));
        println!(
            "round {round}: full snapshot of {} devices (window 10 ms, 20 us/call): sequential {seq_ms:6.1} ms, concurrent {con_ms:6.1} ms",
            seq.len().max(con.len())
        );
    }
}
