//! Whether the process that left a file behind still runs, from /proc:
//! the sweep of leftovers removes a temporary file only once its writer
//! is gone.

/// Whether the process that wrote a file at `written` (seconds since the
/// epoch) as `pid` still runs: a hostdev (our own name) that is not a zombie
/// (an orphan nobody reaps keeps its pid) and started before the file was
/// written (pids are reused, quickly where pid_max is small).
pub(super) fn process_alive(pid: u32, written: i64) -> bool {
    let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else { return false };
    let ours = std::fs::read_to_string("/proc/self/comm").unwrap_or_default();
    let Some(p) = ProcStat::parse(&stat) else { return false };
    p.comm == ours.trim_end() && !p.zombie && boot_time().is_some_and(|boot| boot + p.started <= written + 1)
}

/// What a process's /proc/<pid>/stat line says that `process_alive` needs.
#[derive(Debug, PartialEq, Eq)]
struct ProcStat<'a> {
    comm: &'a str,
    zombie: bool,
    /// Seconds after boot.
    started: i64,
}

impl ProcStat<'_> {
    /// The command name is between the first '(' and the last ')' (it may
    /// hold either); the fields after it are counted from the state.
    fn parse(stat: &str) -> Option<ProcStat<'_>> {
        let (open, close) = (stat.find('(')?, stat.rfind(')')?);
        let fields: Vec<&str> = stat[close + 1..].split_whitespace().collect();
        let ticks: i64 = fields.get(19)?.parse().ok()?;
        Some(ProcStat { comm: &stat[open + 1..close], zombie: fields.first() == Some(&"Z"), started: ticks / CLK_TCK })
    }
}

/// Clock ticks per second in /proc/<pid>/stat (USER_HZ, 100 on Linux).
const CLK_TCK: i64 = 100;

/// When the machine booted, in seconds since the epoch.
fn boot_time() -> Option<i64> {
    let stat = std::fs::read_to_string("/proc/stat").ok()?;
    stat.lines().find_map(|l| l.strip_prefix("btime ")).and_then(|b| b.trim().parse().ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_live_process_of_our_own_name_keeps_its_leftovers() {
        let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() as i64;
        assert!(process_alive(std::process::id(), now));
        assert!(!process_alive(u32::MAX, now));
        // A file older than the process at its pid: the pid was reused.
        assert!(!process_alive(std::process::id(), 0));
        // The start is known to the second (ticks are truncated, and so is
        // a file's time): one second earlier still counts, two do not.
        let boot = boot_time().unwrap();
        let uptime: f64 = std::fs::read_to_string("/proc/uptime").unwrap().split(' ').next().unwrap().parse().unwrap();
        assert!((now - uptime as i64 - boot).abs() <= 2, "boot time {boot}, uptime {uptime}, now {now}");
        let stat = std::fs::read_to_string("/proc/self/stat").unwrap();
        let started = boot + ProcStat::parse(&stat).unwrap().started;
        assert!(process_alive(std::process::id(), started - 1));
        assert!(!process_alive(std::process::id(), started - 2));
        // A zombie of our own name (this test binary, exited, not reaped).
        let mut zombie = std::process::Command::new(std::env::current_exe().unwrap())
            .args(["--exact", "no-such-test"])
            .stdout(std::process::Stdio::null())
            .spawn()
            .unwrap();
        let stat = format!("/proc/{}/stat", zombie.id());
        let dead = (0..500).any(|_| {
            std::thread::sleep(std::time::Duration::from_millis(10));
            std::fs::read_to_string(&stat).is_ok_and(|s| s.rsplit_once(')').is_some_and(|(_, r)| r.starts_with(" Z")))
        });
        assert!(dead, "the child did not become a zombie");
        assert!(!process_alive(zombie.id(), now), "a zombie counts as alive");
        zombie.wait().unwrap();
        // Another program at a pid (a reused pid, to a sweep) is not ours.
        let mut other = std::process::Command::new("sleep").arg("5").spawn().unwrap();
        assert!(!process_alive(other.id(), now));
        other.kill().unwrap();
        other.wait().unwrap();
    }

    #[test]
    fn proc_stat_lines_are_read_by_their_fields() {
        let line = "42 (host) (dev) Z 1 42 42 0 -1 4194560 100 0 0 0 0 0 0 0 20 0 1 0 12345 1000 5\n";
        assert_eq!(ProcStat::parse(line), Some(ProcStat { comm: "host) (dev", zombie: true, started: 123 }));
        let line = "7 (hostdev) S 1 7 7 0 -1 4194560 100 0 0 0 0 0 0 0 20 0 1 0 99 1000 5\n";
        assert_eq!(ProcStat::parse(line), Some(ProcStat { comm: "hostdev", zombie: false, started: 0 }));
        assert_eq!(ProcStat::parse("7 (hostdev) S 1 7"), None);
    }
}
