#!/usr/bin/env python3
"""A kill -9 crash campaign: the real `provisioner serve` with the fake tofu.

The campaign writes a config with W workspaces whose 6-field cron schedules
deploy and destroy every few seconds, points `opentofu.binary` at a copy of the
fake tofu (tests/support/fake_tofu/README.md) with its invocation journal
(`FAKE_TOFU_LOG`) on, starts the daemon on port 0 and keeps a client thread
sending deploy, destroy, pause (with and without `until`), resume, cancel and
reload commands. At a random instant (seeded, 0.2-4 s after /ready) it
SIGKILLs the daemon, snapshots the state dir, restarts the daemon on the same
dirs and checks, after every kill:

  I1  state.json loads; or it is corrupt, the restarted daemon loaded the
      backup, said so in its log and kept the bad file as state.json.corrupt-*.
      A missing state.json must leave a loadable .tmp or .bak. The restarted
      daemon must reach /ready.
  I2  Every command the daemon acknowledged (2xx) before the kill is in the
      state the restarted daemon saved (state.json after /ready):
        - a manual deploy/destroy is in `manual` (same operation and until,
          `at` inside the request's send..reply window) unless a later
          command may have removed it: a later action without `until`
          supersedes it, a later action with `until` drops it only if it had
          expired by then. Only what provably survives is required; what a
          later acknowledged command provably removed must be gone, and every
          entry must come from a command the client sent.
        - the last acknowledged pause/resume decides `pause`: a pause leaves
          a window with its `until`; a resume leaves no window or one that
          ended by the reply. A command in flight at the kill (no reply) may
          or may not have been applied: either outcome is accepted.
        - an acknowledged cancel names a job that is in the workspace's
          history.jsonl (finished before the kill, cancelled while queued, or
          marked interrupted at the restart).
  I3  No two tofu processes ever ran at once in one workspace directory. From
      the journal, runs are paired start/exit by pid and grouped by cwd. The
      journal is O_APPEND and each record is one write(), so its byte offset
      is a clock every tofu and this script share: run B overlaps run A when
      B's start record comes before A's exit record. A run with no exit
      record (SIGKILL, or SIGPIPE once its daemon died) is watched in /proc by
      a monitor thread every ~10 ms: it reads the journal size S, then checks
      /proc/<pid>/stat (same start time, so no pid reuse; a zombie counts as
      dead). Alive there proves the run outlived every record before S;
      dead proves it ended before every record written after the next size
      read. A B that starts inside the proven lifetime is a violation; one
      that starts between "last seen alive" and "first seen dead" is reported
      as a possible overlap only.
  I4  Every job `running` in the state.json snapshot taken after the kill is
      in its workspace's history.jsonl after the restart exactly once, as
      `interrupted` (or, if the killed daemon had already journaled it, with
      that result and nothing more); and an interrupted workspace is
      reconciled afterwards: a later daemon starts tofu in that directory
      (checked from the journal, lazily, and at the end with a deadline).
  I5  Every history.jsonl loads: each newline-terminated line is a job record
      (JSON with id, workspace, operation, result) and no job id appears
      twice; only an unterminated (torn) last line may be skipped.
  I6  At the end (daemon stopped with SIGTERM and waited for), no tofu process
      of the campaign is alive (journal pids, and every process whose
      executable is this campaign's copy of the fake or of the daemon).
  I7  No scheduled fire runs twice: no two `schedule` job records in a
      history.jsonl share an operation and `scheduled_for`, and a
      workspace's saved `last_fire` (the latest fire already taken) never
      goes back from one check to the next.

With --mode stop the daemon gets SIGSTOP for a random 1-10 s and then SIGCONT
instead of SIGKILL; the checks are I3, I5 and I7, I2 against the running
daemon, and that it keeps serving (/ready, then a 2xx for the client).

With --mode clockstep the daemon's wall clock is stepped while it serves,
through the test hook PROVISIONER_TEST_CLOCK_OFFSET_FILE
(src/platform/offset_clock.h): NTP-sized steps of up to 30 s either way,
steps of 1 min-2 h either way (a step back freezes the schedule until the
wall clock catches up), and steps of 25-27 h either way (a step back that
large is followed). The client keeps sending for 0.5-3 s; then half the
cycles SIGKILL and restart the daemon (I1-I5, I7) and the others check the
running one as --mode stop does. Times the daemon stamped are compared
through DaemonTime, which knows the offsets.

It prints one line per fault (number, instant after /ready, the jobs running
in the snapshot, violations) with the evidence of each violation under it,
notes that are not violations, and at the end `kills=N violations=V`. It exits
0 when no invariant was violated, 1 otherwise, 130 when interrupted; the temp
dir (config, daemon logs, journal, state, per-kill snapshots) is kept when
something was violated or with --keep.

The campaign never leaves processes behind: on exit, an exception or Ctrl-C it
SIGKILLs the daemon's process group and every process whose executable is one
of its copied binaries (each fake tofu runs in its own process group).

Python 3 standard library only. See docs/reliability.md.
"""

import argparse
import bisect
import dataclasses
import datetime
import http.client
import json
import math
import os
import random
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time

READY_DEADLINE = 30.0  # seconds for a (re)started daemon to answer /ready
POLL = 0.02  # seconds between polls of a condition with a deadline
MONITOR_INTERVAL = 0.01  # seconds between /proc liveness sweeps
HTTP_TIMEOUT = 20.0  # longer than the longest SIGSTOP
HISTORY_DEADLINE = 5.0  # for the restart's interrupted records to appear
RECONCILE_DEADLINE = 30.0  # at the end, for pending reconciliations
STOP_DEADLINE = 60.0  # for the final SIGTERM
# The daemon takes `now` at the start of its loop tick and then drains the
# API inbox, so a manual action's `at` may precede the request by a little.
AT_SLACK = 0.05
# A wall-clock step back larger than this is followed instead of waited out
# (kMaxClockStepBack in src/scheduler/reconciler.cc).
DAY_STEP_BACK = 24 * 3600.0
JOB_COMMANDS = ("init", "plan", "apply", "destroy")

# Per-workspace behaviour of the fake (control files). Fake seconds times
# time_scale are real seconds: a fast job takes ~0.5 s, a slow one ~3 s with
# a silent 2 s resource, so that kills often land mid-apply.
PROFILES = {
    "fast": {"resources": 2, "apply_seconds": 1, "time_scale": 0.15, "heartbeat_seconds": 100},
    "medium": {"resources": 3, "apply_seconds": 2, "plan_seconds": 2, "time_scale": 0.15,
               "heartbeat_seconds": 100},
    "slow": {"resources": 2, "apply_seconds": 1, "slow_seconds": 15, "time_scale": 0.15,
             "heartbeat_seconds": 100},
}
PROFILE_ORDER = ("slow", "medium", "fast")

# --mode clockstep: (kind, weight, shortest, longest step in seconds). Back
# steps under DAY_STEP_BACK freeze the daemon's schedule until wall time
# catches up (or a forward step comes); day-back steps are followed.
CLOCK_STEPS = (
    ("ntp-forward", 15, 0.5, 30.0),
    ("ntp-back", 15, -30.0, -0.5),
    ("forward", 25, 60.0, 7200.0),
    ("back", 15, -7200.0, -60.0),
    ("day-forward", 15, 90000.0, 97200.0),
    ("day-back", 15, -97200.0, -90000.0),
)


# ---------------------------------------------------------------------------
# Small helpers


def parse_time(text):
    """RFC 3339 ("...Z", "...+00:00", fractions) to epoch seconds; None stays None."""
    if text is None:
        return None
    if text.endswith("Z") or text.endswith("z"):
        text = text[:-1] + "+00:00"
    m = re.match(r"^(.*T\d\d:\d\d:\d\d)(\.\d+)?([+-]\d\d:\d\d)$", text)
    if not m:
        raise ValueError("not an RFC 3339 time: %r" % text)
    base = datetime.datetime.fromisoformat(m.group(1) + m.group(3))
    frac = float(m.group(2)) if m.group(2) else 0.0
    return base.timestamp() + frac


def fmt_time(epoch):
    """Epoch seconds as RFC 3339 UTC with milliseconds."""
    dt = datetime.datetime.fromtimestamp(epoch, datetime.timezone.utc)
    return dt.strftime("%Y-%m-%dT%H:%M:%S.") + "%03dZ" % (dt.microsecond // 1000)


def fmt_whole(epoch):
    """Whole-second RFC 3339 UTC, the form sent as `until`."""
    return datetime.datetime.fromtimestamp(epoch, datetime.timezone.utc).strftime(
        "%Y-%m-%dT%H:%M:%SZ")


def same_time(a, b):
    if a is None or b is None:
        return a is None and b is None
    return abs(a - b) < 0.0015


def wait_until(predicate, deadline_s, interval=POLL):
    """Polls `predicate` until it returns a true value or the deadline passes."""
    end = time.monotonic() + deadline_s
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() >= end:
            return value
        time.sleep(interval)


def read_proc_stat(pid):
    """(state, ppid, start time in ticks) of a process, or None when it is gone."""
    try:
        with open("/proc/%d/stat" % pid, "rb") as f:
            text = f.read().decode("ascii", "replace")
    except OSError:
        return None
    rest = text[text.rfind(")") + 2:].split()
    # Fields after "(comm)": state(3) ppid(4) ... starttime(22).
    return rest[0], int(rest[1]), int(rest[19])


def processes_running(exe_paths):
    """Pids of live processes whose executable is one of `exe_paths`."""
    out = []
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            exe = os.readlink("/proc/%s/exe" % name)
        except OSError:
            continue  # gone, a zombie or a kernel thread
        if exe in exe_paths:
            st = read_proc_stat(int(name))
            if st is not None and st[0] not in "ZX":
                out.append(int(name))
    return out


def tail(path, lines=40):
    try:
        with open(path, "r", errors="replace") as f:
            return "".join(f.readlines()[-lines:])
    except OSError as e:
        return "(cannot read %s: %s)" % (path, e)


def load_json_file(path):
    """(value, error): the parsed JSON of a file, or None and why not."""
    try:
        with open(path, "rb") as f:
            return json.loads(f.read().decode("utf-8")), None
    except FileNotFoundError:
        return None, "missing"
    except (OSError, ValueError) as e:
        return None, str(e)


def read_live_state(state_dir):
    """(state, error) of a running daemon's state dir, read as the daemon loads it.

    A save renames state.json to .bak before it renames .tmp to state.json, so
    a reader can find state.json missing; the synced .tmp is then the newest.
    """
    err = None
    for _ in range(50):
        for name in ("state.json", "state.json.tmp"):
            value, err = load_json_file(os.path.join(state_dir, name))
            if err != "missing":
                return value, err
        time.sleep(0.001)  # both renamed away under us: look again
    return None, err


def valid_state(value):
    return (isinstance(value, dict) and value.get("version") == 1
            and isinstance(value.get("workspaces"), dict))


# ---------------------------------------------------------------------------
# The fake tofu's invocation journal and the liveness monitor (I3, I6)


@dataclasses.dataclass
class Run:
    """One tofu invocation, from its journal records and /proc observations."""
    pid: int
    ppid: int
    cwd: str
    command: str
    time: str
    start_off: int  # byte offset of its start record
    start_end: int  # byte offset just past it
    exit_off: int = None  # byte offset of its exit record
    exit_record: dict = None
    starttime: int = None  # /proc start time, against pid reuse
    alive_bound: int = 0  # it was alive after every record before this offset
    dead_bound: int = None  # it was dead before every record from this offset
    last_alive_wall: float = None
    dead_wall: float = None

    def end_lower(self):
        """Journal offset before which the run was provably still running."""
        if self.exit_off is not None:
            return self.exit_off
        return max(self.start_end, self.alive_bound)

    def end_upper(self):
        """Journal offset from which the run had provably ended (None: not yet)."""
        if self.exit_off is not None:
            return self.exit_off
        return self.dead_bound

    def ended(self):
        return self.exit_off is not None or self.dead_bound is not None

    def describe(self, instances):
        who = instances.describe_pid(self.ppid)
        text = "pid %d `tofu %s` started %s by %s (journal offset %d)" % (
            self.pid, self.command, self.time, who, self.start_off)
        if self.exit_record is not None:
            text += "; exit record at offset %d: exit_code=%s signals=%s" % (
                self.exit_off, self.exit_record.get("exit_code"),
                self.exit_record.get("signals"))
        elif self.dead_bound is not None:
            text += ("; no exit record (SIGKILL/SIGPIPE): seen alive until %s (offset %d), "
                     "gone at %s (offset %d)" % (
                         fmt_time(self.last_alive_wall) if self.last_alive_wall else "-",
                         self.end_lower(), fmt_time(self.dead_wall), self.dead_bound))
        else:
            text += "; still running (seen alive at %s)" % (
                fmt_time(self.last_alive_wall) if self.last_alive_wall else "-")
        return text


class Journal:
    """Reads FAKE_TOFU_LOG as it grows and watches the runs without an exit record."""

    def __init__(self, path):
        self.path = path
        self.lock = threading.Lock()
        self.runs = []
        self._open = []  # runs with neither an exit record nor a death seen
        self.bad_lines = []  # (offset, text): lines that are not JSON
        self._latest_by_pid = {}
        self._pos = 0
        self._partial = b""
        self._stop = threading.Event()
        self._thread = None

    def size(self):
        try:
            return os.stat(self.path).st_size
        except FileNotFoundError:
            return 0

    def _ingest(self):
        try:
            with open(self.path, "rb") as f:
                f.seek(self._pos)
                data = f.read()
        except FileNotFoundError:
            return
        if not data:
            return
        base = self._pos - len(self._partial)
        data = self._partial + data
        self._pos += len(data) - len(self._partial)
        lines = data.split(b"\n")
        self._partial = lines.pop()  # unterminated: a record being written
        off = base
        for raw in lines:
            end = off + len(raw) + 1
            self._record(raw, off, end)
            off = end

    def _record(self, raw, off, end):
        try:
            rec = json.loads(raw.decode("utf-8"))
        except ValueError:
            self.bad_lines.append((off, raw[:200]))
            return
        pid = rec.get("pid")
        if rec.get("event") == "start":
            prev = self._latest_by_pid.get(pid)
            if prev is not None and not prev.ended():
                prev.dead_bound = off  # its pid was reused: it had died before
                prev.dead_wall = time.time()
            run = Run(pid=pid, ppid=rec.get("ppid", 0), cwd=rec.get("cwd", ""),
                      command=rec.get("command", ""), time=rec.get("time", ""),
                      start_off=off, start_end=end)
            self.runs.append(run)
            self._open.append(run)
            self._latest_by_pid[pid] = run
        elif rec.get("event") == "exit":
            run = self._latest_by_pid.get(pid)
            if run is not None and run.exit_off is None:
                run.exit_off = off
                run.exit_record = rec

    def poll(self):
        """One monitor step: read new records, then check every open run in /proc."""
        with self.lock:
            size_before = self.size()
            self._ingest()
            now = time.time()
            dead = []
            self._open = [r for r in self._open if not r.ended()]
            for run in self._open:
                st = read_proc_stat(run.pid)
                same = st is not None and (run.starttime is None or st[2] == run.starttime)
                if same and st[0] not in "ZX":
                    if run.starttime is None:
                        run.starttime = st[2]
                    run.alive_bound = max(run.alive_bound, size_before)
                    run.last_alive_wall = now
                else:
                    dead.append(run)
            if dead:
                size_after = self.size()
                for run in dead:
                    run.dead_bound = size_after
                    run.dead_wall = time.time()
                self._open = [r for r in self._open if not r.ended()]

    def start_monitor(self):
        def loop():
            while not self._stop.wait(MONITOR_INTERVAL):
                self.poll()
        self._thread = threading.Thread(target=loop, name="journal-monitor", daemon=True)
        self._thread.start()

    def stop_monitor(self):
        self._stop.set()
        if self._thread is not None:
            self._thread.join(5)

    def snapshot(self):
        with self.lock:
            return [dataclasses.replace(r) for r in self.runs]

    def open_runs(self):
        with self.lock:
            return [dataclasses.replace(r) for r in self._open if not r.ended()]


def find_overlaps(runs, workspaces_root):
    """(proven, possible) pairs (A, B) of runs in one workspace dir, A first."""
    by_cwd = {}
    for r in runs:
        if r.cwd.startswith(workspaces_root + os.sep):
            by_cwd.setdefault(r.cwd, []).append(r)
    proven, possible = [], []
    for group in by_cwd.values():
        group.sort(key=lambda r: r.start_off)
        for i, a in enumerate(group):
            lower, upper = a.end_lower(), a.end_upper()
            for b in group[i + 1:]:
                if upper is not None and b.start_off >= upper:
                    break
                if b.start_off < lower:
                    proven.append((a, b))
                else:
                    possible.append((a, b))
    return proven, possible


# ---------------------------------------------------------------------------
# The daemon


class DaemonError(Exception):
    pass


@dataclasses.dataclass
class Instance:
    """One start of the daemon."""
    index: int
    pid: int
    log_path: str
    journal_off: int  # journal size when it was started
    started_wall: float
    port: int = None
    ready_wall: float = None
    end_wall: float = None  # when it was killed or stopped
    end_how: str = ""


class DaemonTime:
    """The daemon's clock as a function of real time, for comparing its times.

    Without clock steps the daemon's times are real times. With them (--mode
    clockstep) its wall clock is real time plus the offset in force, and it
    schedules and stamps at a logical time: the highest wall time it has read
    since it started, unless the wall clock stepped back more than
    DAY_STEP_BACK, which it follows (scheduler/reconciler.h). Steps happen
    only while no command is in flight. lo(t) and hi(t) bound the time the
    daemon may have stamped on something it did at real time t: lo is its
    wall time AT_SLACK earlier (a tick reads the clock, then drains the API
    inbox), hi the high-water mark.
    """

    def __init__(self):
        self.segments = []  # (real start, offset s, high-water mark before it or None)
        self.starts = []  # the segments' real starts, for bisect

    def _at(self, t):
        i = bisect.bisect_right(self.starts, t)
        return self.segments[i - 1] if i else (t, 0.0, None)

    def _add(self, segment):
        self.segments.append(segment)
        self.starts.append(segment[0])

    def offset(self):
        return self.segments[-1][1] if self.segments else 0.0

    def start_instance(self, t):
        self._add((t, self.offset(), None))

    def step(self, t, offset):
        """The offset changed at real time t. Returns whether the daemon follows it back."""
        _, old, hwm = self._at(t)
        hwm = max(hwm if hwm is not None else -math.inf, t + old)
        follows = t + offset < hwm - DAY_STEP_BACK
        self._add((t, offset, None if follows else hwm))
        return follows

    def wall(self, t):
        return t + self._at(t)[1]

    def lo(self, t):
        return min(self.wall(t - AT_SLACK), self.wall(t) - AT_SLACK)

    def hi(self, t):
        _, off, hwm = self._at(t)
        return max(hwm if hwm is not None else -math.inf, t + off)


class Instances:
    def __init__(self):
        self.items = []
        self.times = DaemonTime()

    def describe_pid(self, pid):
        for inst in self.items:
            if inst.pid == pid:
                how = " (%s)" % inst.end_how if inst.end_how else ""
                return "daemon #%d pid %d%s" % (inst.index, pid, how)
        return "ppid %d (not a campaign daemon)" % pid

    def pids_from(self, index):
        return {i.pid for i in self.items if i.index >= index}


class Daemon:
    """Starts, kills and stops `provisioner serve` on the campaign's dirs."""

    def __init__(self, binary, config_path, root, journal, instances, clock_file=None):
        self.binary = binary
        self.config_path = config_path
        self.root = root
        self.journal = journal
        self.instances = instances
        self.proc = None
        self.current = None
        self.env = {"PATH": "/usr/bin:/bin", "HOME": root, "LANG": "C.UTF-8", "TZ": "UTC"}
        if clock_file:
            self.env["PROVISIONER_TEST_CLOCK_OFFSET_FILE"] = clock_file  # platform/offset_clock.h

    def start(self):
        index = len(self.instances.items) + 1
        log_path = os.path.join(self.root, "logs", "daemon-%02d.log" % index)
        log = open(log_path, "wb")
        self.instances.times.start_instance(time.time())
        try:
            self.proc = subprocess.Popen(
                [self.binary, "serve", "--config", self.config_path], cwd=self.root,
                env=self.env, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                start_new_session=True)
        finally:
            log.close()
        self.current = Instance(index=index, pid=self.proc.pid, log_path=log_path,
                                journal_off=self.journal.size(), started_wall=time.time())
        self.instances.items.append(self.current)
        port = wait_until(self._port, READY_DEADLINE)
        if port == -1:
            raise DaemonError("daemon #%d exited during start-up (exit %s):\n%s" % (
                index, self.proc.poll(), tail(log_path)))
        if not port:
            raise DaemonError("daemon #%d did not log its port within %.0f s (exit %s):\n%s" % (
                index, READY_DEADLINE, self.proc.poll(), tail(log_path)))
        self.current.port = port
        if not wait_until(lambda: self.proc.poll() is not None or self._ready(), READY_DEADLINE) \
                or self.proc.poll() is not None:
            raise DaemonError("daemon #%d not ready within %.0f s (exit %s):\n%s" % (
                index, READY_DEADLINE, self.proc.poll(), tail(log_path)))
        self.current.ready_wall = time.time()
        return self.current

    def _port(self):
        if self.proc.poll() is not None:
            return -1
        try:
            with open(self.current.log_path, "r", errors="replace") as f:
                m = re.search(r"listening on port (\d+)", f.read())
        except OSError:
            return None
        return int(m.group(1)) if m else None

    def _ready(self):
        try:
            status, _ = http_call(self.current.port, "GET", "/ready", timeout=2)
            return status == 200
        except (OSError, http.client.HTTPException):
            return False

    def ready_within(self, seconds):
        return bool(wait_until(self._ready, seconds))

    def kill9(self):
        os.kill(self.proc.pid, signal.SIGKILL)
        self.proc.wait()
        self.current.end_wall = time.time()
        self.current.end_how = "SIGKILLed"

    def signal(self, sig):
        os.kill(self.proc.pid, sig)

    def terminate(self, timeout):
        """SIGTERM and wait; returns the exit code, or None at the deadline."""
        os.kill(self.proc.pid, signal.SIGTERM)
        try:
            code = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            return None
        self.current.end_wall = time.time()
        self.current.end_how = "stopped with SIGTERM"
        return code

    def kill_group(self):
        """Cleanup: SIGKILL the daemon's process group (it leads its own session)."""
        if self.proc is None or self.proc.poll() is not None:
            return
        try:
            os.killpg(self.proc.pid, signal.SIGCONT)
            os.killpg(self.proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        self.proc.wait()


def http_call(port, method, path, body=None, timeout=HTTP_TIMEOUT):
    """(status, parsed JSON or raw text). Raises OSError/HTTPException on transport errors."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        headers = {}
        data = None
        if method == "POST":
            data = json.dumps(body).encode() if body is not None else b""
            if body is not None:
                headers["Content-Type"] = "application/json"
        conn.request(method, path, body=data, headers=headers)
        resp = conn.getresponse()
        raw = resp.read()
        try:
            return resp.status, json.loads(raw.decode("utf-8")) if raw else None
        except ValueError:
            return resp.status, raw.decode("utf-8", "replace")
    finally:
        conn.close()


# ---------------------------------------------------------------------------
# The config


class ConfigWriter:
    """Writes the campaign's config; a rewrite changes schedules and labels only."""

    def __init__(self, root, tofu, journal_path, workspaces, rng):
        self.root = root
        self.path = os.path.join(root, "config.yaml")
        self.tofu = tofu
        self.journal_path = journal_path
        self.names = ["w%02d" % i for i in range(workspaces)]
        self.rng = rng
        self.generation = 0
        self.lock = threading.Lock()

    def write(self):
        with self.lock:
            self.generation += 1
            text = self._render()
            tmp = os.path.join(self.root, ".config.yaml.tmp")
            with open(tmp, "w") as f:
                f.write(text)
            os.replace(tmp, self.path)  # how Ansible saves: a rename over it

    def _render(self):
        lines = [
            'server: {listen: "127.0.0.1:0"}',
            'opentofu: {binary: "%s", lock_timeout: 10s, plugin_cache_dir: cache, pass_env: [],'
            ' env: {FAKE_TOFU_LOG: "%s"}}' % (self.tofu, self.journal_path),
            "scheduler: {timezone: UTC, max_concurrent_jobs: %d, job_timeout: 1m, kill_grace: 2s,"
            " catch_up: true, retry: {max_attempts: 3, backoff: 1s, max_backoff: 2s}}"
            % self.rng.choice((2, 3, 4)),
            "state: {dir: state, history_limit: 100000}",
            "logging: {level: info, format: text}",
            "templates_dir: templates",
            "workspaces:",
        ]
        for i, name in enumerate(self.names):
            period = self.rng.choice((6, 10, 12))
            deploy = self.rng.randrange(period // 2)
            destroy = deploy + period // 2
            control = os.path.join(self.root, "control-%s.json" % PROFILE_ORDER[i % 3])
            lines.append(
                '  - {name: %s, template: t, schedule: {deploy: "%d/%d * * * * *", '
                'destroy: "%d/%d * * * * *"}, env: {FAKE_TOFU_CONTROL: "%s"}, '
                'labels: {generation: "%d"}}'
                % (name, deploy, period, destroy, period, control, self.generation))
        return "\n".join(lines) + "\n"


# ---------------------------------------------------------------------------
# The client: commands and what the daemon answered


@dataclasses.dataclass
class Command:
    seq: int
    kind: str  # deploy, destroy, pause, resume, cancel, reload
    workspace: str
    until: float  # epoch, or None
    job_id: str
    instance: int  # the daemon instance it was sent to
    send: float
    recv: float = None
    status: int = None
    reply: object = None
    error: str = ""
    outcome: str = ""  # acked, rejected, unknown (may have been applied), not_applied

    def describe(self):
        what = self.kind + (" " + self.workspace if self.workspace else "")
        if self.job_id:
            what += " job " + self.job_id
        if self.until is not None:
            what += " until " + fmt_whole(self.until)
        return "#%d %s (sent %s, %s %s)" % (
            self.seq, what, fmt_time(self.send), self.outcome,
            self.status if self.status is not None else self.error)


class Driver(threading.Thread):
    """Sends a random command, waits for its reply, records it; again and again."""

    def __init__(self, rng, names, config, times):
        super().__init__(name="client", daemon=True)
        self.rng = rng
        self.times = times
        self.names = names
        self.config = config
        self.commands = []
        self.port = None
        self.instance = 0
        self._cond = threading.Condition()
        self._go = False
        self._busy = False
        self._stop = False
        self.acked_since = 0.0  # wall time of the last 2xx

    def run(self):
        while True:
            with self._cond:
                while not self._go and not self._stop:
                    self._cond.wait()
                if self._stop:
                    return
                self._busy = True
                port, instance = self.port, self.instance
            try:
                self._one(port, instance)
            finally:
                with self._cond:
                    self._busy = False
                    self._cond.notify_all()
            # Pacing, not synchronization: keeps the request rate moderate and
            # the send..reply windows of consecutive commands apart.
            time.sleep(self.rng.uniform(0.06, 0.25))

    def resume(self, port, instance):
        with self._cond:
            self.port, self.instance = port, instance
            self._go = True
            self._cond.notify_all()

    def pause(self, timeout=HTTP_TIMEOUT + 5):
        """Stops sending; returns once no command is in flight."""
        with self._cond:
            self._go = False
            end = time.monotonic() + timeout
            while self._busy and time.monotonic() < end:
                self._cond.wait(end - time.monotonic())
            return not self._busy

    def stop(self):
        with self._cond:
            self._stop = True
            self._go = False
            self._cond.notify_all()

    def _one(self, port, instance):
        rng = self.rng
        kind = rng.choices(("deploy", "destroy", "pause", "resume", "cancel", "reload", "read"),
                           (20, 20, 12, 12, 14, 8, 6))[0]
        ws = rng.choice(self.names)
        until = None
        body = None
        job_id = ""
        if kind in ("deploy", "destroy", "pause"):
            body = {}
            if rng.random() < (0.4 if kind != "pause" else 0.5):
                # In the daemon's time, or a stepped clock would make it "in the past".
                until = math.ceil(self.times.hi(time.time())) + rng.randint(3, 30)
                body = {"until": fmt_whole(until)}
            path = "/api/v1/workspaces/%s/%s" % (ws, kind)
        elif kind == "resume":
            body, path = {}, "/api/v1/workspaces/%s/resume" % ws
        elif kind == "cancel":
            job_id = self._pick_job(port)
            if not job_id:
                return
            ws = job_id.split("-", 2)[2] if job_id.count("-") >= 2 else ""
            body, path = {}, "/api/v1/jobs/%s/cancel" % job_id
        elif kind == "reload":
            ws = ""
            if rng.random() < 0.5:
                self.config.write()
            path = "/api/v1/reload"
        else:
            try:
                http_call(port, "GET", "/api/v1/workspaces/%s" % ws, timeout=HTTP_TIMEOUT)
            except (OSError, http.client.HTTPException):
                pass
            return
        cmd = Command(seq=len(self.commands) + 1, kind=kind, workspace=ws, until=until,
                      job_id=job_id, instance=instance, send=time.time())
        try:
            cmd.status, cmd.reply = http_call(port, "POST", path, body)
            cmd.recv = time.time()
            if 200 <= cmd.status < 300:
                cmd.outcome = "acked"
                self.acked_since = cmd.recv
            elif 400 <= cmd.status < 500:
                cmd.outcome = "rejected"
            else:
                cmd.outcome = "unknown"  # 503: may still be applied later
        except ConnectionRefusedError as e:
            cmd.outcome, cmd.error = "not_applied", type(e).__name__
        except (OSError, http.client.HTTPException) as e:
            cmd.outcome, cmd.error = "unknown", type(e).__name__  # in flight at a kill
        with self._cond:
            self.commands.append(cmd)

    def _pick_job(self, port):
        try:
            status, reply = http_call(port, "GET", "/api/v1/jobs?limit=40", timeout=HTTP_TIMEOUT)
        except (OSError, http.client.HTTPException):
            return ""
        if status != 200 or not isinstance(reply, dict):
            return ""
        jobs = reply.get("jobs") or []
        live = [j["id"] for j in jobs if j.get("status") in ("running", "queued")]
        if live:
            return self.rng.choice(live)
        return self.rng.choice(jobs)["id"] if jobs and self.rng.random() < 0.3 else ""

    def recorded(self):
        with self._cond:
            return list(self.commands)


# ---------------------------------------------------------------------------
# Checks


def check_state_files(snap_dir, state_dir, log_path):
    """I1: the state the killed daemon left loads, or its recovery is reported."""
    out = []
    value, err = load_json_file(os.path.join(snap_dir, "state.json"))
    if valid_state(value):
        return out, value
    backups = {}
    for name in ("state.json.tmp", "state.json.bak"):
        v, _ = load_json_file(os.path.join(snap_dir, name))
        if valid_state(v):
            backups[name] = v
    if err == "missing":
        if not backups:
            out.append("I1: state.json is missing and neither .tmp nor .bak loads")
        return out, backups.get("state.json.tmp") or backups.get("state.json.bak")
    # Corrupt: the daemon must have moved it aside, loaded .bak and said so.
    log = tail(log_path, 100000)
    moved = [n for n in os.listdir(state_dir) if n.startswith("state.json.corrupt-")]
    if "state.json.bak" not in backups:
        out.append("I1: state.json is corrupt (%s) and state.json.bak does not load" % err)
    if not moved:
        out.append("I1: state.json is corrupt (%s) but no state.json.corrupt-* was kept" % err)
    if "corrupt" not in log:
        out.append("I1: state.json is corrupt (%s) and the daemon's log does not say so" % err)
    return out, backups.get("state.json.bak")


def read_history(path):
    """(records, problems, torn): a history.jsonl as the daemon must be able to read it."""
    try:
        with open(path, "rb") as f:
            data = f.read()
    except FileNotFoundError:
        return [], [], None
    lines = data.split(b"\n")
    last = lines.pop()
    torn = last if last else None
    records, problems = [], []
    for n, raw in enumerate(lines, 1):
        try:
            rec = json.loads(raw.decode("utf-8"))
            if not isinstance(rec, dict) or not all(
                    k in rec for k in ("id", "workspace", "operation", "result")):
                raise ValueError("not a job record")
        except ValueError as e:
            problems.append("line %d: %s: %r" % (n, e, raw[:160]))
            continue
        records.append(rec)
    return records, problems, torn


def check_histories(state_dir, where, quiet=False):
    """I5: every history.jsonl under state_dir.

    Returns (problems, histories): problems as (key, text), the key naming the
    defect apart from where it was seen, so that a caller reports each once.
    """
    out = []
    jobs_dir = os.path.join(state_dir, "jobs")
    histories = {}
    if not os.path.isdir(jobs_dir):
        return out, histories
    for ws in sorted(os.listdir(jobs_dir)):
        path = os.path.join(jobs_dir, ws, "history.jsonl")
        records, problems, torn = read_history(path)
        histories[ws] = records
        for p in problems:
            out.append(((ws, p), "I5: %s %s/history.jsonl %s" % (where, ws, p)))
        if torn is not None and not quiet:
            print("    note: %s %s/history.jsonl has a torn last line (%d bytes), skipped" % (
                where, ws, len(torn)))
        seen = {}
        for rec in records:
            seen.setdefault(rec["id"], []).append(rec.get("result"))
        for job_id, results in seen.items():
            if len(results) > 1:
                out.append(((ws, job_id), "I5: %s %s/history.jsonl records job %s %d times: "
                            "results %s" % (where, ws, job_id, len(results), results)))
    return out, histories


def running_jobs(state):
    """{workspace: job record} of the jobs a state.json says were running."""
    out = {}
    for name, ws in (state or {}).get("workspaces", {}).items():
        if isinstance(ws, dict) and ws.get("running"):
            out[name] = ws["running"]
    return out


def apply_upper(cmd, instances):
    """The latest instant at which `cmd` can have taken effect."""
    if cmd.outcome == "acked":
        return instances.times.hi(cmd.recv)
    inst = instances.items[cmd.instance - 1] if cmd.instance else None
    return instances.times.hi(inst.end_wall) if inst is not None and inst.end_wall else math.inf


def manual_matches(cmd, entry, lower, upper):
    return (entry.get("operation") == cmd.kind
            and same_time(parse_time(entry.get("until")), cmd.until)
            and lower <= parse_time(entry.get("at")) <= upper + 0.001)


def count(stats, key):
    stats[key] = stats.get(key, 0) + 1


def max_matching(left, right, edge):
    """A maximum bipartite matching {left index: right index} (augmenting paths)."""
    owner = {}  # right index -> left index

    def augment(i, seen):
        for j in range(len(right)):
            if j not in seen and edge(left[i], right[j]):
                seen.add(j)
                if j not in owner or augment(owner[j], seen):
                    owner[j] = i
                    return True
        return False

    for i in range(len(left)):
        augment(i, set())
    return {i: j for j, i in owner.items()}


def check_manual(name, cmds, entries, instances, stats):
    """I2 for manual deploys/destroys of one workspace.

    Entries cannot always be told apart (two actions stamped in the same
    frozen instant of a stepped-back clock look the same), so the check asks
    for matchings rather than pairing greedily: one that gives every command
    that must have survived an entry, and one that explains every entry by a
    command not known to be removed. By the Mendelsohn-Dulmage theorem both
    exist exactly when one matching does both.
    """
    out = []
    live = [c for c in cmds if c.outcome in ("acked", "unknown")]
    must_stay, gone = [], {}
    for i, m in enumerate(live):
        if m.outcome != "acked":
            continue
        later = live[i + 1:]
        if all(c.until is not None and (m.until is None or m.until > apply_upper(c, instances))
               for c in later):
            must_stay.append(m)
            count(stats, "manual actions required")
        superseded_by = next((c for c in later if c.outcome == "acked" and (
            c.until is None or (m.until is not None and m.until <= instances.times.lo(c.send)))),
            None)
        if superseded_by is not None:
            gone[m.seq] = superseded_by
            count(stats, "manual actions required gone")

    def fits(m, e):
        return manual_matches(m, e, instances.times.lo(m.send), apply_upper(m, instances))

    kept = max_matching(must_stay, entries, fits)
    for i, m in enumerate(must_stay):
        if i not in kept:
            out.append("I2: %s: acknowledged manual %s is missing from state.json; manual=%s" % (
                name, m.describe(), json.dumps(entries)))
    allowed = [c for c in live if c.seq not in gone]
    explained = max_matching(entries, allowed, lambda e, m: fits(m, e))
    for j, e in enumerate(entries):
        if j in explained:
            continue
        removed = [m for m in live if m.seq in gone and fits(m, e)]
        if removed:
            out.append("I2: %s: manual %s should have been removed by %s but is still there: %s" % (
                name, removed[0].describe(), gone[removed[0].seq].describe(), json.dumps(e)))
        else:
            out.append("I2: %s: state.json holds a manual action no command explains: %s" % (
                name, json.dumps(e)))
    return out


def pause_expected(cmd, pause, times):
    """Whether `pause` (the state's window, or None) is what `cmd` leaves behind."""
    if cmd is None:
        return pause is None
    upper = math.inf if cmd.recv is None else times.hi(cmd.recv) + 0.001
    if cmd.kind == "pause":
        if pause is None or not same_time(parse_time(pause.get("until")), cmd.until):
            return False
        return parse_time(pause.get("from")) <= upper
    until = parse_time(pause.get("until")) if pause else None
    return pause is None or (until is not None and until <= upper)


def check_pause(name, cmds, pause, times, stats):
    """I2 for pause/resume of one workspace."""
    live = [c for c in cmds if c.outcome in ("acked", "unknown")]
    last = max((i for i, c in enumerate(live) if c.outcome == "acked"), default=-1)
    if last >= 0:
        count(stats, "pause windows")
    candidates = [live[last] if last >= 0 else None] + live[last + 1:]
    if any(pause_expected(c, pause, times) for c in candidates):
        return []
    return ["I2: %s: pause in state.json is %s; expected the effect of %s" % (
        name, json.dumps(pause), " or ".join(
            c.describe() if c else "no pause command" for c in candidates))]


def check_commands(commands, state, histories, instances, cancels_from, stats):
    """I2: acknowledged commands against the state the (re)started daemon saved."""
    out = []
    workspaces = (state or {}).get("workspaces", {})
    by_ws = {}
    for c in commands:
        by_ws.setdefault(c.workspace, []).append(c)
    for name, cmds in sorted(by_ws.items()):
        if not name:
            continue
        ws = workspaces.get(name)
        if ws is None:
            if any(c.outcome == "acked" and c.kind != "cancel" for c in cmds):
                out.append("I2: %s is missing from state.json" % name)
            continue
        manual = [c for c in cmds if c.kind in ("deploy", "destroy")]
        out += check_manual(name, manual, ws.get("manual") or [], instances, stats)
        out += check_pause(name, [c for c in cmds if c.kind in ("pause", "resume")],
                           ws.get("pause"), instances.times, stats)
    for c in commands[cancels_from:]:
        if c.kind == "cancel" and c.outcome == "acked":
            count(stats, "cancels")
            ids = {r["id"] for r in histories.get(c.workspace, [])}
            if c.job_id not in ids:
                out.append("I2: cancelled job %s (%s) is not in %s/history.jsonl" % (
                    c.job_id, c.describe(), c.workspace))
    return out


def scheduled_twice(histories):
    """I7, first half: [(key, text)] for each scheduled fire that has two job records.

    A fire is taken once: `last_fire` is saved at the end of the tick that
    takes it, before its job can finish, and only fires after it are taken,
    whatever the clock does. Retries and catch-ups
    carry a fire's time too and may follow it; `schedule` jobs may not.
    """
    out = []
    for ws, records in sorted(histories.items()):
        seen = {}
        for r in records:
            if r.get("trigger") == "schedule" and r.get("scheduled_for"):
                seen.setdefault((r.get("operation"), r["scheduled_for"]), []).append(r["id"])
        for (op, at), ids in sorted(seen.items()):
            if len(ids) > 1:
                out.append(((ws, "fire", op, at), "I7: %s: the scheduled %s fire of %s ran %d "
                            "times: jobs %s" % (ws, op, at, len(ids), ", ".join(ids))))
    return out


# ---------------------------------------------------------------------------
# The campaign


class Campaign:
    def __init__(self, args):
        self.args = args
        self.rng = random.Random(args.seed)
        self.root = os.path.realpath(tempfile.mkdtemp(prefix="crash-campaign-"))
        self.state_dir = os.path.join(self.root, "state")
        self.workspaces_root = os.path.join(self.state_dir, "workspaces")
        self.journal = Journal(os.path.join(self.root, "journal.jsonl"))
        self.instances = Instances()
        self.violations = []
        self.reported_overlaps = set()  # (A, B) pairs
        self.reported_first = set()  # A runs: one violation each
        self.reported_history = set()
        self.pending_reconcile = {}  # workspace -> (instance index, journal offset, kill #)
        self.cancels_checked = 0
        self.stats = {}  # what the checks covered, printed at the end
        self.daemon = None
        self.driver = None
        self.exe_paths = set()
        self.last_fire = {}  # workspace -> (highest last_fire seen, where)
        self.clock_file = os.path.join(self.root, "clock-offset") if args.mode == "clockstep" \
            else None

    # -- setup and teardown

    def setup(self):
        os.makedirs(os.path.join(self.root, "bin"))
        os.makedirs(os.path.join(self.root, "logs"))
        os.makedirs(os.path.join(self.root, "snapshots"))
        os.makedirs(os.path.join(self.root, "templates", "t"))
        with open(os.path.join(self.root, "templates", "t", "main.tf"), "w") as f:
            f.write("# the fake tofu ignores HCL\n")
        # Copies: the build dir may be rebuilt while the campaign runs.
        prov = os.path.join(self.root, "bin", "provisioner")
        tofu = os.path.join(self.root, "bin", "tofu")
        shutil.copy2(os.path.join(self.args.build, "provisioner"), prov)
        shutil.copy2(os.path.join(self.args.build, "fake_tofu"), tofu)
        self.exe_paths = {prov, tofu}
        for name, keys in PROFILES.items():
            with open(os.path.join(self.root, "control-%s.json" % name), "w") as f:
                json.dump(keys, f)
        config = ConfigWriter(self.root, tofu, self.journal.path, self.args.workspaces,
                              random.Random(self.rng.random()))
        config.write()
        if self.clock_file:
            self.set_clock(0.0)
        self.daemon = Daemon(prov, config.path, self.root, self.journal, self.instances,
                             self.clock_file)
        self.driver = Driver(random.Random(self.rng.random()), config.names, config,
                             self.instances.times)
        self.journal.start_monitor()
        self.driver.start()

    def cleanup(self):
        """Leaves nothing running: the daemon's group, then every copied binary's process."""
        if self.driver is not None:
            self.driver.stop()
        if self.daemon is not None:
            self.daemon.kill_group()
        self.journal.stop_monitor()
        end = time.monotonic() + 10
        while True:
            pids = processes_running(self.exe_paths) if self.exe_paths else []
            if not pids or time.monotonic() > end:
                break
            for pid in pids:
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
            time.sleep(POLL)

    # -- reporting

    def violate(self, found, text):
        found.append(text)
        self.violations.append(text)

    def histories(self, found, state_dir, where):
        """I5 and I7's first half on one state dir; a defect is reported once."""
        problems, histories = check_histories(state_dir, where)
        problems += [(key, "%s %s" % (text[:3], where) + text[3:])
                     for key, text in scheduled_twice(histories)]
        for key, text in problems:
            if key not in self.reported_history:
                self.reported_history.add(key)
                self.violate(found, text)
        return histories

    def fires_taken(self, found, state, where):
        """I7, second half: a workspace's saved `last_fire` never goes back."""
        for name, ws in sorted(((state or {}).get("workspaces") or {}).items()):
            at = parse_time(ws.get("last_fire")) if isinstance(ws, dict) else None
            if at is None:
                continue
            high = self.last_fire.get(name)
            if high is not None and at < high[0]:
                self.violate(found, "I7: %s %s: last_fire went back from %s (%s) to %s: the fires "
                             "in between can run again" % (where, name, fmt_time(high[0]),
                                                           high[1], fmt_time(at)))
            if high is None or at > high[0]:
                self.last_fire[name] = (at, where)

    # -- the clock (--mode clockstep)

    def set_clock(self, offset):
        """Steps the daemon's wall clock to real time + offset (platform/offset_clock.h)."""
        tmp = self.clock_file + ".tmp"
        with open(tmp, "w") as f:
            f.write("%d\n" % round(offset * 1000))
        os.replace(tmp, self.clock_file)
        return self.instances.times.step(time.time(), round(offset * 1000) / 1000.0)

    def pick_step(self):
        kind, _, lo, hi = self.rng.choices(CLOCK_STEPS, [w for _, w, _, _ in CLOCK_STEPS])[0]
        return kind, self.rng.uniform(lo, hi)

    def overlaps(self, found, final=False):
        """I3: reports each proven overlap once; possible ones only at the end."""
        self.journal.poll()
        runs = self.journal.snapshot()
        proven, possible = find_overlaps(runs, self.workspaces_root)
        # One violation per run that others started on top of (an orphan,
        # typically), with every run that overlapped it.
        by_first = {}
        for a, b in proven:
            key = (a.pid, a.start_off, b.pid, b.start_off)
            if key not in self.reported_overlaps:
                self.reported_overlaps.add(key)
                by_first.setdefault((a.start_off, a.pid), (a, []))[1].append(b)
        for key, (a, bs) in sorted(by_first.items()):
            listing = "\n".join("      B: " + b.describe(self.instances) for b in bs)
            if key in self.reported_first:
                print("    note: more runs overlapped the run of an earlier I3 violation:\n"
                      "      A: %s\n%s" % (a.describe(self.instances), listing))
                continue
            self.reported_first.add(key)
            self.violate(found, "I3: %d tofu run(s) started in %s while another ran there:\n"
                         "      A: %s\n%s" % (len(bs), os.path.relpath(a.cwd, self.root),
                                               a.describe(self.instances), listing))
        if final:
            for a, b in possible:
                # Normal when a daemon starts tofu as soon as a leftover has
                # ended: the monitor cannot order the two closer than a sweep.
                print("    note: possible overlap in %s (B started between the last sighting "
                      "of A alive and the first of A gone):\n      A: %s\n      B: %s" % (
                          os.path.relpath(a.cwd, self.root), a.describe(self.instances),
                          b.describe(self.instances)))
            for off, raw in self.journal.bad_lines:
                print("    note: journal line at offset %d is not JSON: %r" % (off, raw))
        return runs

    def resolve_reconciled(self, runs):
        """I4, second half: a later daemon started tofu in each interrupted workspace."""
        for ws, (index, off, kill) in list(self.pending_reconcile.items()):
            wsdir = os.path.join(self.workspaces_root, ws)
            pids = self.instances.pids_from(index)
            if any(r.start_off >= off and r.cwd == wsdir and r.ppid in pids
                   and r.command in JOB_COMMANDS for r in runs):
                del self.pending_reconcile[ws]
                count(self.stats, "reconciliations")

    # -- one cycle

    def snapshot(self, kill):
        snap = os.path.join(self.root, "snapshots", "kill-%02d" % kill)
        os.makedirs(snap)
        for name in os.listdir(self.state_dir):
            if name.startswith("state.json"):
                shutil.copy2(os.path.join(self.state_dir, name), snap)
        jobs = os.path.join(self.state_dir, "jobs")
        if os.path.isdir(jobs):
            for ws in os.listdir(jobs):
                src = os.path.join(jobs, ws, "history.jsonl")
                if os.path.exists(src):
                    os.makedirs(os.path.join(snap, "jobs", ws))
                    shutil.copy2(src, os.path.join(snap, "jobs", ws, "history.jsonl"))
        return snap

    def check_after_restart(self, kill, snap, inst):
        """I1, I2, I4 and I5 once the daemon `inst` is ready after kill #`kill`."""
        found = []
        problems, state_before = check_state_files(snap, self.state_dir, inst.log_path)
        for p in problems:
            self.violate(found, p)
        running = running_jobs(state_before)
        # I4: each interrupted job shows up, exactly once, as interrupted.
        def interrupted_recorded():
            _, h = check_histories(self.state_dir, "", quiet=True)
            return all(any(r["id"] == job["id"] for r in h.get(ws, []))
                       for ws, job in running.items())
        wait_until(interrupted_recorded, HISTORY_DEADLINE)
        _, histories = check_histories(self.state_dir, "", quiet=True)
        _, before = check_histories(snap, "", quiet=True)
        for ws, job in sorted(running.items()):
            recs = [r for r in histories.get(ws, []) if r["id"] == job["id"]]
            results = [r.get("result") for r in recs]
            # A job that finished and reached its journal just before the kill,
            # before the save that clears `running`, keeps that record: the
            # restart must not add an `interrupted` one.
            journaled = [r.get("result") for r in before.get(ws, []) if r["id"] == job["id"]]
            expected = journaled if journaled else ["interrupted"]
            count(self.stats, "finished just before the kill" if journaled else "interrupted jobs")
            if results != expected:
                self.reported_history.add((ws, job["id"]))  # one defect, reported here
                why = ""
                if journaled:
                    why = ("; the killed daemon had already appended it to history.jsonl but "
                           "its state.json still listed it as running")
                self.violate(found, "I4: job %s (%s %s) was running in the state.json of kill #%d; "
                             "after the restart history.jsonl holds it %d time(s): %s%s" % (
                                 job["id"], ws, job.get("operation"), kill, len(recs),
                                 ", ".join("%s (finished_at %s)" % (r.get("result"),
                                                                    r.get("finished_at"))
                                           for r in recs), why))
            if not journaled:
                self.pending_reconcile[ws] = (inst.index, inst.journal_off, kill)
        histories = self.histories(found, self.state_dir, "after restart #%d:" % inst.index)
        # I2 against what the restarted daemon saved.
        state_after, err = read_live_state(self.state_dir)
        if not valid_state(state_after):
            self.violate(found, "I1: state.json after restart #%d does not load: %s" % (
                inst.index, err))
        else:
            self.fires_taken(found, state_after, "after restart #%d" % inst.index)
            for p in check_commands(self.driver.recorded(), state_after, histories,
                                    self.instances, self.cancels_checked, self.stats):
                self.violate(found, p)
        self.cancels_checked = len(self.driver.recorded())
        return found, running

    def kill_cycle(self, kill, inst):
        delay = self.rng.uniform(0.2, 4.0)
        self.driver.resume(inst.port, inst.index)
        time.sleep(max(0.0, inst.ready_wall + delay - time.time()))
        return self.kill_and_restart(kill, time.time() - inst.ready_wall)

    def kill_and_restart(self, kill, at, extra=""):
        """SIGKILL now, restart, check I1-I5 and I7; returns the new instance."""
        found = []
        runs = self.overlaps(found)
        self.resolve_reconciled(runs)
        self.daemon.kill9()
        if not self.driver.pause():
            raise DaemonError("the client did not come back within %.0f s" % (HTTP_TIMEOUT + 5))
        snap = self.snapshot(kill)
        self.histories(found, snap, "snapshot of kill #%d:" % kill)
        try:
            new = self.daemon.start()
        except DaemonError as e:
            self.violate(found, "I1: the daemon did not come back after kill #%d: %s" % (kill, e))
            self.report(kill, at, {}, found, extra)
            raise
        more, running = self.check_after_restart(kill, snap, new)
        found += more
        self.report(kill, at, running, found, extra)
        return new

    def stop_cycle(self, kill, inst):
        delay = self.rng.uniform(0.2, 4.0)
        stopped = self.rng.uniform(1.0, 10.0)
        self.driver.resume(inst.port, inst.index)
        time.sleep(max(0.0, inst.ready_wall + delay - time.time()))
        at = time.time() - inst.ready_wall
        found = []
        self.daemon.signal(signal.SIGSTOP)
        running = running_jobs(read_live_state(self.state_dir)[0])
        time.sleep(stopped)  # the fault itself: a stopped daemon for a random while
        woke = time.time()
        self.daemon.signal(signal.SIGCONT)
        if not self.daemon.ready_within(READY_DEADLINE):
            self.violate(found, "serving: /ready did not answer 200 within %.0f s of SIGCONT" %
                         READY_DEADLINE)
        elif not wait_until(lambda: self.driver.acked_since > woke, READY_DEADLINE):
            self.violate(found, "serving: no command got a 2xx within %.0f s of SIGCONT" %
                         READY_DEADLINE)
        if not self.driver.pause():
            raise DaemonError("the client did not come back within %.0f s" % (HTTP_TIMEOUT + 5))
        self.check_serving(found, kill)
        self.report(kill, at, running, found, "stopped %.1f s" % stopped)
        inst.ready_wall = time.time()
        return inst

    def clock_cycle(self, kill, inst):
        """Steps the wall clock while the daemon serves; then SIGKILLs it, half the time."""
        self.driver.resume(inst.port, inst.index)
        time.sleep(max(0.0, inst.ready_wall + self.rng.uniform(0.2, 3.0) - time.time()))
        if not self.driver.pause():
            raise DaemonError("the client did not come back within %.0f s" % (HTTP_TIMEOUT + 5))
        kind, step = self.pick_step()
        follows = self.set_clock(self.instances.times.offset() + step)
        count(self.stats, "clock steps " + kind)
        extra = "%s %+.1f s (offset %+.1f s%s)" % (
            kind, step, self.instances.times.offset(),
            ", followed" if follows else ", frozen" if step < 0 else "")
        self.driver.resume(inst.port, inst.index)
        time.sleep(self.rng.uniform(0.5, 3.0))  # the daemon acts on the new time
        at = time.time() - inst.ready_wall
        if self.rng.random() < 0.5:
            return self.kill_and_restart(kill, at, extra + ", then SIGKILL")
        found = []
        if not self.driver.pause():
            raise DaemonError("the client did not come back within %.0f s" % (HTTP_TIMEOUT + 5))
        running = running_jobs(read_live_state(self.state_dir)[0])
        self.check_serving(found, kill)
        self.report(kill, at, running, found, extra)
        inst.ready_wall = time.time()
        return inst

    def check_serving(self, found, kill):
        """I1, I2 (but cancels), I3, I5 and I7 against the daemon that keeps running."""
        self.overlaps(found)
        histories = self.histories(found, self.state_dir, "after %s #%d:" % (self.args.mode, kill))
        state, err = read_live_state(self.state_dir)
        if not valid_state(state):
            self.violate(found, "I1: state.json does not load: %s" % err)
        else:
            self.fires_taken(found, state, "after %s #%d" % (self.args.mode, kill))
            # Cancels of running jobs may still be in progress: checked at the end.
            for p in check_commands(self.driver.recorded(), state, histories, self.instances,
                                    len(self.driver.recorded()), self.stats):
                self.violate(found, p)

    def report(self, kill, at, running, found, extra=""):
        jobs = ", ".join("%s %s" % (ws, j.get("operation")) for ws, j in sorted(running.items()))
        print("%s %2d/%d at +%.2fs%s  running=%d [%s]  violations=%d" % (
            self.args.mode, kill, self.args.kills, at, "  " + extra if extra else "",
            len(running), jobs, len(found)), flush=True)
        for v in found:
            print("    VIOLATION " + v, flush=True)

    # -- the end

    def workspace_evidence(self, ws):
        """What the daemon and its state say about a workspace, for a violation report."""
        parts = []
        try:
            status, view = http_call(self.daemon.current.port, "GET", "/api/v1/workspaces/" + ws)
            if status == 200 and isinstance(view, dict):
                parts.append("API: status=%s actual=%s desired=%s paused=%s" % (
                    view.get("status"), json.dumps(view.get("actual")),
                    json.dumps(view.get("desired")), view.get("paused")))
        except (OSError, http.client.HTTPException) as e:
            parts.append("API: %s" % e)
        state, _ = read_live_state(self.state_dir)
        st = ((state or {}).get("workspaces") or {}).get(ws) or {}
        last = st.get("last_job") or {}
        parts.append("state.json: actual=%s gave_up_for=%s retry=%s pause=%s manual=%s "
                     "last_job=%s %s" % (
                         st.get("actual"), st.get("gave_up_for"), json.dumps(st.get("retry")),
                         json.dumps(st.get("pause")), json.dumps(st.get("manual")),
                         last.get("id"), last.get("result")))
        return "; ".join(parts)

    def finish(self):
        found = []
        if self.pending_reconcile:
            self.driver.pause()
            def reconciled():
                self.resolve_reconciled(self.journal.snapshot())
                return not self.pending_reconcile
            wait_until(reconciled, RECONCILE_DEADLINE, interval=0.1)
        self.driver.pause()
        self.driver.stop()
        for ws, (index, _, kill) in sorted(self.pending_reconcile.items()):
            self.violate(found, "I4: %s was interrupted at kill #%d but no later daemon ran tofu "
                         "in it within %.0f s (waited until %s); %s" % (
                             ws, kill, RECONCILE_DEADLINE, fmt_time(time.time()),
                             self.workspace_evidence(ws)))
        code = self.daemon.terminate(STOP_DEADLINE)
        if code is None:
            self.violate(found, "stop: the daemon did not exit within %.0f s of SIGTERM" %
                         STOP_DEADLINE)
        elif code != 0:
            self.violate(found, "stop: the daemon exited %d after SIGTERM" % code)
        # I6 before anything is cleaned up.
        self.journal.poll()
        for r in self.journal.open_runs():
            self.violate(found, "I6: tofu still running after the daemon stopped: %s" %
                         r.describe(self.instances))
        known = {r.pid for r in self.journal.open_runs()}
        for pid in processes_running(self.exe_paths):
            if pid not in known:
                st = read_proc_stat(pid)
                self.violate(found, "I6: campaign process %d (%s) still running, ppid %s" % (
                    pid, os.readlink("/proc/%d/exe" % pid) if os.path.exists(
                        "/proc/%d/exe" % pid) else "?", st[1] if st else "?"))
        # Let the leftovers go (cleanup kills them) so that the last overlap
        # sweep sees every run ended.
        self.cleanup()
        self.overlaps(found, final=True)
        histories = self.histories(found, self.state_dir, "at the end:")
        for c in self.driver.recorded()[self.cancels_checked:]:
            if c.kind == "cancel" and c.outcome == "acked":
                count(self.stats, "cancels")
            if c.kind == "cancel" and c.outcome == "acked" and c.job_id not in {
                    r["id"] for r in histories.get(c.workspace, [])}:
                self.violate(found, "I2: cancelled job %s is not in %s/history.jsonl" % (
                    c.job_id, c.workspace))
        print("end: daemon exit %s, %d tofu runs in the journal, violations=%d" % (
            code, len(self.journal.runs), len(found)), flush=True)
        for v in found:
            print("    VIOLATION " + v, flush=True)

    def run(self):
        started = time.monotonic()
        print("crash campaign: mode=%s kills=%d seed=%s workspaces=%d dir=%s" % (
            self.args.mode, self.args.kills, self.args.seed, self.args.workspaces, self.root),
            flush=True)
        self.setup()
        inst = self.daemon.start()
        for kill in range(1, self.args.kills + 1):
            if self.args.mode == "kill":
                inst = self.kill_cycle(kill, inst)
            elif self.args.mode == "stop":
                inst = self.stop_cycle(kill, inst)
            else:
                inst = self.clock_cycle(kill, inst)
        self.finish()
        cmds = self.driver.recorded()
        acked = sum(1 for c in cmds if c.outcome == "acked")
        kinds = {}
        for c in cmds:
            if c.outcome == "acked":
                kinds[c.kind] = kinds.get(c.kind, 0) + 1
        print("commands: %d sent, %d acknowledged %s; %.1f s" % (
            len(cmds), acked, json.dumps(kinds, sort_keys=True), time.monotonic() - started))
        self.stats["tofu runs"] = len(self.journal.runs)
        _, histories = check_histories(self.state_dir, "", quiet=True)
        self.stats["scheduled jobs"] = sum(1 for records in histories.values()
                                           for r in records if r.get("trigger") == "schedule")
        print("checked: %s" % ", ".join("%s %d" % kv for kv in sorted(self.stats.items())))
        by_kind = {}
        for v in self.violations:
            kind = v.split(":", 1)[0]
            by_kind[kind] = by_kind.get(kind, 0) + 1
        if by_kind:
            print("violations by invariant: %s" % " ".join(
                "%s=%d" % kv for kv in sorted(by_kind.items())))
        print("kills=%d violations=%d" % (self.args.kills, len(self.violations)), flush=True)


def parse_args(argv):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--kills", type=int, default=20, help="faults to inject (default 20)")
    p.add_argument("--mode", choices=("kill", "stop", "clockstep"), default="kill",
                   help="kill: SIGKILL and restart; stop: SIGSTOP 1-10 s, then SIGCONT; "
                   "clockstep: step the daemon's wall clock, then SIGKILL half the time")
    p.add_argument("--seed", type=int, default=None, help="RNG seed (default: random, printed)")
    p.add_argument("--workspaces", type=int, default=8, help="workspaces (default 8)")
    p.add_argument("--build", default="build", help="dir with provisioner and fake_tofu")
    p.add_argument("--keep", action="store_true", help="keep the temp dir (kept on violations)")
    args = p.parse_args(argv)
    if args.seed is None:
        args.seed = random.SystemRandom().randrange(1 << 31)
    if args.kills < 1 or args.workspaces < 1 or args.workspaces > 100:
        p.error("--kills must be >= 1 and --workspaces 1..100")
    for name in ("provisioner", "fake_tofu"):
        if not os.access(os.path.join(args.build, name), os.X_OK):
            p.error("%s/%s: not an executable (build it first)" % (args.build, name))
    return args


def main(argv):
    args = parse_args(argv)

    def on_signal(signum, frame):
        raise KeyboardInterrupt("signal %d" % signum)
    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, on_signal)

    campaign = Campaign(args)
    code = 0
    try:
        campaign.run()
        code = 1 if campaign.violations else 0
    except KeyboardInterrupt:
        print("interrupted; cleaning up", file=sys.stderr)
        code = 130
    except DaemonError as e:
        print("campaign aborted: %s" % e, file=sys.stderr)
        print("kills=%d violations=%d" % (args.kills, len(campaign.violations)))
        code = 1
    finally:
        campaign.cleanup()
        if args.keep or code != 0:
            print("kept %s" % campaign.root, file=sys.stderr)
        else:
            shutil.rmtree(campaign.root, ignore_errors=True)
    return code


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
