//! GPUs under `/sys/class/drm/card*`: identity, hwmon and gt frequencies.

use crate::fs::{read_small, reason_of, FileSystem};
use crate::{Driver, PciAddress, Reading, Reason, Source, MAX_ATTRIBUTE_BYTES, MAX_CARDS, MAX_SENSORS};
use serde::Serialize;
use std::path::Path;

/// One i915 or xe GPU.
#[derive(Clone, Debug, Serialize)]
pub struct Gpu {
    /// `card0`, ...
    pub card: String,
    pub pci_address: PciAddress,
    pub driver: Driver,
    /// The device-level hwmon directory (`hwmon3`), or why there is none.
    pub hwmon: Reading<String>,
    /// `energy1_input`: microjoules since an unspecified start.
    pub energy_uj: Reading<u64>,
    /// `power1_max`: the sustained (PL1) limit in microwatts; 0 means the limit is disabled.
    pub power_max_uw: Reading<u64>,
    /// `power1_crit`: the critical (I1) limit in microwatts.
    pub power_crit_uw: Reading<u64>,
    /// `temp<N>_input` (with `temp<N>_label`), by index.
    pub temperatures: Vec<Temperature>,
    /// `fan<N>_input`, by index.
    pub fans: Vec<Fan>,
    /// The gt frequencies, per tile and gt.
    pub frequencies: Reading<Vec<Frequency>>,
}

#[derive(Clone, Debug, Serialize)]
pub struct Temperature {
    pub index: u32,
    /// `temp<N>_label` (xe: `pkg`, `vram`), when the kernel gives one.
    pub label: Option<String>,
    pub millicelsius: Reading<i64>,
}

#[derive(Clone, Debug, Serialize)]
pub struct Fan {
    pub index: u32,
    pub rpm: Reading<u64>,
}

/// The frequencies of one gt: i915 `gt/gt<N>/rps_*_freq_mhz`, xe
/// `device/tile<T>/gt<N>/freq0/*_freq`. All in MHz.
#[derive(Clone, Debug, Serialize)]
pub struct Frequency {
    pub tile: u32,
    pub gt: u32,
    /// The frequency the hardware runs at.
    pub actual_mhz: Reading<u64>,
    /// The frequency the driver asked for (i915 `rps_cur_freq_mhz`, xe `cur_freq`).
    pub requested_mhz: Reading<u64>,
    pub min_mhz: Reading<u64>,
    pub max_mhz: Reading<u64>,
}

pub(crate) struct Attr<'a> {
    fs: &'a dyn FileSystem,
    buf: Vec<u8>,
}

impl<'a> Attr<'a> {
    pub(crate) fn new(fs: &'a dyn FileSystem) -> Self {
        Self { fs, buf: Vec::with_capacity(256) }
    }

    fn text(&mut self, path: &Path) -> Result<String, Reason> {
        let bytes = read_small(self.fs, path, MAX_ATTRIBUTE_BYTES, &mut self.buf, reason_of)?;
        let text = std::str::from_utf8(bytes).map_err(|_| Reason::Malformed)?;
        Ok(text.trim().to_string())
    }

    fn number<T: std::str::FromStr>(&mut self, path: &Path) -> Result<T, Reason> {
        let bytes = read_small(self.fs, path, MAX_ATTRIBUTE_BYTES, &mut self.buf, reason_of)?;
        let text = std::str::from_utf8(bytes).map_err(|_| Reason::Malformed)?.trim();
        // `FromStr` of integers accepts a leading `+`; sysfs numbers never have one.
        if text.is_empty() || text.starts_with('+') {
            return Err(Reason::Malformed);
        }
        text.parse().map_err(|_| Reason::Malformed)
    }

    fn reading<T: std::str::FromStr>(&mut self, source: Source, path: &Path) -> Reading<T> {
        Reading::new(source, self.number(path))
    }
}

/// The index `N` of a name `<prefix><N><suffix>`.
fn index_of(name: &str, prefix: &str, suffix: &str) -> Option<u32> {
    let n = name.strip_prefix(prefix)?.strip_suffix(suffix)?;
    (!n.is_empty() && n.len() <= 9 && n.bytes().all(|b| b.is_ascii_digit())).then(|| n.parse().ok()).flatten()
}

fn names(fs: &dyn FileSystem, dir: &Path, limit: usize) -> Result<Vec<String>, Reason> {
    let list = fs.list_dir(dir, limit).map_err(|e| reason_of(&e))?;
    Ok(list.into_iter().filter_map(|n| n.into_string().ok()).collect())
}

/// The i915 and xe GPUs under `<sysfs>/class/drm`, in card order; other drivers are skipped.
pub(crate) fn discover(fs: &dyn FileSystem, sysfs: &Path) -> (Vec<Gpu>, Option<Reason>) {
    let class = sysfs.join("class/drm");
    let mut cards: Vec<(u32, String)> = match names(fs, &class, 4 * MAX_CARDS) {
        Ok(n) => n.into_iter().filter_map(|n| index_of(&n, "card", "").map(|i| (i, n))).collect(),
        Err(r) => return (Vec::new(), Some(r)),
    };
    cards.sort();
    cards.truncate(MAX_CARDS);
    let mut attr = Attr::new(fs);
    let mut gpus = Vec::new();
    for (_, card) in cards {
        let card_dir = class.join(&card);
        let Some((driver, pci_address)) = identity(fs, &mut attr, &card_dir) else { continue };
        gpus.push(read_gpu(fs, &mut attr, card, &card_dir, driver, pci_address));
    }
    (gpus, None)
}

/// The driver and PCI address of a card: `device/uevent` (`DRIVER=`, `PCI_SLOT_NAME=`), else
/// the `device/driver` and `device` links. None for other drivers and non-PCI cards.
fn identity(fs: &dyn FileSystem, attr: &mut Attr, card_dir: &Path) -> Option<(Driver, PciAddress)> {
    let device = card_dir.join("device");
    if let Ok(uevent) = attr.text(&device.join("uevent")) {
        let mut driver = None;
        let mut slot = None;
        for line in uevent.lines() {
            if let Some(d) = line.strip_prefix("DRIVER=") {
                driver = Some(d.trim().to_string());
            } else if let Some(s) = line.strip_prefix("PCI_SLOT_NAME=") {
                slot = PciAddress::parse(s.trim());
            }
        }
        return Some((Driver::from_name(&driver?)?, slot?));
    }
    let last = |p: &Path| fs.read_link(p).ok()?.file_name()?.to_str().map(str::to_string);
    let driver = Driver::from_name(&last(&device.join("driver"))?)?;
    Some((driver, PciAddress::parse(&last(&device)?)?))
}

fn read_gpu(
    fs: &dyn FileSystem,
    attr: &mut Attr,
    card: String,
    card_dir: &Path,
    driver: Driver,
    pci_address: PciAddress,
) -> Gpu {
    let device = card_dir.join("device");
    let hwmon = find_hwmon(fs, attr, &device.join("hwmon"), driver);
    let (energy_uj, power_max_uw, power_crit_uw, temperatures, fans) = match &hwmon.value {
        Ok(name) => {
            let dir = device.join("hwmon").join(name);
            let (temperatures, fans) = sensors(fs, attr, &dir);
            (
                attr.reading(Source::Hwmon, &dir.join("energy1_input")),
                attr.reading(Source::Hwmon, &dir.join("power1_max")),
                attr.reading(Source::Hwmon, &dir.join("power1_crit")),
                temperatures,
                fans,
            )
        }
        Err(r) => {
            let absent = || Reading::new(Source::Hwmon, Err(*r));
            (absent(), absent(), absent(), Vec::new(), Vec::new())
        }
    };
    let frequencies = match driver {
        Driver::I915 => i915_frequencies(fs, attr, card_dir),
        Driver::Xe => xe_frequencies(fs, attr, &device),
    };
    Gpu {
        card,
        pci_address,
        driver,
        hwmon,
        energy_uj,
        power_max_uw,
        power_crit_uw,
        temperatures,
        fans,
        frequencies,
    }
}

/// The device-level hwmon: the one whose `name` is the driver's (i915 also has `i915_gt<N>`).
fn find_hwmon(fs: &dyn FileSystem, attr: &mut Attr, dir: &Path, driver: Driver) -> Reading<String> {
    let mut list = match names(fs, dir, MAX_SENSORS) {
        Ok(n) => n,
        Err(r) => return Reading::new(Source::Hwmon, Err(r)),
    };
    list.sort();
    let mut reason = Reason::Unsupported;
    for name in list.into_iter().filter(|n| index_of(n, "hwmon", "").is_some()) {
        match attr.text(&dir.join(&name).join("name")) {
            Ok(n) if n == driver.name() => return Reading::new(Source::Hwmon, Ok(name)),
            Ok(_) => {}
            Err(r) => reason = r,
        }
    }
    Reading::new(Source::Hwmon, Err(reason))
}

fn sensors(fs: &dyn FileSystem, attr: &mut Attr, dir: &Path) -> (Vec<Temperature>, Vec<Fan>) {
    let list = names(fs, dir, 16 * MAX_SENSORS).unwrap_or_default();
    let mut temp_idx: Vec<u32> = list.iter().filter_map(|n| index_of(n, "temp", "_input")).collect();
    let mut fan_idx: Vec<u32> = list.iter().filter_map(|n| index_of(n, "fan", "_input")).collect();
    for v in [&mut temp_idx, &mut fan_idx] {
        v.sort_unstable();
        v.dedup();
        v.truncate(MAX_SENSORS);
    }
    let temperatures = temp_idx
        .into_iter()
        .map(|i| Temperature {
            index: i,
            label: attr.text(&dir.join(format!("temp{i}_label"))).ok().filter(|l| !l.is_empty()),
            millicelsius: attr.reading(Source::Hwmon, &dir.join(format!("temp{i}_input"))),
        })
        .collect();
    let fans = fan_idx
        .into_iter()
        .map(|i| Fan { index: i, rpm: attr.reading(Source::Hwmon, &dir.join(format!("fan{i}_input"))) })
        .collect();
    (temperatures, fans)
}

fn i915_frequencies(fs: &dyn FileSystem, attr: &mut Attr, card_dir: &Path) -> Reading<Vec<Frequency>> {
    let read = |attr: &mut Attr, dir: &Path, tile, gt, prefix: &str| Frequency {
        tile,
        gt,
        actual_mhz: attr.reading(Source::Sysfs, &dir.join(format!("{prefix}act_freq_mhz"))),
        requested_mhz: attr.reading(Source::Sysfs, &dir.join(format!("{prefix}cur_freq_mhz"))),
        min_mhz: attr.reading(Source::Sysfs, &dir.join(format!("{prefix}min_freq_mhz"))),
        max_mhz: attr.reading(Source::Sysfs, &dir.join(format!("{prefix}max_freq_mhz"))),
    };
    match names(fs, &card_dir.join("gt"), MAX_SENSORS) {
        Ok(list) => {
            let mut gts: Vec<u32> = list.iter().filter_map(|n| index_of(n, "gt", "")).collect();
            gts.sort_unstable();
            // i915 numbers one gt per tile.
            let v = gts
                .into_iter()
                .map(|g| read(attr, &card_dir.join(format!("gt/gt{g}")), g, g, "rps_"))
                .collect();
            Reading::new(Source::Sysfs, Ok(v))
        }
        // Kernels before the per-gt directories: `gt_*_freq_mhz` on the card.
        Err(Reason::Unsupported) => {
            let f = read(attr, card_dir, 0, 0, "gt_");
            match f.actual_mhz.value {
                Err(Reason::Unsupported) => Reading::new(Source::Sysfs, Err(Reason::Unsupported)),
                _ => Reading::new(Source::Sysfs, Ok(vec![f])),
            }
        }
        Err(r) => Reading::new(Source::Sysfs, Err(r)),
    }
}

fn xe_frequencies(fs: &dyn FileSystem, attr: &mut Attr, device: &Path) -> Reading<Vec<Frequency>> {
    let list = match names(fs, device, 4096) {
        Ok(l) => l,
        Err(r) => return Reading::new(Source::Sysfs, Err(r)),
    };
    let mut tiles: Vec<u32> = list.iter().filter_map(|n| index_of(n, "tile", "")).collect();
    tiles.sort_unstable();
    tiles.truncate(MAX_SENSORS);
    let mut out = Vec::new();
    let mut reason = Reason::Unsupported;
    for t in tiles {
        let tile_dir = device.join(format!("tile{t}"));
        let mut gts: Vec<u32> = match names(fs, &tile_dir, MAX_SENSORS) {
            Ok(l) => l.iter().filter_map(|n| index_of(n, "gt", "")).collect(),
            Err(r) => {
                reason = r;
                continue;
            }
        };
        gts.sort_unstable();
        for g in gts {
            let dir = tile_dir.join(format!("gt{g}/freq0"));
            out.push(Frequency {
                tile: t,
                gt: g,
                actual_mhz: attr.reading(Source::Sysfs, &dir.join("act_freq")),
                requested_mhz: attr.reading(Source::Sysfs, &dir.join("cur_freq")),
                min_mhz: attr.reading(Source::Sysfs, &dir.join("min_freq")),
                max_mhz: attr.reading(Source::Sysfs, &dir.join("max_freq")),
            });
        }
    }
    if out.is_empty() {
        return Reading::new(Source::Sysfs, Err(reason));
    }
    Reading::new(Source::Sysfs, Ok(out))
}

#[cfg(test)]
mod tests {
    use super::index_of;

    #[test]
    fn indices() {
        assert_eq!(index_of("temp2_input", "temp", "_input"), Some(2));
        assert_eq!(index_of("temp_input", "temp", "_input"), None);
        assert_eq!(index_of("temp2_label", "temp", "_input"), None);
        assert_eq!(index_of("card12", "card", ""), Some(12));
        assert_eq!(index_of("card0-DP-1", "card", ""), None);
        assert_eq!(index_of("card99999999999", "card", ""), None);
    }
}
