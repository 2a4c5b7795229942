//! Typed views over packet bytes, checksums and flow keys (see issue 2).
