//! A local runner for Amazon Connect contact flows. See README.md.

pub mod bundle;
pub mod check;
pub mod engine;
pub mod flow;
pub mod host;
pub mod reference;
pub mod testcase;
pub mod transcript;

pub use check::{check_flow, Finding, Severity, Tally};
pub use engine::{
    contact_flow_event, run_contact, AgentAnswer, Call, ContactRun, End, EventContact, Host,
    Injection, Input, Instance, LambdaCall, LambdaRecord, LambdaReply, RunError, Scenario, Step,
};
pub use flow::{flows_from_json, flows_from_template, Flow, LoadError};
pub use reference::Reference;
