//! Small value types shared by the modules.

use std::fmt;

use serde::{Serialize, Serializer};

/// A 16-byte device or sub-device UUID, displayed as `xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx`.
///
/// Level Zero stores UUIDs as little-endian bytes; this type displays the bytes in the order the
/// driver gave them (`id[0]` first), as the Level Zero tools do.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct Uuid(pub [u8; 16]);

impl Uuid {
    /// The raw bytes.
    pub fn bytes(&self) -> [u8; 16] {
        self.0
    }

    /// All zero (the driver did not fill it in).
    pub fn is_nil(&self) -> bool {
        self.0 == [0; 16]
    }
}

impl fmt::Display for Uuid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, byte) in self.0.iter().enumerate() {
            if matches!(i, 4 | 6 | 8 | 10) {
                f.write_str("-")?;
            }
            write!(f, "{byte:02x}")?;
        }
        Ok(())
    }
}

impl fmt::Debug for Uuid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Uuid({self})")
    }
}

impl Serialize for Uuid {
    fn serialize<S: Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

/// The short name of an open-enum value with the C prefix removed (`COMPUTE_ALL` for
/// `ZES_ENGINE_GROUP_COMPUTE_ALL`), or `UNKNOWN(0x..)` for a value this crate does not know.
pub(crate) fn label(name: Option<&str>, raw: u32, prefix: &str) -> String {
    match name {
        Some(n) => n.strip_prefix(prefix).unwrap_or(n).to_owned(),
        None => format!("UNKNOWN({raw:#x})"),
    }
}

/// A fixed-size C string field, `None` when empty or the driver says `unknown`.
pub(crate) fn known_string(chars: &[core::ffi::c_char]) -> Option<String> {
    let s = zes_sys::c_chars_to_str(chars);
    let t = s.trim();
    if t.is_empty() || t.eq_ignore_ascii_case("unknown") {
        None
    } else {
        Some(t.to_owned())
    }
}

/// `-1` (and any negative value) is the spec's "unknown".
pub(crate) fn known_i32(v: i32) -> Option<i32> {
    (v >= 0).then_some(v)
}

/// `-1` is the spec's "unknown" for the f64 fields too.
pub(crate) fn known_f64(v: f64) -> Option<f64> {
    (v >= 0.0 && v.is_finite()).then_some(v)
}

pub(crate) fn sub(on_subdevice: u8, id: u32) -> Option<u32> {
    (on_subdevice != 0).then_some(id)
}

/// Defines a component handle type: the device it belongs to plus the raw handle.
macro_rules! component {
    ($(#[$doc:meta])* $name:ident, $raw:ty) => {
        $(#[$doc])*
        #[derive(Clone)]
        pub struct $name {
            pub(crate) device: crate::Device,
            pub(crate) handle: $raw,
        }
        impl $name {
            /// The raw handle.
            pub fn raw(&self) -> $raw {
                self.handle
            }
            /// The device this component belongs to.
            pub fn device(&self) -> &crate::Device {
                &self.device
            }
            pub(crate) fn api(&self) -> &crate::raw::Api {
                self.device.api()
            }
        }
        impl core::fmt::Debug for $name {
            fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
                f.debug_tuple(stringify!($name)).field(&self.handle).finish()
            }
        }
    };
}
pub(crate) use component;
