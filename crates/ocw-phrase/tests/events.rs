//! Every `events/ocw-phrase*.json` file through the handler in process (the same files the
//! end-to-end test sends to the built binary, and `cargo lambda invoke --data-file` uses).

// Test code: a failed unwrap is a failed test (the deny is for the deployed code).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use mindful_core::handler::test_event;
use ocw_phrase::{Config, OcwPhrase};

#[tokio::test]
async fn every_event_file_gives_its_documented_answer() {
    let function = OcwPhrase::served(Ok(Config::default()));
    for sample in common::samples() {
        let event = sample.event();
        let Ok(response) = function.handle(test_event(event.clone())).await;
        let response = serde_json::to_value(&response).expect("serialisable response");
        common::check(&event, &response, &sample);
    }
}
