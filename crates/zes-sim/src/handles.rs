//! Handles are tagged integers, checked on every call. Layout of the 64 bits (high to low):
//!
//! | bits  | field      | why |
//! | ----- | ---------- | --- |
//! | 63-48 | tag 0x5A5E | never null, and outside every user address space (x86-64 and 48-bit arm64 user space ends below bit 48, even with top-byte-ignore) |
//! | 47-44 | kind       | a power handle is never taken for an engine handle |
//! | 43-40 | instance   | a second copy of the simulator in the same process ([`set_instance`]) hands out other values |
//! | 39-32 | device     | [`MAX_DEVICES`] devices at most (the machine file and presets are capped to it) |
//! | 31-20 | index      | [`MAX_COMPONENTS`] components of one kind per device at most |
//! | 19-0  | generation | bumped by every rebuild of the machine: older handles are refused, never read another device |
//!
//! The driver handle carries no generation: a loader caches it at init, and it stays valid for
//! the life of the process. A handle of an older machine (or of another instance) is refused with
//! `ZE_RESULT_ERROR_INVALID_NULL_HANDLE`, the code the validation layer's handle-lifetime checks
//! give for a handle that is no longer valid.

use core::ffi::c_void;
use std::sync::atomic::{AtomicU64, Ordering};

const TAG: u64 = 0x5A5E << 48;
const TAG_MASK: u64 = 0xFFFF << 48;
const KIND_SHIFT: u32 = 44;
const INSTANCE_SHIFT: u32 = 40;
const DEVICE_SHIFT: u32 = 32;
const INDEX_SHIFT: u32 = 20;
const GENERATION_BITS: u32 = 20;
const GENERATION_MASK: u64 = (1 << GENERATION_BITS) - 1;

/// Most devices a machine may have: a real system has a few dozen GPUs at most.
pub const MAX_DEVICES: usize = 256;
/// Most components of one kind on one device (engine groups, firmwares...), and sub-devices + 1.
pub const MAX_COMPONENTS: usize = 4096;
/// Most instances of the simulator in one process that hand out distinct handles.
pub const MAX_INSTANCES: u8 = 16;
/// Most rebuilds of the machine in one process: past it a rebuild is refused, since the
/// generation field would wrap and old handles could again look current.
pub const MAX_GENERATION: u64 = GENERATION_MASK;

static GENERATION: AtomicU64 = AtomicU64::new(0);
static INSTANCE: AtomicU64 = AtomicU64::new(0);

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum Kind {
    Driver = 1,
    /// index 0 is the root device, index s + 1 its sub-device s.
    Device,
    Memory,
    Power,
    Frequency,
    Temperature,
    Engine,
    Fan,
    Firmware,
    Ras,
    Standby,
    Scheduler,
    Performance,
}

/// The generation of the current machine (0 for the first one).
pub fn generation() -> u64 {
    GENERATION.load(Ordering::SeqCst)
}

/// Starts a new generation: every handle handed out before is refused from now on. Called with
/// the machine's lock held, while the machine is replaced. Errors after [`MAX_GENERATION`]
/// rebuilds (the current machine then stays).
pub fn next_generation() -> Result<(), String> {
    GENERATION.fetch_update(Ordering::SeqCst, Ordering::SeqCst, following).map(|_| ()).map_err(|_| {
        format!("the machine was rebuilt {MAX_GENERATION} times in this process; handles would repeat")
    })
}

/// The generation after `g`, unless the field would wrap.
fn following(g: u64) -> Option<u64> {
    (g < MAX_GENERATION).then_some(g + 1)
}

/// Makes this copy of the simulator hand out handles of its own (for a second copy of the library
/// loaded as another driver in the same process). Instance 0 is the default.
pub fn set_instance(instance: u8) -> Result<(), String> {
    if instance >= MAX_INSTANCES {
        return Err(format!("instance: expected 0 to {}", MAX_INSTANCES - 1));
    }
    INSTANCE.store(instance as u64, Ordering::SeqCst);
    Ok(())
}

fn prefix(instance: u64, kind: Kind) -> u64 {
    TAG | ((kind as u64) << KIND_SHIFT) | (instance << INSTANCE_SHIFT)
}

fn encode(instance: u64, generation: u64, kind: Kind, device: usize, index: usize) -> u64 {
    assert!(device < MAX_DEVICES && index < MAX_COMPONENTS, "handle fields out of range");
    let generation = if kind == Kind::Driver { 0 } else { generation & GENERATION_MASK };
    prefix(instance, kind) | ((device as u64) << DEVICE_SHIFT) | ((index as u64) << INDEX_SHIFT) | generation
}

fn decode(raw: u64, instance: u64, generation: u64, kind: Kind) -> Option<(usize, usize)> {
    let fixed = TAG_MASK | (0xFF << INSTANCE_SHIFT);
    if raw & fixed != prefix(instance, kind) {
        return None;
    }
    let generation = if kind == Kind::Driver { 0 } else { generation & GENERATION_MASK };
    if raw & GENERATION_MASK != generation {
        return None;
    }
    Some((((raw >> DEVICE_SHIFT) & 0xFF) as usize, ((raw >> INDEX_SHIFT) & 0xFFF) as usize))
}

/// The handle of component `index` of `kind` on `device`, in the current generation. `device`
/// and `index` are below [`MAX_DEVICES`] and [`MAX_COMPONENTS`] (the configuration's caps).
pub fn make(kind: Kind, device: usize, index: usize) -> *mut c_void {
    let raw = encode(INSTANCE.load(Ordering::SeqCst), generation(), kind, device, index);
    raw as usize as *mut c_void
}

/// (device, index) of a handle of this kind, if it is one of ours of the current generation.
pub fn parse(handle: *mut c_void, kind: Kind) -> Option<(usize, usize)> {
    decode(handle as usize as u64, INSTANCE.load(Ordering::SeqCst), generation(), kind)
}

/// The device a handle of any kind but the driver belongs to, if it is one of ours (of any
/// generation: this only picks the latency of a call, the call itself checks the handle).
pub fn device_of(raw: usize) -> Option<usize> {
    let raw = raw as u64;
    let kind = (raw >> KIND_SHIFT) & 0xF;
    if raw & TAG_MASK != TAG || kind <= Kind::Driver as u64 || kind > Kind::Performance as u64 {
        return None;
    }
    Some(((raw >> DEVICE_SHIFT) & 0xFF) as usize)
}

pub fn driver() -> *mut c_void {
    make(Kind::Driver, 0, 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip() {
        let h = encode(0, 0, Kind::Engine, 3, 17);
        assert_ne!(h, 0);
        assert_eq!(h >> 48, 0x5A5E, "outside the user address space");
        assert_eq!(decode(h, 0, 0, Kind::Engine), Some((3, 17)));
        assert_eq!(decode(h, 0, 0, Kind::Power), None);
        assert_eq!(decode(0, 0, 0, Kind::Engine), None);
        assert_eq!(decode(0x1234, 0, 0, Kind::Engine), None);
        assert_ne!(encode(0, 0, Kind::Device, 0, 0), encode(0, 0, Kind::Device, 1, 0));
        assert_eq!(device_of(h as usize), Some(3));
        assert_eq!(device_of(driver() as usize), None);
        assert_eq!(device_of(0), None);
        let last = encode(0, 0, Kind::Firmware, MAX_DEVICES - 1, MAX_COMPONENTS - 1);
        assert_eq!(decode(last, 0, 0, Kind::Firmware), Some((MAX_DEVICES - 1, MAX_COMPONENTS - 1)));
        assert_ne!(last, encode(0, 0, Kind::Firmware, 0, 0));
        let p = make(Kind::Power, 2, 5);
        assert_eq!(parse(p, Kind::Power), Some((2, 5)));
    }

    #[test]
    fn a_rebuild_refuses_older_handles_but_keeps_the_driver_handle() {
        let old = encode(0, 7, Kind::Device, 0, 0);
        assert_eq!(decode(old, 0, 8, Kind::Device), None, "stale handle refused");
        assert_ne!(encode(0, 8, Kind::Device, 0, 0), old, "never the same value again");
        assert_eq!(device_of(old as usize), Some(0), "the latency lookup needs no generation");
        let drv = encode(0, 7, Kind::Driver, 0, 0);
        assert_eq!(drv, encode(0, 8, Kind::Driver, 0, 0));
        assert_eq!(decode(drv, 0, 8, Kind::Driver), Some((0, 0)));
        // Every generation the field holds is distinct; the last one has no successor.
        assert_eq!(following(0), Some(1));
        assert_eq!(following(MAX_GENERATION - 1), Some(MAX_GENERATION));
        assert_eq!(following(MAX_GENERATION), None);
        let newest = encode(0, MAX_GENERATION, Kind::Device, 0, 0);
        assert_ne!(newest, encode(0, 0, Kind::Device, 0, 0));
        assert_eq!(decode(newest, 0, MAX_GENERATION, Kind::Device), Some((0, 0)));
    }

    #[test]
    fn another_instance_hands_out_other_values() {
        let mine = encode(0, 3, Kind::Device, 0, 0);
        let theirs = encode(1, 3, Kind::Device, 0, 0);
        assert_ne!(mine, theirs);
        assert_eq!(decode(mine, 1, 3, Kind::Device), None);
        assert_ne!(encode(0, 0, Kind::Driver, 0, 0), encode(1, 0, Kind::Driver, 0, 0));
        assert_eq!(device_of(theirs as usize), Some(0));
        assert!(set_instance(MAX_INSTANCES).is_err());
    }
}
