//! Derived metrics: rates computed from two raw counter samples.
//!
//! Every function returns a [`RateError`] instead of a wrong number when the samples cannot give
//! one:
//!
//! * [`RateError::NoSample`]: the second timestamp is not after the first (identical or
//!   reordered samples), or a counter went backwards (a counter reset, a wrap of a narrow
//!   hardware counter, a driver reload). A counter that went backwards never yields a huge value.
//! * [`RateError::Implausible`]: the rate is beyond what the device can physically do. A counter
//!   that read near zero once and then recovered (a glitch, a wrap undone by a driver) goes
//!   *forwards* by its whole history: over a one-second window that is megawatts. Every rate
//!   therefore has a documented plausibility bound:
//!
//! | rate | bound |
//! |---|---|
//! | power ([`power_watts_within`]) | [`power_bound_w`]: [`POWER_LIMIT_FACTOR`] x the domain's max (else default) power limit, never above [`MAX_PLAUSIBLE_POWER_W`]; [`power_watts`] uses [`MAX_PLAUSIBLE_POWER_W`] |
//! | engine utilization | 100 % x (1 + [`RATIO_TOLERANCE`]); values between 100 % and that are clamped to 100 % |
//! | throttle ratio | 1 x (1 + [`RATIO_TOLERANCE`]), clamped to 1 |
//! | memory bandwidth | read + write <= the module's `maxBandwidth` x (1 + [`RATIO_TOLERANCE`]), or [`MAX_PLAUSIBLE_MEMORY_BYTES_PER_SEC`] when it reports none |
//! | PCI throughput | rx and tx each <= the link's `maxBandwidth` x (1 + [`RATIO_TOLERANCE`]), or [`MAX_PLAUSIBLE_PCI_BYTES_PER_SEC`] when it reports none |
//!
//! Missing permissions are not metrics' business: the samples are then absent, and so is the
//! metric.

use serde::Serialize;

use crate::components::{EnergyCounter, EngineStats, MemoryBandwidth, PowerProperties, ThrottleTime};
use crate::device::PciStats;
use zes_sys::zes_engine_group_t;

/// No power domain of one device draws this much (the largest accelerator modules are rated
/// below 2 kW): the bound when the domain reports no power limit.
pub const MAX_PLAUSIBLE_POWER_W: f64 = 10_000.0;

/// How far above its max power limit a domain's average power is still plausible: the limit is
/// a sustained (averaged) one, short windows see bursts above it (burst and peak limits are
/// typically 1.2 to 2 times the sustained limit).
pub const POWER_LIMIT_FACTOR: f64 = 4.0;

/// How far above its full scale a ratio (utilization, throttle ratio, bandwidth use) is still
/// accepted: the busy time and the timestamp come from different clocks, so a fully busy engine
/// over a short window reads slightly above 100 %. Values in the tolerance are clamped to the
/// full scale; values above it are implausible.
pub const RATIO_TOLERANCE: f64 = 0.05;

/// The memory bandwidth bound (read + write, bytes per second) when a module reports no
/// maximum: 100 TB/s, over ten times the fastest HBM stacks of one device.
pub const MAX_PLAUSIBLE_MEMORY_BYTES_PER_SEC: f64 = 100e12;

/// The PCI throughput bound per direction (bytes per second) when the link reports no maximum:
/// 1 TB/s, four times a PCIe 7.0 x16 link.
pub const MAX_PLAUSIBLE_PCI_BYTES_PER_SEC: f64 = 1e12;

/// Why two samples give no rate.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RateError {
    /// The second timestamp is not after the first, or a counter went backwards.
    NoSample,
    /// The rate computed, `value`, is above the plausibility `bound` (same unit).
    Implausible { value: f64, bound: f64 },
}

/// A derived rate, or why there is none.
pub type Rate<T> = Result<T, RateError>;

fn elapsed_us(t0: u64, t1: u64) -> Rate<f64> {
    match t1.checked_sub(t0) {
        Some(dt) if dt > 0 => Ok(dt as f64),
        _ => Err(RateError::NoSample),
    }
}

fn delta(c0: u64, c1: u64) -> Rate<f64> {
    c1.checked_sub(c0).map(|d| d as f64).ok_or(RateError::NoSample)
}

fn at_most(value: f64, bound: f64) -> Rate<f64> {
    if value <= bound {
        Ok(value)
    } else {
        Err(RateError::Implausible { value, bound })
    }
}

/// A ratio of full scale `full`: clamped to it within [`RATIO_TOLERANCE`], implausible above.
fn ratio(value: f64, full: f64) -> Rate<f64> {
    at_most(value, full * (1.0 + RATIO_TOLERANCE)).map(|v| v.min(full))
}

/// The plausibility bound of a power domain's average power, in watts:
/// [`POWER_LIMIT_FACTOR`] x its max power limit (its default limit when it reports no maximum),
/// at most [`MAX_PLAUSIBLE_POWER_W`], which is also the bound of a domain reporting neither.
pub fn power_bound_w(properties: &PowerProperties) -> f64 {
    let known = |limit: Option<i32>| limit.filter(|&mw| mw > 0);
    match known(properties.max_limit_mw).or(known(properties.default_limit_mw)) {
        Some(mw) => (f64::from(mw) / 1000.0 * POWER_LIMIT_FACTOR).min(MAX_PLAUSIBLE_POWER_W),
        None => MAX_PLAUSIBLE_POWER_W,
    }
}

/// Average power in watts between two energy samples (µJ / µs = W), bounded by
/// [`MAX_PLAUSIBLE_POWER_W`]. Where the domain's properties are known, prefer
/// [`power_watts_within`] with [`power_bound_w`].
pub fn power_watts(a: &EnergyCounter, b: &EnergyCounter) -> Rate<f64> {
    power_watts_within(a, b, MAX_PLAUSIBLE_POWER_W)
}

/// Average power in watts between two energy samples, implausible above `bound_w`.
pub fn power_watts_within(a: &EnergyCounter, b: &EnergyCounter, bound_w: f64) -> Rate<f64> {
    let dt = elapsed_us(a.timestamp, b.timestamp)?;
    at_most(delta(a.energy, b.energy)? / dt, bound_w)
}

/// Engine utilization in percent (0 to 100) between two activity samples.
pub fn engine_utilization(a: &EngineStats, b: &EngineStats) -> Rate<f64> {
    let dt = elapsed_us(a.timestamp, b.timestamp)?;
    let busy = delta(a.active_time, b.active_time)?;
    ratio(busy / dt * 100.0, 100.0)
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

/// Memory read/write bandwidth between two samples; implausible when read + write is above
/// the module's maximum (of the second sample) by more than [`RATIO_TOLERANCE`], or above
/// [`MAX_PLAUSIBLE_MEMORY_BYTES_PER_SEC`] when the module reports no maximum.
pub fn memory_bandwidth(a: &MemoryBandwidth, b: &MemoryBandwidth) -> Rate<Rates> {
    let dt = elapsed_us(a.timestamp, b.timestamp)? / 1e6;
    let rates = Rates {
        read_bytes_per_sec: delta(a.read_counter, b.read_counter)? / dt,
        write_bytes_per_sec: delta(a.write_counter, b.write_counter)? / dt,
    };
    let bound = match b.max_bandwidth {
        0 => MAX_PLAUSIBLE_MEMORY_BYTES_PER_SEC,
        max => max as f64 * (1.0 + RATIO_TOLERANCE),
    };
    at_most(rates.read_bytes_per_sec + rates.write_bytes_per_sec, bound)?;
    Ok(rates)
}

/// Memory bandwidth use in percent of the module's maximum (0 to 100); `NoSample` when the
/// module reports no maximum.
pub fn memory_bandwidth_utilization(a: &MemoryBandwidth, b: &MemoryBandwidth) -> Rate<f64> {
    let rates = memory_bandwidth(a, b)?;
    if b.max_bandwidth == 0 {
        return Err(RateError::NoSample);
    }
    let used = rates.read_bytes_per_sec + rates.write_bytes_per_sec;
    ratio(used / b.max_bandwidth as f64 * 100.0, 100.0)
}

/// PCI receive and transmit rates in bytes per second.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct Throughput {
    pub rx_bytes_per_sec: f64,
    pub tx_bytes_per_sec: f64,
}

/// PCI throughput between two samples; implausible when either direction is above the link's
/// maximum (of the second sample) by more than [`RATIO_TOLERANCE`], or above
/// [`MAX_PLAUSIBLE_PCI_BYTES_PER_SEC`] when the link reports none.
pub fn pci_throughput(a: &PciStats, b: &PciStats) -> Rate<Throughput> {
    let dt = elapsed_us(a.timestamp, b.timestamp)? / 1e6;
    let bound = match b.speed.max_bandwidth.filter(|&max| max > 0) {
        Some(max) => max as f64 * (1.0 + RATIO_TOLERANCE),
        None => MAX_PLAUSIBLE_PCI_BYTES_PER_SEC,
    };
    Ok(Throughput {
        rx_bytes_per_sec: at_most(delta(a.rx_counter, b.rx_counter)? / dt, bound)?,
        tx_bytes_per_sec: at_most(delta(a.tx_counter, b.tx_counter)? / dt, bound)?,
    })
}

/// Fraction of the time (0 to 1) the frequency domain was throttled between two samples.
pub fn throttle_ratio(a: &ThrottleTime, b: &ThrottleTime) -> Rate<f64> {
    let dt = elapsed_us(a.timestamp, b.timestamp)?;
    ratio(delta(a.throttle_time, b.throttle_time)? / dt, 1.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn e(energy: u64, timestamp: u64) -> EnergyCounter {
        EnergyCounter { energy, timestamp }
    }

    #[test]
    fn power_is_microjoules_per_microsecond() {
        assert_eq!(power_watts(&e(1_000_000, 10_000_000), &e(151_000_000, 11_000_000)), Ok(150.0));
        assert_eq!(power_watts(&e(0, 0), &e(0, 1)), Ok(0.0));
    }

    #[test]
    fn power_after_a_counter_reset_or_wrap_is_none_never_terawatts() {
        // Reset (driver reload): energy drops back.
        assert_eq!(power_watts(&e(5_000_000_000, 1_000_000), &e(1_000, 2_000_000)), Err(RateError::NoSample));
        // Wrap of the 64-bit counter.
        assert_eq!(power_watts(&e(u64::MAX - 10, 1_000_000), &e(5, 2_000_000)), Err(RateError::NoSample));
        // Identical and reordered timestamps.
        assert_eq!(power_watts(&e(1, 5), &e(2, 5)), Err(RateError::NoSample));
        assert_eq!(power_watts(&e(1, 6), &e(2, 5)), Err(RateError::NoSample));
    }

    #[test]
    fn engine_utilization_is_clamped_within_the_tolerance_and_implausible_above() {
        let s = |active_time, timestamp| EngineStats { active_time, timestamp };
        assert_eq!(engine_utilization(&s(0, 0), &s(500, 1000)), Ok(50.0));
        assert_eq!(engine_utilization(&s(0, 0), &s(1040, 1000)), Ok(100.0), "clamped within the tolerance");
        assert_eq!(
            engine_utilization(&s(0, 0), &s(1500, 1000)),
            Err(RateError::Implausible { value: 150.0, bound: 105.0 })
        );
        assert_eq!(engine_utilization(&s(900, 0), &s(100, 1000)), Err(RateError::NoSample), "reset");
        assert_eq!(engine_utilization(&s(0, 1000), &s(10, 1000)), Err(RateError::NoSample), "same timestamp");
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
        let rates = memory_bandwidth(&b(0, 0, 0), &b(250_000, 125_000, 500_000)).unwrap();
        assert_eq!(rates.read_bytes_per_sec, 500_000.0);
        assert_eq!(rates.write_bytes_per_sec, 250_000.0);
        assert_eq!(memory_bandwidth_utilization(&b(0, 0, 0), &b(250_000, 0, 500_000)), Ok(50.0));
        assert_eq!(
            memory_bandwidth(&b(10, 0, 0), &b(5, 10, 10)),
            Err(RateError::NoSample),
            "read counter reset"
        );
        assert_eq!(
            memory_bandwidth(&b(0, 10, 0), &b(5, 5, 10)),
            Err(RateError::NoSample),
            "write counter reset"
        );
        assert_eq!(memory_bandwidth(&b(0, 0, 7), &b(5, 5, 7)), Err(RateError::NoSample));
        let mut zero_max = b(10, 10, 10);
        zero_max.max_bandwidth = 0;
        assert_eq!(memory_bandwidth_utilization(&b(0, 0, 0), &zero_max), Err(RateError::NoSample));
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
        assert_eq!(pci_throughput(&p(10, 0, 0), &p(0, 0, 1)), Err(RateError::NoSample));
        assert_eq!(pci_throughput(&p(0, 0, 3), &p(1, 1, 3)), Err(RateError::NoSample));
        let th = |throttle_time, timestamp| ThrottleTime { throttle_time, timestamp };
        assert_eq!(throttle_ratio(&th(0, 0), &th(250, 1000)), Ok(0.25));
        assert_eq!(throttle_ratio(&th(0, 0), &th(1050, 1000)), Ok(1.0));
        assert_eq!(
            throttle_ratio(&th(0, 0), &th(2000, 1000)),
            Err(RateError::Implausible { value: 2.0, bound: 1.05 })
        );
        assert_eq!(throttle_ratio(&th(100, 0), &th(0, 1000)), Err(RateError::NoSample));
        assert_eq!(throttle_ratio(&th(0, 9), &th(1, 9)), Err(RateError::NoSample));
    }

    #[test]
    fn a_near_zero_read_then_recovery_is_implausible_not_megawatts() {
        // Issue 8, case 17: the card's counter read ~0 once, then its true value again: over the
        // next one-second window it went forwards by its whole history (214,772,961 J).
        let glitch = e(0, 5_000_000);
        let recovered = e(214_772_961_000_000, 6_000_000);
        let next = e(214_773_210_000_000, 7_000_000);
        assert_eq!(
            power_watts(&glitch, &recovered),
            Err(RateError::Implausible { value: 214_772_961.0, bound: MAX_PLAUSIBLE_POWER_W })
        );
        // The A770's limits (228 W max): bound 912 W.
        let props = |max, default| PowerProperties {
            subdevice_id: None,
            can_control: true,
            is_energy_threshold_supported: false,
            default_limit_mw: default,
            min_limit_mw: None,
            max_limit_mw: max,
        };
        let a770 = power_bound_w(&props(Some(228_000), Some(225_000)));
        assert_eq!(a770, 912.0);
        assert_eq!(
            power_watts_within(&glitch, &recovered, a770),
            Err(RateError::Implausible { value: 214_772_961.0, bound: 912.0 })
        );
        // The next window is the truth again.
        assert_eq!(power_watts_within(&recovered, &next, a770), Ok(249.0));
        // Just at and just above the bound.
        assert_eq!(power_watts_within(&e(0, 0), &e(912_000_000, 1_000_000), a770), Ok(912.0));
        assert_eq!(
            power_watts_within(&e(0, 0), &e(912_000_001, 1_000_000), a770),
            Err(RateError::Implausible { value: 912.000001, bound: 912.0 })
        );
        // No max limit: the default one; neither (or nonsense): the physical cap.
        assert_eq!(power_bound_w(&props(None, Some(100_000))), 400.0);
        assert_eq!(power_bound_w(&props(None, None)), MAX_PLAUSIBLE_POWER_W);
        assert_eq!(power_bound_w(&props(Some(-5), None)), MAX_PLAUSIBLE_POWER_W);
        assert_eq!(power_bound_w(&props(Some(-1), Some(100_000))), 400.0, "-1: an unknown max limit");
        assert_eq!(power_bound_w(&props(Some(i32::MAX), None)), MAX_PLAUSIBLE_POWER_W);
    }

    #[test]
    fn bandwidths_above_the_hardware_maximum_are_implausible() {
        let b = |r, w, max| MemoryBandwidth {
            read_counter: r,
            write_counter: w,
            max_bandwidth: max,
            timestamp: 0,
        };
        let later = |mut x: MemoryBandwidth| {
            x.timestamp = 1_000_000;
            x
        };
        // 1 MB/s module: 600 kB/s + 450 kB/s is within 5 %, 600 + 460 is not.
        let ok = memory_bandwidth(&b(0, 0, 1_000_000), &later(b(600_000, 450_000, 1_000_000))).unwrap();
        assert_eq!((ok.read_bytes_per_sec, ok.write_bytes_per_sec), (600_000.0, 450_000.0));
        assert_eq!(
            memory_bandwidth_utilization(&b(0, 0, 1_000_000), &later(b(600_000, 450_000, 1_000_000))),
            Ok(100.0)
        );
        assert_eq!(
            memory_bandwidth(&b(0, 0, 1_000_000), &later(b(600_000, 460_000, 1_000_000))),
            Err(RateError::Implausible { value: 1_060_000.0, bound: 1_050_000.0 })
        );
        // No maximum reported: the physical cap.
        let huge = later(b(u64::MAX / 2, 0, 0));
        assert_eq!(
            memory_bandwidth(&b(0, 0, 0), &huge),
            Err(RateError::Implausible {
                value: (u64::MAX / 2) as f64,
                bound: MAX_PLAUSIBLE_MEMORY_BYTES_PER_SEC
            })
        );

        let p = |rx, tx, timestamp, max_bandwidth| PciStats {
            timestamp,
            replay_counter: 0,
            packet_counter: 0,
            rx_counter: rx,
            tx_counter: tx,
            speed: crate::device::PciSpeed { gen: Some(4), width: Some(16), max_bandwidth },
        };
        // A 32 GB/s link: 33 GB/s received is within 5 %, 34 GB/s transmitted is not.
        let link = Some(32_000_000_000);
        let t = pci_throughput(&p(0, 0, 0, link), &p(33_000_000_000, 1, 1_000_000, link)).unwrap();
        assert_eq!((t.rx_bytes_per_sec, t.tx_bytes_per_sec), (33e9, 1.0));
        assert_eq!(
            pci_throughput(&p(0, 0, 0, link), &p(1, 34_000_000_000, 1_000_000, link)),
            Err(RateError::Implausible { value: 34e9, bound: 33.6e9 })
        );
        // Unknown link speed (-1 in C, None here): the physical cap.
        assert_eq!(
            pci_throughput(&p(0, 0, 0, None), &p(2_000_000_000_000, 0, 1_000_000, None)),
            Err(RateError::Implausible { value: 2e12, bound: MAX_PLAUSIBLE_PCI_BYTES_PER_SEC })
        );
    }
}
