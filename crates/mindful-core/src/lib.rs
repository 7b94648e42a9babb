//! Shared core of the Amazon Connect ↔ Mindful Lambda bundle.

pub mod event;
pub mod kvp;
pub mod phone;

pub use event::ContactFlowEvent;
pub use kvp::Kvp;
pub use phone::{mask_number, normalize_e164, NumberFormat, PhoneError, PhoneNumber};
