//! The machine file (TOML): devices, processes, workloads, faults and the clock.
//!
//! Every key is checked: unknown keys and wrong values are errors that name the field
//! (`devices[1].power.tdp_watts: expected a number > 0`). See the crate's README for the format.

use crate::faults::{DeviceLost, FaultConfig, FaultRule, MAX_RULES};
use crate::handles::MAX_DEVICES;
use crate::params::{clock_count, preset, DeviceParams, PRESETS};
use std::collections::HashSet;
use toml::{Table, Value};
use zes_sys::{zes_engine_type_flags_t, zes_mem_type_t};

/// Most processes of a machine (file and control API together).
pub const MAX_PROCESSES: usize = 4096;
/// Most firmwares of one device.
pub const MAX_FIRMWARES: usize = 64;
/// Most memory of one device (GiB): 1 PiB.
pub const MAX_MEMORY_GIB: f64 = (1u64 << 20) as f64;
/// Most memory of one process (MiB): 1 PiB, so that the sum over every process of a machine
/// stays far inside 64 bits.
pub const MAX_PROCESS_MEMORY_MIB: f64 = (1u64 << 30) as f64;
/// Most available clocks of one frequency domain: the count is a `uint32_t` in the C API.
pub const MAX_CLOCKS: u64 = u32::MAX as u64;

#[derive(Clone, Debug, PartialEq)]
pub struct ProcessSpec {
    pub pid: u32,
    pub command: String,
    pub device: usize,
    pub mem_bytes: u64,
    pub shared_bytes: u64,
    pub engines: zes_engine_type_flags_t,
}

/// A value over time (seconds since the simulation started).
#[derive(Clone, Debug, PartialEq)]
pub enum Signal {
    Constant(f64),
    Square { low: f64, high: f64, period_s: f64, duty: f64 },
    Ramp { from: f64, to: f64, start_s: f64, duration_s: f64 },
    Sine { mean: f64, amplitude: f64, period_s: f64 },
}

impl Signal {
    pub fn at(&self, t: f64) -> f64 {
        match *self {
            Signal::Constant(v) => v,
            Signal::Square { low, high, period_s, duty } => {
                let phase = (t / period_s).fract();
                if phase < duty {
                    high
                } else {
                    low
                }
            }
            Signal::Ramp { from, to, start_s, duration_s } => {
                let x = ((t - start_s) / duration_s).clamp(0.0, 1.0);
                from + (to - from) * x
            }
            Signal::Sine { mean, amplitude, period_s } => {
                mean + amplitude * (2.0 * std::f64::consts::PI * t / period_s).sin()
            }
        }
    }

    /// Until when (seconds) the signal keeps its value at `t`: `t` itself when it varies there
    /// (or when that cannot be told: a period too small for `t`), infinity when it never
    /// changes again.
    pub fn constant_until(&self, t: f64) -> f64 {
        let until = self.constant_until_unchecked(t);
        if until.is_nan() || until < t {
            t
        } else {
            until
        }
    }

    fn constant_until_unchecked(&self, t: f64) -> f64 {
        match *self {
            Signal::Constant(_) => f64::INFINITY,
            Signal::Square { low, high, .. } if low == high => f64::INFINITY,
            Signal::Square { duty, .. } if duty <= 0.0 || duty >= 1.0 => f64::INFINITY,
            Signal::Square { period_s, duty, .. } => {
                let phase = (t / period_s).fract();
                let next_edge = if phase < duty { duty } else { 1.0 };
                t + (next_edge - phase) * period_s
            }
            Signal::Ramp { from, to, .. } if from == to => f64::INFINITY,
            Signal::Ramp { start_s, .. } if t < start_s => start_s,
            Signal::Ramp { start_s, duration_s, .. } if t >= start_s + duration_s => f64::INFINITY,
            Signal::Ramp { .. } => t,
            Signal::Sine { amplitude: 0.0, .. } => f64::INFINITY,
            Signal::Sine { .. } => t,
        }
    }
}

/// What one device is doing: utilization per engine class (0..1) and traffic (bytes/s).
#[derive(Clone, Debug, PartialEq)]
pub struct Workload {
    pub compute: Signal,
    pub render: Signal,
    pub copy: Signal,
    pub media: Signal,
    pub mem_read_bps: Signal,
    pub mem_write_bps: Signal,
    pub pci_rx_bps: Signal,
    pub pci_tx_bps: Signal,
}

impl Workload {
    /// Until when (seconds) every signal keeps its value at `t` (see [`Signal::constant_until`]).
    pub fn constant_until(&self, t: f64) -> f64 {
        [
            &self.compute,
            &self.render,
            &self.copy,
            &self.media,
            &self.mem_read_bps,
            &self.mem_write_bps,
            &self.pci_rx_bps,
            &self.pci_tx_bps,
        ]
        .iter()
        .map(|s| s.constant_until(t))
        .fold(f64::INFINITY, f64::min)
    }

    pub fn idle() -> Self {
        Self {
            compute: Signal::Constant(0.0),
            render: Signal::Constant(0.0),
            copy: Signal::Constant(0.0),
            media: Signal::Constant(0.0),
            mem_read_bps: Signal::Constant(0.0),
            mem_write_bps: Signal::Constant(0.0),
            pci_rx_bps: Signal::Constant(0.0),
            pci_tx_bps: Signal::Constant(0.0),
        }
    }
    /// The workload of the default machine: a light, steady compute load.
    pub fn light() -> Self {
        Self {
            compute: Signal::Constant(0.3),
            copy: Signal::Constant(0.05),
            mem_read_bps: Signal::Constant(40e9),
            mem_write_bps: Signal::Constant(15e9),
            pci_rx_bps: Signal::Constant(1.5e9),
            pci_tx_bps: Signal::Constant(0.5e9),
            ..Self::idle()
        }
    }
}

#[derive(Clone, Debug, Default, PartialEq)]
pub struct MachineConfig {
    pub devices: Vec<DeviceParams>,
    pub processes: Vec<ProcessSpec>,
    /// One workload per device (same index as `devices`).
    pub workloads: Vec<Workload>,
    pub faults: FaultConfig,
    pub clock_frozen: bool,
}

impl MachineConfig {
    /// The machine used when nothing is configured: 2 x max1550 and 1 x a770.
    pub fn default_machine() -> Self {
        Self::from_presets(&["max1550", "max1550", "a770"]).expect("built-in presets")
    }

    pub fn from_presets(names: &[&str]) -> Result<Self, String> {
        if names.len() > MAX_DEVICES {
            return Err(format!("at most {MAX_DEVICES} devices (got {})", names.len()));
        }
        let mut devices = Vec::new();
        for (i, name) in names.iter().enumerate() {
            let mut p = preset(name.trim()).ok_or_else(|| {
                format!("preset {:?}: unknown (known: {})", name.trim(), PRESETS.join(", "))
            })?;
            distinguish(&mut p, i);
            devices.push(p);
        }
        assign_pci_addresses(&mut devices, &vec![false; names.len()], |_| String::new())?;
        let processes = default_processes(&devices);
        let workloads = devices.iter().map(|_| Workload::light()).collect();
        Ok(Self { devices, processes, workloads, ..Self::default() })
    }

    pub fn parse(text: &str) -> Result<Self, String> {
        let root: Table = text.parse::<Table>().map_err(|e| format!("TOML syntax: {e}"))?;
        check_keys(&root, "", &["devices", "processes", "workloads", "faults", "clock"])?;
        let mut cfg = MachineConfig::default();
        match root.get("devices") {
            None => cfg.devices = MachineConfig::default_machine().devices,
            Some(v) => {
                let arr = v.as_array().ok_or("devices: expected an array of tables")?;
                if arr.len() > MAX_DEVICES {
                    return Err(format!("devices: at most {MAX_DEVICES} devices (got {})", arr.len()));
                }
                let mut explicit = Vec::new();
                for (i, d) in arr.iter().enumerate() {
                    let path = format!("devices[{i}]");
                    let t = d.as_table().ok_or_else(|| format!("{path}: expected a table"))?;
                    cfg.devices.push(parse_device(t, &path, i)?);
                    let pci = t.get("pci").and_then(Value::as_table);
                    explicit.push(pci.is_some_and(|m| {
                        ["domain", "bus", "device", "function"].iter().any(|k| m.contains_key(*k))
                    }));
                }
                assign_pci_addresses(&mut cfg.devices, &explicit, |i| format!("devices[{i}].pci: "))?;
            }
        }
        let n = cfg.devices.len();
        match root.get("processes") {
            None => {}
            Some(v) => {
                let arr = v.as_array().ok_or("processes: expected an array of tables")?;
                if arr.len() > MAX_PROCESSES {
                    return Err(format!("processes: at most {MAX_PROCESSES} processes (got {})", arr.len()));
                }
                for (i, p) in arr.iter().enumerate() {
                    let path = format!("processes[{i}]");
                    let t = p.as_table().ok_or_else(|| format!("{path}: expected a table"))?;
                    cfg.processes.push(parse_process(t, &path, n)?);
                }
            }
        }
        cfg.workloads = vec![Workload::idle(); n];
        if let Some(v) = root.get("workloads") {
            let arr = v.as_array().ok_or("workloads: expected an array of tables")?;
            for (i, w) in arr.iter().enumerate() {
                let path = format!("workloads[{i}]");
                let t = w.as_table().ok_or_else(|| format!("{path}: expected a table"))?;
                let (device, workload) = parse_workload(t, &path, n)?;
                for d in device {
                    cfg.workloads[d] = workload.clone();
                }
            }
        }
        if let Some(v) = root.get("faults") {
            let t = v.as_table().ok_or("faults: expected a table")?;
            cfg.faults = parse_faults(t, "faults", n)?;
        }
        if let Some(v) = root.get("clock") {
            let t = v.as_table().ok_or("clock: expected a table")?;
            check_keys(t, "clock", &["mode"])?;
            if let Some(m) = opt_str(t, "clock", "mode")? {
                cfg.clock_frozen = match m.as_str() {
                    "frozen" => true,
                    "real" => false,
                    _ => return Err("clock.mode: expected \"real\" or \"frozen\"".into()),
                };
            }
        }
        Ok(cfg)
    }
}

/// Give devices of the same preset distinct serials (PCI addresses: [`assign_pci_addresses`]).
fn distinguish(p: &mut DeviceParams, index: usize) {
    if p.serial != "unknown" {
        p.serial = format!("{}{index}", p.serial);
    }
}

/// Gives every device a valid PCI address (bus <= 0xFF, device <= 0x1F, function <= 7) that no
/// other device has. Addresses given in the machine file (`explicit`) are kept and must be
/// unique; the others get their preset's bus + 0x10 x index when that bus exists and the address
/// is free, else the first free address (bus 1 up, device 0 up, then the next domain).
fn assign_pci_addresses(
    devices: &mut [DeviceParams],
    explicit: &[bool],
    path: impl Fn(usize) -> String,
) -> Result<(), String> {
    let address = |p: &DeviceParams| (p.pci_domain, p.pci_bus, p.pci_device, p.pci_function);
    let mut taken: HashSet<(u32, u32, u32, u32)> = HashSet::new();
    for (i, p) in devices.iter().enumerate().filter(|(i, _)| explicit[*i]) {
        if !taken.insert(address(p)) {
            let (d, b, dev, f) = address(p);
            return Err(format!(
                "{}address {d:04x}:{b:02x}:{dev:02x}.{f:x} is already another device's",
                path(i)
            ));
        }
    }
    for (i, p) in devices.iter_mut().enumerate().filter(|(i, _)| !explicit[*i]) {
        if !p.integrated {
            p.pci_bus += 0x10 * i as u32;
        }
        if p.pci_bus > 0xFF || taken.contains(&address(p)) {
            let function = p.pci_function;
            let free = (p.pci_domain..=0xFFFF)
                .flat_map(|domain| {
                    (1..=0xFF).flat_map(move |bus| (0..=0x1F).map(move |dev| (domain, bus, dev)))
                })
                .find(|&(domain, bus, dev)| !taken.contains(&(domain, bus, dev, function)))
                .ok_or_else(|| format!("{}no free PCI address left", path(i)))?;
            (p.pci_domain, p.pci_bus, p.pci_device) = free;
        }
        taken.insert(address(p));
    }
    Ok(())
}

fn default_processes(devices: &[DeviceParams]) -> Vec<ProcessSpec> {
    let mut out = Vec::new();
    for (i, d) in devices.iter().enumerate() {
        out.push(ProcessSpec {
            pid: 4200 + i as u32,
            command: if d.integrated { "gnome-shell".into() } else { format!("python3 train.py --rank {i}") },
            device: i,
            mem_bytes: (d.mem_size_bytes / 16).min(8 << 30),
            shared_bytes: 0,
            engines: zes_engine_type_flags_t::COMPUTE | zes_engine_type_flags_t::DMA,
        });
    }
    out
}

// ---- checked readers ----

fn join(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_string()
    } else {
        format!("{path}.{key}")
    }
}

fn check_keys(t: &Table, path: &str, allowed: &[&str]) -> Result<(), String> {
    for k in t.keys() {
        if !allowed.contains(&k.as_str()) {
            return Err(format!("{}: unknown key (allowed here: {})", join(path, k), allowed.join(", ")));
        }
    }
    Ok(())
}

fn num(v: &Value) -> Option<f64> {
    match v {
        Value::Integer(i) => Some(*i as f64),
        Value::Float(f) => Some(*f),
        _ => None,
    }
}

fn opt_num(
    t: &Table,
    path: &str,
    key: &str,
    what: &str,
    ok: impl Fn(f64) -> bool,
) -> Result<Option<f64>, String> {
    match t.get(key) {
        None => Ok(None),
        Some(v) => match num(v) {
            Some(x) if x.is_finite() && ok(x) => Ok(Some(x)),
            _ => Err(format!("{}: expected {what}", join(path, key))),
        },
    }
}

fn opt_int(t: &Table, path: &str, key: &str, min: i64, max: i64) -> Result<Option<i64>, String> {
    match t.get(key) {
        None => Ok(None),
        Some(Value::Integer(i)) if *i >= min && *i <= max => Ok(Some(*i)),
        Some(_) => Err(format!("{}: expected an integer from {min} to {max}", join(path, key))),
    }
}

fn opt_bool(t: &Table, path: &str, key: &str) -> Result<Option<bool>, String> {
    match t.get(key) {
        None => Ok(None),
        Some(Value::Boolean(b)) => Ok(Some(*b)),
        Some(_) => Err(format!("{}: expected true or false", join(path, key))),
    }
}

fn opt_str(t: &Table, path: &str, key: &str) -> Result<Option<String>, String> {
    match t.get(key) {
        None => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(_) => Err(format!("{}: expected a string", join(path, key))),
    }
}

fn opt_table<'a>(t: &'a Table, path: &str, key: &str, allowed: &[&str]) -> Result<Option<&'a Table>, String> {
    match t.get(key) {
        None => Ok(None),
        Some(Value::Table(s)) => {
            check_keys(s, &join(path, key), allowed)?;
            Ok(Some(s))
        }
        Some(_) => Err(format!("{}: expected a table", join(path, key))),
    }
}

fn set<T>(slot: &mut T, v: Option<T>) {
    if let Some(v) = v {
        *slot = v;
    }
}

fn mem_type(name: &str) -> Option<zes_mem_type_t> {
    let upper = format!("ZES_MEM_TYPE_{}", name.to_ascii_uppercase());
    zes_mem_type_t::KNOWN.iter().find(|k| k.0 == upper).map(|k| zes_mem_type_t(k.1))
}

fn parse_device(t: &Table, path: &str, index: usize) -> Result<DeviceParams, String> {
    check_keys(
        t,
        path,
        &[
            "preset",
            "name",
            "brand",
            "model",
            "vendor",
            "serial",
            "board",
            "pci_device_id",
            "integrated",
            "tiles",
            "eu_count",
            "core_clock_mhz",
            "memory",
            "power",
            "frequency",
            "temperature",
            "fans",
            "ecc",
            "ras",
            "pci",
            "firmware",
            "standby",
            "scheduler",
            "performance_factor",
            "events",
            "render_engine",
        ],
    )?;
    let mut p = match opt_str(t, path, "preset")? {
        Some(name) => {
            let mut p = preset(&name).ok_or_else(|| {
                format!("{path}.preset: unknown preset {name:?} (known: {})", PRESETS.join(", "))
            })?;
            distinguish(&mut p, index);
            p
        }
        None => {
            for required in ["name", "tiles"] {
                if !t.contains_key(required) {
                    return Err(format!("{path}.{required}: required when no preset is given"));
                }
            }
            let mut p = preset("a770").expect("built-in preset");
            p.preset = "custom".into();
            distinguish(&mut p, index);
            p
        }
    };
    if let Some(name) = opt_str(t, path, "name")? {
        p.model = name.clone();
        p.name = name;
    }
    set(&mut p.brand, opt_str(t, path, "brand")?);
    set(&mut p.model, opt_str(t, path, "model")?);
    set(&mut p.vendor, opt_str(t, path, "vendor")?);
    set(&mut p.serial, opt_str(t, path, "serial")?);
    set(&mut p.board, opt_str(t, path, "board")?);
    set(&mut p.pci_device_id, opt_int(t, path, "pci_device_id", 0, 0xffff)?.map(|v| v as u32));
    set(&mut p.integrated, opt_bool(t, path, "integrated")?);
    set(&mut p.tiles, opt_int(t, path, "tiles", 1, 8)?.map(|v| v as u32));
    set(&mut p.eu_count, opt_int(t, path, "eu_count", 1, 1 << 20)?.map(|v| v as u32));
    set(&mut p.core_clock_mhz, opt_int(t, path, "core_clock_mhz", 1, 100_000)?.map(|v| v as u32));
    for key in ["standby", "scheduler", "performance_factor", "events", "render_engine"] {
        if let Some(b) = opt_bool(t, path, key)? {
            match key {
                "standby" => p.standby = b,
                "scheduler" => p.scheduler = b,
                "performance_factor" => p.performance_factor = b,
                "events" => p.events = b,
                _ => p.render_engine = b,
            }
        }
    }
    let pos = |x: f64| x > 0.0;
    let nonneg = |x: f64| x >= 0.0;
    if let Some(m) = opt_table(
        t,
        path,
        "memory",
        &[
            "type",
            "system",
            "size_gib",
            "bus_width",
            "channels",
            "bandwidth_gbps",
            "reserved_mib",
            "freq_mhz",
        ],
    )? {
        let mp = join(path, "memory");
        if let Some(name) = opt_str(m, &mp, "type")? {
            p.mem_type = mem_type(&name).ok_or_else(|| {
                format!("{mp}.type: unknown memory type {name:?} (e.g. hbm2e, gddr6, ddr5)")
            })?;
        }
        set(&mut p.mem_system, opt_bool(m, &mp, "system")?);
        set(
            &mut p.mem_size_bytes,
            opt_num(m, &mp, "size_gib", &format!("a number > 0 and at most {MAX_MEMORY_GIB}"), |x| {
                x > 0.0 && x <= MAX_MEMORY_GIB
            })?
            .map(|g| (g * (1u64 << 30) as f64) as u64),
        );
        set(&mut p.mem_bus_width, opt_int(m, &mp, "bus_width", 1, 1 << 20)?.map(|v| v as i32));
        set(&mut p.mem_channels, opt_int(m, &mp, "channels", 1, 1024)?.map(|v| v as i32));
        set(
            &mut p.mem_bandwidth_bps,
            opt_num(m, &mp, "bandwidth_gbps", "a number > 0", pos)?.map(|g| (g * 1e9) as u64),
        );
        set(
            &mut p.mem_reserved_bytes,
            opt_num(m, &mp, "reserved_mib", "a number >= 0", nonneg)?
                .map(|g| (g * (1u64 << 20) as f64) as u64),
        );
        set(&mut p.mem_freq_mhz, opt_num(m, &mp, "freq_mhz", "a number > 0", pos)?);
        if p.mem_reserved_bytes >= p.mem_size_bytes {
            return Err(format!("{mp}.reserved_mib: expected less than the memory size"));
        }
    }
    if let Some(m) = opt_table(
        t,
        path,
        "power",
        &["tdp_watts", "idle_watts", "min_limit_watts", "max_limit_watts", "card_domain", "tile_domains"],
    )? {
        let mp = join(path, "power");
        set(&mut p.tdp_w, opt_num(m, &mp, "tdp_watts", "a number > 0", pos)?);
        set(&mut p.idle_w, opt_num(m, &mp, "idle_watts", "a number >= 0", nonneg)?);
        set(&mut p.power_min_w, opt_num(m, &mp, "min_limit_watts", "a number > 0", pos)?);
        set(&mut p.power_max_w, opt_num(m, &mp, "max_limit_watts", "a number > 0", pos)?);
        set(&mut p.card_power_domain, opt_bool(m, &mp, "card_domain")?);
        set(&mut p.tile_power_domains, opt_bool(m, &mp, "tile_domains")?);
        if m.contains_key("tdp_watts") && !m.contains_key("max_limit_watts") {
            p.power_max_w = p.power_max_w.max(p.tdp_w);
        }
        if p.idle_w >= p.tdp_w {
            return Err(format!("{mp}.idle_watts: expected less than tdp_watts ({})", p.tdp_w));
        }
        if p.power_min_w > p.power_max_w {
            return Err(format!(
                "{mp}.min_limit_watts: expected at most max_limit_watts ({})",
                p.power_max_w
            ));
        }
    } else if p.idle_w >= p.tdp_w {
        return Err(format!("{path}.power.idle_watts: expected less than tdp_watts ({})", p.tdp_w));
    }
    if let Some(m) = opt_table(
        t,
        path,
        "frequency",
        &["min_mhz", "max_mhz", "efficient_mhz", "step_mhz", "media", "media_max_mhz"],
    )? {
        let mp = join(path, "frequency");
        set(&mut p.gpu_min_mhz, opt_num(m, &mp, "min_mhz", "a number > 0", pos)?);
        set(&mut p.gpu_max_mhz, opt_num(m, &mp, "max_mhz", "a number > 0", pos)?);
        set(&mut p.gpu_efficient_mhz, opt_num(m, &mp, "efficient_mhz", "a number > 0", pos)?);
        set(&mut p.gpu_step_mhz, opt_num(m, &mp, "step_mhz", "a number > 0", pos)?);
        set(&mut p.media_freq, opt_bool(m, &mp, "media")?);
        set(&mut p.media_max_mhz, opt_num(m, &mp, "media_max_mhz", "a number > 0", pos)?);
        if p.gpu_min_mhz >= p.gpu_max_mhz {
            return Err(format!("{mp}.min_mhz: expected less than max_mhz ({})", p.gpu_max_mhz));
        }
        p.gpu_efficient_mhz = p.gpu_efficient_mhz.clamp(p.gpu_min_mhz, p.gpu_max_mhz);
    }
    if let Some(m) = opt_table(
        t,
        path,
        "temperature",
        &["ambient_c", "max_c", "throttle_c", "c_per_watt", "memory_sensor", "gpu_sensor"],
    )? {
        let mp = join(path, "temperature");
        set(
            &mut p.ambient_c,
            opt_num(m, &mp, "ambient_c", "a number from -40 to 80", |x| (-40.0..=80.0).contains(&x))?,
        );
        set(&mut p.max_temp_c, opt_num(m, &mp, "max_c", "a number > 0", pos)?);
        set(&mut p.throttle_temp_c, opt_num(m, &mp, "throttle_c", "a number > 0", pos)?);
        set(&mut p.c_per_w, opt_num(m, &mp, "c_per_watt", "a number >= 0", nonneg)?);
        set(&mut p.memory_temp_sensor, opt_bool(m, &mp, "memory_sensor")?);
        set(&mut p.gpu_temp_sensor, opt_bool(m, &mp, "gpu_sensor")?);
        if p.throttle_temp_c > p.max_temp_c {
            return Err(format!("{mp}.throttle_c: expected at most max_c ({})", p.max_temp_c));
        }
    }
    if let Some(m) = opt_table(t, path, "fans", &["count", "max_rpm"])? {
        let mp = join(path, "fans");
        set(&mut p.fans, opt_int(m, &mp, "count", 0, 16)?.map(|v| v as u32));
        set(&mut p.fan_max_rpm, opt_int(m, &mp, "max_rpm", 1, 100_000)?.map(|v| v as i32));
        if p.fans > 0 && p.fan_max_rpm <= 0 {
            p.fan_max_rpm = 3000;
        }
    }
    if let Some(m) = opt_table(t, path, "ecc", &["supported", "configurable", "enabled"])? {
        let mp = join(path, "ecc");
        set(&mut p.ecc_supported, opt_bool(m, &mp, "supported")?);
        set(&mut p.ecc_configurable, opt_bool(m, &mp, "configurable")?);
        set(&mut p.ecc_enabled, opt_bool(m, &mp, "enabled")?);
        if !p.ecc_supported && (p.ecc_enabled || p.ecc_configurable) {
            return Err(format!("{mp}.supported: ECC must be supported to be enabled or configurable"));
        }
    }
    if let Some(m) = opt_table(t, path, "ras", &["supported", "correctable_at_start"])? {
        let mp = join(path, "ras");
        set(&mut p.ras, opt_bool(m, &mp, "supported")?);
        set(
            &mut p.ras_correctable_start,
            opt_int(m, &mp, "correctable_at_start", 0, i64::MAX)?.map(|v| v as u64),
        );
    }
    if let Some(m) =
        opt_table(t, path, "pci", &["domain", "bus", "device", "function", "gen", "width", "counters"])?
    {
        let mp = join(path, "pci");
        set(&mut p.pci_domain, opt_int(m, &mp, "domain", 0, 0xffff)?.map(|v| v as u32));
        set(&mut p.pci_bus, opt_int(m, &mp, "bus", 0, 0xff)?.map(|v| v as u32));
        set(&mut p.pci_device, opt_int(m, &mp, "device", 0, 0x1f)?.map(|v| v as u32));
        set(&mut p.pci_function, opt_int(m, &mp, "function", 0, 7)?.map(|v| v as u32));
        set(&mut p.pci_gen, opt_int(m, &mp, "gen", 1, 6)?.map(|v| v as i32));
        if let Some(w) = opt_int(m, &mp, "width", 1, 32)? {
            if ![1, 2, 4, 8, 16, 32].contains(&w) {
                return Err(format!("{mp}.width: expected one of 1, 2, 4, 8, 16, 32"));
            }
            p.pci_width = w as i32;
        }
        set(&mut p.pci_counters, opt_bool(m, &mp, "counters")?);
    }
    if let Some(v) = t.get("firmware") {
        let fp = join(path, "firmware");
        let arr = v.as_array().ok_or_else(|| format!("{fp}: expected an array of tables"))?;
        if arr.len() > MAX_FIRMWARES {
            return Err(format!("{fp}: at most {MAX_FIRMWARES} firmwares (got {})", arr.len()));
        }
        p.firmware.clear();
        for (i, f) in arr.iter().enumerate() {
            let ep = format!("{fp}[{i}]");
            let ft = f.as_table().ok_or_else(|| format!("{ep}: expected a table"))?;
            check_keys(ft, &ep, &["name", "version"])?;
            let name = opt_str(ft, &ep, "name")?.ok_or_else(|| format!("{ep}.name: required"))?;
            let version = opt_str(ft, &ep, "version")?.ok_or_else(|| format!("{ep}.version: required"))?;
            p.firmware.push((name, version));
        }
    }
    check_clock_counts(&p, &join(path, "frequency"))?;
    Ok(p)
}

/// The available clocks are generated one by one when asked for, never stored; their count
/// must still fit the C API's `uint32_t`.
fn check_clock_counts(p: &DeviceParams, path: &str) -> Result<(), String> {
    let mut domains = vec![("GPU", p.gpu_min_mhz, p.gpu_max_mhz)];
    if p.media_freq {
        domains.push(("media", p.gpu_min_mhz.min(p.media_max_mhz), p.media_max_mhz));
    }
    for (name, min, max) in domains {
        let n = clock_count(min, max, p.gpu_step_mhz);
        if n > MAX_CLOCKS {
            return Err(format!(
                "{path}.step_mhz: the {name} domain would have {n} available clocks from {min} to {max} MHz; \
                 at most {MAX_CLOCKS}"
            ));
        }
    }
    Ok(())
}

fn engine_flag(name: &str) -> Option<zes_engine_type_flags_t> {
    Some(match name {
        "other" => zes_engine_type_flags_t::OTHER,
        "compute" => zes_engine_type_flags_t::COMPUTE,
        "3d" => zes_engine_type_flags_t::V3D,
        "media" => zes_engine_type_flags_t::MEDIA,
        "dma" | "copy" => zes_engine_type_flags_t::DMA,
        "render" => zes_engine_type_flags_t::RENDER,
        _ => return None,
    })
}

fn parse_process(t: &Table, path: &str, devices: usize) -> Result<ProcessSpec, String> {
    check_keys(t, path, &["pid", "command", "device", "memory_mib", "shared_mib", "engines"])?;
    let pid =
        opt_int(t, path, "pid", 1, u32::MAX as i64)?.ok_or_else(|| format!("{path}.pid: required"))? as u32;
    let device = opt_int(t, path, "device", 0, devices as i64 - 1)?.unwrap_or(0) as usize;
    if devices == 0 {
        return Err(format!("{path}.device: there are no devices"));
    }
    let mib = |v: f64| (v * (1u64 << 20) as f64) as u64;
    let what = format!("a number from 0 to {MAX_PROCESS_MEMORY_MIB}");
    let in_range = |x: f64| (0.0..=MAX_PROCESS_MEMORY_MIB).contains(&x);
    let mem = opt_num(t, path, "memory_mib", &what, in_range)?.map(mib).unwrap_or(0);
    let shared = opt_num(t, path, "shared_mib", &what, in_range)?.map(mib).unwrap_or(0);
    let mut engines = zes_engine_type_flags_t::EMPTY;
    if let Some(v) = t.get("engines") {
        let ep = join(path, "engines");
        let arr = v.as_array().ok_or_else(|| format!("{ep}: expected an array of strings"))?;
        for (i, e) in arr.iter().enumerate() {
            let name = e.as_str().ok_or_else(|| format!("{ep}[{i}]: expected a string"))?;
            engines |= engine_flag(name).ok_or_else(|| {
                format!("{ep}[{i}]: unknown engine {name:?} (compute, render, copy, media, 3d, other)")
            })?;
        }
    } else {
        engines = zes_engine_type_flags_t::COMPUTE;
    }
    Ok(ProcessSpec {
        pid,
        command: opt_str(t, path, "command")?.unwrap_or_default(),
        device,
        mem_bytes: mem,
        shared_bytes: shared,
        engines,
    })
}

fn parse_signal(v: &Value, path: &str, scale: f64, max: f64) -> Result<Signal, String> {
    let check = |x: f64, p: String| -> Result<f64, String> {
        if x.is_finite() && x >= 0.0 && x * scale <= max {
            Ok(x * scale)
        } else {
            Err(format!("{p}: expected a number from 0 to {}", max / scale))
        }
    };
    if let Some(x) = num(v) {
        return Ok(Signal::Constant(check(x, path.to_string())?));
    }
    let t = v.as_table().ok_or_else(|| format!("{path}: expected a number or a table with `kind`"))?;
    let kind = opt_str(t, path, "kind")?
        .ok_or_else(|| format!("{path}.kind: required (constant, square, ramp, sine)"))?;
    let get = |key: &str, default: Option<f64>| -> Result<f64, String> {
        match t.get(key) {
            None => default.ok_or_else(|| format!("{path}.{key}: required for kind {kind:?}")),
            Some(v) => num(v).ok_or_else(|| format!("{path}.{key}: expected a number")),
        }
    };
    let positive = |key: &str, default: Option<f64>| -> Result<f64, String> {
        let x = get(key, default)?;
        if x > 0.0 && x.is_finite() {
            Ok(x)
        } else {
            Err(format!("{path}.{key}: expected a number > 0"))
        }
    };
    Ok(match kind.as_str() {
        "constant" => {
            check_keys(t, path, &["kind", "value"])?;
            Signal::Constant(check(get("value", None)?, format!("{path}.value"))?)
        }
        "square" => {
            check_keys(t, path, &["kind", "low", "high", "period_s", "duty"])?;
            let duty = get("duty", Some(0.5))?;
            if !(0.0..=1.0).contains(&duty) {
                return Err(format!("{path}.duty: expected a number from 0 to 1"));
            }
            Signal::Square {
                low: check(get("low", Some(0.0))?, format!("{path}.low"))?,
                high: check(get("high", None)?, format!("{path}.high"))?,
                period_s: positive("period_s", None)?,
                duty,
            }
        }
        "ramp" => {
            check_keys(t, path, &["kind", "from", "to", "start_s", "duration_s"])?;
            Signal::Ramp {
                from: check(get("from", Some(0.0))?, format!("{path}.from"))?,
                to: check(get("to", None)?, format!("{path}.to"))?,
                start_s: get("start_s", Some(0.0))?,
                duration_s: positive("duration_s", None)?,
            }
        }
        "sine" => {
            check_keys(t, path, &["kind", "mean", "amplitude", "period_s"])?;
            let mean = check(get("mean", None)?, format!("{path}.mean"))?;
            let amplitude = get("amplitude", None)?.abs() * scale;
            if mean - amplitude < -1e-9 || mean + amplitude > max + 1e-9 {
                return Err(format!(
                    "{path}.amplitude: mean +/- amplitude must stay within 0 and {}",
                    max / scale
                ));
            }
            Signal::Sine { mean, amplitude, period_s: positive("period_s", None)? }
        }
        other => return Err(format!("{path}.kind: unknown kind {other:?} (constant, square, ramp, sine)")),
    })
}

fn parse_workload(t: &Table, path: &str, devices: usize) -> Result<(Vec<usize>, Workload), String> {
    check_keys(
        t,
        path,
        &[
            "device",
            "compute",
            "render",
            "copy",
            "media",
            "memory_read_gbps",
            "memory_write_gbps",
            "pci_rx_gbps",
            "pci_tx_gbps",
        ],
    )?;
    let targets = match t.get("device") {
        None => (0..devices).collect(),
        Some(Value::String(s)) if s == "all" => (0..devices).collect(),
        Some(Value::Integer(i)) if *i >= 0 && (*i as usize) < devices => vec![*i as usize],
        Some(_) => {
            return Err(format!(
                "{path}.device: expected a device index from 0 to {} or \"all\"",
                devices as i64 - 1
            ))
        }
    };
    let mut w = Workload::idle();
    for (key, slot, scale, max) in [
        ("compute", &mut w.compute, 1.0, 1.0),
        ("render", &mut w.render, 1.0, 1.0),
        ("copy", &mut w.copy, 1.0, 1.0),
        ("media", &mut w.media, 1.0, 1.0),
        ("memory_read_gbps", &mut w.mem_read_bps, 1e9, 1e15),
        ("memory_write_gbps", &mut w.mem_write_bps, 1e9, 1e15),
        ("pci_rx_gbps", &mut w.pci_rx_bps, 1e9, 1e15),
        ("pci_tx_gbps", &mut w.pci_tx_bps, 1e9, 1e15),
    ] {
        if let Some(v) = t.get(key) {
            *slot = parse_signal(v, &join(path, key), scale, max)?;
        }
    }
    Ok((targets, w))
}

fn parse_faults(t: &Table, path: &str, devices: usize) -> Result<FaultConfig, String> {
    check_keys(
        t,
        path,
        &[
            "unprivileged",
            "latency_us",
            "rules",
            "device_lost",
            "process_churn",
            "energy_wrap_uj",
            "repeat_timestamps",
            "device_latency",
        ],
    )?;
    let mut f = FaultConfig::default();
    set(&mut f.unprivileged, opt_bool(t, path, "unprivileged")?);
    let max_latency = crate::edge::MAX_LATENCY_US as i64;
    set(&mut f.latency_us, opt_int(t, path, "latency_us", 0, max_latency)?.map(|v| v as u64));
    set(&mut f.process_churn, opt_bool(t, path, "process_churn")?);
    set(&mut f.repeat_timestamps, opt_bool(t, path, "repeat_timestamps")?);
    f.energy_wrap_uj = opt_int(t, path, "energy_wrap_uj", 1, i64::MAX)?.map(|v| v as u64);
    if let Some(v) = t.get("rules") {
        let rp = join(path, "rules");
        let arr = v.as_array().ok_or_else(|| format!("{rp}: expected an array of strings"))?;
        if arr.len() > MAX_RULES {
            return Err(format!("{rp}: at most {MAX_RULES} rules (got {})", arr.len()));
        }
        for (i, r) in arr.iter().enumerate() {
            let s = r.as_str().ok_or_else(|| format!("{rp}[{i}]: expected a string"))?;
            f.rules.push(FaultRule::parse(s).map_err(|e| format!("{rp}[{i}]: {e}"))?);
        }
    }
    if let Some(v) = t.get("device_lost") {
        let lp = join(path, "device_lost");
        let arr = v.as_array().ok_or_else(|| format!("{lp}: expected an array of tables"))?;
        if arr.len() > MAX_RULES {
            return Err(format!("{lp}: at most {MAX_RULES} entries (got {})", arr.len()));
        }
        for (i, d) in arr.iter().enumerate() {
            let ep = format!("{lp}[{i}]");
            let dt = d.as_table().ok_or_else(|| format!("{ep}: expected a table"))?;
            check_keys(dt, &ep, &["device", "after_seconds", "after_calls"])?;
            let device = opt_int(dt, &ep, "device", 0, devices as i64 - 1)?
                .ok_or_else(|| format!("{ep}.device: required"))? as usize;
            let after_seconds = opt_num(dt, &ep, "after_seconds", "a number >= 0", |x| x >= 0.0)?;
            let after_calls = opt_int(dt, &ep, "after_calls", 0, i64::MAX)?.map(|v| v as u64);
            if after_seconds.is_none() && after_calls.is_none() {
                return Err(format!("{ep}: give after_seconds or after_calls"));
            }
            f.device_lost.push(DeviceLost { device, after_seconds, after_calls });
        }
    }
    if let Some(v) = t.get("device_latency") {
        let lp = join(path, "device_latency");
        let arr = v.as_array().ok_or_else(|| format!("{lp}: expected an array of tables"))?;
        if arr.len() > MAX_DEVICES {
            return Err(format!("{lp}: at most {MAX_DEVICES} entries (got {})", arr.len()));
        }
        for (i, d) in arr.iter().enumerate() {
            let ep = format!("{lp}[{i}]");
            let dt = d.as_table().ok_or_else(|| format!("{ep}: expected a table"))?;
            check_keys(dt, &ep, &["device", "latency_us"])?;
            let max_device = (devices.min(crate::edge::LATENCY_DEVICES) as i64) - 1;
            let device =
                opt_int(dt, &ep, "device", 0, max_device)?.ok_or_else(|| format!("{ep}.device: required"))?;
            let us = opt_int(dt, &ep, "latency_us", 0, max_latency)?
                .ok_or_else(|| format!("{ep}.latency_us: required"))?;
            f.device_latency_us.push((device as usize, us as u64));
        }
    }
    Ok(f)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_machine() {
        let m = MachineConfig::default_machine();
        assert_eq!(m.devices.len(), 3);
        assert_eq!(m.devices[0].preset, "max1550");
        assert_eq!(m.devices[2].preset, "a770");
        assert_ne!(m.devices[0].pci_bus, m.devices[1].pci_bus);
    }

    #[test]
    fn full_file() {
        let text = r#"
            [clock]
            mode = "frozen"
            [[devices]]
            preset = "a770"
            name = "Lab card"
            [devices.power]
            tdp_watts = 200
            [[devices]]
            preset = "igpu"
            [[processes]]
            pid = 77
            command = "blender"
            device = 1
            memory_mib = 512
            engines = ["render", "copy"]
            [[workloads]]
            device = 0
            compute = { kind = "square", low = 0.0, high = 1.0, period_s = 2.0 }
            memory_read_gbps = 100
            [faults]
            unprivileged = true
            latency_us = 5
            rules = ["zesDeviceGet=ZE_RESULT_ERROR_NOT_AVAILABLE@nth:2"]
            [[faults.device_lost]]
            device = 1
            after_calls = 10
            [[faults.device_latency]]
            device = 1
            latency_us = 250000
        "#;
        let m = MachineConfig::parse(text).unwrap();
        assert_eq!(m.faults.device_latency_us, vec![(1, 250000)]);
        let bad = text.replace("latency_us = 250000", "latency_us = -1");
        assert_eq!(
            MachineConfig::parse(&bad).unwrap_err(),
            "faults.device_latency[0].latency_us: expected an integer from 0 to 10000000"
        );
        assert!(m.clock_frozen);
        assert_eq!(m.devices[0].name, "Lab card");
        assert_eq!(m.devices[0].tdp_w, 200.0);
        assert_eq!(m.processes[0].mem_bytes, 512 << 20);
        assert_eq!(m.workloads[0].compute.at(0.5), 1.0);
        assert_eq!(m.workloads[0].compute.at(1.5), 0.0);
        assert_eq!(m.workloads[1].compute.at(1.0), 0.0);
        assert!(m.faults.unprivileged);
        assert_eq!(m.faults.rules.len(), 1);
        assert_eq!(m.faults.device_lost[0].after_calls, Some(10));
    }

    fn err(text: &str) -> String {
        MachineConfig::parse(text).unwrap_err()
    }

    #[test]
    fn bad_files_name_the_field() {
        let e =
            err("[[devices]]\npreset='a770'\n[[devices]]\npreset='a770'\n[devices.power]\ntdp_watts = -3\n");
        assert_eq!(e, "devices[1].power.tdp_watts: expected a number > 0");
        let e = err("[[devices]]\npreset='a770'\ncolour = 'blue'\n");
        assert!(e.starts_with("devices[0].colour: unknown key"), "{e}");
        let e = err("[[devices]]\npreset='h100'\n");
        assert!(e.starts_with("devices[0].preset: unknown preset"), "{e}");
        let e = err("[[devices]]\nname='x'\n");
        assert_eq!(e, "devices[0].tiles: required when no preset is given");
        let e = err("[[workloads]]\ncompute = 1.5\n");
        assert_eq!(e, "workloads[0].compute: expected a number from 0 to 1");
        let e = err("[[workloads]]\ncompute = { kind = 'zigzag' }\n");
        assert!(e.starts_with("workloads[0].compute.kind: unknown kind"), "{e}");
        let e = err("[[processes]]\npid = 1\ndevice = 9\n");
        assert_eq!(e, "processes[0].device: expected an integer from 0 to 2");
        let e = err("[faults]\nrules = ['zesNope=ZE_RESULT_ERROR_UNKNOWN@every']\n");
        assert!(e.starts_with("faults.rules[0]:"), "{e}");
        let e = err("bogus = 1\n");
        assert!(e.starts_with("bogus: unknown key"), "{e}");
        let e = err("[[devices]]\npreset='a770'\n[devices.frequency]\nmin_mhz = 3000\n");
        assert!(e.starts_with("devices[0].frequency.min_mhz: expected less than max_mhz"), "{e}");
        let e = err("[[devices]\n");
        assert!(e.starts_with("TOML syntax"), "{e}");
    }

    #[test]
    fn presets_are_capped_and_get_valid_unique_pci_addresses() {
        let names = vec!["a770"; 257];
        assert_eq!(MachineConfig::from_presets(&names).unwrap_err(), "at most 256 devices (got 257)");
        let mixed: Vec<&str> = (0..256).map(|i| ["a770", "igpu", "max1550"][i % 3]).collect();
        let m = MachineConfig::from_presets(&mixed).unwrap();
        let addresses: HashSet<_> =
            m.devices.iter().map(|p| (p.pci_domain, p.pci_bus, p.pci_device, p.pci_function)).collect();
        assert_eq!(addresses.len(), 256);
        assert!(m.devices.iter().all(|p| p.pci_bus <= 0xFF && p.pci_device <= 0x1F && p.pci_function <= 7));
    }

    #[test]
    fn signals_say_how_long_they_stay_constant() {
        assert_eq!(Signal::Constant(0.5).constant_until(3.0), f64::INFINITY);
        let square = Signal::Square { low: 0.0, high: 1.0, period_s: 10.0, duty: 0.25 };
        assert_eq!(square.constant_until(1.0), 2.5);
        assert_eq!(square.constant_until(12.5), 20.0);
        let tiny = Signal::Square { low: 0.0, high: 1.0, period_s: 1e-300, duty: 0.5 };
        assert_eq!(tiny.constant_until(1.0), 1.0, "phase NaN: not known to be constant");
        let flat = Signal::Square { low: 0.3, high: 0.3, period_s: 10.0, duty: 0.25 };
        assert_eq!(flat.constant_until(1.0), f64::INFINITY);
        let ramp = Signal::Ramp { from: 0.0, to: 1.0, start_s: 5.0, duration_s: 10.0 };
        assert_eq!(ramp.constant_until(1.0), 5.0);
        assert_eq!(ramp.constant_until(6.0), 6.0);
        assert_eq!(ramp.constant_until(15.0), f64::INFINITY);
        let sine = Signal::Sine { mean: 0.5, amplitude: 0.1, period_s: 4.0 };
        assert_eq!(sine.constant_until(1.0), 1.0);
        let w = Workload { copy: ramp, ..Workload::light() };
        assert_eq!(w.constant_until(1.0), 5.0);
        assert_eq!(Workload::light().constant_until(1.0), f64::INFINITY);
    }

    #[test]
    fn signals() {
        let r = Signal::Ramp { from: 0.0, to: 1.0, start_s: 1.0, duration_s: 2.0 };
        assert_eq!(r.at(0.0), 0.0);
        assert_eq!(r.at(2.0), 0.5);
        assert_eq!(r.at(9.0), 1.0);
        let s = Signal::Sine { mean: 0.5, amplitude: 0.5, period_s: 4.0 };
        assert!((s.at(1.0) - 1.0).abs() < 1e-9);
    }
}
