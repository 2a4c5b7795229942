//! Capture files: read pcap or pcapng as Ethernet [`Frame`]s, write frames back as pcap.
//!
//! Parsing of the file formats is the `pcap-file` crate's (2.x, the stable line). pcap records
//! are read with its *raw* API and validated here, because its checked reader refuses records
//! whose original length exceeds the snap length, which is exactly what `tcpdump -s N` writes;
//! pcapng timestamps are scaled here too (see `ng`). Writing is always classic pcap, which
//! every tool reads.
//!
//! The director works on Ethernet frames, so other link types are converted on read:
//!
//! | link type | conversion |
//! |---|---|
//! | `EN10MB` (1) | none |
//! | `LINUX_SLL` (113), `LINUX_SLL2` (276), written by `tcpdump -i any` | Ethernet header from the cooked header: source = the captured link address when it is 6 bytes, else [`LinkMacs::peer`]; destination = [`LinkMacs::local`] (broadcast for broadcast packets); the protocol field becomes the EtherType. Packets the capturing host *sent* (packet type OUTGOING) are skipped and counted: they are that host's output, not input for a director. |
//! | `RAW` (101), `IPV4` (228), `IPV6` (229) | Ethernet header `peer -> local`, EtherType from the IP version nibble |
//!
//! Frames cut by the snap length are kept as captured (the director then sees a short packet).
//! In pcapng each interface has its own link type and clock (`if_tsresol`, `if_tsoffset`).

mod link;
mod ng;
mod sink;

use std::io::Read;
use std::time::Duration;

use lvs_core::replay::Frame;
use lvs_core::time::Instant;
use lvs_core::wire::MacAddr;
use pcap_file::TsResolution;
use pcap_file::pcap::{PcapReader, RawPcapPacket};

use link::Short;
pub use sink::PcapSink;

/// The magic number that opens a pcapng file (its section header block type).
const PCAPNG_MAGIC: [u8; 4] = [0x0a, 0x0d, 0x0d, 0x0a];

/// Errors reading or writing a capture.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PcapError {
    /// The file could not be read or written.
    #[error("{op}: {source}")]
    Io {
        /// What was being done ("reading the file header", "writing frame 3").
        op: String,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// The file does not start with a pcap header.
    #[error("not a pcap file: {0}")]
    NotPcap(String),
    /// A pcapng block is inconsistent or the file ends inside one.
    #[error("block {index}: {reason}")]
    Block {
        /// 1-based block number.
        index: u64,
        /// What is wrong.
        reason: String,
    },
    /// A record header is inconsistent or the file ends inside a record.
    #[error("frame {index} (at byte offset {offset}): {reason}")]
    Record {
        /// 1-based record number, as Wireshark and `tcpdump -r` count.
        index: u64,
        /// Byte offset of the record header in the file.
        offset: u64,
        /// What is wrong.
        reason: String,
    },
    /// A link type that cannot be turned into Ethernet.
    #[error("link type {0} is not supported (Ethernet, Linux cooked v1/v2 and raw IP are)")]
    LinkType(u32),
}

/// The MAC addresses put into frames whose capture has no Ethernet header.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LinkMacs {
    /// The capturing host (the director): destination of received frames.
    pub local: MacAddr,
    /// Whoever sent the frame, when the capture does not say.
    pub peer: MacAddr,
}

/// A capture read into Ethernet frames.
#[derive(Clone, Debug, Default)]
pub struct Capture {
    /// The frames, in file order.
    pub frames: Vec<Frame>,
    /// Cooked-capture packets skipped because the capturing host sent them.
    pub skipped_outgoing: u64,
    /// Whether the file had nanosecond timestamps.
    pub nanosecond: bool,
}

/// Reads a whole pcap file, converting every record to Ethernet.
pub fn read_capture(mut input: impl Read, macs: LinkMacs) -> Result<Capture, PcapError> {
    let mut magic = [0u8; 4];
    input.read_exact(&mut magic).map_err(|e| match e.kind() {
        std::io::ErrorKind::UnexpectedEof => {
            PcapError::NotPcap("shorter than a pcap header".into())
        }
        _ => PcapError::Io {
            op: "reading the file header".into(),
            source: e,
        },
    })?;
    if magic == PCAPNG_MAGIC {
        return ng::read((&magic[..]).chain(input), macs);
    }
    let mut reader = PcapReader::new((&magic[..]).chain(input)).map_err(|e| match e {
        pcap_file::PcapError::IoError(source) => match source.kind() {
            std::io::ErrorKind::UnexpectedEof => {
                PcapError::NotPcap("shorter than a pcap header".into())
            }
            _ => PcapError::Io {
                op: "reading the file header".into(),
                source,
            },
        },
        other => PcapError::NotPcap(other.to_string()),
    })?;
    let header = reader.header();
    let link = header.datalink;
    if !link::supported(link) {
        return Err(PcapError::LinkType(link.into()));
    }
    let nanosecond = header.ts_resolution == TsResolution::NanoSecond;
    let mut capture = Capture {
        nanosecond,
        ..Capture::default()
    };
    let (mut index, mut offset) = (0u64, 24u64);
    while let Some(record) = reader.next_raw_packet() {
        index += 1;
        let at_offset = offset;
        let record_error = |reason: String| PcapError::Record {
            index,
            offset: at_offset,
            reason,
        };
        let raw = record.map_err(|e| match e {
            pcap_file::PcapError::IncompleteBuffer => {
                record_error("file ends inside the record".into())
            }
            pcap_file::PcapError::IoError(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => {
                record_error("file ends inside the record".into())
            }
            pcap_file::PcapError::IoError(source) => PcapError::Io {
                op: format!("reading frame {index}"),
                source,
            },
            other => record_error(other.to_string()),
        })?;
        let at = timestamp(&raw, nanosecond).map_err(|r| record_error(r.into()))?;
        if raw.incl_len > raw.orig_len {
            return Err(record_error(format!(
                "captured length {} exceeds the original length {}",
                raw.incl_len, raw.orig_len
            )));
        }
        offset += 16 + u64::from(raw.incl_len);
        match link::to_ethernet(link, &raw.data, macs) {
            Ok(Some(data)) => capture.frames.push(Frame::new(at, data)),
            Ok(None) => capture.skipped_outgoing += 1,
            Err(Short) => {
                return Err(record_error(format!(
                    "{} bytes is too short for its link header",
                    raw.data.len()
                )));
            }
        }
    }
    Ok(capture)
}

fn timestamp(raw: &RawPcapPacket<'_>, nanosecond: bool) -> Result<Instant, &'static str> {
    let frac = if nanosecond {
        raw.ts_frac
    } else {
        raw.ts_frac.saturating_mul(1000)
    };
    if frac >= 1_000_000_000 {
        return Err("timestamp fraction is not below one second");
    }
    let nanos = Duration::new(u64::from(raw.ts_sec), frac).as_nanos();
    Ok(Instant::from_nanos(
        u64::try_from(nanos).unwrap_or(u64::MAX),
    ))
}
