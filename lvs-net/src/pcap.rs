//! pcap capture files: read any common capture as Ethernet [`Frame`]s, write frames back.
//!
//! Parsing of the file format is the `pcap-file` crate's (2.x, the stable line). Records are read
//! with its *raw* API and validated here, because its checked reader refuses records whose
//! original length exceeds the snap length, which is exactly what `tcpdump -s N` writes.
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
//! pcapng files are refused with a hint to convert them (`editcap -F pcap`).

use std::io::{Read, Write};
use std::time::Duration;

use lvs_core::replay::Frame;
use lvs_core::time::Instant;
use lvs_core::wire::MacAddr;
use pcap_file::pcap::{PcapHeader, PcapReader, PcapWriter, RawPcapPacket};
use pcap_file::{DataLink, TsResolution};

/// The magic number that opens a pcapng file (its section header block type).
const PCAPNG_MAGIC: [u8; 4] = [0x0a, 0x0d, 0x0d, 0x0a];
/// The snap length written into output files: tcpdump's default.
const SNAPLEN: u32 = 262_144;

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
    /// A pcapng file; only classic pcap is read.
    #[error("pcapng files are not supported: convert with `editcap -F pcap IN OUT`")]
    PcapNg,
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
        return Err(PcapError::PcapNg);
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
    if !matches!(
        link,
        DataLink::ETHERNET
            | DataLink::LINUX_SLL
            | DataLink::LINUX_SLL2
            | DataLink::RAW
            | DataLink::IPV4
            | DataLink::IPV6
    ) {
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
        match to_ethernet(link, &raw.data, macs) {
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

/// Why a record could not be converted: too short for its link-layer header.
struct Short;

/// Linux `PACKET_OUTGOING`: the capturing host sent this packet.
const PACKET_OUTGOING: u16 = 4;
/// Linux `PACKET_BROADCAST`.
const PACKET_BROADCAST: u16 = 1;

/// Converts one record to an Ethernet frame; `Ok(None)` for a packet to skip.
fn to_ethernet(link: DataLink, data: &[u8], macs: LinkMacs) -> Result<Option<Vec<u8>>, Short> {
    // (packet type, link address length, link address, protocol, payload) of a cooked header.
    let cooked = match link {
        DataLink::ETHERNET => return Ok(Some(data.to_vec())),
        DataLink::RAW | DataLink::IPV4 | DataLink::IPV6 => {
            let ethertype: u16 = match data.first().map(|b| b >> 4) {
                Some(4) => 0x0800,
                Some(6) => 0x86dd,
                _ => return Err(Short),
            };
            return Ok(Some(ethernet(macs.local, macs.peer, ethertype, data)));
        }
        // Linux cooked v1: type(2) arphrd(2) addr_len(2) addr(8) protocol(2), 16 bytes.
        DataLink::LINUX_SLL if data.len() >= 16 => (
            be16(data, 0),
            be16(data, 4),
            &data[6..14],
            be16(data, 14),
            &data[16..],
        ),
        // v2: protocol(2) reserved(2) ifindex(4) arphrd(2) type(1) addr_len(1) addr(8), 20 bytes.
        DataLink::LINUX_SLL2 if data.len() >= 20 => (
            u16::from(data[10]),
            u16::from(data[11]),
            &data[12..20],
            be16(data, 0),
            &data[20..],
        ),
        DataLink::LINUX_SLL | DataLink::LINUX_SLL2 => return Err(Short),
        // Refused when the header was read.
        _ => return Err(Short),
    };
    let (packet_type, addr_len, addr, protocol, payload) = cooked;
    if packet_type == PACKET_OUTGOING {
        return Ok(None);
    }
    let src = if addr_len == 6 {
        MacAddr::from_bytes(&addr[..6]).unwrap_or(macs.peer)
    } else {
        macs.peer
    };
    let dst = if packet_type == PACKET_BROADCAST {
        MacAddr::BROADCAST
    } else {
        macs.local
    };
    Ok(Some(ethernet(dst, src, protocol, payload)))
}

fn be16(data: &[u8], at: usize) -> u16 {
    u16::from_be_bytes([data[at], data[at + 1]])
}

fn ethernet(dst: MacAddr, src: MacAddr, ethertype: u16, payload: &[u8]) -> Vec<u8> {
    let mut frame = Vec::with_capacity(14 + payload.len());
    frame.extend_from_slice(&dst.octets());
    frame.extend_from_slice(&src.octets());
    frame.extend_from_slice(&ethertype.to_be_bytes());
    frame.extend_from_slice(payload);
    frame
}

/// Writes Ethernet frames to a pcap file (link type `EN10MB`, snap length 262144).
pub struct PcapSink<W: Write> {
    writer: PcapWriter<W>,
    nanosecond: bool,
    written: u64,
}

impl<W: Write> PcapSink<W> {
    /// Writes the file header. `nanosecond` selects nanosecond timestamps (pcap magic
    /// `a1b23c4d`); microseconds are the default every reader knows.
    pub fn new(output: W, nanosecond: bool) -> Result<Self, PcapError> {
        let header = PcapHeader {
            snaplen: SNAPLEN,
            datalink: DataLink::ETHERNET,
            ts_resolution: if nanosecond {
                TsResolution::NanoSecond
            } else {
                TsResolution::MicroSecond
            },
            endianness: pcap_file::Endianness::native(),
            ..PcapHeader::default()
        };
        let writer = PcapWriter::with_header(output, header)
            .map_err(|e| io_error("writing the file header", e))?;
        Ok(Self {
            writer,
            nanosecond,
            written: 0,
        })
    }

    /// Appends one frame. Frames longer than the snap length are cut, keeping the original length.
    pub fn write(&mut self, frame: &Frame) -> Result<(), PcapError> {
        let nanos = frame.at.as_nanos();
        let frac = u32::try_from(nanos % 1_000_000_000).unwrap_or(0);
        let orig_len = u32::try_from(frame.data.len()).unwrap_or(u32::MAX);
        let incl = frame.data.len().min(SNAPLEN as usize);
        let raw = RawPcapPacket {
            // pcap stores 32-bit seconds: past 2106 the value wraps, as in every pcap writer.
            ts_sec: (nanos / 1_000_000_000) as u32,
            ts_frac: if self.nanosecond { frac } else { frac / 1000 },
            incl_len: incl as u32,
            orig_len,
            data: std::borrow::Cow::Borrowed(&frame.data[..incl]),
        };
        self.written += 1;
        let op = format!("writing frame {}", self.written);
        self.writer
            .write_raw_packet(&raw)
            .map_err(|e| io_error(&op, e))?;
        Ok(())
    }

    /// The number of frames written.
    pub const fn written(&self) -> u64 {
        self.written
    }

    /// Flushes and returns the underlying writer.
    pub fn finish(self) -> Result<W, PcapError> {
        let mut output = self.writer.into_writer();
        output.flush().map_err(|source| PcapError::Io {
            op: "flushing the output".into(),
            source,
        })?;
        Ok(output)
    }
}

fn io_error(op: &str, e: pcap_file::PcapError) -> PcapError {
    match e {
        pcap_file::PcapError::IoError(source) => PcapError::Io {
            op: op.into(),
            source,
        },
        other => PcapError::Io {
            op: op.into(),
            source: std::io::Error::other(other.to_string()),
        },
    }
}
