"""The paths under test. Each sets the director namespace up, names its targets and the
process whose CPU is the director's, and undoes everything in `stop`.

    kfwd     kernel IP forwarding to rs1 (the ceiling: no balancing at all)
    dnat     kernel nftables DNAT, numgen round robin (IPVS-NAT stand-in; no IPVS here)
    haproxy  HAProxy mode tcp on the VIP, round robin (source hash for iperf3)
    nat, dr, tun, fullnat   lvs-router run with -m, -g, -i, -m + FULLNAT local addresses (lab.LADDRS)
    kfwd-nogso   (not run by default) kfwd with TSO/GSO off on the client and servers: what
                 segment-sized frames cost the kernel (the lvs-router paths ran so before the
                 data plane carried GSO trains)
"""

import os
import time

import lab as L

ALL = ['nat', 'dr', 'tun', 'fullnat', 'kfwd', 'dnat', 'haproxy']
EXTRA = ['kfwd-nogso']
LVS = {'nat': '-m', 'dr': '-g', 'tun': '-i', 'fullnat': '-m'}
LABELS = {
    'nat': 'lvs-router NAT', 'dr': 'lvs-router DR', 'tun': 'lvs-router TUN (ipip)',
    'fullnat': 'lvs-router FULLNAT', 'kfwd': 'kernel forwarding',
    'dnat': 'kernel nftables DNAT', 'haproxy': 'HAProxy mode tcp',
    'kfwd-nogso': 'kernel forwarding, TSO/GSO off',
}


class Path:
    """One path, started on a built lab."""

    def __init__(self, name, lab, opts):
        self.name = name
        self.lab = lab
        self.opts = opts
        self.proc = None       # the director process (lvs-router, haproxy), if any
        self.decaps = []       # lvs-router realserver processes (TUN)
        self.notes = []

    @property
    def label(self):
        return LABELS[self.name]

    @property
    def kernel(self):
        """Whether the director's work is kernel softirq (no process to account)."""
        return self.name in ('kfwd', 'dnat', 'kfwd-nogso')

    @property
    def target(self):
        return L.RS[0] if self.name.startswith('kfwd') else L.VIP

    def supports(self, load):
        # HAProxy in mode tcp proxies connections; it has no datagram path.
        return not (self.name == 'haproxy' and load == 'pps')

    def sink_devices(self):
        """Where the pps load is counted: packets delivered to each real server's stack."""
        dev = 'lvsrs0' if self.name == 'tun' else 'eth0'
        return [('rs1', dev), ('rs2', dev)]

    def director_pids(self):
        return [self.proc.pid] if self.proc else []

    def side_pids(self):
        """Processes on the real servers that belong to the path (TUN decapsulators)."""
        return [p.pid for p in self.decaps]

    # -- start / stop ---------------------------------------------------------------------
    def start(self):
        lab = self.lab
        if self.name in LVS:
            # The data plane carries GSO trains with virtio headers: the same offloads as
            # the kernel paths.
            lab.offloads(True)
            lab.forwarding(False)
            self._start_lvs()
        elif self.name == 'haproxy':
            lab.offloads(True)
            lab.forwarding(False)
            lab.ip('lb', f'addr add {L.VIP}/32 dev lb0')
            cfg = os.path.join(lab.work, 'haproxy.cfg')
            with open(cfg, 'w') as f:
                f.write(L.template('haproxy.cfg', vip=L.VIP, rs1=L.RS[0], rs2=L.RS[1]))
            self.proc = lab.spawn('lb', ['haproxy', '-f', cfg, '-db'], 'haproxy.log')
            lab.wait_listen('lb', 80, addr=L.VIP)
        else:
            lab.offloads(self.name != 'kfwd-nogso')
            lab.forwarding(True)
            if self.name == 'dnat':
                lab.nft('lb', L.template('nft-dnat.nft', vip=L.VIP, rs1=L.RS[0], rs2=L.RS[1]))

    def _start_lvs(self):
        lab, o = self.lab, self.opts
        if self.name in ('dr', 'tun'):
            lab.direct_return(True)
        if self.name == 'dr':
            for r in ['rs1', 'rs2']:
                lab.sh(r, o.binary, 'realserver', '--dr', '--vip', L.VIP, '--apply')
        if self.name == 'tun':
            for r in ['rs1', 'rs2']:
                log = f'decap-{r}.log'
                p = lab.spawn(r, [o.binary, '-v', 'realserver', '--interface', 'eth0',
                                  '--vip', L.VIP], log)
                self.decaps.append(p)
                lab.wait_log(p, log, 'decapsulating')
        pools = ''
        if self.name == 'fullnat':
            for svc in [f'-u {L.VIP}:9', f'-t {L.VIP}:80', f'-t {L.VIP}:5201']:
                laddrs = ', '.join(f'"{a}"' for a in L.LADDRS)
                pools += (f'\n[[fullnat]]\nservice = "{svc}"\nladdrs = [{laddrs}]\n'
                          'ports = "1025-65535"\n')
        toml = L.template('router.toml', dip=L.DIP, workers=o.workers, client_gw=L.CLIENT_GW,
                          client_net=L.CLIENT_NET, server_net=L.SERVER_NET, fullnat=pools)
        rules = L.template('rules', vip=L.VIP, rs1=L.RS[0], rs2=L.RS[1], fwd=LVS[self.name])
        c, r = os.path.join(lab.work, 'router.toml'), os.path.join(lab.work, 'rules')
        with open(c, 'w') as f:
            f.write(toml)
        with open(r, 'w') as f:
            f.write(rules)
        log = f'router-{self.name}.log'
        pin = None
        if o.pin and (os.cpu_count() or 1) >= 2:
            # The generator (trafgen) runs on CPU 0; the director gets the last CPU.
            pin = os.cpu_count() - 1
        self.proc = lab.spawn('lb', [o.binary, '-v', 'run', '--rules', r, '--config', c],
                              log, pin=pin)
        lab.wait_log(self.proc, log, 'data plane started')

    def probe(self, limit=10.0):
        """One HTTP request from the client through the path; LabError if none succeeds."""
        url = f'http://{self.target}/'
        code = ('import sys,urllib.request;'
                f'sys.stdout.write(urllib.request.urlopen("{url}",timeout=2).read().decode())')
        end = time.time() + limit
        last = ''
        while time.time() < end:
            try:
                out = self.lab.sh('cl', 'python3', '-c', code, timeout=5)
                if out.startswith('ok rs'):
                    return
                last = out
            except L.LabError as e:
                last = str(e)
            time.sleep(0.3)
        raise L.LabError(f'{self.name}: no HTTP answer from {url}: {last[-500:]}')

    def stop(self):
        """Undoes `start`; notes anything odd (a director that did not exit cleanly)."""
        lab = self.lab
        if self.proc is not None:
            rc = lab.stop(self.proc)
            if rc not in (0, None) and self.name in LVS:
                self.notes.append(f'lvs-router exited {rc}')
            self.proc = None
        for p in self.decaps:
            lab.stop(p)
        self.decaps = []
        if self.name in LVS:
            for role in ['lb', 'rs1', 'rs2']:
                left = lab.remove_leftover_tables(role)
                if left:
                    self.notes.append(f'nftables tables left in {role}: {left}')
        if self.name == 'haproxy':
            lab.ip('lb', f'addr del {L.VIP}/32 dev lb0', check=False)
        if self.name == 'dnat':
            lab.sh('lb', 'nft', 'delete', 'table', 'ip', 'bench_dnat', check=False)
        if self.name == 'dr':
            for r in ['rs1', 'rs2']:
                lab.ip(r, f'addr del {L.VIP}/32 dev lo', check=False)
                lab.sysctl(r, 'net.ipv4.conf.all.arp_ignore=0', 'net.ipv4.conf.all.arp_announce=0')
        if self.name in ('dr', 'tun'):
            lab.direct_return(False)
