//! `hostdev pause`: the DaemonSet's long-running container, in an image
//! without a shell. It only waits, and leaves promptly when told to stop.

use std::process::ExitCode;

use nix::sys::signal::{SigSet, Signal};

/// Waits for SIGTERM or SIGINT. The signals are blocked and then waited
/// for, not handled: as PID 1 of a container a signal left at its default
/// action would be dropped, and the pod would take its whole grace period
/// to stop.
pub fn pause() -> ExitCode {
    let mut stop = SigSet::empty();
    stop.add(Signal::SIGTERM);
    stop.add(Signal::SIGINT);
    let waited = stop.thread_block().and_then(|()| stop.wait());
    match waited {
        Ok(_) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("hostdev: pause: cannot wait for SIGTERM: {e}");
            ExitCode::FAILURE
        }
    }
}
