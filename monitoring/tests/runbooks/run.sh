#!/usr/bin/env bash
# Checks runbooks/ against monitoring/prometheus/rules/*.yml (check.py has the details):
#   1. check.py --self-test: every check fails on a bad copy of a small fixture, with PyYAML
#      and with the line parser, and both parsers read the same alerts from the real rules;
#   2. check.py on the repository: every alert has a page and every page an alert, every
#      runbook_url names the alert's page, every page has the sections Meaning, Impact,
#      Diagnosis, Mitigation, Escalation in order and none empty, the README index lists every
#      page with its severities, and every relative link (and #anchor) resolves.
#
#   monitoring/tests/runbooks/run.sh               # both steps, from any directory
#   monitoring/tests/runbooks/run.sh --self-test   # step 1 only
#   monitoring/tests/runbooks/run.sh --check       # step 2 only
#
# Needs python3; PyYAML (Debian: python3-yaml) is used when installed, else a line parser.
# Exit 0: all passed; 1: a check failed; 77: python3 is missing (ctest's skip code), or 1
# instead when PROVISIONER_REQUIRE_TOOLS=1.
set -euo pipefail

src="${BASH_SOURCE[0]}"
[[ "${src}" == */* ]] || src="./${src}"
here="$(cd -- "${src%/*}" && pwd)"
repo="$(cd -- "${here}/../../.." && pwd)"

if ! command -v python3 >/dev/null 2>&1; then
  if [[ "${PROVISIONER_REQUIRE_TOOLS:-0}" == "1" ]]; then
    echo "run.sh: FAIL: python3 not found, and PROVISIONER_REQUIRE_TOOLS=1 (apt-get install python3)" >&2
    exit 1
  fi
  echo "run.sh: SKIP: python3 not found (Debian 12: apt-get install python3);" \
       "set PROVISIONER_REQUIRE_TOOLS=1 to make this a failure" >&2
  exit 77
fi

mode="${1:-all}"
case "${mode}" in
  all | --self-test | --check) ;;
  *)
    echo "usage: $0 [--self-test | --check]" >&2
    exit 2
    ;;
esac

py=(python3 -B "${here}/check.py" --repo "${repo}")
if ! python3 -c 'import yaml' >/dev/null 2>&1; then
  echo "run.sh: note: PyYAML not installed (apt-get install python3-yaml); using the line parser"
fi

if [[ "${mode}" != "--check" ]]; then
  echo "== self-test: every check can fail"
  "${py[@]}" --self-test
fi
if [[ "${mode}" != "--self-test" ]]; then
  echo "== runbooks/ against monitoring/prometheus/rules/"
  "${py[@]}"
fi
