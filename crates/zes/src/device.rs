//! Devices: properties, state, reset, processes, sub-devices, ECC and PCI.

use std::fmt;

use serde::Serialize;
use zes_sys::*;

use crate::error::Result;
use crate::raw::{self, pfn, Api, Extensions};
use crate::sysman::{Driver, Sysman};
use crate::types::{known_i32, known_string, Uuid};

/// A GPU (or, on the legacy path, a core device handle used as a Sysman handle).
#[derive(Clone)]
pub struct Device {
    pub(crate) driver: Driver,
    pub(crate) handle: zes_device_handle_t,
}

impl fmt::Debug for Device {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("Device").field(&self.handle).finish()
    }
}

/// Decoded `zes_device_properties_t`.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct DeviceProperties {
    pub name: String,
    pub uuid: Uuid,
    pub vendor_id: u32,
    pub device_id: u32,
    /// `ze_device_type_t` (GPU, CPU, ...), as the open enum.
    #[serde(serialize_with = "ser_raw")]
    pub device_type: ze_device_type_t,
    /// Set when this handle is a sub-device.
    pub subdevice_id: Option<u32>,
    pub core_clock_mhz: u32,
    pub num_subdevices: u32,
    pub serial_number: Option<String>,
    pub board_number: Option<String>,
    pub brand_name: Option<String>,
    pub model_name: Option<String>,
    pub vendor_name: Option<String>,
    pub driver_version: Option<String>,
}

fn ser_raw<T: Copy + Into<u32>, S: serde::Serializer>(v: &T, s: S) -> std::result::Result<S::Ok, S::Error> {
    s.serialize_u32((*v).into())
}

impl DeviceProperties {
    /// Decodes the raw struct.
    pub fn from_raw(p: &zes_device_properties_t) -> Self {
        let core = &p.core;
        let is_sub = core.flags.contains(ze_device_property_flags_t::SUBDEVICE);
        DeviceProperties {
            name: zes_sys::c_chars_to_str(&core.name),
            uuid: Uuid(core.uuid.id),
            vendor_id: core.vendorId,
            device_id: core.deviceId,
            device_type: core.r#type,
            subdevice_id: is_sub.then_some(core.subdeviceId),
            core_clock_mhz: core.coreClockRate,
            num_subdevices: p.numSubdevices,
            serial_number: known_string(&p.serialNumber),
            board_number: known_string(&p.boardNumber),
            brand_name: known_string(&p.brandName),
            model_name: known_string(&p.modelName),
            vendor_name: known_string(&p.vendorName),
            driver_version: known_string(&p.driverVersion),
        }
    }
}

/// Decoded `zes_device_ext_properties_t`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DeviceExtProperties {
    pub uuid: Uuid,
    pub device_type: zes_device_type_t,
    pub flags: zes_device_property_flags_t,
}

/// Decoded `zes_device_state_t`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DeviceState {
    /// Why the device needs a reset (empty when it does not).
    pub reset_reasons: zes_reset_reason_flags_t,
    pub repaired: zes_repair_status_t,
}

/// One process using the device (`zes_process_state_t`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct Process {
    pub pid: u32,
    /// Device memory allocated by the process, bytes.
    pub mem_size: u64,
    /// Memory shared with other processes, bytes.
    pub shared_size: u64,
    #[serde(skip)]
    pub engines: zes_engine_type_flags_t,
}

/// A sub-device (`zes_subdevice_exp_properties_t`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct SubDevice {
    pub id: u32,
    pub uuid: Uuid,
}

/// ECC state (`zes_device_ecc_properties_t`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct EccState {
    pub current: zes_device_ecc_state_t,
    pub pending: zes_device_ecc_state_t,
    pub pending_action: zes_device_action_t,
}

impl EccState {
    fn from_raw(p: &zes_device_ecc_properties_t) -> Self {
        EccState { current: p.currentState, pending: p.pendingState, pending_action: p.pendingAction }
    }
}

/// A PCI address (`domain:bus:device.function`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
pub struct PciAddress {
    pub domain: u32,
    pub bus: u32,
    pub device: u32,
    pub function: u32,
}

impl fmt::Display for PciAddress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:04x}:{:02x}:{:02x}.{:x}", self.domain, self.bus, self.device, self.function)
    }
}

/// A PCI link speed; `None` where the driver does not know (`-1`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct PciSpeed {
    pub gen: Option<i32>,
    pub width: Option<i32>,
    /// Bytes per second.
    pub max_bandwidth: Option<i64>,
}

impl PciSpeed {
    fn from_raw(s: &zes_pci_speed_t) -> Self {
        PciSpeed {
            gen: known_i32(s.gen),
            width: known_i32(s.width),
            max_bandwidth: (s.maxBandwidth >= 0).then_some(s.maxBandwidth),
        }
    }
}

/// Decoded `zes_pci_properties_t`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct PciProperties {
    pub address: PciAddress,
    pub max_speed: PciSpeed,
    pub have_bandwidth_counters: bool,
    pub have_packet_counters: bool,
    pub have_replay_counters: bool,
}

/// Decoded `zes_pci_state_t`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PciState {
    pub status: zes_pci_link_status_t,
    pub quality_issues: zes_pci_link_qual_issue_flags_t,
    pub stability_issues: zes_pci_link_stab_issue_flags_t,
    pub speed: PciSpeed,
}

/// One PCI BAR.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PciBar {
    pub bar_type: zes_pci_bar_type_t,
    pub index: u32,
    pub base: u64,
    pub size: u64,
}

/// A raw PCI counter sample (`zes_pci_stats_t`); see [`crate::metrics::pci_throughput`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct PciStats {
    /// Microseconds.
    pub timestamp: u64,
    pub replay_counter: u64,
    pub packet_counter: u64,
    /// Bytes received.
    pub rx_counter: u64,
    /// Bytes sent.
    pub tx_counter: u64,
    pub speed: PciSpeed,
}

impl Device {
    pub(crate) fn new(driver: Driver, handle: zes_device_handle_t) -> Self {
        Device { driver, handle }
    }

    pub(crate) fn api(&self) -> &Api {
        self.driver.sysman.api()
    }

    /// The raw handle.
    pub fn raw(&self) -> zes_device_handle_t {
        self.handle
    }

    /// The driver of this device.
    pub fn driver(&self) -> &Driver {
        &self.driver
    }

    /// The position of this device's driver in [`crate::Sysman::drivers`].
    pub fn driver_index(&self) -> usize {
        self.driver.index()
    }

    /// The [`Sysman`] this device belongs to.
    pub fn sysman(&self) -> &Sysman {
        &self.driver.sysman
    }

    /// Device properties, decoded.
    ///
    /// # Errors
    /// [`crate::Error::Call`] when `zesDeviceGetProperties` fails.
    #[doc(alias = "zesDeviceGetProperties")]
    pub fn properties(&self) -> Result<DeviceProperties> {
        Ok(DeviceProperties::from_raw(&self.properties_raw()?))
    }

    /// The raw `zes_device_properties_t`.
    ///
    /// # Errors
    /// [`crate::Error::Call`] when `zesDeviceGetProperties` fails.
    #[doc(alias = "zesDeviceGetProperties")]
    pub fn properties_raw(&self) -> Result<zes_device_properties_t> {
        let f = pfn!(self.api(), zesDeviceGetProperties)?;
        raw::get("zesDeviceGetProperties", f, self.handle)
    }

    /// Properties with extension structs chained on `pNext`: `E` is one struct that extends
    /// `zes_device_properties_t` (for example `zes_device_ext_properties_t`), or a pair of them;
    /// anything else does not compile.
    ///
    /// ```no_run
    /// # fn f(device: &zes::Device) -> zes::Result<()> {
    /// use zes::sys::zes_device_ext_properties_t;
    /// let (props, ext) = device.properties_with::<zes_device_ext_properties_t>()?;
    /// println!("{} is {:?}", props.name, ext.r#type);
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    /// [`crate::Error::Call`] when `zesDeviceGetProperties` fails.
    #[doc(alias = "zesDeviceGetProperties")]
    pub fn properties_with<E: Extensions<zes_device_properties_t>>(&self) -> Result<(DeviceProperties, E)> {
        let f = pfn!(self.api(), zesDeviceGetProperties)?;
        let mut ext = E::default();
        let base = raw::get_chained("zesDeviceGetProperties", f, self.handle, &mut ext)?;
        Ok((DeviceProperties::from_raw(&base), ext))
    }

    /// The `zes_device_ext_properties_t` extension (UUID, device type, flags; spec 1.7).
    ///
    /// # Errors
    /// [`crate::Error::Call`] when `zesDeviceGetProperties` fails.
    #[doc(alias = "zesDeviceGetProperties")]
    pub fn ext_properties(&self) -> Result<DeviceExtProperties> {
        let (_, e) = self.properties_with::<zes_device_ext_properties_t>()?;
        Ok(DeviceExtProperties { uuid: Uuid(e.uuid.id), device_type: e.r#type, flags: e.flags })
    }

    /// Whether the device needs a reset, and its repair status.
    ///
    /// # Errors
    /// [`crate::Error::Call`] when `zesDeviceGetState` fails.
    #[doc(alias = "zesDeviceGetState")]
    pub fn state(&self) -> Result<DeviceState> {
        let f = pfn!(self.api(), zesDeviceGetState)?;
        let s = raw::get("zesDeviceGetState", f, self.handle)?;
        Ok(DeviceState { reset_reasons: s.reset, repaired: s.repaired })
    }

    /// Resets the device (needs privileges).
    ///
    /// # Errors
    /// [`crate::Error::Call`] when `zesDeviceReset` fails (often `INSUFFICIENT_PERMISSIONS`
    /// or `HANDLE_OBJECT_IN_USE`).
    #[doc(alias = "zesDeviceReset")]
    pub fn reset(&self, force: bool) -> Result<()> {
        let f = pfn!(self.api(), zesDeviceReset)?;
        raw::call_val("zesDeviceReset", f, self.handle, force as ze_bool_t)
    }

    /// Resets the device with a reset type (spec 1.7).
    ///
    /// # Errors
    /// [`crate::Error::Call`] when `zesDeviceResetExt` fails.
    #[doc(alias = "zesDeviceResetExt")]
    pub fn reset_ext(&self, force: bool, reset_type: zes_reset_type_t) -> Result<()> {
        let f = pfn!(self.api(), zesDeviceResetExt)?;
        let mut p =
            zes_reset_properties_t { force: force as ze_bool_t, resetType: reset_type, ..Default::default() };
        raw::inout("zesDeviceResetExt", f, self.handle, &mut p)
    }

    /// The processes using the device (two-call protocol, retried when the set changes).
    ///
    /// # Errors
    /// [`crate::Error::Call`] when `zesDeviceProcessesGetState` fails.
    #[doc(alias = "zesDeviceProcessesGetState")]
    pub fn processes(&self) -> Result<Vec<Process>> {
        let f = pfn!(self.api(), zesDeviceProcessesGetState)?;
        Ok(raw::enumerate("zesDeviceProcessesGetState", f, self.handle)?
            .iter()
            .map(|p| Process {
                pid: p.processId,
                mem_size: p.memSize,
                shared_size: p.sharedSize,
                engines: p.engines,
            })
            .collect())
    }

    /// The sub-devices (tiles) of the device; empty for a single-tile device.
    ///
    /// # Errors
    /// [`crate::Error::FunctionUnavailable`] when neither the library nor the driver provides the
    /// experimental `zesDeviceGetSubDevicePropertiesExp`; [`crate::Error::Call`] when it fails.
    #[doc(alias = "zesDeviceGetSubDevicePropertiesExp")]
    pub fn sub_devices(&self) -> Result<Vec<SubDevice>> {
        let f = pfn!(self.api(), zesDeviceGetSubDevicePropertiesExp)?;
        Ok(raw::enumerate("zesDeviceGetSubDevicePropertiesExp", f, self.handle)?
            .iter()
            .map(|s| SubDevice { id: s.subdeviceId, uuid: Uuid(s.uuid.id) })
            .collect())
    }

    /// Registers for the events in `events` (replacing earlier registrations; empty
    /// unregisters); wait for them with [`Driver::listen_events`].
    ///
    /// # Errors
    /// [`crate::Error::Call`] when `zesDeviceEventRegister` fails (`UNSUPPORTED_FEATURE` on
    /// devices without events).
    #[doc(alias = "zesDeviceEventRegister")]
    pub fn register_events(&self, events: zes_event_type_flags_t) -> Result<()> {
        let f = pfn!(self.api(), zesDeviceEventRegister)?;
        raw::call_val("zesDeviceEventRegister", f, self.handle, events)
    }

    /// Whether ECC is available.
    ///
    /// # Errors
    /// [`crate::Error::Call`] when `zesDeviceEccAvailable` fails.
    #[doc(alias = "zesDeviceEccAvailable")]
    pub fn ecc_available(&self) -> Result<bool> {
        let f = pfn!(self.api(), zesDeviceEccAvailable)?;
        Ok(raw::get("zesDeviceEccAvailable", f, self.handle)? != 0)
    }

    /// Whether ECC can be configured.
    ///
    /// # Errors
    /// [`crate::Error::Call`] when `zesDeviceEccConfigurable` fails.
    #[doc(alias = "zesDeviceEccConfigurable")]
    pub fn ecc_configurable(&self) -> Result<bool> {
        let f = pfn!(self.api(), zesDeviceEccConfigurable)?;
        Ok(raw::get("zesDeviceEccConfigurable", f, self.handle)? != 0)
    }

    /// Current and pending ECC state.
    ///
    /// # Errors
    /// [`crate::Error::Call`] when `zesDeviceGetEccState` fails.
    #[doc(alias = "zesDeviceGetEccState")]
    pub fn ecc_state(&self) -> Result<EccState> {
        let f = pfn!(self.api(), zesDeviceGetEccState)?;
        Ok(EccState::from_raw(&raw::get("zesDeviceGetEccState", f, self.handle)?))
    }

    /// Requests an ECC state; returns the resulting state (the change is usually pending a reset).
    ///
    /// # Errors
    /// [`crate::Error::Call`] when `zesDeviceSetEccState` fails.
    #[doc(alias = "zesDeviceSetEccState")]
    pub fn set_ecc_state(&self, state: zes_device_ecc_state_t) -> Result<EccState> {
        let f = pfn!(self.api(), zesDeviceSetEccState)?;
        let desc = zes_device_ecc_desc_t { state, ..Default::default() };
        Ok(EccState::from_raw(&raw::set_get("zesDeviceSetEccState", f, self.handle, &desc)?))
    }

    /// PCI properties.
    ///
    /// # Errors
    /// [`crate::Error::Call`] when `zesDevicePciGetProperties` fails.
    #[doc(alias = "zesDevicePciGetProperties")]
    pub fn pci_properties(&self) -> Result<PciProperties> {
        let f = pfn!(self.api(), zesDevicePciGetProperties)?;
        let p = raw::get("zesDevicePciGetProperties", f, self.handle)?;
        let a = p.address;
        Ok(PciProperties {
            address: PciAddress { domain: a.domain, bus: a.bus, device: a.device, function: a.function },
            max_speed: PciSpeed::from_raw(&p.maxSpeed),
            have_bandwidth_counters: p.haveBandwidthCounters != 0,
            have_packet_counters: p.havePacketCounters != 0,
            have_replay_counters: p.haveReplayCounters != 0,
        })
    }

    /// PCI link state.
    ///
    /// # Errors
    /// [`crate::Error::Call`] when `zesDevicePciGetState` fails.
    #[doc(alias = "zesDevicePciGetState")]
    pub fn pci_state(&self) -> Result<PciState> {
        let f = pfn!(self.api(), zesDevicePciGetState)?;
        let s = raw::get("zesDevicePciGetState", f, self.handle)?;
        Ok(PciState {
            status: s.status,
            quality_issues: s.qualityIssues,
            stability_issues: s.stabilityIssues,
            speed: PciSpeed::from_raw(&s.speed),
        })
    }

    /// PCI counters (a sample for [`crate::metrics::pci_throughput`]).
    ///
    /// # Errors
    /// [`crate::Error::Call`] when `zesDevicePciGetStats` fails (often `INSUFFICIENT_PERMISSIONS`).
    #[doc(alias = "zesDevicePciGetStats")]
    pub fn pci_stats(&self) -> Result<PciStats> {
        let f = pfn!(self.api(), zesDevicePciGetStats)?;
        let s = raw::get("zesDevicePciGetStats", f, self.handle)?;
        Ok(PciStats {
            timestamp: s.timestamp,
            replay_counter: s.replayCounter,
            packet_counter: s.packetCounter,
            rx_counter: s.rxCounter,
            tx_counter: s.txCounter,
            speed: PciSpeed::from_raw(&s.speed),
        })
    }

    /// PCI BARs.
    ///
    /// # Errors
    /// [`crate::Error::Call`] when `zesDevicePciGetBars` fails.
    #[doc(alias = "zesDevicePciGetBars")]
    pub fn pci_bars(&self) -> Result<Vec<PciBar>> {
        let f = pfn!(self.api(), zesDevicePciGetBars)?;
        Ok(raw::enumerate("zesDevicePciGetBars", f, self.handle)?
            .iter()
            .map(|b| PciBar { bar_type: b.r#type, index: b.index, base: b.base, size: b.size })
            .collect())
    }
}

/// Enumerates one kind of component of a device.
macro_rules! enum_components {
    ($(#[$doc:meta])* $method:ident, $func:ident, $alias:literal, $ty:ident) => {
        $(#[$doc])*
        ///
        /// # Errors
        #[doc = concat!("[`crate::Error::Call`] when `", stringify!($func), "` fails.")]
        #[doc(alias = $alias)]
        pub fn $method(&self) -> Result<Vec<crate::$ty>> {
            let f = pfn!(self.api(), $func)?;
            Ok(raw::enumerate(stringify!($func), f, self.handle)?
                .into_iter()
                .map(|handle| crate::$ty { device: self.clone(), handle })
                .collect())
        }
    };
}

impl Device {
    enum_components!(
        /// Engine groups (empty without privileges on some drivers).
        engines, zesDeviceEnumEngineGroups, "zesDeviceEnumEngineGroups", Engine);
    enum_components!(
        /// Power domains.
        power_domains, zesDeviceEnumPowerDomains, "zesDeviceEnumPowerDomains", Power);
    enum_components!(
        /// Frequency domains.
        frequency_domains, zesDeviceEnumFrequencyDomains, "zesDeviceEnumFrequencyDomains", Frequency);
    enum_components!(
        /// Temperature sensors.
        temperature_sensors, zesDeviceEnumTemperatureSensors, "zesDeviceEnumTemperatureSensors", Temperature);
    enum_components!(
        /// Memory modules.
        memory_modules, zesDeviceEnumMemoryModules, "zesDeviceEnumMemoryModules", Memory);
    enum_components!(
        /// Fans.
        fans, zesDeviceEnumFans, "zesDeviceEnumFans", Fan);
    enum_components!(
        /// Firmwares.
        firmwares, zesDeviceEnumFirmwares, "zesDeviceEnumFirmwares", Firmware);
    enum_components!(
        /// RAS error sets.
        ras_error_sets, zesDeviceEnumRasErrorSets, "zesDeviceEnumRasErrorSets", Ras);
    enum_components!(
        /// Standby domains.
        standby_domains, zesDeviceEnumStandbyDomains, "zesDeviceEnumStandbyDomains", Standby);
    enum_components!(
        /// Schedulers.
        schedulers, zesDeviceEnumSchedulers, "zesDeviceEnumSchedulers", Scheduler);
    enum_components!(
        /// Performance factor domains.
        performance_factor_domains, zesDeviceEnumPerformanceFactorDomains, "zesDeviceEnumPerformanceFactorDomains", PerformanceFactor);

    /// The power domain of the whole card (board), when the device has one.
    ///
    /// # Errors
    /// [`crate::Error::Call`] when `zesDeviceGetCardPowerDomain` fails
    /// (`UNSUPPORTED_FEATURE` when there is no card domain).
    #[doc(alias = "zesDeviceGetCardPowerDomain")]
    pub fn card_power_domain(&self) -> Result<crate::Power> {
        let f = pfn!(self.api(), zesDeviceGetCardPowerDomain)?;
        let handle = raw::get("zesDeviceGetCardPowerDomain", f, self.handle)?;
        Ok(crate::Power { device: self.clone(), handle })
    }
}
