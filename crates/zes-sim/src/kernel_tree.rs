//! The kernel's view of the simulated machine: sysfs (hwmon, gt frequencies) and procfs (DRM
//! fdinfo of simulated client processes) files under a directory, written from the model, for
//! the kernel fallbacks (crate zes-kernel) to read as they read `/sys` and `/proc`.
//!
//! Control request `{"op": "kernel_tree", "path": "/abs/dir", "layout": "auto"|"xe"|"i915"}`
//! writes `<dir>/sys` and `<dir>/proc` and keeps them up to date on every `advance`;
//! `{"op": "kernel_tree"}` rewrites them now (for the real clock; with `layout`, in that layout
//! from now on); `"path": null` stops.
//! `reset` and `load` stop it too. Layout `auto`: xe for the Max 1550, i915 for the others.
//!
//! Per-process engine time: the activity of each engine class of a device between two writes
//! (the sum over tiles of that class's `*_ALL` group) is split evenly among the device's
//! processes whose engine flags include the class (compute: COMPUTE; render: 3D or RENDER;
//! copy: DMA; media: MEDIA). A class no process uses is busy for no client. Each process has
//! one client per device, open on two fds (a `dup`), so that readers must deduplicate.

use crate::model::{Device, Machine};
use serde_json::{json, Value};
use std::collections::{BTreeMap, BTreeSet};
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use zes_sys::{zes_engine_group_t, zes_engine_type_flags_t, zes_freq_domain_t, zes_temp_sensors_t};

/// The xe cycle counters tick at this rate (the GPU's command-streamer timestamp).
pub const GPU_TIMESTAMP_HZ: f64 = 19_200_000.0;
/// Simulated DRM device nodes are `/dev/dri/renderD<128 + device index>`.
const RENDER_NODE_BASE: usize = 128;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Layout {
    Auto,
    Xe,
    I915,
}

impl Layout {
    fn parse(s: &str) -> Option<Self> {
        match s {
            "auto" => Some(Layout::Auto),
            "xe" => Some(Layout::Xe),
            "i915" => Some(Layout::I915),
            _ => None,
        }
    }
    /// The driver a device is written as.
    fn driver_of(self, d: &Device) -> Layout {
        match self {
            Layout::Auto if d.p.preset == "max1550" => Layout::Xe,
            Layout::Auto => Layout::I915,
            other => other,
        }
    }
}

/// Engine classes in the order of [`ClientState::busy_s`].
const CLASSES: [(zes_engine_group_t, &str, &str); 4] = [
    (zes_engine_group_t::COMPUTE_ALL, "compute", "ccs"),
    (zes_engine_group_t::RENDER_ALL, "render", "rcs"),
    (zes_engine_group_t::COPY_ALL, "copy", "bcs"),
    (zes_engine_group_t::MEDIA_ALL, "video", "vcs"),
];

fn uses(engines: zes_engine_type_flags_t, class: usize) -> bool {
    let any = |f: zes_engine_type_flags_t| engines.0 & f.0 != 0;
    match class {
        0 => any(zes_engine_type_flags_t::COMPUTE),
        1 => any(zes_engine_type_flags_t::V3D | zes_engine_type_flags_t::RENDER),
        2 => any(zes_engine_type_flags_t::DMA),
        _ => any(zes_engine_type_flags_t::MEDIA),
    }
}

/// One simulated DRM client: a process's open device.
#[derive(Clone, Debug)]
pub struct ClientState {
    pub client_id: u64,
    /// Busy seconds per class (compute, render, copy, video), summed over the class's engines.
    pub busy_s: [f64; 4],
}

#[derive(Debug)]
struct Tree {
    root: PathBuf,
    layout: Layout,
    clients: BTreeMap<(u32, usize), ClientState>,
    next_client_id: u64,
    /// Per device, the class activity (seconds, all tiles) at the last write.
    last_active: Vec<[f64; 4]>,
    written_pids: BTreeSet<u32>,
}

static TREE: Mutex<Option<Tree>> = Mutex::new(None);

fn tree() -> std::sync::MutexGuard<'static, Option<Tree>> {
    TREE.lock().unwrap_or_else(|e| e.into_inner())
}

/// Class activity of a device: seconds, summed over tiles, per class.
fn active(d: &Device) -> [f64; 4] {
    let mut out = [0.0; 4];
    for (i, (group, _, _)) in CLASSES.iter().enumerate() {
        out[i] = d.engines.iter().filter(|e| e.group == *group).map(|e| e.active_s).sum();
    }
    out
}

/// Engines per class: one per tile for each class the device has.
fn capacity(d: &Device, class: usize) -> usize {
    d.engines.iter().filter(|e| e.group == CLASSES[class].0).count()
}

fn pci_address(d: &Device) -> String {
    format!("{:04x}:{:02x}:{:02x}.{:x}", d.p.pci_domain, d.p.pci_bus, d.p.pci_device, d.p.pci_function)
}

/// Writes `text` to `path` through a rename, so that a reader sees the old or the new file.
fn put(path: &Path, text: &str) -> io::Result<()> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(".new");
    std::fs::write(&tmp, text)?;
    std::fs::rename(&tmp, path)
}

fn link(target: &str, at: &Path) -> io::Result<()> {
    if let Some(dir) = at.parent() {
        std::fs::create_dir_all(dir)?;
    }
    match std::fs::read_link(at) {
        Ok(t) if t == Path::new(target) => Ok(()),
        Ok(_) => {
            std::fs::remove_file(at)?;
            std::os::unix::fs::symlink(target, at)
        }
        Err(_) => std::os::unix::fs::symlink(target, at),
    }
}

/// A size as the kernel prints it in fdinfo: the largest of B, KiB, MiB that divides it.
fn size(bytes: u64) -> String {
    let (mut n, mut unit) = (bytes, 0);
    while n != 0 && n % 1024 == 0 && unit < 2 {
        n /= 1024;
        unit += 1;
    }
    match unit {
        0 => format!("{n}"),
        1 => format!("{n} KiB"),
        _ => format!("{n} MiB"),
    }
}

fn write_device(root: &Path, d: &Device, xe: bool) -> io::Result<()> {
    let addr = pci_address(d);
    let sys = root.join("sys");
    let pci_dir = sys.join("devices/pci0000:00").join(&addr);
    let card = sys.join(format!("class/drm/card{}", d.index));
    let driver = if xe { "xe" } else { "i915" };
    put(
        &pci_dir.join("uevent"),
        &format!(
            "DRIVER={driver}\nPCI_CLASS=30000\nPCI_ID=8086:{:04X}\nPCI_SLOT_NAME={addr}\n",
            d.p.pci_device_id
        ),
    )?;
    link(&format!("../../../devices/pci0000:00/{addr}"), &card.join("device"))?;
    // hwmon: i915 registers one only for discrete GPUs.
    if xe || !d.p.integrated {
        let hw = pci_dir.join(format!("hwmon/hwmon{}", d.index));
        let p = d.control_power();
        put(&hw.join("name"), &format!("{driver}\n"))?;
        put(&hw.join("energy1_input"), &format!("{}\n", (p.energy_j * 1e6) as u64))?;
        let pl1 = if p.limits.sustained_enabled { p.limits.sustained_mw as i64 * 1000 } else { 0 };
        put(&hw.join("power1_max"), &format!("{pl1}\n"))?;
        put(&hw.join("power1_crit"), &format!("{}\n", p.limits.peak_ac_mw as i64 * 1000))?;
        put(&hw.join("power1_rated_max"), &format!("{}\n", (d.p.tdp_w * 1e6).round() as i64))?;
        if d.p.fans > 0 {
            let rpm = (d.fan_percent(0) * d.p.fan_max_rpm as f64 / 100.0).round() as i64;
            put(&hw.join("fan1_input"), &format!("{rpm}\n"))?;
        }
        // xe: temp2 the package, temp3 the VRAM (i915's hwmon has no temperatures).
        if xe {
            let mc = |c: f64| (c * 1000.0).round() as i64;
            if let Some(t) = d.temps.iter().find(|t| t.sensor == zes_temp_sensors_t::GLOBAL) {
                put(&hw.join("temp2_input"), &format!("{}\n", mc(t.value_c)))?;
                put(&hw.join("temp2_label"), "pkg\n")?;
            }
            let vram = d.temps.iter().filter(|t| t.sensor == zes_temp_sensors_t::MEMORY).map(|t| t.value_c);
            if let Some(v) = vram.reduce(f64::max) {
                put(&hw.join("temp3_input"), &format!("{}\n", mc(v)))?;
                put(&hw.join("temp3_label"), "vram\n")?;
            }
        }
    }
    for f in d.freqs.iter().filter(|f| f.domain == zes_freq_domain_t::GPU) {
        let t = f.tile.unwrap_or(0);
        let mhz = |v: f64| format!("{}\n", v.round() as i64);
        if xe {
            let dir = pci_dir.join(format!("tile{t}/gt{t}/freq0"));
            put(&dir.join("act_freq"), &mhz(f.actual))?;
            put(&dir.join("cur_freq"), &mhz(f.request))?;
            put(&dir.join("min_freq"), &mhz(f.range.0))?;
            put(&dir.join("max_freq"), &mhz(f.range.1))?;
            put(&dir.join("rp0_freq"), &mhz(f.hw_max))?;
            put(&dir.join("rpn_freq"), &mhz(f.hw_min))?;
        } else {
            let dir = card.join(format!("gt/gt{t}"));
            put(&dir.join("rps_act_freq_mhz"), &mhz(f.actual))?;
            put(&dir.join("rps_cur_freq_mhz"), &mhz(f.request))?;
            put(&dir.join("rps_min_freq_mhz"), &mhz(f.range.0))?;
            put(&dir.join("rps_max_freq_mhz"), &mhz(f.range.1))?;
            put(&dir.join("rps_RP0_freq_mhz"), &mhz(f.hw_max))?;
        }
    }
    Ok(())
}

fn fdinfo(d: &Device, xe: bool, client: &ClientState, mem: u64, shared: u64, now_s: f64) -> String {
    let addr = pci_address(d);
    let driver = if xe { "xe" } else { "i915" };
    let mut s = format!(
        "pos:\t0\nflags:\t02100002\nmnt_id:\t24\nino:\t{}\ndrm-driver:\t{driver}\ndrm-client-id:\t{}\ndrm-pdev:\t{addr}\n",
        1000 + d.index,
        client.client_id
    );
    // Memory: the process's memory in device memory (split over the tiles), or system memory
    // for an integrated GPU.
    let tiles = d.mems.len().max(1) as u64;
    let mut regions: Vec<(String, u64, u64)> = Vec::new();
    let local = |t: u64| if xe { format!("vram{t}") } else { format!("local{t}") };
    let system = if xe { "system" } else { "system0" };
    if d.p.integrated {
        regions.push((system.into(), mem, shared));
    } else {
        regions.push((system.into(), 0, 0));
        for t in 0..tiles {
            let part = mem / tiles + if t == tiles - 1 { mem % tiles } else { 0 };
            regions.push((local(t), part, if t == 0 { shared } else { 0 }));
        }
    }
    if xe {
        regions.push(("gtt".into(), 0, 0));
    }
    for (name, bytes, shared) in &regions {
        s.push_str(&format!(
            "drm-total-{name}:\t{}\ndrm-shared-{name}:\t{}\ndrm-active-{name}:\t0\ndrm-resident-{name}:\t{}\n",
            size(*bytes),
            size(*shared),
            size(*bytes)
        ));
    }
    let total_cycles = (now_s * GPU_TIMESTAMP_HZ).round() as u64;
    for (i, (_, i915_name, xe_name)) in CLASSES.iter().enumerate() {
        let cap = capacity(d, i);
        if cap == 0 {
            continue;
        }
        if xe {
            let cycles = (client.busy_s[i] * GPU_TIMESTAMP_HZ).round() as u64;
            s.push_str(&format!(
                "drm-cycles-{xe_name}:\t{cycles}\ndrm-total-cycles-{xe_name}:\t{total_cycles}\n"
            ));
        } else {
            let ns = (client.busy_s[i] * 1e9).round() as u64;
            s.push_str(&format!("drm-engine-{i915_name}:\t{ns} ns\n"));
        }
        if cap > 1 {
            let key = if xe { xe_name } else { i915_name };
            s.push_str(&format!("drm-engine-capacity-{key}:\t{cap}\n"));
        }
    }
    // The video-enhance engines are never busy in the model.
    if xe {
        s.push_str(&format!("drm-cycles-vecs:\t0\ndrm-total-cycles-vecs:\t{total_cycles}\n"));
    } else {
        s.push_str("drm-engine-video-enhance:\t0 ns\n");
    }
    s
}

fn comm_of(command: &str) -> String {
    let first = command.split_whitespace().next().unwrap_or("");
    let base = first.rsplit('/').next().unwrap_or(first);
    let mut name = String::new();
    for c in base.chars() {
        if name.len() + c.len_utf8() > 15 {
            break;
        }
        name.push(c);
    }
    name
}

fn write(t: &mut Tree, m: &Machine) -> io::Result<()> {
    let now = m.now();
    // Split each device's new class activity among its processes of that class.
    t.last_active.resize(m.devices.len(), [0.0; 4]);
    let present: BTreeSet<(u32, usize)> = m.processes.iter().map(|p| (p.pid, p.device)).collect();
    t.clients.retain(|k, _| present.contains(k));
    for p in &m.processes {
        if !t.clients.contains_key(&(p.pid, p.device)) {
            t.next_client_id += 1;
            t.clients
                .insert((p.pid, p.device), ClientState { client_id: t.next_client_id, busy_s: [0.0; 4] });
        }
    }
    for d in &m.devices {
        let now_active = active(d);
        for (class, (now, before)) in now_active.iter().zip(t.last_active[d.index]).enumerate() {
            let delta = (now - before).max(0.0);
            let users: Vec<u32> = m
                .processes
                .iter()
                .filter(|p| p.device == d.index && uses(p.engines, class))
                .map(|p| p.pid)
                .collect();
            for pid in &users {
                if let Some(c) = t.clients.get_mut(&(*pid, d.index)) {
                    c.busy_s[class] += delta / users.len() as f64;
                }
            }
        }
        t.last_active[d.index] = now_active;
    }
    for d in &m.devices {
        write_device(&t.root, d, t.layout.driver_of(d) == Layout::Xe)?;
    }
    let proc_root = t.root.join("proc");
    std::fs::create_dir_all(&proc_root)?;
    let mut pids = BTreeSet::new();
    let mut next_fd: BTreeMap<u32, u32> = BTreeMap::new();
    for p in &m.processes {
        let Some(d) = m.devices.get(p.device) else { continue };
        let Some(client) = t.clients.get(&(p.pid, p.device)) else { continue };
        let dir = proc_root.join(p.pid.to_string());
        if pids.insert(p.pid) {
            put(&dir.join("comm"), &format!("{}\n", comm_of(&p.command)))?;
            let mut cmdline: String = p.command.split_whitespace().flat_map(|w| [w, "\0"]).collect();
            if cmdline.is_empty() {
                cmdline.push('\0');
            }
            put(&dir.join("cmdline"), &cmdline)?;
            link("/dev/null", &dir.join("fd/0"))?;
            put(&dir.join("fdinfo/0"), "pos:\t0\nflags:\t0100002\nmnt_id:\t25\nino:\t5\n")?;
        }
        // One client on two fds: the second a dup of the first.
        let fd = next_fd.entry(p.pid).or_insert(3);
        let text = fdinfo(d, t.layout.driver_of(d) == Layout::Xe, client, p.mem_bytes, p.shared_bytes, now);
        for _ in 0..2 {
            link(&format!("/dev/dri/renderD{}", RENDER_NODE_BASE + d.index), &dir.join(format!("fd/{fd}")))?;
            put(&dir.join(format!("fdinfo/{fd}")), &text)?;
            *fd += 1;
        }
    }
    // Processes that exited: their directories go.
    for gone in t.written_pids.difference(&pids) {
        let _ = std::fs::remove_dir_all(proc_root.join(gone.to_string()));
    }
    t.written_pids = pids;
    Ok(())
}

/// The reply to a request that wrote the tree: where it is, and each client's modeled busy time.
fn reply(root: &Path, m: &Machine) -> Value {
    json!({
        "ok": true,
        "time_s": m.now(),
        "sysfs_root": root.join("sys"),
        "procfs_root": root.join("proc"),
        "clients": client_truth().iter().map(|(pid, device, c)| json!({
            "pid": pid, "device": device, "client_id": c.client_id,
            "busy_s": {"compute": c.busy_s[0], "render": c.busy_s[1], "copy": c.busy_s[2], "video": c.busy_s[3]},
        })).collect::<Vec<_>>(),
    })
}

/// The `kernel_tree` control request (see the module documentation).
pub fn control(v: &Value) -> Result<Value, String> {
    let layout = match v.get("layout") {
        None => Layout::Auto,
        Some(l) => {
            l.as_str().and_then(Layout::parse).ok_or("layout: expected \"auto\", \"xe\" or \"i915\"")?
        }
    };
    let mut m = crate::state::machine();
    m.update_all();
    let root = match v.get("path") {
        Some(Value::Null) => {
            clear();
            return Ok(json!({"ok": true}));
        }
        Some(p) => {
            let root = PathBuf::from(p.as_str().ok_or("path: expected a directory path")?);
            if !root.is_absolute() {
                return Err("path: expected an absolute directory path".into());
            }
            let mut t = Tree {
                root: root.clone(),
                layout,
                clients: BTreeMap::new(),
                next_client_id: 0,
                last_active: m.devices.iter().map(active).collect(),
                written_pids: BTreeSet::new(),
            };
            write(&mut t, &m).map_err(|e| format!("path: cannot write the kernel tree: {e}"))?;
            *tree() = Some(t);
            root
        }
        None => {
            let mut guard = tree();
            let t = guard.as_mut().ok_or("path: no kernel tree is being written (give a path)")?;
            if v.get("layout").is_some() && t.layout != layout {
                t.layout = layout;
                // The other layout's files go (its directories differ).
                let _ = std::fs::remove_dir_all(t.root.join("sys"));
            }
            write(t, &m).map_err(|e| format!("cannot write the kernel tree: {e}"))?;
            t.root.clone()
        }
    };
    Ok(reply(&root, &m))
}

/// Rewrites the tree, if one is being written, from the machine as it is now.
pub fn refresh(m: &Machine) -> Result<(), String> {
    match tree().as_mut() {
        Some(t) => write(t, m).map_err(|e| format!("cannot write the kernel tree: {e}")),
        None => Ok(()),
    }
}

/// Stops writing the tree (its files stay).
pub fn clear() {
    *tree() = None;
}

/// The modeled busy time of every simulated client: (pid, device, state).
pub fn client_truth() -> Vec<(u32, usize, ClientState)> {
    match tree().as_ref() {
        Some(t) => t.clients.iter().map(|(&(pid, d), c)| (pid, d, c.clone())).collect(),
        None => Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_print_like_the_kernel() {
        assert_eq!(size(0), "0");
        assert_eq!(size(1000), "1000");
        assert_eq!(size(192 * 1024), "192 KiB");
        assert_eq!(size(16 << 20), "16 MiB");
        assert_eq!(size(8 << 30), "8192 MiB");
        assert_eq!(size((1 << 20) + 1024), "1025 KiB");
    }

    #[test]
    fn comm_is_the_program_name_cut_at_15_bytes() {
        assert_eq!(comm_of("python3 train.py --rank 0"), "python3");
        assert_eq!(comm_of("/usr/bin/gnome-shell"), "gnome-shell");
        assert_eq!(comm_of("a-very-long-program-name x"), "a-very-long-pro");
        assert_eq!(comm_of(""), "");
    }
}
