#!/usr/bin/env python3
"""Soak test of the daemon; bench/soak.sh runs it (see there).

Python 3 standard library only; shares its helpers with load_10k.py.
"""
import argparse
import datetime as dt
import http.client
import json
import multiprocessing
import os
import random
import signal
import subprocess
import sys
import time

sys.dont_write_bytecode = True  # no __pycache__ in bench/
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import load_10k as u  # noqa: E402  (helpers: /proc, HTTP, metrics, log analysis)

log = u.log


# ---------------------------------------------------------------- traffic


class Client:
    """One keep-alive connection that reopens when the daemon closed it (idle
    timeout, 100 requests per connection)."""

    def __init__(self, port):
        self.port = port
        self.conn = None

    def request(self, method, path, body=None, fresh=False):
        headers = {}
        data = None
        if method == "POST":
            data = json.dumps(body if body is not None else {}).encode()
            headers = {"Content-Type": "application/json", "Content-Length": str(len(data))}
        for attempt in (0, 1):
            conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30) if fresh else self.conn
            if conn is None:
                conn = self.conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
            try:
                if fresh:
                    headers["Connection"] = "close"
                conn.request(method, path, body=data, headers=headers)
                r = conn.getresponse()
                payload = r.read()
                if fresh:
                    conn.close()
                return r.status, payload
            except (http.client.RemoteDisconnected, BrokenPipeError, ConnectionResetError) as e:
                conn.close()
                if not fresh:
                    self.conn = None
                if attempt == 1 or fresh:
                    return type(e).__name__, b""
            except OSError as e:
                conn.close()
                if not fresh:
                    self.conn = None
                return type(e).__name__, b""
        return "retry", b""


def iso_in(seconds):
    return u.rfc3339(time.time() + seconds)


def traffic_loop(port, names, rate, out_path, stop, seed):
    """Mixed API traffic at about `rate` requests/s; one line per request:
    unix_time kind status ms."""
    rng = random.Random(seed)
    client = Client(port)
    job_ids = []
    active_ids = []
    kinds = [  # (weight, kind)
        (20, "list_workspaces"), (20, "get_workspace"), (15, "jobs_of_workspace"),
        (5, "jobs_all"), (5, "get_job"), (5, "job_log"), (5, "deploy"), (5, "destroy"),
        (4, "pause"), (4, "resume"), (1, "cancel"), (5, "health"), (5, "ready"), (1, "health_deep"),
    ]
    total = sum(w for w, _ in kinds)
    expected = {
        "deploy": (202,), "destroy": (202,), "pause": (200,), "resume": (200,),
        "cancel": (202, 404, 409), "get_job": (200, 404), "job_log": (200, 404),
    }
    with open(out_path, "w") as out:
        next_t = time.monotonic()
        while not stop.is_set():
            pick = rng.uniform(0, total)
            for w, kind in kinds:
                pick -= w
                if pick <= 0:
                    break
            ws = rng.choice(names)
            method, body = "GET", None
            if kind == "list_workspaces":
                path = "/api/v1/workspaces"
            elif kind == "get_workspace":
                path = f"/api/v1/workspaces/{ws}"
            elif kind == "jobs_of_workspace":
                path = f"/api/v1/jobs?workspace={ws}&limit=20"
            elif kind == "jobs_all":
                path = "/api/v1/jobs?limit=50"
            elif kind in ("get_job", "job_log"):
                if not job_ids:
                    kind, path = "jobs_all", "/api/v1/jobs?limit=50"
                else:
                    jid = rng.choice(job_ids)
                    path = f"/api/v1/jobs/{jid}" + ("/log" if kind == "job_log" else "")
            elif kind in ("deploy", "destroy"):
                method, path = "POST", f"/api/v1/workspaces/{ws}/{kind}"
                body = {"until": iso_in(rng.choice((10, 20, 40)))} if rng.random() < 0.7 else {}
            elif kind == "pause":
                method, path, body = "POST", f"/api/v1/workspaces/{ws}/pause", {"until": iso_in(45)}
            elif kind == "resume":
                method, path, body = "POST", f"/api/v1/workspaces/{ws}/resume", {}
            elif kind == "cancel":
                if not active_ids:
                    kind, path = "jobs_all", "/api/v1/jobs?limit=50"
                else:
                    method, path, body = "POST", f"/api/v1/jobs/{active_ids.pop()}/cancel", {}
            elif kind == "health":
                path = "/health"
            elif kind == "ready":
                path = "/ready"
            else:
                path = "/health/deep"
            fresh = rng.random() < 0.25
            t0 = time.monotonic()
            status, payload = client.request(method, path, body, fresh=fresh)
            ms = (time.monotonic() - t0) * 1000.0
            ok = status in expected.get(kind, (200,))
            out.write(f"{time.time():.3f} {kind} {status} {ms:.2f} {'ok' if ok else 'BAD'}\n")
            out.flush()
            if status == 200 and kind in ("jobs_of_workspace", "jobs_all"):
                try:
                    jobs = json.loads(payload).get("jobs", [])
                    job_ids = ([j["id"] for j in jobs] + job_ids)[:200]
                    active_ids = [j["id"] for j in jobs if j.get("status") in ("queued", "running")][:20]
                except (ValueError, KeyError, AttributeError):
                    pass
            next_t += rng.expovariate(rate)
            delay = next_t - time.monotonic()
            if delay > 0:
                stop.wait(delay)
            else:
                next_t = time.monotonic()


def scrape_loop(port, interval, out_path, stop):
    """GET /metrics every `interval` s on a new connection; one line each:
    unix_time status bytes ms completed running queued."""
    with open(out_path, "w") as out:
        next_t = time.monotonic()
        while not stop.is_set():
            try:
                body, secs = u.scrape(port, timeout=30)
                done = u.counter_sum(body, "provisioner_jobs_completed_total")
                running = u.metric_value(body, "provisioner_jobs_running_total") or 0
                queued = u.metric_value(body, "provisioner_jobs_queued") or 0
                out.write(f"{time.time():.3f} 200 {len(body)} {secs * 1000:.2f} "
                          f"{done:.0f} {running:.0f} {queued:.0f}\n")
            except Exception as e:  # noqa: BLE001 - any failure is recorded
                out.write(f"{time.time():.3f} {type(e).__name__} 0 0 -1 -1 -1\n")
            out.flush()
            next_t += interval
            delay = next_t - time.monotonic()
            if delay > 0:
                stop.wait(delay)
            else:
                next_t = time.monotonic()


# ---------------------------------------------------------------- sampling


def children(pid):
    """(live children, zombies) of `pid`, from /proc."""
    live = zombies = 0
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                stat = f.read()
        except OSError:
            continue
        rest = stat[stat.rfind(")") + 2:].split()
        if len(rest) >= 2 and int(rest[1]) == pid:
            if rest[0] == "Z":
                zombies += 1
            else:
                live += 1
    return live, zombies


def last_lines(path, since):
    """Lines of a traffic/scrape file with a time >= since."""
    out = []
    try:
        with open(path) as f:
            for line in f:
                parts = line.split()
                if parts and float(parts[0]) >= since:
                    out.append(parts)
    except OSError:
        pass
    return out


def dir_mb(path):
    total = 0
    for root, _, files in os.walk(path):
        for name in files:
            try:
                total += os.lstat(os.path.join(root, name)).st_size
            except OSError:
                pass
    return total / 1e6


def mean(xs):
    return sum(xs) / len(xs) if xs else float("nan")


def slope_per_hour(points):
    """Least-squares slope of [(t seconds, value)], per hour."""
    if len(points) < 2:
        return float("nan")
    mt = mean([t for t, _ in points])
    mv = mean([v for _, v in points])
    den = sum((t - mt) ** 2 for t, _ in points)
    if den == 0:
        return float("nan")
    return sum((t - mt) * (v - mv) for t, v in points) / den * 3600.0


# ---------------------------------------------------------------- main


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--bin-dir", required=True)
    ap.add_argument("--work", required=True)
    ap.add_argument("--minutes", type=float, default=30.0)
    ap.add_argument("--workspaces", type=int, default=50)
    ap.add_argument("--period", type=int, default=30,
                    help="seconds of one deploy/destroy cycle per workspace; divides 60")
    ap.add_argument("--concurrency", type=int, default=8)
    ap.add_argument("--api-rate", type=float, default=10.0, help="API requests per second")
    ap.add_argument("--scrape-interval", type=float, default=1.0)
    ap.add_argument("--sample-interval", type=float, default=10.0)
    ap.add_argument("--time-scale", default="0.2", help="FAKE_TOFU_TIME_SCALE")
    ap.add_argument("--history-limit", type=int, default=10,
                    help="state.history_limit: small, so that pruning starts within minutes")
    args = ap.parse_args()
    if args.period < 2 or 60 % args.period:
        ap.error("--period must divide 60")

    work, bin_dir = args.work, args.bin_dir
    os.makedirs(f"{work}/templates/t", exist_ok=True)
    with open(f"{work}/templates/t/main.tf", "w") as f:
        f.write("# the fake tofu ignores HCL\n")
    with open(f"{work}/control.json", "w") as f:
        # two resources, one fake second each: a job runs for a moment, so
        # that cancels and manual actions meet running jobs
        f.write('{"resources": 2, "apply_seconds": 1}\n')
    names = [f"soak-{i:03d}" for i in range(args.workspaces)]
    half = args.period // 2
    lines = [
        'server: {listen: "127.0.0.1:0"}',
        f"scheduler: {{timezone: UTC, max_concurrent_jobs: {args.concurrency}, kill_grace: 5s,"
        " retry: {max_attempts: 2, backoff: 5s}}",
        f"opentofu: {{binary: {bin_dir}/tofu, plugin_cache_dir: cache, lock_timeout: 10s,"
        ' pass_env: ["FAKE_TOFU_*"]}',
        f"state: {{dir: state, history_limit: {args.history_limit}}}",
        "logging: {level: info, format: json}",
        "templates_dir: templates",
        "workspaces:",
    ]
    for i, name in enumerate(names):
        d = i % half
        deploy = ",".join(str(s) for s in range(d, 60, args.period))
        destroy = ",".join(str(s) for s in range(d + half, 60, args.period))
        lines.append(f"  - {{name: {name}, template: t, variables: {{n: {i}}}, cost_per_hour: 0.1,"
                     f' schedule: {{deploy: "{deploy} * * * * *", destroy: "{destroy} * * * * *"}}}}')
    with open(f"{work}/config.yaml", "w") as f:
        f.write("\n".join(lines) + "\n")

    env = {
        "PATH": "/usr/bin:/bin", "HOME": work, "LANG": "C.UTF-8",
        "FAKE_TOFU_CONTROL": f"{work}/control.json", "FAKE_TOFU_LOG": "/dev/null",
        "FAKE_TOFU_TIME_SCALE": args.time_scale, "FAKE_TOFU_OTLP": "off",
    }
    daemon_log = f"{work}/daemon.log"
    log(f"# {dt.datetime.now(dt.timezone.utc):%Y-%m-%dT%H:%M:%SZ} {os.cpu_count()} cores, "
        f"load average {' '.join(open('/proc/loadavg').read().split()[:3])}, nice {os.nice(0)}")
    log(f"# soak: {args.minutes:g} min, {args.workspaces} workspaces each deployed and destroyed "
        f"every {args.period} s, max_concurrent_jobs {args.concurrency}, history_limit "
        f"{args.history_limit}; API traffic "
        f"~{args.api_rate:g} req/s; /metrics every {args.scrape_interval:g} s; samples every "
        f"{args.sample_interval:g} s; work dir {work}")
    with open(daemon_log, "wb") as err:
        proc = subprocess.Popen([f"{bin_dir}/provisioner", "serve", "--config", f"{work}/config.yaml"],
                                stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=err,
                                cwd=work, env=env, start_new_session=True)
    with open(f"{work}/daemon.pid", "w") as f:
        f.write(str(proc.pid))
    pid = proc.pid
    stop = multiprocessing.Event()
    workers = []
    problems, warnings = [], []
    try:
        port = u.wait_started(proc, daemon_log, 120)
        if port is None:
            log("the daemon did not start:\n" + u.tail(daemon_log))
            return 1
        traffic_file, scrape_file = f"{work}/traffic.txt", f"{work}/scrapes.txt"
        workers = [
            multiprocessing.Process(target=traffic_loop, args=(port, names, args.api_rate,
                                                               traffic_file, stop, 1)),
            multiprocessing.Process(target=scrape_loop, args=(port, args.scrape_interval,
                                                              scrape_file, stop)),
        ]
        for w in workers:
            w.start()
        t_begin = time.time()
        duration = args.minutes * 60.0
        log(f"\n{'t min':>6} {'RSS MiB':>8} {'HWM MiB':>8} {'fds':>4} {'thr':>4} {'kids':>4} "
            f"{'zomb':>4} {'jobs':>6} {'jobs/min':>8} {'api req':>7} {'api bad':>7} "
            f"{'api p99':>8} {'scr ms':>7} {'state MB':>8}")
        samples = []
        next_sample = t_begin + args.sample_interval
        prev_done, prev_t = 0.0, t_begin
        while True:
            delay = next_sample - time.time()
            if delay > 0:
                time.sleep(delay)
            now = time.time()
            if proc.poll() is not None:
                problems.append(f"the daemon exited during the soak (code {proc.returncode}) at "
                                f"{(now - t_begin) / 60:.1f} min")
                break
            st = u.proc_status(pid)
            fds = u.open_fds(pid)
            kids, zombies = children(pid)
            window = last_lines(traffic_file, now - args.sample_interval)
            api_n = len(window)
            api_bad = sum(1 for p in window if p[4] != "ok")
            api_p99 = u.percentile([float(p[3]) for p in window], 99)
            scr = [p for p in last_lines(scrape_file, now - args.sample_interval) if p[1] == "200"]
            done = float(scr[-1][4]) if scr else prev_done
            scr_ms = max((float(p[3]) for p in scr), default=float("nan"))
            rate = (done - prev_done) / (now - prev_t) * 60.0
            prev_done, prev_t = done, now
            mb = dir_mb(f"{work}/state")
            row = {"t": now - t_begin, "rss": st.get("VmRSS", 0), "hwm": st.get("VmHWM", 0),
                   "fds": fds, "threads": st.get("Threads", 0), "kids": kids, "zombies": zombies,
                   "state_mb": mb}
            samples.append(row)
            log(f"{row['t'] / 60:6.2f} {u.mib(row['rss']):8.1f} {u.mib(row['hwm']):8.1f} {fds:4d} "
                f"{row['threads']:4d} {kids:4d} {zombies:4d} {done:6.0f} {rate:8.1f} {api_n:7d} "
                f"{api_bad:7d} {api_p99:8.1f} {scr_ms:7.1f} {mb:8.1f}")
            next_sample += args.sample_interval
            if now - t_begin >= duration:
                break
        stop.set()
        for w in workers:
            w.join(35)
            if w.is_alive():
                w.terminate()

        # ---- flatness after warm-up
        log("\n== flat after warm-up? (warm-up = the first quarter; Q2 = second quarter, "
            "Q4 = last quarter; slope over Q2-Q4)")
        total = samples[-1]["t"] if samples else 0
        q2 = [s for s in samples if total * 0.25 <= s["t"] < total * 0.5]
        q4 = [s for s in samples if s["t"] >= total * 0.75]
        post = [s for s in samples if s["t"] >= total * 0.25]
        if len(q2) < 2 or len(q4) < 2:
            warnings.append("too few samples for a flatness verdict (run longer)")
        # (key, label, unit scale, allowed growth of the Q4 mean over the Q2
        # mean, hard): the state dir only warns, since its journals and job
        # logs fill up to history_limit per workspace before pruning starts
        checks = [
            ("rss", "RSS", 1 / 1048576, lambda m2: max(2.0, 0.02 * m2), "MiB", True),
            ("fds", "open fds", 1, lambda m2: 2.0, "", True),
            ("threads", "threads", 1, lambda m2: 2.0, "", True),
            ("zombies", "zombie children", 1, lambda m2: 0.5, "", True),
            ("state_mb", "state dir", 1, lambda m2: max(1.0, 0.1 * m2), "MB", False),
        ]
        log(f"{'measure':16s} {'Q2 mean':>10} {'Q4 mean':>10} {'Q4-Q2':>9} {'max':>9} "
            f"{'slope/h':>10}  verdict")
        for key, label, scale, allowed, unit, hard in checks:
            m2 = mean([s[key] * scale for s in q2])
            m4 = mean([s[key] * scale for s in q4])
            mx = max((s[key] * scale for s in samples), default=float("nan"))
            slope = slope_per_hour([(s["t"], s[key] * scale) for s in post])
            flat = not (m4 - m2 > allowed(m2)) if q2 and q4 else None
            verdict = "n/a" if flat is None else ("flat" if flat else "GROWING")
            log(f"{label:16s} {m2:10.2f} {m4:10.2f} {m4 - m2:+9.2f} {mx:9.2f} {slope:+10.2f}  "
                f"{verdict} {unit}")
            if flat is False:
                (problems if hard else warnings).append(
                    f"{label} grows: Q2 mean {m2:.2f}, Q4 mean {m4:.2f} {unit} "
                    f"(slope {slope:+.2f}/h)")

        # ---- traffic and jobs
        api = last_lines(traffic_file, 0)
        log(f"\n== API: {len(api)} requests")
        by_kind = {}
        for p in api:
            by_kind.setdefault(p[1], []).append(p)
        for kind, rows in sorted(by_kind.items()):
            statuses = {}
            for p in rows:
                statuses[p[2]] = statuses.get(p[2], 0) + 1
            ms = [float(p[3]) for p in rows]
            bad = sum(1 for p in rows if p[4] != "ok")
            log(f"  {kind:18s} {len(rows):6d}  p50 {u.percentile(ms, 50):7.2f} ms  p99 "
                f"{u.percentile(ms, 99):7.2f} ms  max {max(ms):8.2f} ms  statuses "
                + " ".join(f"{k}:{v}" for k, v in sorted(statuses.items()))
                + (f"  UNEXPECTED {bad}" if bad else ""))
        bad_api = [p for p in api if p[4] != "ok"]
        server_errors = [p for p in bad_api if not (p[2].isdigit() and int(p[2]) < 500)]
        if server_errors:
            problems.append(f"{len(server_errors)} API request(s) got a 5xx or no answer, e.g. "
                            + "; ".join(" ".join(p[1:4]) for p in server_errors[:5]))
        if len(bad_api) > len(server_errors):
            warnings.append(f"{len(bad_api) - len(server_errors)} API request(s) got an "
                            "unexpected 4xx (see the table)")
        scrapes = last_lines(scrape_file, 0)
        failed = [p for p in scrapes if p[1] != "200"]
        sms = [float(p[3]) for p in scrapes if p[1] == "200"]
        log(f"== /metrics: {len(scrapes)} scrapes, {len(failed)} failed, p50 "
            f"{u.percentile(sms, 50):.1f} ms, p99 {u.percentile(sms, 99):.1f} ms, max "
            f"{max(sms, default=0):.1f} ms")
        if failed:
            problems.append(f"{len(failed)} scrape(s) failed, e.g. {failed[:3]}")
        if proc.poll() is None:
            body, _ = u.scrape(port)
            by_result = u.counter_sum(body, "provisioner_jobs_completed_total", by=("result",))
            fires = u.counter_sum(body, "provisioner_schedule_fires_total", by=("outcome",))
            manual = u.counter_sum(body, "provisioner_manual_actions_total", by=("action",))
            log("== jobs by result: " + ", ".join(f"{k[0]} {v:.0f}" for k, v in
                                                  sorted(by_result.items()) if v))
            log("== schedule fires by outcome: " + ", ".join(f"{k[0]} {v:.0f}" for k, v in
                                                            sorted(fires.items()) if v))
            log("== manual actions: " + ", ".join(f"{k[0]} {v:.0f}" for k, v in
                                                 sorted(manual.items()) if v))
            failed_jobs = sum(v for k, v in by_result.items() if k[0] in ("failed", "timeout"))
            if failed_jobs:
                warnings.append(f"{failed_jobs:.0f} job(s) failed or timed out")

        # ---- stop
        if proc.poll() is None:
            t_stop = time.monotonic()
            proc.send_signal(signal.SIGTERM)
            try:
                rc = proc.wait(60)
            except subprocess.TimeoutExpired:
                proc.kill()
                rc = proc.wait()
                problems.append("the daemon did not stop within 60 s of SIGTERM")
            log(f"== stop: SIGTERM to exit {time.monotonic() - t_stop:.2f} s, exit code {rc}")
            if rc != 0:
                problems.append(f"the daemon exited {rc} after SIGTERM")
            time.sleep(0.5)
            leftovers = u.processes_running(f"{bin_dir}/tofu")
            if leftovers:
                problems.append(f"tofu processes still running after the daemon stopped: "
                                f"{leftovers[:10]}")
        levels, _, notable = u.analyse_daemon_log(daemon_log, 0)
        log("== daemon log lines by level: " + ", ".join(f"{k} {v}" for k, v in
                                                        sorted(levels.items())))
        for key, count in sorted(notable.items(), key=lambda kv: -kv[1])[:15]:
            log(f"  {count:6d} x {key}")
        if levels.get("error") or levels.get("fatal"):
            warnings.append(f"{levels.get('error', 0) + levels.get('fatal', 0)} error line(s) "
                            "in the daemon log")
        log("")
        for w in warnings:
            log(f"WARN: {w}")
        for p in problems:
            log(f"FAIL: {p}")
        log("PASS: RSS, fds and threads flat; no server error" if not problems
            else f"{len(problems)} failure(s)")
        return 1 if problems else 0
    finally:
        stop.set()
        for w in workers:
            if w.is_alive():
                w.terminate()
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(60)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()


if __name__ == "__main__":
    sys.exit(main())
