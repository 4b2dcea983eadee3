//! The guard around every C entry point: call counting, per-call latency, injected results and
//! the panic barrier (a panic never unwinds into C).

use crate::faults::{ActiveRule, FaultRule};
use crate::generated::FUNCTION_NAMES;
use std::cell::Cell;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Mutex, Once};
use std::time::{Duration, Instant};
use zes_sys::{ze_result_t, ZE_RESULT_ERROR_UNKNOWN};

const N: usize = FUNCTION_NAMES.len();
#[allow(clippy::declare_interior_mutable_const)]
const ZERO: AtomicU64 = AtomicU64::new(0);
static COUNTS: [AtomicU64; N] = [ZERO; N];
static LATENCY_US: AtomicU64 = AtomicU64::new(0);
/// Devices that can be given a latency of their own (a slow device among fast ones): all.
pub const LATENCY_DEVICES: usize = crate::handles::MAX_DEVICES;
/// Longest latency of a call (global or per device, each): 10 s.
pub const MAX_LATENCY_US: u64 = 10_000_000;
static DEVICE_LATENCY_US: [AtomicU64; LATENCY_DEVICES] = [ZERO; LATENCY_DEVICES];
static RULES_ON: AtomicBool = AtomicBool::new(false);
static RULES: Mutex<Vec<ActiveRule>> = Mutex::new(Vec::new());

fn rules() -> std::sync::MutexGuard<'static, Vec<ActiveRule>> {
    RULES.lock().unwrap_or_else(|e| e.into_inner())
}

pub fn set_rules(list: &[FaultRule]) {
    let mut r = rules();
    *r = list.iter().cloned().map(ActiveRule::new).collect();
    RULES_ON.store(!r.is_empty(), Ordering::SeqCst);
}

/// Adds a rule; errors when [`crate::faults::MAX_RULES`] are set already.
pub fn add_rule(rule: FaultRule) -> Result<(), String> {
    let mut r = rules();
    if r.len() >= crate::faults::MAX_RULES {
        return Err(format!("rule: at most {} rules (clear_faults drops them)", crate::faults::MAX_RULES));
    }
    r.push(ActiveRule::new(rule));
    RULES_ON.store(true, Ordering::SeqCst);
    Ok(())
}

pub fn rule_list() -> Vec<FaultRule> {
    rules().iter().map(|r| r.rule.clone()).collect()
}

/// The latency of every call; errors above [`MAX_LATENCY_US`].
pub fn set_latency_us(us: u64) -> Result<(), String> {
    if us > MAX_LATENCY_US {
        return Err(format!("latency_us: at most {MAX_LATENCY_US} (10 s)"));
    }
    LATENCY_US.store(us, Ordering::SeqCst);
    Ok(())
}

pub fn latency_us() -> u64 {
    LATENCY_US.load(Ordering::SeqCst)
}

/// A latency for the calls on one device's handles, added to the global one. Errors for a
/// device index beyond [`LATENCY_DEVICES`] or a latency above [`MAX_LATENCY_US`].
pub fn set_device_latency_us(device: usize, us: u64) -> Result<(), String> {
    let slot = DEVICE_LATENCY_US.get(device).ok_or(format!("device: at most {LATENCY_DEVICES} devices"))?;
    if us > MAX_LATENCY_US {
        return Err(format!("latency_us: at most {MAX_LATENCY_US} (10 s)"));
    }
    slot.store(us, Ordering::SeqCst);
    Ok(())
}

/// Per-device latencies that are set, as (device, microseconds).
pub fn device_latencies_us() -> Vec<(usize, u64)> {
    DEVICE_LATENCY_US.iter().map(|l| l.load(Ordering::SeqCst)).enumerate().filter(|(_, us)| *us > 0).collect()
}

pub fn clear_latencies() {
    LATENCY_US.store(0, Ordering::SeqCst);
    for slot in &DEVICE_LATENCY_US {
        slot.store(0, Ordering::SeqCst);
    }
}

pub fn call_count(index: usize) -> u64 {
    COUNTS[index].load(Ordering::Relaxed)
}

pub fn reset_counts() {
    for c in &COUNTS {
        c.store(0, Ordering::Relaxed);
    }
}

/// Waits without holding any lock, so that concurrent callers overlap.
fn wait(us: u64) {
    let until = Instant::now() + Duration::from_micros(us);
    if us >= 2000 {
        std::thread::sleep(Duration::from_micros(us - 1000));
    }
    while Instant::now() < until {
        std::hint::spin_loop();
    }
}

/// Runs the driver method of function `index`; `handle` is the raw value of its first
/// parameter when that is a handle (0 otherwise), which tells whose latency applies.
pub fn call(index: usize, handle: usize, f: impl FnOnce() -> ze_result_t) -> ze_result_t {
    guard_getter(|| {
        crate::state::ensure_loaded();
        COUNTS[index].fetch_add(1, Ordering::Relaxed);
        let mut us = LATENCY_US.load(Ordering::Relaxed);
        if let Some(slot) = crate::handles::device_of(handle).and_then(|d| DEVICE_LATENCY_US.get(d)) {
            us += slot.load(Ordering::Relaxed);
        }
        // Outside every lock: calls on other devices (or other threads) go on meanwhile.
        if us > 0 {
            wait(us);
        }
        if RULES_ON.load(Ordering::Relaxed) {
            let mut fired = None;
            for r in rules().iter_mut().filter(|r| r.rule.function == index) {
                if let Some(code) = r.check() {
                    fired.get_or_insert(code);
                }
            }
            if let Some(code) = fired {
                return code;
            }
        }
        f()
    })
}

thread_local! {
    /// How deep this thread is inside driver entry points (panics there are the driver's own).
    static IN_DRIVER: Cell<u32> = const { Cell::new(0) };
}
static QUIET_HOOK: Once = Once::new();
static LAST_PANIC: Mutex<Option<String>> = Mutex::new(None);

/// A library never prints: a panic inside the driver is caught and turned into
/// `ZE_RESULT_ERROR_UNKNOWN`, and its message is kept for the control API's `status` instead of
/// being printed by the default hook. Panics elsewhere in the host go to the previous hook.
fn install_quiet_panic_hook() {
    QUIET_HOOK.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if IN_DRIVER.with(Cell::get) == 0 {
                previous(info);
            } else {
                *LAST_PANIC.lock().unwrap_or_else(|e| e.into_inner()) = Some(info.to_string());
            }
        }));
    });
}

/// The message of the last panic caught at the C boundary, if any.
pub fn last_panic() -> Option<String> {
    LAST_PANIC.lock().unwrap_or_else(|e| e.into_inner()).clone()
}

/// The panic barrier alone (used by the table getters).
pub fn guard_getter(f: impl FnOnce() -> ze_result_t) -> ze_result_t {
    install_quiet_panic_hook();
    IN_DRIVER.with(|depth| depth.set(depth.get() + 1));
    let result = catch_unwind(AssertUnwindSafe(f)).unwrap_or(ZE_RESULT_ERROR_UNKNOWN);
    IN_DRIVER.with(|depth| depth.set(depth.get() - 1));
    result
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_panic_becomes_an_error_code_and_is_recorded_not_printed() {
        let result = super::guard_getter(|| panic!("model bug at the edge"));
        assert_eq!(result, zes_sys::ZE_RESULT_ERROR_UNKNOWN);
        assert!(super::last_panic().unwrap().contains("model bug at the edge"));
        super::IN_DRIVER.with(|depth| assert_eq!(depth.get(), 0, "depth restored after a panic"));
    }
}
