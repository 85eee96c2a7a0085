"""AdamW: Adam with decoupled weight decay, one fused in-place kernel per parameter (_C._adamw_)."""

from .. import _C
from ..autograd import no_grad
from .optimizer import Optimizer, _empty_like_zeros

__all__ = ["AdamW"]


class AdamW(Optimizer):
    """torch.optim.AdamW's update (Loshchilov & Hutter), at step t counted from 1:

        p = p * (1 - lr * weight_decay)
        m = beta1 * m + (1 - beta1) * g;  v = beta2 * v + (1 - beta2) * g^2
        p = p - lr * (m / (1 - beta1^t)) / (sqrt(v / (1 - beta2^t)) + eps)

    (with maximize, g is negated). State per parameter: "step" (int), "exp_avg", "exp_avg_sq" (the parameter's
    dtype; float16/bfloat16 parameters are computed in float32 inside the kernel). Non-contiguous parameters are
    updated through a contiguous copy written back.
    """

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=1e-2, maximize=False):
        if lr < 0.0:
            raise ValueError(f"invalid learning rate: {lr}")
        if eps < 0.0:
            raise ValueError(f"invalid epsilon value: {eps}")
        if len(betas) != 2 or not all(0.0 <= b < 1.0 for b in betas):
            raise ValueError(f"invalid betas {betas}: two values in [0, 1) expected")
        if weight_decay < 0.0:
            raise ValueError(f"invalid weight_decay value: {weight_decay}")
        super().__init__(params, dict(lr=lr, betas=tuple(betas), eps=eps, weight_decay=weight_decay,
                                      maximize=maximize))

    def step(self, closure=None):
        """One update of every parameter that has a gradient; returns closure()'s loss when a closure is given."""
        loss = self._closure_loss(closure)
        with no_grad():
            for group in self.param_groups:
                beta1, beta2 = group["betas"]
                for p in group["params"]:
                    if p.grad is None:
                        continue
                    state = self.state.setdefault(p, {})
                    if not state:
                        state["step"] = 0
                        state["exp_avg"] = _empty_like_zeros(p)
                        state["exp_avg_sq"] = _empty_like_zeros(p)
                    state["step"] += 1
                    target = p if p.is_contiguous() else p.contiguous()
                    grad = p.grad if p.grad.dtype == p.dtype else p.grad.to(dtype=p.dtype)
                    _C._adamw_(target, grad, state["exp_avg"], state["exp_avg_sq"], float(group["lr"]), float(beta1),
                               float(beta2), float(group["eps"]), float(group["weight_decay"]), int(state["step"]),
                               bool(group["maximize"]))
                    if target is not p:
                        p.copy_(target)
        return loss
