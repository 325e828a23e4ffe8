//! The log, as an operator reads it at 3 a.m.: one line format for every
//! command and for config errors (parsed here field by field), Multus's
//! level names, `logFile` refused when relative, said once when it cannot
//! be opened, and bounded by rotation that trusts no name in its directory.
//!
//! Run: cargo test --features test-hooks --test logs

mod common;

use common::*;
use serde_json::json;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// The rotation size (src/log/file.rs MAX_BYTES, documented in README).
const MAX_BYTES: u64 = 10 << 20;

/// One line split into its `key=value` pairs, in order; a quoted value is
/// unescaped. Panics on anything else: the format is the contract.
fn parse_line(line: &str) -> Vec<(String, String)> {
    let mut pairs = Vec::new();
    let mut rest = line;
    while !rest.is_empty() {
        let (key, after) = rest.split_once('=').unwrap_or_else(|| panic!("no key=value at {rest:?} in {line:?}"));
        assert!(!key.is_empty() && key.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'), "key {key:?}");
        let (value, after) = if let Some(quoted) = after.strip_prefix('"') {
            let end = closing_quote(quoted).unwrap_or_else(|| panic!("unclosed quote in {line:?}"));
            (quoted[..end].replace("\\\"", "\"").replace("\\\\", "\\"), &quoted[end + 1..])
        } else {
            let end = after.find(' ').unwrap_or(after.len());
            (after[..end].to_string(), &after[end..])
        };
        pairs.push((key.to_string(), value));
        rest = after.strip_prefix(' ').unwrap_or(after);
        assert!(after.is_empty() || after.starts_with(' '), "no space after a value in {line:?}");
    }
    pairs
}

fn closing_quote(s: &str) -> Option<usize> {
    let mut escaped = false;
    for (i, c) in s.char_indices() {
        match c {
            '\\' if !escaped => escaped = true,
            '"' if !escaped => return Some(i),
            _ => escaped = false,
        }
    }
    None
}

/// A time like 2026-12-04T18:24:01.284Z: d is any digit.
fn is_rfc3339_millis(t: &str) -> bool {
    let pattern = "dddd-dd-ddTdd:dd:dd.dddZ";
    t.len() == pattern.len() && t.chars().zip(pattern.chars()).all(|(c, p)| c == p || (p == 'd' && c.is_ascii_digit()))
}

/// Checks one line's fixed fields: their order, and exactly `expect` of
/// command, network, container and ifname. Returns all pairs.
fn check_line(line: &str, expect: &[(&str, &str)]) -> BTreeMap<String, String> {
    let pairs = parse_line(line);
    let keys: Vec<&str> = pairs.iter().map(|(k, _)| k.as_str()).collect();
    let mut want: Vec<&str> = vec!["time", "level"];
    want.extend(expect.iter().map(|(k, _)| *k));
    want.push("msg");
    assert_eq!(&keys[..want.len()], &want[..], "fields of {line:?}");
    let map: BTreeMap<String, String> = pairs.into_iter().collect();
    assert!(is_rfc3339_millis(&map["time"]), "time of {line:?}");
    assert!(["error", "warn", "info", "debug"].contains(&map["level"].as_str()), "level of {line:?}");
    for (k, v) in expect {
        assert_eq!(map[*k], *v, "{k} of {line:?}");
    }
    assert!(!map["msg"].is_empty(), "{line:?}");
    map
}

fn log_conf(w: &World, version: &str, log: &Path, level: &str) -> String {
    conf(w, version, "h1", json!({"logFile": log, "logLevel": level}))
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_default()
}

/// ADD and DEL lines name the command, network, container and interface;
/// STATUS and GC lines name no attachment and print no empty field; a
/// config error on stderr has the same form.
#[test]
fn every_line_has_one_format() {
    let w = World::new();
    w.host_veth("h1", true);
    let log = w.tmp.join("hostdev.log");
    for command in ["ADD", "DEL"] {
        w.run(&w.env(command, "eth0"), &log_conf(&w, "1.1.0", &log, "debug")).assert_ok();
        let text = read(&log);
        let lines: Vec<&str> = text.lines().filter(|l| l.contains(&format!("command={command} "))).collect();
        assert!(!lines.is_empty(), "no {command} line:\n{text}");
        let attachment = [("command", command), ("network", "testnet"), ("container", &w.id), ("ifname", "eth0")];
        for line in lines {
            check_line(line, &attachment);
        }
    }
    w.run(&plain_env("STATUS"), &log_conf(&w, "1.1.0", &log, "debug")).assert_ok();
    w.run(
        &plain_env("GC"),
        &conf(
            &w,
            "1.1.0",
            "h1",
            json!({"logFile": log, "logLevel": "debug",
        "cni.dev/valid-attachments": []}),
        ),
    )
    .assert_ok();
    // STATUS as containerd sends it, with a container id: still not about one.
    w.run(&w.env("STATUS", "eth0"), &conf(&w, "1.1.0", "h2", json!({"logFile": log, "logLevel": "debug"})))
        .assert_err(50);
    let text = read(&log);
    for command in ["STATUS", "GC"] {
        let lines: Vec<&str> = text.lines().filter(|l| l.contains(&format!("command={command} "))).collect();
        assert!(!lines.is_empty(), "no {command} line:\n{text}");
        for line in lines {
            check_line(line, &[("command", command), ("network", "testnet")]);
        }
    }
    let bad = conf(&w, "1.0.0", "h1", json!({"dataDir": "relative"}));
    let out = w.run(&w.env("ADD", "eth1"), &bad);
    out.assert_err(7);
    let line = out.stderr.lines().next().unwrap_or_else(|| panic!("no config error on stderr: {out:#?}"));
    let fields = check_line(line, &[("command", "ADD"), ("container", &w.id), ("ifname", "eth1")]);
    assert_eq!(fields["level"], "error");
    assert!(fields["msg"].contains("dataDir"), "{line}");
}

/// GC's debug line says how many attachments the runtime called valid and
/// how many of the network's records it found stale: here one of two.
#[test]
fn gc_counts_the_stale_attachments() {
    let w = World::new();
    w.host_veth("h1", true);
    w.host_veth("h2", true);
    w.attach("h1", "eth0");
    w.attach("h2", "net1");
    let log = w.tmp.join("hostdev.log");
    let valid = json!([{"containerID": w.id, "ifname": "eth0"}]);
    let gc = json!({"logFile": log, "logLevel": "debug", "cni.dev/valid-attachments": valid});
    w.run(&plain_env("GC"), &conf(&w, "1.1.0", "h1", gc)).assert_ok();
    let text = read(&log);
    let line = text.lines().find(|l| l.contains("attachments checked")).unwrap_or_else(|| panic!("{text}"));
    assert!(line.contains("valid=1 stale=1 problems=0"), "{line}");
    assert!(link(&w.host.name, "h2").is_some(), "GC left the stale net1 in the container:\n{text}");
    w.del("h1", "eth0").assert_ok();
}

/// An interface name chosen by the pod cannot write escape sequences into
/// the log (the kernel and libcni accept this one).
#[test]
fn control_characters_are_escaped() {
    let w = World::new();
    let log = w.tmp.join("hostdev.log");
    let ifname = "e\u{1b}]0;pwn\u{7}";
    w.run(&w.env("ADD", ifname), &log_conf(&w, "1.0.0", &log, "debug"));
    let text = read(&log);
    assert!(!text.is_empty() && !text.contains('\u{1b}') && !text.contains('\u{7}'), "{text:?}");
    for line in text.lines() {
        let fields = parse_line(line);
        assert!(fields.iter().any(|(k, v)| k == "ifname" && v.contains("\\u{1b}")), "{line}");
    }
}

/// Multus's level names work: verbose is info, panic is error; an unknown
/// one is said on stderr and the default (warn) applies.
#[test]
fn multus_level_names_are_accepted() {
    let w = World::new();
    w.host_veth("h1", true);
    // The levels of the lines one ADD and DEL log at `level`.
    let levels_at = |level: &str| -> (Vec<String>, String) {
        let log = w.tmp.join(format!("{level}.log"));
        let c = log_conf(&w, "1.0.0", &log, level);
        let mut stderr = w.run(&w.env("ADD", "eth0"), &c).assert_ok().stderr.clone();
        stderr += &w.run(&w.env("DEL", "eth0"), &c).assert_ok().stderr;
        (read(&log).lines().map(|l| parse_line(l)[1].1.clone()).collect(), stderr)
    };
    let (info, _) = levels_at("info");
    assert!(info.iter().any(|l| l == "info"), "{info:?}");
    assert_eq!(levels_at("verbose").0, info, "verbose logs what info logs");
    assert!(levels_at("panic").0.is_empty(), "panic logs errors only, and there are none");
    assert!(levels_at("debug").0.iter().any(|l| l == "debug"), "debug");
    let (levels, stderr) = levels_at("chatty");
    assert!(levels.iter().all(|l| l == "warn" || l == "error"), "{levels:?}");
    let said = stderr.lines().find(|l| l.contains("logLevel")).unwrap_or_else(|| panic!("{stderr}"));
    let fields =
        check_line(said, &[("command", "ADD"), ("network", "testnet"), ("container", &w.id), ("ifname", "eth0")]);
    assert!(fields["msg"].contains("\"chatty\" is unknown"), "{said}");
}

/// A relative logFile is refused (7) naming the key and the value, before
/// anything changes; no file appears in the plugin's working directory.
#[test]
fn relative_log_file_is_refused() {
    let w = World::new();
    let before = w.host_veth("h1", true);
    let out = w.run(&w.env("ADD", "eth0"), &conf(&w, "1.0.0", "h1", json!({"logFile": "hostdev.log"})));
    out.assert_err(7);
    let msg = out.json["msg"].as_str().unwrap();
    assert!(msg.contains("\"logFile\"") && msg.contains("\"hostdev.log\"") && msg.contains("absolute"), "{msg}");
    assert_eq!(link(&w.host.name, "h1"), Some(before), "h1 moved");
    assert!(records(&w).is_empty());
}

/// A logFile in a missing directory is said once on stderr, naming it and
/// why; the log then goes to stderr.
#[test]
fn unopenable_log_file_is_said_once_then_stderr() {
    let w = World::new();
    w.host_veth("h1", true);
    let log = w.tmp.join("no-such-dir/hostdev.log");
    let out = w.run(&w.env("ADD", "eth0"), &log_conf(&w, "1.0.0", &log, "info"));
    out.assert_ok();
    let said: Vec<&str> = out.stderr.lines().filter(|l| l.contains("cannot log to logFile")).collect();
    assert_eq!(said.len(), 1, "{}", out.stderr);
    let fields =
        check_line(said[0], &[("command", "ADD"), ("network", "testnet"), ("container", &w.id), ("ifname", "eth0")]);
    assert!(fields["msg"].contains(&log.display().to_string()) && fields["msg"].contains("No such file"), "{said:?}");
    assert!(
        out.stderr.lines().any(|l| l.contains("msg=\"moving the interface into the container\" device=h1")),
        "the log is on stderr: {}",
        out.stderr
    );
    w.run(&w.env("DEL", "eth0"), &conf(&w, "1.0.0", "h1", json!({}))).assert_ok();
}

/// A log file at the cap (a sparse file) is rotated to logFile.1 before
/// the call writes; the new file gets the lines.
#[test]
fn a_full_log_file_is_rotated() {
    let w = World::new();
    w.host_veth("h1", true);
    let log = w.tmp.join("hostdev.log");
    std::fs::File::create(&log).unwrap().set_len(MAX_BYTES).unwrap();
    std::fs::write(rotated(&log), b"the older rotation\n").unwrap();
    w.run(&plain_env("STATUS"), &log_conf(&w, "1.1.0", &log, "debug")).assert_ok();
    assert_eq!(std::fs::metadata(rotated(&log)).unwrap().len(), MAX_BYTES, "not rotated");
    let text = read(&log);
    assert!(!text.is_empty() && (text.len() as u64) < MAX_BYTES, "the new file has the lines: {text:?}");
}

/// Makes something at a path.
type Plant<'a> = dyn Fn(&Path) + 'a;

/// Rotation replaces logFile.1 only when it is a regular file: a symlink
/// planted there is not followed, and a directory or FIFO is not
/// clobbered; the call says why on stderr and logs there.
#[test]
fn rotation_trusts_no_planted_name() {
    let w = World::new();
    w.host_veth("h1", true);
    let victim = w.tmp.join("victim");
    std::fs::write(&victim, b"precious").unwrap();
    let plant: [(&str, &Plant); 3] = [
        ("symlink", &|p| std::os::unix::fs::symlink(&victim, p).unwrap()),
        ("directory", &|p| std::fs::create_dir(p).unwrap()),
        ("fifo", &|p| nix::unistd::mkfifo(p, nix::sys::stat::Mode::from_bits_truncate(0o600)).unwrap()),
    ];
    for (what, plant) in plant {
        let log = w.tmp.join(format!("{what}.log"));
        std::fs::File::create(&log).unwrap().set_len(MAX_BYTES).unwrap();
        plant(&rotated(&log));
        let kind = std::fs::symlink_metadata(rotated(&log)).unwrap().file_type();
        let out = w.run(&plain_env("STATUS"), &log_conf(&w, "1.1.0", &log, "debug"));
        out.assert_ok();
        assert_eq!(std::fs::symlink_metadata(rotated(&log)).unwrap().file_type(), kind, "{what} replaced");
        assert_eq!(std::fs::read(&victim).unwrap(), b"precious", "{what}: written through");
        assert_eq!(std::fs::metadata(&log).unwrap().len(), MAX_BYTES, "{what}: the log grew or moved");
        assert!(out.stderr.contains("is not a regular file, so it is not replaced"), "{what}: {}", out.stderr);
    }
}

fn rotated(log: &Path) -> PathBuf {
    PathBuf::from(format!("{}.1", log.display()))
}
