//! hostdev: a CNI plugin that gives a container an existing host network
//! interface. This file only reads the environment and stdin, runs one
//! command, and prints its outcome; without CNI_COMMAND it hands over to
//! the operator's command line (`cli`).

use std::io::{Read, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use hostdev::cni::{self, Command, Env, Error, NetConf, code};
use hostdev::{cli, cmd, log};
use serde_json::Value;

/// On musl (the x86_64 build, see .cargo/config.toml) dlmalloc replaces
/// musl's own allocator, which made an ADD of a device with 1,024 addresses
/// cost half as much CPU again as with glibc's.
#[cfg(target_env = "musl")]
#[global_allocator]
static ALLOC: heap::Heap = heap::Heap::new();

/// dlmalloc behind std's own lock. dlmalloc's `global` feature locks a
/// pthread mutex around every call, and musl's lock and unlock (type,
/// robust list and waiter checks) were a third of the allocator's
/// instructions in an ADD of some 2,000 allocations; std's mutex is one
/// atomic exchange each way when, as always here, nobody else holds it.
#[cfg(target_env = "musl")]
mod heap {
    use std::alloc::{GlobalAlloc, Layout};
    use std::sync::{Mutex, MutexGuard, PoisonError};

    use dlmalloc::Dlmalloc;

    pub struct Heap(Mutex<Dlmalloc>);

    impl Heap {
        pub const fn new() -> Heap {
            Heap(Mutex::new(Dlmalloc::new()))
        }

        fn lock(&self) -> MutexGuard<'_, Dlmalloc> {
            self.0.lock().unwrap_or_else(PoisonError::into_inner)
        }
    }

    // SAFETY: every call goes to dlmalloc under the one lock, with the
    // layout the caller gave, as GlobalAlloc's contract asks.
    unsafe impl GlobalAlloc for Heap {
        unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
            unsafe { self.lock().malloc(layout.size(), layout.align()) }
        }

        unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
            unsafe { self.lock().calloc(layout.size(), layout.align()) }
        }

        unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
            unsafe { self.lock().free(ptr, layout.size(), layout.align()) }
        }

        unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
            unsafe { self.lock().realloc(ptr, layout.size(), layout.align(), new_size) }
        }
    }
}

fn main() -> ExitCode {
    let env = Env::read(|k| std::env::var_os(k));
    if let Ok(None) = env {
        return cli::main(&std::env::args_os().skip(1).collect::<Vec<_>>());
    }
    // A runtime always sends the config: read it before reporting anything,
    // so every error speaks the config's cniVersion.
    let stdin = match read_stdin() {
        Ok(bytes) => bytes,
        Err(e) => return fail(&e, &[]),
    };
    let env = match env {
        Ok(Some(env)) => {
            log::set_context(context(&env, String::new()));
            env
        }
        Ok(None) => unreachable!("handled above"),
        Err(e) => return fail(&e, &stdin),
    };
    match run(&env, &stdin) {
        Ok(Some(out)) => print(&out),
        Ok(None) => ExitCode::SUCCESS,
        Err(e) => fail(&e, &stdin),
    }
}

/// Runs the command; Some(json) is what goes to stdout.
fn run(env: &Env, stdin: &[u8]) -> cni::Result<Option<Value>> {
    if env.command == Command::Version {
        init_version_log(stdin);
        hostdev::info!("{}", cmd::version::build());
        return Ok(Some(cmd::version::version(stdin)));
    }
    let conf = NetConf::parse(stdin)?;
    log::set_context(context(env, conf.name.clone()));
    log::init(conf.log_level.as_deref(), conf.log_file.as_deref());
    for w in &conf.notes.warnings {
        hostdev::warn!("{w}");
    }
    command(env, &conf).map_err(|e| conf.explain(e))
}

/// Runs a command that has a config.
fn command(env: &Env, conf: &NetConf) -> cni::Result<Option<Value>> {
    match env.command {
        Command::Add => cmd::add::add(env, conf).map(|r| Some(r.to_json(conf.cni_version))),
        Command::Del => cmd::del::del(env, conf).map(|()| None),
        Command::Check => cmd::check::check(env, conf).map(|()| None),
        Command::Status => cmd::status::status(env, conf).map(|()| None),
        Command::Gc => cmd::gc::gc(env, conf).map(|()| None),
        Command::Version => unreachable!("handled above"),
    }
}

/// What each log line says about this call: STATUS, GC and VERSION are
/// about no attachment, so their lines name none.
fn context(env: &Env, network: String) -> log::Context {
    let attachment = |s: &String| if env.command.needs_attachment() { s.clone() } else { String::new() };
    log::Context {
        command: env.command.as_str(),
        network,
        container: attachment(&env.container_id),
        ifname: attachment(&env.ifname),
    }
}

/// VERSION's stdin is usually only `{"cniVersion": ...}`, but a config
/// that names a log gets the build logged there.
fn init_version_log(stdin: &[u8]) {
    let obj = cni::config::parse_object(stdin).unwrap_or_default();
    let key = |k| cni::value::opt_string(&obj, k).ok().flatten();
    let file = key("logFile").map(PathBuf::from);
    log::init(key("logLevel").as_deref(), file.as_deref());
}

/// Reads stdin, refusing more than the config size limit.
fn read_stdin() -> cni::Result<Vec<u8>> {
    let mut buf = Vec::new();
    let limit = cni::config::MAX_STDIN as u64 + 1;
    std::io::stdin()
        .take(limit)
        .read_to_end(&mut buf)
        .map_err(|e| Error::new(code::IO_FAILURE, format!("cannot read the network config from stdin: {e}")))?;
    Ok(buf)
}

fn print(v: &Value) -> ExitCode {
    let mut out = std::io::stdout().lock();
    let mut text = serde_json::to_vec(v).expect("JSON values always serialise");
    text.push(b'\n');
    match out.write_all(&text) {
        Ok(()) => ExitCode::SUCCESS,
        Err(_) => ExitCode::FAILURE,
    }
}

/// Prints the spec's error object, in the config's version when it has a
/// usable one, and exits non-zero.
fn fail(e: &Error, stdin: &[u8]) -> ExitCode {
    let version = cni::config::parse_object(stdin)
        .ok()
        .and_then(|o| cni::config::spoken_version(&o).ok())
        .filter(|v| cni::version::SUPPORTED.contains(&v.as_str()))
        .unwrap_or_else(|| cni::version::SUPPORTED[cni::version::SUPPORTED.len() - 1].to_string());
    log::log(log::Level::Error, format_args!("{e}"));
    print(&e.to_json(&version));
    ExitCode::FAILURE
}
