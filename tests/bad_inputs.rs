//! Bad input, table-driven: every case runs the real binary against a real
//! world (a host namespace whose veth h1 carries addresses, a container
//! namespace, a private dataDir) and asserts the exact CNI error code, a
//! non-empty message naming the offending thing, that h1 is still on the
//! host exactly as it was, that neither namespace gained or lost a link,
//! and that no file under the test's temp dir (dataDir included) was
//! created, changed or removed.
//!
//! Run: cargo test --features test-hooks --test bad_inputs

mod common;

use common::*;
use serde_json::{Map, Value, json};
use std::collections::BTreeMap;
use std::ffi::OsString;
use std::io::Write;
use std::os::unix::ffi::OsStringExt;
use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use hostdev::cni::config::MAX_STDIN;
use hostdev::cni::version::SUPPORTED;

type Env = BTreeMap<&'static str, OsString>;
type EnvFn = Box<dyn Fn(&World, &mut Env)>;
type StdinFn = Box<dyn Fn(&World) -> Vec<u8>>;
type SetupFn = Box<dyn Fn(&World)>;

/// One bad input and what the plugin must answer.
struct Case {
    name: &'static str,
    code: u64,
    /// Substrings the error message must contain (the offending thing).
    mentions: Vec<String>,
    env: Vec<EnvFn>,
    stdin: StdinFn,
    setup: Vec<SetupFn>,
}

fn case(name: &'static str, code: u64) -> Case {
    Case {
        name,
        code,
        mentions: vec![],
        env: vec![],
        stdin: Box::new(|w| base_config(w).to_string().into_bytes()),
        setup: vec![],
    }
}

fn base_config(w: &World) -> Value {
    json!({
        "cniVersion": "1.0.0",
        "name": "testnet",
        "type": "hostdev",
        "device": "h1",
        "dataDir": w.data_dir(),
    })
}

impl Case {
    fn mentions(mut self, words: &[&str]) -> Case {
        self.mentions.extend(words.iter().map(|s| s.to_string()));
        self
    }

    fn command(self, command: &'static str) -> Case {
        self.set("CNI_COMMAND", command)
    }

    fn set(mut self, key: &'static str, value: &str) -> Case {
        let value = OsString::from(value);
        self.env.push(Box::new(move |_, env| {
            env.insert(key, value.clone());
        }));
        self
    }

    fn set_bytes(mut self, key: &'static str, value: &'static [u8]) -> Case {
        self.env.push(Box::new(move |_, env| {
            env.insert(key, OsString::from_vec(value.to_vec()));
        }));
        self
    }

    /// Sets `key` to a path computed from the world.
    fn set_with(mut self, key: &'static str, f: impl Fn(&World) -> String + 'static) -> Case {
        self.env.push(Box::new(move |w, env| {
            env.insert(key, OsString::from(f(w)));
        }));
        self
    }

    fn unset(mut self, key: &'static str) -> Case {
        self.env.push(Box::new(move |_, env| {
            env.remove(key);
        }));
        self
    }

    /// The base config, edited.
    fn conf(mut self, edit: impl Fn(&World, &mut Map<String, Value>) + 'static) -> Case {
        self.stdin = Box::new(move |w| {
            let Value::Object(mut m) = base_config(w) else { unreachable!() };
            edit(w, &mut m);
            Value::Object(m).to_string().into_bytes()
        });
        self
    }

    /// The base config with `key` set to `value` (null removes it).
    fn key(self, key: &'static str, value: Value) -> Case {
        self.conf(move |_, m| {
            if value.is_null() {
                m.remove(key);
            } else {
                m.insert(key.to_string(), value.clone());
            }
        })
    }

    fn raw(mut self, f: impl Fn(&World) -> Vec<u8> + 'static) -> Case {
        self.stdin = Box::new(f);
        self
    }

    fn setup(mut self, f: impl Fn(&World) + 'static) -> Case {
        self.setup.push(Box::new(f));
        self
    }
}

// ----------------------------------------------------------- world helpers

/// A file under the world's temp dir, by name.
fn tmp(w: &World, name: &str) -> String {
    w.tmp.join(name).to_string_lossy().into_owned()
}

fn record_path(w: &World) -> PathBuf {
    Path::new(&w.data_dir()).join(format!("testnet+{}+eth0.json", w.id))
}

/// Puts a record for this world's attachment (network testnet, the
/// world's container id, eth0) in the dataDir, with these bytes.
fn put_record(w: &World, bytes: &[u8]) {
    std::fs::DirBuilder::new().recursive(true).mode(0o700).create(w.data_dir()).unwrap();
    std::fs::write(record_path(w), bytes).unwrap();
    std::fs::set_permissions(record_path(w), std::fs::Permissions::from_mode(0o600)).unwrap();
}

const CORRUPT: &[u8] =
    b"{\"format\":1,\"network\":\"testnet\",\"phase\":\"attached\",\"host\":{\"name\":\"h1\"\n\xff garbage";

/// Every file under `dir` with its bytes (symlinks as their target),
/// except the store's own files (its lock, the kernel's names kept for the
/// boot), which are no attachment's.
fn tree(dir: &Path) -> BTreeMap<PathBuf, Vec<u8>> {
    let mut out = BTreeMap::new();
    let Ok(entries) = std::fs::read_dir(dir) else {
        return out;
    };
    for e in entries.flatten() {
        let p = e.path();
        let ft = e.file_type().unwrap();
        if ft.is_dir() {
            out.extend(tree(&p));
        } else if ft.is_symlink() {
            out.insert(p.clone(), std::fs::read_link(&p).unwrap().into_os_string().into_vec());
        } else if !STORE_FILES.contains(&e.file_name().to_string_lossy().as_ref()) {
            out.insert(p.clone(), std::fs::read(&p).unwrap_or_default());
        }
    }
    out
}

/// Runs the plugin in the host namespace with exactly `env` (plus PATH).
fn run_raw(w: &World, env: &Env, stdin: &[u8]) -> (std::process::ExitStatus, Out) {
    let mut child = Command::new("timeout")
        .args(["60", "ip", "netns", "exec", &w.host.name, BIN])
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .envs(env.iter().map(|(k, v)| (*k, v)))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn plugin");
    let mut input = child.stdin.take().unwrap();
    let stdin = stdin.to_vec();
    // A writer thread: the plugin may stop reading (oversized stdin) and
    // answer before we are done writing.
    let writer = std::thread::spawn(move || {
        let _ = input.write_all(&stdin);
    });
    let out = child.wait_with_output().expect("wait plugin");
    let _ = writer.join();
    (out.status, Out::from_output(&out))
}

/// The cniVersion an error must carry: the config's, when the config is
/// readable and names a supported version.
fn echoed_version(stdin: &[u8]) -> Option<String> {
    if stdin.len() > MAX_STDIN {
        return None;
    }
    let v: Value = serde_json::from_slice(stdin).ok()?;
    let version = v.get("cniVersion")?.as_str()?;
    SUPPORTED.contains(&version).then(|| version.to_string())
}

/// Runs one case in a fresh world; returns what went wrong, if anything.
fn check(case: &Case) -> Result<(), String> {
    let w = World::new();
    let before = w.host_veth("h1", true);
    for setup in &case.setup {
        setup(&w);
    }
    let host_names = link_names(&w.host.name);
    let ctr_names = link_names(&w.ctr.name);
    let files = tree(&w.tmp);
    let mut env: Env = w.env("ADD", "eth0").into_iter().map(|(k, v)| (k, OsString::from(v))).collect();
    for f in &case.env {
        f(&w, &mut env);
    }
    let stdin = (case.stdin)(&w);

    let (status, out) = run_raw(&w, &env, &stdin);

    let mut problems = Vec::new();
    let json = &out.json;
    // Shown with --nocapture: what each bad input got.
    eprintln!("[{}] {} {}", case.name, json["code"], json["msg"]);
    if status.success() || status.code().is_none() {
        problems.push(format!("exit status {status:?}, expected a non-zero exit"));
    }
    if json["code"].as_u64() != Some(case.code) {
        problems.push(format!("code {:?}, expected {}", json["code"], case.code));
    }
    let msg = json["msg"].as_str().unwrap_or("");
    if msg.is_empty() {
        problems.push("empty or missing msg".into());
    }
    for word in &case.mentions {
        if !msg.contains(word.as_str()) {
            problems.push(format!("msg does not mention {word:?}"));
        }
    }
    match (json["cniVersion"].as_str(), echoed_version(&stdin)) {
        (Some(v), _) if !SUPPORTED.contains(&v) => {
            problems.push(format!("error cniVersion {v:?} is not a supported version"))
        }
        // Errors found in the environment come before stdin is read.
        (Some(v), Some(want)) if v != want && case.code != 4 => {
            problems.push(format!("error cniVersion {v:?}, the config says {want:?}"))
        }
        (None, _) => problems.push("error has no cniVersion".into()),
        _ => {}
    }
    if out.stdout.lines().count() != 1 {
        problems.push("stdout is not exactly one JSON line".into());
    }
    let now = link(&w.host.name, "h1");
    if now.as_ref() != Some(&before) {
        problems.push(format!("h1 changed: {now:?}, was {before:?}"));
    }
    let host_now = link_names(&w.host.name);
    if host_now != host_names {
        problems.push(format!("host links changed: {host_now:?}, were {host_names:?}"));
    }
    let ctr_now = link_names(&w.ctr.name);
    if ctr_now != ctr_names {
        problems.push(format!("container links changed: {ctr_now:?}, were {ctr_names:?}"));
    }
    let files_now = tree(&w.tmp);
    if files_now != files {
        let added: Vec<_> = files_now.keys().filter(|k| !files.contains_key(*k)).collect();
        let removed: Vec<_> = files.keys().filter(|k| !files_now.contains_key(*k)).collect();
        let changed: Vec<_> =
            files.iter().filter(|(k, v)| files_now.get(*k).is_some_and(|n| n != *v)).map(|(k, _)| k).collect();
        problems.push(format!("files changed: added {added:?}, removed {removed:?}, modified {changed:?}"));
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(format!(
            "{}:\n    - {}\n    plugin stdout: {}    stderr: {}",
            case.name,
            problems.join("\n    - "),
            out.stdout,
            out.stderr
        ))
    }
}

fn run_table(cases: Vec<Case>) {
    let failures: Vec<String> = cases.iter().filter_map(|c| check(c).err()).collect();
    assert!(
        failures.is_empty(),
        "{} of {} bad inputs mishandled:\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n")
    );
}

// ------------------------------------------------------------------ tables

fn env_cases() -> Vec<Case> {
    vec![
        case("unknown CNI_COMMAND", 4).command("FROB").mentions(&["CNI_COMMAND", "FROB"]),
        case("lower-case CNI_COMMAND", 4).command("add").mentions(&["CNI_COMMAND"]),
        case("non-UTF-8 CNI_COMMAND", 4).set_bytes("CNI_COMMAND", b"AD\xffD").mentions(&["CNI_COMMAND"]),
        case("missing CNI_CONTAINERID", 4).unset("CNI_CONTAINERID").mentions(&["CNI_CONTAINERID"]),
        case("empty CNI_CONTAINERID", 4).set("CNI_CONTAINERID", "").mentions(&["CNI_CONTAINERID"]),
        case("CNI_CONTAINERID with '/'", 4).set("CNI_CONTAINERID", "abc/def").mentions(&["CNI_CONTAINERID", "abc/def"]),
        case("CNI_CONTAINERID ../x", 4).set("CNI_CONTAINERID", "../x").mentions(&["CNI_CONTAINERID"]),
        case("CNI_CONTAINERID starting with '-'", 4).set("CNI_CONTAINERID", "-rf").mentions(&["CNI_CONTAINERID"]),
        case("non-UTF-8 CNI_CONTAINERID", 4).set_bytes("CNI_CONTAINERID", b"ctr\xfe1").mentions(&["CNI_CONTAINERID"]),
        case("missing CNI_IFNAME", 4).unset("CNI_IFNAME").mentions(&["CNI_IFNAME"]),
        case("CNI_IFNAME with '/'", 4).set("CNI_IFNAME", "eth/0").mentions(&["CNI_IFNAME", "eth/0"]),
        case("CNI_IFNAME ..", 4).set("CNI_IFNAME", "..").mentions(&["CNI_IFNAME"]),
        case("CNI_IFNAME with ':'", 4).set("CNI_IFNAME", "eth0:1").mentions(&["CNI_IFNAME"]),
        case("CNI_IFNAME with a space", 4).set("CNI_IFNAME", "eth 0").mentions(&["CNI_IFNAME"]),
        case("CNI_IFNAME too long (16 bytes)", 4)
            .set("CNI_IFNAME", "abcdefghijklmnop")
            .mentions(&["CNI_IFNAME", "abcdefghijklmnop"]),
        case("non-UTF-8 CNI_IFNAME", 4).set_bytes("CNI_IFNAME", b"eth\xff0").mentions(&["CNI_IFNAME"]),
        case("DEL with CNI_IFNAME with '/'", 4).command("DEL").set("CNI_IFNAME", "../../x").mentions(&["CNI_IFNAME"]),
        case("CHECK with a missing CNI_CONTAINERID", 4)
            .command("CHECK")
            .unset("CNI_CONTAINERID")
            .mentions(&["CNI_CONTAINERID"]),
        case("missing CNI_NETNS for ADD", 4).unset("CNI_NETNS").mentions(&["CNI_NETNS"]),
        case("non-UTF-8 CNI_NETNS", 4).set_bytes("CNI_NETNS", b"/run/netns/\xff").mentions(&["CNI_NETNS"]),
        case("IPAM with no CNI_PATH (after the move: rolled back)", 4)
            .unset("CNI_PATH")
            .key("ipam", static_ipam("192.0.2.10/24"))
            .mentions(&["CNI_PATH"]),
    ]
}

fn decode_cases() -> Vec<Case> {
    vec![
        case("empty stdin", 6).raw(|_| vec![]),
        case("JSON array instead of an object", 6)
            .raw(|_| b"[{\"cniVersion\":\"1.0.0\",\"name\":\"n\"}]".to_vec())
            .mentions(&["object"]),
        case("JSON string instead of an object", 6).raw(|_| b"\"hostdev\"".to_vec()),
        case("JSON null", 6).raw(|_| b"null".to_vec()),
        case("truncated JSON", 6).raw(|w| {
            let s = base_config(w).to_string();
            s.as_bytes()[..s.len() / 2].to_vec()
        }),
        case("trailing garbage after the object", 6).raw(|w| format!("{} x", base_config(w)).into_bytes()),
        case("non-UTF-8 stdin", 6)
            .raw(|w| {
                let mut v = base_config(w).to_string().into_bytes();
                let at = v.len() - 1;
                v.splice(at..at, b",\"x\":\"\xff\xfe\"".iter().copied());
                v
            })
            .mentions(&["UTF-8"]),
        case("oversized stdin (1 MiB + 1, valid JSON padded)", 6)
            .raw(|w| {
                let mut v = base_config(w).to_string().into_bytes();
                v.resize(MAX_STDIN + 1, b' ');
                v
            })
            .mentions(&["1048576"]),
        case("oversized stdin (8 MiB)", 6)
            .raw(|w| {
                let s = base_config(w).to_string();
                let pad = "x".repeat(8 << 20);
                format!("{}, \"pad\": \"{pad}\"}}", &s[..s.len() - 1]).into_bytes()
            })
            .mentions(&["1048576"]),
        case("nesting 200 levels deep", 6).raw(|w| {
            let s = base_config(w).to_string();
            format!("{}, \"deep\": {}{}}}", &s[..s.len() - 1], "[".repeat(200), "]".repeat(200)).into_bytes()
        }),
        case("objects nested 200 levels deep", 6).raw(|w| {
            let s = base_config(w).to_string();
            format!("{}, \"deep\": {}1{}}}", &s[..s.len() - 1], "{\"a\":".repeat(200), "}".repeat(200)).into_bytes()
        }),
    ]
}

fn config_cases() -> Vec<Case> {
    vec![
        case("unknown cniVersion", 1).key("cniVersion", json!("9.9.9")).mentions(&["9.9.9"]),
        case("cniVersion a number", 7).key("cniVersion", json!(1.0)).mentions(&["cniVersion"]),
        case("missing name", 7).key("name", Value::Null).mentions(&["name"]),
        case("name a number", 7).key("name", json!(7)).mentions(&["name"]),
        case("network name ../x", 7).key("name", json!("../x")).mentions(&["name", "../x"]),
        case("network name with '/'", 7).key("name", json!("a/b")).mentions(&["name", "a/b"]),
        case("network name empty", 7).key("name", json!("")).mentions(&["name"]),
        case("device a number", 7).key("device", json!(5)).mentions(&["device"]),
        case("device an object", 7).key("device", json!({"name": "h1"})).mentions(&["device"]),
        case("device empty", 7).key("device", json!("")).mentions(&["device"]),
        case("no device selected", 7).key("device", Value::Null).mentions(&["device"]),
        case("dataDir an array", 7).key("dataDir", json!([])).mentions(&["dataDir"]),
        case("dataDir a number", 7).key("dataDir", json!(700)).mentions(&["dataDir"]),
        case("dataDir relative", 7)
            .key("dataDir", json!("hostdev-relative-datadir"))
            .mentions(&["dataDir", "hostdev-relative-datadir"]),
        case("dataDir is a regular file", 106)
            .setup(|w| std::fs::write(tmp(w, "datadir-file"), b"not a directory").unwrap())
            .conf(|w, m| {
                m.insert("dataDir".into(), json!(tmp(w, "datadir-file")));
            })
            .mentions(&["datadir-file"]),
        case("dataDir under a regular file", 106)
            .setup(|w| std::fs::write(tmp(w, "datadir-file"), b"not a directory").unwrap())
            .conf(|w, m| {
                m.insert("dataDir".into(), json!(tmp(w, "datadir-file/sub")));
            })
            .mentions(&["datadir-file"]),
        case("ipam a string", 7).key("ipam", json!("static")).mentions(&["ipam"]),
        case("ipam.type a number", 7).key("ipam", json!({"type": 3})).mentions(&["ipam.type"]),
        case("ipam.type a path", 7).key("ipam", json!({"type": "../../bin/sh"})).mentions(&["ipam.type"]),
        case("allowDefaultRoute a string", 7).key("allowDefaultRoute", json!("yes")).mentions(&["allowDefaultRoute"]),
        case("allowDefaultRoute a number", 7).key("allowDefaultRoute", json!(1)).mentions(&["allowDefaultRoute"]),
        case("dns a string", 7).key("dns", json!("192.0.2.53")).mentions(&["dns"]),
        case("dns.nameservers a string", 7).key("dns", json!({"nameservers": "192.0.2.53"})).mentions(&["dns"]),
        case("prevResult an array", 7).key("prevResult", json!([])).mentions(&["prevResult"]),
        case("runtimeConfig a string", 7).key("runtimeConfig", json!("x")).mentions(&["runtimeConfig"]),
        case("logLevel a number", 7).key("logLevel", json!(3)).mentions(&["logLevel"]),
        case("logFile a boolean", 7).key("logFile", json!(true)).mentions(&["logFile"]),
    ]
}

fn netns_cases() -> Vec<Case> {
    vec![
        case("CNI_NETNS a regular file", 105)
            .setup(|w| std::fs::write(tmp(w, "regular-file"), b"x").unwrap())
            .set_with("CNI_NETNS", |w| tmp(w, "regular-file"))
            .mentions(&["CNI_NETNS", "regular-file"]),
        case("CNI_NETNS a directory", 105)
            .setup(|w| std::fs::create_dir(tmp(w, "a-directory")).unwrap())
            .set_with("CNI_NETNS", |w| tmp(w, "a-directory"))
            .mentions(&["CNI_NETNS", "a-directory"]),
        case("CNI_NETNS a mount namespace", 105)
            .set("CNI_NETNS", "/proc/self/ns/mnt")
            .mentions(&["CNI_NETNS", "/proc/self/ns/mnt"]),
        case("CNI_NETNS a symlink to a regular file", 105)
            .setup(|w| {
                std::fs::write(tmp(w, "regular-file"), b"x").unwrap();
                std::os::unix::fs::symlink(tmp(w, "regular-file"), tmp(w, "netns-link")).unwrap();
            })
            .set_with("CNI_NETNS", |w| tmp(w, "netns-link"))
            .mentions(&["CNI_NETNS", "netns-link"]),
        case("CNI_NETNS nonexistent", 105)
            .set_with("CNI_NETNS", |w| format!("/run/netns/{}-no-such-ns", w.id))
            .mentions(&["CNI_NETNS", "no-such-ns"]),
        case("CNI_NETNS relative nonexistent", 105)
            .set("CNI_NETNS", "no-such-netns-here")
            .mentions(&["no-such-netns-here"]),
        case("CNI_NETNS the host's own namespace", 105)
            .set_with("CNI_NETNS", |w| w.host.path())
            .mentions(&["CNI_NETNS"]),
        case("CNI_NETNS the plugin's own /proc/self/ns/net", 105)
            .set("CNI_NETNS", "/proc/self/ns/net")
            .mentions(&["CNI_NETNS"]),
    ]
}

fn state_cases() -> Vec<Case> {
    vec![
        case("DEL with a corrupt record (kept byte for byte)", 106)
            .command("DEL")
            .setup(|w| put_record(w, CORRUPT))
            .mentions(&["corrupt"]),
        case("ADD with a corrupt record for the same attachment", 106)
            .setup(|w| put_record(w, CORRUPT))
            .mentions(&["corrupt"]),
        case("DEL with a record of an unknown format", 106)
            .command("DEL")
            .setup(|w| {
                // A well-formed record from a future version of the format.
                let rec = json!({
                    "format": 99, "network": "testnet", "containerId": w.id, "ifname": "eth0",
                    "phase": "attached", "addrs": [],
                    "host": {"index": 2, "name": "h1", "mac": "02:00:00:00:00:01", "mtu": 1500, "up": true},
                });
                put_record(w, rec.to_string().as_bytes())
            })
            .mentions(&["format"]),
        case("DEL with an empty record file", 106).command("DEL").setup(|w| put_record(w, b"")),
        case("GC with a corrupt record (kept)", 106)
            .command("GC")
            .conf(|_, m| {
                m.insert("cniVersion".into(), json!("1.1.0"));
                m.insert("cni.dev/valid-attachments".into(), json!([]));
            })
            .setup(|w| put_record(w, CORRUPT))
            .mentions(&["corrupt"]),
    ]
}

fn command_cases() -> Vec<Case> {
    vec![
        case("CHECK with cniVersion 0.3.1", 1).command("CHECK").key("cniVersion", json!("0.3.1")).mentions(&["CHECK"]),
        case("CHECK without prevResult", 7).command("CHECK").mentions(&["prevResult"]),
        case("CHECK of an attachment that does not exist", 108)
            .command("CHECK")
            .conf(|w, m| {
                m.insert(
                    "prevResult".into(),
                    json!({"cniVersion": "1.0.0", "interfaces": [{"name": "eth0", "sandbox": w.ctr.path()}], "ips": []}),
                );
            })
            .mentions(&["eth0"]),
        case("GC with cniVersion 1.0.0", 1).command("GC").mentions(&["GC"]),
        case("STATUS with cniVersion 0.4.0", 1).command("STATUS").key("cniVersion", json!("0.4.0")).mentions(&["STATUS"]),
        case("GC with valid-attachments not an array", 7)
            .command("GC")
            .conf(|_, m| {
                m.insert("cniVersion".into(), json!("1.1.0"));
                m.insert("cni.dev/valid-attachments".into(), json!({"containerID": "x"}));
            })
            .mentions(&["cni.dev/valid-attachments"]),
        case("GC with a valid-attachments entry without ifname", 7)
            .command("GC")
            .conf(|_, m| {
                m.insert("cniVersion".into(), json!("1.1.0"));
                m.insert("cni.dev/valid-attachments".into(), json!([{"containerID": "x"}]));
            })
            .mentions(&["cni.dev/valid-attachments"]),
    ]
}

fn device_cases() -> Vec<Case> {
    vec![
        case("device lo", 104).key("device", json!("lo")).mentions(&["\"lo\" cannot be moved", "loopback"]),
        case("device a bridge", 104)
            .setup(|w| {
                ip(&w.host.name, &["link", "add", "hdbr0", "type", "bridge"]);
            })
            .key("device", json!("hdbr0"))
            .mentions(&["\"hdbr0\" cannot be moved", "netns-immutable"]),
        case("unknown device", 101).key("device", json!("nosuchdev0")).mentions(&["nosuchdev0"]),
        case("CNI_IFNAME already in the container", 103)
            .setup(|w| {
                w.ctr_veth("eth0");
            })
            .mentions(&["eth0"]),
        case("an altname of h1 exists in the container", 103)
            .setup(|w| {
                w.ctr_veth("h1-alt");
            })
            .mentions(&["h1-alt"]),
        case("IPAM type missing from CNI_PATH (rolled back)", 109)
            .key("ipam", json!({"type": "hostdev-no-such-ipam"}))
            .mentions(&["hostdev-no-such-ipam"]),
        case("IPAM plugin that is a directory on CNI_PATH (rolled back)", 109)
            .setup(|w| std::fs::create_dir_all(tmp(w, "cni-bin/dir-ipam")).unwrap())
            .set_with("CNI_PATH", |w| tmp(w, "cni-bin"))
            .key("ipam", json!({"type": "dir-ipam"}))
            .mentions(&["dir-ipam"]),
        case("IPAM plugin that prints garbage (rolled back)", 109)
            .setup(|w| {
                std::fs::create_dir_all(tmp(w, "cni-bin")).unwrap();
                let p = tmp(w, "cni-bin/junk-ipam");
                std::fs::write(&p, "#!/bin/sh\ncat >/dev/null\necho 'this is not json'\n").unwrap();
                std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).unwrap();
            })
            .set_with("CNI_PATH", |w| tmp(w, "cni-bin"))
            .key("ipam", json!({"type": "junk-ipam"}))
            .mentions(&["junk-ipam"]),
    ]
}

// ------------------------------------------------------------------- tests

#[test]
fn bad_environment() {
    run_table(env_cases());
}

#[test]
fn undecodable_stdin() {
    run_table(decode_cases());
}

#[test]
fn bad_config() {
    run_table(config_cases());
    assert!(!Path::new("hostdev-relative-datadir").exists(), "a relative dataDir was created in the cwd");
}

#[test]
fn bad_netns() {
    run_table(netns_cases());
}

#[test]
fn bad_state() {
    run_table(state_cases());
}

#[test]
fn commands_in_the_wrong_version_or_shape() {
    run_table(command_cases());
}

#[test]
fn devices_that_cannot_be_given() {
    run_table(device_cases());
}

/// The boundary: exactly 1 MiB of stdin is still accepted (a DEL with no
/// record: success, nothing changes).
#[test]
fn stdin_of_exactly_1_mib_is_accepted() {
    let w = World::new();
    let before = w.host_veth("h1", true);
    let mut stdin = base_config(&w).to_string().into_bytes();
    stdin.resize(MAX_STDIN, b' ');
    let env: Env = w.env("DEL", "eth0").into_iter().map(|(k, v)| (k, OsString::from(v))).collect();
    let (status, out) = run_raw(&w, &env, &stdin);
    assert!(status.success(), "{out:#?}");
    assert_eq!(link(&w.host.name, "h1"), Some(before));
}
