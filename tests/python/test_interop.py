"""NumPy and DLPack interop: zero-copy in both directions, memory kept alive by whichever side remains, strided
views, dtype mapping and errors; DLPack round trips with NumPy and (when installed) PyTorch."""

import gc
import sys
import weakref

import numpy as np
import pytest

import iccrt
from helpers import NUMPY_OF, assert_close, dtype_id

NUMPY_DTYPES = [d for d in NUMPY_OF]  # every iccrt dtype except bfloat16


@pytest.mark.parametrize("dtype", NUMPY_DTYPES, ids=dtype_id)
def test_from_numpy_shares_memory(dtype):
    a = (np.arange(12) % 5).astype(NUMPY_OF[dtype]).reshape(3, 4)
    t = iccrt.from_numpy(a)
    assert t.dtype == dtype and t.shape == (3, 4) and t.stride() == (4, 1)
    a[1, 2] = 1
    assert t[1, 2].item() == 1
    t[0, 0] = 0
    assert a[0, 0] == 0
    assert t.data_ptr() == a.ctypes.data


@pytest.mark.parametrize("dtype", NUMPY_DTYPES, ids=dtype_id)
def test_numpy_shares_memory(dtype):
    t = iccrt.ones(2, 5, dtype=dtype)
    a = t.numpy()
    assert a.dtype == NUMPY_OF[dtype] and a.shape == (2, 5) and a.flags.writeable
    a[1, 3] = 0
    assert t[1, 3].item() == 0
    t.zero_()
    assert not a.any()
    assert np.shares_memory(t.numpy(), a)


def test_lifetime_numpy_source_deleted():
    a = np.arange(1000.0)
    t = iccrt.from_numpy(a)
    ref = weakref.ref(a) if hasattr(a, "__weakref__") else None
    del a
    gc.collect()
    assert t.sum().item() == sum(range(1000))  # the tensor keeps the array's memory alive
    del t
    gc.collect()
    if ref is not None:
        assert ref() is None  # and lets it go with the tensor


def test_lifetime_tensor_deleted():
    t = iccrt.arange(1000, dtype=iccrt.float64)
    a = t.numpy()
    v = t[10:20].numpy()
    del t
    gc.collect()
    assert a.sum() == sum(range(1000)) and v.tolist() == list(range(10, 20))
    t2 = iccrt.from_numpy(a)  # round trip: both share one block
    del a
    gc.collect()
    assert t2[999].item() == 999


def test_strided_views_map_to_strided_arrays():
    t = iccrt.arange(60, dtype=iccrt.int32).view(3, 4, 5)
    x = np.arange(60, dtype=np.int32).reshape(3, 4, 5)
    for v, xv in [(t.permute(2, 0, 1), x.transpose(2, 0, 1)), (t[:, 1::2, ::3], x[:, 1::2, ::3]),
                  (t[1:2, :1].expand(4, 4, 5), np.broadcast_to(x[1:2, :1], (4, 4, 5))), (t[2, 3], x[2, 3])]:
        a = v.numpy()
        np.testing.assert_array_equal(a, xv)
        assert a.strides == tuple(s * 4 for s in v.stride())
        assert np.shares_memory(a, t.numpy())
    # and back: strided NumPy arrays become strided views
    for xv in [x.transpose(1, 2, 0), x[::2, :, 1::2], x[:, 0], np.broadcast_to(x[:1], (5, 4, 5))]:
        with pytest.warns(UserWarning) if not xv.flags.writeable else _no_warning():
            v = iccrt.from_numpy(xv)
        assert v.shape == xv.shape and v.stride() == tuple(s // 4 for s in xv.strides)
        np.testing.assert_array_equal(v.numpy(), xv)
        assert np.shares_memory(v.numpy(), x)


class _no_warning:
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


def test_float16_and_bfloat16():
    h = iccrt.tensor([0.5, 65504.0, -2.0], dtype=iccrt.float16)
    assert h.numpy().dtype == np.float16 and h.numpy().tolist() == [0.5, 65504.0, -2.0]
    assert iccrt.from_numpy(np.array([1.5], dtype=np.float16)).dtype == iccrt.float16
    b = iccrt.tensor([1.5], dtype=iccrt.bfloat16)
    with pytest.raises(TypeError, match=r"to\(iccrt.float32\)"):
        b.numpy()
    assert b.to(iccrt.float32).numpy().tolist() == [1.5]


@pytest.mark.parametrize("npdtype", [np.int16, np.int8, np.uint16, np.uint32, np.uint64, np.complex64, np.object_,
                                     np.dtype(">f4"), np.dtype("<U3")])
def test_unsupported_numpy_dtypes(npdtype):
    with pytest.raises(TypeError):
        iccrt.from_numpy(np.zeros(3, dtype=npdtype))


def test_from_numpy_errors():
    with pytest.raises(TypeError):
        iccrt.from_numpy([1.0, 2.0])
    with pytest.raises(ValueError):
        iccrt.from_numpy(np.arange(5.0)[::-1])  # negative strides
    raw = np.zeros(17, dtype=np.uint8)[1:].view(np.float32)  # misaligned
    if not raw.flags.aligned:
        with pytest.raises(ValueError):
            iccrt.from_numpy(raw)
    with pytest.raises(ValueError):
        iccrt.from_numpy(np.zeros([1] * 13))  # more dims than tensors support


def test_array_protocol_and_numpy_interplay():
    t = iccrt.tensor([[1.0, 2.0], [3.0, 4.0]])
    a = np.asarray(t)
    assert a.dtype == np.float32 and np.shares_memory(a, t.numpy())
    assert np.array(t, dtype=np.float64).dtype == np.float64
    assert_close(iccrt.tensor(np.sqrt(t)), np.sqrt([[1.0, 2.0], [3.0, 4.0]]))
    with pytest.raises(TypeError):
        np.ones((2, 2)) + t  # NumPy defers to Tensor, which does not mix with arrays


# ---- DLPack --------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("dtype", NUMPY_DTYPES, ids=dtype_id)
def test_dlpack_to_numpy_zero_copy(dtype):
    t = iccrt.arange(24, dtype=iccrt.int64).to(dtype).view(2, 3, 4)
    for v in [t, t.permute(2, 0, 1), t[:, 1:, ::2]]:
        a = np.from_dlpack(v)
        assert a.dtype == NUMPY_OF[dtype] and a.shape == tuple(v.shape)
        np.testing.assert_array_equal(a, v.numpy())
        assert np.shares_memory(a, t.numpy())
    assert t.__dlpack_device__() == (1, 0)


@pytest.mark.parametrize("dtype", NUMPY_DTYPES, ids=dtype_id)
def test_dlpack_from_numpy_zero_copy(dtype):
    x = (np.arange(24) % 7).astype(NUMPY_OF[dtype]).reshape(2, 3, 4)
    for xv in [x, x.transpose(2, 0, 1), x[:, 1:, ::2]]:
        t = iccrt.from_dlpack(xv)
        assert t.dtype == dtype and t.shape == xv.shape
        np.testing.assert_array_equal(t.numpy(), xv)
    t = iccrt.from_dlpack(x)
    t[0, 0, 0] = 1
    assert x[0, 0, 0] == 1
    del x
    gc.collect()
    assert t[0, 0, 0].item() == 1  # the producer's memory outlives the producer


def test_dlpack_capsules_legacy_and_versioned():
    t = iccrt.arange(6, dtype=iccrt.float32)
    legacy = t.__dlpack__()
    assert "dltensor" in repr(legacy) and "versioned" not in repr(legacy)
    u = iccrt.from_dlpack(legacy)
    assert "used_dltensor" in repr(legacy)
    with pytest.raises(ValueError):
        iccrt.from_dlpack(legacy)  # a capsule is consumed once
    versioned = t.__dlpack__(max_version=(1, 0))
    assert "dltensor_versioned" in repr(versioned)
    w = iccrt.from_dlpack(versioned)
    u[0] = 42
    assert t[0].item() == 42 and w[0].item() == 42
    # An unconsumed capsule frees its tensor without leaking or crashing.
    for _ in range(3):
        t.__dlpack__()
        t.__dlpack__(max_version=(1, 1))
    gc.collect()
    c = t.__dlpack__(copy=True)
    k = iccrt.from_dlpack(c)
    k[1] = -1
    assert t[1].item() == 1
    with pytest.raises(BufferError):
        t.__dlpack__(dl_device=(2, 0), copy=False)


def test_dlpack_bfloat16_roundtrip():
    t = iccrt.tensor([1.5, -2.0], dtype=iccrt.bfloat16)
    r = iccrt.from_dlpack(t)
    assert r.dtype == iccrt.bfloat16 and r.tolist() == [1.5, -2.0]
    with pytest.raises((TypeError, BufferError, RuntimeError, ValueError)):
        np.from_dlpack(t)  # NumPy has no bfloat16


def test_dlpack_readonly_numpy_is_copied():
    x = np.arange(4.0)
    x.flags.writeable = False
    t = iccrt.from_dlpack(x)
    assert t.tolist() == [0, 1, 2, 3]
    t[0] = 9  # writes to a private copy, never to read-only memory
    assert x[0] == 0


def test_from_dlpack_errors():
    with pytest.raises(TypeError):
        iccrt.from_dlpack([1, 2])
    with pytest.raises(TypeError):
        iccrt.from_dlpack(3.0)


@pytest.fixture
def torch_module():
    return pytest.importorskip("torch", reason="PyTorch is not installed")


def test_torch_roundtrip(torch_module):
    torch = torch_module
    t = iccrt.arange(12, dtype=iccrt.float32).view(3, 4)
    p = torch.from_dlpack(t)
    assert p.dtype == torch.float32 and tuple(p.shape) == (3, 4)
    p[0, 0] = 7
    assert t[0, 0].item() == 7
    back = iccrt.from_dlpack(p.T)
    assert back.shape == (4, 3) and back.stride() == (1, 4)
    b = torch.ones(3, dtype=torch.bfloat16)
    assert iccrt.from_dlpack(b).dtype == iccrt.bfloat16
    assert torch.from_dlpack(iccrt.ones(2, dtype=iccrt.bfloat16)).dtype == torch.bfloat16
    assert torch.from_dlpack(iccrt.tensor([True, False])).dtype == torch.bool


def test_refcounts_do_not_leak():
    a = np.zeros(10)
    before = sys.getrefcount(a)
    for _ in range(100):
        t = iccrt.from_numpy(a)
        del t
    gc.collect()
    assert sys.getrefcount(a) == before
