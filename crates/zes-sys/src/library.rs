//! Opening a Level Zero library at run time and resolving its functions one by one.

use core::ffi::{c_char, c_void, CStr};
use std::ffi::OsString;
use std::fmt;
use std::path::{Path, PathBuf};

use crate::generated::{FunctionTable, ZE_API_VERSION_1_16};

/// Environment variable naming the library to open before the default search.
pub const LIBRARY_ENV_VAR: &str = "ZES_LIBRARY";

/// The loader's variable naming the directory it loads its layers (tracing, validation) from;
/// without it a loader asks the dynamic linker for them by bare name.
pub const LAYER_PATH_ENV_VAR: &str = "ZEL_LIBRARY_PATH";

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
    ///
    /// A path with a directory (`/opt/intel/oneapi/lib/libze_loader.so.1`, not a bare name the
    /// dynamic linker searches for) gets its own directory for its layers: unless the user set
    /// `ZEL_LIBRARY_PATH`, it is set to that directory before the library is opened, so that a
    /// loader there loads the tracing and validation layers beside it and not the system's
    /// (of another version: `zesInit` then fails with `ZE_RESULT_ERROR_UNSUPPORTED_VERSION`).
    /// It is removed again when the file turns out not to be a loader. The variable is set
    /// process-wide: open the library before starting threads that read the environment.
    pub fn open_path(path: &Path) -> Result<Self, String> {
        let layer_dir = explicit_directory(path).filter(|_| std::env::var_os(LAYER_PATH_ENV_VAR).is_none());
        if let Some(dir) = &layer_dir {
            std::env::set_var(LAYER_PATH_ENV_VAR, dir);
        }
        let opened = Self::open_resolved(path);
        if layer_dir.is_some() && !matches!(&opened, Ok(lib) if lib.kind == LibraryKind::Loader) {
            std::env::remove_var(LAYER_PATH_ENV_VAR);
        }
        opened
    }

    fn open_resolved(path: &Path) -> Result<Self, String> {
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
        self.get_versions.and_then(loader_component).map(|(version, _)| version)
    }

    /// The API version the loader was built for, as `(major, minor)` (`(1, 4)` for 1.8.12),
    /// when the loader reports it (as [`Library::loader_version`]). Loaders of spec 1.5 and
    /// later export `zesInit`.
    pub fn loader_spec_version(&self) -> Option<(u32, u32)> {
        self.get_versions.and_then(loader_component).map(|(_, spec)| (spec >> 16, spec & 0xffff))
    }

    /// What to tell the user when `function` (`zesInit`, `zeInit`) of this library failed with
    /// `result`: the library, its version, and the likely cause and fix where one is known.
    pub fn init_failure_message(&self, function: &str, result: crate::ze_result_t) -> String {
        let version = match (self.kind, self.loader_version()) {
            (LibraryKind::Loader, Some(v)) => format!("loader {v}"),
            (LibraryKind::Loader, None) => "loader of unreported version".to_owned(),
            (LibraryKind::Driver, _) => "driver opened directly".to_owned(),
        };
        let mut text = format!("{function} of {} ({version}) failed: {result:?}", self.path.display());
        let layers = std::env::var_os(LAYER_PATH_ENV_VAR);
        let layers_here = explicit_directory(&self.path).zip(layers.as_ref()).is_some_and(|(d, l)| d == *l);
        let hint = match (self.kind, result) {
            (LibraryKind::Loader, crate::ZE_RESULT_ERROR_UNSUPPORTED_VERSION) if !layers_here => {
                Some(format!(
                    "likely cause: the loader loaded a tracing or validation layer of another version \
                 (by bare name, from the system's Level Zero); fix: set {LAYER_PATH_ENV_VAR} to the \
                 directory of this loader's layers{}",
                    explicit_directory(&self.path).map(|d| format!(" ({})", d.display())).unwrap_or_default()
                ))
            }
            (LibraryKind::Loader, crate::ZE_RESULT_ERROR_UNSUPPORTED_VERSION) => Some(
                "likely cause: a layer or driver of another API version; check the layers beside \
                 the loader (ZEL_ENABLE_LOADER_LOGGING=1 ZEL_LOADER_LOGGING_LEVEL=trace shows what \
                 loads)"
                    .to_owned(),
            ),
            (LibraryKind::Loader, crate::ZE_RESULT_ERROR_UNINITIALIZED) => Some(
                "likely cause: no GPU driver was found or none initialized; install one (Intel: \
                 intel-level-zero-gpu / libze-intel-gpu1), or point ZE_ENABLE_ALT_DRIVERS at a \
                 driver file"
                    .to_owned(),
            ),
            _ => None,
        };
        if let Some(hint) = hint {
            text.push_str("; ");
            text.push_str(&hint);
        }
        text
    }
}

/// The directory of a library path given with one (`None` for a bare name, which the dynamic
/// linker searches for), made absolute.
fn explicit_directory(path: &Path) -> Option<PathBuf> {
    let dir = path.parent().filter(|d| !d.as_os_str().is_empty())?;
    Some(std::fs::canonicalize(dir).unwrap_or_else(|_| dir.to_owned()))
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

/// The loader's own entry of `zelLoaderGetVersions`: its version text and spec version.
fn loader_component(get: PfnZelLoaderGetVersions) -> Option<(String, u32)> {
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
        (format!("{}.{}.{}", l.major, l.minor, l.patch), v.spec_version)
    })
}
