//! The subcommands.

use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::cli::{Cli, Command, FormatArgs, SetArgs};
use crate::model::{DeviceStats, Reading, Reason};
use crate::output::{flatten, format_float, legend, Format, Out, Table};
use crate::source::{Fatal, Session};

fn format_of(f: FormatArgs) -> Format {
    if f.json {
        Format::Json
    } else if f.csv {
        Format::Csv
    } else {
        Format::Table
    }
}

pub fn run(cli: Cli) -> Result<(), Fatal> {
    if let Command::SimulatorDriver = cli.command {
        return simulator_driver();
    }
    let session = Session::open(cli.simulate.as_deref(), cli.library.as_deref())?;
    let select = |s: &crate::cli::Select| session.select(&s.devices).map_err(Fatal::usage);
    match cli.command {
        Command::List { format } => list(&session, format_of(format)),
        Command::Info { select: s, format } => info(&session, &select(&s)?, format_of(format)),
        Command::Stats { select: s, format, window } => {
            stats(&session, &select(&s)?, format_of(format), window)
        }
        Command::Watch { select: s, format, interval, count, metrics } => {
            watch(&session, &select(&s)?, format_of(format), interval, count, &metrics)
        }
        Command::Processes { select: s, format } => processes(&session, &select(&s)?, format_of(format)),
        Command::Set(args) => {
            let devices = select(&args.select)?;
            set(&session, &devices, &args)
        }
        Command::Exporter(args) => crate::exporter::run(session, &args).map_err(Fatal::runtime),
        Command::SimulatorDriver => simulator_driver(),
    }
}

/// Needs no library: where the standalone simulated driver of this build is.
fn simulator_driver() -> Result<(), Fatal> {
    let path = zes_sim::instance::standalone_driver_file().ok_or_else(|| {
        Fatal::runtime(
            "the standalone simulated driver file is not installed beside this zes-smi \
             (pip install pyzes ships it; cargo builds it with `cargo build -p zes-sim`)",
        )
    })?;
    Out::new().line(&path.display().to_string());
    Ok(())
}

fn print_json(out: &mut Out, value: &Value) {
    out.raw_line(&serde_json::to_string_pretty(value).unwrap_or_default());
}

fn bytes_text(b: Option<u64>) -> String {
    match b {
        Some(b) => format!("{:.1} GiB", b as f64 / (1u64 << 30) as f64),
        None => "-".into(),
    }
}

fn list(session: &Session, format: Format) -> Result<(), Fatal> {
    let mut out = Out::new();
    let devices: Vec<_> = (0..session.len()).map(|i| session.summary(i)).collect();
    match format {
        Format::Json => print_json(&mut out, &json!({ "schema": "zes-smi/1", "devices": devices })),
        _ => {
            let mut t = Table::new(&["IDX", "DRV", "NAME", "UUID", "PCI", "MEMORY", "DRIVER", "SUBDEVICES"]);
            for d in &devices {
                let mem = match format {
                    Format::Csv => d.memory_bytes.map(|m| m.to_string()).unwrap_or_default(),
                    _ => bytes_text(d.memory_bytes),
                };
                t.push(vec![
                    d.index.to_string(),
                    d.driver.to_string(),
                    d.name.clone(),
                    d.uuid.clone(),
                    d.pci_address.clone().unwrap_or_else(|| "-".into()),
                    mem,
                    d.driver_version.clone(),
                    d.subdevices.to_string(),
                ]);
            }
            let lines = if format == Format::Csv { t.csv() } else { t.render() };
            for l in lines {
                out.line(&l);
            }
        }
    }
    Ok(())
}

/// Prints records (info or stats) as key/value tables per device, CSV rows or JSON.
fn records(out: &mut Out, format: Format, key: &str, records: Vec<Value>) {
    match format {
        Format::Json => print_json(out, &json!({ "schema": "zes-smi/1", key: records })),
        Format::Csv => {
            out.line("device,metric,value,status");
            for rec in &records {
                let idx = rec.get("index").and_then(Value::as_u64).unwrap_or(0);
                for (path, value, reason) in flatten(rec) {
                    let (value, status) = match reason {
                        Some(r) => (String::new(), r.as_str().to_string()),
                        None => (value, "ok".into()),
                    };
                    out.line(&format!(
                        "{idx},{},{},{}",
                        crate::output::csv_field(&path),
                        crate::output::csv_field(&value),
                        status
                    ));
                }
            }
        }
        Format::Table => {
            let mut reasons = Vec::new();
            for (n, rec) in records.iter().enumerate() {
                if n > 0 {
                    out.line("");
                }
                let idx = rec.get("index").and_then(Value::as_u64).unwrap_or(0);
                let name = rec.get("name").and_then(Value::as_str).unwrap_or("");
                out.line(&format!("Device {idx}: {name}"));
                let mut t = Table::new(&["  METRIC", "VALUE"]);
                for (path, value, reason) in flatten(rec) {
                    if matches!(path.as_str(), "index" | "name") {
                        continue;
                    }
                    reasons.extend(reason);
                    let value = crate::output::human(&path, &value);
                    t.push(vec![format!("  {path}"), value]);
                }
                for l in t.render() {
                    out.line(&l);
                }
            }
            legend(out, reasons);
        }
    }
}

fn info(session: &Session, devices: &[usize], format: Format) -> Result<(), Fatal> {
    let mut out = Out::new();
    let recs =
        devices.iter().map(|&i| serde_json::to_value(session.info(i)).unwrap_or(Value::Null)).collect();
    records(&mut out, format, "devices", recs);
    Ok(())
}

/// Two samples `window` apart, read concurrently across devices.
fn sample_all(session: &Session, devices: &[usize], window: Duration) -> Vec<DeviceStats> {
    std::thread::scope(|scope| {
        let handles: Vec<_> = devices
            .iter()
            .map(|&i| {
                let mut sampler = session.sampler(i);
                scope.spawn(move || {
                    let start = Instant::now();
                    sampler.sample();
                    std::thread::sleep(window.saturating_sub(start.elapsed()));
                    sampler.sample()
                })
            })
            .collect();
        handles.into_iter().filter_map(|h| h.join().ok()).collect()
    })
}

fn stats(session: &Session, devices: &[usize], format: Format, window: Duration) -> Result<(), Fatal> {
    let mut out = Out::new();
    let all = sample_all(session, devices, window);
    let lost = all.iter().any(|s| !s.up);
    let recs = all.iter().map(|s| serde_json::to_value(s).unwrap_or(Value::Null)).collect();
    records(&mut out, format, "devices", recs);
    out.flush();
    if lost {
        return Err(Fatal::runtime("one or more devices are lost (ZE_RESULT_ERROR_DEVICE_LOST)"));
    }
    Ok(())
}

fn cell<T>(r: &Reading<T>, f: impl Fn(&T) -> String, reasons: &mut Vec<Reason>) -> String {
    match r {
        Reading::Ok(v) => f(v),
        Reading::Err(e) => {
            reasons.push(e.reason);
            e.reason.marker().to_string()
        }
    }
}

/// The columns of `watch` for one device sample.
fn watch_row(s: &DeviceStats, groups: &[&str], reasons: &mut Vec<Reason>) -> Vec<(String, String)> {
    let mut cols = Vec::new();
    let sum = |v: &[f64]| v.iter().sum::<f64>();
    let first_ok = |r: &Reading<Vec<crate::model::PowerStat>>| -> Reading<f64> {
        match r {
            Reading::Err(e) => Reading::Err(e.clone()),
            Reading::Ok(list) => {
                let pick = list
                    .iter()
                    .find(|p| p.domain == "card")
                    .or_else(|| list.iter().find(|p| p.subdevice.is_none()))
                    .or(list.first());
                match pick {
                    Some(p) => p.power_w.clone(),
                    None => Reading::unsupported("zesDeviceEnumPowerDomains"),
                }
            }
        }
    };
    for g in groups {
        match *g {
            "power" => {
                cols.push(("POWER_W".into(), cell(&first_ok(&s.power), |w| format!("{w:.1}"), reasons)))
            }
            "util" => {
                let u: Reading<f64> = match &s.engines {
                    Reading::Err(e) => Reading::Err(e.clone()),
                    Reading::Ok(list) => {
                        let all: Vec<&crate::model::EngineStat> =
                            list.iter().filter(|e| e.group == "all").collect();
                        let pool: Vec<&crate::model::EngineStat> =
                            if all.is_empty() { list.iter().collect() } else { all };
                        match pool.iter().find_map(|e| e.utilization.err().cloned()) {
                            Some(err) => Reading::Err(err),
                            None if pool.is_empty() => Reading::unsupported("zesDeviceEnumEngineGroups"),
                            None => Reading::Ok(
                                pool.iter().filter_map(|e| e.utilization.ok().copied()).fold(0.0, f64::max),
                            ),
                        }
                    }
                };
                cols.push(("GPU_UTIL_%".into(), cell(&u, |v| format!("{:.1}", v * 100.0), reasons)));
            }
            "freq" => {
                let f: Reading<f64> = match &s.frequency {
                    Reading::Err(e) => Reading::Err(e.clone()),
                    Reading::Ok(list) => list
                        .iter()
                        .find(|f| f.domain == "gpu")
                        .map(|f| f.actual_hz.clone())
                        .unwrap_or_else(|| Reading::unsupported("zesDeviceEnumFrequencyDomains")),
                };
                cols.push(("GPU_MHZ".into(), cell(&f, |v| format!("{:.0}", v / 1e6), reasons)));
            }
            "temp" => {
                let t: Reading<f64> = match &s.temperature {
                    Reading::Err(e) => Reading::Err(e.clone()),
                    Reading::Ok(list) => {
                        let pick = list.iter().find(|t| t.sensor == "gpu").or(list.first());
                        pick.map(|t| t.celsius.clone())
                            .unwrap_or_else(|| Reading::unsupported("zesDeviceEnumTemperatureSensors"))
                    }
                };
                cols.push(("TEMP_C".into(), cell(&t, |v| format!("{v:.0}"), reasons)));
            }
            "mem" => {
                let m: Reading<f64> = match &s.memory {
                    Reading::Err(e) => Reading::Err(e.clone()),
                    Reading::Ok(list) => match list.iter().find_map(|m| m.used_bytes.err().cloned()) {
                        Some(e) => Reading::Err(e),
                        None => {
                            let used: Vec<f64> =
                                list.iter().filter_map(|m| m.used_bytes.ok().map(|v| *v as f64)).collect();
                            let total: Vec<f64> =
                                list.iter().filter_map(|m| m.total_bytes.ok().map(|v| *v as f64)).collect();
                            if sum(&total) > 0.0 {
                                Reading::Ok(100.0 * sum(&used) / sum(&total))
                            } else {
                                Reading::unsupported("zesDeviceEnumMemoryModules")
                            }
                        }
                    },
                };
                cols.push(("MEM_USED_%".into(), cell(&m, |v| format!("{v:.1}"), reasons)));
            }
            "bw" => {
                for (name, pick) in [("MEM_RD_MB/S", 0usize), ("MEM_WR_MB/S", 1)] {
                    let b: Reading<f64> = match &s.memory {
                        Reading::Err(e) => Reading::Err(e.clone()),
                        Reading::Ok(list) => {
                            let rs: Vec<&Reading<f64>> = list
                                .iter()
                                .map(|m| if pick == 0 { &m.read_bytes_per_s } else { &m.write_bytes_per_s })
                                .collect();
                            match rs.iter().find_map(|r| r.err().cloned()) {
                                Some(e) => Reading::Err(e),
                                None => Reading::Ok(rs.iter().filter_map(|r| r.ok().copied()).sum()),
                            }
                        }
                    };
                    cols.push((name.into(), cell(&b, |v| format!("{:.1}", v / 1e6), reasons)));
                }
            }
            "pci" => {
                let (rx, tx) = match &s.pci {
                    Reading::Err(e) => (Reading::Err(e.clone()), Reading::Err(e.clone())),
                    Reading::Ok(p) => (p.rx_bytes_per_s.clone(), p.tx_bytes_per_s.clone()),
                };
                cols.push(("PCI_RX_MB/S".into(), cell(&rx, |v| format!("{:.1}", v / 1e6), reasons)));
                cols.push(("PCI_TX_MB/S".into(), cell(&tx, |v| format!("{:.1}", v / 1e6), reasons)));
            }
            _ => {}
        }
    }
    cols
}

fn watch(
    session: &Session,
    devices: &[usize],
    format: Format,
    interval: Duration,
    count: Option<u64>,
    metrics: &[String],
) -> Result<(), Fatal> {
    let all = ["power", "util", "freq", "temp", "mem", "bw", "pci"];
    let groups: Vec<&str> = if metrics.is_empty() {
        all.to_vec()
    } else {
        all.iter().copied().filter(|g| metrics.iter().any(|m| m == g)).collect()
    };
    let mut out = Out::new();
    let mut samplers: Vec<_> = devices.iter().map(|&i| session.sampler(i)).collect();
    // A first sample so that the first line already has derived values.
    std::thread::scope(|s| {
        for sm in samplers.iter_mut() {
            s.spawn(move || sm.sample());
        }
    });
    let start = Instant::now();
    let mut next = start + interval;
    let mut header_done = false;
    let mut n = 0u64;
    let mut seen: Vec<Reason> = Vec::new();
    loop {
        if let Some(c) = count {
            if n >= c {
                break;
            }
        }
        std::thread::sleep(next.saturating_duration_since(Instant::now()));
        next += interval;
        let results: Vec<DeviceStats> = std::thread::scope(|s| {
            let hs: Vec<_> = samplers.iter_mut().map(|sm| s.spawn(move || sm.sample())).collect();
            hs.into_iter().filter_map(|h| h.join().ok()).collect()
        });
        let ts = timestamp();
        for st in &results {
            match format {
                Format::Json => {
                    let mut v = serde_json::to_value(st).unwrap_or(Value::Null);
                    if let Value::Object(m) = &mut v {
                        m.insert("timestamp".into(), json!(ts));
                    }
                    out.raw_line(&serde_json::to_string(&v).unwrap_or_default());
                }
                _ => {
                    let mut reasons = Vec::new();
                    let cols = watch_row(st, &groups, &mut reasons);
                    let mut names = vec!["TIMESTAMP".to_string(), "DEV".to_string()];
                    names.extend(cols.iter().map(|c| c.0.clone()));
                    let mut values = vec![ts.clone(), st.summary.index.to_string()];
                    values.extend(cols.iter().map(|c| c.1.clone()));
                    if format == Format::Csv {
                        if !header_done {
                            out.line(&names.join(","));
                        }
                        out.line(&values.join(","));
                    } else {
                        let widths: Vec<usize> = names.iter().map(|n| n.len().max(8)).collect();
                        let fmt = |row: &[String]| {
                            row.iter()
                                .zip(&widths)
                                .enumerate()
                                .map(
                                    |(i, (c, w))| {
                                        if i == 0 {
                                            format!("{c:<24}")
                                        } else {
                                            format!("{c:>w$}")
                                        }
                                    },
                                )
                                .collect::<Vec<_>>()
                                .join(" ")
                        };
                        if !header_done {
                            out.line(&fmt(&names));
                        }
                        out.line(&fmt(&values));
                    }
                    header_done = true;
                    for r in reasons {
                        if !seen.contains(&r) {
                            seen.push(r);
                        }
                    }
                }
            }
        }
        out.flush();
        n += 1;
    }
    if format == Format::Table {
        legend(&mut out, seen);
    }
    Ok(())
}

fn timestamp() -> String {
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
    let secs = now.as_secs();
    let (days, rem) = (secs / 86_400, secs % 86_400);
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = days as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + if m <= 2 { 1 } else { 0 };
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{:03}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60,
        now.subsec_millis()
    )
}

fn processes(session: &Session, devices: &[usize], format: Format) -> Result<(), Fatal> {
    let mut out = Out::new();
    let mut recs = Vec::new();
    for &i in devices {
        let s = session.summary(i);
        recs.push((s, session.processes(i)));
    }
    match format {
        Format::Json => {
            let v: Vec<Value> = recs
                .iter()
                .map(|(s, p)| json!({"index": s.index, "uuid": s.uuid, "name": s.name, "processes": p}))
                .collect();
            print_json(&mut out, &json!({"schema": "zes-smi/1", "devices": v}));
        }
        _ => {
            let mut t = Table::new(&["DEV", "PID", "NAME", "MEMORY_BYTES", "SHARED_BYTES", "ENGINES"]);
            let mut reasons = Vec::new();
            for (s, p) in &recs {
                match p {
                    Reading::Ok(list) => {
                        for p in list {
                            t.push(vec![
                                s.index.to_string(),
                                p.pid.to_string(),
                                p.name.clone().unwrap_or_else(|| "-".into()),
                                p.memory_bytes.to_string(),
                                p.shared_bytes.to_string(),
                                if p.engines.is_empty() { "-".into() } else { p.engines.join("|") },
                            ]);
                        }
                    }
                    Reading::Err(e) => {
                        reasons.push(e.reason);
                        let m = e.reason.marker().to_string();
                        t.push(vec![s.index.to_string(), m.clone(), m.clone(), m.clone(), m.clone(), m]);
                    }
                }
            }
            let lines = if format == Format::Csv { t.csv() } else { t.render() };
            for l in lines {
                out.line(&l);
            }
            if format == Format::Table {
                legend(&mut out, reasons);
            }
        }
    }
    Ok(())
}

fn set(session: &Session, devices: &[usize], args: &SetArgs) -> Result<(), Fatal> {
    if args.power_limit.is_none() && args.freq_range.is_none() && args.ecc.is_none() && !args.reset_defaults {
        return Err(Fatal::usage(
            "nothing to set: give --power-limit, --freq-range, --ecc or --reset-defaults",
        ));
    }
    if !args.yes {
        return Err(Fatal::usage("`set` changes device settings: add --yes to confirm"));
    }
    for &i in devices {
        crate::source::apply(session, i, args)?;
        eprintln!("device {i}: settings applied");
    }
    let _ = format_float;
    Ok(())
}
