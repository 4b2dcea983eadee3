//! The walk over `/proc/<pid>/fd` and `/proc/<pid>/fdinfo`: the DRM clients of every process.

use crate::fdinfo::{self, ClientCounters};
use crate::fs::{process_reason_of, read_small, FileSystem};
use crate::{
    Clock, Driver, PciAddress, Reading, Reason, Source, MAX_CLIENTS, MAX_CMDLINE_BYTES,
    MAX_DRM_FDS_PER_PROCESS, MAX_FDINFO_BYTES, MAX_FDS_PER_PROCESS, MAX_PROCESSES,
};
use serde::Serialize;
use std::collections::HashMap;
use std::path::Path;

/// A process with at least one i915 or xe DRM client.
#[derive(Clone, Debug, Serialize)]
pub struct Process {
    pub pid: u32,
    /// `/proc/<pid>/comm` (at most 15 bytes, set by the process).
    pub name: Reading<String>,
    /// `/proc/<pid>/cmdline`, arguments joined by spaces (cut at [`MAX_CMDLINE_BYTES`]).
    pub cmdline: Reading<String>,
    pub clients: Vec<Client>,
    /// DRM fds of this process whose fdinfo could not be read (its clients may be incomplete).
    pub unreadable_fds: u32,
}

/// One DRM client (one `struct drm_file`), however many fds of the process share it.
#[derive(Clone, Debug, Serialize)]
pub struct Client {
    pub fds: Vec<u32>,
    /// When its fdinfo was read, on the source's clock.
    pub read_ns: u64,
    pub counters: ClientCounters,
}

impl Client {
    pub fn driver(&self) -> Driver {
        self.counters.driver.unwrap_or(Driver::I915)
    }
    pub fn pdev(&self) -> Option<PciAddress> {
        self.counters.pdev
    }
}

/// What the walk saw besides the clients it kept.
#[derive(Clone, Debug, Default, Serialize)]
pub struct WalkStats {
    /// Why no process could be walked at all (the procfs root unreadable), if so.
    pub procfs_reason: Option<Reason>,
    pub processes_seen: u32,
    /// Processes whose fds may not be listed (other users', non-dumpable): their pids.
    pub unreadable_pids: Vec<u32>,
    /// Processes that exited during the walk.
    pub vanished: u32,
    pub drm_fds: u32,
    /// DRM fds that share a client already counted (dup'ed, inherited or passed fds).
    pub duplicate_fds: u32,
    /// Clients of other drivers (amdgpu, nouveau, ...), skipped.
    pub foreign_clients: u32,
    /// DRM fdinfo files that did not follow the format.
    pub malformed: u32,
    /// DRM fdinfo files longer than [`MAX_FDINFO_BYTES`].
    pub too_large: u32,
    /// A bound was reached ([`MAX_PROCESSES`], [`MAX_DRM_FDS_PER_PROCESS`], [`MAX_CLIENTS`]):
    /// the walk is incomplete.
    pub truncated: bool,
}

fn is_pid(name: &str) -> Option<u32> {
    (name.len() <= 10 && !name.is_empty() && name.bytes().all(|b| b.is_ascii_digit()))
        .then(|| name.parse().ok())
        .flatten()
}

/// Bytes of `/proc/<pid>/cmdline` as text: NUL-separated arguments joined by spaces.
fn cmdline_text(bytes: &[u8], cut: bool) -> String {
    let trimmed = bytes.strip_suffix(&[0]).unwrap_or(bytes);
    let mut s: String =
        String::from_utf8_lossy(trimmed).chars().map(|c| if c == '\0' { ' ' } else { c }).collect();
    if cut {
        s.push_str("...");
    }
    s
}

/// The names read for a process, and the clients it had then.
#[derive(Debug)]
pub(crate) struct KnownNames {
    client_ids: Vec<u64>,
    name: Reading<String>,
    cmdline: Reading<String>,
}

pub(crate) fn walk(
    fs: &dyn FileSystem,
    clock: &dyn Clock,
    proc_root: &Path,
    names: &mut HashMap<u32, KnownNames>,
) -> (Vec<Process>, WalkStats) {
    let mut next_names = HashMap::new();
    let mut stats = WalkStats::default();
    let mut processes = Vec::new();
    // `/proc` also holds non-pid names; a few thousand beyond the pid bound.
    let entries = match fs.list_dir(proc_root, MAX_PROCESSES + 4096) {
        Ok(n) => n,
        Err(e) => {
            stats.procfs_reason = Some(crate::fs::reason_of(&e));
            return (processes, stats);
        }
    };
    let mut pids: Vec<u32> = entries.iter().filter_map(|n| n.to_str().and_then(is_pid)).collect();
    pids.sort_unstable();
    if pids.len() > MAX_PROCESSES {
        pids.truncate(MAX_PROCESSES);
        stats.truncated = true;
    }
    let mut seen: HashMap<(Option<PciAddress>, Driver, u64), (usize, usize)> = HashMap::new();
    let mut buf = Vec::with_capacity(4096);
    let mut total_clients = 0usize;
    for pid in pids {
        stats.processes_seen += 1;
        let pid_dir = proc_root.join(pid.to_string());
        let fd_dir = pid_dir.join("fd");
        let fds = match fs.list_dir(&fd_dir, MAX_FDS_PER_PROCESS) {
            Ok(f) => f,
            Err(e) => {
                match process_reason_of(&e) {
                    Reason::Vanished => stats.vanished += 1,
                    _ => stats.unreadable_pids.push(pid),
                }
                continue;
            }
        };
        let mut fd_numbers: Vec<u32> = fds.iter().filter_map(|n| n.to_str().and_then(is_pid)).collect();
        fd_numbers.sort_unstable();
        let mut process = Process {
            pid,
            name: Reading::new(Source::Procfs, Err(Reason::Unsupported)),
            cmdline: Reading::new(Source::Procfs, Err(Reason::Unsupported)),
            clients: Vec::new(),
            unreadable_fds: 0,
        };
        let mut drm_fds_here = 0usize;
        let mut vanished = false;
        for fd in fd_numbers {
            // Only fds on DRM device nodes are read: a link into `/dev/dri/`.
            let target = match fs.read_link(&fd_dir.join(fd.to_string())) {
                Ok(t) => t,
                Err(e) => {
                    if process_reason_of(&e) == Reason::Vanished && fs.list_dir(&fd_dir, 0).is_err() {
                        vanished = true;
                        break;
                    }
                    continue;
                }
            };
            if !target.starts_with("/dev/dri/") {
                continue;
            }
            if drm_fds_here >= MAX_DRM_FDS_PER_PROCESS || total_clients >= MAX_CLIENTS {
                stats.truncated = true;
                break;
            }
            drm_fds_here += 1;
            stats.drm_fds += 1;
            let path = pid_dir.join("fdinfo").join(fd.to_string());
            let parsed = match read_small(fs, &path, MAX_FDINFO_BYTES, &mut buf, process_reason_of) {
                Ok(text) => fdinfo::parse(text),
                Err(Reason::TooLarge) => {
                    stats.too_large += 1;
                    continue;
                }
                // The fd was closed since it was listed.
                Err(Reason::Vanished) => continue,
                Err(_) => {
                    process.unreadable_fds += 1;
                    continue;
                }
            };
            let read_ns = clock.now_ns();
            let counters = match parsed {
                Ok(Some(c)) => c,
                Ok(None) => continue,
                Err(_) => {
                    stats.malformed += 1;
                    continue;
                }
            };
            let Some(driver) = counters.driver else {
                stats.foreign_clients += 1;
                continue;
            };
            let key = (counters.pdev, driver, counters.client_id);
            if let Some(&(p, c)) = seen.get(&key) {
                stats.duplicate_fds += 1;
                if p == processes.len() {
                    process.clients[c].fds.push(fd);
                }
                continue;
            }
            seen.insert(key, (processes.len(), process.clients.len()));
            total_clients += 1;
            process.clients.push(Client { fds: vec![fd], read_ns, counters });
        }
        if vanished {
            stats.vanished += 1;
            continue;
        }
        if process.clients.is_empty() {
            continue;
        }
        // The names of a process seen before with one of these clients are the ones read then
        // (a drm client id is never reused, so a pid reused by another program has other ids).
        let ids: Vec<u64> = process.clients.iter().map(|c| c.counters.client_id).collect();
        match names.get(&pid).filter(|n| n.client_ids.iter().any(|id| ids.contains(id))) {
            Some(known) => {
                process.name = known.name.clone();
                process.cmdline = known.cmdline.clone();
            }
            None => {
                process.name = Reading::new(
                    Source::Procfs,
                    read_small(fs, &pid_dir.join("comm"), 64, &mut buf, process_reason_of)
                        .map(|b| String::from_utf8_lossy(b).trim_end_matches('\n').to_string()),
                );
                process.cmdline = Reading::new(
                    Source::Procfs,
                    match fs.read_bounded(&pid_dir.join("cmdline"), MAX_CMDLINE_BYTES, &mut buf) {
                        Ok(()) => {
                            let cut = buf.len() > MAX_CMDLINE_BYTES;
                            Ok(cmdline_text(&buf[..buf.len().min(MAX_CMDLINE_BYTES)], cut))
                        }
                        Err(e) => Err(process_reason_of(&e)),
                    },
                );
            }
        }
        // Names that could not be read are tried again next time.
        if process.name.value.is_ok() && process.cmdline.value.is_ok() {
            next_names.insert(
                pid,
                KnownNames { client_ids: ids, name: process.name.clone(), cmdline: process.cmdline.clone() },
            );
        }
        processes.push(process);
    }
    *names = next_names;
    (processes, stats)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cmdlines_join_arguments() {
        assert_eq!(cmdline_text(b"python3\0train.py\0--rank\x000\0", false), "python3 train.py --rank 0");
        assert_eq!(cmdline_text(b"", false), "");
        assert_eq!(cmdline_text(b"abc", true), "abc...");
        assert_eq!(cmdline_text(b"a\xffb\0", false), "a\u{fffd}b");
    }

    #[test]
    fn pids() {
        assert_eq!(is_pid("4200"), Some(4200));
        assert_eq!(is_pid("self"), None);
        assert_eq!(is_pid("99999999999"), None);
        assert_eq!(is_pid(""), None);
    }
}
