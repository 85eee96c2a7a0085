"""Tensor attributes, views (share memory: a write through the view is read through the base), copies,
dtype/device conversions and the Python number protocols."""

import copy
import pickle

import numpy as np
import pytest

import iccrt
from helpers import ALL_DTYPES, FLOAT_DTYPES, assert_close, dtype_id, make, random_values, shares_memory


def test_attributes():
    t = iccrt.zeros(2, 3, 4, dtype=iccrt.float64)
    assert t.shape == (2, 3, 4) and isinstance(t.shape, tuple) and isinstance(t.shape, iccrt.Size)
    assert t.size() == (2, 3, 4) and t.size(1) == 3 and t.size(-1) == 4
    assert t.stride() == (12, 4, 1) and t.stride(0) == 12 and t.stride(-2) == 4
    assert t.dtype is iccrt.float64 and t.device == iccrt.device("cpu") and t.device == "cpu"
    assert t.ndim == 3 and t.dim() == 3 and t.numel() == 24 and len(t) == 2
    assert t.is_contiguous() and not t.is_cuda and t.is_cpu
    assert t.element_size() == 8 and t.itemsize == 8 and t.nbytes == 192
    assert t.shape[1:] == (3, 4) and isinstance(t.shape[1:], iccrt.Size) and t.shape.numel() == 24
    assert repr(t.shape) == "iccrt.Size([2, 3, 4])"
    with pytest.raises(IndexError):
        t.size(3)
    with pytest.raises(IndexError):
        iccrt.tensor(1.0).size(0)


def test_views_share_memory():
    base = iccrt.arange(24, dtype=iccrt.float32)
    x = base.numpy()
    views = [
        base.view(2, 3, 4), base.view((4, 6)), base.reshape([6, 4]), base.view(2, -1),
        base.view(4, 6).T, base.view(4, 6).t(), base.view(2, 3, 4).permute(2, 0, 1),
        base.view(2, 3, 4).transpose(0, 2), base.narrow(0, 5, 10), base.view(4, 6).select(1, 2),
        base[3:4].expand(5), base.view(1, 24, 1).squeeze(), base.unsqueeze(0), base.view(4, 6).flatten(),
        base.view(2, 3, 4).swapaxes(0, 1), base.view(4, 6).view_as(iccrt.empty(6, 4)),
    ]
    for i, v in enumerate(views):
        assert shares_memory(v, base), i
    # A write through a view lands in the base.
    base.view(4, 6).T[5, 1] = 100.0  # element [1, 5] of the 4x6 view = index 11
    assert x[11] == 100.0
    base.view(2, 3, 4).permute(2, 0, 1)[3, 1, 2].fill_(-7)
    assert base[1 * 12 + 2 * 4 + 3].item() == -7


def test_view_shapes_match_numpy():
    t, x = make(random_values((2, 3, 4), iccrt.float32, seed=1), iccrt.float32)
    assert_close(t.permute(2, 0, 1), x.transpose(2, 0, 1))
    assert_close(t.transpose(0, 2), x.swapaxes(0, 2))
    assert_close(t.T, x.T)
    assert_close(t.narrow(1, 1, 2), x[:, 1:3])
    assert_close(t.narrow(2, -2, 2), x[:, :, -2:])
    assert_close(t.select(1, -1), x[:, -1])
    assert_close(t.unsqueeze(1), x[:, None])
    assert_close(t.unsqueeze(-1), x[..., None])
    assert_close(t[:, :1].expand(2, 5, 4), np.broadcast_to(x[:, :1], (2, 5, 4)))
    assert_close(t[:, :1].expand(3, -1, -1, 4), np.broadcast_to(x[:, :1], (3, 2, 1, 4)))
    assert_close(t.flatten(), x.reshape(-1))
    assert_close(t.flatten(1), x.reshape(2, 12))
    assert_close(t.flatten(0, 1), x.reshape(6, 4))
    assert_close(t.reshape(4, -1), x.reshape(4, -1))
    assert_close(t[:, :1].squeeze(1), x[:, 0])
    assert_close(t.view(1, 2, 1, 12).squeeze(), x.reshape(2, 12))
    assert_close(t.view(1, 2, 1, 12).squeeze((0, 2)), x.reshape(2, 12))
    assert_close(t.view(2, 1, 12).squeeze(0), x.reshape(2, 1, 12))  # size != 1: unchanged
    assert iccrt.tensor(3.0).flatten().shape == (1,)


def test_view_errors():
    t = iccrt.zeros(4, 6)
    with pytest.raises(ValueError):
        t.T.view(24)  # not compatible with the strides: reshape copies instead
    r = t.T.reshape(24)
    assert not shares_memory(r, t)
    with pytest.raises(ValueError):
        t.view(5, 5)
    with pytest.raises(ValueError):
        t.view(-1, -1)
    with pytest.raises(ValueError):
        t.expand(3, 6)
    with pytest.raises(ValueError):
        t.permute(0, 0)
    with pytest.raises(ValueError):
        t.permute(1)
    with pytest.raises(IndexError):
        t.transpose(0, 2)
    with pytest.raises(IndexError):
        t.narrow(0, 3, 2)
    with pytest.raises(IndexError):
        t.select(1, 6)
    with pytest.raises(ValueError):
        iccrt.zeros(2, 2, 2).t()
    with pytest.raises(TypeError):
        t.view(2.0, 12)
    with pytest.raises(ValueError):
        t.flatten(1, 0)


def test_contiguous_and_clone():
    t, x = make(random_values((5, 7), iccrt.float32, seed=2), iccrt.float32)
    assert t.contiguous() is not None and shares_memory(t.contiguous(), t)
    c = t.T.contiguous()
    assert c.is_contiguous() and not t.T.is_contiguous() and c.stride() == (5, 1)
    assert not shares_memory(c, t)
    assert_close(c, x.T)
    k = t.clone()
    assert not shares_memory(k, t)
    k.fill_(0)
    assert_close(t, x)  # the original is untouched
    assert_close(t[::2, 1::3].clone(), x[::2, 1::3])


@pytest.mark.parametrize("src", ALL_DTYPES, ids=dtype_id)
@pytest.mark.parametrize("dst", ALL_DTYPES, ids=dtype_id)
def test_to_dtype(src, dst):
    values = np.array([0, 1, 2, 3, 100, 7, 0, 1]) if not src.is_floating_point else np.array(
        [0.0, 1.0, -2.5, 3.25, 100.0, 0.5, -0.0, 7.0])
    if src == iccrt.bool:
        values = values != 0
    if dst == iccrt.uint8:
        values = np.abs(values)  # negative floats -> uint8 is undefined (C++ and NumPy alike)
    t, x = make(values, src)
    got = t.to(dst)
    assert got.dtype == dst and got.shape == t.shape
    if dst == iccrt.bool:
        expected = x != 0
    elif dst.is_floating_point:
        expected = x.astype(np.float64)
    else:
        expected = np.trunc(x).astype(np.int64)
    assert_close(got, expected, dst)
    assert (t.to(src) is t) and (t.to(src, copy=True) is not t)


def test_to_forms():
    t = iccrt.ones(3)
    assert t.to("cpu") is t and t.cpu() is t and t.to(iccrt.float32) is t
    assert t.to(iccrt.float64).dtype == iccrt.float64
    assert t.to("cpu", iccrt.int64).dtype == iccrt.int64
    assert t.to(device="cpu", dtype=iccrt.float16).dtype == iccrt.float16
    assert t.to(iccrt.device("cpu")).device == "cpu"
    assert t.to(iccrt.ones(1, dtype=iccrt.bfloat16)).dtype == iccrt.bfloat16
    assert t.double().dtype == iccrt.float64 and t.half().dtype == iccrt.float16
    assert t.bfloat16().dtype == iccrt.bfloat16 and t.long().dtype == iccrt.int64 and t.int().dtype == iccrt.int32
    assert t.bool().dtype == iccrt.bool and t.long().float().dtype == iccrt.float32 and t.byte().dtype == iccrt.uint8
    assert t.type_as(iccrt.ones(1, dtype=iccrt.int32)).dtype == iccrt.int32
    with pytest.raises(TypeError):
        t.to(3.5)
    with pytest.raises(TypeError):
        t.to(dtype="float32")
    with pytest.raises(ValueError):
        t.to("tpu")
    with pytest.raises(TypeError):
        t.to(bogus=1)


@pytest.mark.parametrize("dtype", FLOAT_DTYPES, ids=dtype_id)
def test_copy_fill_zero(dtype):
    t = iccrt.zeros(3, 4, dtype=dtype)
    assert t.fill_(2.5) is t
    assert_close(t, np.full((3, 4), 2.5), dtype)
    src, xs = make(random_values((4,), iccrt.float64, seed=3), iccrt.float64)
    assert t.copy_(src) is t  # broadcasts and converts dtype
    assert_close(t, np.broadcast_to(iccrt.tensor(xs, dtype=dtype).to(iccrt.float64).numpy(), (3, 4)), dtype)
    t.T.copy_(iccrt.arange(12, dtype=dtype).view(4, 3))
    assert_close(t, np.arange(12).reshape(4, 3).T, dtype)
    t[1].zero_()
    assert t[1].sum().item() == 0 and t.sum().item() != 0
    t.fill_(iccrt.tensor(4.0, dtype=dtype))
    assert t.sum().item() == 48
    with pytest.raises(ValueError):
        t.copy_(iccrt.ones(5))
    with pytest.raises(ValueError):
        t.fill_(iccrt.ones(2, dtype=dtype))
    i = iccrt.zeros(2, dtype=iccrt.int64)
    with pytest.raises(TypeError):
        i.fill_(0.5)
    i.fill_(3.0)
    assert i.tolist() == [3, 3]


def test_copy_overlapping_views():
    t = iccrt.arange(10, dtype=iccrt.float32)
    t[1:].copy_(t[:-1].clone())
    assert t.tolist() == [0, 0, 1, 2, 3, 4, 5, 6, 7, 8]
    t = iccrt.arange(10, dtype=iccrt.float32)
    t[1:].copy_(t[:-1])  # overlapping source: copied as if through a temporary
    assert t.tolist() == [0, 0, 1, 2, 3, 4, 5, 6, 7, 8]


def test_item_and_number_protocols():
    assert iccrt.tensor(2.5).item() == 2.5 and isinstance(iccrt.tensor(2.5).item(), float)
    assert iccrt.tensor([7]).item() == 7 and isinstance(iccrt.tensor(7).item(), int)
    assert iccrt.tensor(True).item() is True
    assert iccrt.tensor(2.5, dtype=iccrt.bfloat16).item() == 2.5
    assert float(iccrt.tensor([[1.5]])) == 1.5 and int(iccrt.tensor(3.9)) == 3
    assert bool(iccrt.tensor([0.0])) is False and bool(iccrt.tensor(2))
    assert [10, 20, 30][iccrt.tensor(1)] == 20  # __index__
    assert f"{iccrt.tensor(3.14159):.2f}" == "3.14"
    with pytest.raises(ValueError):
        iccrt.ones(2).item()
    with pytest.raises(ValueError):
        float(iccrt.ones(2))
    with pytest.raises(RuntimeError):
        bool(iccrt.ones(2))
    with pytest.raises(TypeError):
        [1][iccrt.tensor(0.0)]
    with pytest.raises(TypeError):
        len(iccrt.tensor(1.0))
    with pytest.raises(TypeError):
        iter(iccrt.tensor(1.0))


def test_iteration_and_tolist():
    t, x = make(random_values((3, 4), iccrt.int64, seed=1), iccrt.int64)
    rows = list(t)
    assert len(rows) == 3 and all(r.shape == (4,) for r in rows)
    assert [r.tolist() for r in rows] == x.tolist()
    assert t.tolist() == x.tolist()
    assert iccrt.tensor(2.0).tolist() == 2.0
    assert iccrt.tensor([1.5, 2.5], dtype=iccrt.bfloat16).tolist() == [1.5, 2.5]
    assert iccrt.tensor([True, False]).tolist() == [True, False]
    assert iccrt.zeros(0, 2).tolist() == []
    rows[0].fill_(0)  # rows are views
    assert t[0].sum().item() == 0


def test_copy_module_and_pickle():
    t, x = make(random_values((3, 4), iccrt.float32, seed=1), iccrt.float32)
    d = copy.deepcopy(t)
    assert not shares_memory(d, t)
    assert_close(d, x)
    s = copy.copy(t)
    assert shares_memory(s, t)
    for dt in [iccrt.float32, iccrt.bfloat16, iccrt.int64]:
        u = t.to(dt)[:, 1::2]
        p = pickle.loads(pickle.dumps(u))
        assert p.dtype == dt and p.shape == u.shape and p.tolist() == u.tolist()
    assert pickle.loads(pickle.dumps(iccrt.float16)) is iccrt.float16
    assert pickle.loads(pickle.dumps(iccrt.device("cuda:1"))) == iccrt.device("cuda:1")
