//! What [`Director::handle_packet`](super::Director::handle_packet) decides, and why it drops.

use std::net::IpAddr;

use crate::rewrite::RewriteError;
use crate::wire::{MacAddr, WireError};

/// Where a forwarded frame goes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct NextHop {
    /// The address the frame must be delivered to on the link: the real server (NAT, DR,
    /// FULLNAT), the tunnel's outer destination (TUN), the client (NAT/FULLNAT replies). The
    /// data plane routes it (a gateway when it is not on-link) and resolves its MAC.
    pub addr: IpAddr,
    /// The MAC already written as the frame's destination when the director's neighbour cache
    /// knew it; `None` means the caller must resolve `addr` and write bytes 0..6 itself.
    pub mac: Option<MacAddr>,
}

/// The decision about one frame. It borrows the caller's buffer: send `frame` before the next
/// call.
#[must_use]
#[derive(Debug, PartialEq, Eq)]
pub enum Verdict<'a> {
    /// Send the rewritten frame toward `next_hop`. The source MAC is the director's.
    Forward {
        /// The frame to send (moved inside the buffer when it grew: TOA, tunnel).
        frame: &'a mut [u8],
        /// Where to.
        next_hop: NextHop,
    },
    /// Send `frame` back out of the interface it came in on: an ARP reply or neighbour
    /// advertisement written over the request.
    Reply {
        /// The reply.
        frame: &'a mut [u8],
    },
    /// Drop the frame; the reason is counted ([`Director::drop_counters`](super::Director::drop_counters)).
    Drop(DropReason),
    /// Not balanced traffic: hand the frame, unchanged, to the host stack.
    Pass,
}

/// Why a frame was dropped. Doubles as the metric label ([`DropReason::label`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, thiserror::Error)]
#[non_exhaustive]
pub enum DropReason {
    /// The frame does not parse.
    #[error("malformed frame: {0}")]
    Malformed(WireError),
    /// The rewriter refused the frame.
    #[error("rewrite failed: {0}")]
    Rewrite(RewriteError),
    /// A service took the packet but no dest is available: `ip_vs_leave` drops it and
    /// queues ICMP (ICMPv6) port unreachable for the client (rate-limited).
    #[error("no dest available")]
    NoDest,
    /// The connection budget (connections and persistence templates) is used up.
    #[error("connection table full")]
    TableFull,
    /// The connection's dest was deleted (`IP_VS_DEST_F_AVAILABLE` cleared).
    #[error("dest deleted")]
    DestDeleted,
    /// TTL / hop limit expired; an ICMP time-exceeded was queued for `poll_transmit`.
    #[error("TTL expired")]
    TtlExpired,
    /// Too big for the tunnel with DF set; fragmentation-needed / packet-too-big was queued.
    #[error("too big for the tunnel")]
    TooBig,
    /// The `drop_packet` defense dropped a new connection (`ip_vs_todrop`).
    #[error("drop_packet defense")]
    DefenseDropPacket,
    /// A packet that cannot start a connection and matches none: TCP other than a SYN without
    /// ACK/RST, SCTP other than an INIT chunk.
    #[error("first packet of a connection is not a SYN")]
    NotSyn,
    /// An IP fragment: the data plane reassembles before the director (as netfilter defrag
    /// does before IPVS).
    #[error("IP fragment")]
    Fragment,
    /// The FULLNAT local-address pool has no free port for this real server.
    #[error("no free FULLNAT local port")]
    NoLocalPort,
    /// A related ICMP error could not be matched or translated.
    #[error("related ICMP error without a usable connection")]
    IcmpUnrelated,
}

impl DropReason {
    /// Number of distinct labels ([`DropReason::index`] is below it).
    pub const COUNT: usize = 32;

    /// A stable snake_case label for metrics.
    pub const fn label(self) -> &'static str {
        LABELS[self.index()]
    }

    /// A dense index for counters.
    pub const fn index(self) -> usize {
        match self {
            Self::Malformed(e) => match e {
                WireError::Truncated => 0,
                WireError::BadVersion => 1,
                WireError::BadHeaderLen => 2,
                WireError::BadTotalLen => 3,
                WireError::BadUdpLen => 4,
                WireError::TooManyExtHeaders => 5,
                WireError::BadTcpOption => 6,
                WireError::BadChecksum => 7,
                _ => 8,
            },
            Self::Rewrite(e) => match e {
                RewriteError::Truncated => 9,
                RewriteError::BadIpHeader => 10,
                RewriteError::BadTransportHeader => 11,
                RewriteError::AddressFamily => 12,
                RewriteError::NoRoom => 13,
                RewriteError::TooLong => 14,
                RewriteError::BadQuotedPacket => 15,
                RewriteError::UnsupportedProtocol => 16,
                _ => 17,
            },
            Self::NoDest => 18,
            Self::TableFull => 19,
            Self::DestDeleted => 20,
            Self::TtlExpired => 21,
            Self::TooBig => 22,
            Self::DefenseDropPacket => 23,
            Self::NotSyn => 24,
            Self::Fragment => 25,
            Self::NoLocalPort => 26,
            Self::IcmpUnrelated => 27,
        }
    }
}

const LABELS: [&str; DropReason::COUNT] = [
    "malformed_truncated",
    "malformed_bad_version",
    "malformed_bad_header_len",
    "malformed_bad_total_len",
    "malformed_bad_udp_len",
    "malformed_too_many_ext_headers",
    "malformed_bad_tcp_option",
    "malformed_bad_checksum",
    "malformed_other",
    "rewrite_truncated",
    "rewrite_bad_ip_header",
    "rewrite_bad_transport_header",
    "rewrite_address_family",
    "rewrite_no_room",
    "rewrite_too_long",
    "rewrite_bad_quoted_packet",
    "rewrite_unsupported_protocol",
    "rewrite_other",
    "no_dest",
    "table_full",
    "dest_deleted",
    "ttl_expired",
    "too_big",
    "defense_drop_packet",
    "not_syn",
    "fragment",
    "no_local_port",
    "icmp_unrelated",
    "reserved_28",
    "reserved_29",
    "reserved_30",
    "reserved_31",
];

/// Per-reason drop counters.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DropCounters([u64; DropReason::COUNT]);

impl DropCounters {
    /// Counts one drop.
    #[inline]
    pub(super) fn count(&mut self, reason: DropReason) {
        let c = &mut self.0[reason.index()];
        *c = c.wrapping_add(1);
    }

    /// The count of one reason.
    pub fn get(&self, reason: DropReason) -> u64 {
        self.0[reason.index()]
    }

    /// Adds `other`'s counts (totals over several workers' directors).
    pub fn add(&mut self, other: &Self) {
        for (a, b) in self.0.iter_mut().zip(other.0.iter()) {
            *a = a.wrapping_add(*b);
        }
    }

    /// The sum over all reasons.
    pub fn total(&self) -> u64 {
        self.0.iter().sum()
    }

    /// `(label, count)` of every reason with a non-zero count.
    pub fn iter(&self) -> impl Iterator<Item = (&'static str, u64)> + '_ {
        LABELS
            .iter()
            .zip(self.0.iter())
            .filter(|(_, n)| **n != 0)
            .map(|(l, n)| (*l, *n))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_are_distinct_and_indexes_dense() {
        let mut seen = std::collections::HashSet::new();
        for l in LABELS {
            assert!(seen.insert(l), "duplicate label {l}");
        }
        let reasons = [
            DropReason::Malformed(WireError::Truncated),
            DropReason::Malformed(WireError::NotIp),
            DropReason::Rewrite(RewriteError::NoRoom),
            DropReason::Rewrite(RewriteError::NotTunnel),
            DropReason::NoDest,
            DropReason::IcmpUnrelated,
        ];
        let idx: Vec<usize> = reasons.iter().map(|r| r.index()).collect();
        assert_eq!(idx, [0, 8, 13, 17, 18, 27]);
        assert_eq!(DropReason::TableFull.label(), "table_full");
        let mut c = DropCounters::default();
        c.count(DropReason::NoDest);
        c.count(DropReason::NoDest);
        assert_eq!((c.get(DropReason::NoDest), c.total()), (2, 2));
    }
}
