//! A tiny service table for the scheduler tests: dests in kernel list order (newest first),
//! the scheduler told about every change, picks reported by address.
#![allow(dead_code, unreachable_pub)]

use std::net::IpAddr;

use lvs_core::sched::{
    DestChange, DestId, SchedConfig, SchedDest, SchedFlow, Scheduler, new_scheduler,
};
use lvs_core::time::Instant;

pub struct Svc {
    pub dests: Vec<SchedDest>,
    pub sched: Box<dyn Scheduler>,
    next_id: u32,
}

pub fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

/// A flow from `caddr:cport` to the VIP 192.0.2.1:80.
pub fn flow(caddr: &str, cport: u16) -> SchedFlow {
    SchedFlow {
        caddr: ip(caddr),
        cport,
        vaddr: ip("192.0.2.1"),
        vport: 80,
    }
}

/// A flow to `vaddr` from a fixed client (dh, lblc, lblcr hash the destination).
pub fn to(vaddr: &str) -> SchedFlow {
    SchedFlow {
        caddr: ip("198.51.100.7"),
        cport: 40000,
        vaddr: ip(vaddr),
        vport: 80,
    }
}

impl Svc {
    pub fn new(sched: &str) -> Self {
        Self::with_config(sched, &SchedConfig::default())
    }

    pub fn with_config(sched: &str, config: &SchedConfig) -> Self {
        let mut sched = new_scheduler(sched, config).unwrap();
        sched.init_service(&[]);
        Self {
            dests: Vec::new(),
            sched,
            next_id: 1,
        }
    }

    /// `ipvsadm -a ... -r addr -w weight`: the kernel adds at the list head.
    pub fn add(&mut self, addr: &str, weight: i32) -> DestId {
        let id = DestId(self.next_id);
        self.next_id += 1;
        self.dests
            .insert(0, SchedDest::new(id, ip(addr), 80, weight));
        self.sched.update(&self.dests, DestChange::Added(id));
        id
    }

    pub fn index(&self, addr: &str) -> usize {
        self.dests.iter().position(|d| d.addr == ip(addr)).unwrap()
    }

    pub fn dest(&mut self, addr: &str) -> &mut SchedDest {
        let i = self.index(addr);
        &mut self.dests[i]
    }

    /// `ipvsadm -e ... -w weight`.
    pub fn edit(&mut self, addr: &str, weight: i32) {
        let i = self.index(addr);
        self.dests[i].set_weight(weight);
        let id = self.dests[i].id;
        self.sched.update(&self.dests, DestChange::Edited(id));
    }

    /// `ipvsadm -d`.
    pub fn del(&mut self, addr: &str) {
        let index = self.index(addr);
        let id = self.dests.remove(index).id;
        self.sched
            .update(&self.dests, DestChange::Removed { id, index });
    }

    /// `ipvsadm -E -s name`: a fresh scheduler bound to the existing list.
    pub fn switch(&mut self, sched: &str) {
        self.sched = new_scheduler(sched, &SchedConfig::default()).unwrap();
        self.sched.init_service(&self.dests);
    }

    pub fn pick_at(&mut self, f: &SchedFlow, now: Instant) -> Option<String> {
        let i = self.sched.schedule(&self.dests, f, now)?;
        Some(self.dests[i].addr.to_string())
    }

    pub fn pick(&mut self, f: &SchedFlow) -> Option<String> {
        self.pick_at(f, Instant::ZERO)
    }

    /// `n` picks of the same flow, as the last octet (`".4"`) or `"-"` for none.
    pub fn picks(&mut self, n: usize) -> Vec<String> {
        let f = flow("203.0.113.9", 1234);
        (0..n)
            .map(|_| match self.pick(&f) {
                Some(a) => format!(".{}", a.rsplit('.').next().unwrap()),
                None => "-".to_owned(),
            })
            .collect()
    }
}
