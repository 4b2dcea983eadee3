//! zes-smi as a library: [`run`] is the whole command line. The `zes-smi` binary calls it, and so
//! does the Python package's `zes-smi` entry point (pip installs it on PATH), so both behave the
//! same in every respect.
#![forbid(unsafe_code)]

mod cli;
mod commands;
mod exporter;
mod model;
mod output;
mod source;

use clap::Parser;

/// Success.
pub const EXIT_OK: i32 = 0;
/// A runtime error: no loader or driver, a device that failed, a refused setting.
pub const EXIT_RUNTIME: i32 = 1;
/// A usage error: bad arguments, or a device selector that matches no device or several.
pub const EXIT_USAGE: i32 = 2;

/// Runs zes-smi with `args` (the program name first) and returns its exit code.
pub fn run(args: impl IntoIterator<Item = std::ffi::OsString>) -> i32 {
    let cli = match cli::Cli::try_parse_from(cli::normalize_args(args)) {
        Ok(cli) => cli,
        Err(e) => {
            let code = if e.use_stderr() { EXIT_USAGE } else { EXIT_OK };
            let _ = e.print();
            return code;
        }
    };
    match commands::run(cli) {
        Ok(()) => EXIT_OK,
        Err(fatal) => {
            eprintln!("zes-smi: {}", fatal.message);
            fatal.code
        }
    }
}
