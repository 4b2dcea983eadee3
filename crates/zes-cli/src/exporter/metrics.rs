//! The metric families, encoded by `prometheus-client` from the latest samples.
//!
//! Names follow the OpenTelemetry hardware conventions (`hw.gpu.*`, `hw.*`) as Prometheus
//! spells them: dots become underscores, the base unit is a suffix, counters end in `_total`.

use std::collections::BTreeMap;
use std::fmt::Error as FmtError;
use std::sync::Arc;

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::metrics::info::Info;
use prometheus_client::metrics::MetricType;
use prometheus_client::registry::{Registry, Unit};

use crate::model::{DeviceStats, DeviceSummary, Reading};

/// What the exporter knows about one device.
#[derive(Clone, Debug)]
pub struct DeviceEntry {
    pub summary: DeviceSummary,
    /// The latest sample (kept when a later read fails, so values stay visible).
    pub stats: Option<Arc<DeviceStats>>,
    /// The latest read reached the device.
    pub up: bool,
    /// Read failures so far, by (metric, reason).
    pub read_errors: BTreeMap<(String, String), u64>,
    pub sample_seconds: f64,
    pub last_sample_unix: f64,
}

impl DeviceEntry {
    pub fn new(summary: DeviceSummary) -> Self {
        Self {
            summary,
            stats: None,
            up: false,
            read_errors: BTreeMap::new(),
            sample_seconds: 0.0,
            last_sample_unix: 0.0,
        }
    }
}

/// Everything the collector encodes; replaced as a whole after each device is read.
#[derive(Clone, Debug, Default)]
pub struct ExportState {
    pub devices: Vec<DeviceEntry>,
    pub max_processes: usize,
    /// A device whose latest read ended longer ago than this (seconds) is reported down.
    pub stale_after: f64,
}

#[derive(Debug)]
struct StateCollector(Arc<ExportState>);

type Labels = Vec<(&'static str, String)>;

fn device_labels(s: &DeviceSummary) -> Labels {
    vec![
        ("device", s.index.to_string()),
        ("uuid", escape(&s.uuid)),
        ("name", escape(&s.name)),
        ("pci_address", escape(s.pci_address.as_deref().unwrap_or_default())),
    ]
}

fn with(mut base: Labels, extra: &[(&'static str, String)]) -> Labels {
    base.extend(extra.iter().map(|(k, v)| (*k, escape(v))));
    base
}

/// Escapes a label value for both text formats (`\\`, `\"`, `\n`): the encoder writes
/// label values as given.
pub fn escape(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for c in value.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
    out
}

fn sd(subdevice: Option<u32>) -> (&'static str, String) {
    ("subdevice", subdevice.map(|s| s.to_string()).unwrap_or_default())
}

/// One family: its samples are collected first so that an empty family is still described.
struct Family {
    name: &'static str,
    help: &'static str,
    unit: Option<Unit>,
    kind: MetricType,
    samples: Vec<(Labels, f64)>,
}

impl Family {
    fn gauge(name: &'static str, help: &'static str, unit: Option<Unit>) -> Self {
        Self { name, help, unit, kind: MetricType::Gauge, samples: Vec::new() }
    }
    fn counter(name: &'static str, help: &'static str, unit: Option<Unit>) -> Self {
        Self { name, help, unit, kind: MetricType::Counter, samples: Vec::new() }
    }
    fn add<T: Copy + Into<f64>>(&mut self, labels: Labels, value: &Reading<T>) {
        if let Reading::Ok(v) = value {
            let v: f64 = (*v).into();
            if v.is_finite() {
                self.samples.push((labels, v));
            }
        }
    }
    fn set(&mut self, labels: Labels, value: f64) {
        if value.is_finite() {
            self.samples.push((labels, value));
        }
    }
    fn encode(&self, encoder: &mut DescriptorEncoder) -> Result<(), FmtError> {
        let mut metric = encoder.encode_descriptor(self.name, self.help, self.unit.as_ref(), self.kind)?;
        for (labels, value) in &self.samples {
            let family = metric.encode_family(labels)?;
            match self.kind {
                MetricType::Counter => ConstCounter::new(value.max(0.0)).encode(family)?,
                _ => ConstGauge::new(*value).encode(family)?,
            }
        }
        Ok(())
    }
}

fn u64f(r: &Reading<u64>) -> Reading<f64> {
    r.as_ref().map(|v| *v as f64)
}

impl Collector for StateCollector {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), FmtError> {
        let watts = || Some(Unit::Other("watts".into()));
        let hertz = || Some(Unit::Other("hertz".into()));
        let ratio = || Some(Unit::Other("ratio".into()));
        let mut up = Family::gauge(
            "hw_gpu_up",
            "1 when the latest read of the device succeeded, 0 when it failed or is overdue",
            None,
        );
        let mut power = Family::gauge("hw_gpu_power", "Average power over the sampling window", watts());
        let mut power_limit = Family::gauge("hw_gpu_power_limit", "Sustained power limit", watts());
        let mut energy = Family::counter(
            "hw_gpu_energy",
            "Energy consumed since an unspecified point",
            Some(Unit::Joules),
        );
        let mut util = Family::gauge(
            "hw_gpu_utilization",
            "Fraction of the sampling window the engine group was busy",
            ratio(),
        );
        let mut freq = Family::gauge("hw_gpu_frequency", "Actual clock frequency", hertz());
        let mut freq_req = Family::gauge("hw_gpu_frequency_request", "Requested clock frequency", hertz());
        let mut throttle = Family::gauge(
            "hw_gpu_frequency_throttle",
            "Fraction of the sampling window the clock was throttled",
            ratio(),
        );
        let mut temp = Family::gauge("hw_gpu_temperature", "Temperature of a sensor", Some(Unit::Celsius));
        let mut mem_limit =
            Family::gauge("hw_gpu_memory_limit", "Size of a memory module", Some(Unit::Bytes));
        let mut mem_usage =
            Family::gauge("hw_gpu_memory_usage", "Memory in use (size minus free)", Some(Unit::Bytes));
        let mut mem_util =
            Family::gauge("hw_gpu_memory_utilization", "Fraction of a memory module in use", ratio());
        let mut mem_io = Family::counter(
            "hw_gpu_memory_io",
            "Bytes read from and written to device memory",
            Some(Unit::Bytes),
        );
        let mut pci_io = Family::counter(
            "hw_gpu_io",
            "Bytes received and transmitted over PCI Express",
            Some(Unit::Bytes),
        );
        let mut errors =
            Family::counter("hw_gpu_errors", "Hardware errors (RAS) by category and severity", None);
        let mut fan = Family::gauge("hw_fan_speed", "Fan speed", Some(Unit::Other("rpm".into())));
        let mut proc_mem = Family::gauge(
            "hw_gpu_process_memory_usage",
            "Device memory used by a process (largest users only)",
            Some(Unit::Bytes),
        );
        let mut read_errors = Family::counter(
            "zes_exporter_read_errors",
            "Failed reads of a device metric, by metric and reason",
            None,
        );
        let mut sample_secs = Family::gauge(
            "zes_exporter_sample_duration",
            "Time the latest read of the device took",
            Some(Unit::Seconds),
        );
        let mut sample_ts = Family::gauge(
            "zes_exporter_last_sample_timestamp",
            "Unix time of the latest read of the device",
            Some(Unit::Seconds),
        );

        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs_f64())
            .unwrap_or(0.0);
        for entry in &self.0.devices {
            let dl = device_labels(&entry.summary);
            let fresh = self.0.stale_after <= 0.0 || now - entry.last_sample_unix <= self.0.stale_after;
            up.set(dl.clone(), if entry.up && fresh { 1.0 } else { 0.0 });
            sample_secs.set(dl.clone(), entry.sample_seconds);
            if entry.last_sample_unix > 0.0 {
                sample_ts.set(dl.clone(), entry.last_sample_unix);
            }
            for ((metric, reason), n) in &entry.read_errors {
                read_errors.set(
                    with(dl.clone(), &[("metric", metric.clone()), ("reason", reason.clone())]),
                    *n as f64,
                );
            }
            let Some(stats) = &entry.stats else { continue };
            if let Reading::Ok(list) = &stats.power {
                for p in list {
                    let l = with(dl.clone(), &[("domain", p.domain.clone()), sd(p.subdevice)]);
                    power.add(l.clone(), &p.power_w);
                    energy.add(l.clone(), &p.energy_j);
                    if let Reading::Ok(Some(w)) = &p.sustained_limit_w {
                        power_limit.set(l, *w);
                    }
                }
            }
            if let Reading::Ok(list) = &stats.engines {
                for e in list {
                    util.add(
                        with(dl.clone(), &[("engine_group", e.group.clone()), sd(e.subdevice)]),
                        &e.utilization,
                    );
                }
            }
            if let Reading::Ok(list) = &stats.frequency {
                for f in list {
                    let l = with(dl.clone(), &[("domain", f.domain.clone()), sd(f.subdevice)]);
                    freq.add(l.clone(), &f.actual_hz);
                    freq_req.add(l.clone(), &f.request_hz);
                    throttle.add(l, &f.throttle_ratio);
                }
            }
            if let Reading::Ok(list) = &stats.temperature {
                for t in list {
                    temp.add(with(dl.clone(), &[("sensor", t.sensor.clone()), sd(t.subdevice)]), &t.celsius);
                }
            }
            if let Reading::Ok(list) = &stats.memory {
                for m in list {
                    let l = with(
                        dl.clone(),
                        &[("memory", m.index.to_string()), ("location", m.location.clone()), sd(m.subdevice)],
                    );
                    mem_limit.add(l.clone(), &u64f(&m.total_bytes));
                    mem_usage.add(l.clone(), &u64f(&m.used_bytes));
                    if let (Reading::Ok(used), Reading::Ok(total)) = (&m.used_bytes, &m.total_bytes) {
                        if *total > 0 {
                            mem_util.set(l.clone(), *used as f64 / *total as f64);
                        }
                    }
                    mem_io.add(with(l.clone(), &[("direction", "read".into())]), &u64f(&m.read_bytes));
                    mem_io.add(with(l, &[("direction", "write".into())]), &u64f(&m.write_bytes));
                }
            }
            if let Reading::Ok(pci) = &stats.pci {
                pci_io.add(with(dl.clone(), &[("direction", "receive".into())]), &u64f(&pci.rx_bytes));
                pci_io.add(with(dl.clone(), &[("direction", "transmit".into())]), &u64f(&pci.tx_bytes));
            }
            if let Reading::Ok(list) = &stats.ras {
                for r in list {
                    let l = with(dl.clone(), &[("category", r.category.clone()), sd(r.subdevice)]);
                    errors.add(with(l.clone(), &[("type", "correctable".into())]), &u64f(&r.correctable));
                    errors.add(with(l, &[("type", "uncorrectable".into())]), &u64f(&r.uncorrectable));
                }
            }
            if let Reading::Ok(list) = &stats.fans {
                for f in list {
                    fan.add(with(dl.clone(), &[("fan", f.index.to_string())]), &f.rpm);
                }
            }
            if let Reading::Ok(list) = &stats.processes {
                let mut procs: Vec<_> = list.iter().collect();
                procs.sort_by(|a, b| b.memory_bytes.cmp(&a.memory_bytes).then(a.pid.cmp(&b.pid)));
                for p in procs.into_iter().take(self.0.max_processes) {
                    let l = with(
                        dl.clone(),
                        &[("pid", p.pid.to_string()), ("process", p.name.clone().unwrap_or_default())],
                    );
                    proc_mem.set(l, p.memory_bytes as f64);
                }
            }
        }
        for family in [
            up,
            power,
            power_limit,
            energy,
            util,
            freq,
            freq_req,
            throttle,
            temp,
            mem_limit,
            mem_usage,
            mem_util,
            mem_io,
            pci_io,
            errors,
            fan,
            proc_mem,
            read_errors,
            sample_secs,
            sample_ts,
        ] {
            family.encode(&mut encoder)?;
        }
        let mut info = encoder.encode_descriptor("hw_gpu", "Identity of a GPU", None, MetricType::Info)?;
        for entry in &self.0.devices {
            let s = &entry.summary;
            let labels = with(
                device_labels(s),
                &[
                    ("driver", s.driver.to_string()),
                    ("driver_version", s.driver_version.clone()),
                    ("subdevices", s.subdevices.to_string()),
                ],
            );
            info.encode_info(&labels)?;
        }
        Ok(())
    }
}

/// Encodes `state` as OpenMetrics text (the format prometheus-client writes).
pub fn encode_openmetrics(state: Arc<ExportState>) -> String {
    let mut registry = Registry::default();
    registry.register(
        "zes_exporter_build",
        "Version of zes-smi serving these metrics",
        Info::new(vec![("version", escape(env!("CARGO_PKG_VERSION")))]),
    );
    registry.register_collector(Box::new(StateCollector(state)));
    let mut text = String::with_capacity(16 * 1024);
    // Writing into a String cannot fail.
    let _ = prometheus_client::encoding::text::encode(&mut text, &registry);
    text
}

/// Rewrites OpenMetrics text into the Prometheus text format 0.0.4: counters are described
/// under their `_total` name, info families become `_info` gauges, `# UNIT` and `# EOF` go.
pub fn openmetrics_to_prometheus(text: &str) -> String {
    let mut renamed: BTreeMap<&str, (String, &str)> = BTreeMap::new();
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("# TYPE ") {
            if let Some((name, kind)) = rest.split_once(' ') {
                match kind {
                    "counter" => {
                        renamed.insert(name, (format!("{name}_total"), "counter"));
                    }
                    "info" => {
                        renamed.insert(name, (format!("{name}_info"), "gauge"));
                    }
                    "unknown" => {
                        renamed.insert(name, (name.to_string(), "untyped"));
                    }
                    _ => {}
                }
            }
        }
    }
    let mut out = String::with_capacity(text.len());
    for line in text.lines() {
        if line == "# EOF" || line.starts_with("# UNIT ") {
            continue;
        }
        if let Some(rest) = line.strip_prefix("# HELP ") {
            let (name, help) = rest.split_once(' ').unwrap_or((rest, ""));
            let name = renamed.get(name).map(|(n, _)| n.as_str()).unwrap_or(name);
            out.push_str(&format!("# HELP {name} {help}\n"));
            continue;
        }
        if let Some(rest) = line.strip_prefix("# TYPE ") {
            let (name, kind) = rest.split_once(' ').unwrap_or((rest, "untyped"));
            let (name, kind) = renamed.get(name).map(|(n, k)| (n.as_str(), *k)).unwrap_or((name, kind));
            out.push_str(&format!("# TYPE {name} {kind}\n"));
            continue;
        }
        let sample_name = line.split(['{', ' ']).next().unwrap_or("");
        if sample_name.ends_with("_created") {
            continue;
        }
        out.push_str(line);
        out.push('\n');
    }
    out
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::model::*;

    pub(crate) fn fixture() -> ExportState {
        let summary = DeviceSummary {
            index: 0,
            driver: 0,
            name: "Intel(R) Data Center GPU Max 1550".into(),
            uuid: "00000000-0000-0000-0000-0000000000aa".into(),
            pci_address: Some("0000:29:00.0".into()),
            memory_bytes: Some(128 << 30),
            driver_version: "1.3.\"29\"\\x".into(),
            subdevices: 2,
        };
        let denied = Reading::Err(Unavailable {
            reason: Reason::Permission,
            code: "ZE_RESULT_ERROR_INSUFFICIENT_PERMISSIONS".into(),
            function: Some("zesTemperatureGetState".into()),
        });
        let stats = DeviceStats {
            summary: summary.clone(),
            window_s: 1.0,
            up: true,
            power: Reading::Ok(vec![PowerStat {
                domain: "card".into(),
                subdevice: None,
                power_w: Reading::Ok(412.5),
                energy_j: Reading::Ok(12345.678),
                sustained_limit_w: Reading::Ok(Some(600.0)),
            }]),
            frequency: Reading::Ok(vec![FrequencyStat {
                domain: "gpu".into(),
                subdevice: Some(0),
                actual_hz: Reading::Ok(1.6e9),
                request_hz: Reading::Ok(1.6e9),
                throttle_reasons: Reading::Ok(vec![]),
                throttle_ratio: Reading::Ok(0.0),
            }]),
            temperature: Reading::Ok(vec![TemperatureStat {
                sensor: "gpu".into(),
                subdevice: None,
                celsius: denied,
            }]),
            memory: Reading::Ok(vec![MemoryStat {
                index: 0,
                location: "device".into(),
                subdevice: Some(0),
                total_bytes: Reading::Ok(64 << 30),
                free_bytes: Reading::Ok(60 << 30),
                used_bytes: Reading::Ok(4 << 30),
                health: Reading::Ok("ok".into()),
                read_bytes: Reading::Ok(1000),
                write_bytes: Reading::Ok(2000),
                read_bytes_per_s: Reading::pending(),
                write_bytes_per_s: Reading::pending(),
            }]),
            engines: Reading::Ok(vec![EngineStat {
                group: "compute_all".into(),
                subdevice: None,
                utilization: Reading::Ok(0.5),
            }]),
            pci: Reading::Ok(PciStat {
                rx_bytes: Reading::Ok(5),
                tx_bytes: Reading::Ok(6),
                rx_bytes_per_s: Reading::Ok(1.0),
                tx_bytes_per_s: Reading::Ok(2.0),
            }),
            ras: Reading::Ok(vec![RasStat {
                category: "cache_errors".into(),
                subdevice: None,
                correctable: Reading::Ok(3),
                uncorrectable: Reading::Ok(0),
            }]),
            fans: Reading::Ok(vec![]),
            processes: Reading::Ok(
                (0..40)
                    .map(|pid| ProcessStat {
                        pid,
                        name: Some(format!("p{pid}")),
                        memory_bytes: pid as u64 * 10,
                        shared_bytes: 0,
                        engines: vec![],
                    })
                    .collect(),
            ),
        };
        let mut read_errors = BTreeMap::new();
        read_errors.insert(("temperature".to_string(), "permission".to_string()), 4);
        let lost = DeviceEntry {
            summary: DeviceSummary { index: 1, uuid: "lost".into(), ..summary.clone() },
            stats: None,
            up: false,
            read_errors: BTreeMap::new(),
            sample_seconds: 0.0,
            last_sample_unix: 0.0,
        };
        ExportState {
            devices: vec![
                DeviceEntry {
                    summary,
                    stats: Some(Arc::new(stats)),
                    up: true,
                    read_errors,
                    sample_seconds: 0.01,
                    last_sample_unix: 1.7e9,
                },
                lost,
            ],
            max_processes: 16,
            stale_after: 0.0,
        }
    }

    #[test]
    fn openmetrics_and_prometheus_text() {
        let om = encode_openmetrics(Arc::new(fixture()));
        assert!(om.ends_with("# EOF\n"), "{om}");
        assert!(om.contains("# TYPE hw_gpu_energy_joules counter"), "{om}");
        assert!(om.contains("hw_gpu_energy_joules_total{"), "{om}");
        assert!(om.contains("hw_gpu_power_watts{device=\"0\""), "{om}");
        assert!(om.contains("hw_gpu_up{device=\"1\",uuid=\"lost\""), "{om}");
        assert!(!om.contains("hw_gpu_temperature_celsius{"), "denied readings are absent: {om}");
        let procs = om.lines().filter(|l| l.starts_with("hw_gpu_process_memory_usage_bytes{")).count();
        assert_eq!(procs, 16, "per-process series are bounded");
        let prom = openmetrics_to_prometheus(&om);
        assert!(prom.contains("# TYPE hw_gpu_energy_joules_total counter"), "{prom}");
        assert!(prom.contains("# TYPE hw_gpu_info gauge"), "{prom}");
        assert!(prom.contains("# TYPE zes_exporter_build_info gauge"), "{prom}");
        assert!(!prom.contains("# EOF") && !prom.contains("# UNIT"), "{prom}");
    }

    /// `promtool check metrics` (parser and linter) on the Prometheus text format; fails when
    /// promtool is missing unless `ZES_SKIP_PROMETHEUS_TESTS=1`. (promtool does not parse
    /// OpenMetrics: the end-to-end test has a real Prometheus scrape that format.)
    #[test]
    fn promtool_accepts_prometheus_text() {
        if std::env::var("ZES_SKIP_PROMETHEUS_TESTS").as_deref() == Ok("1") {
            return;
        }
        let om = encode_openmetrics(Arc::new(fixture()));
        {
            let (label, text) = ("prometheus", openmetrics_to_prometheus(&om));
            use std::io::Write;
            let mut child = std::process::Command::new("promtool")
                .args(["check", "metrics"])
                .stdin(std::process::Stdio::piped())
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .expect("promtool is needed (apt-get install prometheus) or set ZES_SKIP_PROMETHEUS_TESTS=1");
            child.stdin.take().unwrap().write_all(text.as_bytes()).unwrap();
            let out = child.wait_with_output().unwrap();
            let report =
                format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
            assert!(out.status.success(), "promtool rejected the {label} text:\n{report}\n---\n{text}");
            assert!(report.trim().is_empty(), "promtool lint findings for {label}:\n{report}\n---\n{text}");
        }
    }
}
