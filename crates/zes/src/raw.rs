//! The raw layer: the only module of the crate with `unsafe`.
//!
//! Every C call goes through one of the shape helpers below. Each takes a function pointer of the
//! exact generated `PFN_*` type (so the Rust signature is the C signature), and passes pointers to
//! live, properly typed Rust values only. Resolution of missing and experimental functions and
//! the two-call enumeration protocol live here too.

use core::ffi::{c_char, c_void};
use std::collections::HashMap;
use std::ffi::CString;
use std::sync::{Arc, Mutex, OnceLock};

use zes_sys::{
    ze_result_t, zes_driver_handle_t, Chainable, Extends, FunctionTable, Library, ZE_RESULT_SUCCESS,
};

use crate::error::{Error, Result};

/// How many times a two-call enumeration is retried when the count keeps changing.
const ENUM_RETRIES: usize = 8;

/// The largest count any two-call enumeration accepts from the driver (65,536): devices,
/// drivers, components of every kind, processes, available clocks, power limits, BARs, engine
/// activities. Far above what a real device reports (hundreds of clocks, thousands of
/// processes), it bounds what a faulty or hostile driver can make the binding allocate (65,536
/// elements of the largest enumerated struct is a few tens of MB). A larger count is refused
/// with [`Error::CountTooLarge`], naming the function and the count; nothing is allocated for it.
pub const MAX_ENUMERATION_COUNT: u32 = 1 << 16;

/// The resolved functions of one opened library, plus what is needed to resolve the rest.
pub(crate) struct Api {
    pub(crate) table: FunctionTable,
    /// Keeps the code behind every pointer of `table` mapped.
    code: Code,
    /// Set once initialization succeeded (loaders report their version only after `zeInit`).
    loader_version: OnceLock<Option<String>>,
    /// Drivers that can be asked for extension function addresses.
    drivers: Mutex<Vec<zes_driver_handle_t>>,
    /// Addresses of experimental functions found through `zesDriverGetExtensionFunctionAddress`
    /// (0 when the driver said it has none).
    ext_cache: Mutex<HashMap<&'static str, usize>>,
}

/// What keeps the code of an [`Api`]'s function table mapped.
pub(crate) enum Code {
    /// A library this API shares ownership of: unloaded only after the last handle is gone.
    Shared(Arc<Library>),
    /// A library that is never unloaded (a `static`, or leaked).
    Static(&'static Library),
    /// A hand-made table whose caller promised to keep its code alive
    /// (`Sysman::from_function_table`, an `unsafe fn`).
    Promised,
}

impl Code {
    fn library(&self) -> Option<&Library> {
        match self {
            Code::Shared(library) => Some(library),
            Code::Static(library) => Some(library),
            Code::Promised => None,
        }
    }
}

impl Api {
    pub(crate) fn new(table: FunctionTable, code: Code) -> Self {
        Api {
            table,
            code,
            loader_version: OnceLock::new(),
            drivers: Mutex::new(Vec::new()),
            ext_cache: Mutex::new(HashMap::new()),
        }
    }

    pub(crate) fn set_drivers(&self, drivers: &[zes_driver_handle_t]) {
        *self.drivers.lock().unwrap_or_else(|e| e.into_inner()) = drivers.to_vec();
    }

    /// Asks the loader for its version; call after initialization.
    pub(crate) fn query_loader_version(&self) {
        self.loader_version.get_or_init(|| self.code.library().and_then(Library::loader_version));
    }

    /// The version found by [`Api::query_loader_version`]; before it, asked anew (errors during
    /// initialization).
    pub(crate) fn loader_version(&self) -> Option<&str> {
        self.loader_version.get().and_then(|v| v.as_deref())
    }

    fn loader_version_now(&self) -> Option<String> {
        match self.loader_version.get() {
            Some(v) => v.clone(),
            None => self.code.library().and_then(Library::loader_version),
        }
    }

    /// The function `name`, taken from `slot` or, for experimental functions the library does not
    /// export, from the driver's extension function table (cached).
    ///
    /// `F` must be the `PFN_*` type of `name`; the `pfn!` macro guarantees it.
    pub(crate) fn resolve<F: Copy>(&self, name: &'static str, slot: Option<F>) -> Result<F> {
        if let Some(f) = slot {
            return Ok(f);
        }
        let experimental = zes_sys::function_info(name).is_some_and(|info| info.experimental);
        if !experimental {
            return Err(Error::unavailable(name, self.loader_version_now()));
        }
        let address = self.extension_address(name);
        if address == 0 {
            return Err(Error::unavailable(name, self.loader_version_now()));
        }
        assert_eq!(core::mem::size_of::<F>(), core::mem::size_of::<usize>());
        // SAFETY: `address` is the non-null address the driver gave for `name`, and `F` is the
        // function pointer type of `name` (the only caller is the `pfn!` macro, which passes the
        // table field of that name); function pointers and `usize` have the same size (asserted).
        Ok(unsafe { core::mem::transmute_copy::<usize, F>(&address) })
    }

    fn extension_address(&self, name: &'static str) -> usize {
        if let Some(&address) = self.ext_cache.lock().unwrap_or_else(|e| e.into_inner()).get(name) {
            return address;
        }
        let mut address = 0usize;
        if let Some(get) = self.table.zesDriverGetExtensionFunctionAddress {
            let cname = CString::new(name).expect("function names have no NUL");
            let drivers = self.drivers.lock().unwrap_or_else(|e| e.into_inner()).clone();
            for driver in drivers {
                let mut out: *mut c_void = core::ptr::null_mut();
                // SAFETY: `cname` is a NUL-terminated string alive for the call and `out` a
                // writable pointer slot, as the C signature requires.
                let result = unsafe { get(driver, cname.as_ptr() as *const c_char, &mut out) };
                if result == ZE_RESULT_SUCCESS && !out.is_null() {
                    address = out as usize;
                    break;
                }
            }
        }
        self.ext_cache.lock().unwrap_or_else(|e| e.into_inner()).insert(name, address);
        address
    }
}

/// `api.table.NAME` resolved (export, or extension address for experimental functions).
macro_rules! pfn {
    ($api:expr, $name:ident) => {
        $api.resolve(stringify!($name), $api.table.$name)
    };
}
pub(crate) use pfn;

pub(crate) fn check(function: &'static str, code: ze_result_t) -> Result<()> {
    if code == ZE_RESULT_SUCCESS {
        Ok(())
    } else {
        Err(Error::call(function, code))
    }
}

/// `f(flags)`: `zesInit`, `zeInit`.
pub(crate) fn call_flags<V>(
    name: &'static str,
    f: unsafe extern "C" fn(V) -> ze_result_t,
    v: V,
) -> Result<()> {
    // SAFETY: a by-value argument of the declared type; nothing is borrowed.
    check(name, unsafe { f(v) })
}

/// `f(handle)`.
pub(crate) fn call0<H>(name: &'static str, f: unsafe extern "C" fn(H) -> ze_result_t, h: H) -> Result<()> {
    // SAFETY: a handle the driver gave us, passed by value.
    check(name, unsafe { f(h) })
}

/// `f(handle, value)`.
pub(crate) fn call_val<H, V>(
    name: &'static str,
    f: unsafe extern "C" fn(H, V) -> ze_result_t,
    h: H,
    v: V,
) -> Result<()> {
    // SAFETY: a handle and a by-value argument of the declared types.
    check(name, unsafe { f(h, v) })
}

/// `f(handle, &mut out)` returning `out`.
pub(crate) fn get<H, T: Default>(
    name: &'static str,
    f: unsafe extern "C" fn(H, *mut T) -> ze_result_t,
    h: H,
) -> Result<T> {
    let mut out = T::default();
    // SAFETY: `out` is a live, writable value of the declared type (with its `stype` preset).
    check(name, unsafe { f(h, &mut out) })?;
    Ok(out)
}

/// `f(handle, &mut value)` with a caller-prepared value (in/out structs).
pub(crate) fn inout<H, T>(
    name: &'static str,
    f: unsafe extern "C" fn(H, *mut T) -> ze_result_t,
    h: H,
    value: &mut T,
) -> Result<()> {
    // SAFETY: `value` is a live, writable value of the declared type.
    check(name, unsafe { f(h, value) })
}

/// `f(handle, &value)`.
pub(crate) fn set<H, T>(
    name: &'static str,
    f: unsafe extern "C" fn(H, *const T) -> ze_result_t,
    h: H,
    value: &T,
) -> Result<()> {
    // SAFETY: `value` is a live value of the declared type, only read by the driver.
    check(name, unsafe { f(h, value) })
}

/// `f(handle, value, &mut out)` returning `out`.
pub(crate) fn get_with<H, V, T: Default>(
    name: &'static str,
    f: unsafe extern "C" fn(H, V, *mut T) -> ze_result_t,
    h: H,
    v: V,
) -> Result<T> {
    let mut out = T::default();
    // SAFETY: a by-value argument and a live, writable output of the declared types.
    check(name, unsafe { f(h, v, &mut out) })?;
    Ok(out)
}

/// `f(handle, &mut a, &mut b)` returning both.
pub(crate) fn get2<H, A: Default, B: Default>(
    name: &'static str,
    f: unsafe extern "C" fn(H, *mut A, *mut B) -> ze_result_t,
    h: H,
) -> Result<(A, B)> {
    let (mut a, mut b) = (A::default(), B::default());
    // SAFETY: two live, writable outputs of the declared types.
    check(name, unsafe { f(h, &mut a, &mut b) })?;
    Ok((a, b))
}

/// `f(handle, &mut a, &mut b, &mut c)` returning all three.
pub(crate) fn get3<H, A: Default, B: Default, C: Default>(
    name: &'static str,
    f: unsafe extern "C" fn(H, *mut A, *mut B, *mut C) -> ze_result_t,
    h: H,
) -> Result<(A, B, C)> {
    let (mut a, mut b, mut c) = (A::default(), B::default(), C::default());
    // SAFETY: three live, writable outputs of the declared types.
    check(name, unsafe { f(h, &mut a, &mut b, &mut c) })?;
    Ok((a, b, c))
}

/// `f(handle, a, b, c)` with optional inputs (null where `None`).
pub(crate) fn set3<H, A, B, C>(
    name: &'static str,
    f: unsafe extern "C" fn(H, *const A, *const B, *const C) -> ze_result_t,
    h: H,
    a: Option<&A>,
    b: Option<&B>,
    c: Option<&C>,
) -> Result<()> {
    // SAFETY: each pointer is null (the spec allows it for these optional inputs) or points to
    // a live value of the declared type that the driver only reads.
    check(name, unsafe { f(h, opt_ptr(a), opt_ptr(b), opt_ptr(c)) })
}

fn opt_ptr<T>(x: Option<&T>) -> *const T {
    x.map_or(core::ptr::null(), |r| r as *const T)
}

/// `f(handle, in, &mut out)`: `zesDeviceSetEccState`.
pub(crate) fn set_get<H, A, T: Default>(
    name: &'static str,
    f: unsafe extern "C" fn(H, *const A, *mut T) -> ze_result_t,
    h: H,
    input: &A,
) -> Result<T> {
    let mut out = T::default();
    // SAFETY: a live input and a live, writable output of the declared types.
    check(name, unsafe { f(h, input, &mut out) })?;
    Ok(out)
}

/// `f(handle, &mut in_out, &mut flag)`: the scheduler's `Set*Mode`.
pub(crate) fn inout_flag<H, T>(
    name: &'static str,
    f: unsafe extern "C" fn(H, *mut T, *mut u8) -> ze_result_t,
    h: H,
    value: &mut T,
) -> Result<bool> {
    let mut flag = 0u8;
    // SAFETY: a live, writable value of the declared type and a writable `ze_bool_t`.
    check(name, unsafe { f(h, value, &mut flag) })?;
    Ok(flag != 0)
}

/// `f(handle, &mut count, array)` with the array sized by the caller: `zesPowerSetLimitsExt`.
pub(crate) fn set_array<H, T>(
    name: &'static str,
    f: unsafe extern "C" fn(H, *mut u32, *mut T) -> ze_result_t,
    h: H,
    items: &mut [T],
) -> Result<()> {
    let mut count = u32::try_from(items.len())
        .map_err(|_| Error::Driver { function: name, message: "too many items".into() })?;
    // SAFETY: `items` holds `count` live, writable elements of the declared type.
    check(name, unsafe { f(h, &mut count, items.as_mut_ptr()) })
}

/// The two-call enumeration `f(handle, &mut count, array)`.
///
/// Asks for the count, then for one element more than announced: if the driver fills that
/// spare slot, the set grew between the calls and the array is asked for again with twice the
/// room (also on `ZE_RESULT_ERROR_INVALID_SIZE`, which some functions return when the array is
/// too small), without going back to the count: a set that changes on every call (processes
/// coming and going) still converges. A set that shrank is truncated to what the driver wrote.
pub(crate) fn enumerate<H: Copy, T: Default + Clone>(
    name: &'static str,
    f: unsafe extern "C" fn(H, *mut u32, *mut T) -> ze_result_t,
    h: H,
) -> Result<Vec<T>> {
    // SAFETY: `enumerate_with` passes a writable count and either null or an array of at least
    // that many live, writable elements of the declared type.
    enumerate_with(name, |count, items| unsafe { f(h, count, items) })
}

/// The two-call enumeration without a parent handle: `zesDriverGet`, `zeDriverGet`.
pub(crate) fn enumerate_root<T: Default + Clone>(
    name: &'static str,
    f: unsafe extern "C" fn(*mut u32, *mut T) -> ze_result_t,
) -> Result<Vec<T>> {
    // SAFETY: as in `enumerate`.
    enumerate_with(name, |count, items| unsafe { f(count, items) })
}

/// The protocol of [`enumerate`], over `call(count, array)`.
///
/// A count above [`MAX_ENUMERATION_COUNT`] (announced, or written back on a retry) is refused
/// with [`Error::CountTooLarge`] before anything of that size is allocated.
fn enumerate_with<T: Default + Clone>(
    name: &'static str,
    mut call: impl FnMut(*mut u32, *mut T) -> ze_result_t,
) -> Result<Vec<T>> {
    let mut count = 0u32;
    check(name, call(&mut count, core::ptr::null_mut()))?;
    if count == 0 {
        return Ok(Vec::new());
    }
    within_cap(name, count)?;
    // One spare slot to notice a set that grew; at most `MAX_ENUMERATION_COUNT + 1`.
    let mut capacity = count + 1;
    for _ in 0..ENUM_RETRIES {
        let mut items = vec![T::default(); capacity as usize];
        let mut written = capacity;
        let code = call(&mut written, items.as_mut_ptr());
        if code == ze_result_t::ERROR_INVALID_SIZE || (code == ZE_RESULT_SUCCESS && written >= capacity) {
            // The set grew (the spare slot was used, or the array was refused as too small).
            capacity = grow(name, capacity, written)?;
            continue;
        }
        check(name, code)?;
        items.truncate(written as usize);
        return Ok(items);
    }
    Err(Error::Driver {
        function: name,
        message: format!("the count kept changing over {ENUM_RETRIES} two-call enumerations"),
    })
}

/// Refuses a count the driver reported that is above [`MAX_ENUMERATION_COUNT`].
fn within_cap(name: &'static str, count: u32) -> Result<()> {
    if count > MAX_ENUMERATION_COUNT {
        return Err(Error::CountTooLarge { function: name, count, cap: MAX_ENUMERATION_COUNT });
    }
    Ok(())
}

/// The next array size after a set outgrew `capacity` (`reported`: the count the driver
/// wrote back, which may be the new size): twice the room, at least `reported + 1`, at most
/// `MAX_ENUMERATION_COUNT + 1`; an error once that much room was already not enough.
fn grow(name: &'static str, capacity: u32, reported: u32) -> Result<u32> {
    const LARGEST: u32 = MAX_ENUMERATION_COUNT + 1;
    if capacity >= LARGEST {
        return Err(Error::CountTooLarge {
            function: name,
            count: reported.max(capacity),
            cap: MAX_ENUMERATION_COUNT,
        });
    }
    within_cap(name, reported)?;
    Ok(capacity.saturating_mul(2).max(reported.saturating_add(1)).min(LARGEST))
}

/// The `stype`/`pNext` header every [`Chainable`] struct starts with.
#[repr(C)]
struct Header {
    stype: u32,
    next: *mut c_void,
}

fn header_of<T: Chainable>(value: &mut T) -> *mut Header {
    value as *mut T as *mut Header
}

mod sealed {
    pub trait Sealed {}
}

/// Extension structs that can be chained on the `pNext` of `Base`: one struct that
/// [`Extends`] `Base`, or a [`Chain2`] of two of them. Anything else does not compile.
pub trait Extensions<Base: Chainable>: sealed::Sealed + Default {
    #[doc(hidden)]
    fn link(&mut self) -> *mut c_void;
    #[doc(hidden)]
    fn unlink(&mut self);
}

impl<E: Chainable> sealed::Sealed for E {}
impl<Base: Chainable, E: Extends<Base>> Extensions<Base> for E {
    fn link(&mut self) -> *mut c_void {
        self as *mut E as *mut c_void
    }
    fn unlink(&mut self) {
        // SAFETY: `Chainable` guarantees `E` starts with the `stype`/`pNext` header.
        unsafe { (*header_of(self)).next = core::ptr::null_mut() }
    }
}

/// Two extension structs chained one after the other (`base -> .0 -> .1`).
#[derive(Clone, Copy, Debug, Default)]
pub struct Chain2<A, B>(pub A, pub B);

impl<A: Chainable, B: Chainable> sealed::Sealed for Chain2<A, B> {}
impl<Base: Chainable, A: Extends<Base>, B: Extends<Base>> Extensions<Base> for Chain2<A, B> {
    fn link(&mut self) -> *mut c_void {
        let second = &mut self.1 as *mut B as *mut c_void;
        // SAFETY: `Chainable` guarantees `A` starts with the `stype`/`pNext` header.
        unsafe { (*header_of(&mut self.0)).next = second };
        &mut self.0 as *mut A as *mut c_void
    }
    fn unlink(&mut self) {
        // SAFETY: as in `link`, for both structs.
        unsafe {
            (*header_of(&mut self.0)).next = core::ptr::null_mut();
            (*header_of(&mut self.1)).next = core::ptr::null_mut();
        }
    }
}

/// `f(handle, &mut base)` with `ext` chained on `base.pNext`; all `pNext`s are null again on
/// return, so nothing returned points into this frame.
pub(crate) fn get_chained<H, B: Chainable, E: Extensions<B>>(
    name: &'static str,
    f: unsafe extern "C" fn(H, *mut B) -> ze_result_t,
    h: H,
    ext: &mut E,
) -> Result<B> {
    let mut base = B::default();
    let next = ext.link();
    // SAFETY: `Chainable` guarantees `B` starts with the `stype`/`pNext` header.
    unsafe { (*header_of(&mut base)).next = next };
    // SAFETY: `base` is live and writable, and its chain links only live, writable structs of
    // the structure types the driver expects there (`Extends<B>`), each with `stype` preset.
    let code = unsafe { f(h, &mut base) };
    // SAFETY: as above.
    unsafe { (*header_of(&mut base)).next = core::ptr::null_mut() };
    ext.unlink();
    check(name, code)?;
    Ok(base)
}

#[cfg(test)]
#[path = "fake_tests.rs"]
mod tests;
