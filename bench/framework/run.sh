#!/usr/bin/env bash
# Framework bake-off: runs run.mjs REPS times (alternating target order), then report.mjs.
#   bash bench/framework/run.sh                    # 1 rep, ~5 min (at most ~6.5 with contamination retries)
#   REPS=2 bash bench/framework/run.sh             # 2 reps, forward then reversed order
#   REPS=1 DURATION=2 WARMUP=2 bash bench/framework/run.sh   # smoke test, ~1.5 min
# Env passed through to run.mjs: DURATION WARMUP CONC SCENARIOS TARGETS OTHER_MAX RETRIES ...
set -euo pipefail
cd "$(dirname "$0")"
command -v wrk >/dev/null || { echo "wrk missing: apt-get install -y wrk" >&2; exit 1; }
command -v taskset >/dev/null || { echo "taskset missing (util-linux)" >&2; exit 1; }
REPS=${REPS:-1}
STAMP=$(date -u +%Y%m%dT%H%M%SZ)
files=()
for i in $(seq 1 "$REPS"); do
  rev=$(( (i + 1) % 2 ))   # rep 1 forward, rep 2 reversed, ...
  LABEL="${STAMP}-rep$i" REVERSE=$rev timeout 600 node run.mjs
  files+=("results/${STAMP}-rep$i.jsonl")
done
node report.mjs "${files[@]}" > "results/${STAMP}.md"
CLEAN_ONLY=1 node report.mjs "${files[@]}" > "results/${STAMP}-clean.md"
cat "results/${STAMP}-clean.md"
