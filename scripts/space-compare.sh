#!/usr/bin/env bash
# Memory, disk and cold restart of one member holding N keys (16-byte keys,
# 256-byte values, written by 64 clients), for Cairn and etcd 3.6.16 side by
# side: RSS and Go heap after the load, the data dir and store file sizes,
# and the time from a restart with a cold page cache (as root: the caches are
# dropped) to the first read. Needs the tools ../shared/bench/compare.sh
# builds. Run from the project root:
#   scripts/space-compare.sh [N] [CAIRN_BINARY]    (default 1000000, a fresh build)
# SKIP_ETCD=1 measures Cairn alone. PROFILE=DIR also saves Cairn's heap
# profile after the load (heap.pb.gz, with --enable-pprof), its resident
# memory by mapping after the load and after the first read of the restart
# (smaps-load.txt, smaps-restart.txt: state.db, raft.db, the Go heap; and
# etcd's after the load, smaps-etcd-load.txt), the
# data dir's file sizes (du.txt) and the server's log (cairn.log).
set -eu
N=${1:-1000000}
HERE=$(cd "$(dirname "$0")/../../shared/bench" && pwd)
. "$HERE/lib.sh"
ensure_etcd; ensure_httpload
if [ $# -ge 2 ]; then BIN=$2; else build_server; fi
EL=$SCRATCH/bin/etcd
# The key of index 1, as httpload pads it (to the width of N-1).
K1=$(python3 -c "n=$N; print('0123456789' + str(1).zfill(len(str(n - 1))))")
K1B64=$(printf %s "$K1" | base64)

heap() { curl -s "$1/metrics" | awk '/^go_memstats_heap_inuse_bytes /{printf "%d", $2/1048576}'; }
rss() { awk '/VmRSS/{printf "%d", $2/1024}' /proc/$1/status; }
cold() { sync; [ -w /proc/sys/vm/drop_caches ] && echo 3 > /proc/sys/vm/drop_caches || echo "(not root: warm cache)"; }
first_read() { # url-of-read method body -> seconds until it answers 200
  local t0=$(date +%s.%N)
  until [ "$(curl -s -o /dev/null -w '%{http_code}' -X "$2" ${3:+-d "$3"} "$1")" = 200 ]; do sleep 0.02; done
  python3 -c "import time; print('%.2f' % (time.time() - $t0))"
}
smaps() { # pid -> resident KiB per mapping, largest first
  awk '/^[0-9a-f]+-[0-9a-f]+ /{name=$6; if (name=="") name="[anon]"} /^Rss:/{rss[name]+=$2} END{for (n in rss) printf "%8d KiB %s\n", rss[n], n}' /proc/$1/smaps | sort -rn | head -n 12
}
report() { # name pid url dir dbfile
  echo "$1: rss $(rss $2) MiB, go heap in use $(heap $3) MiB, data dir $(du -sm $4 | cut -f1) MiB, $(basename $5) $(( $(stat -c %s $5) / 1048576 )) MiB"
}
load() { # url body
  "$HTTPLOAD" -q -c 64 -n "$N" -method "$1" -url "$2" -body "$3" -keys "$N" -key-dist seq -key-prefix 0123456789 -value-size 256 |
    python3 -c 'import json,sys; d=json.loads(sys.stdin.read().strip().splitlines()[-1]); print("  loaded %d keys at %.0f req/s, %d errors" % (d["ok"], d["rps"], d["errors"]))'
}

# Cairn
P=$(free_port) Q=$(free_port) D=$BARTMP/c.data
start_member c $P $Q c=http://127.0.0.1:$Q --log-level warn ${PROFILE:+--enable-pprof}
wait_ready http://127.0.0.1:$P 30 || fail "cairn not ready"
load PUT "http://127.0.0.1:$P/v1/kv/{{key}}" '{{value}}'
sleep 2; report cairn $PID_c http://127.0.0.1:$P "$D" "$D/state.db"
if [ -n "${PROFILE:-}" ]; then
  mkdir -p "$PROFILE"
  curl -s -o "$PROFILE/heap.pb.gz" "http://127.0.0.1:$P/debug/pprof/heap"
  smaps $PID_c > "$PROFILE/smaps-load.txt"
fi
kill $PID_c; wait $PID_c 2>/dev/null || true
[ -n "${PROFILE:-}" ] && (cd "$D" && du -ab . | sort -rn | head -n 12) > "$PROFILE/du.txt"
cold
restart_member c $P $Q ${PROFILE:+--enable-pprof}
echo "  cold restart to the first read: $(first_read "http://127.0.0.1:$P/v1/kv/$K1?serializable=true" GET) s"
if [ -n "${PROFILE:-}" ]; then
  smaps $PID_c > "$PROFILE/smaps-restart.txt"
  echo "  after the restart: rss $(rss $PID_c) MiB, go heap in use $(heap http://127.0.0.1:$P) MiB"
fi
kill $PID_c; wait $PID_c 2>/dev/null || true
[ -n "${PROFILE:-}" ] && cp "$BARTMP/c.log" "$PROFILE/cairn.log"

# etcd
[ "${SKIP_ETCD:-}" = 1 ] && exit 0
B=$((26000 + RANDOM % 1000)) ED=$BARTMP/etcd
"$HERE/etcd-cluster.sh" start -n 1 -d "$ED" -p $B -f >/dev/null 2>&1 || fail "etcd did not start"
EURL=http://127.0.0.1:$((B + 1))
load POST "$EURL/v3/kv/put" '{"key":"{{key_b64}}","value":"{{value_b64}}"}'
EPID=$(head -n1 "$ED/pids")
sleep 2; report etcd $EPID $EURL "$ED/n1" "$ED/n1/member/snap/db"
[ -n "${PROFILE:-}" ] && smaps $EPID > "$PROFILE/smaps-etcd-load.txt"
"$HERE/etcd-cluster.sh" stop -d "$ED" >/dev/null 2>&1
cold
ETCD_EXTRA_ARGS= "$EL" --name n1 --data-dir "$ED/n1" --listen-client-urls $EURL --advertise-client-urls $EURL \
  --listen-peer-urls http://127.0.0.1:$((B + 2)) --initial-advertise-peer-urls http://127.0.0.1:$((B + 2)) \
  --initial-cluster n1=http://127.0.0.1:$((B + 2)) > "$ED/restart.log" 2>&1 &
EPID=$!; PIDS+=("$EPID")
echo "  cold restart to the first read: $(first_read "$EURL/v3/kv/range" POST '{"key":"'$K1B64'","serializable":true}') s"
kill $EPID; wait $EPID 2>/dev/null || true
