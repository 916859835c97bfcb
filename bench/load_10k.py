#!/usr/bin/env python3
"""The "08:00 with 10,000 workspaces" load test; bench/load_10k.sh runs it.

Python 3 standard library only. See load_10k.sh for what it measures and how
to read the output. Not for CI: one run takes several minutes.
"""
import argparse
import datetime as dt
import http.client
import json
import math
import multiprocessing
import os
import re
import signal
import socket
import subprocess
import sys
import time
from zoneinfo import ZoneInfo

ZONES = ["UTC", "Europe/Berlin", "America/New_York", "Asia/Kolkata", "Australia/Lord_Howe"]
PROBE_LIMIT_MS = 100.0


def log(msg=""):
    print(msg, flush=True)


def rfc3339(t):
    """A Unix time as the daemon writes times: RFC 3339 UTC with milliseconds."""
    return dt.datetime.fromtimestamp(t, dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def parse_time(s):
    """RFC 3339 (Z or offset, any fraction) -> Unix time (float)."""
    m = re.match(r"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(?:\.(\d+))?(Z|[+-]\d\d:\d\d)$", s)
    if not m:
        raise ValueError("not an RFC 3339 time: " + s)
    base = dt.datetime.strptime(m.group(1), "%Y-%m-%dT%H:%M:%S")
    tz = dt.timezone.utc
    if m.group(3) != "Z":
        sign = 1 if m.group(3)[0] == "+" else -1
        tz = dt.timezone(sign * dt.timedelta(hours=int(m.group(3)[1:3]), minutes=int(m.group(3)[4:6])))
    frac = float("0." + m.group(2)) if m.group(2) else 0.0
    return base.replace(tzinfo=tz).timestamp() + frac


def daily_cron(t, zone):
    """A 6-field cron (seconds first) firing every day at the local time of
    Unix time `t` in `zone`: the "0 0 8 * * *" of that zone."""
    lt = dt.datetime.fromtimestamp(t, ZoneInfo(zone))
    return f"{lt.second} {lt.minute} {lt.hour} * * *"


def percentile(values, q):
    """Nearest-rank percentile (q in 0..100) of a list; nan when empty."""
    if not values:
        return float("nan")
    v = sorted(values)
    k = max(0, min(len(v) - 1, math.ceil(q / 100.0 * len(v)) - 1))
    return v[k]


# ---------------------------------------------------------------- /proc


def proc_status(pid):
    """VmRSS, VmHWM (bytes) and Threads of a process, from /proc/PID/status."""
    out = {}
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                key, _, value = line.partition(":")
                if key in ("VmRSS", "VmHWM"):
                    out[key] = int(value.split()[0]) * 1024
                elif key == "Threads":
                    out[key] = int(value)
    except OSError:
        pass
    return out


def cpu_seconds(pid):
    """(own user+system CPU, CPU of the reaped children) of a process, in s."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
    except OSError:
        return float("nan"), float("nan")
    hz = os.sysconf("SC_CLK_TCK")
    return (int(fields[11]) + int(fields[12])) / hz, (int(fields[13]) + int(fields[14])) / hz


def open_fds(pid):
    try:
        return len(os.listdir(f"/proc/{pid}/fd"))
    except OSError:
        return -1


def mib(n):
    return n / 1048576.0


def processes_running(exe):
    """Pids of live processes whose argv[0] is `exe` (the fake tofu after
    the daemon stopped: each tofu run has a process group of its own, so
    the daemon's group does not hold them)."""
    out = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/cmdline", "rb") as f:
                argv0 = f.read().split(b"\0", 1)[0].decode(errors="replace")
            with open(f"/proc/{entry}/stat") as f:
                state = f.read().rsplit(")", 1)[1].split()[0]
        except (OSError, IndexError):
            continue
        if argv0 == exe and state not in ("Z", "X"):
            out.append(int(entry))
    return out


# ---------------------------------------------------------------- HTTP


def probe_once(port, path, timeout):
    """One kubelet-style probe: a new connection, one GET, Connection: close.
    Returns the HTTP status (int) or an error word."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
            s.settimeout(timeout)
            s.sendall(f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
                      "User-Agent: kube-probe/1.29\r\nAccept: */*\r\nConnection: close\r\n\r\n".encode())
            data = b""
            while True:
                chunk = s.recv(65536)
                if not chunk:
                    break
                data += chunk
        line = data.split(b"\r\n", 1)[0].split()
        return int(line[1]) if len(line) >= 2 and line[1].isdigit() else "garbled"
    except socket.timeout:
        return "timeout"
    except OSError as e:
        return type(e).__name__


def probe_loop(port, interval, out_path, stop):
    """In a process of its own (so that parsing a 30 MB scrape in the main
    process cannot stall the probe clock): /health then /ready every
    `interval` seconds; one line per probe: unix_time path status ms."""
    with open(out_path, "w") as out:
        next_t = time.monotonic()
        while not stop.is_set():
            for path in ("/health", "/ready"):
                t0 = time.monotonic()
                status = probe_once(port, path, 5.0)
                ms = (time.monotonic() - t0) * 1000.0
                out.write(f"{time.time():.3f} {path} {status} {ms:.3f}\n")
            out.flush()
            next_t += interval
            delay = next_t - time.monotonic()
            if delay > 0:
                stop.wait(delay)
            else:
                next_t = time.monotonic()


def scrape(port, timeout=60.0):
    """GET /metrics: (body bytes, seconds). Raises on failure."""
    t0 = time.monotonic()
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        conn.request("GET", "/metrics")
        r = conn.getresponse()
        body = r.read()
        if r.status != 200:
            raise RuntimeError(f"/metrics answered {r.status}")
    finally:
        conn.close()
    return body, time.monotonic() - t0


def http_status(port, path, timeout=5.0):
    try:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
        conn.request("GET", path)
        r = conn.getresponse()
        r.read()
        conn.close()
        return r.status
    except OSError:
        return None


RE_LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"')


def sample_lines(body, prefix):
    """The lines of an exposition that start with `prefix` (bytes). With
    bytes.find, not a regex: a 10,000-workspace scrape is over 30 MB, and
    the driver must not eat the CPU the daemon needs."""
    out = []
    pos = 0 if body.startswith(prefix) else body.find(b"\n" + prefix)
    while pos >= 0:
        start = pos if pos == 0 and body.startswith(prefix) else pos + 1
        end = body.find(b"\n", start)
        out.append(body[start:end if end >= 0 else len(body)])
        if end < 0:
            break
        pos = body.find(b"\n" + prefix, end)
    return out


def metric_value(body, name):
    """The value of an unlabelled sample `name`, or None."""
    lines = sample_lines(body, name.encode() + b" ")
    return float(lines[0].split()[-1]) if lines else None


def metric_series(body, name):
    """[(labels dict, value)] of the labelled samples named `name`."""
    out = []
    for line in sample_lines(body, name.encode() + b"{"):
        labels, _, value = line.rpartition(b"} ")
        out.append((dict(RE_LABEL.findall(labels.decode(errors="replace"))), float(value)))
    return out


def counter_sum(body, name, by=None):
    """Sum of a labelled metric, optionally grouped by a tuple of labels."""
    if by is None:
        return sum(v for _, v in metric_series(body, name))
    out = {}
    for labels, v in metric_series(body, name):
        key = tuple(labels.get(k, "") for k in by)
        out[key] = out.get(key, 0.0) + v
    return out


def histogram_quantile(q, buckets):
    """Prometheus' histogram_quantile over [(le, cumulative count)]."""
    buckets = sorted(buckets, key=lambda b: b[0])
    if not buckets or buckets[-1][1] == 0:
        return float("nan")
    total = buckets[-1][1]
    rank = q * total
    prev_le, prev_count = 0.0, 0.0
    for le, count in buckets:
        if count >= rank:
            if math.isinf(le):
                return prev_le  # the highest finite bound, as Prometheus does
            if count == prev_count:
                return le
            return prev_le + (le - prev_le) * (rank - prev_count) / (count - prev_count)
        prev_le, prev_count = le, count
    return prev_le


def lag_histogram(body, name="provisioner_schedule_lag_seconds"):
    buckets = []
    for labels, v in metric_series(body, name + "_bucket"):
        le = labels.get("le", "")
        buckets.append((math.inf if le == "+Inf" else float(le), v))
    return buckets


# ---------------------------------------------------------------- setup


def write_setup(work, bin_dir, n, destroy_every, concurrency, fire_at, seeded_at):
    """The template, the config and the seeded state.json. Returns
    (deploy set, destroy set)."""
    os.makedirs(f"{work}/templates/t", exist_ok=True)
    with open(f"{work}/templates/t/main.tf", "w") as f:
        f.write("# the fake tofu ignores HCL\n")
    with open(f"{work}/control.json", "w") as f:
        f.write('{"resources": ["null_resource.app"]}\n')
    # One cron pair per zone: every deploy (and every destroy) fires at the
    # very instant fire_at, whatever the zone.
    crons = {}
    for zone in ZONES:
        crons[zone] = {
            # office hours: deploy at "08:00", destroyed at "19:00" the evening before
            "office": (daily_cron(fire_at, zone), daily_cron(fire_at - 13 * 3600, zone)),
            # night shift: deployed at "20:00" the evening before, destroyed at "08:00"
            "night": (daily_cron(fire_at - 12 * 3600, zone), daily_cron(fire_at, zone)),
        }
    deploys, destroys = [], []
    lines = [
        'server: {listen: "127.0.0.1:0"}',
        f"scheduler: {{timezone: UTC, max_concurrent_jobs: {concurrency}, kill_grace: 10s}}",
        f"opentofu: {{binary: {bin_dir}/tofu, plugin_cache_dir: cache, lock_timeout: 20s,"
        ' pass_env: ["FAKE_TOFU_*"]}',
        "state: {dir: state}",
        "logging: {level: info, format: json}",
        "templates_dir: templates",
        "workspaces:",
    ]
    state = {}
    for i in range(n):
        name = f"ws-{i:05d}"
        zone = ZONES[i % len(ZONES)]
        night = destroy_every > 0 and i % destroy_every == destroy_every // 2
        deploy_cron, destroy_cron = crons[zone]["night" if night else "office"]
        (destroys if night else deploys).append(name)
        lines.append(
            f"  - {{name: {name}, template: t, variables: {{environment: {name}}},"
            f' schedule: {{deploy: "{deploy_cron}", destroy: "{destroy_cron}", timezone: {zone}}},'
            f" labels: {{team: t{i % 20}}}}}")
        # What the daemon would know at 07:59: office workspaces destroyed last
        # evening, night-shift ones deployed; every fire up to now handled.
        state[name] = {
            "actual": "deployed" if night else "destroyed",
            "actual_since": rfc3339(seeded_at - 11 * 3600),
            "last_fire": rfc3339(seeded_at),
        }
    with open(f"{work}/config.yaml", "w") as f:
        f.write("\n".join(lines) + "\n")
    os.makedirs(f"{work}/state", exist_ok=True)
    with open(f"{work}/state/state.json", "w") as f:
        json.dump({"version": 1, "last_seen": rfc3339(seeded_at), "workspaces": state}, f)
    return deploys, destroys


def wait_started(proc, log_path, timeout):
    """Waits for the daemon's "started ... listening on port N" line."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with open(log_path, errors="replace") as f:
                m = re.search(r"started: .*listening on port (\d+)", f.read())
            if m:
                return int(m.group(1))
        except OSError:
            pass
        if proc.poll() is not None:
            return None
        time.sleep(0.02)
    return None


def tail(path, n=30):
    try:
        with open(path, errors="replace") as f:
            return "".join(f.readlines()[-n:])
    except OSError:
        return ""


# ---------------------------------------------------------------- analysis


def read_journal(path, offset):
    """Start records of the fake tofu's invocation log from `offset`, each
    with the exit record of its run ("exit": None when there is none). An
    exit is paired with the latest start of the same pid before it: pids are
    reused many times over in a run of 40,000 processes."""
    starts, open_by_pid = [], {}
    with open(path, "rb") as f:
        f.seek(offset)
        for raw in f:
            try:
                rec = json.loads(raw)
            except ValueError:
                continue
            if rec.get("event") == "start":
                rec["exit"] = None
                starts.append(rec)
                open_by_pid[rec.get("pid")] = rec
            elif rec.get("event") == "exit":
                start = open_by_pid.pop(rec.get("pid"), None)
                if start is not None:
                    start["exit"] = rec
    return starts


def workspace_of(rec):
    cwd = rec.get("cwd", "")
    if rec.get("chdir"):
        cwd = os.path.join(cwd, rec["chdir"])
    parts = os.path.normpath(cwd).split(os.sep)
    if len(parts) >= 2 and parts[-2] == "workspaces":
        return parts[-1]
    return None


def analyse_journal(starts, deploys, destroys, fire_at):
    """Per workspace: which tofu commands ran. Returns (problems, facts)."""
    per_ws = {}
    for rec in starts:
        ws = workspace_of(rec)
        if ws is None:
            continue  # `tofu version` of the health checks
        per_ws.setdefault(ws, []).append(rec)
    problems = []
    expected = {w: ("init", "plan", "apply") for w in deploys}
    expected.update({w: ("init", "destroy") for w in destroys})
    twice, missing, wrong, bad_exit, early = [], [], [], [], []
    job_start = {}  # ws -> start time of its job's init
    for ws, want in expected.items():
        recs = per_ws.get(ws, [])
        cmds = [r["command"] for r in recs]
        main = "apply" if "apply" in want else "destroy"
        n_main = cmds.count(main)
        other = "destroy" if main == "apply" else "apply"
        if n_main == 0:
            missing.append(ws)
        elif n_main > 1:
            twice.append(ws)
        if cmds.count(other) > 0 or (n_main == 1 and tuple(cmds) != want):
            wrong.append(f"{ws}: {' '.join(cmds)}")
        for r in recs:
            code = r["exit"].get("exit_code") if r["exit"] else None
            ok = code == 0 or (r["command"] == "plan" and code == 2)
            if not ok:
                bad_exit.append(f"{ws} {r['command']} exit={code}")
        inits = [parse_time(r["time"]) for r in recs if r["command"] == "init"]
        if inits:
            job_start[ws] = min(inits)
            if min(inits) < fire_at - 0.001:
                early.append(ws)
    unexpected = sorted(set(per_ws) - set(expected))
    for label, items in (("ran twice (apply/destroy)", twice), ("never ran", missing),
                         ("ran an unexpected command sequence", wrong),
                         ("had a tofu step exit with an error or no exit record", bad_exit),
                         ("started before the fire", early),
                         ("are not in the config but ran tofu", unexpected)):
        if items:
            problems.append(f"journal: {len(items)} workspace(s) {label}, e.g. {items[:5]}")
    counts = {}
    for rec in starts:
        counts[rec.get("command")] = counts.get(rec.get("command"), 0) + 1
    # Destroys first, as tofu saw it: the init of each job.
    d_times = sorted(job_start[w] for w in destroys if w in job_start)
    p_times = sorted(job_start[w] for w in deploys if w in job_start)
    facts = {"counts": counts, "job_start": job_start}
    if d_times and p_times:
        last_destroy = d_times[-1]
        facts["journal_gap_ms"] = (p_times[0] - last_destroy) * 1000.0
        facts["journal_overlap"] = sum(1 for t in p_times if t < last_destroy)
    return problems, facts


def read_history(state_dir, names):
    out = {}
    for ws in names:
        path = f"{state_dir}/jobs/{ws}/history.jsonl"
        recs = []
        try:
            with open(path) as f:
                for line in f:
                    line = line.strip()
                    if line:
                        recs.append(json.loads(line))
        except OSError:
            pass
        out[ws] = recs
    return out


def analyse_history(history, deploys, destroys, fire_at):
    problems = []
    bad = []
    lags, durations, finished, started = [], [], [], {}
    triggers = {}
    for ws_set, op in ((deploys, "deploy"), (destroys, "destroy")):
        for ws in ws_set:
            recs = history.get(ws, [])
            if len(recs) != 1:
                bad.append(f"{ws}: {len(recs)} records " +
                           " ".join(f"{r.get('operation')}/{r.get('result')}" for r in recs))
                continue
            r = recs[0]
            triggers[r.get("trigger")] = triggers.get(r.get("trigger"), 0) + 1
            if r.get("operation") != op or r.get("result") != "succeeded" or r.get("attempt") != 1:
                bad.append(f"{ws}: {r.get('operation')} {r.get('trigger')} {r.get('result')} "
                           f"attempt {r.get('attempt')} error {r.get('error')!r}")
                continue
            sched = parse_time(r["scheduled_for"])
            if abs(sched - fire_at) > 0.001:
                bad.append(f"{ws}: scheduled_for {r['scheduled_for']}, expected {rfc3339(fire_at)}")
            s, e = parse_time(r["started_at"]), parse_time(r["finished_at"])
            started[ws] = s
            lags.append(s - sched)
            durations.append(e - s)
            finished.append(e)
    if bad:
        problems.append(f"history: {len(bad)} workspace(s) without exactly one successful "
                        f"job of the expected operation, e.g. {bad[:5]}")
    return problems, {"lags": lags, "durations": durations, "finished": finished,
                      "started": started, "triggers": triggers}


RE_JOB_ID = re.compile(r"\d{8}T\d{6}Z-[0-9a-f]{6}-[a-z0-9_-]+")


def analyse_daemon_log(path, fire_at):
    """Levels, the "job started" order, and the warnings and errors."""
    levels = {}
    order = []  # operations of "job started" lines, in log order
    notable = {}
    with open(path, errors="replace") as f:
        for line in f:
            try:
                rec = json.loads(line)
            except ValueError:
                levels["non-json"] = levels.get("non-json", 0) + 1
                key = "non-json: " + line.strip()[:160]
                notable[key] = notable.get(key, 0) + 1
                continue
            level = rec.get("level", "?")
            levels[level] = levels.get(level, 0) + 1
            msg = rec.get("message", "")
            if msg == "job started":
                order.append(rec.get("operation"))
            if level in ("warn", "error", "fatal"):
                key = f"{level}: {rec.get('logger')}: {msg[:160]}" + (
                    f" (error: {rec.get('error')[:120]})" if rec.get("error") else "")
                # group lines that differ only in a job id
                key = RE_JOB_ID.sub("<job>", key)
                notable[key] = notable.get(key, 0) + 1
    return levels, order, notable


# ---------------------------------------------------------------- main


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--bin-dir", required=True, help="holds provisioner and tofu (the fake)")
    ap.add_argument("--work", required=True, help="an empty temp dir")
    ap.add_argument("--workspaces", type=int, default=10000)
    ap.add_argument("--destroy-every", type=int, default=10,
                    help="one workspace in N is a night-shift one, destroyed at the fire (0: none)")
    ap.add_argument("--concurrency", type=int, default=16, help="scheduler.max_concurrent_jobs")
    ap.add_argument("--lead", type=float, default=45.0,
                    help="seconds from writing the config to the fire")
    ap.add_argument("--probe-interval", type=float, default=0.1)
    ap.add_argument("--metrics-interval", type=float, default=1.0)
    ap.add_argument("--timeout", type=float, default=3600.0, help="drain deadline, seconds")
    ap.add_argument("--time-scale", default="0.001", help="FAKE_TOFU_TIME_SCALE")
    args = ap.parse_args()

    work, bin_dir = args.work, args.bin_dir
    state_dir = f"{work}/state"
    journal = f"{work}/invocations.jsonl"
    daemon_log = f"{work}/daemon.log"
    problems, warnings = [], []

    seeded_at = time.time()
    fire_at = float(math.ceil(seeded_at + args.lead))
    deploys, destroys = write_setup(work, bin_dir, args.workspaces, args.destroy_every,
                                    args.concurrency, fire_at, seeded_at)
    n_jobs = len(deploys) + len(destroys)
    cfg_size = os.path.getsize(f"{work}/config.yaml")
    log(f"# {dt.datetime.now(dt.timezone.utc):%Y-%m-%dT%H:%M:%SZ} {os.cpu_count()} cores, "
        f"load average {' '.join(open('/proc/loadavg').read().split()[:3])}, nice {os.nice(0)}")
    log(f"# {args.workspaces} workspaces in {len(ZONES)} zones ({cfg_size / 1e6:.2f} MB of YAML): "
        f"{len(deploys)} deploys and {len(destroys)} destroys all due at {rfc3339(fire_at)}; "
        f"max_concurrent_jobs {args.concurrency}; fake tofu time scale {args.time_scale}")
    log(f"# work dir {work}")

    # ---- config load, alone
    t0 = time.monotonic()
    v = subprocess.run([f"{bin_dir}/provisioner", "validate", "--config", f"{work}/config.yaml"],
                       capture_output=True, text=True)
    validate_s = time.monotonic() - t0
    log(f"validate: {validate_s:.2f} s, exit {v.returncode}: "
        f"{(v.stdout.strip().splitlines() or [''])[-1]}")
    if v.returncode != 0:
        log(v.stdout + v.stderr)
        return 1

    # ---- start the daemon
    env = {
        "PATH": "/usr/bin:/bin", "HOME": work, "LANG": "C.UTF-8",
        "FAKE_TOFU_CONTROL": f"{work}/control.json", "FAKE_TOFU_LOG": journal,
        "FAKE_TOFU_TIME_SCALE": args.time_scale, "FAKE_TOFU_OTLP": "off",
    }
    t_spawn = time.monotonic()
    with open(daemon_log, "wb") as err:
        proc = subprocess.Popen([f"{bin_dir}/provisioner", "serve", "--config",
                                 f"{work}/config.yaml"], stdin=subprocess.DEVNULL,
                                stdout=subprocess.DEVNULL, stderr=err, cwd=work, env=env,
                                start_new_session=True)
    with open(f"{work}/daemon.pid", "w") as f:
        f.write(str(proc.pid))
    pid = proc.pid
    stop_probe = multiprocessing.Event()
    prober = None
    exit_code = 1
    try:
        port = wait_started(proc, daemon_log, 600)
        t_started = time.monotonic()
        if port is None:
            log("the daemon did not start:\n" + tail(daemon_log))
            return 1
        while http_status(port, "/ready") != 200:
            if proc.poll() is not None or time.monotonic() - t_started > 120:
                log("the daemon never became ready:\n" + tail(daemon_log))
                return 1
            time.sleep(0.02)
        t_ready = time.monotonic()
        st = proc_status(pid)
        log(f"start: 'started' logged {t_started - t_spawn:.2f} s after exec, /ready 200 after "
            f"{t_ready - t_spawn:.2f} s; RSS {mib(st.get('VmRSS', 0)):.1f} MiB, "
            f"threads {st.get('Threads')}, fds {open_fds(pid)}")
        body, secs = scrape(port)
        base_completed = counter_sum(body, "provisioner_jobs_completed_total")
        running0 = metric_value(body, "provisioner_jobs_running_total") or 0
        queued0 = metric_value(body, "provisioner_jobs_queued") or 0
        log(f"idle scrape: {len(body) / 1e6:.2f} MB in {secs * 1000:.0f} ms; jobs running "
            f"{running0:.0f}, queued {queued0:.0f}, completed {base_completed:.0f}")
        if running0 or queued0 or base_completed:
            problems.append(f"start-up ran jobs (running {running0}, queued {queued0}, completed "
                            f"{base_completed}): the seeded state was not taken as it is")
        if time.time() > fire_at - 2:
            warnings.append(f"the daemon was ready only {fire_at - time.time():.1f} s before the "
                            "fire; raise --lead")

        # ---- wait for the fire; the prober starts a second before it
        while time.time() < fire_at - 1.0:
            time.sleep(0.05)
        journal_offset = os.path.getsize(journal) if os.path.exists(journal) else 0
        body, _ = scrape(port)  # the tick count before the fire
        probe_file = f"{work}/probes.txt"
        prober = multiprocessing.Process(target=probe_loop,
                                         args=(port, args.probe_interval, probe_file, stop_probe))
        prober.start()
        while time.time() < fire_at:
            time.sleep(0.01)
        cpu0 = cpu_seconds(pid)
        ticks0 = metric_value(body, "provisioner_scheduler_loop_duration_seconds_count") or 0

        # ---- the drain, watched through /metrics
        log(f"\n{'t+s':>7} {'queued':>7} {'running':>7} {'done':>6} {'jobs/s':>7} "
            f"{'RSS MiB':>8} {'thr':>4} {'fds':>5} {'scrape MB':>9} {'scrape ms':>9}")
        samples = []  # (t since fire, queued, running, completed, rss)
        drained_at = None
        last_print = -1e9
        prev = (0.0, 0)
        peak_rss_sampled = 0
        scrape_ms = []
        while True:
            now = time.time() - fire_at
            if proc.poll() is not None:
                problems.append(f"the daemon exited during the drain (code {proc.returncode})")
                break
            try:
                body, secs = scrape(port)
            except Exception as e:  # noqa: BLE001 - any failure is reported
                problems.append(f"scrape failed at t+{now:.1f}s: {e}")
                time.sleep(args.metrics_interval)
                continue
            scrape_ms.append(secs * 1000)
            queued = metric_value(body, "provisioner_jobs_queued") or 0
            running = metric_value(body, "provisioner_jobs_running_total") or 0
            done = counter_sum(body, "provisioner_jobs_completed_total") - base_completed
            st = proc_status(pid)
            rss = st.get("VmRSS", 0)
            peak_rss_sampled = max(peak_rss_sampled, rss)
            samples.append((now, queued, running, done, rss))
            if now - last_print >= 10 or (queued == 0 and running == 0 and done >= n_jobs):
                rate = (done - prev[1]) / (now - prev[0]) if now > prev[0] else 0
                log(f"{now:7.1f} {queued:7.0f} {running:7.0f} {done:6.0f} {rate:7.1f} "
                    f"{mib(rss):8.1f} {st.get('Threads', 0):4d} {open_fds(pid):5d} "
                    f"{len(body) / 1e6:9.2f} {secs * 1000:9.0f}")
                last_print, prev = now, (now, done)
            if queued == 0 and running == 0 and done >= n_jobs:
                drained_at = now
                cpu1 = cpu_seconds(pid)
                break
            if now > args.timeout:
                problems.append(f"not drained after {args.timeout:.0f} s: queued {queued}, "
                                f"running {running}, done {done} of {n_jobs}")
                break
            time.sleep(max(0.0, args.metrics_interval - secs))
        stop_probe.set()
        prober.join(10)

        # ---- after the drain
        time.sleep(5)  # late extra jobs would show up here
        body, secs = scrape(port)
        done_final = counter_sum(body, "provisioner_jobs_completed_total") - base_completed
        if done_final != n_jobs:
            problems.append(f"jobs completed: {done_final:.0f}, expected exactly {n_jobs}")
        st = proc_status(pid)
        end_rss, peak_rss = st.get("VmRSS", 0), st.get("VmHWM", 0)
        end_threads, end_fds = st.get("Threads"), open_fds(pid)
        by_result = counter_sum(body, "provisioner_jobs_completed_total", by=("result",))
        fires = counter_sum(body, "provisioner_schedule_fires_total", by=("action", "outcome"))
        tofu_ops = counter_sum(body, "provisioner_tofu_operations_total", by=("operation", "result"))
        lag_buckets = lag_histogram(body)
        lag_count = metric_value(body, "provisioner_schedule_lag_seconds_count") or 0
        lag_sum = metric_value(body, "provisioner_schedule_lag_seconds_sum") or 0
        final_scrape = (len(body), secs)
        tick_buckets = lag_histogram(body, "provisioner_scheduler_loop_duration_seconds")
        ticks = (metric_value(body, "provisioner_scheduler_loop_duration_seconds_count") or 0) - ticks0

        # ---- stop
        t_stop = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        try:
            rc = proc.wait(120)
        except subprocess.TimeoutExpired:
            proc.kill()
            rc = proc.wait()
            problems.append("the daemon did not stop within 120 s of SIGTERM")
        stop_s = time.monotonic() - t_stop
        if rc != 0:
            problems.append(f"the daemon exited {rc} after SIGTERM")
        time.sleep(0.5)
        left = processes_running(f"{bin_dir}/tofu")
        if left:
            problems.append(f"tofu processes still running after the daemon stopped: {left[:10]}")

        # ---- analysis
        probes = {"/health": [], "/ready": []}
        probe_fail = []
        with open(probe_file) as f:
            for line in f:
                t, path, status, ms = line.split()
                t = float(t) - fire_at
                if t < 0 or (drained_at is not None and t > drained_at):
                    continue
                if status != "200":
                    probe_fail.append(f"{path} at t+{t:.1f}s: {status} after {ms} ms")
                probes[path].append(float(ms))
        starts = read_journal(journal, journal_offset)
        j_problems, jf = analyse_journal(starts, deploys, destroys, fire_at)
        problems += j_problems
        history = read_history(state_dir, deploys + destroys)
        h_problems, hf = analyse_history(history, deploys, destroys, fire_at)
        problems += h_problems
        levels, order, notable = analyse_daemon_log(daemon_log, fire_at)

        # Destroys first: the order in which the daemon started the jobs.
        first_deploy = next((i for i, op in enumerate(order) if op == "deploy"), None)
        last_destroy = max((i for i, op in enumerate(order) if op == "destroy"), default=None)
        if first_deploy is not None and last_destroy is not None and first_deploy < last_destroy:
            late = sum(1 for op in order[first_deploy:] if op == "destroy")
            problems.append(f"destroys first: the daemon started a deploy (job #{first_deploy + 1}) "
                            f"before {late} destroy(s) (last destroy started as #{last_destroy + 1})")
        hs = hf["started"]
        d_start = [hs[w] for w in destroys if w in hs]
        p_start = [hs[w] for w in deploys if w in hs]
        if d_start and p_start and min(p_start) < max(d_start):
            n = sum(1 for t in p_start if t < max(d_start))
            problems.append(f"destroys first: history shows {n} deploy(s) started before the last "
                            "destroy started")

        # ---- report
        log("")
        log("== result")
        drain_hist = max(hf["finished"]) - fire_at if hf["finished"] else float("nan")
        first_start = min(hs.values()) - fire_at if hs else float("nan")
        log(f"config: validate {validate_s:.2f} s; daemon start: 'started' after "
            f"{t_started - t_spawn:.2f} s, ready after {t_ready - t_spawn:.2f} s")
        if drained_at is not None:
            log(f"drain: {drained_at:.1f} s from the fire to an empty queue with no job running "
                f"(/metrics every {args.metrics_interval:g} s); last job finished "
                f"{drain_hist:.2f} s after the fire (history); first job started "
                f"{first_start * 1000:.0f} ms after it; {n_jobs / drain_hist:.1f} jobs/s")
        if drained_at is not None:
            log(f"CPU during the drain: daemon {cpu1[0] - cpu0[0]:.1f} s "
                f"({(cpu1[0] - cpu0[0]) / n_jobs * 1000:.2f} ms per job, "
                f"{(cpu1[0] - cpu0[0]) / drained_at * 100:.0f}% of a core), its tofu children "
                f"{cpu1[1] - cpu0[1]:.1f} s ({(cpu1[1] - cpu0[1]) / n_jobs * 1000:.2f} ms per job)")
        log(f"scheduler ticks after the fire: {ticks:.0f}; tick duration (all ticks, histogram) "
            f"p50 {histogram_quantile(0.5, tick_buckets) * 1000:.1f} ms, p99 "
            f"{histogram_quantile(0.99, tick_buckets) * 1000:.1f} ms")
        log("jobs completed by result: " +
            ", ".join(f"{k[0]} {v:.0f}" for k, v in sorted(by_result.items()) if v))
        log("schedule fires: " + ", ".join(f"{a}/{o} {v:.0f}" for (a, o), v in sorted(fires.items())
                                           if v))
        log("tofu steps (metrics): " + ", ".join(f"{o}/{r} {v:.0f}"
                                                 for (o, r), v in sorted(tofu_ops.items()) if v))
        log("tofu starts (journal, after the fire): " +
            ", ".join(f"{k} {v}" for k, v in sorted(jf["counts"].items())))
        log(f"job triggers (history): {hf['triggers']}")
        if "journal_gap_ms" in jf:
            log(f"destroys first (journal): the first deploy job's init started "
                f"{jf['journal_gap_ms']:+.1f} ms after the last destroy job's init"
                f" ({jf['journal_overlap']} deploy init(s) before it; the daemon's own order: "
                f"{'destroys all started first' if first_deploy is None or last_destroy is None or first_deploy > last_destroy else 'VIOLATED'})")
            if jf["journal_overlap"]:
                warnings.append(f"the journal shows {jf['journal_overlap']} deploy init(s) before "
                                "the last destroy init (process start order, see the daemon's order)")
        lags = hf["lags"]
        log(f"schedule lag (histogram, {lag_count:.0f} jobs, mean {lag_sum / lag_count if lag_count else float('nan'):.1f} s): "
            f"p50 {histogram_quantile(0.5, lag_buckets):.1f} s, p99 "
            f"{histogram_quantile(0.99, lag_buckets):.1f} s")
        log("  buckets: " + " ".join(f"le={'+Inf' if math.isinf(le) else f'{le:g}'}:{c:.0f}"
                                     for le, c in sorted(lag_buckets)))
        if lags:
            log(f"schedule lag (history, exact): p50 {percentile(lags, 50):.1f} s, p99 "
                f"{percentile(lags, 99):.1f} s, max {max(lags):.1f} s; job duration p50 "
                f"{percentile(hf['durations'], 50) * 1000:.0f} ms, p99 "
                f"{percentile(hf['durations'], 99) * 1000:.0f} ms")
        for path, vals in probes.items():
            p99 = percentile(vals, 99)
            log(f"probe {path:8s} {len(vals):5d} probes during the drain: p50 "
                f"{percentile(vals, 50):.2f} ms, p99 {p99:.2f} ms, max "
                f"{max(vals) if vals else float('nan'):.2f} ms, over {PROBE_LIMIT_MS:.0f} ms: "
                f"{sum(1 for v in vals if v > PROBE_LIMIT_MS)}")
            if not vals:
                problems.append(f"no {path} probe during the drain")
            elif p99 > PROBE_LIMIT_MS:
                problems.append(f"{path} p99 {p99:.1f} ms exceeds {PROBE_LIMIT_MS:.0f} ms")
        if probe_fail:
            problems.append(f"{len(probe_fail)} probe(s) failed, e.g. {probe_fail[:5]}")
        log(f"memory: peak RSS (VmHWM) {mib(peak_rss):.1f} MiB (highest sampled VmRSS "
            f"{mib(peak_rss_sampled):.1f} MiB); RSS 5 s after the drain {mib(end_rss):.1f} MiB; "
            f"threads {end_threads}, fds {end_fds}")
        log(f"scrapes during the drain: {len(scrape_ms)}, p50 {percentile(scrape_ms, 50):.0f} ms, "
            f"max {max(scrape_ms) if scrape_ms else 0:.0f} ms; final scrape "
            f"{final_scrape[0] / 1e6:.1f} MB in {final_scrape[1] * 1000:.0f} ms")
        log(f"stop: SIGTERM to exit {stop_s:.2f} s, exit code {rc}")
        du = subprocess.run(["du", "-sm", state_dir], capture_output=True, text=True).stdout.split()
        log(f"state dir: {du[0] if du else '?'} MB; state.json "
            f"{os.path.getsize(state_dir + '/state.json') / 1e6:.2f} MB")
        log("daemon log lines by level: " + ", ".join(f"{k} {v}" for k, v in sorted(levels.items())))
        for key, count in sorted(notable.items(), key=lambda kv: -kv[1])[:15]:
            log(f"  {count:6d} x {key}")
        if levels.get("error") or levels.get("fatal"):
            warnings.append(f"{levels.get('error', 0) + levels.get('fatal', 0)} error line(s) in the "
                            "daemon log")
        log("")
        for w in warnings:
            log(f"WARN: {w}")
        for p in problems:
            log(f"FAIL: {p}")
        exit_code = 1 if problems else 0
        log("PASS: every job ran exactly once, destroys first, probes within "
            f"{PROBE_LIMIT_MS:.0f} ms" if not problems else f"{len(problems)} hard failure(s)")
        return exit_code
    finally:
        stop_probe.set()
        if prober is not None and prober.is_alive():
            prober.terminate()
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(60)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()


if __name__ == "__main__":
    sys.exit(main())
