//! The journey: the Connect ↔ Mindful callback journey played from the test cases of
//! `infra/tests` (Connect Testing language) on the flow runner. The scenarios live in those
//! files only; start-up, invocation and the transcript are flow-runner's
//! (`flow_runner::host`, `flow_runner::testcase`, `flow_runner::transcript`): this crate picks
//! the cases, starts the simulator and the three function processes once, plays the cases and
//! ends with the coverage table. See README.md.

pub mod cli;

pub use cli::{parse_args, Args};
/// The three functions the journey builds and runs (flow-runner's list).
pub use flow_runner::host::FUNCTIONS;

use std::collections::BTreeMap;
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::time::Instant;

use flow_runner::host::{self, Processes};
use flow_runner::testcase::{self, shipped, Environment, FlowCoverage, TestCaseResult};
use flow_runner::transcript::{self, Invocation, Recorder};
use mindful_sim::{CallRecord, Sim, SimConfig, Stats};

/// The story `cargo run -p journey` plays: Connect offers, the caller accepts, Mindful calls
/// back and an agent answers.
pub const DEFAULT_CASE: &str = "connect-offer-accepted";

/// Where the function binaries come from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Binaries {
    /// `cargo build` them first (debug, or release).
    Build { release: bool },
    /// Already built in this directory (tests build once for all of them).
    Dir(PathBuf),
}

/// Which cases the coverage table is over.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CoverageOver {
    /// The cases played.
    Played,
    /// Every test case of `infra/tests` and its `coverage/` folder; those not played run quietly.
    AllCases,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Options {
    /// Test cases to play: files, or names in `infra/tests` ([`resolve`]).
    pub cases: Vec<String>,
    /// Play every test case of `infra/tests` (top level) after `cases`.
    pub all: bool,
    pub coverage: CoverageOver,
    /// Mindful over https, its test root trusted through `SSL_CERT_FILE`.
    pub https: bool,
    /// The functions' own log lines under each call.
    pub logs: bool,
    pub binaries: Binaries,
}

impl Default for Options {
    /// What `cargo run -p journey` does.
    fn default() -> Options {
        Options {
            cases: vec![DEFAULT_CASE.into()],
            all: false,
            coverage: CoverageOver::AllCases,
            https: false,
            logs: false,
            binaries: Binaries::Build { release: false },
        }
    }
}

/// The journey could not run at all (a case that fails is a [`Report`], not this).
#[derive(Debug, thiserror::Error)]
pub enum JourneyError {
    /// The build, the simulator, the function processes, the template or `infra/tests`.
    #[error("{0}")]
    Setup(String),
    #[error("writing the transcript: {0}")]
    Write(#[from] io::Error),
}

/// One test case as it played.
#[derive(Debug)]
pub struct Played {
    /// The file, relative to the workspace when inside it.
    pub file: String,
    /// The result, or why the case could not run (unreadable, not runnable locally).
    pub result: Result<TestCaseResult, String>,
    /// Mindful's calls and request counters once the case ended (its callback included).
    pub calls: Vec<CallRecord>,
    pub stats: Stats,
    /// Each function invocation of the case: own time, requests Mindful saw, log lines.
    pub invocations: Vec<Invocation>,
}

impl Played {
    pub fn passed(&self) -> bool {
        matches!(&self.result, Ok(r) if r.passed())
    }
}

#[derive(Debug)]
pub struct Report {
    /// The cases played, with their transcripts.
    pub played: Vec<Played>,
    /// The cases run quietly for the coverage table ([`CoverageOver::AllCases`]).
    pub quiet: Vec<Played>,
    pub coverage: Vec<FlowCoverage>,
    pub coverage_over: CoverageOver,
}

impl Report {
    /// Every case passed; over all cases, every transition is covered or explained too.
    pub fn passed(&self) -> bool {
        let not_taken = self
            .coverage
            .iter()
            .any(|c| c.uncovered.len() > c.explained.len());
        self.played.iter().chain(&self.quiet).all(Played::passed)
            && !(self.coverage_over == CoverageOver::AllCases && not_taken)
    }

    /// The played case of this file name (`connect-offer-accepted.json`), if played.
    pub fn case(&self, file_name: &str) -> Option<&Played> {
        let named = |p: &&Played| Path::new(&p.file).file_name() == Some(file_name.as_ref());
        self.played.iter().find(named)
    }
}

/// `infra/tests` of this workspace.
pub fn tests_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../infra/tests")
}

/// The `*.json` test cases of `dir`, sorted, those of its subfolders too with `recursive`.
pub fn case_files(dir: &Path, recursive: bool) -> io::Result<Vec<PathBuf>> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        if path.is_dir() && recursive {
            files.extend(case_files(&path, true)?);
        } else if path.extension().is_some_and(|e| e == "json") {
            files.push(path);
        }
    }
    files.sort();
    Ok(files)
}

/// A case as given on the command line: a file that exists, else `infra/tests/NAME.json`, else
/// `infra/tests/coverage/NAME.json` (else the name itself, which then fails to read).
pub fn resolve(case: &str) -> PathBuf {
    let given = PathBuf::from(case);
    let file = if case.ends_with(".json") {
        case.to_string()
    } else {
        format!("{case}.json")
    };
    [
        tests_dir().join(&file),
        tests_dir().join("coverage").join(&file),
    ]
    .into_iter()
    .find(|p| !given.is_file() && p.is_file())
    .unwrap_or(given)
}

/// `path` relative to the workspace (for the transcript), or as it is.
fn shown(path: &Path) -> String {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    match (root.canonicalize(), path.canonicalize()) {
        (Ok(root), Ok(p)) => p.strip_prefix(&root).unwrap_or(&p).display().to_string(),
        _ => path.display().to_string(),
    }
}

/// Run one test case file against the shipped flows with its own stack parameters.
fn play(template: &str, path: &Path, sim: &Sim, host: &mut Recorder<'_>) -> Played {
    let file = shown(path);
    // The contact ids are named after the case.
    let name = path
        .file_stem()
        .map_or(file.clone(), |s| s.to_string_lossy().into_owned());
    host.invocations.clear();
    let result = std::fs::read_to_string(path)
        .map_err(|e| {
            format!("{e} (a test case is a file, or a name in infra/tests or infra/tests/coverage)")
        })
        .and_then(|text| testcase::parse(&text, &file).map_err(|e| e.to_string()))
        .and_then(|tc| {
            let (local, _) = testcase::local_setup(&tc).map_err(|e| e.to_string())?;
            let inst = shipped::instance(template, &local.stack).map_err(|e| e.to_string())?;
            let mut env = Environment {
                host: &mut *host,
                sim: Some(sim),
            };
            testcase::run_test_case(&name, &tc, &inst, &mut env).map_err(|e| e.to_string())
        });
    Played {
        file,
        result,
        calls: sim.calls(),
        stats: sim.stats(),
        invocations: std::mem::take(&mut host.invocations),
    }
}

/// The transcript of one case (flow-runner's), then Mindful's side of it.
fn write_played(out: &mut dyn Write, p: &Played) -> io::Result<()> {
    let r = match &p.result {
        Ok(r) => r,
        Err(e) => return writeln!(out, "ERROR {}: {e}", p.file),
    };
    transcript::write_result(out, &p.file, r, Some(&p.invocations))?;
    transcript::write_mindful(out, &p.calls, &p.stats)?;
    writeln!(out)
}

/// Build (if asked), start the simulator and the three functions, play the cases with their
/// transcripts to `out`, and end with the coverage table. An `Err` means the journey could not
/// run; cases that failed are in an `Ok` report whose [`Report::passed`] is false.
pub fn run(opts: &Options, out: &mut dyn Write) -> Result<Report, JourneyError> {
    let template_path = host::template_path();
    let template = std::fs::read_to_string(&template_path)
        .map_err(|e| JourneyError::Setup(format!("{}: {e}", template_path.display())))?;
    let listed = |recursive| {
        case_files(&tests_dir(), recursive)
            .map_err(|e| JourneyError::Setup(format!("{}: {e}", tests_dir().display())))
    };
    let mut files: Vec<PathBuf> = opts.cases.iter().map(|c| resolve(c)).collect();
    if opts.all {
        files.extend(listed(false)?);
    }

    let dir = match &opts.binaries {
        Binaries::Dir(d) => d.clone(),
        Binaries::Build { release } => {
            let flag = if *release { " --release" } else { "" };
            writeln!(out, "building the functions… (cargo build{flag} -p ocw-phrase -p datastore-proxy -p agent-answer)")?;
            let started = Instant::now();
            let d = lambda_harness::build(&host::FUNCTIONS, *release)
                .map_err(|e| JourneyError::Setup(format!("building the functions failed: {e}")))?;
            writeln!(out, "  built in {:.1} s", started.elapsed().as_secs_f64())?;
            d
        }
    };
    let config = SimConfig {
        tls: opts.https,
        ..SimConfig::default()
    };
    let sim = Sim::start_blocking(config)
        .map_err(|e| JourneyError::Setup(format!("the Mindful simulator did not start: {e}")))?;
    let mut env = host::function_env(&sim, "US");
    let work = std::env::temp_dir().join(format!("journey-{}", std::process::id()));
    if opts.https {
        let (bundle, n) = std::fs::create_dir_all(&work)
            .and_then(|()| sim.write_ca_bundle(&work))
            .map_err(|e| JourneyError::Setup(format!("the CA bundle: {e}")))?;
        writeln!(out, "https: test CA generated by the simulator; SSL_CERT_FILE={} ({n} certificates: the system bundle + the test root)", bundle.display())?;
        env.push(("SSL_CERT_FILE".into(), bundle.display().to_string()));
    }
    let processes = Processes::start(&dir, &env)
        .map_err(|e| JourneyError::Setup(format!("the functions did not start: {e}")))?;
    writeln!(
        out,
        "Mindful simulator on {} · functions run as Lambda processes ({})\n",
        sim.base_url(),
        dir.display()
    )?;

    let mut recorder = Recorder::new(processes, Some(&sim), opts.logs);
    let mut played = Vec::new();
    for f in &files {
        let p = play(&template, f, &sim, &mut recorder);
        write_played(out, &p)?;
        played.push(p);
    }
    let mut quiet = Vec::new();
    if opts.coverage == CoverageOver::AllCases {
        let seen: Vec<String> = played.iter().map(|p| p.file.clone()).collect();
        for f in listed(true)? {
            if !seen.contains(&shown(&f)) {
                let p = play(&template, &f, &sim, &mut recorder);
                if !p.passed() {
                    write_played(out, &p)?;
                }
                quiet.push(p);
            }
        }
    }
    drop(recorder);
    sim.shutdown();
    if opts.https {
        // Best effort: a temporary file left behind is harmless.
        let _ = std::fs::remove_dir_all(&work);
    }

    let inst = shipped::instance(&template, &BTreeMap::new())
        .map_err(|e| JourneyError::Setup(e.to_string()))?;
    let results = played
        .iter()
        .chain(&quiet)
        .filter_map(|p| p.result.as_ref().ok());
    let coverage = testcase::coverage(&inst, results.flat_map(TestCaseResult::contacts));
    let title = match opts.coverage {
        CoverageOver::Played => format!(
            "coverage of the five flows by the {} case(s) played (--played-coverage):",
            played.len()
        ),
        CoverageOver::AllCases => format!(
            "coverage of the five flows by every test case of infra/tests ({} played above, {} more run quietly):",
            played.len(),
            quiet.len()
        ),
    };
    transcript::write_coverage(out, &title, &coverage)?;
    let all = played.len() + quiet.len();
    let failed = played.iter().chain(&quiet).filter(|p| !p.passed()).count();
    writeln!(out, "{} passed, {failed} failed", all - failed)?;
    Ok(Report {
        played,
        quiet,
        coverage,
        coverage_over: opts.coverage,
    })
}
