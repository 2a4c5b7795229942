//! The connection record carried by the sync protocol, in the kernel's terms.

use core::net::IpAddr;

use crate::wire::IpProtocol;

/// Connection flags (`IP_VS_CONN_F_*`, include/uapi/linux/ip_vs.h).
pub mod flags {
    /// Forwarding method mask: 0 masq, 1 local, 2 tunnel, 3 droute, 4 bypass.
    pub const FWD_MASK: u32 = 0x0007;
    /// NAT.
    pub const MASQ: u32 = 0x0000;
    /// Local node.
    pub const LOCALNODE: u32 = 0x0001;
    /// IP tunnel.
    pub const TUNNEL: u32 = 0x0002;
    /// Direct routing.
    pub const DROUTE: u32 = 0x0003;
    /// Created by sync (set by the receiver).
    pub const SYNC: u32 = 0x0020;
    /// Hashed in the table (never sent).
    pub const HASHED: u32 = 0x0040;
    /// No output packets seen.
    pub const NOOUTPUT: u32 = 0x0080;
    /// Not established.
    pub const INACTIVE: u32 = 0x0100;
    /// Output sequence adjust.
    pub const OUT_SEQ: u32 = 0x0200;
    /// Input sequence adjust.
    pub const IN_SEQ: u32 = 0x0400;
    /// Both sequence adjust bits.
    pub const SEQ_MASK: u32 = 0x0600;
    /// No client port yet (FTP data templates).
    pub const NO_CPORT: u32 = 0x0800;
    /// A persistence template, not a connection.
    pub const TEMPLATE: u32 = 0x1000;
    /// One-packet scheduling (never synced).
    pub const ONE_PACKET: u32 = 0x2000;
    /// Bits a backup takes from a new entry (`IP_VS_CONN_F_BACKUP_MASK`).
    pub const BACKUP_MASK: u32 = FWD_MASK | NOOUTPUT | INACTIVE | SEQ_MASK | NO_CPORT | TEMPLATE;
    /// Bits a backup updates on an existing connection (`IP_VS_CONN_F_BACKUP_UPD_MASK`).
    pub const BACKUP_UPD_MASK: u32 = INACTIVE | SEQ_MASK;
}

/// IPVS TCP states as numbered on the wire (`IP_VS_TCP_S_*`).
#[allow(missing_docs)]
pub mod tcp_state {
    pub const NONE: u16 = 0;
    pub const ESTABLISHED: u16 = 1;
    pub const SYN_SENT: u16 = 2;
    pub const SYN_RECV: u16 = 3;
    pub const FIN_WAIT: u16 = 4;
    pub const TIME_WAIT: u16 = 5;
    pub const CLOSE: u16 = 6;
    pub const CLOSE_WAIT: u16 = 7;
    pub const LAST_ACK: u16 = 8;
    pub const LISTEN: u16 = 9;
    pub const SYNACK: u16 = 10;
    /// Number of TCP states.
    pub const COUNT: u16 = 11;
}

/// IPVS SCTP states as numbered on the wire (`IP_VS_SCTP_S_*`), the ones the sync policy uses.
#[allow(missing_docs)]
pub mod sctp_state {
    pub const ESTABLISHED: u16 = 8;
    pub const SHUTDOWN_SENT: u16 = 9;
    pub const SHUTDOWN_RECEIVED: u16 = 10;
    pub const SHUTDOWN_ACK_SENT: u16 = 11;
    pub const CLOSED: u16 = 13;
    /// Number of SCTP states.
    pub const COUNT: u16 = 14;
}

/// One direction's TCP sequence adjustment (`struct ip_vs_seq`), for NAT with an application
/// helper that resizes payloads (FTP).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct SyncSeq {
    /// Sequence number where the adjustment starts.
    pub init_seq: u32,
    /// Current delta.
    pub delta: u32,
    /// Delta before the last change.
    pub previous_delta: u32,
}

/// The seq-data option: both directions.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct SyncSeqPair {
    /// Client -> server.
    pub in_seq: SyncSeq,
    /// Server -> client.
    pub out_seq: SyncSeq,
}

/// Persistence-engine data (e.g. the SIP Call-ID of the `sip` PE).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct SyncPe {
    /// Engine name, 1..=16 bytes.
    pub name: Vec<u8>,
    /// Engine data, 1..=255 bytes.
    pub data: Vec<u8>,
}

/// A connection or template as the sync protocol carries it: what a director exports when
/// [`SyncPolicy::needed`](super::SyncPolicy::needed) says so and what a backup imports.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct SyncConn {
    /// Transport protocol.
    pub protocol: IpProtocol,
    /// Client address (the family of all three addresses is the entry's).
    pub caddr: IpAddr,
    /// Client port.
    pub cport: u16,
    /// Virtual address.
    pub vaddr: IpAddr,
    /// Virtual port.
    pub vport: u16,
    /// Real server address.
    pub daddr: IpAddr,
    /// Real server port.
    pub dport: u16,
    /// Firewall mark of a fwmark service, else 0.
    pub fwmark: u32,
    /// `IP_VS_CONN_F_*` bits ([`flags`]); the encoder clears `HASHED`.
    pub flags: u32,
    /// Protocol state ([`tcp_state`], [`sctp_state`]; 0 for UDP; template: 0 or 1 assured).
    pub state: u16,
    /// Remaining timeout in seconds; 0 tells the backup to use the state's default.
    pub timeout: u32,
    /// Sequence adjustment option.
    pub seq: Option<SyncSeqPair>,
    /// Persistence engine option.
    pub pe: Option<SyncPe>,
}

impl SyncConn {
    /// Whether the entry is IPv6 (by the client address).
    pub fn is_ipv6(&self) -> bool {
        self.caddr.is_ipv6()
    }

    /// The flags a backup gives a new connection from this entry: the kernel's
    /// `(flags & IP_VS_CONN_F_BACKUP_MASK) | IP_VS_CONN_F_SYNC`.
    pub fn backup_flags(&self) -> u32 {
        (self.flags & flags::BACKUP_MASK) | flags::SYNC
    }

    /// Whether this is a persistence template.
    pub fn is_template(&self) -> bool {
        self.flags & flags::TEMPLATE != 0
    }
}
