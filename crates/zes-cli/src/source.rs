//! The adapter between the `zes` crate and zes-smi's model: opening the library (or the
//! simulator), selecting devices, reading static information and sampling live metrics.

use std::path::Path;

use zes::sys::*;
use zes::{Device, Error, ErrorClass, Sysman};

use crate::model::*;

/// An error that ends the program: the message and the exit code.
#[derive(Debug)]
pub struct Fatal {
    pub message: String,
    pub code: i32,
}

impl Fatal {
    pub fn runtime(message: impl Into<String>) -> Self {
        Self { message: message.into(), code: crate::EXIT_RUNTIME }
    }
    pub fn usage(message: impl Into<String>) -> Self {
        Self { message: message.into(), code: crate::EXIT_USAGE }
    }
}

pub fn unavailable(e: &Error) -> Unavailable {
    let reason = match e.class() {
        ErrorClass::Permission => Reason::Permission,
        ErrorClass::Unsupported => Reason::Unsupported,
        ErrorClass::DeviceLost => Reason::DeviceLost,
        ErrorClass::Implausible => Reason::Implausible,
        _ => Reason::Other,
    };
    Unavailable { reason, code: e.code_name(), function: e.function().map(str::to_owned) }
}

fn r<T>(result: zes::Result<T>) -> Reading<T> {
    match result {
        Ok(v) => Reading::Ok(v),
        Err(e) => Reading::Err(unavailable(&e)),
    }
}

/// `ZES_POWER_DOMAIN_CARD` -> `card`; unknown values -> their number.
fn short(name: Option<&str>, prefix: &str, raw: u32) -> String {
    match name {
        Some(n) => n.strip_prefix(prefix).unwrap_or(n).to_ascii_lowercase(),
        None => format!("unknown_{raw}"),
    }
}

fn uuid_text(u: &zes::Uuid) -> String {
    let b = u.bytes();
    let hex: Vec<String> = b.iter().map(|x| format!("{x:02x}")).collect();
    let h = hex.concat();
    format!("{}-{}-{}-{}-{}", &h[0..8], &h[8..12], &h[12..16], &h[16..20], &h[20..32])
}

/// An opened Sysman with its devices, in enumeration order.
pub struct Session {
    sysman: Sysman,
    devices: Vec<Device>,
    summaries: Vec<DeviceSummary>,
}

/// The simulator linked into zes-smi; a machine file or preset it rejects is a usage error.
fn open_simulator(builder: zes::Builder) -> Result<Session, Fatal> {
    match builder.library_instance(zes_sim::in_process_library()).init() {
        Ok(sysman) => Session::with_sysman(sysman),
        Err(e) => {
            let status = zes_sim::control(r#"{"op":"status"}"#).unwrap_or_default();
            let status: serde_json::Value = serde_json::from_str(&status).unwrap_or_default();
            match status.get("load_error").and_then(|v| v.as_str()) {
                Some(load) => Err(Fatal::usage(format!("--simulate: {load}"))),
                None => Err(Fatal::runtime(format!("the simulator failed to initialize: {e}"))),
            }
        }
    }
}

impl Session {
    pub fn open(simulate: Option<&str>, library: Option<&Path>) -> Result<Self, Fatal> {
        let builder = Sysman::builder();
        let sysman = match simulate {
            Some(spec) => {
                if !spec.is_empty() {
                    let path = Path::new(spec);
                    if path.exists() || spec.ends_with(".toml") {
                        std::env::set_var("ZES_SIM_CONFIG", path);
                    } else {
                        std::env::set_var("ZES_SIM_PRESET", spec);
                    }
                }
                return open_simulator(builder);
            }
            None => match library {
                Some(path) => builder.library(path).init(),
                None => builder.init(),
            },
        };
        let sysman = sysman.map_err(|e| match e {
            Error::LibraryNotFound(load) => Fatal::runtime(format!(
                "{load}\n(or try `zes-smi --simulate ...` to run against the built-in simulator)"
            )),
            other if other.code() == Some(ze_result_t::ERROR_UNINITIALIZED) => Fatal::runtime(format!(
                "{other}\nthe Level Zero loader found no GPU driver: install Intel's Level Zero GPU driver \
                 (Debian/Ubuntu: intel-level-zero-gpu or libze-intel-gpu1; Fedora: intel-level-zero) \
                 and make sure /dev/dri is accessible\n(or try `zes-smi --simulate ...` to run against the built-in simulator)"
            )),
            other => Fatal::runtime(format!("cannot initialize Level Zero Sysman: {other}")),
        })?;
        Self::with_sysman(sysman)
    }

    fn with_sysman(sysman: Sysman) -> Result<Self, Fatal> {
        let devices =
            sysman.devices().map_err(|e| Fatal::runtime(format!("cannot enumerate devices: {e}")))?;
        if devices.is_empty() {
            return Err(Fatal::runtime(
                "no devices found: the Level Zero driver reports no GPU (is the Intel GPU driver installed and /dev/dri accessible?)",
            ));
        }
        let summaries = devices.iter().enumerate().map(|(i, d)| summarize(i, d)).collect();
        Ok(Self { sysman, devices, summaries })
    }

    pub fn len(&self) -> usize {
        self.devices.len()
    }

    pub fn summary(&self, index: usize) -> DeviceSummary {
        self.summaries[index].clone()
    }

    pub fn device(&self, index: usize) -> &Device {
        &self.devices[index]
    }

    /// Resolves `-d` selectors (index, UUID or unique UUID prefix, PCI address) to indices.
    pub fn select(&self, selectors: &[String]) -> Result<Vec<usize>, String> {
        if selectors.is_empty() {
            return Ok((0..self.len()).collect());
        }
        let mut out = Vec::new();
        for sel in selectors {
            let sel = sel.trim();
            let found = if let Ok(i) = sel.parse::<usize>() {
                (i < self.len()).then_some(i)
            } else {
                let lower = sel.to_ascii_lowercase();
                let pci =
                    if lower.matches(':').count() == 1 { format!("0000:{lower}") } else { lower.clone() };
                let by_pci =
                    self.summaries.iter().position(|s| s.pci_address.as_deref() == Some(pci.as_str()));
                match by_pci {
                    Some(i) => Some(i),
                    None if lower.is_empty() => return Err("empty device selector".into()),
                    None => {
                        let hits: Vec<&DeviceSummary> = self
                            .summaries
                            .iter()
                            .filter(|s| {
                                s.uuid.starts_with(&lower) || s.uuid.replace('-', "").starts_with(&lower)
                            })
                            .collect();
                        if hits.len() > 1 {
                            let candidates: Vec<String> =
                                hits.iter().map(|s| format!("{} (device {})", s.uuid, s.index)).collect();
                            return Err(format!(
                                "{sel:?} is ambiguous: it begins the UUIDs of {}; give more of the UUID",
                                candidates.join(", ")
                            ));
                        }
                        hits.first().map(|s| s.index)
                    }
                }
            };
            match found {
                Some(i) if !out.contains(&i) => out.push(i),
                Some(_) => {}
                None => {
                    return Err(format!(
                        "no device matches {sel:?} ({} devices: use an index 0..{}, a UUID or a PCI address)",
                        self.len(),
                        self.len().saturating_sub(1)
                    ))
                }
            }
        }
        Ok(out)
    }

    pub fn sysman(&self) -> Sysman {
        self.sysman.clone()
    }

    pub fn sampler(&self, index: usize) -> Sampler {
        Sampler { device: self.devices[index].clone(), summary: self.summary(index), prev: None, parts: None }
    }

    pub fn processes(&self, index: usize) -> Reading<Vec<ProcessStat>> {
        processes(&self.devices[index])
    }

    pub fn info(&self, index: usize) -> DeviceInfo {
        info(&self.devices[index], self.summary(index))
    }
}

/// A fresh sampler for every device the driver enumerates now (index = enumeration order).
pub fn rediscover(sysman: &Sysman) -> Vec<Sampler> {
    match sysman.devices() {
        Ok(devices) => devices
            .into_iter()
            .enumerate()
            .map(|(i, d)| {
                let summary = summarize(i, &d);
                Sampler { device: d, summary, prev: None, parts: None }
            })
            .collect(),
        Err(_) => Vec::new(),
    }
}

fn summarize(index: usize, d: &Device) -> DeviceSummary {
    let props = d.properties();
    let pci = d.pci_properties().ok().map(|p| p.address.to_string());
    let memory = d.memory_modules().ok().map(|mods| {
        mods.iter().filter_map(|m| m.properties().ok()).filter_map(|p| p.physical_size).sum::<u64>()
    });
    match props {
        Ok(p) => DeviceSummary {
            index,
            driver: d.driver_index(),
            name: p.name.clone(),
            uuid: uuid_text(&p.uuid),
            pci_address: pci,
            memory_bytes: memory.filter(|m| *m > 0),
            driver_version: p.driver_version.clone().unwrap_or_default(),
            subdevices: p.num_subdevices,
        },
        Err(e) => DeviceSummary {
            index,
            driver: d.driver_index(),
            name: format!("<{}>", e.code_name()),
            uuid: String::new(),
            pci_address: pci,
            memory_bytes: None,
            driver_version: String::new(),
            subdevices: 0,
        },
    }
}

fn list<T, U>(items: zes::Result<Vec<T>>, f: impl Fn(usize, &T) -> Option<U>) -> Reading<Vec<U>> {
    r(items).map(|v| v.iter().enumerate().filter_map(|(i, x)| f(i, x)).collect())
}

fn mw(v: Option<i32>) -> Option<f64> {
    v.map(|x| x as f64 / 1000.0)
}

fn sustained(p: &zes::Power) -> Reading<Option<f64>> {
    r(p.limits()).map(|l| (l.sustained.enabled != 0).then_some(l.sustained.power as f64 / 1000.0))
}

fn info(d: &Device, summary: DeviceSummary) -> DeviceInfo {
    let props = d.properties().ok();
    let p = |f: fn(&zes::DeviceProperties) -> Option<String>| props.as_ref().and_then(f).unwrap_or_default();
    DeviceInfo {
        vendor: p(|x| x.vendor_name.clone()),
        brand: p(|x| x.brand_name.clone()),
        model: p(|x| x.model_name.clone()),
        serial: p(|x| x.serial_number.clone()),
        board: p(|x| x.board_number.clone()),
        device_type: props
            .as_ref()
            .map(|x| short(x.device_type.name(), "ZE_DEVICE_TYPE_", x.device_type.0))
            .unwrap_or_default(),
        device_id: props.as_ref().map(|x| format!("{:#06x}", x.device_id)).unwrap_or_default(),
        core_clock_hz: props.as_ref().map(|x| x.core_clock_mhz as f64 * 1e6),
        memory_modules: list(d.memory_modules(), |i, m| {
            let p = m.properties().ok()?;
            let bw = m.bandwidth().ok().map(|b| b.max_bandwidth).filter(|b| *b > 0);
            Some(MemoryModule {
                index: i,
                mem_type: short(p.mem_type.name(), "ZES_MEM_TYPE_", p.mem_type.0),
                location: short(p.location.name(), "ZES_MEM_LOC_", p.location.0),
                subdevice: p.subdevice_id,
                size_bytes: p.physical_size.unwrap_or(0),
                bus_width: p.bus_width.map(|x| x as u32),
                channels: p.num_channels.map(|x| x as u32),
                max_bandwidth_bytes_per_s: bw,
            })
        }),
        power_domains: list(d.power_domains(), |i, pw| {
            let p = pw.properties().ok()?;
            let dom = pw
                .domain()
                .map(|x| short(x.name(), "ZES_POWER_DOMAIN_", x.0))
                .unwrap_or_else(|_| "package".into());
            Some(PowerDomain {
                index: i,
                domain: dom,
                subdevice: p.subdevice_id,
                can_control: p.can_control,
                default_limit_w: mw(p.default_limit_mw),
                min_limit_w: mw(p.min_limit_mw),
                max_limit_w: mw(p.max_limit_mw),
                sustained_limit_w: sustained(pw),
            })
        }),
        frequency_domains: list(d.frequency_domains(), |i, f| {
            let p = f.properties().ok()?;
            Some(FrequencyDomain {
                index: i,
                domain: short(p.domain.name(), "ZES_FREQ_DOMAIN_", p.domain.0),
                subdevice: p.subdevice_id,
                can_control: p.can_control,
                min_hz: p.min_mhz * 1e6,
                max_hz: p.max_mhz * 1e6,
                available_hz: r(f.available_clocks()).map(|v| v.iter().map(|m| m * 1e6).collect()),
                range_hz: r(f.range()).map(|(a, b)| [a * 1e6, b * 1e6]),
            })
        }),
        temperature_sensors: list(d.temperature_sensors(), |i, t| {
            let p = t.properties().ok()?;
            Some(TemperatureSensor {
                index: i,
                sensor: short(p.sensor.name(), "ZES_TEMP_SENSORS_", p.sensor.0),
                subdevice: p.subdevice_id,
                max_c: p.max_temperature,
                critical_enabled: r(t.config()).map(|c| c.enableCritical != 0),
            })
        }),
        engine_groups: list(d.engines(), |i, e| {
            let p = e.properties().ok()?;
            Some(EngineGroup {
                index: i,
                group: short(p.group.name(), "ZES_ENGINE_GROUP_", p.group.0),
                subdevice: p.subdevice_id,
            })
        }),
        pci: r(d.pci_properties()).map(|p| PciInfo {
            address: p.address.to_string(),
            max_gen: p.max_speed.gen,
            max_width: p.max_speed.width,
            max_bandwidth_bytes_per_s: p.max_speed.max_bandwidth,
        }),
        ecc: match (d.ecc_available(), d.ecc_configurable(), d.ecc_state()) {
            (Ok(available), Ok(configurable), Ok(state)) => Reading::Ok(EccInfo {
                available,
                configurable,
                current: short(state.current.name(), "ZES_DEVICE_ECC_STATE_", state.current.0),
                pending: short(state.pending.name(), "ZES_DEVICE_ECC_STATE_", state.pending.0),
            }),
            (Err(e), _, _) | (_, Err(e), _) | (_, _, Err(e)) => Reading::Err(unavailable(&e)),
        },
        fans: list(d.fans(), |i, f| {
            let p = f.properties().ok()?;
            Some(FanInfo {
                index: i,
                subdevice: (p.onSubdevice != 0).then_some(p.subdeviceId),
                max_rpm: (p.maxRPM >= 0).then_some(p.maxRPM),
            })
        }),
        firmware: list(d.firmwares(), |i, f| {
            let p = f.properties().ok()?;
            Some(FirmwareInfo {
                index: i,
                name: p.name,
                version: p.version.unwrap_or_default(),
                subdevice: p.subdevice_id,
            })
        }),
        summary,
    }
}

fn processes(d: &Device) -> Reading<Vec<ProcessStat>> {
    r(d.processes()).map(|ps| {
        ps.iter()
            .map(|p| ProcessStat {
                pid: p.pid,
                name: process_name(p.pid),
                memory_bytes: p.mem_size,
                shared_bytes: p.shared_size,
                engines: p
                    .engines
                    .names()
                    .iter()
                    .map(|n| short(Some(n), "ZES_ENGINE_TYPE_FLAG_", 0))
                    .collect(),
            })
            .collect()
    })
}

fn process_name(pid: u32) -> Option<String> {
    std::fs::read_to_string(format!("/proc/{pid}/comm")).ok().map(|s| s.trim().to_string())
}

/// Component handles and static labels of a device, enumerated once.
struct Parts {
    power: Vec<(zes::Power, String, Option<u32>)>,
    freq: Vec<(zes::Frequency, String, Option<u32>)>,
    temp: Vec<(zes::Temperature, String, Option<u32>)>,
    mem: Vec<(zes::Memory, String, Option<u32>)>,
    engines: Vec<(zes::Engine, String, Option<u32>)>,
    ras: Vec<(zes::Ras, String, Option<u32>)>,
    fans: Vec<zes::Fan>,
    errors: [Option<Unavailable>; 6],
}

/// Raw counters of the previous sample, for derived values.
#[derive(Default)]
struct Raw {
    energy: Vec<Option<zes::EnergyCounter>>,
    engine: Vec<Option<zes::EngineStats>>,
    bw: Vec<Option<zes::MemoryBandwidth>>,
    throttle: Vec<Option<zes::ThrottleTime>>,
    pci: Option<zes::PciStats>,
}

/// Samples one device; derived values come from this sample and the previous one.
pub struct Sampler {
    device: Device,
    summary: DeviceSummary,
    prev: Option<(std::time::Instant, Raw)>,
    parts: Option<Parts>,
}

fn enumerate<T, U>(
    items: zes::Result<Vec<T>>,
    f: impl Fn(&T) -> Option<(String, Option<u32>)>,
    wrap: impl Fn(T, String, Option<u32>) -> U,
) -> (Vec<U>, Option<Unavailable>) {
    match items {
        Ok(v) => (v.into_iter().filter_map(|x| f(&x).map(|(a, b)| wrap(x, a, b))).collect(), None),
        Err(e) => (Vec::new(), Some(unavailable(&e))),
    }
}

impl Parts {
    fn new(d: &Device) -> Self {
        let (power, e0) = enumerate(
            d.power_domains(),
            |p| {
                let props = p.properties().ok()?;
                let dom = p
                    .domain()
                    .map(|x| short(x.name(), "ZES_POWER_DOMAIN_", x.0))
                    .unwrap_or_else(|_| "package".into());
                Some((dom, props.subdevice_id))
            },
            |x, a, b| (x, a, b),
        );
        let (freq, e1) = enumerate(
            d.frequency_domains(),
            |f| {
                f.properties()
                    .ok()
                    .map(|p| (short(p.domain.name(), "ZES_FREQ_DOMAIN_", p.domain.0), p.subdevice_id))
            },
            |x, a, b| (x, a, b),
        );
        let (temp, e2) = enumerate(
            d.temperature_sensors(),
            |t| {
                t.properties()
                    .ok()
                    .map(|p| (short(p.sensor.name(), "ZES_TEMP_SENSORS_", p.sensor.0), p.subdevice_id))
            },
            |x, a, b| (x, a, b),
        );
        let (mem, e3) = enumerate(
            d.memory_modules(),
            |m| {
                m.properties()
                    .ok()
                    .map(|p| (short(p.location.name(), "ZES_MEM_LOC_", p.location.0), p.subdevice_id))
            },
            |x, a, b| (x, a, b),
        );
        let (engines, e4) = enumerate(
            d.engines(),
            |e| {
                e.properties()
                    .ok()
                    .map(|p| (short(p.group.name(), "ZES_ENGINE_GROUP_", p.group.0), p.subdevice_id))
            },
            |x, a, b| (x, a, b),
        );
        let (ras, e5) = enumerate(
            d.ras_error_sets(),
            |x| {
                x.properties().ok().map(|p| {
                    (short(p.error_type.name(), "ZES_RAS_ERROR_TYPE_", p.error_type.0), p.subdevice_id)
                })
            },
            |x, a, b| (x, a, b),
        );
        let fans = d.fans().unwrap_or_default();
        Parts { power, freq, temp, mem, engines, ras, fans, errors: [e0, e1, e2, e3, e4, e5] }
    }
}

fn rate(prev: Option<&Raw>, f: impl Fn(&Raw) -> Option<zes::metrics::Rate<f64>>) -> Reading<f64> {
    rate_reading(&prev.and_then(f), |v| *v)
}

/// A rate of `zes::metrics`: pending without two samples (or when they give none), an error
/// (code `IMPLAUSIBLE`) when it is beyond what the device can do.
fn rate_reading<T>(rate: &Option<zes::metrics::Rate<T>>, part: impl Fn(&T) -> f64) -> Reading<f64> {
    match rate {
        Some(Ok(v)) => Reading::Ok(part(v)),
        Some(Err(zes::metrics::RateError::Implausible { .. })) => Reading::Err(Unavailable {
            reason: Reason::Implausible,
            code: "IMPLAUSIBLE".into(),
            function: None,
        }),
        Some(Err(zes::metrics::RateError::NoSample)) | None => Reading::pending(),
    }
}

fn enum_reading<T>(err: &Option<Unavailable>, value: T) -> Reading<T> {
    match err {
        Some(e) => Reading::Err(e.clone()),
        None => Reading::Ok(value),
    }
}

const RAS_CATEGORIES: [&str; 7] = [
    "reset",
    "programming_errors",
    "driver_errors",
    "compute_errors",
    "non_compute_errors",
    "cache_errors",
    "display_errors",
];

impl Sampler {
    pub fn summary(&self) -> &DeviceSummary {
        &self.summary
    }

    pub fn sample(&mut self) -> DeviceStats {
        let lost = matches!(self.device.properties(), Err(ref e) if e.is_device_lost());
        if lost {
            self.parts = None;
            self.prev = None;
            let e = Unavailable {
                reason: Reason::DeviceLost,
                code: "ZE_RESULT_ERROR_DEVICE_LOST".into(),
                function: Some("zesDeviceGetProperties".into()),
            };
            fn err<T>(e: &Unavailable) -> Reading<T> {
                Reading::Err(e.clone())
            }
            return DeviceStats {
                summary: self.summary.clone(),
                window_s: 0.0,
                up: false,
                power: err(&e),
                frequency: err(&e),
                temperature: err(&e),
                memory: err(&e),
                engines: err(&e),
                pci: err(&e),
                ras: err(&e),
                fans: err(&e),
                processes: err(&e),
            };
        }
        let parts = self.parts.get_or_insert_with(|| Parts::new(&self.device));
        let now = std::time::Instant::now();
        let prev = self.prev.as_ref().map(|(_, raw)| raw);
        let window_s = self.prev.as_ref().map(|(t, _)| now.duration_since(*t).as_secs_f64()).unwrap_or(0.0);
        let mut raw = Raw::default();

        let mut power = Vec::new();
        for (i, (p, dom, sd)) in parts.power.iter().enumerate() {
            let counter = p.energy_counter();
            let cur = counter.as_ref().ok().copied();
            raw.energy.push(cur);
            let energy_j = r(counter).map(|c| c.energy as f64 / 1e6);
            let power_w = match &energy_j {
                Reading::Err(e) => Reading::Err(e.clone()),
                Reading::Ok(_) => rate(prev, |pr| {
                    let a = pr.energy.get(i).copied().flatten()?;
                    Some(zes::metrics::power_watts(&a, cur.as_ref()?))
                }),
            };
            power.push(PowerStat {
                domain: dom.clone(),
                subdevice: *sd,
                power_w,
                energy_j,
                sustained_limit_w: sustained(p),
            });
        }

        let mut frequency = Vec::new();
        for (i, (f, dom, sd)) in parts.freq.iter().enumerate() {
            let state = f.state();
            let tt = f.throttle_time();
            let cur = tt.as_ref().ok().copied();
            raw.throttle.push(cur);
            let throttle_ratio = match &tt {
                Err(e) => Reading::Err(unavailable(e)),
                Ok(_) => rate(prev, |pr| {
                    Some(zes::metrics::throttle_ratio(&pr.throttle.get(i).copied().flatten()?, cur.as_ref()?))
                }),
            };
            let st = r(state);
            frequency.push(FrequencyStat {
                domain: dom.clone(),
                subdevice: *sd,
                actual_hz: st.as_ref().map(|s| s.actual_mhz.unwrap_or(f64::NAN) * 1e6),
                request_hz: st.as_ref().map(|s| s.request_mhz.unwrap_or(f64::NAN) * 1e6),
                throttle_reasons: st.as_ref().map(|s| {
                    s.throttle_reasons
                        .names()
                        .iter()
                        .map(|n| short(Some(n), "ZES_FREQ_THROTTLE_REASON_FLAG_", 0))
                        .collect()
                }),
                throttle_ratio,
            });
        }

        let temperature = parts
            .temp
            .iter()
            .map(|(t, sensor, sd)| TemperatureStat {
                sensor: sensor.clone(),
                subdevice: *sd,
                celsius: r(t.state()),
            })
            .collect();

        let mut memory = Vec::new();
        for (i, (m, loc, sd)) in parts.mem.iter().enumerate() {
            let state = r(m.state());
            let bw = m.bandwidth();
            let cur = bw.as_ref().ok().copied();
            raw.bw.push(cur);
            let rates = match &bw {
                Err(e) => Err(unavailable(e)),
                Ok(_) => Ok(prev.and_then(|pr| {
                    Some(zes::metrics::memory_bandwidth(&pr.bw.get(i).copied().flatten()?, cur.as_ref()?))
                })),
            };
            let rr = |f: fn(&zes::metrics::Rates) -> f64| match &rates {
                Err(e) => Reading::Err(e.clone()),
                Ok(rate) => rate_reading(rate, f),
            };
            let bwr = r(bw);
            memory.push(MemoryStat {
                index: i,
                location: loc.clone(),
                subdevice: *sd,
                total_bytes: state.as_ref().map(|s| s.size),
                free_bytes: state.as_ref().map(|s| s.free),
                used_bytes: state.as_ref().map(|s| s.size.saturating_sub(s.free)),
                health: state.as_ref().map(|s| short(s.health.name(), "ZES_MEM_HEALTH_", s.health.0)),
                read_bytes: bwr.as_ref().map(|b| b.read_counter),
                write_bytes: bwr.as_ref().map(|b| b.write_counter),
                read_bytes_per_s: rr(|x| x.read_bytes_per_sec),
                write_bytes_per_s: rr(|x| x.write_bytes_per_sec),
            });
        }

        let mut engines = Vec::new();
        for (i, (e, group, sd)) in parts.engines.iter().enumerate() {
            let act = e.activity();
            let cur = act.as_ref().ok().copied();
            raw.engine.push(cur);
            let utilization = match &act {
                Err(err) => Reading::Err(unavailable(err)),
                Ok(_) => rate(prev, |pr| {
                    Some(
                        zes::metrics::engine_utilization(
                            &pr.engine.get(i).copied().flatten()?,
                            cur.as_ref()?,
                        )
                        .map(|p| p / 100.0),
                    )
                }),
            };
            engines.push(EngineStat { group: group.clone(), subdevice: *sd, utilization });
        }

        let pci_stats = self.device.pci_stats();
        raw.pci = pci_stats.as_ref().ok().copied();
        let pci = r(pci_stats).map(|s| {
            let t = prev.and_then(|pr| Some(zes::metrics::pci_throughput(&pr.pci?, &s)));
            PciStat {
                rx_bytes: Reading::Ok(s.rx_counter),
                tx_bytes: Reading::Ok(s.tx_counter),
                rx_bytes_per_s: rate_reading(&t, |t| t.rx_bytes_per_sec),
                tx_bytes_per_s: rate_reading(&t, |t| t.tx_bytes_per_sec),
            }
        });

        // One row per (sub-device, category): the correctable and uncorrectable sets merged.
        let mut ras: Vec<RasStat> = Vec::new();
        for (x, kind, sd) in &parts.ras {
            let state = r(x.state(false));
            for (ci, cat) in RAS_CATEGORIES.iter().enumerate() {
                let v = state.as_ref().map(|s| s.get(ci).copied().unwrap_or(0));
                let pos = match ras.iter().position(|e| e.subdevice == *sd && e.category == *cat) {
                    Some(p) => p,
                    None => {
                        ras.push(RasStat {
                            category: cat.to_string(),
                            subdevice: *sd,
                            correctable: Reading::unsupported("zesRasGetState"),
                            uncorrectable: Reading::unsupported("zesRasGetState"),
                        });
                        ras.len() - 1
                    }
                };
                if kind == "correctable" {
                    ras[pos].correctable = v;
                } else {
                    ras[pos].uncorrectable = v;
                }
            }
        }

        let fans = parts
            .fans
            .iter()
            .enumerate()
            .map(|(i, f)| FanStat {
                index: i,
                rpm: r(f.speed(zes_fan_speed_units_t::RPM)).map(|v| v.map(|x| x as f64).unwrap_or(f64::NAN)),
            })
            .collect();

        let stats = DeviceStats {
            summary: self.summary.clone(),
            window_s,
            up: true,
            power: enum_reading(&parts.errors[0], power),
            frequency: enum_reading(&parts.errors[1], frequency),
            temperature: enum_reading(&parts.errors[2], temperature),
            memory: enum_reading(&parts.errors[3], memory),
            engines: enum_reading(&parts.errors[4], engines),
            pci,
            ras: enum_reading(&parts.errors[5], ras),
            fans: Reading::Ok(fans),
            processes: processes(&self.device),
        };
        self.prev = Some((now, raw));
        stats
    }
}

fn refuse(e: Error, what: &str) -> Fatal {
    Fatal::runtime(format!("{what}: {e}"))
}

/// Applies `set` to one device, checking every value against the driver's limits first.
pub fn apply(session: &Session, index: usize, args: &crate::cli::SetArgs) -> Result<(), Fatal> {
    let d = session.device(index);
    let freq_target = args.freq_range;
    if args.power_limit.is_some() || args.reset_defaults {
        let domains = d.power_domains().map_err(|e| refuse(e, "power domains"))?;
        let mut done = false;
        for p in &domains {
            let props = p.properties().map_err(|e| refuse(e, "power properties"))?;
            if !props.can_control || props.subdevice_id.is_some() {
                continue;
            }
            let watts = match args.power_limit {
                Some(w) => w,
                None => match mw(props.default_limit_mw) {
                    Some(w) => w,
                    None => continue,
                },
            };
            let (lo, hi) = (mw(props.min_limit_mw), mw(props.max_limit_mw));
            if lo.is_some_and(|lo| watts < lo) || hi.is_some_and(|hi| watts > hi) {
                return Err(Fatal::runtime(format!(
                    "device {index}: power limit {watts} W is out of range: the driver allows {} to {} W",
                    lo.map(format_w).unwrap_or_else(|| "?".into()),
                    hi.map(format_w).unwrap_or_else(|| "?".into()),
                )));
            }
            let mut limits = p.limits().map_err(|e| refuse(e, "power limits"))?;
            limits.sustained.enabled = 1;
            limits.sustained.power = (watts * 1000.0).round() as i32;
            p.set_limits(Some(&limits.sustained), None, None)
                .map_err(|e| refuse(e, "setting the power limit"))?;
            done = true;
        }
        if !done && args.power_limit.is_some() {
            return Err(Fatal::runtime(format!("device {index}: no controllable power domain")));
        }
    }
    if freq_target.is_some() || args.reset_defaults {
        let domains = d.frequency_domains().map_err(|e| refuse(e, "frequency domains"))?;
        let mut done = false;
        for f in &domains {
            let props = f.properties().map_err(|e| refuse(e, "frequency properties"))?;
            if props.domain != zes_freq_domain_t::GPU || !props.can_control {
                continue;
            }
            let (lo, hi) = freq_target.unwrap_or((props.min_mhz, props.max_mhz));
            if lo < props.min_mhz || hi > props.max_mhz {
                return Err(Fatal::runtime(format!(
                    "device {index}: frequency range {lo}-{hi} MHz is out of range: the driver allows {}-{} MHz",
                    props.min_mhz, props.max_mhz
                )));
            }
            f.set_range(lo, hi).map_err(|e| refuse(e, "setting the frequency range"))?;
            done = true;
        }
        if !done && freq_target.is_some() {
            return Err(Fatal::runtime(format!("device {index}: no controllable GPU frequency domain")));
        }
    }
    if let Some(ecc) = &args.ecc {
        if !d.ecc_configurable().map_err(|e| refuse(e, "ECC"))? {
            return Err(Fatal::runtime(format!("device {index}: ECC is not configurable")));
        }
        let state =
            if ecc == "on" { zes_device_ecc_state_t::ENABLED } else { zes_device_ecc_state_t::DISABLED };
        let result = d.set_ecc_state(state).map_err(|e| refuse(e, "setting ECC"))?;
        let action = result.pending_action;
        if action.0 != 0 {
            eprintln!(
                "device {index}: ECC change pending: {}",
                action
                    .name()
                    .map(|n| short(Some(n), "ZES_DEVICE_ACTION_", 0))
                    .unwrap_or_else(|| format!("{:#x}", action.0))
            );
        }
    }
    Ok(())
}

fn format_w(w: f64) -> String {
    crate::output::format_float(w)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_implausible_rate_is_its_own_reason_not_a_number() {
        let glitch: Option<zes::metrics::Rate<f64>> =
            Some(Err(zes::metrics::RateError::Implausible { value: 214_772_961.0, bound: 912.0 }));
        match rate_reading(&glitch, |w| *w) {
            Reading::Err(u) => {
                assert_eq!(u.reason, Reason::Implausible);
                assert_eq!(u.reason.as_str(), "implausible");
                assert_eq!(u.code, "IMPLAUSIBLE");
            }
            Reading::Ok(v) => panic!("an implausible rate became the number {v}"),
        }
        assert!(matches!(rate_reading(&Some(Ok(249.0)), |w: &f64| *w), Reading::Ok(w) if w == 249.0));
        let refused = zes::Error::Call { function: "x", code: zes::sys::ze_result_t::ERROR_UNKNOWN };
        assert_eq!(unavailable(&refused).reason, Reason::Other);
    }
}
