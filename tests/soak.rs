//! A randomised soak: W workers, each in a world of its own (a host
//! namespace with two veths, a container namespace) with the node agent
//! (`hostdev reconcile`) running on its dataDir, loop for D seconds over
//! random ADD, DEL (with and without CNI_NETNS), GC, crashes at fail points
//! and at random moments (SIGKILL), container-side renames, MAC and MTU
//! changes of what it was given, and two kinds of runtime that misbehave:
//! - one that drops DELs: the container namespace is deleted with no DEL at
//!   all, its veths either dying with it or handed back to the host first
//!   (as the kernel hands back a NIC); the agent alone must bring home what
//!   came back and drop the record of what died;
//! - one whose CNI_NETNS is stale: DEL with the path removed while a
//!   process still holds the namespace, or with a path that does not exist
//!   or names another namespace; DEL must answer 0 with the interface home.
//!
//! Then DEL, GC and STATUS of everything: every veth must be home exactly
//! as it was (one that died with its namespace is re-created and counted),
//! nothing left in any namespace, the dataDir empty, the agent still
//! running. Nothing is decided by a clock: the soak waits for states, with
//! generous bounds.
//!
//! Ignored by default: `scripts/soak.sh` runs it (SOAK_WORKERS,
//! SOAK_SECONDS, SOAK_SEED, SOAK_TAG) with a test-hooks build.

mod common;

use common::*;
use serde_json::{Value, json};
use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::os::unix::process::ExitStatusExt;
use std::process::{Child, Command, ExitStatus};
use std::time::{Duration, Instant};

const DEVICES: usize = 2;
/// Every fail point the plugin has.
use hostdev::failpoint::ALL as FAIL_POINTS;
/// A plugin run that takes longer than this has hung.
const HANG_SECS: u32 = 20;

fn setting(name: &str, default: u64) -> u64 {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

/// xorshift64*: reproducible from the seed, no crate needed.
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d) % n
    }

    fn chance(&mut self, one_in: u64) -> bool {
        self.below(one_in) == 0
    }
}

fn dev(i: usize) -> String {
    format!("d{i}")
}

fn ifname(i: usize) -> String {
    format!("net{i}")
}

/// Device `i`'s veth peer, always on the host.
fn peer(i: usize) -> String {
    format!("d{i}p")
}

/// `ip -n NS ARGS`, for changes that may fail (the link moved on).
fn try_ip(ns: &str, args: &[&str]) -> bool {
    Command::new("ip").arg("-n").arg(ns).args(args).output().is_ok_and(|o| o.status.success())
}

/// Whether the veth `peer` (always on the host) has its other end in
/// another namespace.
fn other_end_away(ns: &str, peer: &str) -> bool {
    let out = Command::new("ip").args(["-n", ns, "-j", "-d", "link", "show", "dev", peer]).output().unwrap();
    let v: Value = serde_json::from_slice(&out.stdout).unwrap_or(Value::Null);
    v[0].get("link_netnsid").is_some()
}

fn killed(st: &ExitStatus) -> bool {
    st.signal() == Some(9) || st.code() == Some(137)
}

/// Field order matters: the agent is killed before its world goes.
struct Worker {
    agent: Agent,
    w: World,
    /// A living namespace that is not the container's: a wrong CNI_NETNS.
    other: Netns,
    rng: Rng,
    /// Each device as it must come home.
    before: Vec<Link>,
    died: usize,
    /// How long a plugin run that finished took, smoothed (ms): random
    /// kills land anywhere in such a run.
    typical_ms: u64,
    tally: BTreeMap<String, u64>,
    /// The last few operations, to explain a failure, and the device the
    /// current one is about (none for container-side changes).
    history: VecDeque<String>,
    device: Option<usize>,
    /// Devices found away without a record (reported once each).
    stranded: BTreeSet<usize>,
    passed: u64,
    failures: Vec<String>,
}

impl Worker {
    fn new(tag: &str, n: usize, seed: u64) -> Worker {
        let w = World::with_id(format!("{tag}-w{n}"));
        // One device of odd workers is down: it must come back down.
        let before = (0..DEVICES).map(|i| w.host_veth(&dev(i), n.is_multiple_of(2) || i == 0)).collect();
        let rng = Rng(seed.wrapping_add((n as u64 + 1).wrapping_mul(0x9e37_79b9_7f4a_7c15)) | 1);
        Worker {
            agent: Agent::start(&w),
            other: Netns::new(format!("{tag}-w{n}-other")),
            w,
            rng,
            before,
            died: 0,
            typical_ms: 30,
            tally: BTreeMap::new(),
            history: VecDeque::new(),
            device: None,
            stranded: BTreeSet::new(),
            passed: 0,
            failures: Vec::new(),
        }
    }

    /// Counts an operation's outcome; `detail` goes only to the history.
    fn note(&mut self, what: String, detail: &str) {
        if self.history.len() == 8 {
            self.history.pop_front();
        }
        let about = self.device.map(|i| format!(" [{}]", dev(i))).unwrap_or_default();
        self.history.push_back(format!("{what}{about}{detail}"));
        *self.tally.entry(what).or_default() += 1;
    }

    fn check(&mut self, ok: bool, what: impl FnOnce() -> String) {
        if ok {
            self.passed += 1;
        } else {
            self.failures.push(format!("{}: {}", self.w.id, what()));
        }
    }

    fn conf(&self, i: usize, extra: Value) -> String {
        conf(&self.w, "1.1.0", &dev(i), extra)
    }

    /// The environment for `command` on device `i`'s attachment; DEL now
    /// and then without CNI_NETNS, as containerd sends a second DEL.
    fn env(&mut self, command: &str, i: usize) -> BTreeMap<&'static str, String> {
        let mut env = self.w.env(command, &ifname(i));
        if command == "DEL" && self.rng.chance(4) {
            env.insert("CNI_NETNS", String::new());
        }
        env
    }

    fn spawn(&self, env: &BTreeMap<&str, String>, stdin: &str) -> Child {
        spawn_within(HANG_SECS, &self.w.host.name, env, stdin)
    }

    /// Waits for a plugin run and counts how it ended; a hang, a death it
    /// was not meant to die, or a failure without a CNI error is a failure.
    /// Err says how a run that did not succeed ended.
    fn finish(&mut self, what: &str, child: Child, may_die: bool) -> Result<(), String> {
        let (st, out) = finish(child);
        let how = if killed(&st) && may_die {
            "killed".to_string()
        } else if st.code() == Some(124) {
            self.check(false, || format!("{what} hung: {out:?}"));
            return Err("hung".into());
        } else if st.success() {
            "ok".to_string()
        } else if let Some(code) = out.json["code"].as_u64() {
            format!("error {code}")
        } else {
            self.check(false, || format!("{what} failed without a CNI error ({st:?}): {out:?}"));
            return Err(format!("{st:?}"));
        };
        self.note(format!("{what}: {how}"), "");
        if st.success() { Ok(()) } else { Err(format!("{how}: {}", out.stdout.trim())) }
    }

    fn run(&mut self, what: &str, env: &BTreeMap<&str, String>, stdin: &str, may_die: bool) -> Result<(), String> {
        let start = Instant::now();
        let child = self.spawn(env, stdin);
        let done = self.finish(what, child, may_die);
        if done.is_ok() {
            self.typical_ms = (self.typical_ms * 3 + start.elapsed().as_millis() as u64) / 4;
        }
        done
    }

    fn gc(&mut self, valid: Vec<Value>) -> Result<(), String> {
        let c = self.conf(0, json!({"cni.dev/valid-attachments": valid}));
        self.run("GC", &plain_env("GC"), &c, false)
    }

    fn step(&mut self) {
        let i = self.rng.below(DEVICES as u64) as usize;
        self.device = Some(i);
        match self.rng.below(22) {
            0..=2 => {
                let env = self.env("ADD", i);
                let _ = self.run("ADD", &env, &self.conf(i, json!({})), false);
            }
            3..=5 => {
                let env = self.env("DEL", i);
                let _ = self.run("DEL", &env, &self.conf(i, json!({})), false);
            }
            6 => {
                let valid = (0..DEVICES)
                    .filter(|_| self.rng.chance(2))
                    .map(|j| json!({"containerID": self.w.id, "ifname": ifname(j)}))
                    .collect();
                let _ = self.gc(valid);
            }
            7..=9 => self.crash_at_fail_point(i),
            10..=12 => self.crash_at_random_moment(i),
            13 => self.drop_dels(),
            14..=17 => self.tamper(),
            18..=19 => self.gc_races_del(i),
            _ => self.stale_netns(),
        }
        self.nothing_stranded();
    }

    /// A device whose veth end is in another namespace must have a record
    /// that names it: without one, nothing will ever bring it home.
    fn nothing_stranded(&mut self) {
        let recorded: BTreeSet<String> =
            records(&self.w).iter().filter_map(|(_, r)| r["host"]["name"].as_str().map(String::from)).collect();
        for i in 0..DEVICES {
            let away = other_end_away(&self.w.host.name, &peer(i));
            if !away || recorded.contains(&dev(i)) {
                self.stranded.remove(&i);
            } else if self.stranded.insert(i) {
                let last = Vec::from(self.history.clone()).join(" | ");
                self.check(false, || format!("{} is away without a record; last operations: {last}", dev(i)));
            }
        }
    }

    fn crash_at_fail_point(&mut self, i: usize) {
        let point = FAIL_POINTS[self.rng.below(FAIL_POINTS.len() as u64) as usize];
        let command = if point.starts_with("add") { "ADD" } else { "DEL" };
        let mut env = self.env(command, i);
        env.insert("HOSTDEV_FAILPOINT", point.to_string());
        let _ = self.run(&format!("{command} crashing at {point}"), &env, &self.conf(i, json!({})), true);
    }

    fn crash_at_random_moment(&mut self, i: usize) {
        let command = if self.rng.chance(2) { "ADD" } else { "DEL" };
        let env = self.env(command, i);
        let after = self.rng.below(self.typical_ms * 3 / 2 + 1) as f64 / 1000.0;
        let child = spawn_killed_after(after, &self.w.host.name, &env, &self.conf(i, json!({})));
        let _ = self.finish(&format!("{command} SIGKILLed at random"), child, true);
    }

    /// A runtime that drops DELs: the container's namespace is deleted
    /// without any DEL and a new one takes its name. What was given to it
    /// dies with it or, half the time, is handed back to the host first
    /// under its container name, as the kernel hands back a NIC. The agent
    /// alone must finish every attachment.
    fn drop_dels(&mut self) {
        self.device = None;
        let handed_back = self.rng.chance(2);
        if handed_back {
            let ctr = self.w.ctr.name.clone();
            for name in link_names(&ctr).into_iter().filter(|n| n != "lo") {
                try_ip(&ctr, &["link", "set", "dev", &name, "netns", &self.w.host.name]);
            }
        }
        let how = if handed_back { "its devices handed back" } else { "its devices dying with it" };
        self.note(format!("namespace deleted without DEL, {how}"), "");
        let pending = !records(&self.w).is_empty();
        self.renew_container();
        self.await_agent(how, pending);
    }

    /// The container's namespace is deleted (it dies once nothing holds
    /// it) and a new one takes its name.
    fn renew_container(&mut self) {
        let name = self.w.ctr.name.clone();
        self.w.ctr.delete();
        self.w.ctr = Netns::new(name);
    }

    /// Waits (generously: the kernel destroys a namespace when it gets to
    /// it) until the agent has finished every attachment of the dead
    /// namespace, with no plugin run: no record left, each device home
    /// exactly as it was or dead with its veth (re-created and counted).
    /// `pending`: the namespace had records when it was deleted.
    fn await_agent(&mut self, how: &str, pending: bool) {
        let host = self.w.host.name.clone();
        let finished = |w: &Worker| {
            records(&w.w).is_empty()
                && (0..DEVICES)
                    .all(|i| link(&host, &peer(i)).is_none() || link(&host, &dev(i)).as_ref() == Some(&w.before[i]))
        };
        let done = wait_until(120, || finished(self));
        if done && pending {
            self.note("finished by the agent, no plugin run".into(), "");
        }
        let (recs, names, said) = (records(&self.w), link_names(&host), self.agent_tail());
        self.check(done, || {
            format!("the agent did not finish a namespace deleted without DEL ({how}): records {recs:?}, host links {names:?}, agent's log: {said}")
        });
        for i in 0..DEVICES {
            if link(&host, &peer(i)).is_none() {
                self.before[i] = self.w.host_veth(&dev(i), self.before[i].up);
                self.died += 1;
            }
        }
    }

    /// The agent's last log lines, to explain a failure.
    fn agent_tail(&self) -> String {
        let said = self.agent.said();
        let lines: Vec<&str> = said.lines().collect();
        lines[lines.len().saturating_sub(12)..].join("\n")
    }

    /// A runtime whose CNI_NETNS is stale: DEL of every attachment with
    /// the namespace's path removed while a process still holds it, or with
    /// a path that does not exist or names another namespace. Each DEL
    /// answers 0 and the namespace is left with nothing of ours.
    fn stale_netns(&mut self) {
        self.device = None;
        match self.rng.below(3) {
            0 => {
                let holder = Holder::new(&self.w);
                let path = self.w.ctr.path();
                self.renew_container(); // the path goes; the holder keeps the namespace
                self.dels_at(&path, "its path removed, the namespace held");
                let left = holder.link_names();
                self.check(left == ["lo"], || format!("left in the held namespace after DEL: {left:?}"));
                let pending = !records(&self.w).is_empty();
                drop(holder);
                self.await_agent("a held namespace, released", pending);
            }
            1 => {
                let path = format!("/run/netns/{}-gone", self.w.id);
                self.dels_at(&path, "a path that does not exist");
                self.nothing_in_the_container("a path that does not exist");
            }
            _ => {
                let path = self.other.path();
                self.dels_at(&path, "another namespace's path");
                self.nothing_in_the_container("another namespace's path");
            }
        }
    }

    /// DEL of every attachment with CNI_NETNS=`netns`: each must answer 0.
    fn dels_at(&mut self, netns: &str, what: &str) {
        for i in 0..DEVICES {
            self.device = Some(i);
            let mut env = self.w.env("DEL", &ifname(i));
            env.insert("CNI_NETNS", netns.to_string());
            let done = self.run(&format!("DEL with {what}"), &env, &self.conf(i, json!({})), false);
            self.check(done.is_ok(), || format!("DEL of {} with {what}: {done:?}", ifname(i)));
        }
        self.device = None;
    }

    fn nothing_in_the_container(&mut self, what: &str) {
        let left = link_names(&self.w.ctr.name);
        self.check(left.len() == 1, || format!("left in the container after DEL with {what}: {left:?}"));
    }

    /// The container renames, re-MACs or re-MTUs something it was given.
    fn tamper(&mut self) {
        self.device = None;
        let ctr = self.w.ctr.name.clone();
        let given: Vec<String> = link_names(&ctr).into_iter().filter(|n| n != "lo").collect();
        if given.is_empty() {
            return;
        }
        let name = given[self.rng.below(given.len() as u64) as usize].clone();
        let name = name.as_str();
        let (what, done) = match self.rng.below(3) {
            0 => {
                ("rename", try_ip(&ctr, &["link", "set", "dev", name, "name", &format!("ren{}", self.rng.below(100))]))
            }
            1 => {
                let mac = format!(
                    "02:00:00:{:02x}:{:02x}:{:02x}",
                    self.rng.below(256),
                    self.rng.below(256),
                    self.rng.below(256)
                );
                ("MAC change", try_ip(&ctr, &["link", "set", "dev", name, "address", &mac]))
            }
            _ => (
                "MTU change",
                try_ip(&ctr, &["link", "set", "dev", name, "mtu", &(1280 + self.rng.below(220)).to_string()]),
            ),
        };
        let how = if done { "done" } else { "refused" };
        self.note(format!("container-side {what}: {how}"), &format!(" ({name})"));
    }

    fn gc_races_del(&mut self, i: usize) {
        let env = self.env("DEL", i);
        let del = self.spawn(&env, &self.conf(i, json!({})));
        let gc = self.spawn(&plain_env("GC"), &self.conf(0, json!({"cni.dev/valid-attachments": []})));
        let _ = self.finish("DEL racing GC", del, false);
        let _ = self.finish("GC racing DEL", gc, false);
    }

    /// DEL, GC and STATUS of everything, then: every device home exactly
    /// as it was, nothing left in the container or in dataDir.
    fn wind_up(&mut self) {
        for i in 0..DEVICES {
            let env = self.w.env("DEL", &ifname(i));
            let done = self.run("final DEL", &env, &self.conf(i, json!({})), false);
            self.check(done.is_ok(), || format!("final DEL of {}: {done:?}", ifname(i)));
        }
        let done = self.gc(vec![]);
        self.check(done.is_ok(), || format!("final GC: {done:?}"));
        let done = self.run("final STATUS", &plain_env("STATUS"), &self.conf(0, json!({})), false);
        self.check(done.is_ok(), || format!("final STATUS: {done:?}"));
        let host = self.w.host.name.clone();
        for i in 0..DEVICES {
            let now = link(&host, &dev(i));
            let was = self.before[i].clone();
            self.check(now.as_ref() == Some(&was), || format!("{} not home as it was: {now:?}, was {was:?}", dev(i)));
        }
        let expected: BTreeSet<String> =
            (0..DEVICES).flat_map(|i| [dev(i), format!("d{i}p")]).chain(["lo".to_string()]).collect();
        let names = link_names(&host);
        self.check(names == expected, || format!("host links {names:?}, expected {expected:?}"));
        let inside = link_names(&self.w.ctr.name);
        self.check(inside.len() == 1, || format!("left in the container: {inside:?}"));
        let other = link_names(&self.other.name);
        self.check(other.len() == 1, || format!("left in the other namespace: {other:?}"));
        let said = self.agent_tail();
        let running = self.agent.running();
        self.check(running, || format!("the agent stopped: {said}"));
        let left = data_entries(&self.w);
        self.check(left.is_empty(), || format!("left in dataDir: {left:?}"));
    }

    fn report(&self) -> String {
        let ops: u64 = self.tally.values().sum();
        let said = self.agent.said();
        let healed = said.matches(" msg=healed").count();
        let mut lines = vec![format!(
            "{}: {ops} operations, {} veths died with their namespace, the agent healed {healed}",
            self.w.id, self.died
        )];
        lines.extend(
            said.lines()
                .filter(|l| l.contains("level=warn") || l.contains("level=error"))
                .map(|l| format!("    agent: {l}")),
        );
        lines.extend(self.tally.iter().map(|(k, v)| format!("    {v:5}  {k}")));
        lines.join("\n")
    }
}

#[test]
#[ignore = "a soak of minutes: run by scripts/soak.sh"]
fn soak() {
    let workers = setting("SOAK_WORKERS", 4) as usize;
    let seconds = setting("SOAK_SECONDS", 30);
    let seed = setting("SOAK_SEED", std::process::id() as u64 * 7919);
    let tag = std::env::var("SOAK_TAG").unwrap_or_else(|_| format!("hds-{}", std::process::id()));
    eprintln!("soak: {workers} workers, {seconds} s, seed {seed} (SOAK_SEED={seed} repeats it), tag {tag}");
    let deadline = Instant::now() + Duration::from_secs(seconds);
    let results: Vec<(String, u64, Vec<String>)> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..workers)
            .map(|n| {
                let tag = tag.clone();
                s.spawn(move || {
                    let mut worker = Worker::new(&tag, n, seed);
                    while Instant::now() < deadline {
                        worker.step();
                    }
                    worker.wind_up();
                    (worker.report(), worker.passed, std::mem::take(&mut worker.failures))
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().expect("a soak worker panicked")).collect()
    });
    let (mut passed, mut failed) = (0, 0);
    for (report, p, failures) in &results {
        eprintln!("{report}");
        for f in failures {
            eprintln!("FAIL {f}");
        }
        passed += p;
        failed += failures.len();
    }
    eprintln!("soak: {passed} passed, {failed} failed (seed {seed})");
    assert_eq!(failed, 0, "soak found {failed} violation(s) (seed {seed})");
}
