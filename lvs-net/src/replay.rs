//! `replay` over files: pcap captures and an ipvsadm-save rules file in, a pcap file out.
//!
//! The logic is [`lvs_core::replay`]'s; this module only opens, reads and writes files, so that
//! the binary and the workspace's reference tests run the very same path.

use std::fs::File;
use std::io::{BufReader, BufWriter};
use std::net::IpAddr;
use std::path::{Path, PathBuf};

use lvs_core::director::{Director, DirectorConfig};
use lvs_core::replay::{self, RulesError, Summary};
use lvs_core::service::ServiceError;
use lvs_core::time::Instant;
use lvs_core::wire::MacAddr;

use crate::pcap::{LinkMacs, PcapError, PcapSink, read_capture};

/// The MAC `replay` gives the director unless told otherwise (locally administered).
pub const DEFAULT_MAC: MacAddr = MacAddr([0x02, 0, 0, 0, 0, 0x01]);
/// The MAC written as destination of forwarded frames whose next hop is unknown, and as the
/// source of frames from captures without Ethernet headers.
pub const DEFAULT_PEER_MAC: MacAddr = MacAddr([0x02, 0, 0, 0, 0, 0x02]);

/// What the director needs that a capture does not tell.
#[derive(Clone, Debug)]
pub struct ReplayOptions {
    /// The director's MAC: source of everything it sends, destination of cooked-capture frames.
    pub mac: MacAddr,
    /// Destination MAC for next hops the director cannot resolve (it learns from ARP/ND
    /// frames in the capture and from `neighbours`).
    pub peer_mac: MacAddr,
    /// Static neighbours: real servers' and clients' MACs.
    pub neighbours: Vec<(IpAddr, MacAddr)>,
    /// The director's own addresses (sources of ICMP errors it originates).
    pub addrs: Vec<IpAddr>,
    /// VIPs it answers ARP / neighbour solicitations for.
    pub vips: Vec<IpAddr>,
}

impl Default for ReplayOptions {
    fn default() -> Self {
        Self {
            mac: DEFAULT_MAC,
            peer_mac: DEFAULT_PEER_MAC,
            neighbours: Vec::new(),
            addrs: Vec::new(),
            vips: Vec::new(),
        }
    }
}

/// The outcome of a replay.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ReplayReport {
    /// The director's verdicts.
    pub summary: Summary,
    /// Cooked-capture packets the capturing host had sent (not replayed).
    pub skipped_outgoing: u64,
}

/// Errors of [`replay_files`], each naming its file.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ReplayError {
    /// A capture could not be read.
    #[error("{}: {source}", path.display())]
    Capture {
        /// The capture.
        path: PathBuf,
        /// What went wrong.
        #[source]
        source: PcapError,
    },
    /// The rules file could not be read.
    #[error("{}: {source}", path.display())]
    RulesFile {
        /// The rules file.
        path: PathBuf,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// A line of the rules file does not parse.
    #[error("{}: {source}", path.display())]
    Rules {
        /// The rules file.
        path: PathBuf,
        /// The line and ipvsadm's complaint.
        #[source]
        source: RulesError,
    },
    /// A rule was refused by the service table (as the kernel would: `Service already exists`).
    #[error("{}: line {line}: {source}", path.display())]
    Apply {
        /// The rules file.
        path: PathBuf,
        /// 1-based line number.
        line: usize,
        /// The table's error.
        #[source]
        source: ServiceError,
    },
    /// The output could not be written.
    #[error("{}: {source}", path.display())]
    Output {
        /// The output file.
        path: PathBuf,
        /// What went wrong.
        #[source]
        source: PcapError,
    },
}

/// Replays `inputs` (merged by timestamp) through a director configured by `rules` and writes
/// every frame it transmits to `out`. The rules apply at the first frame's timestamp.
pub fn replay_files(
    inputs: &[PathBuf],
    rules: &Path,
    out: &Path,
    options: &ReplayOptions,
) -> Result<ReplayReport, ReplayError> {
    let text = std::fs::read_to_string(rules).map_err(|source| ReplayError::RulesFile {
        path: rules.to_owned(),
        source,
    })?;
    let rules_parsed = replay::parse_rules(&text).map_err(|source| ReplayError::Rules {
        path: rules.to_owned(),
        source,
    })?;
    let macs = LinkMacs {
        local: options.mac,
        peer: options.peer_mac,
    };
    let mut captures = Vec::new();
    let mut report = ReplayReport::default();
    let mut nanosecond = false;
    for path in inputs {
        let capture_error = |source| ReplayError::Capture {
            path: path.clone(),
            source,
        };
        let file = File::open(path).map_err(|source| {
            capture_error(PcapError::Io {
                op: "opening".into(),
                source,
            })
        })?;
        let capture = read_capture(BufReader::new(file), macs).map_err(capture_error)?;
        report.skipped_outgoing += capture.skipped_outgoing;
        nanosecond |= capture.nanosecond;
        captures.push(capture.frames);
    }
    let frames = replay::merge(captures);
    let start = frames.first().map_or(Instant::ZERO, |f| f.at);
    let mut director = Director::new(DirectorConfig {
        mac: options.mac,
        addrs: options.addrs.clone(),
        vips: options.vips.clone(),
        neighbours: options.neighbours.clone(),
        ..DirectorConfig::default()
    });
    for rule in &rules_parsed {
        director
            .apply(&rule.command, start)
            .map_err(|source| ReplayError::Apply {
                path: rules.to_owned(),
                line: rule.line,
                source,
            })?;
    }
    let output_error = |source| ReplayError::Output {
        path: out.to_owned(),
        source,
    };
    let file = File::create(out).map_err(|source| {
        output_error(PcapError::Io {
            op: "creating".into(),
            source,
        })
    })?;
    let mut sink = PcapSink::new(BufWriter::new(file), nanosecond).map_err(output_error)?;
    let mut write_error = None;
    report.summary = replay::replay(&mut director, frames, options.peer_mac, |frame| {
        if write_error.is_none() {
            write_error = sink.write(&frame).err();
        }
    });
    if let Some(e) = write_error {
        return Err(output_error(e));
    }
    sink.finish().map_err(output_error)?;
    Ok(report)
}
