#!/usr/bin/env bash
# Fuzz smoke test: builds the cargo-fuzz targets in fuzz/ (nightly, libFuzzer + ASan) and runs each
# for a few seconds from its committed seed corpus. Exits non-zero on any crash, panic, leak or
# timeout. About 2 minutes of build plus FUZZ_SECONDS per target on 2 cores.
#
#   .ci/fuzz-smoke.sh                 # every target, FUZZ_SECONDS (default 15) each
#   FUZZ_SECONDS=120 .ci/fuzz-smoke.sh phone
#
# New inputs go to a scratch directory (never into fuzz/corpus/); a crashing input is kept in
# fuzz/artifacts/<target>/ (git-ignored) and printed with the reproduction command.
set -euo pipefail
cd "$(dirname "$0")/.."

CARGO_FUZZ_VERSION=0.13.1
FUZZ_SECONDS=${FUZZ_SECONDS:-15}
TOOLCHAIN=${FUZZ_TOOLCHAIN:-nightly}
TARGETS=("$@")
if [ ${#TARGETS[@]} -eq 0 ]; then
  TARGETS=(connect_event phone phrase responses)
fi

if ! rustup run "$TOOLCHAIN" rustc --version >/dev/null 2>&1; then
  echo "fuzz-smoke: installing the $TOOLCHAIN toolchain"
  if ! rustup toolchain install "$TOOLCHAIN" --profile minimal; then
    # libFuzzer needs nightly (-Zsanitizer); a machine that cannot fetch one cannot fuzz.
    echo "fuzz-smoke: WARNING: no $TOOLCHAIN toolchain and none can be installed here; fuzz smoke SKIPPED"
    exit 0
  fi
fi
if ! cargo fuzz --version 2>/dev/null | grep -q "$CARGO_FUZZ_VERSION"; then
  echo "fuzz-smoke: installing cargo-fuzz $CARGO_FUZZ_VERSION"
  cargo install cargo-fuzz --version "$CARGO_FUZZ_VERSION" --locked
fi

echo "== fuzz build ($(cargo "+$TOOLCHAIN" --version))"
start=$(date +%s)
(cd fuzz && cargo "+$TOOLCHAIN" fuzz build)
echo "fuzz build took $(( $(date +%s) - start )) s"

scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
failed=()
for t in "${TARGETS[@]}"; do
  mkdir -p "$scratch/$t" "fuzz/artifacts/$t"
  echo "== fuzz $t (${FUZZ_SECONDS} s)"
  log="$scratch/$t.log"
  # First corpus directory receives new inputs (scratch); the committed seeds are read only.
  if (cd fuzz && cargo "+$TOOLCHAIN" fuzz run "$t" "$scratch/$t" "corpus/$t" -- \
        -max_total_time="$FUZZ_SECONDS" -timeout=10 -rss_limit_mb=2048 \
        -artifact_prefix="artifacts/$t/" -print_final_stats=1) >"$log" 2>&1; then
    grep -E '^Done|stat::number_of_executed_units|stat::average_exec_per_sec' "$log" || true
  else
    failed+=("$t")
    grep -E -m 5 'panicked|assertion|ERROR: (libFuzzer|AddressSanitizer)' -A 4 "$log" || true
    tail -n 15 "$log"
    echo "fuzz-smoke: $t FAILED; reproduce with: (cd fuzz && cargo +$TOOLCHAIN fuzz run $t artifacts/$t/<crash-file>)"
  fi
done

if [ ${#failed[@]} -gt 0 ]; then
  echo "fuzz-smoke: crashes in ${failed[*]}"
  exit 1
fi
echo "fuzz-smoke: ${#TARGETS[@]} targets, no crash"
