//! `cargo xtask artifact-check DIR [--architecture arm64|x86_64]`: run the exact `bootstrap.zip`s
//! a deploy uploads before they reach AWS.
//!
//! For each function, `DIR/<function>/bootstrap.zip` must hold an executable `bootstrap` of the
//! architecture (ELF `e_machine`, as `infra/deploy_helper.py check-artifact`); the bootstrap then
//! runs behind lambda-harness's Runtime API emulator and must answer every sample event that
//! `events/expected.json` marks `offline` (no Mindful needed) with its documented answer. An arm64
//! bootstrap on an x86_64 host runs under `qemu-aarch64 -L /usr/aarch64-linux-gnu` (Debian:
//! qemu-user, libc6-arm64-cross).
//!
//! Output: a line per event and per function, then one summary line (`.ci/infra-checks.sh` keeps
//! only that one); each problem on stderr as `artifact-check: FAIL …`. Exit: 0 every event
//! answered as documented, 1 any problem (missing zip, wrong architecture, no qemu, a wrong or
//! missing answer), 2 usage, or the sample events cannot be read.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use lambda_harness::{FunctionProcess, HarnessError};
use mindful_core::config::vars;
use serde_json::{Map, Value};

/// A Lambda architecture, named as Lambda and `--architecture` name it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Arch {
    #[value(name = "x86_64")]
    X86_64,
    #[value(name = "arm64")]
    Arm64,
}

/// `cargo xtask artifact-check`'s arguments.
#[derive(clap::Args, Debug, PartialEq)]
pub struct Args {
    /// The folder of the deploy's zips: DIR/<function>/bootstrap.zip
    #[arg(value_name = "DIR")]
    dir: PathBuf,
    /// The architecture the zips must hold (what a deploy uploads by default)
    #[arg(long, value_enum, default_value = "arm64")]
    architecture: Arch,
}

impl Arch {
    pub fn name(self) -> &'static str {
        match self {
            Arch::X86_64 => "x86_64",
            Arch::Arm64 => "arm64",
        }
    }

    /// The machine this check runs on (None: neither, so every bootstrap needs an emulator).
    pub fn host() -> Option<Arch> {
        match std::env::consts::ARCH {
            "x86_64" => Some(Arch::X86_64),
            "aarch64" => Some(Arch::Arm64),
            _ => None,
        }
    }
}

#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum ElfError {
    #[error("is not an ELF file")]
    NotElf,
    #[error("is not a 64-bit little-endian ELF (class {class}, data {data})")]
    NotElf64Le { class: u8, data: u8 },
    #[error("has ELF machine {0}, neither x86_64 (62) nor aarch64 (183)")]
    Machine(u16),
}

/// The Lambda architecture of a 64-bit little-endian ELF executable: its `e_machine`, the
/// little-endian u16 at offset 18 (0x3E x86_64, 0xB7 aarch64). The same rule as
/// `infra/deploy_helper.py`'s `elf_architecture`, which the deploy keeps for its own refusal.
pub fn elf_architecture(data: &[u8]) -> Result<Arch, ElfError> {
    let (Some(magic), Some(&class), Some(&encoding), Some(machine)) =
        (data.get(..4), data.get(4), data.get(5), data.get(18..20))
    else {
        return Err(ElfError::NotElf);
    };
    if magic != b"\x7fELF" {
        return Err(ElfError::NotElf);
    }
    if class != 2 || encoding != 1 {
        return Err(ElfError::NotElf64Le {
            class,
            data: encoding,
        });
    }
    match u16::from_le_bytes([machine[0], machine[1]]) {
        0x3E => Ok(Arch::X86_64),
        0xB7 => Ok(Arch::Arm64),
        other => Err(ElfError::Machine(other)),
    }
}

/// The program (and its arguments) an `arch` bootstrap runs under on this host: none natively;
/// qemu-aarch64 with the Debian arm64 libc for arm64 on another host (the only cross case CI
/// has: the x86_64 fallback runner, and deploy.yml's checks).
fn emulator_for(arch: Arch, host: Option<Arch>) -> Result<Option<(PathBuf, Vec<String>)>, String> {
    if Some(arch) == host {
        return Ok(None);
    }
    let host = host.map_or(std::env::consts::ARCH, Arch::name);
    let cannot = || {
        format!(
            "cannot run an {} bootstrap on this {host} host (install qemu-user and libc6-arm64-cross)",
            arch.name()
        )
    };
    if arch != Arch::Arm64 {
        return Err(cannot());
    }
    // The bootstrap is dynamically linked against glibc: qemu needs the arm64 loader and libc
    // (libc6-arm64-cross) as well as itself, or every start fails with a loader error.
    const SYSROOT: &str = "/usr/aarch64-linux-gnu";
    let qemu = which("qemu-aarch64").ok_or_else(cannot)?;
    if !Path::new(SYSROOT).join("lib").is_dir() {
        return Err(cannot());
    }
    Ok(Some((qemu, vec!["-L".to_string(), SYSROOT.to_string()])))
}

/// `program` found in `PATH` (checked here, before anything runs, for a clear message).
fn which(program: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(program))
        .find(|p| p.is_file())
}

/// Lambda's limit on a function's unzipped size: a larger bootstrap could not be deployed, and
/// the bound keeps a corrupt or hostile zip from filling memory.
const MAX_BOOTSTRAP_BYTES: u64 = 250 * 1024 * 1024;

/// The `bootstrap` entry of a zip: its bytes and its Unix mode (None when the zip records none).
fn read_bootstrap(zip_path: &Path) -> Result<(Vec<u8>, Option<u32>), String> {
    let file = std::fs::File::open(zip_path).map_err(|e| format!("{}: {e}", zip_path.display()))?;
    let mut archive =
        zip::ZipArchive::new(file).map_err(|e| format!("{}: {e}", zip_path.display()))?;
    // For the message when `bootstrap` is missing (a name that does not decode is left out).
    let names: Vec<String> = archive
        .file_names()
        .filter_map(Result::ok)
        .map(|n| n.into_owned())
        .collect();
    let mut entry = match archive.by_name("bootstrap") {
        Ok(entry) => entry,
        Err(zip::result::ZipError::FileNotFound) => {
            return Err(format!(
                "{} has no `bootstrap` at its root (entries: {names:?})",
                zip_path.display()
            ))
        }
        Err(e) => return Err(format!("{}:bootstrap: {e}", zip_path.display())),
    };
    let mode = entry.unix_mode();
    let mut data = Vec::new();
    (&mut entry)
        .take(MAX_BOOTSTRAP_BYTES + 1)
        .read_to_end(&mut data)
        .map_err(|e| format!("{}:bootstrap: {e}", zip_path.display()))?;
    if data.len() as u64 > MAX_BOOTSTRAP_BYTES {
        return Err(format!(
            "{}:bootstrap is larger than Lambda's 250 MB unzipped limit",
            zip_path.display()
        ));
    }
    Ok((data, mode))
}

/// One offline sample event and its documented answer (a subset of the response's keys).
#[derive(Debug)]
struct SampleEvent {
    name: String,
    event: Value,
    answer: Map<String, Value>,
}

/// The events of `events/expected.json` marked offline for `function`, by file name.
fn offline_events(
    events_dir: &Path,
    expected: &Value,
    function: &str,
) -> Result<Vec<SampleEvent>, String> {
    let Some(all) = expected.get("events").and_then(Value::as_object) else {
        return Err("events/expected.json has no \"events\" object".into());
    };
    let mut out = Vec::new();
    // serde_json's map is sorted by key: events run in file-name order, as they always did.
    for (name, entry) in all {
        if entry.get("function").and_then(Value::as_str) != Some(function)
            || entry.get("offline").and_then(Value::as_bool) != Some(true)
        {
            continue;
        }
        let Some(answer) = entry.get("answer").and_then(Value::as_object) else {
            return Err(format!(
                "events/expected.json: {name} has no \"answer\" object"
            ));
        };
        let path = events_dir.join(name);
        let text =
            std::fs::read_to_string(&path).map_err(|e| format!("{}: {e}", path.display()))?;
        let event = serde_json::from_str(&text).map_err(|e| format!("{}: {e}", path.display()))?;
        out.push(SampleEvent {
            name: name.clone(),
            event,
            answer: answer.clone(),
        });
    }
    Ok(out)
}

/// The documented keys whose value differs: key → (got, expected).
fn differences(response: &Value, answer: &Map<String, Value>) -> Vec<(String, Value, Value)> {
    answer
        .iter()
        .filter_map(|(key, want)| {
            let got = response.get(key).cloned().unwrap_or(Value::Null);
            (&got != want).then(|| (key.clone(), got, want.clone()))
        })
        .collect()
}

/// Configuration that lets each function start; nothing here is reached by the offline events
/// (port 9, discard, on loopback: a request that did go out would fail at once).
fn function_env(function: &str) -> Vec<(&'static str, &'static str)> {
    match function {
        f if f == datastore_proxy::FUNCTION_NAME => vec![
            (vars::DATASTORE_URL, "http://127.0.0.1:9"),
            (vars::DATASTORE_TOKEN.value, "artifact-check"),
            (vars::MINDFUL_ALLOW_HTTP, "1"),
        ],
        f if f == agent_answer::FUNCTION_NAME => vec![
            (vars::MINDFUL_TOKEN_URL, "http://127.0.0.1:9/oauth2/token"),
            (vars::MINDFUL_API_URL, "http://127.0.0.1:9"),
            (vars::MINDFUL_CLIENT_ID, "artifact-check"),
            (vars::MINDFUL_CLIENT_SECRET.value, "artifact-check"),
            (vars::MINDFUL_ALLOW_HTTP, "1"),
        ],
        _ => Vec::new(),
    }
}

/// A directory of its own under the system temp dir, removed on drop (no tempfile dependency for
/// one directory).
struct WorkDir(PathBuf);

impl WorkDir {
    fn new() -> std::io::Result<WorkDir> {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.subsec_nanos());
        let dir = std::env::temp_dir().join(format!(
            "xtask-artifact-check-{}-{nanos}",
            std::process::id()
        ));
        std::fs::create_dir(&dir)?;
        Ok(WorkDir(dir))
    }
}

impl Drop for WorkDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// How long one answer may take: generous, because an arm64 bootstrap under qemu on a shared
/// runner is slow to start (the retired infra/artifact_check.py waited 60 s too).
const ANSWER_WAIT: Duration = Duration::from_secs(60);
/// The deadline handed to the function (`Lambda-Runtime-Deadline-Ms`), as before.
const DEADLINE: Duration = Duration::from_secs(5);

/// Extract, check and run one function's bootstrap; returns its problems (empty: all answered).
fn check_function(
    function: &str,
    zip_path: &Path,
    arch: Arch,
    events: &[SampleEvent],
    work: &Path,
) -> Vec<String> {
    let (data, mode) = match read_bootstrap(zip_path) {
        Ok(b) => b,
        Err(e) => return vec![e],
    };
    match elf_architecture(&data) {
        Ok(got) if got == arch => {}
        Ok(got) => {
            return vec![format!(
                "{}: bootstrap is {}, expected {}",
                zip_path.display(),
                got.name(),
                arch.name()
            )]
        }
        Err(e) => return vec![format!("{}:bootstrap {e}", zip_path.display())],
    }
    // Lambda runs the file as it is unzipped: without the owner's execute bit every invocation
    // fails (deploy_helper.py check-artifact refuses it the same way). A zip that records no Unix
    // mode (made on Windows) passes, as it does there.
    if let Some(mode) = mode.map(|m| m & 0o777) {
        if mode != 0 && mode & 0o100 == 0 {
            return vec![format!(
                "{}:bootstrap is not executable (mode {mode:#o})",
                zip_path.display()
            )];
        }
    }
    let wrapper = match emulator_for(arch, Arch::host()) {
        Ok(w) => w,
        Err(e) => return vec![format!("{function}: {e}")],
    };
    let exe = work.join(function).join("bootstrap");
    if let Err(e) = write_executable(&exe, &data) {
        return vec![format!("{}: {e}", exe.display())];
    }

    let started = Instant::now();
    let mut problems = Vec::new();
    let mut builder = FunctionProcess::builder(&exe)
        .function_name(function)
        .memory_mb(256)
        .env("AWS_LAMBDA_FUNCTION_VERSION", "1")
        .env("RUST_LOG", "warn")
        .timeout(DEADLINE)
        .grace(ANSWER_WAIT.saturating_sub(DEADLINE))
        .handout_timeout(ANSWER_WAIT);
    for (key, value) in function_env(function) {
        builder = builder.env(key, value);
    }
    let how = match &wrapper {
        Some((program, args)) => {
            builder = builder.wrapper(program, args);
            format!("{} {}", program.display(), args.join(" "))
        }
        None => "native".to_string(),
    };
    match spawn(builder) {
        Err(e) => problems.push(format!("{function}: {e}")),
        Ok(mut process) => {
            let mut output_shown = false;
            for sample in events {
                match process.invoke_blocking(sample.event.clone()) {
                    Ok(invoked) => match invoked.response() {
                        Some(response) => {
                            let wrong = differences(response, &sample.answer);
                            if wrong.is_empty() {
                                println!(
                                    "  {function}: {}: {} as documented",
                                    sample.name,
                                    response
                                        .get("status")
                                        .and_then(Value::as_str)
                                        .unwrap_or("?")
                                );
                            } else {
                                let wrong: Vec<String> = wrong
                                    .iter()
                                    .map(|(k, got, want)| {
                                        format!("{k}: got {got}, expected {want}")
                                    })
                                    .collect();
                                problems.push(format!(
                                    "{function}: {}: {}",
                                    sample.name,
                                    wrong.join("; ")
                                ));
                            }
                        }
                        None => problems.push(format!(
                            "{function}: {}: error: {}",
                            sample.name,
                            truncate(&invoked.raw_body, 300)
                        )),
                    },
                    // Exited, init error, no answer in time: the process cannot answer the
                    // remaining events either. The error carries the function's last output.
                    Err(e) => {
                        problems.push(format!("{function}: {}: {e}", sample.name));
                        output_shown = true;
                        break;
                    }
                }
            }
            if !problems.is_empty() && !output_shown {
                let output = process.log_text();
                let tail_from = output.len().saturating_sub(2000);
                let tail_from = (tail_from..output.len())
                    .find(|&i| output.is_char_boundary(i))
                    .unwrap_or(output.len());
                problems.push(format!("{function} output:\n{}", &output[tail_from..]));
            }
            let _ = process.shutdown();
        }
    }
    println!(
        "{function}: {} events in {:.1} s ({how})",
        events.len(),
        started.elapsed().as_secs_f64()
    );
    problems
}

/// Spawn, retrying briefly on ETXTBSY: the bootstrap was written a moment ago, and a process
/// forked meanwhile by another thread (the test harness runs checks in parallel) may still hold
/// the written file open until it execs.
fn spawn(builder: lambda_harness::FunctionBuilder) -> Result<FunctionProcess, HarnessError> {
    const ETXTBSY: i32 = 26;
    let mut tries = 0;
    loop {
        match builder.clone().spawn() {
            Err(HarnessError::Spawn { source, .. })
                if source.raw_os_error() == Some(ETXTBSY) && tries < 20 =>
            {
                tries += 1;
                std::thread::sleep(Duration::from_millis(25));
            }
            other => return other,
        }
    }
}

fn write_executable(path: &Path, data: &[u8]) -> std::io::Result<()> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    std::fs::write(path, data)?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755))?;
    }
    Ok(())
}

fn truncate(text: &str, max: usize) -> &str {
    let end = (0..=max.min(text.len()))
        .rev()
        .find(|&i| text.is_char_boundary(i))
        .unwrap_or(0);
    &text[..end]
}

/// `cargo xtask artifact-check …`.
pub fn main(args: &Args, functions: &[&str]) -> ExitCode {
    let (dir, arch) = (args.dir.clone(), args.architecture);
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let events_dir = root.join("events");
    let expected_path = events_dir.join("expected.json");
    let expected: Value = match std::fs::read_to_string(&expected_path)
        .map_err(|e| e.to_string())
        .and_then(|t| serde_json::from_str(&t).map_err(|e| e.to_string()))
    {
        Ok(v) => v,
        Err(e) => {
            eprintln!("artifact-check: {}: {e}", expected_path.display());
            return ExitCode::from(2);
        }
    };
    let work = match WorkDir::new() {
        Ok(w) => w,
        Err(e) => {
            eprintln!("artifact-check: creating a temporary directory: {e}");
            return ExitCode::from(2);
        }
    };
    let mut problems = Vec::new();
    for function in functions {
        let zip_path = dir.join(function).join("bootstrap.zip");
        if !zip_path.is_file() {
            problems.push(format!("{} is missing", zip_path.display()));
            continue;
        }
        let events = match offline_events(&events_dir, &expected, function) {
            Ok(events) if events.is_empty() => {
                problems.push(format!(
                    "{function}: no offline sample event in events/expected.json"
                ));
                continue;
            }
            Ok(events) => events,
            Err(e) => {
                eprintln!("artifact-check: {e}");
                return ExitCode::from(2);
            }
        };
        problems.extend(check_function(function, &zip_path, arch, &events, &work.0));
    }
    for p in &problems {
        eprintln!("artifact-check: FAIL {p}");
    }
    if !problems.is_empty() {
        return ExitCode::from(1);
    }
    println!(
        "artifact-check: the {} bootstraps in {} answered every offline sample event as documented",
        arch.name(),
        dir.display()
    );
    ExitCode::SUCCESS
}

#[cfg(test)]
mod tests {
    use super::*;

    fn elf(class: u8, data: u8, machine: u16) -> Vec<u8> {
        let mut b = b"\x7fELF".to_vec();
        b.extend([class, data]);
        b.resize(18, 0);
        b.extend(machine.to_le_bytes());
        b.resize(64, 0);
        b
    }

    #[test]
    fn elf_machine_table() {
        let cases: [(Vec<u8>, Result<Arch, ElfError>); 7] = [
            (elf(2, 1, 0x3E), Ok(Arch::X86_64)),
            (elf(2, 1, 0xB7), Ok(Arch::Arm64)),
            (elf(2, 1, 0x28), Err(ElfError::Machine(40))), // 32-bit ARM
            (
                elf(1, 1, 0x3E),
                Err(ElfError::NotElf64Le { class: 1, data: 1 }),
            ),
            (
                elf(2, 2, 0x3E),
                Err(ElfError::NotElf64Le { class: 2, data: 2 }),
            ),
            (
                b"PK\x03\x04not an executable at all".to_vec(),
                Err(ElfError::NotElf),
            ),
            (b"\x7fELF\x02\x01".to_vec(), Err(ElfError::NotElf)), // too short for e_machine
        ];
        for (bytes, want) in cases {
            assert_eq!(elf_architecture(&bytes), want, "{bytes:02x?}");
        }
    }

    #[test]
    fn the_host_runs_its_own_architecture_natively() {
        assert_eq!(emulator_for(Arch::X86_64, Some(Arch::X86_64)), Ok(None));
        assert_eq!(emulator_for(Arch::Arm64, Some(Arch::Arm64)), Ok(None));
        let refused = emulator_for(Arch::X86_64, Some(Arch::Arm64)).unwrap_err();
        assert!(
            refused.contains("cannot run an x86_64 bootstrap on this arm64 host"),
            "{refused}"
        );
    }

    #[test]
    fn arguments() {
        use clap::Parser;
        #[derive(clap::Parser, Debug)]
        struct Cli {
            #[command(flatten)]
            args: Args,
        }
        let args = |a: &[&str]| {
            Cli::try_parse_from(std::iter::once("artifact-check").chain(a.iter().copied()))
                .map(|c| (c.args.dir, c.args.architecture))
                .map_err(|e| e.to_string())
        };
        assert_eq!(args(&["d"]), Ok((PathBuf::from("d"), Arch::Arm64)));
        assert_eq!(
            args(&["d", "--architecture", "x86_64"]),
            Ok((PathBuf::from("d"), Arch::X86_64))
        );
        assert_eq!(
            args(&["--architecture=arm64", "d"]),
            Ok((PathBuf::from("d"), Arch::Arm64))
        );
        assert!(args(&[]).is_err());
        assert!(args(&["d", "--architecture"]).is_err());
        assert!(args(&["d", "--architecture", "amd64"]).is_err());
        assert!(args(&["d", "e"]).is_err());
        assert!(args(&["d", "--arch", "arm64"]).is_err());
    }

    #[test]
    fn only_the_documented_keys_are_compared() {
        let answer = serde_json::json!({"status": "ok", "OCW": "about 3 minutes"});
        let answer = answer.as_object().cloned().unwrap_or_default();
        let same = serde_json::json!({"status": "ok", "OCW": "about 3 minutes", "extra": "x"});
        assert!(differences(&same, &answer).is_empty());
        let wrong = serde_json::json!({"status": "ok"});
        assert_eq!(
            differences(&wrong, &answer),
            vec![("OCW".into(), Value::Null, "about 3 minutes".into())]
        );
    }

    #[test]
    fn every_function_has_offline_sample_events() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
        let text = std::fs::read_to_string(root.join("events/expected.json")).unwrap();
        let expected: Value = serde_json::from_str(&text).unwrap();
        for function in mindful_core::FUNCTIONS {
            let events = offline_events(&root.join("events"), &expected, function).unwrap();
            assert!(!events.is_empty(), "{function}");
        }
    }

    #[test]
    fn truncation_keeps_whole_characters() {
        assert_eq!(truncate("héllo", 2), "h");
        assert_eq!(truncate("abc", 10), "abc");
    }
}
