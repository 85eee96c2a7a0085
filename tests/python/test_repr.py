"""repr(tensor) follows torch's printing (expected strings are what torch prints for the same values, with
torch.<dtype> spelled iccrt.<dtype>)."""

import pytest

import iccrt

CASES = [
    (lambda: iccrt.tensor([[1.0, -2.5], [3.0, 4.0]]), "tensor([[ 1.0000, -2.5000],\n        [ 3.0000,  4.0000]])"),
    (lambda: iccrt.tensor([1, 2, 3]), "tensor([1, 2, 3])"),
    (lambda: iccrt.tensor([1, -20, 3]), "tensor([  1, -20,   3])"),
    (lambda: iccrt.tensor([True, False]), "tensor([ True, False])"),
    (lambda: iccrt.tensor([1.5, 2.0], dtype=iccrt.float64), "tensor([1.5000, 2.0000], dtype=iccrt.float64)"),
    (lambda: iccrt.tensor([1.5, 2.0], dtype=iccrt.bfloat16), "tensor([1.5000, 2.0000], dtype=iccrt.bfloat16)"),
    (lambda: iccrt.tensor([0.1], dtype=iccrt.float16), "tensor([0.1000], dtype=iccrt.float16)"),
    (lambda: iccrt.tensor([1, 2], dtype=iccrt.int32), "tensor([1, 2], dtype=iccrt.int32)"),
    (lambda: iccrt.tensor([255, 0], dtype=iccrt.uint8), "tensor([255,   0], dtype=iccrt.uint8)"),
    (lambda: iccrt.tensor([1.0, 2.0, 3.0]), "tensor([1., 2., 3.])"),
    (lambda: iccrt.tensor([1.0, -2.0, 30.0]), "tensor([ 1., -2., 30.])"),
    (lambda: iccrt.tensor([1e-5, 1.0]), "tensor([1.0000e-05, 1.0000e+00])"),
    (lambda: iccrt.tensor([1e10], dtype=iccrt.float64), "tensor([1.0000e+10], dtype=iccrt.float64)"),
    (lambda: iccrt.tensor([0.001, 100.0]), "tensor([1.0000e-03, 1.0000e+02])"),
    (lambda: iccrt.tensor([1.5, float("nan"), float("inf")]), "tensor([1.5000,    nan,    inf])"),
    (lambda: iccrt.tensor([0.0, float("nan")]), "tensor([0., nan])"),
    (lambda: iccrt.tensor(3.5), "tensor(3.5000)"),
    (lambda: iccrt.tensor(-3), "tensor(-3)"),
    (lambda: iccrt.tensor(True), "tensor(True)"),
    (lambda: iccrt.tensor(2.0, dtype=iccrt.float64), "tensor(2., dtype=iccrt.float64)"),
    (lambda: iccrt.tensor([]), "tensor([])"),
    (lambda: iccrt.zeros(0, dtype=iccrt.int64), "tensor([], dtype=iccrt.int64)"),
    (lambda: iccrt.zeros(0, 3), "tensor([], size=(0, 3))"),
    (lambda: iccrt.arange(8).view(2, 2, 2), "tensor([[[0, 1],\n         [2, 3]],\n\n        [[4, 5],\n         [6, 7]]])"),
    (lambda: iccrt.arange(30).float(),
     "tensor([ 0.,  1.,  2.,  3.,  4.,  5.,  6.,  7.,  8.,  9., 10., 11., 12., 13.,\n"
     "        14., 15., 16., 17., 18., 19., 20., 21., 22., 23., 24., 25., 26., 27.,\n"
     "        28., 29.])"),
    (lambda: iccrt.arange(2000), "tensor([   0,    1,    2,  ..., 1997, 1998, 1999])"),
    (lambda: iccrt.zeros(100, 100),
     "tensor([[0., 0., 0.,  ..., 0., 0., 0.],\n"
     "        [0., 0., 0.,  ..., 0., 0., 0.],\n"
     "        [0., 0., 0.,  ..., 0., 0., 0.],\n"
     "        ...,\n"
     "        [0., 0., 0.,  ..., 0., 0., 0.],\n"
     "        [0., 0., 0.,  ..., 0., 0., 0.],\n"
     "        [0., 0., 0.,  ..., 0., 0., 0.]])"),
    (lambda: iccrt.arange(10).float().view(2, 5).T[::2],
     "tensor([[0., 5.],\n        [2., 7.],\n        [4., 9.]])"),
]


@pytest.mark.parametrize("make, expected", CASES, ids=[c[1][:40] for c in CASES])
def test_repr(make, expected):
    t = make()
    assert repr(t) == expected
    assert str(t) == expected


def test_summary_uses_only_edge_values():
    # The middle holds a huge value; only the printed edges decide the format (like torch).
    t = iccrt.ones(5000)
    t[2500] = 1e20
    assert repr(t) == "tensor([1., 1., 1.,  ..., 1., 1., 1.])"


def test_long_suffix_wraps_and_large_3d():
    t = iccrt.arange(20, dtype=iccrt.float64).view(2, 10) * 1.5
    s = repr(t)
    assert s.startswith("tensor([[ 0.0000,  1.5000,") and s.endswith(", dtype=iccrt.float64)")
    big = repr(iccrt.zeros(20, 30, 40, dtype=iccrt.int32))
    assert big.count("...") == 1 + 6 + 36  # summarised along every dim: blocks, rows of 6 blocks, 36 rows
    assert big.endswith("dtype=iccrt.int32)")
    assert len(big.splitlines()) < 60


def test_dtype_and_device_reprs():
    assert repr(iccrt.float32) == "iccrt.float32" and str(iccrt.bfloat16) == "iccrt.bfloat16"
    assert repr(iccrt.device("cuda:1")) == "device(type='cuda', index=1)" and str(iccrt.device("cuda:1")) == "cuda:1"
    assert repr(iccrt.device("cpu")) == "device(type='cpu')"
