#!/usr/bin/env bash
# Scale benchmark (`make bench-scale`): `hearthbench scale` through
# scripts/bench.sh (same build, work dir and cleanup), which for each repo
# size generates a signed CAR of realistic records, imports it into a fresh
# hearthd on a free 127.0.0.1 port, restarts it and measures the first
# write, writes, getRepo and memory. Prints ONE JSON object on stdout;
# progress goes to stderr.
#
# Environment: as scripts/bench.sh, plus
#   SCALE_RECORDS    repo sizes (default: 10000,100000,1000000)
set -euo pipefail
BENCH_NAME=bench-scale exec bash "$(dirname "${BASH_SOURCE[0]}")/bench.sh" scale --records "${SCALE_RECORDS:-10000,100000,1000000}"
