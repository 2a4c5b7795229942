//! [`PacketBuf`]: a frame inside a larger caller-owned buffer, for rewrites that grow or shrink
//! the packet (TOA insertion, tunnel encapsulation and decapsulation).

use super::RewriteError;

/// A frame at `buf[start..start + len]`; the bytes before it are headroom, the bytes after it
/// tailroom.
///
/// Rewriters that grow a packet open a gap inside the frame by moving whichever side of the gap
/// is shorter into the headroom or tailroom (typically the Ethernet header moves back into the
/// headroom, so a 1500-byte payload is not copied). Shrinking moves the shorter side inwards. The
/// caller reads the result back with [`PacketBuf::start`] / [`PacketBuf::len`] or
/// [`PacketBuf::frame`]. Reserving 64 bytes of headroom covers every rewrite here (IPv6 + UDP +
/// GUE outer headers are 52 bytes).
#[derive(Debug)]
pub struct PacketBuf<'a> {
    buf: &'a mut [u8],
    start: usize,
    len: usize,
}

impl<'a> PacketBuf<'a> {
    /// Wraps `buf[start..start + len]`; fails with [`RewriteError::Truncated`] if out of range.
    pub fn new(buf: &'a mut [u8], start: usize, len: usize) -> Result<Self, RewriteError> {
        match start.checked_add(len) {
            Some(end) if end <= buf.len() => Ok(Self { buf, start, len }),
            _ => Err(RewriteError::Truncated),
        }
    }

    /// Offset of the frame in the buffer.
    pub fn start(&self) -> usize {
        self.start
    }

    /// Length of the frame.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether the frame is empty.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Free bytes before the frame.
    pub fn headroom(&self) -> usize {
        self.start
    }

    /// Free bytes after the frame.
    pub fn tailroom(&self) -> usize {
        self.buf.len() - self.start - self.len
    }

    /// The frame.
    #[inline(always)]
    pub fn frame(&self) -> &[u8] {
        &self.buf[self.start..self.start + self.len]
    }

    /// The frame, mutably.
    #[inline(always)]
    pub fn frame_mut(&mut self) -> &mut [u8] {
        &mut self.buf[self.start..self.start + self.len]
    }

    /// Opens `n` bytes at frame offset `at` (`at <= len`), moving the shorter side that fits.
    /// The gap's contents are unspecified. Nothing moves on error.
    pub(crate) fn open_gap(&mut self, at: usize, n: usize) -> Result<(), RewriteError> {
        if at > self.len {
            return Err(RewriteError::Truncated);
        }
        let front_ok = self.headroom() >= n;
        let back_ok = self.tailroom() >= n;
        let s = self.start;
        if front_ok && (at <= self.len - at || !back_ok) {
            self.buf.copy_within(s..s + at, s - n);
            self.start -= n;
        } else if back_ok {
            self.buf.copy_within(s + at..s + self.len, s + at + n);
        } else {
            return Err(RewriteError::NoRoom);
        }
        self.len += n;
        Ok(())
    }

    /// Removes `n` bytes at frame offset `at`, moving the shorter side inwards.
    pub(crate) fn close_gap(&mut self, at: usize, n: usize) -> Result<(), RewriteError> {
        if at.checked_add(n).is_none_or(|e| e > self.len) {
            return Err(RewriteError::Truncated);
        }
        let s = self.start;
        if at <= self.len - at - n {
            self.buf.copy_within(s..s + at, s + n);
            self.start += n;
        } else {
            self.buf.copy_within(s + at + n..s + self.len, s + at);
        }
        self.len -= n;
        Ok(())
    }

    /// Cuts the frame to `len` bytes (drops Ethernet padding after the IP packet), then opens
    /// `n` bytes at `at` like [`PacketBuf::open_gap`]. Checks the room first, so that on error
    /// nothing changes (not even the padding).
    pub(crate) fn truncate_and_open(
        &mut self,
        len: usize,
        at: usize,
        n: usize,
    ) -> Result<(), RewriteError> {
        let len = self.len.min(len);
        let tail = self.buf.len() - self.start - len;
        if at > len || (self.headroom() < n && tail < n) {
            return Err(RewriteError::NoRoom);
        }
        self.len = len;
        self.open_gap(at, n)
    }

    /// Cuts the frame to `len` bytes (drops Ethernet padding after the IP packet).
    pub(crate) fn truncate(&mut self, len: usize) {
        self.len = self.len.min(len);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gap_front_and_back() {
        let mut b = [0u8; 16];
        b[4..10].copy_from_slice(&[1, 2, 3, 4, 5, 6]);
        let mut p = PacketBuf::new(&mut b, 4, 6).unwrap();
        p.open_gap(1, 2).unwrap(); // front side is shorter
        assert_eq!(p.start(), 2);
        assert_eq!(p.frame()[0], 1);
        assert_eq!(&p.frame()[3..], &[2, 3, 4, 5, 6]);
        p.close_gap(1, 2).unwrap();
        assert_eq!(p.frame(), &[1, 2, 3, 4, 5, 6]);
        p.open_gap(5, 3).unwrap(); // back side is shorter
        assert_eq!(&p.frame()[..5], &[1, 2, 3, 4, 5]);
        assert_eq!(p.frame()[8], 6);
        assert_eq!(p.open_gap(0, 100), Err(RewriteError::NoRoom));
        assert_eq!(p.close_gap(7, 5), Err(RewriteError::Truncated));
    }
}
