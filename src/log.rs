//! A tiny logger: one line per step, to stderr or `logFile`, never stdout
//! (stdout belongs to the CNI result).

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;
use std::sync::{Mutex, OnceLock};

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Level {
    Error,
    Warn,
    Info,
    Debug,
}

struct Logger {
    level: Level,
    prefix: String,
    sink: Mutex<Box<dyn Write + Send>>,
}

static LOGGER: OnceLock<Logger> = OnceLock::new();

impl Level {
    pub fn parse(s: &str) -> Option<Level> {
        Some(match s.to_ascii_lowercase().as_str() {
            "error" => Level::Error,
            "warn" | "warning" => Level::Warn,
            "info" => Level::Info,
            "debug" => Level::Debug,
            _ => return None,
        })
    }
}

/// Sets up logging once. Falls back to stderr when `file` cannot be
/// opened, or when it is stdout itself (`/dev/stdout`, or the file stdout
/// was redirected to): stdout belongs to the CNI result.
pub fn init(level: Level, file: Option<&Path>, prefix: String) {
    let sink: Box<dyn Write + Send> = match file.map(open_sink) {
        Some(Ok(f)) if !same_as_stdout(&f) => Box::new(f),
        _ => Box::new(std::io::stderr()),
    };
    let _ = LOGGER.set(Logger { level, prefix, sink: Mutex::new(sink) });
}

/// Opens the log file for appending, without waiting on a FIFO.
fn open_sink(path: &Path) -> std::io::Result<File> {
    OpenOptions::new().create(true).append(true).custom_flags(nix::libc::O_NONBLOCK).open(path)
}

fn same_as_stdout(f: &File) -> bool {
    use nix::sys::stat::fstat;
    match (fstat(f), fstat(std::io::stdout())) {
        (Ok(a), Ok(b)) => a.st_dev == b.st_dev && a.st_ino == b.st_ino,
        _ => false,
    }
}

pub fn log(level: Level, msg: std::fmt::Arguments<'_>) {
    let Some(logger) = LOGGER.get() else {
        if level <= Level::Warn {
            eprintln!("hostdev: {msg}");
        }
        return;
    };
    if level > logger.level {
        return;
    }
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
    let line = format!("{}.{:03} hostdev {:?} {}: {msg}\n", now.as_secs(), now.subsec_millis(), level, logger.prefix);
    if let Ok(mut sink) = logger.sink.lock() {
        let _ = sink.write_all(line.as_bytes());
    }
}

#[macro_export]
macro_rules! warn { ($($t:tt)*) => { $crate::log::log($crate::log::Level::Warn, format_args!($($t)*)) } }
#[macro_export]
macro_rules! info { ($($t:tt)*) => { $crate::log::log($crate::log::Level::Info, format_args!($($t)*)) } }
#[macro_export]
macro_rules! debug { ($($t:tt)*) => { $crate::log::log($crate::log::Level::Debug, format_args!($($t)*)) } }
