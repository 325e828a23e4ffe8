//! A device with 4,096 addresses (half IPv4 /32, half IPv6 /128 without
//! DAD, the benchmark's scale case): ADD and DEL must put every one of them
//! in place or fail, and report every address the kernel refuses.
//!
//! The kernel can delete an IPv6 address after acknowledging it, when the
//! link comes up (see src/cmd/kept.rs); the benchmark lost 244 that way
//! under load. That allocation failure cannot be forced from here, so the
//! `lose_addrs` test hook plays the kernel: it deletes the addresses named
//! in HOSTDEV_LOSE_ADDRS right after they were added.

mod common;

use common::*;
use std::collections::BTreeSet;

const N: usize = 4096;

/// The `n` addresses of the benchmark's scale case, normalised.
fn scale_addrs(n: usize) -> Vec<String> {
    let v4 = (0..n / 2).map(|i| format!("10.100.{}.{}/32", i >> 8, i & 255));
    let v6 = (1..=n - n / 2).map(|i| format!("fd00:b::{i:x}/128"));
    v4.chain(v6).map(|a| norm_addr(&a)).collect()
}

/// A world whose host holds veth `h1` (peer up) with `addrs`, up, and
/// nothing less: the test must not blame hostdev for a loss of its own.
///
/// Adding to a down link and bringing it up in one batch is fast (0.1 s
/// against 2 s on a live link) but is the pattern the kernel drops IPv6
/// addresses on under load (src/cmd/kept.rs; measured here: 40 of 2,048
/// lost with the suite building beside it). So the set-up reads the link
/// back and adds what the kernel dropped once more, on the live link where
/// it stays, as hostdev itself does.
fn scale_world(addrs: &[String]) -> World {
    let w = World::new();
    let add = |a: &String| {
        let nodad = if a.contains(':') { " nodad" } else { "" };
        format!("address add {a} dev h1{nodad}\n")
    };
    let mut lines = String::from("link add h1 type veth peer name h1p\nlink set h1p up\n");
    lines.extend(addrs.iter().map(add));
    lines += "link set h1 up\n";
    ip_batch(&w.host.name, &lines);
    let want: BTreeSet<String> = addrs.iter().cloned().collect();
    let have = link(&w.host.name, "h1").map(|l| l.addrs).unwrap_or_default();
    let dropped: String = want.difference(&have).map(add).collect();
    if !dropped.is_empty() {
        ip_batch(&w.host.name, &dropped);
    }
    assert_addrs(&w.host.name, "h1", &want, "host after the set-up");
    w
}

/// A world whose host's h1 holds the `N` scale addresses, and their set.
fn full_world() -> (World, BTreeSet<String>) {
    let addrs = scale_addrs(N);
    (scale_world(&addrs), addrs.into_iter().collect())
}

/// Asserts that `dev` in `ns` has exactly the global addresses `want`.
fn assert_addrs(ns: &str, dev: &str, want: &BTreeSet<String>, what: &str) {
    let got = addrs_of(ns, dev);
    assert!(&got == want, "{what}: {}", missing(want, &got));
}

/// The global addresses of `dev` in `ns`, read once: hostdev reads its
/// addresses back before it returns, so what is missing then is lost.
fn addrs_of(ns: &str, dev: &str) -> BTreeSet<String> {
    link(ns, dev).map(|l| l.addrs).unwrap_or_default()
}

fn result_ips(out: &Out) -> BTreeSet<String> {
    let ips = out.json["ips"].as_array().cloned().unwrap_or_default();
    ips.iter().map(|i| norm_addr(i["address"].as_str().unwrap())).collect()
}

/// What `got` lacks and has too many against `want`, shortened.
fn missing(want: &BTreeSet<String>, got: &BTreeSet<String>) -> String {
    let m: Vec<_> = want.difference(got).collect();
    let x: Vec<_> = got.difference(want).collect();
    format!("{} missing, e.g. {:?}; {} extra, e.g. {:?}", m.len(), &m[..m.len().min(5)], x.len(), &x[..x.len().min(5)])
}

#[test]
fn all_4096_addresses_reach_the_container_and_come_home() {
    let (w, want) = full_world();
    let out = w.attach("h1", "eth0");
    assert_eq!(result_ips(&out), want, "ADD result");
    assert_addrs(&w.ctr.name, "eth0", &want, "container");
    w.del("h1", "eth0").assert_ok();
    assert_addrs(&w.host.name, "h1", &want, "host after DEL");
}

/// `command` with the test hook deleting `lost` after the addresses were
/// added, `rounds` times.
#[cfg(feature = "test-hooks")]
fn run_losing(w: &World, command: &str, lost: &[&str], rounds: u32) -> Out {
    let mut env = w.env(command, "eth0");
    env.insert("HOSTDEV_LOSE_ADDRS", lost.join(","));
    env.insert("HOSTDEV_LOSE_ROUNDS", rounds.to_string());
    w.run(&env, &w.config("1.0.0", "h1"))
}

#[cfg(feature = "test-hooks")]
const LOST: [&str; 4] = ["fd00:b::181/128", "fd00:b::182/128", "fd00:b::1e6/128", "10.100.3.7/32"];

/// `command`, with LOST lost once: it succeeds, says so, and `dev` in `ns`
/// has all of `want` afterwards.
#[cfg(feature = "test-hooks")]
fn assert_put_back(w: &World, want: &BTreeSet<String>, command: &str, ns: &str, dev: &str) -> Out {
    let out = run_losing(w, command, &LOST, 1);
    out.assert_ok();
    assert_addrs(ns, dev, want, &format!("{dev} after {command}"));
    assert!(out.stderr.contains("fd00:b::181"), "the loss is not logged: {}", out.stderr);
    out
}

#[cfg(feature = "test-hooks")]
#[test]
fn addresses_the_kernel_drops_after_accepting_them_are_put_back() {
    let (w, want) = full_world();
    let out = assert_put_back(&w, &want, "ADD", &w.ctr.name, "eth0");
    assert_eq!(result_ips(&out), want, "ADD result");
}

#[cfg(feature = "test-hooks")]
#[test]
fn addresses_the_kernel_drops_on_del_are_put_back_in_the_host() {
    let (w, want) = full_world();
    w.attach("h1", "eth0");
    assert_put_back(&w, &want, "DEL", &w.host.name, "h1");
}

#[cfg(feature = "test-hooks")]
#[test]
fn addresses_the_kernel_keeps_dropping_fail_the_add_and_nothing_is_lost() {
    let (w, want) = full_world();
    let out = run_losing(&w, "ADD", &LOST, 2);
    out.assert_err(100);
    let msg = out.json["msg"].as_str().unwrap_or("");
    assert!(msg.contains("fd00:b::181") && msg.contains("eth0"), "the error names no lost address: {msg}");
    assert!(link(&w.ctr.name, "eth0").is_none(), "eth0 left in the container");
    assert_addrs(&w.host.name, "h1", &want, "host after the failed ADD");
    // The rollback finished: it read the host's addresses back, found them
    // all, and dropped the record.
    assert!(records(&w).is_empty(), "the rollback left a record: {:#?}", records(&w));
    assert!(!out.stderr.contains("rollback"), "the rollback failed: {}", out.stderr);
}

/// 2,048 refusals (EACCES: IPv6 disabled in the container) spread over 16
/// windows of the batch: ADD must see every one of them, enable IPv6 on
/// the interface and add them there. One whose refusal went unreported
/// would surface as an address the kernel "dropped".
#[test]
fn every_refusal_in_a_big_batch_is_reported() {
    let (w, want) = full_world();
    // Interfaces that arrive in the container inherit its default.
    set_sysctl(&w.ctr.name, "ipv6/conf/default/disable_ipv6", "1");
    let out = w.attach("h1", "eth0");
    // IPv6 is enabled on eth0 only after a refusal was seen.
    assert_eq!(sysctl(&w.ctr.name, "ipv6/conf/eth0/disable_ipv6"), "0", "IPv6 still disabled on eth0");
    assert!(!out.stderr.contains("dropped"), "a refusal went unreported: {}", out.stderr);
    assert_eq!(result_ips(&out), want, "ADD result");
    assert_addrs(&w.ctr.name, "eth0", &want, "container");
    w.del("h1", "eth0").assert_ok();
    assert_addrs(&w.host.name, "h1", &want, "host after DEL");
}
