//! The host around the data plane: GRO/LRO off on the balanced interfaces (GRO back on at
//! exit where it was on), and the nftables
//! rules that keep the host kernel off balanced traffic (`lvs_net::device::isolate`):
//! client-facing interfaces drop frames to the VIPs, server-facing ones drop frames to the
//! FULLNAT local addresses and from NAT real servers (their replies would otherwise be
//! forwarded a second time, untranslated, on a host with `ip_forward=1`).
//!
//! The real-server list comes from the rules, so a reload that adds or removes NAT dests
//! re-applies the rules ([`HostSetup::refresh`]).

use std::net::IpAddr;
use std::path::PathBuf;

use lvs_net::device::DeviceError;
use lvs_net::device::isolate::Isolation;

use crate::config::{Interface, Role};

/// What was set up, to refresh and to undo.
pub(crate) struct HostSetup {
    netns: Option<PathBuf>,
    interfaces: Vec<Interface>,
    isolate: bool,
    vips: Vec<IpAddr>,
    laddrs: Vec<IpAddr>,
    rips: Vec<IpAddr>,
    rules: Vec<Isolation>,
    /// Interfaces whose GRO was on before we turned it off (turned back on at exit).
    gro_was_on: Vec<String>,
}

/// Whether `ethtool -k IF` reports GRO on.
fn gro_on(ifname: &str) -> bool {
    std::process::Command::new("ethtool")
        .args(["-k", ifname])
        .output()
        .is_ok_and(|o| {
            String::from_utf8_lossy(&o.stdout)
                .lines()
                .any(|l| l.trim() == "generic-receive-offload: on")
        })
}

/// Runs `f` in the namespace at `netns` (on a helper thread), or here.
fn in_netns<T: Send + 'static>(
    netns: &Option<PathBuf>,
    f: impl FnOnce() -> Result<T, DeviceError> + Send + 'static,
) -> Result<T, DeviceError> {
    let Some(p) = netns.clone() else {
        return f();
    };
    let name = p.display().to_string();
    std::thread::spawn(move || {
        lvs_net::device::enter_netns(&p)?;
        f()
    })
    .join()
    .unwrap_or_else(|_| {
        Err(DeviceError {
            op: "host set-up thread",
            ifname: name,
            source: std::io::Error::other("panicked"),
        })
    })
}

fn load(
    interfaces: &[Interface],
    vips: &[IpAddr],
    laddrs: &[IpAddr],
    rips: &[IpAddr],
) -> Result<Vec<Isolation>, DeviceError> {
    let mut out = Vec::new();
    for itf in interfaces {
        let (mut dst, mut src) = (Vec::new(), Vec::new());
        if itf.role != Role::Server {
            dst.extend(vips);
        }
        if itf.role != Role::Client {
            dst.extend(laddrs);
            src.extend(rips);
        }
        if !dst.is_empty() || !src.is_empty() {
            out.push(Isolation::apply(&itf.name, &dst, &src)?);
        }
    }
    Ok(out)
}

impl HostSetup {
    /// Turns offloads off (when `offloads_off`) and loads the isolation rules (when `isolate`).
    pub(crate) fn apply(
        netns: Option<PathBuf>,
        interfaces: Vec<Interface>,
        offloads_off: bool,
        isolate: bool,
        vips: Vec<IpAddr>,
        laddrs: Vec<IpAddr>,
        rips: Vec<IpAddr>,
    ) -> Result<Self, DeviceError> {
        let (i, v, l, r) = (
            interfaces.clone(),
            vips.clone(),
            laddrs.clone(),
            rips.clone(),
        );
        let (rules, gro_was_on) = in_netns(&netns, move || {
            let mut was_on = Vec::new();
            if offloads_off {
                for itf in &i {
                    if gro_on(&itf.name) {
                        was_on.push(itf.name.clone());
                    }
                    lvs_net::device::disable_offloads(&itf.name)?;
                }
            }
            let rules = if isolate {
                load(&i, &v, &l, &r)?
            } else {
                Vec::new()
            };
            Ok((rules, was_on))
        })?;
        Ok(Self {
            netns,
            interfaces,
            isolate,
            vips,
            laddrs,
            rips,
            rules,
            gro_was_on,
        })
    }

    /// Re-applies the rules when the NAT real servers changed.
    pub(crate) fn refresh(&mut self, rips: Vec<IpAddr>) -> Result<(), DeviceError> {
        if !self.isolate || rips == self.rips {
            return Ok(());
        }
        let (i, v, l, r) = (
            self.interfaces.clone(),
            self.vips.clone(),
            self.laddrs.clone(),
            rips.clone(),
        );
        let new = in_netns(&self.netns, move || load(&i, &v, &l, &r))?;
        // Isolation::apply replaced each interface's table in one nft transaction; dropping
        // the old handles would delete the new tables (same names), so they are forgotten.
        // The cost is one open namespace fd per changed reload (lvs-net could offer an
        // in-place update instead).
        for old in std::mem::replace(&mut self.rules, new) {
            std::mem::forget(old);
        }
        self.rips = rips;
        Ok(())
    }

    /// Removes the rules (also done by each rule's Drop; this logs failures) and turns GRO
    /// back on where it was on.
    pub(crate) fn remove(&mut self) {
        for iso in self.rules.drain(..) {
            if let Err(e) = iso.remove() {
                tracing::warn!("removing nftables rules: {e}");
            }
        }
        let gro = std::mem::take(&mut self.gro_was_on);
        let restored = in_netns(&self.netns, move || {
            for name in &gro {
                let st = std::process::Command::new("ethtool")
                    .args(["-K", name, "gro", "on"])
                    .status();
                if !st.is_ok_and(|s| s.success()) {
                    tracing::warn!(interface = %name, "could not turn GRO back on");
                }
            }
            Ok(())
        });
        if let Err(e) = restored {
            tracing::warn!("restoring offloads: {e}");
        }
    }
}
