//! Component handles: engines, power, frequency, temperature, memory, fans, firmware, RAS,
//! standby, schedulers and performance factors.

use serde::Serialize;
use zes_sys::*;

use crate::error::Result;
use crate::raw::{self, pfn, Extensions};
use crate::types::{component, known_f64, known_i32, known_string, sub};

// ---------------------------------------------------------------- engine
component!(
    /// An engine group (`zes_engine_handle_t`).
    Engine, zes_engine_handle_t);

/// Decoded `zes_engine_properties_t`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct EngineProperties {
    pub group: zes_engine_group_t,
    pub subdevice_id: Option<u32>,
}

/// A raw activity sample (`zes_engine_stats_t`); see [`crate::metrics::engine_utilization`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default, Serialize)]
pub struct EngineStats {
    /// Microseconds the engine was busy (monotonic).
    pub active_time: u64,
    /// Microseconds.
    pub timestamp: u64,
}

impl From<zes_engine_stats_t> for EngineStats {
    fn from(s: zes_engine_stats_t) -> Self {
        EngineStats { active_time: s.activeTime, timestamp: s.timestamp }
    }
}

impl Engine {
    /// The engine group and sub-device.
    ///
    /// # Errors
    /// [`crate::Error::Call`] when `zesEngineGetProperties` fails.
    #[doc(alias = "zesEngineGetProperties")]
    pub fn properties(&self) -> Result<EngineProperties> {
        let f = pfn!(self.api(), zesEngineGetProperties)?;
        let p = raw::get("zesEngineGetProperties", f, self.handle)?;
        Ok(EngineProperties { group: p.r#type, subdevice_id: sub(p.onSubdevice, p.subdeviceId) })
    }

    /// Properties with extension structs chained (`zes_engine_ext_properties_t`).
    ///
    /// # Errors
    /// [`crate::Error::Call`] when `zesEngineGetProperties` fails.
    #[doc(alias = "zesEngineGetProperties")]
    pub fn properties_with<E: Extensions<zes_engine_properties_t>>(&self) -> Result<(EngineProperties, E)> {
        let f = pfn!(self.api(), zesEngineGetProperties)?;
        let mut ext = E::default();
        let p = raw::get_chained("zesEngineGetProperties", f, self.handle, &mut ext)?;
        Ok((EngineProperties { group: p.r#type, subdevice_id: sub(p.onSubdevice, p.subdeviceId) }, ext))
    }

    /// An activity sample.
    ///
    /// # Errors
    /// [`crate::Error::Call`] when `zesEngineGetActivity` fails.
    #[doc(alias = "zesEngineGetActivity")]
    pub fn activity(&self) -> Result<EngineStats> {
        let f = pfn!(self.api(), zesEngineGetActivity)?;
        Ok(raw::get("zesEngineGetActivity", f, self.handle)?.into())
    }

    /// Activity of the physical function followed by each virtual function (spec 1.7).
    ///
    /// # Errors
    /// [`crate::Error::Call`] when `zesEngineGetActivityExt` fails.
    #[doc(alias = "zesEngineGetActivityExt")]
    pub fn activity_ext(&self) -> Result<Vec<EngineStats>> {
        let f = pfn!(self.api(), zesEngineGetActivityExt)?;
        Ok(raw::enumerate("zesEngineGetActivityExt", f, self.handle)?.into_iter().map(Into::into).collect())
    }
}

// ---------------------------------------------------------------- power
component!(
    /// A power domain (`zes_pwr_handle_t`).
    Power, zes_pwr_handle_t);

/// Decoded `zes_power_properties_t`; limits in milliwatts, `None` when unknown (`-1`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct PowerProperties {
    pub subdevice_id: Option<u32>,
    pub can_control: bool,
    pub is_energy_threshold_supported: bool,
    pub default_limit_mw: Option<i32>,
    pub min_limit_mw: Option<i32>,
    pub max_limit_mw: Option<i32>,
}

/// A raw energy sample (`zes_power_energy_counter_t`); see [`crate::metrics::power_watts`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default, Serialize)]
pub struct EnergyCounter {
    /// Microjoules (monotonic, but may wrap or reset).
    pub energy: u64,
    /// Microseconds.
    pub timestamp: u64,
}

/// The three classic power limits (`zesPowerGetLimits`).
#[derive(Clone, Copy, Debug, Default)]
pub struct PowerLimits {
    pub sustained: zes_power_sustained_limit_t,
    pub burst: zes_power_burst_limit_t,
    pub peak: zes_power_peak_limit_t,
}

impl Power {
    fn decode(p: &zes_power_properties_t) -> PowerProperties {
        PowerProperties {
            subdevice_id: sub(p.onSubdevice, p.subdeviceId),
            can_control: p.canControl != 0,
            is_energy_threshold_supported: p.isEnergyThresholdSupported != 0,
            default_limit_mw: known_i32(p.defaultLimit),
            min_limit_mw: known_i32(p.minLimit),
            max_limit_mw: known_i32(p.maxLimit),
        }
    }

    /// Properties of the domain.
    ///
    /// # Errors
    /// [`crate::Error::Call`] when `zesPowerGetProperties` fails.
    #[doc(alias = "zesPowerGetProperties")]
    pub fn properties(&self) -> Result<PowerProperties> {
        let f = pfn!(self.api(), zesPowerGetProperties)?;
        Ok(Self::decode(&raw::get("zesPowerGetProperties", f, self.handle)?))
    }

    /// Properties with extensions chained (`zes_power_ext_properties_t` for the domain kind,
    /// `zes_power_domain_exp_properties_t`). The `defaultLimit` pointer of
    /// `zes_power_ext_properties_t` is left null (the driver then does not fill it).
    ///
    /// # Errors
    /// [`crate::Error::Call`] when `zesPowerGetProperties` fails.
    #[doc(alias = "zesPowerGetProperties")]
    pub fn properties_with<E: Extensions<zes_power_properties_t>>(&self) -> Result<(PowerProperties, E)> {
        let f = pfn!(self.api(), zesPowerGetProperties)?;
        let mut ext = E::default();
        let p = raw::get_chained("zesPowerGetProperties", f, self.handle, &mut ext)?;
        Ok((Self::decode(&p), ext))
    }

    /// The domain kind (card, package, stack, memory, GPU) from `zes_power_ext_properties_t`.
    ///
    /// # Errors
    /// [`crate::Error::Call`] when `zesPowerGetProperties` fails.
    #[doc(alias = "zesPowerGetProperties")]
    pub fn domain(&self) -> Result<zes_power_domain_t> {
        Ok(self.properties_with::<zes_power_ext_properties_t>()?.1.domain)
    }

    /// An energy sample.
    ///
    /// # Errors
    /// [`crate::Error::Call`] when `zesPowerGetEnergyCounter` fails (often
    /// `INSUFFICIENT_PERMISSIONS` without root).
    #[doc(alias = "zesPowerGetEnergyCounter")]
    pub fn energy_counter(&self) -> Result<EnergyCounter> {
        let f = pfn!(self.api(), zesPowerGetEnergyCounter)?;
        let e = raw::get("zesPowerGetEnergyCounter", f, self.handle)?;
        Ok(EnergyCounter { energy: e.energy, timestamp: e.timestamp })
    }

    /// Instantaneous and average power in milliwatts, where the driver measures them itself.
    ///
    /// # Errors
    /// [`crate::Error::Call`] when `zesPowerGetUsage` fails; [`crate::Error::FunctionUnavailable`]
    /// when the library lacks it.
    #[doc(alias = "zesPowerGetUsage")]
    pub fn usage(&self) -> Result<(u32, u32)> {
        let f = pfn!(self.api(), zesPowerGetUsage)?;
        raw::get2("zesPowerGetUsage", f, self.handle)
    }

    /// Sustained, burst and peak limits.
    ///
    /// # Errors
    /// [`crate::Error::Call`] when `zesPowerGetLimits` fails.
    #[doc(alias = "zesPowerGetLimits")]
    pub fn limits(&self) -> Result<PowerLimits> {
        let f = pfn!(self.api(), zesPowerGetLimits)?;
        let (sustained, burst, peak) = raw::get3("zesPowerGetLimits", f, self.handle)?;
        Ok(PowerLimits { sustained, burst, peak })
    }

    /// Sets the limits given (`None` leaves one unchanged).
    ///
    /// # Errors
    /// [`crate::Error::Call`] when `zesPowerSetLimits` fails.
    #[doc(alias = "zesPowerSetLimits")]
    pub fn set_limits(
        &self,
        sustained: Option<&zes_power_sustained_limit_t>,
        burst: Option<&zes_power_burst_limit_t>,
        peak: Option<&zes_power_peak_limit_t>,
    ) -> Result<()> {
        let f = pfn!(self.api(), zesPowerSetLimits)?;
        raw::set3("zesPowerSetLimits", f, self.handle, sustained, burst, peak)
    }

    /// Every limit of the domain (spec 1.4 extension).
    ///
    /// # Errors
    /// [`crate::Error::Call`] when `zesPowerGetLimitsExt` fails.
    #[doc(alias = "zesPowerGetLimitsExt")]
    pub fn limits_ext(&self) -> Result<Vec<zes_power_limit_ext_desc_t>> {
        let f = pfn!(self.api(), zesPowerGetLimitsExt)?;
        raw::enumerate("zesPowerGetLimitsExt", f, self.handle)
    }

    /// Sets limits (as returned by [`Power::limits_ext`], modified).
    ///
    /// # Errors
    /// [`crate::Error::Call`] when `zesPowerSetLimitsExt` fails.
    #[doc(alias = "zesPowerSetLimitsExt")]
    pub fn set_limits_ext(&self, limits: &mut [zes_power_limit_ext_desc_t]) -> Result<()> {
        let f = pfn!(self.api(), zesPowerSetLimitsExt)?;
        raw::set_array("zesPowerSetLimitsExt", f, self.handle, limits)
    }

    /// Energy threshold configuration.
    ///
    /// # Errors
    /// [`crate::Error::Call`] when `zesPowerGetEnergyThreshold` fails.
    #[doc(alias = "zesPowerGetEnergyThreshold")]
    pub fn energy_threshold(&self) -> Result<zes_energy_threshold_t> {
        let f = pfn!(self.api(), zesPowerGetEnergyThreshold)?;
        raw::get("zesPowerGetEnergyThreshold", f, self.handle)
    }

    /// Sets the energy threshold, in joules.
    ///
    /// # Errors
    /// [`crate::Error::Call`] when `zesPowerSetEnergyThreshold` fails.
    #[doc(alias = "zesPowerSetEnergyThreshold")]
    pub fn set_energy_threshold(&self, joules: f64) -> Result<()> {
        let f = pfn!(self.api(), zesPowerSetEnergyThreshold)?;
        raw::call_val("zesPowerSetEnergyThreshold", f, self.handle, joules)
    }
}

// ---------------------------------------------------------------- frequency
component!(
    /// A frequency domain (`zes_freq_handle_t`).
    Frequency, zes_freq_handle_t);

/// Decoded `zes_freq_properties_t` (MHz).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct FrequencyProperties {
    pub domain: zes_freq_domain_t,
    pub subdevice_id: Option<u32>,
    pub can_control: bool,
    pub is_throttle_event_supported: bool,
    pub min_mhz: f64,
    pub max_mhz: f64,
}

/// Decoded `zes_freq_state_t`; MHz and volts, `None` where the driver does not know (`-1`).
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct FrequencyState {
    pub voltage: Option<f64>,
    pub request_mhz: Option<f64>,
    pub tdp_mhz: Option<f64>,
    pub efficient_mhz: Option<f64>,
    pub actual_mhz: Option<f64>,
    #[serde(skip)]
    pub throttle_reasons: zes_freq_throttle_reason_flags_t,
}

/// A raw throttle-time sample; see [`crate::metrics::throttle_ratio`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default, Serialize)]
pub struct ThrottleTime {
    /// Microseconds throttled (monotonic).
    pub throttle_time: u64,
    /// Microseconds.
    pub timestamp: u64,
}

impl Frequency {
    /// Properties of the domain.
    ///
    /// # Errors
    /// [`crate::Error::Call`] when `zesFrequencyGetProperties` fails.
    #[doc(alias = "zesFrequencyGetProperties")]
    pub fn properties(&self) -> Result<FrequencyProperties> {
        let f = pfn!(self.api(), zesFrequencyGetProperties)?;
        let p = raw::get("zesFrequencyGetProperties", f, self.handle)?;
        Ok(FrequencyProperties {
            domain: p.r#type,
            subdevice_id: sub(p.onSubdevice, p.subdeviceId),
            can_control: p.canControl != 0,
            is_throttle_event_supported: p.isThrottleEventSupported != 0,
            min_mhz: p.min,
            max_mhz: p.max,
        })
    }

    /// The clocks the hardware can run at (MHz).
    ///
    /// # Errors
    /// [`crate::Error::Call`] when `zesFrequencyGetAvailableClocks` fails.
    #[doc(alias = "zesFrequencyGetAvailableClocks")]
    pub fn available_clocks(&self) -> Result<Vec<f64>> {
        let f = pfn!(self.api(), zesFrequencyGetAvailableClocks)?;
        raw::enumerate("zesFrequencyGetAvailableClocks", f, self.handle)
    }

    /// The current min/max range (MHz).
    ///
    /// # Errors
    /// [`crate::Error::Call`] when `zesFrequencyGetRange` fails.
    #[doc(alias = "zesFrequencyGetRange")]
    pub fn range(&self) -> Result<(f64, f64)> {
        let f = pfn!(self.api(), zesFrequencyGetRange)?;
        let r = raw::get("zesFrequencyGetRange", f, self.handle)?;
        Ok((r.min, r.max))
    }

    /// Sets the min/max range (MHz).
    ///
    /// # Errors
    /// [`crate::Error::Call`] when `zesFrequencySetRange` fails.
    #[doc(alias = "zesFrequencySetRange")]
    pub fn set_range(&self, min_mhz: f64, max_mhz: f64) -> Result<()> {
        let f = pfn!(self.api(), zesFrequencySetRange)?;
        raw::set("zesFrequencySetRange", f, self.handle, &zes_freq_range_t { min: min_mhz, max: max_mhz })
    }

    /// The current frequencies and throttle reasons.
    ///
    /// # Errors
    /// [`crate::Error::Call`] when `zesFrequencyGetState` fails.
    #[doc(alias = "zesFrequencyGetState")]
    pub fn state(&self) -> Result<FrequencyState> {
        let f = pfn!(self.api(), zesFrequencyGetState)?;
        let s = raw::get("zesFrequencyGetState", f, self.handle)?;
        Ok(FrequencyState {
            voltage: known_f64(s.currentVoltage),
            request_mhz: known_f64(s.request),
            tdp_mhz: known_f64(s.tdp),
            efficient_mhz: known_f64(s.efficient),
            actual_mhz: known_f64(s.actual),
            throttle_reasons: s.throttleReasons,
        })
    }

    /// A throttle-time sample.
    ///
    /// # Errors
    /// [`crate::Error::Call`] when `zesFrequencyGetThrottleTime` fails.
    #[doc(alias = "zesFrequencyGetThrottleTime")]
    pub fn throttle_time(&self) -> Result<ThrottleTime> {
        let f = pfn!(self.api(), zesFrequencyGetThrottleTime)?;
        let t = raw::get("zesFrequencyGetThrottleTime", f, self.handle)?;
        Ok(ThrottleTime { throttle_time: t.throttleTime, timestamp: t.timestamp })
    }
}

// ---------------------------------------------------------------- temperature
component!(
    /// A temperature sensor (`zes_temp_handle_t`).
    Temperature, zes_temp_handle_t);

/// Decoded `zes_temp_properties_t`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct TemperatureProperties {
    pub sensor: zes_temp_sensors_t,
    pub subdevice_id: Option<u32>,
    pub max_temperature: f64,
    pub is_critical_temp_supported: bool,
    pub is_threshold1_supported: bool,
    pub is_threshold2_supported: bool,
}

/// One temperature threshold (`zes_temp_threshold_t`), degrees Celsius.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize)]
pub struct TemperatureThreshold {
    /// Raise an event when the temperature crosses the threshold going up.
    pub enable_low_to_high: bool,
    /// Raise an event when the temperature crosses the threshold going down.
    pub enable_high_to_low: bool,
    pub celsius: f64,
}

impl TemperatureThreshold {
    fn from_raw(t: &zes_temp_threshold_t) -> Self {
        TemperatureThreshold {
            enable_low_to_high: t.enableLowToHigh != 0,
            enable_high_to_low: t.enableHighToLow != 0,
            celsius: t.threshold,
        }
    }

    fn to_raw(self) -> zes_temp_threshold_t {
        zes_temp_threshold_t {
            enableLowToHigh: self.enable_low_to_high as ze_bool_t,
            enableHighToLow: self.enable_high_to_low as ze_bool_t,
            threshold: self.celsius,
        }
    }
}

/// Decoded `zes_temp_config_t`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize)]
pub struct TemperatureConfig {
    /// Raise an event at the critical temperature.
    pub enable_critical: bool,
    pub threshold1: TemperatureThreshold,
    pub threshold2: TemperatureThreshold,
}

impl Temperature {
    /// Properties of the sensor.
    ///
    /// # Errors
    /// [`crate::Error::Call`] when `zesTemperatureGetProperties` fails.
    #[doc(alias = "zesTemperatureGetProperties")]
    pub fn properties(&self) -> Result<TemperatureProperties> {
        let f = pfn!(self.api(), zesTemperatureGetProperties)?;
        let p = raw::get("zesTemperatureGetProperties", f, self.handle)?;
        Ok(TemperatureProperties {
            sensor: p.r#type,
            subdevice_id: sub(p.onSubdevice, p.subdeviceId),
            max_temperature: p.maxTemperature,
            is_critical_temp_supported: p.isCriticalTempSupported != 0,
            is_threshold1_supported: p.isThreshold1Supported != 0,
            is_threshold2_supported: p.isThreshold2Supported != 0,
        })
    }

    /// The temperature, degrees Celsius.
    ///
    /// # Errors
    /// [`crate::Error::Call`] when `zesTemperatureGetState` fails.
    #[doc(alias = "zesTemperatureGetState")]
    pub fn state(&self) -> Result<f64> {
        let f = pfn!(self.api(), zesTemperatureGetState)?;
        raw::get("zesTemperatureGetState", f, self.handle)
    }

    /// Threshold configuration, decoded.
    ///
    /// # Errors
    /// [`crate::Error::Call`] when `zesTemperatureGetConfig` fails.
    #[doc(alias = "zesTemperatureGetConfig")]
    pub fn thresholds(&self) -> Result<TemperatureConfig> {
        let c = self.config()?;
        Ok(TemperatureConfig {
            enable_critical: c.enableCritical != 0,
            threshold1: TemperatureThreshold::from_raw(&c.threshold1),
            threshold2: TemperatureThreshold::from_raw(&c.threshold2),
        })
    }

    /// Sets the threshold configuration.
    ///
    /// # Errors
    /// [`crate::Error::Call`] when `zesTemperatureSetConfig` fails.
    #[doc(alias = "zesTemperatureSetConfig")]
    pub fn set_thresholds(&self, config: &TemperatureConfig) -> Result<()> {
        self.set_config(&zes_temp_config_t {
            enableCritical: config.enable_critical as ze_bool_t,
            threshold1: config.threshold1.to_raw(),
            threshold2: config.threshold2.to_raw(),
            ..Default::default()
        })
    }

    /// The raw threshold configuration.
    ///
    /// # Errors
    /// [`crate::Error::Call`] when `zesTemperatureGetConfig` fails.
    #[doc(alias = "zesTemperatureGetConfig")]
    pub fn config(&self) -> Result<zes_temp_config_t> {
        let f = pfn!(self.api(), zesTemperatureGetConfig)?;
        raw::get("zesTemperatureGetConfig", f, self.handle)
    }

    /// Sets the threshold configuration.
    ///
    /// # Errors
    /// [`crate::Error::Call`] when `zesTemperatureSetConfig` fails.
    #[doc(alias = "zesTemperatureSetConfig")]
    pub fn set_config(&self, config: &zes_temp_config_t) -> Result<()> {
        let f = pfn!(self.api(), zesTemperatureSetConfig)?;
        raw::set("zesTemperatureSetConfig", f, self.handle, config)
    }
}

// ---------------------------------------------------------------- memory
component!(
    /// A memory module (`zes_mem_handle_t`).
    Memory, zes_mem_handle_t);

/// Decoded `zes_mem_properties_t`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MemoryProperties {
    pub mem_type: zes_mem_type_t,
    pub location: zes_mem_loc_t,
    pub subdevice_id: Option<u32>,
    /// Bytes; `None` when the driver reports 0.
    pub physical_size: Option<u64>,
    pub bus_width: Option<i32>,
    pub num_channels: Option<i32>,
}

/// Decoded `zes_mem_state_t` (bytes).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MemoryState {
    pub health: zes_mem_health_t,
    pub free: u64,
    pub size: u64,
}

/// A raw bandwidth sample (`zes_mem_bandwidth_t`); see [`crate::metrics::memory_bandwidth`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default, Serialize)]
pub struct MemoryBandwidth {
    /// Bytes read (monotonic).
    pub read_counter: u64,
    /// Bytes written (monotonic).
    pub write_counter: u64,
    /// Bytes per second.
    pub max_bandwidth: u64,
    /// Microseconds.
    pub timestamp: u64,
}

impl Memory {
    /// Properties of the module.
    ///
    /// # Errors
    /// [`crate::Error::Call`] when `zesMemoryGetProperties` fails.
    #[doc(alias = "zesMemoryGetProperties")]
    pub fn properties(&self) -> Result<MemoryProperties> {
        let f = pfn!(self.api(), zesMemoryGetProperties)?;
        let p = raw::get("zesMemoryGetProperties", f, self.handle)?;
        Ok(MemoryProperties {
            mem_type: p.r#type,
            location: p.location,
            subdevice_id: sub(p.onSubdevice, p.subdeviceId),
            physical_size: (p.physicalSize != 0).then_some(p.physicalSize),
            bus_width: known_i32(p.busWidth),
            num_channels: known_i32(p.numChannels),
        })
    }

    /// Health and free/total bytes.
    ///
    /// # Errors
    /// [`crate::Error::Call`] when `zesMemoryGetState` fails.
    #[doc(alias = "zesMemoryGetState")]
    pub fn state(&self) -> Result<MemoryState> {
        let f = pfn!(self.api(), zesMemoryGetState)?;
        let s = raw::get("zesMemoryGetState", f, self.handle)?;
        Ok(MemoryState { health: s.health, free: s.free, size: s.size })
    }

    /// A bandwidth sample.
    ///
    /// # Errors
    /// [`crate::Error::Call`] when `zesMemoryGetBandwidth` fails (often
    /// `INSUFFICIENT_PERMISSIONS` without root).
    #[doc(alias = "zesMemoryGetBandwidth")]
    pub fn bandwidth(&self) -> Result<MemoryBandwidth> {
        let f = pfn!(self.api(), zesMemoryGetBandwidth)?;
        let b = raw::get("zesMemoryGetBandwidth", f, self.handle)?;
        Ok(MemoryBandwidth {
            read_counter: b.readCounter,
            write_counter: b.writeCounter,
            max_bandwidth: b.maxBandwidth,
            timestamp: b.timestamp,
        })
    }
}

// ---------------------------------------------------------------- fan
component!(
    /// A fan (`zes_fan_handle_t`).
    Fan, zes_fan_handle_t);

/// A fan speed in some unit (`zes_fan_speed_t`); `speed` is `-1` when unknown.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FanSpeed {
    pub speed: i32,
    pub units: zes_fan_speed_units_t,
}

/// One point of a fan speed table (`zes_fan_temp_speed_t`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FanTempSpeed {
    /// Degrees Celsius.
    pub celsius: u32,
    pub speed: FanSpeed,
}

/// Decoded `zes_fan_config_t`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FanConfig {
    pub mode: zes_fan_speed_mode_t,
    /// The speed of the fixed mode.
    pub fixed: FanSpeed,
    /// The points of the table mode.
    pub table: Vec<FanTempSpeed>,
}

impl Fan {
    /// Raw fan properties.
    ///
    /// # Errors
    /// [`crate::Error::Call`] when `zesFanGetProperties` fails.
    #[doc(alias = "zesFanGetProperties")]
    pub fn properties(&self) -> Result<zes_fan_properties_t> {
        let f = pfn!(self.api(), zesFanGetProperties)?;
        raw::get("zesFanGetProperties", f, self.handle)
    }

    /// The fan configuration: its mode, the fixed speed and the speed table.
    ///
    /// # Errors
    /// [`crate::Error::Call`] when `zesFanGetConfig` fails.
    #[doc(alias = "zesFanGetConfig")]
    pub fn config(&self) -> Result<FanConfig> {
        let f = pfn!(self.api(), zesFanGetConfig)?;
        let c: zes_fan_config_t = raw::get("zesFanGetConfig", f, self.handle)?;
        let points = c.speedTable.numPoints.clamp(0, ZES_FAN_TEMP_SPEED_PAIR_COUNT as i32) as usize;
        Ok(FanConfig {
            mode: c.mode,
            fixed: FanSpeed { speed: c.speedFixed.speed, units: c.speedFixed.units },
            table: c.speedTable.table[..points]
                .iter()
                .map(|p| FanTempSpeed {
                    celsius: p.temperature,
                    speed: FanSpeed { speed: p.speed.speed, units: p.speed.units },
                })
                .collect(),
        })
    }

    /// Runs the fan by a temperature/speed table (at most 32 points).
    ///
    /// # Errors
    /// [`crate::Error::Driver`] for more than 32 points; [`crate::Error::Call`] when
    /// `zesFanSetSpeedTableMode` fails.
    #[doc(alias = "zesFanSetSpeedTableMode")]
    pub fn set_speed_table(&self, points: &[FanTempSpeed]) -> Result<()> {
        let f = pfn!(self.api(), zesFanSetSpeedTableMode)?;
        if points.len() > ZES_FAN_TEMP_SPEED_PAIR_COUNT {
            return Err(crate::Error::Driver {
                function: "zesFanSetSpeedTableMode",
                message: format!("{} points; the table holds {ZES_FAN_TEMP_SPEED_PAIR_COUNT}", points.len()),
            });
        }
        let mut table = zes_fan_speed_table_t { numPoints: points.len() as i32, ..Default::default() };
        for (slot, p) in table.table.iter_mut().zip(points) {
            *slot = zes_fan_temp_speed_t {
                temperature: p.celsius,
                speed: zes_fan_speed_t { speed: p.speed.speed, units: p.speed.units },
            };
        }
        raw::set("zesFanSetSpeedTableMode", f, self.handle, &table)
    }

    /// The fan speed in `units`; `None` when the driver does not know (`-1`).
    ///
    /// # Errors
    /// [`crate::Error::Call`] when `zesFanGetState` fails.
    #[doc(alias = "zesFanGetState")]
    pub fn speed(&self, units: zes_fan_speed_units_t) -> Result<Option<i32>> {
        let f = pfn!(self.api(), zesFanGetState)?;
        Ok(known_i32(raw::get_with("zesFanGetState", f, self.handle, units)?))
    }

    /// Returns the fan to its default mode.
    ///
    /// # Errors
    /// [`crate::Error::Call`] when `zesFanSetDefaultMode` fails.
    #[doc(alias = "zesFanSetDefaultMode")]
    pub fn set_default_mode(&self) -> Result<()> {
        let f = pfn!(self.api(), zesFanSetDefaultMode)?;
        raw::call0("zesFanSetDefaultMode", f, self.handle)
    }

    /// Runs the fan at a fixed speed.
    ///
    /// # Errors
    /// [`crate::Error::Call`] when `zesFanSetFixedSpeedMode` fails.
    #[doc(alias = "zesFanSetFixedSpeedMode")]
    pub fn set_fixed_speed(&self, speed: i32, units: zes_fan_speed_units_t) -> Result<()> {
        let f = pfn!(self.api(), zesFanSetFixedSpeedMode)?;
        raw::set("zesFanSetFixedSpeedMode", f, self.handle, &zes_fan_speed_t { speed, units })
    }
}

// ---------------------------------------------------------------- firmware
component!(
    /// A firmware (`zes_firmware_handle_t`).
    Firmware, zes_firmware_handle_t);

/// Decoded `zes_firmware_properties_t`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct FirmwareProperties {
    pub name: String,
    pub version: Option<String>,
    pub subdevice_id: Option<u32>,
    pub can_control: bool,
}

impl Firmware {
    /// Name and version.
    ///
    /// # Errors
    /// [`crate::Error::Call`] when `zesFirmwareGetProperties` fails.
    #[doc(alias = "zesFirmwareGetProperties")]
    pub fn properties(&self) -> Result<FirmwareProperties> {
        let f = pfn!(self.api(), zesFirmwareGetProperties)?;
        let p = raw::get("zesFirmwareGetProperties", f, self.handle)?;
        Ok(FirmwareProperties {
            name: zes_sys::c_chars_to_str(&p.name),
            version: known_string(&p.version),
            subdevice_id: sub(p.onSubdevice, p.subdeviceId),
            can_control: p.canControl != 0,
        })
    }
}

// ---------------------------------------------------------------- ras
component!(
    /// A RAS error set (`zes_ras_handle_t`).
    Ras, zes_ras_handle_t);

/// Decoded `zes_ras_properties_t`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RasProperties {
    pub error_type: zes_ras_error_type_t,
    pub subdevice_id: Option<u32>,
}

/// Decoded `zes_ras_config_t`: event thresholds, 0 = none.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct RasConfig {
    /// Threshold on the sum of all categories.
    pub total_threshold: u64,
    /// Per category (indexed by `zes_ras_error_cat_t`).
    pub category_thresholds: [u64; ZES_MAX_RAS_ERROR_CATEGORY_COUNT],
}

impl Ras {
    /// Correctable or uncorrectable, and sub-device.
    ///
    /// # Errors
    /// [`crate::Error::Call`] when `zesRasGetProperties` fails.
    #[doc(alias = "zesRasGetProperties")]
    pub fn properties(&self) -> Result<RasProperties> {
        let f = pfn!(self.api(), zesRasGetProperties)?;
        let p = raw::get("zesRasGetProperties", f, self.handle)?;
        Ok(RasProperties { error_type: p.r#type, subdevice_id: sub(p.onSubdevice, p.subdeviceId) })
    }

    /// Error counters per category (indexed by `zes_ras_error_cat_t`); `clear` resets them.
    ///
    /// # Errors
    /// [`crate::Error::Call`] when `zesRasGetState` fails.
    #[doc(alias = "zesRasGetState")]
    pub fn state(&self, clear: bool) -> Result<[u64; ZES_MAX_RAS_ERROR_CATEGORY_COUNT]> {
        let f = pfn!(self.api(), zesRasGetState)?;
        let s: zes_ras_state_t = raw::get_with("zesRasGetState", f, self.handle, clear as ze_bool_t)?;
        Ok(s.category)
    }

    /// Thresholds configuration.
    ///
    /// # Errors
    /// [`crate::Error::Call`] when `zesRasGetConfig` fails.
    #[doc(alias = "zesRasGetConfig")]
    pub fn config(&self) -> Result<RasConfig> {
        let f = pfn!(self.api(), zesRasGetConfig)?;
        let c: zes_ras_config_t = raw::get("zesRasGetConfig", f, self.handle)?;
        Ok(RasConfig {
            total_threshold: c.totalThreshold,
            category_thresholds: c.detailedThresholds.category,
        })
    }

    /// Sets the thresholds.
    ///
    /// # Errors
    /// [`crate::Error::Call`] when `zesRasSetConfig` fails.
    #[doc(alias = "zesRasSetConfig")]
    pub fn set_config(&self, config: &RasConfig) -> Result<()> {
        let f = pfn!(self.api(), zesRasSetConfig)?;
        let raw_config = zes_ras_config_t {
            totalThreshold: config.total_threshold,
            detailedThresholds: zes_ras_state_t {
                category: config.category_thresholds,
                ..Default::default()
            },
            ..Default::default()
        };
        raw::set("zesRasSetConfig", f, self.handle, &raw_config)
    }
}

// ---------------------------------------------------------------- standby
component!(
    /// A standby domain (`zes_standby_handle_t`).
    Standby, zes_standby_handle_t);

impl Standby {
    /// The standby type and sub-device.
    ///
    /// # Errors
    /// [`crate::Error::Call`] when `zesStandbyGetProperties` fails.
    #[doc(alias = "zesStandbyGetProperties")]
    pub fn properties(&self) -> Result<(zes_standby_type_t, Option<u32>)> {
        let f = pfn!(self.api(), zesStandbyGetProperties)?;
        let p = raw::get("zesStandbyGetProperties", f, self.handle)?;
        Ok((p.r#type, sub(p.onSubdevice, p.subdeviceId)))
    }

    /// The promotion mode.
    ///
    /// # Errors
    /// [`crate::Error::Call`] when `zesStandbyGetMode` fails.
    #[doc(alias = "zesStandbyGetMode")]
    pub fn mode(&self) -> Result<zes_standby_promo_mode_t> {
        let f = pfn!(self.api(), zesStandbyGetMode)?;
        raw::get("zesStandbyGetMode", f, self.handle)
    }

    /// Sets the promotion mode.
    ///
    /// # Errors
    /// [`crate::Error::Call`] when `zesStandbySetMode` fails.
    #[doc(alias = "zesStandbySetMode")]
    pub fn set_mode(&self, mode: zes_standby_promo_mode_t) -> Result<()> {
        let f = pfn!(self.api(), zesStandbySetMode)?;
        raw::call_val("zesStandbySetMode", f, self.handle, mode)
    }
}

// ---------------------------------------------------------------- scheduler
component!(
    /// A scheduler (`zes_sched_handle_t`).
    Scheduler, zes_sched_handle_t);

/// Decoded `zes_sched_properties_t`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SchedulerProperties {
    pub subdevice_id: Option<u32>,
    pub can_control: bool,
    /// The engines this scheduler serves.
    pub engines: zes_engine_type_flags_t,
    /// The modes it can be switched to (from the `1 << mode` bit set).
    pub supported_modes: Vec<zes_sched_mode_t>,
}

impl Scheduler {
    /// Scheduler properties.
    ///
    /// # Errors
    /// [`crate::Error::Call`] when `zesSchedulerGetProperties` fails.
    #[doc(alias = "zesSchedulerGetProperties")]
    pub fn properties(&self) -> Result<SchedulerProperties> {
        let f = pfn!(self.api(), zesSchedulerGetProperties)?;
        let p: zes_sched_properties_t = raw::get("zesSchedulerGetProperties", f, self.handle)?;
        Ok(SchedulerProperties {
            subdevice_id: sub(p.onSubdevice, p.subdeviceId),
            can_control: p.canControl != 0,
            engines: p.engines,
            supported_modes: (0..32)
                .filter(|bit| p.supportedModes & (1 << bit) != 0)
                .map(zes_sched_mode_t)
                .collect(),
        })
    }

    /// The current mode.
    ///
    /// # Errors
    /// [`crate::Error::Call`] when `zesSchedulerGetCurrentMode` fails.
    #[doc(alias = "zesSchedulerGetCurrentMode")]
    pub fn current_mode(&self) -> Result<zes_sched_mode_t> {
        let f = pfn!(self.api(), zesSchedulerGetCurrentMode)?;
        raw::get("zesSchedulerGetCurrentMode", f, self.handle)
    }

    /// Timeout-mode settings (`defaults` asks for the defaults).
    ///
    /// # Errors
    /// [`crate::Error::Call`] when `zesSchedulerGetTimeoutModeProperties` fails.
    #[doc(alias = "zesSchedulerGetTimeoutModeProperties")]
    pub fn timeout_mode_properties(&self, defaults: bool) -> Result<zes_sched_timeout_properties_t> {
        let f = pfn!(self.api(), zesSchedulerGetTimeoutModeProperties)?;
        raw::get_with("zesSchedulerGetTimeoutModeProperties", f, self.handle, defaults as ze_bool_t)
    }

    /// Timeslice-mode settings (`defaults` asks for the defaults).
    ///
    /// # Errors
    /// [`crate::Error::Call`] when `zesSchedulerGetTimesliceModeProperties` fails.
    #[doc(alias = "zesSchedulerGetTimesliceModeProperties")]
    pub fn timeslice_mode_properties(&self, defaults: bool) -> Result<zes_sched_timeslice_properties_t> {
        let f = pfn!(self.api(), zesSchedulerGetTimesliceModeProperties)?;
        raw::get_with("zesSchedulerGetTimesliceModeProperties", f, self.handle, defaults as ze_bool_t)
    }

    /// Switches to timeout mode; returns whether a driver reload is needed.
    ///
    /// # Errors
    /// [`crate::Error::Call`] when `zesSchedulerSetTimeoutMode` fails.
    #[doc(alias = "zesSchedulerSetTimeoutMode")]
    pub fn set_timeout_mode(&self, watchdog_timeout_us: u64) -> Result<bool> {
        let f = pfn!(self.api(), zesSchedulerSetTimeoutMode)?;
        let mut p =
            zes_sched_timeout_properties_t { watchdogTimeout: watchdog_timeout_us, ..Default::default() };
        raw::inout_flag("zesSchedulerSetTimeoutMode", f, self.handle, &mut p)
    }

    /// Switches to timeslice mode; returns whether a driver reload is needed.
    ///
    /// # Errors
    /// [`crate::Error::Call`] when `zesSchedulerSetTimesliceMode` fails.
    #[doc(alias = "zesSchedulerSetTimesliceMode")]
    pub fn set_timeslice_mode(&self, interval_us: u64, yield_timeout_us: u64) -> Result<bool> {
        let f = pfn!(self.api(), zesSchedulerSetTimesliceMode)?;
        let mut p = zes_sched_timeslice_properties_t {
            interval: interval_us,
            yieldTimeout: yield_timeout_us,
            ..Default::default()
        };
        raw::inout_flag("zesSchedulerSetTimesliceMode", f, self.handle, &mut p)
    }

    /// Switches to exclusive mode; returns whether a driver reload is needed.
    ///
    /// # Errors
    /// [`crate::Error::Call`] when `zesSchedulerSetExclusiveMode` fails.
    #[doc(alias = "zesSchedulerSetExclusiveMode")]
    pub fn set_exclusive_mode(&self) -> Result<bool> {
        let f = pfn!(self.api(), zesSchedulerSetExclusiveMode)?;
        Ok(raw::get("zesSchedulerSetExclusiveMode", f, self.handle)? != 0)
    }
}

// ---------------------------------------------------------------- performance factor
component!(
    /// A performance factor domain (`zes_perf_handle_t`).
    PerformanceFactor, zes_perf_handle_t);

impl PerformanceFactor {
    /// The engines the factor applies to, and sub-device.
    ///
    /// # Errors
    /// [`crate::Error::Call`] when `zesPerformanceFactorGetProperties` fails.
    #[doc(alias = "zesPerformanceFactorGetProperties")]
    pub fn properties(&self) -> Result<(zes_engine_type_flags_t, Option<u32>)> {
        let f = pfn!(self.api(), zesPerformanceFactorGetProperties)?;
        let p = raw::get("zesPerformanceFactorGetProperties", f, self.handle)?;
        Ok((p.engines, sub(p.onSubdevice, p.subdeviceId)))
    }

    /// The factor (0 to 100).
    ///
    /// # Errors
    /// [`crate::Error::Call`] when `zesPerformanceFactorGetConfig` fails.
    #[doc(alias = "zesPerformanceFactorGetConfig")]
    pub fn config(&self) -> Result<f64> {
        let f = pfn!(self.api(), zesPerformanceFactorGetConfig)?;
        raw::get("zesPerformanceFactorGetConfig", f, self.handle)
    }

    /// Sets the factor (0 to 100).
    ///
    /// # Errors
    /// [`crate::Error::Call`] when `zesPerformanceFactorSetConfig` fails.
    #[doc(alias = "zesPerformanceFactorSetConfig")]
    pub fn set_config(&self, factor: f64) -> Result<()> {
        let f = pfn!(self.api(), zesPerformanceFactorSetConfig)?;
        raw::call_val("zesPerformanceFactorSetConfig", f, self.handle, factor)
    }
}
