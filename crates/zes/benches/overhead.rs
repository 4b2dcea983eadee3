//! Prints figures (not a test): the safe API's overhead over a raw call, and snapshots of the
//! simulated devices with `ZES_SIM_LATENCY_US=20`, sequential vs concurrent.
//!
//! `cargo bench -p zes`; needs the simulated driver (`libzes_sim.so` beside the bench binary).

use std::hint::black_box;
use std::time::{Duration, Instant};

use zes::{InitPath, Sysman};

fn per_call(n: u32, mut f: impl FnMut()) -> f64 {
    let start = Instant::now();
    for _ in 0..n {
        f();
    }
    start.elapsed().as_nanos() as f64 / n as f64
}

fn main() {
    std::env::set_var("ZES_SIM_LATENCY_US", "20");
    let exe = std::env::current_exe().unwrap();
    let path = exe.parent().unwrap().join(if cfg!(windows) { "zes_sim.dll" } else { "libzes_sim.so" });
    let sysman = match Sysman::builder().library(&path).init_path(InitPath::Auto).init() {
        Ok(s) => s,
        Err(e) => {
            println!("simulated driver unavailable ({e}); no figures");
            return;
        }
    };
    let library = zes::sys::Library::open_path(&path).expect("opens");
    let table = *library.functions();
    let devices = sysman.devices().unwrap();
    let Some(device) = devices.first() else {
        println!("no simulated device; no figures");
        return;
    };
    let n = 2000;
    if let Some(raw) = table.zesDeviceGetProperties {
        let handle = device.raw();
        let raw_ns = per_call(n, || {
            let mut p = zes::sys::zes_device_properties_t::default();
            // SAFETY: a live, writable properties struct and a handle from the same driver.
            black_box(unsafe { raw(handle, &mut p) });
        });
        let safe_ns = per_call(n, || {
            black_box(device.properties_raw().ok());
        });
        let decoded_ns = per_call(n, || {
            black_box(device.properties().ok());
        });
        println!(
            "zesDeviceGetProperties: raw {raw_ns:.0} ns, safe {safe_ns:.0} ns, decoded {decoded_ns:.0} ns"
        );
    }
    if let Ok(powers) = device.power_domains() {
        if let (Some(p), Some(raw)) = (powers.first(), table.zesPowerGetEnergyCounter) {
            let handle = p.raw();
            let raw_ns = per_call(n, || {
                let mut e = zes::sys::zes_power_energy_counter_t::default();
                // SAFETY: a live, writable counter struct and a handle from the same driver.
                black_box(unsafe { raw(handle, &mut e) });
            });
            let safe_ns = per_call(n, || {
                black_box(p.energy_counter().ok());
            });
            println!("zesPowerGetEnergyCounter: raw {raw_ns:.0} ns, safe {safe_ns:.0} ns");
        }
    }
    let window = Duration::from_millis(10);
    for _ in 0..2 {
        let t = Instant::now();
        let seq = sysman.snapshot_all_sequential(window).unwrap();
        let seq_ms = t.elapsed().as_secs_f64() * 1e3;
        let t = Instant::now();
        let con = sysman.snapshot_all(window).unwrap();
        let con_ms = t.elapsed().as_secs_f64() * 1e3;
        println!(
            "snapshot of {} devices (window 10 ms, latency 20 us/call): sequential {seq_ms:.1} ms, concurrent {con_ms:.1} ms",
            seq.len().max(con.len())
        );
    }
}
