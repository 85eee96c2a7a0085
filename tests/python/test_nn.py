"""iccrt.nn: Parameter, Module bookkeeping (registration, traversal, state_dict, train/eval, to(), zero_grad,
hooks), every layer's forward against a NumPy float64 reference, containers, initialisers and error types."""

import collections
import copy
import math
import pickle

import numpy as np
import pytest

import iccrt
import iccrt.nn.functional as F
from helpers import assert_close, to_numpy
from iccrt import nn


def np_layer_norm(x, w, b, eps=1e-5):
    mu = x.mean(-1, keepdims=True)
    var = ((x - mu) ** 2).mean(-1, keepdims=True)
    return (x - mu) / np.sqrt(var + eps) * w + b


def np_softmax(x, axis=-1):
    e = np.exp(x - x.max(axis, keepdims=True))
    return e / e.sum(axis, keepdims=True)


class TwoLayer(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc1 = nn.Linear(4, 8)
        self.act = nn.GELU()
        self.fc2 = nn.Linear(8, 3, bias=False)
        self.scale = nn.Parameter(iccrt.ones(3))
        self.register_buffer("shift", iccrt.zeros(3))
        self.register_buffer("cache", iccrt.zeros(2), persistent=False)
        self.not_a_param = iccrt.ones(2)  # plain tensor attribute: neither registered nor saved

    def forward(self, x):
        return self.fc2(self.act(self.fc1(x))) * self.scale + self.shift


# ---- Parameter -------------------------------------------------------------------------------------------------


def test_parameter_is_a_tensor_leaf():
    data = iccrt.randn(2, 3)
    p = nn.Parameter(data)
    assert isinstance(p, iccrt.Tensor) and isinstance(p, nn.Parameter)
    assert p.requires_grad and p.is_leaf
    assert p.data_ptr() == data.data_ptr()  # no copy
    assert not data.requires_grad
    q = nn.Parameter(iccrt.arange(3), requires_grad=False)
    assert not q.requires_grad
    with pytest.raises(TypeError):
        nn.Parameter(iccrt.arange(3))  # integers cannot require grad
    with pytest.raises(TypeError):
        nn.Parameter([1.0, 2.0])
    assert "Parameter containing" in repr(p)
    y = p * 2.0
    assert not isinstance(y, nn.Parameter) and y.requires_grad
    with iccrt.no_grad():
        assert p.mul_(1.0) is p  # in-place ops keep the object
    c = copy.deepcopy(p)
    assert isinstance(c, nn.Parameter) and c.data_ptr() != p.data_ptr()
    assert_close(c, to_numpy(p))
    r = pickle.loads(pickle.dumps(p))
    assert isinstance(r, nn.Parameter) and r.requires_grad
    assert_close(r, to_numpy(p))


# ---- Module bookkeeping ----------------------------------------------------------------------------------------


def test_registration_and_traversal():
    m = TwoLayer()
    names = [n for n, _ in m.named_parameters()]
    assert names == ["scale", "fc1.weight", "fc1.bias", "fc2.weight"]
    assert [n for n, _ in m.named_buffers()] == ["shift", "cache"]
    assert [n for n, _ in m.named_children()] == ["fc1", "act", "fc2"]
    assert [n for n, _ in m.named_modules()] == ["", "fc1", "act", "fc2"]
    assert list(m.state_dict()) == ["scale", "shift", "fc1.weight", "fc1.bias", "fc2.weight"]
    assert m.get_submodule("fc1") is m.fc1
    with pytest.raises(AttributeError):
        m.get_submodule("fc3")
    with pytest.raises(AttributeError):
        m.nothing
    with pytest.raises(TypeError):
        m.fc1 = iccrt.ones(2)  # a module slot takes modules
    with pytest.raises(TypeError):
        m.scale = iccrt.ones(3)  # a parameter slot takes Parameters (or None)
    m.scale = None
    assert "scale" not in m.state_dict()
    del m.fc2
    assert "fc2.weight" not in dict(m.named_parameters())
    assert "fc1" in dir(m)
    text = repr(TwoLayer())
    assert "(fc1): Linear(in_features=4, out_features=8, bias=True)" in text


def test_init_must_run_first():
    class Bad(nn.Module):
        def __init__(self):
            self.w = nn.Parameter(iccrt.ones(1))

    with pytest.raises(AttributeError, match="__init__"):
        Bad()


def test_forward_and_backward_through_subclass():
    m = TwoLayer()
    x = iccrt.randn(5, 4)
    y = m(x)
    assert list(y.shape) == [5, 3]
    xn = to_numpy(x)
    w1, b1, w2 = to_numpy(m.fc1.weight), to_numpy(m.fc1.bias), to_numpy(m.fc2.weight)
    h = xn @ w1.T + b1
    from math import erf

    h = 0.5 * h * (1 + np.vectorize(erf)(h / math.sqrt(2)))
    assert_close(y, h @ w2.T, rtol=1e-4, atol=1e-5)
    y.sum().backward()
    for p in m.parameters():
        assert p.grad is not None and list(p.grad.shape) == list(p.shape)
    m.zero_grad(set_to_none=False)
    assert all(float(p.grad.abs().sum()) == 0 for p in m.parameters())
    m.zero_grad()
    assert all(p.grad is None for p in m.parameters())


def test_backward_twice_without_retain_graph():
    m = nn.Linear(3, 2)
    loss = m(iccrt.randn(4, 3)).sum()
    loss.backward()
    with pytest.raises(ValueError):
        loss.backward()


def test_state_dict_round_trip():
    a, b = TwoLayer(), TwoLayer()
    sd = a.state_dict()
    assert all(not t.requires_grad for t in sd.values())
    result = b.load_state_dict(sd)
    assert result.missing_keys == [] and result.unexpected_keys == []
    for (n1, t1), (n2, t2) in zip(a.state_dict().items(), b.state_dict().items()):
        assert n1 == n2
        assert_close(t2, to_numpy(t1))
    x = iccrt.randn(2, 4)
    assert_close(b(x), to_numpy(a(x)))
    # Loading copies: the source tensors stay independent.
    assert b.fc1.weight.data_ptr() != a.fc1.weight.data_ptr()


def test_load_state_dict_errors():
    m = TwoLayer()
    sd = m.state_dict()
    bad = collections.OrderedDict(sd)
    bad["fc1.weight"] = iccrt.zeros(8, 5)
    before = to_numpy(m.fc1.bias).copy()
    bad["fc1.bias"] = iccrt.ones(8)
    with pytest.raises(ValueError, match="size mismatch for fc1.weight"):
        m.load_state_dict(bad)
    assert_close(m.fc1.bias, before)  # nothing was modified
    missing = collections.OrderedDict(sd)
    del missing["scale"]
    missing["extra"] = iccrt.ones(1)
    with pytest.raises(ValueError, match="missing keys.*scale|unexpected keys.*extra"):
        m.load_state_dict(missing)
    result = m.load_state_dict(missing, strict=False)
    assert result.missing_keys == ["scale"] and result.unexpected_keys == ["extra"]


def test_train_eval_and_dropout():
    m = nn.Sequential(nn.Linear(4, 4), nn.Dropout(0.5))
    assert m.training and m[1].training
    m.eval()
    assert not m.training and not m[1].training
    x = iccrt.randn(8, 4)
    assert_close(m(x), to_numpy(m[0](x)))  # identity in eval mode
    m.train()
    y = to_numpy(m[1](iccrt.ones(1000)))
    assert set(np.unique(y)) <= {0.0, 2.0}
    assert 0.4 < (y == 0).mean() < 0.6
    with pytest.raises(ValueError):
        nn.Dropout(1.5)


def test_to_keeps_tied_parameters_and_converts_grads():
    class Tied(nn.Module):
        def __init__(self):
            super().__init__()
            self.emb = nn.Embedding(5, 3)
            self.head = nn.Linear(3, 5, bias=False)
            self.head.weight = self.emb.weight
            self.register_buffer("steps", iccrt.zeros(1, dtype=iccrt.int64))

    m = Tied()
    assert len(list(m.parameters())) == 1
    assert list(m.state_dict()) == ["steps", "emb.weight", "head.weight"]  # own state first, as torch
    m.emb.weight.grad = iccrt.ones(5, 3)
    m.double()
    assert m.emb.weight is m.head.weight and isinstance(m.emb.weight, nn.Parameter)
    assert m.emb.weight.dtype == iccrt.float64 and m.emb.weight.requires_grad
    assert m.emb.weight.grad.dtype == iccrt.float64
    assert m.steps.dtype == iccrt.int64  # only floating tensors change dtype
    assert m.to(iccrt.float64) is m
    with pytest.raises(TypeError):
        m.to(iccrt.int32)


def test_forward_hooks():
    m = nn.Linear(2, 2)
    seen = []
    h1 = m.register_forward_pre_hook(lambda mod, args: (args[0] * 0.0,))
    h2 = m.register_forward_hook(lambda mod, args, out: seen.append(out) or out + 1.0)
    y = m(iccrt.randn(1, 2))
    assert_close(y, to_numpy(m.bias).reshape(1, 2) + 1.0)
    assert len(seen) == 1
    h1.remove()
    h2.remove()
    x = iccrt.randn(1, 2)
    assert_close(m(x), to_numpy(x) @ to_numpy(m.weight).T + to_numpy(m.bias), rtol=1e-5)


# ---- layers ----------------------------------------------------------------------------------------------------


def test_linear_embedding_norms_against_numpy():
    lin = nn.Linear(5, 3)
    x = iccrt.randn(2, 4, 5)
    assert_close(lin(x), to_numpy(x) @ to_numpy(lin.weight).T + to_numpy(lin.bias), rtol=1e-5, atol=1e-6)
    bound = 1 / math.sqrt(5)
    assert float(lin.weight.abs().max()) <= bound and float(lin.bias.abs().max()) <= bound

    emb = nn.Embedding(6, 4, padding_idx=-1)
    assert emb.padding_idx == 5 and float(emb.weight[5].abs().sum()) == 0.0
    idx = iccrt.tensor([[0, 5, 2], [2, 2, 1]])
    out = emb(idx)
    assert_close(out, to_numpy(emb.weight)[to_numpy(idx)])
    out.sum().backward()
    g = to_numpy(emb.weight.grad)
    assert g[2].tolist() == [3.0] * 4 and g[5].tolist() == [0.0] * 4 and g[3].tolist() == [0.0] * 4
    with pytest.raises(IndexError):
        emb(iccrt.tensor([6]))

    ln = nn.LayerNorm(4)
    with iccrt.no_grad():
        ln.weight.normal_()
        ln.bias.normal_()
    x = iccrt.randn(3, 4)
    assert_close(ln(x), np_layer_norm(to_numpy(x), to_numpy(ln.weight), to_numpy(ln.bias)), rtol=1e-4, atol=1e-5)
    rms = nn.RMSNorm([2, 3], eps=1e-6)
    x = iccrt.randn(4, 2, 3)
    xn = to_numpy(x)
    ref = xn / np.sqrt((xn**2).mean(axis=(1, 2), keepdims=True) + 1e-6)
    assert_close(rms(x), ref, rtol=1e-4, atol=1e-5)
    assert nn.LayerNorm(4, elementwise_affine=False).weight is None


def test_activations_and_softmax():
    x = iccrt.randn(3, 4)
    xn = to_numpy(x)
    assert_close(nn.ReLU()(x), np.maximum(xn, 0))
    assert_close(nn.SiLU()(x), xn / (1 + np.exp(-xn)), rtol=1e-5)
    assert_close(nn.Sigmoid()(x), 1 / (1 + np.exp(-xn)), rtol=1e-5)
    assert_close(nn.Tanh()(x), np.tanh(xn), rtol=1e-5)
    assert_close(nn.GELU("tanh")(x), 0.5 * xn * (1 + np.tanh(math.sqrt(2 / math.pi) * (xn + 0.044715 * xn**3))),
                 rtol=1e-5, atol=1e-6)
    assert_close(nn.Softmax(dim=0)(x), np_softmax(xn, 0), rtol=1e-5, atol=1e-6)
    with pytest.raises(ValueError):
        nn.GELU("fast")


def test_conv_and_pool_against_numpy():
    conv = nn.Conv2d(2, 3, 3, padding="same")
    x = iccrt.randn(1, 2, 5, 4)
    xn, w, b = to_numpy(x), to_numpy(conv.weight), to_numpy(conv.bias)
    xp = np.pad(xn, ((0, 0), (0, 0), (1, 1), (1, 1)))
    ref = np.zeros((1, 3, 5, 4))
    for o in range(3):
        for i in range(5):
            for j in range(4):
                ref[0, o, i, j] = (xp[0, :, i:i + 3, j:j + 3] * w[o]).sum() + b[o]
    assert_close(conv(x), ref, rtol=1e-4, atol=1e-5)
    pool = nn.MaxPool2d(2)
    y = pool(x)
    assert_close(y, xn[:, :, :4, :4].reshape(1, 2, 2, 2, 2, 2).max(axis=(3, 5)))
    with pytest.raises(ValueError):
        nn.Conv2d(3, 4, 3, groups=2)
    with pytest.raises(ValueError):
        nn.Conv2d(2, 2, 2, padding="same")  # even kernel


def test_multihead_attention_against_numpy():
    mha = nn.MultiheadAttention(8, 2, batch_first=True)
    x = iccrt.randn(2, 5, 8)
    out, weights = mha(x, need_weights=True, is_causal=True)
    fused, none = mha(x, is_causal=True)
    assert none is None
    assert_close(fused, to_numpy(out), rtol=1e-4, atol=1e-5)

    xn = to_numpy(x)
    w_in, b_in = to_numpy(mha.in_proj_weight), to_numpy(mha.in_proj_bias)
    qkv = xn @ w_in.T + b_in
    q, k, v = (qkv[..., i * 8:(i + 1) * 8].reshape(2, 5, 2, 4).transpose(0, 2, 1, 3) for i in range(3))
    s = q @ k.transpose(0, 1, 3, 2) / 2.0
    s = np.where(np.tril(np.ones((5, 5), bool)), s, -np.inf)
    p = np_softmax(s)
    o = (p @ v).transpose(0, 2, 1, 3).reshape(2, 5, 8)
    ref = o @ to_numpy(mha.out_proj.weight).T + to_numpy(mha.out_proj.bias)
    assert_close(out, ref, rtol=1e-4, atol=1e-5)
    assert_close(weights, p.mean(1), rtol=1e-4, atol=1e-6)

    # torch's convention: a bool mask is True where attention is NOT allowed.
    blocked = iccrt.tensor(~np.tril(np.ones((5, 5), bool)))
    masked, _ = mha(x, attn_mask=blocked)
    assert_close(masked, ref, rtol=1e-4, atol=1e-5)
    seq_first, _ = nn.MultiheadAttention(8, 2)(x.transpose(0, 1))
    assert list(seq_first.shape) == [5, 2, 8]
    with pytest.raises(ValueError):
        nn.MultiheadAttention(8, 3)
    with pytest.raises(ValueError):
        mha(iccrt.randn(2, 5, 6))


def test_losses():
    logits, target = iccrt.randn(6, 4), iccrt.tensor([0, 3, 1, -100, 2, 2])
    ln = to_numpy(logits)
    logp = ln - np.log(np.exp(ln).sum(1, keepdims=True))
    keep = to_numpy(target) != -100
    ref = -logp[keep, to_numpy(target)[keep]].mean()
    assert_close(nn.CrossEntropyLoss()(logits, target), np.array(ref), rtol=1e-5)
    assert_close(nn.MSELoss(reduction="sum")(logits, logits * 0.0), np.array((ln**2).sum()), rtol=1e-5)
    with pytest.raises(ValueError):
        nn.CrossEntropyLoss(reduction="avg")


def test_containers():
    seq = nn.Sequential(nn.Linear(2, 3), nn.ReLU(), nn.Linear(3, 1))
    assert len(seq) == 3 and isinstance(seq[-1], nn.Linear) and isinstance(seq[1:], nn.Sequential)
    assert len(list(seq.parameters())) == 4
    named = nn.Sequential(collections.OrderedDict([("a", nn.Linear(2, 2)), ("b", nn.Tanh())]))
    assert [n for n, _ in named.named_children()] == ["a", "b"]
    del seq[1]
    assert [n for n, _ in seq.named_children()] == ["0", "1"]
    assert list(seq(iccrt.randn(4, 2)).shape) == [4, 1]
    ml = nn.ModuleList([nn.Linear(2, 2) for _ in range(3)])
    ml.append(nn.Linear(2, 4))
    ml.insert(0, nn.Identity())
    assert len(ml) == 5 and isinstance(ml[0], nn.Identity)
    assert [n for n, _ in ml.named_parameters()][:2] == ["1.weight", "1.bias"]
    md = nn.ModuleDict({"enc": nn.Linear(2, 2)})
    md["dec"] = nn.Linear(2, 2)
    assert list(md.keys()) == ["enc", "dec"] and "dec" in md
    with pytest.raises(TypeError):
        ml.append(3)


# ---- errors ----------------------------------------------------------------------------------------------------


def test_wrong_shapes_raise_value_error():
    with pytest.raises(ValueError):
        nn.Linear(4, 2)(iccrt.randn(3, 5))
    with pytest.raises(ValueError):
        nn.LayerNorm(4)(iccrt.randn(3, 5))
    with pytest.raises(ValueError):
        F.cross_entropy(iccrt.randn(3, 4), iccrt.tensor([0, 1]))
    with pytest.raises(ValueError):
        nn.Conv2d(3, 2, 3)(iccrt.randn(1, 4, 5, 5))


def test_dtype_mismatch_raises_type_error():
    with pytest.raises(TypeError):
        nn.Linear(4, 2)(iccrt.randn(3, 4, dtype=iccrt.float64))
    with pytest.raises(TypeError):
        nn.Embedding(4, 2)(iccrt.tensor([0.0, 1.0]))
    with pytest.raises(TypeError):
        F.cross_entropy(iccrt.randn(3, 4), iccrt.tensor([0.0, 1.0, 2.0]))


# ---- init and utils --------------------------------------------------------------------------------------------


def test_init_functions_reproducible_and_distributed():
    a, b = iccrt.empty(200, 300), iccrt.empty(200, 300)
    nn.init.normal_(a, 1.0, 2.0, generator=iccrt.Generator(3))
    nn.init.normal_(b, 1.0, 2.0, generator=iccrt.Generator(3))
    assert_close(a, to_numpy(b))
    an = to_numpy(a)
    assert abs(an.mean() - 1.0) < 0.03 and abs(an.std() - 2.0) < 0.03
    nn.init.trunc_normal_(a, 0.0, 1.0, -1.0, 1.5, generator=iccrt.Generator(1))
    an = to_numpy(a)
    assert an.min() >= -1.0 and an.max() <= 1.5 and an.std() > 0.5
    nn.init.xavier_uniform_(a, generator=iccrt.Generator(2))
    bound = math.sqrt(6 / 500)
    assert np.abs(to_numpy(a)).max() <= bound and np.abs(to_numpy(a)).max() > 0.95 * bound
    nn.init.kaiming_uniform_(a, a=math.sqrt(5))
    assert np.abs(to_numpy(a)).max() <= 1 / math.sqrt(300)
    nn.init.zeros_(a)
    assert float(a.abs().sum()) == 0.0
    p = nn.Parameter(iccrt.empty(3))
    nn.init.ones_(p)  # works on parameters (no_grad inside)
    assert p.requires_grad and float(p.sum()) == 3.0
    with pytest.raises(ValueError):
        nn.init.xavier_uniform_(iccrt.empty(3))
    with pytest.raises(TypeError):
        nn.init.normal_(iccrt.empty(3, dtype=iccrt.int64))


def test_module_generator_reproduces_weights():
    a = nn.Linear(5, 4, generator=iccrt.Generator(9))
    b = nn.Linear(5, 4, generator=iccrt.Generator(9))
    assert_close(a.weight, to_numpy(b.weight))
    assert_close(a.bias, to_numpy(b.bias))
