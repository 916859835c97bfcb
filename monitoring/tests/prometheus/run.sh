#!/usr/bin/env bash
# Checks the Prometheus configuration, rules and rule unit tests of monitoring/prometheus/.
#
#   monitoring/tests/prometheus/run.sh            # from any directory
#   PROMTOOL=/opt/prometheus/promtool run.sh      # another promtool (default: promtool on PATH)
#
# Steps (every step runs; the script fails at the end if any failed, and lists them):
#   1. promtool check config --lint-fatal prometheus.yml (which also checks the rule files it names)
#   2. promtool check rules --lint-fatal on every rules/*.yml
#   3. conventions promtool does not check: every alert has a severity of critical|warning|info,
#      a summary, a description and runbook_url = $RUNBOOK_BASE/<AlertName>.md, and is named in
#      at least one test; every test group sets `interval:` (promtool 2.42 has no default and
#      silently loads every sample at t=0)
#   4. promtool test rules on every *.yml next to this script
#
# Exit status: 0 all passed; 1 something failed; 77 promtool is missing (ctest's skip code),
# or 1 instead when PROVISIONER_REQUIRE_TOOLS=1 (CI, where a skip must not pass for green).
#
# Written for promtool 2.42 (Debian 12). check config does not need the basic_auth password_file
# or a tls ca_file to exist (it checks only rule_files, credentials_file and cert/key files), so
# the example config is checked in place; rule_files resolve against its directory.

set -euo pipefail

here="$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd -- "$here/../../.." && pwd)"
prom_dir="$repo/monitoring/prometheus"
config="$prom_dir/prometheus.yml"
RUNBOOK_BASE="https://github.com/provisioner/provisioner/blob/main/runbooks"
PROMTOOL="${PROMTOOL:-promtool}"

if ! command -v "$PROMTOOL" >/dev/null 2>&1; then
  echo "run.sh: '$PROMTOOL' not found: install promtool (Debian: apt-get install prometheus)," \
       "or set PROMTOOL=/path/to/promtool" >&2
  if [[ "${PROVISIONER_REQUIRE_TOOLS:-0}" == "1" ]]; then
    echo "run.sh: PROVISIONER_REQUIRE_TOOLS=1: failing instead of skipping" >&2
    exit 1
  fi
  echo "run.sh: SKIPPED" >&2
  exit 77
fi

shopt -s nullglob
rule_files=("$prom_dir"/rules/*.yml)
test_files=("$here"/*.yml)
shopt -u nullglob

failures=()

# Runs one step, prints its output, and records it when it fails.
step() {
  local what="$1"
  shift
  echo "==> $what"
  if "$@"; then
    return 0
  fi
  failures+=("$what")
  return 0
}

# Step 3: conventions. Prints one line per problem; fails when there is any.
check_conventions() {
  local problems=0
  if ((${#rule_files[@]} == 0)); then
    echo "no rule files in $prom_dir/rules"
    return 1
  fi
  # Rule blocks: from one "- alert:"/"- record:" to the next. One key per line, as written.
  local report
  report="$(awk -v base="$RUNBOOK_BASE" '
    function finish() {
      if (name == "") return
      if (!sev) printf "%s: alert %s: no severity label of critical|warning|info\n", file, name
      if (!sum) printf "%s: alert %s: no summary annotation\n", file, name
      if (!desc) printf "%s: alert %s: no description annotation\n", file, name
      if (rb != base "/" name ".md")
        printf "%s: alert %s: runbook_url is \"%s\", want \"%s/%s.md\"\n", file, name, rb, base, name
      name = ""
    }
    FNR == 1 { finish(); file = FILENAME }
    /^[[:space:]]*- (alert|record):/ {
      finish()
      if ($2 == "alert:") { name = $3; sev = sum = desc = 0; rb = "" }
      next
    }
    name != "" && /^[[:space:]]*severity:[[:space:]]*(critical|warning|info)[[:space:]]*$/ { sev = 1 }
    name != "" && /^[[:space:]]*summary:/ { sum = 1 }
    name != "" && /^[[:space:]]*description:/ { desc = 1 }
    name != "" && /^[[:space:]]*runbook_url:/ { rb = $2 }
    END { finish() }
  ' "${rule_files[@]}")"
  if [[ -n "$report" ]]; then
    echo "$report"
    problems=1
  fi

  local alert
  while read -r alert; do
    if ! grep -qE "^[[:space:]]*alertname:[[:space:]]*${alert}[[:space:]]*$" "${test_files[@]}"; then
      echo "alert $alert has no test (no 'alertname: $alert' in $here/*.yml)"
      problems=1
    fi
  done < <(sed -nE 's/^[[:space:]]*- alert:[[:space:]]*([A-Za-z0-9_]+).*/\1/p' "${rule_files[@]}" | sort -u)

  local f groups intervals
  for f in "${test_files[@]}"; do
    groups="$(grep -cE '^[[:space:]]*input_series:' "$f" || true)"
    intervals="$(grep -cE '^[[:space:]]+interval:' "$f" || true)"
    if [[ "$groups" != "$intervals" ]]; then
      echo "$f: $groups test groups but $intervals 'interval:' lines (promtool 2.42 has no default interval)"
      problems=1
    fi
  done

  if ((problems == 0)); then
    echo "  SUCCESS: ${#rule_files[@]} rule files, every alert labelled, annotated, linked and tested"
  fi
  return "$problems"
}

echo "promtool: $("$PROMTOOL" --version 2>&1 | head -n 1)"

step "promtool check config --lint-fatal ${config#"$repo/"}" \
  "$PROMTOOL" check config --lint-fatal "$config"

for f in "${rule_files[@]}"; do
  step "promtool check rules --lint-fatal rules/$(basename "$f")" \
    "$PROMTOOL" check rules --lint-fatal "$f"
done

if ((${#test_files[@]} == 0)); then
  echo "==> no test files in $here"
  failures+=("no test files")
else
  step "conventions (severity, summary, description, runbook_url, tests, interval)" check_conventions
  for f in "${test_files[@]}"; do
    step "promtool test rules $(basename "$f")" "$PROMTOOL" test rules "$f"
  done
fi

echo
if ((${#failures[@]} > 0)); then
  echo "FAILED (${#failures[@]}):"
  printf '  - %s\n' "${failures[@]}"
  exit 1
fi
echo "All Prometheus checks passed."
