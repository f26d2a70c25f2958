//! Shared helpers: paths, running the binary, pyx12.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::OnceLock;

/// The repository root.
pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The shared corpus beside the repository (`../shared/corpus`), or
/// `PRIORAUTH_CORPUS`.
pub fn corpus_dir() -> PathBuf {
    std::env::var_os("PRIORAUTH_CORPUS")
        .map(PathBuf::from)
        .unwrap_or_else(|| root().join("../shared/corpus"))
}

/// Runs the priorauth binary.
pub fn priorauth(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_priorauth"))
        .args(args)
        .current_dir(root())
        .output()
        .expect("run priorauth")
}

/// Runs priorauth with standard input.
pub fn priorauth_stdin(args: &[&str], input: &[u8]) -> Output {
    use std::io::Write;
    let mut child = Command::new(env!("CARGO_BIN_EXE_priorauth"))
        .args(args)
        .current_dir(root())
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("spawn priorauth");
    child.stdin.take().unwrap().write_all(input).unwrap();
    child.wait_with_output().unwrap()
}

/// A fresh temporary directory for one test. Each call gets its own
/// directory even for the same name: the SQLite and PostgreSQL variants of
/// a test run at once and must not delete each other's files.
pub fn temp_dir(name: &str) -> PathBuf {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    let d = std::env::temp_dir().join(format!("priorauth-test-{}-{n}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// Path of pyx12's `x12valid`: `PRIORAUTH_PYX12` if set (`.ci/run` sets
/// it), else a venv this test run creates once under the temp dir. Never
/// skipped: a 999 that pyx12 was not asked about has not been validated.
pub fn x12valid() -> &'static Path {
    static PATH: OnceLock<PathBuf> = OnceLock::new();
    PATH.get_or_init(|| {
        if let Some(p) = std::env::var_os("PRIORAUTH_PYX12") {
            return PathBuf::from(p);
        }
        let venv = std::env::temp_dir().join("priorauth-pyx12-venv");
        let bin = venv.join("bin/x12valid");
        if !bin.exists() {
            let ok = Command::new("python3")
                .args(["-m", "venv"])
                .arg(&venv)
                .status()
                .unwrap()
                .success()
                && Command::new(venv.join("bin/pip"))
                    .args(["install", "-q", "pyx12==4.0.0"])
                    .status()
                    .unwrap()
                    .success();
            assert!(ok, "could not install pyx12 into {}", venv.display());
        }
        bin
    })
}

/// Validates an X12 file with pyx12; returns its log when it is not clean.
pub fn pyx12_errors(x12: &str, name: &str) -> Option<String> {
    // A folder per call: tests run in parallel, and the SQLite and
    // PostgreSQL runs of a service test validate files of the same name.
    static CALLS: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    let n = CALLS.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    let dir = temp_dir(&format!("pyx12-{name}-{n}"));
    let file = format!("{name}.x12");
    std::fs::write(dir.join(&file), x12).unwrap();
    let run = pyx12_validate(&dir, &[file]);
    (run.ok != 1 || !run.errors.is_empty()).then_some(run.log)
}

/// What x12valid said of some files.
pub struct Pyx12Run {
    /// How many it called OK.
    pub ok: usize,
    /// Its error lines about the files.
    pub errors: Vec<String>,
    /// Everything it printed.
    pub log: String,
}

/// Runs x12valid once on `files` (names in `dir`).
pub fn pyx12_validate(dir: &Path, files: &[String]) -> Pyx12Run {
    let out = Command::new(x12valid())
        .args(files)
        .current_dir(dir)
        .output()
        .unwrap();
    // x12valid exits 1 even on success: read its verdict lines instead.
    let log = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    // pyx12 cannot build its own 999 for an 835 (its AK2 wants ST03, which
    // the 835 does not use) and says so; that line is about pyx12, not us.
    let errors = log
        .lines()
        .filter(|l| l.contains("ERROR") && !l.contains("Failed to create 999 response"))
        .map(str::to_string)
        .collect();
    let ok = log.lines().filter(|l| l.ends_with(".x12: OK")).count();
    Pyx12Run { ok, errors, log }
}

/// `priorauth adjudicate` of both sample 837s against the sample
/// authorizations, with `extra` flags; asserts exit 0 and returns stdout.
pub fn adjudicate_samples(extra: &[&str]) -> Vec<u8> {
    let mut args = vec!["adjudicate", "--auths", "fixtures/auths/sample.csv"];
    args.extend_from_slice(extra);
    args.extend([
        "fixtures/x12/837p-sample.x12",
        "fixtures/x12/837i-sample.x12",
    ]);
    priorauth_ok(&args)
}

/// Runs priorauth, asserts exit 0, returns stdout.
pub fn priorauth_ok(args: &[&str]) -> Vec<u8> {
    let out = priorauth(args);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}
