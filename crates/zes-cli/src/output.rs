//! Tables, CSV and JSON, written to stdout; a closed pipe ends the program quietly.

use std::io::{self, Write};

use serde_json::Value;

use crate::model::Reason;

/// The output format of a read command.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    Table,
    Json,
    Csv,
}

/// Writes to stdout; a broken pipe (`zes-smi list | head -1`) exits 0 without a message.
pub struct Out {
    inner: io::BufWriter<io::Stdout>,
}

impl Default for Out {
    fn default() -> Self {
        Self::new()
    }
}

impl Out {
    pub fn new() -> Self {
        Self { inner: io::BufWriter::new(io::stdout()) }
    }
    /// A line for people (tables, CSV): control characters from the device or the driver
    /// (terminal escape sequences, line breaks, bidirectional overrides) are shown escaped.
    pub fn line(&mut self, text: &str) {
        self.raw_line(&printable(text));
    }
    /// A line written as it is: JSON, whose own escaping already covers control characters.
    pub fn raw_line(&mut self, text: &str) {
        let result = self.inner.write_all(text.as_bytes()).and_then(|_| self.inner.write_all(b"\n"));
        check(result);
    }
    pub fn flush(&mut self) {
        check(self.inner.flush());
    }
}

impl Drop for Out {
    fn drop(&mut self) {
        check(self.inner.flush());
    }
}

fn check(result: io::Result<()>) {
    if let Err(e) = result {
        if e.kind() == io::ErrorKind::BrokenPipe {
            std::process::exit(0);
        }
        eprintln!("zes-smi: cannot write output: {e}");
        std::process::exit(crate::EXIT_RUNTIME);
    }
}

/// An aligned text table: columns padded to their widest cell, numbers right-aligned.
pub struct Table {
    pub header: Vec<String>,
    pub rows: Vec<Vec<String>>,
}

impl Table {
    pub fn new(header: &[&str]) -> Self {
        Self { header: header.iter().map(|s| s.to_string()).collect(), rows: Vec::new() }
    }
    /// Adds a row; control characters in cells are escaped here so that widths are right.
    pub fn push(&mut self, row: Vec<String>) {
        self.rows.push(row.into_iter().map(|cell| printable(&cell).into_owned()).collect());
    }
    pub fn render(&self) -> Vec<String> {
        let n = self.header.len();
        let mut width = vec![0usize; n];
        let mut numeric = vec![true; n];
        for row in std::iter::once(&self.header).chain(&self.rows) {
            for (i, cell) in row.iter().enumerate().take(n) {
                width[i] = width[i].max(cell.chars().count());
            }
        }
        for row in &self.rows {
            for (i, cell) in row.iter().enumerate().take(n) {
                if !looks_numeric(cell) {
                    numeric[i] = false;
                }
            }
        }
        let mut lines = Vec::with_capacity(self.rows.len() + 1);
        for row in std::iter::once(&self.header).chain(&self.rows) {
            let mut line = String::new();
            for (i, cell) in row.iter().enumerate().take(n) {
                if i > 0 {
                    line.push_str("  ");
                }
                let pad = width[i] - cell.chars().count();
                if numeric[i] && !std::ptr::eq(row, &self.header) {
                    line.push_str(&" ".repeat(pad));
                    line.push_str(cell);
                } else {
                    line.push_str(cell);
                    if i + 1 < n {
                        line.push_str(&" ".repeat(pad));
                    }
                }
            }
            lines.push(line.trim_end().to_string());
        }
        lines
    }
    pub fn csv(&self) -> Vec<String> {
        std::iter::once(&self.header)
            .chain(&self.rows)
            .map(|row| row.iter().map(|c| csv_field(c)).collect::<Vec<_>>().join(","))
            .collect()
    }
}

/// Whether a character must not reach a terminal as it is: C0 and C1 controls, DEL, and the
/// Unicode bidirectional overrides and isolates that reorder what is shown.
fn is_unprintable(c: char) -> bool {
    c.is_control() || matches!(c, '\u{200e}' | '\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
}

/// `text` with every unprintable character written as its escape (ESC -> `\u{1b}`), so that a
/// device string cannot move the cursor, recolour or retitle the terminal, or fake lines.
pub fn printable(text: &str) -> std::borrow::Cow<'_, str> {
    if !text.chars().any(is_unprintable) {
        return std::borrow::Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        if is_unprintable(c) {
            out.push_str(&c.escape_unicode().to_string());
        } else {
            out.push(c);
        }
    }
    std::borrow::Cow::Owned(out)
}

fn looks_numeric(cell: &str) -> bool {
    cell.starts_with('[') || cell == "-" || cell.parse::<f64>().is_ok()
}

/// One CSV field, quoted when it holds a comma, quote or line break (RFC 4180).
pub fn csv_field(text: &str) -> String {
    if text.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", text.replace('"', "\"\""))
    } else {
        text.to_string()
    }
}

/// The reason of a failed reading, if `value` is one (`{"error": ..., "code": ...}`).
pub fn failure_reason(value: &Value) -> Option<Reason> {
    let obj = value.as_object()?;
    if !obj.contains_key("code") {
        return None;
    }
    Some(match obj.get("error")?.as_str()? {
        "permission" => Reason::Permission,
        "unsupported" => Reason::Unsupported,
        "device_lost" => Reason::DeviceLost,
        "pending" => Reason::Pending,
        "implausible" => Reason::Implausible,
        _ => Reason::Other,
    })
}

/// A metric value for people: the JSON and CSV keep base units (bytes, hertz, watts, ratios),
/// tables show them scaled and with their unit, chosen by the metric name's suffix.
pub fn human(path: &str, value: &str) -> String {
    let Ok(x) = value.parse::<f64>() else { return value.to_string() };
    let name = path.rsplit('.').next().unwrap_or(path);
    let bytes = |x: f64| {
        let units = ["B", "KiB", "MiB", "GiB", "TiB"];
        let mut v = x;
        let mut unit = 0;
        while v.abs() >= 1024.0 && unit + 1 < units.len() {
            v /= 1024.0;
            unit += 1;
        }
        if unit == 0 {
            format!("{v:.0} B")
        } else {
            format!("{v:.1} {}", units[unit])
        }
    };
    if name.ends_with("_bytes_per_s") {
        format!("{:.2} GB/s", x / 1e9)
    } else if name.ends_with("_bytes") {
        bytes(x)
    } else if name.ends_with("_hz") {
        format!("{:.0} MHz", x / 1e6)
    } else if name.ends_with("_w") {
        format!("{x:.1} W")
    } else if name.ends_with("_j") {
        format!("{x:.1} J")
    } else if name == "utilization" || name.ends_with("_ratio") {
        format!("{:.1} %", x * 100.0)
    } else if name == "celsius" {
        format!("{x:.0} °C")
    } else if name.ends_with("_s") {
        format!("{x} s")
    } else {
        value.to_string()
    }
}

/// Flattens a JSON record into `(metric path, value text)` pairs. Array elements are named by
/// their identifying field (`power.card.power_w`, `temperature.gpu@sd0.celsius`); failed
/// readings become their marker (`[P]`), with the reason text in `reasons`.
pub fn flatten(value: &Value) -> Vec<(String, String, Option<Reason>)> {
    let mut out = Vec::new();
    walk(value, String::new(), &mut out);
    out
}

/// The name of an array element (from its identifying fields) and the fields that name uses.
fn element_key(value: &Value, index: usize) -> (String, Vec<&'static str>) {
    let Some(obj) = value.as_object() else { return (index.to_string(), Vec::new()) };
    let mut used = Vec::new();
    let mut key = None;
    for field in ["domain", "sensor", "group", "category", "location", "name", "pid", "index"] {
        let text = match obj.get(field) {
            Some(Value::String(s)) => s.clone(),
            Some(Value::Number(n)) => n.to_string(),
            _ => continue,
        };
        used.push(field);
        key = Some(text);
        break;
    }
    let mut key = key.unwrap_or_else(|| index.to_string());
    if used == ["location"] {
        if let Some(Value::Number(i)) = obj.get("index") {
            key = format!("{i}:{key}");
            used.push("index");
        }
    }
    match obj.get("subdevice") {
        Some(Value::Number(sd)) => {
            key.push_str(&format!("@sd{sd}"));
            used.push("subdevice");
        }
        Some(Value::Null) => used.push("subdevice"),
        _ => {}
    }
    (key, used)
}

fn walk(value: &Value, path: String, out: &mut Vec<(String, String, Option<Reason>)>) {
    walk_skipping(value, path, &[], out)
}

fn walk_skipping(
    value: &Value,
    path: String,
    skip: &[&str],
    out: &mut Vec<(String, String, Option<Reason>)>,
) {
    if let Some(reason) = failure_reason(value) {
        out.push((path, reason.marker().to_string(), Some(reason)));
        return;
    }
    let join = |k: &str| if path.is_empty() { k.to_string() } else { format!("{path}.{k}") };
    match value {
        Value::Object(map) => {
            for (k, v) in map {
                if !skip.contains(&k.as_str()) {
                    walk(v, join(k), out);
                }
            }
        }
        Value::Array(items) if items.iter().all(|v| !v.is_object()) => {
            let text: Vec<String> = items.iter().map(scalar).collect();
            out.push((path, if text.is_empty() { "-".into() } else { text.join(" ") }, None));
        }
        Value::Array(items) => {
            for (i, v) in items.iter().enumerate() {
                let (key, used) = element_key(v, i);
                walk_skipping(v, join(&key), &used, out);
            }
        }
        other => out.push((path, scalar(other), None)),
    }
}

fn scalar(value: &Value) -> String {
    match value {
        Value::Null => "-".into(),
        Value::String(s) => s.clone(),
        Value::Number(n) => match n.as_f64() {
            Some(f) if n.is_f64() => format_float(f),
            _ => n.to_string(),
        },
        Value::Bool(b) => b.to_string(),
        other => other.to_string(),
    }
}

/// Floats with at most 3 decimals, trailing zeros removed.
pub fn format_float(f: f64) -> String {
    let s = format!("{f:.3}");
    let s = s.trim_end_matches('0').trim_end_matches('.');
    if s == "-0" {
        "0".into()
    } else {
        s.to_string()
    }
}

/// Prints the legend of the markers that occur, to stderr-free stdout after a table.
pub fn legend(out: &mut Out, reasons: impl IntoIterator<Item = Reason>) {
    let mut seen: Vec<Reason> = reasons.into_iter().collect();
    seen.sort_by_key(|r| r.as_str());
    seen.dedup();
    if seen.is_empty() {
        return;
    }
    let parts: Vec<String> = seen
        .iter()
        .map(|r| {
            let text = match r {
                Reason::Permission => "needs privileges (run as root)",
                Reason::Unsupported => "unsupported",
                Reason::DeviceLost => "device lost",
                Reason::Pending => "needs a second sample",
                Reason::Implausible => "implausible rate (a counter glitch), refused",
                Reason::Other => "read error",
            };
            format!("{} {}", r.marker(), text)
        })
        .collect();
    out.line("");
    out.line(&format!("Legend: {}", parts.join("; ")));
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn tables_show_scaled_values_with_units() {
        assert_eq!(super::human("power.card.power_w", "95.035"), "95.0 W");
        assert_eq!(super::human("frequency.gpu.actual_hz", "2400000000"), "2400 MHz");
        assert_eq!(super::human("memory.0:device.used_bytes", "1543503872"), "1.4 GiB");
        assert_eq!(super::human("memory.0:device.read_bytes_per_s", "40000111532.5"), "40.00 GB/s");
        assert_eq!(super::human("engines.all.utilization", "0.3"), "30.0 %");
        assert_eq!(super::human("temperature.gpu.celsius", "39"), "39 °C");
        assert_eq!(super::human("window_s", "0.2"), "0.2 s");
        assert_eq!(super::human("power.card.power_w", "[P]"), "[P]");
        assert_eq!(super::human("fans.0.rpm", "600"), "600");
    }

    #[test]
    fn flatten_names_elements_and_marks_failures() {
        let v = json!({
            "power": [{"domain": "card", "subdevice": null, "power_w": 12.5}],
            "temperature": [{"sensor": "gpu", "subdevice": 1, "celsius": {"error": "permission", "code": "X", "function": null}}],
            "list": [],
        });
        let flat = flatten(&v);
        assert_eq!(flat[0], ("power.card.power_w".into(), "12.5".into(), None));
        assert_eq!(flat[1], ("temperature.gpu@sd1.celsius".into(), "[P]".into(), Some(Reason::Permission)));
        assert_eq!(flat[2], ("list".into(), "-".into(), None));
    }

    #[test]
    fn csv_quoting_and_tables() {
        assert_eq!(csv_field("a,b"), "\"a,b\"");
        assert_eq!(csv_field("say \"hi\""), "\"say \"\"hi\"\"\"");
        let mut t = Table::new(&["A", "NAME"]);
        t.push(vec!["1".into(), "x".into()]);
        t.push(vec!["10".into(), "yy".into()]);
        assert_eq!(t.render(), vec!["A   NAME", " 1  x", "10  yy"]);
        assert_eq!(format_float(1.23456), "1.235");
        assert_eq!(format_float(2.0), "2");
    }
}
