//! Shared core of the Amazon Connect ↔ Mindful Lambda bundle. The modules, by the question they
//! answer (imports run one way, from the top of this list down):
//!
//! | Module | What it owns |
//! |---|---|
//! | [`function`] | the one shape of every function: [`function::ConnectFunction`] (name, config, failure, `execute`) served by [`function::Function`] (config errors, budget, logs, metrics, answers) |
//! | [`handler`] | the invocation: the payload that never fails to parse, the budget, the 32 KB guard |
//! | [`answer`] | the failure → `status=error` answer mapping and the shared error codes |
//! | [`event`], [`kvp`] | Connect's event, read tolerantly; the flat string answer |
//! | [`config`] | every environment variable's name ([`config::vars`]) and the URL and allow-list rules |
//! | [`secret`] | secrets: where they come from, the Parameters and Secrets extension, the cache |
//! | [`http`], [`transport`] | the budgeted request with its retry rule; our HTTP/1.1 client (TLS, pool, read guard) |
//! | [`oauth`], [`agent_answer`] | Mindful's token endpoint and Agent Answer API |
//! | [`datastore`] | Mindful Datastore: submit and search a record by number |
//! | [`scheduler`] | the Scheduler widget status and the rule of which states take callbacks |
//! | [`phone`] | E.164 normalisation and masking |
//! | [`observe`] | the one JSON log line and EMF metric line per invocation |

pub mod agent_answer;
pub mod answer;
pub mod config;
pub mod datastore;
pub mod event;
pub mod function;
pub mod handler;
pub mod http;
pub mod kvp;
pub mod oauth;
pub mod observe;
pub mod phone;
pub mod scheduler;
pub mod secret;
pub mod transport;

/// The bundle's Lambda functions, by package name: the one list in Rust (CargoLambda.toml's
/// `[build] bin`, which the deploy scripts read, is held to it by `tests/config_names.rs`).
pub const FUNCTIONS: [&str; 3] = ["ocw-phrase", "datastore-proxy", "agent-answer"];

pub use event::ContactFlowEvent;
pub use kvp::Kvp;
pub use phone::{mask_number, normalize_e164, NumberFormat, PhoneError, PhoneNumber};
pub use secret::{Secret, SecretSource};
