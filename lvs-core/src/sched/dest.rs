//! The scheduler's view of a dest and the kernel's connection-counter rules.

use core::net::IpAddr;

/// Stable identity of a dest within its service, assigned by the service table.
///
/// Schedulers that remember dests across calls (rr's cursor, the lblc/lblcr caches) hold a
/// `DestId`, never an index, because indices shift when a dest is added at the list head. When the
/// service table models the kernel's dest trash (re-adding a deleted `addr:port` revives the same
/// `struct ip_vs_dest`), it should hand the revived dest its old `DestId`: lblc/lblcr cache entries
/// that still point at it then become valid again, as in the kernel.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct DestId(pub u32);

/// What a connection counts as on its dest (`ip_vs_bind_dest` / `ip_vs_unbind_dest`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ConnKind {
    /// A normal connection in an active state (TCP ESTABLISHED, SYN_SENT, SYN_RECV, SYNACK).
    Active,
    /// A normal connection in any other state. The kernel binds every new connection as
    /// inactive (`__ip_vs_update_dest` puts `IP_VS_CONN_F_INACTIVE` into the dest's conn flags);
    /// the protocol moves it to active on its first state change.
    Inactive,
    /// A persistence template: counted in `persist_conns`, not in the overload total.
    Template,
}

/// The scheduler's view of one dest.
///
/// Slices of these are always in kernel list order: index 0 is the NEWEST dest, because
/// `__ip_vs_update_dest` adds with `list_add_rcu` at the list head; deleting keeps the others'
/// order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SchedDest {
    /// Identity within the service.
    pub id: DestId,
    /// Real-server address (`daddr`).
    pub addr: IpAddr,
    /// Real-server port (`dport`).
    pub port: u16,
    /// Current weight; 0 quiesces the dest.
    pub weight: i32,
    /// The latest non-zero weight (or the weight given when added); mh lays its table by it.
    pub last_weight: i32,
    /// Connections in an active state (`activeconns`).
    pub active_conns: u32,
    /// Connections in other states (`inactconns`).
    pub inactive_conns: u32,
    /// Persistence templates (`persistconns`).
    pub persist_conns: u32,
    /// Upper connection threshold (`-x`), 0 = none.
    pub u_threshold: u32,
    /// Lower connection threshold (`-y`), 0 = none.
    pub l_threshold: u32,
    /// `IP_VS_DEST_F_OVERLOAD`: set and cleared by the threshold rules.
    pub overloaded: bool,
}

impl SchedDest {
    /// A freshly added dest: no connections, no thresholds, `last_weight = weight`
    /// (`__ip_vs_update_dest` with `add`).
    pub fn new(id: DestId, addr: IpAddr, port: u16, weight: i32) -> Self {
        Self {
            id,
            addr,
            port,
            weight,
            last_weight: weight,
            active_conns: 0,
            inactive_conns: 0,
            persist_conns: 0,
            u_threshold: 0,
            l_threshold: 0,
            overloaded: false,
        }
    }

    /// Weight > 0 and not overloaded: the test every scheduler applies before picking a dest.
    pub fn is_available(&self) -> bool {
        self.weight > 0 && !self.overloaded
    }

    /// The load figure `(active << 8) + inactive` (`ip_vs_dest_conn_overhead` in
    /// `include/net/ip_vs.h`): an active connection costs 256 times an inactive one.
    ///
    /// Computed in u32 with wrapping like the kernel's `int` arithmetic would on overflow; at
    /// 16 M active connections per dest that is out of reach anyway.
    pub fn overhead(&self) -> u32 {
        (self.active_conns << 8).wrapping_add(self.inactive_conns)
    }

    /// `ip_vs_dest_totalconns`: active + inactive, the figure the thresholds compare against
    /// (templates do not count).
    pub fn total_conns(&self) -> u32 {
        self.active_conns.saturating_add(self.inactive_conns)
    }

    /// A connection was bound to this dest (`ip_vs_bind_dest`): count it, then set the overload
    /// flag when an upper threshold is set and the total reached it.
    pub fn bind_conn(&mut self, kind: ConnKind) {
        match kind {
            ConnKind::Active => self.active_conns = self.active_conns.saturating_add(1),
            ConnKind::Inactive => self.inactive_conns = self.inactive_conns.saturating_add(1),
            ConnKind::Template => self.persist_conns = self.persist_conns.saturating_add(1),
        }
        // The kernel checks after every bind, templates included (the total itself excludes
        // them, so a template bind only re-applies the current state).
        if self.u_threshold != 0 && self.total_conns() >= self.u_threshold {
            self.overloaded = true;
        }
    }

    /// A connection left this dest (`ip_vs_unbind_dest`): uncount it, then clear the overload
    /// flag when the total fell below the lower threshold, or below 3/4 of the upper one when no
    /// lower threshold is set, or unconditionally when neither is set.
    pub fn unbind_conn(&mut self, kind: ConnKind) {
        match kind {
            ConnKind::Active => self.active_conns = self.active_conns.saturating_sub(1),
            ConnKind::Inactive => self.inactive_conns = self.inactive_conns.saturating_sub(1),
            ConnKind::Template => self.persist_conns = self.persist_conns.saturating_sub(1),
        }
        let total = u64::from(self.total_conns());
        if self.l_threshold != 0 {
            if total < u64::from(self.l_threshold) {
                self.overloaded = false;
            }
        } else if self.u_threshold != 0 {
            // `total * 4 < upper * 3` in 64 bits: the kernel's integer form of "below 3/4",
            // without the rounding a division would add.
            if total * 4 < u64::from(self.u_threshold) * 3 {
                self.overloaded = false;
            }
        } else {
            self.overloaded = false;
        }
    }

    /// A bound connection changed between an active and an inactive state (the protocol's
    /// `set_state`, e.g. `set_tcp_state`): move it between the counters. The kernel does not
    /// re-check the thresholds here, the total being unchanged.
    pub fn conn_state_changed(&mut self, now_active: bool) {
        if now_active {
            self.inactive_conns = self.inactive_conns.saturating_sub(1);
            self.active_conns = self.active_conns.saturating_add(1);
        } else {
            self.active_conns = self.active_conns.saturating_sub(1);
            self.inactive_conns = self.inactive_conns.saturating_add(1);
        }
    }

    /// Set the weight as `ipvsadm -e` does (`__ip_vs_update_dest` without `add`): `last_weight`
    /// keeps the latest non-zero weight so mh can keep a quiesced dest's slots.
    pub fn set_weight(&mut self, weight: i32) {
        if weight != 0 {
            self.last_weight = weight;
        }
        self.weight = weight;
    }

    /// `ipvsadm -e` as `__ip_vs_update_dest` applies it: weight (with the `last_weight` rule),
    /// then the thresholds. Call [`Scheduler::update`](super::Scheduler::update) with
    /// [`DestChange::Edited`](super::DestChange::Edited) afterwards.
    pub fn edit(&mut self, weight: i32, upper: u32, lower: u32) {
        self.set_weight(weight);
        self.set_thresholds(upper, lower);
    }

    /// Set the thresholds as `__ip_vs_update_dest` does: the overload flag is cleared when the
    /// new upper threshold is 0 or higher than the old one, otherwise left as it is (a lowered
    /// threshold takes effect at the next bind).
    pub fn set_thresholds(&mut self, upper: u32, lower: u32) {
        if upper == 0 || upper > self.u_threshold {
            self.overloaded = false;
        }
        self.u_threshold = upper;
        self.l_threshold = lower;
    }
}
