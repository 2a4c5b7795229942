"""The benchmark's lab: named network namespaces, the processes started in them, and the
topology every path shares.

    cl  cl0 203.0.113.2/24 ---veth--- lb0 203.0.113.1/24   [lb]  lb1 10.0.2.1/24 ---veth--- sw/br0
        cl1 10.0.3.2/24 -----------------------------------------------------------veth--- sw/br0
    rs1 eth0 10.0.2.11/24 ---veth--- sw/br0        rs2 eth0 10.0.2.12/24 ---veth--- sw/br0
    VIP 192.0.2.10 (TEST-NET-1), never a host address except for HAProxy, which must bind it.

The client reaches the VIP and the real servers through the director (route via 203.0.113.1).
The real servers' default route is the director, so NAT replies come back through it; DR and
TUN real servers reply straight to the client's second leg cl1 on the switch instead, as they
would to a router that is not the director (route to 203.0.113.0/24 via 10.0.3.2). Only the
namespaces this module creates are touched: names are `bn<pid><role>`, every process runs
under `setpriv --pdeathsig KILL` in its own process group and is ended by its pid, and
namespaces of a dead earlier run are removed at start.
"""

import os
import re
import shutil
import signal
import subprocess
import time

HERE = os.path.dirname(os.path.abspath(__file__))
CONF = os.path.join(HERE, 'conf')

CLIENT = '203.0.113.2'
CLIENT_GW = '203.0.113.1'
CLIENT_NET = '203.0.113.0/24'
CLIENT_LEG = '10.0.3.2'
VIP = '192.0.2.10'
DIP = '10.0.2.1'
SERVER_NET = '10.0.2.0/24'
RS = ['10.0.2.11', '10.0.2.12']
# FULLNAT local addresses: each gives ~64k ports per real server, and a closed connection
# holds its (laddr, lport) for the TIME_WAIT timeout (120 s, as IPVS), so at ~13k conns/s over
# 3 runs one address runs dry; deployments use several for the same reason.
LADDRS = [f'10.0.2.{100 + i}' for i in range(8)]
ROLES = ['cl', 'lb', 'sw', 'rs1', 'rs2']


class LabError(Exception):
    """A set-up step failed; the message says which command and why."""


def run(args, check=True, timeout=60, stdin=None):
    """Runs `args` (a list), returns stdout; raises LabError with the output on failure."""
    try:
        p = subprocess.run(args, input=stdin, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        raise LabError(f'{" ".join(args)}: no exit after {timeout} s') from None
    except FileNotFoundError as e:
        raise LabError(f'{args[0]}: {e}') from None
    if check and p.returncode != 0:
        raise LabError(f'{" ".join(args)}: exit {p.returncode}: {p.stdout}{p.stderr}'.strip())
    return p.stdout


def template(conf_name, **subst):
    """conf/NAME with every @KEY@ replaced."""
    with open(os.path.join(CONF, conf_name)) as f:
        text = f.read()
    for k, v in subst.items():
        text = text.replace(f'@{k.upper()}@', str(v))
    left = re.findall(r'@[A-Z_0-9]+@', text)
    if left:
        raise LabError(f"conf/{conf_name}: no value for {left}")
    return text


def alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def remove_stale():
    """Deletes `bn<pid><role>` namespaces whose creating driver is gone (a killed run)."""
    try:
        names = os.listdir('/run/netns')
    except FileNotFoundError:
        return
    for n in names:
        m = re.fullmatch(r'bn(\d+)(cl|lb|sw|rs1|rs2)', n)
        if m and not alive(int(m.group(1))):
            run(['ip', 'netns', 'del', n], check=False)


class Lab:
    """The namespaces and every process started in them."""

    def __init__(self, work):
        self.work = work
        self.prefix = f'bn{os.getpid()}'
        self.ns = {r: f'{self.prefix}{r}' for r in ROLES}
        self.procs = []
        self.created = []
        self.mac = {}

    # -- commands -------------------------------------------------------------------------
    def sh(self, role, *args, check=True, timeout=60, stdin=None):
        """Runs a command inside namespace `role`."""
        return run(['ip', 'netns', 'exec', self.ns[role], *args], check=check,
                   timeout=timeout, stdin=stdin)

    def ip(self, role, cmd, check=True):
        return run(['ip', '-n', self.ns[role], *cmd.split()], check=check)

    def sysctl(self, role, *kv):
        self.sh(role, 'sysctl', '-qw', *kv)

    def nft(self, role, script):
        self.sh(role, 'nft', '-f', '-', stdin=script)

    def spawn(self, role, args, log, pin=None):
        """Starts `args` in `role` in its own process group, output to WORK/log; the pid is
        the program's own (ip netns exec, taskset and setpriv all exec)."""
        cmd = ['ip', 'netns', 'exec', self.ns[role]]
        if pin is not None:
            cmd += ['taskset', '-c', str(pin)]
        cmd += ['setpriv', '--pdeathsig', 'KILL', '--', *args]
        out = open(os.path.join(self.work, log), 'w')
        p = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
                             start_new_session=True)
        out.close()
        self.procs.append(p)
        return p

    def stop(self, p, sig=signal.SIGTERM, grace=10.0):
        """Signals `p`'s process group, waits `grace` s, then SIGKILLs it; its exit code."""
        if p.poll() is None:
            try:
                os.killpg(p.pid, sig)
            except ProcessLookupError:
                pass
            try:
                p.wait(grace)
            except subprocess.TimeoutExpired:
                try:
                    os.killpg(p.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                p.wait()
        else:
            # The leader is gone; its group (nginx workers) may not be.
            try:
                os.killpg(p.pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
        if p in self.procs:
            self.procs.remove(p)
        return p.returncode

    def log(self, name):
        try:
            with open(os.path.join(self.work, name)) as f:
                return f.read()
        except FileNotFoundError:
            return ''

    def wait_log(self, p, log, text, limit=30.0):
        """Waits until WORK/log contains `text`; LabError with the log if `p` exits first."""
        end = time.time() + limit
        while time.time() < end:
            if text in self.log(log):
                return
            if p.poll() is not None:
                break
            time.sleep(0.05)
        raise LabError(f'{log}: no "{text}" (exit {p.poll()}):\n{self.log(log)[-3000:]}')

    def wait_listen(self, role, port, limit=20.0, addr=None):
        end = time.time() + limit
        host = re.escape(addr) if addr else r'[^\s]*'
        pat = re.compile(r'\s' + host + f':{port}' + r'\s')
        while time.time() < end:
            if pat.search(self.sh(role, 'ss', '-ltnH', check=False)):
                return
            time.sleep(0.1)
        raise LabError(f'nothing listens on {addr or "*"}:{port} in {role}')

    def remove_leftover_tables(self, role):
        """Deletes nftables tables lvs-router left in `role` (it removes its own at a clean
        exit; a killed one cannot); returns their names."""
        out = self.sh(role, 'nft', 'list', 'tables', check=False)
        gone = []
        for fam, table in re.findall(r'^table (\S+) (lvs_rs_\S+)$', out, re.M):
            self.sh(role, 'nft', 'delete', 'table', fam, table, check=False)
            gone.append(table)
        return gone

    def counter(self, role, dev, name='rx_packets'):
        return int(self.sh(role, 'cat', f'/sys/class/net/{dev}/statistics/{name}'))

    # -- topology -------------------------------------------------------------------------
    def build(self):
        remove_stale()
        for r in ROLES:
            run(['ip', 'netns', 'add', self.ns[r]])
            self.created.append(self.ns[r])
            self.ip(r, 'link set lo up')
        links = [('cl', 'cl0', 'lb', 'lb0'), ('cl', 'cl1', 'sw', 'swcl'),
                 ('lb', 'lb1', 'sw', 'swlb'), ('rs1', 'eth0', 'sw', 'swrs1'),
                 ('rs2', 'eth0', 'sw', 'swrs2')]
        for a, ad, b, bd in links:
            self.ip(a, f'link add {ad} type veth peer name {bd} netns {self.ns[b]}')
        self.ip('sw', 'link add br0 type bridge')
        for port in ['swcl', 'swlb', 'swrs1', 'swrs2']:
            self.ip('sw', f'link set {port} master br0 up')
        self.ip('sw', 'link set br0 up')
        self.ip('cl', 'addr add 203.0.113.2/24 dev cl0')
        self.ip('cl', 'addr add 10.0.3.2/24 dev cl1')
        self.ip('lb', 'addr add 203.0.113.1/24 dev lb0')
        self.ip('lb', 'addr add 10.0.2.1/24 dev lb1')
        for i, rip in enumerate(RS, 1):
            self.ip(f'rs{i}', f'addr add {rip}/24 dev eth0')
        for role, dev in [('cl', 'cl0'), ('cl', 'cl1'), ('lb', 'lb0'), ('lb', 'lb1'),
                          ('rs1', 'eth0'), ('rs2', 'eth0')]:
            self.ip(role, f'link set {dev} up')
            self.mac[(role, dev)] = self.sh(role, 'cat', f'/sys/class/net/{dev}/address').strip()
        self.ip('cl', 'route add 192.0.2.0/24 via 203.0.113.1')
        self.ip('cl', 'route add 10.0.2.0/24 via 203.0.113.1')
        for r in ['rs1', 'rs2']:
            self.ip(r, 'route add default via 10.0.2.1')
        for r in ['cl', 'lb', 'rs1', 'rs2']:
            self.sysctl(r, 'net.ipv4.ip_local_port_range=1024 65000', 'net.ipv4.tcp_tw_reuse=1',
                        'net.core.somaxconn=8192', 'net.ipv4.tcp_max_syn_backlog=8192')
        # DR/TUN replies from the VIP arrive on cl1 while the route to the VIP is via cl0.
        self.sysctl('cl', 'net.ipv4.conf.all.rp_filter=0', 'net.ipv4.conf.cl1.rp_filter=0',
                    'net.ipv4.conf.default.rp_filter=0')
        # Static FDB entries: the real servers only receive during the pps load, so learned
        # entries would age out and the bridge would flood rs1's frames to rs2 too.
        for role, dev, port in [('rs1', 'eth0', 'swrs1'), ('rs2', 'eth0', 'swrs2'),
                                ('lb', 'lb1', 'swlb'), ('cl', 'cl1', 'swcl')]:
            run(['bridge', '-n', self.ns['sw'], 'fdb', 'replace', self.mac[(role, dev)],
                 'dev', port, 'master', 'static'])
        for r in ['rs1', 'rs2']:
            self.nft(r, template('rs-sink.nft'))
        self.forwarding(True)

    def forwarding(self, on):
        self.sysctl('lb', f'net.ipv4.ip_forward={int(on)}')

    def offloads(self, on):
        """TSO/GSO on the client's and real servers' veths: every path runs with the
        defaults (on); off only for the kfwd-nogso reference."""
        v = 'on' if on else 'off'
        for role, dev in [('cl', 'cl0'), ('cl', 'cl1'), ('rs1', 'eth0'), ('rs2', 'eth0')]:
            self.sh(role, 'ethtool', '-K', dev, 'tso', v, 'gso', v)

    def direct_return(self, on):
        """DR/TUN: real servers answer the client through its switch leg, not the director."""
        for r in ['rs1', 'rs2']:
            if on:
                self.sh(r, 'ip', 'neigh', 'replace', CLIENT_LEG, 'lladdr',
                        self.mac[('cl', 'cl1')], 'dev', 'eth0', 'nud', 'permanent')
                self.ip(r, f'route replace {CLIENT_NET} via {CLIENT_LEG} dev eth0 onlink')
            else:
                self.ip(r, f'route del {CLIENT_NET}', check=False)

    def start_servers(self):
        """nginx (HTTP 200, no keep-alive) and iperf3 -s on both real servers."""
        for i in (1, 2):
            name = f'rs{i}'
            cfg = os.path.join(self.work, f'nginx-{name}.conf')
            with open(cfg, 'w') as f:
                f.write(template('nginx.conf', name=name, dir=self.work))
            self.spawn(name, ['nginx', '-e', os.path.join(self.work, f'nginx-{name}.err'),
                              '-c', cfg, '-g', 'daemon off;'], f'nginx-{name}.log')
            self.spawn(name, ['iperf3', '-s'], f'iperf3-{name}.log')
        for i in (1, 2):
            self.wait_listen(f'rs{i}', 80)
            self.wait_listen(f'rs{i}', 5201)

    def destroy(self):
        for p in list(self.procs):
            self.stop(p, grace=3.0)
        for n in self.created:
            run(['ip', 'netns', 'del', n], check=False)
        self.created = []


def missing_tools(names):
    return [t for t in names if shutil.which(t) is None]
