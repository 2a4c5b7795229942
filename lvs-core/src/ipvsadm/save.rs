//! `ipvsadm -S` (FMT_RULE): one `-A` line per service and one `-a` line per dest, the lines
//! `ipvsadm -R` reads back.
//!
//! As in ipvsadm 1.31, thresholds (`-x`/`-y`) are not saved and `-M` is written only for
//! persistent services with a non-host mask.

use core::fmt::Write;

use super::list::{ListFormat, Resolver, list_all, sched_flag_names};
use super::model::{AdmDest, AdmFwd, AdmService, AdmState};

/// `ipvsadm -S [-n]`: services sorted as `-L` sorts them.
pub fn save(state: &AdmState, numeric: bool, res: &dyn Resolver) -> String {
    let fmt = ListFormat {
        rule: true,
        numeric,
        ..ListFormat::default()
    };
    list_all(state, &fmt, res)
}

/// The `-A` line without its newline.
pub(super) fn service_rule(out: &mut String, svc: &AdmService, name: &str) {
    let _ = write!(out, "-A {name} -s {}", svc.scheduler);
    if let Some(t) = svc.persistent {
        let _ = write!(out, " -p {t}");
        if !svc.ipv6 && svc.netmask != u32::MAX {
            let _ = write!(out, " -M {}", std::net::Ipv4Addr::from(svc.netmask));
        }
        if svc.ipv6 && svc.netmask != 128 {
            let _ = write!(out, " -M {}", svc.netmask);
        }
    }
    if let Some(pe) = &svc.pe {
        let _ = write!(out, " --pe {pe}");
    }
    if svc.one_packet {
        out.push_str(" -o");
    }
    if svc.sched_flags & 0x38 != 0 {
        let _ = write!(out, " -b {}", sched_flag_names(svc));
    }
}

/// The `-a` line with its newline (`print_tunnel_rule` for tunnel dests).
pub(super) fn dest_rule(out: &mut String, svc_name: &str, dname: &str, d: &AdmDest) {
    const CSUM: [&str; 3] = ["--tun-nocsum", "--tun-csum", "--tun-remcsum"];
    let csum = CSUM.get(usize::from(d.tun_flags)).copied().unwrap_or("");
    let _ = write!(
        out,
        "-a {svc_name} -r {dname} {} -w {}",
        d.fwd.switch(),
        d.weight
    );
    if d.fwd == AdmFwd::Tunnel {
        let _ = match d.tun_type {
            0 => write!(out, " --tun-type ipip"),
            1 => write!(out, " --tun-type gue --tun-port {} {csum}", d.tun_port),
            2 => write!(out, " --tun-type gre {csum}"),
            _ => Ok(()),
        };
    }
    out.push('\n');
}
