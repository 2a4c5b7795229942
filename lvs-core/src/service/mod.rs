//! Services and their dests, as the kernel keeps them (see issue 3).
