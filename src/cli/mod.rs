//! The operator's command line, used when the binary runs without
//! CNI_COMMAND: what is attached (`list`), installing the plugin
//! (`install`), waiting in a DaemonSet (`pause`), `version` and `--help`.
//! The CNI path never comes here.

mod install;
mod list;
mod pause;

use std::ffi::OsString;
use std::path::PathBuf;
use std::process::ExitCode;

use crate::cmd::version;
use crate::cni::config::DEFAULT_DATA_DIR;

/// Where runtimes look for CNI plugins unless told otherwise.
const DEFAULT_CNI_BIN_DIR: &str = "/opt/cni/bin";

/// A wrong command line: 2, as for most Unix tools.
const USAGE_ERROR: u8 = 2;

#[derive(Debug, PartialEq, Eq)]
enum Cli {
    Help,
    Version,
    List { data_dir: PathBuf },
    Install { cni_bin_dir: PathBuf },
    Pause,
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
        Ok(Cli::List { data_dir }) => return list::list(&data_dir),
        Ok(Cli::Install { cni_bin_dir }) => return install::install(&cni_bin_dir),
        Ok(Cli::Pause) => return pause::pause(),
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
        Some("list") => Ok(Cli::List { data_dir: dir_option(rest, "--data-dir", DEFAULT_DATA_DIR)? }),
        Some("install") => Ok(Cli::Install { cni_bin_dir: dir_option(rest, "--cni-bin-dir", DEFAULT_CNI_BIN_DIR)? }),
        _ => Err(format!("unknown command {command:?}")),
    }
}

fn no_more(rest: &[OsString], cli: Cli) -> Result<Cli, String> {
    match rest.first() {
        Some(arg) => Err(format!("unexpected argument {arg:?}")),
        None => Ok(cli),
    }
}

/// The one option a command takes: `FLAG DIR` or `FLAG=DIR`, an absolute
/// path (relative to what would be ambiguous in a container).
fn dir_option(rest: &[OsString], flag: &str, default: &str) -> Result<PathBuf, String> {
    let mut dir = PathBuf::from(default);
    let mut args = rest.iter();
    while let Some(arg) = args.next() {
        let inline = arg.to_str().and_then(|a| a.strip_prefix(flag)).and_then(|a| a.strip_prefix('='));
        dir = match inline {
            Some(value) => PathBuf::from(value),
            None if arg == flag => args.next().map(PathBuf::from).ok_or_else(|| format!("{flag} needs a directory"))?,
            None => return Err(format!("unexpected argument {arg:?}")),
        };
    }
    if !dir.is_absolute() {
        return Err(format!("{flag} {}: must be an absolute path", dir.display()));
    }
    Ok(dir)
}

fn help() -> String {
    format!(
        "{build}: a CNI plugin that moves a host network interface into a container.
A container runtime runs it with CNI_COMMAND set. By hand:

  hostdev list [--data-dir DIR]
      every attachment recorded in DIR (default {DEFAULT_DATA_DIR}): network,
      container id, interface name, the host interface's own name and MAC, the
      phase (attached; parked; lost, and why; adding or removing when an ADD
      or DEL did not finish) and the container's namespace. Reads only;
      exits 1 if a record cannot be read.
  hostdev install [--cni-bin-dir DIR]
      copies this binary to DIR/hostdev (default {DEFAULT_CNI_BIN_DIR}) under a
      temporary name, checks that the copy runs, then renames it into place.
      Does nothing when an identical copy is there.
  hostdev pause
      waits until SIGTERM or SIGINT (a DaemonSet's long-running container).
  hostdev version
      the crate version and git revision of this build.
  hostdev --help
      this text.
",
        build = version::build()
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
        assert_eq!(parse(&args(&["list"])), Ok(Cli::List { data_dir: DEFAULT_DATA_DIR.into() }));
        assert_eq!(parse(&args(&["list", "--data-dir", "/d"])), Ok(Cli::List { data_dir: "/d".into() }));
        assert_eq!(parse(&args(&["list", "--data-dir=/d"])), Ok(Cli::List { data_dir: "/d".into() }));
        assert_eq!(parse(&args(&["install"])), Ok(Cli::Install { cni_bin_dir: DEFAULT_CNI_BIN_DIR.into() }));
        assert_eq!(parse(&args(&["install", "--cni-bin-dir", "/b"])), Ok(Cli::Install { cni_bin_dir: "/b".into() }));
        assert_eq!(parse(&args(&["--version"])), Ok(Cli::Version));
    }

    #[test]
    fn bad_command_lines_name_the_culprit() {
        for (bad, culprit) in [
            (&["list", "--data-dir"][..], "--data-dir"),
            (&["list", "--cni-bin-dir", "/x"], "--cni-bin-dir"),
            (&["install", "--cni-bin-dir=rel"], "rel"),
            (&["pause", "now"], "now"),
            (&["LIST"], "LIST"),
        ] {
            let e = parse(&args(bad)).unwrap_err();
            assert!(e.contains(culprit), "{bad:?}: {e}");
        }
    }
}
