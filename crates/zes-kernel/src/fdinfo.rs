//! DRM fdinfo (`/proc/<pid>/fdinfo/<fd>`), after the kernel's drm-usage-stats documentation:
//! one `key: value` per line, keys prefixed `drm-`, numbers with an optional unit.

use crate::{Driver, EngineClass, PciAddress, Reason, MAX_KEYS_PER_CLIENT};
use serde::Serialize;

/// The busy counter of one engine class of one client.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct EngineCounter {
    pub class: EngineClass,
    /// i915 `drm-engine-<class>: <n> ns`: nanoseconds busy.
    pub busy_ns: Option<u64>,
    /// xe `drm-cycles-<class>`: busy GPU cycles.
    pub busy_cycles: Option<u64>,
    /// xe `drm-total-cycles-<class>`: the GPU's cycle timestamp, the time base of `busy_cycles`.
    pub total_cycles: Option<u64>,
    /// `drm-engine-capacity-<class>`: engines of this class (1 when absent).
    pub capacity: u64,
    /// Set when a line of this class did not follow the format (the class then has no rate).
    pub malformed: bool,
}

/// The memory of one client in one region, in bytes (`drm-total-`, `drm-resident-`, ...).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct MemoryRegion {
    pub region: String,
    pub total: Option<u64>,
    pub resident: Option<u64>,
    pub shared: Option<u64>,
    pub active: Option<u64>,
    pub purgeable: Option<u64>,
}

/// What one DRM fdinfo file says.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ClientCounters {
    /// `drm-driver` as written (also for drivers that are not read further).
    pub driver_name: String,
    pub driver: Option<Driver>,
    pub pdev: Option<PciAddress>,
    pub client_id: u64,
    pub engines: Vec<EngineCounter>,
    pub memory: Vec<MemoryRegion>,
    /// Lines that did not follow the format (skipped).
    pub malformed_lines: u32,
}

/// A number with an optional unit, as drm-usage-stats writes them.
fn number(value: &str) -> Option<(u64, &str)> {
    let value = value.trim();
    let digits = value.bytes().take_while(u8::is_ascii_digit).count();
    if digits == 0 {
        return None;
    }
    let n = value[..digits].parse::<u64>().ok()?;
    Some((n, value[digits..].trim_start()))
}

fn bytes(value: &str) -> Option<u64> {
    let (n, unit) = number(value)?;
    let scale: u64 = match unit {
        "" | "B" => 1,
        "KiB" => 1 << 10,
        "MiB" => 1 << 20,
        "GiB" => 1 << 30,
        _ => return None,
    };
    n.checked_mul(scale)
}

/// Parses one fdinfo file. `Ok(None)`: not a DRM fd (no `drm-driver`). `Err(Malformed)`: a DRM
/// fdinfo without a usable `drm-client-id` (clients cannot be told apart without it).
pub(crate) fn parse(text: &[u8]) -> Result<Option<ClientCounters>, Reason> {
    let mut driver_name = None;
    let mut pdev = None;
    let mut pdev_bad = false;
    let mut client_id = None;
    let mut client_id_bad = false;
    let mut engines: Vec<EngineCounter> = Vec::new();
    let mut memory: Vec<MemoryRegion> = Vec::new();
    let mut malformed_lines = 0u32;
    // Lines are parsed after the driver is known (class names depend on it): keep them.
    let mut keyed: Vec<(&str, &str)> = Vec::new();
    // Valid UTF-8 as a whole (the usual case) is checked once; otherwise line by line.
    let whole = std::str::from_utf8(text).ok();
    let lines: Box<dyn Iterator<Item = Option<&str>>> = match whole {
        Some(t) => Box::new(t.split('\n').map(Some)),
        None => Box::new(text.split(|b| *b == b'\n').map(|l| std::str::from_utf8(l).ok())),
    };
    for line in lines {
        let Some(line) = line else {
            malformed_lines += 1;
            continue;
        };
        let Some((key, value)) = line.split_once(':') else {
            if !line.trim().is_empty() {
                malformed_lines += 1;
            }
            continue;
        };
        if !key.starts_with("drm-") {
            continue;
        }
        let value = value.trim();
        match key {
            "drm-driver" => driver_name = Some(value),
            "drm-pdev" => match PciAddress::parse(value) {
                Some(a) => pdev = Some(a),
                None => pdev_bad = true,
            },
            "drm-client-id" => match number(value) {
                Some((id, "")) => client_id = Some(id),
                _ => client_id_bad = true,
            },
            _ => keyed.push((key, value)),
        }
    }
    let Some(driver_name) = driver_name else {
        return Ok(None);
    };
    let driver = Driver::from_name(driver_name);
    if client_id_bad || pdev_bad {
        return Err(Reason::Malformed);
    }
    let Some(client_id) = client_id else {
        return Err(Reason::Malformed);
    };
    let mut result = ClientCounters {
        driver_name: driver_name.chars().take(64).collect(),
        driver,
        pdev,
        client_id,
        engines: Vec::new(),
        memory: Vec::new(),
        malformed_lines,
    };
    let Some(driver) = driver else {
        // A foreign driver: identified, not read further.
        return Ok(Some(result));
    };
    for (key, value) in keyed {
        let rest = &key[4..];
        // `drm-total-cycles-` before `drm-total-` (a memory region key).
        if let Some(class) = rest.strip_prefix("total-cycles-") {
            let Some(e) = engine(&mut engines, driver, class) else { continue };
            match number(value) {
                Some((n, "")) => e.total_cycles = Some(n),
                _ => e.malformed = true,
            }
        } else if let Some(class) = rest.strip_prefix("cycles-") {
            let Some(e) = engine(&mut engines, driver, class) else { continue };
            match number(value) {
                Some((n, "")) => e.busy_cycles = Some(n),
                _ => e.malformed = true,
            }
        } else if let Some(class) = rest.strip_prefix("engine-capacity-") {
            let Some(e) = engine(&mut engines, driver, class) else { continue };
            match number(value) {
                Some((n, "")) if n > 0 => e.capacity = n,
                // Zero capacity is not allowed by the documentation.
                _ => e.malformed = true,
            }
        } else if let Some(class) = rest.strip_prefix("engine-") {
            let Some(e) = engine(&mut engines, driver, class) else { continue };
            match number(value) {
                Some((n, "ns")) => e.busy_ns = Some(n),
                _ => e.malformed = true,
            }
        } else {
            let (kind, region) = match rest.split_once('-') {
                Some(kr) => kr,
                None => continue,
            };
            // `drm-memory-<region>` is the older alias of `drm-resident-<region>`.
            if !matches!(kind, "total" | "resident" | "memory" | "shared" | "active" | "purgeable") {
                continue;
            }
            if region.is_empty() {
                result.malformed_lines += 1;
                continue;
            }
            let Some(n) = bytes(value) else {
                result.malformed_lines += 1;
                continue;
            };
            let r = match memory.iter().position(|m| m.region == region) {
                Some(i) => &mut memory[i],
                None if memory.len() < MAX_KEYS_PER_CLIENT => {
                    memory.push(MemoryRegion { region: region.to_string(), ..Default::default() });
                    memory.last_mut().expect("just pushed")
                }
                None => continue,
            };
            let slot = match kind {
                "total" => &mut r.total,
                "resident" | "memory" => &mut r.resident,
                "shared" => &mut r.shared,
                "active" => &mut r.active,
                _ => &mut r.purgeable,
            };
            *slot = Some(n);
        }
    }
    result.engines = engines;
    result.memory = memory;
    Ok(Some(result))
}

fn engine<'e>(
    engines: &'e mut Vec<EngineCounter>,
    driver: Driver,
    key: &str,
) -> Option<&'e mut EngineCounter> {
    if key.is_empty() {
        return None;
    }
    let class = EngineClass::from_key(driver, key);
    match engines.iter().position(|e| e.class == class) {
        Some(i) => Some(&mut engines[i]),
        None if engines.len() < MAX_KEYS_PER_CLIENT => {
            engines.push(EngineCounter {
                class,
                busy_ns: None,
                busy_cycles: None,
                total_cycles: None,
                capacity: 1,
                malformed: false,
            });
            engines.last_mut()
        }
        None => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn units_are_bytes_kib_mib() {
        assert_eq!(bytes("0"), Some(0));
        assert_eq!(bytes("192 KiB"), Some(192 * 1024));
        assert_eq!(bytes("16 MiB"), Some(16 << 20));
        assert_eq!(bytes("2 GiB"), Some(2 << 30));
        assert_eq!(bytes("5 kB"), None);
        assert_eq!(bytes("-5"), None);
        assert_eq!(bytes("99999999999999999999"), None, "beyond u64");
        assert_eq!(bytes("18014398509481984 GiB"), None, "overflow when scaled");
    }

    #[test]
    fn not_a_drm_fd_is_none() {
        assert_eq!(parse(b"pos:\t0\nflags:\t0100002\nmnt_id:\t26\nino:\t7\n"), Ok(None));
        assert_eq!(parse(b""), Ok(None));
    }

    #[test]
    fn a_drm_fd_without_client_id_is_malformed() {
        assert_eq!(parse(b"drm-driver:\txe\ndrm-pdev:\t0000:03:00.0\n"), Err(Reason::Malformed));
        assert_eq!(parse(b"drm-driver:\txe\ndrm-client-id:\tseven\n"), Err(Reason::Malformed));
        assert_eq!(
            parse(b"drm-driver:\txe\ndrm-client-id:\t7\ndrm-pdev:\t03:00.0\n"),
            Err(Reason::Malformed)
        );
    }
}
