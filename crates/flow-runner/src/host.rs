//! The functions as real processes (lambda-harness) against the Mindful simulator, and the
//! shipped flows of `infra/template.yaml` as an [`Instance`].

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use lambda_harness::{FunctionProcess, HarnessError, InvokeOptions, Outcome};
use mindful_sim::Sim;

use crate::engine::{Host, Instance, LambdaCall, LambdaReply};
use crate::flow::{flows_from_template, LoadError};

/// Our three functions, by package name.
pub use mindful_core::FUNCTIONS;

/// The functions' configuration against the simulator ([`Sim::function_env`]).
pub fn function_env(sim: &Sim, country: &str) -> Vec<(String, String)> {
    sim.function_env(country)
}

/// The three functions running as Lambda processes.
pub struct Processes {
    pub functions: Vec<FunctionProcess>,
}

impl Processes {
    /// Start the binaries found in `dir` with `env`.
    pub fn start(dir: &Path, env: &[(String, String)]) -> Result<Processes, HarnessError> {
        let mut functions = Vec::new();
        for name in FUNCTIONS {
            let f = FunctionProcess::builder(dir.join(name))
                .envs(env)
                .function_name(name)
                .spawn()?;
            f.wait_ready_blocking(Duration::from_secs(10))?;
            functions.push(f);
        }
        Ok(Processes { functions })
    }

    pub fn get(&mut self, name: &str) -> Option<&mut FunctionProcess> {
        self.functions.iter_mut().find(|f| f.name() == name)
    }
}

/// Invoke `function` the way Connect does: the deadline is the block's
/// `InvocationTimeLimitSeconds`.
pub fn invoke_process(f: &mut FunctionProcess, call: &LambdaCall) -> LambdaReply {
    invoke_timed(f, call).0
}

/// [`invoke_process`], with the function's own time: the emulator's, from handing over the event
/// to the answer (for a transcript); the time waited when no answer came.
pub fn invoke_timed(f: &mut FunctionProcess, call: &LambdaCall) -> (LambdaReply, Duration) {
    let started = std::time::Instant::now();
    match f.invoke_blocking_with(&call.event, InvokeOptions::with_timeout(call.timeout)) {
        Ok(inv) => (
            match inv.outcome {
                Outcome::Response(v) => LambdaReply::Answer(v),
                Outcome::Error(e) => LambdaReply::FunctionError(e.to_string()),
            },
            inv.own_time,
        ),
        Err(HarnessError::Timeout { .. }) => (LambdaReply::Timeout, started.elapsed()),
        Err(e) => (LambdaReply::Failed(e.to_string()), started.elapsed()),
    }
}

impl Host for Processes {
    fn invoke(&mut self, call: &LambdaCall) -> LambdaReply {
        let name = call.function.clone().unwrap_or_default();
        match self.get(&name) {
            Some(f) => invoke_process(f, call),
            None => LambdaReply::Failed(format!("{name} is not running")),
        }
    }
}

/// The shipped stack's numbers and queues as the runner plays them.
#[derive(Clone, Debug)]
pub struct Stack {
    pub main_number: String,
    pub return_number: String,
    pub call_target: String,
    /// (ARN, name) of the inbound queue, the callback default queue, and any other queue.
    pub queues: Vec<(String, String)>,
    /// Stack parameters (connect stack) on top of the template's defaults.
    pub params: BTreeMap<String, String>,
}

/// The Lambda ARN the runner gives one of our functions.
pub fn function_arn(name: &str) -> String {
    format!("arn:aws:lambda:us-east-1:111122223333:function:mindful-{name}")
}

pub const INSTANCE_ARN: &str =
    "arn:aws:connect:us-east-1:111122223333:instance/00000000-0000-4000-8000-000000000000";

/// The flows of `infra/template.yaml` (text) as an instance: the function ARN parameters map to
/// our functions, the main number starts `NormalInboundFlow`, the return number
/// `CallbackReturnFlow` (the numbers `deploy.sh` associates), the Call Target is Mindful.
pub fn shipped_instance(template: &str, stack: &Stack) -> Result<Instance, LoadError> {
    let reference = crate::reference::Reference::get();
    let mut params = stack.params.clone();
    let mut lambdas = BTreeMap::new();
    for f in &reference.functions {
        let arn = function_arn(&f.name);
        params
            .entry(f.arn_param.clone())
            .or_insert_with(|| arn.clone());
        lambdas.insert(params[&f.arn_param].clone(), f.name.clone());
    }
    params
        .entry("ConnectInstanceArn".into())
        .or_insert_with(|| INSTANCE_ARN.into());
    params
        .entry("CallTargetPhoneNumber".into())
        .or_insert_with(|| stack.call_target.clone());
    let flows = flows_from_template(template, &params)?;
    let numbers = [
        (stack.main_number.clone(), "NormalInboundFlow"),
        (stack.return_number.clone(), "CallbackReturnFlow"),
    ]
    .into_iter()
    .filter_map(|(n, res)| {
        flows
            .iter()
            .find(|f| f.name == res)
            .map(|f| (n, f.arn.clone()))
    })
    .collect();
    Ok(Instance {
        flows,
        numbers,
        queues: stack.queues.iter().cloned().collect(),
        lambdas,
        mindful_call_target: Some(stack.call_target.clone()),
        mindful_return_number: Some(stack.return_number.clone()),
        mindful_makes_offer: params.get(OFFERED_BY_PARAM).map(String::as_str) == Some("Mindful"),
        instance_arn: INSTANCE_ARN.into(),
    })
}

/// The connect stack's parameter choosing who makes the callback offer (`Connect`, the
/// template's default, or `Mindful`).
pub const OFFERED_BY_PARAM: &str = "CallbackOfferedBy";

/// What Mindful's IVR did with a caller the flows transferred to the Call Target when Mindful
/// makes the offer (`CallbackOfferedBy=Mindful`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MindfulIvr {
    /// The caller accepted: the callback is registered (the simulator's call id).
    Accepted(u64),
    /// The caller declined: Mindful holds them (its hold treatment); no callback.
    Declined(u64),
}

/// Mindful makes the offer: `None` when the run did not end at the Call Target or the stack
/// has Connect make the offers (Connect's own prompt already asked, and Mindful only registers).
pub fn mindful_ivr_offer(
    inst: &Instance,
    sim: &Sim,
    run: &crate::engine::ContactRun,
    accepts: bool,
) -> Option<MindfulIvr> {
    let crate::engine::End::TransferredOut {
        to_mindful: true, ..
    } = &run.end
    else {
        return None;
    };
    if !inst.mindful_makes_offer {
        return None;
    }
    let id = sim.offer_at_call_target(&run.customer, accepts);
    Some(if accepts {
        MindfulIvr::Accepted(id)
    } else {
        MindfulIvr::Declined(id)
    })
}

/// `infra/template.yaml` of this workspace.
pub fn template_path() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../infra/template.yaml")
}

/// Mindful's part after a transfer to the Call Target: it registers the callback, dials the
/// customer and bridges them into the return number, which starts the flow that number is
/// claimed by (a new contact). `None` when the run did not end at the Call Target, or when
/// Mindful makes the offer and no callback was accepted at its IVR ([`mindful_ivr_offer`]
/// first: it registers the callback the caller accepted).
pub fn mindful_calls_back(
    inst: &Instance,
    host: &mut dyn Host,
    sim: &Sim,
    run: &crate::engine::ContactRun,
    sc: &mut crate::engine::Scenario,
    contact_id: String,
) -> Option<(
    u64,
    Result<crate::engine::ContactRun, crate::engine::RunError>,
)> {
    let crate::engine::End::TransferredOut {
        to_mindful: true, ..
    } = &run.end
    else {
        return None;
    };
    let number = inst.mindful_return_number.clone()?;
    let call_id = if inst.mindful_makes_offer {
        sim.calls()
            .iter()
            .rev()
            .find(|c| c.ani == run.customer && c.state == mindful_sim::CallState::Connecting)?
            .id
    } else {
        sim.register_call(&run.customer)
    };
    let call = crate::engine::Call {
        customer: run.customer.clone(),
        dialled: number,
        contact_id,
    };
    Some((call_id, crate::engine::run_contact(inst, host, call, sc)))
}
