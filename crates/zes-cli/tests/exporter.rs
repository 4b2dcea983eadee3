//! The exporter end to end: formats and content negotiation, promtool, a real Prometheus
//! scraping it, HTTP errors, faults in the simulated driver, auth and TLS, shutdown.

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::*;

/// A running `zes-smi --simulate exporter`, killed when dropped.
struct Exporter {
    child: Child,
    addr: String,
    _dir: tempfile::TempDir,
}

impl Exporter {
    fn start(args: &[&str], env: &[(&str, &str)]) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let mut c = zes_smi();
        c.args(["--simulate", "exporter", "--listen", "127.0.0.1:0", "--interval", "200ms"]).args(args);
        for (k, v) in env {
            c.env(k, v);
        }
        let mut child = c.stdout(Stdio::null()).stderr(Stdio::piped()).spawn().unwrap();
        let mut lines = BufReader::new(child.stderr.take().unwrap());
        let mut line = String::new();
        lines.read_line(&mut line).unwrap();
        let addr = line
            .split("://")
            .nth(1)
            .and_then(|rest| rest.split('/').next())
            .unwrap_or_else(|| panic!("exporter did not start: {line}"))
            .to_string();
        // Keep draining stderr so that the exporter never blocks on it.
        std::thread::spawn(move || {
            let mut sink = String::new();
            let _ = lines.read_to_string(&mut sink);
        });
        Exporter { child, addr, _dir: dir }
    }

    fn port(&self) -> u16 {
        self.addr.rsplit(':').next().unwrap().parse().unwrap()
    }

    /// Waits until `/metrics` contains `needle`; returns the page.
    fn wait_for(&self, needle: &str) -> String {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let (status, _, body) = get(&self.addr, "/metrics", &[]);
            if status == 200 && body.contains(needle) {
                return body;
            }
            assert!(Instant::now() < deadline, "{needle:?} never appeared:\n{body}");
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

impl Drop for Exporter {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Sends raw bytes, returns (status, headers, body).
fn raw(addr: &str, request: &[u8]) -> (u16, String, String) {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let _ = s.write_all(request);
    let mut out = Vec::new();
    let _ = s.read_to_end(&mut out);
    let text = String::from_utf8_lossy(&out).into_owned();
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let status = head.split(' ').nth(1).and_then(|c| c.parse().ok()).unwrap_or(0);
    (status, head.to_ascii_lowercase(), body.to_string())
}

fn get(addr: &str, path: &str, headers: &[&str]) -> (u16, String, String) {
    let mut req = format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n");
    for h in headers {
        req.push_str(h);
        req.push_str("\r\n");
    }
    req.push_str("\r\n");
    raw(addr, req.as_bytes())
}

fn promtool_check(text: &str) {
    if prometheus_tests_skipped() {
        return;
    }
    let mut child = Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("promtool is needed (apt-get install prometheus), or set ZES_SKIP_PROMETHEUS_TESTS=1");
    child.stdin.take().unwrap().write_all(text.as_bytes()).unwrap();
    let out = child.wait_with_output().unwrap();
    let report = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success() && report.trim().is_empty(), "promtool: {report}");
}

/// The value of the first sample of `metric` whose labels contain all of `labels`.
fn value(page: &str, metric: &str, labels: &[&str]) -> Option<f64> {
    page.lines()
        .filter(|l| l.starts_with(&format!("{metric}{{")))
        .find(|l| labels.iter().all(|x| l.contains(x)))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
}

#[test]
fn formats_content_negotiation_and_promtool() {
    let e = Exporter::start(&[], &[]);
    let page = e.wait_for("hw_gpu_power_watts{");
    let (status, head, text) = get(&e.addr, "/metrics", &[]);
    assert_eq!(status, 200);
    assert!(head.contains("content-type: text/plain; version=0.0.4; charset=utf-8"), "{head}");
    assert!(!text.contains("# EOF"));
    promtool_check(&text);
    for metric in [
        "hw_gpu_up",
        "hw_gpu_info",
        "hw_gpu_power_watts",
        "hw_gpu_energy_joules_total",
        "hw_gpu_utilization_ratio",
        "hw_gpu_frequency_hertz",
        "hw_gpu_temperature_celsius",
        "hw_gpu_memory_usage_bytes",
        "hw_gpu_memory_limit_bytes",
        "hw_gpu_io_bytes_total",
        "hw_gpu_errors_total",
        "hw_gpu_process_memory_usage_bytes",
        "zes_exporter_build_info",
        "zes_exporter_sample_duration_seconds",
    ] {
        assert!(text.contains(&format!("\n{metric}{{")), "{metric} missing:\n{page}");
    }
    for device in 0..3 {
        assert_eq!(value(&text, "hw_gpu_up", &[&format!("device=\"{device}\"")]), Some(1.0));
    }
    let a770 = value(&text, "hw_gpu_power_watts", &["device=\"2\"", "domain=\"card\""]).unwrap();
    assert!(a770 > 10.0 && a770 < 300.0, "{a770}");
    let util = value(&text, "hw_gpu_utilization_ratio", &["device=\"2\"", "engine_group=\"all\""]).unwrap();
    assert!((0.0..=1.0).contains(&util), "{util}");

    let (status, head, om) = get(
        &e.addr,
        "/metrics",
        &["Accept: application/openmetrics-text;version=1.0.0,text/plain;version=0.0.4;q=0.5"],
    );
    assert_eq!(status, 200);
    assert!(
        head.contains("content-type: application/openmetrics-text; version=1.0.0; charset=utf-8"),
        "{head}"
    );
    assert!(om.ends_with("# EOF\n"));
    assert!(
        om.contains("# TYPE hw_gpu_energy_joules counter")
            && om.contains("# UNIT hw_gpu_energy_joules joules")
    );
    let (_, head, _) = get(&e.addr, "/metrics", &["Accept: text/plain;version=0.0.4"]);
    assert!(head.contains("version=0.0.4"), "{head}");
}

#[test]
fn http_errors_are_4xx_and_the_server_survives() {
    let e = Exporter::start(&[], &[]);
    e.wait_for("hw_gpu_up{");
    assert_eq!(raw(&e.addr, b"GARBAGE\r\n\r\n").0, 400);
    assert_eq!(raw(&e.addr, b"GET /metrics HTTP/1.1\r\nHost: x\r\nBad Header\r\n\r\n").0, 400);
    let big = format!("GET /metrics HTTP/1.1\r\nHost: x\r\nX-Big: {}\r\n\r\n", "a".repeat(64 * 1024));
    let status = raw(&e.addr, big.as_bytes()).0;
    assert!((400..500).contains(&status), "{status}");
    let long_uri = format!("GET /{} HTTP/1.1\r\nHost: x\r\n\r\n", "a".repeat(64 * 1024));
    let status = raw(&e.addr, long_uri.as_bytes()).0;
    assert!((400..500).contains(&status), "{status}");
    assert_eq!(
        raw(
            &e.addr,
            b"POST /metrics HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nConnection: close\r\n\r\nabc"
        )
        .0,
        405
    );
    assert_eq!(get(&e.addr, "/nope", &[]).0, 404);
    let (status, _, body) = raw(&e.addr, b"HEAD /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    assert_eq!(status, 200);
    assert!(body.is_empty());
    // Still serving after all that.
    assert_eq!(get(&e.addr, "/metrics", &[]).0, 200);
    assert_eq!(get(&e.addr, "/", &[]).0, 200);
}

#[test]
fn a_lost_device_leaves_the_others_flowing() {
    let dir = tempfile::tempdir().unwrap();
    let file = machine(
        dir.path(),
        "[[devices]]\npreset = \"a770\"\n[[devices]]\npreset = \"a770\"\n[[devices]]\npreset = \"a770\"\n\
         [[faults.device_lost]]\ndevice = 1\nafter_seconds = 0.5\n",
    );
    let e = Exporter::start(&[], &[("ZES_SIM_CONFIG", &file)]);
    let page = e.wait_for("zes_exporter_read_errors_total{device=\"1\"");
    assert_eq!(value(&page, "hw_gpu_up", &["device=\"1\""]), Some(0.0), "{page}");
    assert!(page.contains("reason=\"device_lost\""), "{page}");
    let first = value(&page, "hw_gpu_energy_joules_total", &["device=\"0\""]).unwrap();
    std::thread::sleep(Duration::from_millis(600));
    let (_, _, page) = get(&e.addr, "/metrics", &[]);
    for device in [0, 2] {
        assert_eq!(value(&page, "hw_gpu_up", &[&format!("device=\"{device}\"")]), Some(1.0), "{page}");
    }
    let later = value(&page, "hw_gpu_energy_joules_total", &["device=\"0\""]).unwrap();
    assert!(later > first, "device 0 keeps being read: {first} -> {later}");
    promtool_check(&page);
}

#[test]
fn slow_driver_calls_do_not_slow_scrapes() {
    // Every driver call takes 20 ms: reading a device takes seconds, scrapes serve the latest page.
    let e = Exporter::start(&[], &[("ZES_SIM_LATENCY_US", "20000"), ("ZES_SIM_PRESET", "a770,a770")]);
    let deadline = Instant::now() + Duration::from_secs(8);
    let mut worst = Duration::ZERO;
    while Instant::now() < deadline {
        let t = Instant::now();
        let (status, _, _) = get(&e.addr, "/metrics", &[]);
        worst = worst.max(t.elapsed());
        assert_eq!(status, 200);
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(worst < Duration::from_millis(500), "worst scrape {worst:?}");
}

#[test]
fn one_slow_device_leaves_the_others_flowing() {
    // Device 1 answers every call after 300 ms (a sample of it takes seconds); 0 and 2 are fast.
    let dir = tempfile::tempdir().unwrap();
    let file = machine(
        dir.path(),
        "[[devices]]\npreset = \"a770\"\n[[devices]]\npreset = \"a770\"\n[[devices]]\npreset = \"a770\"\n\
         [[faults.device_latency]]\ndevice = 1\nlatency_us = 300000\n",
    );
    let e = Exporter::start(&[], &[("ZES_SIM_CONFIG", &file)]);
    let stamp = |page: &str, d: u32| {
        value(page, "zes_exporter_last_sample_timestamp_seconds", &[&format!("device=\"{d}\"")])
    };
    // Devices are read by threads of their own: wait until both fast ones have a first sample.
    let deadline = Instant::now() + Duration::from_secs(20);
    let (first0, first2) = loop {
        let (_, _, page) = get(&e.addr, "/metrics", &[]);
        if let (Some(a), Some(b)) = (stamp(&page, 0), stamp(&page, 2)) {
            break (a, b);
        }
        assert!(Instant::now() < deadline, "no first samples of devices 0 and 2:\n{page}");
        std::thread::sleep(Duration::from_millis(50));
    };
    let mut worst = Duration::ZERO;
    let deadline = Instant::now() + Duration::from_millis(1500);
    let mut page = String::new();
    while Instant::now() < deadline {
        let t = Instant::now();
        let (status, _, body) = get(&e.addr, "/metrics", &[]);
        worst = worst.max(t.elapsed());
        assert_eq!(status, 200);
        page = body;
        std::thread::sleep(Duration::from_millis(100));
    }
    // The fast devices were sampled again and again (interval 200 ms) while device 1 crawled.
    assert!(stamp(&page, 0).unwrap() >= first0 + 0.6, "device 0 stalled:\n{page}");
    assert!(stamp(&page, 2).unwrap() >= first2 + 0.6, "device 2 stalled:\n{page}");
    for device in [0, 2] {
        assert_eq!(value(&page, "hw_gpu_up", &[&format!("device=\"{device}\"")]), Some(1.0), "{page}");
    }
    assert!(worst < Duration::from_millis(500), "worst scrape {worst:?}");
}

#[test]
fn injected_errors_are_counted_per_device() {
    let e = Exporter::start(
        &[],
        &[
            ("ZES_SIM_FAULTS", "zesTemperatureGetState=ZE_RESULT_ERROR_UNKNOWN@every"),
            ("ZES_SIM_PRESET", "a770"),
        ],
    );
    e.wait_for("zes_exporter_read_errors_total{device=\"0\"");
    let page = e.wait_for("hw_gpu_power_watts{");
    assert!(page.contains("metric=\"temperature\",reason=\"other\""), "{page}");
    assert!(!page.contains("\nhw_gpu_temperature_celsius{"), "{page}");
    assert!(page.contains("\nhw_gpu_power_watts{"), "{page}");
}

#[test]
fn basic_auth_and_tls() {
    let dir = tempfile::tempdir().unwrap();
    let hash = bcrypt::hash("s3cret", 4).unwrap();
    let status = Command::new("openssl")
        .args([
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
            "-days",
            "2",
            "-subj",
            "/CN=localhost",
        ])
        .args(["-addext", "subjectAltName=IP:127.0.0.1", "-keyout"])
        .arg(dir.path().join("key.pem"))
        .arg("-out")
        .arg(dir.path().join("cert.pem"))
        .stderr(Stdio::null())
        .status()
        .expect("openssl is needed to make a test certificate");
    assert!(status.success());
    // Plain HTTP with basic auth.
    let web = dir.path().join("web.yml");
    std::fs::write(&web, format!("basic_auth_users:\n  prom: '{hash}'\n")).unwrap();
    let e = Exporter::start(&["--web-config", web.to_str().unwrap()], &[("ZES_SIM_PRESET", "a770")]);
    let (status, head, _) = get(&e.addr, "/metrics", &[]);
    assert_eq!(status, 401);
    assert!(head.contains("www-authenticate: basic"), "{head}");
    assert_eq!(get(&e.addr, "/metrics", &["Authorization: Basic cHJvbTp3cm9uZw=="]).0, 401);
    assert_eq!(get(&e.addr, "/metrics", &["Authorization: Basic bm9ib2R5OnMzY3JldA=="]).0, 401);
    assert_eq!(get(&e.addr, "/metrics", &["Authorization: Basic !!!"]).0, 401);
    assert_eq!(get(&e.addr, "/metrics", &["Authorization: Basic cHJvbTpzM2NyZXQ="]).0, 200);
    drop(e);
    // TLS and basic auth, through curl.
    std::fs::write(&web, format!("tls_server_config:\n  cert_file: cert.pem\n  key_file: key.pem\nbasic_auth_users:\n  prom: '{hash}'\n")).unwrap();
    let e = Exporter::start(&["--web-config", web.to_str().unwrap()], &[("ZES_SIM_PRESET", "a770")]);
    let url = format!("https://127.0.0.1:{}/metrics", e.port());
    let out = Command::new("curl")
        .args(["-sS", "--max-time", "10", "--cacert"])
        .arg(dir.path().join("cert.pem"))
        .args(["-u", "prom:s3cret", &url])
        .output()
        .expect("curl is needed for the TLS test");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&out.stdout).contains("hw_gpu_up{"));
    // Plain HTTP to the TLS port is refused without harm.
    let (status, _, _) = get(&e.addr, "/metrics", &[]);
    assert_ne!(status, 200);
    // A broken web config is a clear start-up error.
    std::fs::write(&web, "basic_auth_users:\n  prom: not-a-hash\n").unwrap();
    let o = zes_smi()
        .args(["--simulate", "exporter", "--listen", "127.0.0.1:0", "--web-config"])
        .arg(&web)
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&o.stderr).contains("not a bcrypt hash"));
}

#[test]
fn sigterm_stops_cleanly() {
    let mut e = Exporter::start(&[], &[("ZES_SIM_PRESET", "a770")]);
    e.wait_for("hw_gpu_up{");
    let pid = e.child.id().to_string();
    assert!(Command::new("kill").args(["-TERM", &pid]).status().unwrap().success());
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        if let Some(status) = e.child.try_wait().unwrap() {
            assert!(status.success(), "{status:?}");
            break;
        }
        assert!(Instant::now() < deadline, "exporter did not stop on SIGTERM");
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// A real Prometheus scrapes the exporter (OpenMetrics negotiated) and answers a query with a
/// simulated value.
#[test]
fn prometheus_scrapes_the_exporter() {
    if prometheus_tests_skipped() {
        return;
    }
    let e = Exporter::start(&[], &[("ZES_SIM_PRESET", "a770")]);
    e.wait_for("hw_gpu_power_watts{");
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("prometheus.yml");
    std::fs::write(
        &config,
        format!(
            "global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\nscrape_configs:\n  - job_name: zes\n    static_configs:\n      - targets: ['{}']\n",
            e.addr
        ),
    )
    .unwrap();
    let port = free_port();
    let listen = format!("127.0.0.1:{port}");
    let mut prom = Command::new("prometheus")
        .arg(format!("--config.file={}", config.display()))
        .arg(format!("--storage.tsdb.path={}", dir.path().join("data").display()))
        .arg(format!("--web.listen-address={listen}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("prometheus is needed (apt-get install prometheus), or set ZES_SKIP_PROMETHEUS_TESTS=1");
    struct Kill(Child);
    impl Drop for Kill {
        fn drop(&mut self) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
    let _guard = Kill(std::mem::replace(&mut prom, Command::new("true").spawn().unwrap()));
    let _ = prom.wait();
    let query = "/api/v1/query?query=hw_gpu_power_watts%7Bdomain%3D%22card%22%7D";
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut last = String::new();
    while Instant::now() < deadline {
        if TcpStream::connect(&listen).is_ok() {
            let (status, _, body) = get(&listen, query, &[]);
            last = body.clone();
            if status == 200 {
                let v: serde_json::Value = serde_json::from_str(body.trim()).unwrap_or_default();
                if let Some(sample) = v["data"]["result"].get(0) {
                    assert_eq!(sample["metric"]["name"], "Intel(R) Arc(TM) A770 Graphics");
                    assert_eq!(sample["metric"]["job"], "zes");
                    let watts: f64 = sample["value"][1].as_str().unwrap().parse().unwrap();
                    assert!(watts > 10.0 && watts < 300.0, "{watts}");
                    // The scrape used OpenMetrics and was healthy.
                    let (_, _, up) = get(&listen, "/api/v1/query?query=up", &[]);
                    assert!(up.contains("\"1\""), "{up}");
                    return;
                }
            }
        }
        std::thread::sleep(Duration::from_millis(250));
    }
    panic!("Prometheus never returned the simulated power: {last}");
}
