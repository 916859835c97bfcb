#!/usr/bin/env bash
# Soak: the real daemon under fast schedules and steady API traffic for a
# long while; are its memory, descriptors and threads flat? Not for CI.
#
#   bench/soak.sh [BUILD_DIR] [--minutes M] [options of bench/soak.py]
#     BUILD_DIR          default build; must hold provisioner and fake_tofu.
#                        Both are copied into the temp dir first.
#     --minutes M        [30]
#     --workspaces N     [50]
#     --period S         [30]  each workspace is deployed and, S/2 later,
#                        destroyed every S seconds (6-field crons; S divides 60)
#     --concurrency N    [8]   scheduler.max_concurrent_jobs
#     --api-rate R       [10]  API requests per second (Poisson arrivals)
#     --scrape-interval S [1]  --sample-interval S [10]
#     --time-scale X     [0.2] FAKE_TOFU_TIME_SCALE (the fake applies two
#                        resources of one fake second each)
#     --history-limit N  [10]  state.history_limit, small so that journals and
#                        job logs reach it and are pruned within minutes
# Environment: NICE [10], TMPDIR, KEEP=1 (keep the work dir: daemon.log,
# traffic.txt with every request, scrapes.txt with every scrape).
#
# Load, all at once for the whole run:
#   - the scheduler: every workspace deploys and destroys every PERIOD s
#     (staggered over the seconds of the period), through the fake tofu;
#     journals and job logs are pruned continuously once they reach
#     history_limit
#   - API traffic (one process; a quarter of the requests on a new
#     connection, the rest on a keep-alive one): workspace list and status,
#     job lists (one workspace, and all), a job and its log, manual deploys
#     and destroys (most with an `until`), pause (with `until`) and resume,
#     cancels of queued or running jobs, /health, /ready, /health/deep
#   - a /metrics scrape every SCRAPE_INTERVAL s (another process)
# Every SAMPLE_INTERVAL s a table row: RSS and VmHWM, open fds
# (/proc/PID/fd), threads (/proc/PID/status), live and zombie children,
# jobs completed and per minute, API requests, unexpected answers and p99 in
# the window, the slowest scrape, and the size of the state dir.
#
# At the end: for RSS, fds, threads, zombies and the state dir, the mean of
# the second quarter (after a quarter of warm-up) against the mean of the
# last quarter and the least-squares slope per hour over both; "GROWING"
# when the last quarter is above the second by more than max(2 MiB, 2%) for
# RSS, 2 for fds and threads, 0.5 for zombies, max(1 MB, 10%) for the state
# dir (only a warning: the journals fill up to history_limit first, which
# takes about 3 min at the defaults; a state dir still growing after that
# is a leak of journals or job logs). Then the API latency and statuses per
# kind of request, the jobs by result, the schedule fires by outcome, the
# stop (SIGTERM to exit, tofu processes left over) and the daemon log's
# warnings and errors, grouped.
# Exit 1 when RSS, fds, threads or zombies grow, the daemon died or stopped
# uncleanly, or a request or scrape got a 5xx or no answer.
set -euo pipefail

# shellcheck source=bench/lib.sh
. "$(dirname "$0")/lib.sh"
run_daemon_bench soak soak.py "[--minutes M] ..." "$@"
