//! The control API for tests: JSON commands that steer the simulated machine.

use crate::config::{MachineConfig, Signal, MAX_PROCESSES, MAX_PROCESS_MEMORY_MIB};
use crate::faults::{function_index, FaultRule};
use crate::generated::FUNCTION_NAMES;
use crate::model::timestamp_us;
use crate::state;
use core::ffi::c_char;
use serde_json::{json, Map, Value};

fn num(v: &Value, key: &str) -> Result<f64, String> {
    v.get(key).and_then(Value::as_f64).ok_or_else(|| format!("{key}: expected a number"))
}

fn device_index(v: &Value, devices: usize) -> Result<usize, String> {
    let d = v.get("device").and_then(Value::as_u64).ok_or("device: expected a device index")? as usize;
    if d >= devices {
        return Err(format!("device: {d} is out of range (there are {devices})"));
    }
    Ok(d)
}

/// Runs one JSON command and returns the JSON reply. Commands (field `op`):
/// `reset`, `load` (`toml`), `clock` (`mode`: real|frozen), `advance` (`seconds`), `fault`,
/// `clear_faults`, `workload`, `process`, `truth` (`device`), `calls` (`function`), `event`,
/// `status`, `kernel_tree` (see [`crate::kernel_tree`]). See README.md.
pub fn control(request: &str) -> Result<String, String> {
    let v: Value = serde_json::from_str(request).map_err(|e| format!("request is not JSON: {e}"))?;
    let op = v.get("op").and_then(Value::as_str).ok_or("op: expected a string")?;
    let reply = match op {
        "reset" => {
            state::replace(state::config_from_env())?;
            crate::edge::reset_counts();
            crate::kernel_tree::clear();
            json!({"ok": true})
        }
        "load" => {
            let text = v.get("toml").and_then(Value::as_str).ok_or("toml: expected a string")?;
            state::replace(MachineConfig::parse(text))?;
            crate::kernel_tree::clear();
            json!({"ok": true})
        }
        "clock" => {
            let mode =
                v.get("mode").and_then(Value::as_str).ok_or("mode: expected \"real\" or \"frozen\"")?;
            let mut m = state::machine();
            m.update_all();
            match mode {
                "frozen" => m.clock.set_frozen(true),
                "real" => m.clock.set_frozen(false),
                _ => return Err("mode: expected \"real\" or \"frozen\"".into()),
            }
            json!({"ok": true, "time_s": m.now()})
        }
        "advance" => {
            let s = num(&v, "seconds")?;
            if !(s.is_finite() && s >= 0.0) {
                return Err("seconds: expected a number >= 0".into());
            }
            let mut m = state::machine();
            m.advance(s).map_err(|e| format!("seconds: {e}"))?;
            crate::kernel_tree::refresh(&m).map_err(|e| format!("advanced {s} s, but {e}"))?;
            json!({"ok": true, "time_s": m.now()})
        }
        "fault" => fault(&v)?,
        "kernel_tree" => crate::kernel_tree::control(&v)?,
        "clear_faults" => {
            crate::edge::set_rules(&[]);
            crate::edge::clear_latencies();
            let mut m = state::machine();
            m.faults = Default::default();
            for d in &mut m.devices {
                d.lost = false;
            }
            json!({"ok": true})
        }
        "workload" => {
            let mut m = state::machine();
            let d = device_index(&v, m.devices.len())?;
            m.update(d);
            let w = &mut m.devices[d].workload;
            // The bounds of the machine file's workloads. All checked before any is set.
            let mut values = Vec::new();
            for (key, scale, max) in [
                ("compute", 1.0, 1.0),
                ("render", 1.0, 1.0),
                ("copy", 1.0, 1.0),
                ("media", 1.0, 1.0),
                ("memory_read_gbps", 1e9, 1e6),
                ("memory_write_gbps", 1e9, 1e6),
                ("pci_rx_gbps", 1e9, 1e6),
                ("pci_tx_gbps", 1e9, 1e6),
            ] {
                if let Some(x) = v.get(key) {
                    let x = x
                        .as_f64()
                        .filter(|x| (0.0..=max).contains(x))
                        .ok_or_else(|| format!("{key}: expected a number from 0 to {max}"))?;
                    values.push((key, x * scale));
                }
            }
            for (key, x) in values {
                let slot = match key {
                    "compute" => &mut w.compute,
                    "render" => &mut w.render,
                    "copy" => &mut w.copy,
                    "media" => &mut w.media,
                    "memory_read_gbps" => &mut w.mem_read_bps,
                    "memory_write_gbps" => &mut w.mem_write_bps,
                    "pci_rx_gbps" => &mut w.pci_rx_bps,
                    _ => &mut w.pci_tx_bps,
                };
                *slot = Signal::Constant(x);
            }
            json!({"ok": true})
        }
        "process" => {
            let mut m = state::machine();
            let d = device_index(&v, m.devices.len())?;
            let pid = v
                .get("pid")
                .and_then(Value::as_u64)
                .filter(|pid| (1..=u32::MAX as u64).contains(pid))
                .ok_or("pid: expected a number from 1 to 4294967295")? as u32;
            m.processes.retain(|p| p.pid != pid);
            if !v.get("remove").and_then(Value::as_bool).unwrap_or(false) {
                if m.processes.len() >= MAX_PROCESSES {
                    return Err(format!("pid: at most {MAX_PROCESSES} processes"));
                }
                let mib = match v.get("memory_mib") {
                    None => 0.0,
                    Some(x) => x
                        .as_f64()
                        .filter(|x| (0.0..=MAX_PROCESS_MEMORY_MIB).contains(x))
                        .ok_or(format!("memory_mib: expected a number from 0 to {MAX_PROCESS_MEMORY_MIB}"))?,
                };
                m.processes.push(crate::config::ProcessSpec {
                    pid,
                    command: v.get("command").and_then(Value::as_str).unwrap_or("").into(),
                    device: d,
                    mem_bytes: (mib * (1u64 << 20) as f64) as u64,
                    shared_bytes: 0,
                    engines: zes_sys::zes_engine_type_flags_t::COMPUTE,
                });
            }
            json!({"ok": true})
        }
        "event" => {
            let mut m = state::machine();
            let d = device_index(&v, m.devices.len())?;
            let bits = v
                .get("events")
                .and_then(Value::as_u64)
                .filter(|b| *b <= u32::MAX as u64)
                .ok_or("events: expected event flag bits (a 32-bit number)")?;
            m.devices[d].raise(zes_sys::zes_event_type_flags_t(bits as u32));
            json!({"ok": true})
        }
        "truth" => {
            let mut m = state::machine();
            let d = device_index(&v, m.devices.len())?;
            m.update(d);
            truth(&m, d)
        }
        "calls" => match v.get("function").and_then(Value::as_str) {
            Some(name) => {
                let i = function_index(name).ok_or_else(|| format!("function: unknown {name:?}"))?;
                json!({"function": name, "calls": crate::edge::call_count(i)})
            }
            None => {
                let mut all = Map::new();
                for (i, name) in FUNCTION_NAMES.iter().enumerate() {
                    let c = crate::edge::call_count(i);
                    if c > 0 {
                        all.insert(name.to_string(), json!(c));
                    }
                }
                Value::Object(all)
            }
        },
        "status" => {
            let m = state::machine();
            json!({
                "devices": m.devices.iter().map(|d| json!({"name": d.p.name, "preset": d.p.preset, "lost": d.lost})).collect::<Vec<_>>(),
                "time_s": m.now(),
                "frozen": m.clock.is_frozen(),
                "ze_initialized": m.ze_initialized,
                "zes_initialized": m.zes_initialized,
                "load_error": state::load_error(),
                "latency_us": crate::edge::latency_us(),
                "device_latency_us": crate::edge::device_latencies_us(),
                "rules": crate::edge::rule_list().len(),
                "last_panic": crate::edge::last_panic(),
            })
        }
        other => return Err(format!("op: unknown operation {other:?}")),
    };
    Ok(reply.to_string())
}

fn fault(v: &Value) -> Result<Value, String> {
    // Checked before anything changes, so that a refused request changes nothing.
    if let Some(us) = v.get("latency_us") {
        let max = crate::edge::MAX_LATENCY_US;
        us.as_u64()
            .filter(|us| *us <= max)
            .ok_or(format!("latency_us: expected microseconds from 0 to {max} (10 s)"))?;
    }
    if let Some(rule) = v.get("rule").and_then(Value::as_str) {
        crate::edge::add_rule(FaultRule::parse(rule)?)?;
    }
    if let Some(f) = v.get("function").and_then(Value::as_str) {
        let result = v.get("result").and_then(Value::as_str).ok_or("result: expected a result code name")?;
        let trigger = v.get("trigger").and_then(Value::as_str).unwrap_or("every");
        crate::edge::add_rule(FaultRule::parse(&format!("{f}={result}@{trigger}"))?)?;
    }
    let mut m = state::machine();
    if let Some(us) = v.get("latency_us") {
        let us = us.as_u64().ok_or("latency_us: expected microseconds")?;
        match v.get("device") {
            // A slow device among fast ones: only calls on that device's handles wait.
            Some(device) => {
                let d = device.as_u64().map(|d| d as usize).filter(|d| *d < m.devices.len());
                crate::edge::set_device_latency_us(d.ok_or("device: expected a device index")?, us)?;
            }
            None => crate::edge::set_latency_us(us)?,
        }
    }
    if let Some(b) = v.get("unprivileged") {
        m.faults.unprivileged = b.as_bool().ok_or("unprivileged: expected true or false")?;
    }
    if let Some(b) = v.get("process_churn") {
        m.faults.process_churn = b.as_bool().ok_or("process_churn: expected true or false")?;
    }
    if let Some(b) = v.get("repeat_timestamps") {
        m.faults.repeat_timestamps = b.as_bool().ok_or("repeat_timestamps: expected true or false")?;
    }
    if let Some(w) = v.get("energy_wrap_uj") {
        m.faults.energy_wrap_uj = if w.is_null() {
            None
        } else {
            Some(w.as_u64().filter(|w| *w > 0).ok_or("energy_wrap_uj: expected microjoules > 0")?)
        };
    }
    if let Some(lost) = v.get("device_lost") {
        let d = device_index(lost, m.devices.len())?;
        let after_seconds = lost.get("after_seconds").and_then(Value::as_f64);
        let after_calls = lost.get("after_calls").and_then(Value::as_u64);
        if after_seconds.is_none() && after_calls.is_none() {
            m.devices[d].lost = true;
        } else {
            if m.faults.device_lost.len() >= crate::faults::MAX_RULES {
                return Err(format!("device_lost: at most {} entries", crate::faults::MAX_RULES));
            }
            let calls = m.devices[d].calls;
            let now = m.now();
            m.faults.device_lost.push(crate::faults::DeviceLost {
                device: d,
                after_seconds: after_seconds.map(|s| now + s),
                after_calls: after_calls.map(|c| calls.saturating_add(c)),
            });
        }
    }
    Ok(json!({"ok": true}))
}

fn truth(m: &crate::model::Machine, d: usize) -> Value {
    let dev = &m.devices[d];
    let name = |tile: Option<u32>| tile.map(|t| format!("tile{t}")).unwrap_or_else(|| "device".into());
    json!({
        "device": d,
        "name": dev.p.name,
        "preset": dev.p.preset,
        "time_s": m.now(),
        "timestamp_us": timestamp_us(m.now()),
        "lost": dev.lost,
        "utilization": {"compute": dev.util.compute, "render": dev.util.render, "copy": dev.util.copy, "media": dev.util.media},
        "power_w": dev.powers.iter().map(|p| json!({"domain": p.domain.name(), "where": name(p.tile), "watts": p.power_w, "energy_uj": (p.energy_j * 1e6) as u64, "sustained_limit_mw": p.limits.sustained_mw, "limit_enabled": p.limits.sustained_enabled})).collect::<Vec<_>>(),
        "demand_w": dev.demand_w,
        "memory": dev.mems.iter().enumerate().map(|(i, mm)| json!({"where": name(mm.tile), "size_bytes": mm.size, "used_bytes": dev.mem_used(&m.processes, i), "read_bytes": mm.read_bytes as u64, "write_bytes": mm.write_bytes as u64})).collect::<Vec<_>>(),
        "memory_used_bytes": dev.total_mem_used(&m.processes),
        "memory_size_bytes": dev.p.mem_size_bytes,
        "temperatures_c": dev.temps.iter().map(|t| json!({"sensor": t.sensor.name(), "where": name(t.tile), "celsius": t.value_c})).collect::<Vec<_>>(),
        "frequencies_mhz": dev.freqs.iter().map(|f| json!({"domain": f.domain.name(), "where": name(f.tile), "actual": f.actual, "request": f.request, "min": f.range.0, "max": f.range.1, "throttle_reasons": f.reasons.0, "throttle_time_us": (f.throttle_s * 1e6) as u64})).collect::<Vec<_>>(),
        "engines": dev.engines.iter().map(|e| json!({"group": e.group.name(), "where": name(e.tile), "active_time_us": (e.active_s * 1e6) as u64})).collect::<Vec<_>>(),
        "pci": {"rx_bytes": dev.pci_rx as u64, "tx_bytes": dev.pci_tx as u64, "packets": dev.pci_packets as u64},
        "ecc": {"current": dev.ecc_current.name(), "pending": dev.ecc_pending.name()},
        "ras": dev.ras.iter().map(|r| json!({"type": r.kind.name(), "where": name(r.tile), "counters": r.counters})).collect::<Vec<_>>(),
        "processes": m.processes.iter().filter(|p| p.device == d).map(|p| json!({"pid": p.pid, "command": p.command, "memory_bytes": p.mem_bytes})).collect::<Vec<_>>(),
        "calls": dev.calls,
    })
}

/// C entry point of [`control`]: `request` is a NUL-terminated JSON command; the JSON reply is
/// written NUL-terminated to `reply` when it fits in `reply_capacity` bytes. Returns 0 on
/// success, -1 when the command failed (the reply is `{"error": "..."}`), -2 for a null or
/// non-UTF-8 request, or the needed capacity (> 0) when the reply did not fit.
///
/// # Safety
/// `request` must be null or a NUL-terminated string; `reply` null or valid for
/// `reply_capacity` bytes.
#[no_mangle]
pub unsafe extern "C" fn zesSimControl(
    request: *const c_char,
    reply: *mut c_char,
    reply_capacity: usize,
) -> i32 {
    crate::edge::guard_getter(|| {
        if request.is_null() {
            return zes_sys::ze_result_t(-2i32 as u32);
        }
        // SAFETY: non-null, NUL-terminated by the caller's contract.
        let Ok(text) = (unsafe { core::ffi::CStr::from_ptr(request) }).to_str() else {
            return zes_sys::ze_result_t(-2i32 as u32);
        };
        let (code, body) = match control(text) {
            Ok(body) => (0i32, body),
            Err(e) => (-1, json!({"error": e}).to_string()),
        };
        let needed = body.len() + 1;
        if reply.is_null() || needed > reply_capacity {
            return zes_sys::ze_result_t(needed as u32);
        }
        // SAFETY: `reply` holds at least `needed` bytes (checked above).
        unsafe {
            core::ptr::copy_nonoverlapping(body.as_ptr(), reply.cast::<u8>(), body.len());
            *reply.add(body.len()) = 0;
        }
        zes_sys::ze_result_t(code as u32)
    })
    .0 as i32
}
