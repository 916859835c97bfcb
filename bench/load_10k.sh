#!/usr/bin/env bash
# "08:00 with 10,000 workspaces": every scheduled job of a large fleet falls
# due at the same instant, against the real daemon and a fast fake tofu.
#
#   bench/load_10k.sh [BUILD_DIR] [options of bench/load_10k.py]
#     BUILD_DIR       default build; must hold provisioner and fake_tofu
#                     (make provisioner fake_tofu). Both are copied into the
#                     temp dir first, so a rebuild during the run is harmless.
#     --workspaces N  [10000]
#     --destroy-every N  [10]  one workspace in N is a "night shift" one that
#                     is deployed and due for a destroy at the fire; the
#                     others are destroyed and due for a deploy
#     --concurrency N [16]   scheduler.max_concurrent_jobs
#     --lead S        [45]   seconds from writing the config to the fire
#     --probe-interval S [0.1]  --metrics-interval S [1]  --timeout S [3600]
#     --time-scale X  [0.001] FAKE_TOFU_TIME_SCALE
# Environment: NICE [10] (niceness of the whole run: daemon, fake tofu and
# the Python driver alike), TMPDIR (where the work dir goes; /dev/shm takes
# the disk out of the measurement), KEEP=1 keeps the work dir.
#
# Setup. WORKSPACES workspaces in five zones (UTC, Berlin, New York, Kolkata,
# Lord Howe), each with a daily 6-field deploy and destroy cron written in its
# own zone so that every due action falls on one instant T, LEAD seconds
# ahead: the office-hours ones deploy at "08:00" (T) and were destroyed at
# "19:00" the evening before; the night-shift ones were deployed at "20:00"
# and are destroyed at "08:00" (T). state.json is seeded with what the daemon
# knows at 07:59 (office workspaces destroyed, night-shift ones deployed, all
# fires up to now handled), so the start-up converges nothing and every job
# of the run comes from the fire at T. The fake tofu (default scenario, one
# resource) is opentofu.binary; its invocation log is the journal.
#
# Measured and printed:
#   - config load: `provisioner validate` alone; daemon start: exec to the
#     "started" log line (after the first scheduler tick) and to /ready 200
#   - the drain, from /metrics every METRICS_INTERVAL s: provisioner_jobs_queued,
#     provisioner_jobs_running_total, provisioner_jobs_completed_total, plus
#     RSS, threads and fds from /proc; the drain time is T to the first scrape
#     with an empty queue, nothing running and every job completed (also the
#     last finished_at of the history, to the millisecond)
#   - exactly once: per workspace in the journal, one init + plan + apply
#     (office) or one init + destroy (night shift), every step exiting 0 (plan
#     2), nothing before T; per workspace in history.jsonl, exactly one
#     succeeded record of the right operation, scheduled_for = T; the job
#     counter grows by exactly the number of workspaces
#   - destroys first (DESIGN.md §5, JobQueue::TakeRunnable: destroys, then
#     due time, then name): the daemon's "job started" log order and the
#     history's started_at must put every destroy before any deploy; the
#     journal's init start times are shown too (process start jitter can put
#     a deploy's init a little before the last destroy's: reported, not fatal)
#   - probes: /health and /ready every PROBE_INTERVAL s on a new connection
#     each (kubelet style, connect to last byte), in a separate process,
#     during the drain: p50/p99/max
#   - peak RSS (VmHWM of /proc/PID/status, which covers start-up and every
#     scrape) and RSS 5 s after the drain
#   - provisioner_schedule_lag_seconds p50/p99 interpolated from its buckets
#     as histogram_quantile does, and the exact lag from the history
#   - warnings and errors of the daemon's log, grouped
# Exit 1 on a hard failure: a job that ran twice, not at all or failed, a
# destroy started after a deploy, a probe that failed or a probe p99 over
# 100 ms, no drain before the timeout, a daemon crash or unclean stop.
set -euo pipefail

# shellcheck source=bench/lib.sh
. "$(dirname "$0")/lib.sh"
run_daemon_bench load-10k load_10k.py "[--workspaces N] [--concurrency N] ..." "$@"
