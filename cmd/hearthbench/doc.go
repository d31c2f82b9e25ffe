// Command hearthbench measures the performance of a hearthd binary over
// HTTP and prints one JSON object with the results on stdout (progress goes
// to stderr). scripts/bench.sh (`make bench`) builds and runs it.
//
//	hearthbench --hearthd bin/hearthd --work-dir DIR
//
// It starts its own hearthd processes on free 127.0.0.1 ports with data dirs
// under DIR (which should be on the filesystem being measured), creates the
// accounts it needs with `hearthd account create`, and stops every process it
// started before exiting. Each process's PID is appended to --pid-file (if
// given) so a wrapper can clean up after a crash.
//
// Measured, in order:
//   - fsync_floor_per_s: 4 KiB pwrite + fdatasync in a loop for ~2 s on a
//     file in DIR, the ceiling for one-durable-commit-per-request writes;
//   - ready_ms (median of several starts) and idle_rss_mb (VmRSS after ~1 s
//     idle) on a data dir holding one account;
//   - create_record: sequential com.atproto.repo.createRecord of
//     app.bsky.feed.post records (throughput, p50, p99, ratio to the floor);
//   - http_fsync_ceiling: the same calls against a stand-in server that only
//     does one 4 KiB pwrite + fdatasync per request (ceiling.go), which
//     bounds what any PDS could score over HTTP on this machine;
//   - apply_writes_10 / apply_writes_200: sequential applyWrites batches of
//     creates for ~5 s each, on fresh accounts;
//   - get_repo: com.atproto.sync.getRepo of a 10k-record repo (one download
//     is parsed and its records counted, then several are timed);
//   - upload_blob: 50 MiB of random bytes through uploadBlob;
//   - import_repo_100k: a 100k-record repo is built with applyWrites and
//     exported with getRepo (and checked), hearthd is restarted so VmHWM
//     starts fresh, and the CAR is imported back into the same account with
//     com.atproto.repo.importRepo; reports the call's duration and the
//     process's VmHWM, then checks the imported repo with getRepo;
//   - firehose_replay (on the main server, after its workloads): the log is
//     topped up to --replay-events events with single-record commits from
//     several accounts in parallel, a marker record is written, and a fresh
//     subscribeRepos?cursor=0 subscriber reads (decoding every frame with
//     events.Decode) until the marker's #commit arrives;
//   - firehose_fanout (fresh server): --fanout-subs live subscribers, one
//     reader goroutine each, while one writer runs sequential createRecord
//     flat out; the delay from each createRecord response to each
//     subscriber's receipt of that commit's frame (p50/p99/max), and whether
//     every subscriber got every event in seq order.
//
// Write benchmarks also report hearthd's and this client's CPU time per
// record and the bytes hearthd sent to disk per record (/proc/PID/io), and
// env records the load average, so a miss can be told apart from a busy
// machine.
//
// Sizes: MB means MiB (2^20 bytes) everywhere, for throughput and memory.
package main
