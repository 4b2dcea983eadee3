//! The derived metrics of the `zes` crate, for the Pythonic API: one implementation of every rate
//! (and of its refusals on counter resets, wraps, identical timestamps and implausible values,
//! see `zes::metrics`) serves both languages. Samples are plain tuples of the raw counters, in
//! the C API's units. Each function answers None where `zes::metrics` gives no rate.

use pyo3::prelude::*;
use zes::metrics;

use crate::guard;

/// Watts between two `(energy µJ, timestamp µs)` samples; None when they give no rate or a rate
/// above the domain's plausibility bound (`zes::metrics::power_bound_w`: 4 x its max limit, else
/// its default limit, at most 10 kW), the limits being `zes_power_properties_t`'s `maxLimit` and
/// `defaultLimit` in mW (-1 or None: unknown).
#[pyfunction]
#[pyo3(signature = (a, b, max_limit_mw=None, default_limit_mw=None))]
pub fn power_watts(
    py: Python<'_>,
    a: (u64, u64),
    b: (u64, u64),
    max_limit_mw: Option<i32>,
    default_limit_mw: Option<i32>,
) -> PyResult<Option<f64>> {
    guard(py, "power_watts", || {
        let sample = |(energy, timestamp)| zes::EnergyCounter { energy, timestamp };
        let limits = zes::PowerProperties {
            subdevice_id: None,
            can_control: false,
            is_energy_threshold_supported: false,
            default_limit_mw,
            min_limit_mw: None,
            max_limit_mw,
        };
        let bound = metrics::power_bound_w(&limits);
        Ok(metrics::power_watts_within(&sample(a), &sample(b), bound).ok())
    })
}

/// Busy percent (0 to 100) between two `(activeTime µs, timestamp µs)` samples; None when they
/// give no rate or one above 105 %.
#[pyfunction]
pub fn engine_utilization(py: Python<'_>, a: (u64, u64), b: (u64, u64)) -> PyResult<Option<f64>> {
    guard(py, "engine_utilization", || {
        let sample = |(active_time, timestamp)| zes::EngineStats { active_time, timestamp };
        Ok(metrics::engine_utilization(&sample(a), &sample(b)).ok())
    })
}

/// (read, write) bytes per second between two `(readCounter, writeCounter, timestamp µs)`
/// samples; None when they give no rate, or read + write is above `max_bandwidth` (bytes/s, the
/// module's `maxBandwidth`; 0 or None: 100 TB/s) by more than 5 %.
#[pyfunction]
#[pyo3(signature = (a, b, max_bandwidth=None))]
pub fn memory_bandwidth(
    py: Python<'_>,
    a: (u64, u64, u64),
    b: (u64, u64, u64),
    max_bandwidth: Option<u64>,
) -> PyResult<Option<(f64, f64)>> {
    guard(py, "memory_bandwidth", || {
        let sample = |(read_counter, write_counter, timestamp)| zes::MemoryBandwidth {
            read_counter,
            write_counter,
            timestamp,
            max_bandwidth: max_bandwidth.unwrap_or(0),
        };
        Ok(metrics::memory_bandwidth(&sample(a), &sample(b))
            .ok()
            .map(|r| (r.read_bytes_per_sec, r.write_bytes_per_sec)))
    })
}

/// (rx, tx) bytes per second between two `(rxCounter, txCounter, timestamp µs)` samples; None
/// when they give no rate, or a direction is above `max_bandwidth` (bytes/s, the link's
/// `maxBandwidth`; -1 or None: 1 TB/s) by more than 5 %.
#[pyfunction]
#[pyo3(signature = (a, b, max_bandwidth=None))]
pub fn pci_throughput(
    py: Python<'_>,
    a: (u64, u64, u64),
    b: (u64, u64, u64),
    max_bandwidth: Option<i64>,
) -> PyResult<Option<(f64, f64)>> {
    guard(py, "pci_throughput", || {
        let sample = |(rx_counter, tx_counter, timestamp)| zes::PciStats {
            timestamp,
            replay_counter: 0,
            packet_counter: 0,
            rx_counter,
            tx_counter,
            speed: zes::PciSpeed { gen: None, width: None, max_bandwidth },
        };
        Ok(metrics::pci_throughput(&sample(a), &sample(b))
            .ok()
            .map(|t| (t.rx_bytes_per_sec, t.tx_bytes_per_sec)))
    })
}

/// Fraction (0 to 1) of the time throttled between two `(throttleTime µs, timestamp µs)`
/// samples; None when they give no rate or one above 1.05.
#[pyfunction]
pub fn throttle_ratio(py: Python<'_>, a: (u64, u64), b: (u64, u64)) -> PyResult<Option<f64>> {
    guard(py, "throttle_ratio", || {
        let sample = |(throttle_time, timestamp)| zes::ThrottleTime { throttle_time, timestamp };
        Ok(metrics::throttle_ratio(&sample(a), &sample(b)).ok())
    })
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(power_watts, m)?)?;
    m.add_function(wrap_pyfunction!(engine_utilization, m)?)?;
    m.add_function(wrap_pyfunction!(memory_bandwidth, m)?)?;
    m.add_function(wrap_pyfunction!(pci_throughput, m)?)?;
    m.add_function(wrap_pyfunction!(throttle_ratio, m)?)?;
    Ok(())
}
