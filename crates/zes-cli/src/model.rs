//! The data zes-smi shows: one stable, serializable model shared by tables, CSV, JSON and the
//! exporter. Every live value is a [`Reading`]: the value, or why it could not be read.

use serde::ser::{Serialize, SerializeMap, Serializer};

/// Why a value is missing (the `error` field of a failed reading in JSON).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Reason {
    /// `ZE_RESULT_ERROR_INSUFFICIENT_PERMISSIONS`: run as root or grant access.
    Permission,
    /// The device, driver or loader does not support it.
    Unsupported,
    /// The device is gone (`ZE_RESULT_ERROR_DEVICE_LOST`).
    DeviceLost,
    /// A derived value that needs a second sample (watch/exporter before the second interval).
    Pending,
    /// A derived rate beyond what the device can physically do (a counter glitch): refused.
    Implausible,
    /// Any other failure.
    Other,
}

impl Reason {
    pub fn as_str(self) -> &'static str {
        match self {
            Reason::Permission => "permission",
            Reason::Unsupported => "unsupported",
            Reason::DeviceLost => "device_lost",
            Reason::Pending => "pending",
            Reason::Implausible => "implausible",
            Reason::Other => "other",
        }
    }
    /// The short marker printed in tables in place of the value.
    pub fn marker(self) -> &'static str {
        match self {
            Reason::Permission => "[P]",
            Reason::Unsupported => "[N/A]",
            Reason::DeviceLost => "[LOST]",
            Reason::Pending => "[..]",
            Reason::Implausible => "[BAD]",
            Reason::Other => "[ERR]",
        }
    }
}

/// A failed read: the reason class, the raw result code name and the C function concerned.
#[derive(Clone, Debug, PartialEq)]
pub struct Unavailable {
    pub reason: Reason,
    pub code: String,
    pub function: Option<String>,
}

/// A value or why it is missing.
#[derive(Clone, Debug, PartialEq)]
pub enum Reading<T> {
    Ok(T),
    Err(Unavailable),
}

impl<T> Reading<T> {
    pub fn ok(&self) -> Option<&T> {
        match self {
            Reading::Ok(v) => Some(v),
            Reading::Err(_) => None,
        }
    }
    pub fn err(&self) -> Option<&Unavailable> {
        match self {
            Reading::Ok(_) => None,
            Reading::Err(e) => Some(e),
        }
    }
    pub fn map<U>(self, f: impl FnOnce(T) -> U) -> Reading<U> {
        match self {
            Reading::Ok(v) => Reading::Ok(f(v)),
            Reading::Err(e) => Reading::Err(e),
        }
    }
    pub fn as_ref(&self) -> Reading<&T> {
        match self {
            Reading::Ok(v) => Reading::Ok(v),
            Reading::Err(e) => Reading::Err(e.clone()),
        }
    }
    pub fn pending() -> Self {
        Reading::Err(Unavailable { reason: Reason::Pending, code: "PENDING".into(), function: None })
    }
    pub fn unsupported(what: &str) -> Self {
        Reading::Err(Unavailable {
            reason: Reason::Unsupported,
            code: "ZE_RESULT_ERROR_UNSUPPORTED_FEATURE".into(),
            function: Some(what.into()),
        })
    }
}

/// A successful reading serializes as the value itself; a failed one as
/// `{"error": "<reason>", "code": "<ZE_RESULT_...>", "function": "<zes...>"}`.
impl<T: Serialize> Serialize for Reading<T> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Reading::Ok(v) => v.serialize(s),
            Reading::Err(e) => {
                let mut map = s.serialize_map(Some(3))?;
                map.serialize_entry("error", e.reason.as_str())?;
                map.serialize_entry("code", &e.code)?;
                map.serialize_entry("function", &e.function)?;
                map.end()
            }
        }
    }
}

/// What `list` shows, and the identity part of every other record.
#[derive(Clone, Debug, serde::Serialize)]
pub struct DeviceSummary {
    pub index: usize,
    /// The position of the device's driver among the drivers found (`zes::Device::driver_index`).
    pub driver: usize,
    pub name: String,
    pub uuid: String,
    pub pci_address: Option<String>,
    pub memory_bytes: Option<u64>,
    pub driver_version: String,
    pub subdevices: u32,
}

#[derive(Clone, Debug, serde::Serialize)]
pub struct MemoryModule {
    pub index: usize,
    pub mem_type: String,
    pub location: String,
    pub subdevice: Option<u32>,
    pub size_bytes: u64,
    pub bus_width: Option<u32>,
    pub channels: Option<u32>,
    pub max_bandwidth_bytes_per_s: Option<u64>,
}

#[derive(Clone, Debug, serde::Serialize)]
pub struct PowerDomain {
    pub index: usize,
    pub domain: String,
    pub subdevice: Option<u32>,
    pub can_control: bool,
    pub default_limit_w: Option<f64>,
    pub min_limit_w: Option<f64>,
    pub max_limit_w: Option<f64>,
    pub sustained_limit_w: Reading<Option<f64>>,
}

#[derive(Clone, Debug, serde::Serialize)]
pub struct FrequencyDomain {
    pub index: usize,
    pub domain: String,
    pub subdevice: Option<u32>,
    pub can_control: bool,
    pub min_hz: f64,
    pub max_hz: f64,
    pub available_hz: Reading<Vec<f64>>,
    pub range_hz: Reading<[f64; 2]>,
}

#[derive(Clone, Debug, serde::Serialize)]
pub struct TemperatureSensor {
    pub index: usize,
    pub sensor: String,
    pub subdevice: Option<u32>,
    pub max_c: f64,
    pub critical_enabled: Reading<bool>,
}

#[derive(Clone, Debug, serde::Serialize)]
pub struct EngineGroup {
    pub index: usize,
    pub group: String,
    pub subdevice: Option<u32>,
}

#[derive(Clone, Debug, serde::Serialize)]
pub struct PciInfo {
    pub address: String,
    pub max_gen: Option<i32>,
    pub max_width: Option<i32>,
    pub max_bandwidth_bytes_per_s: Option<i64>,
}

#[derive(Clone, Debug, serde::Serialize)]
pub struct EccInfo {
    pub available: bool,
    pub configurable: bool,
    pub current: String,
    pub pending: String,
}

#[derive(Clone, Debug, serde::Serialize)]
pub struct FanInfo {
    pub index: usize,
    pub subdevice: Option<u32>,
    pub max_rpm: Option<i32>,
}

#[derive(Clone, Debug, serde::Serialize)]
pub struct FirmwareInfo {
    pub index: usize,
    pub name: String,
    pub version: String,
    pub subdevice: Option<u32>,
}

/// Everything static about one device (`info`).
#[derive(Clone, Debug, serde::Serialize)]
pub struct DeviceInfo {
    #[serde(flatten)]
    pub summary: DeviceSummary,
    pub vendor: String,
    pub brand: String,
    pub model: String,
    pub serial: String,
    pub board: String,
    pub device_type: String,
    pub device_id: String,
    pub core_clock_hz: Option<f64>,
    pub memory_modules: Reading<Vec<MemoryModule>>,
    pub power_domains: Reading<Vec<PowerDomain>>,
    pub frequency_domains: Reading<Vec<FrequencyDomain>>,
    pub temperature_sensors: Reading<Vec<TemperatureSensor>>,
    pub engine_groups: Reading<Vec<EngineGroup>>,
    pub pci: Reading<PciInfo>,
    pub ecc: Reading<EccInfo>,
    pub fans: Reading<Vec<FanInfo>>,
    pub firmware: Reading<Vec<FirmwareInfo>>,
}

#[derive(Clone, Debug, serde::Serialize)]
pub struct PowerStat {
    pub domain: String,
    pub subdevice: Option<u32>,
    pub power_w: Reading<f64>,
    pub energy_j: Reading<f64>,
    pub sustained_limit_w: Reading<Option<f64>>,
}

#[derive(Clone, Debug, serde::Serialize)]
pub struct FrequencyStat {
    pub domain: String,
    pub subdevice: Option<u32>,
    pub actual_hz: Reading<f64>,
    pub request_hz: Reading<f64>,
    pub throttle_reasons: Reading<Vec<String>>,
    pub throttle_ratio: Reading<f64>,
}

#[derive(Clone, Debug, serde::Serialize)]
pub struct TemperatureStat {
    pub sensor: String,
    pub subdevice: Option<u32>,
    pub celsius: Reading<f64>,
}

#[derive(Clone, Debug, serde::Serialize)]
pub struct MemoryStat {
    pub index: usize,
    pub location: String,
    pub subdevice: Option<u32>,
    pub total_bytes: Reading<u64>,
    pub free_bytes: Reading<u64>,
    pub used_bytes: Reading<u64>,
    pub health: Reading<String>,
    pub read_bytes: Reading<u64>,
    pub write_bytes: Reading<u64>,
    pub read_bytes_per_s: Reading<f64>,
    pub write_bytes_per_s: Reading<f64>,
}

#[derive(Clone, Debug, serde::Serialize)]
pub struct EngineStat {
    pub group: String,
    pub subdevice: Option<u32>,
    pub utilization: Reading<f64>,
}

#[derive(Clone, Debug, serde::Serialize)]
pub struct PciStat {
    pub rx_bytes: Reading<u64>,
    pub tx_bytes: Reading<u64>,
    pub rx_bytes_per_s: Reading<f64>,
    pub tx_bytes_per_s: Reading<f64>,
}

#[derive(Clone, Debug, serde::Serialize)]
pub struct RasStat {
    pub category: String,
    pub subdevice: Option<u32>,
    pub correctable: Reading<u64>,
    pub uncorrectable: Reading<u64>,
}

#[derive(Clone, Debug, serde::Serialize)]
pub struct FanStat {
    pub index: usize,
    pub rpm: Reading<f64>,
}

/// One sample of every live metric of a device (`stats`, `watch`, exporter).
#[derive(Clone, Debug, serde::Serialize)]
pub struct DeviceStats {
    #[serde(flatten)]
    pub summary: DeviceSummary,
    /// Seconds between the two samples the derived values come from.
    pub window_s: f64,
    /// Whether the device answered at all; false when it is lost.
    pub up: bool,
    pub power: Reading<Vec<PowerStat>>,
    pub frequency: Reading<Vec<FrequencyStat>>,
    pub temperature: Reading<Vec<TemperatureStat>>,
    pub memory: Reading<Vec<MemoryStat>>,
    pub engines: Reading<Vec<EngineStat>>,
    pub pci: Reading<PciStat>,
    pub ras: Reading<Vec<RasStat>>,
    pub fans: Reading<Vec<FanStat>>,
    pub processes: Reading<Vec<ProcessStat>>,
}

/// One process using a device.
#[derive(Clone, Debug, serde::Serialize)]
pub struct ProcessStat {
    pub pid: u32,
    pub name: Option<String>,
    pub memory_bytes: u64,
    pub shared_bytes: u64,
    pub engines: Vec<String>,
}

impl DeviceStats {
    /// Every failed reading of this sample, as (metric, reason): for read-error counters.
    pub fn failures(&self) -> Vec<(&'static str, Reason)> {
        fn top<T>(out: &mut Vec<(&'static str, Reason)>, name: &'static str, r: &Reading<T>) {
            if let Reading::Err(e) = r {
                if e.reason != Reason::Pending {
                    out.push((name, e.reason));
                }
            }
        }
        let mut out = Vec::new();
        top(&mut out, "power", &self.power);
        top(&mut out, "frequency", &self.frequency);
        top(&mut out, "temperature", &self.temperature);
        top(&mut out, "memory", &self.memory);
        top(&mut out, "engines", &self.engines);
        top(&mut out, "pci", &self.pci);
        top(&mut out, "ras", &self.ras);
        top(&mut out, "fans", &self.fans);
        top(&mut out, "processes", &self.processes);
        if let Reading::Ok(v) = &self.power {
            for p in v {
                top(&mut out, "power", &p.energy_j);
            }
        }
        if let Reading::Ok(v) = &self.temperature {
            for t in v {
                top(&mut out, "temperature", &t.celsius);
            }
        }
        if let Reading::Ok(v) = &self.frequency {
            for f in v {
                top(&mut out, "frequency", &f.actual_hz);
            }
        }
        if let Reading::Ok(v) = &self.memory {
            for m in v {
                top(&mut out, "memory", &m.free_bytes);
                top(&mut out, "memory_bandwidth", &m.read_bytes);
            }
        }
        if let Reading::Ok(v) = &self.engines {
            for e in v {
                top(&mut out, "engines", &e.utilization);
            }
        }
        out
    }
}
