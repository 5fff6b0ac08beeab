#!/usr/bin/env bash
# Benchmark (not a test): receipted events per second of a kerid witness on
# 127.0.0.1, durable commits (synchronous=FULL; kerid answers only after COMMIT).
#
#   bench/receipts.sh [builddir]        (default builddir: /tmp/kerid-bench-build)
#
# 1. builds kerid and bench/loadgen with buildtype=release (meson setup if needed);
# 2. makes (once; cached in $KERID_BENCH_CACHE, default /tmp/kerid-bench-cache) a
#    corpus with the independent client: kc.mjs gen, $CONTROLLERS controllers of
#    1 icp + $EVENTS ixn/rot each, witnessed by kerid's prefix (fixed seed), toad 1;
# 3. for 1 (a single sequential client), 8 and 64 keep-alive connections, $REPEAT
#    times each (default 3; the summary gives the median and the best): a fresh
#    witness on a fresh database, bench/loadgen sends for $RUN_SECONDS s (keriox
#    POST /process, one request in flight per connection), then `loadgen check`
#    proves every event answered 200 is stored with a receipt that verifies; CPU per
#    receipted event = kerid's utime+stime (/proc/PID/stat) over the run / receipted;
#    RSS of the idle witness after start and after the load;
# 4. keripy POST /receipts at 8 and 64 connections (every receipt in the answer
#    verified by loadgen; skipped with a message while kerid has no such route);
# 5. the independent client itself (kc.mjs send, keriox, 1 connection, every
#    receipt fetched from the mailbox and verified) on a small corpus;
# 6. SIGKILL: kill -9 the witness in the middle of a 64-connection run, restart it
#    on the same database, and check EVERY event answered 200 before the kill.
# Prints one JSON line per run and a summary table. Bounded: each load run stops
# after $RUN_SECONDS (default 6) s; the whole script takes about 3.5 minutes with
# the defaults (plus about 30 s the first time, for the corpus). Exit 1 if a check
# fails. The machine should be otherwise idle: loadgen and kerid share its cores.
set -euo pipefail
top="$(cd "$(dirname "$0")/.." && pwd)"
build="${1:-/tmp/kerid-bench-build}"
run_s="${RUN_SECONDS:-6}"
repeat="${REPEAT:-3}"
controllers="${CONTROLLERS:-2400}"
events="${EVENTS:-19}"
cache="${KERID_BENCH_CACHE:-/tmp/kerid-bench-cache}"
kc="${KC:-$top/../shared/tools/keri-client/kc.mjs}"
# keriox's documented witness seed: a fixed prefix, so the corpus can be cached
seed="ArwXoACJgOleVZ2PY7kXn7rA0II0mHYDhc6WrBH8fDAc"

command -v node >/dev/null || { echo "node is missing (Node.js >= 18)" >&2; exit 2; }
[ -f "$kc" ] || { echo "no keri-client at $kc (set KC=path/to/kc.mjs)" >&2; exit 2; }
[ -d "$(dirname "$kc")/node_modules" ] || (cd "$(dirname "$kc")" && npm ci --silent)

echo "== build (release) in $build"
if [ ! -f "$build/build.ninja" ]; then
    meson setup "$build" "$top" --buildtype=release -Dtests=disabled >/dev/null
fi
ninja -C "$build" -j2 src/kerid bench/loadgen >/dev/null
kerid="$build/src/kerid"
loadgen="$build/bench/loadgen"

dir=$(mktemp -d /tmp/kerid-bench.XXXXXX)
pid=""
results="$dir/results.jsonl"
cleanup() {
    if [ -n "$pid" ]; then kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; fi
    rm -rf "$dir"
}
trap cleanup EXIT

free_port() {
    node -e 'const s=require("net").createServer().listen(0,"127.0.0.1",()=>{console.log(s.address().port);s.close()})'
}
# jget FILE EXPR: evaluates EXPR on the JSON object in FILE (a one-line JSON)
jget() {
    node -e 'const t=require("fs").readFileSync(process.argv[1],"utf8").trim();let o;
      try { o=JSON.parse(t); } catch { o=JSON.parse(t.split("\n").pop()); }
      console.log(eval(process.argv[2]))' "$1" "$2"
}
ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
# store_stats URL: "mean writes per commit, mean ms per COMMIT (fsync included)" from /metrics
store_stats() {
    node -e 'require("http").get(process.argv[1] + "metrics", (r) => { let b = "";
      r.on("data", (d) => b += d); r.on("end", () => { const v = (n) => Number((b.match(new RegExp("^" + n + " (\\S+)", "m")) || [0, 0])[1]);
      const c = v("kerid_store_commits_total");
      console.log(c ? `${(v("kerid_store_batch_size_sum") / c).toFixed(1)} ${(v("kerid_store_commit_seconds_sum") * 1000 / c).toFixed(2)}` : "- -"); }); })
      .on("error", () => console.log("- -"))' "$1"
}
rss_kib() { awk '/^VmRSS/ {print $2}' "/proc/$1/status"; }

# start_witness NAME: a witness on a fresh or existing database $dir/NAME
start_witness() {
    local name=$1
    port=$(free_port)
    mkdir -p "$dir/$name"
    cat >"$dir/$name/witness.yml" <<YML
db_path: "$dir/$name/db"
http_port: $port
public_url: "http://127.0.0.1:$port/"
listen_address: "127.0.0.1"
seed: "$seed"
log_level: warn
YML
    "$kerid" --role witness -c "$dir/$name/witness.yml" >"$dir/$name/out" 2>>"$dir/$name/err" &
    pid=$!
    for _ in $(seq 200); do grep -q "is listening" "$dir/$name/out" && break; sleep 0.05; done
    grep -q "is listening" "$dir/$name/out" || { cat "$dir/$name/err" >&2; exit 1; }
    prefix=$(awk '/is listening/ {print $2}' "$dir/$name/out")
    url="http://127.0.0.1:$port/"
}
stop_witness() {
    kill -TERM "$pid"
    wait "$pid" || { echo "kerid exited with status $? on SIGTERM" >&2; exit 1; }
    pid=""
}

echo "== machine: $(nproc) cores, $(awk -F': ' '/model name/ {print $2; exit}' /proc/cpuinfo), $(uname -r), load average $(cut -d' ' -f1-3 /proc/loadavg)"
echo "== $(date -u '+%Y-%m-%d %H:%M UTC'), kerid $("$kerid" --version 2>/dev/null | head -1)"

# the prefix of the fixed seed, from kerid itself
start_witness probe
stop_witness
corpus="$cache/corpus-bench-${controllers}x$((events + 1))-$prefix.jsonl"
small="$cache/corpus-kc-30x20-$prefix.jsonl"
mkdir -p "$cache"
gen() { # gen OUT CONTROLLERS EVENTS SEED
    if [ ! -s "$1" ]; then
        echo "== generating $1 with the independent client (once)"
        node "$kc" gen --controllers "$2" --events "$3" --witnesses "$prefix" --toad 1 \
            --seed "$4" --max-seconds 240 --out "$1.tmp" >/dev/null
        mv "$1.tmp" "$1"
    fi
}
gen "$corpus" "$controllers" "$events" kerid-bench-1
gen "$small" 30 19 kerid-bench-kc

failed=0
declare -a rows=()
idle_rss=""

declare -A eps_of=()
declare -A skip=()
# load NAME CONNS PROTOCOL REP: one load run on a fresh witness
load() {
    local name=$1 conns=$2 proto=$3 rep=$4 rc=0 t0 t1 r0 r1 label
    label="$name#$rep"
    name="$name-$rep"
    start_witness "$name"
    sleep 1
    r0=$(rss_kib "$pid")
    [ -n "$idle_rss" ] || idle_rss=$r0
    t0=$(ticks "$pid")
    "$loadgen" run --url "$url" --corpus "$corpus" --witness "$prefix" --protocol "$proto" \
        --conns "$conns" --max-seconds "$run_s" --answered "$dir/$name.answered" \
        --label "$label" >"$dir/$name.json" || rc=$?
    t1=$(ticks "$pid")
    r1=$(rss_kib "$pid")
    local st
    st=$(store_stats "$url")
    cat "$dir/$name.json" | tee -a "$results"
    if [ $rc -eq 3 ]; then
        rows+=("$(printf '%-28s %s' "$label" "skipped: POST /receipts answers 404 (no keripy route yet)")")
        stop_witness
        return 3
    fi
    [ $rc -eq 0 ] || { echo "!! $label: some requests were not answered 200 (see the line above)"; failed=1; }
    local ck=0
    "$loadgen" check --url "$url" --witness "$prefix" --answered "$dir/$name.answered" \
        --label "$label" >"$dir/$name.check.json" || ck=$?
    cat "$dir/$name.check.json" | tee -a "$results"
    [ $ck -eq 0 ] || { echo "!! $label: an answered event or receipt is missing"; failed=1; }
    stop_witness
    local n eps p50 p99 cpu_us
    n=$(jget "$dir/$name.json" o.receipted)
    eps=$(jget "$dir/$name.json" o.events_per_s)
    p50=$(jget "$dir/$name.json" o.latency_ms.p50)
    p99=$(jget "$dir/$name.json" o.latency_ms.p99)
    cpu_us=$(node -e "console.log($n > 0 ? ((($t1 - $t0) / $(getconf CLK_TCK)) * 1e6 / $n).toFixed(0) : '-')")
    rows+=("$(printf '%-28s %6s %10s %9s %9s %12s %8s %8s %6s %9s %s' "$label" "$conns" "$eps" "$p50" "$p99" \
        "$cpu_us" "$r0" "$r1" ${st} "$([ $ck -eq 0 ] && echo "all $n" || echo FAILED)")")
    eps_of[${label%#*}]+="$eps "
    return 0
}

echo "== load runs, $run_s s each (loadgen: C, keep-alive, one request in flight per connection)"
cases="keriox-1conn-sequential:1:keriox keriox-8conn:8:keriox keriox-64conn:64:keriox"
cases+=" keripy-8conn:8:keripy keripy-64conn:64:keripy"
for rep in $(seq "$repeat"); do
    for c in $cases; do
        IFS=: read -r name conns proto <<<"$c"
        [ "${skip[$name]:-}" = 1 ] && continue
        rc=0
        load "$name" "$conns" "$proto" "$rep" || rc=$?
        [ $rc -ne 3 ] || skip[$name]=1
    done
done

echo "== the independent client: kc.mjs send --protocol keriox --concurrency 1 (verifies every receipt)"
start_witness kc
kc_rc=0
node "$kc" send --url "$url" --protocol keriox --corpus "$small" --witness "$prefix" \
    --concurrency 1 --max-seconds 30 --quiet >"$dir/kc.json" || kc_rc=$?
stop_witness
node -e 'const o=JSON.parse(require("fs").readFileSync(process.argv[1],"utf8"));
  console.log(JSON.stringify({label:"kc-send-1conn",sent:o.sent,accepted:o.accepted,
  receipts_verified:o.receipts.verified,missing:o.receipts.missing,events_per_s:o.events_per_s,
  latency_ms:o.latency_ms,client_cores:o.client_cpu.cores_used}))' "$dir/kc.json" | tee -a "$results"
[ $kc_rc -eq 0 ] || { echo "!! the independent client reported a failure (exit $kc_rc)"; failed=1; }

echo "== SIGKILL during a 64-connection run"
start_witness sigkill
kill_after=$(node -e "console.log(Math.max(1, $run_s / 2))")
lg_rc=0
"$loadgen" run --url "$url" --corpus "$corpus" --witness "$prefix" --conns 64 \
    --max-seconds "$run_s" --timeout-ms 3000 --answered "$dir/sigkill.answered" \
    --started "$dir/sigkill.started" --label sigkill-64conn >"$dir/sigkill.json" &
lg=$!
for _ in $(seq 600); do [ -e "$dir/sigkill.started" ] && break; sleep 0.05; done
sleep "$kill_after"
kill -KILL "$pid"
wait "$pid" 2>/dev/null || true
pid=""
wait "$lg" || lg_rc=$?
cat "$dir/sigkill.json" | tee -a "$results"
answered=$(wc -l <"$dir/sigkill.answered")
start_witness sigkill # same database
ck=0
"$loadgen" check --url "$url" --witness "$prefix" --answered "$dir/sigkill.answered" \
    --label sigkill-after-restart >"$dir/sigkill.check.json" || ck=$?
cat "$dir/sigkill.check.json" | tee -a "$results"
stop_witness
if [ "$answered" -gt 0 ] && [ $ck -eq 0 ]; then
    sigkill="PASS: all $answered events answered 200 before kill -9 are stored with a valid receipt"
else
    sigkill="FAIL: $answered answered before kill -9; see the check line above"
    failed=1
fi

echo
echo "kerid receipted events, keep-alive, 127.0.0.1, $(nproc) cores, $(date -u +%Y-%m-%d), ${run_s}s per run"
printf '%-28s %6s %10s %9s %9s %12s %8s %8s %6s %9s %s\n' run conns events/s p50_ms p99_ms cpu_us/event \
    rss0_KiB rss1_KiB batch commit_ms "answered & stored"
for r in "${rows[@]}"; do echo "$r"; done
for c in $cases; do
    name=${c%%:*}
    [ -n "${eps_of[$name]:-}" ] || continue
    node -e 'const v=process.argv[2].trim().split(/ +/).map(Number).sort((a,b)=>a-b);
      console.log(`${process.argv[1].padEnd(28)} events/s over ${v.length} runs: median ${v[(v.length-1)>>1]}, best ${v[v.length-1]}, worst ${v[0]}`)' \
      "$name" "${eps_of[$name]}"
done
printf '%-28s %s\n' kc-send-1conn "$(jget "$dir/kc.json" '`${o.events_per_s.toFixed(1)} events/s, p50 ${o.latency_ms.p50} ms, p99 ${o.latency_ms.p99} ms, ${o.receipts.verified}/${o.accepted} receipts verified by the independent client`')"
printf '%-28s %s\n' sigkill-64conn "$sigkill"
echo "idle RSS after start: $idle_rss KiB (aim <= 10240)"
echo "columns: cpu_us/event = kerid utime+stime / receipted; rss0/rss1 = VmRSS idle after start / after the run;"
echo "  batch = writes per COMMIT, commit_ms = mean COMMIT time with its fsync (kerid /metrics)"
echo "aims: >= 5000 events/s at 64 connections with p99 <= 25 ms; >= 2000 events/s sequential; idle RSS <= 10 MiB"
echo "JSON lines: $results (copied to ${RESULTS_OUT:-/tmp/kerid-bench-results.jsonl})"
cp "$results" "${RESULTS_OUT:-/tmp/kerid-bench-results.jsonl}"
exit $failed
