//! zes-smi and the exporter with two drivers through Debian's real loader: the simulator's file
//! copied under two names (`ZE_ENABLE_ALT_DRIVERS=sim_a.so,sim_b.so`), each copy with its own
//! machine (`ZES_SIM_PRESET_<file stem>`). Every device of every driver is listed with its
//! driver's index. Also `zes-smi simulator-driver`.

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::*;

/// zes-smi through the loader with two simulator copies (a: one A770; b: an iGPU, a Max 1550).
fn two_drivers(dir: &tempfile::TempDir) -> Command {
    let source = zes_sim::testing::library_path();
    let (a, b) = (dir.path().join("sim_a.so"), dir.path().join("sim_b.so"));
    std::fs::copy(&source, &a).unwrap();
    std::fs::copy(&source, &b).unwrap();
    let mut c = zes_smi();
    c.args(["--library", "libze_loader.so.1"])
        .env("ZE_ENABLE_ALT_DRIVERS", format!("{},{}", a.display(), b.display()))
        .env("ZES_SIM_PRESET_sim_a", "a770")
        .env("ZES_SIM_PRESET_sim_b", "igpu,max1550");
    c
}

const NAMES: [&str; 3] =
    ["Intel(R) Arc(TM) A770 Graphics", "Intel(R) UHD Graphics 770", "Intel(R) Data Center GPU Max 1550"];

#[test]
fn list_shows_the_devices_of_every_driver() {
    let dir = tempfile::tempdir().unwrap();
    let o = two_drivers(&dir).args(["list", "--json"]).output().unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    let v: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
    let devices = v["devices"].as_array().unwrap();
    let seen: Vec<(u64, u64, &str)> = devices
        .iter()
        .map(|d| (d["index"].as_u64().unwrap(), d["driver"].as_u64().unwrap(), d["name"].as_str().unwrap()))
        .collect();
    assert_eq!(seen, [(0, 0, NAMES[0]), (1, 1, NAMES[1]), (2, 1, NAMES[2])]);

    let o = two_drivers(&dir).arg("list").output().unwrap();
    let table = stdout(&o);
    let rows: Vec<Vec<&str>> =
        table.lines().skip(1).map(|l| l.split_whitespace().take(2).collect()).collect();
    assert_eq!(rows, [["0", "0"], ["1", "1"], ["2", "1"]], "{table}");
}

#[test]
fn the_exporter_labels_each_device_with_its_driver() {
    let dir = tempfile::tempdir().unwrap();
    let mut child = two_drivers(&dir)
        .args(["exporter", "--listen", "127.0.0.1:0", "--interval", "200ms"])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stderr.take().unwrap());
    let mut line = String::new();
    lines.read_line(&mut line).unwrap();
    let addr = line.split("://").nth(1).and_then(|rest| rest.split('/').next()).map(str::to_string);
    std::thread::spawn(move || {
        let mut sink = String::new();
        let _ = lines.read_to_string(&mut sink);
    });
    let result = std::panic::catch_unwind(|| {
        let addr = addr.unwrap_or_else(|| panic!("exporter did not start: {line}"));
        let deadline = Instant::now() + Duration::from_secs(20);
        let page = loop {
            let page = scrape(&addr);
            if page.lines().filter(|l| l.starts_with("hw_gpu_info{")).count() == 3 {
                break page;
            }
            assert!(Instant::now() < deadline, "three hw_gpu_info lines never appeared:\n{page}");
            std::thread::sleep(Duration::from_millis(100));
        };
        for (name, driver) in NAMES.iter().zip(["0", "1", "1"]) {
            let info = page
                .lines()
                .find(|l| l.starts_with("hw_gpu_info{") && l.contains(&format!("name=\"{name}\"")))
                .unwrap_or_else(|| panic!("no hw_gpu_info for {name}:\n{page}"));
            assert!(info.contains(&format!("driver=\"{driver}\"")), "{info}");
        }
    });
    let _ = child.kill();
    let _ = child.wait();
    if let Err(panic) = result {
        std::panic::resume_unwind(panic);
    }
}

fn scrape(addr: &str) -> String {
    let Ok(mut s) = TcpStream::connect(addr) else { return String::new() };
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let _ = write!(s, "GET /metrics HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
    let mut out = String::new();
    let _ = s.read_to_string(&mut out);
    out.split_once("\r\n\r\n").map(|(_, body)| body.to_string()).unwrap_or_default()
}

#[test]
fn simulator_driver_prints_a_loadable_driver_file() {
    let o = zes_smi().arg("simulator-driver").output().unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    let path = std::path::PathBuf::from(stdout(&o).trim_end());
    assert_eq!(path.file_name().unwrap(), zes_sim::testing::LIBRARY_NAME);
    let lib = zes_sys::Library::open_path(&path).expect("a driver file the bindings open directly");
    assert_eq!(lib.kind(), zes_sys::LibraryKind::Driver);
}
