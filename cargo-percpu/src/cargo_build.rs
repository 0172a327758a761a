//! Building the artifact to inspect, the way `cargo-binutils` does:
//! `cargo build --message-format=json-render-diagnostics …`, reading the
//! artifact's path from cargo's messages.
//!
//! Cargo's own output (progress, warnings, errors) goes to stderr as usual;
//! only its JSON messages on stdout are read. A failed build is
//! [`BuildError::Cargo`] with cargo's exit status, which the command line
//! passes on.

use std::ffi::OsString;
use std::io::BufRead as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use serde_json::Value;

/// Which kind of cargo target to build.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ArtifactKind {
    /// A binary: `--bin`.
    Bin,
    /// An example: `--example`.
    Example,
}

impl ArtifactKind {
    /// The kind as cargo's metadata and flags spell it.
    pub fn name(self) -> &'static str {
        match self {
            ArtifactKind::Bin => "bin",
            ArtifactKind::Example => "example",
        }
    }
}

/// What to build.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BuildRequest {
    /// A binary or an example.
    pub kind: ArtifactKind,
    /// Its name; `None` for the package's only one.
    pub name: Option<String>,
    /// `--target`; `None` leaves it to cargo's configuration.
    pub target: Option<String>,
    /// `--release`.
    pub release: bool,
    /// `--profile`.
    pub profile: Option<String>,
    /// `-p`.
    pub package: Option<String>,
    /// `--features`.
    pub features: Vec<String>,
    /// `--all-features`.
    pub all_features: bool,
    /// `--no-default-features`.
    pub no_default_features: bool,
    /// `--manifest-path`.
    pub manifest_path: Option<PathBuf>,
    /// Everything after `--`, passed to `cargo build` as is.
    pub extra: Vec<OsString>,
}

/// Why no artifact came out.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum BuildError {
    /// Cargo ran and failed with this exit status (its messages are on
    /// stderr already).
    Cargo(i32),
    /// Anything else, in one line.
    Other(String),
}

impl std::fmt::Display for BuildError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            BuildError::Cargo(code) => write!(f, "cargo build failed with exit status {code}"),
            BuildError::Other(what) => f.write_str(what),
        }
    }
}

impl std::error::Error for BuildError {}

/// The cargo to run: `$CARGO` (set when cargo runs us), else `cargo`.
fn cargo() -> Command {
    Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()))
}

/// Builds what `req` asks for and returns the path of the executable.
pub fn build(req: &BuildRequest) -> Result<PathBuf, BuildError> {
    let name = match &req.name {
        Some(name) => name.clone(),
        None => only_candidate(req)?,
    };
    let mut cmd = cargo();
    cmd.arg("build")
        .arg("--message-format=json-render-diagnostics")
        .arg(format!("--{}", req.kind.name()))
        .arg(&name);
    if let Some(target) = &req.target {
        cmd.args(["--target", target]);
    }
    if req.release {
        cmd.arg("--release");
    }
    if let Some(profile) = &req.profile {
        cmd.args(["--profile", profile]);
    }
    if let Some(package) = &req.package {
        cmd.args(["-p", package]);
    }
    if !req.features.is_empty() {
        cmd.arg("--features").arg(req.features.join(","));
    }
    if req.all_features {
        cmd.arg("--all-features");
    }
    if req.no_default_features {
        cmd.arg("--no-default-features");
    }
    if let Some(path) = &req.manifest_path {
        cmd.arg("--manifest-path").arg(path);
    }
    cmd.args(&req.extra);
    cmd.stdout(Stdio::piped()).stderr(Stdio::inherit());
    let mut child = cmd
        .spawn()
        .map_err(|err| BuildError::Other(format!("cannot run cargo: {err}")))?;
    let mut found: Option<PathBuf> = None;
    if let Some(stdout) = child.stdout.take() {
        for line in std::io::BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if let Some(path) = artifact_path(&line, req.kind, &name) {
                found = Some(path);
            }
        }
    }
    let status = child
        .wait()
        .map_err(|err| BuildError::Other(format!("cannot wait for cargo: {err}")))?;
    if !status.success() {
        // Killed by a signal: no status to pass on, so the generic error one.
        return Err(BuildError::Cargo(status.code().unwrap_or(2)));
    }
    found.ok_or_else(|| {
        BuildError::Other(format!(
            "cargo built no executable for {} `{name}`",
            req.kind.name()
        ))
    })
}

/// The executable of a `compiler-artifact` message for that target, if
/// `line` is one.
pub fn artifact_path(line: &str, kind: ArtifactKind, name: &str) -> Option<PathBuf> {
    let message: Value = serde_json::from_str(line).ok()?;
    if message.get("reason")?.as_str()? != "compiler-artifact" {
        return None;
    }
    let target = message.get("target")?;
    let kinds = target.get("kind")?.as_array()?;
    if target.get("name")?.as_str()? != name || !kinds.iter().any(|k| k == kind.name()) {
        return None;
    }
    message.get("executable")?.as_str().map(PathBuf::from)
}

/// The package's only binary (or example), or an error naming them all.
fn only_candidate(req: &BuildRequest) -> Result<String, BuildError> {
    let mut cmd = cargo();
    cmd.args(["metadata", "--no-deps", "--format-version", "1"]);
    if let Some(path) = &req.manifest_path {
        cmd.arg("--manifest-path").arg(path);
    }
    let metadata = run_json(&mut cmd)?;
    let manifest = match &req.manifest_path {
        Some(path) => Some(std::fs::canonicalize(path).unwrap_or_else(|_| path.clone())),
        None => {
            let mut locate = cargo();
            locate.args(["locate-project", "--message-format", "json"]);
            run_json(&mut locate)?
                .get("root")
                .and_then(Value::as_str)
                .map(PathBuf::from)
        }
    };
    let candidates = candidates(
        &metadata,
        req.package.as_deref(),
        manifest.as_deref(),
        req.kind,
    );
    match candidates.as_slice() {
        [one] => Ok(one.clone()),
        [] => Err(BuildError::Other(format!(
            "no {} to build here: pass the ELF file, or --bin NAME",
            req.kind.name()
        ))),
        several => Err(BuildError::Other(format!(
            "several {}s, pick one with --{} NAME: {}",
            req.kind.name(),
            req.kind.name(),
            several.join(", ")
        ))),
    }
}

fn run_json(cmd: &mut Command) -> Result<Value, BuildError> {
    let out = cmd
        .stderr(Stdio::inherit())
        .output()
        .map_err(|err| BuildError::Other(format!("cannot run cargo: {err}")))?;
    if !out.status.success() {
        return Err(BuildError::Cargo(out.status.code().unwrap_or(2)));
    }
    serde_json::from_slice(&out.stdout)
        .map_err(|err| BuildError::Other(format!("cargo printed unreadable JSON: {err}")))
}

/// The names of the `kind` targets that a build here would choose from: of
/// `package` when given, else of the package whose manifest is `manifest`,
/// else (a virtual workspace) of every member; sorted.
pub fn candidates(
    metadata: &Value,
    package: Option<&str>,
    manifest: Option<&Path>,
    kind: ArtifactKind,
) -> Vec<String> {
    let empty = Vec::new();
    let packages = metadata
        .get("packages")
        .and_then(Value::as_array)
        .unwrap_or(&empty);
    let same_file = |a: &str, b: &Path| {
        let a = Path::new(a);
        a == b
            || matches!(
                (std::fs::canonicalize(a), std::fs::canonicalize(b)),
                (Ok(x), Ok(y)) if x == y
            )
    };
    let chosen: Vec<&Value> = match (package, manifest) {
        (Some(name), _) => packages
            .iter()
            .filter(|p| p.get("name").and_then(Value::as_str) == Some(name))
            .collect(),
        (None, Some(manifest)) => {
            let own: Vec<&Value> = packages
                .iter()
                .filter(|p| {
                    p.get("manifest_path")
                        .and_then(Value::as_str)
                        .is_some_and(|m| same_file(m, manifest))
                })
                .collect();
            if own.is_empty() {
                packages.iter().collect()
            } else {
                own
            }
        }
        (None, None) => packages.iter().collect(),
    };
    let mut names: Vec<String> = chosen
        .iter()
        .filter_map(|p| p.get("targets").and_then(Value::as_array))
        .flatten()
        .filter(|t| {
            t.get("kind")
                .and_then(Value::as_array)
                .is_some_and(|k| k.iter().any(|k| k == kind.name()))
        })
        .filter_map(|t| t.get("name").and_then(Value::as_str).map(str::to_string))
        .collect();
    names.sort();
    names.dedup();
    names
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_artifact_of_the_right_target() {
        let bin = r#"{"reason":"compiler-artifact","target":{"kind":["bin"],"name":"kernel"},"executable":"/t/kernel"}"#;
        let lib = r#"{"reason":"compiler-artifact","target":{"kind":["lib"],"name":"kernel"},"executable":null}"#;
        let other = r#"{"reason":"compiler-artifact","target":{"kind":["bin"],"name":"tool"},"executable":"/t/tool"}"#;
        assert_eq!(
            artifact_path(bin, ArtifactKind::Bin, "kernel"),
            Some(PathBuf::from("/t/kernel"))
        );
        assert_eq!(artifact_path(bin, ArtifactKind::Example, "kernel"), None);
        assert_eq!(artifact_path(lib, ArtifactKind::Bin, "kernel"), None);
        assert_eq!(artifact_path(other, ArtifactKind::Bin, "kernel"), None);
        assert_eq!(artifact_path("not json", ArtifactKind::Bin, "kernel"), None);
        assert_eq!(
            artifact_path(
                r#"{"reason":"build-finished","success":true}"#,
                ArtifactKind::Bin,
                "k"
            ),
            None
        );
    }

    #[test]
    fn candidates_of_a_package_or_a_workspace() {
        let metadata: Value = serde_json::from_str(
            r#"{"packages":[
                {"name":"a","manifest_path":"/w/a/Cargo.toml","targets":[
                    {"kind":["bin"],"name":"a2"},{"kind":["bin"],"name":"a1"},{"kind":["lib"],"name":"a"},
                    {"kind":["example"],"name":"demo"}]},
                {"name":"b","manifest_path":"/w/b/Cargo.toml","targets":[{"kind":["bin"],"name":"b"}]}]}"#,
        )
        .unwrap();
        let bin = ArtifactKind::Bin;
        assert_eq!(candidates(&metadata, Some("b"), None, bin), ["b"]);
        assert_eq!(
            candidates(&metadata, None, Some(Path::new("/w/a/Cargo.toml")), bin),
            ["a1", "a2"]
        );
        assert_eq!(
            candidates(&metadata, None, Some(Path::new("/w/Cargo.toml")), bin),
            ["a1", "a2", "b"]
        );
        assert_eq!(
            candidates(&metadata, Some("a"), None, ArtifactKind::Example),
            ["demo"]
        );
        assert!(candidates(&metadata, Some("zzz"), None, bin).is_empty());
    }
}
