#!/usr/bin/env bash
# A local network of four kerid witnesses (N = 3f+1 = 4, f = 1) on 127.0.0.1:5641..5644,
# driven by the independent client keri-client (kc.mjs, signify-ts) over both HTTP surfaces:
#
#   1. start the four witnesses, wait (bounded) for each "is listening" line, print their OOBIs;
#   2. `kc.mjs gen`: two corpora listing all four witnesses with toad 3, 3 controllers x
#      (icp + 3 events) each: single-key (for keriox's surface) and 3-key weighted
#      ["1/2","1/2","1/2"] (for keripy's);
#   3. `kc.mjs send --protocol keriox` of the first to each witness (POST /process, then POST /query
#      mbx for the receipts, each verified against the witness prefix);
#   4. `kc.mjs send --protocol keripy --route receipts` of the second to each witness (POST /receipts
#      answers with the receipt, verified);
#   5. exchange.mjs, as kli does after an event: collects every witness's receipts (keriox mailbox;
#      keripy GET /receipts), gives each witness the other three (keriox: rct + -C## couples to
#      POST /process; keripy: rct + -B## indexed signatures to POST /) and reads every copy back:
#      each event must carry a verified signature of each of the four witnesses on each witness;
#   6. `kc.mjs oobi` of each witness's own OOBI (GET /oobi/{eid}) and of each controller's KEL
#      (GET /oobi/{cid}/witness/{eid}, keripy's application/json+cesr form, which a witness serves
#      only for a fully witnessed KEL): KEL, witness signatures and location reply re-verified;
#   7. stop the witnesses with SIGTERM and wait (bounded) for each to exit 0.
#
# Exit status 0 if every step passed, 1 otherwise. Loopback only; every wait is bounded.
#
# Environment:
#   KERID        kerid binary (default: <repo>/build/src/kerid)
#   KERI_CLIENT  keri-client directory holding kc.mjs (default: /work/shared/tools/keri-client,
#                else <repo>/../shared/tools/keri-client); `npm ci` must have been run there
#   DATA_DIR     working directory for databases, logs, corpora, reports (default: ./data next to
#                this script). Its witness-N/ databases are wiped at start, so every run is fresh.
set -u

here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)

KERID=${KERID:-$repo/build/src/kerid}
if [ -z "${KERI_CLIENT:-}" ]; then
	if [ -f /work/shared/tools/keri-client/kc.mjs ]; then
		KERI_CLIENT=/work/shared/tools/keri-client
	else
		KERI_CLIENT=$repo/../shared/tools/keri-client
	fi
fi
DATA_DIR=${DATA_DIR:-$here/data}

ports=(5641 5642 5643 5644)
# Prefixes of the committed example seeds in witness-N.yml (checked against the start-up lines).
prefixes=(BP3hfQdpC7PZCO9aBrbPkpgTvGI2Zy0fHSFzlL6lsSiB BFXvhX3koIDXDWtD9x7qQJNFRi8sBRUjLicFfEClnIF3
	BAuOfV5nacoqG3rFTRjfTDV6Y2qdgMWvaLLrTV36uVud BKfKt6a9Ph7SzmzELSSmUA0AN3cBvHuwEhs-VKaFim_Y)
start_timeout_s=10  # per witness, for its "is listening" line
stop_timeout_s=10   # per witness, after SIGTERM
send_seconds=30     # kc.mjs send --max-seconds
drain_seconds=10    # kc.mjs send --drain-seconds (final mailbox queries)

failures=0
fail() {
	echo "FAIL: $*" >&2
	failures=$((failures + 1))
}

command -v node > /dev/null 2>&1 || { echo "run.sh: node (>= 18) is needed" >&2; exit 1; }
[ -x "$KERID" ] || { echo "run.sh: no kerid binary at $KERID (build it, or set KERID)" >&2; exit 1; }
kc=$KERI_CLIENT/kc.mjs
[ -f "$kc" ] || { echo "run.sh: no kc.mjs in $KERI_CLIENT (set KERI_CLIENT)" >&2; exit 1; }
[ -d "$KERI_CLIENT/node_modules" ] || { echo "run.sh: run 'npm ci' in $KERI_CLIENT first" >&2; exit 1; }

mkdir -p "$DATA_DIR" || exit 1
for i in 1 2 3 4; do
	rm -rf "${DATA_DIR:?}/witness-$i"
done
rm -f "$DATA_DIR"/witness-*.out "$DATA_DIR"/witness-*.log "$DATA_DIR"/report-*.json \
	"$DATA_DIR"/oobi-*.json "$DATA_DIR"/corpus*.jsonl "$DATA_DIR"/gen-*.json "$DATA_DIR"/exchange-*.json

pids=()
stopped=0
stop_witnesses() {
	[ "$stopped" = 1 ] && return
	stopped=1
	local i pid n status
	for i in "${!pids[@]}"; do
		kill -TERM "${pids[$i]}" 2> /dev/null
	done
	for i in "${!pids[@]}"; do
		pid=${pids[$i]}
		n=0
		while kill -0 "$pid" 2> /dev/null && [ "$n" -lt $((stop_timeout_s * 10)) ]; do
			sleep 0.1
			n=$((n + 1))
		done
		if kill -0 "$pid" 2> /dev/null; then
			fail "witness-$((i + 1)) (pid $pid) still running ${stop_timeout_s}s after SIGTERM; killing it"
			kill -KILL "$pid" 2> /dev/null
		fi
		wait "$pid"
		status=$?
		if [ "$status" -eq 0 ]; then
			echo "witness-$((i + 1)) (pid $pid) stopped, exit 0"
		else
			fail "witness-$((i + 1)) (pid $pid) exited with status $status (log: $DATA_DIR/witness-$((i + 1)).log)"
		fi
	done
}
trap 'stop_witnesses; exit 1' INT TERM

# Prints a few fields of a kc.mjs JSON report (file $1, kind $2) on one line.
summarise() {
	node -e '
		const fs = require("fs");
		let r;
		try { r = JSON.parse(fs.readFileSync(process.argv[1], "utf8")); }
		catch (e) { console.log("  (no JSON report: " + e.message + ")"); process.exit(0); }
		if (process.argv[2] === "send") {
			const rc = r.receipts || {};
			console.log("  sent " + r.sent + ", accepted " + r.accepted + ", receipts: received " + rc.received +
				", verified " + rc.verified + ", invalid " + rc.invalid + ", missing " + rc.missing +
				", unmatched " + rc.unmatched + "; rejected unexpectedly " + (r.rejected || {}).unexpected +
				"; " + r.seconds + " s, POST p50 " + (r.latency_ms || {}).p50 + " ms");
			if (r.errors && Object.keys(r.errors).length) console.log("  errors: " + JSON.stringify(r.errors));
		} else {
			const msgs = r.messages || [];
			const ilks = {};
			let events = 0, full = 0;
			for (const m of msgs) {
				ilks[m.t || "?"] = (ilks[m.t || "?"] || 0) + 1;
				if (!["icp", "rot", "ixn"].includes(m.t)) continue;
				events++;
				// -B witness signatures are verified by kc against the KEL witness list, -C couples one by one
				const wsigs = (m.witness_sigs || 0) + (m.receipt_couples || []).filter((c) => c.valid).length;
				if (m.verified && wsigs >= 4) full++;
			}
			const locs = (r.locations || []).map((l) => l.url + (l.verified ? " (signed, verified)" : " (NOT verified)"));
			console.log("  ok " + r.ok + ", HTTP " + r.status + ", " + (r.content_type || "no content type") + ", " +
				r.bytes + " bytes, messages " + JSON.stringify(ilks) + ", loc " + (locs.join(" ") || "none"));
			for (const [pre, k] of Object.entries(r.kels || {}))
				if (pre.startsWith("E"))
					console.log("  KEL " + pre + ": sn " + k.sn + ", " + full + "/" + events +
						" events verified with 4 verified witness signatures");
			if (process.argv[3] === "full" && full !== events) { console.log("  not fully witnessed"); process.exitCode = 1; }
			if (r.errors && r.errors.length) console.log("  errors: " + JSON.stringify(r.errors));
		}' "$1" "$2" "${3:-}"
}

echo "== starting 4 witnesses ($KERID)"
cd "$here" || exit 1
for i in 1 2 3 4; do
	"$KERID" --role witness -c "witness-$i.yml" -d "$DATA_DIR/witness-$i" \
		> "$DATA_DIR/witness-$i.out" 2> "$DATA_DIR/witness-$i.log" &
	pids+=($!)
done

for i in 1 2 3 4; do
	pid=${pids[$((i - 1))]}
	n=0
	until grep -q ' is listening on port ' "$DATA_DIR/witness-$i.out" 2> /dev/null; do
		if ! kill -0 "$pid" 2> /dev/null; then
			fail "witness-$i exited during start-up:"
			cat "$DATA_DIR/witness-$i.out" "$DATA_DIR/witness-$i.log" >&2
			break
		fi
		if [ "$n" -ge $((start_timeout_s * 10)) ]; then
			fail "witness-$i printed no 'is listening' line within ${start_timeout_s}s"
			break
		fi
		sleep 0.1
		n=$((n + 1))
	done
done
if [ "$failures" -ne 0 ]; then
	stop_witnesses
	exit 1
fi

echo "== OOBIs"
for i in 1 2 3 4; do
	line=$(grep "^Witness's oobi: " "$DATA_DIR/witness-$i.out")
	echo "witness-$i: ${line#Witness\'s oobi: }"
	echo "           http://127.0.0.1:${ports[$((i - 1))]}/oobi/${prefixes[$((i - 1))]}"
	grep -q "^Witness ${prefixes[$((i - 1))]} is listening on port ${ports[$((i - 1))]}\$" \
		"$DATA_DIR/witness-$i.out" || fail "witness-$i: prefix or port differs from witness-$i.yml"
done

wits=$(IFS=,; echo "${prefixes[*]}")
corpus_x=$DATA_DIR/corpus-keriox.jsonl
corpus_p=$DATA_DIR/corpus-keripy.jsonl
echo "== kc.mjs gen: 2 corpora of 3 controllers x (icp + 3 events), witnesses w1..w4, toad 3"
if node "$kc" gen --controllers 3 --events 3 --witnesses "$wits" --toad 3 --seed kerid-local-network \
	--out "$corpus_x" --max-seconds 60 > "$DATA_DIR/gen-keriox.json" &&
	node "$kc" gen --controllers 3 --events 3 --witnesses "$wits" --toad 3 --seed kerid-local-network-keripy \
		--keys 3 --threshold '["1/2","1/2","1/2"]' --out "$corpus_p" --max-seconds 60 > "$DATA_DIR/gen-keripy.json"; then
	for f in keriox keripy; do
		node -e 'const r = require(process.argv[1]); console.log("  " + process.argv[2] + ": " + r.controllers +
			" controllers, " + r.valid + " events (icp " + r.icp + ", rot " + r.rot + ", ixn " + r.ixn + "), " + r.bytes + " bytes")' \
			"$DATA_DIR/gen-$f.json" "$f"
	done
else
	fail "kc.mjs gen"
	stop_witnesses
	exit 1
fi

# send PROTOCOL CORPUS [ROUTE]
send() {
	local i url status extra=()
	[ -n "${3:-}" ] && extra=(--route "$3")
	for i in 1 2 3 4; do
		url=http://127.0.0.1:${ports[$((i - 1))]}/
		echo "witness-$i $url"
		node "$kc" send --url "$url" --protocol "$1" --corpus "$2" --witness "${prefixes[$((i - 1))]}" \
			--concurrency 3 --max-seconds "$send_seconds" --drain-seconds "$drain_seconds" --timeout-ms 5000 \
			"${extra[@]}" --report "$DATA_DIR/report-$1-$i.json" --quiet > /dev/null
		status=$?
		summarise "$DATA_DIR/report-$1-$i.json" send
		[ "$status" -eq 0 ] || fail "kc.mjs send --protocol $1 to witness-$i (exit $status; report $DATA_DIR/report-$1-$i.json)"
	done
}
echo "== kc.mjs send --protocol keriox (POST /process, POST /query mbx; receipts verified)"
send keriox "$corpus_x"
echo "== kc.mjs send --protocol keripy --route receipts (POST /receipts; receipts verified)"
send keripy "$corpus_p" receipts

echo "== exchange.mjs: each witness gets the other three witnesses' receipts"
witness_args=()
for i in 1 2 3 4; do
	witness_args+=(--witness "http://127.0.0.1:${ports[$((i - 1))]}/=${prefixes[$((i - 1))]}")
done
for p in keriox keripy; do
	if [ "$p" = keriox ]; then c=$corpus_x; else c=$corpus_p; fi
	node "$here/exchange.mjs" --kc "$KERI_CLIENT" --corpus "$c" --protocol "$p" "${witness_args[@]}" \
		> "$DATA_DIR/exchange-$p.json"
	status=$?
	node -e 'const r = JSON.parse(require("fs").readFileSync(process.argv[1], "utf8"));
		console.log("  " + r.protocol + ": " + r.events + " events; receipts collected " + r.receipts_collected +
			", verified " + r.receipts_verified + ", posted " + r.receipts_posted + "; fully witnessed on every witness " +
			r.fully_witnessed + "/" + r.expected_fully_witnessed);
		if (r.errors.length) console.log("  errors: " + JSON.stringify(r.errors));' "$DATA_DIR/exchange-$p.json" ||
		echo "  (no JSON summary)"
	[ "$status" -eq 0 ] || fail "exchange.mjs --protocol $p (exit $status)"
done

echo "== kc.mjs oobi: each witness's own OOBI"
for i in 1 2 3 4; do
	url=http://127.0.0.1:${ports[$((i - 1))]}/oobi/${prefixes[$((i - 1))]}
	echo "witness-$i $url"
	node "$kc" oobi --url "$url" --aid "${prefixes[$((i - 1))]}" --timeout-ms 5000 > "$DATA_DIR/oobi-w$i.json"
	status=$?
	summarise "$DATA_DIR/oobi-w$i.json" oobi
	[ "$status" -eq 0 ] || fail "kc.mjs oobi $url (exit $status)"
done

echo "== kc.mjs oobi: each controller's KEL through one witness (controller n: witness n+1)"
for p in keriox keripy; do
	if [ "$p" = keriox ]; then c=$corpus_x; else c=$corpus_p; fi
	cids=$(node -e '
		const lines = require("fs").readFileSync(process.argv[1], "utf8").split("\n");
		for (const l of lines) { if (!l) continue; const o = JSON.parse(l); if (o.type === "controller") console.log(o.pre); }' \
		"$c")
	n=0
	for cid in $cids; do
		[ "$n" -lt 3 ] || break
		url=http://127.0.0.1:${ports[$n]}/oobi/$cid/witness/${prefixes[$n]}
		echo "$p controller $n $url"
		node "$kc" oobi --url "$url" --aid "$cid" --timeout-ms 5000 > "$DATA_DIR/oobi-$p-c$n.json"
		status=$?
		summarise "$DATA_DIR/oobi-$p-c$n.json" oobi full || status=1
		[ "$status" -eq 0 ] || fail "kc.mjs oobi $url (exit $status, or not fully witnessed)"
		n=$((n + 1))
	done
	[ "$n" -eq 3 ] || fail "$p corpus holds $n controllers, expected 3"
done

echo "== stopping witnesses (SIGTERM)"
stop_witnesses

if [ "$failures" -ne 0 ]; then
	echo "== $failures step(s) FAILED; logs, reports and corpus in $DATA_DIR"
	exit 1
fi
echo "== all steps passed; logs, reports and corpus in $DATA_DIR"
exit 0
