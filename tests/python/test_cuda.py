"""CUDA tensors through the Python API: copies both ways, ops against the CPU results, printing, NumPy / DLPack
boundaries and the caching allocator's statistics. Skipped (with the reason shown) without a CUDA device."""

import numpy as np
import pytest

import iccrt
from helpers import FLOAT_DTYPES, TOL, assert_close, dtype_id, make, random_values

pytestmark = pytest.mark.skipif(not iccrt.cuda.is_available(), reason="no CUDA device")


@pytest.mark.parametrize("dtype", FLOAT_DTYPES + [iccrt.int64, iccrt.bool], ids=dtype_id)
def test_roundtrip_and_views(dtype):
    t, x = make(random_values((33, 17), dtype, seed=1), dtype)
    g = t.cuda()
    assert g.is_cuda and g.device == "cuda:0" and g.dtype == dtype
    assert_close(g.cpu(), x, dtype)
    assert_close(g.T[::2].cpu(), x.T[::2], dtype)
    assert_close(t.T.to("cuda"), x.T, dtype)  # a non-contiguous source
    h = iccrt.zeros(17, 33, dtype=dtype, device="cuda").T  # a non-contiguous destination
    h.copy_(t)
    assert_close(h, x, dtype)


@pytest.mark.parametrize("size", [0, 1, 7, 1023, 1 << 20])
@pytest.mark.parametrize("dtype", FLOAT_DTYPES, ids=dtype_id)
def test_ops_match_cpu(dtype, size):
    a, xa = make(random_values((size,), dtype, seed=2, low=0.1, high=2), dtype)
    b, xb = make(random_values((size,), dtype, seed=3, low=0.1, high=2), dtype)
    ga, gb = a.cuda(), b.cuda()
    for got, expected in [(ga + gb, xa + xb), (ga * 2.5, xa * 2.5), (2 / ga, 2 / xa), (iccrt.exp(ga), np.exp(xa)),
                          (iccrt.gelu(ga), None), (ga.sqrt(), np.sqrt(xa)), (ga ** gb, xa ** xb)]:
        if expected is None:
            expected = iccrt.gelu(a).to(iccrt.float64).numpy()
        assert_close(got, expected, dtype)
    r, atol = TOL[dtype]
    assert_close(ga.sum(), xa.sum(), dtype, rtol=r, atol=atol + r * np.abs(xa).sum())
    if size:
        assert_close(ga.max(), xa.max(), dtype)
        assert_close(ga.argmin(), xa.argmin(), iccrt.int64)


@pytest.mark.parametrize("dtype", FLOAT_DTYPES, ids=dtype_id)
def test_matmul_matches_numpy(dtype):
    a, xa = make(random_values((64, 96), dtype, seed=4, low=-1, high=1), dtype)
    b, xb = make(random_values((96, 80), dtype, seed=5, low=-1, high=1), dtype)
    r, atol = TOL[dtype]
    bound = np.abs(xa) @ np.abs(xb)
    assert_close(a.cuda() @ b.cuda(), xa @ xb, dtype, rtol=r, atol=atol + r * bound)
    assert_close(a.cuda().T.T @ b.cuda(), xa @ xb, dtype, rtol=r, atol=atol + r * bound)


def test_random_matches_cpu_with_same_seed():
    u_cpu = iccrt.rand(1000, generator=iccrt.Generator(7))
    u_gpu = iccrt.rand(1000, generator=iccrt.Generator(7), device="cuda")
    assert_close(u_gpu, u_cpu.to(iccrt.float64).numpy(), iccrt.float32)


def test_repr_and_boundaries():
    g = iccrt.tensor([1.0, 2.0], device="cuda")
    assert repr(g) == "tensor([1., 2.], device='cuda:0')"
    assert repr(iccrt.tensor([1, 2], dtype=iccrt.int32, device="cuda")) == \
        "tensor([1, 2], device='cuda:0', dtype=iccrt.int32)"
    with pytest.raises(TypeError):
        g.numpy()
    assert g.numpy(force=True).tolist() == [1.0, 2.0]
    assert g.tolist() == [1.0, 2.0] and g[1].item() == 2.0
    assert g.__dlpack_device__() == (2, 0)
    r = iccrt.from_dlpack(g)
    assert r.is_cuda and r.data_ptr() == g.data_ptr()
    with pytest.raises(RuntimeError):
        g + iccrt.ones(2)  # operands on different devices
    c = iccrt.from_dlpack(g.__dlpack__(dl_device=(1, 0)))  # a host copy on request
    assert c.is_cpu and c.tolist() == [1.0, 2.0]


def test_memory_stats_track_allocations():
    iccrt.cuda.reset_peak_memory_stats()
    before = iccrt.cuda.memory_allocated()
    t = iccrt.empty(1 << 20, device="cuda")
    assert iccrt.cuda.memory_allocated() >= before + 4 * (1 << 20)
    assert iccrt.cuda.max_memory_allocated() >= iccrt.cuda.memory_allocated()
    del t
    assert iccrt.cuda.memory_allocated() == before
    assert iccrt.cuda.memory_reserved() >= before + 4 * (1 << 20)  # cached, not freed
    iccrt.cuda.empty_cache()
    stats = iccrt.cuda.memory_stats("cuda:0")
    assert stats["num_device_allocs"] >= 1
