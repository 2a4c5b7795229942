//! The IPVS connection synchronisation protocol, byte-compatible with the kernel's
//! `net/netfilter/ipvs/ip_vs_sync.c` (version 1 sent, versions 0 and 1 received).
//!
//! ```text
//!   conn     SyncConn: one connection (or persistence template) as the protocol carries it
//!   codec    encode one entry; decode a message (strict bounds, typed errors, syncid filter)
//!   sender   SyncSender: batches entries into messages up to sync_maxlen, 2 s flush
//!   policy   SyncPolicy: the kernel's ip_vs_sync_conn_needed (sync_threshold/period/refresh)
//! ```
//!
//! Message (version 1): an 8-byte header `reserved 0, syncid, size be16, nr_conns, version 1,
//! spare be16 0`, then entries. Entry: `type (bit 0 = IPv6), protocol, ver_size be16 (version
//! 0 in the top 4 bits, unpadded length in the low 12), flags be32, state be16, cport, vport,
//! dport be16, fwmark be32, timeout be32 (seconds), caddr, vaddr, daddr`, then option TLVs
//! (1 seq data, 2 pe data, 3 pe name; type bit 0x40 = optional). Each entry after the first
//! starts 4-byte aligned; `size` counts the padding between entries but not after the last.
//!
//! How the director uses it: the master calls [`SyncPolicy::needed`] per packet of a
//! connection with that connection's [`SyncTrack`]; when true it hands a [`SyncConn`] snapshot
//! to [`SyncSender::push`] and sends what [`SyncSender::poll_transmit`] yields on the sync
//! socket. The backup feeds each datagram to [`decode`] and inserts or refreshes every
//! [`SyncConn`] (flags through [`SyncConn::backup_flags`], timeout 0 meaning the state's
//! default timeout).

mod codec;
mod conn;
mod policy;
mod sender;

pub use codec::{Decoded, decode, encode_entry, entry_len};
pub use conn::{SyncConn, SyncPe, SyncSeq, SyncSeqPair, flags, sctp_state, tcp_state};
pub use policy::{SyncPolicy, SyncTrack};
pub use sender::{FLUSH_TIME, SyncSender, SyncSenderConfig, SyncStats};

/// The kernel's default group (`IP_VS_SYNC_GROUP`, 224.0.0.81).
pub const DEFAULT_GROUP_V4: core::net::Ipv4Addr = core::net::Ipv4Addr::new(224, 0, 0, 81);
/// The kernel's default UDP port (`IP_VS_SYNC_PORT`).
pub const DEFAULT_PORT: u16 = 8848;
/// Default multicast TTL (`mcast_ttl` 0 means 1).
pub const DEFAULT_TTL: u32 = 1;
/// Header length of a version 1 message.
pub const HEADER_LEN: usize = 8;
/// Length of an IPv4 entry without options (`struct ip_vs_sync_v4`).
pub const ENTRY_V4_LEN: usize = 36;
/// Length of an IPv6 entry without options (`struct ip_vs_sync_v6`).
pub const ENTRY_V6_LEN: usize = 72;
/// Longest PE name (`IP_VS_PENAME_MAXLEN`).
pub const PE_NAME_MAX: usize = 16;

/// The kernel's default `sync_maxlen` for a master: a 1,500-byte MTU less the IP and UDP
/// headers (28 for IPv4, 48 for IPv6) (`start_sync_thread`).
pub const fn default_maxlen(ipv6: bool) -> usize {
    if ipv6 { 1500 - 48 } else { 1500 - 28 }
}

/// A user-set `sync_maxlen` clamped like `start_sync_thread` does for a master: at least 1,
/// at most 65535 less the headers. 0 means the default.
pub const fn clamp_maxlen(maxlen: usize, ipv6: bool) -> usize {
    let hlen = if ipv6 { 48 } else { 28 };
    if maxlen == 0 {
        default_maxlen(ipv6)
    } else if maxlen > 65535 - hlen {
        65535 - hlen
    } else {
        maxlen
    }
}

/// Why a message or an entry was refused. Fatal errors end the decoding of a message (the
/// kernel's "Dropping buffer"); the others skip one entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, thiserror::Error)]
#[non_exhaustive]
pub enum SyncError {
    /// Shorter than a header or an entry, or an entry's size runs past the message (fatal).
    #[error("sync message truncated")]
    Truncated,
    /// The header's size differs from the datagram length (fatal).
    #[error("sync message size does not match the datagram")]
    BadSize,
    /// The message's syncid is not the one the backup filters on (ignored, not an error to
    /// log).
    #[error("sync message for another syncid")]
    OtherSyncId,
    /// An entry type other than IPv4 (0) or IPv6 (bit 0), or an entry version other than 0
    /// (fatal).
    #[error("unknown sync entry type or version")]
    BadEntryType,
    /// An option with length 0, running past the entry, of the wrong length, too long or
    /// repeated (fatal).
    #[error("malformed sync entry option")]
    BadOption,
    /// An unknown mandatory option (entry skipped).
    #[error("unknown mandatory sync option")]
    UnknownOption,
    /// A protocol IPVS does not balance, or a state out of its range (entry skipped).
    #[error("unsupported protocol or state in sync entry")]
    BadProtocolState,
    /// PE data without a PE name (entry skipped, as the kernel's "Invalid PE parameters").
    #[error("persistence engine data without a name")]
    BadPe,
    /// Encoding: addresses of mixed families, a PE name over 16 bytes, PE data empty or over
    /// 255 bytes, or a buffer too small.
    #[error("connection cannot be encoded")]
    Unencodable,
}
