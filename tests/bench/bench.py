#!/usr/bin/env python3
"""lvs-router side by side with the kernel and HAProxy, in network namespaces.

    tests/bench/bench.py [--quick] [--paths nat,dr,...] [--loads pps,conns,bulk] [--runs N]
                         [--seconds S] [--binary target/release/lvs-router] [--out FILE.md]

Builds the lab (lab.py), then for each path (paths.py) runs each load (loads.py) --runs times
for --seconds each, and writes raw JSON lines (one per path and load, every run inside) and a
markdown table (report.py). Needs root and: iproute2 nftables ethtool util-linux procps
python3, netsniff-ng (trafgen) for pps, wrk + nginx for conns, iperf3 for bulk, haproxy for
the haproxy path. Exit codes: 0 done, 1 a path or load failed (the table says which),
2 bad arguments or no lvs-router binary, 77 cannot run here (not root, a tool missing).
Everything it creates (namespaces bn<pid>*, processes, scratch files) is removed at exit,
also on SIGINT/SIGTERM.
"""

import argparse
import datetime
import json
import os
import platform
import signal
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import lab as L  # noqa: E402
import loads  # noqa: E402
import paths as P  # noqa: E402
import report  # noqa: E402

REPO = os.path.dirname(os.path.dirname(L.HERE))
PACKAGES = ('iproute2 nftables ethtool util-linux procps python3 netsniff-ng wrk nginx iperf3 '
            'haproxy')
SKIP = 77


def parse_args(argv):
    a = argparse.ArgumentParser(description=__doc__.split('\n\n')[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    a.add_argument('--quick', action='store_true',
                   help='1 run of 2 s per load, no waiting for an idle machine')
    a.add_argument('--paths', default=','.join(P.ALL),
                   help=f'subset of {",".join(P.ALL)} (default: all), or {",".join(P.EXTRA)}')
    a.add_argument('--loads', default=','.join(loads.LOADS),
                   help=f'subset of {",".join(loads.LOADS)}')
    a.add_argument('--runs', type=int, help='runs per load (default 3; --quick 1)')
    a.add_argument('--seconds', type=int, help='seconds per run (default 10; --quick 2)')
    a.add_argument('--warmup', type=float, help='pps: seconds of traffic before the window '
                   '(default 2; --quick 1)')
    a.add_argument('--binary', default=os.path.join(REPO, 'target/release/lvs-router'),
                   help='lvs-router binary (default target/release/lvs-router)')
    a.add_argument('--workers', type=int, default=1, help='lvs-router workers (default 1)')
    a.add_argument('--no-pin', dest='pin', action='store_false',
                   help='do not pin lvs-router to the last CPU')
    a.add_argument('--generator', choices=['trafgen', 'udpgen'], default='trafgen',
                   help='pps generator: trafgen (netsniff-ng) or tests/bench/udpgen.c')
    a.add_argument('--wrk-conns', type=int, default=64)
    a.add_argument('--wrk-threads', type=int, default=2)
    a.add_argument('--idle-pct', type=float, default=8.0,
                   help='before each run, wait until the machine is below this busy %%')
    a.add_argument('--idle-wait', type=float,
                   help='... but at most this many seconds (default 20; --quick 0)')
    a.add_argument('--idle-budget', type=float, default=60.0,
                   help='total seconds of such waiting over the whole run (default 60)')
    a.add_argument('--out', default=os.path.join(L.HERE, 'results', 'latest.md'),
                   help='markdown table (default tests/bench/results/latest.md)')
    a.add_argument('--jsonl', help='raw results (default: --out with .jsonl)')
    a.add_argument('--keep', action='store_true', help='keep the scratch directory (logs)')
    o = a.parse_args(argv)
    o.runs = o.runs or (1 if o.quick else 3)
    o.seconds = o.seconds or (2 if o.quick else 10)
    o.warmup = o.warmup if o.warmup is not None else (1.0 if o.quick else 2.0)
    o.idle_wait = o.idle_wait if o.idle_wait is not None else (0.0 if o.quick else 20.0)
    o.paths = [p for p in o.paths.split(',') if p]
    o.loads = [x for x in o.loads.split(',') if x]
    bad = [p for p in o.paths if p not in P.ALL + P.EXTRA] + [x for x in o.loads if x not in loads.LOADS]
    if bad or o.runs < 1 or o.seconds < 1 or o.workers < 1:
        a.error(f'unknown or invalid: {bad or "runs/seconds/workers must be >= 1"}')
    o.jsonl = o.jsonl or os.path.splitext(o.out)[0] + '.jsonl'
    o.binary = os.path.abspath(o.binary)
    return o


def needed_tools(o):
    t = ['ip', 'bridge', 'nft', 'ethtool', 'setpriv', 'taskset', 'timeout', 'ss', 'sysctl',
         'python3']
    if 'pps' in o.loads:
        t.append('trafgen' if o.generator == 'trafgen' else 'cc')
    t.append('nginx')            # the start-up probe of every path talks to nginx
    if 'conns' in o.loads:
        t.append('wrk')
    t.append('iperf3')           # the real servers always run it (bulk load)
    if 'haproxy' in o.paths:
        t.append('haproxy')
    return t


def estimate(o):
    n = 0
    for p in o.paths:
        for ld in o.loads:
            if p == 'haproxy' and ld == 'pps':
                continue
            n += o.runs * (o.seconds + 2 + (o.warmup if ld == 'pps' else 0) +
                           (1 if o.idle_wait else 0))
        n += 5
    return n + 10 + (o.idle_budget if o.idle_wait else 0)


def duration(secs):
    return f'{secs:.0f} s' if secs < 120 else f'{secs / 60:.0f} min'


def main(argv):
    o = parse_args(argv)
    if os.geteuid() != 0:
        print('bench: SKIP: needs root (network namespaces, AF_PACKET)', file=sys.stderr)
        return SKIP
    missing = L.missing_tools(needed_tools(o))
    if missing:
        print(f'bench: SKIP: missing {" ".join(missing)}: apt-get install -y {PACKAGES}',
              file=sys.stderr)
        return SKIP
    if any(p in P.LVS for p in o.paths) and not os.access(o.binary, os.X_OK):
        print(f'bench: no lvs-router binary at {o.binary}: cargo build --release -p lvs-router '
              '(or --binary PATH)', file=sys.stderr)
        return 2
    work = tempfile.mkdtemp(prefix='lvs-bench-')
    if o.generator == 'udpgen' and 'pps' in o.loads:
        o.udpgen = os.path.join(work, 'udpgen')
        L.run(['cc', '-O2', '-o', o.udpgen, os.path.join(L.HERE, 'udpgen.c')])
    os.makedirs(os.path.dirname(os.path.abspath(o.out)), exist_ok=True)
    os.makedirs(os.path.dirname(os.path.abspath(o.jsonl)), exist_ok=True)

    def on_signal(sig, _frame):
        raise KeyboardInterrupt(f'signal {sig}')
    signal.signal(signal.SIGTERM, on_signal)

    started = datetime.datetime.now(datetime.timezone.utc)
    meta = dict(kind='meta', started=started.strftime('%Y-%m-%d %H:%M'), host=platform.node(),
                kernel=platform.release(), cpus=os.cpu_count(), runs=o.runs, seconds=o.seconds,
                warmup=o.warmup, binary=os.path.relpath(o.binary, REPO) if o.binary.startswith(REPO)
                else o.binary, workers=o.workers, pin=o.pin, generator=o.generator,
                paths=o.paths, loads=o.loads, wrk=f'-t{o.wrk_threads} -c{o.wrk_conns}',
                versions=versions(o), commit=commit())
    print(f'bench: {len(o.paths)} path(s) x {len(o.loads)} load(s), {o.runs} x {o.seconds} s; '
          f'at most about {duration(estimate(o))}; scratch {work}', file=sys.stderr)
    failed = False
    out = open(o.jsonl, 'w')

    def emit(rec):
        out.write(json.dumps(rec) + '\n')
        out.flush()

    emit(meta)
    lab = L.Lab(work)
    try:
        lab.build()
        lab.start_servers()
        for name in o.paths:
            failed |= bench_path(lab, name, o, emit)
    except KeyboardInterrupt as e:
        print(f'bench: interrupted ({e}); cleaning up', file=sys.stderr)
        failed = True
    except L.LabError as e:
        print(f'bench: lab set-up failed: {e}', file=sys.stderr)
        failed = True
    finally:
        lab.destroy()
        out.close()
        if o.keep or failed:
            print(f'bench: logs kept in {work}', file=sys.stderr)
        else:
            subprocess.run(['rm', '-rf', work])
    m, recs, notes = report.load_records(o.jsonl)
    text = report.render(m, recs, notes)
    with open(o.out, 'w') as f:
        f.write(text)
    sys.stdout.write(text)
    print(f'bench: table in {o.out}, raw results in {o.jsonl} '
          f'({(datetime.datetime.now(datetime.timezone.utc) - started).seconds} s)',
          file=sys.stderr)
    return 1 if failed else 0


def commit():
    """The source tree's commit (with -dirty), to tell before/after runs apart."""
    try:
        p = subprocess.run(['git', '-C', REPO, 'describe', '--always', '--dirty'],
                           capture_output=True, text=True, timeout=5)
        return p.stdout.strip() or None
    except (OSError, subprocess.TimeoutExpired):
        return None


def versions(o):
    v = {}
    for name, cmd in [('trafgen', ['trafgen', '-v']), ('wrk', ['wrk', '-v']),
                      ('nginx', ['nginx', '-v']), ('iperf3', ['iperf3', '-v']),
                      ('haproxy', ['haproxy', '-v'])]:
        try:
            p = subprocess.run(cmd, capture_output=True, text=True, timeout=5)
            line = (p.stdout + p.stderr).strip().splitlines()
            v[name] = line[0] if line else ''
        except (OSError, subprocess.TimeoutExpired):
            pass
    return v


def bench_path(lab, name, o, emit):
    """Starts `name`, runs the loads, stops it; whether anything failed."""
    path = P.Path(name, lab, o)
    failed = False
    try:
        path.start()
        path.probe()
    except L.LabError as e:
        print(f'bench: [{name}] failed to start: {e}', file=sys.stderr)
        for ld in o.loads:
            if path.supports(ld):
                emit(dict(kind='result', path=name, load=ld, label=path.label, runs=[],
                          error=f'start: {e}'))
        path.stop()
        return True
    try:
        for ld in o.loads:
            if not path.supports(ld):
                continue
            runs, err = [], None
            for i in range(o.runs):
                # Waiting for an idle machine is bounded per run and over the whole run.
                t = time.time()
                bg = loads.wait_idle(o.idle_pct, min(o.idle_wait, o.idle_budget))
                o.idle_budget = max(0.0, o.idle_budget - (time.time() - t))
                try:
                    r = loads.LOADS[ld](lab, path, o, o.seconds)
                except L.LabError as e:
                    err = str(e)
                    print(f'bench: [{name}] {ld} run {i + 1}: {e}', file=sys.stderr)
                    break
                r['bg_before_pct'] = bg
                runs.append(r)
                print(f'bench: [{name}] {ld} run {i + 1}/{o.runs}: {r["value"]:,} '
                      f'(director {r["director_cpu_s"]:.2f} s CPU, box {r["box_cpu_s"]:.2f} s, '
                      f'others {r["foreign_cpu_pct"]:.0f} %)', file=sys.stderr)
                time.sleep(1 if o.idle_wait else 0.2)
            failed |= err is not None or not runs
            emit(dict(kind='result', path=name, load=ld, label=path.label, runs=runs, error=err))
    finally:
        path.stop()
        for n in path.notes:
            emit(dict(kind='note', path=name, text=n))
            failed = True
    return failed


if __name__ == '__main__':
    sys.exit(main(sys.argv[1:]))
