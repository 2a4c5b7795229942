//! State changes the director reports through [`Director::poll_event`](super::Director::poll_event).

use std::net::IpAddr;

use crate::ipvsadm::ServiceKey;
use crate::wire::IpProtocol;

/// At most this many events wait; older ones are dropped (and counted) when nobody polls.
pub(super) const EVENT_QUEUE_CAP: usize = 4096;

/// A connection, as events name it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct ConnSummary {
    /// Protocol.
    pub proto: IpProtocol,
    /// Client address and port.
    pub client: (IpAddr, u16),
    /// Virtual address and port.
    pub virt: (IpAddr, u16),
    /// Real server address and port.
    pub dest: (IpAddr, u16),
}

/// Something happened that the data plane, the sync daemon or the metrics may care about.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Event {
    /// A connection was created.
    ConnCreated(ConnSummary),
    /// A connection expired or was removed.
    ConnExpired(ConnSummary),
    /// A dest reached its upper threshold (`IP_VS_DEST_F_OVERLOAD` set).
    DestOverloaded {
        /// The service.
        service: ServiceKey,
        /// The dest.
        dest: (IpAddr, u16),
    },
    /// A control-plane change was applied (`apply` or `replace_config`).
    ConfigApplied,
    /// The DoS defense changed state.
    DefenseChanged {
        /// Whether the table is under budget pressure.
        pressure: bool,
        /// The strict `secure_tcp` table is in force.
        secure_tcp: bool,
        /// `drop_entry` is shedding entries ([`crate::conn::dropentry`]).
        drop_entry: bool,
        /// `drop_packet` rate (0 = off).
        drop_rate: u32,
    },
}
