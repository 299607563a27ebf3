#!/usr/bin/env bash
# Every check of the project: set-up (idempotent), lint, format, types, and the whole test suite
# (unit tests and end-to-end calls through a private Asterisk, Redis and SIPp). Extra arguments
# go to pytest, e.g. scripts/test.sh -k dtmf.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
.venv/bin/ruff check .
.venv/bin/ruff format --check .
.venv/bin/mypy
exec .venv/bin/pytest "$@"
