//! The modeled functions: raw C arguments in, checked, turned into model reads and changes.
//! Every pointer is checked for null before use; handles are validated by `handles::parse`.

use crate::generated::Driver;
use crate::handles::{self, Kind};
use crate::model::{timestamp_us, Device, Machine};
use crate::state::machine;
use core::ffi::{c_char, c_void, CStr};
use zes_sys::*;

pub struct Sim;
pub static DRIVER: Sim = Sim;

type R<T> = Result<T, ze_result_t>;

macro_rules! tri {
    ($e:expr) => {
        match $e {
            Ok(v) => v,
            Err(e) => return e,
        }
    };
}

/// Version this driver reports (at most 1.16, see LEVEL-ZERO-FACTS).
pub const API_VERSION: ze_api_version_t = ZE_API_VERSION_1_16;
/// 1.3.29735 encoded as major << 24 | minor << 16 | build.
pub const DRIVER_VERSION: u32 = (1 << 24) | (3 << 16) | 29735;
const ZES_EXTENSIONS: &[(&str, u32)] = &[
    ("ZES_extension_power_limits", 0x10000),
    ("ZES_extension_engine_activity", 0x10000),
    ("ZES_extension_device_ecc_default_properties", 0x10000),
    ("ZES_experimental_sysman_device_mapping", 0x10000),
];

/// Writes `value` through `p`, or says the pointer is null.
///
/// # Safety
/// `p` must be null or valid for writing a `T`.
unsafe fn put<T>(p: *mut T, value: T) -> R<()> {
    if p.is_null() {
        return Err(ZE_RESULT_ERROR_INVALID_NULL_POINTER);
    }
    // SAFETY: non-null and, by the caller's contract, valid for a write of T.
    unsafe { p.write(value) };
    Ok(())
}

/// Writes a chainable struct, keeping the caller's `pNext`.
///
/// # Safety
/// `p` must be null or valid for reading and writing a `T` that starts with stype and pNext.
unsafe fn put_chained<T: Chainable>(p: *mut T, value: T) -> R<()> {
    if p.is_null() {
        return Err(ZE_RESULT_ERROR_INVALID_NULL_POINTER);
    }
    let base = p.cast::<zes_base_properties_t>();
    // SAFETY: T starts with stype and pNext (Chainable), so it may be read as the base struct.
    let next = unsafe { (*base).pNext };
    // SAFETY: valid for a write of T by the caller's contract.
    unsafe { p.write(value) };
    // SAFETY: as above, only the pNext field is written back.
    unsafe { (*base).pNext = next };
    Ok(())
}

/// Calls `f(stype, pointer)` for each struct chained on `first` (at most 32, against cycles).
///
/// # Safety
/// Every pointer in the chain must be null or point to a struct starting with stype and pNext.
unsafe fn walk_chain(first: *mut c_void, mut f: impl FnMut(u32, *mut c_void)) {
    let mut p = first;
    for _ in 0..32 {
        if p.is_null() {
            return;
        }
        let base = p.cast::<zes_base_properties_t>();
        // SAFETY: chained structs start with stype and pNext (caller's contract).
        let (stype, next) = unsafe { ((*base).stype.0, (*base).pNext) };
        f(stype, p);
        p = next;
    }
}

/// The two-call enumeration of the spec.
///
/// # Safety
/// `count` must be null or valid; `out` null or valid for `*count` elements.
unsafe fn enumerate<T>(
    count: *mut u32,
    out: *mut T,
    n: usize,
    mut item: impl FnMut(usize, *mut T) -> R<()>,
) -> ze_result_t {
    if count.is_null() {
        return ZE_RESULT_ERROR_INVALID_NULL_POINTER;
    }
    // SAFETY: non-null count pointer from the caller.
    let asked = unsafe { *count } as usize;
    if asked == 0 || out.is_null() {
        // SAFETY: as above.
        unsafe { *count = n as u32 };
        return ZE_RESULT_SUCCESS;
    }
    let k = asked.min(n);
    for i in 0..k {
        // SAFETY: i < *count, so within the caller's array.
        tri!(item(i, unsafe { out.add(i) }));
    }
    // SAFETY: as above.
    unsafe { *count = k as u32 };
    ZE_RESULT_SUCCESS
}

/// `zeInit` and `zesInit`: the machine serves calls once its configuration loaded; `mark`
/// records which entry point was initialized.
fn initialize(mark: impl FnOnce(&mut Machine)) -> ze_result_t {
    let mut m = machine();
    if crate::state::load_error().is_some() {
        return ZE_RESULT_ERROR_UNINITIALIZED;
    }
    mark(&mut m);
    ZE_RESULT_SUCCESS
}

/// `zeDriverGet` and `zesDriverGet`: the one driver, once `initialized` says the entry point's
/// init ran.
///
/// # Safety
/// As [`enumerate`].
unsafe fn get_driver(
    initialized: impl FnOnce(&Machine) -> bool,
    count: *mut u32,
    out: *mut ze_driver_handle_t,
) -> ze_result_t {
    if !initialized(&machine()) {
        return ZE_RESULT_ERROR_UNINITIALIZED;
    }
    // SAFETY: forwarded from the caller.
    unsafe { enumerate(count, out, 1, |_, p| put(p, ze_driver_handle_t(handles::driver()))) }
}

/// `zeDeviceGet` and `zesDeviceGet`: the root devices of the driver (core device handles are
/// the Sysman handles).
///
/// # Safety
/// As [`enumerate`].
unsafe fn get_devices(
    initialized: impl FnOnce(&Machine) -> bool,
    driver: ze_driver_handle_t,
    count: *mut u32,
    out: *mut ze_device_handle_t,
) -> ze_result_t {
    let m = machine();
    tri!(m.check_driver(driver.0));
    if !initialized(&m) {
        return ZE_RESULT_ERROR_UNINITIALIZED;
    }
    let n = m.devices.len();
    // SAFETY: forwarded from the caller.
    unsafe { enumerate(count, out, n, |i, p| put(p, ze_device_handle_t(handles::make(Kind::Device, i, 0)))) }
}

/// The two-call enumeration of one kind of component of a device: `count` says how many the
/// device has in the machine's present state, `wrap` types the handle.
///
/// # Safety
/// As [`enumerate`]: `count` null or valid, `out` null or valid for `*count` elements.
unsafe fn enumerate_components<H>(
    device: zes_device_handle_t,
    count: *mut u32,
    out: *mut H,
    kind: Kind,
    how_many: impl FnOnce(&Machine, usize) -> usize,
    wrap: impl Fn(*mut c_void) -> H,
) -> ze_result_t {
    let mut m = machine();
    let (d, _) = tri!(m.device(device.0));
    let n = how_many(&m, d);
    // SAFETY: forwarded from the caller.
    unsafe { enumerate(count, out, n, |i, p| put(p, wrap(handles::make(kind, d, i)))) }
}

fn boolean(b: bool) -> ze_bool_t {
    b as ze_bool_t
}

fn chars<const N: usize>(text: &str) -> [c_char; N] {
    let mut out = [0 as c_char; N];
    str_to_c_chars(text, &mut out);
    out
}

fn sub(tile: Option<u32>) -> (ze_bool_t, u32) {
    (boolean(tile.is_some()), tile.unwrap_or(0))
}

impl Machine {
    fn check_driver(&self, h: *mut c_void) -> R<()> {
        if h.is_null() || handles::parse(h, Kind::Driver) != Some((0, 0)) {
            return Err(ZE_RESULT_ERROR_INVALID_NULL_HANDLE);
        }
        Ok(())
    }

    /// Device index and sub-device (None for the root) of a device handle; counts the call.
    fn device(&mut self, h: *mut c_void) -> R<(usize, Option<u32>)> {
        let (d, i) = handles::parse(h, Kind::Device).ok_or(ZE_RESULT_ERROR_INVALID_NULL_HANDLE)?;
        let dev = self.devices.get(d).ok_or(ZE_RESULT_ERROR_INVALID_NULL_HANDLE)?;
        let tiles = if dev.p.tiles > 1 { dev.p.tiles as usize } else { 0 };
        if i > tiles {
            return Err(ZE_RESULT_ERROR_INVALID_NULL_HANDLE);
        }
        self.touch(d)?;
        Ok((d, i.checked_sub(1).map(|s| s as u32)))
    }

    fn touch(&mut self, d: usize) -> R<()> {
        self.devices[d].calls += 1;
        self.update(d);
        if self.devices[d].lost {
            return Err(ZE_RESULT_ERROR_DEVICE_LOST);
        }
        Ok(())
    }

    /// Device and component index of a component handle; counts the call.
    fn component(&mut self, h: *mut c_void, kind: Kind, len: impl Fn(&Device) -> usize) -> R<(usize, usize)> {
        let (d, i) = handles::parse(h, kind).ok_or(ZE_RESULT_ERROR_INVALID_NULL_HANDLE)?;
        let dev = self.devices.get(d).ok_or(ZE_RESULT_ERROR_INVALID_NULL_HANDLE)?;
        if i >= len(dev) {
            return Err(ZE_RESULT_ERROR_INVALID_NULL_HANDLE);
        }
        self.touch(d)?;
        Ok((d, i))
    }
}

fn device_uuid(d: &Device, tile: Option<u32>) -> [u8; 16] {
    let p = &d.p;
    let mut u = [0u8; 16];
    u[0..2].copy_from_slice(&0x8086u16.to_le_bytes());
    u[2..4].copy_from_slice(&(p.pci_device_id as u16).to_le_bytes());
    u[4] = 0x2f; // revision
    u[8..10].copy_from_slice(&(p.pci_domain as u16).to_le_bytes());
    u[10] = p.pci_bus as u8;
    u[11] = p.pci_device as u8;
    u[12] = p.pci_function as u8;
    u[13] = d.index as u8;
    u[15] = tile.map(|t| t as u8 + 1).unwrap_or(0);
    u
}

fn core_properties(d: &Device, tile: Option<u32>) -> ze_device_properties_t {
    let p = &d.p;
    let mut flags = ze_device_property_flags_t::EMPTY;
    if p.integrated {
        flags |= ZE_DEVICE_PROPERTY_FLAG_INTEGRATED;
    }
    if tile.is_some() {
        flags |= ZE_DEVICE_PROPERTY_FLAG_SUBDEVICE;
    }
    if d.ecc_current == zes_device_ecc_state_t::ENABLED {
        flags |= ZE_DEVICE_PROPERTY_FLAG_ECC;
    }
    flags |= ZE_DEVICE_PROPERTY_FLAG_ONDEMANDPAGING;
    let tiles = p.tiles.max(1);
    let eus = if tile.is_some() { p.eu_count / tiles } else { p.eu_count };
    let slices = if tile.is_some() { 1 } else { tiles };
    let mem = if tile.is_some() { p.mem_size_bytes / tiles as u64 } else { p.mem_size_bytes };
    ze_device_properties_t {
        r#type: ZE_DEVICE_TYPE_GPU,
        vendorId: 0x8086,
        deviceId: p.pci_device_id,
        flags,
        subdeviceId: tile.unwrap_or(0),
        coreClockRate: p.core_clock_mhz,
        maxMemAllocSize: mem.min(if p.integrated { 4 << 30 } else { mem }),
        maxHardwareContexts: 65536,
        maxCommandQueuePriority: 0,
        numThreadsPerEU: 8,
        physicalEUSimdWidth: if p.preset == "max1550" { 16 } else { 8 },
        numEUsPerSubslice: 8,
        numSubslicesPerSlice: (eus / 8 / slices).max(1),
        numSlices: slices,
        timerResolution: 52,
        timestampValidBits: 64,
        kernelTimestampValidBits: 32,
        uuid: ze_device_uuid_t { id: device_uuid(d, tile) },
        name: chars(&p.name),
        ..Default::default()
    }
}

fn ext_flags(d: &Device, tile: Option<u32>) -> zes_device_property_flags_t {
    let mut f = zes_device_property_flags_t::EMPTY;
    if d.p.integrated {
        f |= ZES_DEVICE_PROPERTY_FLAG_INTEGRATED;
    }
    if tile.is_some() {
        f |= ZES_DEVICE_PROPERTY_FLAG_SUBDEVICE;
    }
    if d.ecc_current == zes_device_ecc_state_t::ENABLED {
        f |= ZES_DEVICE_PROPERTY_FLAG_ECC;
    }
    f | ZES_DEVICE_PROPERTY_FLAG_ONDEMANDPAGING
}

fn power_limit_desc(
    level: zes_power_level_t,
    enabled: bool,
    interval: i32,
    mw: i32,
) -> zes_power_limit_ext_desc_t {
    zes_power_limit_ext_desc_t {
        level,
        source: ZES_POWER_SOURCE_ANY,
        limitUnit: ZES_LIMIT_UNIT_POWER,
        enabledStateLocked: boolean(level != ZES_POWER_LEVEL_SUSTAINED),
        enabled: boolean(enabled),
        intervalValueLocked: boolean(level != ZES_POWER_LEVEL_SUSTAINED),
        interval,
        limitValueLocked: 0,
        limit: mw,
        ..Default::default()
    }
}

fn version_string(v: u32) -> String {
    format!("{}.{}.{}", v >> 24, (v >> 16) & 0xff, v & 0xffff)
}

#[allow(non_snake_case)]
impl Driver for Sim {
    // ---------------- core (ze) ----------------
    unsafe fn zeInit(&self, flags: ze_init_flags_t) -> ze_result_t {
        let _ = flags;
        initialize(|m| m.ze_initialized = true)
    }

    unsafe fn zeDriverGet(&self, pCount: *mut u32, phDrivers: *mut ze_driver_handle_t) -> ze_result_t {
        // SAFETY: the caller's count and array, passed on.
        unsafe { get_driver(|m| m.ze_initialized, pCount, phDrivers) }
    }

    unsafe fn zeDriverGetApiVersion(
        &self,
        hDriver: ze_driver_handle_t,
        version: *mut ze_api_version_t,
    ) -> ze_result_t {
        tri!(machine().check_driver(hDriver.0));
        // SAFETY: caller's out pointer, null-checked by `put`.
        tri!(unsafe { put(version, API_VERSION) });
        ZE_RESULT_SUCCESS
    }

    unsafe fn zeDriverGetProperties(
        &self,
        hDriver: ze_driver_handle_t,
        pDriverProperties: *mut ze_driver_properties_t,
    ) -> ze_result_t {
        tri!(machine().check_driver(hDriver.0));
        let mut uuid = [0u8; 16];
        uuid[..8].copy_from_slice(b"pyzesSIM");
        uuid[8..12].copy_from_slice(&DRIVER_VERSION.to_le_bytes());
        let v = ze_driver_properties_t {
            uuid: ze_driver_uuid_t { id: uuid },
            driverVersion: DRIVER_VERSION,
            ..Default::default()
        };
        // SAFETY: caller's struct, null-checked.
        tri!(unsafe { put_chained(pDriverProperties, v) });
        ZE_RESULT_SUCCESS
    }

    unsafe fn zeDriverGetExtensionProperties(
        &self,
        hDriver: ze_driver_handle_t,
        pCount: *mut u32,
        pExtensionProperties: *mut ze_driver_extension_properties_t,
    ) -> ze_result_t {
        tri!(machine().check_driver(hDriver.0));
        // SAFETY: caller's count and array. No core extension is offered.
        unsafe { enumerate(pCount, pExtensionProperties, 0, |_, _| Ok(())) }
    }

    unsafe fn zeDriverGetExtensionFunctionAddress(
        &self,
        hDriver: ze_driver_handle_t,
        name: *const c_char,
        ppFunctionAddress: *mut *mut c_void,
    ) -> ze_result_t {
        // SAFETY: same contract as the zes function.
        unsafe { self.zesDriverGetExtensionFunctionAddress(hDriver, name, ppFunctionAddress) }
    }

    unsafe fn zeDeviceGet(
        &self,
        hDriver: ze_driver_handle_t,
        pCount: *mut u32,
        phDevices: *mut ze_device_handle_t,
    ) -> ze_result_t {
        // SAFETY: the caller's count and array, passed on.
        unsafe { get_devices(|m| m.ze_initialized, hDriver, pCount, phDevices) }
    }

    unsafe fn zeDeviceGetProperties(
        &self,
        hDevice: ze_device_handle_t,
        pDeviceProperties: *mut ze_device_properties_t,
    ) -> ze_result_t {
        let mut m = machine();
        let (d, tile) = tri!(m.device(hDevice.0));
        let v = core_properties(&m.devices[d], tile);
        // SAFETY: caller's struct, null-checked.
        tri!(unsafe { put_chained(pDeviceProperties, v) });
        ZE_RESULT_SUCCESS
    }

    unsafe fn zeDeviceGetSubDevices(
        &self,
        hDevice: ze_device_handle_t,
        pCount: *mut u32,
        phSubdevices: *mut ze_device_handle_t,
    ) -> ze_result_t {
        let mut m = machine();
        let (d, tile) = tri!(m.device(hDevice.0));
        let n = if tile.is_none() && m.devices[d].p.tiles > 1 { m.devices[d].p.tiles as usize } else { 0 };
        // SAFETY: caller's count and array.
        unsafe {
            enumerate(pCount, phSubdevices, n, |i, p| {
                put(p, ze_device_handle_t(handles::make(Kind::Device, d, i + 1)))
            })
        }
    }

    // ---------------- zes driver ----------------
    unsafe fn zesInit(&self, flags: zes_init_flags_t) -> ze_result_t {
        if flags.0 & !1 != 0 {
            return ZE_RESULT_ERROR_INVALID_ENUMERATION;
        }
        initialize(|m| m.zes_initialized = true)
    }

    unsafe fn zesDriverGet(&self, pCount: *mut u32, phDrivers: *mut zes_driver_handle_t) -> ze_result_t {
        // SAFETY: the caller's count and array, passed on.
        unsafe { get_driver(|m| m.zes_initialized, pCount, phDrivers) }
    }

    unsafe fn zesDeviceGet(
        &self,
        hDriver: zes_driver_handle_t,
        pCount: *mut u32,
        phDevices: *mut zes_device_handle_t,
    ) -> ze_result_t {
        // Sysman on the legacy path (zeInit with ZES_ENABLE_SYSMAN) serves zesDeviceGet too.
        // SAFETY: the caller's count and array, passed on.
        unsafe { get_devices(|m| m.zes_initialized || m.ze_initialized, hDriver, pCount, phDevices) }
    }

    unsafe fn zesDriverGetExtensionProperties(
        &self,
        hDriver: zes_driver_handle_t,
        pCount: *mut u32,
        pExtensionProperties: *mut zes_driver_extension_properties_t,
    ) -> ze_result_t {
        tri!(machine().check_driver(hDriver.0));
        // SAFETY: caller's count and array.
        unsafe {
            enumerate(pCount, pExtensionProperties, ZES_EXTENSIONS.len(), |i, p| {
                put(
                    p,
                    zes_driver_extension_properties_t {
                        name: chars(ZES_EXTENSIONS[i].0),
                        version: ZES_EXTENSIONS[i].1,
                    },
                )
            })
        }
    }

    unsafe fn zesDriverGetExtensionFunctionAddress(
        &self,
        hDriver: zes_driver_handle_t,
        name: *const c_char,
        ppFunctionAddress: *mut *mut c_void,
    ) -> ze_result_t {
        tri!(machine().check_driver(hDriver.0));
        if name.is_null() || ppFunctionAddress.is_null() {
            return ZE_RESULT_ERROR_INVALID_NULL_POINTER;
        }
        // SAFETY: a non-null, NUL-terminated C string from the caller.
        let name = unsafe { CStr::from_ptr(name) }.to_string_lossy();
        match crate::generated::shim_address(&name) {
            Some(address) => {
                // SAFETY: non-null out pointer.
                unsafe { *ppFunctionAddress = address };
                ZE_RESULT_SUCCESS
            }
            None => ZE_RESULT_ERROR_INVALID_ARGUMENT,
        }
    }

    unsafe fn zesDriverGetDeviceByUuidExp(
        &self,
        hDriver: zes_driver_handle_t,
        uuid: zes_uuid_t,
        phDevice: *mut zes_device_handle_t,
        onSubdevice: *mut ze_bool_t,
        subdeviceId: *mut u32,
    ) -> ze_result_t {
        let m = machine();
        tri!(m.check_driver(hDriver.0));
        if phDevice.is_null() || onSubdevice.is_null() || subdeviceId.is_null() {
            return ZE_RESULT_ERROR_INVALID_NULL_POINTER;
        }
        for d in &m.devices {
            let tiles: Vec<Option<u32>> =
                std::iter::once(None).chain((0..d.p.tiles).filter(|_| d.p.tiles > 1).map(Some)).collect();
            for tile in tiles {
                if device_uuid(d, tile) == uuid.id {
                    // SAFETY: non-null out pointers.
                    unsafe {
                        *phDevice = ze_device_handle_t(handles::make(Kind::Device, d.index, 0));
                        *onSubdevice = boolean(tile.is_some());
                        *subdeviceId = tile.unwrap_or(0);
                    }
                    return ZE_RESULT_SUCCESS;
                }
            }
        }
        ZE_RESULT_ERROR_INVALID_ARGUMENT
    }

    // ---------------- device ----------------
    unsafe fn zesDeviceGetProperties(
        &self,
        hDevice: zes_device_handle_t,
        pProperties: *mut zes_device_properties_t,
    ) -> ze_result_t {
        let mut m = machine();
        let (d, tile) = tri!(m.device(hDevice.0));
        let dev = &m.devices[d];
        let p = &dev.p;
        if pProperties.is_null() {
            return ZE_RESULT_ERROR_INVALID_NULL_POINTER;
        }
        // SAFETY: non-null caller struct; the nested core struct keeps its own pNext.
        let core_next = unsafe { (*pProperties).core.pNext };
        let mut core = core_properties(dev, tile);
        core.pNext = core_next;
        let v = zes_device_properties_t {
            core,
            numSubdevices: if tile.is_none() && p.tiles > 1 { p.tiles } else { 0 },
            serialNumber: chars(&p.serial),
            boardNumber: chars(&p.board),
            brandName: chars(&p.brand),
            modelName: chars(&p.model),
            vendorName: chars(&p.vendor),
            driverVersion: chars(&version_string(DRIVER_VERSION)),
            ..Default::default()
        };
        // SAFETY: non-null caller struct.
        tri!(unsafe { put_chained(pProperties, v) });
        // SAFETY: the caller's chain; each known stype is written as its struct.
        unsafe {
            walk_chain((*pProperties).pNext, |stype, ptr| {
                if stype == ZES_STRUCTURE_TYPE_DEVICE_EXT_PROPERTIES.0 {
                    let ext = zes_device_ext_properties_t {
                        uuid: zes_uuid_t { id: device_uuid(dev, tile) },
                        r#type: ZES_DEVICE_TYPE_GPU,
                        flags: ext_flags(dev, tile),
                        ..Default::default()
                    };
                    let _ = put_chained(ptr.cast::<zes_device_ext_properties_t>(), ext);
                }
            })
        };
        ZE_RESULT_SUCCESS
    }

    unsafe fn zesDeviceGetSubDevicePropertiesExp(
        &self,
        hDevice: zes_device_handle_t,
        pCount: *mut u32,
        pSubdeviceProps: *mut zes_subdevice_exp_properties_t,
    ) -> ze_result_t {
        let mut m = machine();
        let (d, tile) = tri!(m.device(hDevice.0));
        let dev = &m.devices[d];
        let n = if tile.is_none() && dev.p.tiles > 1 { dev.p.tiles as usize } else { 0 };
        // SAFETY: caller's count and array.
        unsafe {
            enumerate(pCount, pSubdeviceProps, n, |i, p| {
                put_chained(
                    p,
                    zes_subdevice_exp_properties_t {
                        subdeviceId: i as u32,
                        uuid: zes_uuid_t { id: device_uuid(dev, Some(i as u32)) },
                        ..Default::default()
                    },
                )
            })
        }
    }

    unsafe fn zesDeviceGetState(
        &self,
        hDevice: zes_device_handle_t,
        pState: *mut zes_device_state_t,
    ) -> ze_result_t {
        // Validates the handle (and counts the call, or reports a lost device).
        tri!(machine().device(hDevice.0));
        // No reset reason applies: neither a wedged device nor an in-field repair is modeled. An
        // ECC change waiting for a reset is reported by zesDeviceGetEccState (pendingAction).
        let v = zes_device_state_t {
            reset: zes_reset_reason_flags_t::EMPTY,
            repaired: ZES_REPAIR_STATUS_UNSUPPORTED,
            ..Default::default()
        };
        // SAFETY: caller's struct, null-checked.
        tri!(unsafe { put_chained(pState, v) });
        ZE_RESULT_SUCCESS
    }

    unsafe fn zesDeviceReset(&self, hDevice: zes_device_handle_t, force: ze_bool_t) -> ze_result_t {
        let mut m = machine();
        let (d, _) = tri!(m.device(hDevice.0));
        if force == 0 && m.processes.iter().any(|p| p.device == d) {
            return ZE_RESULT_ERROR_HANDLE_OBJECT_IN_USE;
        }
        m.devices[d].reset();
        ZE_RESULT_SUCCESS
    }

    unsafe fn zesDeviceResetExt(
        &self,
        hDevice: zes_device_handle_t,
        pProperties: *mut zes_reset_properties_t,
    ) -> ze_result_t {
        if pProperties.is_null() {
            return ZE_RESULT_ERROR_INVALID_NULL_POINTER;
        }
        // SAFETY: non-null caller struct.
        let (force, kind) = unsafe { ((*pProperties).force, (*pProperties).resetType) };
        if kind.0 > ZES_RESET_TYPE_FLR.0 {
            return ZE_RESULT_ERROR_INVALID_ENUMERATION;
        }
        // SAFETY: same handle contract.
        unsafe { self.zesDeviceReset(hDevice, force) }
    }

    unsafe fn zesDeviceProcessesGetState(
        &self,
        hDevice: zes_device_handle_t,
        pCount: *mut u32,
        pProcesses: *mut zes_process_state_t,
    ) -> ze_result_t {
        let mut m = machine();
        let (d, _) = tri!(m.device(hDevice.0));
        let procs = m.processes_of(d);
        // SAFETY: caller's count and array.
        unsafe {
            enumerate(pCount, pProcesses, procs.len(), |i, p| {
                let s = &procs[i];
                put_chained(
                    p,
                    zes_process_state_t {
                        processId: s.pid,
                        memSize: s.mem_bytes,
                        sharedSize: s.shared_bytes,
                        engines: s.engines,
                        ..Default::default()
                    },
                )
            })
        }
    }

    // ---------------- PCI ----------------
    unsafe fn zesDevicePciGetProperties(
        &self,
        hDevice: zes_device_handle_t,
        pProperties: *mut zes_pci_properties_t,
    ) -> ze_result_t {
        let mut m = machine();
        let (d, _) = tri!(m.device(hDevice.0));
        let dev = &m.devices[d];
        let p = &dev.p;
        let v = zes_pci_properties_t {
            address: zes_pci_address_t {
                domain: p.pci_domain,
                bus: p.pci_bus,
                device: p.pci_device,
                function: p.pci_function,
            },
            maxSpeed: zes_pci_speed_t { gen: p.pci_gen, width: p.pci_width, maxBandwidth: dev.pci_max_bps() },
            haveBandwidthCounters: boolean(p.pci_counters),
            havePacketCounters: boolean(p.pci_counters),
            haveReplayCounters: boolean(p.pci_counters),
            ..Default::default()
        };
        // SAFETY: caller's struct, null-checked.
        tri!(unsafe { put_chained(pProperties, v) });
        ZE_RESULT_SUCCESS
    }

    unsafe fn zesDevicePciGetState(
        &self,
        hDevice: zes_device_handle_t,
        pState: *mut zes_pci_state_t,
    ) -> ze_result_t {
        let mut m = machine();
        let (d, _) = tri!(m.device(hDevice.0));
        let dev = &m.devices[d];
        let v = zes_pci_state_t {
            status: if dev.p.integrated { zes_pci_link_status_t::UNKNOWN } else { ZES_PCI_LINK_STATUS_GOOD },
            speed: zes_pci_speed_t {
                gen: dev.p.pci_gen,
                width: dev.p.pci_width,
                maxBandwidth: dev.pci_max_bps(),
            },
            ..Default::default()
        };
        // SAFETY: caller's struct, null-checked.
        tri!(unsafe { put_chained(pState, v) });
        ZE_RESULT_SUCCESS
    }

    unsafe fn zesDevicePciGetStats(
        &self,
        hDevice: zes_device_handle_t,
        pStats: *mut zes_pci_stats_t,
    ) -> ze_result_t {
        let mut m = machine();
        let (d, _) = tri!(m.device(hDevice.0));
        let now = m.now();
        let dev = &m.devices[d];
        if !dev.p.pci_counters {
            return ZE_RESULT_ERROR_UNSUPPORTED_FEATURE;
        }
        let v = zes_pci_stats_t {
            timestamp: timestamp_us(now),
            replayCounter: 0,
            packetCounter: dev.pci_packets as u64,
            rxCounter: dev.pci_rx as u64,
            txCounter: dev.pci_tx as u64,
            speed: zes_pci_speed_t {
                gen: dev.p.pci_gen,
                width: dev.p.pci_width,
                maxBandwidth: dev.pci_max_bps(),
            },
        };
        // SAFETY: caller's struct, null-checked.
        tri!(unsafe { put(pStats, v) });
        ZE_RESULT_SUCCESS
    }

    unsafe fn zesDevicePciGetBars(
        &self,
        hDevice: zes_device_handle_t,
        pCount: *mut u32,
        pProperties: *mut zes_pci_bar_properties_t,
    ) -> ze_result_t {
        let mut m = machine();
        let (d, _) = tri!(m.device(hDevice.0));
        let dev = &m.devices[d];
        let base = 0x0040_0000_0000_u64 + ((dev.p.pci_bus as u64) << 32);
        let bars = [
            (ZES_PCI_BAR_TYPE_MMIO, 0u32, base, 16u64 << 20, false),
            (
                ZES_PCI_BAR_TYPE_MEM,
                2,
                base + (1 << 30),
                if dev.p.mem_system { 256 << 20 } else { dev.p.mem_size_bytes.next_power_of_two() },
                !dev.p.mem_system,
            ),
        ];
        // SAFETY: caller's count and array; each element's chain is the caller's.
        unsafe {
            enumerate(pCount, pProperties, bars.len(), |i, p| {
                let (ty, index, b, size, resizable) = bars[i];
                put_chained(
                    p,
                    zes_pci_bar_properties_t { r#type: ty, index, base: b, size, ..Default::default() },
                )?;
                walk_chain((*p).pNext, |stype, ptr| {
                    if stype == ZES_STRUCTURE_TYPE_PCI_BAR_PROPERTIES_1_2.0 {
                        let v = zes_pci_bar_properties_1_2_t {
                            r#type: ty,
                            index,
                            base: b,
                            size,
                            resizableBarSupported: boolean(resizable),
                            resizableBarEnabled: boolean(resizable),
                            ..Default::default()
                        };
                        let _ = put_chained(ptr.cast::<zes_pci_bar_properties_1_2_t>(), v);
                    }
                });
                Ok(())
            })
        }
    }

    // ---------------- memory ----------------
    unsafe fn zesDeviceEnumMemoryModules(
        &self,
        hDevice: zes_device_handle_t,
        pCount: *mut u32,
        phMemory: *mut zes_mem_handle_t,
    ) -> ze_result_t {
        // SAFETY: the caller's count and array, passed on.
        unsafe {
            enumerate_components(
                hDevice,
                pCount,
                phMemory,
                Kind::Memory,
                |m, d| m.devices[d].mems.len(),
                zes_mem_handle_t,
            )
        }
    }

    unsafe fn zesMemoryGetProperties(
        &self,
        hMemory: zes_mem_handle_t,
        pProperties: *mut zes_mem_properties_t,
    ) -> ze_result_t {
        let mut m = machine();
        let (d, i) = tri!(m.component(hMemory.0, Kind::Memory, |d| d.mems.len()));
        let dev = &m.devices[d];
        let mm = &dev.mems[i];
        let (on, sid) = sub(mm.tile);
        let n = dev.mems.len() as i32;
        let v = zes_mem_properties_t {
            r#type: dev.p.mem_type,
            onSubdevice: on,
            subdeviceId: sid,
            location: if dev.p.mem_system { ZES_MEM_LOC_SYSTEM } else { ZES_MEM_LOC_DEVICE },
            physicalSize: if dev.p.mem_system { 0 } else { mm.size },
            busWidth: dev.p.mem_bus_width / n,
            numChannels: dev.p.mem_channels / n,
            ..Default::default()
        };
        // SAFETY: caller's struct, null-checked.
        tri!(unsafe { put_chained(pProperties, v) });
        // SAFETY: the caller's chain.
        unsafe {
            walk_chain((*pProperties).pNext, |stype, ptr| {
                if stype == ZES_STRUCTURE_TYPE_MEM_BANDWIDTH_COUNTER_BITS_EXP_PROPERTIES.0 {
                    let _ = put_chained(
                        ptr.cast::<zes_mem_bandwidth_counter_bits_exp_properties_t>(),
                        zes_mem_bandwidth_counter_bits_exp_properties_t {
                            validBitsCount: 64,
                            ..Default::default()
                        },
                    );
                }
            })
        };
        ZE_RESULT_SUCCESS
    }

    unsafe fn zesMemoryGetState(
        &self,
        hMemory: zes_mem_handle_t,
        pState: *mut zes_mem_state_t,
    ) -> ze_result_t {
        let mut m = machine();
        let (d, i) = tri!(m.component(hMemory.0, Kind::Memory, |d| d.mems.len()));
        let dev = &m.devices[d];
        let size = dev.mems[i].size;
        let used = dev.mem_used(&m.processes, i);
        let v = zes_mem_state_t { health: ZES_MEM_HEALTH_OK, free: size - used, size, ..Default::default() };
        // SAFETY: caller's struct, null-checked.
        tri!(unsafe { put_chained(pState, v) });
        ZE_RESULT_SUCCESS
    }

    unsafe fn zesMemoryGetBandwidth(
        &self,
        hMemory: zes_mem_handle_t,
        pBandwidth: *mut zes_mem_bandwidth_t,
    ) -> ze_result_t {
        let mut m = machine();
        let (d, i) = tri!(m.component(hMemory.0, Kind::Memory, |d| d.mems.len()));
        if m.faults.unprivileged {
            return ZE_RESULT_ERROR_INSUFFICIENT_PERMISSIONS;
        }
        let now = m.now();
        let mm = &m.devices[d].mems[i];
        let v = zes_mem_bandwidth_t {
            readCounter: mm.read_bytes as u64,
            writeCounter: mm.write_bytes as u64,
            maxBandwidth: mm.bandwidth,
            timestamp: timestamp_us(now),
        };
        // SAFETY: caller's struct, null-checked.
        tri!(unsafe { put(pBandwidth, v) });
        ZE_RESULT_SUCCESS
    }

    // ---------------- power ----------------
    unsafe fn zesDeviceEnumPowerDomains(
        &self,
        hDevice: zes_device_handle_t,
        pCount: *mut u32,
        phPower: *mut zes_pwr_handle_t,
    ) -> ze_result_t {
        // SAFETY: the caller's count and array, passed on.
        unsafe {
            enumerate_components(
                hDevice,
                pCount,
                phPower,
                Kind::Power,
                |m, d| m.devices[d].powers.len(),
                zes_pwr_handle_t,
            )
        }
    }

    unsafe fn zesDeviceGetCardPowerDomain(
        &self,
        hDevice: zes_device_handle_t,
        phPower: *mut zes_pwr_handle_t,
    ) -> ze_result_t {
        let mut m = machine();
        let (d, _) = tri!(m.device(hDevice.0));
        if phPower.is_null() {
            return ZE_RESULT_ERROR_INVALID_NULL_POINTER;
        }
        if m.devices[d].powers[0].domain != zes_power_domain_t::CARD {
            return ZE_RESULT_ERROR_UNSUPPORTED_FEATURE;
        }
        // SAFETY: non-null out pointer.
        unsafe { *phPower = zes_pwr_handle_t(handles::make(Kind::Power, d, 0)) };
        ZE_RESULT_SUCCESS
    }

    unsafe fn zesPowerGetProperties(
        &self,
        hPower: zes_pwr_handle_t,
        pProperties: *mut zes_power_properties_t,
    ) -> ze_result_t {
        let mut m = machine();
        let (d, i) = tri!(m.component(hPower.0, Kind::Power, |d| d.powers.len()));
        let dev = &m.devices[d];
        let pw = &dev.powers[i];
        let (on, sid) = sub(pw.tile);
        let mw = |w: f64| (w * 1000.0).round() as i32;
        let v = zes_power_properties_t {
            onSubdevice: on,
            subdeviceId: sid,
            canControl: boolean(pw.can_control),
            isEnergyThresholdSupported: 0,
            defaultLimit: if pw.can_control { mw(dev.p.tdp_w) } else { -1 },
            minLimit: if pw.can_control { mw(dev.p.power_min_w) } else { -1 },
            maxLimit: if pw.can_control { mw(dev.p.power_max_w) } else { -1 },
            ..Default::default()
        };
        // SAFETY: caller's struct, null-checked.
        tri!(unsafe { put_chained(pProperties, v) });
        let default = power_limit_desc(ZES_POWER_LEVEL_SUSTAINED, true, 28_000, mw(dev.p.tdp_w));
        // SAFETY: the caller's chain; `defaultLimit` is the caller's pointer or null.
        unsafe {
            walk_chain((*pProperties).pNext, |stype, ptr| {
                if stype == ZES_STRUCTURE_TYPE_POWER_EXT_PROPERTIES.0 {
                    let ext = ptr.cast::<zes_power_ext_properties_t>();
                    (*ext).domain = pw.domain;
                    let dl = (*ext).defaultLimit;
                    if !dl.is_null() && pw.can_control {
                        let _ = put_chained(dl, default);
                    }
                } else if stype == ZES_STRUCTURE_TYPE_POWER_DOMAIN_EXP_PROPERTIES.0 {
                    (*ptr.cast::<zes_power_domain_exp_properties_t>()).powerDomain = pw.domain;
                }
            })
        };
        ZE_RESULT_SUCCESS
    }

    unsafe fn zesPowerGetEnergyCounter(
        &self,
        hPower: zes_pwr_handle_t,
        pEnergy: *mut zes_power_energy_counter_t,
    ) -> ze_result_t {
        let mut m = machine();
        let (d, i) = tri!(m.component(hPower.0, Kind::Power, |d| d.powers.len()));
        if m.faults.unprivileged {
            return ZE_RESULT_ERROR_INSUFFICIENT_PERMISSIONS;
        }
        if pEnergy.is_null() {
            return ZE_RESULT_ERROR_INVALID_NULL_POINTER;
        }
        let now = m.now();
        let wrap = m.faults.energy_wrap_uj;
        let repeat = m.faults.repeat_timestamps;
        let pw = &mut m.devices[d].powers[i];
        pw.reads += 1;
        let mut energy = (pw.energy_j * 1e6) as u64;
        if let Some(w) = wrap {
            energy %= w;
        }
        let sample = if repeat && pw.reads % 2 == 0 { pw.last_sample } else { (energy, timestamp_us(now)) };
        pw.last_sample = sample;
        // SAFETY: non-null caller struct.
        tri!(unsafe { put(pEnergy, zes_power_energy_counter_t { energy: sample.0, timestamp: sample.1 }) });
        ZE_RESULT_SUCCESS
    }

    unsafe fn zesPowerGetLimits(
        &self,
        hPower: zes_pwr_handle_t,
        pSustained: *mut zes_power_sustained_limit_t,
        pBurst: *mut zes_power_burst_limit_t,
        pPeak: *mut zes_power_peak_limit_t,
    ) -> ze_result_t {
        let mut m = machine();
        let (d, i) = tri!(m.component(hPower.0, Kind::Power, |d| d.powers.len()));
        let pw = &m.devices[d].powers[i];
        if !pw.can_control {
            return ZE_RESULT_ERROR_UNSUPPORTED_FEATURE;
        }
        let l = pw.limits;
        // SAFETY: each out pointer is optional: written only when non-null.
        unsafe {
            if !pSustained.is_null() {
                *pSustained = zes_power_sustained_limit_t {
                    enabled: boolean(l.sustained_enabled),
                    power: l.sustained_mw,
                    interval: l.interval_ms,
                };
            }
            if !pBurst.is_null() {
                *pBurst = zes_power_burst_limit_t { enabled: boolean(l.burst_enabled), power: l.burst_mw };
            }
            if !pPeak.is_null() {
                *pPeak = zes_power_peak_limit_t { powerAC: l.peak_ac_mw, powerDC: l.peak_dc_mw };
            }
        }
        ZE_RESULT_SUCCESS
    }

    unsafe fn zesPowerSetLimits(
        &self,
        hPower: zes_pwr_handle_t,
        pSustained: *const zes_power_sustained_limit_t,
        pBurst: *const zes_power_burst_limit_t,
        pPeak: *const zes_power_peak_limit_t,
    ) -> ze_result_t {
        let mut m = machine();
        let (d, i) = tri!(m.component(hPower.0, Kind::Power, |d| d.powers.len()));
        let (lo, hi) = {
            let p = &m.devices[d].p;
            ((p.power_min_w * 1000.0) as i32, (p.power_max_w * 1000.0) as i32)
        };
        let pw = &mut m.devices[d].powers[i];
        if !pw.can_control {
            return ZE_RESULT_ERROR_UNSUPPORTED_FEATURE;
        }
        let mut l = pw.limits;
        // SAFETY: optional in pointers, read only when non-null.
        unsafe {
            if let Some(s) = pSustained.as_ref() {
                if s.power < lo || s.power > hi || s.interval < 1 || s.interval > 128_000 {
                    return ZE_RESULT_ERROR_INVALID_ARGUMENT;
                }
                l.sustained_enabled = s.enabled != 0;
                l.sustained_mw = s.power;
                l.interval_ms = s.interval;
            }
            if let Some(b) = pBurst.as_ref() {
                if b.power < lo || b.power > hi * 2 {
                    return ZE_RESULT_ERROR_INVALID_ARGUMENT;
                }
                l.burst_enabled = b.enabled != 0;
                l.burst_mw = b.power;
            }
            if let Some(p) = pPeak.as_ref() {
                if p.powerAC < lo
                    || p.powerAC > hi * 3
                    || (p.powerDC != -1 && (p.powerDC < lo || p.powerDC > hi * 3))
                {
                    return ZE_RESULT_ERROR_INVALID_ARGUMENT;
                }
                l.peak_ac_mw = p.powerAC;
                l.peak_dc_mw = p.powerDC;
            }
        }
        pw.limits = l;
        ZE_RESULT_SUCCESS
    }

    unsafe fn zesPowerGetLimitsExt(
        &self,
        hPower: zes_pwr_handle_t,
        pCount: *mut u32,
        pSustained: *mut zes_power_limit_ext_desc_t,
    ) -> ze_result_t {
        let mut m = machine();
        let (d, i) = tri!(m.component(hPower.0, Kind::Power, |d| d.powers.len()));
        let pw = &m.devices[d].powers[i];
        let l = pw.limits;
        let descs = if pw.can_control {
            vec![
                power_limit_desc(
                    ZES_POWER_LEVEL_SUSTAINED,
                    l.sustained_enabled,
                    l.interval_ms,
                    l.sustained_mw,
                ),
                power_limit_desc(ZES_POWER_LEVEL_BURST, l.burst_enabled, 2, l.burst_mw),
                power_limit_desc(ZES_POWER_LEVEL_PEAK, true, 0, l.peak_ac_mw),
            ]
        } else {
            vec![]
        };
        // SAFETY: caller's count and array.
        unsafe { enumerate(pCount, pSustained, descs.len(), |k, p| put_chained(p, descs[k])) }
    }

    unsafe fn zesPowerSetLimitsExt(
        &self,
        hPower: zes_pwr_handle_t,
        pCount: *mut u32,
        pSustained: *mut zes_power_limit_ext_desc_t,
    ) -> ze_result_t {
        let mut m = machine();
        let (d, i) = tri!(m.component(hPower.0, Kind::Power, |d| d.powers.len()));
        let (lo, hi) = {
            let p = &m.devices[d].p;
            ((p.power_min_w * 1000.0) as i32, (p.power_max_w * 1000.0) as i32)
        };
        let pw = &mut m.devices[d].powers[i];
        if !pw.can_control {
            return ZE_RESULT_ERROR_UNSUPPORTED_FEATURE;
        }
        if pCount.is_null() || pSustained.is_null() {
            return ZE_RESULT_ERROR_INVALID_NULL_POINTER;
        }
        // SAFETY: non-null count from the caller.
        let n = unsafe { *pCount } as usize;
        let mut l = pw.limits;
        for k in 0..n {
            // SAFETY: k < *pCount, within the caller's array.
            let desc = unsafe { *pSustained.add(k) };
            if desc.limitUnit != ZES_LIMIT_UNIT_POWER {
                return ZE_RESULT_ERROR_INVALID_ARGUMENT;
            }
            match desc.level {
                ZES_POWER_LEVEL_SUSTAINED => {
                    if desc.limit < lo || desc.limit > hi {
                        return ZE_RESULT_ERROR_INVALID_ARGUMENT;
                    }
                    l.sustained_enabled = desc.enabled != 0;
                    l.sustained_mw = desc.limit;
                    if desc.interval > 0 {
                        l.interval_ms = desc.interval;
                    }
                }
                ZES_POWER_LEVEL_BURST => {
                    if desc.limit < lo || desc.limit > hi * 2 {
                        return ZE_RESULT_ERROR_INVALID_ARGUMENT;
                    }
                    l.burst_mw = desc.limit;
                }
                ZES_POWER_LEVEL_PEAK => {
                    if desc.limit < lo || desc.limit > hi * 3 {
                        return ZE_RESULT_ERROR_INVALID_ARGUMENT;
                    }
                    l.peak_ac_mw = desc.limit;
                }
                _ => return ZE_RESULT_ERROR_UNSUPPORTED_FEATURE,
            }
        }
        pw.limits = l;
        ZE_RESULT_SUCCESS
    }

    // ---------------- frequency ----------------
    unsafe fn zesDeviceEnumFrequencyDomains(
        &self,
        hDevice: zes_device_handle_t,
        pCount: *mut u32,
        phFrequency: *mut zes_freq_handle_t,
    ) -> ze_result_t {
        // SAFETY: the caller's count and array, passed on.
        unsafe {
            enumerate_components(
                hDevice,
                pCount,
                phFrequency,
                Kind::Frequency,
                |m, d| m.devices[d].freqs.len(),
                zes_freq_handle_t,
            )
        }
    }

    unsafe fn zesFrequencyGetProperties(
        &self,
        hFrequency: zes_freq_handle_t,
        pProperties: *mut zes_freq_properties_t,
    ) -> ze_result_t {
        let mut m = machine();
        let (d, i) = tri!(m.component(hFrequency.0, Kind::Frequency, |d| d.freqs.len()));
        let f = &m.devices[d].freqs[i];
        let (on, sid) = sub(f.tile);
        let v = zes_freq_properties_t {
            r#type: f.domain,
            onSubdevice: on,
            subdeviceId: sid,
            canControl: boolean(f.domain == zes_freq_domain_t::GPU),
            isThrottleEventSupported: 0,
            min: f.hw_min,
            max: f.hw_max,
            ..Default::default()
        };
        // SAFETY: caller's struct, null-checked.
        tri!(unsafe { put_chained(pProperties, v) });
        ZE_RESULT_SUCCESS
    }

    unsafe fn zesFrequencyGetAvailableClocks(
        &self,
        hFrequency: zes_freq_handle_t,
        pCount: *mut u32,
        phFrequency: *mut f64,
    ) -> ze_result_t {
        let mut m = machine();
        let (d, i) = tri!(m.component(hFrequency.0, Kind::Frequency, |d| d.freqs.len()));
        let f = &m.devices[d].freqs[i];
        // Capped when the machine was configured; the clocks are generated, never stored.
        let n =
            crate::params::clock_count(f.hw_min, f.hw_max, f.step).min(crate::config::MAX_CLOCKS) as usize;
        let (lo, step) = (f.hw_min, f.step);
        // SAFETY: caller's count and array.
        unsafe { enumerate(pCount, phFrequency, n, |k, p| put(p, lo + step * k as f64)) }
    }

    unsafe fn zesFrequencyGetRange(
        &self,
        hFrequency: zes_freq_handle_t,
        pLimits: *mut zes_freq_range_t,
    ) -> ze_result_t {
        let mut m = machine();
        let (d, i) = tri!(m.component(hFrequency.0, Kind::Frequency, |d| d.freqs.len()));
        let f = &m.devices[d].freqs[i];
        // SAFETY: caller's struct, null-checked.
        tri!(unsafe { put(pLimits, zes_freq_range_t { min: f.range.0, max: f.range.1 }) });
        ZE_RESULT_SUCCESS
    }

    unsafe fn zesFrequencySetRange(
        &self,
        hFrequency: zes_freq_handle_t,
        pLimits: *const zes_freq_range_t,
    ) -> ze_result_t {
        let mut m = machine();
        let (d, i) = tri!(m.component(hFrequency.0, Kind::Frequency, |d| d.freqs.len()));
        // SAFETY: optional read of the caller's struct.
        let Some(r) = (unsafe { pLimits.as_ref() }).copied() else {
            return ZE_RESULT_ERROR_INVALID_NULL_POINTER;
        };
        let f = &mut m.devices[d].freqs[i];
        if f.domain != zes_freq_domain_t::GPU {
            return ZE_RESULT_ERROR_UNSUPPORTED_FEATURE;
        }
        // -1 leaves a bound at the hardware limit, as the spec allows.
        let min = if r.min == -1.0 { f.hw_min } else { r.min };
        let max = if r.max == -1.0 { f.hw_max } else { r.max };
        if !(min.is_finite() && max.is_finite()) || min > max || min < f.hw_min || max > f.hw_max {
            return ZE_RESULT_ERROR_INVALID_ARGUMENT;
        }
        f.range = (min, max);
        ZE_RESULT_SUCCESS
    }

    unsafe fn zesFrequencyGetState(
        &self,
        hFrequency: zes_freq_handle_t,
        pState: *mut zes_freq_state_t,
    ) -> ze_result_t {
        let mut m = machine();
        let (d, i) = tri!(m.component(hFrequency.0, Kind::Frequency, |d| d.freqs.len()));
        let dev = &m.devices[d];
        let f = &dev.freqs[i];
        let v = zes_freq_state_t {
            currentVoltage: if f.domain == zes_freq_domain_t::GPU {
                0.7 + 0.3 * (f.actual - f.hw_min) / (f.hw_max - f.hw_min).max(1.0)
            } else {
                -1.0
            },
            request: f.request,
            tdp: f.hw_max,
            efficient: f.efficient,
            actual: f.actual,
            throttleReasons: f.reasons,
            ..Default::default()
        };
        // SAFETY: caller's struct, null-checked.
        tri!(unsafe { put_chained(pState, v) });
        ZE_RESULT_SUCCESS
    }

    unsafe fn zesFrequencyGetThrottleTime(
        &self,
        hFrequency: zes_freq_handle_t,
        pThrottleTime: *mut zes_freq_throttle_time_t,
    ) -> ze_result_t {
        let mut m = machine();
        let (d, i) = tri!(m.component(hFrequency.0, Kind::Frequency, |d| d.freqs.len()));
        let now = m.now();
        let f = &m.devices[d].freqs[i];
        // SAFETY: caller's struct, null-checked.
        tri!(unsafe {
            put(
                pThrottleTime,
                zes_freq_throttle_time_t {
                    throttleTime: (f.throttle_s * 1e6) as u64,
                    timestamp: timestamp_us(now),
                },
            )
        });
        ZE_RESULT_SUCCESS
    }

    // ---------------- temperature ----------------
    unsafe fn zesDeviceEnumTemperatureSensors(
        &self,
        hDevice: zes_device_handle_t,
        pCount: *mut u32,
        phTemperature: *mut zes_temp_handle_t,
    ) -> ze_result_t {
        // SAFETY: the caller's count and array, passed on.
        unsafe {
            enumerate_components(
                hDevice,
                pCount,
                phTemperature,
                Kind::Temperature,
                |m, d| m.devices[d].temps.len(),
                zes_temp_handle_t,
            )
        }
    }

    unsafe fn zesTemperatureGetProperties(
        &self,
        hTemperature: zes_temp_handle_t,
        pProperties: *mut zes_temp_properties_t,
    ) -> ze_result_t {
        let mut m = machine();
        let (d, i) = tri!(m.component(hTemperature.0, Kind::Temperature, |d| d.temps.len()));
        let dev = &m.devices[d];
        let s = &dev.temps[i];
        let (on, sid) = sub(s.tile);
        let global = s.sensor == zes_temp_sensors_t::GLOBAL;
        let v = zes_temp_properties_t {
            r#type: s.sensor,
            onSubdevice: on,
            subdeviceId: sid,
            maxTemperature: dev.p.max_temp_c,
            isCriticalTempSupported: boolean(global),
            isThreshold1Supported: boolean(global),
            isThreshold2Supported: boolean(global),
            ..Default::default()
        };
        // SAFETY: caller's struct, null-checked.
        tri!(unsafe { put_chained(pProperties, v) });
        ZE_RESULT_SUCCESS
    }

    unsafe fn zesTemperatureGetConfig(
        &self,
        hTemperature: zes_temp_handle_t,
        pConfig: *mut zes_temp_config_t,
    ) -> ze_result_t {
        let mut m = machine();
        let (d, i) = tri!(m.component(hTemperature.0, Kind::Temperature, |d| d.temps.len()));
        let s = &m.devices[d].temps[i];
        if s.sensor != zes_temp_sensors_t::GLOBAL {
            return ZE_RESULT_ERROR_UNSUPPORTED_FEATURE;
        }
        // SAFETY: caller's struct, null-checked.
        tri!(unsafe { put_chained(pConfig, s.config) });
        ZE_RESULT_SUCCESS
    }

    unsafe fn zesTemperatureSetConfig(
        &self,
        hTemperature: zes_temp_handle_t,
        pConfig: *const zes_temp_config_t,
    ) -> ze_result_t {
        let mut m = machine();
        let (d, i) = tri!(m.component(hTemperature.0, Kind::Temperature, |d| d.temps.len()));
        // SAFETY: optional read of the caller's struct.
        let Some(mut c) = (unsafe { pConfig.as_ref() }).copied() else {
            return ZE_RESULT_ERROR_INVALID_NULL_POINTER;
        };
        let max = m.devices[d].p.max_temp_c;
        let s = &mut m.devices[d].temps[i];
        if s.sensor != zes_temp_sensors_t::GLOBAL {
            return ZE_RESULT_ERROR_UNSUPPORTED_FEATURE;
        }
        for th in [&c.threshold1, &c.threshold2] {
            let used = th.enableLowToHigh != 0 || th.enableHighToLow != 0;
            if used && !(th.threshold > 0.0 && th.threshold <= max) {
                return ZE_RESULT_ERROR_INVALID_ARGUMENT;
            }
        }
        c.pNext = core::ptr::null_mut();
        s.config = c;
        ZE_RESULT_SUCCESS
    }

    unsafe fn zesTemperatureGetState(
        &self,
        hTemperature: zes_temp_handle_t,
        pTemperature: *mut f64,
    ) -> ze_result_t {
        let mut m = machine();
        let (d, i) = tri!(m.component(hTemperature.0, Kind::Temperature, |d| d.temps.len()));
        if m.faults.unprivileged {
            return ZE_RESULT_ERROR_INSUFFICIENT_PERMISSIONS;
        }
        let value = m.devices[d].temps[i].value_c;
        // SAFETY: caller's out pointer, null-checked. Sensors report whole degrees.
        tri!(unsafe { put(pTemperature, value.round()) });
        ZE_RESULT_SUCCESS
    }

    // ---------------- engines ----------------
    unsafe fn zesDeviceEnumEngineGroups(
        &self,
        hDevice: zes_device_handle_t,
        pCount: *mut u32,
        phEngine: *mut zes_engine_handle_t,
    ) -> ze_result_t {
        // SAFETY: the caller's count and array, passed on.
        unsafe {
            enumerate_components(
                hDevice,
                pCount,
                phEngine,
                Kind::Engine,
                |m, d| if m.faults.unprivileged { 0 } else { m.devices[d].engines.len() },
                zes_engine_handle_t,
            )
        }
    }

    unsafe fn zesEngineGetProperties(
        &self,
        hEngine: zes_engine_handle_t,
        pProperties: *mut zes_engine_properties_t,
    ) -> ze_result_t {
        let mut m = machine();
        let (d, i) = tri!(m.component(hEngine.0, Kind::Engine, |d| d.engines.len()));
        let e = &m.devices[d].engines[i];
        let (on, sid) = sub(e.tile);
        let v = zes_engine_properties_t {
            r#type: e.group,
            onSubdevice: on,
            subdeviceId: sid,
            ..Default::default()
        };
        // SAFETY: caller's struct, null-checked.
        tri!(unsafe { put_chained(pProperties, v) });
        ZE_RESULT_SUCCESS
    }

    unsafe fn zesEngineGetActivity(
        &self,
        hEngine: zes_engine_handle_t,
        pStats: *mut zes_engine_stats_t,
    ) -> ze_result_t {
        let mut m = machine();
        let (d, i) = tri!(m.component(hEngine.0, Kind::Engine, |d| d.engines.len()));
        if pStats.is_null() {
            return ZE_RESULT_ERROR_INVALID_NULL_POINTER;
        }
        let now = m.now();
        let repeat = m.faults.repeat_timestamps;
        let e = &mut m.devices[d].engines[i];
        e.reads += 1;
        let sample = if repeat && e.reads % 2 == 0 {
            e.last_sample
        } else {
            ((e.active_s * 1e6) as u64, timestamp_us(now))
        };
        e.last_sample = sample;
        // SAFETY: non-null caller struct.
        tri!(unsafe { put(pStats, zes_engine_stats_t { activeTime: sample.0, timestamp: sample.1 }) });
        ZE_RESULT_SUCCESS
    }

    unsafe fn zesEngineGetActivityExt(
        &self,
        hEngine: zes_engine_handle_t,
        pCount: *mut u32,
        pStats: *mut zes_engine_stats_t,
    ) -> ze_result_t {
        let mut m = machine();
        let (d, i) = tri!(m.component(hEngine.0, Kind::Engine, |d| d.engines.len()));
        let now = m.now();
        let e = &m.devices[d].engines[i];
        let s = zes_engine_stats_t { activeTime: (e.active_s * 1e6) as u64, timestamp: timestamp_us(now) };
        // SAFETY: caller's count and array: one entry, the physical function (no VFs).
        unsafe { enumerate(pCount, pStats, 1, |_, p| put(p, s)) }
    }

    // ---------------- ECC ----------------
    unsafe fn zesDeviceEccAvailable(
        &self,
        hDevice: zes_device_handle_t,
        pAvailable: *mut ze_bool_t,
    ) -> ze_result_t {
        let mut m = machine();
        let (d, _) = tri!(m.device(hDevice.0));
        // SAFETY: caller's out pointer, null-checked.
        tri!(unsafe { put(pAvailable, boolean(m.devices[d].p.ecc_supported)) });
        ZE_RESULT_SUCCESS
    }

    unsafe fn zesDeviceEccConfigurable(
        &self,
        hDevice: zes_device_handle_t,
        pConfigurable: *mut ze_bool_t,
    ) -> ze_result_t {
        let mut m = machine();
        let (d, _) = tri!(m.device(hDevice.0));
        // SAFETY: caller's out pointer, null-checked.
        tri!(unsafe { put(pConfigurable, boolean(m.devices[d].p.ecc_configurable)) });
        ZE_RESULT_SUCCESS
    }

    unsafe fn zesDeviceGetEccState(
        &self,
        hDevice: zes_device_handle_t,
        pState: *mut zes_device_ecc_properties_t,
    ) -> ze_result_t {
        let mut m = machine();
        let (d, _) = tri!(m.device(hDevice.0));
        let dev = &m.devices[d];
        if !dev.p.ecc_supported {
            return ZE_RESULT_ERROR_UNSUPPORTED_FEATURE;
        }
        let action = if dev.ecc_pending != dev.ecc_current {
            ZES_DEVICE_ACTION_WARM_CARD_RESET
        } else {
            ZES_DEVICE_ACTION_NONE
        };
        let v = zes_device_ecc_properties_t {
            currentState: dev.ecc_current,
            pendingState: dev.ecc_pending,
            pendingAction: action,
            ..Default::default()
        };
        // SAFETY: caller's struct, null-checked.
        tri!(unsafe { put_chained(pState, v) });
        let default =
            if dev.p.ecc_enabled { ZES_DEVICE_ECC_STATE_ENABLED } else { ZES_DEVICE_ECC_STATE_DISABLED };
        // SAFETY: the caller's chain.
        unsafe {
            walk_chain((*pState).pNext, |stype, ptr| {
                if stype == ZES_STRUCTURE_TYPE_DEVICE_ECC_DEFAULT_PROPERTIES_EXT.0 {
                    (*ptr.cast::<zes_device_ecc_default_properties_ext_t>()).defaultState = default;
                }
            })
        };
        ZE_RESULT_SUCCESS
    }

    unsafe fn zesDeviceSetEccState(
        &self,
        hDevice: zes_device_handle_t,
        newState: *const zes_device_ecc_desc_t,
        pState: *mut zes_device_ecc_properties_t,
    ) -> ze_result_t {
        {
            let mut m = machine();
            let (d, _) = tri!(m.device(hDevice.0));
            if newState.is_null() || pState.is_null() {
                return ZE_RESULT_ERROR_INVALID_NULL_POINTER;
            }
            let dev = &mut m.devices[d];
            if !dev.p.ecc_configurable {
                return ZE_RESULT_ERROR_UNSUPPORTED_FEATURE;
            }
            // SAFETY: non-null caller struct.
            let want = unsafe { (*newState).state };
            if want != ZES_DEVICE_ECC_STATE_ENABLED && want != ZES_DEVICE_ECC_STATE_DISABLED {
                return ZE_RESULT_ERROR_INVALID_ENUMERATION;
            }
            dev.ecc_pending = want;
        }
        // SAFETY: same arguments.
        unsafe { self.zesDeviceGetEccState(hDevice, pState) }
    }

    // ---------------- fans ----------------
    unsafe fn zesDeviceEnumFans(
        &self,
        hDevice: zes_device_handle_t,
        pCount: *mut u32,
        phFan: *mut zes_fan_handle_t,
    ) -> ze_result_t {
        // SAFETY: the caller's count and array, passed on.
        unsafe {
            enumerate_components(
                hDevice,
                pCount,
                phFan,
                Kind::Fan,
                |m, d| m.devices[d].fans.len(),
                zes_fan_handle_t,
            )
        }
    }

    unsafe fn zesFanGetProperties(
        &self,
        hFan: zes_fan_handle_t,
        pProperties: *mut zes_fan_properties_t,
    ) -> ze_result_t {
        let mut m = machine();
        let (d, _) = tri!(m.component(hFan.0, Kind::Fan, |d| d.fans.len()));
        let v = zes_fan_properties_t {
            canControl: 1,
            supportedModes: (1 << ZES_FAN_SPEED_MODE_DEFAULT.0)
                | (1 << ZES_FAN_SPEED_MODE_FIXED.0)
                | (1 << ZES_FAN_SPEED_MODE_TABLE.0),
            supportedUnits: (1 << ZES_FAN_SPEED_UNITS_RPM.0) | (1 << ZES_FAN_SPEED_UNITS_PERCENT.0),
            maxRPM: m.devices[d].p.fan_max_rpm,
            maxPoints: 10,
            ..Default::default()
        };
        // SAFETY: caller's struct, null-checked.
        tri!(unsafe { put_chained(pProperties, v) });
        ZE_RESULT_SUCCESS
    }

    unsafe fn zesFanGetConfig(&self, hFan: zes_fan_handle_t, pConfig: *mut zes_fan_config_t) -> ze_result_t {
        let mut m = machine();
        let (d, i) = tri!(m.component(hFan.0, Kind::Fan, |d| d.fans.len()));
        let f = &m.devices[d].fans[i];
        let v =
            zes_fan_config_t { mode: f.mode, speedFixed: f.fixed, speedTable: f.table, ..Default::default() };
        // SAFETY: caller's struct, null-checked.
        tri!(unsafe { put_chained(pConfig, v) });
        ZE_RESULT_SUCCESS
    }

    unsafe fn zesFanSetDefaultMode(&self, hFan: zes_fan_handle_t) -> ze_result_t {
        let mut m = machine();
        let (d, i) = tri!(m.component(hFan.0, Kind::Fan, |d| d.fans.len()));
        m.devices[d].fans[i].mode = ZES_FAN_SPEED_MODE_DEFAULT;
        ZE_RESULT_SUCCESS
    }

    unsafe fn zesFanSetFixedSpeedMode(
        &self,
        hFan: zes_fan_handle_t,
        speed: *const zes_fan_speed_t,
    ) -> ze_result_t {
        let mut m = machine();
        let (d, i) = tri!(m.component(hFan.0, Kind::Fan, |d| d.fans.len()));
        // SAFETY: optional read of the caller's struct.
        let Some(s) = (unsafe { speed.as_ref() }).copied() else {
            return ZE_RESULT_ERROR_INVALID_NULL_POINTER;
        };
        let max = m.devices[d].p.fan_max_rpm;
        let ok = match s.units {
            ZES_FAN_SPEED_UNITS_PERCENT => (0..=100).contains(&s.speed),
            ZES_FAN_SPEED_UNITS_RPM => (0..=max).contains(&s.speed),
            _ => return ZE_RESULT_ERROR_INVALID_ENUMERATION,
        };
        if !ok {
            return ZE_RESULT_ERROR_INVALID_ARGUMENT;
        }
        let f = &mut m.devices[d].fans[i];
        f.mode = ZES_FAN_SPEED_MODE_FIXED;
        f.fixed = s;
        ZE_RESULT_SUCCESS
    }

    unsafe fn zesFanSetSpeedTableMode(
        &self,
        hFan: zes_fan_handle_t,
        speedTable: *const zes_fan_speed_table_t,
    ) -> ze_result_t {
        let mut m = machine();
        let (d, i) = tri!(m.component(hFan.0, Kind::Fan, |d| d.fans.len()));
        // SAFETY: optional read of the caller's struct.
        let Some(t) = (unsafe { speedTable.as_ref() }).copied() else {
            return ZE_RESULT_ERROR_INVALID_NULL_POINTER;
        };
        if t.numPoints < 1 || t.numPoints > 10 {
            return ZE_RESULT_ERROR_INVALID_ARGUMENT;
        }
        let f = &mut m.devices[d].fans[i];
        f.mode = ZES_FAN_SPEED_MODE_TABLE;
        f.table = t;
        ZE_RESULT_SUCCESS
    }

    unsafe fn zesFanGetState(
        &self,
        hFan: zes_fan_handle_t,
        units: zes_fan_speed_units_t,
        pSpeed: *mut i32,
    ) -> ze_result_t {
        let mut m = machine();
        let (d, i) = tri!(m.component(hFan.0, Kind::Fan, |d| d.fans.len()));
        let dev = &m.devices[d];
        let pct = dev.fan_percent(i).clamp(0.0, 100.0);
        let v = match units {
            ZES_FAN_SPEED_UNITS_PERCENT => pct.round() as i32,
            ZES_FAN_SPEED_UNITS_RPM => (pct / 100.0 * dev.p.fan_max_rpm as f64).round() as i32,
            _ => return ZE_RESULT_ERROR_INVALID_ENUMERATION,
        };
        // SAFETY: caller's out pointer, null-checked.
        tri!(unsafe { put(pSpeed, v) });
        ZE_RESULT_SUCCESS
    }

    // ---------------- firmware ----------------
    unsafe fn zesDeviceEnumFirmwares(
        &self,
        hDevice: zes_device_handle_t,
        pCount: *mut u32,
        phFirmware: *mut zes_firmware_handle_t,
    ) -> ze_result_t {
        // SAFETY: the caller's count and array, passed on.
        unsafe {
            enumerate_components(
                hDevice,
                pCount,
                phFirmware,
                Kind::Firmware,
                |m, d| m.devices[d].p.firmware.len(),
                zes_firmware_handle_t,
            )
        }
    }

    unsafe fn zesFirmwareGetProperties(
        &self,
        hFirmware: zes_firmware_handle_t,
        pProperties: *mut zes_firmware_properties_t,
    ) -> ze_result_t {
        let mut m = machine();
        let (d, i) = tri!(m.component(hFirmware.0, Kind::Firmware, |d| d.p.firmware.len()));
        let (name, version) = &m.devices[d].p.firmware[i];
        let v = zes_firmware_properties_t {
            canControl: 0,
            name: chars(name),
            version: chars(version),
            ..Default::default()
        };
        // SAFETY: caller's struct, null-checked.
        tri!(unsafe { put_chained(pProperties, v) });
        ZE_RESULT_SUCCESS
    }

    // ---------------- RAS ----------------
    unsafe fn zesDeviceEnumRasErrorSets(
        &self,
        hDevice: zes_device_handle_t,
        pCount: *mut u32,
        phRas: *mut zes_ras_handle_t,
    ) -> ze_result_t {
        // SAFETY: the caller's count and array, passed on.
        unsafe {
            enumerate_components(
                hDevice,
                pCount,
                phRas,
                Kind::Ras,
                |m, d| m.devices[d].ras.len(),
                zes_ras_handle_t,
            )
        }
    }

    unsafe fn zesRasGetProperties(
        &self,
        hRas: zes_ras_handle_t,
        pProperties: *mut zes_ras_properties_t,
    ) -> ze_result_t {
        let mut m = machine();
        let (d, i) = tri!(m.component(hRas.0, Kind::Ras, |d| d.ras.len()));
        let r = &m.devices[d].ras[i];
        let (on, sid) = sub(r.tile);
        let v =
            zes_ras_properties_t { r#type: r.kind, onSubdevice: on, subdeviceId: sid, ..Default::default() };
        // SAFETY: caller's struct, null-checked.
        tri!(unsafe { put_chained(pProperties, v) });
        ZE_RESULT_SUCCESS
    }

    unsafe fn zesRasGetConfig(&self, hRas: zes_ras_handle_t, pConfig: *mut zes_ras_config_t) -> ze_result_t {
        let mut m = machine();
        let (d, i) = tri!(m.component(hRas.0, Kind::Ras, |d| d.ras.len()));
        let r = &m.devices[d].ras[i];
        let v = zes_ras_config_t {
            totalThreshold: r.total_threshold,
            detailedThresholds: zes_ras_state_t { category: r.detailed, ..Default::default() },
            ..Default::default()
        };
        // SAFETY: caller's struct, null-checked.
        tri!(unsafe { put_chained(pConfig, v) });
        ZE_RESULT_SUCCESS
    }

    unsafe fn zesRasSetConfig(
        &self,
        hRas: zes_ras_handle_t,
        pConfig: *const zes_ras_config_t,
    ) -> ze_result_t {
        let mut m = machine();
        let (d, i) = tri!(m.component(hRas.0, Kind::Ras, |d| d.ras.len()));
        // SAFETY: optional read of the caller's struct.
        let Some(c) = (unsafe { pConfig.as_ref() }).copied() else {
            return ZE_RESULT_ERROR_INVALID_NULL_POINTER;
        };
        let r = &mut m.devices[d].ras[i];
        r.total_threshold = c.totalThreshold;
        r.detailed = c.detailedThresholds.category;
        ZE_RESULT_SUCCESS
    }

    unsafe fn zesRasGetState(
        &self,
        hRas: zes_ras_handle_t,
        clear: ze_bool_t,
        pState: *mut zes_ras_state_t,
    ) -> ze_result_t {
        let mut m = machine();
        let (d, i) = tri!(m.component(hRas.0, Kind::Ras, |d| d.ras.len()));
        if pState.is_null() {
            return ZE_RESULT_ERROR_INVALID_NULL_POINTER;
        }
        if clear != 0 && m.faults.unprivileged {
            return ZE_RESULT_ERROR_INSUFFICIENT_PERMISSIONS;
        }
        let r = &mut m.devices[d].ras[i];
        let v = zes_ras_state_t { category: r.counters, ..Default::default() };
        if clear != 0 {
            r.counters = [0; ZES_MAX_RAS_ERROR_CATEGORY_COUNT];
        }
        // SAFETY: non-null caller struct.
        tri!(unsafe { put_chained(pState, v) });
        ZE_RESULT_SUCCESS
    }

    // ---------------- standby ----------------
    unsafe fn zesDeviceEnumStandbyDomains(
        &self,
        hDevice: zes_device_handle_t,
        pCount: *mut u32,
        phStandby: *mut zes_standby_handle_t,
    ) -> ze_result_t {
        // SAFETY: the caller's count and array, passed on.
        unsafe {
            enumerate_components(
                hDevice,
                pCount,
                phStandby,
                Kind::Standby,
                |m, d| m.devices[d].standbys.len(),
                zes_standby_handle_t,
            )
        }
    }

    unsafe fn zesStandbyGetProperties(
        &self,
        hStandby: zes_standby_handle_t,
        pProperties: *mut zes_standby_properties_t,
    ) -> ze_result_t {
        let mut m = machine();
        let (d, i) = tri!(m.component(hStandby.0, Kind::Standby, |d| d.standbys.len()));
        let (on, sid) = sub(m.devices[d].standbys[i].tile);
        let v = zes_standby_properties_t {
            r#type: ZES_STANDBY_TYPE_GLOBAL,
            onSubdevice: on,
            subdeviceId: sid,
            ..Default::default()
        };
        // SAFETY: caller's struct, null-checked.
        tri!(unsafe { put_chained(pProperties, v) });
        ZE_RESULT_SUCCESS
    }

    unsafe fn zesStandbyGetMode(
        &self,
        hStandby: zes_standby_handle_t,
        pMode: *mut zes_standby_promo_mode_t,
    ) -> ze_result_t {
        let mut m = machine();
        let (d, i) = tri!(m.component(hStandby.0, Kind::Standby, |d| d.standbys.len()));
        // SAFETY: caller's out pointer, null-checked.
        tri!(unsafe { put(pMode, m.devices[d].standbys[i].mode) });
        ZE_RESULT_SUCCESS
    }

    unsafe fn zesStandbySetMode(
        &self,
        hStandby: zes_standby_handle_t,
        mode: zes_standby_promo_mode_t,
    ) -> ze_result_t {
        let mut m = machine();
        let (d, i) = tri!(m.component(hStandby.0, Kind::Standby, |d| d.standbys.len()));
        if mode != ZES_STANDBY_PROMO_MODE_DEFAULT && mode != ZES_STANDBY_PROMO_MODE_NEVER {
            return ZE_RESULT_ERROR_INVALID_ENUMERATION;
        }
        m.devices[d].standbys[i].mode = mode;
        ZE_RESULT_SUCCESS
    }

    // ---------------- scheduler ----------------
    unsafe fn zesDeviceEnumSchedulers(
        &self,
        hDevice: zes_device_handle_t,
        pCount: *mut u32,
        phScheduler: *mut zes_sched_handle_t,
    ) -> ze_result_t {
        // SAFETY: the caller's count and array, passed on.
        unsafe {
            enumerate_components(
                hDevice,
                pCount,
                phScheduler,
                Kind::Scheduler,
                |m, d| m.devices[d].scheds.len(),
                zes_sched_handle_t,
            )
        }
    }

    unsafe fn zesSchedulerGetProperties(
        &self,
        hScheduler: zes_sched_handle_t,
        pProperties: *mut zes_sched_properties_t,
    ) -> ze_result_t {
        let mut m = machine();
        let (d, i) = tri!(m.component(hScheduler.0, Kind::Scheduler, |d| d.scheds.len()));
        let (on, sid) = sub(m.devices[d].scheds[i].tile);
        let v = zes_sched_properties_t {
            onSubdevice: on,
            subdeviceId: sid,
            canControl: 1,
            engines: zes_engine_type_flags_t::COMPUTE | zes_engine_type_flags_t::RENDER,
            supportedModes: (1 << ZES_SCHED_MODE_TIMEOUT.0)
                | (1 << ZES_SCHED_MODE_TIMESLICE.0)
                | (1 << ZES_SCHED_MODE_EXCLUSIVE.0),
            ..Default::default()
        };
        // SAFETY: caller's struct, null-checked.
        tri!(unsafe { put_chained(pProperties, v) });
        ZE_RESULT_SUCCESS
    }

    unsafe fn zesSchedulerGetCurrentMode(
        &self,
        hScheduler: zes_sched_handle_t,
        pMode: *mut zes_sched_mode_t,
    ) -> ze_result_t {
        let mut m = machine();
        let (d, i) = tri!(m.component(hScheduler.0, Kind::Scheduler, |d| d.scheds.len()));
        // SAFETY: caller's out pointer, null-checked.
        tri!(unsafe { put(pMode, m.devices[d].scheds[i].mode) });
        ZE_RESULT_SUCCESS
    }

    unsafe fn zesSchedulerGetTimeoutModeProperties(
        &self,
        hScheduler: zes_sched_handle_t,
        getDefaults: ze_bool_t,
        pConfig: *mut zes_sched_timeout_properties_t,
    ) -> ze_result_t {
        let mut m = machine();
        let (d, i) = tri!(m.component(hScheduler.0, Kind::Scheduler, |d| d.scheds.len()));
        let s = &m.devices[d].scheds[i];
        let v = zes_sched_timeout_properties_t {
            watchdogTimeout: if getDefaults != 0 { 640_000 } else { s.watchdog_us },
            ..Default::default()
        };
        // SAFETY: caller's struct, null-checked.
        tri!(unsafe { put_chained(pConfig, v) });
        ZE_RESULT_SUCCESS
    }

    unsafe fn zesSchedulerGetTimesliceModeProperties(
        &self,
        hScheduler: zes_sched_handle_t,
        getDefaults: ze_bool_t,
        pConfig: *mut zes_sched_timeslice_properties_t,
    ) -> ze_result_t {
        let mut m = machine();
        let (d, i) = tri!(m.component(hScheduler.0, Kind::Scheduler, |d| d.scheds.len()));
        let s = &m.devices[d].scheds[i];
        let (interval, yield_us) =
            if getDefaults != 0 { (5_000, 640_000) } else { (s.interval_us, s.yield_us) };
        let v = zes_sched_timeslice_properties_t { interval, yieldTimeout: yield_us, ..Default::default() };
        // SAFETY: caller's struct, null-checked.
        tri!(unsafe { put_chained(pConfig, v) });
        ZE_RESULT_SUCCESS
    }

    unsafe fn zesSchedulerSetTimeoutMode(
        &self,
        hScheduler: zes_sched_handle_t,
        pProperties: *mut zes_sched_timeout_properties_t,
        pNeedReload: *mut ze_bool_t,
    ) -> ze_result_t {
        let mut m = machine();
        let (d, i) = tri!(m.component(hScheduler.0, Kind::Scheduler, |d| d.scheds.len()));
        if pProperties.is_null() || pNeedReload.is_null() {
            return ZE_RESULT_ERROR_INVALID_NULL_POINTER;
        }
        // SAFETY: non-null caller struct.
        let w = unsafe { (*pProperties).watchdogTimeout };
        if w != u64::MAX && w < 5_000 {
            return ZE_RESULT_ERROR_INVALID_ARGUMENT;
        }
        let s = &mut m.devices[d].scheds[i];
        s.mode = ZES_SCHED_MODE_TIMEOUT;
        s.watchdog_us = w;
        // SAFETY: non-null out pointer.
        unsafe { *pNeedReload = 0 };
        ZE_RESULT_SUCCESS
    }

    unsafe fn zesSchedulerSetTimesliceMode(
        &self,
        hScheduler: zes_sched_handle_t,
        pProperties: *mut zes_sched_timeslice_properties_t,
        pNeedReload: *mut ze_bool_t,
    ) -> ze_result_t {
        let mut m = machine();
        let (d, i) = tri!(m.component(hScheduler.0, Kind::Scheduler, |d| d.scheds.len()));
        if pProperties.is_null() || pNeedReload.is_null() {
            return ZE_RESULT_ERROR_INVALID_NULL_POINTER;
        }
        // SAFETY: non-null caller struct.
        let (interval, yield_us) = unsafe { ((*pProperties).interval, (*pProperties).yieldTimeout) };
        if !(1_000..=100_000_000).contains(&interval) {
            return ZE_RESULT_ERROR_INVALID_ARGUMENT;
        }
        let s = &mut m.devices[d].scheds[i];
        s.mode = ZES_SCHED_MODE_TIMESLICE;
        s.interval_us = interval;
        s.yield_us = yield_us;
        // SAFETY: non-null out pointer.
        unsafe { *pNeedReload = 0 };
        ZE_RESULT_SUCCESS
    }

    unsafe fn zesSchedulerSetExclusiveMode(
        &self,
        hScheduler: zes_sched_handle_t,
        pNeedReload: *mut ze_bool_t,
    ) -> ze_result_t {
        let mut m = machine();
        let (d, i) = tri!(m.component(hScheduler.0, Kind::Scheduler, |d| d.scheds.len()));
        if pNeedReload.is_null() {
            return ZE_RESULT_ERROR_INVALID_NULL_POINTER;
        }
        m.devices[d].scheds[i].mode = ZES_SCHED_MODE_EXCLUSIVE;
        // SAFETY: non-null out pointer.
        unsafe { *pNeedReload = 0 };
        ZE_RESULT_SUCCESS
    }

    // ---------------- performance factor ----------------
    unsafe fn zesDeviceEnumPerformanceFactorDomains(
        &self,
        hDevice: zes_device_handle_t,
        pCount: *mut u32,
        phPerf: *mut zes_perf_handle_t,
    ) -> ze_result_t {
        // SAFETY: the caller's count and array, passed on.
        unsafe {
            enumerate_components(
                hDevice,
                pCount,
                phPerf,
                Kind::Performance,
                |m, d| m.devices[d].perfs.len(),
                zes_perf_handle_t,
            )
        }
    }

    unsafe fn zesPerformanceFactorGetProperties(
        &self,
        hPerf: zes_perf_handle_t,
        pProperties: *mut zes_perf_properties_t,
    ) -> ze_result_t {
        let mut m = machine();
        let (d, i) = tri!(m.component(hPerf.0, Kind::Performance, |d| d.perfs.len()));
        let p = &m.devices[d].perfs[i];
        let (on, sid) = sub(p.tile);
        let v = zes_perf_properties_t {
            onSubdevice: on,
            subdeviceId: sid,
            engines: p.engines,
            ..Default::default()
        };
        // SAFETY: caller's struct, null-checked.
        tri!(unsafe { put_chained(pProperties, v) });
        ZE_RESULT_SUCCESS
    }

    unsafe fn zesPerformanceFactorGetConfig(
        &self,
        hPerf: zes_perf_handle_t,
        pFactor: *mut f64,
    ) -> ze_result_t {
        let mut m = machine();
        let (d, i) = tri!(m.component(hPerf.0, Kind::Performance, |d| d.perfs.len()));
        // SAFETY: caller's out pointer, null-checked.
        tri!(unsafe { put(pFactor, m.devices[d].perfs[i].factor) });
        ZE_RESULT_SUCCESS
    }

    unsafe fn zesPerformanceFactorSetConfig(&self, hPerf: zes_perf_handle_t, factor: f64) -> ze_result_t {
        let mut m = machine();
        let (d, i) = tri!(m.component(hPerf.0, Kind::Performance, |d| d.perfs.len()));
        if !(0.0..=100.0).contains(&factor) {
            return ZE_RESULT_ERROR_INVALID_ARGUMENT;
        }
        m.devices[d].perfs[i].factor = factor;
        ZE_RESULT_SUCCESS
    }

    // ---------------- events ----------------
    unsafe fn zesDeviceEventRegister(
        &self,
        hDevice: zes_device_handle_t,
        events: zes_event_type_flags_t,
    ) -> ze_result_t {
        let mut m = machine();
        let (d, _) = tri!(m.device(hDevice.0));
        let dev = &mut m.devices[d];
        if !dev.p.events {
            return ZE_RESULT_ERROR_UNSUPPORTED_FEATURE;
        }
        dev.events_registered = events;
        dev.events_pending = dev.events_pending & events;
        ZE_RESULT_SUCCESS
    }

    unsafe fn zesDriverEventListen(
        &self,
        hDriver: ze_driver_handle_t,
        timeout: u32,
        count: u32,
        phDevices: *mut zes_device_handle_t,
        pNumDeviceEvents: *mut u32,
        pEvents: *mut zes_event_type_flags_t,
    ) -> ze_result_t {
        // SAFETY: same arguments; a u32 timeout of all ones means wait forever in both.
        unsafe {
            self.zesDriverEventListenEx(
                hDriver,
                if timeout == u32::MAX { u64::MAX } else { timeout as u64 },
                count,
                phDevices,
                pNumDeviceEvents,
                pEvents,
            )
        }
    }

    unsafe fn zesDriverEventListenEx(
        &self,
        hDriver: ze_driver_handle_t,
        timeout: u64,
        count: u32,
        phDevices: *mut zes_device_handle_t,
        pNumDeviceEvents: *mut u32,
        pEvents: *mut zes_event_type_flags_t,
    ) -> ze_result_t {
        tri!(machine().check_driver(hDriver.0));
        if count == 0 || phDevices.is_null() || pNumDeviceEvents.is_null() || pEvents.is_null() {
            return ZE_RESULT_ERROR_INVALID_NULL_POINTER;
        }
        let start = std::time::Instant::now();
        loop {
            {
                let mut m = machine();
                let mut found = 0u32;
                for k in 0..count as usize {
                    // SAFETY: k < count, within the caller's arrays.
                    let h = unsafe { *phDevices.add(k) };
                    let (d, _) = tri!(m.device(h.0));
                    let ev = core::mem::take(&mut m.devices[d].events_pending);
                    if !ev.is_empty() {
                        found += 1;
                    }
                    // SAFETY: k < count, within the caller's array.
                    unsafe { *pEvents.add(k) = ev };
                }
                if found > 0 || timeout == 0 || start.elapsed().as_millis() as u64 >= timeout {
                    // SAFETY: non-null out pointer.
                    unsafe { *pNumDeviceEvents = found };
                    return ZE_RESULT_SUCCESS;
                }
            }
            std::thread::sleep(std::time::Duration::from_millis(1));
        }
    }
}
