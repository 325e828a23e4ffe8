//! The agent's one blocking call: poll(2) on the notification socket and
//! a signalfd for SIGTERM and SIGINT, with the time to the next sweep as
//! its timeout. Signals are blocked and read, not handled: as PID 1 of a
//! container a signal left at its default action would be dropped.

use std::os::fd::AsFd;
use std::time::Duration;

use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
use nix::sys::signal::{SigSet, Signal};
use nix::sys::signalfd::{SfdFlags, SignalFd};

use crate::netlink::events::Events;

pub enum Wake {
    Stop,
    Timeout,
    Events,
}

pub struct Waiter {
    signals: SignalFd,
}

impl Waiter {
    pub fn new() -> nix::Result<Waiter> {
        let mut stop = SigSet::empty();
        stop.add(Signal::SIGTERM);
        stop.add(Signal::SIGINT);
        stop.thread_block()?;
        Ok(Waiter { signals: SignalFd::with_flags(&stop, SfdFlags::SFD_CLOEXEC | SfdFlags::SFD_NONBLOCK)? })
    }

    /// Sleeps until a notification, a stop signal, or `timeout`.
    pub fn wait(&mut self, events: &Events, timeout: Duration) -> Result<Wake, String> {
        let timeout = PollTimeout::try_from(timeout).unwrap_or(PollTimeout::MAX);
        let mut fds =
            [PollFd::new(self.signals.as_fd(), PollFlags::POLLIN), PollFd::new(events.as_fd(), PollFlags::POLLIN)];
        match poll(&mut fds, timeout) {
            Ok(0) => Ok(Wake::Timeout),
            Ok(_) if ready(&fds[0]) => Ok(Wake::Stop),
            Ok(_) => Ok(Wake::Events),
            Err(nix::errno::Errno::EINTR) => Ok(Wake::Events),
            Err(e) => Err(format!("poll: {e}")),
        }
    }
}

fn ready(fd: &PollFd) -> bool {
    fd.revents().is_some_and(|r| !r.is_empty())
}
