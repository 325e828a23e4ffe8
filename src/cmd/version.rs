//! VERSION: which spec versions hostdev speaks. Answers whatever else the
//! environment holds (podman probes with junk in it).

use serde_json::{Value, json};

use crate::cni::config::{parse_object, version_text};
use crate::cni::version::SUPPORTED;

/// The answer echoes the asked `cniVersion` as given, also one newer than
/// hostdev knows (the spec: "The value of `cniVersion` specified on
/// input"; the runtime learns what to speak from `supportedVersions`).
/// Nothing asked is answered in the newest version hostdev speaks.
pub fn version(stdin: &[u8]) -> Value {
    let asked = parse_object(stdin).ok().and_then(|o| version_text(&o).ok().flatten());
    let echoed = asked.filter(|v| !v.is_empty()).unwrap_or_else(|| SUPPORTED[SUPPORTED.len() - 1].to_string());
    json!({"cniVersion": echoed, "supportedVersions": SUPPORTED})
}

/// The git revision the binary was built from (see build.rs).
pub const REVISION: &str = env!("HOSTDEV_GIT_REVISION");

/// What this build is: crate version and git revision.
pub fn build() -> String {
    format!("hostdev {} (git {REVISION})", env!("CARGO_PKG_VERSION"))
}

/// The line printed when the binary is run by hand.
pub fn about() -> String {
    format!(
        "hostdev {}: CNI plugin that moves a host network interface into a container; CNI versions {}",
        env!("CARGO_PKG_VERSION"),
        SUPPORTED.join(", ")
    )
}
