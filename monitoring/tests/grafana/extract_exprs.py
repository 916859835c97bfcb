#!/usr/bin/env python3
"""Print every PromQL expression of the provisioner dashboards, ready for a real Prometheus.

One JSON object per line:
    {"dashboard": TITLE, "panel": TITLE, "refId": "A", "expr": "...",
     "uid": DASHBOARD_UID, "kind": "target", "empty_when": null | "reason"}

The first four keys are the contract; the others help a consumer:
  * "kind" is "target" for panel queries and "variable" for the PromQL argument of a
    template variable's label_values()/query_result() (only with --variables);
  * "empty_when" is null when the expression returns data on any healthy daemon that has
    at least one workspace configured and has been scraped for a few intervals, and
    otherwise says when an empty result is expected (see EMPTY_WHEN below).

Grafana variables are replaced by the values in SUBSTITUTIONS (override with
--set NAME=VALUE). An unknown variable is an error: add it to the table.

    extract_exprs.py [--variables] [--set job=.+] [--as-rules] [FILE.json ...]

--as-rules prints a Prometheus rule file instead (one recording rule per expression,
one group per expression, the group named after dashboard / panel / refId), for
`promtool check rules`. Python 3 standard library only.
"""

import argparse
import glob
import json
import os
import re
import signal
import sys

# Grafana variable -> concrete value for a real Prometheus. Explicit on purpose.
SUBSTITUTIONS = {
    # Global (built-in) variables.
    "__rate_interval": "1m",   # Grafana: max($__interval + scrape interval, 4 x scrape interval)
    "__interval": "1m",        # step-sized window of "per interval" bar panels
    "__interval_ms": "60000",  # the same, in milliseconds (a number)
    "__range": "1h",           # the dashboard's time range
    "__range_s": "3600",       # the same, in seconds (a number)
    "__range_ms": "3600000",   # the same, in milliseconds (a number)
    # Dashboard variables (what "All" sends, except job: the docs' scrape job name).
    "job": "provisioner",      # job_name of docs/metrics.md's scrape_configs example
    "instance": ".+",          # the variable's allValue: every instance
    "workspace": ".*",         # the variable's allValue: every workspace
}
# Variables that must never appear inside an expression (they are data source refs).
NOT_IN_EXPRESSIONS = {"datasource"}

# (dashboard uid, panel title, refId) -> when an empty result is expected on a healthy
# daemon. Every other expression must return data once Prometheus has scraped a daemon
# with at least one configured workspace for a few intervals (all per-workspace panels
# are empty while no workspace is configured, and every provisioner_* level is absent
# until the daemon has loaded its config and state: docs/metrics.md "Conventions").
_NO_JOB = ("until a job has finished: per-workspace job series appear with the "
           "workspace's first job (docs/metrics.md, Conventions)")
_NO_FIRE = ("until a schedule has fired: provisioner_schedule_fires_total series appear "
            "with each workspace's first fire")
_NO_COST = "while no workspace sets cost_per_hour (provisioner_workspace_cost_per_hour absent)"
EMPTY_WHEN = {
    ("provisioner-operations", "Average deployment duration", "A"):
        "until a deploy job has finished (the duration histogram of a workspace appears "
        "with its first finished job)",
    ("provisioner-operations", "Errors by workspace", "A"): _NO_JOB,
    ("provisioner-operations", "Next actions", "A"):
        "while no workspace has a scheduled next deploy or destroy",
    ("provisioner-operations", "Next actions", "B"):
        "while no workspace has a scheduled next deploy or destroy",
    ("provisioner-business", "Estimated cost savings", "A"): _NO_COST,
    ("provisioner-business", "Cost savings by workspace", "A"): _NO_COST,
    ("provisioner-business", "Schedule efficiency", "A"): _NO_FIRE,
    ("provisioner-business", "Schedule fires by outcome", "A"): _NO_FIRE,
    ("provisioner-business", "Deployment trends", "A"): _NO_JOB,
    ("provisioner-business", "Manual actions by user", "A"):
        "until a manual action was accepted (deploy, destroy, pause, resume or cancel): "
        "provisioner_manual_actions_total series appear with their first action",
}

VARIABLE_RE = re.compile(r"\$\{([A-Za-z0-9_]+)(?::[A-Za-z0-9_]+)?\}|\$([A-Za-z0-9_]+)"
                         r"|\[\[([A-Za-z0-9_]+)\]\]")


class UnknownVariable(Exception):
    pass


def substitute(expr, table):
    def repl(m):
        name = m.group(1) or m.group(2) or m.group(3)
        if name in NOT_IN_EXPRESSIONS or name not in table:
            raise UnknownVariable(name)
        return table[name]

    return VARIABLE_RE.sub(repl, expr)


def panels(dash):
    for p in dash.get("panels") or []:
        yield p
        yield from p.get("panels") or []


def variable_exprs(dash):
    """The PromQL argument of label_values(sel, label) / query_result(expr) variables."""
    for v in (dash.get("templating") or {}).get("list") or []:
        if v.get("type") != "query":
            continue
        q = v.get("query")
        q = q.get("query", "") if isinstance(q, dict) else (q or "")
        m = re.fullmatch(r"\s*(label_values|query_result)\((.*)\)\s*", q, re.S)
        if not m:
            continue
        arg = m.group(2)
        if m.group(1) == "label_values":
            depth, cut = 0, None
            for i, ch in enumerate(arg):
                if ch in "({[":
                    depth += 1
                elif ch in ")}]":
                    depth -= 1
                elif ch == "," and depth == 0:
                    cut = i
            if cut is None:
                continue  # label_values(label): no PromQL
            arg = arg[:cut]
        yield v.get("name"), arg.strip()


def extract(paths, table, with_variables):
    rows, errors = [], []
    for path in paths:
        with open(path, encoding="utf-8") as f:
            dash = json.load(f)
        title, uid = dash.get("title"), dash.get("uid")
        items = []
        for p in panels(dash):
            for t in p.get("targets") or []:
                if t.get("expr"):
                    items.append(("target", p.get("title"), t.get("refId"), t["expr"]))
        if with_variables:
            for name, expr in variable_exprs(dash):
                items.append(("variable", f"variable ${name}", "query", expr))
        for kind, panel, ref, expr in items:
            try:
                concrete = substitute(expr, table)
            except UnknownVariable as e:
                errors.append(f"{os.path.relpath(path)}: {title} / {panel} / {ref}: variable "
                              f"${e} has no substitution (add it to SUBSTITUTIONS)")
                continue
            rows.append({"dashboard": title, "panel": panel, "refId": ref, "expr": concrete,
                         "uid": uid, "kind": kind,
                         "empty_when": EMPTY_WHEN.get((uid, panel, ref))})
    # An entry for an extracted dashboard that matches nothing is stale (renamed panel).
    seen = {(r["uid"], r["panel"], r["refId"]) for r in rows}
    for key in sorted(EMPTY_WHEN):
        if key[0] in {r["uid"] for r in rows} and key not in seen:
            errors.append(f"EMPTY_WHEN entry {key} matches no target (renamed panel?)")
    return rows, errors


def as_rules(rows):
    out = ["# Generated by extract_exprs.py --as-rules: every dashboard expression as a",
           "# recording rule, for `promtool check rules` (syntax only).", "groups:"]
    for i, r in enumerate(rows, 1):
        group = f"{r['dashboard']} / {r['panel']} / {r['refId']} #{i}"
        out.append(f"  - name: {json.dumps(group)}")
        out.append("    rules:")
        out.append(f"      - record: dashboard_expr:check_{i}")
        out.append(f"        expr: {json.dumps(r['expr'])}")
    return "\n".join(out) + "\n"


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("files", nargs="*", help="dashboard JSON files (default: all)")
    ap.add_argument("--set", action="append", default=[], metavar="NAME=VALUE",
                    help="override a substitution, e.g. --set job=.+")
    ap.add_argument("--variables", action="store_true",
                    help="also print the PromQL of template variable queries")
    ap.add_argument("--as-rules", action="store_true",
                    help="print a Prometheus rule file instead of JSON lines")
    ap.add_argument("--table", action="store_true", help="print the substitution table")
    args = ap.parse_args()
    signal.signal(signal.SIGPIPE, signal.SIG_DFL)  # `| head` is fine
    table = dict(SUBSTITUTIONS)
    for item in args.set:
        name, sep, value = item.partition("=")
        if not sep:
            ap.error(f"--set needs NAME=VALUE, got {item!r}")
        table[name.lstrip("$")] = value
    if args.table:
        for name, value in table.items():
            print(f"${name} -> {value}")
        for name in sorted(NOT_IN_EXPRESSIONS):
            print(f"${name} -> (not allowed in expressions: data source reference)")
        return 0
    files = args.files
    if not files:
        here = os.path.dirname(os.path.abspath(__file__))
        files = sorted(glob.glob(os.path.join(here, "..", "..", "grafana", "dashboards",
                                              "*.json")))
    if not files:
        print("no dashboards found", file=sys.stderr)
        return 1
    rows, errors = extract(files, table, args.variables)
    for e in errors:
        print(e, file=sys.stderr)
    if errors:
        return 2
    if args.as_rules:
        sys.stdout.write(as_rules(rows))
    else:
        for r in rows:
            print(json.dumps(r, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    sys.exit(main())
