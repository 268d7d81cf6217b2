#!/usr/bin/env bash
# The test command from README.md: installs what the tests need, then runs them all.
# Today the suite needs only the Rust toolchain (cargo-nextest is used when present).
set -euo pipefail
cd "$(dirname "$0")/.."
if cargo nextest --version >/dev/null 2>&1; then
    cargo nextest run --workspace --no-fail-fast
    # nextest does not run doctests.
    cargo test --workspace --doc
else
    cargo test --workspace
fi
