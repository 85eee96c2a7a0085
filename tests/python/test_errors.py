"""Every C++ error type arrives as its Python exception, with its message; bad input from Python raises the
documented exception and never crashes."""

import numpy as np
import pytest

import iccrt
from iccrt import _C


@pytest.mark.parametrize("kind, exc", [
    ("Error", RuntimeError),
    ("ValueError", ValueError),
    ("ShapeError", ValueError),
    ("DTypeError", TypeError),
    ("DeviceError", RuntimeError),
    ("IndexError", IndexError),
    ("NotImplemented", NotImplementedError),
    ("InternalError", RuntimeError),
])
def test_translation_table(kind, exc):
    with pytest.raises(exc, match="the message") as info:
        _C._throw(kind, "the message")
    if kind == "InternalError":
        assert "internal error" in str(info.value)


def test_errors_from_the_library_keep_their_type_and_message():
    with pytest.raises(ValueError, match=r"cannot be broadcast"):
        iccrt.ones(2, 3) + iccrt.ones(4)
    with pytest.raises(TypeError, match=r"float32 and float64"):
        iccrt.ones(2) * iccrt.ones(2, dtype=iccrt.float64)
    with pytest.raises(IndexError, match=r"out of bounds"):
        iccrt.ones(3).select(0, 3)
    with pytest.raises(ValueError, match=r"negative"):
        iccrt.ones(2, -1)
    with pytest.raises(TypeError, match=r"not an integer"):
        iccrt.ones(2, dtype=iccrt.int32) + 0.5
    with pytest.raises(ValueError, match=r"invalid device"):
        iccrt.device("cuda:x")


@pytest.mark.skipif(iccrt.cuda.is_available(), reason="checks the behaviour without a GPU")
def test_cuda_without_gpu_is_runtime_error():
    assert iccrt.cuda.device_count() == 0 and iccrt.cuda.memory_stats() == {}
    assert iccrt.cuda.memory_allocated() == 0
    iccrt.cuda.empty_cache()  # a no-op, not an error
    with pytest.raises(RuntimeError):
        iccrt.ones(2).cuda()
    with pytest.raises(RuntimeError):
        iccrt.zeros(3, device="cuda")
    with pytest.raises(RuntimeError):
        iccrt.ones(2).to("cuda:0")
    with pytest.raises(RuntimeError):
        iccrt.rand(2, device="cuda")


def test_wrong_argument_types_are_type_errors():
    t = iccrt.ones(2, 3)
    for call in [
        lambda: t.view("a"),
        lambda: t.permute(0, "1"),
        lambda: t.transpose(0.5, 1),
        lambda: t.narrow(0, 0, None),
        lambda: iccrt.add(t, None),
        lambda: iccrt.add(1, t),
        lambda: iccrt.exp([1.0]),
        lambda: iccrt.matmul(t, np.ones((3, 2))),
        lambda: t.sum(dim=[0.5]),
        lambda: t.to(5.5),
        lambda: iccrt.gelu(t, approximate=1),
        lambda: t.copy_(np.ones(3)),
        lambda: t.fill_("x"),
        lambda: iccrt.from_numpy("x"),
        lambda: iccrt.Generator(-1),
        lambda: iccrt.Tensor(),
        lambda: t + 2**70,  # beyond int64
    ]:
        with pytest.raises(TypeError):
            call()


def test_undefined_and_odd_inputs_do_not_crash():
    t = iccrt.ones(3)
    with pytest.raises(IndexError):
        t.unsqueeze(5)
    with pytest.raises(IndexError):
        t.squeeze(4)
    with pytest.raises(ValueError):
        t.as_strided((4,), (1,))  # beyond the storage
    with pytest.raises(ValueError):
        t.as_strided((2,), (-1,))
    assert t.as_strided((2, 2), (1, 0)).tolist() == [[1, 1], [1, 1]]
    with pytest.raises(ValueError):
        iccrt.arange(0, float("inf"), 1.0)
