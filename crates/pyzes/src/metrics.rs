//! The derived metrics of the `zes` crate, for the Pythonic API: one implementation of every rate
//! (and of its refusals on counter resets, wraps and identical timestamps) serves both languages.
//! Samples are plain tuples of the raw counters, in the C API's units.

use pyo3::prelude::*;
use zes::metrics;

/// Watts between two `(energy µJ, timestamp µs)` samples; None when they give no rate.
#[pyfunction]
pub fn power_watts(a: (u64, u64), b: (u64, u64)) -> Option<f64> {
    let sample = |(energy, timestamp)| zes::EnergyCounter { energy, timestamp };
    metrics::power_watts(&sample(a), &sample(b))
}

/// Busy percent (0 to 100) between two `(activeTime µs, timestamp µs)` samples; None when they
/// give no rate.
#[pyfunction]
pub fn engine_utilization(a: (u64, u64), b: (u64, u64)) -> Option<f64> {
    let sample = |(active_time, timestamp)| zes::EngineStats { active_time, timestamp };
    metrics::engine_utilization(&sample(a), &sample(b))
}

/// (read, write) bytes per second between two `(readCounter, writeCounter, timestamp µs)`
/// samples; None when they give no rate.
#[pyfunction]
pub fn memory_bandwidth(a: (u64, u64, u64), b: (u64, u64, u64)) -> Option<(f64, f64)> {
    let sample = |(read_counter, write_counter, timestamp)| zes::MemoryBandwidth {
        read_counter,
        write_counter,
        timestamp,
        ..Default::default()
    };
    metrics::memory_bandwidth(&sample(a), &sample(b)).map(|r| (r.read_bytes_per_sec, r.write_bytes_per_sec))
}

/// (rx, tx) bytes per second between two `(rxCounter, txCounter, timestamp µs)` samples; None
/// when they give no rate.
#[pyfunction]
pub fn pci_throughput(a: (u64, u64, u64), b: (u64, u64, u64)) -> Option<(f64, f64)> {
    let sample = |(rx_counter, tx_counter, timestamp)| zes::PciStats {
        timestamp,
        replay_counter: 0,
        packet_counter: 0,
        rx_counter,
        tx_counter,
        speed: zes::PciSpeed { gen: None, width: None, max_bandwidth: None },
    };
    metrics::pci_throughput(&sample(a), &sample(b)).map(|t| (t.rx_bytes_per_sec, t.tx_bytes_per_sec))
}

/// Fraction (0 to 1) of the time throttled between two `(throttleTime µs, timestamp µs)`
/// samples; None when they give no rate.
#[pyfunction]
pub fn throttle_ratio(a: (u64, u64), b: (u64, u64)) -> Option<f64> {
    let sample = |(throttle_time, timestamp)| zes::ThrottleTime { throttle_time, timestamp };
    metrics::throttle_ratio(&sample(a), &sample(b))
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(power_watts, m)?)?;
    m.add_function(wrap_pyfunction!(engine_utilization, m)?)?;
    m.add_function(wrap_pyfunction!(memory_bandwidth, m)?)?;
    m.add_function(wrap_pyfunction!(pci_throughput, m)?)?;
    m.add_function(wrap_pyfunction!(throttle_ratio, m)?)?;
    Ok(())
}
