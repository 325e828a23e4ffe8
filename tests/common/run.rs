//! Running the plugin as a runtime does: exactly the environment it is
//! given (plus PATH), the config on stdin, stdout and stderr captured, in a
//! namespace playing the node. `World::run` is the everyday entry point;
//! the functions here add what it does not: another namespace, a process
//! left running (`spawn`, `finish`), a time limit, another binary, another
//! wrapper (`spawn_command`), and the fail points of a `test-hooks` build.

use serde_json::Value;
use std::collections::BTreeMap;
use std::io::Write;
use std::os::unix::process::ExitStatusExt;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

pub const BIN: &str = env!("CARGO_BIN_EXE_hostdev");

/// Upstream's plugin, as Debian installs it (containernetworking-plugins
/// 1.1.1), for side-by-side comparisons.
pub const UPSTREAM: &str = "/usr/lib/cni/host-device";

/// What the plugin printed and how it exited.
#[derive(Debug)]
pub struct Out {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
    pub json: Value,
    /// The raw status: tells a SIGKILL (a fail point) from an exit.
    pub status: ExitStatus,
}

impl Out {
    /// What a finished plugin process printed, and its exit code.
    pub fn from_output(out: &std::process::Output) -> Out {
        let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
        Out {
            code: out.status.code().unwrap_or(-1),
            json: serde_json::from_str(&stdout).unwrap_or(Value::Null),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
            stdout,
            status: out.status,
        }
    }

    pub fn assert_ok(&self) -> &Out {
        assert_eq!(self.code, 0, "plugin failed: {self:#?}");
        self
    }

    /// Asserts a CNI error with this code, in the spec's JSON shape.
    pub fn assert_err(&self, code: u64) -> &Out {
        assert_ne!(self.code, 0, "plugin should fail with code {code}: {self:#?}");
        assert_eq!(self.json["code"].as_u64(), Some(code), "wrong error: {self:#?}");
        assert!(self.json["cniVersion"].is_string(), "no cniVersion: {self:#?}");
        assert!(!self.msg().is_empty(), "no msg: {self:#?}");
        self
    }

    /// The CNI error's `msg` ("" when there is none).
    pub fn msg(&self) -> &str {
        self.json["msg"].as_str().unwrap_or("")
    }
}

/// Runs the plugin inside namespace `ns` with exactly `env` (plus PATH).
pub fn run_plugin(ns: &str, env: &BTreeMap<&str, String>, stdin: &str) -> Out {
    finish(spawn(ns, env, stdin)).1
}

/// `run_plugin` with the status apart (older tests; `Out` has it too).
pub fn run(ns: &str, env: &BTreeMap<&str, String>, stdin: &str) -> (ExitStatus, Out) {
    finish(spawn(ns, env, stdin))
}

/// Starts the plugin in namespace `ns` as a runtime would, without waiting.
pub fn spawn(ns: &str, env: &BTreeMap<&str, String>, stdin: &str) -> Child {
    spawn_within(60, ns, env, stdin)
}

/// `spawn`, killed (SIGTERM, exit status 124) after `secs` seconds.
pub fn spawn_within(secs: u32, ns: &str, env: &BTreeMap<&str, String>, stdin: &str) -> Child {
    spawn_timeout(BIN, &[secs.to_string()], ns, env, stdin)
}

/// `spawn`, SIGKILLed after `secs` seconds: a crash at a random moment.
pub fn spawn_killed_after(secs: f64, ns: &str, env: &BTreeMap<&str, String>, stdin: &str) -> Child {
    spawn_timeout(BIN, &["-s".into(), "KILL".into(), format!("{secs:.3}")], ns, env, stdin)
}

/// Runs another CNI plugin `bin` (upstream's host-device, say) in namespace
/// `ns` exactly as `run_plugin` runs hostdev.
pub fn run_binary(bin: &str, ns: &str, env: &BTreeMap<&str, String>, stdin: &str) -> Out {
    finish(spawn_timeout(bin, &["60".into()], ns, env, stdin)).1
}

/// Starts plugin `bin` under `timeout ARGS`.
fn spawn_timeout(bin: &str, args: &[String], ns: &str, env: &BTreeMap<&str, String>, stdin: &str) -> Child {
    let mut cmd = Command::new("timeout");
    cmd.args(args).args(["ip", "netns", "exec", ns, bin]);
    spawn_command(cmd, env, stdin)
}

/// Starts `cmd` as a runtime starts a plugin: exactly `env` (plus PATH),
/// `stdin` written, stdout and stderr captured.
pub fn spawn_command(mut cmd: Command, env: &BTreeMap<&str, String>, stdin: &str) -> Child {
    let mut child = cmd
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn plugin");
    // Configs are small: this never blocks. The plugin may die before
    // reading (a fail point): ignore EPIPE.
    let _ = child.stdin.take().unwrap().write_all(stdin.as_bytes());
    child
}

/// Waits for a plugin started by `spawn`; keeps the raw status, which
/// tells a SIGKILL (timeout re-raises its child's signal) from an exit.
pub fn finish(child: Child) -> (ExitStatus, Out) {
    let out = child.wait_with_output().expect("wait plugin");
    (out.status, Out::from_output(&out))
}

/// An environment for container `id` in namespace path `netns`.
pub fn env_for(command: &str, id: &str, netns: &str, ifname: &str) -> BTreeMap<&'static str, String> {
    BTreeMap::from([
        ("CNI_COMMAND", command.to_string()),
        ("CNI_CONTAINERID", id.to_string()),
        ("CNI_NETNS", netns.to_string()),
        ("CNI_IFNAME", ifname.to_string()),
        ("CNI_PATH", "/usr/lib/cni".to_string()),
    ])
}

/// The environment of a command about no attachment (GC, STATUS), as a
/// runtime sends it.
pub fn plain_env(command: &str) -> BTreeMap<&'static str, String> {
    BTreeMap::from([("CNI_COMMAND", command.to_string()), ("CNI_PATH", "/usr/lib/cni".to_string())])
}

// ------------------------------------------------------------- fail points

/// The command fail point `point` sits in: ADD for `add-…`, DEL for `del-…`.
pub fn failpoint_command(point: &str) -> &'static str {
    if point.starts_with("add") { "ADD" } else { "DEL" }
}

/// `env` with HOSTDEV_FAILPOINT=`point`: a `test-hooks` build SIGKILLs
/// itself there.
pub fn with_failpoint(mut env: BTreeMap<&'static str, String>, point: &str) -> BTreeMap<&'static str, String> {
    env.insert("HOSTDEV_FAILPOINT", point.to_string());
    env
}

/// Asserts the plugin died by SIGKILL, as fail point `point` kills it.
pub fn assert_killed(st: &ExitStatus, out: &Out, point: &str) {
    assert_eq!(
        st.signal(),
        Some(9),
        "fail point {point}: the plugin should have been SIGKILLed: status {st:?}, {out:#?}"
    );
}

// ------------------------------------------------------------------- waits

/// Polls `f` for up to `secs` seconds. The bound is a net for a failure,
/// not a timing claim: the kernel destroys a namespace (and the veths in
/// it) asynchronously, and under --stress that took over 10 s here, so
/// the waits for such events allow a minute.
pub fn wait_until(secs: u64, mut f: impl FnMut() -> bool) -> bool {
    let end = Instant::now() + Duration::from_secs(secs);
    loop {
        if f() {
            return true;
        }
        if Instant::now() > end {
            return false;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Waits (60 s at most) until the log file at `path` has a line containing
/// `needle`: the plugin said it reached a point.
pub fn wait_for_log(path: &std::path::Path, needle: &str) {
    let said = || std::fs::read_to_string(path).is_ok_and(|s| s.contains(needle));
    assert!(wait_until(60, said), "{} never said {needle:?}", path.display());
}
