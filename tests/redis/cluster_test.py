#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Redis Cluster tests of daxkv_redis.so (issue #22, docs/redis.md).

Usage: cluster_test.py --module SO --kvctl KVCTL [--cluster-sh SH] CASE

Each case starts its own cluster of at most 6 redis-server processes on
127.0.0.1 (free ports below the ephemeral range), with node databases on
emulated pmem under a fresh /dev/shm directory, and removes processes and
files at exit whatever happens (the servers also die with this process:
PR_SET_PDEATHSIG).  Every loop is bounded in count and in time.

Cases:
  routing          COMMAND GETKEYS of every command, MOVED, CROSSSLOT,
                   scans and queries against a model, kvctl cluster
  failover_kill    writes confirmed by WAIT 1 survive kill -9 of their
                   master and a SIGSTOP longer than node-timeout
  manual_failover  CLUSTER FAILOVER under load loses no acknowledged write
  reshard          reshard, add-node and rebalance under load: every key in
                   exactly one master, in its keyspace and its daxkv
  restart          a replica, a master, then the whole cluster (clean, then
                   kill -9) restart with contents equal to a model
  resync           a full resync during writes: master and replica digests
  keyspace         FLUSHALL, expiry, RENAME, COPY, RESTORE, overwrites,
                   keyspace notifications
  cluster_sh       scripts/cluster.sh start, status, stop, resume, destroy
"""
import argparse
import atexit
import ctypes
import os
import random
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time
import traceback

NODE_TIMEOUT_MS = 2000
CASE_DEADLINE_S = 150          # a whole case, whatever it does
STEP_TIMEOUT_S = 30            # one wait for the cluster to settle

ARGS = None
WORK = None                    # the run's directory under /dev/shm
PROCS = []                     # every redis-server started
CASE_START = time.monotonic()


class TestFailure(Exception):
    pass


def fail(msg):
    raise TestFailure(msg)


def check(cond, msg):
    if not cond:
        fail(msg)


def log(msg):
    print("[%6.1f] %s" % (time.monotonic() - CASE_START, msg), flush=True)


def until(pred, timeout, what, interval=0.05):
    """Poll pred() until it is true; fail after timeout seconds."""
    deadline = time.monotonic() + timeout
    last_exc = None
    while True:
        try:
            if pred():
                return
        except (OSError, RedisError) as exc:   # a node restarting
            last_exc = exc
        if time.monotonic() > deadline:
            fail("timed out after %.0f s waiting for %s%s" %
                 (timeout, what, " (last error: %s)" % last_exc
                  if last_exc else ""))
        if time.monotonic() - CASE_START > CASE_DEADLINE_S:
            fail("case ran past %d s" % CASE_DEADLINE_S)
        time.sleep(interval)


# ---- RESP ----

class RedisError(Exception):
    pass


class Conn:
    """One connection, RESP2, with a timeout on every reply."""

    def __init__(self, port, timeout=10.0):
        self.port = port
        self.sock = socket.create_connection(("127.0.0.1", port),
                                             timeout=timeout)
        self.sock.settimeout(timeout)
        self.buf = b""

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass

    def send(self, *args):
        out = [b"*%d\r\n" % len(args)]
        for a in args:
            if isinstance(a, int):
                a = str(a).encode()
            elif isinstance(a, str):
                a = a.encode()
            out.append(b"$%d\r\n%s\r\n" % (len(a), a))
        self.sock.sendall(b"".join(out))

    def _fill(self):
        data = self.sock.recv(1 << 20)
        if not data:
            raise ConnectionError("port %d closed the connection" %
                                  self.port)
        self.buf += data

    def _line(self):
        while b"\r\n" not in self.buf:
            self._fill()
        line, self.buf = self.buf.split(b"\r\n", 1)
        return line

    def read(self):
        line = self._line()
        kind, rest = line[:1], line[1:]
        if kind == b"+":
            return rest.decode()
        if kind == b"-":
            return RedisError(rest.decode(errors="replace"))
        if kind == b":":
            return int(rest)
        if kind == b"$":
            n = int(rest)
            if n < 0:
                return None
            while len(self.buf) < n + 2:
                self._fill()
            data, self.buf = self.buf[:n], self.buf[n + 2:]
            return data
        if kind == b"*":
            n = int(rest)
            if n < 0:
                return None
            return [self.read() for _ in range(n)]
        raise ConnectionError("bad reply line %r" % line[:40])

    def call(self, *args):
        """The reply; an error reply is raised."""
        self.send(*args)
        r = self.read()
        if isinstance(r, RedisError):
            raise r
        return r

    def call_noraise(self, *args):
        self.send(*args)
        return self.read()


def crc16(data):
    crc = 0
    for b in data:
        crc ^= b << 8
        for _ in range(8):
            crc = ((crc << 1) ^ 0x1021) if crc & 0x8000 else crc << 1
            crc &= 0xffff
    return crc


def key_slot(key):
    if isinstance(key, str):
        key = key.encode()
    s = key.find(b"{")
    if s >= 0:
        e = key.find(b"}", s + 1)
        if e > s + 1:
            key = key[s + 1:e]
    return crc16(key) % 16384


def info_dict(conn, section=None):
    raw = conn.call("INFO", section) if section else conn.call("INFO")
    out = {}
    for line in raw.decode().splitlines():
        if ":" in line and not line.startswith("#"):
            k, v = line.split(":", 1)
            out[k] = v
    return out


def dkv_info(conn):
    out = {}
    for line in conn.call("DKV.INFO").decode().splitlines():
        k, v = line.split(":", 1)
        out[k] = v
    return out


def pairs(flat):
    return [(flat[i], flat[i + 1]) for i in range(0, len(flat), 2)]


# ---- processes ----

def _pdeathsig():
    # the servers die with the test, even when it is killed
    libc = ctypes.CDLL("libc.so.6", use_errno=True)
    libc.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG


def cleanup():
    for p in PROCS:
        if p.poll() is None:
            try:
                os.kill(p.pid, signal.SIGCONT)
                p.kill()
            except OSError:
                pass
    for p in PROCS:
        try:
            p.wait(timeout=10)
        except subprocess.TimeoutExpired:
            pass
    if WORK and os.path.isdir(WORK):
        shutil.rmtree(WORK, ignore_errors=True)


def on_signal(signum, frame):
    # atexit's handlers too: they stop what cluster.sh daemonized, which
    # PR_SET_PDEATHSIG does not reach
    print("cluster_test: signal %d: cleaning up" % signum, flush=True)
    atexit._run_exitfuncs()
    cleanup()
    os._exit(128 + signum)


def port_free(port):
    for p in (port, port + 10000):
        s = socket.socket()
        try:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            s.bind(("127.0.0.1", p))
        except OSError:
            return False
        finally:
            s.close()
    return True


def pick_ports(n):
    """n consecutive ports with their bus ports free, below 32768."""
    rnd = random.Random(os.getpid() ^ int(time.time()))
    for _ in range(200):
        base = rnd.randrange(11000, 19000 - n)
        if all(port_free(base + i) for i in range(n)):
            return list(range(base, base + n))
    fail("no %d free ports found" % n)


class Node:
    def __init__(self, port, extra_conf=()):
        self.port = port
        self.dir = os.path.join(WORK, "node-%d" % port)
        os.makedirs(self.dir, exist_ok=True)
        self.conf = os.path.join(self.dir, "redis.conf")
        self.log = os.path.join(self.dir, "redis.log")
        self.proc = None
        lines = [
            "port %d" % port, "bind 127.0.0.1", "daemonize no",
            "dir %s" % self.dir, "logfile %s" % self.log,
            "cluster-enabled yes", "cluster-config-file nodes.conf",
            "cluster-node-timeout %d" % NODE_TIMEOUT_MS,
            "min-replicas-to-write 1", 'save ""', "appendonly no",
            "rdb-del-sync-files yes", "repl-diskless-load disabled",
            "enable-debug-command local",
            "loadmodule %s %s segment-size 4M" % (
                ARGS.module, os.path.join(self.dir, "daxkv")),
        ]
        lines += list(extra_conf)
        with open(self.conf, "w") as f:
            f.write("\n".join(lines) + "\n")

    def start(self):
        env = dict(os.environ, PMEM_IS_PMEM_FORCE="1")
        self.proc = subprocess.Popen(
            ["redis-server", self.conf], env=env, stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            preexec_fn=_pdeathsig)
        PROCS.append(self.proc)
        until(self.answers, 20, "node %d to answer" % self.port)

    def answers(self):
        if self.proc.poll() is not None:
            fail("node %d exited (%s): %s" % (self.port, self.proc.returncode,
                                             self.log_tail()))
        try:
            c = Conn(self.port, timeout=2)
            try:
                return c.call("PING") == "PONG"
            finally:
                c.close()
        except OSError:
            return False

    def log_tail(self, n=8):
        try:
            with open(self.log, errors="replace") as f:
                return " | ".join(f.read().splitlines()[-n:])
        except OSError:
            return "(no log)"

    def conn(self, timeout=10):
        return Conn(self.port, timeout=timeout)

    def call(self, *args):
        c = self.conn()
        try:
            return c.call(*args)
        finally:
            c.close()

    def running(self):
        return self.proc is not None and self.proc.poll() is None

    def kill(self, sig=signal.SIGKILL):
        os.kill(self.proc.pid, sig)
        if sig == signal.SIGKILL:
            self.proc.wait(timeout=10)

    def shutdown(self):
        try:
            self.call("SHUTDOWN", "NOSAVE")
        except (OSError, ConnectionError):
            pass
        self.proc.wait(timeout=20)

    def node_id(self):
        return self.call("CLUSTER", "MYID").decode()

    def is_master(self):
        return info_dict(self.conn_once(), "replication")["role"] == "master"

    def conn_once(self):
        c = self.conn()
        atexit.register(c.close)
        return c


class Cluster:
    """Nodes plus a slot map, and a client that follows redirections."""

    def __init__(self, ports, extra_conf=()):
        self.nodes = {p: Node(p, extra_conf) for p in ports}
        self.slots = [None] * 16384
        self.conns = {}
        self.lock = threading.Lock()

    def node(self, port):
        return self.nodes[port]

    def start_all(self, ports=None):
        for p in ports or self.nodes:
            self.nodes[p].start()

    def create(self, masters, replicas_per_master=1):
        addrs = ["127.0.0.1:%d" % p for p in sorted(self.nodes)]
        cmd = ["redis-cli", "--cluster", "create"] + addrs + [
            "--cluster-replicas", str(replicas_per_master), "--cluster-yes"]
        r = subprocess.run(cmd, stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT, timeout=60)
        check(r.returncode == 0, "cluster create failed: %s" %
              r.stdout.decode(errors="replace")[-800:])
        self.settle()

    def live(self):
        return [n for n in self.nodes.values() if n.running()]

    def any_live(self):
        for n in self.live():
            if n.answers():
                return n
        fail("no node answers")

    def masters(self):
        """Live nodes that serve slots, by CLUSTER SLOTS of a live node."""
        ports = set()
        for rng in self.any_live().call("CLUSTER", "SLOTS"):
            ports.add(rng[2][1])
        return [self.nodes[p] for p in sorted(ports)]

    def replicas_of(self, master):
        mid = master.node_id()
        out = []
        for n in self.live():
            r = n.call("ROLE")
            if r[0] == b"slave" and r[2] == master.port:
                out.append(n)
        return out

    def refresh(self):
        m = [None] * 16384
        for rng in self.any_live().call("CLUSTER", "SLOTS"):
            for s in range(rng[0], rng[1] + 1):
                m[s] = rng[2][1]
        self.slots = m

    def settle(self, timeout=STEP_TIMEOUT_S):
        """Every live node says ok, every slot is served, every master
        that serves slots has an online replica, and all agree."""
        def ok():
            views = set()
            for n in self.live():
                ci = n.call("CLUSTER", "INFO").decode()
                if "cluster_state:ok" not in ci:
                    return False
                view = tuple((r[0], r[1], r[2][1]) for r in
                             sorted(n.call("CLUSTER", "SLOTS")))
                views.add(view)
            if len(views) != 1:
                return False
            for m in self.masters():
                rep = info_dict(m.conn_once(), "replication")
                if rep.get("role") != "master":
                    return False
                if "state=online" not in rep.get("slave0", ""):
                    return False
            return True
        until(ok, timeout, "the cluster to settle", interval=0.2)
        self.refresh()

    def _conn(self, port):
        c = self.conns.get(port)
        if c is None:
            c = Conn(port)
            self.conns[port] = c
        return c

    def _drop(self, port):
        c = self.conns.pop(port, None)
        if c:
            c.close()

    def call(self, key, *args, wait=None, tries=50):
        """Run a command on the node serving key's slot, following MOVED,
        ASK, TRYAGAIN and CLUSTERDOWN, at most `tries` times.  With wait,
        also WAIT wait-replicas on the same connection: returns (reply,
        acked replicas)."""
        slot = key_slot(key)
        asking = None
        last = None
        for attempt in range(tries):
            port = asking or self.slots[slot] or self.masters()[0].port
            try:
                c = self._conn(port)
                if asking:
                    c.call("ASKING")
                r = c.call_noraise(*args)
                if isinstance(r, RedisError):
                    msg = str(r)
                    last = msg
                    if msg.startswith("MOVED"):
                        self.slots[slot] = int(msg.split()[2].split(":")[1])
                        asking = None
                        continue
                    if msg.startswith("ASK"):
                        asking = int(msg.split()[2].split(":")[1])
                        continue
                    if msg.startswith(("TRYAGAIN", "CLUSTERDOWN",
                                       "LOADING", "MASTERDOWN")):
                        asking = None
                        time.sleep(0.05)
                        try:
                            self.refresh()
                        except (OSError, RedisError, TestFailure):
                            pass
                        continue
                    raise r
                if wait is not None:
                    n = c.call("WAIT", wait, 2000)
                    return r, n
                return r
            except (OSError, ConnectionError) as exc:
                last = str(exc)
                self._drop(port)
                asking = None
                time.sleep(0.1)
                try:
                    self.refresh()
                except (OSError, RedisError, TestFailure):
                    pass
        raise RedisError("gave up after %d tries: %s" % (tries, last))

    def close(self):
        for p in list(self.conns):
            self._drop(p)


# ---- what the nodes hold ----

def node_records(node, page=5000):
    """All (key, value) of a node's daxkv database (DKV.NODESCAN pages)."""
    out = []
    start = b""
    c = node.conn()
    try:
        for _ in range(10000):
            r = c.call("DKV.NODESCAN", start, "", "LIMIT", page)
            got = pairs(r)
            out += got
            if len(got) < page:
                return out
            start = got[-1][0] + b"\0"
    finally:
        c.close()
    fail("node %d: NODESCAN did not end" % node.port)


def node_keys(node):
    """Every key of the node's keyspace (SCAN)."""
    keys = set()
    c = node.conn()
    try:
        cursor = b"0"
        for _ in range(100000):
            cursor, batch = c.call("SCAN", cursor, "COUNT", 1000)
            keys.update(batch)
            if cursor == b"0":
                return keys
    finally:
        c.close()
    fail("node %d: SCAN did not end" % node.port)


def dkv_check(node):
    r = node.call("DKV.CHECK")
    return {r[i]: r[i + 1] for i in range(0, len(r), 2)}


def assert_node_consistent(node):
    c = dkv_check(node)
    check(c["orphans"] == 0 and c["missing"] == 0 and c["foreign"] == 0
          and c["pending"] == 0,
          "node %d: daxkv and keyspace disagree: %r" % (node.port, c))
    check(c["records"] - c["expired"] == c["keys"],
          "node %d: %r" % (node.port, c))


def wait_replicas_caught_up(cluster):
    def caught_up():
        for m in cluster.masters():
            rep = info_dict(m.conn_once(), "replication")
            off = int(rep["master_repl_offset"])
            s0 = rep.get("slave0", "")
            if "offset=%d," % off not in s0 + ",":
                return False
        return True
    until(caught_up, STEP_TIMEOUT_S, "replicas to catch up", interval=0.1)


def assert_cluster_matches(cluster, model, what):
    """Each key in exactly one master, keyspace == daxkv on every node,
    the union equals the model (dict key -> value), replicas equal their
    masters (DKV.DIGEST and DEBUG DIGEST)."""
    wait_replicas_caught_up(cluster)
    seen = {}
    for m in cluster.masters():
        recs = node_records(m)
        keys = node_keys(m)
        check(keys == set(k for k, _ in recs),
              "%s: node %d: keyspace (%d keys) != daxkv (%d records)" %
              (what, m.port, len(keys), len(recs)))
        for k, v in recs:
            check(k not in seen, "%s: key %r on nodes %d and %d" %
                  (what, k, seen.get(k, (0,))[0], m.port))
            seen[k] = (m.port, v)
    missing = [k for k in model if k not in seen]
    extra = [k for k in seen if k not in model]
    wrong = [k for k in model if k in seen and seen[k][1] != model[k]]
    check(not missing and not extra and not wrong,
          "%s: %d keys missing (%r), %d extra (%r), %d wrong (%r)" %
          (what, len(missing), missing[:3], len(extra), extra[:3],
           len(wrong), wrong[:3]))
    for n in cluster.live():
        assert_node_consistent(n)
    for m in cluster.masters():
        dm = m.call("DKV.DIGEST")
        gm = m.call("DEBUG", "DIGEST")
        for r in cluster.replicas_of(m):
            check(r.call("DKV.DIGEST") == dm,
                  "%s: replica %d's DKV.DIGEST %r != master %d's %r" %
                  (what, r.port, r.call("DKV.DIGEST"), m.port, dm))
            check(r.call("DEBUG", "DIGEST") == gm,
                  "%s: replica %d's DEBUG DIGEST differs from master %d" %
                  (what, r.port, m.port))
    log("%s: %d keys, each in one master, equal to the model; replicas "
        "equal" % (what, len(model)))


def value_of(n):
    return struct.pack("<Qi", n, (n * 7919) % 2001 - 1000) + b"v%06d" % n


class Writer(threading.Thread):
    """Writes new keys w:<id>:<n> (tag cycles over slots) until stopped
    or `limit` writes; records which were acknowledged (OK) and which were
    confirmed by WAIT 1."""

    def __init__(self, cluster_ports, wid, use_wait, limit=20000):
        super().__init__(daemon=True)
        self.cluster = Cluster.__new__(Cluster)
        self.cluster.nodes = cluster_ports.nodes
        self.cluster.slots = list(cluster_ports.slots)
        self.cluster.conns = {}
        self.cluster.lock = threading.Lock()
        self.wid = wid
        self.use_wait = use_wait
        self.limit = limit
        self.stop_ev = threading.Event()
        self.acked = {}
        self.confirmed = {}
        self.attempted = {}
        self.errors = 0
        self.exc = None

    def run(self):
        try:
            for n in range(self.limit):
                if self.stop_ev.is_set():
                    break
                key = b"w:{t%d}:%d:%d" % (n % 97, self.wid, n)
                val = value_of(n + 1000000 * self.wid)
                self.attempted[key] = val
                try:
                    if self.use_wait:
                        r, acks = self.cluster.call(
                            key, "DKV.SET", key, val, wait=1, tries=8)
                    else:
                        r, acks = self.cluster.call(
                            key, "DKV.SET", key, val, tries=8), 0
                except (RedisError, OSError) as exc:
                    self.errors += 1
                    time.sleep(0.02)
                    continue
                if r == "OK":
                    self.acked[key] = val
                    if acks >= 1:
                        self.confirmed[key] = val
                time.sleep(0.001)
        except Exception as exc:   # reported by stop()
            self.exc = exc
        finally:
            self.cluster.close()

    def stop(self):
        self.stop_ev.set()
        self.join(timeout=60)
        check(not self.is_alive(), "writer %d did not stop" % self.wid)
        if self.exc:
            raise self.exc


def assert_writes_survived(cluster, writers, kind):
    """Every `kind` (acked or confirmed) write is there with its value;
    any other attempted key is absent or has its value."""
    recs = {}
    for m in cluster.masters():
        for k, v in node_records(m):
            recs[k] = v
    total = 0
    for w in writers:
        sure = getattr(w, kind)
        total += len(sure)
        for k, v in sure.items():
            check(recs.get(k) == v, "%s write %r lost (now %r)" %
                  (kind, k, recs.get(k)))
        for k, v in w.attempted.items():
            check(k not in recs or recs[k] == v, "key %r has a value "
                  "never written: %r" % (k, recs.get(k)))
    check(total > 0, "no write was %s at all" % kind)
    log("%d %s writes all present (%d failed attempts)" %
        (total, kind, sum(w.errors for w in writers)))


def wait_failover(cluster, old_port, timeout=STEP_TIMEOUT_S):
    """No live node's CLUSTER SLOTS names old_port as a master."""
    def done():
        for n in cluster.live():
            if n.port == old_port:
                continue
            for rng in n.call("CLUSTER", "SLOTS"):
                if rng[2][1] == old_port:
                    return False
            if "cluster_state:ok" not in n.call("CLUSTER", "INFO").decode():
                return False
        return True
    t0 = time.monotonic()
    until(done, timeout, "the replica of %d to take over" % old_port,
          interval=0.1)
    log("failover of %d done in %.1f s" % (old_port, time.monotonic() - t0))


def make_cluster(nports=6, extra_conf=()):
    ports = pick_ports(nports)
    c = Cluster(ports, extra_conf)
    c.start_all()
    return c


def load_model(cluster, n, tags=50, prefix=b"k"):
    """n keys {tX}:prefix:i with value_of(i), with DKV.MSET per tag."""
    model = {}
    by_tag = {}
    for i in range(n):
        key = b"{t%d}:%s:%06d" % (i % tags, prefix, i)
        model[key] = value_of(i)
        by_tag.setdefault(i % tags, []).append(key)
    for t, keys in by_tag.items():
        for j in range(0, len(keys), 50):
            chunk = keys[j:j + 50]
            args = ["DKV.MSET"]
            for k in chunk:
                args += [k, model[k]]
            check(cluster.call(chunk[0], *args) == "OK", "MSET failed")
    return model


# ---- cases ----

def case_routing():
    cl = make_cluster()
    cl.create(3)
    any_node = cl.any_live()
    # COMMAND GETKEYS: the key specs
    expect = [
        (["DKV.SET", "a", "v"], [b"a"]),
        (["DKV.GET", "a"], [b"a"]),
        (["DKV.DEL", "a", "b", "c"], [b"a", b"b", b"c"]),
        (["DKV.MSET", "a", "1", "b", "2"], [b"a", b"b"]),
        (["DKV.MGET", "a", "b"], [b"a", b"b"]),
        (["DKV.SCAN", "user1", "", ""], [b"user1"]),
        (["DKV.SCAN", "user1", "a", "b", "LIMIT", "5", "REV"], [b"user1"]),
        (["DKV.QUERY", "user1", "COUNT", "WHERE", "u8@0 > 1"], [b"user1"]),
    ]
    for cmd, keys in expect:
        got = any_node.call("COMMAND", "GETKEYS", *cmd)
        check(got == keys, "GETKEYS %r: %r, expected %r" % (cmd, got, keys))
    flags = any_node.call("COMMAND", "GETKEYSANDFLAGS", "DKV.SET", "a", "v")
    check("OW" in flags[0][1] and "update" in flags[0][1],
          "DKV.SET key flags %r" % flags)
    flags = any_node.call("COMMAND", "GETKEYSANDFLAGS", "DKV.GET", "a")
    check("RO" in flags[0][1], "DKV.GET key flags %r" % flags)
    flags = any_node.call("COMMAND", "GETKEYSANDFLAGS", "DKV.DEL", "a")
    check("RM" in flags[0][1], "DKV.DEL key flags %r" % flags)
    for cmd in (["DKV.INFO"], ["DKV.CHECK"], ["DKV.DIGEST"],
                ["DKV.NODESCAN", "", ""], ["DKV.NODEQUERY", "COUNT"]):
        r = any_node.conn_once().call_noraise("COMMAND", "GETKEYS", *cmd)
        check(isinstance(r, RedisError), "%s should have no keys: %r" %
              (cmd[0], r))
    log("GETKEYS and key flags right for every command")
    # MOVED to the right node, for a key and for a scan's tag
    for key in (b"alpha", b"{user1}:x", b"zeta:99"):
        slot = key_slot(key)
        owner = cl.slots[slot]
        other = [n for n in cl.masters() if n.port != owner][0]
        for cmd in (["DKV.SET", key, "v"], ["DKV.GET", key]):
            r = other.conn_once().call_noraise(*cmd)
            check(isinstance(r, RedisError) and str(r) == "MOVED %d "
                  "127.0.0.1:%d" % (slot, owner), "%r on %d: %r" %
                  (cmd, other.port, r))
    tag_slot = key_slot(b"{user1}")
    owner = cl.slots[tag_slot]
    other = [n for n in cl.masters() if n.port != owner][0]
    for cmd in (["DKV.SCAN", "user1", "", ""], ["DKV.QUERY", "user1"]):
        r = other.conn_once().call_noraise(*cmd)
        check(isinstance(r, RedisError) and str(r).startswith(
            "MOVED %d " % tag_slot), "%r: %r" % (cmd, r))
    # CROSSSLOT
    a, b = b"a", b"b"
    check(key_slot(a) != key_slot(b), "test keys share a slot")
    for cmd in (["DKV.MSET", a, "1", b, "2"], ["DKV.MGET", a, b],
                ["DKV.DEL", a, b]):
        r = cl.masters()[0].conn_once().call_noraise(*cmd)
        check(isinstance(r, RedisError) and str(r).startswith("CROSSSLOT"),
              "%r: %r" % (cmd, r))
    log("MOVED and CROSSSLOT where expected")

    model = load_model(cl, 3000)
    # reads
    for k in random.Random(1).sample(sorted(model), 200):
        check(cl.call(k, "DKV.GET", k) == model[k], "DKV.GET %r" % k)
    keys = [b"{t3}:k:%06d" % i for i in (3, 53, 103, 999953)]
    got = cl.call(keys[0], "DKV.MGET", *keys)
    check(got == [model.get(k) for k in keys], "DKV.MGET %r" % got)
    # scans of a tag against the model, forward and REV, with bounds
    for tag in (b"t3", b"t17"):
        tagged = sorted(k for k in model if k.startswith(b"{" + tag + b"}"))
        rows = pairs(cl.call(b"{" + tag + b"}", "DKV.SCAN", tag, "", "",
                             "LIMIT", 100000))
        check(rows == [(k, model[k]) for k in tagged], "scan of %r" % tag)
        lo, hi = b":k:000500", b":k:002000"
        inside = [k for k in tagged if b"{" + tag + b"}" + lo <= k <
                  b"{" + tag + b"}" + hi]
        for limit in (1, 7, 1000):
            fwd = pairs(cl.call(b"{" + tag + b"}", "DKV.SCAN", tag, lo, hi,
                                "LIMIT", limit))
            check([k for k, _ in fwd] == inside[:limit],
                  "forward scan LIMIT %d" % limit)
            rev = pairs(cl.call(b"{" + tag + b"}", "DKV.SCAN", tag, lo, hi,
                                "LIMIT", limit, "REV"))
            check([k for k, _ in rev] == inside[::-1][:limit],
                  "REV scan LIMIT %d: %r" % (limit, rev[:3]))
            check(all(v == model[k] for k, v in rev), "REV values")
        # pages of a REV scan join up
        seen, end = [], hi
        for _ in range(100):
            page = pairs(cl.call(b"{" + tag + b"}", "DKV.SCAN", tag, lo,
                                 end, "LIMIT", 4, "REV"))
            seen += [k for k, _ in page]
            if len(page) < 4:
                break
            end = page[-1][0][len(tag) + 2:]
        check(seen == inside[::-1], "REV pages")
    # queries of a tag against the model
    tag = b"t5"
    tagged = [k for k in model if k.startswith(b"{t5}")]
    def field_u64(v):
        return struct.unpack("<Q", v[:8])[0]
    def field_i32(v):
        return struct.unpack("<i", v[8:12])[0]
    r = cl.call(b"{t5}", "DKV.QUERY", tag, "COUNT")
    check(r == [len(tagged), None], "QUERY COUNT %r" % r)
    r = cl.call(b"{t5}", "DKV.QUERY", tag, "SUM", "u64@0", "WHERE",
                "i32@8 > 0")
    exp = [k for k in tagged if field_i32(model[k]) > 0]
    check(r == [len(exp), str(sum(field_u64(model[k]) for k in exp))
                .encode()], "QUERY SUM %r" % r)
    r = cl.call(b"{t5}", "DKV.QUERY", tag, "MIN", "i32@8")
    check(r == [len(tagged), str(min(field_i32(model[k]) for k in tagged))
                .encode()], "QUERY MIN %r" % r)
    r = cl.call(b"{t5}", "DKV.QUERY", tag, "MAX", "i32@8", "FROM",
                ":k:001000", "TO", ":k:002000")
    inside = [k for k in tagged if b"{t5}:k:001000" <= k < b"{t5}:k:002000"]
    check(r == [len(inside), str(max(field_i32(model[k]) for k in inside))
                .encode()], "QUERY MAX range %r" % r)
    r = pairs(cl.call(b"{t5}", "DKV.QUERY", tag, "ROWS", "LIMIT", 10,
                      "WHERE", "u64@0 >= 2000"))
    exp = sorted(k for k in tagged if field_u64(model[k]) >= 2000)[:10]
    check(r == [(k, model[k]) for k in exp], "QUERY ROWS %r" % r[:2])
    r = cl.call(b"{t5}", "DKV.QUERY", tag, "MIN", "u8@0", "WHERE",
                "u64@0 > 99999999")
    check(r == [0, None], "QUERY MIN of nothing %r" % r)
    log("DKV.SCAN (forward, REV, pages) and DKV.QUERY equal the model")
    # the cluster fan-out
    def kvctl(*args):
        r = subprocess.run([ARGS.kvctl, "cluster"] + list(args),
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           timeout=60)
        check(r.returncode == 0, "kvctl cluster %r: %s" % (
            args, r.stderr.decode(errors="replace")))
        return r.stdout
    seed = "127.0.0.1:%d" % cl.masters()[0].port
    out = kvctl("query", seed, "--count")
    check(int(out) == len(model), "kvctl cluster query --count: %r" % out)
    out = kvctl("query", seed, "--sum", "u64@0")
    check(int(out) == sum(field_u64(v) for v in model.values()) % 2**64,
          "--sum %r" % out)
    out = kvctl("query", seed, "--min", "i32@8", "--where", "u64@0 < 1500")
    check(int(out) == min(field_i32(v) for v in model.values()
                          if field_u64(v) < 1500), "--min %r" % out)
    out = kvctl("query", seed, "--max", "i32@8")
    check(int(out) == max(field_i32(v) for v in model.values()),
          "--max %r" % out)
    out = kvctl("query", seed, "--rows", "--hex", "--limit", "1500",
                "--where", "u64@0 >= 100")
    exp = sorted(k for k, v in model.items() if field_u64(v) >= 100)[:1500]
    lines = out.decode().splitlines()
    check([bytes.fromhex(l.split("\t")[0]) for l in lines] == exp,
          "kvctl cluster query --rows: %d lines" % len(lines))
    out = kvctl("scan", seed, "--hex")
    lines = out.decode().splitlines()
    got = [(bytes.fromhex(a), bytes.fromhex(b)) for a, b in
           (l.split("\t") for l in lines)]
    check(got == sorted(model.items()), "kvctl cluster scan: %d of %d" %
          (len(got), len(model)))
    out = kvctl("scan", seed, "--prefix", b"{t9}".hex(), "--limit", "5",
                "--hex")
    exp = sorted(k for k in model if k.startswith(b"{t9}"))[:5]
    check([bytes.fromhex(l.split("\t")[0]) for l in
           out.decode().splitlines()] == exp, "scan --prefix")
    log("kvctl cluster query/scan merge the masters' answers")
    # errors say what is wrong
    m = cl.masters()[0]
    c = m.conn_once()
    plain = next(b"plain%d" % i for i in range(1000)
                 if cl.slots[key_slot(b"plain%d" % i)] == m.port)
    c.call("SET", plain, "x")
    r = c.call_noraise("DKV.GET", plain)
    check(isinstance(r, RedisError) and str(r).startswith("WRONGTYPE"),
          "DKV.GET of a string: %r" % r)
    check(c.call("DKV.MGET", plain) == [None], "MGET of a string")
    for cmd, text in ((["DKV.SET", plain], "wrong number"),
                      (["DKV.SCAN", "a{b", "", ""], "tag"),
                      (["DKV.SCAN", "t1", "", "", "LIMIT", "0"], "LIMIT"),
                      (["DKV.SCAN", "t1", "", "", "BOGUS"], "unknown"),
                      (["DKV.QUERY", "t1", "WHERE", "u32@0 >> 1"], "WHERE"),
                      (["DKV.QUERY", "t1", "COUNT", "LIMIT", "5"], "LIMIT"),
                      (["DKV.QUERY", "t1", "SUM", "bytes2@0"], "field"),
                      (["DKV.QUERY", "t1", "BACKEND", "gpu"], "BACKEND")):
        key = cmd[1] if cmd[0] == "DKV.SET" else "{%s}" % cmd[1]
        port = cl.slots[key_slot(key)]
        r = cl.node(port).conn_once().call_noraise(*cmd)
        check(isinstance(r, RedisError) and text in str(r),
              "%r: %r (expected '%s')" % (cmd, r, text))
    check(c.call("DKV.SET", plain, "now mine") == "OK", "DKV.SET over a "
          "string")
    check(c.call("DKV.GET", plain) == b"now mine", "after DKV.SET")
    check(c.call("DKV.DEL", plain) == 1, "DKV.DEL")
    check(c.call("DKV.DEL", plain) == 0, "DKV.DEL again")
    big = b"x" * (1024 * 1024)
    r = c.call_noraise("DKV.SET", plain, big)
    check(isinstance(r, RedisError) and "at most" in str(r),
          "a value over the limit: %r" % r)
    log("errors: WRONGTYPE, arity, bad tag, LIMIT, WHERE, field, backend, "
        "size")
    assert_cluster_matches(cl, model, "routing")


def case_failover_kill():
    cl = make_cluster()
    cl.create(3)
    model = load_model(cl, 1000)
    writers = [Writer(cl, i, use_wait=True) for i in range(2)]
    for w in writers:
        w.start()
    time.sleep(1.5)
    victim = cl.masters()[0]
    log("kill -9 master %d" % victim.port)
    victim.kill(signal.SIGKILL)
    wait_failover(cl, victim.port)
    # back as a replica of its successor (a full resync into its daxkv)
    victim.start()
    cl.settle()
    time.sleep(1.0)
    stopped = cl.masters()[1]
    log("SIGSTOP master %d for longer than node-timeout" % stopped.port)
    stopped.kill(signal.SIGSTOP)
    try:
        wait_failover(cl, stopped.port)
    finally:
        stopped.kill(signal.SIGCONT)
    cl.settle()
    time.sleep(1.0)
    for w in writers:
        w.stop()
    cl.refresh()
    assert_writes_survived(cl, writers, "confirmed")
    for w in writers:
        for k, v in w.acked.items():
            if k in w.confirmed:
                model[k] = v
    # acked but not confirmed writes may or may not be there
    recs = {}
    for m in cl.masters():
        recs.update(node_records(m))
    for w in writers:
        for k in w.attempted:
            if k in recs:
                model[k] = recs[k]
    assert_cluster_matches(cl, model, "after kill -9 and SIGSTOP")


def case_manual_failover():
    cl = make_cluster()
    cl.create(3)
    model = load_model(cl, 1000)
    writers = [Writer(cl, i, use_wait=False) for i in range(2)]
    for w in writers:
        w.start()
    time.sleep(1.0)
    for round_ in range(2):
        master = cl.masters()[round_]
        replica = cl.replicas_of(master)[0]
        log("CLUSTER FAILOVER on %d (replica of %d)" % (replica.port,
                                                        master.port))
        check(replica.call("CLUSTER", "FAILOVER") == "OK", "FAILOVER")
        until(lambda: replica.call("ROLE")[0] == b"master", STEP_TIMEOUT_S,
              "%d to become master" % replica.port)
        cl.settle()
        time.sleep(0.5)
    for w in writers:
        w.stop()
    cl.refresh()
    assert_writes_survived(cl, writers, "acked")
    for w in writers:
        model.update(w.acked)
    assert_cluster_matches(cl, model, "after two manual failovers")


def manual_cluster(nodes_masters, nodes_replicas):
    """A cluster of len(masters) masters (2 is fine here, unlike
    --cluster create), slots split evenly, one replica each."""
    all_nodes = nodes_masters + nodes_replicas
    n = len(nodes_masters)
    for i, m in enumerate(nodes_masters):
        lo = i * 16384 // n
        hi = (i + 1) * 16384 // n - 1
        m.call("CLUSTER", "ADDSLOTSRANGE", lo, hi)
        m.call("CLUSTER", "SET-CONFIG-EPOCH", i + 1)
    first = all_nodes[0]
    for other in all_nodes[1:]:
        first.call("CLUSTER", "MEET", "127.0.0.1", other.port)

    def all_known():
        for x in all_nodes:
            nodes = x.call("CLUSTER", "NODES").decode().splitlines()
            if len(nodes) != len(all_nodes) or "handshake" in "".join(nodes):
                return False
        return True
    until(all_known, STEP_TIMEOUT_S, "the nodes to meet", interval=0.1)
    for m, r in zip(nodes_masters, nodes_replicas):
        mid = m.node_id()
        until(lambda: r.call("CLUSTER", "REPLICATE", mid) == "OK",
              STEP_TIMEOUT_S, "%d to replicate %d" % (r.port, m.port),
              interval=0.2)


def redis_cli_cluster(*args, timeout=120):
    r = subprocess.run(["redis-cli", "--cluster"] + list(args),
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                       timeout=timeout)
    out = r.stdout.decode(errors="replace")
    check(r.returncode == 0, "redis-cli --cluster %s failed: %s" %
          (args[0], out[-1500:]))
    return out


def wait_agree(port):
    """redis-cli --cluster check passes: the nodes agree on the
    configuration (they gossip it for a moment after each change)."""
    def agree():
        r = subprocess.run(["redis-cli", "--cluster", "check",
                            "127.0.0.1:%d" % port], stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT, timeout=30)
        return r.returncode == 0 and b"[ERR]" not in r.stdout
    until(agree, STEP_TIMEOUT_S, "the nodes to agree", interval=0.3)


def case_reshard():
    ports = pick_ports(6)
    cl = Cluster(ports)
    cl.start_all()
    m1, m2, r1, r2, m3, r3 = (cl.node(p) for p in ports)
    for n in (m3, r3):
        cl.nodes.pop(n.port)   # not members yet
    manual_cluster([m1, m2], [r1, r2])
    cl.settle()
    model = load_model(cl, 3000)
    writers = [Writer(cl, i, use_wait=False) for i in range(2)]
    for w in writers:
        w.start()
    log("reshard 3000 slots from %d to %d under load" % (m1.port, m2.port))
    redis_cli_cluster("reshard", "127.0.0.1:%d" % m1.port, "--cluster-from",
                      m1.node_id(), "--cluster-to", m2.node_id(),
                      "--cluster-slots", "3000", "--cluster-yes")
    wait_agree(m1.port)
    log("add-node %d (master) and %d (its replica)" % (m3.port, r3.port))
    # add-node writes (FUNCTION RESTORE) to a master that has no replica
    # yet: min-replicas-to-write waits until its replica is there
    m3.call("CONFIG", "SET", "min-replicas-to-write", "0")
    redis_cli_cluster("add-node", "127.0.0.1:%d" % m3.port,
                      "127.0.0.1:%d" % m1.port)
    cl.nodes[m3.port] = m3
    until(lambda: len(m3.call("CLUSTER", "NODES").decode().splitlines())
          == 5, STEP_TIMEOUT_S, "%d to know the cluster" % m3.port)
    wait_agree(m1.port)
    redis_cli_cluster("add-node", "127.0.0.1:%d" % r3.port,
                      "127.0.0.1:%d" % m1.port, "--cluster-slave",
                      "--cluster-master-id", m3.node_id())
    cl.nodes[r3.port] = r3
    until(lambda: "master_link_status:up" in r3.call(
        "INFO", "replication").decode(), STEP_TIMEOUT_S,
        "%d to replicate %d" % (r3.port, m3.port))
    m3.call("CONFIG", "SET", "min-replicas-to-write", "1")
    # the master counts a replica as good only once its cron has seen an
    # ACK from it (about a second after the link is up, longer on a
    # loaded machine); the rebalance's MIGRATEs to it are refused with
    # NOREPLICAS until then
    until(lambda: "min_slaves_good_slaves:1" in m3.call(
        "INFO", "replication").decode(), STEP_TIMEOUT_S,
        "%d to count %d as a good replica" % (m3.port, r3.port))
    until(lambda: all(len(n.call("CLUSTER", "NODES").decode().splitlines())
                      == 6 for n in cl.live()), STEP_TIMEOUT_S,
          "all nodes to know the new ones")
    wait_agree(m1.port)
    log("rebalance under load (empty master %d takes its share)" % m3.port)
    redis_cli_cluster("rebalance", "127.0.0.1:%d" % m1.port,
                      "--cluster-use-empty-masters")
    for w in writers:
        w.stop()
    cl.settle()
    check(len(cl.masters()) == 3, "3 masters after add-node")
    per = {m.port: sum(1 for s in cl.slots if s == m.port)
           for m in cl.masters()}
    check(min(per.values()) > 4000, "slots after rebalance: %r" % per)
    moved = sum(int(dkv_info(m.conn_once())["restores_written"])
                for m in cl.masters())
    check(moved > 1000, "only %d keys arrived through MIGRATE" % moved)
    log("%d keys moved through MIGRATE/RESTORE into daxkv" % moved)
    assert_writes_survived(cl, writers, "acked")
    for w in writers:
        model.update(w.acked)
    recs = {}
    for m in cl.masters():
        recs.update(node_records(m))
    for w in writers:
        for k in w.attempted:
            if k not in w.acked and k in recs:
                model[k] = recs[k]
    for m in cl.masters():
        for k in node_keys(m):
            check(cl.slots[key_slot(k)] == m.port, "key %r on %d, its slot "
                  "on %d" % (k, m.port, cl.slots[key_slot(k)]))
    assert_cluster_matches(cl, model, "after reshard, add-node, rebalance")


def restart_node(cl, node, how):
    if how == "kill":
        node.kill(signal.SIGKILL)
    else:
        node.shutdown()
    node.start()


def case_restart():
    cl = make_cluster()
    cl.create(3)
    model = load_model(cl, 2000)
    # keys with a TTL far away keep it across restarts
    ttl_keys = [b"{t1}:ttl:%d" % i for i in range(5)]
    for k in ttl_keys:
        cl.call(k, "DKV.SET", k, b"ttl")
        cl.call(k, "PEXPIRE", k, 600000)
        model[k] = b"ttl"

    def ttls_ok(what):
        for k in ttl_keys:
            t = cl.call(k, "PTTL", k)
            check(0 < t <= 600000, "%s: PTTL of %r is %d" % (what, k, t))
    m = cl.masters()[0]
    r = cl.replicas_of(m)[0]
    log("restart replica %d" % r.port)
    restart_node(cl, r, "shutdown")
    cl.settle()
    assert_cluster_matches(cl, model, "after a replica restart")
    m = cl.masters()[1]
    log("restart master %d" % m.port)
    restart_node(cl, m, "shutdown")
    cl.settle()
    ttls_ok("after a master restart")
    assert_cluster_matches(cl, model, "after a master restart")
    for how in ("shutdown", "kill"):
        log("whole cluster: %s, then start" % how)
        for n in list(cl.live()):
            if how == "kill":
                n.kill(signal.SIGKILL)
            else:
                n.shutdown()
        cl.close()
        cl.start_all()
        cl.settle()
        ttls_ok("after a whole-cluster restart (%s)" % how)
        assert_cluster_matches(cl, model, "after a whole-cluster "
                               "restart (%s)" % how)
        rec = set(dkv_info(n.conn_once())["recovery"] for n in cl.live())
        log("recovery of the nodes: %s" % ", ".join(sorted(rec)))
        if how == "kill":
            check("scan" in rec, "kill -9: some node must have scanned")


class Mutator(threading.Thread):
    """Sets, overwrites, deletes and expires keys of one tag range until
    stopped; for the resync case, where master and replica are compared
    rather than a model."""

    def __init__(self, cl, seed):
        super().__init__(daemon=True)
        self.cl = Cluster.__new__(Cluster)
        self.cl.nodes, self.cl.slots = cl.nodes, list(cl.slots)
        self.cl.conns, self.cl.lock = {}, threading.Lock()
        self.rnd = random.Random(seed)
        self.stop_ev = threading.Event()
        self.ops = 0
        self.exc = None

    def run(self):
        try:
            for _ in range(100000):
                if self.stop_ev.is_set():
                    break
                k = b"m:{t%d}:%d" % (self.rnd.randrange(20),
                                     self.rnd.randrange(400))
                op = self.rnd.random()
                try:
                    if op < 0.6:
                        self.cl.call(k, "DKV.SET", k, value_of(self.ops),
                                     tries=8)
                    elif op < 0.8:
                        self.cl.call(k, "DKV.DEL", k, tries=8)
                    elif op < 0.9:
                        self.cl.call(k, "PEXPIRE", k, 3600000, tries=8)
                    else:
                        k2 = k + b":copy"
                        self.cl.call(k, "COPY", k, k2, "REPLACE", tries=8)
                except RedisError:
                    pass
                self.ops += 1
                time.sleep(0.0005)
        except Exception as exc:
            self.exc = exc
        finally:
            self.cl.close()

    def stop(self):
        self.stop_ev.set()
        self.join(timeout=60)
        check(not self.is_alive(), "mutator did not stop")
        if self.exc:
            raise self.exc


def case_resync():
    cl = make_cluster()
    cl.create(3)
    load_model(cl, 2000)
    muts = [Mutator(cl, i) for i in range(2)]
    for mt in muts:
        mt.start()
    time.sleep(1.0)
    for round_, m in enumerate(cl.masters()[:2]):
        r = cl.replicas_of(m)[0]
        before = int(dkv_info(m.conn_once())["fork_snapshots"])
        log("full resync of %d from %d during writes (kill -9 + start)" %
            (r.port, m.port))
        r.kill(signal.SIGKILL)
        r.start()
        until(lambda: "master_link_status:up" in r.call(
            "INFO", "replication").decode(), STEP_TIMEOUT_S,
            "%d to sync" % r.port)
        info = dkv_info(r.conn_once())
        check(int(info["repl_loads"]) >= 1 and int(info["flushes"]) >= 1,
              "replica %d: a full resync flushes then loads: %r" %
              (r.port, info))
        check(int(dkv_info(m.conn_once())["fork_snapshots"]) > before,
              "master %d: the fork child read a pinned snapshot" % m.port)
        time.sleep(1.0)
    for mt in muts:
        mt.stop()
    log("%d operations during the resyncs" % sum(mt.ops for mt in muts))
    cl.settle()
    wait_replicas_caught_up(cl)
    for m in cl.masters():
        for r in cl.replicas_of(m):
            check(r.call("DKV.DIGEST") == m.call("DKV.DIGEST"),
                  "replica %d's records differ from master %d's" %
                  (r.port, m.port))
            check(r.call("DEBUG", "DIGEST") == m.call("DEBUG", "DIGEST"),
                  "replica %d's keyspace differs from master %d's" %
                  (r.port, m.port))
    for n in cl.live():
        assert_node_consistent(n)
    log("master and replica digests equal after full resyncs under writes")


def case_keyspace():
    cl = make_cluster()
    cl.create(3)
    m = cl.masters()[0]
    rep = cl.replicas_of(m)[0]
    # a tag whose slot m serves
    tag = next(b"k%d" % i for i in range(10000)
               if cl.slots[key_slot(b"k%d" % i)] == m.port)

    def K(s):
        return b"{" + tag + b"}" + s
    c = m.conn_once()
    sub = m.conn()
    atexit.register(sub.close)
    c.call("CONFIG", "SET", "notify-keyspace-events", "Egdx$")
    sub.call("PSUBSCRIBE", "__keyevent@0__:*")

    def events(n):
        out = []
        for _ in range(n):
            msg = sub.read()
            out.append((msg[2].decode().split(":", 1)[1], msg[3]))
        return out
    # notifications
    c.call("DKV.SET", K(b"a"), "1")
    c.call("DKV.MSET", K(b"b"), "2", K(b"c"), "3")
    c.call("DKV.DEL", K(b"c"))
    c.call("RENAME", K(b"b"), K(b"b2"))
    got = events(6)
    exp = [("dkv.set", K(b"a")), ("dkv.set", K(b"b")), ("dkv.set", K(b"c")),
           ("del", K(b"c")), ("rename_from", K(b"b")),
           ("rename_to", K(b"b2"))]
    check(got == exp, "notifications %r, expected %r" % (got, exp))
    log("keyspace notifications: dkv.set, del, rename_from/to")
    # RENAME moves the record; onto a DKV key, a string, from a string
    check(c.call("DKV.GET", K(b"b2")) == b"2" and
          c.call("DKV.GET", K(b"b")) is None, "RENAME")
    c.call("DKV.SET", K(b"x"), "xx")
    c.call("RENAME", K(b"b2"), K(b"x"))
    check(c.call("DKV.GET", K(b"x")) == b"2", "RENAME onto a DKV key")
    c.call("SET", K(b"s"), "str")
    c.call("RENAME", K(b"x"), K(b"s"))
    check(c.call("DKV.GET", K(b"s")) == b"2", "RENAME onto a string")
    c.call("SET", K(b"s2"), "str2")
    c.call("RENAME", K(b"s2"), K(b"s"))
    check(c.call("GET", K(b"s")) == b"str2", "RENAME a string over a DKV "
          "key")
    check(c.call("RENAMENX", K(b"a"), K(b"a2")) == 1 and
          c.call("DKV.GET", K(b"a2")) == b"1", "RENAMENX")
    # COPY, DUMP/RESTORE, overwrite by SET
    check(c.call("COPY", K(b"a2"), K(b"cp")) == 1 and
          c.call("DKV.GET", K(b"cp")) == b"1", "COPY")
    c.call("DKV.SET", K(b"cp2"), "old")
    check(c.call("COPY", K(b"a2"), K(b"cp2"), "REPLACE") == 1 and
          c.call("DKV.GET", K(b"cp2")) == b"1", "COPY REPLACE")
    payload = c.call("DUMP", K(b"a2"))
    c.call("RESTORE", K(b"rs"), 0, payload)
    check(c.call("DKV.GET", K(b"rs")) == b"1", "RESTORE")
    c.call("DKV.SET", K(b"rs"), "other")
    c.call("RESTORE", K(b"rs"), 0, payload, "REPLACE")
    check(c.call("DKV.GET", K(b"rs")) == b"1", "RESTORE REPLACE")
    c.call("RESTORE", K(b"rs2"), 1, payload, "ABSTTL")
    check(c.call("EXISTS", K(b"rs2")) == 0, "RESTORE of an expired TTL")
    c.call("SET", K(b"cp"), "plain now")
    check(c.call("GET", K(b"cp")) == b"plain now", "SET over a DKV key")
    log("RENAME, RENAMENX, COPY, RESTORE, SET over a DKV key")
    assert_node_consistent(m)
    # expiry: active, lazy, and across a restart
    c.call("DKV.SET", K(b"e1"), "v")
    c.call("PEXPIRE", K(b"e1"), 200)
    c.call("DKV.SET", K(b"e2"), "v")
    c.call("PEXPIRE", K(b"e2"), 600000)
    c.call("DKV.SET", K(b"e3"), "v")
    c.call("PEXPIRE", K(b"e3"), 600000)
    c.call("PERSIST", K(b"e3"))
    until(lambda: c.call("EXISTS", K(b"e1")) == 0, 10, "e1 to expire")
    check(c.call("DKV.GET", K(b"e1")) is None, "expired key")
    recs = dict(node_records(m))
    check(K(b"e1") not in recs, "the expired key's record is deleted")
    check(c.call("DKV.SCAN", tag, "e", "f") == [K(b"e2"), b"v", K(b"e3"),
                                                 b"v"], "scan after expiry")
    # lazy expiry: with active expiry off, the key outlives its TTL in
    # the keyspace and in daxkv; reads must not return it
    c.call("DEBUG", "SET-ACTIVE-EXPIRE", 0)
    c.call("DKV.SET", K(b"e5"), "v")
    c.call("PEXPIRE", K(b"e5"), 100)
    time.sleep(0.3)
    check(dkv_check(m)["expired"] == 1 and
          c.call("DKV.SCAN", tag, "e5", "e6") == [] and
          c.call("DKV.QUERY", tag, "COUNT", "FROM", "e5", "TO", "e6") ==
          [0, None], "an expired record is left out of scans and queries")
    check(c.call("DKV.GET", K(b"e5")) is None, "DKV.GET of an expired key")
    check(dkv_check(m)["expired"] == 0, "lazy expiry deletes the record")
    c.call("DEBUG", "SET-ACTIVE-EXPIRE", 1)
    c.call("DKV.SET", K(b"e4"), "v")
    c.call("PEXPIRE", K(b"e4"), 1500)
    # FLUSHALL on another master, and its replica
    m2 = cl.masters()[1]
    k2 = next(b"f%d" % i for i in range(10000)
              if cl.slots[key_slot(b"f%d" % i)] == m2.port)
    m2.call("DKV.SET", k2, "gone soon")
    wait_replicas_caught_up(cl)
    check(m2.call("FLUSHALL") == "OK", "FLUSHALL")
    wait_replicas_caught_up(cl)
    for n in [m2] + cl.replicas_of(m2):
        check(dkv_info(n.conn_once())["records"] == "0",
              "node %d: FLUSHALL leaves records" % n.port)
    log("FLUSHALL empties the daxkv of the master and its replica")
    # restart m: TTLs and values from daxkv
    c.close()
    sub.close()
    m.shutdown()
    time.sleep(1.6)            # e4 expires while the node is down
    m.start()
    cl.settle()
    cl.refresh()
    owner = cl.node(cl.slots[key_slot(K(b"e2"))])
    c = owner.conn_once()
    t = c.call("PTTL", K(b"e2"))
    check(0 < t <= 600000, "PTTL after restart %d" % t)
    check(c.call("PTTL", K(b"e3")) == -1, "PERSIST kept across restart")
    until(lambda: c.call("EXISTS", K(b"e4")) == 0, 10,
          "e4 (expired while down) to be gone")
    check(c.call("DKV.GET", K(b"a2")) == b"1" and
          c.call("DKV.GET", K(b"s")) is None and
          c.call("GET", K(b"s")) is None, "contents after restart")
    r = owner.conn_once().call_noraise("DKV.GET", K(b"cp"))
    check(r is None, "the overwritten key stays gone: %r" % r)
    for n in cl.live():
        assert_node_consistent(n)
    wait_replicas_caught_up(cl)
    for mm in cl.masters():
        for rr in cl.replicas_of(mm):
            check(rr.call("DKV.DIGEST") == mm.call("DKV.DIGEST"),
                  "replica %d differs" % rr.port)
    log("expiry (active, lazy, while down), PERSIST, restart")


def case_cluster_sh():
    ports = pick_ports(6)
    d = os.path.join(WORK, "sh")
    env = dict(os.environ, DAXKV_CLUSTER_DIR=d,
               DAXKV_CLUSTER_PORT=str(ports[0]),
               DAXKV_REDIS_MODULE=ARGS.module,
               DAXKV_MODULE_ARGS="segment-size 4M")

    def sh(*args, rc=0):
        r = subprocess.run([ARGS.cluster_sh] + list(args), env=env,
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                           timeout=120)
        out = r.stdout.decode(errors="replace")
        check(r.returncode == rc, "cluster.sh %s: exit %d: %s" %
              (" ".join(args), r.returncode, out[-1500:]))
        return out

    def kill_leftovers():
        for p in ports:
            pid = os.path.join(d, "node-%d" % p, "redis.pid")
            try:
                os.kill(int(open(pid).read()), signal.SIGKILL)
            except (OSError, ValueError):
                pass
    atexit.register(kill_leftovers)
    sh("start", "2", rc=1)
    out = sh("start", "3")
    check("6 nodes up" in out, out)
    sh("start", "3", rc=1)      # running already
    out = sh("status")
    check(out.count(" up ") == 6 and "cluster_state:ok" in out, out)
    r = subprocess.run(["redis-cli", "-c", "-p", str(ports[0]), "DKV.SET",
                        "{user1}:name", "Ada"], stdout=subprocess.PIPE,
                       timeout=30)
    check(r.stdout.strip() == b"OK", "DKV.SET through redis-cli -c")
    sh("stop")
    out = sh("status")
    check(out.count(" down") == 6, out)
    out = sh("start")
    check("resuming" in out, out)
    r = subprocess.run(["redis-cli", "-c", "-p", str(ports[0]), "DKV.GET",
                        "{user1}:name"], stdout=subprocess.PIPE, timeout=30)
    check(r.stdout.strip() == b"Ada", "the value after stop and start: %r" %
          r.stdout)
    sh("destroy")
    check(not os.path.exists(d), "destroy left the directory")
    log("cluster.sh start, status, stop, resume, destroy")


CASES = {
    "routing": case_routing,
    "failover_kill": case_failover_kill,
    "manual_failover": case_manual_failover,
    "reshard": case_reshard,
    "restart": case_restart,
    "resync": case_resync,
    "keyspace": case_keyspace,
    "cluster_sh": case_cluster_sh,
}


def main():
    global ARGS, WORK
    ap = argparse.ArgumentParser()
    ap.add_argument("--module", required=True)
    ap.add_argument("--kvctl", required=True)
    ap.add_argument("--cluster-sh")
    ap.add_argument("case", choices=sorted(CASES))
    ARGS = ap.parse_args()
    ARGS.module = os.path.abspath(ARGS.module)
    for tool in ("redis-server", "redis-cli"):
        if not shutil.which(tool):
            print("cluster_test: %s not found (scripts/install-deps.sh "
                  "test installs redis-server and redis-tools)" % tool)
            return 1
    WORK = tempfile.mkdtemp(prefix="daxkv-redis-test.", dir="/dev/shm")
    atexit.register(cleanup)
    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGALRM, on_signal)
    signal.alarm(CASE_DEADLINE_S + 60)      # the last resort
    try:
        CASES[ARGS.case]()
    except TestFailure as exc:
        print("FAIL %s: %s" % (ARGS.case, exc), flush=True)
        for p in sorted(os.listdir(WORK)):
            lf = os.path.join(WORK, p, "redis.log")
            if os.path.exists(lf):
                with open(lf, errors="replace") as f:
                    lines = [l for l in f.read().splitlines()
                             if "daxkv" in l or "#" in l][-5:]
                if lines:
                    print("  %s:\n    %s" % (p, "\n    ".join(lines)))
        return 1
    except Exception:
        traceback.print_exc()
        return 1
    print("PASS %s (%.1f s)" % (ARGS.case, time.monotonic() - CASE_START))
    return 0


if __name__ == "__main__":
    sys.exit(main())
