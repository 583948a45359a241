#!/usr/bin/env python3
"""The quantum simulator's performance targets as ratios against Python peers run alongside it.

Reads our `qsim bench --json` output and the JSON written by the peer scripts in
shared/bench/peers (bench_statevector.py, bench_vqc_grad.py). Prints one Markdown table, and writes
it to --out when given:

  P1  our RX on the middle qubit at n=24, 1 thread, ns/amplitude, divided by our own streaming
      read+write pass over the same state (target <= 1.3); the peers' RX divided by the numpy pass
      is shown for context.
  P2  our per-gate cost at n=4 (target <= 15 ns), beside lightning's and qulacs's at n=4.
  P3  our forward + full gradient, n=8, L=4, batch 64, 1 thread, against the fastest peer engine
      (target: peer/ours >= 20).

Standard library only (runs under the peers' virtualenv or a plain python3). A missing file or key
prints "n/a", never a traceback.

Usage: bench_quantum_table.py --ours OURS.json --statevector SV.json [--statevector SV2.json]
                              --vqc VQC.json [--out results/bench/quantum-<UTC>.md]
"""

import argparse
import datetime as dt
import json
import os
import subprocess
import sys

NA = "n/a"
P1_TARGET = 1.3  # our RX ns/amp over our streaming pass ns/amp, at most
P2_TARGET_NS = 15.0  # our per-gate time at n=4, at most
P3_TARGET = 20.0  # fastest peer's time over ours, at least


# ------------------------------------------------------------------------------------------------
# tolerant input
# ------------------------------------------------------------------------------------------------

def load_json(path, notes, what):
    """A dict from `path`; {} (and a note) when it is missing or does not parse.

    Our binary's stdout should be exactly one JSON object; should anything else be printed around
    it, the last line that parses as an object is used.
    """
    if not path:
        notes.append(f"{what}: no file given")
        return {}
    try:
        with open(path) as f:
            text = f.read()
    except OSError as e:
        notes.append(f"{what}: cannot read {path} ({e.strerror})")
        return {}
    try:
        obj = json.loads(text)
    except ValueError:
        obj = None
        for line in reversed(text.splitlines()):
            line = line.strip()
            if line.startswith("{"):
                try:
                    obj = json.loads(line)
                    break
                except ValueError:
                    continue
        if obj is None:
            notes.append(f"{what}: {path} is not JSON")
            return {}
        notes.append(f"{what}: {path} had non-JSON lines; used its last JSON line")
    if not isinstance(obj, dict):
        notes.append(f"{what}: {path} is JSON but not an object")
        return {}
    return obj


def get(d, *keys):
    """d[k1][k2]..., or None when any level is missing or not a dict."""
    for k in keys:
        if not isinstance(d, dict) or k not in d:
            return None
        d = d[k]
    return d


def num(x):
    """A finite float, or None."""
    if isinstance(x, bool) or x is None:
        return None
    try:
        v = float(x)
    except (TypeError, ValueError):
        return None
    if v != v or v in (float("inf"), float("-inf")):
        return None
    return v


def div(a, b):
    a, b = num(a), num(b)
    if a is None or b is None or b == 0:
        return None
    return a / b


# ------------------------------------------------------------------------------------------------
# formatting
# ------------------------------------------------------------------------------------------------

def f3(x, unit=""):
    """Three significant digits, or n/a."""
    x = num(x)
    if x is None:
        return NA
    if x != 0 and (abs(x) >= 1e4 or abs(x) < 1e-3):
        s = f"{x:.3g}"
    elif abs(x) >= 100:
        s = f"{x:.0f}"
    else:
        s = f"{x:.3g}"
    return s + unit


def ftime(seconds):
    """A duration with a unit that keeps it readable: ns, us, ms or s."""
    s = num(seconds)
    if s is None:
        return NA
    for scale, unit in ((1e-6, " ns"), (1e-3, " us"), (1.0, " ms")):
        if abs(s) < scale * 0.9995:  # so that 0.9998 s prints as 1 s, not 1000 ms
            return f3(s * 1e3 / scale, unit)
    return f3(s, " s")


def fpct(x):
    x = num(x)
    return NA if x is None else f"±{100 * x:.0f}%"


def status(value, target, at_most):
    v = num(value)
    if v is None:
        return NA
    ok = v <= target if at_most else v >= target
    return "PASS" if ok else "MISS"


def cell(s):
    return str(s).replace("|", "/").replace("\n", " ")


def md_table(headers, rows):
    out = ["| " + " | ".join(cell(h) for h in headers) + " |",
           "|" + "|".join("---" for _ in headers) + "|"]
    for r in rows:
        out.append("| " + " | ".join(cell(c) for c in r) + " |")
    return out


# ------------------------------------------------------------------------------------------------
# peer lookups
# ------------------------------------------------------------------------------------------------

def sv_records(svs):
    recs = []
    for sv in svs:
        for r in get(sv, "records") or []:
            if isinstance(r, dict) and str(r.get("threads")) == "1":
                recs.append(r)
    return recs


def sv_find(recs, backend, op, n):
    """The last single-thread record for (backend, op, n) that has a time, or None."""
    hit = None
    for r in recs:
        if (r.get("backend") == backend and r.get("op") == op and r.get("n") == n
                and num(r.get("per_gate_s")) is not None):
            hit = r
    return hit


def vqc_find(vqc, n, layers, batch):
    out = []
    for r in get(vqc, "records") or []:
        if (isinstance(r, dict) and r.get("n") == n and r.get("L") == layers
                and r.get("batch") == batch and num(r.get("step_s")) is not None):
            out.append(r)
    return sorted(out, key=lambda r: num(r["step_s"]))


def vqc_validation(vqc):
    """One line on the peer script's cross-check of its engines (outputs and gradients agree)."""
    val = get(vqc, "validation")
    if not isinstance(val, dict) or not val:
        return "the peer script's cross-check of engines: n/a"
    worst, ref, bad = None, None, []
    for eng, v in val.items():
        if not isinstance(v, dict):
            continue
        if "error" in v:
            bad.append(eng)
        ref = v.get("vs", ref)
        for k in ("max_abs_diff_out", "max_abs_diff_grad"):
            d = num(v.get(k))
            if d is not None and (worst is None or d > worst):
                worst = d
    txt = (f"the peer script's cross-check (n=4, L=2): outputs and gradients agree with "
           f"{ref or NA} to {f3(worst)}")
    if bad:
        txt += f"; failed for {', '.join(bad)}"
    return txt


def intval(x, default):
    v = num(x)
    return int(v) if v is not None and v == int(v) else default


def git_rev():
    try:
        here = os.path.dirname(os.path.abspath(__file__))
        r = subprocess.run(["git", "-C", here, "rev-parse", "--short", "HEAD"],
                           capture_output=True, text=True, timeout=10)
        if r.returncode != 0:
            return None
        rev = r.stdout.strip()
        d = subprocess.run(["git", "-C", here, "status", "--porcelain", "--untracked-files=no"],
                           capture_output=True, text=True, timeout=10)
        return rev + ("+dirty" if d.returncode == 0 and d.stdout.strip() else "")
    except (OSError, subprocess.SubprocessError):
        return None


# ------------------------------------------------------------------------------------------------
# the report
# ------------------------------------------------------------------------------------------------

def build(args):
    notes = []
    ours = load_json(args.ours, notes, "ours")
    svs = [load_json(p, notes, "statevector peers") for p in (args.statevector or [None])]
    vqc = load_json(args.vqc, notes, "vqc peers")
    recs = sv_records(svs)

    thr = get(ours, "threads")
    if ours and num(thr) != 1:
        notes.append(f"ours: threads = {thr if thr is not None else 'missing'}, expected 1")
    vqc_thr = get(vqc, "config", "threads")
    if vqc and str(vqc_thr) != "1":
        notes.append(f"vqc peers: threads = {vqc_thr}, expected 1")

    # ---- P1 -------------------------------------------------------------------------------------
    n1 = intval(get(ours, "p1", "n"), 24)
    if n1 != 24:
        notes.append(f"ours: p1.n = {n1}, the target is defined at n=24; peers looked up at n={n1}")
    rx = num(get(ours, "p1", "rx_ns_per_amp"))
    stream = num(get(ours, "p1", "stream_ns_per_amp"))
    p1 = num(get(ours, "p1", "ratio"))
    if p1 is None:
        p1 = div(rx, stream)
    elif rx is not None and stream is not None and abs(p1 - rx / stream) > 0.05 * p1:
        notes.append(f"ours: p1.ratio {p1:.3g} differs from rx/stream {rx / stream:.3g}; "
                     "the table uses p1.ratio")
    np_pass = sv_find(recs, "numpy_ref", "pass", n1)
    np_amp = num(get(np_pass, "ns_per_amp"))
    p1_peers = []
    for be in ("lightning", "qulacs", "aer"):
        r = sv_find(recs, be, "rx", n1)
        if r is not None or be != "aer":
            amp = num(get(r, "ns_per_amp"))
            p1_peers.append(f"{be} {f3(amp)}/{f3(np_amp)} = {f3(div(amp, np_amp))}")
    p1_row = ["P1 RX/stream",
              f"ours RX / ours stream, n={n1}, 1 thread <= {P1_TARGET}",
              f"RX {f3(rx, ' ns/amp')}, stream {f3(stream, ' ns/amp')}",
              "; ".join(p1_peers) + " (RX / numpy pass, ns/amp)",
              f3(p1), status(p1, P1_TARGET, at_most=True)]

    # ---- P2 -------------------------------------------------------------------------------------
    n2 = intval(get(ours, "p2", "n"), 4)
    if n2 != 4:
        notes.append(f"ours: p2.n = {n2}, the target is defined at n=4; peers looked up at n={n2}")
    gate_ns = num(get(ours, "p2", "ns_per_gate"))
    p2_peers, best_peer_ns = [], None
    for be in ("lightning", "qulacs", "aer"):
        r = sv_find(recs, be, "rx", n2)
        if r is None and be == "aer":
            continue
        ns = num(get(r, "per_gate_s"))
        ns = None if ns is None else ns * 1e9
        if ns is not None and (best_peer_ns is None or ns < best_peer_ns[0]):
            best_peer_ns = (ns, be)
        txt = f"{be} {f3(ns, ' ns')}"
        p2_peers.append(txt)
    if best_peer_ns is not None:
        p2_ratio = f"{best_peer_ns[1]}/ours = {f3(div(best_peer_ns[0], gate_ns))}"
    else:
        p2_ratio = NA
    p2_row = ["P2 gate at n=4",
              f"ours per gate, n={n2} <= {f3(P2_TARGET_NS)} ns",
              f3(gate_ns, " ns/gate") + (f" ({get(ours, 'p2', 'gates')} gates)"
                                          if get(ours, "p2", "gates") is not None else ""),
              "; ".join(p2_peers) + f" (RX, n={n2}, per gate)",
              p2_ratio, status(gate_ns, P2_TARGET_NS, at_most=True)]

    # ---- P3 -------------------------------------------------------------------------------------
    n3 = intval(get(ours, "p3", "n"), 8)
    l3 = intval(get(ours, "p3", "layers"), 4)
    b3 = intval(get(ours, "p3", "batch"), 64)
    if (n3, l3, b3) != (8, 4, 64):
        notes.append(f"ours: p3 is n={n3}, L={l3}, batch={b3}; the target is defined at n=8, L=4, "
                     "batch 64; peers looked up at the same n, L, batch")
    ours_ms = num(get(ours, "p3", "forward_gradient_ms"))
    peers3 = vqc_find(vqc, n3, l3, b3)
    fastest = peers3[0] if peers3 else None
    fastest_ms = None if fastest is None else num(fastest["step_s"]) * 1e3
    p3 = div(fastest_ms, ours_ms)
    p3_row = ["P3 VQC fwd+grad",
              f"fastest peer / ours, n={n3}, L={l3}, batch {b3}, 1 thread >= {f3(P3_TARGET)}",
              f3(ours_ms, " ms"),
              (f"fastest: {fastest['engine']} {f3(fastest_ms, ' ms')}" if fastest
               else "fastest: n/a")
              + "".join(f"; {r['engine']} {ftime(r['step_s'])}" for r in peers3[1:3]),
              f3(p3), status(p3, P3_TARGET, at_most=False)]

    # ---- assemble -------------------------------------------------------------------------------
    now = args.stamp or dt.datetime.now(dt.timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    lines = [f"## Quantum simulator benchmarks, {now}", ""]
    lines += md_table(["target", "definition", "measured (ours)", "peers, same run", "ratio",
                       "status"], [p1_row, p2_row, p3_row])
    lines += ["", "P1 peers: their RX over numpy's one read+write pass of the same state, for "
              "context (no target). P2 peers: lightning is timed per Python call of its gate "
              "binding, qulacs per gate inside a C++ circuit, Aer per gate inside a C++ experiment "
              "(minus an empty experiment). P3: every peer engine runs the same circuit; "
              f"{vqc_validation(vqc)}."]

    lines += ["", "### Peers, state vector (1 thread, complex128)", ""]
    rows = []
    for n in sorted({r.get("n") for r in recs if isinstance(r.get("n"), int)}):
        for op in ("rx", "cnot", "layer", "pass"):
            for be in ("lightning", "lightning_kern", "qulacs", "qulacs_py", "aer", "aer_fused",
                       "numpy_ref"):
                r = sv_find(recs, be, op, n)
                if r is not None:
                    rows.append([n, op, be, ftime(r.get("per_gate_s")), f3(r.get("ns_per_amp")),
                                 fpct(get(r, "stats", "rel_iqr"))])
    if rows:
        lines += md_table(["n", "op", "engine", "per gate", "ns/amp", "rel. IQR"], rows)
    else:
        lines.append("n/a")
    lines += ["", "lightning_kern = lightning minus its Python call overhead on a 1-qubit state "
              "(the script's estimate); pass = numpy one read+write pass over the state.", ""]

    lines += [f"### Peers, VQC forward + gradient (n={n3}, L={l3}, batch {b3})", ""]
    if peers3:
        lines += md_table(["engine", "step", "per sample", "rel. IQR", "peer/ours"],
                          [[r["engine"], ftime(r["step_s"]), ftime(r.get("per_sample_s")),
                            fpct(get(r, "stats", "rel_iqr")),
                            f3(div(num(r["step_s"]) * 1e3, ours_ms), "x")] for r in peers3])
    else:
        lines.append("n/a")

    lines += ["", "### Conditions", ""]
    rev = git_rev()
    lines.append(f"- accel: {rev or NA}; ours threads: {thr if thr is not None else NA}; "
                 f"load average before ours: {args.ours_loadavg or NA}")
    for label, d in [("statevector peers", s) for s in svs] + [("vqc peers", vqc)]:
        if not d:
            continue
        pb, pa = get(d, "noise_probe_before"), get(d, "noise_probe_after")
        lines.append(f"- {label}: {get(d, 'env', 'timestamp_utc') or NA}, "
                     f"load average {get(d, 'env', 'loadavg_at_start') or NA} -> "
                     f"{get(pa, 'loadavg') or NA}, noise-probe spread "
                     f"{f3(get(pb, 'rel_spread'))}/{f3(get(pa, 'rel_spread'))}, "
                     f"wall {f3(get(d, 'total_wall_s'), ' s')}")
    pk = None
    for d in svs + [vqc]:
        pk = pk or get(d, "env", "packages")
    if isinstance(pk, dict):
        keep = ("qulacs", "pennylane", "pennylane_lightning", "qiskit-aer", "numpy", "torch")
        lines.append("- peer versions: " + ", ".join(f"{k} {pk.get(k) or NA}" for k in keep))
    cpu = None
    for d in svs + [vqc]:
        cpu = cpu or get(d, "env", "cpu_flags")
    if isinstance(cpu, dict):
        lines.append("- CPU flags: " + (", ".join(k for k, v in cpu.items() if v) or NA))
    if args.note:
        lines += [f"- {n}" for n in args.note]
    lines.append("- Ratios come from one run on a shared machine; "
                 "differences under ~15% are noise.")
    if notes:
        lines += ["", "### Notes", ""] + [f"- {n}" for n in notes]
    return "\n".join(lines) + "\n"


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--ours", help="JSON printed by `qsim bench --json`")
    ap.add_argument("--statevector", action="append",
                    help="bench_statevector.py JSON (repeatable; single-thread records are used)")
    ap.add_argument("--vqc", help="bench_vqc_grad.py JSON")
    ap.add_argument("--out", help="also write the table here (parent directories are created)")
    ap.add_argument("--ours-loadavg", help="/proc/loadavg before our run, for the record")
    ap.add_argument("--note", action="append", help="extra line for the Conditions list")
    ap.add_argument("--stamp", help="UTC timestamp for the heading (default: now)")
    args = ap.parse_args()
    text = build(args)
    sys.stdout.write(text)
    if args.out:
        parent = os.path.dirname(os.path.abspath(args.out))
        os.makedirs(parent, exist_ok=True)
        with open(args.out, "w") as f:
            f.write(text)
        print(f"wrote {args.out}", file=sys.stderr)


if __name__ == "__main__":
    main()
