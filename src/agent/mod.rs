//! The node agent, `hostdev reconcile`: heals, on proof only, what no DEL
//! will come for (a runtime that died between ADD and saving its result,
//! one that never retries a failed DEL, a pod whose namespace died).
//! Event-driven: it sleeps in poll(2) on a netlink socket that hears
//! namespace deaths (RTM_DELNSID, for the id ADD gave each container
//! namespace) and link changes (a NIC the kernel returns appears as
//! RTM_NEWLINK), and on SIGTERM; a slow sweep over every record is the
//! safety net. Idle, it wakes only for that sweep.
//!
//! It never acts on an attachment whose namespace lives or whose lock
//! another call holds, looks into no container, and reads no network
//! config: a record holds all that the way home needs. IPAM is not its
//! business (a runtime's DEL or GC releases the allocation).

mod heal;
mod proof;
#[cfg(test)]
mod tests;
mod wait;

use std::collections::HashSet;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use crate::cmd::{Host, home};
use crate::netlink::Parent;
use crate::netlink::events::{Event, Events};
use crate::netns::NsIdentity;
use crate::state::{Anchor, Key, Record, Store};
use crate::{debug, info, warn};

use heal::{Done, consider};
use proof::Census;
pub use proof::waiting_for;
use wait::Wake;

/// The `command` field of the agent's log lines.
pub const COMMAND: &str = "RECONCILE";

/// The default time between sweeps.
pub const DEFAULT_SWEEP: Duration = Duration::from_secs(300);

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Options {
    pub data_dir: PathBuf,
    /// One sweep, then exit (a timer's job on hosts without Kubernetes).
    pub once: bool,
    pub sweep: Duration,
}

/// Runs the agent until SIGTERM or SIGINT (or one sweep with `once`).
/// Err says why it could not start or go on.
pub fn run(opts: &Options) -> Result<(), String> {
    crate::log::set_context(context());
    let store = crate::state::Store::open(&opts.data_dir).map_err(|e| e.msg)?;
    let host = Host::open().map_err(|e| e.msg)?;
    let mut agent = Agent { store, host, dead: HashSet::new() };
    if opts.once {
        agent.sweep();
        return Ok(());
    }
    // Subscribed before the first sweep: nothing falls between the two.
    let mut events = Events::open().map_err(|e| format!("cannot listen to the kernel: {e}"))?;
    let mut wake = wait::Waiter::new().map_err(|e| format!("cannot wait for SIGTERM: {e}"))?;
    agent.sweep();
    // Said once the first sweep is over: from here on, what it heals an
    // event made it (or the next sweep).
    info!("the node agent is watching"; data_dir = opts.data_dir.display(), sweep_seconds = opts.sweep.as_secs());
    let mut next_sweep = after(opts.sweep);
    loop {
        match wake.wait(&events, next_sweep.saturating_duration_since(Instant::now()))? {
            Wake::Stop => break,
            Wake::Timeout => {
                agent.sweep();
                next_sweep = after(opts.sweep);
            }
            Wake::Events => match events.read() {
                Ok(evs) => agent.on_events(&evs),
                Err(e) => warn!("cannot read the kernel's notifications: {e}; sweeping"),
            },
        }
    }
    crate::log::set_context(context());
    info!("the node agent stops");
    Ok(())
}

/// When the next sweep is due: `every` from now.
fn after(every: Duration) -> Instant {
    Instant::now() + every
}

fn context() -> crate::log::Context {
    crate::log::Context { command: COMMAND, ..crate::log::Context::default() }
}

struct Agent {
    store: Store,
    host: Host,
    /// Namespaces proven dead whose attachments are not all finished yet
    /// (a device on its way back, a lock held): looked at again on the next
    /// link event. Emptied as their records go.
    dead: HashSet<NsIdentity>,
}

/// What a batch of notifications asks the agent to look at.
#[derive(Debug, Default)]
struct Look {
    nsids: Vec<i32>,
    parents: Vec<Parent>,
    links: bool,
}

impl Look {
    /// The batch's look; None when the kernel dropped notifications (a
    /// burst): anything may have happened.
    fn of(events: &[Event]) -> Option<Look> {
        let mut look = Look::default();
        for event in events {
            match event {
                Event::Overflow => return None,
                Event::NsidGone(id) => look.nsids.push(*id),
                Event::Link(l) | Event::LinkGone(l) => {
                    look.links = true;
                    look.parents.extend(l.parent.clone());
                }
            }
        }
        Some(look)
    }

    /// Whether the look can want any record, given the `dead` namespaces
    /// whose attachments wait for a link event: a pass reads every record,
    /// and most link events concern none.
    fn wants_any(&self, dead: &HashSet<NsIdentity>) -> bool {
        !self.nsids.is_empty() || !self.parents.is_empty() || (self.links && !dead.is_empty())
    }

    /// Whether `rec` is wanted, given whether its namespace is known dead:
    /// Some(whether the kernel announced the death), for a record whose
    /// namespace died (now or earlier) or whose physical device came back.
    fn wants(&self, rec: &Record, known_dead: bool) -> Option<bool> {
        let announced = known_dead || rec.nsid.is_some_and(|n| self.nsids.contains(&n));
        let returned =
            rec.anchor == Anchor::Parent && rec.host.parent.as_ref().is_some_and(|p| self.parents.contains(p));
        (announced || returned).then_some(announced)
    }
}

impl Agent {
    /// Every record: the safety net, and the whole of `--once`.
    fn sweep(&mut self) {
        crate::log::set_context(context());
        debug!("sweeping");
        self.store.sweep_leftovers();
        home::unpark_all(&mut self.host, &self.store);
        self.pass(Census::lazy(), |_, known_dead| Some(known_dead));
    }

    fn on_events(&mut self, events: &[Event]) {
        let Some(look) = Look::of(events) else {
            crate::log::set_context(context());
            warn!("the kernel dropped notifications (a burst): sweeping");
            return self.sweep();
        };
        if look.links {
            home::unpark_all(&mut self.host, &self.store); // a name may be free now
        }
        if look.wants_any(&self.dead) {
            self.pass(Census::none(), |rec, known_dead| look.wants(rec, known_dead));
        }
    }

    /// Looks at the records `wanted` picks, given whether their namespace
    /// is known dead; it answers whether the kernel announced that death.
    /// Then forgets the dead namespaces no record names any more.
    fn pass(&mut self, mut census: Census, wanted: impl Fn(&Record, bool) -> Option<bool>) {
        let records = match self.store.list() {
            Ok(records) => records,
            Err(e) => return warn!("cannot read the records: {e}"),
        };
        let mut named = HashSet::new();
        for rec in records.into_iter().filter_map(|(_, r)| r.ok()) {
            let known_dead = rec.netns_identity.is_some_and(|id| self.dead.contains(&id));
            named.extend(rec.netns_identity);
            // A parked record too: consider() leaves it, under its lock.
            let Some(announced) = wanted(&rec, known_dead) else { continue };
            self.look_at(&rec.key(), rec.netns_identity, announced, &mut census);
        }
        self.dead.retain(|id| named.contains(id));
        crate::log::set_context(context());
    }

    /// Looks at one attachment; remembers its namespace as dead while its
    /// healing waits for the kernel.
    fn look_at(&mut self, key: &Key, id: Option<NsIdentity>, announced: bool, census: &mut Census) {
        if let (Done::Pending, Some(id)) = (consider(&mut self.host, &self.store, key, announced, census), id) {
            self.dead.insert(id);
        }
    }
}
