//! Names the git revision the binary is built from, for `hostdev version`
//! and the VERSION command's log. Building from a tarball, or without git,
//! gives "unknown" rather than a failed build.

use std::process::Command;

fn main() {
    let revision = git(&["rev-parse", "--short", "HEAD"]).unwrap_or_else(|| "unknown".into());
    println!("cargo:rustc-env=HOSTDEV_GIT_REVISION={revision}");
    // Rebuild when HEAD moves: a commit changes the branch's ref, a checkout
    // changes HEAD itself. Paths come from git, which knows worktrees.
    for what in ["HEAD", "packed-refs"] {
        watch(git(&["rev-parse", "--git-path", what]));
    }
    if let Some(branch) = git(&["symbolic-ref", "-q", "HEAD"]) {
        watch(git(&["rev-parse", "--git-path", &branch]));
    }
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
