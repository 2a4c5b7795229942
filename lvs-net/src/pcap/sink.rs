//! Writing Ethernet frames to a classic pcap file.

use std::io::Write;

use lvs_core::replay::Frame;
use pcap_file::pcap::{PcapHeader, PcapWriter, RawPcapPacket};
use pcap_file::{DataLink, TsResolution};

use super::PcapError;

/// The snap length written into output files: tcpdump's default.
const SNAPLEN: u32 = 262_144;

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
