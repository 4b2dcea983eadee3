//! The kernel source on hand-written trees of both schemas (i915, xe) and their edge cases.

mod fixture;

use fixture::{i915_fdinfo, xe_fdinfo, Tree};
use std::ffi::OsString;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use zes_kernel::*;

const A770: &str = "0000:03:00.0";
const MAX: &str = "0000:29:00.0";

struct Clocked {
    sampler: Sampler,
    now: Arc<AtomicU64>,
}

fn sampler_over(roots: KernelRoots, fs: Arc<dyn FileSystem>) -> Clocked {
    let now = Arc::new(AtomicU64::new(1_000_000_000));
    let c = now.clone();
    let source = KernelSource::with(roots, fs, Arc::new(move || c.load(Ordering::SeqCst)));
    Clocked { sampler: Sampler::new(source), now }
}

fn sampler(t: &Tree) -> Clocked {
    sampler_over(t.roots(), Arc::new(RealFileSystem))
}

fn util(u: &UsageSample, pid: u32, class: EngineClass) -> Result<f64, Reason> {
    let p = u.processes.iter().find(|p| p.pid == pid).unwrap_or_else(|| panic!("no pid {pid}"));
    p.engines.iter().find(|e| e.class == class).unwrap_or_else(|| panic!("no {class:?}")).percent.value
}

/// An i915 discrete GPU as the kernel's ABI documents it: device and gt-level hwmon, per-gt
/// frequency directories.
fn i915_gpu(t: &Tree, card: u32, addr: &str) {
    let dev = t.card(card, "i915", addr);
    t.file(&format!("{dev}/hwmon/hwmon2/name"), "i915\n");
    t.file(&format!("{dev}/hwmon/hwmon2/energy1_input"), "123456789\n");
    t.file(&format!("{dev}/hwmon/hwmon2/power1_max"), "225000000\n");
    t.file(&format!("{dev}/hwmon/hwmon2/power1_crit"), "400000000\n");
    t.file(&format!("{dev}/hwmon/hwmon2/power1_rated_max"), "225000000\n");
    t.file(&format!("{dev}/hwmon/hwmon2/fan1_input"), "1500\n");
    // A gt-level hwmon (name i915_gt0) is not the device's.
    t.file(&format!("{dev}/hwmon/hwmon1/name"), "i915_gt0\n");
    t.file(&format!("{dev}/hwmon/hwmon1/energy1_input"), "42\n");
    let gt = format!("sys/class/drm/card{card}/gt/gt0");
    t.file(&format!("{gt}/rps_act_freq_mhz"), "2050\n");
    t.file(&format!("{gt}/rps_cur_freq_mhz"), "2400\n");
    t.file(&format!("{gt}/rps_min_freq_mhz"), "300\n");
    t.file(&format!("{gt}/rps_max_freq_mhz"), "2400\n");
}

/// An xe GPU with two tiles (a primary gt each, and a media gt on tile 0), labelled temperatures.
fn xe_gpu(t: &Tree, card: u32, addr: &str) {
    let dev = t.card(card, "xe", addr);
    let hw = format!("{dev}/hwmon/hwmon4");
    t.file(&format!("{hw}/name"), "xe\n");
    t.file(&format!("{hw}/energy1_input"), "987654321\n");
    t.file(&format!("{hw}/power1_max"), "0\n");
    t.file(&format!("{hw}/temp2_input"), "45500\n");
    t.file(&format!("{hw}/temp2_label"), "pkg\n");
    t.file(&format!("{hw}/temp3_input"), "51000\n");
    t.file(&format!("{hw}/temp3_label"), "vram\n");
    for (tile, gt, act) in [(0, 0, 1100), (0, 1, 800), (1, 2, 1200)] {
        let f = format!("{dev}/tile{tile}/gt{gt}/freq0");
        t.file(&format!("{f}/act_freq"), format!("{act}\n"));
        t.file(&format!("{f}/cur_freq"), "1600\n");
        t.file(&format!("{f}/min_freq"), "900\n");
        t.file(&format!("{f}/max_freq"), "1600\n");
    }
}

#[test]
fn i915_schema() {
    let t = Tree::new();
    i915_gpu(&t, 0, A770);
    t.process(700, "blender", &["/usr/bin/blender", "-b", "scene.blend"]);
    t.fd(700, 0, "/dev/pts/0", "pos:\t0\nflags:\t02\nmnt_id:\t1\nino:\t3\n");
    t.fd(700, 5, "/dev/dri/renderD128", &i915_fdinfo(39, A770, 346249, 1000));
    let s = KernelSource::new(t.roots()).sample();
    assert_eq!(s.gpus.len(), 1);
    let g = &s.gpus[0];
    assert_eq!((g.card.as_str(), g.driver, g.pci_address.to_string()), ("card0", Driver::I915, A770.into()));
    assert_eq!(g.hwmon.value.as_deref(), Ok("hwmon2"));
    assert_eq!(g.energy_uj, Reading::new(Source::Hwmon, Ok(123456789)));
    assert_eq!(g.power_max_uw.value, Ok(225_000_000));
    assert_eq!(g.power_crit_uw.value, Ok(400_000_000));
    assert_eq!(g.fans.len(), 1);
    assert_eq!((g.fans[0].index, g.fans[0].rpm.value), (1, Ok(1500)));
    assert!(g.temperatures.is_empty());
    let f = g.frequencies.ok().unwrap();
    assert_eq!(f.len(), 1);
    assert_eq!((f[0].tile, f[0].gt), (0, 0));
    assert_eq!(f[0].actual_mhz, Reading::new(Source::Sysfs, Ok(2050)));
    assert_eq!(
        (f[0].requested_mhz.value, f[0].min_mhz.value, f[0].max_mhz.value),
        (Ok(2400), Ok(300), Ok(2400))
    );

    assert_eq!(s.processes.len(), 1);
    let p = &s.processes[0];
    assert_eq!(
        (p.pid, p.name.value.as_deref(), p.cmdline.value.as_deref()),
        (700, Ok("blender"), Ok("/usr/bin/blender -b scene.blend"))
    );
    let c = &p.clients[0];
    assert_eq!(
        (c.fds.as_slice(), c.counters.client_id, c.counters.pdev.unwrap().to_string()),
        (&[5][..], 39, A770.into())
    );
    let e = |class: EngineClass| c.counters.engines.iter().find(|e| e.class == class).unwrap().clone();
    assert_eq!(e(EngineClass::Render).busy_ns, Some(346249));
    assert_eq!(e(EngineClass::Video).busy_ns, Some(1000));
    assert_eq!(e(EngineClass::Video).capacity, 2);
    assert_eq!(e(EngineClass::Copy).capacity, 1, "no capacity line: one engine");
    assert_eq!(e(EngineClass::VideoEnhance).busy_ns, Some(0));
    let m = |r: &str| c.counters.memory.iter().find(|m| m.region == r).unwrap().clone();
    assert_eq!(m("system0").total, Some(6044 * 1024));
    assert_eq!(m("system0").purgeable, Some(1688 * 1024));
    assert_eq!(m("local0").resident, Some(500 << 20));
    assert_eq!(m("stolen-system0").total, Some(0), "region names may hold a dash");
    assert_eq!(s.walk.drm_fds, 1);
}

#[test]
fn xe_schema() {
    let t = Tree::new();
    xe_gpu(&t, 1, MAX);
    t.process(800, "python3", &["python3", "train.py"]);
    t.fd(800, 7, "/dev/dri/renderD129", &xe_fdinfo(3, MAX, 28257900, 1000, 7655183225));
    let s = KernelSource::new(t.roots()).sample();
    let g = &s.gpus[0];
    assert_eq!((g.card.as_str(), g.driver), ("card1", Driver::Xe));
    assert_eq!(g.energy_uj.value, Ok(987654321));
    assert_eq!(g.power_max_uw.value, Ok(0), "0: the limit is disabled");
    assert_eq!(g.power_crit_uw.value, Err(Reason::Unsupported), "not exported");
    let temps: Vec<_> =
        g.temperatures.iter().map(|t| (t.index, t.label.clone(), t.millicelsius.value)).collect();
    assert_eq!(temps, [(2, Some("pkg".into()), Ok(45500)), (3, Some("vram".into()), Ok(51000))]);
    assert!(g.fans.is_empty());
    let f: Vec<_> = g.frequencies.ok().unwrap().iter().map(|f| (f.tile, f.gt, f.actual_mhz.value)).collect();
    assert_eq!(f, [(0, 0, Ok(1100)), (0, 1, Ok(800)), (1, 2, Ok(1200))]);
    let c = &s.processes[0].clients[0];
    let rcs = c.counters.engines.iter().find(|e| e.class == EngineClass::Render).unwrap();
    assert_eq!((rcs.busy_cycles, rcs.total_cycles, rcs.busy_ns), (Some(28257900), Some(7655183225), None));
    let ccs = c.counters.engines.iter().find(|e| e.class == EngineClass::Compute).unwrap();
    assert_eq!(ccs.capacity, 4);
    let vram = c.counters.memory.iter().find(|m| m.region == "vram0").unwrap();
    assert_eq!(
        (vram.total, vram.shared, vram.resident),
        (Some(23992 * 1024), Some(16 << 20), Some(23992 * 1024))
    );
    // `drm-total-cycles-*` is not a memory region.
    assert!(c.counters.memory.iter().all(|m| !m.region.starts_with("cycles")));
}

#[test]
fn i915_utilization_is_busy_time_over_wall_time() {
    let t = Tree::new();
    i915_gpu(&t, 0, A770);
    t.process(700, "blender", &["blender"]);
    t.fd(700, 5, "/dev/dri/renderD128", &i915_fdinfo(39, A770, 1_000_000_000, 0));
    let mut s = sampler(&t);
    let first = s.sampler.sample();
    assert_eq!(util(&first, 700, EngineClass::Render), Err(Reason::NoPreviousSample));
    // One second later: 0.25 s of render, 1 s of video on a class of two engines.
    t.fd(700, 5, "/dev/dri/renderD128", &i915_fdinfo(39, A770, 1_250_000_000, 1_000_000_000));
    s.now.fetch_add(1_000_000_000, Ordering::SeqCst);
    let u = s.sampler.sample();
    assert_eq!(util(&u, 700, EngineClass::Render), Ok(25.0));
    assert_eq!(util(&u, 700, EngineClass::Video), Ok(50.0), "divided by the capacity");
    assert_eq!(util(&u, 700, EngineClass::Copy), Ok(0.0));
    assert_eq!(u.clients[0].engines[0].percent.source, Source::Fdinfo);
    // The same counters at the same time: no time elapsed.
    let u = s.sampler.sample();
    assert_eq!(util(&u, 700, EngineClass::Render), Err(Reason::NoTimeElapsed));
}

#[test]
fn xe_utilization_is_busy_cycles_over_total_cycles() {
    let t = Tree::new();
    xe_gpu(&t, 0, MAX);
    t.process(800, "python3", &["python3"]);
    t.fd(800, 7, "/dev/dri/renderD128", &xe_fdinfo(3, MAX, 0, 0, 1_000_000));
    let mut s = sampler(&t);
    s.sampler.sample();
    // The wall clock does not matter for xe: only the GPU's cycles.
    t.fd(800, 7, "/dev/dri/renderD128", &xe_fdinfo(3, MAX, 300_000, 2_000_000, 2_000_000));
    let u = s.sampler.sample();
    assert_eq!(util(&u, 800, EngineClass::Render), Ok(30.0));
    assert_eq!(util(&u, 800, EngineClass::Compute), Ok(50.0), "2e6 cycles over 1e6 x 4 engines");
    // Total cycles that did not move: no time elapsed.
    let u = s.sampler.sample();
    assert_eq!(util(&u, 800, EngineClass::Render), Err(Reason::NoTimeElapsed));
    // More busy cycles than the engines had: implausible, not clamped to 100.
    t.fd(800, 7, "/dev/dri/renderD128", &xe_fdinfo(3, MAX, 1_500_000, 2_000_000, 3_000_000));
    let u = s.sampler.sample();
    assert_eq!(util(&u, 800, EngineClass::Render), Err(Reason::Implausible));
    assert_eq!(util(&u, 800, EngineClass::Compute), Ok(0.0));
}

#[test]
fn counters_going_backwards_give_a_reason_and_keep_the_larger_value() {
    let t = Tree::new();
    i915_gpu(&t, 0, A770);
    t.process(700, "blender", &["blender"]);
    t.fd(700, 5, "/dev/dri/renderD128", &i915_fdinfo(39, A770, 2_000_000_000, 0));
    let mut s = sampler(&t);
    s.sampler.sample();
    t.fd(700, 5, "/dev/dri/renderD128", &i915_fdinfo(39, A770, 1_000_000_000, 0));
    s.now.fetch_add(1_000_000_000, Ordering::SeqCst);
    let u = s.sampler.sample();
    assert_eq!(util(&u, 700, EngineClass::Render), Err(Reason::CounterBackwards));
    // It catches up: the rate runs from the larger earlier value over both seconds.
    t.fd(700, 5, "/dev/dri/renderD128", &i915_fdinfo(39, A770, 2_500_000_000, 0));
    s.now.fetch_add(1_000_000_000, Ordering::SeqCst);
    let u = s.sampler.sample();
    assert_eq!(util(&u, 700, EngineClass::Render), Ok(25.0));
}

#[test]
fn clients_are_counted_once_by_pdev_and_client_id() {
    let t = Tree::new();
    i915_gpu(&t, 0, A770);
    xe_gpu(&t, 1, MAX);
    t.process(700, "app", &["app"]);
    t.process(701, "helper", &["helper"]);
    // A dup'ed fd in 700, the same client passed to 701, and client id 39 again on another GPU.
    t.fd(700, 5, "/dev/dri/renderD128", &i915_fdinfo(39, A770, 10, 0));
    t.fd(700, 6, "/dev/dri/renderD128", &i915_fdinfo(39, A770, 10, 0));
    t.fd(701, 3, "/dev/dri/renderD128", &i915_fdinfo(39, A770, 10, 0));
    t.fd(701, 4, "/dev/dri/renderD129", &xe_fdinfo(39, MAX, 0, 0, 1));
    let s = KernelSource::new(t.roots()).sample();
    assert_eq!(s.walk.drm_fds, 4);
    assert_eq!(s.walk.duplicate_fds, 2);
    let p700 = s.processes.iter().find(|p| p.pid == 700).unwrap();
    assert_eq!(p700.clients.len(), 1);
    assert_eq!(p700.clients[0].fds, [5, 6]);
    let p701 = s.processes.iter().find(|p| p.pid == 701).unwrap();
    assert_eq!(p701.clients.len(), 1, "the passed client belongs to the lower pid");
    assert_eq!(p701.clients[0].counters.driver, Some(Driver::Xe));
    // Per process and GPU.
    let u = Sampler::new(KernelSource::new(t.roots())).sample();
    assert_eq!(u.processes.len(), 2);
    assert_eq!(u.processes[0].resident_bytes, Some(6044 * 1024 + (500 << 20)));
}

#[test]
fn foreign_drivers_are_ignored() {
    let t = Tree::new();
    i915_gpu(&t, 0, A770);
    t.card(1, "amdgpu", "0000:0a:00.0");
    t.card(2, "nouveau", "0000:0b:00.0");
    t.process(900, "game", &["game"]);
    t.fd(
        900,
        3,
        "/dev/dri/renderD129",
        "drm-driver:\tamdgpu\ndrm-client-id:\t460\ndrm-pdev:\t0000:0a:00.0\ndrm-memory-vram:\t524288 KiB\n\
         drm-engine-gfx:\t25123456789 ns\n",
    );
    t.fd(900, 4, "/dev/dri/renderD130", "drm-driver:\tnouveau\ndrm-client-id:\t2\ndrm-pdev:\t0000:0b:00.0\n");
    let s = KernelSource::new(t.roots()).sample();
    assert_eq!(s.gpus.iter().map(|g| g.card.as_str()).collect::<Vec<_>>(), ["card0"]);
    assert!(s.processes.is_empty());
    assert_eq!(s.walk.foreign_clients, 2);
}

#[test]
fn several_gpus_in_card_order_and_other_drm_entries_skipped() {
    let t = Tree::new();
    i915_gpu(&t, 10, "0000:83:00.0");
    xe_gpu(&t, 2, MAX);
    i915_gpu(&t, 0, A770);
    t.file("sys/class/drm/card0-DP-1/status", "connected\n");
    t.file("sys/class/drm/renderD128/dev", "226:128\n");
    t.file("sys/class/drm/version", "drm 1.1.0 20060810\n");
    let (gpus, reason) = KernelSource::new(t.roots()).gpus();
    assert_eq!(reason, None);
    let cards: Vec<_> = gpus.iter().map(|g| (g.card.as_str(), g.driver)).collect();
    assert_eq!(cards, [("card0", Driver::I915), ("card2", Driver::Xe), ("card10", Driver::I915)]);
    assert_eq!(gpus[2].pci_address.to_string(), "0000:83:00.0");
}

#[test]
fn the_identity_falls_back_to_the_driver_link() {
    let t = Tree::new();
    // No uevent: `device` -> .../0000:03:00.0 and `device/driver` -> .../drivers/xe.
    std::fs::create_dir_all(t.path("sys/devices/pci0000:00/0000:03:00.0")).unwrap();
    t.link("sys/devices/pci0000:00/0000:03:00.0/driver", "../../../bus/pci/drivers/xe");
    t.link("sys/class/drm/card0/device", "../../../devices/pci0000:00/0000:03:00.0");
    let (gpus, _) = KernelSource::new(t.roots()).gpus();
    assert_eq!((gpus[0].driver, gpus[0].pci_address.to_string()), (Driver::Xe, A770.into()));
    assert_eq!(gpus[0].hwmon.reason(), Some(Reason::Unsupported));
    assert_eq!(gpus[0].frequencies.reason(), Some(Reason::Unsupported));
}

#[test]
fn older_i915_kernels_have_card_level_frequencies() {
    let t = Tree::new();
    t.card(0, "i915", "0000:00:02.0");
    t.file("sys/class/drm/card0/gt_act_freq_mhz", "650\n");
    t.file("sys/class/drm/card0/gt_cur_freq_mhz", "700\n");
    let (gpus, _) = KernelSource::new(t.roots()).gpus();
    let f = gpus[0].frequencies.ok().unwrap();
    assert_eq!(
        (f[0].actual_mhz.value, f[0].requested_mhz.value, f[0].min_mhz.value),
        (Ok(650), Ok(700), Err(Reason::Unsupported))
    );
}

#[test]
fn no_sysfs_and_no_procfs_are_reasons_not_failures() {
    let t = Tree::new();
    let s = KernelSource::new(t.roots()).sample();
    assert_eq!(s.gpus_reason, Some(Reason::Unsupported));
    assert_eq!(s.walk.procfs_reason, Some(Reason::Unsupported));
    assert!(s.gpus.is_empty() && s.processes.is_empty());
}

#[test]
fn malformed_and_truncated_files() {
    let t = Tree::new();
    let dev = t.card(0, "i915", A770);
    t.file(&format!("{dev}/hwmon/hwmon0/name"), "i915\n");
    t.file(&format!("{dev}/hwmon/hwmon0/energy1_input"), "12ab\n");
    t.file(&format!("{dev}/hwmon/hwmon0/power1_max"), "");
    t.file(&format!("{dev}/hwmon/hwmon0/power1_crit"), b"\xff\xfe\n");
    t.file(&format!("{dev}/hwmon/hwmon0/fan1_input"), "+5\n");
    t.file(&format!("{dev}/hwmon/hwmon0/temp1_input"), "-5000\n");
    t.process(700, "app", &["app"]);
    // Truncated in the middle of a line: the engine has no unit, the file no newline.
    let full = i915_fdinfo(39, A770, 346249, 0);
    let cut = &full[..full.find("drm-engine-render:").unwrap() + "drm-engine-render:\t3462".len()];
    t.fd(700, 5, "/dev/dri/renderD128", cut);
    // A DRM fd without a client id, and garbage.
    t.fd(700, 6, "/dev/dri/renderD128", "drm-driver:\ti915\ndrm-pdev:\t0000:03:00.0\n");
    t.fd(700, 7, "/dev/dri/renderD128", "\0\0\0\u{1}binary");
    let s = KernelSource::new(t.roots()).sample();
    let g = &s.gpus[0];
    assert_eq!(g.energy_uj.value, Err(Reason::Malformed));
    assert_eq!(g.power_max_uw.value, Err(Reason::Malformed));
    assert_eq!(g.power_crit_uw.value, Err(Reason::Malformed));
    assert_eq!(g.fans[0].rpm.value, Err(Reason::Malformed));
    assert_eq!(g.temperatures[0].millicelsius.value, Ok(-5000), "temperatures may be negative");
    assert_eq!(s.walk.malformed, 1);
    let c = &s.processes[0].clients[0];
    let render = c.counters.engines.iter().find(|e| e.class == EngineClass::Render).unwrap();
    assert!(render.malformed && render.busy_ns.is_none());
    // Memory lines before the cut are kept.
    assert_eq!(c.counters.memory.iter().find(|m| m.region == "local0").unwrap().resident, Some(500 << 20));
    let mut sampler = Sampler::new(KernelSource::new(t.roots()));
    sampler.sample();
    let u = sampler.sample();
    assert_eq!(util(&u, 700, EngineClass::Render), Err(Reason::Malformed));
}

#[test]
fn huge_files_are_bounded() {
    let t = Tree::new();
    let dev = t.card(0, "xe", MAX);
    t.file(&format!("{dev}/hwmon/hwmon0/name"), "xe\n");
    t.file(&format!("{dev}/hwmon/hwmon0/energy1_input"), "1".repeat(MAX_ATTRIBUTE_BYTES + 1));
    t.process(800, "app", &["app", &"x".repeat(MAX_CMDLINE_BYTES)]);
    let mut big = xe_fdinfo(3, MAX, 1, 1, 1);
    big.push_str(&"drm-padding:\t0\n".repeat(MAX_FDINFO_BYTES / 10));
    t.fd(800, 3, "/dev/dri/renderD128", &big);
    t.fd(800, 4, "/dev/dri/renderD128", &xe_fdinfo(4, MAX, 1, 1, 1));
    let s = KernelSource::new(t.roots()).sample();
    assert_eq!(s.gpus[0].energy_uj.value, Err(Reason::TooLarge));
    assert_eq!(s.walk.too_large, 1);
    let p = &s.processes[0];
    assert_eq!(p.clients.len(), 1);
    assert_eq!(p.clients[0].counters.client_id, 4);
    let cmd = p.cmdline.ok().unwrap();
    assert_eq!(cmd.len(), MAX_CMDLINE_BYTES + 3);
    assert!(cmd.starts_with("app xxx") && cmd.ends_with("..."));
}

#[test]
fn vanished_processes_and_closed_fds() {
    let t = Tree::new();
    i915_gpu(&t, 0, A770);
    // 600: listed, but its fd directory is gone (exited).
    std::fs::create_dir_all(t.path("proc/600")).unwrap();
    // 700: an fd whose fdinfo is gone (closed between listing and reading).
    t.process(700, "app", &["app"]);
    t.link("proc/700/fd/5", "/dev/dri/renderD128");
    t.fd(700, 6, "/dev/dri/renderD128", &i915_fdinfo(40, A770, 0, 0));
    // 701: its comm and cmdline are gone after its fds were read.
    t.process(701, "gone", &["gone"]);
    t.fd(701, 3, "/dev/dri/renderD128", &i915_fdinfo(41, A770, 0, 0));
    t.remove("proc/701/comm");
    t.remove("proc/701/cmdline");
    // Not pids.
    t.file("proc/self/status", "x");
    t.file("proc/meminfo", "x");
    let s = KernelSource::new(t.roots()).sample();
    assert_eq!(s.walk.processes_seen, 3);
    assert_eq!(s.walk.vanished, 1);
    let p700 = s.processes.iter().find(|p| p.pid == 700).unwrap();
    assert_eq!(p700.clients.iter().map(|c| c.counters.client_id).collect::<Vec<_>>(), [40]);
    let p701 = s.processes.iter().find(|p| p.pid == 701).unwrap();
    assert_eq!(p701.name.value, Err(Reason::Vanished));
    assert_eq!(p701.cmdline.value, Err(Reason::Vanished));
}

/// A file system that answers EACCES for some paths, as the kernel does for other users' and
/// non-dumpable processes (which a test running as root cannot produce with chmod).
struct Denying {
    denied: Vec<PathBuf>,
    reads: Mutex<u64>,
}

impl Denying {
    fn check(&self, path: &Path) -> io::Result<()> {
        *self.reads.lock().unwrap() += 1;
        if self.denied.iter().any(|d| path.starts_with(d)) {
            return Err(io::Error::from(io::ErrorKind::PermissionDenied));
        }
        Ok(())
    }
}

impl FileSystem for Denying {
    fn read_bounded(&self, path: &Path, limit: usize, buf: &mut Vec<u8>) -> io::Result<()> {
        self.check(path)?;
        RealFileSystem.read_bounded(path, limit, buf)
    }
    fn list_dir(&self, path: &Path, limit: usize) -> io::Result<Vec<OsString>> {
        self.check(path)?;
        RealFileSystem.list_dir(path, limit)
    }
    fn read_link(&self, path: &Path) -> io::Result<PathBuf> {
        self.check(path)?;
        RealFileSystem.read_link(path)
    }
}

#[test]
fn unreadable_entries_give_permission() {
    let t = Tree::new();
    i915_gpu(&t, 0, A770);
    t.process(700, "mine", &["mine"]);
    t.fd(700, 5, "/dev/dri/renderD128", &i915_fdinfo(39, A770, 0, 0));
    t.fd(700, 6, "/dev/dri/renderD128", &i915_fdinfo(50, A770, 0, 0));
    t.process(701, "theirs", &["theirs"]);
    t.fd(701, 5, "/dev/dri/renderD128", &i915_fdinfo(40, A770, 0, 0));
    let denied = vec![
        t.path("proc/701/fd"),
        t.path("proc/700/fdinfo/6"),
        t.path("sys/class/drm/card0/device/hwmon/hwmon2/energy1_input"),
    ];
    let fs = Arc::new(Denying { denied, reads: Mutex::new(0) });
    let s = KernelSource::with(t.roots(), fs, Arc::new(MonotonicClock::default())).sample();
    assert_eq!(s.walk.unreadable_pids, [701]);
    assert_eq!(s.gpus[0].energy_uj.value, Err(Reason::Permission));
    assert_eq!(s.gpus[0].power_max_uw.value, Ok(225_000_000));
    let p = &s.processes[0];
    assert_eq!((p.pid, p.clients.len(), p.unreadable_fds), (700, 1, 1));
}

/// The same with a real chmod 000 file: only meaningful for a user without CAP_DAC_OVERRIDE.
#[test]
fn a_chmod_000_attribute_gives_permission_unless_running_as_root() {
    use std::os::unix::fs::PermissionsExt;
    let t = Tree::new();
    i915_gpu(&t, 0, A770);
    let path = t.path("sys/devices/pci0000:00/0000:03:00.0/hwmon/hwmon2/energy1_input");
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o000)).unwrap();
    let energy = KernelSource::new(t.roots()).sample().gpus[0].energy_uj.value;
    if std::fs::read(&path).is_ok() {
        // Root reads it anyway (the permission case is covered by the injected file system).
        eprintln!("running with CAP_DAC_OVERRIDE: chmod 000 does not deny, assertion skipped");
        assert_eq!(energy, Ok(123456789));
    } else {
        assert_eq!(energy, Err(Reason::Permission));
    }
}

#[test]
fn the_roots_come_from_the_environment() {
    std::env::set_var("ZES_SYSFS_ROOT", "/host/sys");
    std::env::set_var("ZES_PROCFS_ROOT", "");
    let r = KernelRoots::from_env();
    std::env::remove_var("ZES_SYSFS_ROOT");
    std::env::remove_var("ZES_PROCFS_ROOT");
    assert_eq!(r.sysfs_root, Path::new("/host/sys"));
    assert_eq!(r.procfs_root, Path::new("/proc"), "empty means the default");
}

#[test]
fn a_new_idle_client_adds_nothing_a_new_busy_one_is_unknown() {
    let t = Tree::new();
    i915_gpu(&t, 0, A770);
    t.process(700, "app", &["app"]);
    t.fd(700, 5, "/dev/dri/renderD128", &i915_fdinfo(39, A770, 0, 0));
    let mut s = sampler(&t);
    s.sampler.sample();
    t.fd(700, 5, "/dev/dri/renderD128", &i915_fdinfo(39, A770, 100_000_000, 0));
    t.fd(700, 6, "/dev/dri/renderD128", &i915_fdinfo(77, A770, 0, 0));
    s.now.fetch_add(1_000_000_000, Ordering::SeqCst);
    let u = s.sampler.sample();
    assert_eq!(util(&u, 700, EngineClass::Render), Ok(10.0));
    let new_client = u.clients.iter().find(|c| c.client_id == 77).unwrap();
    assert_eq!(new_client.engines[0].percent.value, Err(Reason::NoPreviousSample));
    t.fd(700, 7, "/dev/dri/renderD128", &i915_fdinfo(78, A770, 5, 0));
    s.now.fetch_add(1_000_000_000, Ordering::SeqCst);
    let u = s.sampler.sample();
    assert_eq!(util(&u, 700, EngineClass::Render), Err(Reason::NoPreviousSample));
}

#[test]
fn samples_serialize_with_sources_and_reasons() {
    let t = Tree::new();
    xe_gpu(&t, 0, MAX);
    t.process(800, "app", &["app"]);
    t.fd(800, 3, "/dev/dri/renderD128", &xe_fdinfo(3, MAX, 0, 0, 1));
    let u = Sampler::new(KernelSource::new(t.roots())).sample();
    let v = serde_json::to_value(&u).unwrap();
    assert_eq!(
        v["sample"]["gpus"][0]["energy_uj"],
        serde_json::json!({"value": 987654321u64, "source": "hwmon"})
    );
    assert_eq!(v["sample"]["gpus"][0]["pci_address"], MAX);
    assert_eq!(
        v["processes"][0]["engines"][0]["percent"],
        serde_json::json!({"reason": "no_previous_sample", "source": "fdinfo"})
    );
    assert_eq!(v["processes"][0]["name"]["source"], "procfs");
}

#[test]
fn names_are_read_once_per_process_and_again_for_a_reused_pid() {
    let t = Tree::new();
    i915_gpu(&t, 0, A770);
    t.process(700, "first", &["first"]);
    t.fd(700, 5, "/dev/dri/renderD128", &i915_fdinfo(39, A770, 0, 0));
    let source = KernelSource::new(t.roots());
    assert_eq!(source.sample().processes[0].name.value.as_deref(), Ok("first"));
    // The same client: the name read before is kept (comm is not read again).
    t.file("proc/700/comm", "renamed\n");
    assert_eq!(source.sample().processes[0].name.value.as_deref(), Ok("first"));
    // Pid 700 reused by another program: other clients, so its names are read again.
    t.process(700, "second", &["second", "--flag"]);
    t.fd(700, 5, "/dev/dri/renderD128", &i915_fdinfo(90, A770, 0, 0));
    let p = &source.sample().processes[0];
    assert_eq!((p.name.value.as_deref(), p.cmdline.value.as_deref()), (Ok("second"), Ok("second --flag")));
}
