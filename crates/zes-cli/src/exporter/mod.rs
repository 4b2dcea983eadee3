//! `zes-smi exporter`: Prometheus/OpenMetrics over HTTP(S), devices read in the background.

pub mod metrics;
pub mod webconfig;

use std::convert::Infallible;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{mpsc, Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use http_body_util::Full;
use hyper::body::{Bytes, Incoming};
use hyper::header::{HeaderValue, ACCEPT, AUTHORIZATION, CONTENT_TYPE, WWW_AUTHENTICATE};
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::TcpListener;
use tokio::sync::Semaphore;

use crate::cli::ExporterArgs;
use crate::model::DeviceSummary;
use crate::source::{Sampler, Session};
use metrics::{DeviceEntry, ExportState};
use webconfig::WebConfig;

pub const OPENMETRICS_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";
pub const PROMETHEUS_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";
const MAX_CONNECTIONS: usize = 128;

/// Latest samples plus the encoded pages, re-encoded only when a sample changed.
struct Shared {
    state: Mutex<ExportState>,
    generation: AtomicU64,
    /// (generation, encoded at, OpenMetrics page, Prometheus text page).
    cache: Mutex<(u64, Instant, Bytes, Bytes)>,
    web: WebConfig,
    stop: AtomicBool,
}

impl Shared {
    fn new(devices: Vec<DeviceEntry>, max_processes: usize, interval: Duration, web: WebConfig) -> Arc<Self> {
        Arc::new(Shared {
            state: Mutex::new(ExportState {
                devices,
                max_processes,
                stale_after: 3.0 * interval.as_secs_f64() + 1.0,
            }),
            generation: AtomicU64::new(1),
            cache: Mutex::new((0, Instant::now(), Bytes::new(), Bytes::new())),
            web,
            stop: AtomicBool::new(false),
        })
    }

    fn pages(&self) -> (Bytes, Bytes) {
        let generation = self.generation.load(Ordering::Acquire);
        let mut cache = self.cache.lock().unwrap_or_else(|e| e.into_inner());
        // Re-encoded when a sample arrived, and at least every second (staleness of `up`).
        if cache.0 != generation || cache.2.is_empty() || cache.1.elapsed() > Duration::from_secs(1) {
            let state = Arc::new(self.state.lock().unwrap_or_else(|e| e.into_inner()).clone());
            let om = metrics::encode_openmetrics(state);
            let prom = metrics::openmetrics_to_prometheus(&om);
            *cache = (generation, Instant::now(), Bytes::from(om), Bytes::from(prom));
        }
        (cache.2.clone(), cache.3.clone())
    }

    fn update(&self, index: usize, f: impl FnOnce(&mut DeviceEntry)) {
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(entry) = state.devices.get_mut(index) {
            f(entry);
        }
        drop(state);
        self.generation.fetch_add(1, Ordering::AcqRel);
    }
}

pub fn run(session: Session, args: &ExporterArgs) -> Result<(), String> {
    let web = match &args.web_config {
        Some(path) => WebConfig::load(path)?,
        None => WebConfig::default(),
    };
    let selected = session.select(&args.select.devices)?;
    let devices: Vec<DeviceEntry> = selected.iter().map(|&i| DeviceEntry::new(session.summary(i))).collect();
    let shared = Shared::new(devices, args.max_processes, args.interval, web);
    let mut slots = Vec::new();
    for (slot, &index) in selected.iter().enumerate() {
        let sampler = session.sampler(index);
        slots.push((
            sampler.summary().uuid.clone(),
            spawn_sampler(slot, sampler, args.interval, shared.clone())?,
        ));
    }
    {
        // Devices that come back (new handles) or appear are picked up by enumerating again.
        let shared = shared.clone();
        let sysman = session.sysman();
        let interval = args.interval;
        let all = args.select.devices.is_empty();
        std::thread::Builder::new()
            .name("discover".into())
            .spawn(move || discover_loop(sysman, slots, all, interval, shared))
            .map_err(|e| format!("cannot start the discovery thread: {e}"))?;
    }
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start the runtime: {e}"))?;
    let result = runtime.block_on(serve(shared.clone(), args.listen));
    shared.stop.store(true, Ordering::Release);
    result
}

/// Starts the thread that reads one device; the sender replaces its sampler.
fn spawn_sampler(
    slot: usize,
    sampler: Sampler,
    interval: Duration,
    shared: Arc<Shared>,
) -> Result<mpsc::Sender<Sampler>, String> {
    let (tx, rx) = mpsc::channel();
    std::thread::Builder::new()
        .name(format!("sample-{slot}"))
        .spawn(move || sample_loop(slot, sampler, rx, interval, shared))
        .map_err(|e| format!("cannot start a sampling thread: {e}"))?;
    Ok(tx)
}

/// How often devices are enumerated again.
fn discovery_period(interval: Duration) -> Duration {
    (interval * 10).clamp(Duration::from_secs(10), Duration::from_secs(300))
}

fn discover_loop(
    sysman: zes::Sysman,
    mut slots: Vec<(String, mpsc::Sender<Sampler>)>,
    add_new: bool,
    interval: Duration,
    shared: Arc<Shared>,
) {
    let period = discovery_period(interval);
    let mut next = Instant::now() + period;
    while !shared.stop.load(Ordering::Acquire) {
        if Instant::now() < next {
            std::thread::sleep(Duration::from_millis(200));
            continue;
        }
        next = Instant::now() + period;
        for sampler in crate::source::rediscover(&sysman) {
            let uuid = sampler.summary().uuid.clone();
            match slots.iter().position(|(u, _)| *u == uuid) {
                Some(slot) => {
                    let down = {
                        let state = shared.state.lock().unwrap_or_else(|e| e.into_inner());
                        state.devices.get(slot).is_some_and(|d| !d.up)
                    };
                    if down {
                        let _ = slots[slot].1.send(sampler);
                    }
                }
                None if add_new && !uuid.is_empty() && slots.len() < 256 => {
                    let slot = {
                        let mut state = shared.state.lock().unwrap_or_else(|e| e.into_inner());
                        let mut summary = sampler.summary().clone();
                        summary.index = state.devices.len();
                        state.devices.push(DeviceEntry::new(summary));
                        state.devices.len() - 1
                    };
                    if let Ok(tx) = spawn_sampler(slot, sampler, interval, shared.clone()) {
                        slots.push((uuid, tx));
                    }
                }
                None => {}
            }
        }
    }
}

fn sample_loop(
    slot: usize,
    mut sampler: Sampler,
    replacements: mpsc::Receiver<Sampler>,
    interval: Duration,
    shared: Arc<Shared>,
) {
    let mut next = Instant::now();
    while !shared.stop.load(Ordering::Acquire) {
        if let Some(newer) = replacements.try_iter().last() {
            sampler = newer;
        }
        let started = Instant::now();
        let stats = sampler.sample();
        let took = started.elapsed().as_secs_f64();
        let now = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs_f64()).unwrap_or(0.0);
        shared.update(slot, |entry| {
            let index = entry.summary.index;
            for (metric, reason) in stats.failures() {
                *entry.read_errors.entry((metric.to_string(), reason.as_str().to_string())).or_insert(0) += 1;
            }
            entry.up = stats.up;
            entry.sample_seconds = took;
            entry.last_sample_unix = now;
            if stats.up {
                entry.summary = DeviceSummary { index, ..stats.summary.clone() };
                let mut stats = stats;
                stats.summary.index = index;
                entry.stats = Some(Arc::new(stats));
            }
        });
        next += interval;
        let now = Instant::now();
        if next <= now {
            next = now + interval;
        }
        while !shared.stop.load(Ordering::Acquire) && Instant::now() < next {
            std::thread::sleep((next - Instant::now()).min(Duration::from_millis(200)));
        }
    }
}

async fn serve(shared: Arc<Shared>, listen: std::net::SocketAddr) -> Result<(), String> {
    let listener = TcpListener::bind(listen).await.map_err(|e| format!("cannot listen on {listen}: {e}"))?;
    let tls = shared.web.tls.clone().map(tokio_rustls::TlsAcceptor::from);
    let scheme = if tls.is_some() { "https" } else { "http" };
    eprintln!(
        "zes-smi exporter: serving {scheme}://{}/metrics",
        listener.local_addr().map_err(|e| e.to_string())?
    );
    let permits = Arc::new(Semaphore::new(MAX_CONNECTIONS));
    let mut shutdown = std::pin::pin!(shutdown_signal());
    loop {
        let accepted = tokio::select! {
            _ = &mut shutdown => break,
            accepted = listener.accept() => accepted,
        };
        let Ok((stream, _peer)) = accepted else {
            tokio::time::sleep(Duration::from_millis(20)).await;
            continue;
        };
        let Ok(permit) = permits.clone().try_acquire_owned() else {
            drop(stream);
            continue;
        };
        let shared = shared.clone();
        let tls = tls.clone();
        tokio::spawn(async move {
            let _permit = permit;
            let _ = stream.set_nodelay(true);
            match tls {
                Some(acceptor) => {
                    let handshake =
                        tokio::time::timeout(Duration::from_secs(10), acceptor.accept(stream)).await;
                    if let Ok(Ok(stream)) = handshake {
                        serve_connection(TokioIo::new(stream), shared).await;
                    }
                }
                None => serve_connection(TokioIo::new(stream), shared).await,
            }
        });
    }
    eprintln!("zes-smi exporter: shutting down");
    Ok(())
}

async fn serve_connection<I>(io: I, shared: Arc<Shared>)
where
    I: hyper::rt::Read + hyper::rt::Write + Unpin + Send + 'static,
{
    let service = hyper::service::service_fn(move |req| {
        let shared = shared.clone();
        async move { Ok::<_, Infallible>(handle(req, shared).await) }
    });
    let connection = hyper::server::conn::http1::Builder::new()
        .timer(TokioTimer::new())
        .header_read_timeout(Duration::from_secs(10))
        .max_buf_size(16 * 1024)
        .keep_alive(true)
        .serve_connection(io, service);
    let _ = tokio::time::timeout(Duration::from_secs(300), connection).await;
}

fn respond(status: StatusCode, content_type: &'static str, body: Bytes) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(body));
    *response.status_mut() = status;
    response.headers_mut().insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
    response
}

/// Whether the `Accept` header prefers OpenMetrics over the Prometheus text format.
pub fn wants_openmetrics(accept: &str) -> bool {
    let mut best: Option<(f32, bool)> = None;
    for part in accept.split(',') {
        let mut pieces = part.split(';').map(str::trim);
        let media = pieces.next().unwrap_or("").to_ascii_lowercase();
        let q = pieces
            .filter_map(|p| p.strip_prefix("q="))
            .filter_map(|q| q.parse::<f32>().ok())
            .next()
            .unwrap_or(1.0);
        let om = match media.as_str() {
            "application/openmetrics-text" => true,
            "text/plain" | "*/*" | "text/*" => false,
            _ => continue,
        };
        if q > 0.0 && best.is_none_or(|(bq, _)| q > bq) {
            best = Some((q, om));
        }
    }
    best.is_some_and(|(_, om)| om)
}

async fn handle(req: Request<Incoming>, shared: Arc<Shared>) -> Response<Full<Bytes>> {
    if req.method() != Method::GET && req.method() != Method::HEAD {
        let mut r = respond(
            StatusCode::METHOD_NOT_ALLOWED,
            "text/plain; charset=utf-8",
            Bytes::from_static(b"method not allowed\n"),
        );
        r.headers_mut().insert(hyper::header::ALLOW, HeaderValue::from_static("GET, HEAD"));
        return r;
    }
    if !shared.web.users.is_empty() {
        let header = req.headers().get(AUTHORIZATION).and_then(|v| v.to_str().ok()).map(str::to_owned);
        let web = shared.clone();
        let ok =
            tokio::task::spawn_blocking(move || web.web.authorized(header.as_deref())).await.unwrap_or(false);
        if !ok {
            let mut r = respond(
                StatusCode::UNAUTHORIZED,
                "text/plain; charset=utf-8",
                Bytes::from_static(b"unauthorized\n"),
            );
            r.headers_mut().insert(WWW_AUTHENTICATE, HeaderValue::from_static("Basic realm=\"zes-smi\""));
            return r;
        }
    }
    match req.uri().path() {
        "/metrics" => {
            let accept = req.headers().get(ACCEPT).and_then(|v| v.to_str().ok()).unwrap_or("");
            let openmetrics = wants_openmetrics(accept);
            let shared2 = shared.clone();
            let (om, prom) = shared2.pages();
            if openmetrics {
                respond(StatusCode::OK, OPENMETRICS_TYPE, om)
            } else {
                respond(StatusCode::OK, PROMETHEUS_TYPE, prom)
            }
        }
        "/" => respond(
            StatusCode::OK,
            "text/html; charset=utf-8",
            Bytes::from_static(b"<html><head><title>zes-smi exporter</title></head><body><h1>zes-smi exporter</h1><p><a href=\"/metrics\">Metrics</a></p></body></html>\n"),
        ),
        _ => respond(StatusCode::NOT_FOUND, "text/plain; charset=utf-8", Bytes::from_static(b"not found\n")),
    }
}

async fn shutdown_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {},
                    _ = term.recv() => {},
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn wait_until(what: &str, mut f: impl FnMut() -> bool) {
        let deadline = Instant::now() + Duration::from_secs(10);
        while !f() {
            assert!(Instant::now() < deadline, "timed out waiting for {what}");
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// A lost device reads as down while the others keep flowing, and is read again when the
    /// driver answers again.
    #[test]
    fn a_device_that_comes_back_is_read_again() {
        let session = Session::open(Some(""), None).expect("simulator");
        let interval = Duration::from_millis(50);
        let entries = (0..session.len()).map(|i| DeviceEntry::new(session.summary(i))).collect();
        let shared = Shared::new(entries, 4, interval, WebConfig::default());
        for i in 0..session.len() {
            spawn_sampler(i, session.sampler(i), interval, shared.clone()).unwrap();
        }
        let up = |i: usize| shared.state.lock().unwrap().devices[i].up;
        let stamp = |i: usize| shared.state.lock().unwrap().devices[i].last_sample_unix;
        wait_until("all devices up", || (0..session.len()).all(up));
        zes_sim::control(r#"{"op":"fault","device_lost":{"device":1}}"#).unwrap();
        wait_until("device 1 down", || !up(1));
        let before = stamp(0);
        wait_until("device 0 still read", || stamp(0) > before && up(0));
        let page = String::from_utf8(shared.pages().1.to_vec()).unwrap();
        assert!(page.contains("reason=\"device_lost\""), "{page}");
        zes_sim::control(r#"{"op":"clear_faults"}"#).unwrap();
        wait_until("device 1 back", || up(1));
        shared.stop.store(true, Ordering::Release);
    }

    #[test]
    fn content_negotiation() {
        assert!(!wants_openmetrics(""));
        assert!(!wants_openmetrics("*/*"));
        assert!(!wants_openmetrics("text/plain;version=0.0.4"));
        assert!(wants_openmetrics("application/openmetrics-text;version=1.0.0"));
        // Prometheus 2.x's own Accept header.
        assert!(wants_openmetrics(
            "application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,\
             text/plain;version=0.0.4;q=0.5,*/*;q=0.1"
        ));
        assert!(!wants_openmetrics("application/openmetrics-text;q=0.2,text/plain;q=0.9"));
        assert!(!wants_openmetrics("application/openmetrics-text;q=0"));
        assert!(!wants_openmetrics("garbage;;;q=abc,,,"));
    }
}
