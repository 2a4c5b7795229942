//! The TPACKET_V3 receive ring (packet(7), Documentation/networking/packet_mmap.rst).
//!
//! Only the mapping and the hand-over of a block between kernel and user (the `block_status`
//! word) need raw memory access; the block contents are handed out as a `&mut [u8]` and parsed
//! with safe code in `device::block`.

use std::io;
use std::os::fd::{AsRawFd, BorrowedFd};
use std::ptr::NonNull;
use std::sync::atomic::{AtomicU32, Ordering};

/// Offset of `hdr.bh1.block_status` in `struct tpacket_block_desc`.
const BLOCK_STATUS: usize = 8;

/// An mmap'ed TPACKET_V3 RX ring, walked block by block.
pub(crate) struct RxRing {
    map: NonNull<u8>,
    block_size: usize,
    blocks: usize,
    cur: usize,
}

// SAFETY: the mapping is owned by this value alone (no aliases are handed out beyond a borrow
// of `self`), so moving it to another thread is sound.
unsafe impl Send for RxRing {}

impl core::fmt::Debug for RxRing {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("RxRing")
            .field("block_size", &self.block_size)
            .field("blocks", &self.blocks)
            .finish()
    }
}

impl RxRing {
    /// Switches `fd` to TPACKET_V3 and maps a ring of `blocks` blocks of `block_size` bytes;
    /// the kernel retires a partly filled block after `retire_ms` milliseconds.
    pub(crate) fn new(
        fd: BorrowedFd<'_>,
        block_size: u32,
        blocks: u32,
        retire_ms: u32,
    ) -> io::Result<Self> {
        super::set_int_opt(
            fd,
            libc::SOL_PACKET,
            libc::PACKET_VERSION,
            libc::tpacket_versions::TPACKET_V3 as i32,
        )?;
        // V3 packs variable-size frames into blocks; tp_frame_size only has to divide the block.
        let frame_size = 2048;
        let req = libc::tpacket_req3 {
            tp_block_size: block_size,
            tp_block_nr: blocks,
            tp_frame_size: frame_size,
            tp_frame_nr: block_size / frame_size * blocks,
            tp_retire_blk_tov: retire_ms,
            tp_sizeof_priv: 0,
            tp_feature_req_word: 0,
        };
        let len = size_of::<libc::tpacket_req3>() as libc::socklen_t;
        // SAFETY: `req` is a valid tpacket_req3 of `len` bytes for the duration of the call.
        let rc = unsafe {
            libc::setsockopt(
                fd.as_raw_fd(),
                libc::SOL_PACKET,
                libc::PACKET_RX_RING,
                (&raw const req).cast(),
                len,
            )
        };
        if rc < 0 {
            return Err(io::Error::last_os_error());
        }
        let size = block_size as usize * blocks as usize;
        // SAFETY: a fresh shared mapping of the socket's ring; the kernel validated the size.
        let p = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                size,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_SHARED,
                fd.as_raw_fd(),
                0,
            )
        };
        if p == libc::MAP_FAILED {
            return Err(io::Error::last_os_error());
        }
        let map = NonNull::new(p.cast::<u8>())
            .ok_or_else(|| io::Error::from_raw_os_error(libc::ENOMEM))?;
        Ok(Self {
            map,
            block_size: block_size as usize,
            blocks: blocks as usize,
            cur: 0,
        })
    }

    fn status(&self) -> &AtomicU32 {
        // SAFETY: `block_status` is a 4-byte aligned u32 inside the mapping (blocks are
        // page-aligned); the kernel writes it concurrently, hence the atomic view.
        unsafe {
            &*self
                .map
                .as_ptr()
                .add(self.cur * self.block_size + BLOCK_STATUS)
                .cast::<AtomicU32>()
        }
    }

    /// The current block if the kernel has handed it to user space.
    pub(crate) fn current(&mut self) -> Option<&mut [u8]> {
        // Acquire pairs with the kernel's smp_wmb before it flips the status to TP_STATUS_USER.
        if self.status().load(Ordering::Acquire) & libc::TP_STATUS_USER == 0 {
            return None;
        }
        // SAFETY: the block belongs to user space until `release`; the borrow of `self` keeps
        // the mapping alive and unaliased for the slice's lifetime.
        Some(unsafe {
            std::slice::from_raw_parts_mut(
                self.map.as_ptr().add(self.cur * self.block_size),
                self.block_size,
            )
        })
    }

    /// Gives the current block back to the kernel and moves to the next one.
    pub(crate) fn release(&mut self) {
        self.status()
            .store(libc::TP_STATUS_KERNEL, Ordering::Release);
        self.cur = (self.cur + 1) % self.blocks;
    }
}

impl Drop for RxRing {
    fn drop(&mut self) {
        // SAFETY: unmaps exactly the region mapped in `new`; no borrows outlive `self`.
        unsafe {
            libc::munmap(self.map.as_ptr().cast(), self.block_size * self.blocks);
        }
    }
}
