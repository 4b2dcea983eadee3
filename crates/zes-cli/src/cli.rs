//! Command-line arguments.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};

#[derive(Parser, Debug)]
#[command(
    name = "zes-smi",
    version,
    about = "Query, watch and export Intel GPU telemetry (Level Zero Sysman)",
    after_help = "Exit codes: 0 success, 1 runtime error (no driver, device error), 2 usage error."
)]
pub struct Cli {
    /// Run against the built-in simulated driver: a preset list (max1550,a770,igpu) or a
    /// TOML machine file. Without a value: the default machine (2x max1550 + 1x a770).
    #[arg(long, global = true, value_name = "PRESET|FILE", num_args = 0..=1, default_missing_value = "")]
    pub simulate: Option<String>,

    /// Open this Level Zero loader or driver library instead of searching for the loader.
    #[arg(long, global = true, value_name = "PATH")]
    pub library: Option<PathBuf>,

    #[command(subcommand)]
    pub command: Command,
}

#[derive(Args, Debug, Clone, Copy, Default)]
pub struct FormatArgs {
    /// Print JSON (schema in the README).
    #[arg(long, conflicts_with = "csv")]
    pub json: bool,
    /// Print CSV.
    #[arg(long)]
    pub csv: bool,
}

#[derive(Args, Debug, Clone, Default)]
pub struct Select {
    /// Devices: comma-separated indices, UUIDs (or a unique prefix) or PCI addresses.
    #[arg(short = 'd', long = "device", value_name = "SEL", value_delimiter = ',')]
    pub devices: Vec<String>,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// One line per device: index, name, UUID, PCI address, memory, driver, sub-devices.
    List {
        #[command(flatten)]
        format: FormatArgs,
    },
    /// Everything static about the selected devices.
    Info {
        #[command(flatten)]
        select: Select,
        #[command(flatten)]
        format: FormatArgs,
    },
    /// One sample of every live metric, with derived values (watts, utilization, bandwidth).
    Stats {
        #[command(flatten)]
        select: Select,
        #[command(flatten)]
        format: FormatArgs,
        /// Sampling window for derived values.
        #[arg(short = 'w', long, default_value = "200ms", value_parser = parse_window)]
        window: Duration,
    },
    /// A line per device per interval (like `xpu-smi dump`).
    Watch {
        #[command(flatten)]
        select: Select,
        #[command(flatten)]
        format: FormatArgs,
        /// Interval between lines (at least 100ms).
        #[arg(short = 'i', long, default_value = "1s", value_parser = parse_interval)]
        interval: Duration,
        /// Stop after COUNT intervals, at least 1 (default: until interrupted).
        #[arg(short = 'n', long, value_name = "COUNT", value_parser = clap::value_parser!(u64).range(1..))]
        count: Option<u64>,
        /// Metric groups: power,util,freq,temp,mem,bw,pci (default: all).
        #[arg(short = 'm', long, value_delimiter = ',', value_parser = ["power", "util", "freq", "temp", "mem", "bw", "pci"])]
        metrics: Vec<String>,
    },
    /// Processes using the selected devices.
    Processes {
        #[command(flatten)]
        select: Select,
        #[command(flatten)]
        format: FormatArgs,
    },
    /// Change settings (needs --yes).
    Set(SetArgs),
    /// Serve /metrics for Prometheus (text format and OpenMetrics).
    Exporter(ExporterArgs),
    /// Print the path of the standalone simulated driver file, for other Level Zero programs:
    /// `ZE_ENABLE_ALT_DRIVERS=$(zes-smi simulator-driver) program`.
    SimulatorDriver,
}

#[derive(Args, Debug)]
pub struct SetArgs {
    #[command(flatten)]
    pub select: Select,
    /// Sustained power limit in watts (all power domains that can be controlled).
    #[arg(long, value_name = "WATTS", value_parser = parse_watts)]
    pub power_limit: Option<f64>,
    /// Frequency range in MHz for the GPU domain: MIN,MAX.
    #[arg(long, value_name = "MIN,MAX", value_parser = parse_range)]
    pub freq_range: Option<(f64, f64)>,
    /// ECC on or off (takes effect after a reset or reboot).
    #[arg(long, value_parser = ["on", "off"])]
    pub ecc: Option<String>,
    /// Restore default power limits and frequency ranges.
    #[arg(long)]
    pub reset_defaults: bool,
    /// Confirm the change.
    #[arg(long)]
    pub yes: bool,
}

#[derive(Args, Debug, Clone)]
pub struct ExporterArgs {
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:9464")]
    pub listen: SocketAddr,
    /// How often devices are read in the background.
    #[arg(long, default_value = "5s", value_parser = parse_interval)]
    pub interval: Duration,
    /// Prometheus exporter-toolkit web config: tls_server_config (client certificates, versions,
    /// suites), http_server_config.headers, rate_limit, basic_auth_users.
    #[arg(long, value_name = "FILE")]
    pub web_config: Option<PathBuf>,
    /// At most this many per-process series per device.
    #[arg(long, default_value_t = 16)]
    pub max_processes: usize,
    #[command(flatten)]
    pub select: Select,
}

/// Parses `250ms`, `1s`, `1.5s`, `2m` or a bare number of seconds.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    let (number, scale) = if let Some(n) = text.strip_suffix("ms") {
        (n, 0.001)
    } else if let Some(n) = text.strip_suffix('s') {
        (n, 1.0)
    } else if let Some(n) = text.strip_suffix('m') {
        (n, 60.0)
    } else {
        (text, 1.0)
    };
    let value: f64 =
        number.trim().parse().map_err(|_| format!("not a duration: {text:?} (try 500ms, 2s)"))?;
    if !value.is_finite() || value < 0.0 || value * scale > 86_400.0 {
        return Err(format!("duration out of range: {text:?}"));
    }
    Ok(Duration::from_secs_f64(value * scale))
}

fn parse_interval(text: &str) -> Result<Duration, String> {
    let d = parse_duration(text)?;
    if d < Duration::from_millis(100) {
        return Err("must be at least 100ms so derived values stay meaningful".into());
    }
    Ok(d)
}

fn parse_window(text: &str) -> Result<Duration, String> {
    let d = parse_duration(text)?;
    if d < Duration::from_millis(20) || d > Duration::from_secs(60) {
        return Err("must be between 20ms and 60s".into());
    }
    Ok(d)
}

/// A finite, positive number of watts: NaN would pass every range check (each comparison is
/// false) and reach the driver as 0 mW.
fn parse_watts(text: &str) -> Result<f64, String> {
    let watts: f64 = text.trim().parse().map_err(|_| format!("not a number of watts: {text:?}"))?;
    if !watts.is_finite() || watts <= 0.0 {
        return Err(format!("expected a finite number of watts above 0, not {text:?}"));
    }
    Ok(watts)
}

fn parse_range(text: &str) -> Result<(f64, f64), String> {
    let (a, b) = text.split_once(',').ok_or("expected MIN,MAX in MHz")?;
    let a: f64 = a.trim().parse().map_err(|_| "MIN is not a number")?;
    let b: f64 = b.trim().parse().map_err(|_| "MAX is not a number")?;
    if !(a.is_finite() && b.is_finite()) || a < 0.0 || a > b {
        return Err("expected 0 <= MIN <= MAX".into());
    }
    Ok((a, b))
}

/// `--simulate` takes an optional value: when the next word is a subcommand or an option it
/// is not the value (`zes-smi --simulate list`), so the flag is rewritten as `--simulate=`.
pub fn normalize_args(args: impl IntoIterator<Item = std::ffi::OsString>) -> Vec<std::ffi::OsString> {
    const COMMANDS: &[&str] = &["list", "info", "stats", "watch", "processes", "set", "exporter", "help"];
    let args: Vec<std::ffi::OsString> = args.into_iter().collect();
    let mut out = Vec::with_capacity(args.len());
    for (i, arg) in args.iter().enumerate() {
        if arg == "--simulate" {
            let next = args.get(i + 1).and_then(|a| a.to_str());
            if next.is_none_or(|n| n.starts_with('-') || COMMANDS.contains(&n)) {
                out.push(std::ffi::OsString::from("--simulate="));
                continue;
            }
        }
        out.push(arg.clone());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("250ms"), Ok(Duration::from_millis(250)));
        assert_eq!(parse_duration("1.5s"), Ok(Duration::from_millis(1500)));
        assert_eq!(parse_duration("2m"), Ok(Duration::from_secs(120)));
        assert_eq!(parse_duration("3"), Ok(Duration::from_secs(3)));
        assert!(parse_duration("-1s").is_err());
        assert!(parse_duration("NaN").is_err());
        assert!(parse_duration("1e9").is_err());
        assert!(parse_interval("50ms").is_err());
        assert_eq!(parse_range("300, 1200"), Ok((300.0, 1200.0)));
        assert!(parse_range("1200,300").is_err());
        for bad in ["nan", "NaN", "inf", "-inf", "infinity", "1e999", ""] {
            assert!(parse_watts(bad).is_err(), "{bad}");
            assert!(parse_range(&format!("{bad},1200")).is_err(), "{bad}");
            assert!(parse_range(&format!("300,{bad}")).is_err(), "{bad}");
        }
        assert!(parse_watts("0").is_err() && parse_watts("-5").is_err());
        assert_eq!(parse_watts("450"), Ok(450.0));
    }

    #[test]
    fn simulate_without_a_value() {
        let words = |v: &[&str]| normalize_args(v.iter().map(std::ffi::OsString::from));
        assert_eq!(words(&["zes-smi", "--simulate", "list"])[1], "--simulate=");
        assert_eq!(words(&["zes-smi", "--simulate", "--json"])[1], "--simulate=");
        assert_eq!(words(&["zes-smi", "--simulate"])[1], "--simulate=");
        assert_eq!(words(&["zes-smi", "--simulate", "a770", "list"])[2], "a770");
    }
}
