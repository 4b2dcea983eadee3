//! The one error type of the crate.

use std::fmt;

use serde::Serialize;
use zes_sys::{ze_result_t, LoadError, Version};

/// `Result` with this crate's [`Error`].
pub type Result<T> = std::result::Result<T, Error>;

/// Broad class of an error, for code that only wants to know *why* a value is missing.
///
/// Serialized as `"permission"`, `"unsupported"`, `"device_lost"`, `"implausible"` or `"other"`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorClass {
    /// The caller lacks the privileges (`ZE_RESULT_ERROR_INSUFFICIENT_PERMISSIONS`).
    Permission,
    /// The driver, device or loader does not support the request.
    Unsupported,
    /// The device is gone (`ZE_RESULT_ERROR_DEVICE_LOST`).
    DeviceLost,
    /// A derived rate beyond what the device can physically do (a counter glitch); never the
    /// class of a C call's error, only of a snapshot reading (see [`crate::metrics`]).
    Implausible,
    /// Anything else.
    Other,
}

impl ErrorClass {
    /// The stable lowercase label used in snapshots (`permission`, `unsupported`, ...), the same
    /// as its serialized form.
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorClass::Permission => "permission",
            ErrorClass::Unsupported => "unsupported",
            ErrorClass::DeviceLost => "device_lost",
            ErrorClass::Implausible => "implausible",
            ErrorClass::Other => "other",
        }
    }

    /// The class of a raw result code.
    pub fn of(code: ze_result_t) -> Self {
        match code {
            ze_result_t::ERROR_INSUFFICIENT_PERMISSIONS => ErrorClass::Permission,
            ze_result_t::ERROR_UNSUPPORTED_FEATURE
            | ze_result_t::ERROR_UNSUPPORTED_VERSION
            | ze_result_t::ERROR_UNSUPPORTED_ENUMERATION => ErrorClass::Unsupported,
            ze_result_t::ERROR_DEVICE_LOST => ErrorClass::DeviceLost,
            _ => ErrorClass::Other,
        }
    }
}

/// Everything that can go wrong.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub enum Error {
    /// A C function returned something other than `ZE_RESULT_SUCCESS`.
    Call {
        /// The C function that failed (`zesPowerGetEnergyCounter`).
        function: &'static str,
        /// The raw result it returned.
        code: ze_result_t,
    },
    /// `zesInit` or `zeInit` of an opened library failed: the message names the library, its
    /// version and the likely cause and fix (`zes_sys::Library::init_failure_message`).
    Init {
        /// `zesInit` or `zeInit`.
        function: &'static str,
        /// The raw result it returned.
        code: ze_result_t,
        /// The whole explanation.
        message: String,
    },
    /// No Level Zero library could be opened; lists every candidate tried and why it failed.
    LibraryNotFound(LoadError),
    /// The opened library does not provide this function (an older loader or driver).
    FunctionUnavailable {
        /// The C function.
        function: &'static str,
        /// The spec version that introduced it, when known.
        since: Option<Version>,
        /// The loader's version, when the loader reports it.
        loader_version: Option<String>,
    },
    /// The driver returned data that breaks the API contract (for example a count that keeps
    /// changing between the calls of a two-call enumeration).
    Driver {
        /// The C function concerned.
        function: &'static str,
        /// What was wrong.
        message: String,
    },
    /// The driver reported more elements than a two-call enumeration accepts
    /// ([`crate::MAX_ENUMERATION_COUNT`]); nothing of that size was allocated.
    CountTooLarge {
        /// The enumerating C function (`zesFrequencyGetAvailableClocks`).
        function: &'static str,
        /// The count the driver reported.
        count: u32,
        /// The largest count accepted.
        cap: u32,
    },
}

impl Error {
    pub(crate) fn call(function: &'static str, code: ze_result_t) -> Self {
        Error::Call { function, code }
    }

    pub(crate) fn unavailable(function: &'static str, loader_version: Option<String>) -> Self {
        Error::FunctionUnavailable {
            function,
            since: zes_sys::function_info(function).map(|info| info.since),
            loader_version,
        }
    }

    /// The raw result code, for errors returned by a C function.
    pub fn code(&self) -> Option<ze_result_t> {
        match self {
            Error::Call { code, .. } | Error::Init { code, .. } => Some(*code),
            _ => None,
        }
    }

    /// The C name of the result code (`ZE_RESULT_ERROR_DEVICE_LOST`), its hex value when the
    /// code is unknown to this crate, or a descriptive name for the other kinds
    /// (`LIBRARY_NOT_FOUND`, `FUNCTION_UNAVAILABLE`, `DRIVER_CONTRACT`, `COUNT_TOO_LARGE`).
    pub fn code_name(&self) -> String {
        match self {
            Error::Call { code, .. } | Error::Init { code, .. } => code.name_or_hex(),
            Error::LibraryNotFound(_) => "LIBRARY_NOT_FOUND".into(),
            Error::FunctionUnavailable { .. } => "FUNCTION_UNAVAILABLE".into(),
            Error::Driver { .. } => "DRIVER_CONTRACT".into(),
            Error::CountTooLarge { .. } => "COUNT_TOO_LARGE".into(),
        }
    }

    /// The C function concerned, if any.
    pub fn function(&self) -> Option<&'static str> {
        match self {
            Error::Call { function, .. }
            | Error::Init { function, .. }
            | Error::FunctionUnavailable { function, .. }
            | Error::Driver { function, .. }
            | Error::CountTooLarge { function, .. } => Some(function),
            Error::LibraryNotFound(_) => None,
        }
    }

    /// The broad class of the error.
    pub fn class(&self) -> ErrorClass {
        match self {
            Error::Call { code, .. } | Error::Init { code, .. } => ErrorClass::of(*code),
            Error::FunctionUnavailable { .. } => ErrorClass::Unsupported,
            Error::LibraryNotFound(_) | Error::Driver { .. } | Error::CountTooLarge { .. } => {
                ErrorClass::Other
            }
        }
    }

    /// `ZE_RESULT_ERROR_INSUFFICIENT_PERMISSIONS` (typical of telemetry read without root).
    pub fn is_permission_denied(&self) -> bool {
        self.class() == ErrorClass::Permission
    }

    /// Unsupported by the device, driver or loader (including a function the loader lacks).
    pub fn is_unsupported(&self) -> bool {
        self.class() == ErrorClass::Unsupported
    }

    /// `ZE_RESULT_ERROR_DEVICE_LOST`.
    pub fn is_device_lost(&self) -> bool {
        self.class() == ErrorClass::DeviceLost
    }

    /// No library could be loaded.
    pub fn is_library_not_found(&self) -> bool {
        matches!(self, Error::LibraryNotFound(_))
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Call { function, code } => write!(f, "{function} failed: {}", code.name_or_hex()),
            Error::Init { message, .. } => f.write_str(message),
            Error::LibraryNotFound(e) => e.fmt(f),
            Error::FunctionUnavailable { function, since, loader_version } => {
                let version = loader_version.as_deref().unwrap_or("unknown");
                write!(f, "{function} is not available in this loader (version {version})")?;
                if let Some(since) = since {
                    write!(f, "; it was introduced in Level Zero spec {since}")?;
                }
                Ok(())
            }
            Error::Driver { function, message } => write!(f, "{function}: {message}"),
            Error::CountTooLarge { function, count, cap } => {
                write!(f, "{function} reported {count} elements, more than the {cap} an enumeration accepts")
            }
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Error::LibraryNotFound(e) => Some(e),
            _ => None,
        }
    }
}

impl From<LoadError> for Error {
    fn from(e: LoadError) -> Self {
        Error::LibraryNotFound(e)
    }
}
