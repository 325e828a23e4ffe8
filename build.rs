//! Names the git revision the binary is built from, for `hostdev version`
//! and the VERSION command's log: the short commit, with "-dirty" when the
//! files the binary is built from differ from that commit (so a binary made
//! from an edited tree never passes for the commit). Building from a
//! tarball, or without git, gives "unknown" rather than a failed build.

use std::process::Command;

/// What the binary is built from. Other files (docs, tests, scripts) do not
/// make it dirty: the binary would be the same without their edits.
const SOURCES: [&str; 5] = ["src", "build.rs", "Cargo.toml", "Cargo.lock", ".cargo"];

fn main() {
    let revision = match git(&["rev-parse", "--short", "HEAD"]) {
        Some(head) if dirty() => format!("{head}-dirty"),
        Some(head) => head,
        None => "unknown".into(),
    };
    println!("cargo:rustc-env=HOSTDEV_GIT_REVISION={revision}");
    // Rebuild when HEAD moves: a commit changes the branch's ref, a checkout
    // changes HEAD itself. Paths come from git, which knows worktrees.
    for what in ["HEAD", "packed-refs"] {
        watch(git(&["rev-parse", "--git-path", what]));
    }
    if let Some(branch) = git(&["symbolic-ref", "-q", "HEAD"]) {
        watch(git(&["rev-parse", "--git-path", &branch]));
    }
    // And when a source changes, which may make the tree dirty or clean
    // again (cargo looks at every file under a directory it is given).
    for source in SOURCES {
        watch(Some(source.to_string()));
    }
}

/// True when git reports a change (staged, unstaged or untracked) in SOURCES.
fn dirty() -> bool {
    let mut args = vec!["status", "--porcelain", "--"];
    args.extend(SOURCES);
    git(&args).is_some()
}

fn git(args: &[&str]) -> Option<String> {
    let out = Command::new("git").args(args).output().ok().filter(|o| o.status.success())?;
    let text = String::from_utf8(out.stdout).ok()?.trim().to_string();
    (!text.is_empty()).then_some(text)
}

fn watch(path: Option<String>) {
    if let Some(path) = path.filter(|p| std::path::Path::new(p).exists()) {
        println!("cargo:rerun-if-changed={path}");
    }
}
