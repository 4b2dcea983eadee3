//! zes-smi against the simulated driver: snapshots of every format, privileges, device loss,
//! usage errors and exit codes.

mod common;

use common::*;
use serde_json::Value;

const FROZEN: &[(&str, &str)] = &[("ZES_SIM_CLOCK", "frozen")];

#[test]
fn list_formats() {
    let o = sim(&["list"], FROZEN);
    assert!(o.status.success(), "{}", stderr(&o));
    insta::assert_snapshot!("list_table", stdout(&o));
    let o = sim(&["list", "--json"], FROZEN);
    assert!(o.status.success());
    insta::assert_snapshot!("list_json", stdout(&o));
    let o = sim(&["list", "--csv"], FROZEN);
    assert!(o.status.success());
    insta::assert_snapshot!("list_csv", stdout(&o));
}

#[test]
fn info_formats() {
    let o = sim(&["info", "-d", "2"], FROZEN);
    assert!(o.status.success(), "{}", stderr(&o));
    insta::assert_snapshot!("info_a770_table", stdout(&o));
    let o = sim(&["info", "-d", "0", "--json"], FROZEN);
    assert!(o.status.success());
    insta::assert_snapshot!("info_max1550_json", stdout(&o));
    let o = sim(&["info", "-d", "2", "--csv"], FROZEN);
    assert!(o.status.success());
    insta::assert_snapshot!("info_a770_csv", stdout(&o));
}

#[test]
fn stats_formats_frozen_clock() {
    // A frozen clock makes every value stable; derived values then need a second sample.
    for (name, extra) in
        [("stats_a770_table", None), ("stats_a770_json", Some("--json")), ("stats_a770_csv", Some("--csv"))]
    {
        let mut args = vec!["stats", "-d", "2", "-w", "20ms"];
        args.extend(extra);
        let o = sim(&args, FROZEN);
        assert!(o.status.success(), "{}", stderr(&o));
        insta::assert_snapshot!(name, normalize(&stdout(&o)));
    }
}

#[test]
fn stats_derived_values() {
    let o = sim(&["stats", "--json", "-w", "100ms"], &[]);
    assert!(o.status.success(), "{}", stderr(&o));
    let v: Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert_eq!(v["schema"], "zes-smi/1");
    let devices = v["devices"].as_array().unwrap();
    assert_eq!(devices.len(), 3);
    for d in devices {
        assert_eq!(d["up"], true);
        let w = d["power"][0]["power_w"].as_f64().expect("power_w is a number");
        assert!(w > 1.0 && w < 1000.0, "{w}");
        for e in d["engines"].as_array().unwrap() {
            let u = e["utilization"].as_f64().unwrap();
            assert!((0.0..=1.0).contains(&u), "{u}");
        }
        assert!(d["window_s"].as_f64().unwrap() >= 0.09);
    }
}

#[test]
fn unprivileged_readings_say_why() {
    let env = &[("ZES_SIM_UNPRIVILEGED", "1"), ("ZES_SIM_CLOCK", "frozen")];
    let o = sim(&["stats", "-d", "2", "-w", "20ms"], env);
    assert!(o.status.success(), "{}", stderr(&o));
    let text = stdout(&o);
    assert!(text.contains("[P]"), "{text}");
    assert!(text.contains("Legend: ") && text.contains("[P] needs privileges"), "{text}");
    insta::assert_snapshot!("stats_a770_unprivileged_table", normalize(&text));
    let o = sim(&["stats", "-d", "2", "--json", "-w", "20ms"], env);
    let v: Value = serde_json::from_str(&stdout(&o)).unwrap();
    let temp = &v["devices"][0]["temperature"][0]["celsius"];
    assert_eq!(temp["error"], "permission", "{temp}");
    assert_eq!(temp["code"], "ZE_RESULT_ERROR_INSUFFICIENT_PERMISSIONS");
    let energy = &v["devices"][0]["power"][0]["energy_j"];
    assert_eq!(energy["error"], "permission", "{energy}");
    let o = sim(&["stats", "-d", "2", "--csv", "-w", "20ms"], env);
    assert!(stdout(&o).contains(",permission"), "{}", stdout(&o));
}

#[test]
fn lost_device_is_reported_and_others_still_read() {
    let dir = tempfile::tempdir().unwrap();
    let file = machine(
        dir.path(),
        "[[devices]]\npreset = \"a770\"\n[[devices]]\npreset = \"a770\"\n[[faults.device_lost]]\ndevice = 1\nafter_seconds = 0\n",
    );
    let o = sim(&["stats", "--json", "-w", "50ms"], &[("ZES_SIM_CONFIG", &file)]);
    // `--simulate` without a value keeps ZES_SIM_CONFIG from the environment.
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    assert!(stderr(&o).contains("lost"), "{}", stderr(&o));
    let v: Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert_eq!(v["devices"][0]["up"], true);
    assert!(v["devices"][0]["power"][0]["power_w"].is_number());
    assert_eq!(v["devices"][1]["up"], false);
    assert_eq!(v["devices"][1]["power"]["error"], "device_lost");
    let o = zes_smi().args(["--simulate", &file, "stats", "-d", "1", "-w", "20ms"]).output().unwrap();
    assert_eq!(o.status.code(), Some(1));
    assert!(stdout(&o).contains("[LOST]"), "{}", stdout(&o));
}

#[test]
fn device_selection() {
    let o = sim(&["list", "--json"], FROZEN);
    let v: Value = serde_json::from_str(&stdout(&o)).unwrap();
    let uuid = v["devices"][1]["uuid"].as_str().unwrap().to_string();
    let pci = v["devices"][2]["pci_address"].as_str().unwrap().to_string();
    let o = sim(&["info", "--json", "-d", &format!("{uuid},{pci},0")], FROZEN);
    assert!(o.status.success(), "{}", stderr(&o));
    let v: Value = serde_json::from_str(&stdout(&o)).unwrap();
    let idx: Vec<u64> =
        v["devices"].as_array().unwrap().iter().map(|d| d["index"].as_u64().unwrap()).collect();
    assert_eq!(idx, vec![1, 2, 0]);
    let o = sim(&["info", "-d", "7"], FROZEN);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("no device matches"), "{}", stderr(&o));
}

#[test]
fn usage_errors_exit_2() {
    for args in [
        vec!["bogus"],
        vec!["watch", "-i", "10ms"],
        vec!["watch", "-m", "nope"],
        vec!["list", "--json", "--csv"],
        vec!["set", "--power-limit", "300"],
        vec!["set", "--yes"],
        vec!["stats", "-w", "abc"],
    ] {
        let o = sim(&args, FROZEN);
        assert_eq!(o.status.code(), Some(2), "{args:?}: {}", stderr(&o));
        assert!(!stderr(&o).is_empty());
    }
    for bad in ["h100", "/nonexistent/machine.toml"] {
        let o = zes_smi().args(["--simulate", bad, "list"]).output().unwrap();
        assert_eq!(o.status.code(), Some(2), "{bad}: {}", stderr(&o));
        assert!(stderr(&o).starts_with("zes-smi: --simulate: ZES_SIM_"), "{}", stderr(&o));
    }
    let o = zes_smi().arg("--help").output().unwrap();
    assert_eq!(o.status.code(), Some(0));
    assert!(stdout(&o).contains("Exit codes"));
}

#[test]
fn set_checks_limits() {
    let o = sim(&["set", "-d", "0", "--power-limit", "10000", "--yes"], FROZEN);
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("the driver allows 300 to 600 W"), "{}", stderr(&o));
    let o = sim(&["set", "-d", "2", "--freq-range", "100,200", "--yes"], FROZEN);
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("the driver allows 300-2400 MHz"), "{}", stderr(&o));
    let o = sim(
        &["set", "-d", "0", "--power-limit", "450", "--freq-range", "1000,1200", "--ecc", "off", "--yes"],
        FROZEN,
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let o = sim(&["set", "--reset-defaults", "--yes"], FROZEN);
    assert!(o.status.success(), "{}", stderr(&o));
}

#[test]
fn missing_loader_says_what_to_install() {
    let o = zes_smi().args(["list"]).env("ZES_LIBRARY", "/nonexistent/libze_loader.so.1").output().unwrap();
    assert_eq!(o.status.code(), Some(1));
    let err = stderr(&o);
    assert!(err.contains("install the Level Zero loader"), "{err}");
    assert_eq!(err.matches("zes-smi:").count(), 1, "one message: {err}");
}

#[test]
fn watch_lines_and_formats() {
    let o = sim(&["watch", "-n", "2", "-i", "100ms", "--csv", "-m", "power,util,temp"], &[]);
    assert!(o.status.success(), "{}", stderr(&o));
    let text = stdout(&o);
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 1 + 2 * 3, "{text}");
    assert_eq!(lines[0], "TIMESTAMP,DEV,POWER_W,GPU_UTIL_%,TEMP_C");
    let o = sim(&["watch", "-n", "1", "-i", "100ms", "--json", "-d", "2"], &[]);
    let v: Value = serde_json::from_str(stdout(&o).trim()).unwrap();
    assert!(v["timestamp"].is_string());
    assert!(v["power"][0]["power_w"].is_number(), "{v}");
    let o = sim(&["watch", "-n", "1", "-i", "100ms"], &[("ZES_SIM_UNPRIVILEGED", "1")]);
    assert!(stdout(&o).contains("[P]") && stdout(&o).contains("Legend"), "{}", stdout(&o));
}

#[test]
fn processes_formats() {
    let o = sim(&["processes"], FROZEN);
    assert!(o.status.success(), "{}", stderr(&o));
    insta::assert_snapshot!("processes_table", stdout(&o));
    let o = sim(&["processes", "--json", "-d", "2"], FROZEN);
    let v: Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert!(v["devices"][0]["processes"][0]["pid"].is_number(), "{v}");
}

#[test]
fn broken_pipe_exits_quietly() {
    use std::io::Read;
    let mut child = zes_smi()
        .args(["--simulate", "watch", "-i", "100ms"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdout = child.stdout.take().unwrap();
    let mut buf = [0u8; 64];
    let n = stdout.read(&mut buf).unwrap();
    assert!(n > 0);
    drop(stdout);
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(0));
    assert!(out.stderr.is_empty(), "{}", String::from_utf8_lossy(&out.stderr));
}

/// Issue 8 case 15: device strings are the driver's, and a hostile or broken one must not
/// drive the terminal. Tables and CSV show control characters escaped; JSON keeps the exact
/// string (its own escaping makes it safe).
#[test]
fn control_characters_in_device_strings_are_escaped() {
    let dir = tempfile::tempdir().unwrap();
    let hostile = "Evil\u{1b}]0;pwned\u{7}\u{1b}[2J\u{9b}31m\u{202e}GPU\nfake line";
    let file = machine(
        dir.path(),
        &format!(
            "[[devices]]\npreset = \"a770\"\nname = {}\nserial = \"S\\u001b[31mN\"\n",
            serde_json::to_string(hostile).unwrap()
        ),
    );
    let escaped = "Evil\\u{1b}]0;pwned\\u{7}\\u{1b}[2J\\u{9b}31m\\u{202e}GPU\\u{a}fake line";
    for args in [
        vec!["info"],
        vec!["info", "--csv"],
        vec!["list"],
        vec!["list", "--csv"],
        vec!["stats", "-w", "20ms"],
    ] {
        let o = zes_smi()
            .args(["--simulate", &file])
            .args(&args)
            .env("ZES_SIM_CLOCK", "frozen")
            .output()
            .unwrap();
        assert!(o.status.success(), "{args:?}: {}", stderr(&o));
        let text = stdout(&o);
        assert!(
            !text.chars().any(|c| (c.is_control() && c != '\n') || c == '\u{202e}'),
            "{args:?} printed a control character: {text:?}"
        );
        assert!(!text.contains("\nfake line"), "{args:?}: {text}");
        assert!(text.contains(escaped), "{args:?}: {text}");
    }
    let o = zes_smi().args(["--simulate", &file, "info", "--json"]).output().unwrap();
    let v: Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert_eq!(v["devices"][0]["name"], hostile);
    assert_eq!(v["devices"][0]["serial"], "S\u{1b}[31mN");
}

/// Issue 8 case 20: NaN compares false with both ends of the allowed range and reached the
/// driver as 0 mW; every numeric option refuses non-finite values before anything is sent.
#[test]
fn non_finite_numbers_are_usage_errors() {
    for args in [
        vec!["set", "--yes", "--power-limit", "nan"],
        vec!["set", "--yes", "--power-limit", "inf"],
        vec!["set", "--yes", "--power-limit=-inf"],
        vec!["set", "--yes", "--power-limit", "0"],
        vec!["set", "--yes", "--freq-range", "nan,1200"],
        vec!["set", "--yes", "--freq-range", "300,inf"],
        vec!["stats", "-w", "nan"],
        vec!["stats", "-w", "infs"],
        vec!["watch", "-i", "NaN"],
        vec!["exporter", "--interval", "inf"],
    ] {
        let o = sim(&args, FROZEN);
        assert_eq!(o.status.code(), Some(2), "{args:?}: {}", stderr(&o));
        assert!(stderr(&o).contains("invalid value"), "{args:?}: {}", stderr(&o));
        assert!(!stderr(&o).contains("settings applied"), "{args:?}: {}", stderr(&o));
    }
}

/// Issue 8 case 22: a UUID prefix shared by several devices names them all instead of saying
/// that nothing matches; `watch -n 0` (which printed nothing) is a usage error.
#[test]
fn ambiguous_selectors_and_zero_counts_are_explained() {
    let o = sim(&["info", "-d", "8680d50b"], FROZEN);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert_eq!(
        stderr(&o),
        "zes-smi: \"8680d50b\" is ambiguous: it begins the UUIDs of \
         8680d50b-2f00-0000-0000-290000000000 (device 0), 8680d50b-2f00-0000-0000-390000010000 \
         (device 1); give more of the UUID\n"
    );
    let o = sim(&["info", "--json", "-d", "8680d50b-2f00-0000-0000-39"], FROZEN);
    assert!(o.status.success(), "{}", stderr(&o));
    let v: Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert_eq!(v["devices"][0]["index"], 1);
    let o = sim(&["info", "-d", "0,,1"], FROZEN);
    assert_eq!(o.status.code(), Some(2));
    assert_eq!(stderr(&o), "zes-smi: empty device selector\n");
    let o = sim(&["watch", "-n", "0"], FROZEN);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(stdout(&o).is_empty());
    assert!(stderr(&o).contains("invalid value '0' for '--count <COUNT>'"), "{}", stderr(&o));
}
