"""A short tour of iccrt's tensor API from Python: run by `make demo`.

Every number printed is also checked against NumPy, so the tour fails loudly if something is wrong.
"""
import time

import numpy as np

import iccrt


def check(label, got, want, tol=1e-5):
    got = np.asarray(got, dtype=np.float64)
    want = np.asarray(want, dtype=np.float64)
    err = float(np.max(np.abs(got - want) / (1 + np.abs(want)))) if want.size else 0.0
    status = "ok" if err <= tol else "MISMATCH"
    print(f"  {label:<44} max rel err {err:.1e}  {status}")
    if err > tol:
        raise SystemExit(f"tour: {label} differs from NumPy")


def main():
    print("== iccrt", iccrt.__version__, "==")
    print(iccrt.config())

    print("-- tensors, views and dtypes")
    g = iccrt.Generator(42)
    a = iccrt.randn(256, 512, generator=g)
    b = iccrt.randn(512, 128, generator=g)
    print("  a:", a.shape, a.dtype, a.device, "| a.t() is a view:", a.t().is_contiguous() is False)
    print("  a[1:5:2, ::128] =", a[1:5:2, ::128])
    an, bn = a.numpy(), b.numpy()  # zero-copy views of the same memory
    # float32 dot products of length 512 carry ~1e-5 relative rounding error against float64
    check("matmul a @ b (float32)", (a @ b).numpy(), an.astype(np.float64) @ bn.astype(np.float64), 1e-4)
    check("gelu(a).sum(dim=1)", iccrt.gelu(a).sum(dim=1).numpy(),
          (0.5 * an.astype(np.float64) * (1 + np.vectorize(__import__("math").erf)(an / np.sqrt(2)))).sum(1), 1e-4)
    check("softmax-style: exp(a - max) / sum", (lambda e: (e / e.sum(dim=1, keepdim=True)).numpy())(
        (a - a.max(dim=1, keepdim=True).values).exp()),
          (lambda e: e / e.sum(1, keepdims=True))(np.exp(an - an.max(1, keepdims=True)).astype(np.float64)))
    ab = a.to(iccrt.bfloat16)
    check("bfloat16 round trip (RNE, 8-bit mantissa)", ab.float().numpy(), an, 2 ** -8)
    check("broadcast add [256,512] + [512]", (a + b[:, 0]).numpy(), an + bn[:, 0])

    print("-- errors are Python exceptions, not crashes")
    for what, fn in [("shape mismatch", lambda: a + b), ("dtype mismatch", lambda: a + ab),
                     ("index out of range", lambda: a[300])]:
        try:
            fn()
        except (ValueError, TypeError, IndexError) as e:
            print(f"  {what:<20} -> {type(e).__name__}: {str(e)[:80]}")

    print("-- a quick timing (one run, this machine; see docs/benchmarks.md for the method)")
    x = iccrt.rand(2048, 2048, generator=g)
    y = iccrt.rand(2048, 2048, generator=g)
    xn, yn = x.numpy(), y.numpy()
    for name, f in [("iccrt matmul 2048", lambda: x @ y), ("numpy matmul 2048", lambda: xn @ yn)]:
        f()
        t0 = time.perf_counter()
        for _ in range(3):
            f()
        dt = (time.perf_counter() - t0) / 3
        print(f"  {name:<20} {2 * 2048 ** 3 / dt / 1e9:8.1f} GFLOP/s")


if __name__ == "__main__":
    main()
