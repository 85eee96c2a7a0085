"""SGD with momentum, dampening, Nesterov momentum and (L2) weight decay."""

from ..autograd import no_grad
from .optimizer import Optimizer

__all__ = ["SGD"]


class SGD(Optimizer):
    """Stochastic gradient descent, torch.optim.SGD's update:

        g = grad (-grad with maximize) (+ weight_decay * p)
        buf = g on the first step, then momentum * buf + (1 - dampening) * g
        g = g + momentum * buf (nesterov) or buf (momentum > 0)
        p = p - lr * g
    """

    def __init__(self, params, lr=1e-3, momentum=0.0, dampening=0.0, weight_decay=0.0, nesterov=False,
                 maximize=False):
        if lr < 0.0:
            raise ValueError(f"invalid learning rate: {lr}")
        if momentum < 0.0:
            raise ValueError(f"invalid momentum value: {momentum}")
        if weight_decay < 0.0:
            raise ValueError(f"invalid weight_decay value: {weight_decay}")
        if nesterov and (momentum <= 0 or dampening != 0):
            raise ValueError("Nesterov momentum requires a momentum and zero dampening")
        super().__init__(params, dict(lr=lr, momentum=momentum, dampening=dampening, weight_decay=weight_decay,
                                      nesterov=nesterov, maximize=maximize))

    def step(self, closure=None):
        """One update of every parameter that has a gradient; returns closure()'s loss when a closure is given."""
        loss = self._closure_loss(closure)
        with no_grad():
            for group in self.param_groups:
                lr, momentum, dampening = group["lr"], group["momentum"], group["dampening"]
                wd, nesterov, maximize = group["weight_decay"], group["nesterov"], group["maximize"]
                for p in group["params"]:
                    if p.grad is None:
                        continue
                    g = -p.grad if maximize else p.grad  # as torch: the sign flips before weight decay
                    if wd != 0:
                        g = g + p * wd
                    if momentum != 0:
                        state = self.state.setdefault(p, {})
                        buf = state.get("momentum_buffer")
                        if buf is None:
                            buf = g.clone()
                            state["momentum_buffer"] = buf
                        else:
                            buf.mul_(momentum)
                            buf.add_(g * (1.0 - dampening) if dampening != 0 else g)
                        g = g + buf * momentum if nesterov else buf
                    p.sub_(g * lr)
        return loss
