//! Opening a Level Zero library at run time and resolving its functions one by one.

use core::ffi::{c_char, c_void, CStr};
use std::ffi::OsString;
use std::fmt;
use std::path::{Path, PathBuf};

use crate::generated::{FunctionTable, ZE_API_VERSION_1_16};

/// Environment variable naming the library to open before the default search.
pub const LIBRARY_ENV_VAR: &str = "ZES_LIBRARY";

/// What kind of library was opened.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LibraryKind {
    /// The Level Zero loader (`libze_loader.so.1`, `ze_loader.dll`): functions are exports.
    Loader,
    /// A driver opened directly (such as the pyzes simulated driver): functions come from its
    /// `*Get*ProcAddrTable` dispatch tables, the way the loader itself obtains them.
    Driver,
}

/// Why no library could be opened: every candidate tried, with the reason it failed.
#[derive(Clone, Debug)]
pub struct LoadError {
    pub tried: Vec<(String, String)>,
}

impl fmt::Display for LoadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "no Level Zero library could be loaded; tried:")?;
        for (candidate, reason) in &self.tried {
            write!(f, "\n  {candidate}: {reason}")?;
        }
        write!(
            f,
            "\ninstall the Level Zero loader (Debian/Ubuntu: libze1; Fedora: oneapi-level-zero) \
             and a GPU driver, or set {LIBRARY_ENV_VAR} to a loader or driver library"
        )
    }
}

impl std::error::Error for LoadError {}

/// An opened Level Zero loader or driver with its resolved function table.
pub struct Library {
    // Keeps the code of every function pointer in `functions` mapped (None: linked in-process).
    _lib: Option<libloading::Library>,
    path: PathBuf,
    kind: LibraryKind,
    functions: FunctionTable,
    get_versions: Option<PfnZelLoaderGetVersions>,
}

impl fmt::Debug for Library {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Library")
            .field("path", &self.path)
            .field("kind", &self.kind)
            .field("loader_version", &self.loader_version())
            .finish_non_exhaustive()
    }
}

/// The names the dynamic linker is asked for when nothing explicit is given.
pub fn default_library_names() -> &'static [&'static str] {
    if cfg!(windows) {
        &["ze_loader.dll"]
    } else {
        &["libze_loader.so.1"]
    }
}

impl Library {
    /// Opens the first library that loads, in this order: `explicit`, the `ZES_LIBRARY`
    /// environment variable, then the loader's default name through the dynamic linker's normal
    /// search (no distribution directory is hard-coded).
    pub fn open(explicit: Option<&Path>) -> Result<Self, LoadError> {
        let mut candidates: Vec<OsString> = Vec::new();
        if let Some(path) = explicit {
            candidates.push(path.as_os_str().to_owned());
        } else if let Some(path) = std::env::var_os(LIBRARY_ENV_VAR).filter(|p| !p.is_empty()) {
            candidates.push(path);
        } else {
            candidates.extend(default_library_names().iter().map(OsString::from));
        }
        let mut tried = Vec::new();
        for candidate in candidates {
            match Self::open_path(Path::new(&candidate)) {
                Ok(lib) => return Ok(lib),
                Err(reason) => tried.push((candidate.to_string_lossy().into_owned(), reason)),
            }
        }
        Err(LoadError { tried })
    }

    /// Opens one library, loader or driver, and resolves its functions.
    pub fn open_path(path: &Path) -> Result<Self, String> {
        // SAFETY: opening a Level Zero loader or driver runs its initializers, which is what
        // every Level Zero application does; we do nothing else with the library here.
        let lib = unsafe { libloading::Library::new(path.as_os_str()) }.map_err(|e| e.to_string())?;
        let lookup = |name: &CStr| -> *mut c_void {
            // SAFETY: we only read the address of a symbol; it is typed by the generated table.
            unsafe { lib.get::<*mut c_void>(name.to_bytes_with_nul()) }
                .map(|symbol| *symbol)
                .unwrap_or(core::ptr::null_mut())
        };
        let kind = if !lookup(c"zeInit").is_null() {
            LibraryKind::Loader
        } else if !lookup(c"zesGetDeviceProcAddrTable").is_null() {
            LibraryKind::Driver
        } else {
            return Err(
                "neither a Level Zero loader (no zeInit) nor a driver (no zesGetDeviceProcAddrTable)".into(),
            );
        };
        let functions = match kind {
            // SAFETY: the loader exports each API function under its C name with its C signature.
            LibraryKind::Loader => unsafe { FunctionTable::from_symbols(lookup) },
            // SAFETY: a driver exports the getters under their C names; 1.16 is the newest
            // version a driver may be asked for without the handle-extension contract.
            LibraryKind::Driver => unsafe { FunctionTable::from_getters(ZE_API_VERSION_1_16, lookup) },
        };
        let get_versions = match lookup(c"zelLoaderGetVersions") {
            address if address.is_null() => None,
            // SAFETY: `zelLoaderGetVersions` has this signature in every loader that exports it.
            address => Some(unsafe { core::mem::transmute::<*mut c_void, PfnZelLoaderGetVersions>(address) }),
        };
        Ok(Self { path: path.to_owned(), kind, functions, get_versions, _lib: Some(lib) })
    }

    /// A driver linked into this process (such as the simulated driver's rlib), reached through
    /// its dispatch-table getters exactly as if it had been opened from a file.
    ///
    /// # Safety
    /// `lookup` must return null or the address of the `*Get*ProcAddrTable` getter of that name,
    /// and the getters must honour the version they are asked for.
    pub unsafe fn in_process(name: &str, lookup: impl FnMut(&CStr) -> *mut c_void) -> Self {
        // SAFETY: forwarded to the caller.
        let functions = unsafe { FunctionTable::from_getters(ZE_API_VERSION_1_16, lookup) };
        Self {
            path: PathBuf::from(name),
            kind: LibraryKind::Driver,
            functions,
            get_versions: None,
            _lib: None,
        }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn kind(&self) -> LibraryKind {
        self.kind
    }

    /// The function table; each entry is `None` where this library does not provide it.
    pub fn functions(&self) -> &FunctionTable {
        &self.functions
    }

    /// The loader's own version (`1.8.12`), when the loader reports it (loaders know their
    /// components only once `zeInit`/`zesInit` has run).
    pub fn loader_version(&self) -> Option<String> {
        self.get_versions.and_then(loader_version)
    }
}

/// `zel_version_t` and `zel_component_version_t` of `loader/ze_loader.h`.
#[repr(C)]
#[derive(Clone, Copy, Default)]
struct ZelVersion {
    major: i32,
    minor: i32,
    patch: i32,
}

#[repr(C)]
#[derive(Clone, Copy)]
struct ZelComponentVersion {
    component_name: [c_char; 64],
    spec_version: u32,
    component_lib_version: ZelVersion,
}

type PfnZelLoaderGetVersions =
    unsafe extern "C" fn(*mut usize, *mut ZelComponentVersion) -> crate::ze_result_t;

fn loader_version(get: PfnZelLoaderGetVersions) -> Option<String> {
    let mut count = 0usize;
    // SAFETY: a null array asks only for the count.
    if unsafe { get(&mut count, core::ptr::null_mut()) } != crate::ZE_RESULT_SUCCESS
        || count == 0
        || count > 64
    {
        return None;
    }
    let empty = ZelComponentVersion {
        component_name: [0; 64],
        spec_version: 0,
        component_lib_version: ZelVersion::default(),
    };
    let mut versions = vec![empty; count];
    // SAFETY: `versions` holds `count` writable elements.
    if unsafe { get(&mut count, versions.as_mut_ptr()) } != crate::ZE_RESULT_SUCCESS {
        return None;
    }
    versions.truncate(count);
    versions.iter().find(|v| crate::c_chars_to_str(&v.component_name) == "loader").map(|v| {
        let l = v.component_lib_version;
        format!("{}.{}.{}", l.major, l.minor, l.patch)
    })
}
