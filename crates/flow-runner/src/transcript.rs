//! The transcript of a test case as it ran (`flow-runner test`, the journey): each block the
//! contact passed and the branch it took, what the caller heard and pressed, each Lambda call
//! with its parameters, its answer, its status and the function's own time, the requests Mindful
//! saw during that call, then each observation passed or failed; and the coverage table with the
//! reason for every transition no case took.
//!
//! The own times and Mindful's requests are not part of a [`ContactRun`] (the engine knows
//! neither), so a [`Recorder`] — the [`Host`] playing the function processes — notes them per
//! invocation, and [`write_result`] puts them next to the calls they belong to.

use std::io::{self, Write};
use std::time::Duration;

use mindful_sim::{CallRecord, LoggedRequest, Sim, Stats};
use serde_json::Value;

use crate::engine::{ContactRun, Host, LambdaCall, LambdaRecord, LambdaReply, Step};
use crate::host::{invoke_timed, Processes};
use crate::testcase::{describe_end, FlowCoverage, Status, TestCaseResult};

/// What the [`Recorder`] noted about one invocation of a function process.
#[derive(Clone, Debug)]
pub struct Invocation {
    /// The event as sent: it names the contact, and tells apart calls of the same block.
    pub event: Value,
    pub own_time: Duration,
    /// Requests Mindful's simulator received while the function ran.
    pub requests: Vec<LoggedRequest>,
    /// The function's own log lines (when asked for).
    pub logs: Vec<String>,
}

/// The function processes as a [`Host`], noting each invocation's own time, the requests Mindful
/// saw meanwhile and (with `logs`) the function's log lines.
pub struct Recorder<'a> {
    pub processes: Processes,
    pub sim: Option<&'a Sim>,
    pub logs: bool,
    pub invocations: Vec<Invocation>,
}

impl<'a> Recorder<'a> {
    pub fn new(processes: Processes, sim: Option<&'a Sim>, logs: bool) -> Recorder<'a> {
        Recorder {
            processes,
            sim,
            logs,
            invocations: Vec::new(),
        }
    }
}

impl Host for Recorder<'_> {
    fn invoke(&mut self, call: &LambdaCall) -> LambdaReply {
        let name = call.function.clone().unwrap_or_default();
        let Some(f) = self.processes.get(&name) else {
            return LambdaReply::Failed(format!("{name} is not running"));
        };
        // Request ids only grow while a function runs (the log is reset between runs only).
        let last = |sim: &Sim| sim.requests().last().map_or(0, |r| r.id);
        let before = self.sim.map(last);
        let mark = f.log_mark();
        let (reply, own_time) = invoke_timed(f, call);
        let logs = if self.logs {
            // The last lines of output may trail the answer.
            std::thread::sleep(Duration::from_millis(20));
            f.logs_since(mark).into_iter().map(|l| l.text).collect()
        } else {
            Vec::new()
        };
        let requests = match (self.sim, before) {
            (Some(sim), Some(before)) => sim
                .requests()
                .into_iter()
                .filter(|r| r.id > before)
                .collect(),
            _ => Vec::new(),
        };
        self.invocations.push(Invocation {
            event: call.event.clone(),
            own_time,
            requests,
            logs,
        });
        reply
    }
}

/// A phone number as the product's logs show it: `***` and its last four digits.
pub fn masked_number(number: &str) -> String {
    let digits: String = number.chars().filter(char::is_ascii_digit).collect();
    format!("***{}", &digits[digits.len().saturating_sub(4)..])
}

/// The caller's number masked ([`masked_number`]) wherever it appears.
fn masker(customer: &str) -> impl Fn(&str) -> String + '_ {
    let digits: String = customer.chars().filter(char::is_ascii_digit).collect();
    let masked = masked_number(customer);
    // The national part too: a number can appear without its country code.
    let national = digits[digits.len().saturating_sub(10)..].to_string();
    move |text: &str| {
        if digits.len() < 7 {
            return text.to_string();
        }
        text.replace(customer, &masked).replace(&national, &masked)
    }
}

/// A value for one line: ARNs shortened to their last part, long values cut.
fn short(v: &str) -> String {
    let v = match v.split_once(":queue/").or_else(|| v.split_once("/queue/")) {
        Some((_, id)) if v.starts_with("arn:") => {
            format!("arn:…/queue/{}…", id.chars().take(8).collect::<String>())
        }
        _ => v.to_string(),
    };
    if v.chars().count() > 72 {
        format!("{}…", v.chars().take(72).collect::<String>())
    } else if v.is_empty() || v.contains(' ') {
        format!("{v:?}")
    } else {
        v
    }
}

/// `key=value …`; a value whose key names a secret (agent-answer's `Secret_Num`, a token, a
/// password a user's flow passes) is never shown.
fn pairs<'v>(it: impl IntoIterator<Item = (&'v str, String)>) -> String {
    let secret = |k: &str| {
        let k = k.to_ascii_lowercase();
        ["secret", "token", "password"]
            .iter()
            .any(|s| k.contains(s))
    };
    it.into_iter()
        .map(|(k, v)| match secret(k) {
            true => format!("{k}=***"),
            false => format!("{k}={}", short(&v)),
        })
        .collect::<Vec<_>>()
        .join(" ")
}

fn value_text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// One Lambda call: parameters, answer, status and own time, then what Mindful saw.
fn write_call(
    out: &mut dyn Write,
    n: usize,
    rec: &LambdaRecord,
    inv: Option<&Invocation>,
    mask: &dyn Fn(&str) -> String,
) -> io::Result<()> {
    let function = rec.call.function.as_deref().unwrap_or("(not mapped)");
    let params = pairs(
        rec.call
            .parameters
            .iter()
            .map(|(k, v)| (k.as_str(), v.clone())),
    );
    writeln!(
        out,
        "  [{n}] {} → {function}   {}",
        rec.call.flow,
        mask(&params)
    )?;
    let time = match inv {
        Some(i) => format!("{:.2} ms", i.own_time.as_secs_f64() * 1000.0),
        None => "answered by the test case's override".into(),
    };
    let answer = match &rec.reply {
        LambdaReply::Answer(Value::Object(m)) => {
            let status = m.get("status").map(value_text).unwrap_or_default();
            let rest = pairs(
                m.iter()
                    .filter(|(k, _)| *k != "status")
                    .map(|(k, v)| (k.as_str(), value_text(v))),
            );
            format!("⇒ {rest}  (status {status}, {time})")
        }
        LambdaReply::Answer(other) => format!("⇒ {other}  ({time})"),
        LambdaReply::FunctionError(e) => format!("⇒ function error: {e}  ({time})"),
        LambdaReply::Timeout => format!(
            "⇒ no answer inside {} s: timed out  ({time})",
            rec.call.timeout.as_secs()
        ),
        LambdaReply::Failed(e) => format!("⇒ not invoked: {e}"),
    };
    writeln!(out, "      {}", mask(&answer))?;
    if let Some(why) = &rec.rejected {
        writeln!(out, "      Connect takes the error branch: {why}")?;
    }
    if let Some(i) = inv {
        if !i.requests.is_empty() {
            let seen: Vec<String> = i
                .requests
                .iter()
                .map(|r| {
                    let status = r.status.map_or("no answer".into(), |s| s.to_string());
                    let fault = r.fault.as_ref().map(|f| format!(" (fault {f})"));
                    format!(
                        "{} {} → {status}{}",
                        r.method,
                        r.path,
                        fault.unwrap_or_default()
                    )
                })
                .collect();
            writeln!(out, "      Mindful saw: {}", seen.join(", "))?;
        }
        for l in &i.logs {
            writeln!(out, "      log: {}", mask(l))?;
        }
    }
    Ok(())
}

/// Every block of one contact, each Lambda call after its block.
fn write_contact(
    out: &mut dyn Write,
    title: &str,
    run: &ContactRun,
    invocations: &mut Vec<Option<&Invocation>>,
    mask: &dyn Fn(&str) -> String,
) -> io::Result<()> {
    writeln!(
        out,
        "── {title}: {} calls {} ({})",
        mask(&run.customer),
        run.dialled,
        run.contact_id
    )?;
    for step in &run.steps {
        write_step(out, step)?;
        if let Some(i) = step.lambda {
            if let Some(rec) = run.lambda.get(i) {
                // The invocation whose event is this call's (overridden calls have none).
                let inv = invocations
                    .iter_mut()
                    .find(|s| s.is_some_and(|s| s.event == rec.call.event))
                    .and_then(Option::take);
                write_call(out, i + 1, rec, inv, mask)?;
            }
        }
        for note in &step.notes {
            writeln!(out, "        {}", mask(note))?;
        }
    }
    writeln!(out, "  ⇒ {}", describe_end(&run.end))
}

fn write_step(out: &mut dyn Write, s: &Step) -> io::Result<()> {
    let target = s.target.as_deref().map(|t| format!(" → {t}"));
    writeln!(
        out,
        "    {} · {} ({}) ⇒ {}{}{}",
        s.flow,
        s.block,
        s.typ,
        s.branch,
        target.unwrap_or_default(),
        if s.injected { " (injected)" } else { "" }
    )
}

/// One test case: a `PASS`/`FAIL` line with how the contact ended, then — given the
/// [`Recorder`]'s invocations of the case — every block of the contact and of Mindful's callback
/// with each Lambda call, and then each observation passed, failed or skipped with its log.
/// Without invocations (`flow-runner test`) the blocks are left out.
pub fn write_result(
    out: &mut dyn Write,
    file: &str,
    r: &TestCaseResult,
    invocations: Option<&[Invocation]>,
) -> io::Result<()> {
    let mask = masker(&r.run.customer);
    let verdict = if r.passed() { "PASS" } else { "FAIL" };
    writeln!(
        out,
        "{verdict} {file} ({})",
        mask(&describe_end(&r.run.end))
    )?;
    if let Some(invs) = invocations {
        let mut pending: Vec<Option<&Invocation>> = invs.iter().map(Some).collect();
        write_contact(out, "the contact", &r.run, &mut pending, &mask)?;
        if let Some(c) = &r.callback {
            write_contact(out, "Mindful calls back", c, &mut pending, &mask)?;
        }
    }
    if let Some(c) = &r.callback {
        writeln!(out, "  Mindful called back: {}", describe_end(&c.end))?;
    }
    for o in &r.observations {
        let mark = match o.status {
            Status::Passed => "ok  ",
            Status::Failed => "FAIL",
            Status::Skipped => "skip",
        };
        writeln!(out, "  {mark} {}: {}", o.identifier, mask(&o.detail))?;
        for l in &o.log {
            writeln!(out, "         {}", mask(l))?;
        }
    }
    Ok(())
}

/// Mindful's side once a case ended: its request counters and its calls (state, and the agent
/// answer's metadata), the numbers masked.
pub fn write_mindful(out: &mut dyn Write, calls: &[CallRecord], s: &Stats) -> io::Result<()> {
    writeln!(
        out,
        "  Mindful saw {} requests (token {}, agent_answer {}, datastore_post {}, datastore_get {}, widget_status {})",
        s.total, s.token, s.agent_answer, s.datastore_post, s.datastore_get, s.widget_status
    )?;
    for c in calls {
        let answer = c.metadata.as_ref().map(|m| format!(", agent answer {m}"));
        let (id, ani, state) = (c.id, masked_number(&c.ani), c.state);
        let answer = answer.unwrap_or_default();
        writeln!(out, "  Mindful's call #{id} for {ani}: {state:?}{answer}")?;
    }
    Ok(())
}

/// The coverage table ([`crate::testcase::coverage_table`]) under `title`, then each
/// transition no case took, with Connect's reason when it has one ([`crate::testcase::explain`])
/// and `NOT TAKEN` otherwise: every transition is accounted for in the table itself.
pub fn write_coverage(
    out: &mut dyn Write,
    title: &str,
    coverage: &[FlowCoverage],
) -> io::Result<()> {
    writeln!(out, "{title}")?;
    for line in crate::testcase::coverage_table(coverage) {
        writeln!(out, "{line}")?;
    }
    for c in coverage {
        for u in &c.uncovered {
            match c
                .explained
                .iter()
                .find(|e| e.starts_with(&format!("{u}: ")))
            {
                Some(e) => writeln!(out, "    {} {e}", c.flow)?,
                None => writeln!(out, "    {} {u}: NOT TAKEN by any case played", c.flow)?,
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_callers_number_is_masked_with_or_without_its_country_code() {
        let mask = masker("+13209071234");
        assert_eq!(
            mask("+13209071234 called; ani=3209071234"),
            "***1234 called; ani=***1234"
        );
        // A withheld number is not a number to mask.
        assert_eq!(masker("anonymous")("anonymous"), "anonymous");
    }

    #[test]
    fn values_are_shortened_for_one_line() {
        let arn = "arn:aws:connect:us-east-1:1:instance/i/queue/7b3e1f2a-9c4d-4e8f";
        assert_eq!(short(arn), "arn:…/queue/7b3e1f2a…");
        assert_eq!(short(""), "\"\"");
        assert_eq!(short("Ada Lovelace"), "\"Ada Lovelace\"");
        assert_eq!(short(&"x".repeat(100)).chars().count(), 73);
        let shown = pairs([
            ("Secret_Num", "s3".to_string()),
            ("Agent_ID", "jdoe".into()),
        ]);
        assert_eq!(shown, "Secret_Num=*** Agent_ID=jdoe");
    }
}
