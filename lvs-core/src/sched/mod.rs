//! The kernel IPVS schedulers (see issue 3).
