#!/usr/bin/env bash
# Benchmark (not a test): keep-alive GET /health requests per second against a
# kerid witness on 127.0.0.1, measured with wrk. Bounded: one warm-up of 2 s and
# one run of $DURATION seconds (default 10) per connection count.
#   bench/health.sh [path/to/kerid]
set -euo pipefail
top="$(cd "$(dirname "$0")/.." && pwd)"
kerid="${1:-$top/build/src/kerid}"
duration="${DURATION:-10}"
command -v wrk >/dev/null || { echo "wrk is missing: apt-get install wrk" >&2; exit 2; }
[ -x "$kerid" ] || { echo "no kerid binary at $kerid (build it first: scripts/run --help)" >&2; exit 2; }

dir=$(mktemp -d)
port=$(node -e 'const s=require("net").createServer().listen(0,"127.0.0.1",()=>{console.log(s.address().port);s.close()})')
cat >"$dir/witness.yml" <<YML
db_path: "$dir/db"
http_port: $port
public_url: "http://127.0.0.1:$port/"
listen_address: "127.0.0.1"
log_level: warn
YML
"$kerid" --role witness -c "$dir/witness.yml" >"$dir/out" 2>"$dir/err" &
pid=$!
trap 'kill $pid 2>/dev/null; wait $pid 2>/dev/null; rm -rf "$dir"' EXIT
for _ in $(seq 100); do grep -q "is listening" "$dir/out" && break; sleep 0.05; done
grep -q "is listening" "$dir/out" || { cat "$dir/err" >&2; exit 1; }

echo "kerid GET /health, keep-alive, 127.0.0.1, $(nproc) cores, $(date -u +%Y-%m-%d)"
wrk -t1 -c16 -d2s "http://127.0.0.1:$port/health" >/dev/null
for c in 1 16 64 256; do
    t=$(( c < 2 ? 1 : 2 ))
    rps=$(wrk -t$t -c$c -d"${duration}s" --latency "http://127.0.0.1:$port/health" |
          awk '/Requests\/sec/ {rps=$2} / 99%/ {p99=$2} END {print rps, p99}')
    printf "connections=%-4s requests/s=%-12s p99=%s\n" "$c" ${rps}
done
rss=$(awk '/VmRSS/ {print $2}' /proc/$pid/status)
echo "kerid RSS after the run: ${rss} KiB"
