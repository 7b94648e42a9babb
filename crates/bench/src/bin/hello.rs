//! The benchmark's floor: a bare `lambda_runtime` + `serde_json` hello world (the shape of the
//! Rust entry in github.com/maxday/lambda-perf), on the same current-thread Tokio runtime the
//! three functions use. No logging setup, no HTTP client, no configuration.

use lambda_runtime::{service_fn, Error, LambdaEvent};
use serde_json::{json, Value};

async fn hello(_event: LambdaEvent<Value>) -> Result<Value, Error> {
    Ok(json!({"statusCode": 200, "body": "hello"}))
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    lambda_runtime::run(service_fn(hello)).await
}
