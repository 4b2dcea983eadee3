//! Safe, idiomatic Rust API for Intel GPU management and telemetry over Level Zero Sysman.
//!
//! The Level Zero library is opened at run time on first use (never at link time): an explicit
//! path, `$ZES_LIBRARY`, or `libze_loader.so.1` / `ze_loader.dll` through the dynamic linker.
//! Sysman is initialized with `zesInit` where the loader has it and the legacy way
//! (`ZES_ENABLE_SYSMAN=1` + `zeInit`) otherwise; [`Sysman::init_path`] says which was taken.
//!
//! ```no_run
//! use std::time::Duration;
//!
//! let sysman = zes::Sysman::init()?;
//! for device in sysman.devices()? {
//!     let props = device.properties()?;
//!     println!("{} {}", props.name, props.uuid);
//!     for power in device.power_domains()? {
//!         match power.energy_counter() {
//!             Ok(e) => println!("  energy {} uJ", e.energy),
//!             Err(e) if e.is_permission_denied() => println!("  energy: needs root"),
//!             Err(e) => return Err(e),
//!         }
//!     }
//!     let snap = device.snapshot(Duration::from_millis(200));
//!     println!("{}", snap.power_w.value().map_or("n/a".into(), |w| format!("{w:.1} W")));
//! }
//! # Ok::<(), zes::Error>(())
//! ```
//!
//! * Handles ([`Sysman`], [`Driver`], [`Device`], [`Power`], [`Engine`], ...) are `Clone + Send +
//!   Sync`, hold an `Arc` to the library and have no lifetimes.
//! * Errors carry the raw `ze_result_t`, its C name and the C function ([`Error`]).
//! * Enums are the open newtypes of [`sys`]: a value from a newer driver is kept, never an error.
//! * Extension structs are chained with type checking ([`Extensions`]).
//! * Rates (watts, utilization, bandwidth) come from two samples ([`metrics`]); snapshots read
//!   everything over one window and keep per-metric errors ([`snapshot`]).
#![deny(missing_debug_implementations)]

mod components;
mod device;
mod error;
pub mod metrics;
mod raw;
pub mod snapshot;
mod sysman;
mod types;

pub use components::*;
pub use device::*;
pub use error::{Error, ErrorClass, Result};
pub use raw::{Chain2, Extensions, MAX_ENUMERATION_COUNT};
pub use snapshot::{DeviceSnapshot, Reading, ReadingError};
pub use sysman::{Builder, Driver, DriverExtension, InitPath, Sysman};
pub use types::Uuid;

/// The raw declarations (`zes-sys`): C types, enums with their constants, the function table.
pub use zes_sys as sys;
