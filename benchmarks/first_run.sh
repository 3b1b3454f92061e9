#!/usr/bin/env bash
# The first `make run` on a fresh machine, timed until the app answers a question.
#
# A clean clone of REV (default HEAD) with no .venv and no data/, and an empty pip cache (a new
# PIP_CACHE_DIR, the same as `rm -rf ~/.cache/pip`): everything is downloaded, built and indexed
# as a newcomer's machine would. Prints the Makefile's timestamped steps, then the seconds until
# `POST /api/ask` first answers. Run it on an idle machine: it takes minutes and both cores.
#
#   benchmarks/first_run.sh [REV]
set -euo pipefail
rev=${1:-HEAD}
repo=$(git -C "$(dirname "$0")/.." rev-parse --show-toplevel)
work=$(mktemp -d /tmp/first-run.XXXXXX)
port=${PORT:-7871}
git clone -q "$repo" "$work/clone"
git -C "$work/clone" checkout -q "$rev"
export PIP_CACHE_DIR="$work/pip-cache" XDG_CACHE_HOME="$work/cache" CONVENTION_QA_PORT="$port"
start=$(date +%s)
echo "[$(date +%H:%M:%S)] make run in $work/clone ($(git -C "$work/clone" rev-parse --short HEAD))"
setsid bash -c "cd '$work/clone' && exec make run" >"$work/run.log" 2>&1 &
pid=$!
trap 'kill -- -$pid 2>/dev/null || true' EXIT
question='{"question": "Berapa negara yang menandatangani Konvensi Hanoi?"}'
until curl -sf -m 300 -H 'content-type: application/json' -d "$question" "http://127.0.0.1:$port/api/ask" >"$work/answer.json" 2>/dev/null; do
  if ! kill -0 "$pid" 2>/dev/null; then
    tail -40 "$work/run.log"
    echo "make run stopped before the app answered" >&2
    exit 1
  fi
  sleep 5
done
seconds=$(( $(date +%s) - start ))
grep -E '^\[[0-9:]{8}\]' "$work/run.log" || true
python3 -c "import json,sys; a=json.load(open(sys.argv[1])); print('answer:', a['answer'][:100])" "$work/answer.json"
echo "first answer after ${seconds} s ($(( seconds / 60 )) min $(( seconds % 60 )) s) from a clean clone with an empty pip cache"
