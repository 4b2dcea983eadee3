//! Initialization: opening the library, choosing the init path, drivers and devices.

use std::collections::HashMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock};

use serde::Serialize;
use zes_sys::{
    ze_bool_t, ze_init_flags_t, zes_device_handle_t, zes_driver_handle_t, zes_event_type_flags_t,
    zes_init_flags_t, zes_uuid_t, FunctionTable, Library, LibraryKind,
};

use crate::device::Device;
use crate::error::{Error, Result};
use crate::raw::{self, pfn, Api, Code};
use crate::types::Uuid;

/// How Sysman is initialized.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum InitPath {
    /// `zesInit` where the library has it (falling back to the legacy path if it fails),
    /// the legacy path otherwise. Only ever requested, never reported as taken.
    Auto,
    /// `zesInit(0)`, then `zesDriverGet`/`zesDeviceGet` (spec 1.5 and later).
    Zes,
    /// `ZES_ENABLE_SYSMAN=1` in the environment, `zeInit(0)`, then `zeDriverGet`/`zeDeviceGet`;
    /// core device handles are used as Sysman handles (loaders older than spec 1.5).
    Legacy,
}

impl fmt::Display for InitPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            InitPath::Auto => "auto",
            InitPath::Zes => "zes",
            InitPath::Legacy => "legacy",
        })
    }
}

pub(crate) struct Inner {
    pub(crate) api: Api,
    init_path: InitPath,
    library_path: Option<PathBuf>,
    library_kind: Option<LibraryKind>,
    drivers: Vec<zes_driver_handle_t>,
}

/// An initialized Sysman: the entry point of the API.
///
/// Cheap to clone (an `Arc`), `Send + Sync`. Initialization is process-wide and idempotent per
/// library and init path: [`Sysman::init`] called twice returns the same instance.
#[derive(Clone)]
pub struct Sysman {
    pub(crate) inner: Arc<Inner>,
}

impl fmt::Debug for Sysman {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Sysman")
            .field("init_path", &self.inner.init_path)
            .field("library_path", &self.inner.library_path)
            .field("loader_version", &self.loader_version())
            .field("drivers", &self.inner.drivers.len())
            .finish()
    }
}

/// Configures [`Sysman`] initialization; made by [`Sysman::builder`].
#[derive(Clone, Debug)]
pub struct Builder {
    library: Option<PathBuf>,
    instance: Option<Arc<Library>>,
    init_path: InitPath,
}

type RegistryKey = (Option<PathBuf>, InitPath);

fn registry() -> &'static Mutex<HashMap<RegistryKey, Sysman>> {
    static REGISTRY: OnceLock<Mutex<HashMap<RegistryKey, Sysman>>> = OnceLock::new();
    REGISTRY.get_or_init(|| Mutex::new(HashMap::new()))
}

impl Builder {
    /// Open this library (a loader or a driver such as the simulated one) instead of searching
    /// `$ZES_LIBRARY` and the loader's default name.
    pub fn library(mut self, path: impl AsRef<Path>) -> Self {
        self.library = Some(path.as_ref().to_owned());
        self
    }

    /// Use an already opened library, for example a driver linked into this process
    /// (`zes_sim::in_process_library()`), or one opened with options of your own. Wins over
    /// [`Builder::library`]. Such a Sysman is not shared process-wide: every [`Builder::init`]
    /// initializes anew (drivers make `zesInit`/`zeInit` idempotent).
    pub fn library_instance(mut self, library: Library) -> Self {
        self.instance = Some(Arc::new(library));
        self
    }

    /// Choose the init path (default [`InitPath::Auto`]).
    pub fn init_path(mut self, path: InitPath) -> Self {
        self.init_path = path;
        self
    }

    /// Opens the library (first use only) and initializes Sysman.
    ///
    /// # Errors
    /// [`crate::Error::LibraryNotFound`] listing every candidate tried; [`crate::Error::FunctionUnavailable`]
    /// when the library lacks the init functions of the requested path; [`crate::Error::Call`] when
    /// `zesInit`/`zeInit` or the driver enumeration fails.
    #[doc(alias = "zesInit")]
    #[doc(alias = "zeInit")]
    pub fn init(self) -> Result<Sysman> {
        if let Some(library) = self.instance {
            return Sysman::from_library(library, self.init_path);
        }
        let requested = self.library.clone().or_else(|| {
            std::env::var_os(zes_sys::library::LIBRARY_ENV_VAR).filter(|p| !p.is_empty()).map(PathBuf::from)
        });
        let key = (requested, self.init_path);
        let mut map = registry().lock().unwrap_or_else(|e| e.into_inner());
        if let Some(existing) = map.get(&key) {
            return Ok(existing.clone());
        }
        let library = Arc::new(Library::open(self.library.as_deref())?);
        let sysman = Sysman::from_library(library, self.init_path)?;
        map.insert(key, sysman.clone());
        Ok(sysman)
    }
}

impl Sysman {
    /// Initializes Sysman with the defaults: library from `$ZES_LIBRARY` or the loader's default
    /// name, [`InitPath::Auto`].
    ///
    /// # Errors
    /// See [`Builder::init`].
    #[doc(alias = "zesInit")]
    pub fn init() -> Result<Sysman> {
        Sysman::builder().init()
    }

    /// A [`Builder`] to choose the library and init path.
    pub fn builder() -> Builder {
        Builder { library: None, instance: None, init_path: InitPath::Auto }
    }

    fn from_library(library: Arc<Library>, init_path: InitPath) -> Result<Sysman> {
        let table = *library.functions();
        let path = library.path().to_owned();
        let kind = library.kind();
        let explain = Arc::clone(&library);
        Sysman::initialize(Api::new(table, Code::Shared(library)), init_path, Some(path), Some(kind))
            .map_err(|e| explained(&explain, e))
    }

    /// Initializes Sysman over a library that is never unloaded (held in a `static`, or
    /// leaked): the embedding case of a host that opened the library itself. Not registered
    /// process-wide, so every call initializes anew.
    ///
    /// # Errors
    /// As [`Builder::init`].
    pub fn from_static_library(library: &'static Library, init_path: InitPath) -> Result<Sysman> {
        let table = *library.functions();
        let (path, kind) = (library.path().to_owned(), library.kind());
        Sysman::initialize(Api::new(table, Code::Static(library)), init_path, Some(path), Some(kind))
            .map_err(|e| explained(library, e))
    }

    /// Builds a Sysman over a hand-made function table (test doubles, a driver compiled into
    /// the program); not registered process-wide, so every call initializes anew.
    ///
    /// The table is plain function pointers: nothing in it keeps their code loaded. To use an
    /// opened [`Library`], pass it to [`Builder::library_instance`] (shared ownership) or
    /// [`Sysman::from_static_library`] instead, which keep it loaded for as long as any handle
    /// lives. Calling this without `unsafe` does not compile:
    ///
    /// ```compile_fail,E0133
    /// fn dangling(library: zes::sys::Library) -> zes::Result<zes::Sysman> {
    ///     let table = *library.functions();
    ///     drop(library); // unloads the code `table` points into
    ///     zes::Sysman::from_function_table(table, zes::InitPath::Auto)
    /// }
    /// ```
    ///
    /// # Safety
    /// Every function pointer of `table` must stay callable, with the C signature and
    /// contract of its Level Zero function, for as long as the returned [`Sysman`] or anything
    /// obtained from it (clones, [`Driver`]s, [`Device`]s, components) exists: functions
    /// compiled into the program, or a library the caller keeps loaded that long.
    ///
    /// # Errors
    /// As [`Builder::init`].
    pub unsafe fn from_function_table(table: FunctionTable, init_path: InitPath) -> Result<Sysman> {
        Sysman::initialize(Api::new(table, Code::Promised), init_path, None, None)
    }

    fn initialize(
        api: Api,
        requested: InitPath,
        library_path: Option<PathBuf>,
        library_kind: Option<LibraryKind>,
    ) -> Result<Sysman> {
        let (init_path, drivers) = match requested {
            InitPath::Zes => (InitPath::Zes, init_zes(&api)?),
            InitPath::Legacy => (InitPath::Legacy, init_legacy(&api)?),
            InitPath::Auto if api.table.zesInit.is_some() => match init_zes(&api) {
                Ok(drivers) => (InitPath::Zes, drivers),
                Err(zes_error) if api.table.zeInit.is_some() => match init_legacy(&api) {
                    Ok(drivers) => (InitPath::Legacy, drivers),
                    Err(_) => return Err(zes_error),
                },
                Err(e) => return Err(e),
            },
            InitPath::Auto => (InitPath::Legacy, init_legacy(&api)?),
        };
        api.set_drivers(&drivers);
        // Loaders know their components (and report their own version) only once initialized.
        api.query_loader_version();
        Ok(Sysman { inner: Arc::new(Inner { api, init_path, library_path, library_kind, drivers }) })
    }

    pub(crate) fn api(&self) -> &Api {
        &self.inner.api
    }

    /// Whether both are the same initialized instance (initialization is idempotent).
    pub fn same_as(&self, other: &Sysman) -> bool {
        Arc::ptr_eq(&self.inner, &other.inner)
    }

    /// The init path taken: [`InitPath::Zes`] or [`InitPath::Legacy`].
    pub fn init_path(&self) -> InitPath {
        self.inner.init_path
    }

    /// The loader's version (`1.8.12`), when the library is a loader that reports it (queried
    /// once, right after initialization).
    #[doc(alias = "zelLoaderGetVersions")]
    pub fn loader_version(&self) -> Option<&str> {
        self.inner.api.loader_version()
    }

    /// The path of the opened library (`None` for a hand-made function table).
    pub fn library_path(&self) -> Option<&Path> {
        self.inner.library_path.as_deref()
    }

    /// Whether the library is the loader or a driver opened directly.
    pub fn library_kind(&self) -> Option<LibraryKind> {
        self.inner.library_kind
    }

    /// Whether the library provides the C function `name` (an export, a dispatch-table entry,
    /// or for experimental functions an extension address). Answers for the functions this
    /// crate wraps; `false` for others.
    pub fn has_function(&self, name: &str) -> bool {
        zes_sys::function_info(name).is_some_and(|info| self.function_present(info.name))
    }

    /// The drivers found at initialization.
    #[doc(alias = "zesDriverGet")]
    pub fn drivers(&self) -> Vec<Driver> {
        self.inner.drivers.iter().map(|&handle| Driver { sysman: self.clone(), handle }).collect()
    }

    /// Every device of every driver: the drivers in the order of [`Sysman::drivers`], each one's
    /// devices in its own order. An index into this list is stable for the session;
    /// [`Device::driver_index`] tells which driver a device belongs to.
    ///
    /// # Errors
    /// [`crate::Error::Call`] when `zesDeviceGet` (`zeDeviceGet` on the legacy path) fails.
    #[doc(alias = "zesDeviceGet")]
    pub fn devices(&self) -> Result<Vec<Device>> {
        let mut all = Vec::new();
        for driver in self.drivers() {
            all.extend(driver.devices()?);
        }
        Ok(all)
    }
}

/// A failed `zesInit`/`zeInit` of an opened library, with the library's own explanation (its
/// path, version, and the likely cause and fix); other errors unchanged.
fn explained(library: &Library, error: Error) -> Error {
    match error {
        Error::Call { function: function @ ("zesInit" | "zeInit"), code } => {
            Error::Init { function, code, message: library.init_failure_message(function, code) }
        }
        other => other,
    }
}

fn init_zes(api: &Api) -> Result<Vec<zes_driver_handle_t>> {
    raw::call_flags("zesInit", pfn!(api, zesInit)?, zes_init_flags_t(0))?;
    raw::enumerate_root("zesDriverGet", pfn!(api, zesDriverGet)?)
}

fn init_legacy(api: &Api) -> Result<Vec<zes_driver_handle_t>> {
    let ze_init = pfn!(api, zeInit)?;
    let driver_get = pfn!(api, zeDriverGet)?;
    // The legacy way to reach Sysman: the variable must be set before `zeInit`.
    if std::env::var_os("ZES_ENABLE_SYSMAN").as_deref() != Some(std::ffi::OsStr::new("1")) {
        std::env::set_var("ZES_ENABLE_SYSMAN", "1");
    }
    raw::call_flags("zeInit", ze_init, ze_init_flags_t(0))?;
    raw::enumerate_root("zeDriverGet", driver_get)
}

/// A Level Zero driver.
#[derive(Clone)]
pub struct Driver {
    pub(crate) sysman: Sysman,
    pub(crate) handle: zes_driver_handle_t,
}

impl fmt::Debug for Driver {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("Driver").field(&self.handle).finish()
    }
}

/// A driver extension: its name and version.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct DriverExtension {
    pub name: String,
    pub version: u32,
}

impl Driver {
    /// The raw handle.
    pub fn raw(&self) -> zes_driver_handle_t {
        self.handle
    }

    /// The [`Sysman`] this driver belongs to.
    pub fn sysman(&self) -> &Sysman {
        &self.sysman
    }

    /// This driver's position in [`Sysman::drivers`] (stable for the session).
    pub fn index(&self) -> usize {
        // A Driver is made only from the session's own list, so its handle is in it.
        self.sysman.inner.drivers.iter().position(|h| *h == self.handle).unwrap_or(0)
    }

    /// The devices of this driver.
    ///
    /// # Errors
    /// [`crate::Error::Call`] when `zesDeviceGet` (`zeDeviceGet` on the legacy path) fails.
    #[doc(alias = "zesDeviceGet")]
    #[doc(alias = "zeDeviceGet")]
    pub fn devices(&self) -> Result<Vec<Device>> {
        let api = self.sysman.api();
        let handles = match self.sysman.init_path() {
            InitPath::Legacy => raw::enumerate("zeDeviceGet", pfn!(api, zeDeviceGet)?, self.handle)?,
            _ => raw::enumerate("zesDeviceGet", pfn!(api, zesDeviceGet)?, self.handle)?,
        };
        Ok(handles.into_iter().map(|handle| Device::new(self.clone(), handle)).collect())
    }

    /// The device (or the device holding the sub-device) with this UUID, and the sub-device id
    /// when the UUID is a sub-device's.
    ///
    /// # Errors
    /// [`crate::Error::FunctionUnavailable`] when neither the library nor the driver provides the
    /// experimental `zesDriverGetDeviceByUuidExp`; [`crate::Error::Call`] when it fails
    /// (`ZE_RESULT_ERROR_INVALID_ARGUMENT` for an unknown UUID).
    #[doc(alias = "zesDriverGetDeviceByUuidExp")]
    pub fn device_by_uuid(&self, uuid: Uuid) -> Result<(Device, Option<u32>)> {
        let api = self.sysman.api();
        let f = pfn!(api, zesDriverGetDeviceByUuidExp)?;
        let mut handle = zes_device_handle_t::NULL;
        let mut on_subdevice: ze_bool_t = 0;
        let mut subdevice_id = 0u32;
        // SAFETY: the UUID is passed by value; the three outputs are live and writable.
        let code = unsafe {
            f(self.handle, zes_uuid_t { id: uuid.0 }, &mut handle, &mut on_subdevice, &mut subdevice_id)
        };
        raw::check("zesDriverGetDeviceByUuidExp", code)?;
        if handle.is_null() {
            return Err(Error::Driver {
                function: "zesDriverGetDeviceByUuidExp",
                message: "succeeded without a device handle".into(),
            });
        }
        Ok((Device::new(self.clone(), handle), (on_subdevice != 0).then_some(subdevice_id)))
    }

    /// Waits up to `timeout` for events registered with [`Device::register_events`] on any of
    /// `devices` (all of this driver's); returns the devices with events and their events, empty
    /// on timeout. `Duration::ZERO` polls; `Duration::MAX` waits forever. Uses
    /// `zesDriverEventListenEx` where the library has it, `zesDriverEventListen` otherwise.
    ///
    /// # Errors
    /// [`crate::Error::Call`] when the listen call fails.
    #[doc(alias = "zesDriverEventListen")]
    #[doc(alias = "zesDriverEventListenEx")]
    pub fn listen_events(
        &self,
        devices: &[Device],
        timeout: std::time::Duration,
    ) -> Result<Vec<(Device, zes_event_type_flags_t)>> {
        if devices.is_empty() {
            return Ok(Vec::new());
        }
        let api = self.sysman.api();
        let mut handles: Vec<zes_device_handle_t> = devices.iter().map(Device::raw).collect();
        let count = u32::try_from(handles.len()).map_err(|_| Error::Driver {
            function: "zesDriverEventListen",
            message: "too many devices".into(),
        })?;
        let mut events = vec![zes_event_type_flags_t(0); handles.len()];
        let mut num = 0u32;
        if let Ok(f) = pfn!(api, zesDriverEventListenEx) {
            let ms = u64::try_from(timeout.as_millis()).unwrap_or(u64::MAX);
            // SAFETY: `handles` and `events` hold `count` elements; `num` is writable.
            let code =
                unsafe { f(self.handle, ms, count, handles.as_mut_ptr(), &mut num, events.as_mut_ptr()) };
            raw::check("zesDriverEventListenEx", code)?;
        } else {
            let f = pfn!(api, zesDriverEventListen)?;
            let ms = u32::try_from(timeout.as_millis()).unwrap_or(u32::MAX);
            // SAFETY: as above.
            let code =
                unsafe { f(self.handle, ms, count, handles.as_mut_ptr(), &mut num, events.as_mut_ptr()) };
            raw::check("zesDriverEventListen", code)?;
        }
        Ok(devices.iter().zip(events).filter(|(_, e)| e.0 != 0).map(|(d, e)| (d.clone(), e)).collect())
    }

    /// The Sysman extensions this driver supports.
    ///
    /// # Errors
    /// [`crate::Error::Call`] when `zesDriverGetExtensionProperties` fails.
    #[doc(alias = "zesDriverGetExtensionProperties")]
    pub fn extensions(&self) -> Result<Vec<DriverExtension>> {
        let api = self.sysman.api();
        let f = pfn!(api, zesDriverGetExtensionProperties)?;
        Ok(raw::enumerate("zesDriverGetExtensionProperties", f, self.handle)?
            .iter()
            .map(|e| DriverExtension { name: zes_sys::c_chars_to_str(&e.name), version: e.version })
            .collect())
    }
}

impl Sysman {
    fn function_present(&self, name: &'static str) -> bool {
        macro_rules! present {
            ($($f:ident)*) => {
                match name {
                    $(stringify!($f) => pfn!(self.api(), $f).is_ok(),)*
                    _ => false,
                }
            };
        }
        present!(
            zesInit zesDriverGet zesDeviceGet zesDeviceGetProperties zesDeviceGetState zesDeviceReset
            zesDeviceResetExt zesDeviceProcessesGetState zesDevicePciGetProperties zesDevicePciGetState
            zesDevicePciGetBars zesDevicePciGetStats zesDeviceEnumEngineGroups zesDeviceEnumPowerDomains
            zesDeviceGetCardPowerDomain zesDeviceEnumFrequencyDomains zesDeviceEnumTemperatureSensors
            zesDeviceEnumMemoryModules zesDeviceEnumFans zesDeviceEnumFirmwares zesDeviceEnumRasErrorSets
            zesDeviceEnumStandbyDomains zesDeviceEnumSchedulers zesDeviceEnumPerformanceFactorDomains
            zesDeviceEccAvailable zesDeviceEccConfigurable zesDeviceGetEccState zesDeviceSetEccState
            zesDeviceGetSubDevicePropertiesExp zesDriverGetDeviceByUuidExp zesEngineGetActivity
            zesEngineGetActivityExt zesPowerGetEnergyCounter zesPowerGetLimitsExt zesPowerSetLimitsExt
            zesMemoryGetBandwidth zesFrequencyGetThrottleTime zesRasGetStateExp
            zesDriverGetExtensionFunctionAddress zesDeviceEventRegister zesDriverEventListen
            zesDriverEventListenEx zeInit zeDriverGet zeDeviceGet
        )
    }
}
