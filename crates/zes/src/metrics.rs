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

#[cfg(test)]
mod tests {
    use super::*;

    fn e(energy: u64, timestamp: u64) -> EnergyCounter {
        EnergyCounter { energy, timestamp }
    }

    #[test]
    fn power_is_microjoules_per_microsecond() {
        assert_eq!(power_watts(&e(1_000_000, 10_000_000), &e(151_000_000, 11_000_000)), Some(150.0));
        assert_eq!(power_watts(&e(0, 0), &e(0, 1)), Some(0.0));
    }

    #[test]
    fn power_after_a_counter_reset_or_wrap_is_none_never_terawatts() {
        // Reset (driver reload): energy drops back.
        assert_eq!(power_watts(&e(5_000_000_000, 1_000_000), &e(1_000, 2_000_000)), None);
        // Wrap of the 64-bit counter.
        assert_eq!(power_watts(&e(u64::MAX - 10, 1_000_000), &e(5, 2_000_000)), None);
        // Identical and reordered timestamps.
        assert_eq!(power_watts(&e(1, 5), &e(2, 5)), None);
        assert_eq!(power_watts(&e(1, 6), &e(2, 5)), None);
    }

    #[test]
    fn engine_utilization_is_clamped_and_safe() {
        let s = |active_time, timestamp| EngineStats { active_time, timestamp };
        assert_eq!(engine_utilization(&s(0, 0), &s(500, 1000)), Some(50.0));
        assert_eq!(engine_utilization(&s(0, 0), &s(1500, 1000)), Some(100.0), "clamped");
        assert_eq!(engine_utilization(&s(900, 0), &s(100, 1000)), None, "reset");
        assert_eq!(engine_utilization(&s(0, 1000), &s(10, 1000)), None, "same timestamp");
    }

    #[test]
    fn overall_prefers_the_all_group_else_the_busiest() {
        let g = zes_engine_group_t::COMPUTE_ALL;
        let m = zes_engine_group_t::MEDIA_ALL;
        assert_eq!(overall_utilization(&[(g, 30.0), (m, 70.0)]), Some(70.0));
        assert_eq!(overall_utilization(&[(g, 30.0), (zes_engine_group_t::ALL, 40.0)]), Some(40.0));
        assert_eq!(overall_utilization(&[]), None);
        assert_eq!(overall_utilization(&[(zes_engine_group_t(0x99), 12.5)]), Some(12.5));
    }

    #[test]
    fn memory_bandwidth_in_bytes_per_second() {
        let b = |r, w, t| MemoryBandwidth {
            read_counter: r,
            write_counter: w,
            max_bandwidth: 1_000_000,
            timestamp: t,
        };
        let rates = memory_bandwidth(&b(0, 0, 0), &b(500_000, 250_000, 500_000)).unwrap();
        assert_eq!(rates.read_bytes_per_sec, 1_000_000.0);
        assert_eq!(rates.write_bytes_per_sec, 500_000.0);
        assert_eq!(memory_bandwidth_utilization(&b(0, 0, 0), &b(250_000, 0, 500_000)), Some(50.0));
        assert_eq!(memory_bandwidth(&b(10, 0, 0), &b(5, 10, 10)), None, "read counter reset");
        assert_eq!(memory_bandwidth(&b(0, 10, 0), &b(5, 5, 10)), None, "write counter reset");
        assert_eq!(memory_bandwidth(&b(0, 0, 7), &b(5, 5, 7)), None);
        let mut zero_max = b(10, 10, 10);
        zero_max.max_bandwidth = 0;
        assert_eq!(memory_bandwidth_utilization(&b(0, 0, 0), &zero_max), None);
    }

    #[test]
    fn pci_throughput_and_throttle_ratio() {
        let speed = crate::device::PciSpeed { gen: None, width: None, max_bandwidth: None };
        let p = |rx, tx, timestamp| PciStats {
            timestamp,
            replay_counter: 0,
            packet_counter: 0,
            rx_counter: rx,
            tx_counter: tx,
            speed,
        };
        let t = pci_throughput(&p(0, 0, 0), &p(2_000_000, 1_000_000, 2_000_000)).unwrap();
        assert_eq!((t.rx_bytes_per_sec, t.tx_bytes_per_sec), (1_000_000.0, 500_000.0));
        assert_eq!(pci_throughput(&p(10, 0, 0), &p(0, 0, 1)), None);
        assert_eq!(pci_throughput(&p(0, 0, 3), &p(1, 1, 3)), None);
        let th = |throttle_time, timestamp| ThrottleTime { throttle_time, timestamp };
        assert_eq!(throttle_ratio(&th(0, 0), &th(250, 1000)), Some(0.25));
        assert_eq!(throttle_ratio(&th(0, 0), &th(2000, 1000)), Some(1.0));
        assert_eq!(throttle_ratio(&th(100, 0), &th(0, 1000)), None);
        assert_eq!(throttle_ratio(&th(0, 9), &th(1, 9)), None);
    }
}
