//! The target a cargo build in this directory compiles for, found the way
//! cargo finds it: `--target`, else `CARGO_BUILD_TARGET`, else `build.target`
//! in the nearest `.cargo/config.toml` (or `.cargo/config`) from the current
//! directory up to the root, then `$CARGO_HOME/config.toml`; else the host.
//!
//! `cargo percpu ldscript` renders for that target, and `inspect --bin`
//! builds for it, so that neither needs `--target` in a project whose
//! configuration already names one.

use std::fmt;
use std::path::{Path, PathBuf};

use crate::ldscript::Arch;

/// Where the target came from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TargetSource {
    /// `--target` on the command line.
    Flag,
    /// The `CARGO_BUILD_TARGET` environment variable.
    Env,
    /// `build.target` in this configuration file.
    Config(PathBuf),
    /// Nothing named one: cargo builds for the host.
    Host,
}

/// The target a build uses.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BuildTarget {
    /// The triple, or the path of a target specification (`.json`); `None`
    /// for the host.
    pub triple: Option<String>,
    /// Where it came from.
    pub source: TargetSource,
}

impl BuildTarget {
    /// The architecture to render for: the triple's (a `.json` spec by its
    /// file name), or the host's. `None` when it is not one we support.
    pub fn arch(&self) -> Option<Arch> {
        match &self.triple {
            None => Arch::from_target(&format!("{}-unknown-none", std::env::consts::ARCH)),
            Some(triple) => {
                let name = match triple.strip_suffix(".json") {
                    Some(spec) => Path::new(spec).file_name()?.to_str()?,
                    None => triple.as_str(),
                };
                Arch::from_target(name)
            }
        }
    }
}

impl fmt::Display for BuildTarget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let what = match &self.triple {
            Some(triple) => format!("target {triple}"),
            None => "the host".to_string(),
        };
        match &self.source {
            TargetSource::Flag => write!(f, "{what}, from --target"),
            TargetSource::Env => write!(f, "{what}, from CARGO_BUILD_TARGET"),
            TargetSource::Config(path) => {
                let name = path
                    .parent()
                    .and_then(Path::file_name)
                    .map(|dir| Path::new(dir).join(path.file_name().unwrap_or_default()));
                let shown = name.unwrap_or_else(|| path.clone());
                write!(f, "{what}, from build.target in {}", shown.display())
            }
            TargetSource::Host => write!(f, "{what}: no --target and no build.target"),
        }
    }
}

/// Finds the target as cargo would from `cwd`; `env` reads an environment
/// variable (the process's, or a test's).
///
/// Errors: a configuration file that is not TOML, a `build.target` that is
/// neither a string nor a list of strings, or a list of several targets
/// (pass `--target` then).
pub fn build_target(
    explicit: Option<&str>,
    cwd: &Path,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<BuildTarget, String> {
    if let Some(triple) = explicit {
        return Ok(BuildTarget {
            triple: Some(triple.to_string()),
            source: TargetSource::Flag,
        });
    }
    if let Some(triple) = env("CARGO_BUILD_TARGET").filter(|t| !t.is_empty()) {
        return Ok(BuildTarget {
            triple: Some(triple),
            source: TargetSource::Env,
        });
    }
    let mut files: Vec<PathBuf> = cwd
        .ancestors()
        .filter_map(|dir| config_file(&dir.join(".cargo")))
        .collect();
    let cargo_home = env("CARGO_HOME")
        .map(PathBuf::from)
        .or_else(|| env("HOME").map(|home| Path::new(&home).join(".cargo")));
    if let Some(file) = cargo_home.and_then(|home| config_file(&home)) {
        if !files.contains(&file) {
            files.push(file);
        }
    }
    for file in files {
        if let Some(triple) = target_in(&file)? {
            return Ok(BuildTarget {
                triple: Some(triple),
                source: TargetSource::Config(file),
            });
        }
    }
    Ok(BuildTarget {
        triple: None,
        source: TargetSource::Host,
    })
}

/// `dir/config.toml`, else `dir/config`, if one exists.
fn config_file(dir: &Path) -> Option<PathBuf> {
    ["config.toml", "config"]
        .into_iter()
        .map(|name| dir.join(name))
        .find(|path| path.is_file())
}

/// The `build.target` of one configuration file. A relative `.json` spec is
/// relative to the directory that holds `.cargo/`, as cargo reads it.
fn target_in(file: &Path) -> Result<Option<String>, String> {
    let shown = file.display();
    let text =
        std::fs::read_to_string(file).map_err(|err| format!("cannot read {shown}: {err}"))?;
    let table: toml::Table = text
        .parse()
        .map_err(|err: toml::de::Error| format!("{shown} is not valid TOML: {}", err.message()))?;
    let Some(value) = table.get("build").and_then(|b| b.get("target")) else {
        return Ok(None);
    };
    let triple = match value {
        toml::Value::String(triple) => triple.clone(),
        toml::Value::Array(list) => match list.as_slice() {
            [toml::Value::String(triple)] => triple.clone(),
            [] => return Ok(None),
            _ => {
                return Err(format!(
                    "build.target in {shown} lists several targets or non-strings: pass --target"
                ))
            }
        },
        _ => return Err(format!("build.target in {shown} is not a string")),
    };
    if triple.ends_with(".json") && Path::new(&triple).is_relative() {
        if let Some(root) = file.parent().and_then(Path::parent) {
            return Ok(Some(root.join(&triple).display().to_string()));
        }
    }
    Ok(Some(triple))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scratch(name: &str) -> PathBuf {
        let dir =
            std::env::temp_dir().join(format!("cargo-percpu-config-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(dir.join("a/b/.cargo")).unwrap();
        dir
    }

    #[test]
    fn precedence_is_cargos() {
        let dir = scratch("precedence");
        let deep = dir.join("a/b");
        let none = |_: &str| None;
        // Nothing anywhere (CARGO_HOME points into the scratch dir): the host.
        let home = |k: &str| (k == "CARGO_HOME").then(|| dir.join("home").display().to_string());
        let t = build_target(None, &deep, &home).unwrap();
        assert_eq!(t.source, TargetSource::Host);
        // The outer config counts when the inner has no build.target.
        std::fs::create_dir_all(dir.join("a/.cargo")).unwrap();
        std::fs::write(
            dir.join("a/.cargo/config.toml"),
            "[build]\ntarget = \"riscv64gc-unknown-none-elf\"\n",
        )
        .unwrap();
        std::fs::write(
            dir.join("a/b/.cargo/config.toml"),
            "[target.x]\nrustflags = []\n",
        )
        .unwrap();
        let t = build_target(None, &deep, &home).unwrap();
        assert_eq!(t.triple.as_deref(), Some("riscv64gc-unknown-none-elf"));
        assert_eq!(t.arch(), Some(Arch::Riscv64));
        // The nearer one wins.
        std::fs::write(
            dir.join("a/b/.cargo/config.toml"),
            "build.target = [\"aarch64-unknown-none\"]\n",
        )
        .unwrap();
        let t = build_target(None, &deep, &home).unwrap();
        assert_eq!(t.triple.as_deref(), Some("aarch64-unknown-none"));
        assert!(matches!(t.source, TargetSource::Config(_)));
        assert!(
            t.to_string()
                .contains("from build.target in .cargo/config.toml"),
            "{t}"
        );
        // The environment beats the files, the flag beats everything.
        let env = |k: &str| (k == "CARGO_BUILD_TARGET").then(|| "armv7a-none-eabi".to_string());
        assert_eq!(
            build_target(None, &deep, &env).unwrap().arch(),
            Some(Arch::Armv7)
        );
        let t = build_target(Some("x86_64-unknown-none"), &deep, &env).unwrap();
        assert_eq!(t.source, TargetSource::Flag);
        // A relative target spec is relative to the directory holding .cargo.
        std::fs::write(
            dir.join("a/b/.cargo/config.toml"),
            "build.target = \"specs/x86_64-kernel.json\"\n",
        )
        .unwrap();
        let t = build_target(None, &deep, &none).unwrap();
        assert_eq!(
            t.triple,
            Some(deep.join("specs/x86_64-kernel.json").display().to_string())
        );
        assert_eq!(t.arch(), Some(Arch::X86_64));
    }

    #[test]
    fn bad_configurations_are_errors() {
        let dir = scratch("bad");
        let deep = dir.join("a/b");
        let none = |_: &str| None;
        for text in [
            "build.target = [\"a-b-c\", \"d-e-f\"]",
            "build.target = 3",
            "[build",
        ] {
            std::fs::write(deep.join(".cargo/config.toml"), text).unwrap();
            let err = build_target(None, &deep, &none).unwrap_err();
            assert!(!err.contains('\n'), "{err}");
        }
    }
}
