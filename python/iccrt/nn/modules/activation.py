"""Activation layers and multi-head attention."""

import math

from ... import _C, _factories
from .. import functional as F
from .. import init
from ..parameter import Parameter
from .linear import Linear
from .module import Module

__all__ = ["GELU", "MultiheadAttention", "ReLU", "SiLU", "Sigmoid", "Softmax", "Tanh"]


class ReLU(Module):
    def forward(self, input):
        return F.relu(input)


class GELU(Module):
    """GELU, exact (approximate="none") or with the tanh approximation (approximate="tanh", as in GPT-2)."""

    def __init__(self, approximate="none"):
        super().__init__()
        if approximate not in ("none", "tanh"):
            raise ValueError(f"GELU: approximate must be 'none' or 'tanh', got {approximate!r}")
        self.approximate = approximate

    def forward(self, input):
        return F.gelu(input, self.approximate)

    def extra_repr(self):
        return f"approximate={self.approximate!r}"


class SiLU(Module):
    def forward(self, input):
        return F.silu(input)


class Sigmoid(Module):
    def forward(self, input):
        return F.sigmoid(input)


class Tanh(Module):
    def forward(self, input):
        return F.tanh(input)


class Softmax(Module):
    def __init__(self, dim):
        super().__init__()
        self.dim = dim

    def forward(self, input):
        return F.softmax(input, self.dim)

    def extra_repr(self):
        return f"dim={self.dim}"


def _additive(mask, dtype, device, what):
    """A float mask to add to scores from a bool mask (True = masked out) or a float one (added as is)."""
    if mask.dtype == _C.bool:
        zero = _C._full([], 0.0, dtype, device)
        neg_inf = _C._full([], -math.inf, dtype, device)
        return _C._where(mask, neg_inf, zero)
    if not mask.dtype.is_floating_point:
        raise TypeError(f"MultiheadAttention: {what} must be bool or floating, got {mask.dtype!r}")
    return mask.to(dtype=dtype)


class MultiheadAttention(Module):
    """Multi-head attention (torch.nn.MultiheadAttention's parameters and mask conventions).

    embed_dim is split into num_heads heads of embed_dim // num_heads. Inputs are [T, B, E], or [B, T, E] with
    batch_first=True. causal=True makes every call causal (query i attends to keys j <= i), as does
    forward(..., is_causal=True). Masks follow torch's MultiheadAttention: a bool attn_mask ([Tq, Tk] or
    [B * num_heads, Tq, Tk]) and key_padding_mask ([B, Tk]) are True where attention is NOT allowed; a float
    mask is added to the scores. dropout applies to the attention weights in training mode.

    forward returns (output, weights): weights [B, Tq, Tk] averaged over heads when need_weights=True (this
    materialises the score matrix), else None and the fused attention kernel runs when there is no mask.
    """

    def __init__(self, embed_dim, num_heads, dropout=0.0, bias=True, batch_first=False, causal=False, device=None,
                 dtype=None, generator=None):
        super().__init__()
        if embed_dim <= 0 or num_heads <= 0 or embed_dim % num_heads:
            raise ValueError(f"MultiheadAttention: embed_dim ({embed_dim}) must be a positive multiple of num_heads "
                             f"({num_heads})")
        if not 0.0 <= dropout <= 1.0:
            raise ValueError(f"dropout probability has to be between 0 and 1, but got {dropout}")
        self.embed_dim = embed_dim
        self.num_heads = num_heads
        self.head_dim = embed_dim // num_heads
        self.dropout = dropout
        self.batch_first = batch_first
        self.causal = causal
        self.generator = generator
        self.in_proj_weight = Parameter(_factories.empty(3 * embed_dim, embed_dim, device=device, dtype=dtype))
        if bias:
            self.in_proj_bias = Parameter(_factories.empty(3 * embed_dim, device=device, dtype=dtype))
        else:
            self.register_parameter("in_proj_bias", None)
        self.out_proj = Linear(embed_dim, embed_dim, bias=bias, device=device, dtype=dtype, generator=generator)
        init.xavier_uniform_(self.in_proj_weight, generator=generator)
        if bias:
            init.zeros_(self.in_proj_bias)
            init.zeros_(self.out_proj.bias)

    def _project(self, x, part):
        e = self.embed_dim
        w = self.in_proj_weight.narrow(0, part * e, e)
        b = None if self.in_proj_bias is None else self.in_proj_bias.narrow(0, part * e, e)
        return F.linear(x, w, b)

    def _heads(self, x):
        b, t, _ = x.shape
        return x.reshape(b, t, self.num_heads, self.head_dim).transpose(1, 2)  # [B, H, T, hd]

    def forward(self, query, key=None, value=None, key_padding_mask=None, need_weights=False, attn_mask=None,
                is_causal=False):
        key = query if key is None else key
        value = key if value is None else value
        self_attention = query is key and key is value
        if query.dim() != 3 or key.dim() != 3 or value.dim() != 3:
            raise ValueError("MultiheadAttention: query, key and value must be 3-D ([T, B, E] or, with "
                             "batch_first, [B, T, E])")
        if not self.batch_first:
            query, key, value = (t.transpose(0, 1) for t in (query, key, value))
        bsz, tq, e = query.shape
        tk = key.shape[1]
        if e != self.embed_dim or key.shape[2] != e or value.shape[2] != e:
            raise ValueError(f"MultiheadAttention: expected embedding size {self.embed_dim}, got query {e}, key "
                             f"{key.shape[2]}, value {value.shape[2]}")
        if key.shape[:2] != value.shape[:2] or key.shape[0] != bsz:
            raise ValueError(f"MultiheadAttention: batch/length of query {list(query.shape[:2])}, key "
                             f"{list(key.shape[:2])} and value {list(value.shape[:2])} do not match")
        if self_attention:
            qkv = F.linear(query, self.in_proj_weight, self.in_proj_bias)
            q, k, v = (qkv.narrow(-1, i * e, e) for i in range(3))
        else:
            q, k, v = self._project(query, 0), self._project(key, 1), self._project(value, 2)
        q, k, v = self._heads(q), self._heads(k), self._heads(v)

        causal = self.causal or is_causal
        # Causality goes into the mask only when the score matrix is built anyway; else the fused kernel does it.
        explicit = need_weights or attn_mask is not None or key_padding_mask is not None
        mask = self._mask(attn_mask, key_padding_mask, causal and explicit, bsz, tq, tk, q.dtype, q.device)
        p = self.dropout if self.training else 0.0
        weights = None
        if need_weights:
            scores = (q @ k.transpose(-2, -1)) * (1.0 / math.sqrt(self.head_dim))
            if mask is not None:
                scores = scores + mask
            attn = F.softmax(scores, -1)
            if p > 0.0:
                attn = F.dropout(attn, p, True, self.generator)
            out = attn.to(dtype=v.dtype) @ v
            weights = attn.mean(1)
        elif mask is None:
            out = F.scaled_dot_product_attention(q, k, v, dropout_p=p, is_causal=causal, generator=self.generator)
        else:
            out = F.scaled_dot_product_attention(q, k, v, attn_mask=mask, dropout_p=p, generator=self.generator)
        out = self.out_proj(out.transpose(1, 2).reshape(bsz, tq, e))
        if not self.batch_first:
            out = out.transpose(0, 1)
        return out, weights

    def _mask(self, attn_mask, key_padding_mask, causal, bsz, tq, tk, dtype, device):
        """One additive float mask [B or 1, H or 1, Tq, Tk], or None when there is nothing to mask."""
        if attn_mask is None and key_padding_mask is None and not causal:
            return None
        total = None
        if attn_mask is not None:
            if attn_mask.dim() == 2:
                if list(attn_mask.shape) != [tq, tk]:
                    raise ValueError(f"MultiheadAttention: attn_mask must be [{tq}, {tk}], got {list(attn_mask.shape)}")
                total = _additive(attn_mask, dtype, device, "attn_mask")
            elif attn_mask.dim() == 3:
                if list(attn_mask.shape) != [bsz * self.num_heads, tq, tk]:
                    raise ValueError(f"MultiheadAttention: a 3-D attn_mask must be [{bsz * self.num_heads}, {tq}, "
                                     f"{tk}], got {list(attn_mask.shape)}")
                total = _additive(attn_mask, dtype, device, "attn_mask").reshape(bsz, self.num_heads, tq, tk)
            else:
                raise ValueError(f"MultiheadAttention: attn_mask must be 2-D or 3-D, got {attn_mask.dim()}-D")
        if key_padding_mask is not None:
            if list(key_padding_mask.shape) != [bsz, tk]:
                raise ValueError(f"MultiheadAttention: key_padding_mask must be [{bsz}, {tk}], got "
                                 f"{list(key_padding_mask.shape)}")
            pad = _additive(key_padding_mask, dtype, device, "key_padding_mask").reshape(bsz, 1, 1, tk)
            total = pad if total is None else total + pad
        if causal:
            blocked = _additive(F._causal_mask(tq, tk, device).eq(False), dtype, device, "causal mask")
            total = blocked if total is None else total + blocked
        return total

    def extra_repr(self):
        return (f"embed_dim={self.embed_dim}, num_heads={self.num_heads}, dropout={self.dropout}, "
                f"batch_first={self.batch_first}, causal={self.causal}")
