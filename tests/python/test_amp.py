"""iccrt.amp: autocast regions (state, nesting, decorator, which ops run in which dtype, gradients back in float32)
and GradScaler (scaling, unscale_, inf/NaN detection and skipped steps, dynamic scale, state_dict, disabled mode)."""

import math

import numpy as np
import pytest

import iccrt
import iccrt.nn.functional as F
from helpers import assert_close, to_numpy
from iccrt import nn, optim
from iccrt.amp import GradScaler


def bf16_round(a):
    return to_numpy(iccrt.tensor(a, dtype=iccrt.float64).to(iccrt.bfloat16))


# ---- autocast --------------------------------------------------------------------------------------------------


def test_autocast_state_nesting_and_decorator():
    assert iccrt._C._get_autocast()[0] is False
    with iccrt.autocast("cpu") as ac:
        assert ac.dtype == iccrt.bfloat16
        assert iccrt._C._get_autocast() == (True, iccrt.bfloat16)
        with iccrt.autocast("cuda", dtype=iccrt.float16):
            assert iccrt._C._get_autocast() == (True, iccrt.float16)
        with iccrt.autocast("cpu", enabled=False):
            assert not iccrt.amp.is_autocast_enabled()
        assert iccrt._C._get_autocast() == (True, iccrt.bfloat16)
    assert not iccrt.amp.is_autocast_enabled()

    @iccrt.autocast("cpu")
    def f():
        return iccrt.amp.is_autocast_enabled()

    assert f() and not iccrt.amp.is_autocast_enabled()
    with pytest.raises(RuntimeError):
        with iccrt.autocast("cpu"):
            raise RuntimeError("boom")
    assert not iccrt.amp.is_autocast_enabled()  # restored on exceptions too
    with pytest.raises(TypeError):
        iccrt.autocast("cpu", dtype=iccrt.int32)
    with pytest.raises(ValueError):
        iccrt.autocast("tpu")


def test_autocast_linear_in_bf16_grads_in_fp32():
    lin = nn.Linear(8, 4)
    x = iccrt.randn(3, 8)
    with iccrt.autocast("cpu", dtype=iccrt.bfloat16):
        y = lin(x)
        assert y.dtype == iccrt.bfloat16
        loss = y.float().sum()
    ref = bf16_round(to_numpy(x)) @ bf16_round(to_numpy(lin.weight)).T + bf16_round(to_numpy(lin.bias))
    assert_close(y, ref, rtol=1e-2, atol=1e-2)
    loss.backward()
    assert lin.weight.grad.dtype == iccrt.float32 and lin.bias.grad.dtype == iccrt.float32
    # d sum(x @ W.T + b) / dW = column sums of x (through bf16 rounding of the incoming ones: exact here)
    assert_close(lin.weight.grad, np.broadcast_to(bf16_round(to_numpy(x)).sum(0), (4, 8)), rtol=1e-2, atol=1e-2)
    assert_close(lin.bias.grad, np.full(4, 3.0))


def test_autocast_fp32_ops_and_promotion():
    x = iccrt.randn(2, 5)
    with iccrt.autocast("cpu", dtype=iccrt.bfloat16):
        h = x @ iccrt.randn(5, 6)
        assert h.dtype == iccrt.bfloat16
        assert F.softmax(h, -1).dtype == iccrt.float32
        assert F.log_softmax(h, -1).dtype == iccrt.float32
        assert F.layer_norm(h, [6]).dtype == iccrt.float32
        assert F.cross_entropy(h, iccrt.tensor([1, 2])).dtype == iccrt.float32
        assert (h + x.narrow(1, 0, 1)).dtype == iccrt.float32  # mixed floating dtypes: the wider
        q = iccrt.randn(1, 2, 4, 8)
        assert F.scaled_dot_product_attention(q, q, q, is_causal=True).dtype == iccrt.bfloat16
    assert (x @ iccrt.randn(5, 6)).dtype == iccrt.float32
    with pytest.raises(TypeError):  # outside autocast, no silent promotion
        h + x.narrow(1, 0, 1)


def test_autocast_training_step_close_to_fp32():
    iccrt.manual_seed(0)
    model = nn.Sequential(nn.Linear(16, 32), nn.GELU(), nn.Linear(32, 4))
    x, y = iccrt.randn(8, 16), iccrt.tensor(np.arange(8) % 4)
    loss32 = F.cross_entropy(model(x), y)
    loss32.backward()
    g32 = [to_numpy(p.grad).copy() for p in model.parameters()]
    model.zero_grad()
    with iccrt.autocast("cpu"):
        loss16 = F.cross_entropy(model(x), y)
    loss16.backward()
    assert loss16.dtype == iccrt.float32
    assert abs(loss16.item() - loss32.item()) < 2e-2 * abs(loss32.item())
    for p, g in zip(model.parameters(), g32):
        assert p.grad.dtype == iccrt.float32
        assert np.linalg.norm(to_numpy(p.grad) - g) <= 5e-2 * np.linalg.norm(g)


# ---- GradScaler --------------------------------------------------------------------------------------------------


def one_param(value=1.0):
    return nn.Parameter(iccrt.tensor([value, 2.0 * value]))


def test_scaler_scales_unscales_and_steps():
    p = one_param()
    opt = optim.SGD([p], lr=0.1)
    scaler = GradScaler(init_scale=1024.0, growth_interval=2)
    loss = (p * p).sum()
    scaled = scaler.scale(loss)
    assert math.isclose(scaled.item(), 1024.0 * loss.item())
    scaled.backward()
    assert_close(p.grad, 1024.0 * 2 * to_numpy(p))
    scaler.unscale_(opt)
    assert_close(p.grad, 2 * np.array([1.0, 2.0]))
    with pytest.raises(RuntimeError):
        scaler.unscale_(opt)
    scaler.step(opt)
    assert_close(p, np.array([1.0, 2.0]) * 0.8)
    with pytest.raises(RuntimeError):
        scaler.step(opt)
    scaler.update()
    assert scaler.get_scale() == 1024.0
    # Second clean step (unscale inside step): the scale grows after growth_interval = 2 clean steps.
    opt.zero_grad()
    scaler.scale((p * p).sum()).backward()
    scaler.step(opt)
    scaler.update()
    assert scaler.get_scale() == 2048.0
    assert scaler.scale([iccrt.ones(1), (iccrt.ones(1),)])[1][0].item() == 2048.0


@pytest.mark.parametrize("bad", [math.inf, -math.inf, math.nan])
def test_scaler_skips_step_on_nonfinite_grads(bad):
    p, q = one_param(), one_param(3.0)
    opt = optim.SGD([p, q], lr=0.1)
    scaler = GradScaler(init_scale=8.0, backoff_factor=0.25)
    before = to_numpy(p).copy()
    p.grad = iccrt.tensor([1.0, bad])
    q.grad = iccrt.ones(2)
    assert scaler.step(opt) is None
    assert_close(p, before)
    scaler.update()
    assert scaler.get_scale() == 2.0
    # The next clean step goes through.
    p.grad, q.grad = iccrt.ones(2), iccrt.ones(2)
    scaler.step(opt)
    scaler.update()
    assert_close(p, before - 0.1 / 2.0)


def test_scaler_matches_unscaled_training():
    def train(use_scaler):
        iccrt.manual_seed(3)
        model = nn.Linear(6, 3)
        opt = optim.AdamW(model.parameters(), lr=0.01)
        scaler = GradScaler(init_scale=256.0, enabled=use_scaler)
        g = iccrt.Generator(1)
        for _ in range(5):
            x = iccrt.randn(4, 6, generator=g)
            loss = (model(x) ** 2.0).mean()
            opt.zero_grad()
            scaler.scale(loss).backward()
            scaler.step(opt)
            scaler.update()
        return [to_numpy(p) for p in model.parameters()]

    for a, b in zip(train(True), train(False)):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)  # scales are powers of two: exact up to rounding


def test_scaler_disabled_and_state_dict():
    off = GradScaler(enabled=False)
    t = iccrt.ones(2)
    assert off.scale(t) is t and off.get_scale() == 1.0 and off.state_dict() == {}
    off.update()
    s = GradScaler(init_scale=64.0, growth_interval=3)
    p = one_param()
    opt = optim.SGD([p], lr=0.1)
    p.grad = iccrt.ones(2)
    s.step(opt)
    s.update()
    sd = s.state_dict()
    assert sd["scale"] == 64.0 and sd["_growth_tracker"] == 1
    s2 = GradScaler()
    s2.load_state_dict(sd)
    assert s2.get_scale() == 64.0 and s2.state_dict() == sd
    with pytest.raises(RuntimeError):
        GradScaler().update()  # no inf check recorded
    with pytest.raises(ValueError):
        GradScaler(growth_factor=0.5)
