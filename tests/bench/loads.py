"""The loads, each bounded in time, and the CPU accounting around them.

    pps    64-byte UDP frames (60 B + FCS, 256 flows by source port, to port 9) from the client
           by trafgen (netsniff-ng) or udpgen.c, counted where the real servers' stacks
           receive them, over a window that opens after a warm-up
    conns  wrk -t2 -c64 --latency -H 'Connection: close' against nginx: connections/s, p50/p99
    bulk   iperf3 -c TARGET -t S -J, one stream: Gbit/s received

CPU: /proc/stat per CPU (busy, softirq) over the window; utime+stime of the director's
process from /proc/PID/stat (all its threads); CPU of processes outside the lab's
namespaces (other users of the machine), so a noisy run can be recognised.
"""

import json
import os
import re
import signal
import socket
import struct
import time

import lab as L

TICK = os.sysconf('SC_CLK_TCK')


# -- CPU accounting -----------------------------------------------------------------------
def cpu_stat():
    """{cpuN: [user nice system idle iowait irq softirq steal]} in ticks."""
    d = {}
    with open('/proc/stat') as f:
        for line in f:
            if line.startswith('cpu') and line[3].isdigit():
                x = line.split()
                d[x[0]] = list(map(int, x[1:9]))
    return d


def cpu_delta(a, b):
    """Per CPU: busy/softirq seconds and % over the interval, plus totals."""
    out = {}
    busy = sirq = 0
    for c in a:
        dv = [y - x for x, y in zip(a[c], b[c])]
        tot = sum(dv) or 1
        bz = tot - dv[3] - dv[4]
        si = dv[5] + dv[6]
        busy += bz
        sirq += si
        out[c] = dict(busy_pct=round(100 * bz / tot, 1), sirq_pct=round(100 * si / tot, 1),
                      usr_pct=round(100 * (dv[0] + dv[1]) / tot, 1))
    out['busy_s'] = busy / TICK
    out['sirq_s'] = sirq / TICK
    return out


def pid_ticks(pid):
    try:
        with open(f'/proc/{pid}/stat') as f:
            x = f.read().rsplit(')', 1)[1].split()
        return int(x[11]) + int(x[12])
    except (FileNotFoundError, ProcessLookupError, IndexError):
        return 0


def lab_inodes(lab):
    out = set()
    for n in lab.ns.values():
        try:
            out.add('net:[%d]' % os.stat('/run/netns/' + n).st_ino)
        except FileNotFoundError:
            pass
    return out


def foreign_ticks(lab):
    """CPU ticks per pid of processes that are not in the lab's namespaces and not us."""
    mine = lab_inodes(lab)
    d = {}
    for pid in os.listdir('/proc'):
        if not pid.isdigit() or int(pid) == os.getpid():
            continue
        try:
            if os.readlink(f'/proc/{pid}/ns/net') in mine:
                continue
        except OSError:
            pass
        t = pid_ticks(pid)
        if t:
            d[pid] = t
    return d


class Window:
    """CPU snapshot at open, deltas at close."""

    def __init__(self, lab, path):
        self.lab, self.path = lab, path
        self.t0 = time.time()
        self.c0 = cpu_stat()
        self.f0 = foreign_ticks(lab)
        self.d0 = {p: pid_ticks(p) for p in path.director_pids()}
        self.s0 = {p: pid_ticks(p) for p in path.side_pids()}
        # Packets reaching the client's switch leg: DR/TUN replies that bypassed the director.
        self.leg0 = lab.counter('cl', 'cl1')

    def close(self):
        dt = time.time() - self.t0
        c = cpu_delta(self.c0, cpu_stat())
        f1 = foreign_ticks(self.lab)
        foreign = sum(max(0, v - self.f0.get(p, 0)) for p, v in f1.items()) / TICK
        proc = sum(pid_ticks(p) - v for p, v in self.d0.items()) / TICK
        side = sum(pid_ticks(p) - v for p, v in self.s0.items()) / TICK
        leg = self.lab.counter('cl', 'cl1') - self.leg0
        # The director's CPU: its process, or for the kernel paths the softirq time of the
        # whole box (an upper bound: every veth hop's receive runs in softirq, client and
        # servers included).
        director = c['sirq_s'] if self.path.kernel else proc
        return dt, dict(cpu=c, box_cpu_s=round(c['busy_s'], 3), director_cpu_s=round(director, 3),
                        director_proc_cpu_s=round(proc, 3), rs_decap_cpu_s=round(side, 3),
                        direct_return_packets=leg,
                        foreign_cpu_pct=round(100 * foreign / dt, 1))


def wait_idle(limit_pct, maxwait):
    """Waits (at most `maxwait` s) until the machine is below `limit_pct` busy; returns the
    busy % of the last 1 s sample."""
    end = time.time() + maxwait
    while True:
        a = cpu_stat()
        time.sleep(1 if maxwait > 0 else 0.2)
        d = cpu_delta(a, cpu_stat())
        cpus = [v for k, v in d.items() if k.startswith('cpu')]
        bg = sum(v['busy_pct'] for v in cpus) / max(1, len(cpus))
        if bg < limit_pct or time.time() >= end:
            return round(bg, 1)
        time.sleep(1)


# -- generators ---------------------------------------------------------------------------
def _csum(b):
    s = sum(struct.unpack('!%dH' % (len(b) // 2), b))
    while s >> 16:
        s = (s & 0xffff) + (s >> 16)
    return (~s) & 0xffff


def trafgen_cfg(smac, dmac, sip, dip, dport=9, nflows=256):
    """A static trafgen config: 60-byte UDP/IPv4 frames differing in source port, all
    checksums precomputed (UDP checksum 0), so trafgen sends at full speed."""
    lines = []
    mac = lambda m: bytes(int(x, 16) for x in m.split(':'))  # noqa: E731
    for i in range(nflows):
        ip = struct.pack('!BBHHHBBH4s4s', 0x45, 0, 46, i, 0x4000, 64, 17, 0,
                         socket.inet_aton(sip), socket.inet_aton(dip))
        ip = ip[:10] + struct.pack('!H', _csum(ip)) + ip[12:]
        udp = struct.pack('!HHHH', 10000 + i, dport, 26, 0)
        frame = mac(dmac) + mac(smac) + b'\x08\x00' + ip + udp + bytes(18)
        assert len(frame) == 60
        lines.append('{ ' + ', '.join('0x%02x' % c for c in frame) + ' }')
    return '\n'.join(lines) + '\n'


def generator_cmd(lab, opts, dst, secs):
    smac, dmac = lab.mac[('cl', 'cl0')], lab.mac[('lb', 'lb0')]
    if opts.generator == 'udpgen':
        return [opts.udpgen, 'cl0', dmac, L.CLIENT, dst, '9', '256', str(secs)]
    cfg = os.path.join(lab.work, f'trafgen-{dst}.cfg')
    if not os.path.exists(cfg):
        with open(cfg, 'w') as f:
            f.write(trafgen_cfg(smac, dmac, L.CLIENT, dst))
    # -P 1: one process (pinned to CPU 0); -C: no CPU stats; -Q: leave IRQ affinity alone.
    return ['trafgen', '-o', 'cl0', '-i', cfg, '-P', '1', '-C', '-Q']


# -- loads --------------------------------------------------------------------------------
def pps(lab, path, opts, secs):
    devs = path.sink_devices()
    total = opts.warmup + secs + 5
    gen = lab.spawn('cl', ['timeout', '-s', 'INT', '-k', '5', str(int(total) + 10),
                           *generator_cmd(lab, opts, path.target, total)], 'generator.log')
    try:
        time.sleep(opts.warmup)
        if gen.poll() is not None:
            raise L.LabError(f'generator exited {gen.returncode}: {lab.log("generator.log")[-800:]}')
        tx0 = lab.counter('cl', 'cl0', 'tx_packets')
        rx0 = [lab.counter(r, d) for r, d in devs]
        w = Window(lab, path)
        time.sleep(secs)
        tx1 = lab.counter('cl', 'cl0', 'tx_packets')
        rx1 = [lab.counter(r, d) for r, d in devs]
        dt, acct = w.close()
        alive = gen.poll() is None
    finally:
        lab.stop(gen, sig=signal.SIGINT, grace=10)
    if not alive:
        raise L.LabError(f'generator stopped early: {lab.log("generator.log")[-800:]}')
    rx = [b - a for a, b in zip(rx0, rx1)]
    run = dict(value=round(sum(rx) / dt), packets=sum(rx), per_server_packets=rx,
               tx_pps=round((tx1 - tx0) / dt), seconds=round(dt, 3), **acct)
    run['director_cpu_per_unit'] = per(acct['director_cpu_s'], sum(rx) / 1e6)
    run['box_cpu_per_unit'] = per(acct['box_cpu_s'], sum(rx) / 1e6)
    return run


def per(cpu_s, units):
    return round(cpu_s / units, 4) if units > 0 else None


def latency_ms(s):
    m = re.match(r'([\d.]+)(us|ms|s|m)$', s)
    if not m:
        return None
    return float(m.group(1)) * {'us': 0.001, 'ms': 1, 's': 1000, 'm': 60000}[m.group(2)]


def conns(lab, path, opts, secs):
    url = f'http://{path.target}/'
    w = Window(lab, path)
    out = lab.sh('cl', 'timeout', '-k', '5', str(secs + 30), 'wrk', f'-t{opts.wrk_threads}',
                 f'-c{opts.wrk_conns}', f'-d{secs}s', '--latency', '-H', 'Connection: close',
                 url, timeout=secs + 60)
    dt, acct = w.close()
    req = re.search(r'(\d+) requests in', out)
    rps = re.search(r'Requests/sec:\s+([\d.]+)', out)
    if not req or not rps:
        raise L.LabError(f'wrk output not understood:\n{out}')
    lat = {q: re.search(rf'^\s+{q}%\s+(\S+)', out, re.M) for q in ('50', '99')}
    err = re.search(r'Socket errors: (.*)', out)
    non2xx = re.search(r'Non-2xx or 3xx responses: (\d+)', out)
    n = int(req.group(1))
    run = dict(value=float(rps.group(1)), requests=n, seconds=round(dt, 3),
               p50_ms=latency_ms(lat['50'].group(1)) if lat['50'] else None,
               p99_ms=latency_ms(lat['99'].group(1)) if lat['99'] else None,
               socket_errors=err.group(1) if err else None,
               non2xx=int(non2xx.group(1)) if non2xx else 0, **acct)
    run['director_cpu_per_unit'] = per(acct['director_cpu_s'], n / 1e3)
    run['box_cpu_per_unit'] = per(acct['box_cpu_s'], n / 1e3)
    return run


def bulk(lab, path, opts, secs):
    w = Window(lab, path)
    out = lab.sh('cl', 'timeout', '-k', '5', str(secs + 20), 'iperf3', '-c', path.target,
                 '-t', str(secs), '-J', check=False, timeout=secs + 40)
    dt, acct = w.close()
    try:
        j = json.loads(out)
    except ValueError:
        raise L.LabError(f'iperf3 output not understood:\n{out[-1500:]}') from None
    if 'error' in j or 'sum_received' not in j.get('end', {}):
        raise L.LabError(f'iperf3: {j.get("error", "no sum_received")}')
    rcv = j['end']['sum_received']
    gb = rcv['bytes'] / 1e9
    run = dict(value=round(rcv['bits_per_second'] / 1e9, 3), bytes=rcv['bytes'],
               retransmits=j['end'].get('sum_sent', {}).get('retransmits'),
               seconds=round(dt, 3), **acct)
    run['director_cpu_per_unit'] = per(acct['director_cpu_s'], gb)
    run['box_cpu_per_unit'] = per(acct['box_cpu_s'], gb)
    return run


LOADS = {'pps': pps, 'conns': conns, 'bulk': bulk}
UNITS = {
    'pps': ('64 B UDP pps at the servers', 'CPU s / M packets'),
    'conns': ('TCP conns/s (wrk, close)', 'CPU s / k conns'),
    'bulk': ('TCP Gbit/s (iperf3, 1 stream)', 'CPU s / GB'),
}
