//! Action and transition coverage of the five shipped flows (infra/template.yaml) under a set of
//! scenarios run with the real functions and the Mindful simulator. Every transition is covered
//! or explained by a rule of Connect's (below); a flow change that adds a branch no scenario
//! takes fails this test.

use std::collections::{BTreeMap, BTreeSet, VecDeque};

use flow_runner::host::{
    self, mindful_calls_back, mindful_ivr_offer, MindfulIvr, Processes, Stack,
};
use flow_runner::{run_contact, AgentAnswer, Call, End, Injection, Input, Instance, Scenario};
use mindful_sim::{CallState, Fault, Route, Sim, SimConfig};

const MAIN: &str = "+18005550100";
const RETURN: &str = "+18005550199";
const TARGET: &str = "+13205550100";
const CUSTOMER: &str = "+13209071234";
const BILLING: &str = "arn:aws:connect:us-east-1:111122223333:instance/00000000-0000-4000-8000-000000000000/queue/7b3e1f2a-9c4d-4e8f-a1b2-c3d4e5f60718";
const DEFAULT_Q: &str = "arn:aws:connect:us-east-1:111122223333:instance/00000000-0000-4000-8000-000000000000/queue/1d6c9e0a-3b2f-4c1d-8e7f-5a4b3c2d1e0f";

fn instance(extra: &[(&str, &str)]) -> Instance {
    let mut params: BTreeMap<String, String> = [
        ("InboundQueueArn", BILLING),
        ("CallbackDefaultQueueArn", DEFAULT_Q),
        ("ReturnRoutingAttribute", "skill"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    for (k, v) in extra {
        params.insert(k.to_string(), v.to_string());
    }
    let stack = Stack {
        main_number: MAIN.into(),
        return_number: RETURN.into(),
        call_target: TARGET.into(),
        queues: vec![
            (BILLING.into(), "Billing".into()),
            (DEFAULT_Q.into(), "BasicQueue".into()),
        ],
        params,
    };
    let text = std::fs::read_to_string(host::template_path()).unwrap();
    host::shipped_instance(&text, &stack).unwrap()
}

struct Case {
    name: &'static str,
    second_chance: bool,
    callbacks: bool,
    scenario: Scenario,
    fault: Option<(Route, Fault)>,
    /// Injections for the return call (after Mindful calls back).
    return_inject: Vec<Injection>,
    return_fault: Option<(Route, Fault)>,
    /// Stack `CallbackOfferedBy=Mindful`; the caller's answer to Mindful's own offer.
    mindful_offers: Option<bool>,
    /// `ecbt` in the simulator's Datastore answers.
    ecbt: Option<u64>,
    /// Stack `CheckMindfulStatus=true`; the Scheduler widget state the simulator answers.
    mindful_status: Option<&'static str>,
}

fn sc(inputs: &[&str]) -> Scenario {
    Scenario {
        inputs: inputs
            .iter()
            .map(|d| {
                if d.is_empty() {
                    Input::Timeout
                } else {
                    Input::Digits(d.to_string())
                }
            })
            .collect(),
        oldest_contact_age: "185".into(),
        agent: Some(AgentAnswer {
            after_seconds: 300,
            user_name: "jdoe".into(),
        }),
        attributes: [
            ("customer_name", "Ada Lovelace"),
            ("account_number", "AC-1042"),
            ("skill", "billing"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect(),
        ..Scenario::default()
    }
}

fn inject_in(flow: Option<&str>, block: &str, error: &str) -> Injection {
    Injection {
        flow: flow.map(str::to_string),
        block: block.into(),
        error: error.into(),
        times: 1,
    }
}

fn case(name: &'static str, scenario: Scenario) -> Case {
    Case {
        name,
        second_chance: false,
        callbacks: true,
        scenario,
        fault: None,
        return_inject: vec![],
        return_fault: None,
        mindful_offers: None,
        ecbt: None,
        mindful_status: None,
    }
}

fn with(mut s: Scenario, f: impl FnOnce(&mut Scenario)) -> Scenario {
    f(&mut s);
    s
}

fn cases() -> Vec<Case> {
    let f1 = Some("NormalInboundFlow");
    let f2 = Some("InboundToMindfulFlow");
    let f3 = Some("CallbackReturnFlow");
    let f5 = Some("SecondChanceQueueFlow");
    let mut v = vec![
        case("accept, callback, agent answers", sc(&["1"])),
        case("decline", sc(&[""])),
        Case {
            callbacks: false,
            ..case("callbacks switched off", sc(&[]))
        },
        case("chat contact", with(sc(&[]), |s| s.channel = "CHAT".into())),
        case(
            "agents available: no offer",
            with(sc(&[]), |s| s.agents_available = 1),
        ),
        case("caller presses nothing", sc(&[""])),
        case("caller presses 2", sc(&["2"])),
        Case {
            fault: Some((Route::DatastorePost, Fault::Status { code: 503 })),
            ..case("POST fails", sc(&["1"]))
        },
        case(
            "Call Target not connected",
            with(sc(&["1"]), |s| s.third_party_answers = false),
        ),
        Case {
            return_fault: Some((Route::DatastoreGet, Fault::Status { code: 404 })),
            ..case("record missing on return", sc(&["1"]))
        },
        Case {
            second_chance: true,
            ..case("second chance: accept the second offer", sc(&["", "1"]))
        },
        Case {
            second_chance: true,
            ..case(
                "second chance: decline to the cap",
                with(sc(&["", "", ""]), |s| {
                    s.agent = Some(AgentAnswer {
                        after_seconds: 600,
                        user_name: "jdoe".into(),
                    })
                }),
            )
        },
        Case {
            second_chance: true,
            ..case("second chance: other key, then accept", sc(&["", "9", "1"]))
        },
        Case {
            second_chance: true,
            fault: Some((Route::DatastorePost, Fault::Status { code: 503 })),
            ..case("second chance: POST fails", sc(&["", "1"]))
        },
        Case {
            second_chance: true,
            ..case(
                "second chance: Call Target not connected",
                with(sc(&["", "1"]), |s| s.third_party_answers = false),
            )
        },
    ];
    // The caller's language (each language of ocw-phrase's table at least once; every prompt in
    // it is checked by tests/languages.rs) and Mindful's estimated callback time.
    v.extend([
        Case {
            ecbt: Some(540),
            ..case(
                "es-US: accept, confirmation with ecbt",
                with(sc(&["1"]), |s| s.language = "es-US".into()),
            )
        },
        case(
            "fr-CA: decline",
            with(sc(&[""]), |s| s.language = "fr-CA".into()),
        ),
        Case {
            second_chance: true,
            ecbt: Some(540),
            ..case(
                "second chance, fr-CA: accept the second offer, ecbt",
                with(sc(&["", "1"]), |s| s.language = "fr-CA".into()),
            )
        },
        // CallbackOfferedBy=Mindful: no Connect prompt; Mindful's IVR offers.
        Case {
            mindful_offers: Some(true),
            ..case("Mindful offers: accepted at Mindful", sc(&[]))
        },
        Case {
            mindful_offers: Some(false),
            ..case("Mindful offers: declined at Mindful (held)", sc(&[]))
        },
        Case {
            mindful_offers: Some(true),
            ..case(
                "Mindful offers: short wait, queued",
                with(sc(&[]), |s| s.oldest_contact_age = "30".into()),
            )
        },
        Case {
            mindful_offers: Some(true),
            second_chance: true,
            ..case(
                "Mindful offers, second chance: the queue flow transfers",
                with(sc(&[]), |s| s.oldest_contact_age = "30".into()),
            )
        },
    ]);
    // Mindful's status before the offer (CheckMindfulStatus=true): Mindful takes callbacks,
    // does not, or does not answer; first offer and second chance.
    v.extend([
        Case {
            mindful_status: Some("offer_callback"),
            ..case("status offer_callback: accept", sc(&["1"]))
        },
        Case {
            mindful_status: Some("platform_unavailable"),
            ..case("status platform_unavailable: no offer", sc(&[]))
        },
        Case {
            mindful_status: Some("offer_callback"),
            fault: Some((Route::WidgetStatus, Fault::Status { code: 503 })),
            ..case("status check fails: no offer", sc(&[]))
        },
        Case {
            mindful_status: Some("offer_asap_callback"),
            second_chance: true,
            ..case(
                "status, second chance: accept the second offer",
                sc(&["", "1"]),
            )
        },
        Case {
            mindful_status: Some("display_ewt_only"),
            second_chance: true,
            fault: Some((Route::WidgetStatus, Fault::Hang)),
            ..case(
                "status check hangs, second chance: never offered",
                with(sc(&[]), |s| {
                    s.agent = Some(AgentAnswer {
                        after_seconds: 300,
                        user_name: "jdoe".into(),
                    })
                }),
            )
        },
        Case {
            mindful_status: Some("offer_callback"),
            mindful_offers: Some(true),
            ..case("status, Mindful offers: accepted at Mindful", sc(&[]))
        },
    ]);
    for (flow, block, second) in [
        (f2, "check-mindful-status", false),
        (f2, "keep-mindful-status", false),
        (f5, "check-mindful-status", true),
        (f5, "keep-mindful-status", true),
    ] {
        let name: &'static str = Box::leak(
            format!("status: {} {block} NoMatchingError", flow.unwrap_or("-")).into_boxed_str(),
        );
        let inputs: &[&str] = if second { &["", "1"] } else { &["1"] };
        let s = with(sc(inputs), |s| {
            s.inject.push(inject_in(flow, block, "NoMatchingError"))
        });
        v.push(Case {
            second_chance: second,
            mindful_status: Some("offer_callback"),
            ..case(name, s)
        });
    }
    // The failure marker's own error branch: the check failed, then setting the attribute did.
    for (flow, second) in [(f2, false), (f5, true)] {
        let name: &'static str = Box::leak(
            format!(
                "status: {} mindful-status-failed NoMatchingError",
                flow.unwrap_or("-")
            )
            .into_boxed_str(),
        );
        let s = with(sc(if second { &["", "1"] } else { &["1"] }), |s| {
            s.inject
                .push(inject_in(flow, "check-mindful-status", "NoMatchingError"));
            s.inject
                .push(inject_in(flow, "mindful-status-failed", "NoMatchingError"));
        });
        v.push(Case {
            second_chance: second,
            mindful_status: Some("offer_callback"),
            ..case(name, s)
        });
    }
    // Voice and confirmation blocks: their error branches, with an ecbt so the confirmation
    // phrase is asked for.
    for (flow, block, second) in [
        (f2, "keep-caller-language", false),
        (f2, "set-caller-voice", false),
        (f2, "get-accepted-phrase", false),
        (f2, "keep-accepted-phrase", false),
        (f2, "say-accepted", false),
        (f5, "set-caller-voice", true),
        (f5, "get-accepted-phrase", true),
        (f5, "keep-accepted-phrase", true),
        (f5, "say-accepted", true),
    ] {
        let name: &'static str =
            Box::leak(format!("{} {block} NoMatchingError", flow.unwrap_or("-")).into_boxed_str());
        let inputs: &[&str] = if second { &["", "1"] } else { &["1"] };
        let s = with(sc(inputs), |s| {
            s.inject.push(inject_in(flow, block, "NoMatchingError"))
        });
        v.push(Case {
            second_chance: second,
            ecbt: Some(540),
            ..case(name, s)
        });
    }
    // Failures that come from Connect itself: each error branch forced once.
    let injected: &[(Option<&str>, &str, &str, bool)] = &[
        (f1, "set-working-queue", "NoMatchingError", false),
        (f1, "mark-callbacks-enabled", "NoMatchingError", false),
        (f1, "to-mindful-offer-flow", "NoMatchingError", false),
        (f1, "transfer-to-queue", "QueueAtCapacity", false),
        (f1, "transfer-to-queue", "NoMatchingError", false),
        (f1, "sorry-message", "NoMatchingError", false),
        (f2, "mark-second-chance", "NoMatchingError", false),
        (f2, "set-working-queue", "NoMatchingError", false),
        (f2, "get-queue-metrics", "NoMatchingError", false),
        (f2, "get-wait-phrase", "NoMatchingError", false),
        (f2, "count-first-offer", "NoMatchingError", true),
        (f2, "offer-callback", "NoMatchingError", false),
        (f2, "save-caller-context", "NoMatchingError", false),
        (f2, "set-second-chance-queue-flow", "NoMatchingError", true),
        (f2, "transfer-to-queue", "QueueAtCapacity", false),
        (f2, "transfer-to-queue", "NoMatchingError", false),
        (f2, "sorry-message", "NoMatchingError", false),
        (f2, "get-sorry-phrase", "NoMatchingError", false),
        (f2, "keep-sorry-words", "NoMatchingError", false),
        (f2, "set-sorry-voice", "NoMatchingError", false),
        (f5, "hold-loop", "NoMatchingError", true),
        (f5, "get-queue-metrics", "NoMatchingError", true),
        (f5, "get-wait-phrase", "NoMatchingError", true),
        (f5, "count-offer", "NoMatchingError", true),
        (f5, "offer-callback", "NoMatchingError", true),
        (f5, "save-caller-context", "NoMatchingError", true),
    ];
    for (flow, block, error, second) in injected {
        let name: &'static str =
            Box::leak(format!("{} {block} {error}", flow.unwrap_or("-")).into_boxed_str());
        let mut s = sc(&["", "1", "1"]);
        // The blocks of the sorry path are reached when the transfer to the queue fails.
        let sorry = matches!(
            *block,
            "sorry-message" | "get-sorry-phrase" | "keep-sorry-words" | "set-sorry-voice"
        );
        let queues = sorry || *block == "transfer-to-queue";
        if !second {
            s.inputs = if queues {
                VecDeque::new()
            } else {
                [Input::Digits("1".into())].into()
            };
        }
        if sorry {
            s.inject
                .push(inject_in(*flow, "transfer-to-queue", "NoMatchingError"));
        }
        s.inject.push(inject_in(*flow, block, error));
        // Flow 1 queues the caller itself only when callbacks are switched off.
        let callbacks = !(queues && *flow == f1);
        v.push(Case {
            second_chance: *second,
            callbacks,
            ..case(name, s)
        });
    }
    for (block, error) in [
        ("load-caller-context", "NoMatchingError"),
        ("copy-caller-context", "NoMatchingError"),
        ("restore-routing-attribute", "NoMatchingError"),
        ("set-original-queue", "NoMatchingError"),
        ("set-default-queue", "NoMatchingError"),
        ("set-agent-answer-whisper", "NoMatchingError"),
        ("transfer-to-queue", "QueueAtCapacity"),
        ("transfer-to-queue", "NoMatchingError"),
        ("sorry-message", "NoMatchingError"),
        ("get-sorry-phrase", "NoMatchingError"),
        ("set-caller-voice", "NoMatchingError"),
        ("report-agent-answer", "NoMatchingError"),
    ] {
        let name: &'static str = Box::leak(format!("return: {block} {error}").into_boxed_str());
        let mut c = case(name, sc(&["1"]));
        c.return_inject = vec![inject_in(
            if block == "report-agent-answer" {
                Some("CustomerWhisperFlow")
            } else {
                f3
            },
            block,
            error,
        )];
        if block == "set-default-queue" {
            c.return_fault = Some((Route::DatastoreGet, Fault::Status { code: 404 }));
        }
        if matches!(
            block,
            "sorry-message" | "get-sorry-phrase" | "set-caller-voice"
        ) {
            c.return_inject
                .insert(0, inject_in(f3, "transfer-to-queue", "NoMatchingError"));
        }
        v.push(c);
    }
    v
}

/// Why a transition no scenario takes cannot be taken (Connect's rules, from the block pages).
fn explain(inst: &Instance, flow: &str, block: &str, label: &str) -> Option<&'static str> {
    let a = inst.flows.iter().find(|f| f.name == flow)?.action(block)?;
    if label != "next" {
        return None;
    }
    match a.typ.as_str() {
        "Compare" | "GetParticipantInput" if a.error_target("NoMatchingCondition").is_some() => Some(
            "no condition matched takes NoMatchingCondition; the NextAction the designer writes next to it is never taken",
        ),
        "TransferToFlow" => Some("a transfer that succeeds continues in the other flow (transfertoflow page); NextAction is not taken"),
        "TransferContactToQueue" => Some("Transfer to queue places the contact in queue and ends the current flow (transfer-to-queue page)"),
        "TransferParticipantToThirdParty" if a.param_str("ContinueFlowExecution").as_deref() == Some("False") => Some(
            "with ContinueFlowExecution False the flow is over once the call connects; NextAction follows only a resumed transfer",
        ),
        _ => None,
    }
}

#[test]
fn shipped_flows_every_transition_covered_or_explained() {
    let dir = lambda_harness::build_debug(&host::FUNCTIONS).expect("build the functions");
    let sim = Sim::start_blocking(SimConfig::default()).expect("simulator");
    let mut procs =
        Processes::start(&dir, &host::function_env(&sim, "US")).expect("start the functions");
    let mut covered: BTreeSet<(String, String, String)> = BTreeSet::new();
    let mut executed: BTreeSet<(String, String)> = BTreeSet::new();
    let mut answered_calls = 0;
    for (n, c) in cases().into_iter().enumerate() {
        let inst = instance(&[
            (
                "SecondChanceOffers",
                if c.second_chance { "true" } else { "false" },
            ),
            ("MaxCallbackOffers", "3"),
            (
                "EnableMindfulCallbacks",
                if c.callbacks { "true" } else { "false" },
            ),
            (
                host::OFFERED_BY_PARAM,
                if c.mindful_offers.is_some() {
                    "Mindful"
                } else {
                    "Connect"
                },
            ),
            (
                "CheckMindfulStatus",
                if c.mindful_status.is_some() {
                    "true"
                } else {
                    "false"
                },
            ),
            ("MindfulStatusWidgetId", mindful_sim::DEFAULT_WIDGET_ID),
        ]);
        sim.reset();
        sim.set_ecbt(c.ecbt);
        if let Some(state) = c.mindful_status {
            sim.set_widget_status(state, None);
        }
        if let Some((r, f)) = &c.fault {
            sim.set_fault(*r, f.clone(), None);
        }
        let mut s = c.scenario;
        let call = Call {
            customer: CUSTOMER.into(),
            dialled: MAIN.into(),
            contact_id: format!("contact-{n}"),
        };
        let run = run_contact(&inst, &mut procs, call, &mut s)
            .unwrap_or_else(|e| panic!("{}: {e}", c.name));
        for st in &run.steps {
            executed.insert((st.flow.clone(), st.block.clone()));
        }
        covered.extend(run.covered.iter().cloned());
        sim.clear_faults();
        if let Some((r, f)) = &c.return_fault {
            sim.set_fault(*r, f.clone(), None);
        }
        let mut back = sc(&[]);
        back.attributes.clear();
        back.agent = Some(AgentAnswer {
            after_seconds: 20,
            user_name: "jdoe".into(),
        });
        back.inject = c.return_inject.clone();
        if let Some(accepts) = c.mindful_offers {
            let at_mindful = mindful_ivr_offer(&inst, &sim, &run, accepts);
            match (accepts, at_mindful) {
                (_, None) => assert!(
                    !matches!(run.end, End::TransferredOut { .. }),
                    "{}: transferred, but Mindful made no offer",
                    c.name
                ),
                (true, Some(MindfulIvr::Accepted(_))) => {}
                (false, Some(MindfulIvr::Declined(id))) => assert!(
                    sim.calls()
                        .iter()
                        .any(|r| r.id == id && r.state == CallState::Held),
                    "{}: a caller who declines at Mindful is held by Mindful",
                    c.name
                ),
                (_, other) => panic!("{}: Mindful's IVR answered {other:?}", c.name),
            }
            // Connect never asks when Mindful makes the offer.
            assert!(
                !run.steps.iter().any(|s| s.typ == "GetParticipantInput"),
                "{}: Connect offered although Mindful makes the offers",
                c.name
            );
        }
        if let Some((call_id, ret)) = mindful_calls_back(
            &inst,
            &mut procs,
            &sim,
            &run,
            &mut back,
            format!("return-{n}"),
        ) {
            let ret = ret.unwrap_or_else(|e| panic!("{} (return): {e}", c.name));
            for st in &ret.steps {
                executed.insert((st.flow.clone(), st.block.clone()));
            }
            covered.extend(ret.covered.iter().cloned());
            if matches!(
                ret.end,
                End::Queued {
                    answered_by: Some(_),
                    ..
                }
            ) && sim
                .calls()
                .iter()
                .any(|r| r.id == call_id && r.state == CallState::Answered)
            {
                answered_calls += 1;
            }
        }
        sim.clear_faults();
    }
    assert!(
        answered_calls > 0,
        "no callback was answered through the whisper flow"
    );

    let inst = instance(&[("SecondChanceOffers", "true")]);
    println!(
        "coverage of the shipped flows ({} scenarios):",
        cases().len()
    );
    let missing = uncovered(&inst, &covered, &executed, true);
    // A branch no scenario takes fails the test: add one to flow 2 and look.
    let mut grown = inst.clone();
    let flow = grown
        .flows
        .iter_mut()
        .find(|f| f.name == "InboundToMindfulFlow")
        .unwrap();
    let check = flow
        .actions
        .iter_mut()
        .find(|a| a.id == "check-offer-callback")
        .unwrap();
    check.conditions.push(flow_runner::flow::Condition {
        operator: "Equals".into(),
        operands: vec!["maybe".into()],
        next: "queue-caller".into(),
    });
    let grown_missing = uncovered(&grown, &covered, &executed, false);
    assert!(
        grown_missing
            .iter()
            .any(|m| m.contains("check-offer-callback condition:Equals maybe")),
        "an added branch went unnoticed: {grown_missing:?}"
    );
    assert!(
        missing.is_empty(),
        "transitions neither covered nor explained:\n  {}",
        missing.join("\n  ")
    );
}

fn uncovered(
    inst: &Instance,
    covered: &BTreeSet<(String, String, String)>,
    executed: &BTreeSet<(String, String)>,
    print: bool,
) -> Vec<String> {
    let mut missing = Vec::new();
    for flow in &inst.flows {
        let mut t_total = 0;
        let (mut t_cov, mut t_exp) = (0, 0);
        for a in &flow.actions {
            for (label, _) in a.transitions() {
                t_total += 1;
                let key = (flow.name.clone(), a.id.clone(), label.clone());
                let why = explain(inst, &flow.name, &a.id, &label);
                match (covered.contains(&key), why) {
                    (true, Some(w)) => missing.push(format!(
                        "{}: {} {label} is covered but explained as unreachable ({w})",
                        flow.name, a.id
                    )),
                    (true, None) => t_cov += 1,
                    (false, Some(w)) => {
                        t_exp += 1;
                        if print {
                            println!("  {}: {} {label}: not reachable: {w}", flow.name, a.id);
                        }
                    }
                    (false, None) => missing.push(format!("{}: {} {label}", flow.name, a.id)),
                }
            }
        }
        let a_cov = flow
            .actions
            .iter()
            .filter(|a| executed.contains(&(flow.name.clone(), a.id.clone())))
            .count();
        if print {
            println!(
                "  {}: actions {a_cov}/{}, transitions {t_cov}/{t_total} covered + {t_exp} explained",
                flow.name,
                flow.actions.len()
            );
        }
        if a_cov != flow.actions.len() {
            missing.push(format!(
                "{}: {} of {} actions never ran",
                flow.name,
                flow.actions.len() - a_cov,
                flow.actions.len()
            ));
        }
    }
    missing
}
