//! Handles are tagged integers: never null, unique in the process (the tag puts them outside the
//! user address space), stable for the life of the process, and checked on every call.

use core::ffi::c_void;

const TAG_MASK: u64 = 0xFFFF << 48;

/// The tag of this instance's handles: its number (`instance::id`, 0..=15) in the tag's low
/// nibble keeps the handles of two loaded copies of the simulator apart.
fn tag() -> u64 {
    (0x5A5E ^ u64::from(crate::instance::id() & 0xF)) << 48
}

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

pub fn make(kind: Kind, device: usize, index: usize) -> *mut c_void {
    let raw = tag() | ((kind as u64) << 40) | (((device as u64) & 0xFFFF) << 24) | (index as u64 & 0xFF_FFFF);
    raw as usize as *mut c_void
}

/// (device, index) of a handle of this kind, if it is one of ours.
pub fn parse(handle: *mut c_void, kind: Kind) -> Option<(usize, usize)> {
    let raw = handle as usize as u64;
    if raw & TAG_MASK != tag() || (raw >> 40) & 0xFF != kind as u64 {
        return None;
    }
    Some((((raw >> 24) & 0xFFFF) as usize, (raw & 0xFF_FFFF) as usize))
}

/// The device a handle of any kind but the driver belongs to, if it is one of ours.
pub fn device_of(raw: usize) -> Option<usize> {
    let raw = raw as u64;
    let kind = (raw >> 40) & 0xFF;
    if raw & TAG_MASK != tag() || kind == Kind::Driver as u64 || kind == 0 || kind > Kind::Performance as u64
    {
        return None;
    }
    Some(((raw >> 24) & 0xFFFF) as usize)
}

pub fn driver() -> *mut c_void {
    make(Kind::Driver, 0, 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip() {
        let h = make(Kind::Engine, 3, 17);
        assert!(!h.is_null());
        assert_eq!(parse(h, Kind::Engine), Some((3, 17)));
        assert_eq!(parse(h, Kind::Power), None);
        assert_eq!(parse(core::ptr::null_mut(), Kind::Engine), None);
        assert_eq!(parse(0x1234 as *mut c_void, Kind::Engine), None);
        assert_ne!(make(Kind::Device, 0, 0), make(Kind::Device, 1, 0));
        assert_eq!(device_of(h as usize), Some(3));
        assert_eq!(device_of(driver() as usize), None);
        assert_eq!(device_of(0), None);
    }
}
