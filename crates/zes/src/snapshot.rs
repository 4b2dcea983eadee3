//! Snapshots: every metric of a device read twice over one window, each with its own error.
//!
//! # Schema (stable field names; the CLI's JSON and the Python dicts use them)
//!
//! A [`Reading<T>`] serializes as `{"value": T}` or
//! `{"error": {"code": "ZE_RESULT_ERROR_INSUFFICIENT_PERMISSIONS", "reason": "permission",
//! "function": "zesPowerGetEnergyCounter", "message": "..."}}`, `reason` being one of
//! `permission`, `unsupported`, `device_lost`, `other`.
//!
//! [`DeviceSnapshot`]: `index`, `window_s`, `properties`, `power_w` (card power, else the sum of
//! the root power domains), `power_domains[]` (`domain`, `subdevice_id`, `power_w`),
//! `engine_utilization_pct`, `engines[]` (`group`, `subdevice_id`, `utilization_pct`),
//! `frequencies[]` (`domain`, `subdevice_id`, `actual_mhz`, `request_mhz`, `min_mhz`,
//! `max_mhz`, `throttle_ratio`, `throttle_reasons`), `temperatures[]` (`sensor`,
//! `subdevice_id`, `celsius`), `memory[]` (`mem_type`, `location`, `subdevice_id`,
//! `total_bytes`, `free_bytes`, `used_bytes`, `health`, `read_bytes_per_sec`,
//! `write_bytes_per_sec`), `pci` (`rx_bytes_per_sec`, `tx_bytes_per_sec`), `processes`.

use std::time::{Duration, Instant};

use serde::Serialize;
use zes_sys::*;

use crate::components::*;
use crate::device::{Device, DeviceProperties, PciStats, Process};
use crate::error::{Error, ErrorClass};
use crate::metrics::{self, RateError};
use crate::sysman::Sysman;
use crate::types::label;

/// Why a reading is missing.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ReadingError {
    /// `ZE_RESULT_ERROR_...`, or `FUNCTION_UNAVAILABLE`, `NO_SAMPLE` (the rate could not be
    /// derived: counter reset, identical timestamps), `IMPLAUSIBLE` (the rate is beyond what the
    /// device can do: a counter glitch).
    pub code: String,
    /// `permission`, `unsupported`, `device_lost`, `implausible` or `other`.
    pub reason: ErrorClass,
    /// The C function that failed, when one did.
    pub function: Option<&'static str>,
    /// Human-readable message.
    pub message: String,
}

impl From<&Error> for ReadingError {
    fn from(e: &Error) -> Self {
        ReadingError {
            code: e.code_name(),
            reason: e.class(),
            function: e.function(),
            message: e.to_string(),
        }
    }
}

/// One metric of a snapshot: its value, or why it is missing.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Reading<T> {
    Value(T),
    Error(ReadingError),
}

impl<T> Reading<T> {
    /// The value, if any.
    pub fn value(&self) -> Option<&T> {
        match self {
            Reading::Value(v) => Some(v),
            Reading::Error(_) => None,
        }
    }

    /// The error, if any.
    pub fn error(&self) -> Option<&ReadingError> {
        match self {
            Reading::Value(_) => None,
            Reading::Error(e) => Some(e),
        }
    }

    fn from_result(r: &Result<T, Error>) -> Self
    where
        T: Clone,
    {
        match r {
            Ok(v) => Reading::Value(v.clone()),
            Err(e) => Reading::Error(e.into()),
        }
    }

    /// A rate beyond what the device can physically do (see [`crate::metrics`]).
    fn implausible(what: &str, value: f64, bound: f64) -> Self {
        Reading::Error(ReadingError {
            code: "IMPLAUSIBLE".into(),
            reason: ErrorClass::Implausible,
            function: None,
            message: format!("{what}: {value} is beyond the plausible bound {bound} (a counter glitch)"),
        })
    }

    fn no_sample(what: &str) -> Self {
        Reading::Error(ReadingError {
            code: "NO_SAMPLE".into(),
            reason: ErrorClass::Other,
            function: None,
            message: format!("{what}: the counter went backwards or did not advance over the window"),
        })
    }
}

fn err<T>(e: &Error) -> Reading<T> {
    Reading::Error(e.into())
}

fn rate<S, T>(
    what: &str,
    a: &Result<S, Error>,
    b: &Result<S, Error>,
    f: impl Fn(&S, &S) -> metrics::Rate<T>,
) -> Reading<T> {
    match (a, b) {
        (Err(e), _) | (_, Err(e)) => Reading::Error(e.into()),
        (Ok(a), Ok(b)) => match f(a, b) {
            Ok(v) => Reading::Value(v),
            Err(RateError::NoSample) => Reading::no_sample(what),
            Err(RateError::Implausible { value, bound }) => Reading::implausible(what, value, bound),
        },
    }
}

/// The plausibility bound of a power domain (from its limits, else the physical cap).
fn power_bound(props: &Result<PowerProperties, Error>) -> f64 {
    props.as_ref().map_or(metrics::MAX_PLAUSIBLE_POWER_W, metrics::power_bound_w)
}

/// The first reading of a snapshot the driver refused for missing privileges: energy counters
/// (card and domains), temperatures, memory bandwidth, the telemetry real drivers refuse
/// without root.
fn permission_refusal(
    power_w: &Reading<f64>,
    power_domains: &Reading<Vec<PowerDomainReading>>,
    temperatures: &Reading<Vec<TemperatureReading>>,
    memory: &Reading<Vec<MemoryReading>>,
) -> Option<ReadingError> {
    let domains = power_domains.value().into_iter().flatten().map(|d| d.power_w.error());
    let sensors = temperatures.value().into_iter().flatten().map(|t| t.celsius.error());
    let modules = memory.value().into_iter().flatten().map(|m| m.read_bytes_per_sec.error());
    std::iter::once(power_w.error())
        .chain(domains)
        .chain(sensors)
        .chain(modules)
        .flatten()
        .find(|e| e.reason == ErrorClass::Permission)
        .cloned()
}

/// The overall utilization of a device that enumerated no engine group.
///
/// Real drivers do not refuse `zesDeviceEnumEngineGroups` without root: they enumerate zero
/// groups (the engine busy counters come from the kernel's perf interface, which unprivileged
/// processes may not open), while answering the device's other privileged telemetry (energy,
/// temperature, memory bandwidth) with `ZE_RESULT_ERROR_INSUFFICIENT_PERMISSIONS`. No call says
/// "permission" for the engines themselves, so the binding judges by the device's own answers
/// in the same snapshot, not by the process's user id (privileges are file permissions and
/// capabilities, not only root): zero groups while another reading was refused for permission
/// is a `permission` reading (code `ZE_RESULT_ERROR_INSUFFICIENT_PERMISSIONS`, function
/// `zesDeviceEnumEngineGroups`); zero groups on a device that answered everything else is
/// `NO_SAMPLE` (`other`): the device reports no engines.
fn no_engine_groups(permission_evidence: Option<ReadingError>) -> Reading<f64> {
    match permission_evidence {
        Some(evidence) => Reading::Error(ReadingError {
            code: ze_result_t::ERROR_INSUFFICIENT_PERMISSIONS.name_or_hex(),
            reason: ErrorClass::Permission,
            function: Some("zesDeviceEnumEngineGroups"),
            message: format!(
                "no engine groups enumerated while {} was refused for missing privileges: drivers \
                 hide engine groups from unprivileged processes",
                evidence.function.unwrap_or("other telemetry")
            ),
        }),
        None => Reading::no_sample("engines (none enumerated)"),
    }
}

/// A power domain's average power.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct PowerDomainReading {
    /// `CARD`, `PACKAGE`, `STACK`, `MEMORY`, `GPU`, `UNKNOWN`.
    pub domain: String,
    pub subdevice_id: Option<u32>,
    pub power_w: Reading<f64>,
}

/// An engine group's utilization.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct EngineReading {
    /// `COMPUTE_ALL`, `RENDER_SINGLE`, ...
    pub group: String,
    pub subdevice_id: Option<u32>,
    pub utilization_pct: Reading<f64>,
}

/// A frequency domain.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct FrequencyReading {
    /// `GPU`, `MEMORY`, `MEDIA`.
    pub domain: String,
    pub subdevice_id: Option<u32>,
    pub actual_mhz: Reading<Option<f64>>,
    pub request_mhz: Reading<Option<f64>>,
    pub min_mhz: Reading<f64>,
    pub max_mhz: Reading<f64>,
    pub throttle_ratio: Reading<f64>,
    /// Short names of the throttle reasons (`AVE_PWR_CAP`, `THERMAL_LIMIT`, ...).
    pub throttle_reasons: Reading<Vec<String>>,
}

/// A temperature sensor.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct TemperatureReading {
    /// `GLOBAL`, `GPU`, `MEMORY`, ...
    pub sensor: String,
    pub subdevice_id: Option<u32>,
    pub celsius: Reading<f64>,
}

/// A memory module.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct MemoryReading {
    /// `HBM`, `GDDR6`, ...
    pub mem_type: String,
    /// `SYSTEM` or `DEVICE`.
    pub location: String,
    pub subdevice_id: Option<u32>,
    pub total_bytes: Reading<u64>,
    pub free_bytes: Reading<u64>,
    pub used_bytes: Reading<u64>,
    /// `OK`, `DEGRADED`, `CRITICAL`, `REPLACE`, `UNKNOWN`.
    pub health: Reading<String>,
    pub read_bytes_per_sec: Reading<f64>,
    pub write_bytes_per_sec: Reading<f64>,
}

/// PCI throughput.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct PciReading {
    pub rx_bytes_per_sec: Reading<f64>,
    pub tx_bytes_per_sec: Reading<f64>,
}

/// Everything about one device over one window. See the [module documentation](self) for the
/// schema.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct DeviceSnapshot {
    /// Position of the device in [`Sysman::devices`] (0 for [`Device::snapshot`]).
    pub index: usize,
    /// The window the rates were computed over, seconds (measured, not requested).
    pub window_s: f64,
    pub properties: Reading<DeviceProperties>,
    /// Card power, else the sum of the power domains not on a sub-device.
    pub power_w: Reading<f64>,
    pub power_domains: Reading<Vec<PowerDomainReading>>,
    /// Overall utilization (the `ALL` group, else the busiest group).
    pub engine_utilization_pct: Reading<f64>,
    pub engines: Reading<Vec<EngineReading>>,
    pub frequencies: Reading<Vec<FrequencyReading>>,
    pub temperatures: Reading<Vec<TemperatureReading>>,
    pub memory: Reading<Vec<MemoryReading>>,
    pub pci: PciReading,
    pub processes: Reading<Vec<Process>>,
}

type R<T> = Result<T, Error>;

type PowerSample = (Power, R<PowerProperties>, R<zes_power_domain_t>, R<EnergyCounter>);
type EngineSample = (Engine, R<EngineProperties>, R<EngineStats>);
type FreqSample = (Frequency, R<FrequencyProperties>, R<ThrottleTime>);
type MemSample = (Memory, R<MemoryProperties>, R<MemoryBandwidth>);

/// First samples, taken before the window's sleep.
struct Before {
    start: Instant,
    card: R<Power>,
    power: R<Vec<PowerSample>>,
    engines: R<Vec<EngineSample>>,
    freqs: R<Vec<FreqSample>>,
    mems: R<Vec<MemSample>>,
    card_energy: R<EnergyCounter>,
    pci: R<PciStats>,
}

impl Device {
    fn sample_before(&self) -> Before {
        let card = self.card_power_domain();
        let card_energy = card.as_ref().map_err(Clone::clone).and_then(|p| p.energy_counter());
        Before {
            start: Instant::now(),
            power: self.power_domains().map(|v| {
                v.into_iter()
                    .map(|p| {
                        let (props, domain) = (p.properties(), p.domain());
                        let e = p.energy_counter();
                        (p, props, domain, e)
                    })
                    .collect()
            }),
            engines: self.engines().map(|v| {
                v.into_iter()
                    .map(|e| {
                        let props = e.properties();
                        let s = e.activity();
                        (e, props, s)
                    })
                    .collect()
            }),
            freqs: self.frequency_domains().map(|v| {
                v.into_iter()
                    .map(|f| {
                        let props = f.properties();
                        let t = f.throttle_time();
                        (f, props, t)
                    })
                    .collect()
            }),
            mems: self.memory_modules().map(|v| {
                v.into_iter()
                    .map(|m| {
                        let props = m.properties();
                        let b = m.bandwidth();
                        (m, props, b)
                    })
                    .collect()
            }),
            card,
            card_energy,
            pci: self.pci_stats(),
        }
    }

    fn sample_after(&self, before: Before, index: usize) -> DeviceSnapshot {
        let power_domains: Reading<Vec<PowerDomainReading>> = match &before.power {
            Err(e) => err(e),
            Ok(list) => Reading::Value(
                list.iter()
                    .map(|(p, props, domain, e0)| PowerDomainReading {
                        domain: match domain {
                            Ok(d) => label(d.name(), d.0, "ZES_POWER_DOMAIN_"),
                            Err(_) => "UNKNOWN".into(),
                        },
                        subdevice_id: props.as_ref().ok().and_then(|p| p.subdevice_id),
                        power_w: rate("power", e0, &p.energy_counter(), |a, b| {
                            metrics::power_watts_within(a, b, power_bound(props))
                        }),
                    })
                    .collect(),
            ),
        };
        let power_w = match (&before.card, &before.card_energy) {
            (Ok(card), e0) => {
                let bound = power_bound(&card.properties());
                rate("card power", e0, &card.energy_counter(), |a, b| {
                    metrics::power_watts_within(a, b, bound)
                })
            }
            (Err(card_err), _) => match &power_domains {
                Reading::Value(list) => {
                    let roots: Vec<&PowerDomainReading> =
                        list.iter().filter(|d| d.subdevice_id.is_none()).collect();
                    if roots.is_empty() {
                        err(card_err)
                    } else if let Some(bad) = roots.iter().find_map(|d| d.power_w.error()) {
                        Reading::Error(bad.clone())
                    } else {
                        Reading::Value(roots.iter().filter_map(|d| d.power_w.value()).sum())
                    }
                }
                Reading::Error(e) => Reading::Error(e.clone()),
            },
        };
        let engines: Reading<Vec<EngineReading>> = match &before.engines {
            Err(e) => err(e),
            Ok(list) => Reading::Value(
                list.iter()
                    .map(|(e, props, s0)| EngineReading {
                        group: match props {
                            Ok(p) => label(p.group.name(), p.group.0, "ZES_ENGINE_GROUP_"),
                            Err(_) => "UNKNOWN".into(),
                        },
                        subdevice_id: props.as_ref().ok().and_then(|p| p.subdevice_id),
                        utilization_pct: rate("engine", s0, &e.activity(), metrics::engine_utilization),
                    })
                    .collect(),
            ),
        };
        let frequencies = match &before.freqs {
            Err(e) => err(e),
            Ok(list) => Reading::Value(
                list.iter()
                    .map(|(f, props, t0)| {
                        let state = f.state();
                        FrequencyReading {
                            domain: match props {
                                Ok(p) => label(p.domain.name(), p.domain.0, "ZES_FREQ_DOMAIN_"),
                                Err(_) => "UNKNOWN".into(),
                            },
                            subdevice_id: props.as_ref().ok().and_then(|p| p.subdevice_id),
                            actual_mhz: Reading::from_result(
                                &state.as_ref().map(|s| s.actual_mhz).map_err(Clone::clone),
                            ),
                            request_mhz: Reading::from_result(
                                &state.as_ref().map(|s| s.request_mhz).map_err(Clone::clone),
                            ),
                            min_mhz: Reading::from_result(
                                &props.as_ref().map(|p| p.min_mhz).map_err(Clone::clone),
                            ),
                            max_mhz: Reading::from_result(
                                &props.as_ref().map(|p| p.max_mhz).map_err(Clone::clone),
                            ),
                            throttle_ratio: rate("throttle", t0, &f.throttle_time(), metrics::throttle_ratio),
                            throttle_reasons: Reading::from_result(
                                &state
                                    .as_ref()
                                    .map(|s| {
                                        s.throttle_reasons
                                            .names()
                                            .iter()
                                            .map(|n| {
                                                n.trim_start_matches("ZES_FREQ_THROTTLE_REASON_FLAG_")
                                                    .to_owned()
                                            })
                                            .collect()
                                    })
                                    .map_err(Clone::clone),
                            ),
                        }
                    })
                    .collect(),
            ),
        };
        let temperatures = match self.temperature_sensors() {
            Err(e) => err(&e),
            Ok(list) => Reading::Value(
                list.iter()
                    .map(|t| {
                        let props = t.properties();
                        TemperatureReading {
                            sensor: match &props {
                                Ok(p) => label(p.sensor.name(), p.sensor.0, "ZES_TEMP_SENSORS_"),
                                Err(_) => "UNKNOWN".into(),
                            },
                            subdevice_id: props.as_ref().ok().and_then(|p| p.subdevice_id),
                            celsius: Reading::from_result(&t.state()),
                        }
                    })
                    .collect(),
            ),
        };
        let memory = match &before.mems {
            Err(e) => err(e),
            Ok(list) => Reading::Value(
                list.iter()
                    .map(|(m, props, b0)| {
                        let state = m.state();
                        let rates = rate("memory bandwidth", b0, &m.bandwidth(), metrics::memory_bandwidth);
                        let (read, write) = match rates {
                            Reading::Value(r) => {
                                (Reading::Value(r.read_bytes_per_sec), Reading::Value(r.write_bytes_per_sec))
                            }
                            Reading::Error(e) => (Reading::Error(e.clone()), Reading::Error(e)),
                        };
                        let st = |f: fn(&MemoryState) -> u64| {
                            Reading::from_result(&state.as_ref().map(f).map_err(Clone::clone))
                        };
                        MemoryReading {
                            mem_type: match props {
                                Ok(p) => label(p.mem_type.name(), p.mem_type.0, "ZES_MEM_TYPE_"),
                                Err(_) => "UNKNOWN".into(),
                            },
                            location: match props {
                                Ok(p) => label(p.location.name(), p.location.0, "ZES_MEM_LOC_"),
                                Err(_) => "UNKNOWN".into(),
                            },
                            subdevice_id: props.as_ref().ok().and_then(|p| p.subdevice_id),
                            total_bytes: st(|s| s.size),
                            free_bytes: st(|s| s.free),
                            used_bytes: st(|s| s.size.saturating_sub(s.free)),
                            health: Reading::from_result(
                                &state
                                    .as_ref()
                                    .map(|s| label(s.health.name(), s.health.0, "ZES_MEM_HEALTH_"))
                                    .map_err(Clone::clone),
                            ),
                            read_bytes_per_sec: read,
                            write_bytes_per_sec: write,
                        }
                    })
                    .collect(),
            ),
        };
        // Judged after the other readings: no engine group may be a matter of privileges.
        let permission_evidence = permission_refusal(&power_w, &power_domains, &temperatures, &memory);
        let engine_utilization_pct = match (&before.engines, &engines) {
            (Ok(list), Reading::Value(readings)) => {
                // Device-level groups where there are any, else the sub-devices' groups.
                let has_root = readings.iter().any(|r| r.subdevice_id.is_none());
                let groups: Vec<(zes_engine_group_t, f64)> = list
                    .iter()
                    .zip(readings)
                    .filter(|(_, r)| !has_root || r.subdevice_id.is_none())
                    .filter_map(|((_, p, _), r)| Some((p.as_ref().ok()?.group, *r.utilization_pct.value()?)))
                    .collect();
                match metrics::overall_utilization(&groups) {
                    Some(u) => Reading::Value(u),
                    None => match readings.iter().find_map(|r| r.utilization_pct.error()) {
                        Some(e) => Reading::Error(e.clone()),
                        None if readings.is_empty() => no_engine_groups(permission_evidence),
                        None => Reading::no_sample("engines"),
                    },
                }
            }
            (Err(e), _) => err(e),
            _ => Reading::no_sample("engines"),
        };
        let pci = match rate("pci", &before.pci, &self.pci_stats(), metrics::pci_throughput) {
            Reading::Value(t) => PciReading {
                rx_bytes_per_sec: Reading::Value(t.rx_bytes_per_sec),
                tx_bytes_per_sec: Reading::Value(t.tx_bytes_per_sec),
            },
            Reading::Error(e) => PciReading {
                rx_bytes_per_sec: Reading::Error(e.clone()),
                tx_bytes_per_sec: Reading::Error(e),
            },
        };
        DeviceSnapshot {
            index,
            window_s: before.start.elapsed().as_secs_f64(),
            properties: Reading::from_result(&self.properties()),
            power_w,
            power_domains,
            engine_utilization_pct,
            engines,
            frequencies,
            temperatures,
            memory,
            pci,
            processes: Reading::from_result(&self.processes()),
        }
    }

    /// Reads every metric twice, `window` apart (one sleep for all of them), and derives the
    /// rates. Never fails as a whole: each metric keeps its own error.
    #[doc(alias = "nvmlDeviceGetSamples")]
    pub fn snapshot(&self, window: Duration) -> DeviceSnapshot {
        self.snapshot_with(|| std::thread::sleep(window))
    }

    /// As [`Device::snapshot`], with the window being whatever `wait` does between the two
    /// samples (wait for a job step, an event, or step a simulated clock).
    pub fn snapshot_with(&self, wait: impl FnOnce()) -> DeviceSnapshot {
        let before = self.sample_before();
        wait();
        self.sample_after(before, 0)
    }
}

impl Sysman {
    /// Snapshots every device concurrently (one thread per device, one window for all).
    ///
    /// # Errors
    /// [`Error::Call`] when the devices cannot be enumerated.
    pub fn snapshot_all(&self, window: Duration) -> Result<Vec<DeviceSnapshot>, Error> {
        let devices = self.devices()?;
        Ok(std::thread::scope(|scope| {
            let handles: Vec<_> = devices
                .iter()
                .enumerate()
                .map(|(i, d)| {
                    scope.spawn(move || {
                        let before = d.sample_before();
                        std::thread::sleep(window);
                        d.sample_after(before, i)
                    })
                })
                .collect();
            handles.into_iter().map(|h| h.join().expect("snapshot thread panicked")).collect()
        }))
    }

    /// Snapshots every device one after the other (for comparison with [`Sysman::snapshot_all`]).
    ///
    /// # Errors
    /// [`Error::Call`] when the devices cannot be enumerated.
    pub fn snapshot_all_sequential(&self, window: Duration) -> Result<Vec<DeviceSnapshot>, Error> {
        self.snapshot_all_with(|| std::thread::sleep(window))
    }

    /// Snapshots every device one after the other, the window being whatever `wait` does
    /// between the first samples of all devices and the second ones.
    ///
    /// # Errors
    /// [`Error::Call`] when the devices cannot be enumerated.
    pub fn snapshot_all_with(&self, wait: impl FnOnce()) -> Result<Vec<DeviceSnapshot>, Error> {
        let devices = self.devices()?;
        let befores: Vec<_> = devices.iter().map(|d| d.sample_before()).collect();
        wait();
        Ok(devices.iter().zip(befores).enumerate().map(|(i, (d, b))| d.sample_after(b, i)).collect())
    }
}
