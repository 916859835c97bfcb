#!/usr/bin/env bash
# Offline checks of the Grafana dashboards (operations-kit.md §4.4, items 1 to 3):
#   1. the linter's self-test (every rule catches a bad dashboard),
#   2. the linter on monitoring/grafana/dashboards/*.json (dashboard-linter v0.2.0 rules
#      plus structural checks, metric names checked against docs/metrics.md),
#   3. every PromQL expression, with Grafana variables substituted, parsed by
#      `promtool check rules` (each expression written as a recording rule),
#   4. the values of the trickiest expressions on synthetic series (`promtool test rules`,
#      semantics.py; §4.4 item 3).
# Needs python3 and promtool (Debian package prometheus, 2.42). Works from any cwd.
# Exit 0: all passed; 1: a check failed; 77: python3 or promtool missing (ctest
# SKIP_RETURN_CODE), or 1 instead when PROVISIONER_REQUIRE_TOOLS=1.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "${here}/../../.." && pwd)"
dashboards="${root}/monitoring/grafana/dashboards"
py=(python3 -B)

missing_tool() {
  if [[ "${PROVISIONER_REQUIRE_TOOLS:-0}" == 1 ]]; then
    echo "run.sh: FAIL: $1 not found, and PROVISIONER_REQUIRE_TOOLS=1 (apt-get install $2)" >&2
    exit 1
  fi
  echo "run.sh: SKIP: $1 not found (Debian 12: apt-get install $2);" \
       "set PROVISIONER_REQUIRE_TOOLS=1 to make this a failure" >&2
  exit 77
}

command -v python3 >/dev/null 2>&1 || missing_tool python3 python3

echo "== linter self-test"
"${py[@]}" "${here}/lint_dashboards.py" --self-test

echo "== lint ${dashboards#"${root}/"}/*.json"
(cd "${root}" && "${py[@]}" "${here}/lint_dashboards.py" --metrics-doc docs/metrics.md \
  monitoring/grafana/dashboards/*.json)

echo "== PromQL syntax (promtool check rules)"
# The Python checks above ran without promtool; a skip here hides no lint failure.
command -v promtool >/dev/null 2>&1 || missing_tool promtool prometheus
promtool --version 2>&1 | head -n 1

tmp="$(mktemp -d)"
trap 'rm -rf "${tmp}"' EXIT

"${py[@]}" "${here}/extract_exprs.py" --variables "${dashboards}"/*.json >"${tmp}/exprs.jsonl"
"${py[@]}" "${here}/extract_exprs.py" --variables --as-rules "${dashboards}"/*.json \
  >"${tmp}/dashboard-exprs.rules.yml"
n_exprs="$(wc -l <"${tmp}/exprs.jsonl")"
n_rules="$(grep -c '^      - record: ' "${tmp}/dashboard-exprs.rules.yml" || true)"
if [[ "${n_exprs}" -eq 0 || "${n_exprs}" != "${n_rules}" ]]; then
  echo "run.sh: extracted ${n_exprs} expressions but wrote ${n_rules} rules" >&2
  exit 1
fi
# --lint-fatal: a duplicated rule would mean the extraction lost track of a panel.
if ! promtool check rules --lint-fatal "${tmp}/dashboard-exprs.rules.yml" \
    >"${tmp}/promtool.out" 2>&1; then
  cat "${tmp}/promtool.out" >&2
  echo "run.sh: FAIL: promtool rejected a dashboard expression (group names say which)" >&2
  exit 1
fi
sed "s|${tmp}/||" "${tmp}/promtool.out"
n_empty="$("${py[@]}" -c 'import json,sys; print(sum(1 for l in sys.stdin if json.loads(l)["empty_when"]))' \
  <"${tmp}/exprs.jsonl")"
echo "OK: ${n_exprs} expressions parse (${n_empty} may be empty on a young or idle daemon," \
     "see extract_exprs.py EMPTY_WHEN)"

echo "== PromQL semantics on synthetic series (promtool test rules)"
"${py[@]}" "${here}/semantics.py"
