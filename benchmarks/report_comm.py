#!/usr/bin/env python3
"""Runs iccrt_bench under mpirun and reports iccrt's all-reduce as ratios to MPI measured in the same run.

For each rank count (default: 2, and 4 with --oversubscribe) and each algorithm (default: auto, mpi, ring, tree,
rhd, rd, direct), two sweeps of all_reduce float32 sum:
  large   one size, 64 MiB          busbw; auto / mpi (target >= 2) and auto / single-core copy bandwidth (>= 0.5)
  small   8 B .. 4 KiB, factor 2    time per op; auto / mpi (target <= 1.5) at every size and the worst one

Runs are interleaved (every algorithm once, then again) --repetitions times and the best of each is kept, so a
burst of load on a shared machine hurts every algorithm alike instead of one. Standard library only. Usage:
  benchmarks/report_comm.py [--bench PATH] [--np 2,4] [--algos auto,mpi,ring] [--repetitions 3]
                            [--json saved.json] [--markdown out.md] [--from-json saved.json]
"""
import argparse
import glob
import json
import os
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
LARGE_BYTES = 64 << 20
SMALL_MAX = 4096
DEFAULT_ALGOS = "auto,mpi,ring,tree,rhd,rd,direct"


def find_binary():
    cands = sorted(glob.glob(os.path.join(HERE, "..", "build*", "benchmarks", "comm", "iccrt_bench")),
                   key=os.path.getmtime, reverse=True)
    return os.path.abspath(cands[0]) if cands else None


def mpirun_env():
    env = dict(os.environ)
    if hasattr(os, "geteuid") and os.geteuid() == 0:  # containers run as root; Open MPI refuses without these
        env.setdefault("OMPI_ALLOW_RUN_AS_ROOT", "1")
        env.setdefault("OMPI_ALLOW_RUN_AS_ROOT_CONFIRM", "1")
    return env


def run_bench(binary, np_, algo, sweep, timeout):
    """One mpirun; returns iccrt_bench's --json object, or {"error": text} when it failed."""
    with tempfile.NamedTemporaryFile(suffix=".json", delete=False) as f:
        path = f.name
    if sweep == "large":
        sizes = ["-b", str(LARGE_BYTES), "-e", str(LARGE_BYTES), "-n", "10", "-w", "3"]
    else:
        sizes = ["-b", "8", "-e", str(SMALL_MAX), "-f", "2", "-n", "500", "-w", "50"]
    cmd = ["mpirun", "-np", str(np_), "--oversubscribe", binary, "all_reduce", "-d", "float", "-o", "sum",
           "-a", algo, "-c", "1", "--json", path] + sizes
    print("running:", " ".join(cmd), file=sys.stderr)
    try:
        p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, timeout=timeout,
                           env=mpirun_env())
        if p.returncode != 0:
            err = [l for l in p.stderr.splitlines() if "iccrt_bench" in l] or p.stderr.splitlines()[-3:]
            return {"error": f"exit {p.returncode}: " + " ".join(err)[:300]}
        with open(path) as f:
            return json.load(f)
    except subprocess.TimeoutExpired:
        return {"error": f"timed out after {timeout} s"}
    finally:
        os.unlink(path)


def best(results):
    """Merges repetitions of one configuration: per size, the fastest time (so the highest bandwidth)."""
    ok = [r for r in results if "rows" in r]
    if not ok:
        return {"error": results[-1].get("error", "no result") if results else "not run"}
    merged = dict(ok[0])
    merged["copy_bandwidth"] = max((r["copy_bandwidth"] for r in ok), key=lambda c: c["gbps"])
    merged["wrong"] = sum(r["wrong"] or 0 for r in ok)
    rows = {}
    for r in ok:
        for row in r["rows"]:
            cur = rows.setdefault(row["size"], json.loads(json.dumps(row)))
            for place in ("out_of_place", "in_place"):
                m = row.get(place)
                if m and (cur.get(place) is None or m["time_us"] < cur[place]["time_us"]):
                    cur[place] = m
    merged["rows"] = [rows[s] for s in sorted(rows)]
    return merged


def measure(args):
    data = {}
    for np_ in args.np:
        for sweep in ("large", "small"):
            runs = {a: [] for a in args.algos}
            for _ in range(args.repetitions):
                for algo in args.algos:
                    runs[algo].append(run_bench(args.bench, np_, algo, sweep, args.timeout))
            for algo in args.algos:
                data[f"{np_}/{sweep}/{algo}"] = best(runs[algo])
    return data


def row_at(res, size):
    return next((r for r in res.get("rows", []) if r["size"] == size), None)


def fmt(v, spec="{:.2f}"):
    return "n/a" if v is None else spec.format(v)


def ratio(a, b):
    return a / b if a is not None and b else None


def busbw(res, size, place="out_of_place"):
    r = row_at(res, size)
    return r[place]["busbw_gbps"] if r and r.get(place) else None


def time_us(res, size, place="out_of_place"):
    r = row_at(res, size)
    return r[place]["time_us"] if r and r.get(place) else None


def render(data, nps, algos):
    lines = []
    others = [a for a in algos if a not in ("auto", "mpi")]
    # ---- large ----
    lines.append(f"All-reduce float32 sum at {LARGE_BYTES >> 20} MiB, bus bandwidth (GB/s, out of place; best of "
                 "the repetitions):")
    lines.append("")
    head = "| ranks | copy GB/s (1 core) | auto | mpi | **auto / mpi** (>= 2) | **auto / copy** (>= 0.5) |"
    head += "".join(f" {a} |" for a in others) + " auto picks |"
    lines.append(head)
    lines.append("|---" * (7 + len(others)) + "|")
    for np_ in nps:
        auto, mpi = data.get(f"{np_}/large/auto", {}), data.get(f"{np_}/large/mpi", {})
        copy = (auto.get("copy_bandwidth") or mpi.get("copy_bandwidth") or {}).get("gbps")
        a, m = busbw(auto, LARGE_BYTES), busbw(mpi, LARGE_BYTES)
        picked = (row_at(auto, LARGE_BYTES) or {}).get("algo", "n/a")
        line = (f"| {np_} | {fmt(copy)} | {fmt(a)} | {fmt(m)} | {fmt(ratio(a, m))} | {fmt(ratio(a, copy))} |")
        for o in others:
            line += f" {fmt(busbw(data.get(f'{np_}/large/{o}', {}), LARGE_BYTES))} |"
        lines.append(line + f" {picked} |")
    # ---- small ----
    lines.append("")
    lines.append("All-reduce float32 sum, small messages: time per op (us, out of place; best of the repetitions):")
    lines.append("")
    for np_ in nps:
        auto, mpi = data.get(f"{np_}/small/auto", {}), data.get(f"{np_}/small/mpi", {})
        lines.append(f"{np_} ranks:")
        lines.append("")
        lines.append("| size (B) | auto us | mpi us | **auto / mpi** (<= 1.5) | auto picks |"
                     + "".join(f" {o} us |" for o in others))
        lines.append("|---" * (5 + len(others)) + "|")
        worst = None
        for r in auto.get("rows", []):
            s = r["size"]
            a, m = time_us(auto, s), time_us(mpi, s)
            q = ratio(a, m)
            if q is not None:
                worst = q if worst is None else max(worst, q)
            line = f"| {s} | {fmt(a)} | {fmt(m)} | {fmt(q)} | {r.get('algo', 'n/a')} |"
            for o in others:
                line += f" {fmt(time_us(data.get(f'{np_}/small/{o}', {}), s))} |"
            lines.append(line)
        lines.append("")
        lines.append(f"Worst auto / mpi latency ratio, 8 B - 4 KiB, {np_} ranks: **{fmt(worst)}** (target <= 1.5)")
        lines.append("")
    # ---- failures ----
    bad = [(k, v["error"]) for k, v in data.items() if "error" in v]
    wrong = [(k, v["wrong"]) for k, v in data.items() if v.get("wrong")]
    if bad or wrong:
        lines.append("Problems:")
        lines += [f"- {k}: {e}" for k, e in bad]
        lines += [f"- {k}: {w} wrong values" for k, w in wrong]
    else:
        lines.append("Every run passed its correctness check (-c 1).")
    return "\n".join(lines) + "\n"


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--bench", default=None, help="iccrt_bench binary (default: newest build*/benchmarks/comm/)")
    ap.add_argument("--np", default="2,4", help="comma-separated rank counts (default 2,4)")
    ap.add_argument("--algos", default=DEFAULT_ALGOS, help=f"comma-separated -a values (default {DEFAULT_ALGOS})")
    ap.add_argument("--repetitions", type=int, default=3, help="interleaved repetitions, best kept (default 3)")
    ap.add_argument("--timeout", type=int, default=600, help="seconds per mpirun (default 600)")
    ap.add_argument("--json", help="save the raw results here")
    ap.add_argument("--from-json", help="render saved results instead of running")
    ap.add_argument("--markdown", help="also write the tables here")
    args = ap.parse_args()
    args.np = [int(x) for x in args.np.split(",") if x]
    args.algos = [a for a in args.algos.split(",") if a]
    for need in ("auto", "mpi"):
        if need not in args.algos:
            args.algos.insert(0, need)

    if args.from_json:
        with open(args.from_json) as f:
            data = json.load(f)
    else:
        args.bench = args.bench or find_binary()
        if not args.bench or not os.path.exists(args.bench):
            sys.exit("iccrt_bench not found: build it (cmake --build build --target iccrt_bench) or pass --bench")
        data = measure(args)
        if args.json:
            with open(args.json, "w") as f:
                json.dump(data, f, indent=1)
    text = render(data, args.np, args.algos)
    print(text)
    if args.markdown:
        with open(args.markdown, "w") as f:
            f.write(text)


if __name__ == "__main__":
    main()
