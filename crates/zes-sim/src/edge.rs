//! The guard around every C entry point: call counting, per-call latency, injected results and
//! the panic barrier (a panic never unwinds into C).

use crate::faults::{ActiveRule, FaultRule};
use crate::generated::FUNCTION_NAMES;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};
use zes_sys::{ze_result_t, ZE_RESULT_ERROR_UNKNOWN};

const N: usize = FUNCTION_NAMES.len();
#[allow(clippy::declare_interior_mutable_const)]
const ZERO: AtomicU64 = AtomicU64::new(0);
static COUNTS: [AtomicU64; N] = [ZERO; N];
static LATENCY_US: AtomicU64 = AtomicU64::new(0);
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

pub fn add_rule(rule: FaultRule) {
    let mut r = rules();
    r.push(ActiveRule::new(rule));
    RULES_ON.store(true, Ordering::SeqCst);
}

pub fn rule_list() -> Vec<FaultRule> {
    rules().iter().map(|r| r.rule.clone()).collect()
}

pub fn set_latency_us(us: u64) {
    LATENCY_US.store(us, Ordering::SeqCst);
}

pub fn latency_us() -> u64 {
    LATENCY_US.load(Ordering::SeqCst)
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

/// Runs the driver method of function `index`.
pub fn call(index: usize, f: impl FnOnce() -> ze_result_t) -> ze_result_t {
    guard_getter(|| {
        crate::state::ensure_loaded();
        COUNTS[index].fetch_add(1, Ordering::Relaxed);
        let us = LATENCY_US.load(Ordering::Relaxed);
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

/// The panic barrier alone (used by the table getters).
pub fn guard_getter(f: impl FnOnce() -> ze_result_t) -> ze_result_t {
    catch_unwind(AssertUnwindSafe(f)).unwrap_or(ZE_RESULT_ERROR_UNKNOWN)
}
