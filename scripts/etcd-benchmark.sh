#!/usr/bin/env bash
# etcd's own `benchmark` tool (etcd 3.6.16, over the v3 gRPC API) against a
# fresh 3-member Cairn and a fresh 3-member etcd on this machine, one after
# the other for each case, every request to the leader, 256-byte values.
# Prints one line per case: requests per second and p50/p99 of each.
# Needs the tools ../shared/bench/compare.sh builds (etcd, benchmark).
# Run from the project root:
#   scripts/etcd-benchmark.sh [ROUNDS]    (default 1; medians over rounds)
set -eu
ROUNDS=${1:-1}
HERE=$(cd "$(dirname "$0")/../../shared/bench" && pwd)
. "$HERE/lib.sh"
build_server; ensure_etcd
BENCH=$SCRATCH/bin/benchmark
[ -x "$BENCH" ] || fail "no etcd benchmark tool in $SCRATCH/bin (remove $SCRATCH/bin/etcd to rebuild)"
OUT=$BARTMP/out; mkdir -p "$OUT"

# The cases: label, then the benchmark arguments after the endpoints.
CASES=(
  "put-1|put --clients 1 --conns 1 --total 3000 --key-size 16 --key-space-size 100000 --val-size 256"
  "put-64|put --clients 64 --conns 8 --total 40000 --key-size 16 --key-space-size 100000 --val-size 256"
  "txn-put-64|txn-put --clients 64 --conns 8 --total 20000 --key-size 16 --key-space-size 100000 --val-size 256 --txn-ops 4"
  "range-l-64|range bench/key --clients 64 --conns 8 --total 60000 --consistency l"
  "range-s-64|range bench/key --clients 64 --conns 8 --total 60000 --consistency s"
  "watch|watch --clients 10 --conns 10 --streams 10 --watch-per-stream 100 --watched-key-total 100 --put-total 5000 --key-size 16"
)

run_cases() { # system endpoints round
  local sys=$1 eps=$2 r=$3 c lab args
  "$BENCH" --endpoints "$eps" put --total 1 --key-size 16 >/dev/null 2>&1 || true
  for c in "${CASES[@]}"; do
    lab=${c%%|*} args=${c#*|}
    # shellcheck disable=SC2086
    "$BENCH" --endpoints "$eps" --target-leader $args >"$OUT/$sys.$lab.$r" 2>&1 || echo "($sys $lab failed: $(tail -n 2 "$OUT/$sys.$lab.$r" | tr '\n' ' '))"
  done
}

for r in $(seq 1 "$ROUNDS"); do
  ic="" us="" eps=""
  for i in 1 2 3; do eval "c$i=$(free_port) p$i=$(free_port)"; done
  for i in 1 2 3; do eval "ic=\$ic\${ic:+,}b${r}n$i=http://127.0.0.1:\$p$i"; done
  for i in 1 2 3; do
    eval "start_member b${r}n$i \$c$i \$p$i $ic --log-level warn"
    eval "us=\"\$us http://127.0.0.1:\$c$i\"; eps=\"\$eps\${eps:+,}127.0.0.1:\$c$i\""
  done
  for u in $us; do wait_ready "$u" 30 || fail "cairn not ready"; done
  leader_url $us >/dev/null || fail "cairn: no leader"
  "$BENCH" --endpoints "$eps" put --total 1 --key-size 7 >/dev/null 2>&1 # bench/key for range: any key will do
  run_cases cairn "$eps" "$r"
  for i in 1 2 3; do eval "kill -9 \$PID_b${r}n$i"; done
  ED=$BARTMP/etcd$r; base=$((25000 + r * 20))
  "$HERE/etcd-cluster.sh" start -n 3 -d "$ED" -p $base -f >/dev/null 2>&1 || fail "etcd did not start"
  eeps=""; for i in 1 2 3; do eeps="$eeps${eeps:+,}127.0.0.1:$((base + 2 * i - 1))"; done
  run_cases etcd "$eeps" "$r"
  "$HERE/etcd-cluster.sh" stop -d "$ED" >/dev/null 2>&1
done

python3 - "$OUT" <<'PY'
import glob, os, re, statistics as st, sys
res = {}
for f in glob.glob(sys.argv[1] + "/*"):
    sys_, lab, r = os.path.basename(f).split(".")
    t = open(f).read()
    parts = [(lab, t)]
    if lab == "watch":  # two summaries: creating the watches, then the events they received
        parts = [("watch-create", t.split("Watch events received summary:")[0]),
                 ("watch-events", t.split("Watch events received summary:")[-1])]
    for lab, t in parts:
        m = re.search(r"Requests/sec:\s+([0-9.]+)", t)
        if not m: continue
        p = {q: float(x) * 1000 for q, x in re.findall(r"\s(50|99)(?:\.0+)?% in ([0-9.]+) secs", t)}
        res.setdefault((sys_, lab), []).append((float(m.group(1)), p.get("50"), p.get("99")))
print(f"{'case (3 members, to the leader)':24s} {'Cairn req/s':>12s} {'etcd req/s':>12s} {'ratio':>6s}   Cairn p50/p99 ms | etcd p50/p99 ms")
for lab in ["put-1", "put-64", "txn-put-64", "range-l-64", "range-s-64", "watch-create", "watch-events"]:
    c, e = res.get(("cairn", lab)), res.get(("etcd", lab))
    if not c or not e: print(f"{lab:24s} missing"); continue
    cm, em = st.median(x[0] for x in c), st.median(x[0] for x in e)
    lat = lambda x: "%.1f / %.1f" % (x[1] or 0, x[2] or 0)
    print(f"{lab:24s} {cm:12.0f} {em:12.0f} {cm/em:6.2f}   {lat(c[0]):>16s} | {lat(e[0])}")
PY
