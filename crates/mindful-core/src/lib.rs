//! Shared core of the Amazon Connect ↔ Mindful Lambda bundle: the tolerant Connect event, the
//! flat string response, E.164 normalisation, configuration and secrets, the HTTP budget, and the
//! Mindful OAuth, Datastore, Scheduler widget status and Agent Answer clients.

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

pub use event::ContactFlowEvent;
pub use kvp::Kvp;
pub use phone::{mask_number, normalize_e164, NumberFormat, PhoneError, PhoneNumber};
pub use secret::{Secret, SecretSource};
