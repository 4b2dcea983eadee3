//! Helpers shared by the integration tests: running zes-smi against the simulator.
#![allow(dead_code)]

use std::path::Path;
use std::process::{Command, Output};

pub const BIN: &str = env!("CARGO_BIN_EXE_zes-smi");

/// A command for zes-smi with the simulator's environment cleared.
pub fn zes_smi() -> Command {
    let mut c = Command::new(BIN);
    for var in zes_sim::testing::SETTINGS {
        c.env_remove(var);
    }
    c
}

/// Runs `zes-smi --simulate <args>` with extra environment variables.
pub fn sim(args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut c = zes_smi();
    c.arg("--simulate").args(args);
    for (k, v) in env {
        c.env(k, v);
    }
    c.output().expect("run zes-smi")
}

pub fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// Writes a simulator machine file.
pub fn machine(dir: &Path, toml: &str) -> String {
    let path = dir.join("machine.toml");
    std::fs::write(&path, toml).unwrap();
    path.to_string_lossy().into_owned()
}

/// Whether Prometheus tests may be skipped (`ZES_SKIP_PROMETHEUS_TESTS=1`); otherwise a
/// missing binary fails the test.
pub fn prometheus_tests_skipped() -> bool {
    std::env::var("ZES_SKIP_PROMETHEUS_TESTS").as_deref() == Ok("1")
}

/// Replaces the measured sampling window (wall time, volatile) by `<window>`.
pub fn normalize(text: &str) -> String {
    text.lines()
        .map(|line| match line.find("window_s") {
            Some(at) => {
                let head = &line[..at + "window_s".len()];
                let rest = &line[at + "window_s".len()..];
                let keep: String = rest.chars().take_while(|c| !c.is_ascii_digit()).collect();
                let tail: String =
                    rest[keep.len()..].chars().skip_while(|c| c.is_ascii_digit() || *c == '.').collect();
                format!("{head}{keep}<window>{tail}")
            }
            None => line.to_string(),
        })
        .collect::<Vec<_>>()
        .join("\n")
}
