#!/usr/bin/env bash
# Where a replicated put's time goes: starts 3 members on loopback, sends
# puts of 256-byte values from CLIENTS clients (default 1) for DUR (default
# 8s) to the leader, then prints the member-side timings from /metrics: the
# HTTP request, the leader's log append (dispatchLog), a follower's
# AppendEntries RPC as the leader sees it and as the follower handles it
# (with its log append), the commit, and the state machine's apply.
# Needs ../shared/bench (httpload) as built by ../shared/bench/compare.sh.
# Run from the project root: scripts/write-breakdown.sh [CLIENTS]
set -eu
CLIENTS=${1:-1} DUR=${DUR:-8s}
HERE=$(cd "$(dirname "$0")/../../shared/bench" && pwd)
. "$HERE/lib.sh"
build_server; ensure_httpload
ic="" us=""
for i in 1 2 3; do eval "c$i=$(free_port) p$i=$(free_port)"; done
for i in 1 2 3; do eval "ic=\$ic\${ic:+,}n$i=http://127.0.0.1:\$p$i"; done
for i in 1 2 3; do eval "start_member n$i \$c$i \$p$i $ic --log-level warn"; eval "us=\"\$us http://127.0.0.1:\$c$i\""; done
for u in $us; do wait_ready $u 30 || fail "not ready"; done
L=$(leader_url $us) || fail "no leader"
F=$L; for u in $us; do [ "$u" != "$L" ] && F=$u; done
"$HTTPLOAD" -q -c "$CLIENTS" -d "$DUR" -method PUT -url "$L/v1/kv/{{key}}" -body '{{value}}' -keys 100000 -value-size 256 -label put
echo
python3 - "$L" "$F" <<'PY'
import re, sys, urllib.request
def scrape(url):
    out = {}
    for line in urllib.request.urlopen(url + "/metrics").read().decode().splitlines():
        m = re.match(r'^([a-zA-Z_:]+)(\{[^}]*\})? ([0-9.eE+-]+|NaN)$', line)
        if m: out[m.group(1) + (m.group(2) or "")] = float(m.group(3))
    return out
def hist(m, name):
    s = sum(v for k, v in m.items() if k.startswith(name + "_sum"))
    c = sum(v for k, v in m.items() if k.startswith(name + "_count"))
    return c, (s / c if c else None)
L, F = scrape(sys.argv[1]), scrape(sys.argv[2])
rows = [
    ("leader", "HTTP request (whole put)", hist(L, "cairn_http_request_duration_seconds"), 1000),
    ("leader", "dispatch (its append runs in the background)", hist(L, "cairn_raft_leader_dispatch_duration_seconds"), 1000),
    ("leader", "its Raft log append and fdatasync (wal/)", hist(L, "cairn_disk_raft_log_fsync_duration_seconds"), 1000),
    ("leader", "commit, from dispatch (commitTime)", hist(L, "cairn_raft_commit_duration_seconds"), 1000),
    ("leader", "AppendEntries round trip to a follower", hist(L, "cairn_raft_replication_append_entries_duration_seconds"), 1000),
    ("follower", "AppendEntries handled (with its log append)", hist(F, "cairn_raft_follower_append_entries_duration_seconds"), 1000),
    ("follower", "log append (storeLogs)", hist(F, "cairn_raft_follower_log_store_duration_seconds"), 1000),
    ("follower", "Raft log append and fdatasync (wal/)", hist(F, "cairn_disk_raft_log_fsync_duration_seconds"), 1000),
    ("leader", "state machine apply, per batch", hist(L, "cairn_apply_batch_duration_seconds"), 1000),
]
for who, what, (n, mean, *p), scale in rows:
    if not n: print(f"{who:9s} {what:46s} (no data)"); continue
    p50 = f"p50 {p[0]*scale:.3f} ms" if p and p[0] is not None and p[0] == p[0] else ""
    print(f"{who:9s} {what:46s} n={int(n):7d} mean {mean*scale:.3f} ms {p50}")
PY
