"""Functional forms of the layers (torch.nn.functional's names and arguments), all differentiable.

Most are the C++ ops of iccrt._C with torch's argument conventions added here (ints or pairs for conv/pool
geometry, negative padding_idx, class dims after the batch dim for cross_entropy). Shape errors raise
ValueError, dtype errors TypeError, out-of-range indices IndexError.
"""

import math
import numbers

from .. import _C
from .._C import Tensor

__all__ = [
    "conv2d",
    "cross_entropy",
    "dropout",
    "embedding",
    "gelu",
    "layer_norm",
    "linear",
    "log_softmax",
    "max_pool2d",
    "mse_loss",
    "relu",
    "rms_norm",
    "scaled_dot_product_attention",
    "sigmoid",
    "silu",
    "softmax",
    "tanh",
]

_REDUCTIONS = ("mean", "sum", "none")


def _check_tensor(x, what):
    if not isinstance(x, Tensor):
        raise TypeError(f"{what} must be a tensor, got {type(x).__name__}")


def _pair(v, what):
    if isinstance(v, bool) or not isinstance(v, (numbers.Integral, tuple, list)):
        raise TypeError(f"{what} must be an int or a pair of ints, got {type(v).__name__}")
    if isinstance(v, numbers.Integral):
        return (int(v), int(v))
    if len(v) != 2 or not all(isinstance(e, numbers.Integral) and not isinstance(e, bool) for e in v):
        raise TypeError(f"{what} must be an int or a pair of ints, got {v!r}")
    return (int(v[0]), int(v[1]))


def _check_reduction(reduction, op):
    if reduction not in _REDUCTIONS:
        raise ValueError(f"{op}: reduction must be one of {_REDUCTIONS}, got {reduction!r}")


# ---- linear and activations ----------------------------------------------------------------------------------


def linear(input, weight, bias=None):
    """input @ weight.T + bias; weight [out_features, in_features], input [..., in_features]."""
    return _C.linear(input, weight, bias)


def relu(input):
    return _C.relu(input)


def gelu(input, approximate="none"):
    """GELU, exact (erf, approximate="none") or the tanh approximation (approximate="tanh")."""
    if approximate not in ("none", "tanh"):
        raise ValueError(f"gelu: approximate must be 'none' or 'tanh', got {approximate!r}")
    return _C.gelu(input, approximate)


def silu(input):
    return _C.silu(input)


def sigmoid(input):
    return _C.sigmoid(input)


def tanh(input):
    return _C.tanh(input)


def softmax(input, dim, dtype=None):
    """Softmax along `dim`; with dtype the input is converted first (e.g. float32 for half inputs)."""
    if dtype is not None:
        input = input.to(dtype=dtype)
    return _C.softmax(input, dim)


def log_softmax(input, dim, dtype=None):
    if dtype is not None:
        input = input.to(dtype=dtype)
    return _C.log_softmax(input, dim)


# ---- normalisation and embeddings ------------------------------------------------------------------------------


def _normalized_shape(shape):
    if isinstance(shape, numbers.Integral) and not isinstance(shape, bool):
        return [int(shape)]
    return [int(s) for s in shape]


def layer_norm(input, normalized_shape, weight=None, bias=None, eps=1e-5):
    """Normalises over the trailing dims `normalized_shape` to zero mean and unit variance (biased), then
    scales by weight and shifts by bias (both optional, of shape normalized_shape)."""
    return _C.layer_norm(input, _normalized_shape(normalized_shape), weight, bias, float(eps))


def rms_norm(input, normalized_shape, weight=None, eps=None):
    """x / sqrt(mean(x^2) + eps) * weight over the trailing dims; eps defaults to 1e-6."""
    return _C.rms_norm(input, _normalized_shape(normalized_shape), weight, 1e-6 if eps is None else float(eps))


def embedding(input, weight, padding_idx=None):
    """Rows of `weight` [num_embeddings, dim] picked by the integer tensor `input`; result input.shape + [dim].
    Rows equal to padding_idx (negative counts from the end) get no gradient."""
    if padding_idx is not None:
        n = weight.shape[0]
        if not -n <= padding_idx < n:
            raise IndexError(f"embedding: padding_idx must be within [{-n}, {n}), got {padding_idx}")
        padding_idx = padding_idx % n
    return _C.embedding(input, weight, padding_idx)


# ---- losses ----------------------------------------------------------------------------------------------------


def cross_entropy(input, target, ignore_index=-100, reduction="mean", label_smoothing=0.0):
    """Cross-entropy between logits and class-index targets (int64), fused with log_softmax.

    input [N, C] with target [N], [C] with a 0-d target, or [N, C, d1, ...] with target [N, d1, ...] (classes in
    dim 1, as in torch). Targets equal to ignore_index contribute nothing; "mean" averages over the others.
    label_smoothing in [0, 1] mixes the one-hot target with the uniform distribution.
    """
    _check_tensor(input, "cross_entropy: input")
    _check_tensor(target, "cross_entropy: target")
    _check_reduction(reduction, "cross_entropy")
    if not 0.0 <= label_smoothing <= 1.0:
        raise ValueError(f"cross_entropy: label_smoothing must be in [0, 1], got {label_smoothing}")
    if input.dim() <= 2:
        return _C.cross_entropy(input, target, ignore_index, reduction, float(label_smoothing))
    n, c = input.shape[0], input.shape[1]
    spatial = list(input.shape[2:])
    if list(target.shape) != [n] + spatial:
        raise ValueError(f"cross_entropy: input of shape {list(input.shape)} needs a target of shape "
                         f"{[n] + spatial}, got {list(target.shape)}")
    # Classes last, then one row per position.
    perm = [0] + list(range(2, input.dim())) + [1]
    logits = input.permute(*perm).reshape(-1, c)
    loss = _C.cross_entropy(logits, target.reshape(-1), ignore_index, reduction, float(label_smoothing))
    return loss.reshape(n, *spatial) if reduction == "none" else loss


def mse_loss(input, target, reduction="mean"):
    """Mean (or summed, or elementwise) squared difference; shapes must match."""
    _check_reduction(reduction, "mse_loss")
    if tuple(input.shape) != tuple(target.shape):
        raise ValueError(f"mse_loss: input shape {list(input.shape)} and target shape {list(target.shape)} differ")
    d = input - target
    sq = d * d
    return sq if reduction == "none" else (sq.mean() if reduction == "mean" else sq.sum())


# ---- regularisation ------------------------------------------------------------------------------------------


def dropout(input, p=0.5, training=True, generator=None):
    """Zeroes each element with probability p and scales the rest by 1/(1-p) when training; identity otherwise.
    The mask comes from `generator` (default: iccrt.default_generator), so a seed reproduces it."""
    if not 0.0 <= p <= 1.0:
        raise ValueError(f"dropout probability has to be between 0 and 1, but got {p}")
    if not training or p == 0.0:
        return input
    return _C.dropout(input, float(p), True, generator)


# ---- attention -----------------------------------------------------------------------------------------------


def _causal_mask(tq, tk, device):
    """Bool [tq, tk]: query i sees keys j <= i + (tk - tq) (bottom-right aligned, like the fused kernel)."""
    i = _C._arange(0, tq, 1, _C.int64, device).reshape(tq, 1)
    j = _C._arange(0, tk, 1, _C.int64, device).reshape(1, tk)
    return (i + (tk - tq)) >= j


def scaled_dot_product_attention(query, key, value, attn_mask=None, dropout_p=0.0, is_causal=False, scale=None,
                                 generator=None):
    """softmax(query @ key^T * scale + mask) @ value over the last two dims; leading dims ([B, H]) must match.

    Without attn_mask and dropout this is the fused memory-efficient kernel. attn_mask: a bool tensor (True =
    may attend) or a float tensor added to the scores, broadcastable to [..., Tq, Tk]. is_causal: query i attends
    to keys j <= i + Tk - Tq (cannot be combined with attn_mask). scale defaults to 1/sqrt(head_dim).
    dropout_p drops attention weights (pass 0.0 at evaluation).
    """
    for name, t in (("query", query), ("key", key), ("value", value)):
        _check_tensor(t, f"scaled_dot_product_attention: {name}")
    if not 0.0 <= dropout_p <= 1.0:
        raise ValueError(f"scaled_dot_product_attention: dropout_p must be in [0, 1], got {dropout_p}")
    if attn_mask is not None and is_causal:
        raise ValueError("scaled_dot_product_attention: pass either attn_mask or is_causal=True, not both")
    if scale is not None and scale <= 0:
        raise ValueError(f"scaled_dot_product_attention: scale must be positive, got {scale}")
    if attn_mask is None and dropout_p == 0.0:
        return _C.scaled_dot_product_attention(query, key, value, bool(is_causal), scale)
    # Explicit path: the score matrix is materialised.
    if query.dim() < 2 or key.dim() < 2:
        raise ValueError("scaled_dot_product_attention: query and key need at least 2 dims ([..., T, D])")
    tq, tk = query.shape[-2], key.shape[-2]
    s = 1.0 / math.sqrt(query.shape[-1]) if scale is None else float(scale)
    scores = (query @ key.transpose(-2, -1)) * s
    if is_causal:
        attn_mask = _causal_mask(tq, tk, query.device)
    if attn_mask is not None:
        if attn_mask.dtype == _C.bool:
            neg_inf = _C._full([], -math.inf, scores.dtype, scores.device)
            scores = _C._where(attn_mask, scores, neg_inf)
        else:
            scores = scores + attn_mask.to(dtype=scores.dtype)
    weights = _C.softmax(scores, -1)
    if dropout_p > 0.0:
        weights = _C.dropout(weights, float(dropout_p), True, generator)
    return weights.to(dtype=value.dtype) @ value


# ---- convolution and pooling ---------------------------------------------------------------------------------


def _conv_padding(padding, kernel, dilation, stride):
    """(pad_h, pad_w) from an int, a pair, "valid" or "same" (kernel: (kh, kw); dilation, stride: pairs)."""
    if isinstance(padding, str):
        if padding == "valid":
            return (0, 0)
        if padding == "same":
            if stride != (1, 1):
                raise ValueError("conv2d: padding='same' needs stride 1")
            pads = []
            for k, d in zip(kernel, dilation):
                total = d * (k - 1)
                if total % 2:
                    raise ValueError(f"conv2d: padding='same' needs an odd effective kernel size, got "
                                     f"{total + 1} (kernel {k}, dilation {d})")
                pads.append(total // 2)
            return tuple(pads)
        raise ValueError(f"conv2d: padding must be an int, a pair, 'valid' or 'same', got {padding!r}")
    return _pair(padding, "conv2d: padding")


def conv2d(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    """2-D convolution (cross-correlation), NCHW: input [N, C, H, W], weight [O, C / groups, kh, kw], bias [O]."""
    stride = _pair(stride, "conv2d: stride")
    dilation = _pair(dilation, "conv2d: dilation")
    if weight.dim() != 4:
        raise ValueError(f"conv2d: weight must be 4-D [out, in / groups, kh, kw], got shape {list(weight.shape)}")
    pad = _conv_padding(padding, tuple(weight.shape[-2:]), dilation, stride)
    return _C.conv2d(input, weight, bias, stride, pad, dilation, int(groups))


def max_pool2d(input, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False):
    """Max over kernel_size windows of each plane of input [N, C, H, W]; stride defaults to kernel_size."""
    kernel = _pair(kernel_size, "max_pool2d: kernel_size")
    stride = kernel if stride is None else _pair(stride, "max_pool2d: stride")
    return _C.max_pool2d(input, kernel, stride, _pair(padding, "max_pool2d: padding"),
                         _pair(dilation, "max_pool2d: dilation"), bool(ceil_mode))
