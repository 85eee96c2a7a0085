"""nn.Parameter: the tensors a Module trains.

Parameter is a Python subclass of iccrt.Tensor, so a parameter is an ordinary tensor to every op (results of ops on
it are plain Tensors) and `isinstance(t, nn.Parameter)` is how Module.__setattr__ tells parameters from other
tensor attributes (those are neither registered nor trained; use register_buffer for state that should be saved).

Parameter(data) does not copy: it is a new autograd leaf over data's storage (data.detach()), with
requires_grad set. In-place ops that return `self` (copy_, mul_, fill_, zero_, ...) keep the Parameter type.
"""

import copy

from .. import _C
from .._C import Tensor

__all__ = ["Parameter"]


class Parameter(Tensor):
    """A tensor registered by Module when assigned as an attribute; requires_grad defaults to True.

        self.weight = nn.Parameter(iccrt.randn(out_features, in_features))

    data: a tensor (shared, not copied), or None for an empty float32 parameter. Integer tensors need
    requires_grad=False (only floating tensors take gradients: TypeError otherwise).
    """

    def __init__(self, data=None, requires_grad=True):
        if data is None:
            data = _C._empty([0], _C.float32, _C.device("cpu"))
        if not isinstance(data, Tensor):
            raise TypeError(f"Parameter expects a tensor, got {type(data).__name__}")
        leaf = data.detach()
        if requires_grad:
            leaf.requires_grad_(True)  # before the alias is taken: the alias shares this autograd state
        Tensor.__init__(self, leaf)

    def __repr__(self):
        return "Parameter containing:\n" + Tensor.__repr__(self)

    def __deepcopy__(self, memo):
        if id(self) in memo:
            return memo[id(self)]
        result = Parameter(self.detach().clone(), self.requires_grad)
        if self.grad is not None:
            result.grad = copy.deepcopy(self.grad, memo)
        memo[id(self)] = result
        return result

    def __reduce_ex__(self, protocol):
        # By value, like Tensor: the detached data pickles through Tensor.__reduce_ex__.
        return (_rebuild_parameter, (self.detach(), self.requires_grad))


def _rebuild_parameter(data, requires_grad):
    return Parameter(data, requires_grad)
