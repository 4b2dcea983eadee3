//! zes-smi: query, watch and export Intel GPU telemetry through Level Zero Sysman.
#![forbid(unsafe_code)]

fn main() {
    std::process::exit(zes_cli::run(std::env::args_os()));
}
