#!/usr/bin/env bash
# Tests monitoring/alertmanager/alertmanager.yml with the Alertmanager 0.25 tools:
#   1. `amtool check-config`, and no secret given inline (only *_file fields).
#   2. `amtool config routes test --verify.receivers`: the receiver of each severity, with and
#      without a workspace label.
#   3. Inhibition, against a real prometheus-alertmanager started here on 127.0.0.1 with the
#      same routes and inhibit rules and loopback-only receivers: the state and inhibitedBy
#      of each alert in /api/v2/alerts.
# Usage: run.sh (from any directory). Exit 0: all passed; 1: a check failed; 77: a tool is
# missing (ctest SKIP_RETURN_CODE), or 1 instead when PROVISIONER_REQUIRE_TOOLS=1.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
config="$here/../../alertmanager/alertmanager.yml"

missing_tool() {
  if [ "${PROVISIONER_REQUIRE_TOOLS:-0}" = 1 ]; then
    echo "FAIL: $1 not found, and PROVISIONER_REQUIRE_TOOLS=1" >&2
    exit 1
  fi
  echo "SKIP: $1 not found (Debian 12: apt-get install $2); alertmanager tests not run" >&2
  exit 77
}
command -v amtool >/dev/null || missing_tool amtool prometheus-alertmanager
# Debian names the server prometheus-alertmanager; an upstream tarball names it alertmanager.
am_bin=$(command -v prometheus-alertmanager || command -v alertmanager) ||
  missing_tool prometheus-alertmanager prometheus-alertmanager
command -v curl >/dev/null || missing_tool curl curl
command -v jq >/dev/null || missing_tool jq jq
[ -f "$config" ] || { echo "FAIL: $config not found" >&2; exit 1; }

tmp=$(mktemp -d)
am_pid=
cleanup() {
  if [ -n "$am_pid" ]; then
    kill "$am_pid" 2>/dev/null || true
    wait "$am_pid" 2>/dev/null || true
  fi
  rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
# amtool also reads $HOME/.config/prometheus/amtool.yml; keep a developer's defaults out.
export HOME="$tmp"

failures=0
pass() { echo "ok - $1"; }
fail() { echo "not ok - $1"; failures=$((failures + 1)); }
indent() { sed 's/^/    /'; }

# --- 1. Static checks -----------------------------------------------------------------------
# The *_file secrets need not exist: 0.25 reads them when it sends a notification, not when it
# loads the config, so check-config runs on the file as it is (the placeholder paths under
# /etc/alertmanager/secrets/ do not exist on a build machine).
if out=$(amtool check-config "$config" 2>&1); then
  pass "amtool check-config"
else
  fail "amtool check-config"
  indent <<<"$out"
fi

# Alertmanager does not expand ${ENV}; a secret must come from a *_file field.
if inline=$(grep -nE '^[^#]*(\$\{|(routing_key|service_key|api_url|slack_api_url|auth_password|smtp_auth_password|api_key|url):)' "$config"); then
  fail "no inline secret or \${ENV} in the config"
  indent <<<"$inline"
else
  pass "no inline secret or \${ENV} in the config"
fi

# --- 2. Routing -----------------------------------------------------------------------------
# route_case NAME EXPECTED_RECEIVERS LABEL=VALUE...
# amtool ignores active_time_intervals here, so the warning route resolves at any hour.
route_case() {
  local name=$1 expected=$2 out
  shift 2
  if out=$(amtool config routes test --config.file="$config" --verify.receivers="$expected" \
             "$@" 2>/dev/null) && [ "$out" = "$expected" ]; then
    pass "route: $name -> $expected"
  else
    fail "route: $name -> $expected (got: ${out//$'\n'/ })"
  fi
}
route_case "critical with workspace" critical \
  alertname=HighDeploymentFailureRate severity=critical workspace=w1 instance=h:9090 job=provisioner
route_case "critical without workspace" critical \
  alertname=SchedulerDown severity=critical instance=h:9090 job=provisioner
route_case "warning with workspace" warning \
  alertname=LongRunningDeployment severity=warning workspace=w1 instance=h:9090 job=provisioner
route_case "warning without workspace" warning \
  alertname=ConfigReloadFailure severity=warning instance=h:9090 job=provisioner
route_case "info with workspace" log-only \
  alertname=SomeInfo severity=info workspace=w1 instance=h:9090 job=provisioner
route_case "info without workspace" log-only \
  alertname=SomeInfo severity=info instance=h:9090 job=provisioner
route_case "no severity label" warning alertname=Mislabelled instance=h:9090 job=provisioner
route_case "unknown severity" warning alertname=Mislabelled severity=page instance=h:9090

# --- 3. Inhibition against a live Alertmanager ----------------------------------------------
# The live config is the real one with its receivers section replaced: each receiver keeps its
# name and gets one webhook to a loopback port nobody listens on, so nothing leaves the host.
# (The real file ends with `receivers:`; see the comment there.)
port_in_use() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
pick_port() {
  local p
  while :; do
    p=$((20000 + RANDOM % 40000))
    port_in_use "$p" || { echo "$p"; return; }
  done
}
dead_port=$(pick_port)
live_config="$tmp/alertmanager.yml"
awk -v url="http://127.0.0.1:$dead_port/" '
  /^[A-Za-z_]+:/ { in_receivers = ($1 == "receivers:") }
  !in_receivers { print; next }
  /^  - name:/ { names[++n] = $3 }
  END {
    print "receivers:"
    for (i = 1; i <= n; i++)
      printf "  - name: %s\n    webhook_configs:\n      - url: %s%s\n", names[i], url, names[i]
  }' "$config" >"$live_config"
if grep -nE 'pagerduty_configs|slack_configs|email_configs' "$live_config"; then
  fail "loopback-only variant of the config has no real receiver"
  exit 1
fi
if ! out=$(amtool check-config "$live_config" 2>&1); then
  fail "amtool check-config on the loopback-only variant"
  indent <<<"$out"
  exit 1
fi

# Starts the server on a free port; retries when another process took the port meanwhile.
start_alertmanager() {
  local attempt deadline
  for attempt in 1 2 3 4 5; do
    am_port=$(pick_port)
    am_url="http://127.0.0.1:$am_port"
    rm -rf "$tmp/data"
    # An empty --cluster.listen-address disables the gossip listener (default 0.0.0.0:9094).
    "$am_bin" --config.file="$live_config" --storage.path="$tmp/data" \
      --web.listen-address="127.0.0.1:$am_port" --cluster.listen-address= \
      >"$tmp/alertmanager.log" 2>&1 &
    am_pid=$!
    deadline=$((SECONDS + 10))
    while [ "$SECONDS" -lt "$deadline" ] && kill -0 "$am_pid" 2>/dev/null; do
      if curl -fsS -o /dev/null "$am_url/-/ready" 2>/dev/null; then return 0; fi
      sleep 0.1
    done
    kill "$am_pid" 2>/dev/null || true
    wait "$am_pid" 2>/dev/null || true
    am_pid=
    echo "# alertmanager did not get ready on port $am_port (attempt $attempt)"
  done
  return 1
}
if ! start_alertmanager; then
  fail "prometheus-alertmanager started on 127.0.0.1"
  indent <"$tmp/alertmanager.log"
  exit 1
fi
pass "prometheus-alertmanager started on 127.0.0.1:$am_port"

# Alerts as Prometheus would send them: every alert has instance and job, per-workspace ones a
# workspace. Each alert below is keyed "alertname/workspace/instance" ("-" when missing).
# Expected: key, state, keys of the inhibiting alerts, receivers.
expected=$(cat <<'EOF'
HighDeploymentFailureRate/w1/ws-host:9090 active - critical
LongRunningDeployment/w1/ws-host:9090 suppressed HighDeploymentFailureRate/w1/ws-host:9090 warning
LongRunningDeployment/w2/ws-host:9090 active - warning
SchedulerDown/-/sched-x:9090 active - critical
ConfigReloadFailure/-/sched-x:9090 suppressed SchedulerDown/-/sched-x:9090 warning
HighDeploymentFailureRate/w3/sched-x:9090 suppressed SchedulerDown/-/sched-x:9090 critical
ConfigReloadFailure/-/sched-y:9090 active - warning
EOF
)
# The critical w1 alert mutes the w1 warning only. SchedulerDown on sched-x mutes the other
# alerts of sched-x, critical ones too. ConfigReloadFailure on sched-y stays active: neither it
# nor SchedulerDown has a workspace, and the critical->warning rule must not pair them.
alerts=$(jq -n '
  def alert($name; $sev; $ws; $inst):
    {labels: ({alertname: $name, severity: $sev, instance: $inst, job: "provisioner"}
              + (if $ws == "" then {} else {workspace: $ws} end)),
     annotations: {summary: "alertmanager inhibition test"}};
  [alert("HighDeploymentFailureRate"; "critical"; "w1"; "ws-host:9090"),
   alert("LongRunningDeployment"; "warning"; "w1"; "ws-host:9090"),
   alert("LongRunningDeployment"; "warning"; "w2"; "ws-host:9090"),
   alert("SchedulerDown"; "critical"; ""; "sched-x:9090"),
   alert("ConfigReloadFailure"; "warning"; ""; "sched-x:9090"),
   alert("HighDeploymentFailureRate"; "critical"; "w3"; "sched-x:9090"),
   alert("ConfigReloadFailure"; "warning"; ""; "sched-y:9090")]')
if ! out=$(curl -fsS -X POST -H 'Content-Type: application/json' --data-binary "$alerts" \
             "$am_url/api/v2/alerts" 2>&1); then
  fail "POST /api/v2/alerts"
  indent <<<"$out"
  exit 1
fi

# One sorted line per alert in the format of $expected.
observed_states() {
  curl -fsS "$am_url/api/v2/alerts" | jq -r '
    def key: .labels | "\(.alertname)/\(.workspace // "-")/\(.instance // "-")";
    (map({key: .fingerprint, value: key}) | from_entries) as $by_fp
    | .[]
    | [key, .status.state,
       ((.status.inhibitedBy | map($by_fp[.] // .) | sort | join(",")) | if . == "" then "-" else . end),
       (.receivers | map(.name) | sort | join(","))]
    | join(" ")' | sort
}
# The inhibitor learns of new alerts asynchronously: poll until the states settle, up to 10 s.
want=$(sort <<<"$expected")
got=
deadline=$((SECONDS + 10))
while :; do
  got=$(observed_states 2>/dev/null) || got=
  [ "$got" = "$want" ] && break
  [ "$SECONDS" -ge "$deadline" ] && break
  sleep 0.2
done
if [ "$got" = "$want" ]; then
  pass "inhibition: critical w1 mutes warning w1, not warning w2"
  pass "inhibition: SchedulerDown on sched-x mutes the other sched-x alerts, not sched-y's"
else
  fail "inhibition states in /api/v2/alerts (key state inhibitedBy receivers)"
  diff <(echo "$want") <(echo "$got") | indent || true
fi

if [ "$failures" -ne 0 ]; then
  echo "FAILED: $failures check(s)"
  exit 1
fi
echo "PASSED"
