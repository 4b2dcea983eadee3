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
pub mod instance;
pub mod kernel_tree;
pub mod model;
pub mod params;
pub mod state;
pub mod testing;

#[rustfmt::skip]
#[allow(clippy::all, clippy::undocumented_unsafe_blocks, unused_variables, dead_code, non_snake_case, clippy::missing_safety_doc)]
pub mod generated;

pub use control::control;
pub use generated::{getter_address, Driver, FUNCTION_NAMES};

/// The simulated driver linked into this process, as a library the bindings can use.
pub fn in_process_library() -> zes_sys::Library {
    // SAFETY: `getter_address` returns this crate's getters, which honour the version asked for.
    unsafe { zes_sys::Library::in_process("zes-sim (in process)", getter_address) }
}

#[cfg(test)]
mod table_tests {
    use crate::generated::*;
    use zes_sys::*;

    /// A 1.4 loader's table is smaller: bytes after its 1.4 part must survive.
    #[test]
    fn getters_respect_the_version() {
        let old = zes_device_dditable_t::ENTRIES.iter().filter(|e| e.1 <= Version::new(1, 4)).count();
        let total = zes_device_dditable_t::ENTRIES.len();
        assert!(old < total);
        let mut buf = vec![0xA5u8; core::mem::size_of::<zes_device_dditable_t>()];
        let table = buf.as_mut_ptr().cast::<zes_device_dditable_t>();
        // SAFETY: the buffer holds a whole table; only the 1.4 part may be written.
        let rc = unsafe { zesGetDeviceProcAddrTable(ZE_API_VERSION_1_4, table) };
        assert_eq!(rc, ZE_RESULT_SUCCESS);
        assert!(buf[old * 8..].iter().all(|b| *b == 0xA5), "canary overwritten");
        assert!(buf[..old * 8].chunks(8).all(|c| c != [0xA5; 8]));
        let mut full = zes_device_dditable_t::default();
        // SAFETY: a whole table of the newest layout.
        assert_eq!(unsafe { zesGetDeviceProcAddrTable(ZE_API_VERSION_1_16, &mut full) }, ZE_RESULT_SUCCESS);
        let mut full17 = zes_device_dditable_t::default();
        // SAFETY: as above.
        let rc = unsafe { zesGetDeviceProcAddrTable(ze_api_version_t(0x10011), &mut full17) };
        assert_eq!(rc, ZE_RESULT_SUCCESS);
        // SAFETY: reading the table as pointer-sized words.
        let words: &[usize; 38] = unsafe { &*(&full17 as *const zes_device_dditable_t).cast() };
        assert_eq!(total, 38);
        assert!(words.iter().all(|w| *w != 0), "all entries set for 1.17");
        // SAFETY: null table and a wrong major version are rejected.
        unsafe {
            assert_eq!(
                zesGetDeviceProcAddrTable(ZE_API_VERSION_1_4, core::ptr::null_mut()),
                ZE_RESULT_ERROR_INVALID_NULL_POINTER
            );
            assert_eq!(
                zesGetDeviceProcAddrTable(ze_api_version_t(0x20000), &mut full),
                ZE_RESULT_ERROR_UNSUPPORTED_VERSION
            );
        }
    }
}

#[cfg(test)]
mod in_process_tests {
    #[test]
    fn the_in_process_library_resolves_functions_through_the_getters() {
        let lib = crate::in_process_library();
        assert_eq!(lib.kind(), zes_sys::LibraryKind::Driver);
        let functions = lib.functions();
        assert!(functions.zesInit.is_some());
        assert!(functions.zeInit.is_some(), "legacy path served too");
        assert!(functions.zesDriverGetDeviceByUuidExp.is_some(), "experimental table");
        assert!(crate::getter_address(c"zesGetNoSuchTable").is_null());
    }

    /// The only test of this binary that initializes the (process-wide) simulator: each entry
    /// point answers UNINITIALIZED until its own init ran; the legacy path serves zesDeviceGet.
    #[test]
    fn entry_points_need_their_init() {
        use zes_sys::*;
        let lib = crate::in_process_library();
        let f = lib.functions();
        let mut n = 0u32;
        let driver = ze_driver_handle_t(crate::handles::driver());
        // SAFETY: valid count pointers and null arrays (count queries) throughout.
        unsafe {
            assert_eq!(f.zeDriverGet.unwrap()(&mut n, core::ptr::null_mut()), ZE_RESULT_ERROR_UNINITIALIZED);
            assert_eq!(
                f.zeDeviceGet.unwrap()(driver, &mut n, core::ptr::null_mut()),
                ZE_RESULT_ERROR_UNINITIALIZED
            );
            assert_eq!(
                f.zesDeviceGet.unwrap()(driver, &mut n, core::ptr::null_mut()),
                ZE_RESULT_ERROR_UNINITIALIZED
            );
            assert_eq!(f.zeInit.unwrap()(ze_init_flags_t(0)), ZE_RESULT_SUCCESS);
            assert_eq!(f.zeDriverGet.unwrap()(&mut n, core::ptr::null_mut()), ZE_RESULT_SUCCESS);
            assert_eq!(n, 1);
            n = 0;
            assert_eq!(f.zesDeviceGet.unwrap()(driver, &mut n, core::ptr::null_mut()), ZE_RESULT_SUCCESS);
            assert_eq!(n, 3, "the default machine");
            assert_eq!(f.zesDriverGet.unwrap()(&mut n, core::ptr::null_mut()), ZE_RESULT_ERROR_UNINITIALIZED);
            assert_eq!(f.zesInit.unwrap()(zes_init_flags_t(0)), ZE_RESULT_SUCCESS);
            assert_eq!(f.zesDriverGet.unwrap()(&mut n, core::ptr::null_mut()), ZE_RESULT_SUCCESS);
            let bad = ze_driver_handle_t::from_raw(0x1234);
            assert_eq!(
                f.zeDeviceGet.unwrap()(bad, &mut n, core::ptr::null_mut()),
                ZE_RESULT_ERROR_INVALID_NULL_HANDLE
            );
        }
    }
}
