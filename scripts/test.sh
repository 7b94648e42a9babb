#!/usr/bin/env bash
# The test command: every unit, integration and end-to-end test of the workspace.
# Needs only the Rust toolchain: the Mindful simulator and the Lambda Runtime API emulator run
# in-process on loopback; end-to-end tests build and spawn the function binaries themselves.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo test --workspace --locked "$@"
