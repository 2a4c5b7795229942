//! The master side: entries batched into messages the way the kernel's sync buffers fill.

use core::time::Duration;
use std::collections::VecDeque;

use super::codec::{encode_entry, entry_len};
use super::conn::SyncConn;
use super::{HEADER_LEN, SyncError, default_maxlen};
use crate::time::Instant;

/// A partly filled message is sent at the latest this long after its first entry
/// (`IPVS_SYNC_FLUSH_TIME`, 2 s).
pub const FLUSH_TIME: Duration = Duration::from_secs(2);
/// Complete messages kept while nobody polls; the oldest is dropped beyond (the kernel's
/// `sync_qlen_max` drops new ones; either way the backup misses a refresh, not a conn).
const MAX_QUEUE: usize = 1024;

/// Master sync parameters (`ipvsadm --start-daemon master --syncid --sync-maxlen`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct SyncSenderConfig {
    /// Sync ID written into every message (0..=255).
    pub syncid: u8,
    /// Longest message (UDP payload); see [`clamp_maxlen`](super::clamp_maxlen).
    pub maxlen: usize,
}

impl Default for SyncSenderConfig {
    fn default() -> Self {
        Self {
            syncid: 0,
            maxlen: default_maxlen(false),
        }
    }
}

/// Counters of a [`SyncSender`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
#[allow(missing_docs)] // each field counts what its name says
pub struct SyncStats {
    pub conns: u64,
    pub messages: u64,
    pub unencodable: u64,
    pub queue_overflows: u64,
    pub buffer_too_small: u64,
}

/// Batches [`SyncConn`]s into version 1 messages. Sans-IO: [`push`](Self::push) entries,
/// send every [`poll_transmit`](Self::poll_transmit) result, call
/// [`handle_timeout`](Self::handle_timeout) at [`poll_timeout`](Self::poll_timeout).
#[derive(Debug, Clone, Default)]
pub struct SyncSender {
    config: SyncSenderConfig,
    current: Vec<u8>,
    capacity: usize,
    first_use: Option<Instant>,
    ready: VecDeque<Vec<u8>>,
    stats: SyncStats,
}

impl SyncSender {
    /// An empty sender.
    pub fn new(config: SyncSenderConfig) -> Self {
        Self {
            config,
            ..Self::default()
        }
    }

    /// Counters.
    pub fn stats(&self) -> &SyncStats {
        &self.stats
    }

    /// Appends `conn` to the current message. When it does not fit (or the message has 255
    /// entries, the u8 count's limit) the current message is closed and queued first. An entry
    /// larger than `maxlen` gets a message of its own, as in the kernel.
    pub fn push(&mut self, now: Instant, conn: &SyncConn) -> Result<(), SyncError> {
        let len = entry_len(conn).inspect_err(|_| self.stats.unencodable += 1)?;
        let pad = (4 - self.current.len() % 4) % 4;
        let count = self.current.get(4).copied().unwrap_or(0);
        if !self.current.is_empty()
            && (self.current.len() + pad + len > self.capacity || count == u8::MAX)
        {
            self.close();
        }
        if self.current.is_empty() {
            self.capacity = (len + HEADER_LEN).max(self.config.maxlen);
            self.current
                .extend_from_slice(&[0, self.config.syncid, 0, 0, 0, 1, 0, 0]);
            self.first_use = Some(now);
        } else {
            self.current.resize(self.current.len() + pad, 0);
        }
        let at = self.current.len();
        self.current.resize(at + len, 0);
        encode_entry(conn, &mut self.current[at..])?;
        self.current[4] += 1;
        let size = u16::try_from(self.current.len()).unwrap_or(u16::MAX);
        self.current[2..4].copy_from_slice(&size.to_be_bytes());
        self.stats.conns += 1;
        Ok(())
    }

    /// When the current partial message must go out.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.first_use.map(|t| t + FLUSH_TIME)
    }

    /// Closes the current message if it has waited [`FLUSH_TIME`].
    pub fn handle_timeout(&mut self, now: Instant) {
        if self.poll_timeout().is_some_and(|t| t <= now) {
            self.close();
        }
    }

    /// Closes the current message now (e.g. before stopping).
    pub fn flush(&mut self) {
        self.close();
    }

    /// Copies the next complete message into `buf` and returns its length. A message longer
    /// than `buf` is dropped and counted.
    pub fn poll_transmit(&mut self, buf: &mut [u8]) -> Option<usize> {
        while let Some(msg) = self.ready.pop_front() {
            if let Some(out) = buf.get_mut(..msg.len()) {
                out.copy_from_slice(&msg);
                return Some(msg.len());
            }
            self.stats.buffer_too_small += 1;
        }
        None
    }

    fn close(&mut self) {
        self.first_use = None;
        if self.current.is_empty() {
            return;
        }
        if self.ready.len() >= MAX_QUEUE {
            self.ready.pop_front();
            self.stats.queue_overflows += 1;
        }
        self.ready.push_back(core::mem::take(&mut self.current));
        self.stats.messages += 1;
    }
}
