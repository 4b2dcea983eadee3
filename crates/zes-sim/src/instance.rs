//! Which copy of the simulator this is. A program (or the loader, given
//! `ZE_ENABLE_ALT_DRIVERS=a.so,b.so`) may load the simulator's file under several names: each
//! copy is a separate instance with its own machine. An instance is named by the stem of its
//! file (`/x/libzes_sim_b.so` -> `libzes_sim_b`): it reads `ZES_SIM_<SETTING>_<stem>` before
//! `ZES_SIM_<SETTING>`, so each copy can be given its own machine. Its handles carry its position
//! in `ZE_ENABLE_ALT_DRIVERS` (see `handles`), so that the handles of two copies never collide in
//! the loader's handle maps.

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

/// At most this many copies listed in `ZE_ENABLE_ALT_DRIVERS` get distinct handles.
pub const MAX_INSTANCES: usize = 15;

struct Instance {
    file: Option<PathBuf>,
    stem: Option<String>,
    id: u8,
}

fn instance() -> &'static Instance {
    static INSTANCE: OnceLock<Instance> = OnceLock::new();
    INSTANCE.get_or_init(|| {
        let file = crate::edge::own_file();
        let stem = file.as_deref().and_then(stem_of);
        let id = file
            .as_deref()
            .map_or(0, |f| position_in_alt_drivers(f, std::env::var_os("ZE_ENABLE_ALT_DRIVERS")));
        Instance { file, stem, id }
    })
}

/// The variable-name form of a file's stem: the name up to its first dot, every character other
/// than ASCII letters, digits and `_` replaced by `_`.
pub fn stem_of(file: &Path) -> Option<String> {
    let name = file.file_name()?.to_string_lossy().into_owned();
    let stem = name.split('.').next().unwrap_or_default();
    (!stem.is_empty())
        .then(|| stem.chars().map(|c| if c.is_ascii_alphanumeric() || c == '_' { c } else { '_' }).collect())
}

/// 1 + the position of `file` among the comma-separated paths of `list` (at most
/// [`MAX_INSTANCES`], then counting wraps), or 0 when it is not listed.
pub fn position_in_alt_drivers(file: &Path, list: Option<OsString>) -> u8 {
    let Some(list) = list else { return 0 };
    let own = file.canonicalize().unwrap_or_else(|_| file.to_path_buf());
    for (i, entry) in list.to_string_lossy().split(',').map(str::trim).filter(|e| !e.is_empty()).enumerate() {
        let entry = Path::new(entry);
        if entry.canonicalize().unwrap_or_else(|_| entry.to_path_buf()) == own {
            return (i % MAX_INSTANCES) as u8 + 1;
        }
    }
    0
}

/// This instance's number in its handles (0..=15).
pub fn id() -> u8 {
    instance().id
}

/// The stem this instance's own variables end with (`None` if its file is unknown).
pub fn stem() -> Option<&'static str> {
    instance().stem.as_deref()
}

/// The settings variable `name` as this instance sees it: `(variable read, value)`.
/// `<name>_<stem>` wins over `<name>`. The two machine variables go together: when either
/// `ZES_SIM_CONFIG_<stem>` or `ZES_SIM_PRESET_<stem>` is set, the plain ones are ignored both.
pub fn var(name: &str) -> Option<(String, OsString)> {
    var_for(name, stem(), &|key| std::env::var_os(key))
}

/// [`var`] for a given stem and environment (tested without touching the process environment).
pub fn var_for(
    name: &str,
    stem: Option<&str>,
    env: &dyn Fn(&str) -> Option<OsString>,
) -> Option<(String, OsString)> {
    const MACHINE: [&str; 2] = ["ZES_SIM_CONFIG", "ZES_SIM_PRESET"];
    if let Some(stem) = stem {
        let own = format!("{name}_{stem}");
        if let Some(value) = env(&own) {
            return Some((own, value));
        }
        if MACHINE.contains(&name) && MACHINE.iter().any(|m| env(&format!("{m}_{stem}")).is_some()) {
            return None;
        }
    }
    env(name).map(|value| (name.to_string(), value))
}

/// The standalone simulated driver file that goes with this build, for programs that are not
/// Python: this file itself when the simulator is its own library, else the copy beside the
/// module or executable linking it in (the Python package keeps it in `_sim/` beside its native
/// module; cargo puts it beside its executables, or in their `deps/`). `None` when none exists.
pub fn standalone_driver_file() -> Option<PathBuf> {
    let own = instance().file.as_deref()?;
    let name = crate::testing::LIBRARY_NAME;
    if own.file_name().is_some_and(|n| n == name) {
        return Some(own.to_path_buf());
    }
    let dir = own.parent()?;
    [dir.join("_sim").join(name), dir.join(name), dir.join("deps").join(name)]
        .into_iter()
        .find(|p| p.is_file())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    #[test]
    fn stems_are_variable_names() {
        assert_eq!(stem_of(Path::new("/x/libzes_sim.so")).as_deref(), Some("libzes_sim"));
        assert_eq!(stem_of(Path::new("/x/libzes-sim b.so.1")).as_deref(), Some("libzes_sim_b"));
        assert_eq!(stem_of(Path::new("/x/.so")), None);
    }

    #[test]
    fn positions_follow_the_alt_driver_list() {
        let list = |s: &str| Some(OsString::from(s));
        let a = Path::new("/nonexistent/a.so");
        assert_eq!(position_in_alt_drivers(a, None), 0);
        assert_eq!(position_in_alt_drivers(a, list("/nonexistent/b.so")), 0);
        assert_eq!(position_in_alt_drivers(a, list("/nonexistent/a.so")), 1);
        assert_eq!(position_in_alt_drivers(a, list("/nonexistent/b.so, /nonexistent/a.so")), 2);
    }

    #[test]
    fn own_variables_win_and_machine_variables_go_together() {
        let vars: HashMap<&str, &str> = [
            ("ZES_SIM_CONFIG", "plain.toml"),
            ("ZES_SIM_PRESET", "a770"),
            ("ZES_SIM_PRESET_b", "igpu"),
            ("ZES_SIM_LATENCY_US", "5"),
        ]
        .into();
        let env = |k: &str| vars.get(k).map(OsString::from);
        let read = |name, stem| var_for(name, stem, &env).map(|(k, v)| (k, v.into_string().unwrap()));
        assert_eq!(read("ZES_SIM_PRESET", Some("b")), Some(("ZES_SIM_PRESET_b".into(), "igpu".into())));
        assert_eq!(
            read("ZES_SIM_CONFIG", Some("b")),
            None,
            "the plain machine file must not win over b's presets"
        );
        assert_eq!(read("ZES_SIM_CONFIG", Some("a")), Some(("ZES_SIM_CONFIG".into(), "plain.toml".into())));
        assert_eq!(read("ZES_SIM_LATENCY_US", Some("b")), Some(("ZES_SIM_LATENCY_US".into(), "5".into())));
        assert_eq!(read("ZES_SIM_PRESET", None), Some(("ZES_SIM_PRESET".into(), "a770".into())));
    }
}
