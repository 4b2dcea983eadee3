//! Raw declarations of the Level Zero Sysman API (`zes*`), loaded at run time.
//!
//! Everything in [`generated`] follows from `abi/sysman.json`, the project's single description
//! of the ABI: structs are `#[repr(C)]` with the C layout (checked against the C headers by a
//! compiled C program), enums and flags are *open* newtypes over `u32` so that values a newer
//! driver returns are data, never undefined behaviour, and every function is an `Option` of a
//! function pointer resolved on its own from the library that was opened (see [`Library`]).
//!
//! Names are the C names, so the C documentation applies as is. The safe API is the `zes` crate.
#![allow(non_camel_case_types, non_snake_case, non_upper_case_globals)]
#![allow(clippy::missing_safety_doc, clippy::too_many_arguments)]

use core::ffi::c_char;

/// A Level Zero API version (`ZE_MAKE_VERSION(major, minor)`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Version {
    pub major: u16,
    pub minor: u16,
}

impl Version {
    pub const fn new(major: u16, minor: u16) -> Self {
        Self { major, minor }
    }
    /// The encoding of `ZE_MAKE_VERSION` (`major << 16 | minor`).
    pub const fn to_raw(self) -> u32 {
        ((self.major as u32) << 16) | self.minor as u32
    }
    pub const fn from_raw(raw: u32) -> Self {
        Self::new((raw >> 16) as u16, (raw & 0xffff) as u16)
    }
}

impl core::fmt::Display for Version {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "{}.{}", self.major, self.minor)
    }
}

/// Direction of a parameter, from the `[in]`/`[out]`/`[in,out]` annotations of the spec.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Direction {
    In,
    Out,
    InOut,
}

/// One parameter of a function, as the ABI description states it.
#[derive(Clone, Copy, Debug)]
pub struct ParamInfo {
    pub name: &'static str,
    /// The C type with pointers and `const` removed (`zes_device_properties_t`, `uint32_t`).
    pub c_type: &'static str,
    pub pointer_depth: u8,
    pub is_const: bool,
    pub direction: Direction,
    pub optional: bool,
    /// The spec's `range(...)` annotation, e.g. `0, *pCount` for arrays sized by a count.
    pub range: Option<&'static str>,
}

/// One function of the ABI.
#[derive(Clone, Copy, Debug)]
pub struct FunctionInfo {
    pub name: &'static str,
    /// Spec version that introduced the function.
    pub since: Version,
    /// Experimental functions (`...Exp`) may have to be resolved through
    /// `zesDriverGetExtensionFunctionAddress` rather than as exports.
    pub experimental: bool,
    /// The driver dispatch table that carries the function.
    pub table: Option<&'static str>,
    pub params: &'static [ParamInfo],
}

/// Looks up the metadata of a function by its C name.
pub fn function_info(name: &str) -> Option<&'static FunctionInfo> {
    generated::FUNCTIONS.iter().find(|f| f.name == name)
}

/// A struct that starts with `stype` and `pNext` and can be part of an extension chain.
///
/// # Safety
/// Implementors must be `#[repr(C)]` structs whose first two fields are a 32-bit structure type
/// and a `pNext` pointer, and `STYPE` must be the structure type the spec assigns to them.
pub unsafe trait Chainable: Copy + Default {
    const STYPE: u32;
    const NAME: &'static str;
}

/// `Self` may be chained on the `pNext` of `Base`.
///
/// # Safety
/// Only for pairs the spec allows; drivers write `Self` where they find its structure type.
pub unsafe trait Extends<Base: Chainable>: Chainable {}

/// The text of a fixed-size, NUL-terminated C string field, lossily decoded as UTF-8.
pub fn c_chars_to_str(chars: &[c_char]) -> String {
    let bytes: Vec<u8> = chars.iter().take_while(|&&c| c != 0).map(|&c| c as u8).collect();
    String::from_utf8_lossy(&bytes).into_owned()
}

/// Writes `text` into a fixed-size C string field, truncated so that a NUL always ends it.
pub fn str_to_c_chars(text: &str, chars: &mut [c_char]) {
    let n = text.len().min(chars.len().saturating_sub(1));
    for (dst, &src) in chars.iter_mut().zip(&text.as_bytes()[..n]) {
        *dst = src as c_char;
    }
    for dst in &mut chars[n..] {
        *dst = 0;
    }
}

macro_rules! define_handle {
    ($name:ident) => {
        /// An opaque handle owned by the driver (null when unset).
        #[repr(transparent)]
        #[derive(Clone, Copy, PartialEq, Eq, Hash)]
        pub struct $name(pub *mut core::ffi::c_void);
        impl $name {
            pub const NULL: Self = Self(core::ptr::null_mut());
            pub fn is_null(self) -> bool {
                self.0.is_null()
            }
            pub fn as_raw(self) -> usize {
                self.0 as usize
            }
            pub fn from_raw(raw: usize) -> Self {
                Self(raw as *mut core::ffi::c_void)
            }
        }
        impl Default for $name {
            fn default() -> Self {
                Self::NULL
            }
        }
        impl core::fmt::Debug for $name {
            fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
                write!(f, concat!(stringify!($name), "({:#x})"), self.0 as usize)
            }
        }
        // SAFETY: a handle is an opaque identifier that this crate never dereferences; the
        // Level Zero spec makes Sysman calls on a handle safe from any thread.
        unsafe impl Send for $name {}
        // SAFETY: as above, sharing the identifier across threads shares nothing else.
        unsafe impl Sync for $name {}
    };
}

macro_rules! define_enum {
    ($name:ident) => {
        /// An open C enum: any `u32` is a valid value; the known ones are associated constants.
        #[repr(transparent)]
        #[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
        pub struct $name(pub u32);
        impl $name {
            /// The C name of this value, if it is one this ABI description knows.
            pub fn name(self) -> Option<&'static str> {
                Self::KNOWN.iter().find(|k| k.1 == self.0).map(|k| k.0)
            }
        }
        impl core::fmt::Debug for $name {
            fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
                match self.name() {
                    Some(name) => f.write_str(name),
                    None => write!(f, concat!(stringify!($name), "({:#x})"), self.0),
                }
            }
        }
        impl From<u32> for $name {
            fn from(raw: u32) -> Self {
                Self(raw)
            }
        }
        impl From<$name> for u32 {
            fn from(value: $name) -> u32 {
                value.0
            }
        }
    };
}

macro_rules! define_flags {
    ($name:ident) => {
        /// An open bit set: unknown bits are kept as they are.
        #[repr(transparent)]
        #[derive(Clone, Copy, PartialEq, Eq, Hash, Default)]
        pub struct $name(pub u32);
        impl $name {
            pub const EMPTY: Self = Self(0);
            pub fn contains(self, other: Self) -> bool {
                self.0 & other.0 == other.0
            }
            pub fn is_empty(self) -> bool {
                self.0 == 0
            }
            /// C names of the known bits that are set.
            pub fn names(self) -> Vec<&'static str> {
                Self::KNOWN.iter().filter(|k| k.1 != 0 && self.0 & k.1 == k.1).map(|k| k.0).collect()
            }
            /// The bits set that this ABI description does not know.
            pub fn unknown_bits(self) -> u32 {
                Self::KNOWN.iter().fold(self.0, |rest, k| rest & !k.1)
            }
        }
        impl core::ops::BitOr for $name {
            type Output = Self;
            fn bitor(self, rhs: Self) -> Self {
                Self(self.0 | rhs.0)
            }
        }
        impl core::ops::BitOrAssign for $name {
            fn bitor_assign(&mut self, rhs: Self) {
                self.0 |= rhs.0
            }
        }
        impl core::ops::BitAnd for $name {
            type Output = Self;
            fn bitand(self, rhs: Self) -> Self {
                Self(self.0 & rhs.0)
            }
        }
        impl core::fmt::Debug for $name {
            fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
                let mut names = self.names().join(" | ");
                if self.unknown_bits() != 0 {
                    if !names.is_empty() {
                        names.push_str(" | ");
                    }
                    names.push_str(&format!("{:#x}", self.unknown_bits()));
                }
                if names.is_empty() {
                    names.push('0');
                }
                write!(f, concat!(stringify!($name), "({})"), names)
            }
        }
        impl From<u32> for $name {
            fn from(raw: u32) -> Self {
                Self(raw)
            }
        }
    };
}

#[rustfmt::skip]
pub mod generated;
pub mod library;

pub use generated::*;
pub use library::{Library, LibraryKind, LoadError};

impl ze_result_t {
    pub fn is_success(self) -> bool {
        self == ZE_RESULT_SUCCESS
    }
    /// The C name of the result (`ZE_RESULT_ERROR_UNKNOWN` style), or its hex value if unknown.
    pub fn name_or_hex(self) -> String {
        self.name().map(str::to_owned).unwrap_or_else(|| format!("{:#x}", self.0))
    }
}
