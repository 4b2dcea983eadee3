//! Derived metrics: rates computed from two raw counter samples.
//!
//! Every function returns `None` instead of a wrong number when the samples cannot give one:
//! the second timestamp is not after the first (identical or reordered samples), or a counter
//! went backwards (a counter reset, a wrap of a narrow hardware counter, a driver reload). A
//! counter that went backwards never yields a huge value ("terawatts"). Missing permissions are
//! not metrics' business: the samples are then absent, and so is the metric.

use serde::Serialize;

use crate::components::{EnergyCounter, EngineStats, MemoryBandwidth, ThrottleTime};
use crate::device::PciStats;
use zes_sys::zes_engine_group_t;

fn elapsed_us(t0: u64, t1: u64) -> Option<f64> {
    match t1.checked_sub(t0) {
        Some(dt) if dt > 0 => Some(dt as f64),
        _ => None,
    }
}

fn delta(c0: u64, c1: u64) -> Option<f64> {
    c1.checked_sub(c0).map(|d| d as f64)
}

/// Average power in watts between two energy samples (µJ / µs = W).
pub fn power_watts(a: &EnergyCounter, b: &EnergyCounter) -> Option<f64> {
    let dt = elapsed_us(a.timestamp, b.timestamp)?;
    Some(delta(a.energy, b.energy)? / dt)
}

/// Engine utilization in percent (0 to 100) between two activity samples.
pub fn engine_utilization(a: &EngineStats, b: &EngineStats) -> Option<f64> {
    let dt = elapsed_us(a.timestamp, b.timestamp)?;
    let busy = delta(a.active_time, b.active_time)?;
    Some((busy / dt * 100.0).clamp(0.0, 100.0))
}

/// The overall utilization of a device from per-group utilizations: the `ALL` group where the
/// driver reports one, otherwise the busiest group. `None` for an empty list.
pub fn overall_utilization(groups: &[(zes_engine_group_t, f64)]) -> Option<f64> {
    if let Some(&(_, all)) = groups.iter().find(|(g, _)| *g == zes_engine_group_t::ALL) {
        return Some(all);
    }
    groups.iter().map(|&(_, u)| u).fold(None, |m: Option<f64>, u| Some(m.map_or(u, |m| m.max(u))))
}

/// Read and write rates in bytes per second.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct Rates {
    pub read_bytes_per_sec: f64,
    pub write_bytes_per_sec: f64,
}

/// Memory read/write bandwidth between two samples.
pub fn memory_bandwidth(a: &MemoryBandwidth, b: &MemoryBandwidth) -> Option<Rates> {
    let dt = elapsed_us(a.timestamp, b.timestamp)? / 1e6;
    Some(Rates {
        read_bytes_per_sec: delta(a.read_counter, b.read_counter)? / dt,
        write_bytes_per_sec: delta(a.write_counter, b.write_counter)? / dt,
    })
}

/// Memory bandwidth use in percent of the module's maximum (0 to 100).
pub fn memory_bandwidth_utilization(a: &MemoryBandwidth, b: &MemoryBandwidth) -> Option<f64> {
    let rates = memory_bandwidth(a, b)?;
    if b.max_bandwidth == 0 {
        return None;
    }
    let used = rates.read_bytes_per_sec + rates.write_bytes_per_sec;
    Some((used / b.max_bandwidth as f64 * 100.0).clamp(0.0, 100.0))
}

/// PCI receive and transmit rates in bytes per second.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct Throughput {
    pub rx_bytes_per_sec: f64,
    pub tx_bytes_per_sec: f64,
}

/// PCI throughput between two samples.
pub fn pci_throughput(a: &PciStats, b: &PciStats) -> Option<Throughput> {
    let dt = elapsed_us(a.timestamp, b.timestamp)? / 1e6;
    Some(Throughput {
        rx_bytes_per_sec: delta(a.rx_counter, b.rx_counter)? / dt,
        tx_bytes_per_sec: delta(a.tx_counter, b.tx_counter)? / dt,
    })
}

/// Fraction of the time (0 to 1) the frequency domain was throttled between two samples.
pub fn throttle_ratio(a: &ThrottleTime, b: &ThrottleTime) -> Option<f64> {
    let dt = elapsed_us(a.timestamp, b.timestamp)?;
    Some((delta(a.throttle_time, b.throttle_time)? / dt).clamp(0.0, 1.0))
}
