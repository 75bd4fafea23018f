#!/usr/bin/env bash
# fault-runs.sh runs one fault test of e2e/faults_test.go N times, one seed
# per run, and prints a table made of each run's FAULT-SUMMARY line.
#
#   e2e/fault-runs.sh FAULT N [-s FIRST_SEED] [--race] [--soak]
#
#   FAULT          disk-stall (TestCluster_DiskStall) or clock-jump
#                  (TestCluster_ClockJump)
#   N              how many runs
#   -s FIRST_SEED  the seeds are FIRST_SEED .. FIRST_SEED+N-1 (default 1);
#                  CAIRN_SEED=S replays a run of seed S
#   --race         build the test binary with -race (the servers never are)
#   --soak         CAIRN_SOAK=1: five rounds of faults per run instead of one
#
# The test binary is built once; each run's whole output is kept in a
# directory printed at the end. The exit status is 1 when a run failed.
# Columns: ok (the test passed), lin (the lincheck history is
# linearizable), ops (lincheck ops), acked and lost (writes of the per-member
# writers acknowledged, and missing on some member at the end), equal (every
# member at the same revision with the same hash), elect (elections during
# the faults), took, faults (what was injected; for clock-jump, kept_expired
# counts the leases kept alive that the leader's forward jump expired).
set -u

usage() { sed -n '2,22p' "$0" | sed 's/^# \{0,1\}//'; }
[ $# -ge 2 ] || { usage >&2; exit 2; }
fault=$1 runs=$2
shift 2
first=1 race="" soak=""
while [ $# -gt 0 ]; do
	case "$1" in
	-s) first=$2; shift ;;
	--race) race=-race ;;
	--soak) soak=1 ;;
	-h | --help) usage; exit 0 ;;
	*) echo "fault-runs.sh: unknown argument $1 (see --help)" >&2; exit 2 ;;
	esac
	shift
done
case "$fault" in
disk-stall) test=TestCluster_DiskStall ;;
clock-jump) test=TestCluster_ClockJump ;;
*) echo "fault-runs.sh: unknown fault $fault: disk-stall or clock-jump" >&2; exit 2 ;;
esac

cd "$(dirname "$0")" || exit 2
logs=$(mktemp -d "${TMPDIR:-/tmp}/cairn-fault-runs-XXXXXX") || exit 2
bin="$logs/e2e.test"
go test -c $race -o "$bin" . || exit 2

# field NAME LINE prints the value of NAME=value in LINE.
field() { sed -n "s/.* $1=\([^ ]*\).*/\1/p" <<<" $2"; }

timeout=5m
[ -n "$soak" ] && timeout=20m
printf '%-6s %-4s %-5s %-6s %-6s %-4s %-5s %-5s %-8s %s\n' seed ok lin ops acked lost equal elect took faults
failed=0
for ((seed = first; seed < first + runs; seed++)); do
	log="$logs/$fault-seed-$seed.log"
	CAIRN_SEED=$seed CAIRN_SOAK=$soak "$bin" -test.count=1 -test.v -test.timeout "$timeout" -test.run "^$test\$" > "$log" 2>&1
	rc=$?
	line=$(grep -m1 -o 'FAULT-SUMMARY .*' "$log")
	ok=PASS
	if [ $rc -ne 0 ]; then
		ok=FAIL
		failed=$((failed + 1))
	fi
	if [ -z "$line" ]; then
		printf '%-6s %-4s (no summary: see %s)\n' "$seed" "$ok" "$log"
		continue
	fi
	extra=$(field kept_expired "$line")
	faults=$(field faults "$line")
	[ -n "$extra" ] && faults="$faults kept_expired=$extra"
	printf '%-6s %-4s %-5s %-6s %-6s %-4s %-5s %-5s %-8s %s\n' "$seed" "$ok" \
		"$(field linearizable "$line")" "$(field lincheck_ops "$line")" "$(field acked "$line")" \
		"$(field lost "$line")" "$(field equal "$line")" "$(field elections "$line")" \
		"$(field took "$line")" "$faults"
done
echo "$fault: $failed of $runs runs failed; logs in $logs"
[ $failed -eq 0 ]
