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
        let file = std::fs::File::open(path)?;
        file.take(limit as u64 + 1).read_to_end(buf)?;
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
