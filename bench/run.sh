#!/usr/bin/env bash
# npm run bench: Nexus against a direct call to a fast fake upstream, side by side with the peer gateways,
# using the shared peer harness (../shared/bench/peer). Everything runs on 127.0.0.1 and stops by itself.
# Extra arguments go to the harness: `npm run bench -- --quick`, `npm run bench -- --peers direct,ref`.
# BENCH_COMPARE_REF=<git ref> also builds that commit in a temporary worktree and measures it as a second
# Nexus row in the same run (used to price a layer, e.g. the resilience layer against the core gateway).
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
harness="${PEER_HARNESS:-$root/../shared/bench/peer}"
if [ ! -f "$harness/run.sh" ]; then
  echo "bench: peer harness not found at $harness (set PEER_HARNESS)" >&2
  exit 1
fi
cd "$root"
npm run build --silent
port="${NEXUS_BENCH_PORT:-18400}"
out="${BENCH_OUT:-$root/bench/results/results.md}"
mkdir -p "$(dirname "$out")"

# Nexus runs as `npm start` runs it (package.json: Node's flags), with the response cache off: the harness sends
# one identical request again and again, which the cache would answer itself; this measures the proxy path.
target() { # name, directory, port, version
  printf '%s\n' --target "$1" --cmd "exec node --max-semi-space-size=32 $2/dist/src/main.js" \
    --env 'CACHE_ENABLED=false' \
    --env "PORT=$3" --env 'OPENAI_BASE_URL={{MOCK_URL}}' --env 'OPENAI_API_KEY=bench-upstream-key' \
    --env "NEXUS_DATA_DIR=${TMPDIR:-/tmp}/nexus-bench-data-$3" \
    --ready "http://127.0.0.1:$3/health" --url "http://127.0.0.1:$3/v1/chat/completions" --version "$4"
}
mapfile -t targets < <(target nexus "$root" "$port" "nexus $(git rev-parse --short HEAD 2>/dev/null || echo dev) (node $(node -v))")

worktree=""
cleanup() { [ -n "$worktree" ] && git -C "$root" worktree remove --force "$worktree" >/dev/null 2>&1 || true; }
trap cleanup EXIT
if [ -n "${BENCH_COMPARE_REF:-}" ]; then
  worktree="$(mktemp -d /tmp/nexus-bench-XXXXXX)"
  git -C "$root" worktree add --detach "$worktree" "$BENCH_COMPARE_REF" >/dev/null
  ln -s "$root/node_modules" "$worktree/node_modules"
  (cd "$worktree" && npx tsc -p tsconfig.build.json)
  short="$(git -C "$root" rev-parse --short "$BENCH_COMPARE_REF")"
  mapfile -t -O "${#targets[@]}" targets < <(target "nexus-$short" "$worktree" "$((port + 1))" "nexus $short (node $(node -v))")
fi

cd "$harness"
bash run.sh --out "$out" "${targets[@]}" "$@"
echo "bench: report written to $out"
