//! Encoding one entry and decoding whole messages, following `ip_vs_sync_conn` and
//! `ip_vs_process_message` / `ip_vs_proc_sync_conn` / `ip_vs_process_message_v0`.
//!
//! No-panic contract: [`decode`] reads every byte through bounds-checked slices and accepts
//! any input; [`encode_entry`] returns [`SyncError::Unencodable`] instead of writing out of
//! bounds.

use core::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use super::conn::{SyncConn, SyncPe, SyncSeq, SyncSeqPair, flags, sctp_state, tcp_state};
use super::{ENTRY_V4_LEN, ENTRY_V6_LEN, HEADER_LEN, PE_NAME_MAX, SyncError};
use crate::wire::IpProtocol;

const OPT_SEQ_DATA: u8 = 1;
const OPT_PE_DATA: u8 = 2;
const OPT_PE_NAME: u8 = 3;
/// Option type bit: the option may be skipped by a receiver that does not know it.
const OPT_F_PARAM: u8 = 0x40;
const SEQ_OPT_LEN: usize = 24;
/// Version 0 entry (`struct ip_vs_sync_conn_v0`) and its seq options.
const V0_ENTRY_LEN: usize = 24;
const V0_HEADER_LEN: usize = 4;

/// The unpadded length of `conn`'s entry: the fixed part, then 2 + 24 for seq data and 2 + len
/// for each of PE data and name (`ip_vs_sync_conn`).
pub fn entry_len(conn: &SyncConn) -> Result<usize, SyncError> {
    let fixed = match (conn.caddr, conn.vaddr, conn.daddr) {
        (IpAddr::V4(_), IpAddr::V4(_), IpAddr::V4(_)) => ENTRY_V4_LEN,
        (IpAddr::V6(_), IpAddr::V6(_), IpAddr::V6(_)) => ENTRY_V6_LEN,
        _ => return Err(SyncError::Unencodable),
    };
    let seq = if conn.seq.is_some() {
        2 + SEQ_OPT_LEN
    } else {
        0
    };
    let pe = match &conn.pe {
        None => 0,
        Some(pe) => {
            let ok =
                (1..=255).contains(&pe.data.len()) && (1..=PE_NAME_MAX).contains(&pe.name.len());
            if !ok {
                return Err(SyncError::Unencodable);
            }
            4 + pe.data.len() + pe.name.len()
        }
    };
    Ok(fixed + seq + pe)
}

/// Writes `conn`'s entry (unpadded) at the start of `buf`; returns its length.
pub fn encode_entry(conn: &SyncConn, buf: &mut [u8]) -> Result<usize, SyncError> {
    let len = entry_len(conn)?;
    let out = buf.get_mut(..len).ok_or(SyncError::Unencodable)?;
    out[0] = u8::from(conn.is_ipv6());
    out[1] = conn.protocol.into();
    // Version 0 in the top 4 bits; len <= 72 + 26 + 4 + 255 + 16 fits 12 bits.
    out[2..4].copy_from_slice(&(len as u16).to_be_bytes());
    out[4..8].copy_from_slice(&(conn.flags & !flags::HASHED).to_be_bytes());
    out[8..10].copy_from_slice(&conn.state.to_be_bytes());
    out[10..12].copy_from_slice(&conn.cport.to_be_bytes());
    out[12..14].copy_from_slice(&conn.vport.to_be_bytes());
    out[14..16].copy_from_slice(&conn.dport.to_be_bytes());
    out[16..20].copy_from_slice(&conn.fwmark.to_be_bytes());
    out[20..24].copy_from_slice(&conn.timeout.to_be_bytes());
    let mut at = 24;
    for addr in [conn.caddr, conn.vaddr, conn.daddr] {
        let bytes: &[u8] = match &addr {
            IpAddr::V4(a) => &a.octets(),
            IpAddr::V6(a) => &a.octets(),
        };
        out[at..at + bytes.len()].copy_from_slice(bytes);
        at += bytes.len();
    }
    if let Some(seq) = &conn.seq {
        out[at] = OPT_SEQ_DATA;
        out[at + 1] = SEQ_OPT_LEN as u8;
        at += 2;
        for s in [seq.in_seq, seq.out_seq] {
            for word in [s.init_seq, s.delta, s.previous_delta] {
                out[at..at + 4].copy_from_slice(&word.to_be_bytes());
                at += 4;
            }
        }
    }
    if let Some(pe) = &conn.pe {
        for (kind, data) in [(OPT_PE_DATA, &pe.data), (OPT_PE_NAME, &pe.name)] {
            out[at] = kind;
            out[at + 1] = data.len() as u8; // checked by entry_len
            out[at + 2..at + 2 + data.len()].copy_from_slice(data);
            at += 2 + data.len();
        }
    }
    Ok(len)
}

/// What a message yielded.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Decoded {
    /// The message's syncid.
    pub syncid: u8,
    /// 1, or 0 for the old format.
    pub version: u8,
    /// The entries to import, in message order.
    pub conns: Vec<SyncConn>,
    /// Entries skipped for a non-fatal reason.
    pub skipped: Vec<SyncError>,
    /// A fatal error that ended decoding after `conns` (the kernel keeps those too).
    pub error: Option<SyncError>,
}

/// Decodes one datagram. `syncid` is the backup's filter: 0 accepts every syncid, as in the
/// kernel. Errors are returned only when nothing at all could be read (header errors, other
/// syncid); per-entry problems are in [`Decoded::skipped`] and [`Decoded::error`].
pub fn decode(buf: &[u8], syncid: u8) -> Result<Decoded, SyncError> {
    if buf.len() < V0_HEADER_LEN {
        return Err(SyncError::Truncated);
    }
    if usize::from(u16::from_be_bytes([buf[2], buf[3]])) != buf.len() {
        return Err(SyncError::BadSize);
    }
    if syncid != 0 && buf[1] != syncid {
        return Err(SyncError::OtherSyncId);
    }
    let v1 = buf.len() >= HEADER_LEN && buf[5] == 1 && buf[0] == 0 && buf[6] == 0 && buf[7] == 0;
    let mut out = Decoded {
        syncid: buf[1],
        version: u8::from(v1),
        ..Decoded::default()
    };
    if v1 {
        decode_v1(buf, buf[4], &mut out);
    } else {
        decode_v0(buf, buf[0], &mut out);
    }
    Ok(out)
}

fn decode_v1(buf: &[u8], count: u8, out: &mut Decoded) {
    let mut at = HEADER_LEN;
    for _ in 0..count {
        if at + ENTRY_V4_LEN > buf.len() {
            out.error = Some(SyncError::Truncated);
            return;
        }
        let ver_size = u16::from_be_bytes([buf[at + 2], buf[at + 3]]);
        let size = usize::from(ver_size & 0x0fff);
        let Some(entry) = buf.get(at..at + size) else {
            out.error = Some(SyncError::Truncated);
            return;
        };
        if ver_size >> 12 != 0 {
            out.error = Some(SyncError::BadEntryType);
            return;
        }
        match decode_entry(entry) {
            Ok(conn) => out.conns.push(conn),
            Err(
                e @ (SyncError::UnknownOption | SyncError::BadProtocolState | SyncError::BadPe),
            ) => {
                out.skipped.push(e);
            }
            Err(e) => {
                out.error = Some(e);
                return;
            }
        }
        // The next entry starts 4-byte aligned.
        at += (size + 3) & !3;
    }
}

fn decode_entry(e: &[u8]) -> Result<SyncConn, SyncError> {
    let ipv6 = match e.first() {
        Some(t) if t & 1 != 0 => true,
        Some(0) => false,
        _ => return Err(SyncError::BadEntryType),
    };
    let fixed = if ipv6 { ENTRY_V6_LEN } else { ENTRY_V4_LEN };
    let head = e.get(..fixed).ok_or(SyncError::Truncated)?;
    let be16 = |at: usize| u16::from_be_bytes([head[at], head[at + 1]]);
    let be32 = |at: usize| u32::from_be_bytes([head[at], head[at + 1], head[at + 2], head[at + 3]]);
    let addr = |i: usize| -> IpAddr {
        if ipv6 {
            let mut b = [0u8; 16];
            b.copy_from_slice(&head[24 + 16 * i..40 + 16 * i]);
            IpAddr::V6(Ipv6Addr::from(b))
        } else {
            let mut b = [0u8; 4];
            b.copy_from_slice(&head[24 + 4 * i..28 + 4 * i]);
            IpAddr::V4(Ipv4Addr::from(b))
        }
    };
    let mut conn = SyncConn {
        protocol: IpProtocol::from(head[1]),
        caddr: addr(0),
        cport: be16(10),
        vaddr: addr(1),
        vport: be16(12),
        daddr: addr(2),
        dport: be16(14),
        fwmark: be32(16),
        // HASHED is table-local: the kernel never sends it and never honours it on receipt.
        flags: be32(4) & !flags::HASHED,
        state: be16(8),
        timeout: be32(20),
        seq: None,
        pe: None,
    };
    let (mut pe_data, mut pe_name): (Option<&[u8]>, Option<&[u8]>) = (None, None);
    let mut opts = &e[fixed..];
    while !opts.is_empty() {
        let [kind, len, rest @ ..] = opts else {
            return Err(SyncError::BadOption);
        };
        let len = usize::from(*len);
        if len == 0 || len > rest.len() {
            return Err(SyncError::BadOption);
        }
        let data = &rest[..len];
        match kind & !OPT_F_PARAM {
            OPT_SEQ_DATA if len != SEQ_OPT_LEN || conn.seq.is_some() => {
                return Err(SyncError::BadOption);
            }
            OPT_SEQ_DATA => conn.seq = Some(seq_pair(data, u32::from_be_bytes)),
            OPT_PE_DATA if pe_data.replace(data).is_some() => return Err(SyncError::BadOption),
            OPT_PE_NAME if len > PE_NAME_MAX || pe_name.replace(data).is_some() => {
                return Err(SyncError::BadOption);
            }
            OPT_PE_DATA | OPT_PE_NAME => {}
            // The kernel stops at an unknown mandatory option and skips the entry.
            _ if kind & OPT_F_PARAM == 0 => return Err(SyncError::UnknownOption),
            _ => {}
        }
        opts = &rest[len..];
    }
    if let Some(data) = pe_data {
        let name = pe_name.ok_or(SyncError::BadPe)?;
        conn.pe = Some(SyncPe {
            name: name.to_vec(),
            data: data.to_vec(),
        });
    }
    check_protocol_state(&conn)?;
    Ok(conn)
}

/// The kernel skips entries of protocols it has no `ip_vs_protocol` for and states out of the
/// protocol's range; templates may carry any state.
fn check_protocol_state(conn: &SyncConn) -> Result<(), SyncError> {
    if conn.flags & flags::TEMPLATE != 0 {
        return Ok(());
    }
    let states = match conn.protocol {
        IpProtocol::Tcp => tcp_state::COUNT,
        IpProtocol::Sctp => sctp_state::COUNT,
        IpProtocol::Udp | IpProtocol::Ah | IpProtocol::Esp => 1,
        _ => 0,
    };
    if conn.state < states {
        Ok(())
    } else {
        Err(SyncError::BadProtocolState)
    }
}

fn seq_pair(data: &[u8], read: fn([u8; 4]) -> u32) -> SyncSeqPair {
    let word = |i: usize| {
        let mut b = [0u8; 4];
        b.copy_from_slice(data.get(4 * i..4 * i + 4).unwrap_or(&[0; 4]));
        read(b)
    };
    let seq = |o: usize| SyncSeq {
        init_seq: word(o),
        delta: word(o + 1),
        previous_delta: word(o + 2),
    };
    SyncSeqPair {
        in_seq: seq(0),
        out_seq: seq(3),
    }
}

/// Version 0 (`ip_vs_process_message_v0`): IPv4 only, 24-byte entries, 16-bit flags, the seq
/// options copied in the sender's host order (little-endian on every platform IPVS ran v0 on
/// in practice), no timeout (0: the state's default) and no fwmark.
fn decode_v0(buf: &[u8], count: u8, out: &mut Decoded) {
    let mut at = V0_HEADER_LEN;
    for _ in 0..count {
        let Some(e) = buf.get(at..at + V0_ENTRY_LEN) else {
            out.error = Some(SyncError::Truncated);
            return;
        };
        let flags = u32::from(u16::from_be_bytes([e[20], e[21]])) & !flags::HASHED;
        let seq = if flags & flags::SEQ_MASK != 0 {
            let Some(opt) = buf.get(at + V0_ENTRY_LEN..at + V0_ENTRY_LEN + SEQ_OPT_LEN) else {
                out.error = Some(SyncError::Truncated);
                return;
            };
            at += SEQ_OPT_LEN;
            Some(seq_pair(opt, u32::from_le_bytes))
        } else {
            None
        };
        at += V0_ENTRY_LEN;
        let addr = |o: usize| IpAddr::V4(Ipv4Addr::new(e[o], e[o + 1], e[o + 2], e[o + 3]));
        let conn = SyncConn {
            protocol: IpProtocol::from(e[1]),
            cport: u16::from_be_bytes([e[2], e[3]]),
            vport: u16::from_be_bytes([e[4], e[5]]),
            dport: u16::from_be_bytes([e[6], e[7]]),
            caddr: addr(8),
            vaddr: addr(12),
            daddr: addr(16),
            flags,
            state: u16::from_be_bytes([e[22], e[23]]),
            fwmark: 0,
            timeout: 0,
            seq,
            pe: None,
        };
        match check_protocol_state(&conn) {
            Ok(()) => out.conns.push(conn),
            Err(err) => out.skipped.push(err),
        }
    }
}
