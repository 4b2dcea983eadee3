//! `zes-smi exporter`: Prometheus/OpenMetrics over HTTP(S), devices read in the background.

pub mod auth;
pub mod metrics;
pub mod webconfig;

use std::collections::HashMap;
use std::convert::Infallible;
use std::net::IpAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{mpsc, Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use http_body_util::Full;
use hyper::body::{Bytes, Incoming};
use hyper::header::{HeaderValue, ACCEPT, AUTHORIZATION, CONTENT_TYPE, RETRY_AFTER, WWW_AUTHENTICATE};
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::TcpListener;
use tokio::sync::Notify;

use crate::cli::ExporterArgs;
use crate::model::DeviceSummary;
use crate::source::{Sampler, Session};
use auth::Verdict;
use metrics::{DeviceEntry, ExportState};
use webconfig::WebConfig;

pub const OPENMETRICS_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";
pub const PROMETHEUS_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

// Connection limits. Slow or idle clients (slowloris) must not crowd out scrapes: every
// connection has a short deadline for each request's headers, a peer holds only a few, and
// once three quarters of the connections are taken each new one closes the connection that has
// been idle longest (never-used ones first), so the cap is only reached by busy connections.
/// Connections at most (lowered to fit the open-file limit).
const MAX_CONNECTIONS: usize = 512;
/// Connections per peer (an IPv4 address or an IPv6 /64).
const MAX_PER_PEER: usize = 32;
/// Time for the TLS handshake and for each request's headers, counted from when the connection
/// became idle (accepted, or its last response handed over): an idle keep-alive connection is
/// closed after it too, as hyper's header timer also runs while it waits for the next request.
const HEADER_TIMEOUT: Duration = Duration::from_secs(5);
/// The longest life of a connection.
const MAX_CONNECTION_AGE: Duration = Duration::from_secs(300);
/// File descriptors kept free for the process itself (driver, files, sampler threads).
const RESERVED_FDS: u64 = 64;

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

/// The open connections: their count per peer, and what each is doing.
struct Connections {
    capacity: usize,
    table: Mutex<ConnectionTable>,
}

#[derive(Default)]
struct ConnectionTable {
    next_id: u64,
    open: HashMap<u64, Arc<Connection>>,
    per_peer: HashMap<IpAddr, usize>,
}

/// One connection's state, shared by its task, its requests and the table.
struct Connection {
    peer: IpAddr,
    /// Requests being answered (0 or 1: HTTP/1.1 answers in order).
    busy: AtomicUsize,
    /// Requests answered so far.
    served: AtomicU64,
    /// When it last became idle (accepted, or a response handed over).
    idle_since: Mutex<Instant>,
    /// Told to close (evicted).
    close: Notify,
}

impl Connection {
    fn idle_since(&self) -> Instant {
        *self.idle_since.lock().unwrap_or_else(|e| e.into_inner())
    }
    /// Whether it has been idle for longer than [`HEADER_TIMEOUT`] (also during a TLS
    /// handshake, which hyper's header timer does not cover).
    fn expired(&self, now: Instant) -> bool {
        self.busy.load(Ordering::Acquire) == 0
            && now.saturating_duration_since(self.idle_since()) > HEADER_TIMEOUT
    }
}

/// Marks a connection busy while a request is answered.
struct Busy(Arc<Connection>);

impl Busy {
    fn new(conn: Arc<Connection>) -> Self {
        conn.busy.fetch_add(1, Ordering::AcqRel);
        Busy(conn)
    }
}

impl Drop for Busy {
    fn drop(&mut self) {
        *self.0.idle_since.lock().unwrap_or_else(|e| e.into_inner()) = Instant::now();
        self.0.served.fetch_add(1, Ordering::AcqRel);
        self.0.busy.fetch_sub(1, Ordering::AcqRel);
    }
}

/// A connection's place in the table, given back when its task ends.
struct Admission {
    connections: Arc<Connections>,
    id: u64,
    conn: Arc<Connection>,
}

impl Drop for Admission {
    fn drop(&mut self) {
        self.connections.release(self.id);
    }
}

impl Connections {
    fn new(capacity: usize) -> Arc<Self> {
        Arc::new(Connections { capacity, table: Mutex::new(ConnectionTable::default()) })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, ConnectionTable> {
        self.table.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Admits a connection from `peer`, closing the longest idle one when three quarters of
    /// the capacity are in use; `None` when the peer has too many or all are busy.
    fn admit(self: &Arc<Self>, peer: IpAddr) -> Option<Admission> {
        let peer = auth::peer_key(peer);
        let mut table = self.lock();
        if table.per_peer.get(&peer).copied().unwrap_or(0) >= MAX_PER_PEER {
            return None;
        }
        if table.open.len() >= self.capacity * 3 / 4 {
            // Never-used connections first, then by how long they have been idle.
            let victim = table
                .open
                .iter()
                .filter(|(_, c)| c.busy.load(Ordering::Acquire) == 0)
                .min_by_key(|(_, c)| (c.served.load(Ordering::Acquire) > 0, c.idle_since()))
                .map(|(&id, _)| id);
            if let Some(id) = victim {
                if let Some(conn) = Self::remove(&mut table, id) {
                    conn.close.notify_one();
                }
            }
        }
        if table.open.len() >= self.capacity {
            return None;
        }
        let id = table.next_id;
        table.next_id += 1;
        let conn = Arc::new(Connection {
            peer,
            busy: AtomicUsize::new(0),
            served: AtomicU64::new(0),
            idle_since: Mutex::new(Instant::now()),
            close: Notify::new(),
        });
        table.open.insert(id, conn.clone());
        *table.per_peer.entry(peer).or_insert(0) += 1;
        Some(Admission { connections: self.clone(), id, conn })
    }

    fn remove(table: &mut ConnectionTable, id: u64) -> Option<Arc<Connection>> {
        let conn = table.open.remove(&id)?;
        if let Some(n) = table.per_peer.get_mut(&conn.peer) {
            *n -= 1;
            if *n == 0 {
                table.per_peer.remove(&conn.peer);
            }
        }
        Some(conn)
    }

    fn release(&self, id: u64) {
        Self::remove(&mut self.lock(), id);
    }
}

/// Raises the soft open-file limit to the hard one (as Go programs do) and returns how many
/// connections fit under it.
#[cfg(unix)]
fn connection_capacity() -> usize {
    let _ = rlimit::increase_nofile_limit(u64::MAX);
    let soft = rlimit::getrlimit(rlimit::Resource::NOFILE).map_or(1024, |(soft, _)| soft);
    (soft.saturating_sub(RESERVED_FDS) as usize).clamp(16, MAX_CONNECTIONS)
}

#[cfg(not(unix))]
fn connection_capacity() -> usize {
    MAX_CONNECTIONS
}

async fn serve(shared: Arc<Shared>, listen: std::net::SocketAddr) -> Result<(), String> {
    let listener = TcpListener::bind(listen).await.map_err(|e| format!("cannot listen on {listen}: {e}"))?;
    let tls = shared.web.tls.clone().map(tokio_rustls::TlsAcceptor::from);
    let scheme = if tls.is_some() { "https" } else { "http" };
    eprintln!(
        "zes-smi exporter: serving {scheme}://{}/metrics",
        listener.local_addr().map_err(|e| e.to_string())?
    );
    let connections = Connections::new(connection_capacity());
    let mut shutdown = std::pin::pin!(shutdown_signal());
    loop {
        let accepted = tokio::select! {
            _ = &mut shutdown => break,
            accepted = listener.accept() => accepted,
        };
        let Ok((stream, peer)) = accepted else {
            tokio::time::sleep(Duration::from_millis(20)).await;
            continue;
        };
        let Some(admission) = connections.admit(peer.ip()) else {
            drop(stream);
            continue;
        };
        let shared = shared.clone();
        let tls = tls.clone();
        tokio::spawn(async move {
            let conn = admission.conn.clone();
            let _ = stream.set_nodelay(true);
            let serve = async {
                match tls {
                    Some(acceptor) => {
                        if let Ok(Ok(stream)) =
                            tokio::time::timeout(HEADER_TIMEOUT, acceptor.accept(stream)).await
                        {
                            serve_connection(TokioIo::new(stream), shared, conn.clone(), peer.ip()).await;
                        }
                    }
                    None => serve_connection(TokioIo::new(stream), shared, conn.clone(), peer.ip()).await,
                }
            };
            let idle = async {
                loop {
                    tokio::time::sleep(Duration::from_millis(250)).await;
                    if conn.expired(Instant::now()) {
                        break;
                    }
                }
            };
            tokio::select! {
                _ = serve => {}
                _ = idle => {}
                _ = conn.close.notified() => {}
                _ = tokio::time::sleep(MAX_CONNECTION_AGE) => {}
            }
            drop(admission);
        });
    }
    eprintln!("zes-smi exporter: shutting down");
    Ok(())
}

async fn serve_connection<I>(io: I, shared: Arc<Shared>, conn: Arc<Connection>, peer: IpAddr)
where
    I: hyper::rt::Read + hyper::rt::Write + Unpin + Send + 'static,
{
    let service = hyper::service::service_fn(move |req| {
        let shared = shared.clone();
        let busy = Busy::new(conn.clone());
        async move {
            let response = handle(req, shared, peer).await;
            drop(busy);
            Ok::<_, Infallible>(response)
        }
    });
    let connection = hyper::server::conn::http1::Builder::new()
        .timer(TokioTimer::new())
        .header_read_timeout(HEADER_TIMEOUT)
        .max_buf_size(16 * 1024)
        .keep_alive(true)
        .serve_connection(io, service);
    let _ = connection.await;
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

async fn handle(req: Request<Incoming>, shared: Arc<Shared>, peer: IpAddr) -> Response<Full<Bytes>> {
    let mut response = answer(req, &shared, peer).await;
    for (name, value) in &shared.web.headers {
        response.headers_mut().insert(name.clone(), value.clone());
    }
    response
}

fn too_many_requests(wait: Duration) -> Response<Full<Bytes>> {
    let mut r = respond(
        StatusCode::TOO_MANY_REQUESTS,
        "text/plain; charset=utf-8",
        Bytes::from_static(b"too many requests\n"),
    );
    r.headers_mut().insert(RETRY_AFTER, HeaderValue::from(wait.as_secs().max(1)));
    r
}

async fn answer(req: Request<Incoming>, shared: &Arc<Shared>, peer: IpAddr) -> Response<Full<Bytes>> {
    if let Some(limit) = &shared.web.rate_limit {
        if let Err(wait) = limit.take() {
            return too_many_requests(wait);
        }
    }
    if req.method() != Method::GET && req.method() != Method::HEAD {
        let mut r = respond(
            StatusCode::METHOD_NOT_ALLOWED,
            "text/plain; charset=utf-8",
            Bytes::from_static(b"method not allowed\n"),
        );
        r.headers_mut().insert(hyper::header::ALLOW, HeaderValue::from_static("GET, HEAD"));
        return r;
    }
    if let Some(auth) = &shared.web.auth {
        let header = req.headers().get(AUTHORIZATION).and_then(|v| v.to_str().ok());
        match auth.check(peer, header).await {
            Verdict::Allowed => {}
            Verdict::Throttled(wait) => return too_many_requests(wait),
            Verdict::Denied => {
                let mut r = respond(
                    StatusCode::UNAUTHORIZED,
                    "text/plain; charset=utf-8",
                    Bytes::from_static(b"unauthorized\n"),
                );
                r.headers_mut().insert(WWW_AUTHENTICATE, HeaderValue::from_static("Basic realm=\"zes-smi\""));
                return r;
            }
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

    /// The admission rules behind issue 8 case 13, step by step: the per-peer limit, eviction
    /// of the longest idle connection (never-used ones first) from three quarters of the
    /// capacity on, and refusal only when every connection is busy.
    #[test]
    fn connections_are_limited_per_peer_and_idle_ones_make_room() {
        let peer = |i: u8| IpAddr::from([192, 0, 2, i]);
        let connections = Connections::new(8);
        let mut held = Vec::new();
        for _ in 0..MAX_PER_PEER.min(6) {
            held.push(connections.admit(peer(1)).unwrap());
        }
        assert_eq!(connections.lock().open.len(), 6);
        // The first connection answered a request: it is idle, but used.
        drop(Busy::new(held[0].conn.clone()));
        // 6 of 8 open: a new connection closes the oldest never-used idle one (the second).
        held.push(connections.admit(peer(2)).unwrap());
        assert_eq!(connections.lock().open.len(), 6);
        assert!(!connections.lock().open.contains_key(&held[1].id));
        assert!(connections.lock().open.contains_key(&held[0].id));
        // Its task is told to close (the permit waits for it).
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        rt.block_on(async {
            tokio::time::timeout(Duration::from_secs(1), held[1].conn.close.notified()).await.unwrap()
        });
        // Busy connections are never closed: with all busy, the cap refuses new ones.
        let mut busy: Vec<Busy> = connections.lock().open.values().map(|c| Busy::new(c.clone())).collect();
        for _ in 0..2 {
            let admission = connections.admit(peer(3)).unwrap();
            busy.push(Busy::new(admission.conn.clone()));
            held.push(admission);
        }
        assert_eq!(connections.lock().open.len(), 8);
        assert!(connections.admit(peer(4)).is_none());
        drop(busy);
        // A released place is given back, and its peer's count with it.
        drop(held.pop());
        assert_eq!(connections.lock().per_peer[&peer(3)], 1);
        // The per-peer limit.
        let many = Connections::new(MAX_CONNECTIONS);
        let mine: Vec<Admission> = (0..MAX_PER_PEER).map(|_| many.admit(peer(9)).unwrap()).collect();
        assert!(many.admit(peer(9)).is_none());
        assert!(many.admit(IpAddr::from([0xffff_u16, 0, 0, 0, 0, 0, 0, 1])).is_some());
        drop(mine);
        assert!(many.admit(peer(9)).is_some());
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
