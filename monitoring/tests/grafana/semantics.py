#!/usr/bin/env python3
"""Check what the trickiest dashboard expressions compute, on synthetic series.

operations-kit.md §4.4 item 3: the expressions are taken from the dashboards (through
extract_exprs.py, so they cannot drift from what Grafana runs), put in a
`promtool test rules` file with input series shaped like docs/metrics.md, and their values
asserted. Covers the pitfalls of operations-kit.md §0: ratios summed before dividing (0.2),
the real `result` values (0.3), cancelled jobs outside the success rate, the savings join on
cost_per_hour, `or vector(0)` fallbacks, operation filters on histograms.

    semantics.py [--keep FILE]     # exit 0 ok, 1 failure, 77 promtool missing

Python 3 standard library only; needs promtool (Debian package prometheus).
"""

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import extract_exprs  # noqa: E402

L = 'job="provisioner",instance="h:9090"'
STUCK = 'job="provisioner",instance="stuck:9090"'

# Synthetic scrape every minute for an hour; every check evaluates at 60m, where the
# dashboards' $__range (1h) covers exactly the 61 samples.
SERIES = {
    "main": [
        # jobs: 180 succeeded, 60 no_changes, 120 failed, 300 cancelled in the hour
        (f'provisioner_jobs_completed_total{{{L},result="succeeded"}}', "0+3x60"),
        (f'provisioner_jobs_completed_total{{{L},result="no_changes"}}', "0+1x60"),
        (f'provisioner_jobs_completed_total{{{L},result="failed"}}', "0+2x60"),
        (f'provisioner_jobs_completed_total{{{L},result="timeout"}}', "0+0x60"),
        (f'provisioner_jobs_completed_total{{{L},result="cancelled"}}', "0+5x60"),
        (f'provisioner_jobs_completed_total{{{L},result="interrupted"}}', "0+0x60"),
        # deploys of a take 300 s each; destroys (other operation) 10000 s each
        (f'provisioner_deployment_duration_seconds_sum{{{L},workspace="a",operation="deploy"}}',
         "0+300x60"),
        (f'provisioner_deployment_duration_seconds_count{{{L},workspace="a",operation="deploy"}}',
         "0+1x60"),
        (f'provisioner_deployment_duration_seconds_sum{{{L},workspace="a",operation="destroy"}}',
         "0+10000x60"),
        (f'provisioner_deployment_duration_seconds_count{{{L},workspace="a",operation="destroy"}}',
         "0+1x60"),
        (f'provisioner_deployment_failures_total{{{L},workspace="a",operation="deploy"}}', "0+1x60"),
        (f'provisioner_deployment_failures_total{{{L},workspace="b",operation="deploy"}}', "0+0x60"),
        # savings: a destroyed all hour (cost 2.5/h), b half the hour (no cost), c never
        (f'provisioner_estimated_savings_seconds_total{{{L},workspace="a"}}', "0+60x60"),
        (f'provisioner_estimated_savings_seconds_total{{{L},workspace="b"}}', "0+30x60"),
        (f'provisioner_estimated_savings_seconds_total{{{L},workspace="c"}}', "0+0x60"),
        (f'provisioner_workspace_cost_per_hour{{{L},workspace="a"}}', "2.5+0x60"),
        # fires: 60 ran, 60 coalesced, 120 missed -> efficiency 0.5, 120 not run
        (f'provisioner_schedule_fires_total{{{L},workspace="a",action="deploy",outcome="ran"}}',
         "0+1x60"),
        (f'provisioner_schedule_fires_total{{{L},workspace="b",action="deploy",outcome="coalesced"}}',
         "0+1x60"),
        (f'provisioner_schedule_fires_total{{{L},workspace="b",action="destroy",outcome="missed"}}',
         "0+2x60"),
        # scheduler: one instance ticking, one stuck for the whole hour
        (f'provisioner_scheduler_loop_duration_seconds_count{{{L}}}', "0+2x60"),
        (f'provisioner_scheduler_loop_duration_seconds_count{{{STUCK}}}', "5+0x60"),
        # next deploy of a at t=7200 s
        (f'provisioner_workspace_next_action_timestamp_seconds{{{L},workspace="a",action="deploy"}}',
         "7200+0x60"),
        # HTTP: /metrics (not API) 9/min; API: one 500, one 202 and one 409 per minute
        (f'http_requests_total{{{L},method="GET",endpoint="/metrics",status="200"}}', "0+9x60"),
        (f'http_requests_total{{{L},method="GET",endpoint="/api/v1/workspaces",status="500"}}',
         "0+1x60"),
        (f'http_requests_total{{{L},method="POST",endpoint="/api/v1/workspaces/:name/deploy",status="202"}}',
         "0+1x60"),
        (f'http_requests_total{{{L},method="POST",endpoint="/api/v1/workspaces/:name/deploy",status="409"}}',
         "0+1x60"),
        (f'provisioner_manual_actions_total{{{L},action="deploy",user="alice"}}', "0+1x60"),
        (f'provisioner_manual_actions_total{{{L},action="pause",user="-"}}', "0+0x58 1 2"),
        (f'provisioner_template_workspaces{{{L},template="web"}}', "3+0x60"),
        (f'provisioner_template_workspaces{{{L},template="db"}}', "1+0x60"),
        (f'process_open_fds{{{L}}}', "50+0x60"),
        (f'process_max_fds{{{L}}}', "1000+0x60"),
        (f'provisioner_workspace_deployed{{{L},workspace="a"}}', "0+0x60"),
        (f'provisioner_workspace_deployed{{{L},workspace="b"}}', "1+0x60"),
    ],
    # A quiet hour: no 5xx, no fire other than ran, no cost configured, no job finished.
    "quiet": [
        (f'http_requests_total{{{L},method="GET",endpoint="/metrics",status="200"}}', "0+9x60"),
        (f'http_requests_total{{{L},method="GET",endpoint="/api/v1/workspaces",status="200"}}',
         "0+1x60"),
        (f'provisioner_schedule_fires_total{{{L},workspace="a",action="deploy",outcome="ran"}}',
         "0+1x60"),
        (f'provisioner_estimated_savings_seconds_total{{{L},workspace="a"}}', "0+60x60"),
        (f'provisioner_jobs_completed_total{{{L},result="succeeded"}}', "0+0x60"),
        (f'provisioner_jobs_completed_total{{{L},result="failed"}}', "0+0x60"),
    ],
    # Nobody used the API: only Prometheus scrapes.
    "idle": [
        (f'http_requests_total{{{L},method="GET",endpoint="/metrics",status="200"}}', "0+9x60"),
    ],
}

# (fixture, dashboard uid, panel, refId) -> expected samples [(labels, value)].
# An empty list asserts an empty result.
EXPECT = [
    ("main", "provisioner-operations", "Deployment success rate", "A",
     [("{}", 240 / 360)]),  # cancelled counts neither way; 0.2: summed before dividing
    ("main", "provisioner-operations", "Average deployment duration", "A", [("{}", 300)]),
    ("main", "provisioner-operations", "Scheduler status", "B",
     [(f"{{{L}}}", 1), (f"{{{STUCK}}}", 0)]),
    ("main", "provisioner-operations", "Errors by workspace", "A",
     [('{workspace="a",operation="deploy"}', 60), ('{workspace="b",operation="deploy"}', 0)]),
    ("main", "provisioner-operations", "Schedule fires not run", "A", [("{}", 120)]),
    ("main", "provisioner-operations", "Next actions", "A",
     [(f'{{{L},workspace="a",action="deploy"}}', 3600)]),
    ("main", "provisioner-performance", "API 5xx ratio", "A", [("{}", 1 / 3)]),
    ("main", "provisioner-performance", "File descriptor usage", "A", [(f"{{{L}}}", 0.05)]),
    ("main", "provisioner-business", "Estimated cost savings", "A", [("{}", 2.5)]),
    ("main", "provisioner-business", "Cost savings by workspace", "A",
     [('{workspace="a"}', 2.5)]),
    ("main", "provisioner-business", "Hours destroyed (savings)", "A", [("{}", 1.5)]),
    ("main", "provisioner-business", "Share of time destroyed", "A",
     [('{workspace="a"}', 1), ('{workspace="b"}', 0.5), ('{workspace="c"}', 0)]),
    ("main", "provisioner-business", "Schedule efficiency", "A", [("{}", 0.5)]),
    ("main", "provisioner-business", "Manual actions by user", "A",
     [('{user="alice",action="deploy"}', 60), ('{user="-",action="pause"}', 2)]),
    ("main", "provisioner-business", "Template usage", "A",
     [('{template="web"}', 3), ('{template="db"}', 1)]),
    ("main", "provisioner-business", "Deployed workspaces", "A", [("{}", 1)]),
    ("quiet", "provisioner-performance", "API 5xx ratio", "A", [("{}", 0)]),
    ("idle", "provisioner-performance", "API 5xx ratio", "A",
     [("{}", "NaN")]),  # shown as "no API requests" by a value mapping
    ("quiet", "provisioner-operations", "Schedule fires not run", "A", [("{}", 0)]),
    ("quiet", "provisioner-business", "Schedule efficiency", "A", [("{}", 1)]),
    ("quiet", "provisioner-business", "Estimated cost savings", "A", []),  # EMPTY_WHEN
    ("quiet", "provisioner-operations", "Deployment success rate", "A",
     [("{}", "NaN")]),  # no job finished: NaN, shown as "no jobs" by a value mapping
]


def build(rows):
    by_key = {(r["uid"], r["panel"], r["refId"]): r["expr"] for r in rows}
    tests, missing = [], []
    for fixture in SERIES:
        cases = []
        for fx, uid, panel, ref, samples in EXPECT:
            if fx != fixture:
                continue
            expr = by_key.get((uid, panel, ref))
            if expr is None:
                missing.append(f"{uid} / {panel} / {ref}")
                continue
            if samples == [("{}", "NaN")]:
                # promtool 2.42 cannot compare NaN (NaN != NaN): assert "is NaN" instead.
                expr, samples = f"count(({expr}) != ({expr}))", [("{}", 1)]
            case = {"expr": expr, "eval_time": "60m",
                    "exp_samples": [{"labels": lab, "value": val} for lab, val in samples]}
            cases.append(case)
        tests.append({"interval": "1m",
                      "input_series": [{"series": s, "values": v} for s, v in SERIES[fixture]],
                      "promql_expr_test": cases})
    return {"rule_files": [], "evaluation_interval": "1m", "tests": tests}, missing


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--keep", help="also write the generated test file here")
    args = ap.parse_args()
    if shutil.which("promtool") is None:
        print("semantics.py: SKIP: promtool not found", file=sys.stderr)
        return 77
    here = os.path.dirname(os.path.abspath(__file__))
    files = sorted(
        os.path.join(here, "..", "..", "grafana", "dashboards", f)
        for f in os.listdir(os.path.join(here, "..", "..", "grafana", "dashboards"))
        if f.endswith(".json"))
    table = dict(extract_exprs.SUBSTITUTIONS)
    table["__rate_interval"] = "5m"  # five samples per window at the 1m fixture interval
    rows, errors = extract_exprs.extract(files, table, False)
    if errors:
        print("\n".join(errors), file=sys.stderr)
        return 1
    doc, missing = build(rows)
    if missing:
        print("semantics.py: no such dashboard target (renamed?): " + ", ".join(missing),
              file=sys.stderr)
        return 1
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "dashboard_semantics_test.yml")
        with open(path, "w") as f:
            json.dump(doc, f, indent=1)  # JSON is YAML: promtool reads it as it is
        if args.keep:
            shutil.copy(path, args.keep)
        res = subprocess.run(["promtool", "test", "rules", path], capture_output=True,
                             text=True, cwd=tmp)
    out = (res.stdout + res.stderr).strip()
    if res.returncode != 0:
        print(out)
        print(f"semantics.py: FAIL: promtool test rules exited {res.returncode}")
        return 1
    print(f"semantics ok: {len(EXPECT)} dashboard expressions gave the expected values "
          f"on synthetic series ({out.splitlines()[-1].strip()})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
