//! Worker counters: relaxed atomics written by one worker, read by anyone (metrics, tests).

use std::sync::atomic::{AtomicU64, Ordering};

macro_rules! counters {
    ($($(#[$doc:meta])* $name:ident,)*) => {
        /// Live counters of one worker (cloned `Arc` handles read them while it runs).
        #[derive(Debug, Default)]
        pub struct Counters {
            $($(#[$doc])* pub $name: AtomicU64,)*
        }

        /// A plain copy of [`Counters`].
        #[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
        pub struct CountersSnapshot {
            $($(#[$doc])* pub $name: u64,)*
        }

        impl Counters {
            /// Reads every counter.
            pub fn snapshot(&self) -> CountersSnapshot {
                CountersSnapshot { $($name: self.$name.load(Ordering::Relaxed),)* }
            }
        }

        impl CountersSnapshot {
            /// `(name, value)` pairs, for metrics export.
            pub fn iter(&self) -> impl Iterator<Item = (&'static str, u64)> {
                [$((stringify!($name), self.$name),)*].into_iter()
            }

            /// Field-wise sum (totals over workers).
            pub fn add(&self, o: &Self) -> Self {
                Self { $($name: self.$name + o.$name,)* }
            }
        }
    };
}

counters! {
    /// Frames received from the rings.
    rx_frames,
    /// Bytes received.
    rx_bytes,
    /// Frames the kernel accepted for transmission (forwarded, replies, originated).
    tx_frames,
    /// Frames sendmmsg refused.
    tx_errors,
    /// Handler verdict Forward.
    forwarded,
    /// Handler verdict Reply.
    replies,
    /// Handler verdict Drop.
    handler_drops,
    /// Handler verdict Pass.
    passed,
    /// Frames the handler originated (poll_transmit).
    originated,
    /// CHECKSUM_PARTIAL frames whose checksum the worker completed.
    csum_completed,
    /// GSO super-frames handed to the handler whole and sent on with a GSO header.
    gso_whole,
    /// GSO super-frames cut into segments in software first (the handler asked, e.g. TUN).
    gso_segmented,
    /// GSO super-frames refused: a type the data plane does not carry, or a train that could
    /// not be segmented or described after the rewrite (see `device::vnet`).
    drop_gso,
    /// Frames with inconsistent virtio_net_hdr checksum offsets.
    drop_bad_vnet,
    /// Frames cut by the ring (snaplen < wire length).
    drop_truncated,
    /// Frames that did not fit in a PacketBuf.
    drop_buffer,
    /// Frames whose next hop did not resolve (ARP/ND failed).
    drop_neigh_failed,
    /// Frames dropped because the unresolved queue was full.
    drop_neigh_queue,
    /// Frames queued waiting for ARP/ND.
    neigh_queued,
    /// ARP requests and neighbour solicitations sent.
    neigh_requests,
    /// Frames the kernel offered to the RX sockets (PACKET_STATISTICS).
    ring_packets,
    /// Frames the kernel dropped because the ring was full (PACKET_STATISTICS).
    ring_drops,
    /// Ring freezes (PACKET_STATISTICS).
    ring_freezes,
}

impl Counters {
    pub(crate) fn inc(c: &AtomicU64, n: u64) {
        c.fetch_add(n, Ordering::Relaxed);
    }

    pub(crate) fn set(c: &AtomicU64, n: u64) {
        c.store(n, Ordering::Relaxed);
    }
}
