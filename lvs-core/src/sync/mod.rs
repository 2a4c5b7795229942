//! IPVS connection sync (filled in the next commit).
