//! A process that does nothing, built like hostdev (release, static): what
//! starting and ending one plugin process costs before it does any work.
//! scripts/bench.sh times it to split hostdev's cycle into process starts
//! and the rest.

fn main() {}
