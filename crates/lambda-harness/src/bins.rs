//! Locating and building function binaries.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;

use crate::error::HarnessError;

fn cargo() -> String {
    std::env::var("CARGO").unwrap_or_else(|_| "cargo".into())
}

/// Workspace root: `cargo locate-project --workspace` run from this crate's manifest directory
/// (falls back to the directory two levels above it).
pub fn workspace_root() -> Result<PathBuf, HarnessError> {
    static ROOT: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    ROOT.get_or_init(|| {
        let here = Path::new(env!("CARGO_MANIFEST_DIR"));
        let out = Command::new(cargo())
            .args(["locate-project", "--workspace", "--message-format", "plain"])
            .current_dir(here)
            .stderr(Stdio::piped())
            .output();
        match out {
            Ok(o) if o.status.success() => {
                let manifest = PathBuf::from(String::from_utf8_lossy(&o.stdout).trim());
                manifest
                    .parent()
                    .map(Path::to_path_buf)
                    .ok_or_else(|| format!("odd manifest path {}", manifest.display()))
            }
            _ => here
                .parent()
                .and_then(Path::parent)
                .map(Path::to_path_buf)
                .ok_or_else(|| "cannot locate the workspace root".to_string()),
        }
    })
    .clone()
    .map_err(HarnessError::Build)
}

/// Cargo's target directory: `CARGO_TARGET_DIR` if set (relative to the workspace root), else
/// `target_directory` from `cargo metadata` (honours `.cargo/config.toml`), else `<root>/target`.
pub fn target_dir() -> Result<PathBuf, HarnessError> {
    let root = workspace_root()?;
    if let Some(dir) = std::env::var_os("CARGO_TARGET_DIR") {
        return Ok(root.join(dir));
    }
    static META: OnceLock<Option<PathBuf>> = OnceLock::new();
    let meta = META.get_or_init(|| {
        let out = Command::new(cargo())
            .args([
                "metadata",
                "--format-version",
                "1",
                "--no-deps",
                "--offline",
            ])
            .current_dir(&root)
            .stderr(Stdio::null())
            .output()
            .ok()?;
        if !out.status.success() {
            return None;
        }
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).ok()?;
        v.get("target_directory")?.as_str().map(PathBuf::from)
    });
    Ok(meta.clone().unwrap_or_else(|| root.join("target")))
}

/// Build `packages` with `cargo build [--release] -p <pkg>...` at the workspace root and return
/// the profile directory holding the binaries (`<target>/release` or `<target>/debug`).
///
/// Output is captured and shown only on failure (set `LAMBDA_HARNESS_BUILD_VERBOSE=1` to stream
/// it). Concurrent callers serialise on Cargo's own lock.
pub fn build(packages: &[&str], release: bool) -> Result<PathBuf, HarnessError> {
    let root = workspace_root()?;
    let mut cmd = Command::new(cargo());
    cmd.arg("build").current_dir(&root);
    if release {
        cmd.arg("--release");
    }
    for p in packages {
        cmd.args(["-p", p]);
    }
    let verbose = std::env::var_os("LAMBDA_HARNESS_BUILD_VERBOSE").is_some_and(|v| v == "1");
    let status_line = format!(
        "cargo build{} -p {}",
        if release { " --release" } else { "" },
        packages.join(" -p ")
    );
    if verbose {
        let st = cmd
            .status()
            .map_err(|e| HarnessError::io(format!("running {status_line}"), e))?;
        if !st.success() {
            return Err(HarnessError::Build(format!(
                "{status_line} failed ({st}); see output above"
            )));
        }
    } else {
        let out = cmd
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .output()
            .map_err(|e| HarnessError::io(format!("running {status_line}"), e))?;
        if !out.status.success() {
            let err = String::from_utf8_lossy(&out.stderr);
            let lines: Vec<&str> = err.lines().collect();
            let tail = lines[lines.len().saturating_sub(60)..].join("\n");
            return Err(HarnessError::Build(format!(
                "{status_line} failed ({}):\n{tail}",
                out.status
            )));
        }
    }
    Ok(target_dir()?.join(if release { "release" } else { "debug" }))
}

/// `cargo build --release -p ...`; returns `<target>/release` (join a binary name to it).
pub fn build_release(packages: &[&str]) -> Result<PathBuf, HarnessError> {
    build(packages, true)
}

/// `cargo build -p ...`; returns `<target>/debug`.
pub fn build_debug(packages: &[&str]) -> Result<PathBuf, HarnessError> {
    build(packages, false)
}

fn existing(name: &str, candidates: Vec<PathBuf>, hint: &str) -> Result<PathBuf, HarnessError> {
    if let Some(p) = candidates.iter().find(|p| p.is_file()) {
        return Ok(p.clone());
    }
    Err(HarnessError::BinaryNotFound {
        name: name.to_owned(),
        searched: candidates,
        hint: hint.to_owned(),
    })
}

/// `<target>/debug/<name>` if it exists (does not build).
pub fn debug_binary(name: &str) -> Result<PathBuf, HarnessError> {
    let p = target_dir()?.join("debug").join(exe(name));
    existing(
        name,
        vec![p],
        &format!("run `cargo build -p {name}` or call lambda_harness::build_debug"),
    )
}

/// Find an already-built binary for a test: `CARGO_BIN_EXE_<name>` (runtime env), then the
/// profile directory of the running test executable (`<target>/<profile>/deps/..` →
/// `<target>/<profile>/<name>`), then `<target>/debug/<name>`.
///
/// In the binary's own package prefer `env!("CARGO_BIN_EXE_<name>")`, which makes Cargo build it.
pub fn binary_path(name: &str) -> Result<PathBuf, HarnessError> {
    let mut candidates = Vec::new();
    if let Some(p) = std::env::var_os(format!("CARGO_BIN_EXE_{name}")) {
        candidates.push(PathBuf::from(p));
    }
    if let Ok(exe_path) = std::env::current_exe() {
        let mut dir = exe_path.parent();
        if dir.is_some_and(|d| d.ends_with("deps") || d.ends_with("examples")) {
            dir = dir.and_then(Path::parent);
        }
        if let Some(d) = dir {
            candidates.push(d.join(exe(name)));
        }
    }
    if let Ok(t) = target_dir() {
        candidates.push(t.join("debug").join(exe(name)));
    }
    existing(
        name,
        candidates,
        &format!("build it first (`cargo build -p {name}`) or use lambda_harness::build_debug/build_release"),
    )
}

fn exe(name: &str) -> String {
    format!("{name}{}", std::env::consts::EXE_SUFFIX)
}
