#!/usr/bin/env python3
"""The hostdev benchmark driver. Run it through scripts/bench.sh, which builds
the plugin, checks the tools and removes every namespace on exit.

Shape of a run
--------------
The *coordinator* (this file, no arguments but --prefix/--work/...) lives in
the root network namespace and only ever runs `ip netns add/del` and
`ip netns exec`: it never touches a root-namespace interface, route or address.

Every variant gets its own *world*: a fresh "host" namespace holding veth
interface(s) h1 (peer h1p), one or more "container" namespaces, and for the
upstream shape a temporary namespace. In each world one *worker* (this file,
`--worker`) is started ONCE with `ip netns exec <host-ns>`, so the worker and
every process it times are plain children in the host namespace: the
`ip netns exec` overhead (fork, mount namespace, /sys remount) is paid once
per world, outside every measurement.

The coordinator then asks the workers for one repetition each, in turn,
rotating the starting world every repetition (round-robin), so that machine
noise hits all variants alike. Only one worker runs at a time.

Timing: a worker starts each child with posix_spawn (vfork-like, cheap and
the same for every variant) with stdin/stdout/stderr already opened, and
times spawn -> wait4 with perf_counter_ns; wait4 also gives each child's
user+system CPU with microsecond resolution. Checking and resetting the world
happens between the timed sections.

Commands that must run inside the container (or temporary) namespace are run
as `ip -n <ns> -batch -`: iproute2 enters the namespace in-process (setns, plus
its own private /sys remount). Measured here that costs about 0.25 ms over a
plain `ip -batch -`, against about 1 ms for `nsenter --net=... ip -batch -`
(an extra exec), so `ip -n` is used for every ip-based variant, consistently.

Two worlds are shaped differently. The existing-attachments worlds are
filled, before any timing, with real attachments made by the plugin (their
namespaces are private to that worker: see World.attach_existing); their
system calls are counted once, after the repetitions, with `strace -f -c`
on one extra ADD and one DEL. The kernel-limit world starts one resident
process at setup (examples/kernel_limit.rs) and times a request line to it
until its answer line; the two process starts it does not pay are timed in
the same repetition with a static no-op (examples/noop.rs).

The declared-settings worlds (1. again with MTU+MAC declared, and with
features and sysctls too) run back to back with 1. in every repetition, as
one unit of the round-robin whose inner order rotates too, so that their
wall-time ratio is taken per repetition between adjacent runs. Their cost is
also counted exactly, once each after the repetitions: system calls
(`strace -f -c`) and the netlink messages every send carries (`strace -v`
decodes them), which show that a declared MTU and MAC ride in the move.
The kernel-limit process runs in the same unit twice, in two worlds: plain,
and with the same settings declared (its options: the feature sets each
way, the sysctl writes in the pod, MTU and MAC in the moves), so the
settings' added cost to hostdev's cycle (9.'s all - 1.) is printed against
their added cost to the limit's, per repetition; the limit's system calls
are counted exactly too, by a second copy under `strace -f -c` (one cycle
against none).

Protocol coordinator <-> worker: one JSON object per line on the worker's
stdin/stdout ({"op": "rep"|"warm"|"rusage"|"syscalls"|"nltrace"|"limitcalls"|"quit"}); the worker answers each
with one JSON line, {"ok": true, ...} or {"ok": false, "error": "..."}.
"""

import argparse
import ipaddress
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import time
import traceback

IP = shutil.which("ip") or "/usr/sbin/ip"
STRACE = shutil.which("strace") or "/usr/bin/strace"
PATH_ENV = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


# --------------------------------------------------------------------------
# Addresses
# --------------------------------------------------------------------------

def addresses(n, k=0):
    """The n addresses of interface number k, as ipaddress interfaces.

    n == 4 is the everyday case: two IPv4 /24 and two IPv6 /64 (nodad).
    Larger n (the scale test) is half IPv4 /32, half IPv6 /128 (nodad)."""
    if n == 4:
        return [ipaddress.ip_interface(a) for a in (
            f"10.99.{2 * k}.2/24", f"10.99.{2 * k + 1}.2/24",
            f"fd00:99:{2 * k:x}::2/64", f"fd00:99:{2 * k + 1:x}::2/64")]
    out = []
    for i in range(n // 2):
        out.append(ipaddress.ip_interface(f"10.{100 + k}.{i >> 8}.{i & 255}/32"))
    for i in range(n - n // 2):
        out.append(ipaddress.ip_interface(f"fd00:b:{k:x}::{i + 1:x}/128"))
    return out


def addr_batch(addrs, dev):
    """ip -batch lines adding addrs to dev (IPv6 without DAD)."""
    return "".join(f"address add {a} dev {dev}{' nodad' if a.version == 6 else ''}\n"
                   for a in addrs)


# --------------------------------------------------------------------------
# Timed children
# --------------------------------------------------------------------------

class Call:
    """One child process: argv, env, stdin file; stdout/stderr to files.
    The files are opened before the clock starts."""

    def __init__(self, argv, env, stdin_path, out_path):
        self.argv, self.env, self.out_path = argv, env, out_path
        self.fds = [os.open(stdin_path, os.O_RDONLY),
                    os.open(out_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600),
                    os.open(out_path + ".err", os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)]
        self.pid = None
        self.rc = None
        self.cpu_ns = 0

    def start(self):
        actions = [(os.POSIX_SPAWN_DUP2, fd, i) for i, fd in enumerate(self.fds)]
        self.pid = os.posix_spawn(self.argv[0], self.argv, self.env, file_actions=actions)

    def reaped(self, status, ru):
        self.rc = os.waitstatus_to_exitcode(status)
        self.cpu_ns = int((ru.ru_utime + ru.ru_stime) * 1e9)
        for fd in self.fds:
            os.close(fd)

    def wait(self):
        _, status, ru = os.wait4(self.pid, 0)
        self.reaped(status, ru)

    def output(self):
        with open(self.out_path) as f:
            return f.read()

    def describe(self):
        with open(self.out_path + ".err") as f:
            err = f.read()[-2000:]
        return (f"{' '.join(self.argv)} exited {self.rc}\n"
                f"stdout: {self.output()[-2000:]}\nstderr: {err}")


def run_seq(calls):
    """Run calls one after another; returns (wall ns, cpu ns). Raises on failure."""
    t0 = time.perf_counter_ns()
    for c in calls:
        c.start()
        c.wait()
        if c.rc != 0:
            raise RuntimeError(c.describe())
    t1 = time.perf_counter_ns()
    return t1 - t0, sum(c.cpu_ns for c in calls)


def run_parallel(calls):
    """Start all calls at once, wait for all; returns (wall ns, cpu ns)."""
    t0 = time.perf_counter_ns()
    for c in calls:
        c.start()
    by_pid = {c.pid: c for c in calls}
    while by_pid:
        pid, status, ru = os.wait4(-1, 0)
        if pid in by_pid:
            by_pid.pop(pid).reaped(status, ru)
    t1 = time.perf_counter_ns()
    bad = [c for c in calls if c.rc != 0]
    if bad:
        raise RuntimeError(f"{len(bad)} of {len(calls)} failed; first: {bad[0].describe()}")
    return t1 - t0, sum(c.cpu_ns for c in calls)


def sh(*argv, stdin=None):
    """An untimed helper command; raises with its stderr on failure."""
    p = subprocess.run(argv, input=stdin, capture_output=True, text=True)
    if p.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)}: exit {p.returncode}: {p.stderr.strip()}")
    return p.stdout


# --------------------------------------------------------------------------
# The node agent (hostdev reconcile): its own world, after the variants
# --------------------------------------------------------------------------

def proc_status(pid):
    """VmRSS, VmHWM (kB) and voluntary + involuntary context switches of pid."""
    out = {}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            key, _, value = line.partition(":")
            out[key] = int(value.split()[0]) if value.split() and value.split()[0].isdigit() else value
    return out["VmRSS"], out["VmHWM"], out["voluntary_ctxt_switches"] + out["nonvoluntary_ctxt_switches"]


def agent_bench(args, log):
    """Starts the agent in a fresh host namespace of its own and measures:
    its restore latency after a namespace death (a veth attached by the
    plugin, handed back to the host by hand as the kernel hands back a NIC,
    then the container namespace deleted: from the `ip netns del` to the
    record's removal, polled every 0.2 ms), its wake-ups per minute when
    idle (context switches of the process over an idle window, with the
    sweep far away) and its RSS. Untimed setup; values, not targets."""
    host = f"{args.prefix}-agent"
    data = os.path.join(args.work, "agent-data")
    agent_log = os.path.join(args.work, "agent.log")
    sh(IP, "netns", "add", host)
    agent = None
    try:
        with open(agent_log, "w") as err:
            agent = subprocess.Popen([IP, "netns", "exec", host, args.bin, "reconcile", "--data-dir", data,
                                      "--sweep-interval", "86400"], stdin=subprocess.DEVNULL,
                                     stdout=subprocess.DEVNULL, stderr=err)
        wait_for(lambda: "the node agent is watching" in open(agent_log).read(), "the agent to start")
        latencies = [agent_restore(args, host, data, i) for i in range(args.reps)]
        idle = 5 if args.smoke else 30
        _, _, before = proc_status(agent.pid)
        time.sleep(idle)
        rss, hwm, after = proc_status(agent.pid)
        return {"latency_ms": latencies, "wakeups_per_min": (after - before) * 60 / idle,
                "idle_s": idle, "rss_kb": rss, "hwm_kb": hwm}
    finally:
        if agent:
            agent.kill()
            agent.wait()
        subprocess.run([IP, "netns", "del", host], capture_output=True)
        log(f"agent log: {agent_log}")


def wait_for(cond, what, secs=60):
    end = time.monotonic() + secs
    while not cond():
        if time.monotonic() > end:
            raise RuntimeError(f"waited {secs} s for {what}")
        time.sleep(0.0002)


def agent_restore(args, host, data, i):
    """One namespace death healed by the agent; its latency in ms."""
    ctr = f"{args.prefix}-agent-c{i}"
    sh(IP, "netns", "add", ctr)
    try:
        batch = [f"link add ag{i} type veth peer name ag{i}p", f"link set ag{i}p up", f"link set ag{i} up"]
        batch += [f"addr add {a} dev ag{i}" + (" nodad" if a.version == 6 else "") for a in addresses(4, i % 50)]
        sh(IP, "-n", host, "-batch", "-", stdin="\n".join(batch) + "\n")
        conf = json.dumps({"cniVersion": "1.0.0", "name": "agentnet", "type": "hostdev",
                           "device": f"ag{i}", "dataDir": data})
        env = {"PATH": PATH_ENV, "CNI_COMMAND": "ADD", "CNI_CONTAINERID": f"agent{i}",
               "CNI_NETNS": f"/run/netns/{ctr}", "CNI_IFNAME": "eth0", "CNI_PATH": "/usr/lib/cni"}
        p = subprocess.run([IP, "netns", "exec", host, args.bin], input=conf, env=env,
                           capture_output=True, text=True)
        if p.returncode != 0:
            raise RuntimeError(f"ADD for the agent: {p.stdout} {p.stderr}")
        sh(IP, "-n", ctr, "link", "set", "eth0", "netns", host)
        record = os.path.join(data, f"agentnet+agent{i}+eth0.json")
        t0 = time.perf_counter()
        sh(IP, "netns", "del", ctr)
        wait_for(lambda: not os.path.exists(record), "the agent to heal")
        ms = (time.perf_counter() - t0) * 1000
        if f"ag{i}" not in sh(IP, "-n", host, "-br", "link", "show", f"ag{i}"):
            raise RuntimeError(f"ag{i} not home under its own name")
        sh(IP, "-n", host, "link", "del", f"ag{i}")
        return ms
    finally:
        subprocess.run([IP, "netns", "del", ctr], capture_output=True)


# --------------------------------------------------------------------------
# Worker: one world, inside its host namespace
# --------------------------------------------------------------------------

class World:
    def __init__(self, cfg):
        self.kind = cfg["kind"]
        self.host = cfg["host"]
        self.ctrs = cfg["ctrs"]
        self.tmp = cfg.get("tmp")
        self.naddr = cfg["naddr"]
        self.dir = cfg["dir"]
        self.bin = cfg["bin"]
        self.debian = cfg["debian"]
        self.existing = cfg.get("existing", 0)
        self.others = cfg.get("others", 0)
        self.declare = DECLARE[cfg.get("declare", "")]
        self.limit_bin = cfg.get("limit")
        self.noop_bin = cfg.get("noop")
        self.resident = None   # the kernel-limit process, for kind "kernel"
        self.kept = set()      # records of the existing attachments
        self.data = os.path.join(self.dir, "data")
        self.devs = ["h1"] if len(self.ctrs) == 1 else [f"h{k + 1}" for k in range(len(self.ctrs))]
        self.addrs = [addresses(self.naddr, k) for k in range(len(self.devs))]
        os.makedirs(self.data, exist_ok=True)
        self.reread = []       # verification dumps that came back short
        self._write_files()

    def path(self, name):
        return os.path.join(self.dir, name)

    def _file(self, name, text):
        p = self.path(name)
        with open(p, "w") as f:
            f.write(text)
        return p

    def _write_files(self):
        for k, dev in enumerate(self.devs):
            self._file(f"hostdev-{k}.json", json.dumps({
                "cniVersion": "1.0.0", "name": "bench", "type": "hostdev",
                "device": dev, "dataDir": self.data, **self.declare}))
            self._file(f"host-device-{k}.json", json.dumps({
                "cniVersion": "0.4.0", "name": "b", "type": "host-device", "device": dev}))
            self._file(f"restore-{k}.batch", addr_batch(self.addrs[k], dev) + f"link set {dev} up\n")
        a, ctr, host, tmp = self.addrs[0], self.ctrs[0], self.host, self.tmp
        # The kernel floor: one ip process per namespace and direction.
        self._file("floor-add-host.batch", f"link set h1 netns {ctr} name eth0\n")
        self._file("floor-add-ctr.batch", addr_batch(a, "eth0") + "link set eth0 up\n")
        self._file("floor-del-ctr.batch", f"link set eth0 netns {host} name h1\n")
        self._file("floor-del-host.batch", addr_batch(a, "h1") + "link set h1 up\n")
        if tmp:
            # Upstream HEAD's shape: via a temporary namespace, two moves each
            # way; the address work in ctr and host is the floor's, so that
            # only the extra hop differs. The temporary namespace is made once,
            # outside the clock (upstream makes one per call): a lower bound.
            self._file("up-add-host.batch", f"link set h1 netns {tmp}\n")
            self._file("up-add-tmp.batch", f"link set h1 name eth0\nlink set eth0 netns {ctr}\n")
            self._file("up-del-ctr.batch", f"link set eth0 netns {tmp}\n")
            self._file("up-del-tmp.batch", f"link set eth0 name h1\nlink set h1 netns {host}\n")
        self._file("empty", "")

    # -- world state ------------------------------------------------------

    def setup(self):
        lines = ""
        for k, dev in enumerate(self.devs):
            lines += f"link add {dev} type veth peer name {dev}p\nlink set {dev}p up\n"
            lines += addr_batch(self.addrs[k], dev) + f"link set {dev} up\n"
        # A node's other links (a veth or two per pod), which ADD's stack
        # check sees in its dump of the host's links.
        lines += "".join(f"link add o{k} type veth peer name o{k}p\n" for k in range(self.others))
        sh(IP, "-batch", "-", stdin=lines)
        self.complete_setup()
        if self.existing:
            self.attach_existing()
        self.check_home()
        if self.kind == "kernel":
            self.start_resident()

    def complete_setup(self):
        """Adds again what the set-up's batch lost. Addresses added to a
        link that is down and then brought up in the same batch are
        sometimes dropped by the kernel under load (seen: 5 of 4,096 with
        the suite running beside), which is the set-up's loss, not a
        measured tool's (tests/scale_addrs.rs does the same)."""
        for _ in range(5):
            lost = ""
            for k, dev in enumerate(self.devs):
                st = self.link_state(None, dev)
                have = st[1] if st else set()
                lost += addr_batch([a for a in self.addrs[k] if a not in have], dev)
            if not lost:
                return
            # A short dump may list as lost what is there: "File exists"
            # for those is expected, so the exit status is not asked.
            subprocess.run([IP, "-force", "-batch", "-"], input=lost, capture_output=True, text=True)

    def attach_existing(self):
        """Fills dataDir with `existing` real attachments, made by the plugin
        before any timing: veth eK moved as eth0 into a namespace of its own.
        The peers eKp live in one more namespace, out of the host's link
        table, as an attached VF leaves nothing behind on the host.

        The namespaces are nsfs bind mounts under this world's directory,
        made in this worker's own mount namespace (`ip netns exec` gave it
        one, a slave of the root's). So they are invisible to every other
        world (no extra mounts for their `ip -n` to copy), and they go away
        with this worker however it ends: the kernel then destroys them and
        the veths in them, and the host namespace takes the rest."""
        nsdir = self.path("ns")
        os.makedirs(nsdir)
        names = [os.path.join(nsdir, n) for n in ["peers"] + [f"c{k}" for k in range(self.existing)]]
        for ns in names:
            open(ns, "w").close()
            sh("unshare", f"--net={ns}", "true")
        peers = names[0]
        sh(IP, "-batch", "-", stdin="".join(
            f"link add e{k} type veth peer name e{k}p netns {peers}\n" for k in range(self.existing)))
        # A veth whose peer is in another namespace proves nothing on DEL,
        # so its ADD needs "unprovable"; these are never DEL'd.
        for k, ns in enumerate(names[1:]):
            # A veth whose peer is in another namespace proves nothing on
            # the host: the config must say what DEL does with it.
            conf = json.dumps({"cniVersion": "1.0.0", "name": "bench", "type": "hostdev",
                               "device": f"e{k}", "dataDir": self.data, "unprovable": "leaveInContainer"})
            env = {"CNI_COMMAND": "ADD", "CNI_CONTAINERID": f"existing-{k}", "CNI_NETNS": ns,
                   "CNI_IFNAME": "eth0", "CNI_PATH": "/usr/lib/cni", "PATH": PATH_ENV}
            p = subprocess.run([self.bin], input=conf, env=env, capture_output=True, text=True)
            if p.returncode != 0:
                raise RuntimeError(f"ADD of existing attachment {k} exited {p.returncode}: "
                                   f"{p.stdout[-500:]} {p.stderr[-500:]}")
        self.kept = set(os.listdir(self.data))
        if len([f for f in self.kept if not f.startswith(".")]) < self.existing:
            raise RuntimeError(f"{self.existing} attachments made, but dataDir holds only {sorted(self.kept)[:5]}...")

    def limit_argv(self):
        """examples/kernel_limit's command line for this world: with the
        declared settings as its options (limit_options)."""
        return ([self.limit_bin] + limit_options(self.declare) + [f"/run/netns/{self.ctrs[0]}", "h1", "eth0"]
                + [str(a) for a in self.addrs[0]])

    def start_resident(self):
        """The kernel-limit process (examples/kernel_limit.rs), started once:
        it opens its sockets and looks h1 up now, then only sends requests."""
        self.resident = subprocess.Popen(self.limit_argv(), stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                         env={"PATH": PATH_ENV}, text=True, bufsize=1)

    def limit_syscalls(self):
        """The system calls of one cycle of the kernel limit, exactly: a
        second kernel_limit process under `strace -f -c`, once answering
        only `quit` and once `add`, `del`, `quit`; the difference is the
        cycle ({syscall: calls, "total": calls}). The resident one is idle
        meanwhile, and the interface is home before and after."""
        self.check_home()
        counts = []
        for lines in ("quit\n", "add\ndel\nquit\n"):
            trace = self.path("limit-strace.txt")
            p = subprocess.run([STRACE, "-f", "-c", "-o", trace] + self.limit_argv(), input=lines,
                               capture_output=True, text=True, env={"PATH": PATH_ENV})
            if p.returncode != 0 or p.stdout.split() != ["ok"] * (len(lines.split()) - 1):
                raise RuntimeError(f"kernel_limit under strace: exit {p.returncode}: {p.stdout} {p.stderr[-500:]}")
            counts.append(strace_counts(trace))
        self.check_home()
        base, cycle = counts
        return {k: n - base.get(k, 0) for k, n in cycle.items() if n != base.get(k, 0)}

    def ask_resident(self, op):
        """(wall ns, CPU ns) of one request to the resident process: from
        writing the line to reading its answer; CPU from its schedstat."""
        cpu0 = self.resident_cpu()
        t0 = time.perf_counter_ns()
        self.resident.stdin.write(op + "\n")
        self.resident.stdin.flush()
        answer = self.resident.stdout.readline()
        t1 = time.perf_counter_ns()
        if answer.strip() != "ok":
            raise RuntimeError(f"kernel_limit {op}: {answer.strip() or 'exited'}")
        return t1 - t0, self.resident_cpu() - cpu0

    def resident_cpu(self):
        with open(f"/proc/{self.resident.pid}/schedstat") as f:
            return int(f.read().split()[0])

    def link_state(self, ns, dev):
        """(up, set of global addresses) of dev in ns (None: here), or None."""
        argv = [IP, "-j"] + (["-n", ns] if ns else []) + ["address", "show", "dev", dev]
        for _ in range(20):
            p = subprocess.run(argv, capture_output=True, text=True)
            # A dump that races with address changes (the kernel adding the
            # link-local address after "up") is flagged NLM_F_DUMP_INTR and may
            # be incomplete; iproute2 then warns on stderr: ask again.
            if "interrupted" not in p.stderr:
                break
            time.sleep(0.01)
        else:
            raise RuntimeError(f"{' '.join(argv)}: every dump was interrupted")
        if p.returncode != 0:
            return None
        d = json.loads(p.stdout)[0]
        addrs = {ipaddress.ip_interface(f"{a['local']}/{a['prefixlen']}")
                 for a in d.get("addr_info", []) if a.get("scope") != "link"}
        return "UP" in d["flags"], addrs

    def check(self, ns, dev, k, where, want_addrs=True):
        want = set(self.addrs[k])
        seen = []
        # An address dump taken right after a move or "up" has been seen to
        # come back short here (no NLM_F_DUMP_INTR warning from ip, a block
        # of IPv6 addresses missing) while a second dump shows them all. So a
        # short answer is read again; only a loss that persists is a failure.
        for attempt in range(10):
            st = self.link_state(ns, dev)
            if st is None:
                raise RuntimeError(f"{dev} is missing {where}")
            if not want_addrs:
                return
            up, got = st
            if up and got == want:
                if seen:
                    self.reread.append(f"{dev} {where}: read {seen}, then all {len(want)}")
                return
            seen.append(len(got))
            time.sleep(0.02 * (attempt + 1))
        raise RuntimeError(f"{dev} {where}: up={up}, {len(got)} addresses (reads: {seen}), "
                           f"want up and {len(want)}; missing {sorted(map(str, want - got))[:5]}, "
                           f"extra {sorted(map(str, got - want))[:5]}")

    def check_home(self, want_addrs=True):
        for k, dev in enumerate(self.devs):
            self.check(None, dev, k, f"in the host ns {self.host}", want_addrs)
            if self.link_state(self.ctrs[k], "eth0") is not None:
                raise RuntimeError(f"eth0 left behind in {self.ctrs[k]}")
        left = [f for f in set(os.listdir(self.data)) - self.kept if not f.startswith(".")]
        if left:
            raise RuntimeError(f"records left in dataDir after DEL: {left}")

    def check_away(self, want_addrs=True):
        for k, dev in enumerate(self.devs):
            self.check(self.ctrs[k], "eth0", k, f"in the container ns {self.ctrs[k]}", want_addrs)
            if self.link_state(None, dev) is not None:
                raise RuntimeError(f"{dev} still in the host ns after ADD")

    # -- calls --------------------------------------------------------------

    def cni(self, plugin, cmd, k, tag):
        conf = "hostdev" if plugin == self.bin else "host-device"
        env = {"CNI_COMMAND": cmd, "CNI_CONTAINERID": f"bench-{k}",
               "CNI_NETNS": f"/run/netns/{self.ctrs[k]}", "CNI_IFNAME": "eth0",
               "CNI_PATH": "/usr/lib/cni", "PATH": PATH_ENV}
        return Call([plugin], env, self.path(f"{conf}-{k}.json"), self.path(f"{tag}-{k}.out"))

    def ipb(self, ns, batch):
        argv = [IP] + (["-n", ns] if ns else []) + ["-batch", "-"]
        return Call(argv, {"PATH": PATH_ENV}, self.path(batch), self.path(batch + ".out"))

    def check_result(self, call, k=0, with_ips=True):
        res = json.loads(call.output())
        if not any(i.get("name") == "eth0" for i in res.get("interfaces", [])):
            raise RuntimeError(f"ADD result without eth0: {call.output()[:500]}")
        # hostdev reports the addresses it carried over in "ips".
        if with_ips:
            got = {ipaddress.ip_interface(i["address"]) for i in res.get("ips", [])}
            if got != set(self.addrs[k]):
                raise RuntimeError(f"ADD result has {len(got)} of {len(self.addrs[k])} addresses in ips")

    # -- one repetition -------------------------------------------------------

    def rep(self):
        kind = self.kind
        if kind in ("conc", "serial"):
            return self.rep_many(kind == "conc")
        if kind == "kernel":
            return self.rep_resident()
        if kind == "debian":
            # Its DEL brings h1 back down and without addresses: put them back.
            self.check_home(want_addrs=False)
            sh(IP, "address", "flush", "dev", "h1", "scope", "global")
            sh(IP, "-batch", "-", stdin=open(self.path("restore-0.batch")).read())
        self.check_home()
        if kind == "hostdev":
            add = [self.cni(self.bin, "ADD", 0, "add")]
            dele = [self.cni(self.bin, "DEL", 0, "del")]
        elif kind == "debian":
            add = [self.cni(self.debian, "ADD", 0, "add")]
            dele = [self.cni(self.debian, "DEL", 0, "del")]
        elif kind == "floor":
            add = [self.ipb(None, "floor-add-host.batch"), self.ipb(self.ctrs[0], "floor-add-ctr.batch")]
            dele = [self.ipb(self.ctrs[0], "floor-del-ctr.batch"), self.ipb(None, "floor-del-host.batch")]
        elif kind == "upstream":
            add = [self.ipb(None, "up-add-host.batch"), self.ipb(self.tmp, "up-add-tmp.batch"),
                   self.ipb(self.ctrs[0], "floor-add-ctr.batch")]
            dele = [self.ipb(self.ctrs[0], "up-del-ctr.batch"), self.ipb(self.tmp, "up-del-tmp.batch"),
                    self.ipb(None, "floor-del-host.batch")]
        else:
            raise RuntimeError(f"unknown kind {kind}")
        t_add, c_add = run_seq(add)
        if kind in ("hostdev", "debian"):
            self.check_result(add[0], with_ips=kind == "hostdev")
        # Debian's host-device does not carry the addresses: it only moves.
        self.check_away(want_addrs=kind != "debian")
        t_del, c_del = run_seq(dele)
        self.check_home(want_addrs=kind != "debian")
        ans = {"add": t_add, "del": t_del, "cpu_add": c_add, "cpu_del": c_del}
        if kind == "hostdev" and self.naddr == 4 and not self.existing:
            ans["probes"] = self.probes()
        return ans

    def rep_resident(self):
        """Two process starts of a static no-op (what a plugin pays that the
        resident process does not; timed right after the world check, where
        a plugin's ADD starts), then one cycle by the resident process.
        With declared settings, only the cycle: the plain world times the
        starts."""
        self.check_home()
        starts = {}
        if not self.declare:
            noop = [Call([self.noop_bin], {"PATH": PATH_ENV}, self.path("empty"), self.path(f"noop-{i}.out"))
                    for i in range(2)]
            t_st, c_st = run_seq(noop)
            starts = {"start2": t_st, "cpu_start2": c_st}
        t_add, c_add = self.ask_resident("add")
        self.check_away()
        t_del, c_del = self.ask_resident("del")
        self.check_home()
        return {"add": t_add, "del": t_del, "cpu_add": c_add, "cpu_del": c_del, **starts}

    def probes(self):
        """What a child process costs before any kernel work, to split a
        cycle into process overhead and netlink work: {name: [wall, cpu]}."""
        env = {"PATH": PATH_ENV}
        ver = {"CNI_COMMAND": "VERSION", "PATH": PATH_ENV}
        calls = {
            "/bin/true": Call(["/bin/true"], env, self.path("empty"), self.path("p-true.out")),
            "ip -batch - (empty input)": self.ipb(None, "empty"),
            "ip -n <ctr> -batch - (empty input)": self.ipb(self.ctrs[0], "empty"),
            "hostdev VERSION": Call([self.bin], ver, self.path("hostdev-0.json"), self.path("p-v.out")),
            "Debian host-device VERSION": Call([self.debian], ver, self.path("hostdev-0.json"),
                                               self.path("p-dv.out")),
        }
        return {name: list(run_seq([c])) for name, c in calls.items()}

    def rep_many(self, parallel):
        self.check_home()
        n = len(self.devs)
        adds = [self.cni(self.bin, "ADD", k, "add") for k in range(n)]
        dels = [self.cni(self.bin, "DEL", k, "del") for k in range(n)]
        if parallel:
            t_add, c_add = run_parallel(adds)
            self.check_away()
            t_del, c_del = run_parallel(dels)
        else:
            t_add = c_add = t_del = c_del = 0
            for a, d in zip(adds, dels):
                t, c = run_seq([a])
                t_add, c_add = t_add + t, c_add + c
                t, c = run_seq([d])
                t_del, c_del = t_del + t, c_del + c
        for k, c in enumerate(adds):
            self.check_result(c, k)
        self.check_home()
        return {"add": t_add, "del": t_del, "cpu_add": c_add, "cpu_del": c_del}

    def rusage(self):
        """Peak RSS and CPU of one ADD and one DEL, as /usr/bin/time sees them,
        plus /usr/bin/time's own floor (it forks itself, so %M is never below
        what the forked copy of time had mapped)."""
        self.check_home()
        out = {}
        fmt = "%M %U %S %e"
        for cmd in ("ADD", "DEL"):
            c = self.cni(self.bin, cmd, 0, f"time-{cmd}")
            tf = self.path(f"time-{cmd}.txt")
            c.argv = ["/usr/bin/time", "-f", fmt, "-o", tf, self.bin]
            run_seq([c])
            out[cmd] = open(tf).read().split()
        self.check_home()
        tf = self.path("time-true.txt")
        run_seq([Call(["/usr/bin/time", "-f", fmt, "-o", tf, "/bin/true"], {"PATH": PATH_ENV},
                      self.path("empty"), self.path("time-true.out"))])
        out["true"] = open(tf).read().split()
        return out

    def syscalls(self):
        """System calls of one ADD and one DEL, counted by `strace -f -c`:
        {cmd: {syscall: calls, ..., "total": calls}}. Deterministic, unlike
        wall time, so one of each is enough."""
        return self.traced("strace", ["-c"], strace_counts)

    def nltrace(self):
        """The netlink messages one ADD and one DEL send, as strace decodes
        them: {cmd: {"sends": system calls, "messages": {type: count}}}.
        Exact: a setting carried by a message that is sent anyway adds
        neither a send (a round trip) nor a message."""
        return self.traced("nltrace", ["-qq", "-v", "-s", "0", "-e", "trace=sendto,sendmsg",
                                       "-e", "signal=none"], netlink_sends)

    def traced(self, tag, strace_args, parse):
        """One ADD and one DEL under `strace -f <strace_args> -o FILE`:
        {cmd: parse(FILE)}."""
        self.check_home()
        out = {}
        for cmd in ("ADD", "DEL"):
            c = self.cni(self.bin, cmd, 0, f"{tag}-{cmd}")
            trace = self.path(f"{tag}-{cmd}.txt")
            c.argv = [STRACE, "-f", *strace_args, "-o", trace, self.bin]
            run_seq([c])
            out[cmd] = parse(trace)
            if cmd == "ADD":
                self.check_result(c)
                self.check_away()
        self.check_home()
        return out

    def netlink_requests(self):
        """The netlink requests of one ADD and one DEL, from the headers
        strace decodes (`strace -f -e trace=sendto,sendmsg`): {cmd: {type:
        requests}}, a dump counted as "<type> dump". Deterministic."""
        self.check_home()
        out = {}
        for cmd in ("ADD", "DEL"):
            c = self.cni(self.bin, cmd, 0, f"netlink-{cmd}")
            trace = self.path(f"netlink-{cmd}.txt")
            c.argv = [STRACE, "-f", "-e", "trace=sendto,sendmsg", "-o", trace, self.bin]
            run_seq([c])
            out[cmd] = netlink_counts(trace)
            if cmd == "ADD":
                self.check_result(c)
                self.check_away()
        self.check_home()
        return out


def strace_counts(path):
    """{syscall: calls} from an `strace -c` summary, with "total"."""
    counts = {}
    with open(path) as f:
        for line in f:
            fields = line.split()
            # % time, seconds, usecs/call, calls, [errors,] syscall
            if len(fields) >= 5 and fields[3].isdigit():
                counts[fields[-1]] = int(fields[3])
    if "total" not in counts:
        raise RuntimeError(f"no total in the strace summary {path}")
    return counts


SEND = re.compile(r"^\d+\s+(sendto|sendmsg)\(")


def netlink_sends(path):
    """{"sends": n, "messages": {type: n}} over the sends of an strace -v
    log that carry netlink messages (each nlmsg_type= is one message)."""
    sends, messages = 0, {}
    with open(path) as f:
        for line in f:
            if not SEND.match(line):
                continue
            types = re.findall(r"nlmsg_type=([A-Za-z0-9_]+)", line)
            if types:
                sends += 1
            for t in types:
                messages[t] = messages.get(t, 0) + 1
    if not sends:
        raise RuntimeError(f"no netlink send in the strace log {path}")
    return {"sends": sends, "messages": messages}


NLMSG = re.compile(r"nlmsg_type=([^,]+), nlmsg_flags=([^,]+)")
# strace names the types of a socket whose protocol it can see; one opened
# in the container's namespace it shows as a number. hostdev's sockets are
# all rtnetlink: these are the numbers of the requests it sends.
RTM = {0x10: "RTM_NEWLINK", 0x11: "RTM_DELLINK", 0x12: "RTM_GETLINK", 0x13: "RTM_SETLINK",
       0x14: "RTM_NEWADDR", 0x15: "RTM_DELADDR", 0x16: "RTM_GETADDR", 0x18: "RTM_NEWROUTE",
       0x19: "RTM_DELROUTE", 0x1a: "RTM_GETROUTE", 0x58: "RTM_NEWNSID", 0x59: "RTM_DELNSID",
       0x5a: "RTM_GETNSID", 0x68: "RTM_NEWNEXTHOP", 0x69: "RTM_DELNEXTHOP", 0x6a: "RTM_GETNEXTHOP"}
NLM_F_DUMP = 0x300


def nlmsg_key(typ, flags):
    """"RTM_X" or "RTM_X dump" for a request header, None for another."""
    typ, number = typ.strip(), re.match(r"(0x[0-9a-f]+)\b", typ.strip())
    if number:
        typ = RTM.get(int(number.group(1), 16), typ.split()[0])
    # A named type has its flags named; a numbered one may have them as
    # NLM_F_REQUEST|0x300 (strace knows no GET of an unknown family).
    extra = [int(f, 16) for f in re.findall(r"0x[0-9a-f]+", flags)]
    dump = "GET" in typ and ("NLM_F_DUMP" in flags or any(x & NLM_F_DUMP == NLM_F_DUMP for x in extra))
    if "NLM_F_REQUEST" not in flags:
        return None
    return typ + (" dump" if dump else "")


def netlink_counts(path):
    """{type: requests} from an strace of sendto/sendmsg, "<type> dump"
    for a dump; every header of a batch counts. Raises when there is none."""
    counts = {}
    with open(path) as f:
        for line in f:
            for typ, flags in NLMSG.findall(line):
                key = nlmsg_key(typ, flags)
                if key:
                    counts[key] = counts.get(key, 0) + 1
    if not counts:
        raise RuntimeError(f"no netlink request decoded in {path}")
    return counts


def worker_main(cfg):
    out = sys.stdout
    try:
        world = World(cfg)
        world.setup()
        out.write(json.dumps({"ok": True}) + "\n")
        out.flush()
    except Exception:
        out.write(json.dumps({"ok": False, "error": traceback.format_exc()}) + "\n")
        out.flush()
        return 1
    for line in sys.stdin:
        req = json.loads(line)
        op = req["op"]
        if op == "quit":
            break
        try:
            if op in ("rep", "warm"):
                ans = {"ok": True, **world.rep()}
            elif op == "rusage":
                ans = {"ok": True, "rusage": world.rusage()}
            elif op == "syscalls":
                ans = {"ok": True, "syscalls": world.syscalls(), "netlink": world.netlink_requests()}
            elif op == "limitcalls":
                ans = {"ok": True, "syscalls": world.limit_syscalls()}
            elif op == "nltrace":
                ans = {"ok": True, "nltrace": world.nltrace()}
            else:
                raise RuntimeError(f"unknown op {op}")
        except Exception:
            ans = {"ok": False, "error": traceback.format_exc()}
        ans["reread"], world.reread = world.reread, []
        out.write(json.dumps(ans) + "\n")
        out.flush()
    if world.resident:
        world.resident.stdin.close()    # it ends at end of input
        world.resident.wait()
    return 0


# --------------------------------------------------------------------------
# Coordinator
# --------------------------------------------------------------------------

# Declared settings of a variant's config (see the README's Configuration).
DECLARE = {
    "": {},
    "mm": {"mtu": 9000, "mac": "02:be:00:00:00:01"},
    "all": {"mtu": 9000, "mac": "02:be:00:00:00:01",
            "ethtool": {"features": {"gro": True, "tx-checksumming": False}},
            "sysctl": {"net.ipv4.conf.IFNAME.arp_ignore": "1", "net.ipv6.conf.IFNAME.accept_ra": "0"}},
}


def limit_options(declare):
    """A DECLARE entry as examples/kernel_limit's options: the same
    settings, done as the bare requests hostdev makes for them."""
    out = []
    if "mtu" in declare:
        out += ["--mtu", str(declare["mtu"])]
    if "mac" in declare:
        out += ["--mac", declare["mac"]]
    for name, on in declare.get("ethtool", {}).get("features", {}).items():
        out += ["--feature", f"{name}={'on' if on else 'off'}"]
    for key, value in declare.get("sysctl", {}).items():
        # net.ipv4.conf.IFNAME.arp_ignore -> ipv4.arp_ignore
        _, family, _, _, leaf = key.split(".", 4)
        out += ["--sysctl", f"{family}.{leaf}={value}"]
    return out


def diff_ci(x, y, of):
    """(median, low, high) in ms of of(x's sample) - of(y's sample) over
    the repetitions, pairing the samples of one repetition; low..high is
    the distribution-free 95 % confidence interval of that median (order
    statistics; None below 6 pairs). (nan, None, None) without a pair."""
    ys = {s["rep"]: s for s in y.samples}
    ds = sorted((of(s) - of(ys[s["rep"]])) / 1e6 for s in x.samples if s["rep"] in ys)
    if not ds or x.error or y.error:
        return float("nan"), None, None
    n = len(ds)
    k = int((n - 1.96 * n ** 0.5) / 2)
    if n < 6 or k < 0:
        return statistics.median(ds), None, None
    return statistics.median(ds), ds[k], ds[n - 1 - k]


def cycle_of(sample):
    return sample["add"] + sample["del"]


def cpu_of(sample):
    return sample["cpu_add"] + sample["cpu_del"]


def paired(x, y, of):
    """The median over the repetitions of of(x's sample) / of(y's sample)
    in the same repetition; None without a pair."""
    ys = {s["rep"]: s for s in y.samples}
    rs = [of(s) / of(ys[s["rep"]]) for s in x.samples if s["rep"] in ys and of(ys[s["rep"]])]
    return statistics.median(rs) if rs and not (x.error or y.error) else None


def ratio_of(x, y):
    """(ratio of the median cycles, note with the ratio of minimums) or (None, "")"""
    if x.error or y.error or not x.samples or not y.samples:
        return None, ""
    mins = min(x.cycles()) / min(y.cycles())
    return x.med() / y.med(), f"(of the minimums: {mins:.2f})"


def merged(counts):
    """The sum of {name: count} dicts."""
    out = {}
    for c in counts:
        for k, n in c.items():
            out[k] = out.get(k, 0) + n
    return out


def diff(a, b, skip=None):
    """What differs from a to b, as "name +n" words; "none" when nothing."""
    d = sorted((b.get(k, 0) - a.get(k, 0), k) for k in set(a) | set(b) if k != skip)
    return ", ".join(f"{k} {n:+d}" for n, k in reversed(d) if n) or "none"


class Variant:
    def __init__(self, key, label, kind, naddr=4, nctr=1, tmp=False, existing=0, declare="", bin=None, others=0):
        self.key, self.label, self.kind = key, label, kind
        self.others = others       # veth pairs on the host beside the device
        self.bin = bin             # None: the plugin under test (--bin)
        self.naddr, self.nctr, self.tmp = naddr, nctr, tmp
        self.existing = existing
        self.declare = declare
        self.proc = None
        self.samples = []          # dicts from the worker
        self.error = None
        self.namespaces = []

    def cycles(self):
        return [(s["add"] + s["del"]) / 1e6 for s in self.samples]

    def med(self, field=None):
        if not self.samples:
            return float("nan")
        if field is None:
            return statistics.median(self.cycles())
        return statistics.median(s[field] / 1e6 for s in self.samples)

    def values(self, field):
        return [s[field] / 1e6 for s in self.samples]


class Coordinator:
    def __init__(self, args):
        self.args = args
        self.variants = []
        self.failures = []
        self.rereads = []
        self.sys = {}
        self.decl_sys, self.decl_nl, self.lim_sys = {}, {}, {}
        self.results = []
        self.nl = {}

    def log(self, msg):
        print(msg, file=sys.stderr, flush=True)

    def ns(self, v, suffix):
        name = f"{self.args.prefix}-{v.key}-{suffix}"
        sh(IP, "netns", "add", name)
        v.namespaces.append(name)
        return name

    def start(self, v):
        d = os.path.join(self.args.work, v.key)
        os.makedirs(d)
        host = self.ns(v, "h")
        ctrs = [self.ns(v, f"c{k + 1}") for k in range(v.nctr)]
        tmp = self.ns(v, "t") if v.tmp else None
        cfg = {"kind": v.kind, "host": host, "ctrs": ctrs, "tmp": tmp, "naddr": v.naddr,
               "dir": d, "bin": v.bin or self.args.bin, "debian": self.args.debian, "existing": v.existing,
               "others": v.others,
               "declare": v.declare,
               "limit": self.args.limit, "noop": self.args.noop}
        v.proc = subprocess.Popen(
            [IP, "netns", "exec", host, sys.executable, os.path.abspath(__file__),
             "--worker", json.dumps(cfg)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, bufsize=1)

    def ask(self, v, op):
        if v.error:
            return None
        try:
            if op != "ready":
                v.proc.stdin.write(json.dumps({"op": op}) + "\n")
                v.proc.stdin.flush()
            line = v.proc.stdout.readline()
            if not line:
                raise RuntimeError(f"worker exited (status {v.proc.wait()})")
            ans = json.loads(line)
            for note in ans.get("reread", []):
                self.rereads.append(f"{v.label}: {note}")
            if not ans["ok"]:
                raise RuntimeError(ans["error"])
            return ans
        except Exception as e:
            v.error = f"{op}: {e}"
            self.failures.append(v)
            self.log(f"\nFAILED: {v.label}: {v.error}")
            return None

    def stop(self):
        for v in self.variants:
            if v.proc and v.proc.poll() is None:
                try:
                    v.proc.stdin.write(json.dumps({"op": "quit"}) + "\n")
                    v.proc.stdin.close()
                except OSError:
                    pass
                try:
                    v.proc.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    v.proc.kill()
                    v.proc.wait()
        for v in self.variants:
            for name in v.namespaces:
                subprocess.run([IP, "netns", "del", name], capture_output=True)

    def run(self):
        a = self.args
        V = Variant
        self.v_hd = V("hd4", "hostdev ADD+DEL, 4 addrs", "hostdev")
        self.v_floor = V("floor4", "floor: ip -batch, 4 addrs", "floor")
        self.v_deb = V("deb", "Debian host-device (no addr restore)", "debian")
        self.v_up = V("up4", "upstream-HEAD shape: ip -batch, via a tmp ns", "upstream", tmp=True)
        self.v_mm = V("hdmm", "hostdev ADD+DEL, 4 addrs, MTU+MAC declared", "hostdev", declare="mm")
        self.v_all = V("hdall", "... and ethtool features + sysctls declared", "hostdev", declare="all")
        self.v_lim = V("limit", "kernel limit: one resident process", "kernel")
        self.v_lim_all = V("limall", "kernel limit, the same settings declared", "kernel", declare="all")
        # 1., the declared variants and the kernel's limit with and without
        # the same settings run back to back: one unit.
        self.declared = [self.v_hd, self.v_mm, self.v_all, self.v_lim, self.v_lim_all]
        self.v_cmp = None
        if a.declared:
            self.variants = list(self.declared)
            return self.measure()
        self.variants = [self.v_hd, self.v_floor, self.v_deb, self.v_up, self.v_mm, self.v_all]
        if a.compare:
            self.v_cmp = V("hdcmp", "1. by the --compare build", "hostdev", bin=a.compare)
            self.variants.append(self.v_cmp)
        self.scale = []
        for n in a.sizes:
            h, f = V(f"hd{n}", f"hostdev ADD+DEL, {n} addrs", "hostdev", naddr=n), \
                V(f"floor{n}", f"floor: ip -batch, {n} addrs", "floor", naddr=n)
            self.scale.append((n, h, f))
            self.variants += [h, f]
        k = a.conc
        self.v_conc = V("conc", f"{k} ADDs at once, then {k} DELs at once", "conc", nctr=k)
        self.v_ser = V("serial", f"{k} serial ADD+DEL cycles", "serial", nctr=k)
        self.variants += [self.v_conc, self.v_ser]
        self.attached = [(n, V(f"att{n}", f"hostdev ADD+DEL, {n} existing attachments", "hostdev",
                               existing=n)) for n in a.attached]
        self.v_others = V("others", f"hostdev ADD+DEL, {2 * a.others} other links on the host", "hostdev",
                          others=a.others)
        self.variants += [v for _, v in self.attached] + [self.v_others, self.v_lim, self.v_lim_all]
        return self.measure()

    def units(self):
        """The round-robin's units: the declared variants with 1. as one,
        every other variant alone."""
        return [self.declared] + [[v] for v in self.variants if v not in self.declared]

    def measure(self):
        a = self.args
        try:
            self.log(f"setting up {len(self.variants)} worlds ...")
            for v in self.variants:     # one at a time: setup is untimed
                if v.existing:
                    self.log(f"  {v.key}: the plugin attaches {v.existing} interfaces first ...")
                self.start(v)
                self.ask(v, "ready")
            self.log("warm-up repetition (not counted) ...")
            for v in self.variants:
                self.ask(v, "warm")
            units = self.units()
            for r in range(a.reps):
                t0 = time.monotonic()
                rot = r % len(units)
                for unit in units[rot:] + units[:rot]:
                    k = r % len(unit)
                    for v in unit[k:] + unit[:k]:
                        ans = self.ask(v, "rep")
                        if ans:
                            v.samples.append({**ans, "rep": r})
                self.log(f"repetition {r + 1}/{a.reps} ({time.monotonic() - t0:.1f} s)")
            if not a.declared:
                self.rus = self.ask(self.v_hd, "rusage")
                self.rus_cmp = self.ask(self.v_cmp, "rusage") if self.v_cmp else None
                self.rus_big = self.ask(self.scale[-1][1], "rusage") if self.scale else None
                self.log("counting system calls (strace -f -c) ...")
                counted = {n: self.ask(v, "syscalls") or {} for n, v in self.attached}
                self.sys = {n: c.get("syscalls") for n, c in counted.items()}
                self.nl = {n: c.get("netlink") for n, c in counted.items()}
                self.log("the node agent: restore latency, idle wake-ups, RSS ...")
                try:
                    self.agent = agent_bench(a, self.log)
                except Exception as e:          # reported, the rest of the run stands
                    self.agent = {"error": str(e)}
            self.log("counting the declared variants' system calls and netlink messages (strace) ...")
            plugin = [v for v in self.declared if v.kind == "hostdev"]
            self.decl_sys = {v.key: (self.ask(v, "syscalls") or {}).get("syscalls") for v in plugin}
            self.decl_nl = {v.key: (self.ask(v, "nltrace") or {}).get("nltrace") for v in plugin}
            self.lim_sys = {v.key: (self.ask(v, "limitcalls") or {}).get("syscalls")
                            for v in (self.v_lim, self.v_lim_all)}
        finally:
            self.stop()
        if a.declared:
            self.report_declared_run()
        else:
            self.report()
        return 1 if self.failures else 0

    # -- report ----------------------------------------------------------------

    def report_agent(self, p):
        ag = getattr(self, "agent", None) or {"error": "not run"}
        p("")
        p("9. the node agent (hostdev reconcile): values, not targets")
        if "error" in ag:
            p(f"  FAILED: {ag['error'][:200]}")
            return
        lat = ag["latency_ms"]
        p(f"  {'restore after a namespace death (ms: median, min, max)':<58} "
          f"{statistics.median(lat):8.2f} {min(lat):8.2f} {max(lat):8.2f}")
        p("    from `ip netns del` to the record's removal: a veth handed back to the host as the kernel")
        p("    hands back a NIC, renamed and restored by the agent on RTM_DELNSID (includes the ip process)")
        p(f"  {'wake-ups per minute when idle (target 0 outside its sweep)':<58} {ag['wakeups_per_min']:8.2f}"
          f"   (context switches over {ag['idle_s']} s idle)")
        p(f"  {'RSS (target <= 5 MB)':<58} {ag['rss_kb'] / 1024:8.2f} MB   (peak {ag['hwm_kb'] / 1024:.2f} MB)")

    def syscall_totals(self, n):
        """(ADD+DEL system calls, ADD+DEL openat) with n existing attachments."""
        counts = self.sys.get(n)
        if not counts:
            return None
        return (sum(counts[c]["total"] for c in counts),
                sum(counts[c].get("openat", 0) for c in counts))

    def report_syscalls(self, p):
        p("")
        p("system calls of one ADD and one DEL (strace -f -c, deterministic), by existing attachments")
        p(f"  {'existing':>8} {'ADD':>7} {'openat':>7} {'DEL':>7} {'openat':>7} {'ADD+DEL':>8} {'ratio to 0':>11}")
        base = self.syscall_totals(self.attached[0][0])
        for n, _ in self.attached:
            c = self.sys.get(n)
            if not c:
                p(f"  {n:8d} FAILED")
                continue
            total = self.syscall_totals(n)[0]
            r = f"{total / base[0]:11.2f}" if base else f"{'n/a':>11}"
            p(f"  {n:8d} {c['ADD']['total']:7d} {c['ADD'].get('openat', 0):7d} {c['DEL']['total']:7d} "
              f"{c['DEL'].get('openat', 0):7d} {total:8d} {r}")
        n0, n1 = self.attached[0][0], self.attached[-1][0]
        lo, hi = self.sys.get(n0), self.sys.get(n1)
        if lo and hi:
            grew = {}
            for cmd in ("ADD", "DEL"):
                for name, calls in hi[cmd].items():
                    if name != "total":
                        grew[name] = grew.get(name, 0) + calls - lo[cmd].get(name, 0)
            top = sorted(((d, name) for name, d in grew.items() if d), reverse=True)[:6]
            p(f"  from {n0} to {n1} existing, ADD+DEL: "
              + (", ".join(f"{name} {d:+d}" for d, name in top) or "no system call count changed"))

    def report_netlink(self, p):
        """The netlink requests of one ADD and one DEL: whether the node
        agent's part (the nsid ADD gives, the proof DEL takes) cost a dump."""
        p("")
        p("netlink requests of one ADD and one DEL (strace -f, decoded headers; deterministic), "
          "by existing attachments")
        p(f"  {'existing':>8} {'ADD':>5} {'dumps':>6} {'GETLINK dumps':>14} {'nsid':>5}"
          f" {'DEL':>5} {'dumps':>6} {'GETLINK dumps':>14} {'nsid':>5}")
        for n, _ in self.attached:
            c = self.nl.get(n)
            if not c:
                p(f"  {n:8d} FAILED")
                continue
            cells = []
            for cmd in ("ADD", "DEL"):
                r = c[cmd]
                cells.append(f"{sum(r.values()):5d} {sum(v for k, v in r.items() if k.endswith(' dump')):6d} "
                             f"{r.get('RTM_GETLINK dump', 0):14d} "
                             f"{sum(v for k, v in r.items() if 'NSID' in k):5d}")
            p(f"  {n:8d} {' '.join(cells)}")
        c = self.nl.get(self.attached[0][0])
        if c:
            for cmd in ("ADD", "DEL"):
                p(f"  {cmd}, {self.attached[0][0]} existing: "
                  + ", ".join(f"{k} {v}" for k, v in sorted(c[cmd].items())))
            nsid_dumps = sum(v for cmd in c for k, v in c[cmd].items() if "NSID" in k and k.endswith(" dump"))
            p("  nsid: RTM_GETNSID/RTM_NEWNSID, the node agent's part (ADD gives the container's namespace an"
              " id, DEL proves where it is);")
            p(f"  {'none' if nsid_dumps == 0 else nsid_dumps} of them a dump. The container namespace here has had"
              " an id since the warm-up: a new pod's")
            p("  first ADD sends RTM_GETNSID, RTM_NEWNSID, RTM_GETNSID (src/netlink/nsid.rs give_nsid), no dump either")

    def limit_ratio(self, pick=statistics.median):
        """(hostdev's cycle minus two process starts) / the resident's cycle,
        over medians (or minimums): (ratio, the same over the other pick)."""
        if not (self.v_hd.samples and self.v_lim.samples) or self.v_hd.error or self.v_lim.error:
            return None, float("nan")

        def r(f):
            return (f(self.v_hd.cycles()) - f(self.v_lim.values("start2"))) / f(self.v_lim.cycles())
        return r(statistics.median), r(pick)

    def report_limit(self, p):
        if not (self.v_hd.samples and self.v_lim.samples):
            return
        hd, lim = self.v_hd, self.v_lim
        starts = statistics.median(lim.values("start2"))
        rest = hd.med() - lim.med() - starts
        cpu_hd = hd.med("cpu_add") + hd.med("cpu_del")
        cpu_lim = lim.med("cpu_add") + lim.med("cpu_del")
        p("")
        p("where hostdev's cycle goes, against the kernel's limit (medians, ms; CPU: user+sys)")
        p(f"  {'hostdev ADD+DEL (1.)':<52} {hd.med():8.2f}   CPU {cpu_hd:.2f}")
        p(f"  {'= the kernel requests, from a resident process (8.)':<52} {lim.med():8.2f}   CPU {cpu_lim:.2f}")
        p(f"  {'+ two process starts (static no-op)':<52} {starts:8.2f}   CPU {lim.med('cpu_start2'):.2f}")
        p(f"  {'+ the rest: hostdev reading, checking, recording':<52} {rest:8.2f}   "
          f"CPU {cpu_hd - cpu_lim - lim.med('cpu_start2'):.2f}"
          + ("   (below 0: this run's noise is larger than the rest)" if rest < 0 else ""))

    def attached_targets(self, p, target, ratio):
        """Flat in the number of attachments: the largest count against 0,
        in system calls (exact) and wall time (noisy: the 0 world and 1.
        do the same work in identical worlds, so their ratio is this run's
        noise)."""
        (n0, v0), (n1, v1) = self.attached[0], self.attached[-1]
        noise = ratio(self.v_hd, v0)[0]
        noise_note = f"1. vs the 0 world (same work): {noise:.2f}" if noise else ""
        for n, v in self.attached[1:]:
            r, note = ratio(v, v0)
            label = f"wall ADD+DEL, {n} existing attachments / {n0}"
            if n == n1:
                target(label + ", in noise", r, 1.10, note=f"{note} {noise_note}")
            elif r is not None:
                p(f"  {label + ' (informational)':<52} {r:10.2f}{'':24}{note}")
        base, top = self.syscall_totals(n0), self.syscall_totals(n1)
        target(f"system calls ADD+DEL, {n1} existing / {n0}", top[0] / base[0] if base and top else None,
               1.05, note=f"(openat: {base[1]} -> {top[1]})" if base and top else "")

    def report_compare(self, p, ratio):
        """The --compare build against the one under test (1.), same run:
        ratios of medians, the build under test as the denominator."""
        if not self.v_cmp or not self.v_cmp.samples or not self.v_hd.samples:
            return
        c, h = self.v_cmp, self.v_hd
        p("")
        p(f"--compare {self.args.compare}")
        p(f"  against {self.args.bin} (1.): ratios of medians, compared / under test")
        p(f"  {'wall ADD+DEL':<28} {ratio(c, h)[0]:6.3f}   {ratio(c, h)[1]}")
        for f in ("cpu_add", "cpu_del"):
            p(f"  {'CPU ' + f[4:].upper() + ' (wait4)':<28} {c.med(f) / h.med(f):6.3f}   "
              f"({c.med(f):.2f} against {h.med(f):.2f} ms)")
        if self.rus and self.rus_cmp:
            for cmd in ("ADD", "DEL"):
                kc, kh = int(self.rus_cmp["rusage"][cmd][0]), int(self.rus["rusage"][cmd][0])
                p(f"  {'peak RSS ' + cmd + ' (/usr/bin/time)':<28} {kc / kh:6.3f}   "
                  f"({kc / 1024:.2f} against {kh / 1024:.2f} MB)")

    def target(self, label, value, limit, fmt="{:.2f}", unit="", note=""):
        """One target line, PASS or MISS (or FAILED to measure)."""
        if value is None or value != value:      # None or NaN
            verdict, shown = "FAILED", "n/a"
        else:
            verdict = "PASS" if value <= limit else "MISS"
            shown = fmt.format(value) + unit
        self.results.append(verdict)
        print(f"  {label:<52} {shown:>10}   <= {fmt.format(limit)}{unit:<3}  {verdict:<4}  {note}".rstrip())

    def report_header(self):
        a = self.args
        p = print
        kern = os.uname().release
        mode = " (--smoke)" if a.smoke else " (--declared: 1. and 9. only)" if a.declared else ""
        p(f"\nhostdev benchmark: {a.reps} repetitions, interleaved round-robin, "
          f"kernel {kern}, {os.cpu_count()} CPUs{mode}")
        p(f"binary {a.bin}; Debian plugin {a.debian} ({a.debian_version})")
        p("ms per ADD+DEL cycle: wall from spawn to exit of the child process(es), timed in the "
          "host namespace;")
        p("ADD, DEL: median wall of each half; CPU ADD, CPU DEL: median user+sys of its "
          "child process(es), from wait4")
        p("floor: one `ip -batch -` per namespace and direction (ctr side: `ip -n <ctr>`); "
          "upstream shape: the floor's work plus a hop")
        p("through a temporary namespace made beforehand; Debian host-device only moves and "
          "renames (addresses put back untimed)")
        fs = subprocess.run(["stat", "-f", "-c", "%T", a.work], capture_output=True, text=True)
        p(f"hostdev dataDir (its records) on {fs.stdout.strip() or '?'}, as /run is on a standard host")
        p("")
        hdr = (f"{'variant':<46} {'median':>8} {'min':>8} {'max':>8} {'ADD':>8} {'DEL':>8}"
               f" {'CPU ADD':>8} {'CPU DEL':>8}")
        p(hdr)
        p("-" * len(hdr))

    def row(self, v, label=None):
        p = print
        if v.error or not v.samples:
            last = [x for x in (v.error or "no samples").splitlines() if x.strip()][-1]
            p(f"{label or v.label:<46} FAILED: {last.strip()[:120]}")
            return
        c = v.cycles()
        p(f"{label or v.label:<46} {statistics.median(c):8.2f} {min(c):8.2f} {max(c):8.2f} "
          f"{v.med('add'):8.2f} {v.med('del'):8.2f} {v.med('cpu_add'):8.2f} {v.med('cpu_del'):8.2f}")

    def report_summary(self):
        p = print
        miss = self.results.count("MISS")
        if self.failures:
            p(f"FAILED to run: {', '.join(v.label for v in self.failures)}")
            for v in self.failures:
                p(f"--- {v.label}\n{v.error}")
        p(f"summary: {self.results.count('PASS')} PASS, {miss} MISS, "
          f"{self.results.count('FAILED')} FAILED to measure"
          + ("" if not miss else " (a MISS is reported, not fatal)"))

    def report_declared_run(self):
        """--declared: 1. and the declared variants, their targets."""
        self.report_header()
        for v in self.declared:
            self.row(v, "  " + v.label)
        print("\ntargets")
        self.report_declared()
        print("")
        self.report_summary()

    def report_declared(self):
        """MTU+MAC declared against none: the netlink sends and messages and
        the system calls (exact), wall and CPU per repetition (adjacent
        runs); what features and sysctls add on top."""
        p, target = print, self.target
        hd, mm, al, _, _ = self.declared
        nl = {k: v for k, v in self.decl_nl.items() if v}
        calls = {k: sum(c[cmd]["total"] for cmd in c) for k, c in self.decl_sys.items() if c}
        sends = {k: sum(n[cmd]["sends"] for cmd in n) for k, n in nl.items()}
        msgs = {k: merged(n[cmd]["messages"] for cmd in n) for k, n in nl.items()}
        have = hd.key in nl and mm.key in nl
        same = have and msgs[hd.key] == msgs[mm.key]
        note = (f"({sends[hd.key]} -> {sends[mm.key]}; netlink messages sent {sum(msgs[hd.key].values())} -> "
                f"{sum(msgs[mm.key].values())}, {'the same by type' if same else 'by type: ' + diff(msgs[hd.key], msgs[mm.key])})"
                if have else "")
        target("MTU+MAC declared / none: netlink sends (exact)",
               sends[mm.key] / sends[hd.key] if have else None, 1.00, note=note)
        have = hd.key in calls and mm.key in calls
        target("MTU+MAC declared / none: system calls (exact)", calls[mm.key] / calls[hd.key] if have else None,
               1.05, note=f"({calls[hd.key]} -> {calls[mm.key]})" if have else "")
        wall, cpu = paired(mm, hd, cycle_of), paired(mm, hd, cpu_of)
        ratio, minimums = ratio_of(mm, hd)
        target("MTU+MAC declared / none: wall, per repetition", wall, 1.05,
               note=f"(CPU per repetition: {cpu:.2f}; of the medians: {ratio:.2f} {minimums})" if wall else "")
        if al.samples and mm.samples:
            extra = [al.med(f) - mm.med(f) for f in ("add", "del")]
            cpu_extra = statistics.median(cpu_of(s) for s in al.samples) - statistics.median(cpu_of(s) for s in mm.samples)
            p(f"  {'ethtool features + sysctls declared: added ms':<52} {sum(extra):10.2f}"
              f"{'':24}(ADD {extra[0]:+.2f}, DEL {extra[1]:+.2f}; CPU {cpu_extra / 1e6:+.2f};"
              f" a namespace switch, 2 sysctl writes, an ethtool socket and one FEATURES_SET in the pod, one on the host)")
        if al.key in self.decl_sys and mm.key in self.decl_sys and self.decl_sys[al.key] and self.decl_sys[mm.key]:
            a_, m_ = (merged(c.values()) for c in (self.decl_sys[al.key], self.decl_sys[mm.key]))
            p(f"  {'  their system calls, against MTU+MAC (exact)':<52} {a_['total'] - m_['total']:+10d}"
              f"{'':24}({diff(m_, a_, skip='total')}; netlink sends "
              f"{sends.get(al.key, 0) - sends.get(mm.key, 0):+d})")
        self.report_declared_limit(p)

    def report_declared_limit(self, p):
        """What the declared settings add to hostdev's cycle (9.'s all
        against 1.) against what the same requests add to the kernel's own
        limit (the resident process with and without them), per repetition
        in wall time and CPU, and exactly in system calls. Informational:
        issue 22 asks for it reported, with no target."""
        hd, _, al, lim, lal = self.declared
        p("  ethtool features + sysctls (+ MTU, MAC) declared, against the kernel's own limit for the same requests:")
        p("  informational, no target (issue 22: report the added cost against the kernel's limit)")
        if not (hd.samples and al.samples and lim.samples and lal.samples) or any(
                v.error for v in (hd, al, lim, lal)):
            p("    n/a: a variant failed")
            return
        fields = {"wall": cycle_of, "ADD": lambda s_: s_["add"], "DEL": lambda s_: s_["del"], "CPU": cpu_of}
        added = {name: {f: diff_ci(x, y, of) for f, of in fields.items()}
                 for name, x, y in (("hostdev", al, hd), ("limit", lal, lim))}
        calls = {}
        for name, x, y, counts in (("hostdev", al, hd, self.decl_sys), ("limit", lal, lim, self.lim_sys)):
            cx, cy = counts.get(x.key), counts.get(y.key)
            if cx and cy:
                if name == "hostdev":
                    cx, cy = merged(cx.values()), merged(cy.values())
                calls[name] = {k: n for k in set(cx) | set(cy) if (n := cx.get(k, 0) - cy.get(k, 0))}
        labels = {"hostdev": "hostdev: 9.'s all - 1., per repetition (ms)",
                  "limit": "kernel limit: the same requests, resident (ms)"}

        def ci(m):
            return f"95 % CI {m[1]:+.2f}..{m[2]:+.2f}" if m[1] is not None else "no CI below 6 repetitions"

        for name in ("hostdev", "limit"):
            a_ = added[name]
            n = calls.get(name)
            sys_note = (f"; system calls {n.get('total', 0):+d}: {diff({}, n, skip='total')}" if n is not None
                        else "; system calls n/a")
            p(f"  {'  ' + labels[name]:<52} {a_['wall'][0]:10.2f}{'':24}({ci(a_['wall'])}; ADD "
              f"{a_['ADD'][0]:+.2f}, DEL {a_['DEL'][0]:+.2f}; CPU {a_['CPU'][0]:+.2f}, {ci(a_['CPU'])}{sys_note})")

        few = added["limit"]["wall"][1] is None
        noise = "fewer than 6 repetitions, no CI" if few else "the limit adds less than this run can tell from 0"

        def ratio(f):
            """hostdev's added / the limit's, when the limit's is above
            this run's noise (its CI above 0); else None."""
            h, lm = added["hostdev"][f], added["limit"][f]
            return h[0] / lm[0] if lm[1] is not None and lm[1] > 0 else None

        cpu = ratio("CPU")
        cpu_note = (f"CPU {cpu:.2f}" if cpu is not None
                    else "CPU n/a" if few else "CPU n/a: the limit's added CPU is within noise")
        if "hostdev" in calls and "limit" in calls:
            call_note = (f"; system calls {calls['hostdev'].get('total', 0)} / {calls['limit'].get('total', 0)},"
                         f" hostdev's beyond the limit's: {diff(calls['limit'], calls['hostdev'], skip='total')}")
        else:
            call_note = ""
        wall = ratio("wall")
        shown = f"{wall:10.2f}" if wall is not None else f"{'n/a':>10}"
        p(f"  {'  hostdev added / kernel limit added, wall':<52} {shown}{'':24}"
          f"(informational{'' if wall is not None else ': ' + noise};"
          f" {cpu_note}{call_note})")
        if lim.samples and any("start2" in s_ for s_ in lim.samples):
            whole = (al.med() - statistics.median(lim.values("start2"))) / lal.med()
            label = "  (9.'s all - 2 process starts) / the limit, declared"
            p(f"  {label:<52} {whole:10.2f}"
              f"{'':24}(informational; the same ratio as 8.'s target, with the settings)")

    def report(self):
        a = self.args
        p = print
        self.report_header()
        row = self.row

        p("1-4. one interface, 2 IPv4 + 2 IPv6 addresses; 1 again with declared settings")
        for v in (self.v_hd, self.v_floor, self.v_deb, self.v_up, self.v_mm, self.v_all):
            row(v, "  " + v.label)
        if self.v_cmp:
            row(self.v_cmp, "  " + self.v_cmp.label)
        p("5. address scale (half IPv4 /32, half IPv6 /128 nodad)")
        for n, h, f in self.scale:
            row(h, "  " + h.label)
            row(f, "  " + f.label)
        p(f"6. concurrency ({a.conc} interfaces, {a.conc} container namespaces; "
          "ADD, DEL = wall of each phase)")
        row(self.v_conc, "  " + self.v_conc.label)
        row(self.v_ser, "  " + self.v_ser.label)

        probes = [s_["probes"] for s_ in self.v_hd.samples if "probes" in s_]
        if probes:
            p("   process cost alone, no kernel work (median wall / CPU, ms):")
            for name in probes[0]:
                w = statistics.median(x[name][0] / 1e6 for x in probes)
                c = statistics.median(x[name][1] / 1e6 for x in probes)
                p(f"     {name:<43} {w:8.2f} / {c:.2f}")
        if not (self.v_conc.error or self.v_ser.error) and self.v_conc.samples:
            p(f"   every repetition: all {a.conc} ADDs and {a.conc} DELs exited 0, each ADD result "
              "listed its addresses, and every interface came back home, up, with all its addresses")

        p("7. existing attachments (each a veth the plugin attached into a namespace of its own "
          "before timing; the cycle is 1.'s)")
        for _, v in self.attached:
            row(v, "  " + v.label)
        p("8. the kernel's own limit: 1.'s requests (one move+rename each way, the address adds, "
          "link up) sent by one")
        p("   resident process (examples/kernel_limit.rs) over sockets opened at its start: "
          "no process start, no reads")
        row(self.v_lim, "  " + self.v_lim.label)
        row(self.v_lim_all, "  " + self.v_lim_all.label + " (9.)")
        if self.v_lim.samples:
            st = self.v_lim.values("start2")
            p(f"  {'two process starts (examples/noop, static)':<44} {statistics.median(st):8.2f} "
              f"{min(st):8.2f} {max(st):8.2f}   CPU {self.v_lim.med('cpu_start2'):.2f}")
        self.report_syscalls(p)
        self.report_netlink(p)
        self.report_limit(p)
        self.report_agent(p)

        if self.scale:
            p("")
            p("µs per address: slope of the cycle median between consecutive sizes "
              "(the fixed cost of a cycle cancels out)")
            for (n0, h0, f0), (n1, h1, f1) in zip(self.scale, self.scale[1:]):
                sh_ = (h1.med() - h0.med()) * 1000 / (n1 - n0)
                sf_ = (f1.med() - f0.med()) * 1000 / (n1 - n0)
                p(f"  {n0:5d} -> {n1:5d} addrs: hostdev {sh_:7.2f} µs/addr   floor {sf_:7.2f} µs/addr")
            for n, h, f in self.scale:
                p(f"  {n:5d} addrs, whole cycle / n: hostdev {h.med() * 1000 / n:7.2f} µs/addr   "
                  f"floor {f.med() * 1000 / n:7.2f} µs/addr")

        p("")
        p("targets")
        target, ratio = self.target, ratio_of

        target("hostdev / floor, 4 addrs", ratio(self.v_hd, self.v_floor)[0], 1.10,
               note=ratio(self.v_hd, self.v_floor)[1])
        # Wall time on a shared machine is noisy: the declared variants are
        # also counted exactly (netlink messages, system calls).
        self.report_declared()
        target("hostdev / Debian host-device", ratio(self.v_hd, self.v_deb)[0], 1.00,
               note=ratio(self.v_hd, self.v_deb)[1])
        target("hostdev / upstream-HEAD shape", ratio(self.v_hd, self.v_up)[0], 0.55,
               note=ratio(self.v_hd, self.v_up)[1])
        for n, h, f in self.scale:
            r, note = ratio(h, f)
            if n >= 1024:
                target(f"hostdev / floor, {n} addrs", r, 1.20, note=note)
            elif r is not None:
                p(f"  {'hostdev / floor, ' + str(n) + ' addrs (informational)':<52} {r:10.2f}"
                  f"{'':24}{note}")
        if len(self.scale) >= 2:
            # Flat: no segment costs more per address than the first one
            # (256 -> 1024) by more than half again; superlinear growth
            # (an O(n^2) somewhere) shows up as a rising slope.
            def flatness(col):
                slopes = []
                for x0, x1 in zip(self.scale, self.scale[1:]):
                    v0, v1 = x0[col], x1[col]
                    if v0.samples and v1.samples and not (v0.error or v1.error):
                        slopes.append((v1.med() - v0.med()) / (x1[0] - x0[0]))
                if len(slopes) != len(self.scale) - 1:
                    return None
                # A first slope at or below zero is noise swamping the
                # measure: report it as a MISS (inf), not as a failed run.
                return max(slopes) / slopes[0] if slopes[0] > 0 else float("inf")

            n = [str(x[0]) for x in self.scale]
            target(f"µs/addr flat: max slope / slope {n[0]}->{n[1]}", flatness(1), 1.50)
            fl = flatness(2)
            if fl is not None:
                p(f"  {'  (the same for the floor, for context)':<52} {fl:10.2f}")
        else:
            p(f"  {'µs/addr flat from 256 to 4096':<52} {'n/a':>10}   (one size only in --smoke)")
        target(f"concurrent wall / serial wall ({a.conc})", ratio(self.v_conc, self.v_ser)[0], 1.30,
               note=ratio(self.v_conc, self.v_ser)[1])
        self.attached_targets(p, target, ratio)
        target("kernel limit: (hostdev - 2 process starts) / resident", self.limit_ratio(min)[0], 1.05,
               note=f"(of the minimums: {self.limit_ratio(min)[1]:.2f})" if self.v_lim.samples else "")

        def rus_targets(rus, tag):
            if not rus:
                target(f"peak RSS of one ADD{tag}", None, 3.0)
                return
            r = rus["rusage"]
            floor_kb = int(r["true"][0])
            for cmd in ("ADD", "DEL"):
                kb = int(r[cmd][0])
                target(f"peak RSS of one {cmd}{tag} (/usr/bin/time %M)", kb / 1024, 3.0, unit=" MB")
            p(f"  {'  (/usr/bin/time %M of /bin/true, its floor: ' + f'{floor_kb / 1024:.2f} MB)':<52}")
            p(f"  {'  (/usr/bin/time %U+%S of ADD / DEL: ' + r['ADD'][1] + '+' + r['ADD'][2] + ' / ' + r['DEL'][1] + '+' + r['DEL'][2] + ' s, 10 ms resolution)':<52}")

        rus_targets(self.rus, "")
        if self.v_hd.samples:
            target("CPU user+sys of one ADD (median, wait4)", self.v_hd.med("cpu_add"), 2.0, unit=" ms")
            target("CPU user+sys of one DEL (median, wait4)", self.v_hd.med("cpu_del"), 2.0, unit=" ms")
            if self.v_others.samples:
                o = self.v_others
                # The kernel's part of the dump stays (some 4 µs a link, no
                # filter by IFLA_LINK exists); decoding every link, as
                # before, gave 3.5.
                target(f"CPU of one ADD, {2 * o.others} other links on the host / none", o.med("cpu_add") /
                       self.v_hd.med("cpu_add"), 2.0, note=f"({o.med('cpu_add'):.2f} ms; the stack check's "
                       "dump decodes only the device and what is stacked on it)")
        else:
            target("CPU user+sys of one ADD", None, 2.0)
        if self.rus_big:
            r = self.rus_big["rusage"]
            n = self.scale[-1][0]
            p(f"  informational: peak RSS with {n} addrs: ADD {int(r['ADD'][0]) / 1024:.2f} MB, "
              f"DEL {int(r['DEL'][0]) / 1024:.2f} MB; CPU median ADD "
              f"{self.scale[-1][1].med('cpu_add'):.2f} ms, DEL {self.scale[-1][1].med('cpu_del'):.2f} ms")

        self.report_compare(p, ratio)

        if self.rereads:
            p("")
            p(f"note: {len(self.rereads)} verification dump(s) came back short and were complete "
              "when read again (not a loss):")
            for note in self.rereads[:10]:
                p(f"  {note}")
        p("")
        self.report_summary()


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--worker", help=argparse.SUPPRESS)
    ap.add_argument("--prefix")
    ap.add_argument("--work")
    ap.add_argument("--bin")
    ap.add_argument("--debian", default="/usr/lib/cni/host-device")
    ap.add_argument("--debian-version", default="?")
    ap.add_argument("--limit", help="examples/kernel_limit binary")
    ap.add_argument("--noop", help="examples/noop binary")
    ap.add_argument("--compare", help="another hostdev binary, run as 1. in the same run")
    ap.add_argument("-n", "--reps", type=int, default=15)
    ap.add_argument("--smoke", action="store_true")
    ap.add_argument("--declared", action="store_true",
                    help="only 1. and the declared-settings variants (9.), and their exact counts")
    args = ap.parse_args()
    if args.worker:
        return worker_main(json.loads(args.worker))
    if not (args.prefix and args.work and args.bin and args.limit and args.noop):
        ap.error("--prefix, --work, --bin, --limit and --noop are required (run scripts/bench.sh)")
    if args.reps < 1:
        ap.error("-n must be at least 1")
    args.sizes = [256] if args.smoke else [256, 1024, 4096]
    args.conc = 4 if args.smoke else 32
    args.attached = [0, 50] if args.smoke else [0, 100, 1000]
    args.others = 100     # veth pairs: a node with some 100 pods
    return Coordinator(args).run()


if __name__ == "__main__":
    sys.exit(main())
