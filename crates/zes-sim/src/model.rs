//! The modeled hardware: components of each device and the physics that drives their counters.
//! Safe Rust only; the C edge (driver.rs) reads and changes these values.

use crate::config::{MachineConfig, ProcessSpec, Workload};
use crate::faults::FaultConfig;
use crate::params::{pci_lane_bps, DeviceParams};
use std::time::Instant;
use zes_sys::*;

/// Timestamps are microseconds since the simulated boot, which happened this long before t = 0.
pub const BOOT_OFFSET_US: u64 = 5_000_000;
/// Longest integration step (seconds).
const MAX_STEP_S: f64 = 0.05;
/// The simulated clock ends here (about 317 years): 50 ms steps still move it, and timestamps
/// in microseconds stay inside 64 bits.
pub const MAX_CLOCK_S: f64 = 1e10;
/// Most integration steps one `advance` may take, all devices together. A device whose
/// workload stays constant and whose state has settled takes one step for any stretch of time;
/// a varying workload (square, ramp, sine), or temperatures that keep crossing the throttle
/// point, take one step per 50 ms.
pub const MAX_ADVANCE_STEPS: u64 = 1_000_000;

/// The clock the model runs on: real monotonic time, or frozen and stepped by hand.
#[derive(Debug)]
pub struct Clock {
    frozen: bool,
    base: Instant,
    offset_s: f64,
    frozen_at: f64,
}

impl Clock {
    pub fn new(frozen: bool) -> Self {
        Self { frozen, base: Instant::now(), offset_s: 0.0, frozen_at: 0.0 }
    }
    pub fn now(&self) -> f64 {
        if self.frozen {
            self.frozen_at
        } else {
            self.offset_s + self.base.elapsed().as_secs_f64()
        }
    }
    pub fn is_frozen(&self) -> bool {
        self.frozen
    }
    pub fn set_frozen(&mut self, frozen: bool) {
        if frozen && !self.frozen {
            self.frozen_at = self.now();
        } else if !frozen && self.frozen {
            self.offset_s = self.frozen_at;
            self.base = Instant::now();
        }
        self.frozen = frozen;
    }
    pub fn advance(&mut self, seconds: f64) {
        if self.frozen {
            self.frozen_at += seconds;
        } else {
            self.offset_s += seconds;
        }
    }
}

pub fn timestamp_us(t: f64) -> u64 {
    BOOT_OFFSET_US + (t * 1e6) as u64
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Class {
    Compute,
    Render,
    Copy,
    Media,
    Any,
}

#[derive(Clone, Debug)]
pub struct Mem {
    pub tile: Option<u32>,
    pub size: u64,
    pub bandwidth: u64,
    pub read_bytes: f64,
    pub write_bytes: f64,
}

#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Limits {
    pub sustained_enabled: bool,
    pub sustained_mw: i32,
    pub interval_ms: i32,
    pub burst_enabled: bool,
    pub burst_mw: i32,
    pub peak_ac_mw: i32,
    pub peak_dc_mw: i32,
}

#[derive(Clone, Debug)]
pub struct Power {
    pub tile: Option<u32>,
    pub domain: zes_power_domain_t,
    pub can_control: bool,
    pub energy_j: f64,
    pub power_w: f64,
    pub limits: Limits,
    pub energy_threshold: f64,
    /// Last sample handed out, for the repeated-timestamp fault.
    pub last_sample: (u64, u64),
    pub reads: u64,
}

#[derive(Clone, Debug)]
pub struct Freq {
    pub tile: Option<u32>,
    pub domain: zes_freq_domain_t,
    pub hw_min: f64,
    pub hw_max: f64,
    pub efficient: f64,
    pub step: f64,
    pub range: (f64, f64),
    pub request: f64,
    pub actual: f64,
    pub reasons: zes_freq_throttle_reason_flags_t,
    pub throttle_s: f64,
}

#[derive(Clone, Debug)]
pub struct Temp {
    /// Stored with a null `pNext` (see the `Send` impl below).
    pub tile: Option<u32>,
    pub sensor: zes_temp_sensors_t,
    pub value_c: f64,
    pub config: zes_temp_config_t,
}

// SAFETY: the only pointer in a `Temp` is `config.pNext`, which is always stored as null, so
// moving a `Temp` to another thread shares nothing.
unsafe impl Send for Temp {}

#[derive(Clone, Debug)]
pub struct Engine {
    pub tile: Option<u32>,
    pub group: zes_engine_group_t,
    pub class: Class,
    pub active_s: f64,
    pub last_sample: (u64, u64),
    pub reads: u64,
}

#[derive(Clone, Debug)]
pub struct Fan {
    pub mode: zes_fan_speed_mode_t,
    pub fixed: zes_fan_speed_t,
    pub table: zes_fan_speed_table_t,
}

#[derive(Clone, Debug)]
pub struct Ras {
    pub tile: Option<u32>,
    pub kind: zes_ras_error_type_t,
    pub counters: [u64; ZES_MAX_RAS_ERROR_CATEGORY_COUNT],
    pub total_threshold: u64,
    pub detailed: [u64; ZES_MAX_RAS_ERROR_CATEGORY_COUNT],
}

#[derive(Clone, Debug)]
pub struct Sched {
    pub tile: Option<u32>,
    pub mode: zes_sched_mode_t,
    pub watchdog_us: u64,
    pub interval_us: u64,
    pub yield_us: u64,
}

#[derive(Clone, Debug)]
pub struct Perf {
    pub tile: Option<u32>,
    pub engines: zes_engine_type_flags_t,
    pub factor: f64,
}

#[derive(Clone, Debug)]
pub struct Standby {
    pub tile: Option<u32>,
    pub mode: zes_standby_promo_mode_t,
}

/// Utilization of each class at one instant.
#[derive(Clone, Copy, Debug, Default)]
pub struct Util {
    pub compute: f64,
    pub render: f64,
    pub copy: f64,
    pub media: f64,
}

impl Util {
    pub fn of(&self, class: Class) -> f64 {
        match class {
            Class::Compute => self.compute,
            Class::Render => self.render,
            Class::Copy => self.copy,
            Class::Media => self.media,
            Class::Any => self.compute.max(self.render).max(self.copy).max(self.media),
        }
    }
}

#[derive(Clone, Debug)]
pub struct Device {
    pub index: usize,
    pub p: DeviceParams,
    pub workload: Workload,
    pub mems: Vec<Mem>,
    pub powers: Vec<Power>,
    pub freqs: Vec<Freq>,
    pub temps: Vec<Temp>,
    pub engines: Vec<Engine>,
    pub fans: Vec<Fan>,
    pub ras: Vec<Ras>,
    pub scheds: Vec<Sched>,
    pub perfs: Vec<Perf>,
    pub standbys: Vec<Standby>,
    pub ecc_current: zes_device_ecc_state_t,
    pub ecc_pending: zes_device_ecc_state_t,
    pub pci_rx: f64,
    pub pci_tx: f64,
    pub pci_packets: f64,
    pub t: f64,
    pub util: Util,
    pub demand_w: f64,
    pub lost: bool,
    pub calls: u64,
    pub events_registered: zes_event_type_flags_t,
    pub events_pending: zes_event_type_flags_t,
    pub resets: u32,
    pub process_reads: u64,
}

fn tiles_of(p: &DeviceParams) -> Vec<Option<u32>> {
    if p.tiles > 1 {
        (0..p.tiles).map(Some).collect()
    } else {
        vec![None]
    }
}

impl Device {
    pub fn new(index: usize, p: DeviceParams, workload: Workload) -> Self {
        let tiles = tiles_of(&p);
        let n = tiles.len() as u64;
        let mems = tiles
            .iter()
            .map(|&tile| Mem {
                tile,
                size: p.mem_size_bytes / n,
                bandwidth: p.mem_bandwidth_bps / n,
                read_bytes: 0.0,
                write_bytes: 0.0,
            })
            .collect();
        let mw = |w: f64| (w * 1000.0).round() as i32;
        let card_limits = Limits {
            sustained_enabled: true,
            sustained_mw: mw(p.tdp_w),
            interval_ms: 28_000,
            burst_enabled: true,
            burst_mw: mw(p.tdp_w * 1.2),
            peak_ac_mw: mw(p.tdp_w * 1.5),
            peak_dc_mw: mw(p.tdp_w * 1.5),
        };
        let mut powers = vec![Power {
            tile: None,
            domain: if p.card_power_domain { zes_power_domain_t::CARD } else { zes_power_domain_t::PACKAGE },
            can_control: true,
            energy_j: 0.0,
            power_w: p.idle_w,
            limits: card_limits,
            energy_threshold: 0.0,
            last_sample: (0, 0),
            reads: 0,
        }];
        if p.tile_power_domains && p.tiles > 1 {
            for t in 0..p.tiles {
                powers.push(Power {
                    tile: Some(t),
                    domain: zes_power_domain_t::PACKAGE,
                    can_control: false,
                    limits: Limits { sustained_enabled: false, burst_enabled: false, ..card_limits },
                    power_w: p.idle_w / p.tiles as f64,
                    ..powers[0].clone()
                });
            }
        }
        let mut freqs = Vec::new();
        let mut temps = Vec::new();
        let mut engines = Vec::new();
        let mut ras = Vec::new();
        let mut scheds = Vec::new();
        let mut perfs = Vec::new();
        let mut standbys = Vec::new();
        let threshold = zes_temp_threshold_t { enableLowToHigh: 0, enableHighToLow: 0, threshold: 0.0 };
        temps.push(Temp {
            tile: None,
            sensor: zes_temp_sensors_t::GLOBAL,
            value_c: p.ambient_c + p.c_per_w * p.idle_w,
            config: zes_temp_config_t {
                enableCritical: 0,
                threshold1: threshold,
                threshold2: threshold,
                ..Default::default()
            },
        });
        for &tile in &tiles {
            let f = Freq {
                tile,
                domain: zes_freq_domain_t::GPU,
                hw_min: p.gpu_min_mhz,
                hw_max: p.gpu_max_mhz,
                efficient: p.gpu_efficient_mhz,
                step: p.gpu_step_mhz,
                range: (p.gpu_min_mhz, p.gpu_max_mhz),
                request: p.gpu_min_mhz,
                actual: p.gpu_min_mhz,
                reasons: zes_freq_throttle_reason_flags_t::EMPTY,
                throttle_s: 0.0,
            };
            freqs.push(f.clone());
            if !p.mem_system {
                let m = p.mem_freq_mhz;
                freqs.push(Freq {
                    domain: zes_freq_domain_t::MEMORY,
                    hw_min: m,
                    hw_max: m,
                    efficient: m,
                    step: 0.0,
                    range: (m, m),
                    request: m,
                    actual: m,
                    ..f.clone()
                });
            }
            if p.media_freq {
                let lo = p.gpu_min_mhz.min(p.media_max_mhz);
                freqs.push(Freq {
                    domain: zes_freq_domain_t::MEDIA,
                    hw_min: lo,
                    hw_max: p.media_max_mhz,
                    efficient: lo,
                    range: (lo, p.media_max_mhz),
                    request: lo,
                    actual: lo,
                    ..f
                });
            }
            let idle_t = p.ambient_c + p.c_per_w * p.idle_w;
            if p.gpu_temp_sensor {
                temps.push(Temp {
                    tile,
                    sensor: zes_temp_sensors_t::GPU,
                    value_c: idle_t,
                    config: temps[0].config,
                });
            }
            if p.memory_temp_sensor {
                temps.push(Temp {
                    tile,
                    sensor: zes_temp_sensors_t::MEMORY,
                    value_c: idle_t,
                    config: temps[0].config,
                });
            }
            let mut groups = vec![
                (zes_engine_group_t::ALL, Class::Any),
                (zes_engine_group_t::COMPUTE_ALL, Class::Compute),
                (zes_engine_group_t::COPY_ALL, Class::Copy),
                (zes_engine_group_t::MEDIA_ALL, Class::Media),
                (zes_engine_group_t::COMPUTE_SINGLE, Class::Compute),
                (zes_engine_group_t::COPY_SINGLE, Class::Copy),
                (zes_engine_group_t::MEDIA_DECODE_SINGLE, Class::Media),
                (zes_engine_group_t::MEDIA_ENCODE_SINGLE, Class::Media),
            ];
            if p.render_engine {
                groups.push((zes_engine_group_t::RENDER_ALL, Class::Render));
                groups.push((zes_engine_group_t::RENDER_SINGLE, Class::Render));
            }
            for (group, class) in groups {
                engines.push(Engine { tile, group, class, active_s: 0.0, last_sample: (0, 0), reads: 0 });
            }
            if p.ras {
                for kind in [zes_ras_error_type_t::CORRECTABLE, zes_ras_error_type_t::UNCORRECTABLE] {
                    let mut counters = [0; ZES_MAX_RAS_ERROR_CATEGORY_COUNT];
                    if kind == zes_ras_error_type_t::CORRECTABLE {
                        counters[ZES_RAS_ERROR_CAT_CACHE_ERRORS.0 as usize] = p.ras_correctable_start;
                    }
                    ras.push(Ras { tile, kind, counters, total_threshold: 0, detailed: [0; 7] });
                }
            }
            if p.scheduler {
                scheds.push(Sched {
                    tile,
                    mode: zes_sched_mode_t::TIMESLICE,
                    watchdog_us: 640_000,
                    interval_us: 5_000,
                    yield_us: 640_000,
                });
            }
            if p.performance_factor {
                for engines in [zes_engine_type_flags_t::COMPUTE, zes_engine_type_flags_t::MEDIA] {
                    perfs.push(Perf { tile, engines, factor: 50.0 });
                }
            }
            if p.standby {
                standbys.push(Standby { tile, mode: zes_standby_promo_mode_t::DEFAULT });
            }
        }
        let fans = (0..p.fans)
            .map(|_| Fan {
                mode: zes_fan_speed_mode_t::DEFAULT,
                fixed: zes_fan_speed_t { speed: -1, units: zes_fan_speed_units_t::PERCENT },
                table: zes_fan_speed_table_t::default(),
            })
            .collect();
        let ecc = if !p.ecc_supported {
            zes_device_ecc_state_t::UNAVAILABLE
        } else if p.ecc_enabled {
            zes_device_ecc_state_t::ENABLED
        } else {
            zes_device_ecc_state_t::DISABLED
        };
        Self {
            index,
            workload,
            mems,
            powers,
            freqs,
            temps,
            engines,
            fans,
            ras,
            scheds,
            perfs,
            standbys,
            ecc_current: ecc,
            ecc_pending: ecc,
            pci_rx: 0.0,
            pci_tx: 0.0,
            pci_packets: 0.0,
            t: 0.0,
            util: Util::default(),
            demand_w: p.idle_w,
            lost: false,
            calls: 0,
            events_registered: zes_event_type_flags_t::EMPTY,
            events_pending: zes_event_type_flags_t::EMPTY,
            resets: 0,
            process_reads: 0,
            p,
        }
    }

    pub fn pci_max_bps(&self) -> i64 {
        let lane = pci_lane_bps(self.p.pci_gen);
        if lane < 0 || self.p.pci_width < 0 {
            -1
        } else {
            lane * self.p.pci_width as i64
        }
    }

    /// The device-level power domain whose limits govern the device.
    pub fn control_power(&self) -> &Power {
        &self.powers[0]
    }

    pub fn util_at(&self, t: f64) -> Util {
        let c = |v: f64| v.clamp(0.0, 1.0);
        Util {
            compute: c(self.workload.compute.at(t)),
            render: if self.p.render_engine { c(self.workload.render.at(t)) } else { 0.0 },
            copy: c(self.workload.copy.at(t)),
            media: c(self.workload.media.at(t)),
        }
    }

    /// Advances the model to time `now` (seconds): see [`Device::integrate`].
    pub fn advance_to(&mut self, now: f64) {
        self.integrate(now, u64::MAX);
    }

    /// Advances the model to time `now` in steps of at most 50 ms, taking at most `budget`
    /// steps; the steps taken, or None when the budget ran out part-way.
    ///
    /// When a step changes nothing the next step reads (temperatures, power, clocks, throttle
    /// reasons) and the workload stays constant for a while, every further 50 ms step in that
    /// while would repeat it exactly: one step then covers the whole while. Counters grow by the
    /// same amounts as with 50 ms steps up to floating-point rounding (the many small additions
    /// round more than the one large one: within 1e-9 relative over hours, see the tests);
    /// temperatures, already within rounding of their target, land on it.
    pub fn integrate(&mut self, now: f64, budget: u64) -> Option<u64> {
        let mut steps = 0;
        while self.t < now {
            if steps >= budget {
                return None;
            }
            let constant_until = self.workload.constant_until(self.t).min(now);
            let before = (constant_until > self.t + MAX_STEP_S).then(|| self.inputs_of_next_step());
            let dt = (now - self.t).min(MAX_STEP_S);
            self.step(self.t + dt / 2.0, dt);
            self.t += dt;
            steps += 1;
            if constant_until > self.t && before.is_some_and(|b| self.inputs_of_next_step() == b) {
                let dt = constant_until - self.t;
                self.step(self.t + dt / 2.0, dt);
                self.t = constant_until;
                steps += 1;
            }
        }
        Some(steps)
    }

    /// Everything a step reads besides the workload, bit for bit.
    fn inputs_of_next_step(&self) -> Vec<u64> {
        let mut v = vec![self.demand_w.to_bits()];
        v.extend(self.temps.iter().map(|t| t.value_c.to_bits()));
        v.extend(self.powers.iter().map(|p| p.power_w.to_bits()));
        for f in &self.freqs {
            v.extend([f.actual.to_bits(), f.request.to_bits(), f.reasons.0 as u64]);
        }
        v
    }

    fn step(&mut self, t: f64, dt: f64) {
        let p = &self.p;
        let u = self.util_at(t);
        self.util = u;
        let load = (u.compute + 0.7 * u.render + 0.25 * u.media + 0.1 * u.copy).clamp(0.0, 1.0);
        // Power grows with the clock the range allows.
        let gpu =
            self.freqs.iter().find(|f| f.domain == zes_freq_domain_t::GPU).map(|f| f.range.1 / f.hw_max);
        let freq_scale = gpu.unwrap_or(1.0).clamp(0.1, 1.0);
        let perf = self.perfs.first().map(|p| 0.6 + 0.8 * p.factor / 100.0).unwrap_or(1.0);
        let demand = p.idle_w + (p.tdp_w - p.idle_w) * load * freq_scale * perf.min(1.0);
        self.demand_w = demand;
        let lim = &self.powers[0].limits;
        let limit_w = if lim.sustained_enabled { lim.sustained_mw as f64 / 1000.0 } else { f64::INFINITY };
        let hot = self.temps.iter().any(|s| s.value_c > p.throttle_temp_c);
        let mut power = demand.min(limit_w.max(p.idle_w));
        let mut reasons = zes_freq_throttle_reason_flags_t::EMPTY;
        if demand > limit_w {
            reasons |= zes_freq_throttle_reason_flags_t::AVE_PWR_CAP;
        }
        if hot {
            reasons |= zes_freq_throttle_reason_flags_t::THERMAL_LIMIT;
            power = p.idle_w + (power - p.idle_w) * 0.85;
        }
        let ratio = if demand > p.idle_w + 1e-9 {
            ((power - p.idle_w) / (demand - p.idle_w)).clamp(0.0, 1.0)
        } else {
            1.0
        };
        // Power and energy.
        let tiles = p.tiles.max(1) as f64;
        let board_w = 0.15 * p.idle_w;
        for pw in &mut self.powers {
            let w = if pw.tile.is_some() { (power - board_w).max(0.0) / tiles } else { power };
            pw.power_w = w;
            pw.energy_j += w * dt;
        }
        // Frequencies.
        let was_throttled = self.freqs.iter().any(|f| !f.reasons.is_empty());
        for f in &mut self.freqs {
            match f.domain {
                zes_freq_domain_t::GPU => {
                    let active = load > 0.02;
                    f.request = if active { f.range.1 } else { f.range.0 };
                    let target =
                        if active { f.range.0 + (f.range.1 - f.range.0) * ratio.sqrt() } else { f.range.0 };
                    f.actual = target.clamp(f.range.0, f.range.1);
                    f.reasons = reasons;
                }
                zes_freq_domain_t::MEDIA => {
                    f.request = if u.media > 0.02 { f.range.1 } else { f.range.0 };
                    f.actual = f.request;
                    f.reasons = reasons;
                }
                _ => {}
            }
            if !f.reasons.is_empty() {
                f.throttle_s += dt;
            }
        }
        let mut new_events = zes_event_type_flags_t::EMPTY;
        if !was_throttled && !reasons.is_empty() {
            new_events |= zes_event_type_flags_t::FREQ_THROTTLED;
        }
        // Temperatures: first-order lag towards the steady state of this power.
        let k = 1.0 - (-dt / 6.0).exp();
        let mut crossed = zes_event_type_flags_t::EMPTY;
        for s in &mut self.temps {
            let target = match s.sensor {
                zes_temp_sensors_t::MEMORY => p.ambient_c + 0.7 * p.c_per_w * power,
                zes_temp_sensors_t::GPU => p.ambient_c + 1.05 * p.c_per_w * power,
                _ => p.ambient_c + 1.08 * p.c_per_w * power,
            };
            let before = s.value_c;
            s.value_c += (target - s.value_c) * k;
            let cfg = &s.config;
            for (th, flag) in [
                (&cfg.threshold1, zes_event_type_flags_t::TEMP_THRESHOLD1),
                (&cfg.threshold2, zes_event_type_flags_t::TEMP_THRESHOLD2),
            ] {
                let up = th.enableLowToHigh != 0 && before < th.threshold && s.value_c >= th.threshold;
                let down = th.enableHighToLow != 0 && before > th.threshold && s.value_c <= th.threshold;
                if up || down {
                    crossed |= flag;
                }
            }
            if cfg.enableCritical != 0 && before < p.max_temp_c - 5.0 && s.value_c >= p.max_temp_c - 5.0 {
                crossed |= zes_event_type_flags_t::TEMP_CRITICAL;
            }
        }
        new_events |= crossed;
        // Engines.
        for e in &mut self.engines {
            e.active_s += u.of(e.class) * dt;
        }
        // Traffic.
        let n = self.mems.len() as f64;
        let rd = self.workload.mem_read_bps.at(t).max(0.0);
        let wr = self.workload.mem_write_bps.at(t).max(0.0);
        for m in &mut self.mems {
            let cap = m.bandwidth as f64;
            let (r, w) = (rd / n, wr / n);
            let scale = if r + w > cap && r + w > 0.0 { cap / (r + w) } else { 1.0 };
            m.read_bytes += r * scale * dt;
            m.write_bytes += w * scale * dt;
        }
        let pci_cap = self.pci_max_bps();
        let cap = if pci_cap > 0 { pci_cap as f64 } else { f64::INFINITY };
        let rx = self.workload.pci_rx_bps.at(t).clamp(0.0, cap);
        let tx = self.workload.pci_tx_bps.at(t).clamp(0.0, cap);
        self.pci_rx += rx * dt;
        self.pci_tx += tx * dt;
        self.pci_packets += (rx + tx) * dt / 256.0;
        if !new_events.is_empty() {
            self.raise(new_events);
        }
    }

    pub fn raise(&mut self, events: zes_event_type_flags_t) {
        self.events_pending |= events & self.events_registered;
    }

    /// Memory in use on one module: reserved memory plus the processes of this device.
    pub fn mem_used(&self, processes: &[ProcessSpec], module: usize) -> u64 {
        let n = self.mems.len() as u64;
        let procs: u64 = processes.iter().filter(|p| p.device == self.index).map(|p| p.mem_bytes).sum();
        ((self.p.mem_reserved_bytes + procs) / n).min(self.mems[module].size)
    }

    pub fn total_mem_used(&self, processes: &[ProcessSpec]) -> u64 {
        (0..self.mems.len()).map(|i| self.mem_used(processes, i)).sum()
    }

    /// A device reset: pending ECC becomes current, the device is found again.
    pub fn reset(&mut self) {
        self.ecc_current = self.ecc_pending;
        self.resets += 1;
        self.raise(zes_event_type_flags_t::DEVICE_ATTACH);
    }

    pub fn fan_percent(&self, fan: usize) -> f64 {
        let f = &self.fans[fan];
        let temp = self.temps.iter().map(|t| t.value_c).fold(f64::MIN, f64::max);
        match f.mode {
            zes_fan_speed_mode_t::FIXED => {
                if f.fixed.units == zes_fan_speed_units_t::RPM {
                    100.0 * f.fixed.speed as f64 / self.p.fan_max_rpm as f64
                } else {
                    f.fixed.speed as f64
                }
            }
            zes_fan_speed_mode_t::TABLE => {
                let n = (f.table.numPoints.max(0) as usize).min(f.table.table.len());
                let pts = &f.table.table[..n];
                let mut speed = pts.first().map(|p| p.speed).unwrap_or_default();
                for pt in pts {
                    if temp >= pt.temperature as f64 {
                        speed = pt.speed;
                    }
                }
                if speed.units == zes_fan_speed_units_t::RPM {
                    100.0 * speed.speed as f64 / self.p.fan_max_rpm as f64
                } else {
                    speed.speed as f64
                }
            }
            _ => (20.0 + (temp - 40.0) * 1.6).clamp(20.0, 100.0),
        }
    }
}

/// The whole simulated machine.
#[derive(Debug)]
pub struct Machine {
    pub devices: Vec<Device>,
    pub processes: Vec<ProcessSpec>,
    pub faults: FaultConfig,
    pub clock: Clock,
    pub ze_initialized: bool,
    pub zes_initialized: bool,
}

impl Machine {
    pub fn new(cfg: MachineConfig) -> Self {
        let devices = cfg
            .devices
            .into_iter()
            .enumerate()
            .map(|(i, p)| {
                let w = cfg.workloads.get(i).cloned().unwrap_or_else(Workload::idle);
                Device::new(i, p, w)
            })
            .collect();
        Self {
            devices,
            processes: cfg.processes,
            faults: cfg.faults,
            clock: Clock::new(cfg.clock_frozen),
            ze_initialized: false,
            zes_initialized: false,
        }
    }

    pub fn now(&self) -> f64 {
        self.clock.now()
    }

    /// Moves the clock `seconds` ahead and brings every device there, or changes nothing and
    /// says why: past [`MAX_CLOCK_S`], or more than [`MAX_ADVANCE_STEPS`] integration steps.
    pub fn advance(&mut self, seconds: f64) -> Result<(), String> {
        let now = self.now();
        let target = now + seconds;
        if !seconds.is_finite() || seconds < 0.0 || target > MAX_CLOCK_S {
            return Err(format!(
                "the simulated clock ends at {MAX_CLOCK_S} s and is at {now} s: at most {} s more",
                MAX_CLOCK_S - now
            ));
        }
        // Integrated on copies first, so that a refused advance leaves the machine as it was.
        let mut budget = MAX_ADVANCE_STEPS;
        let mut advanced = Vec::with_capacity(self.devices.len());
        for d in &self.devices {
            let mut copy = d.clone();
            let steps = copy.integrate(target, budget).ok_or_else(|| {
                format!(
                    "advancing {seconds} s needs more than {MAX_ADVANCE_STEPS} integration steps of 50 ms \
                     (a workload varies, or temperatures keep crossing the throttle point): advance in \
                     parts of at most {} s",
                    MAX_ADVANCE_STEPS as f64 * MAX_STEP_S / self.devices.len().max(1) as f64
                )
            })?;
            budget -= steps;
            advanced.push(copy);
        }
        self.devices = advanced;
        self.clock.advance(seconds);
        self.update_all();
        Ok(())
    }

    /// Brings one device up to the present and applies the lost-device faults.
    pub fn update(&mut self, device: usize) {
        let now = self.clock.now();
        let d = &mut self.devices[device];
        d.advance_to(now);
        for lost in &self.faults.device_lost {
            if lost.device == device
                && (lost.after_seconds.is_some_and(|s| now >= s)
                    || lost.after_calls.is_some_and(|c| d.calls > c))
            {
                d.lost = true;
            }
        }
    }

    pub fn update_all(&mut self) {
        for i in 0..self.devices.len() {
            self.update(i);
        }
    }

    /// The processes of a device, as a reader sees them (with churn if that fault is on).
    pub fn processes_of(&mut self, device: usize) -> Vec<ProcessSpec> {
        let mut out: Vec<ProcessSpec> =
            self.processes.iter().filter(|p| p.device == device).cloned().collect();
        if self.faults.process_churn {
            let d = &mut self.devices[device];
            d.process_reads += 1;
            if d.process_reads % 2 == 0 {
                out.push(ProcessSpec {
                    pid: 60_000 + d.process_reads as u32,
                    command: "short-lived".into(),
                    device,
                    mem_bytes: 64 << 20,
                    shared_bytes: 0,
                    engines: zes_engine_type_flags_t::COMPUTE,
                });
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Signal;

    fn machine(preset: &str) -> Machine {
        let mut cfg = MachineConfig::from_presets(&[preset]).unwrap();
        cfg.clock_frozen = true;
        Machine::new(cfg)
    }

    #[test]
    fn energy_follows_power() {
        let mut m = machine("max1550");
        m.devices[0].workload = Workload { compute: Signal::Constant(1.0), ..Workload::idle() };
        m.clock.advance(10.0);
        m.update(0);
        let d = &m.devices[0];
        // Full load at 600 W is capped at the 600 W limit: 6000 J in 10 s.
        assert!((d.powers[0].energy_j - 6000.0).abs() < 1.0, "{}", d.powers[0].energy_j);
        assert!(d.freqs[0].actual > 1500.0);
        let compute = d.engines.iter().find(|e| e.group == zes_engine_group_t::COMPUTE_ALL).unwrap();
        assert!((compute.active_s - 10.0).abs() < 1e-6);
        let copy = d.engines.iter().find(|e| e.group == zes_engine_group_t::COPY_ALL).unwrap();
        assert_eq!(copy.active_s, 0.0);
    }

    #[test]
    fn power_limit_throttles() {
        let mut m = machine("a770");
        m.devices[0].workload = Workload { compute: Signal::Constant(1.0), ..Workload::idle() };
        m.devices[0].powers[0].limits.sustained_mw = 150_000;
        m.clock.advance(2.0);
        m.update(0);
        let d = &m.devices[0];
        assert!((d.powers[0].power_w - 150.0).abs() < 1e-6);
        assert!(d.freqs[0].reasons.contains(zes_freq_throttle_reason_flags_t::AVE_PWR_CAP));
        assert!((d.freqs[0].throttle_s - 2.0).abs() < 1e-6);
        assert!(d.freqs[0].actual < 2400.0);
    }

    #[test]
    fn temperature_rises_with_load() {
        let mut m = machine("a770");
        let idle = m.devices[0].temps[0].value_c;
        m.devices[0].workload = Workload { compute: Signal::Constant(1.0), ..Workload::idle() };
        m.clock.advance(60.0);
        m.update(0);
        assert!(m.devices[0].temps[0].value_c > idle + 20.0);
    }

    #[test]
    fn clock_modes() {
        let mut c = Clock::new(true);
        assert_eq!(c.now(), 0.0);
        c.advance(1.5);
        assert_eq!(c.now(), 1.5);
        c.set_frozen(false);
        assert!(c.now() >= 1.5);
        c.set_frozen(true);
        let t = c.now();
        std::thread::sleep(std::time::Duration::from_millis(2));
        assert_eq!(c.now(), t);
    }

    /// The 50 ms integration the model states, step by step, for comparison.
    fn fine(d: &mut Device, until: f64) {
        while d.t < until {
            let dt = (until - d.t).min(MAX_STEP_S);
            d.step(d.t + dt / 2.0, dt);
            d.t += dt;
        }
    }

    fn assert_same_counters(fast: &Device, fine: &Device) {
        let close = |a: f64, b: f64, what: &str| {
            assert!((a - b).abs() <= 1e-9 * b.abs().max(1.0), "{what}: fast {a} vs fine {b}");
        };
        for (a, b) in fast.powers.iter().zip(&fine.powers) {
            close(a.energy_j, b.energy_j, "energy");
            close(a.power_w, b.power_w, "power");
        }
        for (a, b) in fast.engines.iter().zip(&fine.engines) {
            close(a.active_s, b.active_s, "engine active time");
        }
        for (a, b) in fast.freqs.iter().zip(&fine.freqs) {
            close(a.throttle_s, b.throttle_s, "throttle time");
            close(a.actual, b.actual, "frequency");
            assert_eq!(a.reasons, b.reasons);
        }
        for (a, b) in fast.temps.iter().zip(&fine.temps) {
            close(a.value_c, b.value_c, "temperature");
        }
        for (a, b) in fast.mems.iter().zip(&fine.mems) {
            close(a.read_bytes, b.read_bytes, "memory read bytes");
            close(a.write_bytes, b.write_bytes, "memory write bytes");
        }
        close(fast.pci_rx, fine.pci_rx, "PCI rx");
        close(fast.pci_packets, fine.pci_packets, "PCI packets");
        assert_eq!(fast.t, fine.t);
    }

    /// Issue 8 case 10: a settled device with a constant workload covers any stretch in a few
    /// thousand steps, with the counters of the 50 ms integration.
    #[test]
    fn a_settled_constant_workload_takes_one_step_for_any_stretch() {
        let mut m = machine("max1550");
        m.devices[0].workload = Workload::light();
        m.devices[0].powers[0].limits.sustained_mw = 200_000; // throttled: AVE_PWR_CAP throughout
        let mut fine_copy = m.devices[0].clone();
        let steps = m.devices[0].integrate(36_000.0, u64::MAX).unwrap();
        assert!(steps < 10_000, "{steps} steps");
        fine(&mut fine_copy, 36_000.0);
        assert_same_counters(&m.devices[0], &fine_copy);
        assert!(m.devices[0].freqs[0].reasons.contains(zes_freq_throttle_reason_flags_t::AVE_PWR_CAP));
        // Once settled, a further 1e9 s is a couple of steps.
        assert!(m.devices[0].integrate(1e9, u64::MAX).unwrap() <= 2);
        let e = m.devices[0].powers[0].energy_j;
        let w = m.devices[0].powers[0].power_w;
        assert!((e - fine_copy.powers[0].energy_j - w * (1e9 - 36_000.0)).abs() < 1e-9 * e);
    }

    /// A square wave with long phases settles in each phase: each phase is then one step.
    #[test]
    fn long_square_phases_are_crossed_in_few_steps_with_the_same_counters() {
        let mut m = machine("a770");
        m.devices[0].workload = Workload {
            compute: Signal::Square { low: 0.1, high: 0.9, period_s: 4000.0, duty: 0.25 },
            ..Workload::idle()
        };
        let mut fine_copy = m.devices[0].clone();
        let steps = m.devices[0].integrate(20_000.0, u64::MAX).unwrap();
        assert!(steps < 100_000, "{steps} steps (fine: 400000)");
        fine(&mut fine_copy, 20_000.0);
        assert_same_counters(&m.devices[0], &fine_copy);
    }

    #[test]
    fn a_varying_workload_runs_out_of_steps_and_changes_nothing() {
        let mut m = machine("a770");
        m.devices[0].workload = Workload {
            compute: Signal::Sine { mean: 0.5, amplitude: 0.4, period_s: 10.0 },
            ..Workload::idle()
        };
        m.clock.advance(1.0);
        m.update_all();
        let (t, energy) = (m.now(), m.devices[0].powers[0].energy_j);
        let e = m.advance(1e9).unwrap_err();
        assert!(e.contains("needs more than 1000000 integration steps"), "{e}");
        assert_eq!((m.now(), m.devices[0].powers[0].energy_j, m.devices[0].t), (t, energy, t));
        // Within the budget it goes.
        m.advance(3600.0).unwrap();
        assert_eq!(m.now(), 3601.0);
        assert_eq!(m.devices[0].t, 3601.0);
    }

    #[test]
    fn the_clock_ends_at_its_cap() {
        let mut m = machine("igpu");
        m.advance(MAX_CLOCK_S - 10.0).unwrap();
        let e = m.advance(11.0).unwrap_err();
        assert!(e.starts_with("the simulated clock ends at 10000000000 s"), "{e}");
        m.advance(10.0).unwrap();
        assert_eq!(m.now(), MAX_CLOCK_S);
        assert!(timestamp_us(m.now()) < u64::MAX);
    }

    #[test]
    fn presets_shape() {
        let m = machine("max1550");
        let d = &m.devices[0];
        assert_eq!(d.mems.len(), 2);
        assert_eq!(d.mems.iter().map(|m| m.size).sum::<u64>(), 128 << 30);
        assert_eq!(d.powers.len(), 3);
        assert_eq!(d.ras.len(), 4);
        let i = machine("igpu");
        assert!(i.devices[0].fans.is_empty() && i.devices[0].ras.is_empty());
        assert_eq!(i.devices[0].ecc_current, zes_device_ecc_state_t::UNAVAILABLE);
    }
}
