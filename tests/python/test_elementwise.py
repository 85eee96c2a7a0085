"""Elementwise ops against NumPy float64 references: every op x every dtype it supports x sizes 0..1e6,
non-contiguous and broadcast operands, scalar and reversed forms, operators and in-place forms."""

import math

import numpy as np
import pytest

import iccrt
from helpers import (FLOAT_DTYPES, INT_DTYPES, SIZES, assert_close, dtype_id, make, random_values, to_numpy)

_erf = np.frompyfunc(math.erf, 1, 1)


def _gelu_erf(x):
    # math.erf per element is slow: evaluate it once per distinct value (16-bit inputs have few).
    u, inverse = np.unique(x, return_inverse=True)
    gu = 0.5 * u * (1.0 + _erf(u / math.sqrt(2.0)).astype(np.float64))
    return gu[inverse].reshape(x.shape)


def _gelu_tanh(x):
    return 0.5 * x * (1.0 + np.tanh(math.sqrt(2.0 / math.pi) * (x + 0.044715 * x**3)))


def _sigmoid(x):
    return 1.0 / (1.0 + np.exp(-x))


# name -> (reference, input range, supports integer dtypes)
UNARY = {
    "neg": (np.negative, (-3, 3), True),
    "abs": (np.abs, (-3, 3), True),
    "exp": (np.exp, (-3, 3), False),
    "log": (np.log, (0.05, 5), False),
    "sqrt": (np.sqrt, (0.05, 5), False),
    "rsqrt": (lambda x: 1.0 / np.sqrt(x), (0.05, 5), False),
    "tanh": (np.tanh, (-3, 3), False),
    "sigmoid": (_sigmoid, (-6, 6), False),
    "relu": (lambda x: np.maximum(x, 0), (-3, 3), True),
    "gelu": (_gelu_erf, (-4, 4), False),
    "silu": (lambda x: x * _sigmoid(x), (-6, 6), False),
}


def _unary_call(name, t):
    return getattr(iccrt, name)(t)


@pytest.mark.parametrize("size", SIZES)
@pytest.mark.parametrize("dtype", FLOAT_DTYPES, ids=dtype_id)
@pytest.mark.parametrize("name", sorted(UNARY))
def test_unary_float(name, dtype, size):
    ref, (lo, hi), _ = UNARY[name]
    if name == "gelu" and size > 1023 and dtype.itemsize > 2:
        size = 1 << 16  # the erf reference costs ~1 us per distinct value
    t, x = make(random_values((size,), dtype, seed=size, low=lo, high=hi), dtype)
    expected = ref(x)
    assert_close(_unary_call(name, t), expected, dtype)
    if size <= 1023:
        assert_close(getattr(t, name)(), expected, dtype)  # the method form


@pytest.mark.parametrize("size", [0, 7, 1023, 1 << 20])
@pytest.mark.parametrize("dtype", INT_DTYPES, ids=dtype_id)
@pytest.mark.parametrize("name", ["neg", "abs", "relu"])
def test_unary_int(name, dtype, size):
    t, x = make(random_values((size,), dtype, seed=size), dtype)
    ref = {"neg": np.negative, "abs": np.abs, "relu": lambda v: np.maximum(v, 0)}[name]
    expected = ref(x.astype(np.dtype(dtype.name))).astype(np.int64)  # wraps like the dtype (uint8 neg)
    assert_close(_unary_call(name, t), expected, dtype)


@pytest.mark.parametrize("dtype", INT_DTYPES + [iccrt.bool], ids=dtype_id)
@pytest.mark.parametrize("name", sorted(n for n, v in UNARY.items() if not v[2]))
def test_unary_floating_only_rejects_ints(name, dtype):
    t = iccrt.ones(3, dtype=dtype)
    with pytest.raises(TypeError):
        _unary_call(name, t)


def test_gelu_tanh_and_bad_approximate():
    t, x = make(random_values((1023,), iccrt.float32, seed=3, low=-4, high=4), iccrt.float32)
    assert_close(iccrt.gelu(t, approximate="tanh"), _gelu_tanh(x), iccrt.float32)
    assert_close(t.gelu("tanh"), _gelu_tanh(x), iccrt.float32)
    with pytest.raises(ValueError):
        iccrt.gelu(t, approximate="fast")


@pytest.mark.parametrize("name", ["exp", "neg", "gelu", "sqrt"])
def test_unary_non_contiguous(name):
    ref, (lo, hi), _ = UNARY[name]
    base, xb = make(random_values((33, 62), iccrt.float32, seed=5, low=lo, high=hi), iccrt.float32)
    for view, xv in [
        (base.T, xb.T),  # transposed
        (base[::2, 1::3], xb[::2, 1::3]),  # stepped slices
        (base[:, 5].unsqueeze(1).expand(33, 4), np.broadcast_to(xb[:, 5:6], (33, 4))),  # broadcast (stride 0)
    ]:
        assert not view.is_contiguous()
        assert_close(_unary_call(name, view), ref(xv), iccrt.float32)


# ---- binary ----------------------------------------------------------------------------------------------------

# name -> (reference, range of a, range of b)
BINARY = {
    "add": (np.add, (-3, 3), (-3, 3)),
    "sub": (np.subtract, (-3, 3), (-3, 3)),
    "mul": (np.multiply, (-3, 3), (-3, 3)),
    "div": (np.divide, (-3, 3), (0.5, 2)),
    "pow": (np.power, (0.1, 3), (-2, 2)),
    "maximum": (np.maximum, (-3, 3), (-3, 3)),
    "minimum": (np.minimum, (-3, 3), (-3, 3)),
}
COMPARE = {"eq": np.equal, "ne": np.not_equal, "lt": np.less, "le": np.less_equal, "gt": np.greater,
           "ge": np.greater_equal}
OPERATOR = {"add": "__add__", "sub": "__sub__", "mul": "__mul__", "div": "__truediv__", "pow": "__pow__",
            "eq": "__eq__", "ne": "__ne__", "lt": "__lt__", "le": "__le__", "gt": "__gt__", "ge": "__ge__"}


def _binary_inputs(name, shape_a, shape_b, dtype, seed):
    _, ra, rb = BINARY.get(name, (None, (-3, 3), (-3, 3)))
    a, xa = make(random_values(shape_a, dtype, seed=seed, low=ra[0], high=ra[1]), dtype)
    vb = random_values(shape_b, dtype, seed=seed + 1, low=rb[0], high=rb[1])
    if name in COMPARE and shape_a == shape_b and vb.size:
        vb.flat[::3] = np.asarray(xa).flat[::3]  # some equal pairs, so eq/le/ge see ties
    b, xb = make(vb, dtype)
    return a, xa, b, xb


@pytest.mark.parametrize("size", SIZES)
@pytest.mark.parametrize("dtype", FLOAT_DTYPES, ids=dtype_id)
@pytest.mark.parametrize("name", sorted(BINARY) + sorted(COMPARE))
def test_binary_float(name, dtype, size):
    a, xa, b, xb = _binary_inputs(name, (size,), (size,), dtype, seed=size)
    if name in COMPARE:
        expected, out_dtype = COMPARE[name](xa, xb), iccrt.bool
    else:
        expected, out_dtype = BINARY[name][0](xa, xb), dtype
    assert_close(getattr(iccrt, name)(a, b), expected, out_dtype)
    if size <= 1023:
        assert_close(getattr(a, name)(b), expected, out_dtype)
        if name in OPERATOR:
            assert_close(getattr(a, OPERATOR[name])(b), expected, out_dtype)


def _int_reference(name, xa, xb, dtype):
    npdt = np.dtype(dtype.name)
    a, b = xa.astype(npdt), xb.astype(npdt)
    if name in COMPARE:
        return COMPARE[name](a, b)
    return BINARY[name][0](a, b).astype(np.int64)  # same-dtype NumPy arithmetic wraps like the tensor's


@pytest.mark.parametrize("size", [0, 7, 1023, 1 << 20])
@pytest.mark.parametrize("dtype", INT_DTYPES, ids=dtype_id)
@pytest.mark.parametrize("name", ["add", "sub", "mul", "maximum", "minimum"] + sorted(COMPARE))
def test_binary_int(name, dtype, size):
    a, xa, b, xb = _binary_inputs(name, (size,), (size,), dtype, seed=size)
    out_dtype = iccrt.bool if name in COMPARE else dtype
    assert_close(getattr(iccrt, name)(a, b), _int_reference(name, xa, xb, dtype), out_dtype)


@pytest.mark.parametrize("dtype", INT_DTYPES, ids=dtype_id)
def test_pow_int(dtype):
    g = np.random.default_rng(7)
    base = g.integers(0 if dtype == iccrt.uint8 else -5, 4, size=100)
    exp = g.integers(0, 5, size=100)
    a, xa = make(base, dtype)
    b, xb = make(exp, dtype)
    assert_close(a**b, xa**xb, dtype)
    assert_close(a**2, xa**2, dtype)
    with pytest.raises(ValueError):
        a ** -1


@pytest.mark.parametrize("name", sorted(COMPARE))
def test_compare_bool(name):
    a, xa = make([True, True, False, False], iccrt.bool)
    b, xb = make([True, False, True, False], iccrt.bool)
    assert_close(getattr(iccrt, name)(a, b), COMPARE[name](xa, xb), iccrt.bool)


@pytest.mark.parametrize("name", ["add", "sub", "mul", "div", "pow", "maximum", "minimum"])
def test_binary_rejects_bool(name):
    t = iccrt.ones(3, dtype=iccrt.bool)
    with pytest.raises(TypeError):
        getattr(iccrt, name)(t, t)


@pytest.mark.parametrize("dtype", INT_DTYPES, ids=dtype_id)
def test_div_int_is_type_error(dtype):
    t = iccrt.ones(3, dtype=dtype)
    with pytest.raises(TypeError):
        t / t
    with pytest.raises(TypeError):
        t / 2


@pytest.mark.parametrize("shape_a, shape_b", [
    ((7, 1, 5), (4, 5)),
    ((3, 1), (1, 4)),
    ((), (5,)),
    ((6,), ()),
    ((0, 3), (1, 3)),
    ((2, 3, 4), (2, 1, 1)),
    ((1,), (1023,)),
])
@pytest.mark.parametrize("name", ["add", "mul", "div", "maximum", "lt", "eq"])
def test_binary_broadcast(name, shape_a, shape_b):
    a, xa, b, xb = _binary_inputs(name, shape_a, shape_b, iccrt.float32, seed=11)
    ref = COMPARE.get(name) or BINARY[name][0]
    assert_close(getattr(iccrt, name)(a, b), ref(xa, xb))


@pytest.mark.parametrize("dtype", [iccrt.float32, iccrt.float16, iccrt.int64], ids=dtype_id)
@pytest.mark.parametrize("name", ["add", "sub", "mul", "maximum", "gt"])
def test_binary_non_contiguous(name, dtype):
    base_a, xa = make(random_values((40, 30), dtype, seed=1), dtype)
    base_b, xb = make(random_values((30, 40), dtype, seed=2), dtype)
    ref = COMPARE.get(name) or BINARY[name][0]
    a, b = base_a[::2, 1:], base_b.T[::2, 1:]  # (20, 29) each: a stepped slice and a transposed slice
    ea, eb = xa[::2, 1:], xb.T[::2, 1:]
    expected = ref(ea, eb) if dtype.is_floating_point or name == "gt" else _int_reference(name, ea, eb, dtype)
    assert_close(getattr(iccrt, name)(a, b), expected)


def test_binary_mismatches():
    a = iccrt.ones(3)
    with pytest.raises(ValueError):
        a + iccrt.ones(4)  # shapes do not broadcast
    with pytest.raises(TypeError):
        a + iccrt.ones(3, dtype=iccrt.float64)  # no silent type promotion
    with pytest.raises(TypeError):
        a + "x"
    with pytest.raises(TypeError):
        a + [1, 2, 3]


# ---- scalars, reversed forms, operators -------------------------------------------------------------------------


@pytest.mark.parametrize("dtype", FLOAT_DTYPES, ids=dtype_id)
def test_scalar_forms_float(dtype):
    t, x = make(random_values((1023,), dtype, seed=4, low=0.25, high=3), dtype)
    s = 1.25  # exactly representable in every float dtype
    cases = [
        (t + s, x + s), (s + t, s + x), (t - s, x - s), (s - t, s - x), (t * s, x * s), (s * t, s * x),
        (t / s, x / s), (s / t, s / x), (t**2, x**2), (t**s, x**s), (2**t, 2.0**x), (t**-1, 1.0 / x),
        (iccrt.maximum(t, s), np.maximum(x, s)), (iccrt.minimum(t, s), np.minimum(x, s)),
        (iccrt.add(t, 2), x + 2), (t.mul(3), x * 3), (-t, -x), (abs(-t), x), (t + True, x + 1),
    ]
    for got, expected in cases:
        assert_close(got, expected, dtype)


@pytest.mark.parametrize("dtype", FLOAT_DTYPES + INT_DTYPES, ids=dtype_id)
def test_scalar_comparisons(dtype):
    v = random_values((50,), dtype, seed=9)
    v[1::7] = 3  # ties with the scalar
    t, x = make(v, dtype)
    s = 3
    for got, expected in [(t == s, x == s), (t != s, x != s), (t < s, x < s), (t <= s, x <= s), (t > s, x > s),
                          (t >= s, x >= s), (s < t, s < x), (s >= t, s >= x), (t.eq(s), x == s),
                          (iccrt.ge(t, s), x >= s)]:
        assert_close(got, expected, iccrt.bool)


@pytest.mark.parametrize("dtype", INT_DTYPES, ids=dtype_id)
def test_scalar_forms_int(dtype):
    t, x = make(random_values((100,), dtype, seed=5), dtype)
    npdt = np.dtype(dtype.name)
    xi = x.astype(npdt)
    for got, expected in [(t + 2, xi + npdt.type(2)), (2 + t, xi + npdt.type(2)), (t * 3, xi * npdt.type(3)),
                          (t - 1, xi - npdt.type(1)), (5 - t, npdt.type(5) - xi), (t + 2.0, xi + npdt.type(2))]:
        assert_close(got, expected.astype(np.int64), dtype)
    with pytest.raises(TypeError):
        t + 2.5  # a non-integral scalar with an integer tensor
    with pytest.raises(TypeError):
        t * 0.5


def test_numpy_scalars_are_numbers():
    t, x = make([1.0, 2.0, 3.0], iccrt.float32)
    assert_close(t + np.float32(0.5), x + 0.5)
    assert_close(t * np.int64(2), x * 2)
    assert_close(t > np.float64(1.5), x > 1.5)


def test_compare_with_other_types():
    t = iccrt.ones(2)
    assert (t == None) is False  # noqa: E711 - Python falls back to identity
    assert (t != "a") is True
    with pytest.raises(TypeError):
        t < "a"
    assert hash(t) == hash(t)
    assert len({t, iccrt.ones(2)}) == 2  # hashable by identity


def test_matmul_operator():
    a, xa = make(random_values((5, 7), iccrt.float64, seed=1), iccrt.float64)
    b, xb = make(random_values((7, 3), iccrt.float64, seed=2), iccrt.float64)
    assert_close(a @ b, xa @ xb, iccrt.float64)


# ---- in place --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("dtype", [iccrt.float32, iccrt.float16, iccrt.bfloat16, iccrt.float64], ids=dtype_id)
def test_inplace_operators(dtype):
    t, x = make(random_values((4, 5), dtype, seed=6, low=0.5, high=2), dtype)
    o, xo = make(random_values((5,), dtype, seed=7, low=0.5, high=2), dtype)
    alias = t[1:]  # a view: must see every in-place update
    ident = id(t)
    expected = x.copy()
    for op, rhs, ref in [("__iadd__", o, xo), ("__isub__", 0.5, 0.5), ("__imul__", o, xo), ("__itruediv__", 2.0, 2.0),
                         ("__iadd__", 1, 1), ("__isub__", o, xo), ("__imul__", 1.5, 1.5), ("__itruediv__", o, xo)]:
        t = getattr(t, op)(rhs)
        expected = {"__iadd__": np.add, "__isub__": np.subtract, "__imul__": np.multiply,
                    "__itruediv__": np.divide}[op](expected, ref)
        expected = to_numpy(iccrt.tensor(expected, dtype=dtype))  # round like the tensor does after each step
        assert id(t) == ident
        assert_close(t, expected, dtype)
    assert_close(alias, expected[1:], dtype)


def test_inplace_statement_forms_and_errors():
    t = iccrt.zeros(2, 3)
    v = t[0]
    v += 1
    v *= 3
    t[1] -= 2
    t[:, 0] /= 4
    np.testing.assert_array_equal(t.numpy(), [[0.75, 3, 3], [-0.5, -2, -2]])
    with pytest.raises(ValueError):
        t += iccrt.ones(4, 3)  # the result would not fit t's shape
    with pytest.raises(TypeError):
        t += iccrt.ones(3, dtype=iccrt.float64)
    i = iccrt.ones(3, dtype=iccrt.int64)
    with pytest.raises(TypeError):
        i /= 2
    with pytest.raises(TypeError):
        i += 0.5
    i += 2
    assert i.tolist() == [3, 3, 3]
    t.add_(1).mul_(2)
    np.testing.assert_array_equal(t.numpy(), [[3.5, 8, 8], [1, -2, -2]])


def test_inplace_into_expanded_view_raises():
    e = iccrt.ones(1, 3).expand(4, 3)
    with pytest.raises(ValueError):
        e += 1


# ---- where -----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("dtype", FLOAT_DTYPES + INT_DTYPES + [iccrt.bool], ids=dtype_id)
def test_where(dtype):
    c, xc = make(random_values((7, 1, 5), iccrt.bool, seed=1), iccrt.bool)
    a, xa = make(random_values((4, 5), dtype, seed=2), dtype)
    b, xb = make(random_values((7, 4, 1), dtype, seed=3), dtype)
    assert_close(iccrt.where(c, a, b), np.where(xc, xa, xb), dtype)
    assert_close(a.where(c, b), np.where(xc, xa, xb), dtype)


def test_where_scalars_and_errors():
    c, xc = make([True, False, True], iccrt.bool)
    a, xa = make([1.0, 2.0, 3.0], iccrt.float32)
    assert_close(iccrt.where(c, a, 0.0), np.where(xc, xa, 0.0), iccrt.float32)
    assert_close(iccrt.where(c, -1, a), np.where(xc, -1, xa), iccrt.float32)
    assert_close(iccrt.where(c, 1, 0), np.where(xc, 1, 0), iccrt.int64)
    i = iccrt.tensor([1, 2, 3])
    with pytest.raises(TypeError):
        iccrt.where(c, i, 0.5)
    with pytest.raises(TypeError):
        iccrt.where(a > 1, a, i)  # branches of different dtypes
    with pytest.raises(TypeError):
        iccrt.where(a, a, a)  # condition must be bool
    with pytest.raises(ValueError):
        iccrt.where(c, a, iccrt.ones(4))


def test_ops_on_empty_keep_shape():
    e = iccrt.ones(0, 3)
    assert (e + 1).shape == (0, 3)
    assert iccrt.exp(e).shape == (0, 3)
    assert (e == e).dtype == iccrt.bool
