//! Per-client and per-process engine utilization from two fdinfo samples.
//!
//! i915: busy nanoseconds over the nanoseconds between the two reads of the file. xe: busy
//! cycles over the GPU's total cycles (both on the GPU's clock). Either is divided by the
//! class's capacity (engines of the class). A rate is never made up: the first sample of a
//! counter, a counter that went backwards, no time between the samples, or more than 100% by
//! more than [`UTILIZATION_TOLERANCE_PERCENT`] give a [`Reason`] instead of a number.

use crate::fdinfo::{EngineCounter, MemoryRegion};
use crate::{Driver, EngineClass, KernelSample, KernelSource, PciAddress, Reading, Reason, Source};
use serde::Serialize;
use std::collections::HashMap;

/// How far above 100% a rate may be and still count as 100%: the i915 rate divides a busy time
/// the kernel took at one instant by the time between two reads of the file, which are a little
/// apart from it. Beyond this the rate is [`Reason::Implausible`].
pub const UTILIZATION_TOLERANCE_PERCENT: f64 = 5.0;

#[derive(Clone, Debug, Serialize)]
pub struct EngineUtilization {
    pub class: EngineClass,
    /// Percent of the class's capacity, 0 to 100.
    pub percent: Reading<f64>,
}

#[derive(Clone, Debug, Serialize)]
pub struct ClientUtilization {
    pub pid: u32,
    pub client_id: u64,
    pub driver: Driver,
    pub pci_address: Option<PciAddress>,
    pub engines: Vec<EngineUtilization>,
}

/// The use one process makes of one GPU: its clients there together.
#[derive(Clone, Debug, Serialize)]
pub struct ProcessUtilization {
    pub pid: u32,
    pub name: Reading<String>,
    pub cmdline: Reading<String>,
    pub driver: Driver,
    pub pci_address: Option<PciAddress>,
    pub clients: u32,
    pub engines: Vec<EngineUtilization>,
    /// Memory per region, summed over the clients (bytes).
    pub memory: Vec<MemoryRegion>,
    /// `drm-resident-*` of all regions together (bytes), when any region reports it.
    pub resident_bytes: Option<u64>,
    /// `drm-total-*` of all regions together (bytes), when any region reports it.
    pub total_bytes: Option<u64>,
}

/// A sample and the rates since the previous one.
#[derive(Clone, Debug, Serialize)]
pub struct UsageSample {
    pub sample: KernelSample,
    pub clients: Vec<ClientUtilization>,
    /// One entry per (process, GPU), by pid.
    pub processes: Vec<ProcessUtilization>,
}

#[derive(Clone, Copy, Debug)]
struct Base {
    busy: u64,
    time: u64,
}

/// A client; its counters are kept per engine class.
type Key = (Option<PciAddress>, Driver, u64);
type Bases = Vec<(EngineClass, Base)>;
/// One process's clients on one GPU: (driver, pdev), clients, per-class sums, memory.
type PerGpu = ((Driver, Option<PciAddress>), u32, Vec<(EngineClass, Result<f64, Reason>)>, Vec<MemoryRegion>);

/// Keeps the previous sample's counters and turns each new sample into rates.
#[derive(Debug)]
pub struct Sampler {
    source: KernelSource,
    previous: Option<HashMap<Key, Bases>>,
}

/// The busy counter and the time base of one engine counter.
fn reading_of(e: &EngineCounter, read_ns: u64) -> Result<Base, Reason> {
    if e.malformed {
        return Err(Reason::Malformed);
    }
    match (e.busy_cycles, e.total_cycles, e.busy_ns) {
        (Some(busy), Some(total), _) => Ok(Base { busy, time: total }),
        (_, _, Some(busy)) => Ok(Base { busy, time: read_ns }),
        // Cycles without a total (or a total without cycles): no time base documented here.
        _ => Err(Reason::Unsupported),
    }
}

fn rate(base: Base, now: Base, capacity: u64) -> Result<f64, Reason> {
    let dt = match now.time.checked_sub(base.time) {
        Some(0) => return Err(Reason::NoTimeElapsed),
        Some(dt) => dt,
        None => return Err(Reason::CounterBackwards),
    };
    let busy = now.busy.checked_sub(base.busy).ok_or(Reason::CounterBackwards)?;
    let percent = busy as f64 / (dt as f64 * capacity.max(1) as f64) * 100.0;
    if !percent.is_finite() || percent > 100.0 + UTILIZATION_TOLERANCE_PERCENT {
        return Err(Reason::Implausible);
    }
    Ok(percent.min(100.0))
}

fn add(a: Option<u64>, b: Option<u64>) -> Option<u64> {
    match (a, b) {
        (None, None) => None,
        (a, b) => Some(a.unwrap_or(0).saturating_add(b.unwrap_or(0))),
    }
}

impl Sampler {
    pub fn new(source: KernelSource) -> Self {
        Self { source, previous: None }
    }

    pub fn source(&self) -> &KernelSource {
        &self.source
    }

    /// Reads the kernel once and computes the rates since the previous call.
    pub fn sample(&mut self) -> UsageSample {
        let sample = self.source.sample();
        let had_previous = self.previous.is_some();
        let previous = self.previous.take().unwrap_or_default();
        let mut next: HashMap<Key, Bases> = HashMap::with_capacity(previous.len());
        let mut clients = Vec::new();
        let mut processes = Vec::new();
        for p in &sample.processes {
            // Per GPU of this process: (driver, pdev) -> (clients, per class sum or reason).
            let mut per_gpu: Vec<PerGpu> = Vec::new();
            for c in &p.clients {
                let driver = c.driver();
                let mut engines = Vec::new();
                let gpu_key = (driver, c.pdev());
                let slot = match per_gpu.iter().position(|g| g.0 == gpu_key) {
                    Some(i) => i,
                    None => {
                        per_gpu.push((gpu_key, 0, Vec::new(), Vec::new()));
                        per_gpu.len() - 1
                    }
                };
                per_gpu[slot].1 += 1;
                let key: Key = (c.pdev(), driver, c.counters.client_id);
                let previous_bases = previous.get(&key);
                let mut bases: Bases = Vec::with_capacity(c.counters.engines.len());
                for e in &c.counters.engines {
                    let base = previous_bases
                        .and_then(|b| b.iter().find(|(class, _)| *class == e.class))
                        .map(|b| b.1);
                    let now = reading_of(e, c.read_ns);
                    let (client_rate, contribution) = match now {
                        Err(r) => (Err(r), Err(r)),
                        Ok(now) => match base {
                            None => {
                                bases.push((e.class.clone(), now));
                                // A client that appeared since the previous sample and never
                                // was busy contributed exactly nothing to its process.
                                let contribution = if had_previous && now.busy == 0 {
                                    Ok(0.0)
                                } else {
                                    Err(Reason::NoPreviousSample)
                                };
                                (Err(Reason::NoPreviousSample), contribution)
                            }
                            Some(base) => {
                                let r = rate(base, now, e.capacity);
                                // A counter that went backwards: keep the larger previous value
                                // until the counter catches up (as the kernel's documentation asks).
                                let keep = if r == Err(Reason::CounterBackwards) { base } else { now };
                                bases.push((e.class.clone(), keep));
                                (r, r)
                            }
                        },
                    };
                    engines.push(EngineUtilization {
                        class: e.class.clone(),
                        percent: Reading::new(Source::Fdinfo, client_rate),
                    });
                    let sums = &mut per_gpu[slot].2;
                    match sums.iter_mut().find(|(class, _)| *class == e.class) {
                        Some((_, acc)) => {
                            *acc = match (*acc, contribution) {
                                (Ok(a), Ok(b)) => Ok(a + b),
                                (Err(r), _) | (_, Err(r)) => Err(r),
                            }
                        }
                        None => sums.push((e.class.clone(), contribution)),
                    }
                }
                next.insert(key, bases);
                for m in &c.counters.memory {
                    let regions = &mut per_gpu[slot].3;
                    match regions.iter_mut().find(|r| r.region == m.region) {
                        Some(r) => {
                            r.total = add(r.total, m.total);
                            r.resident = add(r.resident, m.resident);
                            r.shared = add(r.shared, m.shared);
                            r.active = add(r.active, m.active);
                            r.purgeable = add(r.purgeable, m.purgeable);
                        }
                        None => regions.push(m.clone()),
                    }
                }
                clients.push(ClientUtilization {
                    pid: p.pid,
                    client_id: c.counters.client_id,
                    driver,
                    pci_address: c.pdev(),
                    engines,
                });
            }
            for ((driver, pci_address), n, sums, memory) in per_gpu {
                let engines = sums
                    .into_iter()
                    .map(|(class, r)| {
                        // Several clients of one process may add up past 100% of the class only
                        // through measurement jitter; beyond the tolerance it is implausible.
                        let r = r.and_then(|v| {
                            if v > 100.0 + UTILIZATION_TOLERANCE_PERCENT {
                                Err(Reason::Implausible)
                            } else {
                                Ok(v.min(100.0))
                            }
                        });
                        EngineUtilization { class, percent: Reading::new(Source::Fdinfo, r) }
                    })
                    .collect();
                let resident_bytes = memory.iter().fold(None, |a, m| add(a, m.resident));
                let total_bytes = memory.iter().fold(None, |a, m| add(a, m.total));
                processes.push(ProcessUtilization {
                    pid: p.pid,
                    name: p.name.clone(),
                    cmdline: p.cmdline.clone(),
                    driver,
                    pci_address,
                    clients: n,
                    engines,
                    memory,
                    resident_bytes,
                    total_bytes,
                });
            }
        }
        self.previous = Some(next);
        UsageSample { sample, clients, processes }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn b(busy: u64, time: u64) -> Base {
        Base { busy, time }
    }

    #[test]
    fn rates_refuse_what_they_cannot_know() {
        assert_eq!(rate(b(0, 0), b(500, 1000), 1), Ok(50.0));
        assert_eq!(rate(b(0, 0), b(1000, 1000), 2), Ok(50.0), "capacity divides");
        assert_eq!(rate(b(0, 1000), b(10, 1000), 1), Err(Reason::NoTimeElapsed));
        assert_eq!(rate(b(10, 0), b(5, 1000), 1), Err(Reason::CounterBackwards));
        assert_eq!(rate(b(0, 1000), b(5, 999), 1), Err(Reason::CounterBackwards));
        assert_eq!(rate(b(0, 0), b(1040, 1000), 1), Ok(100.0), "within the tolerance");
        assert_eq!(rate(b(0, 0), b(1060, 1000), 1), Err(Reason::Implausible));
        assert_eq!(rate(b(0, 0), b(u64::MAX, 1), 1), Err(Reason::Implausible));
    }
}
