#!/usr/bin/env python3
"""An HA chaos loop: several `provisioner serve` nodes on one PostgreSQL, under faults.

It starts a throwaway PostgreSQL 15 (as tests/support/postgres_server.h does:
initdb and pg_ctl as the `postgres` user under root, a temp dir, 127.0.0.1 and
a free port, fsync off), then N nodes (docs/ha.md), each with its own root,
state dir and config, all with the same workspaces and one shared fake tofu
journal (FAKE_TOFU_LOG, O_APPEND: its byte offsets order the runs of every
node). Each node reaches the database through a loopback TCP proxy of its own,
in this script, which can blackhole (stop forwarding and answering without
closing anything) and be restored (new connections forward again; the ones
from the blackhole stay silent until their client drops them).

Workspaces deploy and destroy every 20 s (6-field cron: deploy at second x of
each 20, destroy 10 s later, staggered per workspace), and the fake's runs
take about 0.5-2 s, so fires are due all the time. With --long-runs every
third workspace's deploy and destroy take ~8 s instead (one slow resource,
a progress line every 2.5 s), longer than a takeover.

Until the time is up, every 1-4 s (seeded), one fault on a node that is up
and healthy, the current leader (from /metrics) 60 % of the time:
  kill       SIGKILL the daemon; restarted 1-3 s later (systemd's
             Restart=on-failure);
  stop       SIGSTOP the daemon (not its tofu) for 1-8 s, then SIGCONT;
  term       SIGTERM (a clean stop); restarted 0.5-2 s after it exited;
  blackhole  its proxy for 2-10 s, then restore.
A node that exits by itself (a leader that lost its lease exits 1) is
restarted 0.5-1.5 s later, and counted. With --timings default (the shipped
lease 15 s, renew 3 s, deadline 10 s) the chaos intervals and the fault
durations are stretched by lease_ttl / 3 s.

Measured: the failover time after each fault on the leader, from the signal
(or the blackhole) to the first `this node leads (term M)` log line with M
above the leader's term, on any node; per cause min / median / max, all and
"clean" (another node had been healthy - up, not stopped, not blackholed,
its name free - throughout).

Then every node gets SIGCONT and its proxy restored, the down ones are
started, the group runs a quiet period, every node is stopped with SIGTERM,
and the checks run:

  C1  overlap: no two tofu runs in one workspace at once, across every node
      (crash_campaign's Journal and find_overlaps, the runs grouped by
      workspace name instead of directory: each node has its own).
  C2  fires (every node's logs at debug level, every node's
      jobs/<ws>/history.jsonl, and the database polled every 0.2 s):
      a. no two job records with distinct ids, trigger `schedule`, the same
         (workspace, operation, scheduled_for) and both succeeded/no_changes
         (a fire run twice); other such pairs are listed as notes;
      b. every fire due after the first leader started, up to the last
         `last_fire` in PostgreSQL, was handled: some node logged
         `<op> fire due T: ran|coalesced` for it, or a `schedule` job record
         serves it;
      c. a fire is taken again (logged by a second node) only if PostgreSQL
         never showed that workspace's last_fire at or past it before the
         second take (else the second leader ignored a saved last_fire);
      d. liveness: every fire due before the end of the quiet period minus
         5 s is at or before the final last_fire;
      e. a `ran` fire's job is in some node's history, unless the instance
         that took it ended by SIGKILL or by itself (a demotion) or was hit
         by a fault: then it is counted as lost with its leader.
  C3  terms (the poller, one psql session, one snapshot per poll):
      pv_leader.term never decreases; no row's written_term (pv_workspaces,
      pv_state_meta) decreases; a row version first seen in a poll (a new
      xmin) carries a written_term >= the lease term the previous poll saw
      (the fence: a write of an older term cannot commit after the newer
      term is visible); no row carries a term above the lease's in the same
      snapshot; a workspace's last_fire never goes back.
  C4  histories load (crash_campaign I5); a SIGTERM ends a node within 60 s
      with status 0 (or 1 if it had just lost the lease: a demotion); a
      node that exits by itself does so with status 1 after `lost the
      leader lease`; no tofu of the loop outlives the nodes.

Prints a line per fault and per leadership change, then a summary (JSON) and
`violations=V`. Exit 0 when V is 0, 1 otherwise, 77 when PostgreSQL 15 is
not installed, 130 when interrupted. The temp dir is kept on a violation or
with --keep. Everything it started (nodes, tofu, proxies, psql, PostgreSQL)
is stopped on exit, on an exception or Ctrl-C.

Python 3 standard library only; imports scripts/crash_campaign.py.
"""

import argparse
import dataclasses
import heapq
import http.client
import json
import os
import pwd
import random
import re
import select
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time

sys.dont_write_bytecode = True  # no scripts/__pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import crash_campaign as cc  # noqa: E402

PG_BIN = "/usr/lib/postgresql/15/bin"
EXIT_SKIP = 77
METRICS_INTERVAL = 0.1
DB_INTERVAL = 0.2
STOP_DEADLINE = 60.0
START_DEADLINE = 60.0  # for the first leader
CAUSES = ("SIGKILL", "SIGTERM", "SIGSTOP", "blackhole")

# The fake's behaviour per workspace (control files): a run of init, plan and
# apply, or init and destroy, takes ~0.5-2 s. `backend: pg`: HA mode refuses
# a workspace whose init records no locking backend.
PROFILES = {
    "fast": {"backend": "pg", "resources": 2, "apply_seconds": 1, "time_scale": 0.2,
             "heartbeat_seconds": 100},
    "medium": {"backend": "pg", "resources": 3, "apply_seconds": 2, "plan_seconds": 2,
               "time_scale": 0.15, "heartbeat_seconds": 100},
    "slow": {"backend": "pg", "resources": 2, "apply_seconds": 3, "plan_seconds": 1,
             "time_scale": 0.3, "heartbeat_seconds": 100},
    # --long-runs: an apply or a destroy takes ~8 s (one resource of 30 fake s),
    # with a progress line every 2.5 s (an orphan dies of SIGPIPE by then).
    "long": {"backend": "pg", "resources": 2, "apply_seconds": 1, "slow_seconds": 30,
             "time_scale": 0.25, "heartbeat_seconds": 10},
}
PROFILE_ORDER = ("fast", "medium", "slow")

TIMINGS = {
    # lease_ttl, renew_interval, renew_deadline, claim_ttl (seconds); short = ha_test.cc's,
    # but for a claim_ttl above the longest SIGSTOP (8 s): a daemon frozen for longer than
    # claim_ttl + kill_grace cannot stop its tofu in time (docs/ha.md, "Residual risks")
    "short": (3.0, 0.5, 2.0, 10.0),
    "default": (15.0, 3.0, 10.0, 60.0),
}

LOG_LINE = re.compile(r"^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?Z) (\w+)\s+(\S+): (.*)$")
LEADS = re.compile(r"this node leads \(term (\d+)\)")
ACQUIRED = re.compile(r"lease: acquired the lease as term (\d+)")
RELEASED = re.compile(r"lease: released the lease of term (\d+)")
FIRE = re.compile(r"(deploy|destroy) fire due (\S+Z): (\w+)")
FIELD = re.compile(r"\b(\w+)=(\S+)")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# ---------------------------------------------------------------------------
# PostgreSQL (tests/support/postgres_server.h in Python)


class Postgres:
    def __init__(self):
        self.dir = tempfile.mkdtemp(prefix="ha-chaos-pg-")
        self.data = os.path.join(self.dir, "data")
        self.port = None
        self.running = False
        self.as_root = os.geteuid() == 0

    @staticmethod
    def missing():
        """Why the server cannot run here, or None."""
        for name in ("initdb", "pg_ctl", "postgres", "psql"):
            if not os.access(os.path.join(PG_BIN, name), os.X_OK):
                return "%s/%s is missing (install postgresql-15: scripts/install-deps.sh)" % (
                    PG_BIN, name)
        if os.geteuid() == 0:
            try:
                pwd.getpwnam("postgres")
            except KeyError:
                return "no `postgres` user to run the server as (from postgresql-15)"
        return None

    def _run(self, argv, timeout=90):
        # initdb refuses root: every server command runs as `postgres`.
        if self.as_root:
            argv = ["/usr/sbin/runuser", "-u", "postgres", "--"] + argv
        return subprocess.run(argv, cwd=self.dir, env={"PATH": "/usr/bin:/bin", "LC_ALL": "C",
                                                        "TZ": "UTC"},
                              stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT, timeout=timeout)

    def init(self):
        if self.as_root:
            pw = pwd.getpwnam("postgres")
            os.chown(self.dir, pw.pw_uid, pw.pw_gid)
        r = self._run([PG_BIN + "/initdb", "-D", self.data, "-U", "prov", "-A", "trust", "-E",
                       "UTF8", "--locale=C", "--no-sync", "--no-instructions"])
        if r.returncode != 0:
            raise RuntimeError("initdb failed:\n" + r.stdout.decode(errors="replace"))

    def start(self):
        for _ in range(5):
            port = free_port()
            # fsync off (the loop crashes daemons, never the OS);
            # synchronous_commit stays on, as in the test fixture.
            options = ("-c port=%d -c listen_addresses=127.0.0.1 -c unix_socket_directories=%s "
                       "-c fsync=off -c full_page_writes=off -c max_connections=100"
                       % (port, self.dir))
            r = self._run([PG_BIN + "/pg_ctl", "-D", self.data, "start", "-w", "-t", "30", "-l",
                           os.path.join(self.dir, "server.log"), "-o", options])
            if r.returncode == 0:
                self.port, self.running = port, True
                return
        raise RuntimeError("PostgreSQL did not start:\n" + cc.tail(
            os.path.join(self.dir, "server.log")))

    def dsn(self, port=None):
        return "host=127.0.0.1 port=%d user=prov dbname=postgres" % (port or self.port)

    def stop(self):
        if self.running:
            try:
                self._run([PG_BIN + "/pg_ctl", "-D", self.data, "stop", "-m", "immediate"], 60)
            except subprocess.TimeoutExpired:
                pass
            self.running = False

    def remove(self, keep_log_in=None):
        if keep_log_in:
            try:
                shutil.copy(os.path.join(self.dir, "server.log"),
                            os.path.join(keep_log_in, "postgres.log"))
            except OSError:
                pass
        shutil.rmtree(self.dir, ignore_errors=True)


class Psql:
    """One long-lived psql session; query() returns (rows, error)."""

    def __init__(self, dsn):
        self.argv = [PG_BIN + "/psql", "-X", "-q", "-A", "-t", "-F", "|", "-v",
                     "ON_ERROR_STOP=0", dsn]
        self.proc = None
        self.buf = b""

    def _start(self):
        self.close()
        self.buf = b""
        self.proc = subprocess.Popen(
            self.argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
            env={"PATH": "/usr/bin:/bin", "LC_ALL": "C", "TZ": "UTC", "PGAPPNAME": "ha-chaos",
                 "PGCONNECT_TIMEOUT": "3", "HOME": "/tmp"})

    def query(self, sql, timeout=5.0):
        if self.proc is None or self.proc.poll() is not None:
            self._start()
        try:
            self.proc.stdin.write((sql.strip() + "\n\\echo __END__\n").encode())
            self.proc.stdin.flush()
        except OSError as e:
            self.close()
            return None, "psql: %s" % e
        end = time.monotonic() + timeout
        fd = self.proc.stdout.fileno()
        while b"__END__\n" not in self.buf:
            left = end - time.monotonic()
            if left <= 0 or not select.select([fd], [], [], left)[0]:
                self.close()
                return None, "psql: no answer within %.0f s" % timeout
            chunk = os.read(fd, 65536)
            if not chunk:
                self.close()
                return None, "psql exited"
            self.buf += chunk
        out, self.buf = self.buf.split(b"__END__\n", 1)
        lines = out.decode("utf-8", "replace").splitlines()
        errors = [ln for ln in lines if "ERROR:" in ln or ln.startswith("psql:")]
        if errors:
            return None, " / ".join(errors)
        return [ln.split("|") for ln in lines if ln], None

    def close(self):
        if self.proc is not None:
            try:
                self.proc.kill()
            except OSError:
                pass
            self.proc.wait()
            self.proc = None


# ---------------------------------------------------------------------------
# The proxy (tests/support/tcp_proxy.h, with a restore)


class Proxy(threading.Thread):
    """Forwards 127.0.0.1:port to the database until blackholed.

    Blackholed, it forwards and reads nothing, and connections made meanwhile
    are accepted and left hanging: the peers see silence, never an error.
    Restored, new connections forward again; those of the blackhole stay
    silent (nothing read is forwarded) until their client closes them, then
    both ends are closed, as a healed network would reset them.
    """

    def __init__(self, target_port, name):
        super().__init__(name="proxy-" + name, daemon=True)
        self.target_port = target_port
        self.listener = socket.socket()
        self.listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen(64)
        self.port = self.listener.getsockname()[1]
        self.wake_r, self.wake_w = os.pipe()
        self.lock = threading.Lock()
        self.blackholed = False
        self.live = []  # [client, upstream]
        self.dead = []  # [client, upstream or None]: never forwarded again
        self.stopping = False
        self.accepted = 0

    def _wake(self):
        try:
            os.write(self.wake_w, b"x")
        except OSError:
            pass

    def blackhole(self):
        with self.lock:
            self.blackholed = True
            self.dead += self.live
            self.live = []
        self._wake()

    def restore(self):
        with self.lock:
            self.blackholed = False
        self._wake()

    def stop(self):
        self.stopping = True
        self._wake()
        self.join(5)
        for pair in self.live + self.dead:
            for s in pair:
                if s is not None:
                    s.close()
        self.listener.close()
        os.close(self.wake_r)
        os.close(self.wake_w)

    def _accept(self):
        try:
            client, _ = self.listener.accept()
        except OSError:
            return
        self.accepted += 1
        with self.lock:
            if self.blackholed:
                self.dead.append([client, None])
                return
        try:
            upstream = socket.create_connection(("127.0.0.1", self.target_port), timeout=5)
            upstream.settimeout(None)
        except OSError:
            client.close()
            return
        with self.lock:
            if self.blackholed:  # blackholed while connecting
                self.dead.append([client, upstream])
            else:
                self.live.append([client, upstream])

    @staticmethod
    def _pump(src, dst):
        try:
            data = src.recv(65536)
            if not data:
                return False
            dst.sendall(data)
            return True
        except OSError:
            return False

    def run(self):
        while not self.stopping:
            with self.lock:
                bh = self.blackholed
                live = list(self.live)
                dead = list(self.dead)
            watch = [self.wake_r, self.listener]
            if not bh:
                for c, u in live:
                    watch += [c, u]
                for c, u in dead:
                    watch.append(c)
                    if u is not None:
                        watch.append(u)
            try:
                ready = set(select.select(watch, [], [], 1.0)[0])
            except (OSError, ValueError):
                # A socket closed under us: drop the closed ones.
                with self.lock:
                    self.live = [p for p in self.live if p[0].fileno() >= 0 and p[1].fileno() >= 0]
                    self.dead = [p for p in self.dead if p[0].fileno() >= 0]
                continue
            if self.wake_r in ready:
                os.read(self.wake_r, 4096)
                continue  # the set to watch may have changed
            if self.listener in ready:
                self._accept()
            if bh:
                continue
            closed = []
            for pair in live:
                c, u = pair
                ok = True
                if c in ready:
                    ok = self._pump(c, u)
                if ok and u in ready:
                    ok = self._pump(u, c)
                if not ok:
                    closed.append(pair)
            gone = []
            for pair in dead:
                c, u = pair
                if u is not None and u in ready:
                    try:
                        data = u.recv(65536)
                    except OSError:
                        data = b""
                    if not data:  # the server ended the session
                        u.close()
                        pair[1] = None
                if c in ready:
                    try:
                        data = c.recv(65536)  # discarded: the connection is dead
                    except OSError:
                        data = b""
                    if not data:
                        gone.append(pair)
            with self.lock:
                for pair in closed:
                    if pair in self.live:
                        self.live.remove(pair)
                    pair[0].close()
                    pair[1].close()
                for pair in gone:
                    if pair in self.dead:
                        self.dead.remove(pair)
                    pair[0].close()
                    if pair[1] is not None:
                        pair[1].close()


# ---------------------------------------------------------------------------
# Nodes


@dataclasses.dataclass
class Instance:
    """One start of one node."""
    node: str
    index: int
    proc: object
    log_path: str
    started: float
    port: int = None
    ended: float = None
    how: str = ""  # "SIGKILL", "SIGTERM", "exit" (by itself)
    exit_code: int = None

    @property
    def pid(self):
        return self.proc.pid

    def label(self):
        return "%s#%d" % (self.node, self.index)


class Node:
    def __init__(self, name, root, binary, proxy):
        self.name = name
        self.dir = os.path.join(root, "nodes", name)
        self.config = os.path.join(self.dir, "config.yaml")
        self.state_dir = os.path.join(self.dir, "state")
        self.workspaces_root = os.path.join(self.state_dir, "workspaces")
        self.binary = binary
        self.proxy = proxy
        self.instances = []
        self.status = "down"  # up, stopped, stopping, down
        self.metric = (0.0, False, 0)  # (when, leader, term)
        self.env = {"PATH": "/usr/bin:/bin", "HOME": self.dir, "LANG": "C.UTF-8", "TZ": "UTC"}
        self.faults = []  # [start, end] of unhealthy periods (end None: open)

    @property
    def current(self):
        return self.instances[-1] if self.instances else None

    def start(self):
        index = len(self.instances) + 1
        log_path = os.path.join(self.dir, "logs", "%s-%02d.log" % (self.name, index))
        with open(log_path, "wb") as log:
            proc = subprocess.Popen([self.binary, "serve", "--config", self.config],
                                    cwd=self.dir, env=self.env, stdin=subprocess.DEVNULL,
                                    stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        self.instances.append(Instance(self.name, index, proc, log_path, time.time()))
        self.status = "up"
        self.metric = (0.0, False, 0)
        return self.instances[-1]

    def port(self):
        inst = self.current
        if inst is None:
            return None
        if inst.port is None:
            try:
                with open(inst.log_path, "r", errors="replace") as f:
                    m = re.search(r"listening on port (\d+)", f.read(65536))
            except OSError:
                return None
            if m:
                inst.port = int(m.group(1))
        return inst.port

    def signal(self, sig):
        try:
            os.kill(self.current.pid, sig)
        except ProcessLookupError:
            pass

    def kill_group(self):
        inst = self.current
        if inst is None or inst.proc.poll() is not None:
            return
        for sig in (signal.SIGCONT, signal.SIGKILL):
            try:
                os.killpg(inst.pid, sig)
            except ProcessLookupError:
                pass
        inst.proc.wait()

    def fault_begin(self, t):
        if not self.faults or self.faults[-1][1] is not None:
            self.faults.append([t, None])

    def fault_end(self, t):
        if self.faults and self.faults[-1][1] is None:
            self.faults[-1][1] = t

    def healthy_during(self, a, b):
        return not any(s < b and (e is None or e > a) for s, e in self.faults)


class Instances:
    """crash_campaign's describe_pid, over every node's instances."""

    def __init__(self, nodes):
        self.nodes = nodes

    def describe_pid(self, pid):
        for node in self.nodes:
            for inst in node.instances:
                if inst.pid == pid:
                    how = ""
                    if inst.ended is not None:
                        how = " (%s at %s)" % (inst.how or "ended", cc.fmt_time(inst.ended))
                    return "%s pid %d%s" % (inst.label(), pid, how)
        return "ppid %d (not a node of the loop)" % pid


# ---------------------------------------------------------------------------
# Watchers: /metrics of every node, and the database


class MetricsPoller(threading.Thread):
    def __init__(self, node, chaos):
        super().__init__(name="metrics-" + node.name, daemon=True)
        self.node = node
        self.chaos = chaos
        self.halt = threading.Event()

    def run(self):
        while not self.halt.wait(METRICS_INTERVAL):
            node = self.node
            if node.status not in ("up", "stopping"):
                continue
            inst, port = node.current, node.port()
            if port is None:
                continue
            try:
                status, body = cc.http_call(port, "GET", "/metrics", timeout=0.5)
            except (OSError, http.client.HTTPException):
                continue
            if status != 200 or not isinstance(body, str):
                continue
            m = re.search(r"^provisioner_leader (\d+)$", body, re.M)
            t = re.search(r"^provisioner_leader_term (\d+)$", body, re.M)
            if not m:
                continue
            now = time.time()
            leader, term = m.group(1) == "1", int(t.group(1)) if t else 0
            was = node.metric[1]
            if node.current is inst:
                node.metric = (now, leader, term)
                if leader and not was:
                    self.chaos.on_leader_seen(node, term, now)


class DbWatcher(threading.Thread):
    """Polls the lease and every state row; checks C3 on each poll."""

    QUERY = ("SELECT 'L', holder, term::text, xmin::text, '' FROM pv_leader"
             " UNION ALL SELECT 'W', name, written_term::text, xmin::text,"
             " coalesce(record->>'last_fire', '') FROM pv_workspaces"
             " UNION ALL SELECT 'M', 'meta', written_term::text, xmin::text, '' FROM pv_state_meta;")

    def __init__(self, dsn, chaos):
        super().__init__(name="db-watcher", daemon=True)
        self.psql = Psql(dsn)
        self.chaos = chaos
        self.halt = threading.Event()
        self.lock = threading.Lock()
        self.polls = 0
        self.failed = 0
        self.last_error = ""
        self.max_term = 0
        self.prev_term = 0  # the lease term the previous poll saw
        self.leader_changes = []  # (t, holder, term)
        self.rows = {}  # (kind, name) -> (term, xmin, last_fire)
        self.versions = 0  # new row versions seen
        self.fires = {}  # workspace -> [(t, last_fire epoch)] as it moved
        self.last_holder = None

    def run(self):
        while not self.halt.wait(DB_INTERVAL):
            self.poll_once()
        self.psql.close()

    def poll_once(self):
        rows, err = self.psql.query(self.QUERY)
        now = time.time()
        with self.lock:
            if err:
                self.failed += 1
                self.last_error = err
                return
            self.polls += 1
            leader = [r for r in rows if r[0] == "L"]
            if not leader:
                return
            holder, term = leader[0][1], int(leader[0][2])
            if term < self.max_term:
                self.chaos.violate("C3: pv_leader.term went back from %d to %d (holder %s) at %s"
                                   % (self.max_term, term, holder, cc.fmt_time(now)))
            if (holder, term) != self.last_holder:
                self.leader_changes.append((now, holder, term))
                self.last_holder = (holder, term)
            for r in rows:
                if r[0] not in ("W", "M"):
                    continue
                key = (r[0], r[1])
                wterm, xmin, fire = int(r[2]), r[3], r[4]
                prev = self.rows.get(key)
                what = "pv_workspaces row %s" % r[1] if r[0] == "W" else "pv_state_meta"
                if prev is not None and wterm < prev[0]:
                    self.chaos.violate("C3: %s: written_term went back from %d to %d at %s" % (
                        what, prev[0], wterm, cc.fmt_time(now)))
                if (prev is None or xmin != prev[1]) and wterm < self.prev_term:
                    self.chaos.violate(
                        "C3: %s: a new version (xmin %s) written under term %d appeared at %s, "
                        "after the previous poll had seen the lease at term %d: a fenced-out "
                        "term's write landed" % (what, xmin, wterm, cc.fmt_time(now),
                                                 self.prev_term))
                if wterm > term:
                    self.chaos.violate("C3: %s carries term %d above the lease's %d at %s" % (
                        what, wterm, term, cc.fmt_time(now)))
                if prev is None or xmin != prev[1]:
                    self.versions += 1
                if r[0] == "W" and fire:
                    at = cc.parse_time(fire)
                    hist = self.fires.setdefault(r[1], [])
                    if hist and at < hist[-1][1]:
                        self.chaos.violate("C3: %s: last_fire went back from %s to %s at %s" % (
                            what, cc.fmt_time(hist[-1][1]), fire, cc.fmt_time(now)))
                    if not hist or at != hist[-1][1]:
                        hist.append((now, at))
                self.rows[key] = (wterm, xmin, fire)
            self.max_term = max(self.max_term, term)
            self.prev_term = max(self.prev_term, term)

    def first_seen_at_or_past(self, ws, fire):
        """The first poll time at which the workspace's last_fire was >= fire, or None."""
        with self.lock:
            for t, at in self.fires.get(ws, []):
                if at >= fire - 0.0005:
                    return t
        return None

    def final_last_fire(self, ws):
        with self.lock:
            hist = self.fires.get(ws)
            return hist[-1][1] if hist else None


# ---------------------------------------------------------------------------
# Logs


@dataclasses.dataclass
class LogRecord:
    t: float
    inst: Instance
    level: str
    logger: str
    text: str
    fields: dict


def read_log(inst):
    out = []
    try:
        with open(inst.log_path, "r", errors="replace") as f:
            lines = f.readlines()
    except OSError:
        return out
    for line in lines:
        m = LOG_LINE.match(line.rstrip("\n"))
        if not m:
            continue
        try:
            t = cc.parse_time(m.group(1))
        except ValueError:
            continue
        text = m.group(4)
        out.append(LogRecord(t, inst, m.group(2), m.group(3), text, dict(FIELD.findall(text))))
    return out


# ---------------------------------------------------------------------------
# The loop


@dataclasses.dataclass
class Fault:
    t: float
    cause: str  # SIGKILL, SIGTERM, SIGSTOP, blackhole
    node: str
    inst: str
    leader: bool  # the target reported itself leader
    term: int
    seconds: float = None  # how long it lasted (stop, blackhole)
    exited: float = None  # SIGTERM: when the node had exited


class Chaos:
    def __init__(self, args):
        self.args = args
        self.rng = random.Random(args.seed)
        self.root = os.path.realpath(tempfile.mkdtemp(prefix="ha-chaos-"))
        self.journal = cc.Journal(os.path.join(self.root, "journal.jsonl"))
        self.lock = threading.Lock()
        self.violations = []
        self.notes = []
        self.nodes = []
        self.pg = None
        self.db = None
        self.pollers = []
        self.exe_paths = set()
        self.timers = []  # heap of (t, seq, action, node)
        self.seq = 0
        self.faults = []
        self.exits = []  # (t, instance label, code, how, demotion)
        self.started = None
        self.first_leader = None
        self.first_lead_time = None
        self.quiet_to = None
        self.cleaned = False
        (self.lease_ttl, self.renew_interval, self.renew_deadline,
         self.claim_ttl) = TIMINGS[args.timings]
        self.pace = self.lease_ttl / 3.0
        self.names = ["w%02d" % i for i in range(args.workspaces)]
        self.offsets = {name: (i * 7) % 10 for i, name in enumerate(self.names)}

    # -- output

    def say(self, text):
        now = time.time()
        rel = now - self.started if self.started else 0.0
        print("%s +%7.2fs %s" % (cc.fmt_time(now)[11:23], rel, text), flush=True)

    def violate(self, text):
        with self.lock:
            self.violations.append(text)
        print("    VIOLATION " + text, flush=True)

    def note(self, text):
        with self.lock:
            self.notes.append(text)

    def on_leader_seen(self, node, term, t):
        self.say("%s reports leader (term %d)" % (node.current.label(), term))

    # -- setup

    def copy_binary(self, name, dest):
        src = os.path.join(self.args.build, name)
        end = time.monotonic() + 120
        while True:  # another engineer may be rebuilding it
            try:
                shutil.copy2(src, dest)
                return
            except OSError as e:
                if time.monotonic() > end:
                    raise RuntimeError("cannot copy %s: %s" % (src, e))
                time.sleep(2)

    def setup(self):
        for sub in ("bin", "templates/t"):
            os.makedirs(os.path.join(self.root, sub))
        with open(os.path.join(self.root, "templates", "t", "main.tf"), "w") as f:
            f.write("# the fake tofu ignores HCL\n")
        prov = os.path.join(self.root, "bin", "provisioner")
        tofu = os.path.join(self.root, "bin", "tofu")
        self.copy_binary("provisioner", prov)
        self.copy_binary("fake_tofu", tofu)
        self.exe_paths = {prov, tofu}
        for name, keys in PROFILES.items():
            with open(os.path.join(self.root, "control-%s.json" % name), "w") as f:
                json.dump(keys, f)
        self.pg = Postgres()
        self.pg.init()
        self.pg.start()
        for i in range(self.args.nodes):
            name = "node-%d" % (i + 1)
            proxy = Proxy(self.pg.port, name)
            proxy.start()
            node = Node(name, self.root, prov, proxy)
            os.makedirs(os.path.join(node.dir, "logs"))
            dsn_file = os.path.join(node.dir, "ha.dsn")
            with open(dsn_file, "w") as f:
                f.write(self.pg.dsn(proxy.port) + "\n")
            os.chmod(dsn_file, 0o600)
            with open(node.config, "w") as f:
                f.write(self.render_config(node, tofu, dsn_file))
            self.nodes.append(node)
        self.db = DbWatcher(self.pg.dsn(), self)
        self.journal.start_monitor()
        self.db.start()
        for node in self.nodes:
            poller = MetricsPoller(node, self)
            poller.start()
            self.pollers.append(poller)

    def render_config(self, node, tofu, dsn_file):
        lines = [
            'server: {listen: "127.0.0.1:0"}',
            'opentofu: {binary: "%s", lock_timeout: 10s, plugin_cache_dir: "%s", pass_env: [],'
            ' env: {FAKE_TOFU_LOG: "%s"}}' % (tofu, os.path.join(node.dir, "cache"),
                                              self.journal.path),
            "scheduler: {timezone: UTC, max_concurrent_jobs: 4, job_timeout: 1m, kill_grace: 2s,"
            " catch_up: true, retry: {max_attempts: 3, backoff: 1s, max_backoff: 2s}}",
            'state: {dir: "%s", history_limit: 100000}' % node.state_dir,
            "logging: {level: debug, format: text}",
            'templates_dir: "%s"' % os.path.join(self.root, "templates"),
            'ha: {enabled: true, dsn_file: "%s", node_name: %s, lease_ttl: %gs,'
            ' renew_interval: %dms, renew_deadline: %gs, claim_ttl: %gs}' % (
                dsn_file, node.name, self.lease_ttl, round(self.renew_interval * 1000),
                self.renew_deadline, self.claim_ttl),
            "workspaces:",
        ]
        for i, name in enumerate(self.names):
            x = self.offsets[name]
            profile = PROFILE_ORDER[i % 3]
            if self.args.long_runs and profile == "slow":
                profile = "long"
            control = os.path.join(self.root, "control-%s.json" % profile)
            lines.append('  - {name: %s, template: t, schedule: {deploy: "%d/20 * * * * *", '
                         'destroy: "%d/20 * * * * *"}, env: {FAKE_TOFU_CONTROL: "%s"}}'
                         % (name, x, x + 10, control))
        return "\n".join(lines) + "\n"

    # -- timers and supervision

    def at(self, t, action, node, token=None):
        self.seq += 1
        # By default the fault count: a "healthy" timer ends only the fault it
        # was set for.
        heapq.heappush(self.timers, (t, self.seq, action, node,
                                     len(node.faults) if token is None else token))

    def start_node(self, node):
        inst = node.start()
        self.say("started %s (pid %d)" % (inst.label(), inst.pid))

    def supervise(self, restart=True):
        now = time.time()
        for node in self.nodes:
            inst = node.current
            if inst is None or node.status not in ("up", "stopping"):
                continue
            code = inst.proc.poll()
            if code is None:
                continue
            inst.ended, inst.exit_code = now, code
            if node.status == "stopping":
                inst.how = "SIGTERM"
                # A leader that had just demoted itself exits 1 whatever the
                # signal says (its keeper may still have reported it leader).
                demotion = code == 1 and "lost the leader lease" in cc.tail(inst.log_path, 100000)
                self.exits.append((now, inst.label(), code, "after SIGTERM", demotion))
                for f in reversed(self.faults):
                    if f.inst == inst.label() and f.cause == "SIGTERM":
                        f.exited = now
                        break
                self.say("%s exited %d after SIGTERM%s" % (
                    inst.label(), code, " (it had lost the leader lease)" if demotion else ""))
                # Killed by the SIGTERM itself (-15): it came before the
                # daemon had set up its handler, at its very start. systemd
                # counts that a clean stop too.
                early = code == -signal.SIGTERM and not cc.tail(inst.log_path, 15).strip()
                if early:
                    self.note("%s got SIGTERM before it had started" % inst.label())
                elif code != 0 and not demotion:
                    self.violate("C4: %s exited %d after SIGTERM (a clean stop); its log:\n%s" % (
                        inst.label(), code, cc.tail(inst.log_path, 15)))
                delay = self.rng.uniform(0.5, 2.0)
            else:
                inst.how = "exit"
                log = cc.tail(inst.log_path, 100000)
                demotion = code == 1 and "lost the leader lease" in log
                self.exits.append((now, inst.label(), code, "by itself", demotion))
                self.say("%s exited %d by itself%s" % (
                    inst.label(), code, " (demoted: lost the leader lease)" if demotion else ""))
                node.fault_begin(now)
                if not demotion:
                    self.violate("C4: %s exited %d by itself, not after losing the lease; its "
                                 "log:\n%s" % (inst.label(), code, cc.tail(inst.log_path, 15)))
                delay = self.rng.uniform(0.5, 1.5)
            node.status = "down"
            if restart:
                self.at(now + delay, "restart", node)
        while self.timers and self.timers[0][0] <= now:
            _, _, action, node, token = heapq.heappop(self.timers)
            self.run_timer(action, node, token)

    def run_timer(self, action, node, token):
        now = time.time()
        if action == "restart":
            if node.status == "down":
                self.start_node(node)
                # Its name is in use until its last heartbeat is lease_ttl old.
                self.at(now + self.lease_ttl + 1.0, "healthy", node)
        elif action == "healthy":
            if node.status == "up" and not node.proxy.blackholed and token == len(node.faults):
                node.fault_end(now)
        elif action == "cont":
            if node.status == "stopped":
                node.signal(signal.SIGCONT)
                node.status = "up"
                self.say("SIGCONT %s" % node.current.label())
                self.at(now + 1.0, "healthy", node)
        elif action == "restore":
            if node.proxy.blackholed:
                node.proxy.restore()
                self.say("restored %s's network" % node.name)
                # Its connections of the blackhole answer nothing: it drops
                # them after statement_timeout + 3 s (8 s).
                self.at(now + 9.0, "healthy", node)
        elif action == "term-deadline":
            inst = token  # the instance that got this SIGTERM
            if node.status == "stopping" and node.current is inst:
                self.violate("C4: %s did not exit within %.0f s of SIGTERM; its log:\n%s" % (
                    inst.label(), STOP_DEADLINE, cc.tail(inst.log_path, 15)))
                node.kill_group()
                inst.ended, inst.how, inst.exit_code = now, "SIGTERM", inst.proc.returncode
                self.exits.append((now, inst.label(), inst.exit_code, "SIGKILL after SIGTERM",
                                   False))
                node.status = "down"
                self.at(now + self.rng.uniform(0.5, 2.0), "restart", node)

    # -- faults

    def leader(self, fresh=1.0):
        now = time.time()
        for node in self.nodes:
            t, leader, term = node.metric
            if leader and now - t < fresh and node.status == "up":
                return node, term
        return None, 0

    def inject(self):
        healthy = [n for n in self.nodes if n.status == "up" and not n.proxy.blackholed]
        if not healthy:
            return
        leader, term = self.leader()
        if leader is not None and leader in healthy and self.rng.random() < 0.6:
            target = leader
        else:
            target = self.rng.choice(healthy)
        cause = self.rng.choices(CAUSES, (3, 2, 3, 3))[0]
        is_leader = target is leader
        inst = target.current
        now = time.time()
        fault = Fault(now, cause, target.name, inst.label(), is_leader, term if is_leader else 0)
        self.faults.append(fault)
        target.fault_begin(now)
        role = "leader, term %d" % term if is_leader else "standby"
        if cause == "SIGKILL":
            target.signal(signal.SIGKILL)
            inst.proc.wait()
            inst.ended, inst.how, inst.exit_code = time.time(), "SIGKILL", -9
            target.status = "down"
            self.at(now + self.rng.uniform(1.0, 3.0), "restart", target)
            self.say("SIGKILL %s (%s)" % (inst.label(), role))
        elif cause == "SIGTERM":
            target.signal(signal.SIGTERM)
            target.status = "stopping"
            self.at(now + STOP_DEADLINE, "term-deadline", target, inst)
            self.say("SIGTERM %s (%s)" % (inst.label(), role))
        elif cause == "SIGSTOP":
            fault.seconds = self.rng.uniform(1.0, 8.0) * self.pace
            target.signal(signal.SIGSTOP)
            target.status = "stopped"
            self.at(now + fault.seconds, "cont", target)
            self.say("SIGSTOP %s for %.1f s (%s)" % (inst.label(), fault.seconds, role))
        else:
            fault.seconds = self.rng.uniform(2.0, 10.0) * self.pace
            target.proxy.blackhole()
            self.at(now + fault.seconds, "restore", target)
            self.say("blackhole %s's network for %.1f s (%s)" % (target.name, fault.seconds,
                                                                   role))

    # -- phases

    def run(self):
        self.setup()
        self.started = time.time()
        print("ha chaos: minutes=%g nodes=%d workspaces=%d%s seed=%d timings=%s (lease %gs, "
              "renew %gs, deadline %gs) dir=%s postgres port %d" % (
                  self.args.minutes, self.args.nodes, self.args.workspaces,
                  " (long runs)" if self.args.long_runs else "", self.args.seed,
                  self.args.timings, self.lease_ttl, self.renew_interval, self.renew_deadline,
                  self.root, self.pg.port), flush=True)
        for node in self.nodes:
            self.start_node(node)
            node.fault_begin(time.time())
            self.at(time.time() + self.lease_ttl + 1.0, "healthy", node)
        if not cc.wait_until(lambda: self.supervise() or self.leader()[0], START_DEADLINE, 0.05):
            raise RuntimeError("no node led within %.0f s; logs:\n%s" % (
                START_DEADLINE, "\n".join(cc.tail(n.current.log_path, 10) for n in self.nodes)))
        self.first_leader = time.time()
        end = self.started + self.args.minutes * 60.0
        next_fault = time.time() + self.rng.uniform(1.0, 4.0) * self.pace
        last_status = time.time()
        while time.time() < end:
            self.supervise()
            now = time.time()
            if now >= next_fault:
                self.inject()
                next_fault = now + self.rng.uniform(1.0, 4.0) * self.pace
            if now - last_status >= 30:
                last_status = now
                self.status_line()
            time.sleep(0.05)
        self.say("chaos over: waking every node, restoring every network, quiet period of "
                 "%.0f s" % self.args.quiet)
        self.settle()
        self.stop_all()

    def status_line(self):
        leader, term = self.leader()
        self.say("status: leader %s, term %d (db %d), faults %d, violations %d, tofu runs %d, "
                 "db polls %d (failed %d)" % (
                     leader.current.label() if leader else "none", term, self.db.max_term,
                     len(self.faults), len(self.violations), len(self.journal.runs),
                     self.db.polls, self.db.failed))

    def settle(self):
        self.timers = [t for t in self.timers if t[2] in ("restart", "term-deadline")]
        heapq.heapify(self.timers)
        now = time.time()
        for node in self.nodes:
            if node.status == "stopped":
                node.signal(signal.SIGCONT)
                node.status = "up"
                self.say("SIGCONT %s" % node.current.label())
            if node.proxy.blackholed:
                node.proxy.restore()
                self.say("restored %s's network" % node.name)
        self.quiet_from = now
        end = now + self.args.quiet
        while time.time() < end:
            self.supervise()
            time.sleep(0.05)
        if not cc.wait_until(lambda: self.supervise() or self.leader()[0], 60, 0.05):
            self.violate("liveness: no node leads %.0f s after the quiet period" % 60)
        self.quiet_to = time.time()

    def stop_all(self):
        leader, _ = self.leader(fresh=5.0)
        order = [n for n in self.nodes if n is not leader] + ([leader] if leader else [])
        for node in order:
            # Let any pending restart happen: each node is stopped from "up".
            cc.wait_until(lambda: self.supervise(restart=True) or node.status != "down", 10, 0.05)
            if node.status != "up":
                continue
            inst = node.current
            node.signal(signal.SIGTERM)
            node.status = "stopping"
            try:
                code = inst.proc.wait(STOP_DEADLINE)
            except subprocess.TimeoutExpired:
                self.violate("C4: %s did not exit within %.0f s of the final SIGTERM" % (
                    inst.label(), STOP_DEADLINE))
                node.kill_group()
                code = inst.proc.returncode
            inst.ended, inst.how, inst.exit_code = time.time(), "SIGTERM", code
            node.status = "down"
            self.exits.append((inst.ended, inst.label(), code, "final SIGTERM", False))
            self.say("%s stopped, exit %s" % (inst.label(), code))
            if code != 0:
                self.violate("C4: %s exited %s after the final SIGTERM; its log:\n%s" % (
                    inst.label(), code, cc.tail(inst.log_path, 15)))
        self.timers = []
        time.sleep(2 * DB_INTERVAL + 0.3)  # one more poll of the final state
        self.db.poll_once()
        self.check_leftovers()

    def cleanup(self):
        if self.cleaned:
            return
        self.cleaned = True
        for poller in self.pollers:
            poller.halt.set()
        if self.db is not None:
            self.db.halt.set()
        for node in self.nodes:
            node.kill_group()
        self.journal.stop_monitor()
        end = time.monotonic() + 10
        while self.exe_paths:
            pids = cc.processes_running(self.exe_paths)
            if not pids or time.monotonic() > end:
                break
            for pid in pids:
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
            time.sleep(0.05)
        for node in self.nodes:
            node.proxy.stop()
        if self.db is not None:
            self.db.join(5)
            self.db.psql.close()
        if self.pg is not None:
            self.pg.stop()
            self.pg.remove(keep_log_in=self.root)

    # -- checks

    def all_instances(self):
        return [i for n in self.nodes for i in n.instances]

    def check_leftovers(self):
        """C4: no tofu of the loop outlives the nodes."""
        self.journal.poll()
        for r in self.journal.open_runs():
            self.violate("C4: tofu still running after every node stopped: %s" % r.describe(
                Instances(self.nodes)))
        known = {r.pid for r in self.journal.open_runs()}
        for pid in cc.processes_running(self.exe_paths):
            if pid not in known:
                self.violate("C4: process %d of the loop still running after every node "
                             "stopped" % pid)

    def check_overlaps(self):
        """C1 over every node's runs, grouped by workspace name."""
        self.journal.poll()
        runs = self.journal.snapshot()
        canon = os.path.join(self.root, "by-workspace")
        mapped = []
        for r in runs:
            for node in self.nodes:
                prefix = node.workspaces_root + os.sep
                if r.cwd.startswith(prefix):
                    ws = r.cwd[len(prefix):].split(os.sep)[0]
                    mapped.append(dataclasses.replace(r, cwd=os.path.join(canon, ws)))
                    break
        self.mapped_runs = len(mapped)
        proven, possible = cc.find_overlaps(mapped, canon)
        inst = Instances(self.nodes)
        by_first = {}
        for a, b in proven:
            by_first.setdefault((a.start_off, a.pid), (a, []))[1].append(b)
        for _, (a, bs) in sorted(by_first.items()):
            self.violate("C1: %d tofu run(s) started in workspace %s while another ran there:\n"
                         "      A: %s\n%s" % (
                             len(bs), os.path.basename(a.cwd), a.describe(inst),
                             "\n".join("      B: " + b.describe(inst) for b in bs)))
        for a, b in possible:
            self.note("possible overlap in %s (B started between the last sighting of A alive "
                      "and the first of A gone): A: %s; B: %s" % (
                          os.path.basename(a.cwd), a.describe(inst), b.describe(inst)))
        for off, raw in self.journal.bad_lines:
            self.note("journal line at offset %d is not JSON: %r" % (off, raw))
        return runs

    def histories(self):
        """C4 (I5) per node; returns {job id: [(node, record)]}."""
        jobs = {}
        for node in self.nodes:
            problems, hist = cc.check_histories(node.state_dir, node.name + ":", quiet=True)
            for _, text in problems:
                self.violate("C4 " + text)
            for ws, records in hist.items():
                for rec in records:
                    jobs.setdefault(rec["id"], []).append((node.name, rec))
        return jobs

    def fires_due(self, ws, after, upto):
        """Fire times of ws (deploy at x, destroy at x+10 of each 20 s) in (after, upto]."""
        x = self.offsets[ws]
        out = []
        k = int((after - x) // 20) - 1
        while True:
            for op, off in (("deploy", x), ("destroy", x + 10)):
                t = k * 20 + off
                if after < t <= upto:
                    out.append((t, op))
            if k * 20 + x > upto:
                break
            k += 1
        return sorted(out)

    def check_fires(self, logs, jobs):
        """C2."""
        stats = {}
        ok_results = ("succeeded", "no_changes")
        # a. a fire run twice: distinct schedule jobs for one (ws, op, scheduled_for)
        by_fire = {}
        for job_id, recs in jobs.items():
            node, rec = recs[0]
            if rec.get("trigger") == "schedule" and rec.get("scheduled_for"):
                key = (rec["workspace"], rec["operation"], cc.parse_time(rec["scheduled_for"]))
                by_fire.setdefault(key, []).append((job_id, recs))
        for (ws, op, at), entries in sorted(by_fire.items()):
            if len(entries) < 2:
                continue
            desc = "; ".join("%s on %s: %s" % (job_id, ",".join(n for n, _ in recs),
                                                 "/".join(r.get("result", "?") for _, r in recs))
                             for job_id, recs in entries)
            good = [e for e in entries if any(r.get("result") in ok_results for _, r in e[1])]
            if len(good) >= 2:
                self.violate("C2a: %s: the scheduled %s fire of %s ran %d times: %s" % (
                    ws, op, cc.fmt_time(at), len(good), desc))
            else:
                self.note("fire taken twice, one run not successful: %s %s %s: %s" % (
                    ws, op, cc.fmt_time(at), desc))
                stats["fires taken twice (one unsuccessful)"] = stats.get(
                    "fires taken twice (one unsuccessful)", 0) + 1
        # The fire log lines of every instance, and each instance's terms.
        fire_logs = {}  # (ws, op, due) -> [LogRecord]
        for rec in logs:
            m = FIRE.match(rec.text)
            if m and rec.logger == "scheduler":
                ws = rec.fields.get("workspace")
                rec.fields["outcome"] = m.group(3)
                fire_logs.setdefault((ws, m.group(1), cc.parse_time(m.group(2))), []).append(rec)
        begin = self.first_lead_time + 2.0
        for ws in self.names:
            final = self.db.final_last_fire(ws)
            if final is None:
                self.violate("C2d: %s never got a last_fire in PostgreSQL" % ws)
                continue
            # d. liveness
            for at, op in self.fires_due(ws, begin, self.quiet_to - 5.0):
                if at > final:
                    self.violate("C2d: %s: the %s fire of %s (before the end of the quiet "
                                 "period) was never taken: the final last_fire is %s" % (
                                     ws, op, cc.fmt_time(at), cc.fmt_time(final)))
            for at, op in self.fires_due(ws, begin, final):
                stats["fires due"] = stats.get("fires due", 0) + 1
                recs = sorted(fire_logs.get((ws, op, at), []), key=lambda r: r.t)
                sched = by_fire.get((ws, op, at), [])
                # b. handled
                if not recs and not sched:
                    self.violate("C2b: %s: the %s fire of %s is at or before the final last_fire "
                                 "(%s) but no node logged it and no job serves it" % (
                                     ws, op, cc.fmt_time(at), cc.fmt_time(final)))
                    continue
                outcomes = sorted({r.fields["outcome"] for r in recs})
                for o in outcomes:
                    stats["fire outcome " + o] = stats.get("fire outcome " + o, 0) + 1
                # c. taken again only if PostgreSQL never showed it taken
                if len(recs) > 1:
                    stats["fires taken again after a failover"] = stats.get(
                        "fires taken again after a failover", 0) + 1
                    saved = self.db.first_seen_at_or_past(ws, at)
                    for again in recs[1:]:
                        if saved is not None and saved < again.t:
                            self.violate(
                                "C2c: %s: the %s fire of %s was taken again by %s at %s, although "
                                "PostgreSQL held last_fire >= it since %s; takes: %s" % (
                                    ws, op, cc.fmt_time(at), again.inst.label(),
                                    cc.fmt_time(again.t), cc.fmt_time(saved), "; ".join(
                                        "%s at %s: %s" % (r.inst.label(), cc.fmt_time(r.t),
                                                          r.text) for r in recs)))
                            break
                # e. a job that ran
                for r in recs:
                    job_id = r.fields.get("job_id")
                    if r.fields["outcome"] != "ran" or not job_id:
                        continue
                    if job_id in jobs:
                        results = "/".join(rec.get("result", "?") for _, rec in jobs[job_id])
                        stats["ran: " + results] = stats.get("ran: " + results, 0) + 1
                    elif r.inst.ended is not None and (r.inst.how in ("SIGKILL", "exit") or any(
                            f.inst == r.inst.label() for f in self.faults)):
                        stats["ran: lost with its leader"] = stats.get(
                            "ran: lost with its leader", 0) + 1
                    else:
                        self.violate("C2e: %s: job %s of the %s fire of %s (taken by %s at %s) is "
                                     "in no history, and its node was not lost" % (
                                         ws, job_id, op, cc.fmt_time(at), r.inst.label(),
                                         cc.fmt_time(r.t)))
        return stats

    def failovers(self, logs):
        """Failover times per cause, from the faults and the `this node leads` lines."""
        leads = sorted((r.t, int(LEADS.search(r.text).group(1)), r.inst) for r in logs
                       if r.logger == "ha" and LEADS.search(r.text))
        self.first_lead_time = leads[0][0] if leads else self.first_leader
        leader_faults = [f for f in self.faults if f.leader]
        by_inst = {}
        for r in logs:
            by_inst.setdefault(r.inst.label(), []).append(r)
        # Terms a demoted leader took while it exited (it never leads them).
        self.exit_terms = []
        for label, recs in sorted(by_inst.items()):
            lost = next((r.t for r in recs if "lost the leader lease" in r.text), None)
            if lost is None:
                continue
            for r in recs:
                m = ACQUIRED.search(r.text)
                if r.logger == "ha" and m and r.t >= lost:
                    rel = next((x.t for x in recs if x.t >= r.t and RELEASED.search(x.text)
                                and RELEASED.search(x.text).group(1) == m.group(1)), None)
                    end = rel if rel is not None else r.inst.ended
                    self.exit_terms.append((label, int(m.group(1)), lost, r.t, end))
        out = {c: {"all": [], "clean": []} for c in CAUSES}
        out["SIGTERM from the release"] = {"all": [], "clean": []}
        kept = {c: 0 for c in CAUSES}
        rows = []
        for i, f in enumerate(leader_faults):
            nxt = next(((t, term, inst) for t, term, inst in leads if term > f.term), None)
            later = next((g for g in leader_faults[i + 1:] if g.t > f.t), None)
            if nxt is None or (later is not None and later.t < nxt[0]):
                kept[f.cause] += 1
                continue
            t, term, inst = nxt
            if t < f.t:
                self.note("the %s of %s was aimed at term %d, already over at %s" % (
                    f.cause, f.inst, f.term, cc.fmt_time(t)))
                continue
            took = t - f.t
            others = [n for n in self.nodes if n.name != f.node]
            clean = any(n.healthy_during(f.t, t) for n in others)
            out[f.cause]["all"].append(took)
            if clean:
                out[f.cause]["clean"].append(took)
            extra = ""
            if f.cause == "SIGTERM" and f.exited is not None:
                extra = ", the node exited %.2f s after SIGTERM" % (f.exited - f.t)
            if f.cause == "SIGTERM":
                rel = next((r.t for r in by_inst.get(f.inst, []) if RELEASED.search(r.text)
                            and int(RELEASED.search(r.text).group(1)) == f.term), None)
                if rel is not None and rel <= t:
                    out["SIGTERM from the release"]["all"].append(t - rel)
                    if clean:
                        out["SIGTERM from the release"]["clean"].append(t - rel)
                    extra += ", %.2f s after its release" % (t - rel)
            wasted = [e for e in self.exit_terms if f.term < e[1] < term]
            for label, wterm, lost, acq, end in wasted:
                extra += ("; term %d went to %s, demoted and exiting, which held it %.2f s"
                          % (wterm, label, (end or acq) - acq))
            rows.append("%s %s (term %d%s) -> %s leads term %d after %.2f s%s%s" % (
                f.cause, f.inst, f.term, ", %.1f s" % f.seconds if f.seconds else "",
                inst.label(), term, took, extra,
                "" if clean else " (no healthy standby throughout)"))
        return out, kept, rows, leads

    def report(self):
        all_logs = []
        for inst in self.all_instances():
            all_logs += read_log(inst)
        all_logs.sort(key=lambda r: r.t)
        failover, kept, rows, leads = self.failovers(all_logs)
        runs = self.check_overlaps()
        jobs = self.histories()
        fire_stats = self.check_fires(all_logs, jobs)
        print("failovers (fault on the leader -> first `this node leads` of a newer term):")
        for row in rows:
            print("    " + row)
        summary = {"seed": self.args.seed, "minutes": self.args.minutes, "nodes": self.args.nodes,
                   "long_runs": self.args.long_runs,
                   "workspaces": self.args.workspaces, "timings": {
                       "lease_ttl": self.lease_ttl, "renew_interval": self.renew_interval,
                       "renew_deadline": self.renew_deadline}}
        fo = {}
        for cause in CAUSES + ("SIGTERM from the release",):
            entry = {}
            for kind in ("all", "clean"):
                xs = sorted(failover[cause][kind])
                entry[kind] = {"n": len(xs), "min": round(xs[0], 2) if xs else None,
                               "median": round(statistics.median(xs), 2) if xs else None,
                               "max": round(xs[-1], 2) if xs else None}
            if cause in kept:
                entry["no failover (leader kept its lease)"] = kept[cause]
            fo[cause] = entry
        summary["failover_seconds"] = fo
        faults = {}
        for f in self.faults:
            key = "%s %s" % (f.cause, "leader" if f.leader else "standby")
            faults[key] = faults.get(key, 0) + 1
        summary["faults"] = faults
        terms = sorted({term for _, term, _ in leads})
        summary["leader_terms"] = {"count": len(terms), "first": terms[0] if terms else None,
                                   "last": terms[-1] if terms else None,
                                   "db_max": self.db.max_term}
        exits = {}
        for _, _, code, how, demotion in self.exits:
            key = "%s, status %s%s" % (how, code, " (demotion)" if demotion else "")
            exits[key] = exits.get(key, 0) + 1
        summary["node_exits"] = exits
        holds = sorted((end or acq) - acq for _, _, _, acq, end in self.exit_terms)
        summary["terms taken by a demoted node while it exited"] = {
            "count": len(self.exit_terms),
            "held_seconds_max": round(holds[-1], 3) if holds else None,
            "held_seconds_median": round(statistics.median(holds), 3) if holds else None}
        for label, term, lost, acq, end in self.exit_terms:
            print("    finding: %s lost the lease at %s, then acquired term %d at %s (%.0f ms "
                  "later) and held it until %s, while it exited" % (
                      label, cc.fmt_time(lost), term, cc.fmt_time(acq), (acq - lost) * 1000,
                      cc.fmt_time(end) if end else "?"))
        summary["node_starts"] = len(self.all_instances())
        results = {}
        for job_id, recs in jobs.items():
            rec = recs[0][1]
            key = "%s %s" % (rec.get("trigger"), rec.get("result"))
            results[key] = results.get(key, 0) + 1
        summary["jobs"] = {"distinct": len(jobs), "by trigger and result": results,
                           "recorded on two nodes": sum(1 for r in jobs.values() if len(r) > 1)}
        summary["tofu_runs"] = {"total": len(runs), "in a node's workspace": self.mapped_runs}
        summary["fires"] = fire_stats
        summary["db"] = {"polls": self.db.polls, "failed_polls": self.db.failed,
                         "row_versions_seen": self.db.versions,
                         "lease_changes_seen": len(self.db.leader_changes)}
        summary["notes"] = len(self.notes)
        by_kind = {}
        for v in self.violations:
            k = v.split(":", 1)[0]
            by_kind[k] = by_kind.get(k, 0) + 1
        summary["violations"] = {"total": len(self.violations), "by check": by_kind}
        for n in self.notes[:40]:
            print("    note: " + n)
        if len(self.notes) > 40:
            print("    (%d more notes)" % (len(self.notes) - 40))
        for v in self.violations:
            print("    VIOLATION " + v)
        print(json.dumps(summary, indent=2, sort_keys=True))
        print("violations=%d" % len(self.violations), flush=True)


def parse_args(argv):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--minutes", type=float, default=5.0, help="chaos time (default 5)")
    p.add_argument("--nodes", type=int, default=3, help="nodes (default 3)")
    p.add_argument("--workspaces", type=int, default=6, help="workspaces (default 6)")
    p.add_argument("--seed", type=int, default=None, help="RNG seed (default: random, printed)")
    p.add_argument("--build", default="build", help="dir with provisioner and fake_tofu")
    p.add_argument("--timings", choices=sorted(TIMINGS), default="short",
                   help="short: lease 3s, renew 500ms, deadline 2s, claim 10s; "
                   "default: the shipped 15s/3s/10s/60s, with faults and intervals stretched 5x")
    p.add_argument("--quiet", type=float, default=None,
                   help="seconds without faults at the end (default 25, or 60 with "
                   "--timings default)")
    p.add_argument("--long-runs", action="store_true",
                   help="every third workspace's deploy and destroy take ~8 s, not ~2 s")
    p.add_argument("--keep", action="store_true", help="keep the temp dir (kept on violations)")
    args = p.parse_args(argv)
    if args.seed is None:
        args.seed = random.SystemRandom().randrange(1 << 31)
    if args.quiet is None:
        args.quiet = 25.0 if args.timings == "short" else 60.0
    if args.nodes < 2 or args.workspaces < 1 or args.workspaces > 50 or args.minutes <= 0:
        p.error("--nodes must be >= 2, --workspaces 1..50, --minutes > 0")
    return args


def main(argv):
    args = parse_args(argv)
    why = Postgres.missing()
    if why:
        print("ha chaos skipped: %s" % why, file=sys.stderr)
        return EXIT_SKIP
    for name in ("provisioner", "fake_tofu"):
        path = os.path.join(args.build, name)
        if not cc.wait_until(lambda: os.access(path, os.X_OK), 120, 2):
            print("%s: not an executable (build it first)" % path, file=sys.stderr)
            return 2

    def on_signal(signum, frame):
        raise KeyboardInterrupt("signal %d" % signum)
    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, on_signal)

    chaos = Chaos(args)
    code = 0
    try:
        chaos.run()
        chaos.cleanup()
        chaos.report()
        code = 1 if chaos.violations else 0
    except KeyboardInterrupt:
        print("interrupted; cleaning up", file=sys.stderr)
        code = 130
    except Exception:
        import traceback
        traceback.print_exc()
        code = 1
    finally:
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        chaos.cleanup()
        if args.keep or code != 0:
            print("kept %s" % chaos.root, file=sys.stderr)
        else:
            shutil.rmtree(chaos.root, ignore_errors=True)
    return code


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
