//! The one simulated machine of the process, and how it is (re)loaded.

use crate::config::MachineConfig;
use crate::model::Machine;
use std::sync::{Mutex, MutexGuard, OnceLock};

static MACHINE: OnceLock<Mutex<Machine>> = OnceLock::new();
static LOAD_ERROR: Mutex<Option<String>> = Mutex::new(None);

/// The configuration the environment asks for: `ZES_SIM_CONFIG` (a TOML file), else
/// `ZES_SIM_PRESET` (comma list of presets), else the default machine; faults from the
/// environment (`ZES_SIM_FAULTS`, `ZES_SIM_UNPRIVILEGED`, `ZES_SIM_LATENCY_US`) are added, and
/// `ZES_SIM_CLOCK=frozen` freezes the clock.
pub fn config_from_env() -> Result<MachineConfig, String> {
    let mut cfg = if let Some(path) = std::env::var_os("ZES_SIM_CONFIG").filter(|p| !p.is_empty()) {
        let text = std::fs::read_to_string(&path)
            .map_err(|e| format!("ZES_SIM_CONFIG: cannot read {}: {e}", path.to_string_lossy()))?;
        MachineConfig::parse(&text).map_err(|e| format!("{}: {e}", path.to_string_lossy()))?
    } else if let Ok(list) = std::env::var("ZES_SIM_PRESET") {
        let names: Vec<&str> = list.split(',').map(str::trim).filter(|s| !s.is_empty()).collect();
        MachineConfig::from_presets(&names).map_err(|e| format!("ZES_SIM_PRESET: {e}"))?
    } else {
        MachineConfig::default_machine()
    };
    cfg.faults.apply_env()?;
    if let Ok(clock) = std::env::var("ZES_SIM_CLOCK") {
        match clock.trim() {
            "frozen" => cfg.clock_frozen = true,
            "real" | "" => cfg.clock_frozen = false,
            other => return Err(format!("ZES_SIM_CLOCK: expected real or frozen, got {other:?}")),
        }
    }
    Ok(cfg)
}

fn build(result: Result<MachineConfig, String>) -> Machine {
    let cfg = match result {
        Ok(cfg) => {
            *LOAD_ERROR.lock().unwrap_or_else(|e| e.into_inner()) = None;
            cfg
        }
        Err(e) => {
            *LOAD_ERROR.lock().unwrap_or_else(|e| e.into_inner()) = Some(e);
            MachineConfig { devices: vec![], ..MachineConfig::default() }
        }
    };
    crate::edge::set_rules(&cfg.faults.rules);
    // A new machine starts with no per-device latencies.
    crate::edge::clear_latencies();
    // In range: checked when the configuration was read.
    let _ = crate::edge::set_latency_us(cfg.faults.latency_us);
    for &(device, us) in &cfg.faults.device_latency_us {
        // In range: checked when the file was parsed.
        let _ = crate::edge::set_device_latency_us(device, us);
    }
    Machine::new(cfg)
}

pub fn ensure_loaded() {
    MACHINE.get_or_init(|| Mutex::new(build(config_from_env())));
}

pub fn machine() -> MutexGuard<'static, Machine> {
    MACHINE.get_or_init(|| Mutex::new(build(config_from_env()))).lock().unwrap_or_else(|e| e.into_inner())
}

/// The error of the last configuration load, if it failed (the machine then has no devices).
pub fn load_error() -> Option<String> {
    LOAD_ERROR.lock().unwrap_or_else(|e| e.into_inner()).clone()
}

/// Replaces the machine (a failed configuration keeps the current one). Handles of the old
/// machine are refused from then on (a new handle generation), except the driver handle.
/// Initialization state is kept (a loader that initialized us stays initialized).
pub fn replace(result: Result<MachineConfig, String>) -> Result<(), String> {
    // A configuration that does not load leaves the current machine as it is.
    let cfg = result?;
    if cfg.devices.len() > crate::handles::MAX_DEVICES {
        return Err(format!("at most {} devices (got {})", crate::handles::MAX_DEVICES, cfg.devices.len()));
    }
    let mut m = machine();
    crate::handles::next_generation()?;
    let new = build(Ok(cfg));
    let (ze, zes) = (m.ze_initialized, m.zes_initialized);
    *m = new;
    m.ze_initialized = ze;
    m.zes_initialized = zes;
    Ok(())
}
