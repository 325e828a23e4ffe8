//! A tiny logger: one line per step, to stderr or `logFile`, never stdout
//! (stdout belongs to the CNI result). Every line has the same form (see
//! `line`), from the first config error to the last step of a command.

mod file;
mod line;

use std::fmt::Display;
use std::io::Write;
use std::path::Path;
use std::sync::Mutex;

pub use file::{MAX_BYTES, rotated_name};

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Level {
    Error,
    Warn,
    Info,
    Debug,
}

impl Level {
    /// hostdev's names, and Multus's `logLevel` values (panic, error,
    /// verbose, debug), which the same NetworkAttachmentDefinition may carry.
    pub fn parse(s: &str) -> Option<Level> {
        Some(match s.to_ascii_lowercase().as_str() {
            "error" | "panic" => Level::Error,
            "warn" | "warning" => Level::Warn,
            "info" | "verbose" => Level::Info,
            "debug" => Level::Debug,
            _ => return None,
        })
    }

    fn name(self) -> &'static str {
        match self {
            Level::Error => "error",
            Level::Warn => "warn",
            Level::Info => "info",
            Level::Debug => "debug",
        }
    }
}

/// What every line says about the call it comes from; an empty field is
/// left out of the line.
#[derive(Debug, Clone, Default)]
pub struct Context {
    pub command: &'static str,
    pub network: String,
    pub container: String,
    pub ifname: String,
}

enum Sink {
    Stderr,
    File(std::fs::File),
}

struct Logger {
    level: Level,
    context: Context,
    sink: Sink,
}

static LOGGER: Mutex<Logger> = Mutex::new(Logger {
    level: Level::Warn,
    context: Context { command: "", network: String::new(), container: String::new(), ifname: String::new() },
    sink: Sink::Stderr,
});

/// Sets what every line says about the call (as soon as it is known, so
/// that even an error in the config has it).
pub fn set_context(context: Context) {
    if let Ok(mut logger) = LOGGER.lock() {
        logger.context = context;
    }
}

/// Sets the level and the destination from the config. An unknown level
/// or a `logFile` that cannot be used (a missing directory, a relative
/// path, a rotation refused) is said once on stderr, which then gets the log.
/// So is a `logFile` that is stdout itself (`/dev/stdout`, or the file
/// stdout was redirected to): stdout belongs to the CNI result.
pub fn init(level: Option<&str>, path: Option<&Path>) {
    let parsed = level.map(|l| (l, Level::parse(l)));
    let sink = match path.map(|p| (p, file::open(p, MAX_BYTES))) {
        Some((_, Ok(f))) if !same_as_stdout(&f) => Sink::File(f),
        Some((p, Err(why))) => {
            say(Level::Warn, &format!("cannot log to logFile {}: {why}; logging to stderr", p.display()));
            Sink::Stderr
        }
        _ => Sink::Stderr,
    };
    if let Ok(mut logger) = LOGGER.lock() {
        logger.level = parsed.and_then(|(_, l)| l).unwrap_or(Level::Warn);
        logger.sink = sink;
    }
    if let Some((name, None)) = parsed {
        say(
            Level::Warn,
            &format!("logLevel {name:?} is unknown: logging at warn (error, warn, info, debug; panic, verbose)"),
        );
    }
}

/// Sets the level alone: the node agent logs to stderr, at info unless told.
pub fn set_level(level: Level) {
    if let Ok(mut logger) = LOGGER.lock() {
        logger.level = level;
    }
}

fn same_as_stdout(f: &std::fs::File) -> bool {
    use nix::sys::stat::fstat;
    match (fstat(f), fstat(std::io::stdout())) {
        (Ok(a), Ok(b)) => a.st_dev == b.st_dev && a.st_ino == b.st_ino,
        _ => false,
    }
}

pub fn log(level: Level, msg: std::fmt::Arguments<'_>) {
    log_data(level, msg, &[]);
}

/// A line with data, as `key=value` after the message.
pub fn log_data(level: Level, msg: std::fmt::Arguments<'_>, data: &[(&str, &dyn Display)]) {
    let Ok(mut logger) = LOGGER.lock() else { return };
    if level > logger.level {
        return;
    }
    let data: Vec<(&str, String)> = data.iter().map(|(k, v)| (*k, v.to_string())).collect();
    let line = format_line(&logger.context, level, &msg.to_string(), &data);
    let _ = match &mut logger.sink {
        Sink::File(f) => f.write_all(line.as_bytes()),
        Sink::Stderr => std::io::stderr().write_all(line.as_bytes()),
    };
}

/// Says `msg` on stderr whatever the level and the destination: about the
/// log itself.
fn say(level: Level, msg: &str) {
    let context = LOGGER.lock().map(|l| l.context.clone()).unwrap_or_default();
    let _ = std::io::stderr().write_all(format_line(&context, level, msg, &[]).as_bytes());
}

fn format_line(c: &Context, level: Level, msg: &str, data: &[(&str, String)]) -> String {
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
    let fields = [("command", c.command), ("network", &c.network), ("container", &c.container), ("ifname", &c.ifname)];
    line::format(now, level.name(), &fields, msg, data)
}

/// `warn!("text {x}")`, or with data: `warn!("text"; key = value, ...)`.
#[doc(hidden)]
#[macro_export]
macro_rules! log_at {
    ($level:ident, $fmt:literal $(, $arg:expr)* ; $($k:ident = $v:expr),+ $(,)?) => {
        $crate::log::log_data(
            $crate::log::Level::$level,
            format_args!($fmt $(, $arg)*),
            &[$((stringify!($k), &$v as &dyn ::std::fmt::Display)),+],
        )
    };
    ($level:ident, $($t:tt)*) => { $crate::log::log($crate::log::Level::$level, format_args!($($t)*)) };
}
#[macro_export]
macro_rules! warn { ($($t:tt)*) => { $crate::log_at!(Warn, $($t)*) } }
#[macro_export]
macro_rules! info { ($($t:tt)*) => { $crate::log_at!(Info, $($t)*) } }
#[macro_export]
macro_rules! debug { ($($t:tt)*) => { $crate::log_at!(Debug, $($t)*) } }
