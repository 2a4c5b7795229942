//! Commands written back as ipvsadm words, in the shape of `ipvsadm -S -n` (the rules
//! `ipvsadm -R` reads back).

use core::fmt;

use super::{
    AddressFamily, Command, DestConfig, FwdMethod, Netmask, ServiceConfig, ServiceKey,
    SocketDisplay, TunnelCsum, TunnelType,
};

impl fmt::Display for Command {
    /// `ipvsadm -S -n` order: `-A svc -s sched [-p T] [-M mask] [--pe pe] [-o] [-b flags]` and
    /// `-a svc -r dest -m|-i|-g -w W [--tun-type ...]`. Two additions so that every command
    /// reads back unchanged: `-M` is written whenever it is not the host mask (ipvsadm writes it
    /// for persistent services only), and `-x`/`-y` when set (`ipvsadm -S` drops thresholds).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::AddService(key, config) => write_service(f, "-A", key, config),
            Self::EditService(key, config) => write_service(f, "-E", key, config),
            Self::DeleteService(key) => write!(f, "-D {key}"),
            Self::Clear => f.write_str("-C"),
            Self::AddDest(key, dest) => write_dest(f, "-a", key, dest),
            Self::EditDest(key, dest) => write_dest(f, "-e", key, dest),
            Self::DeleteDest(key, addr, port) => {
                write!(f, "-d {key} -r {}", SocketDisplay(*addr, *port))
            }
        }
    }
}

fn write_service(
    f: &mut fmt::Formatter<'_>,
    cmd: &str,
    key: &ServiceKey,
    config: &ServiceConfig,
) -> fmt::Result {
    write!(f, "{cmd} {key} -s {}", config.scheduler)?;
    if let Some(t) = config.persistent {
        write!(f, " -p {t}")?;
    }
    match (config.netmask, key.af()) {
        (m, af) if m == Netmask::host(af) => {}
        (Netmask::V4(m), AddressFamily::Inet) => write!(f, " -M {m}")?,
        (Netmask::V6(len), AddressFamily::Inet6) => write!(f, " -M {len}")?,
        // A mask of the other family cannot be written; ipvsadm never makes one.
        _ => {}
    }
    if let Some(pe) = &config.pe {
        write!(f, " --pe {pe}")?;
    }
    if config.one_packet {
        f.write_str(" -o")?;
    }
    if !config.sched_flags.is_empty() {
        write!(f, " -b {}", config.sched_flags.display(&config.scheduler))?;
    }
    Ok(())
}

fn write_dest(
    f: &mut fmt::Formatter<'_>,
    cmd: &str,
    key: &ServiceKey,
    d: &DestConfig,
) -> fmt::Result {
    let fwd = match d.fwd {
        FwdMethod::Masq => "-m",
        FwdMethod::Tunnel => "-i",
        FwdMethod::Route => "-g",
    };
    write!(
        f,
        "{cmd} {key} -r {} {fwd} -w {}",
        SocketDisplay(d.addr, d.port),
        d.weight
    )?;
    if d.fwd == FwdMethod::Tunnel {
        let csum = match d.tunnel.csum {
            TunnelCsum::NoCsum => "--tun-nocsum",
            TunnelCsum::Csum => "--tun-csum",
            TunnelCsum::RemCsum => "--tun-remcsum",
        };
        match d.tunnel.kind {
            TunnelType::Ipip => f.write_str(" --tun-type ipip")?,
            TunnelType::Gue => write!(f, " --tun-type gue --tun-port {} {csum}", d.tunnel.port)?,
            TunnelType::Gre => write!(f, " --tun-type gre {csum}")?,
        }
    }
    if d.u_threshold != 0 {
        write!(f, " -x {}", d.u_threshold)?;
    }
    if d.l_threshold != 0 {
        write!(f, " -y {}", d.l_threshold)?;
    }
    Ok(())
}
