"""The markdown report: one row per path, medians (min-max) of the runs, the director's CPU
per unit of work, and the ratios of each lvs-router path to kernel DNAT and to HAProxy.
Usable alone: `python3 tests/bench/report.py RESULTS.jsonl [OUT.md]`."""

import json
import re
import statistics
import sys

import loads
import paths as P


def summary(values):
    v = [x for x in values if x is not None]
    if not v:
        return None
    return dict(median=statistics.median(v), min=min(v), max=max(v))


def fmt_num(x, kind):
    if x is None:
        return '-'
    if kind == 'pps' or kind == 'conns':
        return f'{x / 1e3:.1f}k' if x >= 1e3 else f'{x:.0f}'
    if kind == 'gbps':
        return f'{x:.2f}'
    return f'{x:.3g}'


def cell(s, kind):
    if s is None:
        return '-'
    if s['min'] == s['max']:
        return fmt_num(s['median'], kind)
    return f"{fmt_num(s['median'], kind)} ({fmt_num(s['min'], kind)}-{fmt_num(s['max'], kind)})"


def load_records(path):
    recs = {}
    notes = []
    meta = None
    with open(path) as f:
        for line in f:
            if not line.strip():
                continue
            r = json.loads(line)
            if r.get('kind') == 'meta':
                meta = r
            elif r.get('kind') == 'result':
                recs[(r['path'], r['load'])] = r
            elif r.get('kind') == 'note':
                notes.append(r)
    return meta, recs, notes


def summarise(rec):
    runs = rec.get('runs', [])
    return dict(
        value=summary([r['value'] for r in runs]),
        dcpu=summary([r.get('director_cpu_per_unit') for r in runs]),
        bcpu=summary([r.get('box_cpu_per_unit') for r in runs]),
        p50=summary([r.get('p50_ms') for r in runs]),
        p99=summary([r.get('p99_ms') for r in runs]),
    )


def ratio(a, b):
    if not a or not b or a['median'] is None or not b['median']:
        return '-'
    return f"{a['median'] / b['median']:.2f}"


def render(meta, recs, notes=()):
    order = [p for p in P.ALL + P.EXTRA if any(k[0] == p for k in recs)]
    load_names = [ld for ld in loads.LOADS if any(k[1] == ld for k in recs)]
    kinds = {'pps': 'pps', 'conns': 'conns', 'bulk': 'gbps'}
    out = []
    if meta:
        out.append(f"Run {meta['started']} UTC on {meta['host']} ({meta['cpus']} CPUs, "
                   f"kernel {meta['kernel']}); {meta['runs']} run(s) of {meta['seconds']} s per "
                   f"load, median (min-max); lvs-router `{meta['binary']}` "
                   f"({meta['workers']} worker(s){', pinned to the last CPU' if meta['pin'] else ''}); "
                   f"generator {meta['generator']}.")
        tools = []
        for k, v in (meta.get('versions') or {}).items():
            m = re.search(r'(\d+\.\d+(\.\d+)?)', v)
            if m:
                tools.append(f'{k} {m.group(1)}')
        src = [f"source `{meta['commit']}`"] if meta.get('commit') else []
        if src or tools:
            out.append('Tools: ' + ', '.join(src + tools) + '.')
        out.append('')
    head = ['path']
    for ld in load_names:
        title, cpu = loads.UNITS[ld]
        head.append(title)
        if ld == 'conns':
            head.append('p50 / p99 ms')
        head.append(f'director {cpu}, box')
    out.append('| ' + ' | '.join(head) + ' |')
    out.append('|' + '---|' * len(head))
    S = {k: summarise(r) for k, r in recs.items()}
    for p in order:
        row = [P.LABELS[p]]
        for ld in load_names:
            r = recs.get((p, ld))
            n = 2 if ld == 'conns' else 1
            if r is None:
                row += ['-'] * (n + 1)
                continue
            if r.get('error'):
                row += [f"failed: {r['error'].splitlines()[0][:80]}"] + ['-'] * n
                continue
            s = S[(p, ld)]
            row.append(cell(s['value'], kinds[ld]))
            if ld == 'conns':
                lat = '-' if not s['p50'] else f"{s['p50']['median']:.2f} / {s['p99']['median']:.2f}"
                row.append(lat)
            d = s['dcpu']
            b = s['bcpu']
            row.append('-' if not d else f"{cell(d, 'cpu')}, box {b['median']:.3g}")
        out.append('| ' + ' | '.join(row) + ' |')
    # Ratios of medians: for throughput above 1 is better, for CPU per unit below 1.
    lvs = [p for p in order if p in P.LVS]
    if lvs and ('dnat' in order or 'haproxy' in order):
        out.append('')
        cols = [('value', 'pps', ('dnat',), 'pps'),
                ('value', 'conns', ('dnat', 'haproxy'), 'conns/s'),
                ('value', 'bulk', ('dnat', 'haproxy'), 'Gbit/s'),
                ('dcpu', 'pps', ('dnat',), 'director CPU per packet'),
                ('dcpu', 'conns', ('dnat', 'haproxy'), 'director CPU per conn'),
                ('bcpu', 'pps', ('dnat',), 'box CPU per packet'),
                ('bcpu', 'conns', ('dnat', 'haproxy'), 'box CPU per conn')]
        cols = [c for c in cols if c[1] in load_names]
        names = {'dnat': 'DNAT', 'haproxy': 'HAProxy'}
        head = ['lvs-router path'] + [f"{t} vs {' / '.join(names[r] for r in refs)}"
                                      for _, _, refs, t in cols]
        out.append('| ' + ' | '.join(head) + ' |')
        out.append('|' + '---|' * len(head))
        for p in lvs:
            row = [P.LABELS[p]]
            for field, ld, refs, _ in cols:
                a = S.get((p, ld))
                row.append(' / '.join(ratio(a and a[field], S.get((r, ld)) and S[(r, ld)][field])
                                      for r in refs))
            out.append('| ' + ' | '.join(row) + ' |')
    bg = [(r.get('foreign_cpu_pct') or 0) for rec in recs.values() for r in rec.get('runs', [])]
    out.append('')
    if bg:
        out.append(f'CPU used by processes outside the benchmark during the runs: median '
                   f'{statistics.median(bg):.0f} %, max {max(bg):.0f} % of one CPU.')
    out += [f"- {P.LABELS[n['path']]}: {n['text']}" for n in notes]
    return '\n'.join(out) + '\n'


if __name__ == '__main__':
    text = render(*load_records(sys.argv[1]))
    if len(sys.argv) > 2:
        with open(sys.argv[2], 'w') as f:
            f.write(text)
    sys.stdout.write(text)
