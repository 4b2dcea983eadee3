//! Simulated Level Zero driver (placeholder until its issue lands).
#[no_mangle]
pub extern "C" fn zesSimPlaceholder() -> i32 {
    0
}
