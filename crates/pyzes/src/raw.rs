//! The only module with `unsafe`: reading the memory of caller-owned ctypes objects and calling
//! the driver's functions through raw pointers (the C-mirror API).
//!
//! Every argument is classified by its Python type (cached per type), checked against what the
//! ABI description says the parameter is, and only then turned into a raw pointer. Wrong kinds of
//! objects raise `ctypes.ArgumentError` (as ctypes itself would); a ctypes object of the wrong
//! struct type gives `ZE_RESULT_ERROR_INVALID_ARGUMENT`, a buffer shorter than the count passed
//! `ZE_RESULT_ERROR_INVALID_SIZE`, and a handle the library never returned
//! `ZE_RESULT_ERROR_INVALID_NULL_HANDLE`; in all of these cases no memory is touched.
#![allow(non_snake_case, clippy::too_many_arguments)]

use std::collections::HashMap;
use std::ffi::CString;
use std::hash::{BuildHasherDefault, Hasher};
use std::sync::{OnceLock, RwLock};

use pyo3::exceptions::PyTypeError;
use pyo3::intern;
use pyo3::prelude::*;
use pyo3::sync::GILOnceCell;
use pyo3::types::{PyBytes, PyDict, PyFloat, PyInt, PyString, PyType};
use zes_sys::ze_result_t;

use crate::state;

pub(crate) type Conv<T> = PyResult<Result<T, ze_result_t>>;

/// Returns the result code from the calling generated function when a conversion gives one.
macro_rules! arg {
    ($e:expr) => {
        match $e? {
            Ok(v) => v,
            Err(rc) => return Ok(rc.0),
        }
    };
}

// ---------------------------------------------------------------------------------------------
// Handles the library returned.

fn handles() -> &'static RwLock<AddrMap<u8>> {
    static SET: OnceLock<RwLock<AddrMap<u8>>> = OnceLock::new();
    SET.get_or_init(Default::default)
}

/// The handle was returned by the library as a handle of this kind (generated handle index).
pub(crate) fn handle_known(h: usize, kind: u8) -> bool {
    h != 0 && handles().read().map(|s| s.get(&h) == Some(&kind)).unwrap_or(false)
}

/// Records the `n` handles of kind `kind` an out-parameter received.
pub(crate) fn track_handles(addr: usize, n: usize, kind: u8) {
    if addr == 0 || n == 0 {
        return;
    }
    let mut set = match handles().write() {
        Ok(set) => set,
        Err(poisoned) => poisoned.into_inner(),
    };
    for i in 0..n {
        // SAFETY: `addr` is the start of a validated ctypes buffer of at least `n` pointer-sized
        // elements that the driver just filled; the caller's objects are alive for the call.
        let h = unsafe { core::ptr::read_unaligned((addr as *const usize).add(i)) };
        if h != 0 {
            set.insert(h, kind);
        }
    }
}

pub(crate) fn tracked_handle_count() -> usize {
    handles().read().map(|s| s.len()).unwrap_or(0)
}

// ---------------------------------------------------------------------------------------------
// ctypes type classification, cached per Python type object.

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum Kind {
    /// The object `byref()` returns; its `_obj` is the real argument.
    CArg,
    /// A Structure or Union; `idx` is the ABI struct it is (or derives from), if any.
    Struct {
        idx: Option<usize>,
    },
    /// A fundamental type (`c_uint32`, `c_void_p` and handle classes...): `code` is ctypes' `_type_`.
    Simple {
        code: u8,
    },
    /// `T * n`: the element type's info and the length.
    Array {
        elem: usize,
        len: usize,
    },
    /// `POINTER(T)` instances: the target's type info.
    Pointer {
        target: usize,
    },
    Other,
}

#[derive(Clone, Copy)]
pub(crate) struct TypeInfo {
    pub kind: Kind,
    pub size: usize,
}

/// A hasher for addresses (type objects, handles): one multiply, good high bits.
#[derive(Default, Clone, Copy)]
pub(crate) struct AddrHasher(u64);

impl Hasher for AddrHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0.rotate_left(8) ^ u64::from(b)).wrapping_mul(0x9E37_79B9_7F4A_7C15);
        }
    }
    fn write_usize(&mut self, n: usize) {
        let n = n as u64;
        self.0 = (n ^ (n >> 29)).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    }
}

pub(crate) type AddrMap<V> = HashMap<usize, V, BuildHasherDefault<AddrHasher>>;

struct Registry {
    /// type object address -> index in `infos` (never removed, so indices stay valid).
    by_type: AddrMap<usize>,
    infos: Vec<TypeInfo>,
    /// Keeps every classified type alive, so that its address is never reused.
    _types: Vec<Py<PyType>>,
}

fn registry() -> &'static RwLock<Registry> {
    static REG: OnceLock<RwLock<Registry>> = OnceLock::new();
    REG.get_or_init(|| {
        RwLock::new(Registry { by_type: AddrMap::default(), infos: Vec::new(), _types: Vec::new() })
    })
}

struct Ctypes {
    structure: Py<PyType>,
    union: Py<PyType>,
    array: Py<PyType>,
    pointer: Py<PyType>,
    simple: Py<PyType>,
    carg: Py<PyType>,
    argument_error: Py<PyType>,
    addressof: PyObject,
    sizeof: PyObject,
    /// The address of a ctypes object's buffer can be read from its object (CPython layout).
    fast_address: bool,
    /// Offset of the referenced object in a `byref()` object, when found on this interpreter.
    carg_obj_offset: Option<usize>,
    /// Offset of the address a `byref()` object passes (the object's buffer plus its offset).
    carg_value_offset: Option<usize>,
    /// `b_needsfree` and `b_base` of ctypes objects can be read at their CPython offsets.
    fast_owner: bool,
}

static CTYPES: GILOnceCell<Ctypes> = GILOnceCell::new();
/// struct index (generated order) -> registered class.
static STRUCT_CLASSES: GILOnceCell<Vec<Py<PyType>>> = GILOnceCell::new();
static STRUCT_INDEX: GILOnceCell<HashMap<usize, usize>> = GILOnceCell::new();
/// The handle classes of the ABI module (all `c_void_p` subclasses), for a fast type check.
static HANDLE_CLASSES: GILOnceCell<Vec<Py<PyType>>> = GILOnceCell::new();

/// Type information without the registry lookup, for the commonest arguments: a `byref()`
/// object, and an instance of exactly the registered class of the struct a parameter expects.
fn quick_info(py: Python<'_>, c: &Ctypes, ty: &Bound<'_, PyType>, expect: Elem) -> Option<TypeInfo> {
    if ty.is(c.carg.bind(py)) {
        return Some(TypeInfo { kind: Kind::CArg, size: 0 });
    }
    if let Elem::Struct { idx, size } = expect {
        let class = STRUCT_CLASSES.get(py).and_then(|classes| classes.get(idx))?;
        // The registered classes have the ABI's sizes (checked when they are registered).
        if ty.is(class.bind(py)) {
            return Some(TypeInfo { kind: Kind::Struct { idx: Some(idx) }, size });
        }
    }
    None
}

/// Whether `ty` is one of the ABI module's handle classes.
fn is_handle_class(py: Python<'_>, ty: &Bound<'_, PyType>) -> bool {
    HANDLE_CLASSES.get(py).is_some_and(|classes| classes.iter().any(|class| ty.is(class.bind(py))))
}

fn ctypes(py: Python<'_>) -> PyResult<&Ctypes> {
    CTYPES.get_or_try_init(py, || {
        let m = py.import("ctypes")?;
        let ty =
            |name: &str| -> PyResult<Py<PyType>> { Ok(m.getattr(name)?.downcast_into::<PyType>()?.unbind()) };
        let c_int = m.getattr("c_int")?.call0()?;
        let carg = m.getattr("byref")?.call1((&c_int,))?.get_type().unbind();
        let mut c = Ctypes {
            structure: ty("Structure")?,
            union: ty("Union")?,
            array: ty("Array")?,
            pointer: ty("_Pointer")?,
            simple: m.getattr("c_int")?.getattr("__mro__")?.get_item(1)?.downcast_into::<PyType>()?.unbind(),
            carg,
            argument_error: ty("ArgumentError")?,
            addressof: m.getattr("addressof")?.unbind(),
            sizeof: m.getattr("sizeof")?.unbind(),
            fast_address: false,
            carg_obj_offset: None,
            carg_value_offset: None,
            fast_owner: false,
        };
        // Check the fast path against ctypes itself on a few kinds of objects.
        let probes = [
            c_int,
            m.getattr("c_void_p")?.call0()?,
            m.getattr("c_char")?.call0()?.get_type().call0()?,
            m.getattr("create_string_buffer")?.call1((64,))?,
        ];
        let mut ok = true;
        for p in &probes {
            let slow: usize = c.addressof.call1(py, (p,))?.extract(py)?;
            ok &= slow != 0 && buffer_ptr_unchecked(p) == slow;
        }
        c.fast_address = ok;
        c.carg_obj_offset = find_carg_offset(&m)?;
        c.carg_value_offset = find_carg_value_offset(&m, &c)?;
        c.fast_owner = c.fast_address && owner_layout_matches(&m)?;
        Ok(c)
    })
}

/// The offset of the first pointer-sized word equal to `want` in a `byref()` object, if any.
fn carg_word_offset(carg: &Bound<'_, PyAny>, want: usize) -> Option<usize> {
    let base = carg.as_ptr() as *const u8;
    (16..64).step_by(8).find(|&off| {
        // SAFETY: a `byref()` object (PyCArgObject: header, ffi type, tag, a 16-byte value
        // union, the object, a size) is at least 64 bytes on the 64-bit CPythons this builds
        // for; we only read pointer-sized words inside it.
        let word = unsafe { core::ptr::read_unaligned(base.add(off) as *const usize) };
        word == want
    })
}

/// Finds where a `byref()` object keeps the object it refers to, by probing two of them.
fn find_carg_offset(m: &Bound<'_, PyModule>) -> PyResult<Option<usize>> {
    let mut found = None;
    for attempt in 0..2 {
        let x = m.getattr("c_int")?.call0()?;
        let r = m.getattr("byref")?.call1((&x,))?;
        let here = carg_word_offset(&r, x.as_ptr() as usize);
        match (attempt, here) {
            (0, h) => found = h,
            (_, h) if h != found => return Ok(None),
            _ => {}
        }
    }
    Ok(found)
}

/// Finds where a `byref(x, offset)` object keeps the address it passes (`addressof(x) + offset`).
fn find_carg_value_offset(m: &Bound<'_, PyModule>, c: &Ctypes) -> PyResult<Option<usize>> {
    let py = m.py();
    let mut found = None;
    for (attempt, delta) in [(0, 4usize), (1, 12)] {
        let arr = m.getattr("c_uint32")?.mul(8)?.call0()?;
        let r = m.getattr("byref")?.call1((&arr, delta))?;
        let want: usize = c.addressof.call1(py, (&arr,))?.extract::<usize>(py)? + delta;
        let here = carg_word_offset(&r, want);
        match (attempt, here) {
            (0, h) => found = h,
            (_, h) if h != found => return Ok(None),
            _ => {}
        }
    }
    Ok(found)
}

/// Byte offsets of `b_needsfree` (an int) and `b_base` (a pointer) in a CPython ctypes object.
const B_NEEDSFREE_OFFSET: usize = 3 * core::mem::size_of::<usize>();
const B_BASE_OFFSET: usize = 4 * core::mem::size_of::<usize>();

/// Checks the CPython layout of `b_needsfree`/`b_base` against ctypes' own `_b_needsfree_` and
/// `_b_base_` on an owning object, a `from_address` view and a field of a struct.
fn owner_layout_matches(m: &Bound<'_, PyModule>) -> PyResult<bool> {
    let owned = m.getattr("c_uint64")?.call0()?;
    let addr: usize = m.getattr("addressof")?.call1((&owned,))?.extract()?;
    let view = owned.get_type().call_method1("from_address", (addr,))?;
    let arr = owned.get_type().mul(2)?.call0()?;
    let sub = m.getattr("c_uint64")?.call_method1("from_buffer", (&arr,))?;
    let mut ok = true;
    for obj in [&owned, &view, &arr, &sub] {
        let needsfree: i64 = obj.getattr("_b_needsfree_")?.extract()?;
        let base = obj.getattr("_b_base_")?;
        let base_addr = if base.is_none() { 0 } else { base.as_ptr() as usize };
        let p = obj.as_ptr() as *const u8;
        // SAFETY: every ctypes instance (CDataObject) is header, `b_ptr`, `b_needsfree`, `b_base`,
        // ...; the words read lie inside the object (its `b_value` union follows them).
        let (nf, b) = unsafe {
            (
                core::ptr::read_unaligned(p.add(B_NEEDSFREE_OFFSET) as *const i32),
                core::ptr::read_unaligned(p.add(B_BASE_OFFSET) as *const usize),
            )
        };
        ok &= i64::from(nf) == needsfree && b == base_addr;
    }
    Ok(ok)
}

/// Whether the memory of the ctypes object `obj` is its own (or its base object's, recursively):
/// false for `from_address` views, whose memory may be anywhere (checked like raw addresses).
/// `from_buffer` objects also count as not owning (their memory is checked like raw memory too).
fn owns_memory(py: Python<'_>, c: &Ctypes, obj: &Bound<'_, PyAny>) -> PyResult<bool> {
    let mut p = obj.as_ptr() as *const u8;
    if c.fast_owner {
        for _ in 0..64 {
            // SAFETY: `p` is a live ctypes object (the argument, or a base object it keeps alive);
            // the offsets were checked against ctypes at start-up (`owner_layout_matches`).
            let (needsfree, base) = unsafe {
                (
                    core::ptr::read_unaligned(p.add(B_NEEDSFREE_OFFSET) as *const i32),
                    core::ptr::read_unaligned(p.add(B_BASE_OFFSET) as *const usize),
                )
            };
            if needsfree != 0 {
                return Ok(true);
            }
            if base == 0 {
                return Ok(false);
            }
            p = base as *const u8;
        }
        return Ok(false);
    }
    let mut node = obj.clone();
    for _ in 0..64 {
        if node.getattr(intern!(py, "_b_needsfree_"))?.extract::<i64>()? != 0 {
            return Ok(true);
        }
        let base = node.getattr(intern!(py, "_b_base_"))?;
        if base.is_none() {
            return Ok(false);
        }
        node = base;
    }
    Ok(false)
}

/// Reads `b_ptr` of a CPython ctypes object (the field right after the object header).
fn buffer_ptr_unchecked(obj: &Bound<'_, PyAny>) -> usize {
    let base = obj.as_ptr() as *const u8;
    // SAFETY: every ctypes instance (CDataObject) starts with the object header followed by
    // `char *b_ptr`; callers use this only on ctypes instances and only after `ctypes()` checked
    // the offset against `ctypes.addressof` on this interpreter.
    unsafe { core::ptr::read_unaligned(base.add(2 * core::mem::size_of::<usize>()) as *const usize) }
}

fn address_of(py: Python<'_>, c: &Ctypes, obj: &Bound<'_, PyAny>) -> PyResult<usize> {
    if c.fast_address {
        Ok(buffer_ptr_unchecked(obj))
    } else {
        c.addressof.call1(py, (obj,))?.extract(py)
    }
}

/// Called once by the generated `_abi` module with the classes of the ABI.
#[pyfunction]
pub(crate) fn _register_types(
    py: Python<'_>,
    structs: &Bound<'_, PyDict>,
    handles: &Bound<'_, PyDict>,
) -> PyResult<()> {
    let c = ctypes(py)?;
    let mut classes = Vec::new();
    let mut index = HashMap::new();
    for (i, (name, size)) in generated::STRUCT_NAMES.iter().zip(generated::STRUCT_SIZES).enumerate() {
        let class = structs
            .get_item(name)?
            .ok_or_else(|| PyTypeError::new_err(format!("struct {name} missing from the ABI module")))?
            .downcast_into::<PyType>()?;
        let actual: usize = c.sizeof.call1(py, (&class,))?.extract(py)?;
        if actual != *size {
            return Err(PyTypeError::new_err(format!(
                "struct {name}: ctypes size {actual}, ABI size {size}"
            )));
        }
        index.insert(class.as_ptr() as usize, i);
        classes.push(class.unbind());
    }
    let mut handle_classes = Vec::new();
    for class in handles.values() {
        let class = class.downcast_into::<PyType>()?;
        if info_of(py, &class)?.1.kind != (Kind::Simple { code: b'P' }) {
            return Err(PyTypeError::new_err("handle classes must derive from c_void_p"));
        }
        handle_classes.push(class.unbind());
    }
    let _ = STRUCT_CLASSES.set(py, classes);
    let _ = STRUCT_INDEX.set(py, index);
    let _ = HANDLE_CLASSES.set(py, handle_classes);
    Ok(())
}

fn info_of(py: Python<'_>, ty: &Bound<'_, PyType>) -> PyResult<(usize, TypeInfo)> {
    let key = ty.as_ptr() as usize;
    {
        let reg = registry().read().map_err(|_| PyTypeError::new_err("pyzes type cache poisoned"))?;
        if let Some(&i) = reg.by_type.get(&key) {
            return Ok((i, reg.infos[i]));
        }
    }
    let c = ctypes(py)?;
    let mut size = 0usize;
    let kind = if ty.is(c.carg.bind(py)) {
        Kind::CArg
    } else if ty.is_subclass(c.structure.bind(py))? || ty.is_subclass(c.union.bind(py))? {
        size = c.sizeof.call1(py, (ty,))?.extract(py)?;
        let mut idx = None;
        if let (Some(index), Ok(mro)) = (STRUCT_INDEX.get(py), ty.getattr("__mro__")) {
            for base in mro.try_iter()? {
                if let Some(&i) = index.get(&(base?.as_ptr() as usize)) {
                    idx = Some(i);
                    break;
                }
            }
        }
        Kind::Struct { idx }
    } else if ty.is_subclass(c.array.bind(py))? {
        size = c.sizeof.call1(py, (ty,))?.extract(py)?;
        let elem = ty.getattr("_type_")?.downcast_into::<PyType>()?;
        let (elem, _) = info_of(py, &elem)?;
        Kind::Array { elem, len: ty.getattr("_length_")?.extract()? }
    } else if ty.is_subclass(c.pointer.bind(py))? {
        size = core::mem::size_of::<usize>();
        let target = ty.getattr("_type_")?.downcast_into::<PyType>()?;
        let (target, _) = info_of(py, &target)?;
        Kind::Pointer { target }
    } else if ty.is_subclass(c.simple.bind(py))? {
        size = c.sizeof.call1(py, (ty,))?.extract(py)?;
        let code = ty.getattr("_type_")?;
        let code = code.downcast::<PyString>()?.to_str()?.bytes().next().unwrap_or(b'?');
        Kind::Simple { code }
    } else {
        Kind::Other
    };
    let info = TypeInfo { kind, size };
    let mut reg = registry().write().map_err(|_| PyTypeError::new_err("pyzes type cache poisoned"))?;
    if let Some(&i) = reg.by_type.get(&key) {
        return Ok((i, reg.infos[i]));
    }
    reg.infos.push(info);
    reg._types.push(ty.clone().unbind());
    let i = reg.infos.len() - 1;
    reg.by_type.insert(key, i);
    Ok((i, info))
}

fn info_at(i: usize) -> TypeInfo {
    registry().read().map(|r| r.infos[i]).expect("pyzes type cache poisoned")
}

fn argument_error(py: Python<'_>, argno: usize, msg: String) -> PyErr {
    match ctypes(py) {
        Ok(c) => {
            PyErr::from_type(c.argument_error.bind(py).clone(), format!("argument {argno}: TypeError: {msg}"))
        }
        Err(e) => e,
    }
}

fn type_name(obj: &Bound<'_, PyAny>) -> String {
    obj.get_type().name().map(|n| n.to_string()).unwrap_or_else(|_| "?".into())
}

// ---------------------------------------------------------------------------------------------
// Parameters passed by value.

/// A handle: `None`, an int, or any `c_void_p`-based object (the handle classes).
pub(crate) fn handle_in(py: Python<'_>, obj: &Bound<'_, PyAny>, argno: usize, kind: u8) -> Conv<usize> {
    let h = handle_value(py, obj, argno)?;
    if !handle_known(h, kind) {
        return Ok(Err(zes_sys::ZE_RESULT_ERROR_INVALID_NULL_HANDLE));
    }
    Ok(Ok(h))
}

fn handle_value(py: Python<'_>, obj: &Bound<'_, PyAny>, argno: usize) -> PyResult<usize> {
    if obj.is_none() {
        return Ok(0);
    }
    if obj.is_instance_of::<PyInt>() {
        return obj
            .extract::<usize>()
            .map_err(|_| argument_error(py, argno, "a handle must be a non-negative int".into()));
    }
    let ty = obj.get_type();
    if is_handle_class(py, &ty) || info_of(py, &ty)?.1.kind == (Kind::Simple { code: b'P' }) {
        let c = ctypes(py)?;
        let addr = address_of(py, c, obj)?;
        // SAFETY: `obj` is a live c_void_p instance; its buffer holds one pointer.
        return Ok(unsafe { core::ptr::read_unaligned(addr as *const usize) });
    }
    Err(argument_error(py, argno, format!("wrong type: expected a handle, got {}", type_name(obj))))
}

/// An integer-like scalar (ints, bools, ctypes simple instances).
pub(crate) fn int_in<T: for<'a> FromPyObject<'a>>(
    py: Python<'_>,
    obj: &Bound<'_, PyAny>,
    argno: usize,
) -> PyResult<T> {
    if obj.is_instance_of::<PyInt>() {
        return obj
            .extract::<T>()
            .map_err(|e| argument_error(py, argno, format!("integer out of range: {e}")));
    }
    let (_, info) = info_of(py, &obj.get_type())?;
    if let Kind::Simple { .. } = info.kind {
        if let Ok(v) = obj.getattr(intern!(py, "value"))?.extract::<T>() {
            return Ok(v);
        }
    }
    Err(argument_error(py, argno, format!("wrong type: expected an integer, got {}", type_name(obj))))
}

pub(crate) fn f64_in(py: Python<'_>, obj: &Bound<'_, PyAny>, argno: usize) -> PyResult<f64> {
    if obj.is_instance_of::<PyFloat>() || obj.is_instance_of::<PyInt>() {
        return obj.extract::<f64>();
    }
    let (_, info) = info_of(py, &obj.get_type())?;
    if let Kind::Simple { .. } = info.kind {
        if let Ok(v) = obj.getattr(intern!(py, "value"))?.extract::<f64>() {
            return Ok(v);
        }
    }
    Err(argument_error(py, argno, format!("wrong type: expected a float, got {}", type_name(obj))))
}

/// A struct passed by value (`zes_uuid_t`): an instance of that struct class.
pub(crate) fn struct_by_value<T: Copy>(
    py: Python<'_>,
    obj: &Bound<'_, PyAny>,
    idx: usize,
    argno: usize,
) -> Conv<T> {
    let (_, info) = info_of(py, &obj.get_type())?;
    match info.kind {
        Kind::Struct { idx: Some(i) } if i == idx && info.size >= core::mem::size_of::<T>() => {
            let addr = address_of(py, ctypes(py)?, obj)?;
            // SAFETY: `obj` is a live instance of the struct class with the C layout of `T`.
            Ok(Ok(unsafe { core::ptr::read_unaligned(addr as *const T) }))
        }
        Kind::Struct { .. } => Ok(Err(zes_sys::ZE_RESULT_ERROR_INVALID_ARGUMENT)),
        _ => Err(argument_error(
            py,
            argno,
            format!("expected {} instance instead of {}", generated::STRUCT_NAMES[idx], type_name(obj)),
        )),
    }
}

/// `const char*` input: None, str, bytes or a `c_char_p`.
pub(crate) fn cstr_in(py: Python<'_>, obj: &Bound<'_, PyAny>, argno: usize) -> PyResult<Option<CString>> {
    if obj.is_none() {
        return Ok(None);
    }
    let bytes: Vec<u8> = if let Ok(s) = obj.downcast::<PyString>() {
        s.to_str()?.as_bytes().to_vec()
    } else if let Ok(b) = obj.downcast::<PyBytes>() {
        b.as_bytes().to_vec()
    } else if let Ok(v) = obj.getattr("value").and_then(|v| v.extract::<Option<Vec<u8>>>()) {
        match v {
            Some(v) => v,
            None => return Ok(None),
        }
    } else {
        return Err(argument_error(py, argno, format!("expected bytes or str, got {}", type_name(obj))));
    };
    CString::new(bytes).map(Some).map_err(|_| argument_error(py, argno, "embedded NUL in string".into()))
}

// ---------------------------------------------------------------------------------------------
// Pointer parameters.

/// What a pointer parameter points to, from the ABI description.
#[derive(Clone, Copy)]
pub(crate) enum Elem {
    Struct {
        idx: usize,
        size: usize,
    },
    /// A scalar of this size; `float` for `double`/`float`.
    Scalar {
        size: usize,
        float: bool,
    },
    Handle,
    /// `T**` and `void**`: pointer-sized elements.
    PtrSized,
    Char,
    /// `void*`: any memory.
    Void,
}

/// A validated pointer argument: its address and how many elements it holds (None: unknown, a
/// raw ctypes pointer).
#[derive(Clone, Copy)]
pub(crate) struct Ptr {
    pub addr: usize,
    pub elems: Option<usize>,
    /// Size of one element, bytes.
    pub unit: usize,
}

impl Ptr {
    pub fn null() -> Self {
        Ptr { addr: 0, elems: Some(0), unit: 1 }
    }
    /// `Err(INVALID_SIZE)` when the buffer holds fewer than `n` elements: known from the ctypes
    /// object, or (raw addresses) when the `n` elements are more than `MAX_RAW_BYTES` or not all
    /// mapped readable and writable memory.
    pub fn check_len(&self, n: u64) -> Result<(), ze_result_t> {
        let short = zes_sys::ZE_RESULT_ERROR_INVALID_SIZE;
        match self.elems {
            Some(e) if self.addr != 0 && (e as u64) < n => Err(short),
            None if self.addr != 0 && n > 1 => {
                let bytes = usize::try_from(n).ok().and_then(|n| n.checked_mul(self.unit)).ok_or(short)?;
                if bytes <= MAX_RAW_BYTES && accessible(self.addr, bytes) {
                    Ok(())
                } else {
                    Err(short)
                }
            }
            _ => Ok(()),
        }
    }
    /// `Err(INVALID_NULL_HANDLE)` unless the first `n` handles of this array are handles of
    /// `kind` that the library returned.
    pub fn check_handles(&self, n: u64, kind: u8) -> Result<(), ze_result_t> {
        if self.addr == 0 {
            return Ok(());
        }
        for i in 0..self.bounded(n) {
            // SAFETY: `check_len` established that `n` pointer-sized elements are readable.
            let h = unsafe { core::ptr::read_unaligned((self.addr as *const usize).add(i)) };
            if !handle_known(h, kind) {
                return Err(zes_sys::ZE_RESULT_ERROR_INVALID_NULL_HANDLE);
            }
        }
        Ok(())
    }
    /// The `u32` the pointer points to (a count), when not null.
    pub fn read_u32(&self) -> Option<u32> {
        if self.addr == 0 {
            return None;
        }
        // SAFETY: a non-null `Ptr` to a 4-byte scalar was validated by `ptr_in` against a live
        // ctypes object (or checked to be mapped readable and writable memory).
        Some(unsafe { core::ptr::read_unaligned(self.addr as *const u32) })
    }
    /// The `size_t` the pointer points to (a size in bytes), when not null.
    pub fn read_usize(&self) -> Option<usize> {
        if self.addr == 0 {
            return None;
        }
        // SAFETY: as for `read_u32`, for an 8-byte scalar.
        Some(unsafe { core::ptr::read_unaligned(self.addr as *const usize) })
    }
    /// Stores the count the driver wrote into the binding's own copy back into the caller's.
    pub fn write_u32(&self, v: u32) {
        if self.addr != 0 {
            // SAFETY: the caller's count, validated as `read_u32` says; its object is alive.
            unsafe { core::ptr::write_unaligned(self.addr as *mut u32, v) }
        }
    }
    /// As `write_u32`, for a `size_t`.
    pub fn write_usize(&self, v: usize) {
        if self.addr != 0 {
            // SAFETY: as for `write_u32`, for an 8-byte scalar.
            unsafe { core::ptr::write_unaligned(self.addr as *mut usize, v) }
        }
    }
    /// Number of elements to record after the call: `n` bounded by the buffer.
    pub fn bounded(&self, n: u64) -> usize {
        let n = usize::try_from(n).unwrap_or(usize::MAX);
        match self.elems {
            Some(e) => e.min(n),
            None => n,
        }
    }
}

fn elem_matches(py: Python<'_>, expect: Elem, info: &TypeInfo) -> Result<(), &'static str> {
    let _ = py;
    match (expect, info.kind) {
        (Elem::Void, _) => Ok(()),
        (Elem::Struct { idx, size }, Kind::Struct { idx: got }) => {
            if got == Some(idx) && info.size >= size {
                Ok(())
            } else {
                Err("struct")
            }
        }
        (Elem::Struct { .. }, Kind::Simple { code: b'c' | b'b' | b'B' }) => Ok(()),
        (Elem::Scalar { size, float }, Kind::Simple { code }) => {
            let is_float = matches!(code, b'd' | b'f' | b'g');
            if info.size == size && is_float == float && !matches!(code, b'P' | b'z' | b'Z' | b'O') {
                Ok(())
            } else {
                Err("type")
            }
        }
        (Elem::Handle, Kind::Simple { code: b'P' }) => Ok(()),
        (Elem::PtrSized, Kind::Simple { code: b'P' | b'z' | b'Z' })
        | (Elem::PtrSized, Kind::Pointer { .. }) => Ok(()),
        (Elem::Char, Kind::Simple { code: b'c' | b'b' | b'B' }) => Ok(()),
        _ => Err("type"),
    }
}

/// Converts the object passed for a pointer parameter: `None`, `byref(x)` (with its offset),
/// `pointer(x)`, a ctypes array, or the ctypes object itself.
pub(crate) fn ptr_in(py: Python<'_>, obj: &Bound<'_, PyAny>, expect: Elem, argno: usize) -> Conv<Ptr> {
    Ok(ptr_in_target(py, obj, expect, argno)?.map(|(ptr, _)| ptr))
}

/// As `ptr_in`, also returning the ctypes object the pointer belongs to (to find the objects it
/// keeps alive).
pub(crate) fn ptr_in_target<'py>(
    py: Python<'py>,
    obj: &Bound<'py, PyAny>,
    expect: Elem,
    argno: usize,
) -> Conv<(Ptr, Bound<'py, PyAny>)> {
    if obj.is_none() {
        return Ok(Ok((Ptr::null(), obj.clone())));
    }
    let c = ctypes(py)?;
    let ty = obj.get_type();
    let mut info = match quick_info(py, c, &ty, expect) {
        Some(info) => info,
        None => info_of(py, &ty)?.1,
    };
    let mut target = obj.clone();
    // The address a `byref()` passes: the object's buffer plus the byref offset.
    let mut byref_addr = None;
    if info.kind == Kind::CArg {
        target = match c.carg_obj_offset {
            Some(off) => {
                // SAFETY: `obj` is a live byref() object whose referenced object sits at `off`
                // (found by probing at start-up); it holds a strong reference to that object.
                let p = unsafe {
                    core::ptr::read_unaligned(
                        (obj.as_ptr() as *const u8).add(off) as *const *mut pyo3::ffi::PyObject
                    )
                };
                if p.is_null() {
                    obj.getattr(intern!(py, "_obj"))?
                } else {
                    // SAFETY: `p` is a valid object pointer borrowed from `obj`, which we hold.
                    unsafe { Bound::from_borrowed_ptr(py, p) }
                }
            }
            None => obj.getattr(intern!(py, "_obj"))?,
        };
        byref_addr = match c.carg_value_offset {
            // SAFETY: `obj` is a live byref() object; its passed address sits at `off` (found by
            // probing at start-up).
            Some(off) => Some(unsafe {
                core::ptr::read_unaligned((obj.as_ptr() as *const u8).add(off) as *const usize)
            }),
            // Without the layout an offset cannot be seen: refuse rather than guess.
            None => return Ok(Err(zes_sys::ZE_RESULT_ERROR_INVALID_ARGUMENT)),
        };
        let ty = target.get_type();
        info = match quick_info(py, c, &ty, expect) {
            Some(info) => info,
            None => info_of(py, &ty)?.1,
        };
    }
    if let (Elem::Void, Ok(b)) = (expect, target.downcast::<PyBytes>()) {
        if byref_addr.is_some() {
            return Err(argument_error(py, argno, "byref() of bytes".into()));
        }
        let ptr = Ptr { addr: b.as_bytes().as_ptr() as usize, elems: Some(b.as_bytes().len()), unit: 1 };
        return Ok(Ok((ptr, target)));
    }
    // (address, element type, bytes known to be there; None: a raw address).
    let (addr, elem_info, bytes) = match info.kind {
        Kind::Struct { .. } | Kind::Simple { .. } | Kind::Array { .. } => {
            let start = address_of(py, c, &target)?;
            let addr = byref_addr.unwrap_or(start);
            // byref's offset must stay inside the object.
            let Some(offset) = addr.checked_sub(start).filter(|o| *o <= info.size) else {
                return Ok(Err(zes_sys::ZE_RESULT_ERROR_INVALID_SIZE));
            };
            let elem = match info.kind {
                Kind::Array { elem, .. } => info_at(elem),
                _ => info,
            };
            let owned = owns_memory(py, c, &target)?;
            let bytes = info.size - offset;
            // A `from_address` view may describe any memory: check it like a raw address.
            if !owned && bytes > 0 && (bytes > MAX_RAW_BYTES || !accessible(addr, bytes)) {
                return Ok(Err(zes_sys::ZE_RESULT_ERROR_INVALID_ARGUMENT));
            }
            (addr, elem, Some(bytes))
        }
        Kind::Pointer { target: t } => {
            let at = address_of(py, c, &target)?;
            if byref_addr.is_some_and(|a| a != at) {
                return Ok(Err(zes_sys::ZE_RESULT_ERROR_INVALID_ARGUMENT));
            }
            // SAFETY: `target` is a live ctypes pointer instance; its buffer holds the address.
            let p = unsafe { core::ptr::read_unaligned(at as *const usize) };
            let elem = info_at(t);
            // `pointer(x)` and `cast(array, POINTER(T))` keep their object alive: then the
            // length is known; other addresses are checked as raw memory below.
            let known = if p == 0 { None } else { live_bytes(py, &target, p)?.map(|(n, _)| n) };
            (p, elem, known)
        }
        Kind::CArg | Kind::Other => {
            return Err(argument_error(
                py,
                argno,
                format!("expected a ctypes object, byref() or pointer(), got {}", type_name(obj)),
            ))
        }
    };
    match elem_matches(py, expect, &elem_info) {
        Ok(()) => {}
        Err("struct") => return Ok(Err(zes_sys::ZE_RESULT_ERROR_INVALID_ARGUMENT)),
        Err(_) => {
            if let (Elem::Struct { .. }, Kind::Struct { .. }) = (expect, elem_info.kind) {
                return Ok(Err(zes_sys::ZE_RESULT_ERROR_INVALID_ARGUMENT));
            }
            return Err(argument_error(py, argno, format!("wrong type {}", type_name(&target))));
        }
    }
    // Express the length in elements of the expected type (raw byte buffers for structs).
    let unit = expect.unit();
    let elems = bytes.map(|n| n / unit.max(1));
    let ptr = Ptr { addr, elems, unit };
    // A raw ctypes pointer may hold any address: its first element must be accessible memory.
    if elems.is_none() && addr != 0 && !accessible(addr, unit.max(1)) {
        return Ok(Err(zes_sys::ZE_RESULT_ERROR_INVALID_ARGUMENT));
    }
    if addr != 0 && elems == Some(0) {
        return Ok(Err(zes_sys::ZE_RESULT_ERROR_INVALID_SIZE));
    }
    Ok(Ok((ptr, target)))
}

impl Elem {
    /// Size in bytes of one element of this kind.
    fn unit(self) -> usize {
        match self {
            Elem::Struct { size, .. } => size,
            Elem::Scalar { size, .. } => size,
            Elem::Handle | Elem::PtrSized => core::mem::size_of::<usize>(),
            Elem::Char | Elem::Void => 1,
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Extension chains (`pNext`), passed to the driver as the binding's own copies.

/// At most this many bytes of raw (unverifiable-size) memory are accepted for one parameter.
pub(crate) const MAX_RAW_BYTES: usize = 64 << 20;
const MAX_CHAIN_LINKS: usize = 32;
/// Offset and size of `pNext` in every chained struct (after the 4-byte `stype` and padding).
const PNEXT: core::ops::Range<usize> = 8..16;

/// Room for a struct copy: inline for the common small structs (no allocation on the hot path),
/// on the heap otherwise. An inline copy's address changes when it moves: it is taken only once
/// the shadow holding it is in its final place (the generated code's `sh` binding).
enum Buf {
    Inline([u64; INLINE_WORDS]),
    Heap(Vec<u64>),
}

const INLINE_WORDS: usize = 8;

impl Buf {
    fn ptr(&self) -> *const u64 {
        match self {
            Buf::Inline(a) => a.as_ptr(),
            Buf::Heap(v) => v.as_ptr(),
        }
    }
    fn mut_ptr(&mut self) -> *mut u64 {
        match self {
            Buf::Inline(a) => a.as_mut_ptr(),
            Buf::Heap(v) => v.as_mut_ptr(),
        }
    }
}

/// One struct the driver sees as the binding's copy: where the caller's is and the copy.
struct Copied {
    caller: usize,
    copy: Buf,
    size: usize,
}

impl Copied {
    /// A copy of the `size` bytes at `addr`; `inline` allows the copy to live inside the value.
    fn from(addr: usize, size: usize, inline: bool) -> Copied {
        let words = size.div_ceil(8);
        let mut copy = if inline && words <= INLINE_WORDS {
            Buf::Inline([0; INLINE_WORDS])
        } else {
            Buf::Heap(vec![0u64; words])
        };
        // SAFETY: `size` bytes at `addr` are a validated buffer (a live ctypes object or mapped
        // readable memory); the copy has room for them.
        unsafe { core::ptr::copy_nonoverlapping(addr as *const u8, copy.mut_ptr() as *mut u8, size) };
        Copied { caller: addr, copy, size }
    }
    fn addr(&self) -> usize {
        self.copy.ptr() as usize
    }
    fn set_next(&mut self, at: usize, next: usize) {
        let p = self.copy.mut_ptr() as *mut u8;
        // SAFETY: `at + 16 <= size`: `pNext` of an element inside the copy.
        unsafe { core::ptr::write_unaligned(p.add(at + PNEXT.start) as *mut usize, next) }
    }
    /// Copies the driver's answer back, except the `pNext` fields (which point into our copies;
    /// the caller's stay as they are now).
    fn write_back(&self, elems: usize, elem_size: usize) {
        let src = self.copy.ptr() as *const u8;
        for i in 0..elems {
            let at = i * elem_size;
            for range in [at..at + PNEXT.start, at + PNEXT.end..at + elem_size] {
                if range.end > self.size {
                    break;
                }
                // SAFETY: the range lies inside both the copy and the caller's validated buffer,
                // whose object the call's frame (or this shadow's `keep`) holds alive.
                unsafe {
                    core::ptr::copy_nonoverlapping(
                        src.add(range.start),
                        (self.caller + range.start) as *mut u8,
                        range.len(),
                    )
                }
            }
        }
    }
}

/// The binding's copies of a struct argument (`n` elements) and of every link of their `pNext`
/// chains, validated while copying: what the driver reads cannot be changed by another thread
/// after the check. The driver's answers are copied back after the call.
pub(crate) struct Shadow<'py> {
    root: Option<Copied>,
    elems: usize,
    elem_size: usize,
    links: Vec<Copied>,
    /// The ctypes objects of the links, held for the write-back.
    _keep: Vec<Bound<'py, PyAny>>,
}

impl<'py> Shadow<'py> {
    /// Copies `n` structs of size `size` at `ptr` (a validated pointer of `target`) and their
    /// chains (structure types of family `family`: 0 ze, 1 zes). A link must be a ctypes object
    /// the caller's struct keeps alive or mapped readable/writable memory, hold a structure type
    /// this ABI knows for the family, for that struct's whole size; at most 32 links per chain.
    pub(crate) fn new(
        py: Python<'py>,
        target: &Bound<'py, PyAny>,
        ptr: Ptr,
        n: usize,
        size: usize,
        family: u8,
    ) -> Conv<Shadow<'py>> {
        let bad = zes_sys::ZE_RESULT_ERROR_INVALID_ARGUMENT;
        let mut shadow =
            Shadow { root: None, elems: n, elem_size: size, links: Vec::new(), _keep: Vec::new() };
        if ptr.addr == 0 || n == 0 {
            return Ok(Ok(shadow));
        }
        let Some(bytes) = n.checked_mul(size).filter(|b| ptr.elems.is_some() || *b <= MAX_RAW_BYTES) else {
            return Ok(Err(zes_sys::ZE_RESULT_ERROR_INVALID_SIZE));
        };
        let mut root = Copied::from(ptr.addr, bytes, true);
        for i in 0..n {
            // The copy's `pNext` (element i): what was validated is what the driver will see.
            // SAFETY: inside the copy.
            let mut next =
                unsafe { core::ptr::read_unaligned((root.addr() + i * size + PNEXT.start) as *const usize) };
            let mut links = 0;
            // (copy index, offset) of the `pNext` to patch: the root element first.
            let mut patch: Option<usize> = None;
            while next != 0 {
                links += 1;
                if links > MAX_CHAIN_LINKS {
                    return Ok(Err(bad));
                }
                let live = live_bytes(py, target, next)?;
                if live.is_none() && !accessible(next, 16) {
                    return Ok(Err(bad));
                }
                // SAFETY: the 16 bytes at `next` are part of a live ctypes object or were just
                // checked to be mapped and accessible.
                let stype = unsafe { core::ptr::read_unaligned(next as *const u32) };
                let found = generated::STYPES.iter().find(|(f, st, _)| *f == family && *st == stype);
                let Some(&(_, _, link_size)) = found else {
                    return Ok(Err(bad));
                };
                let whole = match &live {
                    Some((n, _)) => *n >= link_size,
                    None => accessible(next, link_size),
                };
                if !whole {
                    return Ok(Err(bad));
                }
                // Links are on the heap: the root (or the link before) points at them.
                let copy = Copied::from(next, link_size, false);
                let copy_addr = copy.addr();
                match patch {
                    None => root.set_next(i * size, copy_addr),
                    Some(j) => shadow.links[j].set_next(0, copy_addr),
                }
                // SAFETY: inside the copy just made (every chained struct has `pNext`).
                next = unsafe { core::ptr::read_unaligned((copy_addr + PNEXT.start) as *const usize) };
                shadow.links.push(copy);
                if let Some((_, obj)) = live {
                    shadow._keep.push(obj);
                }
                patch = Some(shadow.links.len() - 1);
            }
        }
        shadow.root = Some(root);
        Ok(Ok(shadow))
    }

    /// The address to pass to the driver (null when the caller passed null).
    pub(crate) fn addr(&self) -> usize {
        self.root.as_ref().map_or(0, Copied::addr)
    }

    /// Copies the driver's answer for the first `n` elements (and all chain links) back into the
    /// caller's structs.
    pub(crate) fn write_back(&self, n: usize) {
        if let Some(root) = &self.root {
            root.write_back(n.min(self.elems), self.elem_size);
        }
        for link in &self.links {
            link.write_back(1, link.size);
        }
    }
}

const MAX_LIVE_NODES: usize = 64;

/// When `addr` lies inside the buffer of `root` or of a ctypes object that `root` keeps alive
/// (its `_objects`, recursively) and that owns its memory, the number of bytes from `addr` to
/// the end of that buffer, and that object.
fn live_bytes<'py>(
    py: Python<'py>,
    root: &Bound<'py, PyAny>,
    addr: usize,
) -> PyResult<Option<(usize, Bound<'py, PyAny>)>> {
    let c = ctypes(py)?;
    let mut stack: Vec<Bound<'py, PyAny>> = vec![root.clone()];
    // `_objects` graphs have cycles (a cast pointer shares the dict that holds it).
    let mut seen: Vec<usize> = Vec::with_capacity(8);
    while let Some(node) = stack.pop() {
        let id = node.as_ptr() as usize;
        if seen.contains(&id) {
            continue;
        }
        seen.push(id);
        if seen.len() > MAX_LIVE_NODES {
            break;
        }
        if let Ok(d) = node.downcast::<PyDict>() {
            stack.extend(d.values());
            continue;
        }
        let (_, info) = info_of(py, &node.get_type())?;
        if !matches!(
            info.kind,
            Kind::Struct { .. } | Kind::Simple { .. } | Kind::Array { .. } | Kind::Pointer { .. }
        ) {
            continue;
        }
        let start = address_of(py, c, &node)?;
        if start <= addr && addr < start + info.size && owns_memory(py, c, &node)? {
            return Ok(Some((start + info.size - addr, node)));
        }
        if let Ok(objects) = node.getattr(intern!(py, "_objects")) {
            if !objects.is_none() {
                stack.push(objects);
            }
        }
    }
    Ok(None)
}

/// The `len` bytes at `addr` are mapped readable and writable in this process. Nothing at
/// `addr` is ever written (other threads' writes there are never disturbed):
/// - the permissions come from the kernel's memory map (`/proc/self/maps`), parsed once and
///   cached; an address the cached map does not show as readable and writable makes it re-read
///   (new mappings), so only a refusal costs a fresh read;
/// - on a positive answer from the cache, the pages are also read now (one byte per page, by the
///   kernel with `process_vm_readv`, which fails instead of faulting), so that memory unmapped
///   since the map was read is refused.
///
/// Not caught: a page made read-only (`mprotect`) after the map was read. Unverifiable (the map
/// cannot be read): false.
#[cfg(target_os = "linux")]
fn accessible(addr: usize, len: usize) -> bool {
    static MAPS: RwLock<Vec<(usize, usize, bool)>> = RwLock::new(Vec::new());
    let Some(end) = addr.checked_add(len.max(1)) else { return false };
    let covered = |regions: &[(usize, usize, bool)]| {
        // Regions are in address order; the range may span adjacent ones.
        let mut need = addr;
        let first = regions.partition_point(|&(_, hi, _)| hi <= addr);
        for &(lo, hi, rw) in &regions[first..] {
            if lo > need || !rw {
                return false;
            }
            need = hi;
            if need >= end {
                return true;
            }
        }
        false
    };
    let cached = MAPS.read().map(|m| covered(&m)).unwrap_or(false);
    if cached && pages_readable_now(addr, end) {
        return true;
    }
    let Some(fresh) = read_maps() else { return false };
    let ok = covered(&fresh);
    if let Ok(mut m) = MAPS.write() {
        *m = fresh;
    }
    ok && pages_readable_now(addr, end)
}

/// The regions of `/proc/self/maps`: (start, end, readable and writable).
#[cfg(target_os = "linux")]
fn read_maps() -> Option<Vec<(usize, usize, bool)>> {
    let maps = std::fs::read_to_string("/proc/self/maps").ok()?;
    let mut regions = Vec::with_capacity(maps.len() / 64);
    for line in maps.lines() {
        let mut fields = line.split_ascii_whitespace();
        let (Some(range), Some(perms)) = (fields.next(), fields.next()) else { continue };
        let Some((lo, hi)) = range.split_once('-') else { continue };
        let (Ok(lo), Ok(hi)) = (usize::from_str_radix(lo, 16), usize::from_str_radix(hi, 16)) else {
            continue;
        };
        regions.push((lo, hi, perms.starts_with("rw")));
    }
    Some(regions)
}

/// Every page of `[addr, end)` is mapped readable right now: the kernel copies one byte of each
/// page into our buffer (it reports an error for an unmapped page, never a fault).
#[cfg(target_os = "linux")]
fn pages_readable_now(addr: usize, end: usize) -> bool {
    const PAGE: usize = 4096;
    const BATCH: usize = 256;
    let mut sink = [0u8; BATCH];
    let mut at = addr;
    // SAFETY: getpid has no preconditions.
    let pid = unsafe { libc::getpid() };
    while at < end {
        let mut remote = [libc::iovec { iov_base: core::ptr::null_mut(), iov_len: 0 }; BATCH];
        let mut n = 0;
        while n < BATCH && at < end {
            remote[n] = libc::iovec { iov_base: at as *mut libc::c_void, iov_len: 1 };
            n += 1;
            at = (at / PAGE + 1) * PAGE;
        }
        let local = libc::iovec { iov_base: sink.as_mut_ptr().cast(), iov_len: n };
        // SAFETY: the kernel validates the remote addresses (an unmapped one is an error); the
        // local buffer is ours and has room for the `n` bytes asked for.
        let read = unsafe { libc::process_vm_readv(pid, &local, 1, remote.as_ptr(), n as libc::c_ulong, 0) };
        if read != n as isize {
            return false;
        }
    }
    true
}

#[cfg(not(target_os = "linux"))]
fn accessible(_addr: usize, _len: usize) -> bool {
    false
}

// ---------------------------------------------------------------------------------------------
// The legacy path (loaders of spec < 1.5 have no zesInit/zesDriverGet/zesDeviceGet).

pub(crate) fn legacy_init(py: Python<'_>, lib: &zes_sys::Library, flags: u32) -> u32 {
    let _ = flags;
    let Some(init) = lib.functions().zeInit else { return zes_sys::ZE_RESULT_ERROR_UNSUPPORTED_FEATURE.0 };
    if std::env::var_os("ZES_ENABLE_SYSMAN").is_none() {
        std::env::set_var("ZES_ENABLE_SYSMAN", "1");
    }
    state::set_legacy();
    // SAFETY: zeInit takes flags by value; 0 asks for every driver type.
    py.allow_threads(|| unsafe { init(zes_sys::ze_init_flags_t(0)) }).0
}

pub(crate) fn legacy_driver_get(py: Python<'_>, lib: &zes_sys::Library, count: usize, out: usize) -> u32 {
    let Some(f) = lib.functions().zeDriverGet else { return zes_sys::ZE_RESULT_ERROR_UNSUPPORTED_FEATURE.0 };
    // SAFETY: `count` is the binding's own copy of the count, `out` null or an array validated by
    // `ptr_in` and checked against that count by the caller.
    py.allow_threads(|| unsafe { f(count as *mut u32, out as *mut zes_sys::ze_driver_handle_t) }).0
}

pub(crate) fn legacy_device_get(
    py: Python<'_>,
    lib: &zes_sys::Library,
    driver: usize,
    count: usize,
    out: usize,
) -> u32 {
    let Some(f) = lib.functions().zeDeviceGet else { return zes_sys::ZE_RESULT_ERROR_UNSUPPORTED_FEATURE.0 };
    // SAFETY: as for `legacy_driver_get`; the driver handle is one the library returned.
    py.allow_threads(|| unsafe {
        f(
            zes_sys::ze_driver_handle_t::from_raw(driver),
            count as *mut u32,
            out as *mut zes_sys::ze_device_handle_t,
        )
    })
    .0
}

/// A function the library does not export (newer than the loader, or experimental), resolved
/// through `zesDriverGetExtensionFunctionAddress` (or the core one) of the first driver.
pub(crate) fn extension<F: Copy>(py: Python<'_>, lib: &zes_sys::Library, name: &'static str) -> Option<F> {
    const { assert!(core::mem::size_of::<F>() == core::mem::size_of::<usize>()) };
    let addr = match name {
        // A loader hands out its own handles where it wraps them (intercept layer, several
        // drivers), and passes a driver's extension function through untouched: that function
        // would get handles it never made (INVALID_NULL_HANDLE from the simulator, and a
        // loader-unknown device handle back). Served through the loader's own functions instead.
        "zesDriverGetDeviceByUuidExp" if lib.kind() == zes_sys::LibraryKind::Loader => {
            device_by_uuid_through_loader as PfnDeviceByUuid as usize
        }
        _ => extension_address(py, lib, name)?,
    };
    // SAFETY: the driver returned the address of the function of that name, whose C signature
    // is the one `F` (its generated PFN type) declares.
    Some(unsafe { core::mem::transmute_copy::<usize, F>(&addr) })
}

type PfnDeviceByUuid = unsafe extern "C" fn(
    zes_sys::zes_driver_handle_t,
    zes_sys::zes_uuid_t,
    *mut zes_sys::zes_device_handle_t,
    *mut zes_sys::ze_bool_t,
    *mut u32,
) -> ze_result_t;

/// Most devices (and sub-devices of one device) a UUID lookup reads through the loader.
const UUID_LOOKUP_MAX_DEVICES: u32 = 1024;

/// `zesDriverGetDeviceByUuidExp` for a loader that does not export it (spec < 1.9, such as
/// Debian bookworm's 1.8.12): the driver's devices are listed and their UUIDs compared through
/// the loader's own entry points, so that every handle in and out is one the loader made. On the
/// legacy path (core handles are Sysman handles) sub-devices are searched too.
unsafe extern "C" fn device_by_uuid_through_loader(
    driver: zes_sys::zes_driver_handle_t,
    uuid: zes_sys::zes_uuid_t,
    out_device: *mut zes_sys::zes_device_handle_t,
    on_subdevice: *mut zes_sys::ze_bool_t,
    subdevice_id: *mut u32,
) -> ze_result_t {
    use zes_sys::*;
    let Some(t) = state::loaded().map(|lib| lib.functions()) else { return ZE_RESULT_ERROR_UNINITIALIZED };
    if driver.is_null() {
        return ZE_RESULT_ERROR_INVALID_NULL_HANDLE;
    }
    if out_device.is_null() || on_subdevice.is_null() || subdevice_id.is_null() {
        return ZE_RESULT_ERROR_INVALID_NULL_POINTER;
    }
    let legacy = state::is_legacy();
    // SAFETY: counts and arrays of our own, sized by the count the loader reported (bounded);
    // handles are the ones the loader returned or was given by the caller.
    unsafe {
        let mut count = 0u32;
        let rc = match (legacy, t.zesDeviceGet, t.zeDeviceGet) {
            (false, Some(f), _) => f(driver, &mut count, core::ptr::null_mut()),
            (_, _, Some(f)) => {
                f(ze_driver_handle_t::from_raw(driver.as_raw()), &mut count, core::ptr::null_mut())
            }
            _ => return ZE_RESULT_ERROR_UNSUPPORTED_FEATURE,
        };
        if rc != ZE_RESULT_SUCCESS {
            return rc;
        }
        count = count.min(UUID_LOOKUP_MAX_DEVICES);
        let mut devices = vec![zes_device_handle_t::NULL; count as usize];
        let rc = match (legacy, t.zesDeviceGet, t.zeDeviceGet) {
            (false, Some(f), _) => f(driver, &mut count, devices.as_mut_ptr()),
            (_, _, Some(f)) => f(
                ze_driver_handle_t::from_raw(driver.as_raw()),
                &mut count,
                devices.as_mut_ptr().cast::<ze_device_handle_t>(),
            ),
            _ => return ZE_RESULT_ERROR_UNSUPPORTED_FEATURE,
        };
        if rc != ZE_RESULT_SUCCESS {
            return rc;
        }
        devices.truncate(count as usize);
        let Some(properties) = t.zesDeviceGetProperties else { return ZE_RESULT_ERROR_UNSUPPORTED_FEATURE };
        for &device in &devices {
            let mut p = zes_device_properties_t::default();
            if properties(device, &mut p) == ZE_RESULT_SUCCESS && p.core.uuid.id == uuid.id {
                *out_device = device;
                *on_subdevice = 0;
                *subdevice_id = 0;
                return ZE_RESULT_SUCCESS;
            }
        }
        if let (true, Some(sub_get), Some(core_properties)) =
            (legacy, t.zeDeviceGetSubDevices, t.zeDeviceGetProperties)
        {
            for &device in &devices {
                let core = ze_device_handle_t::from_raw(device.as_raw());
                let mut n = 0u32;
                if sub_get(core, &mut n, core::ptr::null_mut()) != ZE_RESULT_SUCCESS || n == 0 {
                    continue;
                }
                n = n.min(UUID_LOOKUP_MAX_DEVICES);
                let mut subs = vec![ze_device_handle_t::NULL; n as usize];
                if sub_get(core, &mut n, subs.as_mut_ptr()) != ZE_RESULT_SUCCESS {
                    continue;
                }
                subs.truncate(n as usize);
                for sub in subs {
                    let mut p = ze_device_properties_t::default();
                    if core_properties(sub, &mut p) == ZE_RESULT_SUCCESS && p.uuid.id == uuid.id {
                        *out_device = device;
                        *on_subdevice = 1;
                        *subdevice_id = p.subdeviceId;
                        return ZE_RESULT_SUCCESS;
                    }
                }
            }
        }
    }
    ZE_RESULT_ERROR_INVALID_ARGUMENT
}

fn extension_address(py: Python<'_>, lib: &zes_sys::Library, name: &'static str) -> Option<usize> {
    static CACHE: OnceLock<RwLock<HashMap<&'static str, usize>>> = OnceLock::new();
    let cache = CACHE.get_or_init(Default::default);
    if let Some(&a) = cache.read().ok()?.get(name) {
        return (a != 0).then_some(a);
    }
    let t = lib.functions();
    let cname = CString::new(name).ok()?;
    let addr = py.allow_threads(|| {
        let mut count = 1u32;
        let mut driver = zes_sys::ze_driver_handle_t::NULL;
        // SAFETY: one writable handle and its count, as the spec requires.
        let rc = unsafe {
            match (t.zesDriverGet, t.zeDriverGet) {
                (Some(f), _) => f(&mut count, &mut driver),
                (None, Some(f)) => f(&mut count, &mut driver),
                _ => return None,
            }
        };
        if rc != zes_sys::ZE_RESULT_SUCCESS || driver.is_null() {
            return None;
        }
        let mut out: *mut core::ffi::c_void = core::ptr::null_mut();
        // SAFETY: a driver handle the library just returned, a NUL-terminated name and one
        // writable pointer.
        let rc = unsafe {
            match (t.zesDriverGetExtensionFunctionAddress, t.zeDriverGetExtensionFunctionAddress) {
                (Some(f), _) => f(driver, cname.as_ptr(), &mut out),
                (None, Some(f)) => f(driver, cname.as_ptr(), &mut out),
                _ => return Some(0),
            }
        };
        Some(if rc == zes_sys::ZE_RESULT_SUCCESS { out as usize } else { 0 })
    })?;
    if let Ok(mut c) = cache.write() {
        c.insert(name, addr);
    }
    (addr != 0).then_some(addr)
}

/// Benchmark helper: the cost of `n` calls of `zesMemoryGetState` made straight from Rust (the
/// driver's and loader's own time, without any Python), in nanoseconds per call.
#[pyfunction]
pub(crate) fn _driver_floor_ns(py: Python<'_>, handle: usize, n: u32) -> PyResult<f64> {
    let lib = state::library(py, false).map_err(|rc| PyTypeError::new_err(format!("library: {rc:?}")))?;
    let f = lib.functions().zesMemoryGetState.ok_or_else(|| PyTypeError::new_err("no zesMemoryGetState"))?;
    if !handle_known(handle, generated::HANDLE_KIND_MEM) {
        return Err(PyTypeError::new_err("not a memory handle the library returned"));
    }
    let t0 = std::time::Instant::now();
    py.allow_threads(|| {
        let mut st = zes_sys::zes_mem_state_t::default();
        for _ in 0..n {
            // SAFETY: a memory handle the library returned and a state struct of our own.
            unsafe { f(zes_sys::zes_mem_handle_t::from_raw(handle), &mut st) };
        }
    });
    Ok(t0.elapsed().as_nanos() as f64 / f64::from(n.max(1)))
}

/// The per-function glue, generated from the ABI description (abi/gen/rust_pyzes.py).
#[path = "generated.rs"]
#[rustfmt::skip]
pub(crate) mod generated;
