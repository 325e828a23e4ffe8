//! Netlink errors: an errno, plus the kernel's extended-ACK text.

use std::fmt;

use netlink_packet_core::{ErrorMessage, NLM_F_ACK_TLVS, NLM_F_CAPPED};
use nix::errno::Errno;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NlError {
    /// What we were doing.
    pub context: String,
    pub errno: Option<Errno>,
    /// The kernel's explanation (extended ACK), when it gave one.
    pub kernel_msg: Option<String>,
}

const NLMSGERR_ATTR_MSG: u16 = 1;
const NLMSG_HDRLEN: usize = 16;

impl NlError {
    pub fn other(context: impl Into<String>) -> NlError {
        NlError { context: context.into(), errno: None, kernel_msg: None }
    }

    pub fn errno(context: &str, e: Errno) -> NlError {
        NlError { context: context.into(), errno: Some(e), kernel_msg: None }
    }

    pub fn io(context: &str) -> impl Fn(std::io::Error) -> NlError + '_ {
        move |e| NlError::errno(context, Errno::from_raw(e.raw_os_error().unwrap_or(0)))
    }

    /// The error an NLMSG_ERROR reply carries, or None for an ACK.
    pub fn from_reply(e: &ErrorMessage, flags: u16) -> Option<NlError> {
        let code = e.raw_code();
        if code == 0 {
            return None;
        }
        Some(NlError {
            context: String::new(),
            errno: Some(Errno::from_raw(-code)),
            kernel_msg: ext_ack_text(&e.header, flags),
        })
    }

    pub fn is(&self, errno: Errno) -> bool {
        self.errno == Some(errno)
    }

    /// Sets what we were doing, for the message.
    pub fn during(mut self, context: impl Into<String>) -> NlError {
        self.context = context.into();
        self
    }
}

/// Recovers NLMSGERR_ATTR_MSG from the bytes after the error code: the
/// original request's header, its payload unless the kernel capped it,
/// then attributes when NLM_F_ACK_TLVS is set.
fn ext_ack_text(rest: &[u8], flags: u16) -> Option<String> {
    if flags & NLM_F_ACK_TLVS == 0 || rest.len() < NLMSG_HDRLEN {
        return None;
    }
    let mut off =
        if flags & NLM_F_CAPPED != 0 { NLMSG_HDRLEN } else { u32::from_ne_bytes(rest[0..4].try_into().ok()?) as usize };
    while off + 4 <= rest.len() {
        let len = u16::from_ne_bytes([rest[off], rest[off + 1]]) as usize;
        let kind = u16::from_ne_bytes([rest[off + 2], rest[off + 3]]) & 0x3fff;
        if len < 4 || off + len > rest.len() {
            return None;
        }
        if kind == NLMSGERR_ATTR_MSG {
            let text = &rest[off + 4..off + len];
            let text = text.split(|b| *b == 0).next().unwrap_or(text);
            return Some(String::from_utf8_lossy(text).into_owned());
        }
        off += len.next_multiple_of(4);
    }
    None
}

impl fmt::Display for NlError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if !self.context.is_empty() {
            write!(f, "{}: ", self.context)?;
        }
        match self.errno {
            Some(e) => write!(f, "{}", e.desc())?,
            None => write!(f, "failed")?,
        }
        if let Some(msg) = &self.kernel_msg {
            write!(f, " (kernel: {msg})")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tlv(kind: u16, payload: &[u8]) -> Vec<u8> {
        let len = 4 + payload.len();
        let mut v = Vec::new();
        v.extend((len as u16).to_ne_bytes());
        v.extend(kind.to_ne_bytes());
        v.extend(payload);
        v.resize(len.next_multiple_of(4), 0);
        v
    }

    #[test]
    fn reads_the_message_after_a_capped_header() {
        let mut rest = vec![0u8; 16];
        rest.extend(tlv(2, &7u32.to_ne_bytes()));
        rest.extend(tlv(1, b"The interface netns is immutable\0"));
        let text = ext_ack_text(&rest, NLM_F_CAPPED | NLM_F_ACK_TLVS);
        assert_eq!(text.as_deref(), Some("The interface netns is immutable"));
    }

    #[test]
    fn skips_an_uncapped_request() {
        let mut rest = 24u32.to_ne_bytes().to_vec();
        rest.resize(24, 0);
        rest.extend(tlv(1, b"boom\0"));
        assert_eq!(ext_ack_text(&rest, NLM_F_ACK_TLVS).as_deref(), Some("boom"));
        assert_eq!(ext_ack_text(&rest, 0), None);
    }

    #[test]
    fn survives_garbage() {
        assert_eq!(ext_ack_text(&[1, 2, 3], NLM_F_ACK_TLVS), None);
        let mut rest = vec![0u8; 16];
        rest.extend([200, 0, 1, 0]);
        assert_eq!(ext_ack_text(&rest, NLM_F_CAPPED | NLM_F_ACK_TLVS), None);
    }

    #[test]
    fn display_names_context_and_kernel_text() {
        let e = NlError { context: "move h1".into(), errno: Some(Errno::EEXIST), kernel_msg: Some("x".into()) };
        assert_eq!(e.to_string(), "move h1: File exists (kernel: x)");
    }
}
