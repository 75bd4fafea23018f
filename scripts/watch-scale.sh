#!/usr/bin/env bash
# Watch fan-out at scale: one member as a process of its own, n idle watches
# on distinct keys (etcd gRPC Watch, many on a few streams of one connection;
# SSE streams over h2c, many on a few HTTP/2 connections), for n = 0, 1k, 10k
# and 100k: the member's RSS, Go heap and goroutines per watcher, the event
# latency p50/p99 (put to arrival, one put at a time) and the puts/s of 16
# clients writing keys nobody watches, before and after the watches open. Then etcd 3.6.16's gRPC figures the
# same way, if its binary is there (../shared/bench/compare.sh builds it).
# Run from the project root:
#   scripts/watch-scale.sh [BENCH-REGEXP]
#       default 'Watch_Scale/(grpc|sse)/watchers=(0|1000|10000|100000)$'
# SKIP_ETCD=1 measures Cairn alone; ETCD=/path/to/etcd picks the binary;
# CAIRN_WATCH_SCALE_BIN=/path/to/cairn measures an older build instead of
# the tree; CAIRN_WATCH_SCALE_STREAMS sets the member's
# --max-concurrent-streams, the SSE streams per connection (default 1000).
# The whole run takes about 5 minutes.
set -eu
cd "$(dirname "$0")/.."
BENCH=${1:-'Watch_Scale/(grpc|sse)/watchers=(0|1000|10000|100000)$'}
ETCD=${ETCD:-/tmp/cairn-bench/bin/etcd}
run() {
  go test -run XXX -bench "$1" -benchtime 1x -timeout 60m ./internal/app/ |
    grep -E '^(Benchmark|    watchscale)' | sed 's/-[0-9]* *\t *1\t/ /'
}
echo "# Cairn ($(git rev-parse --short HEAD 2>/dev/null || echo tree), $(nproc) cores)"
run "$BENCH"
if [ "${SKIP_ETCD:-}" != 1 ] && [ -x "$ETCD" ]; then
  echo "# etcd ($("$ETCD" --version | head -n1))"
  CAIRN_WATCH_SCALE_ETCD=$ETCD run 'Watch_Scale/grpc/'
fi
