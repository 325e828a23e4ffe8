//! Shared helpers for the integration tests: a throw-away "world" (one
//! namespace playing the host, one playing the container, a private dataDir),
//! running the real plugin binary as a CNI runtime would, and snapshots of
//! links and their addresses.
//!
//! Every name is unique per test (process id + counter) because tests run in
//! parallel threads. Nothing is ever created in the root namespace.
//!
//! - `world`: `World` and `Netns`, configs, the plugin run in the world
//!   (`World::run`, the entry point), crashes at fail points, `assert_home`.
//! - `run`: `Out`, running in another namespace, left running, under a time
//!   limit or another wrapper; environments; fail points; waits.
//! - `links`: `ip`, `ip_batch`, `Link` snapshots.
//! - `records`: the dataDir's records as a reader sees them.
//! - `results`: `VERSIONS`, `check_add_result`.
//! - `fixtures`: `HeldIpam`, `SocketHolder` (programs in tests/fixtures).
//! - `agent`: `Agent` (the node agent, running), `Holder` (a process
//!   holding a container namespace alive).
//! - `fakesys`: a fake sysfs tree (PCI functions, VFs and their PF).
#![allow(dead_code)]

mod agent;
pub mod fakesys;
mod fixtures;
mod links;
mod records;
mod results;
mod run;
mod world;

// Each test file uses a part: a re-export one does not use is no warning.
#[allow(unused_imports)]
pub use agent::*;
#[allow(unused_imports)]
pub use fixtures::*;
#[allow(unused_imports)]
pub use links::*;
#[allow(unused_imports)]
pub use records::*;
#[allow(unused_imports)]
pub use results::*;
#[allow(unused_imports)]
pub use run::*;
#[allow(unused_imports)]
pub use world::*;
