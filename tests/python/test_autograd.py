"""The Python autograd API: backward / grad, grad mode, hooks, errors, custom Functions, and every differentiable
op's backward against central finite differences in float64 (iccrt.autograd.gradcheck), including broadcast
and non-contiguous inputs."""

import math
import threading

import numpy as np
import pytest

import iccrt
import iccrt.nn.functional as F
from helpers import assert_close, to_numpy


def leaf(values, dtype=iccrt.float64):
    return iccrt.tensor(np.asarray(values, dtype=np.float64), dtype=dtype).requires_grad_()


def rand_leaf(*shape, seed=0, low=-1.5, high=1.5, away_from=None):
    """A float64 leaf with random values; away_from keeps every value at least 0.05 from those points (kinks)."""
    a = np.random.default_rng(seed).uniform(low, high, size=shape)
    for p in away_from or ():
        close = np.abs(a - p) < 0.05
        a[close] = p + np.where(a[close] >= p, 0.1, -0.1)
    return leaf(a)


# ---- backward, grad, graph bookkeeping -------------------------------------------------------------------------


def test_backward_accumulates_into_leaves():
    x = rand_leaf(3, 4)
    w = rand_leaf(4, seed=1)
    assert x.is_leaf and x.grad_fn is None and x.grad is None
    y = (x * w).sum()
    assert not y.is_leaf and y.requires_grad and y.grad_fn is not None
    assert isinstance(y.grad_fn.name(), str) and y.grad_fn.name()
    y.backward()
    assert_close(x.grad, np.broadcast_to(to_numpy(w), (3, 4)))
    assert_close(w.grad, to_numpy(x).sum(0))
    (x * w).sum().backward()  # a second graph adds to .grad
    assert_close(w.grad, 2 * to_numpy(x).sum(0))


def test_backward_twice_needs_retain_graph():
    x = rand_leaf(5)
    y = (x.exp() * x).sum()
    y.backward(retain_graph=True)
    first = to_numpy(x.grad).copy()
    y.backward()
    assert_close(x.grad, 2 * first)
    with pytest.raises(ValueError, match="second time"):
        y.backward()


def test_nonscalar_backward_needs_gradient():
    x = rand_leaf(2, 3)
    y = x * 3.0
    with pytest.raises(ValueError):
        y.backward()
    g = iccrt.tensor(np.arange(6.0).reshape(2, 3), dtype=iccrt.float64)
    y.backward(g)
    assert_close(x.grad, 3 * np.arange(6.0).reshape(2, 3))
    with pytest.raises(ValueError):  # wrong gradient shape
        (x * 2.0).backward(iccrt.ones(3, dtype=iccrt.float64))


def test_autograd_backward_and_grad_functions():
    x, w = rand_leaf(4), rand_leaf(4, seed=1)
    a, b = (x * w).sum(), (x * x).sum()
    iccrt.autograd.backward([a, b], [None, iccrt.tensor(2.0, dtype=iccrt.float64)])
    assert_close(x.grad, to_numpy(w) + 4 * to_numpy(x))
    x.grad = None
    gx, gw = iccrt.autograd.grad((x * w).sum(), [x, w])
    assert x.grad is None and w.grad is not None  # grad() does not accumulate (w.grad is from backward above)
    assert_close(gx, to_numpy(w))
    assert_close(gw, to_numpy(x))
    unused = rand_leaf(2, seed=3)
    with pytest.raises(ValueError):
        iccrt.autograd.grad((x * 2.0).sum(), [x, unused])
    gx, gu = iccrt.autograd.grad((x * 2.0).sum(), [x, unused], allow_unused=True)
    assert gu is None
    assert_close(gx, np.full(4, 2.0))


def test_detach_and_requires_grad_rules():
    x = rand_leaf(3)
    d = x.detach()
    assert not d.requires_grad and d.is_leaf
    assert d.data_ptr() == x.data_ptr()
    y = x * 2.0
    with pytest.raises(ValueError):
        y.requires_grad_(False)  # only leaves can turn it off
    with pytest.raises(TypeError):
        iccrt.arange(3).requires_grad_()
    x.requires_grad = False
    assert not (x * 2.0).requires_grad


def test_inplace_on_leaf_requiring_grad():
    x = rand_leaf(3)
    with pytest.raises(ValueError, match="no_grad"):
        x.add_(1.0)
    v = x._version
    with iccrt.no_grad():
        x.add_(1.0)
    assert x._version > v


def test_grad_setter_checks():
    x = rand_leaf(2, 2)
    x.grad = iccrt.ones(2, 2, dtype=iccrt.float64)
    assert_close(x.grad, np.ones((2, 2)))
    with pytest.raises(ValueError):
        x.grad = iccrt.ones(3, dtype=iccrt.float64)
    with pytest.raises(TypeError):
        x.grad = iccrt.ones(2, 2)
    x.grad = None
    assert x.grad is None


# ---- hooks -----------------------------------------------------------------------------------------------------


def test_tensor_hooks():
    x = rand_leaf(3)
    seen = []
    h = x.register_hook(lambda g: seen.append(to_numpy(g)) or g * 2.0)
    (x * 3.0).sum().backward()
    assert_close(x.grad, np.full(3, 6.0))
    assert len(seen) == 1 and np.allclose(seen[0], 3.0)
    h.remove()
    x.grad = None
    (x * 3.0).sum().backward()
    assert_close(x.grad, np.full(3, 3.0))


def test_nonleaf_hook_and_retain_grad():
    x = rand_leaf(3)
    y = x * 2.0
    y.retain_grad()
    y.register_hook(lambda g: g + 1.0)
    (y * y).sum().backward()
    # The hook changes what flows on to x; retain_grad keeps y's own gradient.
    expected_y = 2 * to_numpy(y) + 1.0
    assert_close(x.grad, 2 * expected_y)
    assert y.grad is not None


def test_post_accumulate_grad_hook():
    p = rand_leaf(4)
    calls = []
    h = p.register_post_accumulate_grad_hook(lambda t: calls.append(to_numpy(t.grad).copy()))
    (p * p).sum().backward()
    assert len(calls) == 1
    np.testing.assert_allclose(calls[0], 2 * to_numpy(p))
    h.remove()
    (p * p).sum().backward()
    assert len(calls) == 1


# ---- grad mode -------------------------------------------------------------------------------------------------


def test_no_grad_enable_grad_set_grad_enabled():
    x = rand_leaf(2)
    with iccrt.no_grad():
        assert not iccrt.is_grad_enabled()
        assert not (x * 2.0).requires_grad
        with iccrt.enable_grad():
            assert (x * 2.0).requires_grad
        assert not (x * 2.0).requires_grad
    assert iccrt.is_grad_enabled()

    @iccrt.no_grad()
    def f(t):
        return t * 2.0

    assert not f(x).requires_grad and iccrt.is_grad_enabled()
    with iccrt.set_grad_enabled(False):
        assert not (x * 2.0).requires_grad
    assert iccrt.is_grad_enabled()
    iccrt.set_grad_enabled(False)
    try:
        assert not iccrt.is_grad_enabled()
    finally:
        iccrt.set_grad_enabled(True)

    @iccrt.set_grad_enabled(False)
    def g(t):
        return t * 2.0

    assert iccrt.is_grad_enabled()  # decorating does not switch the mode
    assert not g(x).requires_grad


def test_grad_mode_is_per_thread():
    x = rand_leaf(2)
    result = {}
    started, release = threading.Event(), threading.Event()

    def other():
        started.set()
        release.wait(5)
        result["requires_grad"] = (x * 2.0).requires_grad

    t = threading.Thread(target=other)
    t.start()
    started.wait(5)
    with iccrt.no_grad():
        release.set()
        t.join(5)
    assert result["requires_grad"]


# ---- custom functions ------------------------------------------------------------------------------------------


class Exp(iccrt.autograd.Function):
    @staticmethod
    def forward(ctx, x):
        y = x.exp()
        ctx.save_for_backward(y)
        return y

    @staticmethod
    def backward(ctx, g):
        (y,) = ctx.saved_tensors
        return g * y


class ScaleAndArgmax(iccrt.autograd.Function):
    """Two outputs, a non-tensor argument, a non-differentiable output."""

    @staticmethod
    def forward(ctx, x, factor):
        ctx.factor = factor
        out = x * factor
        idx = x.argmax()
        ctx.mark_non_differentiable(idx)
        return out, idx

    @staticmethod
    def backward(ctx, g_out, g_idx):
        assert ctx.needs_input_grad == (True, False)
        assert float(g_idx.abs().sum()) == 0.0
        return g_out * ctx.factor, None


def test_custom_function():
    x = rand_leaf(5)
    y = Exp.apply(x)
    assert y.requires_grad and "Exp" in y.grad_fn.name()
    (y * 2.0).sum().backward()
    assert_close(x.grad, 2 * np.exp(to_numpy(x)))
    assert iccrt.autograd.gradcheck(Exp.apply, [rand_leaf(3, seed=4)])

    x2 = rand_leaf(4, seed=5)
    out, idx = ScaleAndArgmax.apply(x2, 3.0)
    assert not idx.requires_grad and out.requires_grad
    out.sum().backward()
    assert_close(x2.grad, np.full(4, 3.0))
    with iccrt.no_grad():
        out, _ = ScaleAndArgmax.apply(x2, 3.0)
    assert not out.requires_grad


def test_custom_function_returning_its_input():
    class Identity(iccrt.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            return x

        @staticmethod
        def backward(ctx, g):
            return g * 5.0

    x = rand_leaf(3)
    y = Identity.apply(x)
    assert y is not x and not y.is_leaf
    y.sum().backward()
    assert_close(x.grad, np.full(3, 5.0))


@pytest.mark.parametrize("bad", ["shape", "count", "type", "nontensor_arg"])
def test_custom_function_bad_gradients(bad):
    class Bad(iccrt.autograd.Function):
        @staticmethod
        def forward(ctx, x, k):
            return x * k

        @staticmethod
        def backward(ctx, g):
            if bad == "shape":
                return iccrt.ones(7, dtype=iccrt.float64), None
            if bad == "count":
                return (g,)
            if bad == "type":
                return 1.0, None
            return g, g

    x = rand_leaf(3)
    with pytest.raises(TypeError if bad == "type" else ValueError):
        Bad.apply(x, 2.0).sum().backward()


def test_saved_tensor_modified_in_place():
    x = rand_leaf(3)
    y = Exp.apply(x)
    with iccrt.no_grad():
        y.mul_(2.0)
    with pytest.raises(ValueError, match="in place"):
        y.sum().backward()


# ---- gradcheck of every differentiable op ----------------------------------------------------------------------


def _fixed_dropout(x):
    return F.dropout(x, 0.4, True, iccrt.Generator(7))  # a fresh generator per call: the same mask every time


def _ce_target(n, c, seed=0, ignore=None):
    t = np.random.default_rng(seed).integers(0, c, size=n)
    if ignore is not None:
        t[ignore] = -100
    return iccrt.tensor(t)


_IDX = iccrt.tensor([[1, 3, 1], [0, 4, 3]])

# name -> (fn, inputs)
CASES = {
    "neg": (lambda a: -a, [rand_leaf(3, 4)]),
    "abs": (lambda a: a.abs(), [rand_leaf(3, 4, away_from=[0])]),
    "exp": (lambda a: a.exp(), [rand_leaf(3, 4)]),
    "log": (lambda a: a.log(), [rand_leaf(3, 4, low=0.2, high=3)]),
    "sqrt": (lambda a: a.sqrt(), [rand_leaf(3, 4, low=0.2, high=3)]),
    "rsqrt": (lambda a: a.rsqrt(), [rand_leaf(3, 4, low=0.2, high=3)]),
    "tanh": (lambda a: a.tanh(), [rand_leaf(3, 4)]),
    "sigmoid": (lambda a: a.sigmoid(), [rand_leaf(3, 4)]),
    "relu": (lambda a: F.relu(a), [rand_leaf(3, 4, away_from=[0])]),
    "gelu": (lambda a: F.gelu(a), [rand_leaf(3, 4)]),
    "gelu_tanh": (lambda a: F.gelu(a, approximate="tanh"), [rand_leaf(3, 4)]),
    "silu": (lambda a: F.silu(a), [rand_leaf(3, 4)]),
    "add_broadcast": (lambda a, b: a + b, [rand_leaf(3, 1, 4), rand_leaf(2, 1, seed=1)]),
    "sub_broadcast": (lambda a, b: a - b, [rand_leaf(3, 4), rand_leaf(4, seed=1)]),
    "mul_broadcast": (lambda a, b: a * b, [rand_leaf(2, 3, 1), rand_leaf(1, 4, seed=1)]),
    "div_broadcast": (lambda a, b: a / b, [rand_leaf(3, 4), rand_leaf(3, 1, seed=1, low=0.5, high=2)]),
    "pow": (lambda a, b: a**b, [rand_leaf(3, 4, low=0.3, high=2), rand_leaf(4, seed=1)]),
    "maximum": (lambda a, b: iccrt.maximum(a, b), [rand_leaf(3, 4), rand_leaf(3, 4, seed=1)]),
    "minimum": (lambda a, b: iccrt.minimum(a, b), [rand_leaf(3, 4), rand_leaf(4, seed=1)]),
    "scalar_forms": (lambda a: (2.0 - a) * 3.0 + 1.0 / (a + 4.0) - a / 2.0 + a**2.0 + 2.0**a,
                     [rand_leaf(3, 4)]),
    "where": (lambda a, b: iccrt.where(a > 0, a, b), [rand_leaf(3, 4, away_from=[0]), rand_leaf(4, seed=1)]),
    "sum_dims": (lambda a: a.sum(dim=(0, 2), keepdim=True), [rand_leaf(2, 3, 4)]),
    "mean": (lambda a: a.mean(1), [rand_leaf(2, 3, 4)]),
    "var": (lambda a: a.var(-1), [rand_leaf(3, 5)]),
    "max_all": (lambda a: iccrt.max(a), [rand_leaf(3, 4)]),
    "max_dim": (lambda a: iccrt.max(a, 1).values, [rand_leaf(3, 4)]),
    "min_dim": (lambda a: iccrt.min(a, 0, keepdim=True).values, [rand_leaf(3, 4)]),
    "matmul_2d": (lambda a, b: a @ b, [rand_leaf(3, 4), rand_leaf(4, 5, seed=1)]),
    "matmul_batched_broadcast": (lambda a, b: a @ b, [rand_leaf(2, 3, 4), rand_leaf(4, 2, seed=1)]),
    "matmul_vector": (lambda a, b: a @ b, [rand_leaf(3, 4), rand_leaf(4, seed=1)]),
    "matmul_transposed": (lambda a, b: a.t() @ b.transpose(0, 1), [rand_leaf(4, 3), rand_leaf(5, 4, seed=1)]),
    "mm": (lambda a, b: iccrt.mm(a, b), [rand_leaf(2, 3), rand_leaf(3, 2, seed=1)]),
    "bmm": (lambda a, b: iccrt.bmm(a, b), [rand_leaf(2, 2, 3), rand_leaf(2, 3, 2, seed=1)]),
    "cat": (lambda a, b: iccrt._C.cat([a, b.t()], 1), [rand_leaf(3, 2), rand_leaf(4, 3, seed=1)]),
    "stack": (lambda a, b: iccrt._C.stack([a, b], 1), [rand_leaf(3, 2), rand_leaf(3, 2, seed=1)]),
    "views": (lambda a: a.reshape(4, 6).permute(1, 0).narrow(0, 1, 4)[::2, 1:].unsqueeze(0).squeeze(0)
              .transpose(0, 1).select(1, 1) * 1.0, [rand_leaf(2, 3, 4)]),
    "expand_contiguous": (lambda a: a.expand(3, 4).contiguous().view(12), [rand_leaf(3, 1)]),
    "flatten_T": (lambda a: a.T.flatten(), [rand_leaf(2, 3)]),
    "softmax": (lambda a: F.softmax(a, -1), [rand_leaf(3, 5)]),
    "softmax_dim0_noncontig": (lambda a: F.softmax(a.t(), 0), [rand_leaf(4, 3)]),
    "log_softmax": (lambda a: F.log_softmax(a, 1), [rand_leaf(2, 4, 3)]),
    "linear": (lambda x, w, b: F.linear(x, w, b), [rand_leaf(2, 3, 4), rand_leaf(5, 4, seed=1),
                                                   rand_leaf(5, seed=2)]),
    "linear_nobias_noncontig": (lambda x, w: F.linear(x.transpose(0, 1), w), [rand_leaf(4, 3),
                                                                               rand_leaf(2, 4, seed=1)]),
    "layer_norm": (lambda x, w, b: F.layer_norm(x, [4], w, b), [rand_leaf(3, 4), rand_leaf(4, seed=1),
                                                                rand_leaf(4, seed=2)]),
    "layer_norm_2d_noaffine_noncontig": (lambda x: F.layer_norm(x.transpose(0, 2), (3, 2)),
                                         [rand_leaf(2, 3, 4)]),
    "rms_norm": (lambda x, w: F.rms_norm(x, 5, w), [rand_leaf(2, 3, 5), rand_leaf(5, seed=1)]),
    "embedding": (lambda w: F.embedding(_IDX, w), [rand_leaf(5, 3)]),
    "embedding_padding": (lambda w: F.embedding(_IDX, w, padding_idx=2), [rand_leaf(5, 3)]),  # row 2 unused
    "cross_entropy": (lambda x: F.cross_entropy(x, _ce_target(4, 5)), [rand_leaf(4, 5)]),
    "cross_entropy_sum_ignore_smooth": (
        lambda x: F.cross_entropy(x, _ce_target(4, 5, ignore=1), reduction="sum", label_smoothing=0.1),
        [rand_leaf(4, 5)]),
    "cross_entropy_none_spatial": (
        lambda x: F.cross_entropy(x, _ce_target(6, 3).reshape(2, 3), reduction="none"), [rand_leaf(2, 3, 3)]),
    "sdpa": (lambda q, k, v: F.scaled_dot_product_attention(q, k, v),
             [rand_leaf(2, 3, 4), rand_leaf(2, 5, 4, seed=1), rand_leaf(2, 5, 3, seed=2)]),
    "sdpa_causal_scale": (lambda q, k, v: F.scaled_dot_product_attention(q, k, v, is_causal=True, scale=0.7),
                          [rand_leaf(1, 2, 4, 3), rand_leaf(1, 2, 4, 3, seed=1), rand_leaf(1, 2, 4, 3, seed=2)]),
    "sdpa_causal_noncontig": (
        lambda q, k, v: F.scaled_dot_product_attention(q.transpose(1, 2), k.transpose(1, 2), v.transpose(1, 2),
                                                       is_causal=True),
        [rand_leaf(1, 3, 2, 4), rand_leaf(1, 5, 2, 4, seed=1), rand_leaf(1, 5, 2, 4, seed=2)]),
    "sdpa_bool_mask": (
        lambda q, k, v: F.scaled_dot_product_attention(
            q, k, v, attn_mask=iccrt.tensor([[True, False, True], [True, True, False]])),
        [rand_leaf(2, 2, 3), rand_leaf(2, 3, 3, seed=1), rand_leaf(2, 3, 3, seed=2)]),
    "dropout": (_fixed_dropout, [rand_leaf(4, 5)]),
    "conv2d": (lambda x, w, b: F.conv2d(x, w, b, stride=(2, 1), padding=1, dilation=(1, 2)),
               [rand_leaf(1, 2, 5, 5), rand_leaf(3, 2, 2, 2, seed=1), rand_leaf(3, seed=2)]),
    "conv2d_groups_noncontig": (lambda x, w: F.conv2d(x.transpose(2, 3), w, groups=2),
                                [rand_leaf(2, 4, 4, 3), rand_leaf(2, 2, 2, 2, seed=1)]),
    "max_pool2d": (lambda x: F.max_pool2d(x, 2), [rand_leaf(1, 2, 4, 5)]),
    "max_pool2d_stride_pad_ceil": (lambda x: F.max_pool2d(x, 3, stride=2, padding=1, ceil_mode=True),
                                   [rand_leaf(2, 1, 5, 4)]),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_gradcheck(name):
    fn, inputs = CASES[name]
    inputs = [t.detach().requires_grad_() for t in inputs]  # fresh leaves per run
    assert iccrt.autograd.gradcheck(fn, inputs)


def test_gradcheck_catches_a_wrong_backward():
    class WrongSin(iccrt.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            ctx.save_for_backward(x)
            return x * x

        @staticmethod
        def backward(ctx, g):
            (x,) = ctx.saved_tensors
            return g * x  # should be 2x

    with pytest.raises(ValueError, match="differ"):
        iccrt.autograd.gradcheck(WrongSin.apply, [rand_leaf(3)])
    assert not iccrt.autograd.gradcheck(WrongSin.apply, [rand_leaf(3)], raise_exception=False)


def test_gradcheck_needs_float64():
    with pytest.raises(TypeError):
        iccrt.autograd.gradcheck(lambda a: a * 2.0, [iccrt.ones(2).requires_grad_()])


def test_dtype_cast_backward():
    x = rand_leaf(3)
    y = x.to(iccrt.float32) * 2.0
    y.sum().backward()
    assert x.grad.dtype == iccrt.float64
    assert_close(x.grad, np.full(3, 2.0))
    assert math.isclose(float(y.sum()), 2 * float(to_numpy(x).astype(np.float32).sum()), rel_tol=1e-6)


def test_one_shot_hook_removes_itself():
    x = leaf([1.0, 2.0])
    y = x * 2.0
    calls = []

    def once(g):
        calls.append(1)
        handle.remove()
        return g * 3.0

    handle = y.register_hook(once)
    y.sum().backward(retain_graph=True)
    y.sum().backward()
    assert len(calls) == 1
    assert to_numpy(x.grad).tolist() == [8.0, 8.0]


def test_hook_handle_does_not_keep_the_graph_alive():
    import gc
    import weakref

    x = leaf([1.0, 2.0])
    y = (x * 2.0).exp()
    handle = y.register_hook(lambda g: None)
    node = y.grad_fn
    ref = weakref.ref(node) if hasattr(node, "__weakref__") else None
    del y, node
    gc.collect()
    handle.remove()  # harmless once the tensor is gone
    if ref is not None:
        assert ref() is None


def test_grad_wrt_activation_leaves_the_rest_of_the_graph():
    w, x = leaf([0.5, -1.0]), leaf([2.0, 3.0])
    h = w * x
    (gh,) = iccrt.autograd.grad((h * h).sum(), [h])
    assert_close(gh, 2 * to_numpy(h))
    assert w.grad is None
    (h * 3.0).sum().backward()
    assert_close(w.grad, 3 * to_numpy(x))


def test_embedding_padding_idx_out_of_range():
    w = iccrt.randn(10, 4)
    with pytest.raises(IndexError, match="padding_idx"):
        F.embedding(iccrt.tensor([1, 2]), w, padding_idx=-100)


# ---- queue_callback and storage release (the hooks data parallel builds on) ----------------------------------

def test_queue_callback_runs_after_every_node():
    w = iccrt.tensor([1.0, 2.0, 3.0], requires_grad=True)
    events = []

    def hook(p):
        events.append(("hook", p.grad.tolist()))
        if len(events) == 1:
            iccrt.autograd.queue_callback(lambda: events.append(("callback", w.grad.tolist())))
            # A callback may queue another one; it runs in the same pass.
            iccrt.autograd.queue_callback(lambda: iccrt.autograd.queue_callback(lambda: events.append("nested")))

    w.register_post_accumulate_grad_hook(hook)
    ((w * w).sum() + w.sum()).backward()
    assert events == [("hook", [3.0, 5.0, 7.0]), ("callback", [3.0, 5.0, 7.0]), "nested"]
    events.clear()
    (w * 2).sum().backward()  # callbacks do not outlive their pass
    assert events[0][0] == "hook" and len(events) == 3


def test_queue_callback_outside_backward_and_errors():
    with pytest.raises(ValueError, match="no backward pass"):
        iccrt.autograd.queue_callback(lambda: None)
    with pytest.raises(TypeError):
        iccrt.autograd.queue_callback(3)
    w = iccrt.tensor([1.0], requires_grad=True)

    def boom():
        raise RuntimeError("callback failed")

    w.register_hook(lambda g: iccrt.autograd.queue_callback(boom))
    with pytest.raises(RuntimeError, match="callback failed"):
        (w * 3).sum().backward()


def test_released_storage_raises_and_keeps_saved_tensors_valid():
    w = iccrt.tensor([1.0, -2.0, 0.5], requires_grad=True)
    full = iccrt.tensor([2.0, 3.0, 4.0])
    x = full[0:3]  # a view: views share the storage
    y = (w * x).sum()  # x is saved for the backward
    full._release_storage()
    assert full._storage_released and x._storage_released
    with pytest.raises(ValueError, match="memory was released"):
        x.tolist()
    with pytest.raises(ValueError, match="memory was released"):
        y.backward(retain_graph=True)
    full._restore_storage()
    assert not x._storage_released
    version = x._version
    full.numpy()[:] = [5.0, 6.0, 7.0]  # refilled without an in-place op: the saved tensor stays valid
    assert x._version == version
    y.backward()
    assert w.grad.tolist() == [5.0, 6.0, 7.0]
    with pytest.raises(ValueError, match="owned elsewhere"):
        iccrt.from_numpy(np.ones(3))._release_storage()
