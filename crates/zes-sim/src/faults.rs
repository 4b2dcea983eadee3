//! Fault injection: chosen result codes for chosen functions, unprivileged mode, lost devices,
//! per-call latency and misbehaving counters.

use crate::generated::FUNCTION_NAMES;
use zes_sys::ze_result_t;

/// Most fault rules (and most lost-device entries) at a time: each call of a function checks the
/// rules set for it.
pub const MAX_RULES: usize = 1024;

/// When a rule fires.
#[derive(Clone, Debug, PartialEq)]
pub enum Trigger {
    Every,
    /// Only the n-th call (1-based) after the rule was set.
    Nth(u64),
    /// Every call after the first n.
    After(u64),
    /// Each call with probability p, from a seeded generator (reproducible).
    Probability {
        p: f64,
        seed: u64,
    },
}

#[derive(Clone, Debug, PartialEq)]
pub struct FaultRule {
    pub function: usize,
    pub result: ze_result_t,
    pub trigger: Trigger,
}

/// Parses a result code by C name (`ZE_RESULT_ERROR_NOT_AVAILABLE`) or number (`0x78000001`).
pub fn parse_result(s: &str) -> Result<ze_result_t, String> {
    let s = s.trim();
    if let Some(k) = ze_result_t::KNOWN.iter().find(|k| k.0 == s) {
        return Ok(ze_result_t(k.1));
    }
    let n = if let Some(hex) = s.strip_prefix("0x").or_else(|| s.strip_prefix("0X")) {
        u32::from_str_radix(hex, 16).ok()
    } else {
        s.parse::<u32>().ok()
    };
    n.map(ze_result_t).ok_or_else(|| format!("unknown result code {s:?}"))
}

pub fn function_index(name: &str) -> Option<usize> {
    FUNCTION_NAMES.iter().position(|n| *n == name)
}

impl FaultRule {
    /// `function=RESULT[@every|@nth:N|@after:N|@p:P[:seed=S]]`.
    pub fn parse(spec: &str) -> Result<Self, String> {
        let (name, rest) =
            spec.split_once('=').ok_or_else(|| format!("{spec:?}: expected function=RESULT@trigger"))?;
        let name = name.trim();
        let function = function_index(name).ok_or_else(|| format!("unknown function {name:?}"))?;
        let (code, trigger) = match rest.split_once('@') {
            Some((c, t)) => (c, Some(t.trim())),
            None => (rest, None),
        };
        let result = parse_result(code)?;
        let trigger = match trigger {
            None | Some("every") => Trigger::Every,
            Some(t) => {
                let parts: Vec<&str> = t.split(':').collect();
                let int =
                    |s: &str| s.parse::<u64>().map_err(|_| format!("trigger {t:?}: {s:?} is not a count"));
                match parts.as_slice() {
                    ["nth", n] => {
                        let n = int(n)?;
                        if n == 0 {
                            return Err(format!("trigger {t:?}: nth counts from 1"));
                        }
                        Trigger::Nth(n)
                    }
                    ["after", n] => Trigger::After(int(n)?),
                    ["p", p, rest @ ..] => {
                        let p: f64 =
                            p.parse().map_err(|_| format!("trigger {t:?}: {p:?} is not a probability"))?;
                        if !(0.0..=1.0).contains(&p) {
                            return Err(format!("trigger {t:?}: probability must be from 0 to 1"));
                        }
                        let mut seed = 0x5eed;
                        for r in rest {
                            match r.strip_prefix("seed=") {
                                Some(s) => seed = int(s)?,
                                None => return Err(format!("trigger {t:?}: unknown option {r:?}")),
                            }
                        }
                        Trigger::Probability { p, seed }
                    }
                    _ => return Err(format!("unknown trigger {t:?} (every, nth:N, after:N, p:P[:seed=S])")),
                }
            }
        };
        Ok(Self { function, result, trigger })
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct DeviceLost {
    pub device: usize,
    pub after_seconds: Option<f64>,
    pub after_calls: Option<u64>,
}

#[derive(Clone, Debug, Default, PartialEq)]
pub struct FaultConfig {
    pub rules: Vec<FaultRule>,
    /// Energy, temperature and bandwidth answer INSUFFICIENT_PERMISSIONS; no engine groups.
    pub unprivileged: bool,
    pub latency_us: u64,
    pub device_lost: Vec<DeviceLost>,
    /// Processes come and go between the count query and the fill query.
    pub process_churn: bool,
    /// Energy counters wrap at this many microjoules (drop back towards zero).
    pub energy_wrap_uj: Option<u64>,
    /// Every second read of a counter repeats the previous sample, timestamp included.
    pub repeat_timestamps: bool,
    /// (device, microseconds): a latency for the calls on one device only.
    pub device_latency_us: Vec<(usize, u64)>,
}

impl FaultConfig {
    /// Reads `ZES_SIM_FAULTS`, `ZES_SIM_UNPRIVILEGED` and `ZES_SIM_LATENCY_US` on top of `self`.
    pub fn apply_env(&mut self) -> Result<(), String> {
        // This instance's own form of each variable first (`instance::var`).
        let read = |name| crate::instance::var(name).map(|(var, v)| (var, v.to_string_lossy().into_owned()));
        if let Some((var, spec)) = read("ZES_SIM_FAULTS") {
            for part in spec.split([',', ';']).map(str::trim).filter(|p| !p.is_empty()) {
                if self.rules.len() >= MAX_RULES {
                    return Err(format!("{var}: at most {MAX_RULES} rules"));
                }
                self.rules.push(FaultRule::parse(part).map_err(|e| format!("{var}: {e}"))?);
            }
        }
        if let Some((_, v)) = read("ZES_SIM_UNPRIVILEGED") {
            self.unprivileged = !matches!(v.trim(), "" | "0" | "false" | "no");
        }
        if let Some((var, v)) = read("ZES_SIM_LATENCY_US") {
            let max = crate::edge::MAX_LATENCY_US;
            self.latency_us = v
                .trim()
                .parse()
                .ok()
                .filter(|us| *us <= max)
                .ok_or_else(|| format!("{var}: expected microseconds from 0 to {max}, got {v:?}"))?;
        }
        Ok(())
    }
}

/// A rule with its run-time state (calls seen, generator).
#[derive(Clone, Debug)]
pub struct ActiveRule {
    pub rule: FaultRule,
    calls: u64,
    rng: u64,
}

impl ActiveRule {
    pub fn new(rule: FaultRule) -> Self {
        let rng = match rule.trigger {
            Trigger::Probability { seed, .. } => seed ^ 0x9E37_79B9_7F4A_7C15,
            _ => 0,
        };
        Self { rule, calls: 0, rng }
    }

    /// Called once per call of the rule's function: Some(result) when it fires.
    pub fn check(&mut self) -> Option<ze_result_t> {
        self.calls += 1;
        let fire = match self.rule.trigger {
            Trigger::Every => true,
            Trigger::Nth(n) => self.calls == n,
            Trigger::After(n) => self.calls > n,
            Trigger::Probability { p, .. } => {
                // splitmix64
                self.rng = self.rng.wrapping_add(0x9E37_79B9_7F4A_7C15);
                let mut z = self.rng;
                z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
                z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
                z ^= z >> 31;
                ((z >> 11) as f64 / (1u64 << 53) as f64) < p
            }
        };
        fire.then_some(self.rule.result)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use zes_sys::*;

    #[test]
    fn parse_rules() {
        let r = FaultRule::parse("zesPowerGetEnergyCounter=ZE_RESULT_ERROR_NOT_AVAILABLE@every").unwrap();
        assert_eq!(FUNCTION_NAMES[r.function], "zesPowerGetEnergyCounter");
        assert_eq!(r.result, ZE_RESULT_ERROR_NOT_AVAILABLE);
        assert_eq!(r.trigger, Trigger::Every);
        let r = FaultRule::parse("zesDeviceGet=0x78000001@nth:3").unwrap();
        assert_eq!(r.result, ze_result_t(0x7800_0001));
        assert_eq!(r.trigger, Trigger::Nth(3));
        let r = FaultRule::parse("zesDeviceGet=ZE_RESULT_ERROR_UNKNOWN@p:0.1:seed=42").unwrap();
        assert_eq!(r.trigger, Trigger::Probability { p: 0.1, seed: 42 });
        assert!(FaultRule::parse("zesNothing=ZE_RESULT_ERROR_UNKNOWN").is_err());
        assert!(FaultRule::parse("zesDeviceGet=ZE_RESULT_BOGUS").is_err());
        assert!(FaultRule::parse("zesDeviceGet=ZE_RESULT_ERROR_UNKNOWN@sometimes").is_err());
        assert!(FaultRule::parse("zesDeviceGet=ZE_RESULT_ERROR_UNKNOWN@p:2").is_err());
    }

    #[test]
    fn triggers() {
        let mut nth =
            ActiveRule::new(FaultRule::parse("zesDeviceGet=ZE_RESULT_ERROR_UNKNOWN@nth:3").unwrap());
        let fired: Vec<bool> = (0..5).map(|_| nth.check().is_some()).collect();
        assert_eq!(fired, [false, false, true, false, false]);
        let mut after =
            ActiveRule::new(FaultRule::parse("zesDeviceGet=ZE_RESULT_ERROR_UNKNOWN@after:2").unwrap());
        let fired: Vec<bool> = (0..4).map(|_| after.check().is_some()).collect();
        assert_eq!(fired, [false, false, true, true]);
        let rule = FaultRule::parse("zesDeviceGet=ZE_RESULT_ERROR_UNKNOWN@p:0.25:seed=7").unwrap();
        let mut a = ActiveRule::new(rule.clone());
        let mut b = ActiveRule::new(rule);
        let xs: Vec<bool> = (0..1000).map(|_| a.check().is_some()).collect();
        let ys: Vec<bool> = (0..1000).map(|_| b.check().is_some()).collect();
        assert_eq!(xs, ys, "same seed, same sequence");
        let n = xs.iter().filter(|x| **x).count();
        assert!((180..320).contains(&n), "{n}");
    }
}
