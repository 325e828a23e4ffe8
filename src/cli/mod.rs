//! The operator's command line, used when the binary runs without
//! CNI_COMMAND: what is attached (`list`), installing the plugin
//! (`install`), the node agent (`reconcile`), waiting in a container
//! (`pause`), dropping a record the operator checked (`forget`), `version`
//! and `--help`.
//! The CNI path never comes here.

mod forget;
mod install;
mod list;
mod pause;

use std::ffi::OsString;
use std::path::PathBuf;
use std::process::ExitCode;

use crate::cmd::version;
use crate::cni::config::DEFAULT_DATA_DIR;
use crate::state::Phase;

/// Where runtimes look for CNI plugins unless told otherwise.
const DEFAULT_CNI_BIN_DIR: &str = "/opt/cni/bin";

/// A wrong command line: 2, as for most Unix tools.
const USAGE_ERROR: u8 = 2;

#[derive(Debug, PartialEq, Eq)]
enum Cli {
    Help,
    Version,
    List(list::Options),
    Install { cni_bin_dir: PathBuf },
    Reconcile { opts: crate::agent::Options, level: crate::log::Level },
    Pause,
    Forget(forget::Options),
}

/// Runs the command line `args` (without the program name).
pub fn main(args: &[OsString]) -> ExitCode {
    if args.is_empty() {
        // Like the Go skel: say what this is, on stderr, and succeed.
        eprintln!("{}", version::about());
        return ExitCode::SUCCESS;
    }
    match parse(args) {
        Ok(Cli::Help) => print!("{}", help()),
        Ok(Cli::Version) => {
            println!("{}\nCNI versions: {}", version::build(), crate::cni::version::SUPPORTED.join(", "))
        }
        Ok(Cli::List(opts)) => return list::list(&opts),
        Ok(Cli::Install { cni_bin_dir }) => return install::install(&cni_bin_dir),
        Ok(Cli::Pause) => return pause::pause(),
        Ok(Cli::Forget(opts)) => return forget::forget(&opts),
        Ok(Cli::Reconcile { opts, level }) => return reconcile(&opts, level),
        Err(e) => {
            eprintln!("hostdev: {e}\nhostdev --help lists the commands");
            return ExitCode::from(USAGE_ERROR);
        }
    }
    ExitCode::SUCCESS
}

fn parse(args: &[OsString]) -> Result<Cli, String> {
    let (command, rest) = args.split_first().expect("main handles the bare call");
    match command.to_str() {
        Some("-h" | "--help" | "help") => no_more(rest, Cli::Help),
        Some("version" | "--version" | "-V") => no_more(rest, Cli::Version),
        Some("pause") => no_more(rest, Cli::Pause),
        Some("list") => list_options(rest).map(Cli::List),
        Some("forget") => forget_options(rest).map(Cli::Forget),
        Some("reconcile") => reconcile_options(rest),
        Some("install") => {
            let mut dir = DEFAULT_CNI_BIN_DIR.into();
            for (_, value) in flags(rest, &["--cni-bin-dir"])? {
                dir = PathBuf::from(value);
            }
            Ok(Cli::Install { cni_bin_dir: absolute(dir, "--cni-bin-dir")? })
        }
        _ => Err(format!("unknown command {command:?}")),
    }
}

fn no_more(rest: &[OsString], cli: Cli) -> Result<Cli, String> {
    match rest.first() {
        Some(arg) => Err(format!("unexpected argument {arg:?}")),
        None => Ok(cli),
    }
}

const LIST_FLAGS: [&str; 6] = ["--data-dir", "--output", "-o", "--network", "--pod", "--phase"];

fn list_options(rest: &[OsString]) -> Result<list::Options, String> {
    let mut opts = list::Options {
        data_dir: DEFAULT_DATA_DIR.into(),
        output: list::Output::Table,
        filter: list::Filter::default(),
    };
    for (flag, value) in flags(rest, &LIST_FLAGS)? {
        let text = || value.to_str().map(String::from).ok_or_else(|| format!("{flag} {value:?}: not UTF-8"));
        match flag {
            "--data-dir" => opts.data_dir = PathBuf::from(value),
            "--network" => opts.filter.network = Some(text()?),
            "--pod" => opts.filter.pod = Some(text()?),
            "--phase" => opts.filter.phase = Some(phase(&text()?)?),
            _ => opts.output = output(&text()?)?,
        }
    }
    opts.data_dir = absolute(opts.data_dir, "--data-dir")?;
    Ok(opts)
}

/// `NETWORK CONTAINER IFNAME [--data-dir DIR]`, each checked as the
/// plugin checks them.
fn forget_options(rest: &[OsString]) -> Result<forget::Options, String> {
    let (words, flagged) = split_words(rest);
    let mut data_dir = PathBuf::from(DEFAULT_DATA_DIR);
    for (_, value) in flags(&flagged, &["--data-dir"])? {
        data_dir = PathBuf::from(value);
    }
    let words: Vec<&str> =
        words.iter().map(|w| w.to_str().ok_or_else(|| format!("{w:?}: not UTF-8"))).collect::<Result<_, _>>()?;
    let [network, container_id, ifname] = words[..] else {
        return Err("forget needs NETWORK CONTAINER IFNAME".into());
    };
    crate::cni::env::check_spec_id("network", network)?;
    crate::cni::env::check_spec_id("container", container_id)?;
    crate::cni::env::check_ifname("IFNAME", ifname).map_err(|e| e.msg)?;
    let key = crate::state::Key { network: network.into(), container_id: container_id.into(), ifname: ifname.into() };
    Ok(forget::Options { data_dir: absolute(data_dir, "--data-dir")?, key })
}

/// The positional words of `rest`, and its flags with their values.
fn split_words(rest: &[OsString]) -> (Vec<&OsString>, Vec<OsString>) {
    let (mut words, mut flagged) = (Vec::new(), Vec::new());
    let mut args = rest.iter();
    while let Some(arg) = args.next() {
        if !arg.to_str().is_some_and(|a| a.starts_with("--")) {
            words.push(arg);
            continue;
        }
        flagged.push(arg.clone());
        if !arg.to_str().is_some_and(|a| a.contains('=')) {
            flagged.extend(args.next().cloned());
        }
    }
    (words, flagged)
}

const RECONCILE_FLAGS: [&str; 3] = ["--data-dir", "--sweep-interval", "--log-level"];

fn reconcile_options(rest: &[OsString]) -> Result<Cli, String> {
    let once = rest.iter().any(|a| a == "--once");
    let rest: Vec<OsString> = rest.iter().filter(|a| *a != "--once").cloned().collect();
    let mut opts =
        crate::agent::Options { data_dir: DEFAULT_DATA_DIR.into(), once, sweep: crate::agent::DEFAULT_SWEEP };
    let mut level = crate::log::Level::Info;
    for (flag, value) in flags(&rest, &RECONCILE_FLAGS)? {
        let text = value.to_str().unwrap_or("");
        match flag {
            "--data-dir" => opts.data_dir = PathBuf::from(value),
            "--sweep-interval" => opts.sweep = sweep_interval(text)?,
            _ => {
                level = crate::log::Level::parse(text)
                    .ok_or_else(|| format!("--log-level {value:?}: must be error, warn, info or debug"))?
            }
        }
    }
    opts.data_dir = absolute(opts.data_dir, "--data-dir")?;
    Ok(Cli::Reconcile { opts, level })
}

/// Seconds between sweeps: at least one.
fn sweep_interval(text: &str) -> Result<std::time::Duration, String> {
    match text.parse::<u64>() {
        Ok(secs) if secs > 0 => Ok(std::time::Duration::from_secs(secs)),
        _ => Err(format!("--sweep-interval {text:?}: must be a whole number of seconds, at least 1")),
    }
}

/// Runs the node agent; its log goes to stderr.
fn reconcile(opts: &crate::agent::Options, level: crate::log::Level) -> ExitCode {
    crate::log::set_level(level);
    match crate::agent::run(opts) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            crate::log::log(crate::log::Level::Error, format_args!("{e}"));
            ExitCode::FAILURE
        }
    }
}

/// The `FLAG VALUE` and `FLAG=VALUE` pairs of `rest`, each flag one of
/// `known` (a later one wins).
fn flags(rest: &[OsString], known: &[&'static str]) -> Result<Vec<(&'static str, OsString)>, String> {
    let mut out = Vec::new();
    let mut args = rest.iter();
    while let Some(arg) = args.next() {
        let inline = known.iter().find_map(|flag| {
            let value = arg.to_str()?.strip_prefix(flag)?.strip_prefix('=')?;
            Some((*flag, OsString::from(value)))
        });
        let pair = match (inline, known.iter().find(|f| arg == **f)) {
            (Some(pair), _) => pair,
            (None, Some(flag)) => (*flag, args.next().ok_or_else(|| format!("{flag} needs a value"))?.clone()),
            (None, None) => return Err(format!("unexpected argument {arg:?}")),
        };
        out.push(pair);
    }
    Ok(out)
}

/// A directory option must be absolute: relative to what would be
/// ambiguous in a container.
fn absolute(dir: PathBuf, flag: &str) -> Result<PathBuf, String> {
    if !dir.is_absolute() {
        return Err(format!("{flag} {}: must be an absolute path", dir.display()));
    }
    Ok(dir)
}

fn output(value: &str) -> Result<list::Output, String> {
    match value {
        "table" => Ok(list::Output::Table),
        "json" => Ok(list::Output::Json),
        other => Err(format!("--output {other:?}: must be table or json")),
    }
}

/// A phase as records spell it.
fn phase(value: &str) -> Result<Phase, String> {
    serde_json::from_value(serde_json::Value::String(value.into()))
        .map_err(|_| format!("--phase {value:?}: must be one of adding, attached, removing, parked, lost"))
}

fn help() -> String {
    format!(
        "{build}: a CNI plugin that moves a host network interface into a container.
A container runtime runs it with CNI_COMMAND set. By hand:

  hostdev list [--data-dir DIR] [--output table|json] [--network NAME]
               [--pod NAMESPACE/NAME|NAME] [--phase PHASE]
      every attachment recorded in DIR (default {DEFAULT_DATA_DIR}): network,
      pod, container id, interface name, the host interface's own name, MAC
      and PCI address, the phase (attached; parked; lost, and why; adding or
      removing when an ADD or DEL did not finish), where the interface is now
      (pod, home, parked, lost, gone, not-found, unknown: looked up live;
      run it in the host's network namespace), its age and the container's
      namespace. Reads only, takes no lock. Exits 1 if DIR is missing or
      unreadable, or a record cannot be read. docs/operations.md describes
      every field of --output json.
  hostdev forget NETWORK CONTAINER IFNAME [--data-dir DIR]
      drops the record of one attachment (and its device's claim) under its
      lock, after you checked that nothing waits for it (a lost record whose
      device you found, say), and says what it dropped. Changes no
      interface. Exits 1 when there is no such record.
  hostdev install [--cni-bin-dir DIR]
      copies this binary to DIR/hostdev (default {DEFAULT_CNI_BIN_DIR}) under a
      temporary name, checks that the copy runs, then renames it into place.
      Does nothing when an identical copy is there.
  hostdev reconcile [--once] [--data-dir DIR] [--sweep-interval SECONDS]
                    [--log-level LEVEL]
      the node agent: brings home, on proof only and as DEL would, what no
      DEL will come for: a NIC the kernel returned from a dead namespace,
      an ADD or DEL cut short, a record of a device that died with its
      namespace. It acts only once an attachment's namespace is proven dead,
      never while another hostdev call holds it. It waits for the kernel's
      notifications and sweeps every record every SECONDS (default {sweep});
      --once sweeps once and exits (a timer's job). Run it as root in the
      node's network namespace; it logs to stderr (default level info).
  hostdev pause
      waits until SIGTERM or SIGINT (a long-running container that only
      shows `hostdev list`).
  hostdev version
      the crate version and git revision of this build.
  hostdev --help
      this text.
",
        build = version::build(),
        sweep = crate::agent::DEFAULT_SWEEP.as_secs(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(a: &[&str]) -> Vec<OsString> {
        a.iter().map(OsString::from).collect()
    }

    #[test]
    fn options_and_defaults() {
        let list =
            |data_dir: &str, output, filter| Ok(Cli::List(list::Options { data_dir: data_dir.into(), output, filter }));
        assert_eq!(parse(&args(&["list"])), list(DEFAULT_DATA_DIR, list::Output::Table, list::Filter::default()));
        assert_eq!(parse(&args(&["list", "--data-dir", "/d"])), list("/d", list::Output::Table, Default::default()));
        assert_eq!(parse(&args(&["list", "--data-dir=/d"])), list("/d", list::Output::Table, Default::default()));
        let filter = list::Filter { network: Some("n".into()), pod: Some("ns/p".into()), phase: Some(Phase::Parked) };
        assert_eq!(
            parse(&args(&["list", "-o", "json", "--network", "n", "--pod=ns/p", "--phase", "parked"])),
            list(DEFAULT_DATA_DIR, list::Output::Json, filter)
        );
        assert_eq!(
            parse(&args(&["list", "--output=table", "-o", "json"])),
            list(DEFAULT_DATA_DIR, list::Output::Json, Default::default())
        );
        assert_eq!(parse(&args(&["install"])), Ok(Cli::Install { cni_bin_dir: DEFAULT_CNI_BIN_DIR.into() }));
        assert_eq!(parse(&args(&["install", "--cni-bin-dir", "/b"])), Ok(Cli::Install { cni_bin_dir: "/b".into() }));
        assert_eq!(parse(&args(&["--version"])), Ok(Cli::Version));
        let key = crate::state::Key { network: "n".into(), container_id: "c".into(), ifname: "eth0".into() };
        assert_eq!(
            parse(&args(&["forget", "--data-dir", "/d", "n", "c", "eth0"])),
            Ok(Cli::Forget(forget::Options { data_dir: "/d".into(), key: key.clone() }))
        );
        assert_eq!(
            parse(&args(&["forget", "n", "c", "eth0"])),
            Ok(Cli::Forget(forget::Options { data_dir: DEFAULT_DATA_DIR.into(), key }))
        );
        let agent = |data_dir: &str, once, secs| crate::agent::Options {
            data_dir: data_dir.into(),
            once,
            sweep: std::time::Duration::from_secs(secs),
        };
        let info = crate::log::Level::Info;
        assert_eq!(
            parse(&args(&["reconcile"])),
            Ok(Cli::Reconcile { opts: agent(DEFAULT_DATA_DIR, false, 300), level: info })
        );
        assert_eq!(
            parse(&args(&["reconcile", "--once", "--data-dir=/d", "--sweep-interval", "60", "--log-level", "debug"])),
            Ok(Cli::Reconcile { opts: agent("/d", true, 60), level: crate::log::Level::Debug })
        );
    }

    #[test]
    fn bad_command_lines_name_the_culprit() {
        for (bad, culprit) in [
            (&["list", "--data-dir"][..], "--data-dir"),
            (&["list", "--cni-bin-dir", "/x"], "--cni-bin-dir"),
            (&["list", "--output", "yaml"], "yaml"),
            (&["list", "--phase", "ATTACHED"], "ATTACHED"),
            (&["list", "--pod"], "--pod"),
            (&["list", "--data-dir=rel"], "rel"),
            (&["install", "--cni-bin-dir=rel"], "rel"),
            (&["pause", "now"], "now"),
            (&["forget", "n", "c"], "NETWORK CONTAINER IFNAME"),
            (&["forget", "n/x", "c", "eth0"], "n/x"),
            (&["forget", "n", "c", "a/b"], "a/b"),
            (&["forget", "n", "c", "eth0", "--data-dir=rel"], "rel"),
            (&["forget", "n", "c", "eth0", "--output", "json"], "--output"),
            (&["reconcile", "--sweep-interval", "0"], "0"),
            (&["reconcile", "--sweep-interval=5m"], "5m"),
            (&["reconcile", "--data-dir", "rel"], "rel"),
            (&["reconcile", "--log-level", "loud"], "loud"),
            (&["reconcile", "--now"], "--now"),
            (&["LIST"], "LIST"),
        ] {
            let e = parse(&args(bad)).unwrap_err();
            assert!(e.contains(culprit), "{bad:?}: {e}");
        }
    }
}
