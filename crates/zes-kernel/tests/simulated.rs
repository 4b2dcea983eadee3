//! The simulator writes a kernel tree from its model; the kernel source reads it back; the
//! values equal the model's. Tolerances: frequencies and temperatures are whole MHz and m°C in
//! sysfs (the model's values rounded); utilization is exact up to one counter tick over the
//! interval (1e-6 percentage points here).

use serde_json::{json, Value};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use zes_kernel::*;
use zes_sys::{zes_engine_group_t, zes_freq_domain_t, zes_temp_sensors_t};

/// The simulator is one machine per process: its tests take turns.
static SIM: Mutex<()> = Mutex::new(());

fn control(request: Value) -> Value {
    let reply = zes_sim::control(&request.to_string()).unwrap_or_else(|e| panic!("{request}: {e}"));
    serde_json::from_str(&reply).unwrap()
}

const MACHINE: &str = r#"
[clock]
mode = "frozen"
[[devices]]
preset = "max1550"
[[devices]]
preset = "a770"
[[devices]]
preset = "igpu"
[[processes]]
pid = 1001
command = "python3 train.py --rank 0"
device = 0
memory_mib = 4097
engines = ["compute", "copy"]
[[processes]]
pid = 1002
command = "/usr/bin/ollama serve"
device = 0
memory_mib = 2048
engines = ["compute"]
[[processes]]
pid = 2001
command = "blender"
device = 1
memory_mib = 1000
engines = ["render", "compute"]
[[processes]]
pid = 3001
command = "gnome-shell"
device = 2
memory_mib = 300
engines = ["render"]
[[workloads]]
device = 0
compute = 0.6
copy = 0.2
[[workloads]]
device = 1
compute = 0.5
render = 0.4
[[workloads]]
device = 2
render = 0.3
"#;

struct Setup {
    _dir: tempfile::TempDir,
    sampler: Sampler,
    now_ns: Arc<AtomicU64>,
}

fn setup(layout: &str) -> Setup {
    control(json!({"op": "load", "toml": MACHINE}));
    let dir = tempfile::tempdir().unwrap();
    let reply = control(json!({"op": "kernel_tree", "path": dir.path(), "layout": layout}));
    let roots = KernelRoots {
        sysfs_root: reply["sysfs_root"].as_str().unwrap().into(),
        procfs_root: reply["procfs_root"].as_str().unwrap().into(),
    };
    let now_ns = Arc::new(AtomicU64::new(0));
    let clock = now_ns.clone();
    let source =
        KernelSource::with(roots, Arc::new(RealFileSystem), Arc::new(move || clock.load(Ordering::SeqCst)));
    Setup { _dir: dir, sampler: Sampler::new(source), now_ns }
}

fn advance(s: &Setup, seconds: f64) {
    let reply = control(json!({"op": "advance", "seconds": seconds}));
    s.now_ns.store((reply["time_s"].as_f64().unwrap() * 1e9).round() as u64, Ordering::SeqCst);
}

fn percent(u: &UsageSample, pid: u32, class: EngineClass) -> Result<f64, Reason> {
    let p = u.processes.iter().find(|p| p.pid == pid).unwrap_or_else(|| panic!("pid {pid}"));
    let e = p.engines.iter().find(|e| e.class == class).unwrap_or_else(|| panic!("{pid} {class:?}"));
    e.percent.value
}

fn close(got: Result<f64, Reason>, want: f64) {
    let got = got.unwrap_or_else(|r| panic!("expected {want}, got {r}"));
    assert!((got - want).abs() <= 1e-6, "got {got}, want {want}");
}

/// The GPU readings equal the model's, device by device.
fn assert_gpus_match_the_model(sample: &KernelSample, xe_for_all: Option<bool>) {
    let m = zes_sim::state::machine();
    assert_eq!(sample.gpus.len(), 3);
    for (gpu, d) in sample.gpus.iter().zip(&m.devices) {
        let xe = xe_for_all.unwrap_or(d.p.preset == "max1550");
        assert_eq!(gpu.driver, if xe { Driver::Xe } else { Driver::I915 }, "{}", d.p.preset);
        assert_eq!(
            gpu.pci_address,
            PciAddress {
                domain: d.p.pci_domain,
                bus: d.p.pci_bus as u8,
                device: d.p.pci_device as u8,
                function: d.p.pci_function as u8
            }
        );
        let p = d.control_power();
        if d.p.integrated && !xe {
            // i915 registers no hwmon for an integrated GPU.
            assert_eq!(gpu.hwmon.reason(), Some(Reason::Unsupported));
            assert_eq!(gpu.energy_uj.value, Err(Reason::Unsupported));
        } else {
            assert_eq!(gpu.energy_uj.value, Ok((p.energy_j * 1e6) as u64), "{}", d.p.preset);
            assert_eq!(gpu.energy_uj.source, Source::Hwmon);
            assert_eq!(gpu.power_max_uw.value, Ok(p.limits.sustained_mw as u64 * 1000));
            assert_eq!(gpu.power_crit_uw.value, Ok(p.limits.peak_ac_mw as u64 * 1000));
        }
        if xe {
            let global = d.temps.iter().find(|t| t.sensor == zes_temp_sensors_t::GLOBAL).unwrap().value_c;
            let pkg = gpu.temperatures.iter().find(|t| t.label.as_deref() == Some("pkg")).unwrap();
            assert_eq!(pkg.millicelsius.value, Ok((global * 1000.0).round() as i64));
            let vram = d.temps.iter().filter(|t| t.sensor == zes_temp_sensors_t::MEMORY).map(|t| t.value_c);
            match vram.reduce(f64::max) {
                Some(v) => {
                    let t = gpu.temperatures.iter().find(|t| t.label.as_deref() == Some("vram")).unwrap();
                    assert_eq!(t.millicelsius.value, Ok((v * 1000.0).round() as i64));
                }
                None => assert_eq!(gpu.temperatures.len(), 1),
            }
        } else {
            assert!(gpu.temperatures.is_empty(), "i915's hwmon has no temperatures");
        }
        if d.p.fans > 0 {
            let rpm = (d.fan_percent(0) * d.p.fan_max_rpm as f64 / 100.0).round() as u64;
            assert_eq!(gpu.fans[0].rpm.value, Ok(rpm));
        } else {
            assert!(gpu.fans.is_empty());
        }
        let freqs = gpu.frequencies.ok().expect("frequencies");
        let model: Vec<_> = d.freqs.iter().filter(|f| f.domain == zes_freq_domain_t::GPU).collect();
        assert_eq!(freqs.len(), model.len());
        for (f, mf) in freqs.iter().zip(model) {
            assert_eq!(f.tile, mf.tile.unwrap_or(0));
            assert_eq!(f.actual_mhz.value, Ok(mf.actual.round() as u64));
            assert_eq!(f.requested_mhz.value, Ok(mf.request.round() as u64));
            assert_eq!(f.min_mhz.value, Ok(mf.range.0.round() as u64));
            assert_eq!(f.max_mhz.value, Ok(mf.range.1.round() as u64));
            assert_eq!(f.actual_mhz.source, Source::Sysfs);
        }
    }
}

#[test]
fn the_simulated_kernel_tree_reads_back_as_the_model() {
    let _g = SIM.lock().unwrap_or_else(|e| e.into_inner());
    let mut s = setup("auto");
    let first = s.sampler.sample();
    assert_gpus_match_the_model(&first.sample, None);
    // First sample: no rates, but memory and names already.
    assert_eq!(percent(&first, 1001, EngineClass::Compute), Err(Reason::NoPreviousSample));
    let p = first.processes.iter().find(|p| p.pid == 1001).unwrap();
    assert_eq!(p.name.value.as_deref(), Ok("python3"));
    assert_eq!(p.cmdline.value.as_deref(), Ok("python3 train.py --rank 0"));
    assert_eq!(p.name.source, Source::Procfs);
    assert_eq!(first.processes.iter().find(|p| p.pid == 1002).unwrap().name.value.as_deref(), Ok("ollama"));

    advance(&s, 10.0);
    let u = s.sampler.sample();
    assert_gpus_match_the_model(&u.sample, None);
    // Device 0 (xe): compute 60% split over its two compute processes, copy 20% to one.
    close(percent(&u, 1001, EngineClass::Compute), 30.0);
    close(percent(&u, 1002, EngineClass::Compute), 30.0);
    close(percent(&u, 1001, EngineClass::Copy), 20.0);
    close(percent(&u, 1002, EngineClass::Copy), 0.0);
    // Device 1 (i915): one process on compute 50% and render 40%; device 2: render 30%.
    close(percent(&u, 2001, EngineClass::Compute), 50.0);
    close(percent(&u, 2001, EngineClass::Render), 40.0);
    close(percent(&u, 3001, EngineClass::Render), 30.0);
    close(percent(&u, 3001, EngineClass::VideoEnhance), 0.0);

    // Memory per process, exactly (4097 MiB is split over the two tiles of the Max 1550).
    let m = zes_sim::state::machine();
    for spec in &m.processes {
        let p = u.processes.iter().find(|p| p.pid == spec.pid).unwrap();
        assert_eq!(p.resident_bytes, Some(spec.mem_bytes), "pid {}", spec.pid);
        assert_eq!(p.total_bytes, Some(spec.mem_bytes), "pid {}", spec.pid);
        assert_eq!(p.clients, 1, "two fds, one client");
    }
    assert_eq!(u.sample.walk.duplicate_fds, 4, "each process's dup'ed fd counted once");
    let regions: Vec<&str> = u.processes[0].memory.iter().map(|r| r.region.as_str()).collect();
    assert_eq!(regions, ["system", "vram0", "vram1", "gtt"]);

    // Engine time: the clients' busy time adds up to the model's engine activity of the class
    // (the sum over tiles of the COMPUTE_ALL group), within one cycle per client.
    let d0 = &m.devices[0];
    let compute_s: f64 =
        d0.engines.iter().filter(|e| e.group == zes_engine_group_t::COMPUTE_ALL).map(|e| e.active_s).sum();
    let busy_cycles: u64 = u
        .sample
        .processes
        .iter()
        .filter(|p| p.pid == 1001 || p.pid == 1002)
        .flat_map(|p| &p.clients)
        .flat_map(|c| &c.counters.engines)
        .filter(|e| e.class == EngineClass::Compute)
        .map(|e| e.busy_cycles.unwrap())
        .sum();
    assert!((busy_cycles as f64 / zes_sim::kernel_tree::GPU_TIMESTAMP_HZ - compute_s).abs() <= 2.0 / 19.2e6);
    assert!((compute_s - 2.0 * 0.6 * 10.0).abs() < 1e-9, "two tiles at 60% for 10 s");
    // i915 busy nanoseconds equal the modeled client time.
    let truth = zes_sim::kernel_tree::client_truth();
    let (_, _, blender) = truth.iter().find(|(pid, _, _)| *pid == 2001).unwrap();
    let c = &u.sample.processes.iter().find(|p| p.pid == 2001).unwrap().clients[0];
    let render = c.counters.engines.iter().find(|e| e.class == EngineClass::Render).unwrap();
    assert_eq!(render.busy_ns, Some((blender.busy_s[1] * 1e9).round() as u64));
    assert_eq!(c.fds, [3, 4]);
    drop(m);

    // A process that exits is gone at the next refresh; the others keep their rates.
    control(json!({"op": "process", "device": 0, "pid": 1002, "remove": true}));
    advance(&s, 5.0);
    let u = s.sampler.sample();
    assert!(u.processes.iter().all(|p| p.pid != 1002));
    close(percent(&u, 1001, EngineClass::Compute), 60.0);
    // No time elapsed: a reason, not a number.
    let again = s.sampler.sample();
    assert_eq!(percent(&again, 1001, EngineClass::Compute), Err(Reason::NoTimeElapsed));
    assert_eq!(percent(&again, 2001, EngineClass::Compute), Err(Reason::NoTimeElapsed));
    control(json!({"op": "kernel_tree", "path": null}));
}

#[test]
fn the_layout_is_selectable() {
    let _g = SIM.lock().unwrap_or_else(|e| e.into_inner());
    for (layout, xe) in [("xe", true), ("i915", false)] {
        let mut s = setup(layout);
        advance(&s, 3.0);
        let u = s.sampler.sample();
        assert_gpus_match_the_model(&u.sample, Some(xe));
        // The Max 1550 has one gt per tile in both layouts.
        let tiles: Vec<u32> = u.sample.gpus[0].frequencies.ok().unwrap().iter().map(|f| f.tile).collect();
        assert_eq!(tiles, [0, 1]);
        assert!(u.processes.iter().all(|p| p.driver == if xe { Driver::Xe } else { Driver::I915 }));
        advance(&s, 2.0);
        let u = s.sampler.sample();
        close(percent(&u, 2001, EngineClass::Render), 40.0);
        control(json!({"op": "kernel_tree", "path": null}));
    }
    // The layout of a tree being written can change on request.
    let mut s = setup("auto");
    control(json!({"op": "kernel_tree", "layout": "xe"}));
    assert_gpus_match_the_model(&s.sampler.sample().sample, Some(true));
    assert!(!s._dir.path().join("sys/class/drm/card1/gt").exists(), "no i915 files left");
    control(json!({"op": "kernel_tree", "path": null}));
}

#[test]
fn refused_requests() {
    let _g = SIM.lock().unwrap_or_else(|e| e.into_inner());
    control(json!({"op": "reset"}));
    let e = zes_sim::control(r#"{"op":"kernel_tree"}"#).unwrap_err();
    assert!(e.contains("no kernel tree is being written"), "{e}");
    let e = zes_sim::control(r#"{"op":"kernel_tree","path":"relative/dir"}"#).unwrap_err();
    assert!(e.contains("absolute"), "{e}");
    let e = zes_sim::control(r#"{"op":"kernel_tree","path":"/tmp","layout":"amdgpu"}"#).unwrap_err();
    assert!(e.starts_with("layout:"), "{e}");
}
