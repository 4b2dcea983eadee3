#![allow(dead_code)]
//! The shared test support lives in the library (`zes_sim::testing`), so that other crates'
//! tests use the same helpers.
pub use zes_sim::testing::{control, library_path as sim_so};
