//! pyzes simulated Level Zero Sysman driver.
//!
//! Loaded by the real Level Zero loader (`ZE_ENABLE_ALT_DRIVERS=/path/libzes_sim.so`) or opened
//! directly by `zes_sys::Library`, it exports only the `*Get*ProcAddrTable` getters and
//! `zesSimControl`. See README.md for the device presets, the machine file and the control API.
#![allow(non_camel_case_types, non_snake_case)]

pub mod config;
pub mod control;
mod driver;
pub mod edge;
pub mod faults;
pub mod handles;
pub mod model;
pub mod params;
pub mod state;

#[rustfmt::skip]
#[allow(clippy::all, clippy::undocumented_unsafe_blocks, unused_variables, dead_code, non_snake_case, clippy::missing_safety_doc)]
pub mod generated;

pub use control::control;
pub use generated::{Driver, FUNCTION_NAMES};
