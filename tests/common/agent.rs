//! The node agent (`hostdev reconcile`) run as an operator runs it, in the
//! world's host namespace on its dataDir, and a process that holds a
//! container namespace alive: both killed on drop, also when a test fails.

use super::run::{BIN, wait_for_log, wait_until};
use super::world::World;
use std::fs::File;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};

/// A running agent in the world's host namespace, killed on drop. Its
/// pid is in the world's `agent.pid` too, for a script that must kill it
/// when the test process itself was killed (scripts/soak.sh).
pub struct Agent {
    child: Child,
    pub log: PathBuf,
}

impl Agent {
    /// Starts `hostdev reconcile` on the world's dataDir with a sweep too
    /// slow to matter, and returns once its first sweep is over (it says
    /// it watches then): whatever it heals from here on, an event made it.
    pub fn start(w: &World) -> Agent {
        let log = w.tmp.join("agent.log");
        let child = agent_command(w, &["--sweep-interval", "86400"])
            .stdout(File::create(w.tmp.join("agent.stdout")).unwrap())
            .stderr(File::create(&log).unwrap())
            .spawn()
            .expect("start the agent");
        std::fs::write(w.tmp.join("agent.pid"), child.id().to_string()).unwrap();
        let agent = Agent { child, log };
        wait_for_log(&agent.log, "msg=\"the node agent is watching\"");
        agent
    }

    /// Waits until the agent says `msg` about the world's attachment `ifname`.
    pub fn wait_for(&self, w: &World, ifname: &str, msg: &str) {
        wait_for_log(&self.log, &format!("container={} ifname={ifname} msg={msg}", w.id));
    }

    pub fn said(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Whether it still runs (it never exits on its own).
    pub fn running(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    /// Sends it SIGTERM, as a kubelet stopping its pod does; its exit
    /// status once it has exited, None if it still runs after a generous
    /// bound.
    pub fn stop(&mut self) -> Option<std::process::ExitStatus> {
        let pid = nix::unistd::Pid::from_raw(self.child.id() as i32);
        nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM).unwrap();
        let mut status = None;
        wait_until(60, || {
            status = self.child.try_wait().unwrap();
            status.is_some()
        });
        status
    }
}

impl Drop for Agent {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `hostdev reconcile ARGS` in the world's host namespace, as an operator
/// starts it: no CNI variables.
pub fn agent_command(w: &World, args: &[&str]) -> Command {
    let mut cmd = Command::new("ip");
    cmd.args(["netns", "exec", &w.host.name, BIN, "reconcile", "--data-dir", &w.data_dir()])
        .args(args)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .stdin(Stdio::null());
    cmd
}

/// A process that holds the world's container namespace, killed on drop.
pub struct Holder(pub Child);

impl Holder {
    pub fn new(w: &World) -> Holder {
        let child = Command::new("ip")
            .args(["netns", "exec", &w.ctr.name, "sleep", "infinity"])
            .stdout(Stdio::null())
            .spawn()
            .unwrap();
        // The process is in the namespace once its ns/net is not ours.
        let ours = std::fs::read_link("/proc/self/ns/net").unwrap();
        let pid = child.id();
        assert!(
            wait_until(60, || std::fs::read_link(format!("/proc/{pid}/ns/net")).is_ok_and(|n| n != ours)),
            "the holder never entered the namespace"
        );
        Holder(child)
    }

    /// The names of the links in the namespace it holds.
    pub fn link_names(&self) -> Vec<String> {
        let out = Command::new("nsenter")
            .args(["-t", &self.0.id().to_string(), "-n", "ip", "-j", "link"])
            .output()
            .expect("nsenter");
        let links: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap_or_default();
        links.as_array().into_iter().flatten().filter_map(|l| l["ifname"].as_str().map(String::from)).collect()
    }
}

impl Drop for Holder {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}
