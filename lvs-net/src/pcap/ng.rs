//! pcapng files (Wireshark's and dumpcap's default format).
//!
//! Blocks are parsed by `pcap-file`; timestamps are scaled here, because pcap-file 2.0 reads the
//! 64-bit timestamp of an enhanced packet block as nanoseconds whatever the interface's
//! `if_tsresol` says, while the format's default unit is the microsecond.

use std::io::Read;

use lvs_core::replay::Frame;
use lvs_core::time::Instant;
use pcap_file::DataLink;
use pcap_file::pcapng::blocks::interface_description::InterfaceDescriptionOption;
use pcap_file::pcapng::{Block, PcapNgReader};

use super::link::{self, Short};
use super::{Capture, LinkMacs, PcapError};

/// What the packets of one interface need: its link type and its clock.
struct Interface {
    link: DataLink,
    /// `if_tsresol`: bit 7 clear = 10^-n s units, set = 2^-n s units. Default 6 (microseconds).
    tsresol: u8,
    /// `if_tsoffset`: seconds added to every timestamp.
    tsoffset: u64,
}

/// Reads a whole pcapng stream (`input` starts at its section header block).
pub(super) fn read(input: impl Read, macs: LinkMacs) -> Result<Capture, PcapError> {
    let mut reader =
        PcapNgReader::new(input).map_err(|e| PcapError::NotPcap(format!("pcapng: {e}")))?;
    let mut interfaces: Vec<Interface> = Vec::new();
    let mut capture = Capture::default();
    // The reader has consumed the section header: block 1.
    let mut index = 1u64;
    let mut last = Instant::ZERO;
    while let Some(block) = reader.next_block() {
        index += 1;
        let block_error = |reason: String| PcapError::Block { index, reason };
        let block = block.map_err(|e| match e {
            pcap_file::PcapError::IncompleteBuffer => {
                block_error("file ends inside the block".into())
            }
            pcap_file::PcapError::IoError(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => {
                block_error("file ends inside the block".into())
            }
            other => block_error(other.to_string()),
        })?;
        // (interface, raw timestamp, data) of a packet block.
        let (iface, raw_ts, data) = match block {
            // A new section starts its own interface numbering.
            Block::SectionHeader(_) => {
                interfaces.clear();
                continue;
            }
            Block::InterfaceDescription(idb) => {
                let mut iface = Interface {
                    link: idb.linktype,
                    tsresol: 6,
                    tsoffset: 0,
                };
                for option in &idb.options {
                    match option {
                        InterfaceDescriptionOption::IfTsResol(r) => iface.tsresol = *r,
                        InterfaceDescriptionOption::IfTsOffset(o) => iface.tsoffset = *o,
                        _ => {}
                    }
                }
                if !link::supported(iface.link) {
                    return Err(PcapError::LinkType(iface.link.into()));
                }
                capture.nanosecond |= resolution_below_microsecond(iface.tsresol);
                interfaces.push(iface);
                continue;
            }
            Block::EnhancedPacket(epb) => {
                // pcap-file stored the raw 64-bit value as nanoseconds: take it back.
                let raw = u64::try_from(epb.timestamp.as_nanos()).unwrap_or(u64::MAX);
                (epb.interface_id as usize, Some(raw), epb.data)
            }
            Block::Packet(pb) => (usize::from(pb.interface_id), Some(pb.timestamp), pb.data),
            // No interface id and no timestamp: interface 0, the previous packet's time.
            Block::SimplePacket(spb) => (0, None, spb.data),
            _ => continue,
        };
        let Some(iface) = interfaces.get(iface) else {
            return Err(block_error(format!(
                "packet of undeclared interface {iface}"
            )));
        };
        let at = raw_ts.map_or(last, |raw| scale(raw, iface));
        last = at;
        match link::to_ethernet(iface.link, &data, macs) {
            Ok(Some(frame)) => capture.frames.push(Frame::new(at, frame)),
            Ok(None) => capture.skipped_outgoing += 1,
            Err(Short) => {
                return Err(block_error(format!(
                    "{} bytes is too short for its link header",
                    data.len()
                )));
            }
        }
    }
    Ok(capture)
}

fn resolution_below_microsecond(tsresol: u8) -> bool {
    if tsresol & 0x80 == 0 {
        tsresol > 6
    } else {
        tsresol & 0x7f > 19
    }
}

/// A raw timestamp in the interface's units, as nanoseconds since the Unix epoch.
fn scale(raw: u64, iface: &Interface) -> Instant {
    let exponent = u32::from(iface.tsresol & 0x7f);
    let units_per_second: u128 = if iface.tsresol & 0x80 == 0 {
        10u128.checked_pow(exponent).unwrap_or(u128::MAX)
    } else {
        1u128.checked_shl(exponent).unwrap_or(u128::MAX)
    };
    let nanos = u128::from(raw) * 1_000_000_000 / units_per_second.max(1)
        + u128::from(iface.tsoffset) * 1_000_000_000;
    Instant::from_nanos(u64::try_from(nanos).unwrap_or(u64::MAX))
}
