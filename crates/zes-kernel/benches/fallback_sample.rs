//! The cost of one fallback sample: 200 processes with 4 DRM fds each (2 clients of 2 fds, one
//! per GPU) and 4 other fds, two GPUs (i915 and xe) with hwmon and frequencies, on a tree in a
//! temporary directory. Prints the median and the slowest time per sample (target: < 5 ms).
//!
//! `cargo bench -p zes-kernel --bench fallback_sample`

#[path = "../tests/fixture/mod.rs"]
mod fixture;

use fixture::{i915_fdinfo, xe_fdinfo, Tree};
use std::time::Instant;
use zes_kernel::{KernelSource, Sampler};

const PROCESSES: u32 = 200;
const SAMPLES: usize = 200;

fn main() {
    // In memory where possible (procfs and sysfs are): /dev/shm is a tmpfs on most systems.
    let shm = std::path::Path::new("/dev/shm");
    let t = if shm.is_dir() { Tree::new_in(shm) } else { Tree::new() };
    println!("fixture tree in {}", t.dir.path().display());
    let a770 = "0000:03:00.0";
    let max = "0000:29:00.0";
    for (card, driver, addr) in [(0, "i915", a770), (1, "xe", max)] {
        let dev = t.card(card, driver, addr);
        let hw = format!("{dev}/hwmon/hwmon{card}");
        t.file(&format!("{hw}/name"), format!("{driver}\n"));
        for f in ["energy1_input", "power1_max", "power1_crit", "fan1_input", "temp2_input"] {
            t.file(&format!("{hw}/{f}"), "1000\n");
        }
        if driver == "xe" {
            for f in ["act_freq", "cur_freq", "min_freq", "max_freq"] {
                t.file(&format!("{dev}/tile0/gt0/freq0/{f}"), "1000\n");
            }
        } else {
            for f in ["rps_act_freq_mhz", "rps_cur_freq_mhz", "rps_min_freq_mhz", "rps_max_freq_mhz"] {
                t.file(&format!("sys/class/drm/card0/gt/gt0/{f}"), "1000\n");
            }
        }
    }
    for i in 0..PROCESSES {
        let pid = 1000 + i;
        t.process(pid, "worker", &["python3", "worker.py", "--rank", &i.to_string()]);
        for fd in 0..3 {
            t.link(&format!("proc/{pid}/fd/{fd}"), "/dev/pts/0");
        }
        t.link(&format!("proc/{pid}/fd/3"), "socket:[4242]");
        let i915 = i915_fdinfo(2 * i as u64, a770, 1_000_000 * i as u64, 0);
        let xe = xe_fdinfo(2 * i as u64 + 1, max, 1000, 2000, 1_000_000);
        t.fd(pid, 4, "/dev/dri/renderD128", &i915);
        t.fd(pid, 5, "/dev/dri/renderD128", &i915);
        t.fd(pid, 6, "/dev/dri/renderD129", &xe);
        t.fd(pid, 7, "/dev/dri/renderD129", &xe);
    }
    let mut sampler = Sampler::new(KernelSource::new(t.roots()));
    let check = sampler.sample();
    assert_eq!(check.sample.processes.len(), PROCESSES as usize);
    assert_eq!(check.sample.walk.drm_fds, 4 * PROCESSES);
    assert_eq!(check.processes.len(), 2 * PROCESSES as usize);
    let mut times = Vec::with_capacity(SAMPLES);
    let cpu_start = on_cpu_ns();
    for _ in 0..SAMPLES {
        let start = Instant::now();
        let u = sampler.sample();
        times.push(start.elapsed());
        std::hint::black_box(u);
    }
    let cpu = on_cpu_ns().zip(cpu_start).map(|(b, a)| (b - a) as f64 / SAMPLES as f64 / 1e6);
    times.sort();
    let median = times[SAMPLES / 2];
    let worst = times[SAMPLES - 1];
    println!(
        "fallback sample, {PROCESSES} processes x 4 DRM fds (+4 other fds), 2 GPUs: median {:.3} ms, \
         slowest {:.3} ms over {SAMPLES} samples (target < 5 ms)",
        median.as_secs_f64() * 1e3,
        worst.as_secs_f64() * 1e3
    );
    // The read alone, without the rates.
    let source = KernelSource::new(t.roots());
    source.sample();
    let cpu_read = on_cpu_ns();
    for _ in 0..SAMPLES {
        std::hint::black_box(source.sample());
    }
    if let Some(ms) = on_cpu_ns().zip(cpu_read).map(|(b, a)| (b - a) as f64 / SAMPLES as f64 / 1e6) {
        println!("  of which reading the trees (KernelSource::sample, on-CPU): {ms:.3} ms per sample");
    }
    // On a machine shared with other work, wall time includes waiting for a CPU.
    if let Some(ms) = cpu {
        println!("  on-CPU time of this thread (user + kernel): {ms:.3} ms per sample");
    }
}

/// Nanoseconds this thread has run on a CPU (`/proc/thread-self/schedstat`, first field).
fn on_cpu_ns() -> Option<u64> {
    std::fs::read_to_string("/proc/thread-self/schedstat").ok()?.split_whitespace().next()?.parse().ok()
}
