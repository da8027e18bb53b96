#!/usr/bin/env bash
# npm run bench: Nexus against a direct call to a fast fake upstream, side by side with the peer gateways,
# using the shared peer harness (../shared/bench/peer). Everything runs on 127.0.0.1 and stops by itself.
# Extra arguments go to the harness: `npm run bench -- --quick`, `npm run bench -- --peers direct,ref`.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
harness="${PEER_HARNESS:-$root/../shared/bench/peer}"
if [ ! -x "$harness/run.sh" ] && [ ! -f "$harness/run.sh" ]; then
  echo "bench: peer harness not found at $harness (set PEER_HARNESS)" >&2
  exit 1
fi
cd "$root"
npm run build --silent
port="${NEXUS_BENCH_PORT:-18400}"
out="${BENCH_OUT:-$root/bench/results/results.md}"
mkdir -p "$(dirname "$out")"
cd "$harness"
exec bash run.sh \
  --out "$out" \
  --target nexus \
  --cmd "exec node $root/dist/src/main.js" \
  --env "PORT=$port" \
  --env 'OPENAI_BASE_URL={{MOCK_URL}}' \
  --env 'OPENAI_API_KEY=bench-upstream-key' \
  --ready "http://127.0.0.1:$port/ready" \
  --url "http://127.0.0.1:$port/v1/chat/completions" \
  --version "nexus $(git -C "$root" rev-parse --short HEAD 2>/dev/null || echo dev) (node $(node -v))" \
  "$@"
