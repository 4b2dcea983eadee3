//! What the Linux kernel shows about Intel GPUs without root.
//!
//! Level Zero Sysman needs privileges for most telemetry; the kernel's unprivileged interfaces
//! show much of it: hwmon under the PCI device (energy, power limits, temperatures, fans), the
//! gt frequency files of i915 and xe, and the DRM fdinfo of every process (per-client engine
//! busy time and memory per region). This crate reads them, from configurable sysfs and procfs
//! roots ([`KernelRoots`]), and states for every reading where it came from ([`Source`]) and,
//! when it is absent, why ([`Reason`]). Nothing here panics on what the files contain.
//!
//! [`KernelSource::sample`] reads everything once; [`Sampler`] keeps the previous sample and
//! turns two samples into per-process engine utilization ([`Sampler::sample`]).

mod fdinfo;
pub mod fs;
mod gpu;
mod process;
mod usage;

pub use fdinfo::{ClientCounters, EngineCounter, MemoryRegion};
pub use gpu::{Fan, Frequency, Gpu, Temperature};
pub use process::{Client, Process, WalkStats};
pub use usage::{
    ClientUtilization, EngineUtilization, ProcessUtilization, Sampler, UsageSample,
    UTILIZATION_TOLERANCE_PERCENT,
};

use serde::{Serialize, Serializer};
use std::fmt;
use std::path::PathBuf;
use std::sync::Arc;

pub use fs::{FileSystem, RealFileSystem};

/// Longest sysfs attribute read (a sysfs `show` fills at most one 4 KiB page).
pub const MAX_ATTRIBUTE_BYTES: usize = 4096;
/// Longest fdinfo file parsed; a longer one is refused (`too_large`), not parsed in part.
pub const MAX_FDINFO_BYTES: usize = 64 * 1024;
/// Longest `/proc/<pid>/cmdline` kept (longer ones are cut there, marked with `...`).
pub const MAX_CMDLINE_BYTES: usize = 4096;
/// Most process directories one sample walks (the walk stops there and says so).
pub const MAX_PROCESSES: usize = 1 << 18;
/// Most DRM fds read per process (one client usually has one or two).
pub const MAX_DRM_FDS_PER_PROCESS: usize = 1024;
/// Most fds looked at per process (a process may hold a million).
pub const MAX_FDS_PER_PROCESS: usize = 1 << 20;
/// Most DRM clients one sample keeps, all processes together.
pub const MAX_CLIENTS: usize = 1 << 16;
/// Most cards under `/sys/class/drm` and most hwmon sensors of one kind per GPU.
pub const MAX_CARDS: usize = 256;
pub const MAX_SENSORS: usize = 64;
/// Most engine classes and memory regions kept per client.
pub const MAX_KEYS_PER_CLIENT: usize = 64;

/// Where a reading came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Source {
    /// `/sys/class/drm/card*/device/hwmon/hwmon*/`.
    Hwmon,
    /// `/proc/<pid>/fdinfo/<fd>` of DRM file descriptors.
    Fdinfo,
    /// Other sysfs files (gt frequencies, the device's identity).
    Sysfs,
    /// `/proc/<pid>/comm` and `cmdline`.
    Procfs,
}

impl Source {
    pub fn name(self) -> &'static str {
        match self {
            Source::Hwmon => "hwmon",
            Source::Fdinfo => "fdinfo",
            Source::Sysfs => "sysfs",
            Source::Procfs => "procfs",
        }
    }
}

/// Why a reading is absent.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Reason {
    /// The file exists but may not be read by this user (other users' processes, processes
    /// that are not dumpable, attributes readable by root only).
    Permission,
    /// The kernel does not export it (no such file, or the hardware does not answer).
    Unsupported,
    /// The process or file descriptor went away while it was read.
    Vanished,
    /// The file does not hold what its documented format says.
    Malformed,
    /// The file is longer than the documented bound of its kind.
    TooLarge,
    /// Another I/O error.
    Io,
    /// A rate needs two samples: this is the first one for this counter.
    NoPreviousSample,
    /// The counter went backwards since the previous sample (a reset, or a driver that
    /// reports a lower value for a while, which the kernel's documentation allows).
    CounterBackwards,
    /// No time passed between the two samples (equal timestamps or equal total cycles).
    NoTimeElapsed,
    /// The rate is above 100% by more than [`UTILIZATION_TOLERANCE_PERCENT`].
    Implausible,
}

impl Reason {
    pub fn name(self) -> &'static str {
        match self {
            Reason::Permission => "permission",
            Reason::Unsupported => "unsupported",
            Reason::Vanished => "vanished",
            Reason::Malformed => "malformed",
            Reason::TooLarge => "too_large",
            Reason::Io => "io",
            Reason::NoPreviousSample => "no_previous_sample",
            Reason::CounterBackwards => "counter_backwards",
            Reason::NoTimeElapsed => "no_time_elapsed",
            Reason::Implausible => "implausible",
        }
    }
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// One reading: a value or the reason it is absent, and where it was (to be) read.
/// Serialized as `{"value": ..., "source": "hwmon"}` or `{"reason": "permission", "source": ...}`.
#[derive(Clone, Debug, PartialEq)]
pub struct Reading<T> {
    pub source: Source,
    pub value: Result<T, Reason>,
}

impl<T> Reading<T> {
    pub fn new(source: Source, value: Result<T, Reason>) -> Self {
        Self { source, value }
    }
    pub fn ok(&self) -> Option<&T> {
        self.value.as_ref().ok()
    }
    pub fn reason(&self) -> Option<Reason> {
        self.value.as_ref().err().copied()
    }
}

impl<T: Serialize> Serialize for Reading<T> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let mut m = s.serialize_map(Some(2))?;
        match &self.value {
            Ok(v) => m.serialize_entry("value", v)?,
            Err(r) => m.serialize_entry("reason", r)?,
        }
        m.serialize_entry("source", &self.source)?;
        m.end()
    }
}

/// The roots the kernel's file systems are read from: `/sys` and `/proc` by default, other
/// directories for containers with the host's mounted elsewhere, and for tests.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KernelRoots {
    pub sysfs_root: PathBuf,
    pub procfs_root: PathBuf,
}

impl Default for KernelRoots {
    fn default() -> Self {
        Self { sysfs_root: PathBuf::from("/sys"), procfs_root: PathBuf::from("/proc") }
    }
}

impl KernelRoots {
    /// The defaults, with `ZES_SYSFS_ROOT` and `ZES_PROCFS_ROOT` used where set and not empty.
    pub fn from_env() -> Self {
        let var = |name: &str| std::env::var_os(name).filter(|v| !v.is_empty()).map(PathBuf::from);
        let d = Self::default();
        Self {
            sysfs_root: var("ZES_SYSFS_ROOT").unwrap_or(d.sysfs_root),
            procfs_root: var("ZES_PROCFS_ROOT").unwrap_or(d.procfs_root),
        }
    }
}

/// A PCI address `domain:bus:device.function`, as in `drm-pdev` and sysfs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PciAddress {
    pub domain: u32,
    pub bus: u8,
    pub device: u8,
    pub function: u8,
}

impl PciAddress {
    /// Parses `dddd:bb:dd.f` (hexadecimal; the domain may be longer than 4 digits).
    pub fn parse(text: &str) -> Option<Self> {
        let (domain, rest) = text.split_once(':')?;
        let (bus, rest) = rest.split_once(':')?;
        let (device, function) = rest.split_once('.')?;
        let hex = |s: &str, max_len: usize| {
            (!s.is_empty() && s.len() <= max_len && s.bytes().all(|b| b.is_ascii_hexdigit()))
                .then(|| u32::from_str_radix(s, 16).ok())
                .flatten()
        };
        let domain = hex(domain, 8)?;
        let bus = hex(bus, 2)? as u8;
        let device = hex(device, 2).filter(|d| *d < 32)? as u8;
        let function = hex(function, 1).filter(|f| *f < 8)? as u8;
        Some(Self { domain, bus, device, function })
    }
}

impl fmt::Display for PciAddress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:04x}:{:02x}:{:02x}.{:x}", self.domain, self.bus, self.device, self.function)
    }
}

impl Serialize for PciAddress {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

/// The kernel driver of a GPU. Only Intel's are read; others are counted and skipped.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Driver {
    I915,
    Xe,
}

impl Driver {
    pub fn from_name(name: &str) -> Option<Self> {
        match name {
            "i915" => Some(Driver::I915),
            "xe" => Some(Driver::Xe),
            _ => None,
        }
    }
    pub fn name(self) -> &'static str {
        match self {
            Driver::I915 => "i915",
            Driver::Xe => "xe",
        }
    }
}

/// An engine class, the same for both drivers: i915 `render`/`copy`/`video`/`video-enhance`/
/// `compute`, xe `rcs`/`bcs`/`vcs`/`vecs`/`ccs`. Open: other names are kept as they are.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum EngineClass {
    Render,
    Copy,
    Video,
    VideoEnhance,
    Compute,
    Other(String),
}

impl EngineClass {
    pub fn from_key(driver: Driver, key: &str) -> Self {
        match (driver, key) {
            (Driver::I915, "render") | (Driver::Xe, "rcs") => EngineClass::Render,
            (Driver::I915, "copy") | (Driver::Xe, "bcs") => EngineClass::Copy,
            (Driver::I915, "video") | (Driver::Xe, "vcs") => EngineClass::Video,
            (Driver::I915, "video-enhance") | (Driver::Xe, "vecs") => EngineClass::VideoEnhance,
            (Driver::I915, "compute") | (Driver::Xe, "ccs") => EngineClass::Compute,
            (_, other) => EngineClass::Other(other.to_string()),
        }
    }
    pub fn name(&self) -> &str {
        match self {
            EngineClass::Render => "render",
            EngineClass::Copy => "copy",
            EngineClass::Video => "video",
            EngineClass::VideoEnhance => "video_enhance",
            EngineClass::Compute => "compute",
            EngineClass::Other(s) => s,
        }
    }
}

impl Serialize for EngineClass {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.name())
    }
}

/// Nanoseconds on the clock the source stamps its reads with.
pub trait Clock: Send + Sync {
    fn now_ns(&self) -> u64;
}

/// `CLOCK_MONOTONIC` through `Instant`, counted from when the clock was made.
#[derive(Debug)]
pub struct MonotonicClock(std::time::Instant);

impl Default for MonotonicClock {
    fn default() -> Self {
        Self(std::time::Instant::now())
    }
}

impl Clock for MonotonicClock {
    fn now_ns(&self) -> u64 {
        self.0.elapsed().as_nanos().min(u64::MAX as u128) as u64
    }
}

impl<F: Fn() -> u64 + Send + Sync> Clock for F {
    fn now_ns(&self) -> u64 {
        self()
    }
}

/// Everything the kernel showed in one pass.
#[derive(Clone, Debug, Serialize)]
pub struct KernelSample {
    /// When the pass started, on the source's clock.
    pub timestamp_ns: u64,
    /// The i915 and xe GPUs, in card order.
    pub gpus: Vec<Gpu>,
    /// Why the GPU list is empty or incomplete, if it is (`/sys/class/drm` unreadable).
    pub gpus_reason: Option<Reason>,
    /// Processes with at least one i915 or xe DRM client, by pid.
    pub processes: Vec<Process>,
    pub walk: WalkStats,
}

/// The kernel source: reads the trees under [`KernelRoots`] through a [`FileSystem`].
pub struct KernelSource {
    roots: KernelRoots,
    fs: Arc<dyn FileSystem>,
    clock: Arc<dyn Clock>,
    /// Process names from the previous pass (`comm` and `cmdline` are read once per process).
    names: std::sync::Mutex<std::collections::HashMap<u32, process::KnownNames>>,
}

impl fmt::Debug for KernelSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KernelSource").field("roots", &self.roots).finish_non_exhaustive()
    }
}

impl KernelSource {
    /// Reads the real file system under `roots`, stamping reads with the monotonic clock.
    pub fn new(roots: KernelRoots) -> Self {
        Self::with(roots, Arc::new(fs::RealFileSystem), Arc::new(MonotonicClock::default()))
    }

    /// The source of `/sys` and `/proc`, or of `ZES_SYSFS_ROOT` / `ZES_PROCFS_ROOT`.
    pub fn from_env() -> Self {
        Self::new(KernelRoots::from_env())
    }

    /// A source over any file system and clock (tests, the simulator's stepped clock).
    pub fn with(roots: KernelRoots, fs: Arc<dyn FileSystem>, clock: Arc<dyn Clock>) -> Self {
        Self { roots, fs, clock, names: Default::default() }
    }

    pub fn roots(&self) -> &KernelRoots {
        &self.roots
    }

    /// The GPUs only (no process walk).
    pub fn gpus(&self) -> (Vec<Gpu>, Option<Reason>) {
        gpu::discover(self.fs.as_ref(), &self.roots.sysfs_root)
    }

    /// One pass over the GPUs and every process.
    pub fn sample(&self) -> KernelSample {
        let timestamp_ns = self.clock.now_ns();
        let (gpus, gpus_reason) = self.gpus();
        let mut names = self.names.lock().unwrap_or_else(|e| e.into_inner());
        let (processes, walk) =
            process::walk(self.fs.as_ref(), self.clock.as_ref(), &self.roots.procfs_root, &mut names);
        KernelSample { timestamp_ns, gpus, gpus_reason, processes, walk }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pci_addresses_parse_and_print() {
        let a = PciAddress::parse("0000:03:00.0").unwrap();
        assert_eq!(a, PciAddress { domain: 0, bus: 3, device: 0, function: 0 });
        assert_eq!(a.to_string(), "0000:03:00.0");
        assert_eq!(PciAddress::parse("10000:e1:1f.7").unwrap().to_string(), "10000:e1:1f.7");
        for bad in
            ["", "0000:03:00", "0000:03:20.0", "0000:03:00.8", "0000:0x3:00.0", "0000:003:00.0", "g:0:0.0"]
        {
            assert_eq!(PciAddress::parse(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn readings_serialize_with_their_source() {
        let v = Reading::new(Source::Hwmon, Ok(5u64));
        assert_eq!(serde_json::to_string(&v).unwrap(), r#"{"value":5,"source":"hwmon"}"#);
        let r: Reading<u64> = Reading::new(Source::Fdinfo, Err(Reason::Permission));
        assert_eq!(serde_json::to_string(&r).unwrap(), r#"{"reason":"permission","source":"fdinfo"}"#);
    }

    #[test]
    fn roots_default_to_sys_and_proc() {
        let d = KernelRoots::default();
        assert_eq!((d.sysfs_root.to_str(), d.procfs_root.to_str()), (Some("/sys"), Some("/proc")));
    }
}
