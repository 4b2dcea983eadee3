//! zes-smi: query, watch and export Intel GPU telemetry through Level Zero Sysman.
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
/// A usage error: bad arguments or a device selector that matches nothing.
pub const EXIT_USAGE: i32 = 2;

fn main() {
    let cli = match cli::Cli::try_parse_from(cli::normalize_args(std::env::args_os())) {
        Ok(cli) => cli,
        Err(e) => {
            let code = if e.use_stderr() { EXIT_USAGE } else { EXIT_OK };
            let _ = e.print();
            std::process::exit(code);
        }
    };
    let code = match commands::run(cli) {
        Ok(()) => EXIT_OK,
        Err(fatal) => {
            eprintln!("zes-smi: {}", fatal.message);
            fatal.code
        }
    };
    std::process::exit(code);
}
