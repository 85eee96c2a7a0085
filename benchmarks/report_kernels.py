#!/usr/bin/env python3
"""Runs iccrt_kernel_bench and reports iccrt's CPU kernels as ratios to anchors measured in the same run.

  GEMM fp32      iccrt::matmul GFLOP/s / raw cblas_sgemm GFLOP/s, per size
  peak           GEMM GFLOP/s at 2048^3 as a % of the fp32 FMA peak measured on this machine (all threads)
  bandwidth      iccrt add (16M fp32, 3 x N x 4 bytes) / copy (2 x N x 4 bytes) bandwidth, same thread count
  numpy          when NumPy imports: numpy matmul 2048 and numpy add 16M timed here, right after the binary

Standard library only. Usage:
  benchmarks/report_kernels.py [--bench PATH] [--json saved.json] [--markdown out.md] [--repetitions N]
"""
import argparse
import glob
import json
import os
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
GEMM_SIZES = [(256, 256, 256), (512, 512, 512), (1024, 1024, 1024), (2048, 2048, 2048), (4096, 1024, 1024)]


def find_binary():
    cands = sorted(glob.glob(os.path.join(HERE, "..", "build*", "benchmarks", "iccrt_kernel_bench")),
                   key=os.path.getmtime, reverse=True)
    return os.path.abspath(cands[0]) if cands else None


def run_benchmark(binary, repetitions, extra):
    cmd = [binary, "--benchmark_format=json"]
    if repetitions > 1:
        cmd += [f"--benchmark_repetitions={repetitions}", "--benchmark_report_aggregates_only=true"]
    cmd += extra
    print("running:", " ".join(cmd), file=sys.stderr)
    out = subprocess.run(cmd, check=True, stdout=subprocess.PIPE, text=True).stdout
    return json.loads(out)


def collect(data):
    """name -> entry (the median aggregate when repetitions were run, else the single run)."""
    runs, medians = {}, {}
    for b in data.get("benchmarks", []):
        if b.get("error_occurred"):
            continue
        name = b.get("run_name", b["name"])
        if b.get("run_type") == "aggregate":
            if b.get("aggregate_name") == "median":
                medians[name] = b
        else:
            runs.setdefault(name, b)
    runs.update(medians)
    return runs


def pick(runs, prefix, **args):
    """The entry whose run name is prefix/arg:value/... (order-insensitive on the args)."""
    for name, b in runs.items():
        parts = name.split("/")
        if parts[0] != prefix:
            continue
        kv = dict(p.split(":", 1) for p in parts[1:] if ":" in p)
        if all(kv.get(k) == str(v) for k, v in args.items()):
            return b
    return None


def gflops(b):
    return b["flops"] / 1e9 if b and "flops" in b else None


def gbps(b):
    return b["bytes_per_second"] / 1e9 if b and "bytes_per_second" in b else None


def ratio(a, b):
    return a / b if a is not None and b else None


def time_numpy(seconds=1.0):
    try:
        import numpy as np
    except ImportError:
        return None

    def best_rate(fn, work):
        fn()  # warm up (page faults, BLAS thread start)
        times, t_end = [], time.perf_counter() + seconds
        while time.perf_counter() < t_end or len(times) < 3:
            t0 = time.perf_counter()
            fn()
            times.append(time.perf_counter() - t0)
        return work / statistics.median(times)

    rng = np.random.default_rng(0)
    n = 2048
    a = rng.random((n, n), dtype=np.float32)
    b = rng.random((n, n), dtype=np.float32)
    c = np.empty((n, n), dtype=np.float32)
    res = {"version": np.__version__}
    res["matmul_2048_gflops"] = best_rate(lambda: np.matmul(a, b, out=c), 2.0 * n ** 3) / 1e9
    m = 1 << 24
    x = rng.random(m, dtype=np.float32)
    y = rng.random(m, dtype=np.float32)
    z = np.empty(m, dtype=np.float32)
    res["add_gbps"] = best_rate(lambda: np.add(x, y), 3.0 * m * 4) / 1e9
    res["add_out_gbps"] = best_rate(lambda: np.add(x, y, out=z), 3.0 * m * 4) / 1e9
    return res


def fmt(v, spec="{:.1f}"):
    return "n/a" if v is None else spec.format(v)


def pct(v):
    return "n/a" if v is None else f"{100 * v:.0f}%"


def analyse(data, numpy_res):
    runs = collect(data)
    ctx = data.get("context", {})
    nt = ctx.get("iccrt_omp_threads", "?")
    rows, summary = [], {}

    # ---- peak ----
    fma = [b for b in runs.values() if b.get("run_name", b["name"]).split("/")[0].startswith("BM_FmaPeak")]
    max_threads = max((b.get("threads", 1) for b in fma), default=1)
    peak_mt = max((gflops(b) for b in fma if b.get("threads", 1) == max_threads), default=None)
    peak_one = max((gflops(b) for b in fma if b.get("threads", 1) == 1), default=None)
    # The peak is the best any configuration reached: on VMs whose vCPUs are SMT siblings (or on a busy
    # machine) one thread can beat all of them together.
    peak_all = max((gflops(b) for b in fma), default=None)
    summary["peak_gflops_max_threads"] = peak_mt
    summary["peak_gflops_all_threads"] = peak_all
    summary["peak_gflops_one_thread"] = peak_one

    # ---- GEMM ----
    gemm = []
    for m, n, k in GEMM_SIZES:
        ic = gflops(pick(runs, "BM_GemmIccrt", M=m, N=n, K=k))
        ob = gflops(pick(runs, "BM_GemmOpenBLAS", M=m, N=n, K=k))
        gemm.append({"size": f"{m}x{n}x{k}", "iccrt_gflops": ic, "openblas_gflops": ob, "ratio": ratio(ic, ob),
                     "iccrt_pct_peak": ratio(ic, peak_all), "openblas_pct_peak": ratio(ob, peak_all)})
    summary["gemm"] = gemm
    g2048 = next(g for g in gemm if g["size"] == "2048x2048x2048")
    summary["iccrt_pct_peak_2048"] = g2048["iccrt_pct_peak"]

    # ---- bandwidth ----
    def bw(prefix, threads):
        return gbps(pick(runs, prefix, threads=threads))

    one, many = 1, nt
    bwd = {
        "add_iccrt": bw("BM_AddIccrt", many), "add_inplace_iccrt": bw("BM_AddInplaceIccrt", many),
        "copy_iccrt": bw("BM_CopyIccrt", many),
        "add_loop_mt": bw("BM_AddLoop", many), "copy_loop_mt": bw("BM_CopyLoop", many),
        "memcpy_mt": bw("BM_Memcpy", many),
        "add_loop_1t": bw("BM_AddLoop", one), "copy_loop_1t": bw("BM_CopyLoop", one), "memcpy_1t": bw("BM_Memcpy", one),
    }
    if str(nt) == "1":  # the MT anchors are the 1T ones
        for k in ("add_loop", "copy_loop", "memcpy"):
            bwd[f"{k}_mt"] = bwd[f"{k}_1t"]
    summary["bandwidth_gbps"] = bwd
    summary["add_vs_copy_mt"] = ratio(bwd["add_iccrt"], bwd["copy_loop_mt"])
    summary["add_inplace_vs_copy_mt"] = ratio(bwd["add_inplace_iccrt"], bwd["copy_loop_mt"])
    summary["add_vs_memcpy_1t"] = ratio(bwd["add_iccrt"], bwd["memcpy_1t"])
    summary["add_vs_add_loop_mt"] = ratio(bwd["add_iccrt"], bwd["add_loop_mt"])
    summary["copy_iccrt_vs_copy_mt"] = ratio(bwd["copy_iccrt"], bwd["copy_loop_mt"])

    if numpy_res:
        summary["numpy"] = numpy_res
        summary["iccrt_vs_numpy_matmul_2048"] = ratio(g2048["iccrt_gflops"], numpy_res["matmul_2048_gflops"])
        summary["iccrt_vs_numpy_add"] = ratio(bwd["add_iccrt"], numpy_res["add_gbps"])
        summary["iccrt_inplace_vs_numpy_add_out"] = ratio(bwd["add_inplace_iccrt"], numpy_res["add_out_gbps"])
    summary["context"] = {k: ctx.get(k) for k in ("host_name", "num_cpus", "mhz_per_cpu", "library_build_type",
                                                  "iccrt_omp_threads", "iccrt_gemm", "openblas", "date")}
    return summary


def render(s):
    c = s["context"]
    lines = [f"Machine: {c.get('num_cpus')} CPUs @ {c.get('mhz_per_cpu')} MHz, iccrt threads {c.get('iccrt_omp_threads')}",
             f"iccrt GEMM: {c.get('iccrt_gemm')}; anchor: {c.get('openblas')}", ""]
    lines.append(f"Measured fp32 FMA peak: {fmt(s['peak_gflops_all_threads'])} GFLOP/s (best of: "
                 f"{fmt(s['peak_gflops_max_threads'])} on all threads, {fmt(s['peak_gflops_one_thread'])} on one)")
    lines.append("")
    lines.append("| GEMM fp32 (MxNxK) | iccrt GFLOP/s | OpenBLAS GFLOP/s | iccrt / OpenBLAS | iccrt % of peak |")
    lines.append("|---|---:|---:|---:|---:|")
    for g in s["gemm"]:
        lines.append(f"| {g['size']} | {fmt(g['iccrt_gflops'])} | {fmt(g['openblas_gflops'])} | "
                     f"{fmt(g['ratio'], '{:.2f}')} | {pct(g['iccrt_pct_peak'])} |")
    b = s["bandwidth_gbps"]
    lines += ["", "| 16M fp32 stream | GB/s |", "|---|---:|"]
    names = [("add_iccrt", "iccrt add (allocates output), 3N*4 B"), ("add_inplace_iccrt", "iccrt add_ in place, 3N*4 B"),
             ("copy_iccrt", "iccrt copy_, 2N*4 B"), ("add_loop_mt", "plain add loop, iccrt's thread count"),
             ("copy_loop_mt", "plain copy loop, iccrt's thread count"), ("memcpy_mt", "memcpy, iccrt's thread count"),
             ("add_loop_1t", "plain add loop, 1 thread"), ("copy_loop_1t", "plain copy loop, 1 thread"),
             ("memcpy_1t", "memcpy, 1 thread")]
    for k, label in names:
        lines.append(f"| {label} | {fmt(b[k])} |")
    lines += ["", "| Ratio | value |", "|---|---:|",
              f"| iccrt GEMM 2048 / measured peak | {pct(s['iccrt_pct_peak_2048'])} |",
              f"| iccrt add / copy loop (same threads) | {fmt(s['add_vs_copy_mt'], '{:.2f}')} |",
              f"| iccrt add_ in place / copy loop (same threads) | {fmt(s['add_inplace_vs_copy_mt'], '{:.2f}')} |",
              f"| iccrt add / plain add loop (same threads) | {fmt(s['add_vs_add_loop_mt'], '{:.2f}')} |",
              f"| iccrt add / memcpy (1 thread) | {fmt(s['add_vs_memcpy_1t'], '{:.2f}')} |",
              f"| iccrt copy_ / copy loop (same threads) | {fmt(s['copy_iccrt_vs_copy_mt'], '{:.2f}')} |"]
    if "numpy" in s:
        n = s["numpy"]
        lines += [f"| iccrt matmul 2048 / numpy {n['version']} matmul ({fmt(n['matmul_2048_gflops'])} GFLOP/s) | "
                  f"{fmt(s['iccrt_vs_numpy_matmul_2048'], '{:.2f}')} |",
                  f"| iccrt add / numpy add ({fmt(n['add_gbps'])} GB/s) | {fmt(s['iccrt_vs_numpy_add'], '{:.2f}')} |",
                  f"| iccrt add_ / numpy add(out=) ({fmt(n['add_out_gbps'])} GB/s) | "
                  f"{fmt(s['iccrt_inplace_vs_numpy_add_out'], '{:.2f}')} |"]
    return "\n".join(lines) + "\n"


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--bench", help="path to iccrt_kernel_bench (default: newest build*/benchmarks/)")
    ap.add_argument("--json", help="read this saved --benchmark_format=json output instead of running")
    ap.add_argument("--save-json", help="also write the raw benchmark JSON here")
    ap.add_argument("--markdown", help="write the report as a Markdown snippet to this file")
    ap.add_argument("--summary-json", help="write the computed ratios as JSON to this file")
    ap.add_argument("--repetitions", type=int, default=1, help="benchmark repetitions (the median is used)")
    ap.add_argument("--no-numpy", action="store_true", help="skip the NumPy comparison")
    ap.add_argument("--quick", action="store_true",
                    help="short timings (0.05 s per benchmark) for a demo; use the default for recorded numbers")
    ap.add_argument("extra", nargs="*", help="extra arguments for the benchmark binary (after --)")
    args = ap.parse_args()

    if args.json:
        with open(args.json) as f:
            data = json.load(f)
    else:
        binary = args.bench or find_binary()
        if not binary or not os.path.exists(binary):
            sys.exit("iccrt_kernel_bench not found: build it (cmake --build BUILD --target iccrt_kernel_bench) "
                     "or pass --bench")
        extra = list(args.extra) + (["--benchmark_min_time=0.05"] if args.quick else [])
        data = run_benchmark(binary, args.repetitions, extra)
        if args.save_json:
            with open(args.save_json, "w") as f:
                json.dump(data, f, indent=1)
    numpy_res = None if args.no_numpy else time_numpy()
    summary = analyse(data, numpy_res)
    text = render(summary)
    print(text)
    if args.markdown:
        with open(args.markdown, "w") as f:
            f.write("<!-- generated by benchmarks/report_kernels.py -->\n" + text)
    if args.summary_json:
        with open(args.summary_json, "w") as f:
            json.dump(summary, f, indent=1)


if __name__ == "__main__":
    main()
