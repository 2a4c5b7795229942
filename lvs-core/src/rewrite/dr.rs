//! DR (direct routing, `ipvsadm -g`): only the Ethernet addresses change; the IP packet,
//! addressed to the VIP, is handed to the real server, which owns the VIP on a non-ARPing
//! interface and answers the client directly (LVS-SPEC "Forwarding methods").

use super::RewriteError;
use crate::wire::MacAddr;

/// Sets the destination MAC to the real server's and the source MAC to the director's.
///
/// The IP header is untouched here; TTL is decremented separately by [`super::decrement_ttl`].
pub fn dr(frame: &mut [u8], rs_mac: MacAddr, director_mac: MacAddr) -> Result<(), RewriteError> {
    let hdr = frame.get_mut(..12).ok_or(RewriteError::Truncated)?;
    hdr[..6].copy_from_slice(&rs_mac.0);
    hdr[6..].copy_from_slice(&director_mac.0);
    Ok(())
}
