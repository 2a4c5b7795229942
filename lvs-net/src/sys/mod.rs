//! Every `unsafe` block of lvs-net lives here, each with a `// SAFETY:` comment. The wrappers
//! return `io::Result`; the safe layers above add which operation on which interface failed.

mod packet;
mod ring;

pub(crate) use packet::{
    Poller, TxScratch, add_promisc, attach_fanout, bind_ll, if_index, if_mac, packet_socket,
    packet_stats, send_batch, set_fanout_cbpf, set_int_opt, setns_fd, setns_path,
};
pub(crate) use ring::RxRing;
