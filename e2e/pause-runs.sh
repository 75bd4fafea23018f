#!/usr/bin/env bash
# pause-runs.sh runs TestCluster_PauseLinearizable (e2e/pause_test.go) once
# per seed and prints a table: seed, result, and the test's summary line.
#
#   e2e/pause-runs.sh [-n RUNS] [-s FIRST_SEED] [-t leader|random|mixed]
#                     [--load[=yes|go]] [--soak DURATION]
#
#   -n RUNS        how many runs (default 14)
#   -s FIRST_SEED  the seeds are FIRST_SEED .. FIRST_SEED+RUNS-1 (default 1)
#   -t TARGET      CAIRN_PAUSE_TARGET: whom the nemesis pauses (default mixed)
#   --load         a CPU-heavy background load for the whole session: one
#                  busy loop (yes > /dev/null) per core; --load=go runs
#                  `go test -race ./internal/domain/...` in a loop instead
#   --soak D       CAIRN_SOAK=D: faults for D (e.g. 2m) instead of ~16 s
#
# Each run's whole output is kept in a directory printed at the end. The
# exit status is 1 when a run failed. The background load is stopped on
# exit, even on Ctrl-C.
#
# Each go test runs in a session of its own: a frozen server whose process
# group becomes orphaned (the shell that started it exits, as with
# `pause-runs.sh &` from a terminal that is then closed) would get SIGHUP
# from the kernel and die. Ctrl-C is passed on to it, and whatever of it is
# left 5 s later is killed.
set -u

runs=14 first=1 target=mixed load="" soak=""
while [ $# -gt 0 ]; do
	case "$1" in
	-n) runs=$2; shift ;;
	-s) first=$2; shift ;;
	-t) target=$2; shift ;;
	--load | --load=yes) load=yes ;;
	--load=go) load=go ;;
	--soak) soak=$2; shift ;;
	-h | --help) sed -n '2,24p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
	*) echo "pause-runs.sh: unknown argument $1 (see --help)" >&2; exit 2 ;;
	esac
	shift
done

cd "$(dirname "$0")/.." || exit 2
logs=$(mktemp -d "${TMPDIR:-/tmp}/cairn-pause-runs-XXXXXX") || exit 2

# The background load and each go test run in sessions of their own; their
# process groups are ended on exit. A go test that is interrupted gets
# SIGCONT first (a frozen server would not see SIGINT), then SIGINT, and
# whatever of its group (the test binary, the servers) is left 5 s later
# gets SIGKILL.
loadgroups=() testgroup=""
stop_all() {
	if [ -n "$testgroup" ]; then
		kill -CONT -- "-$testgroup" 2>/dev/null
		kill -INT -- "-$testgroup" 2>/dev/null
		for _ in $(seq 50); do
			kill -0 -- "-$testgroup" 2>/dev/null || break
			sleep 0.1
		done
		kill -KILL -- "-$testgroup" 2>/dev/null
		wait "$testgroup" 2>/dev/null
	fi
	for g in "${loadgroups[@]}"; do
		kill -- "-$g" 2>/dev/null
	done
	loadgroups=()
}
trap stop_all EXIT
trap 'exit 130' INT TERM
case "$load" in
yes)
	for _ in $(seq "$(nproc)"); do
		setsid bash -c 'exec yes > /dev/null' &
		loadgroups+=($!)
	done ;;
go)
	setsid bash -c 'while :; do go test -race -count=1 ./internal/domain/... > /dev/null 2>&1; done' &
	loadgroups+=($!) ;;
esac

timeout=5m
[ -n "$soak" ] && timeout=30m
printf '%-20s %-6s %s\n' seed result summary
failed=0
for ((seed = first; seed < first + runs; seed++)); do
	log="$logs/seed-$seed.log"
	CAIRN_SEED=$seed CAIRN_PAUSE_TARGET=$target CAIRN_SOAK=$soak setsid \
		go test -count=1 -v -timeout "$timeout" -run '^TestCluster_PauseLinearizable$' ./e2e/ > "$log" 2>&1 &
	testgroup=$!
	wait "$testgroup"
	rc=$?
	testgroup=""
	result=PASS
	if [ $rc -ne 0 ]; then
		result=FAIL
		failed=$((failed + 1))
	fi
	summary=$(grep -m1 -o 'pause summary: .*' "$log" | sed 's/^pause summary: //')
	printf '%-20s %-6s %s\n' "$seed" "$result" "${summary:-(no summary: see $log)}"
done
echo "$failed of $runs runs failed (target $target, load ${load:-none}); logs in $logs"
[ $failed -eq 0 ]
