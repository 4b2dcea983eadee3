//! The file system the kernel source reads, behind a trait so that tests can inject failures
//! the real file system cannot produce for them (permission denied while running as root).

use crate::Reason;
use std::ffi::OsString;
use std::io::{self, Read};
use std::path::{Path, PathBuf};

/// What the source needs from a file system. Every read is bounded by the caller.
pub trait FileSystem: Send + Sync {
    /// Reads at most `limit + 1` bytes of `path` into `buf` (cleared first), so that the caller
    /// can tell a file longer than `limit`.
    ///
    /// [`RealFileSystem`] takes a read shorter than asked for as the end of the file: sysfs
    /// attributes and procfs `seq_file`s (fdinfo, comm, cmdline) hand a small file over whole in
    /// one read, so the further read that only confirms the end (one system call per file, a
    /// fifth of a sample's) is left out.
    fn read_bounded(&self, path: &Path, limit: usize, buf: &mut Vec<u8>) -> io::Result<()>;
    /// The names in a directory, at most `limit` of them (the rest are not read).
    fn list_dir(&self, path: &Path, limit: usize) -> io::Result<Vec<OsString>>;
    /// Where a symbolic link points.
    fn read_link(&self, path: &Path) -> io::Result<PathBuf>;
}

/// The real file system through `std::fs`.
#[derive(Clone, Copy, Debug, Default)]
pub struct RealFileSystem;

impl FileSystem for RealFileSystem {
    fn read_bounded(&self, path: &Path, limit: usize, buf: &mut Vec<u8>) -> io::Result<()> {
        buf.clear();
        let mut file = std::fs::File::open(path)?;
        let want = limit + 1;
        // The buffer grows as the file turns out longer, so that a small file costs no
        // zeroing of a buffer sized for the largest one.
        let mut window = want.min(4096);
        buf.resize(window, 0);
        let mut len = 0;
        while len < want {
            if len == window {
                window = (window * 4).min(want);
                buf.resize(window, 0);
            }
            let asked = window - len;
            let n = match file.read(&mut buf[len..window]) {
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    buf.clear();
                    return Err(e);
                }
            };
            len += n;
            if n == 0 || (n < asked && len < window) {
                break;
            }
        }
        buf.truncate(len);
        Ok(())
    }

    fn list_dir(&self, path: &Path, limit: usize) -> io::Result<Vec<OsString>> {
        let mut names = Vec::new();
        for entry in std::fs::read_dir(path)? {
            if names.len() >= limit {
                break;
            }
            // An entry that vanished while the directory was read is skipped.
            if let Ok(entry) = entry {
                names.push(entry.file_name());
            }
        }
        Ok(names)
    }

    fn read_link(&self, path: &Path) -> io::Result<PathBuf> {
        std::fs::read_link(path)
    }
}

/// The reason an I/O error gives for a file that should exist (a GPU attribute): a missing file
/// means the kernel does not export it.
pub(crate) fn reason_of(e: &io::Error) -> Reason {
    match e.kind() {
        io::ErrorKind::NotFound => Reason::Unsupported,
        io::ErrorKind::PermissionDenied => Reason::Permission,
        _ => match e.raw_os_error() {
            // ESRCH: the process exited while its /proc entry was read.
            Some(3) => Reason::Vanished,
            // ENODEV / ENXIO / EOPNOTSUPP / ENODATA: the attribute exists but the hardware or
            // firmware does not answer.
            Some(19) | Some(6) | Some(95) | Some(61) => Reason::Unsupported,
            _ => Reason::Io,
        },
    }
}

/// The reason for a file of a process: missing means the process (or the fd) went away.
pub(crate) fn process_reason_of(e: &io::Error) -> Reason {
    match reason_of(e) {
        Reason::Unsupported if e.kind() == io::ErrorKind::NotFound => Reason::Vanished,
        r => r,
    }
}

/// Reads a whole small file, or says why not (`TooLarge` when it is longer than `limit`).
pub(crate) fn read_small<'b>(
    fs: &dyn FileSystem,
    path: &Path,
    limit: usize,
    buf: &'b mut Vec<u8>,
    reason: fn(&io::Error) -> Reason,
) -> Result<&'b [u8], Reason> {
    fs.read_bounded(path, limit, buf).map_err(|e| reason(&e))?;
    if buf.len() > limit {
        return Err(Reason::TooLarge);
    }
    Ok(&buf[..])
}
