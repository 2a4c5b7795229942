//! Per-state timeouts (`tcp_timeouts`, `udp_timeouts`, `sctp_timeouts`) and `ipvsadm --set`.

use super::TcpState;
use super::sctp::SctpState;

/// Connection timeouts in whole seconds, as the kernel keeps them per protocol and state.
///
/// `secure_tcp` does not change them: mainline kernels only swap the state table
/// ([`super::tcp::TCP_STATES_SECURE`]); the 2.4-era `vs_timeout_table_dos` with shorter values
/// is `#if 0` in every kernel since IPVS moved to `net/netfilter/ipvs`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Timeouts {
    tcp: [u32; TcpState::COUNT],
    udp: u32,
    sctp: [u32; SctpState::COUNT],
}

/// `IP_VS_SCTP_MAX_RTO`: the SCTP handshake and shutdown states wait one maximum RTO (60 s,
/// RFC 9260 section 16) plus a second.
const SCTP_MAX_RTO: u32 = 60 + 1;

impl Timeouts {
    /// The kernel defaults: TCP 2, 900, 120, 60, 120, 120, 10, 60, 30, 120, 120 in state order;
    /// UDP 300; SCTP 2, 4, 61 x 6, 900, 61 x 3, 4, 61 (`sctp_timeouts`).
    pub const DEFAULT: Self = Self {
        tcp: [
            2,
            15 * 60,
            2 * 60,
            60,
            2 * 60,
            2 * 60,
            10,
            60,
            30,
            2 * 60,
            120,
        ],
        udp: 5 * 60,
        // sctp_timeouts: NONE 2, INIT1 and REJECTED 4 (a dropped or refused INIT goes
        // quickly), ESTABLISHED 900, every other state the maximum RTO.
        sctp: [
            2,
            3 + 1,
            SCTP_MAX_RTO,
            SCTP_MAX_RTO,
            SCTP_MAX_RTO,
            SCTP_MAX_RTO,
            SCTP_MAX_RTO,
            SCTP_MAX_RTO,
            15 * 60,
            SCTP_MAX_RTO,
            SCTP_MAX_RTO,
            SCTP_MAX_RTO,
            3 + 1,
            SCTP_MAX_RTO,
        ],
    };

    /// How long a template that still controls connections lives on when its own timer fires
    /// (`ip_vs_conn_expire`'s `expire_later` path sets `cp->timeout = 60*HZ`).
    pub const CONTROL_REARM_SECS: u32 = 60;

    /// Timeout of a new connection before its first packet was tracked (`ip_vs_conn_new`:
    /// `cp->timeout = 3*HZ`).
    pub const NEW_CONN_SECS: u32 = 3;

    /// The timeout of a TCP state.
    #[inline]
    pub const fn tcp(&self, state: TcpState) -> u32 {
        self.tcp[state as usize]
    }

    /// The UDP timeout (the one UDP state, shown as `UDP`).
    #[inline]
    pub const fn udp(&self) -> u32 {
        self.udp
    }

    /// The timeout of an SCTP state (`sctp_timeouts`; `--set` does not change them).
    #[inline]
    pub const fn sctp(&self, state: SctpState) -> u32 {
        self.sctp[state as usize]
    }

    /// Sets one SCTP state's timeout (the per-state sysctl-like knob).
    pub fn set_sctp(&mut self, state: SctpState, secs: u32) {
        self.sctp[state as usize] = secs;
    }

    /// Sets one TCP state's timeout (the per-state sysctl-like knob).
    pub fn set_tcp(&mut self, state: TcpState, secs: u32) {
        self.tcp[state as usize] = secs;
    }

    /// `ipvsadm --set tcp tcpfin udp` (`ip_vs_set_timeout`): ESTABLISHED, FIN_WAIT and UDP; a 0
    /// leaves that value unchanged.
    pub fn set(&mut self, tcp: u32, tcpfin: u32, udp: u32) {
        if tcp != 0 {
            self.tcp[TcpState::Established as usize] = tcp;
        }
        if tcpfin != 0 {
            self.tcp[TcpState::FinWait as usize] = tcpfin;
        }
        if udp != 0 {
            self.udp = udp;
        }
    }

    /// What `ipvsadm -L --timeout` prints: `(tcp, tcpfin, udp)`.
    pub const fn get(&self) -> (u32, u32, u32) {
        (
            self.tcp[TcpState::Established as usize],
            self.tcp[TcpState::FinWait as usize],
            self.udp,
        )
    }
}

impl Default for Timeouts {
    fn default() -> Self {
        Self::DEFAULT
    }
}
