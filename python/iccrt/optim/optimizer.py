"""Optimizer: the base class (param groups, per-parameter state, state_dict) shared by SGD and AdamW."""

import copy

from .. import _C
from .._C import Tensor
from ..autograd import enable_grad

__all__ = ["Optimizer", "required"]


class _Required:
    """Marks a hyperparameter without a default (each param group must then give it)."""

    def __repr__(self):
        return "<required parameter>"


required = _Required()


class Optimizer:
    """Holds param_groups (dicts with "params" and the hyperparameters) and state (per parameter).

    params: an iterable of tensors, or of dicts {"params": [...], "lr": ..., ...} whose keys override `defaults`.
    Parameters must be leaf tensors and appear in one group only. Subclasses implement step().

    state_dict() refers to parameters by their position across groups (0, 1, ...), so it can be saved with
    iccrt.save and loaded into an optimizer built over a fresh copy of the same model.
    """

    def __init__(self, params, defaults):
        self.defaults = dict(defaults)
        self.state = {}  # param -> dict (tensors hash by identity)
        self.param_groups = []
        if isinstance(params, Tensor):
            raise TypeError("params must be an iterable of tensors or dicts, got a single tensor (wrap it in a list)")
        groups = list(params)
        if not groups:
            raise ValueError("optimizer got an empty parameter list")
        if not isinstance(groups[0], dict):
            groups = [{"params": groups}]
        for g in groups:
            self.add_param_group(g)

    def add_param_group(self, param_group):
        """Adds a group (a dict with "params"); missing hyperparameters come from the defaults."""
        if not isinstance(param_group, dict):
            raise TypeError(f"a param group must be a dict, got {type(param_group).__name__}")
        group = dict(param_group)
        params = group.get("params")
        if params is None:
            raise ValueError("a param group needs a 'params' entry")
        params = [params] if isinstance(params, Tensor) else list(params)
        for i, p in enumerate(params):
            if not isinstance(p, Tensor):
                raise TypeError(f"optimizer can only optimize tensors, but parameter {i} is a {type(p).__name__}")
            if not p.is_leaf:
                raise ValueError(f"can't optimize a non-leaf tensor (parameter {i}); detach() it and set "
                                 "requires_grad on the result")
        if len({id(p) for p in params}) != len(params):
            raise ValueError("a param group contains the same parameter more than once")
        existing = {id(p) for g in self.param_groups for p in g["params"]}
        if any(id(p) in existing for p in params):
            raise ValueError("some parameters appear in more than one parameter group")
        group["params"] = params
        for name, default in self.defaults.items():
            if default is required and name not in group:
                raise ValueError(f"parameter group didn't specify a value of required optimization parameter {name}")
            group.setdefault(name, default)
        self.param_groups.append(group)

    def zero_grad(self, set_to_none=True):
        """Drops every parameter's .grad (set_to_none, the default) or zeroes it in place."""
        for group in self.param_groups:
            for p in group["params"]:
                if p.grad is None:
                    continue
                if set_to_none:
                    p.grad = None
                else:
                    p.grad.zero_()

    def step(self, closure=None):
        raise NotImplementedError(f"{type(self).__name__} does not define step()")

    @staticmethod
    def _closure_loss(closure):
        if closure is None:
            return None
        with enable_grad():
            return closure()

    # ---- state ---------------------------------------------------------------------------------------------

    def state_dict(self):
        """{"state": {index: {name: tensor or number}}, "param_groups": [{hyperparameters, "params": [index]}]}.
        Tensors are the optimizer's own (not copies): save or clone them before the next step."""
        index = {}
        groups = []
        for group in self.param_groups:
            packed = {k: v for k, v in group.items() if k != "params"}
            ids = []
            for p in group["params"]:
                index.setdefault(id(p), len(index))
                ids.append(index[id(p)])
            packed["params"] = ids
            groups.append(packed)
        state = {index[id(p)]: dict(s) for p, s in self.state.items() if id(p) in index}
        return {"state": state, "param_groups": groups}

    def load_state_dict(self, state_dict):
        """Restores hyperparameters and state saved by state_dict(). The groups must have the same sizes (ValueError
        otherwise). State tensors are copied onto each parameter's device; floating ones take its dtype."""
        groups = state_dict.get("param_groups") if isinstance(state_dict, dict) else None
        if groups is None or "state" not in state_dict:
            raise ValueError("load_state_dict expects a dict with 'state' and 'param_groups' (from state_dict())")
        if len(groups) != len(self.param_groups):
            raise ValueError(f"loaded state dict has {len(groups)} parameter groups, the optimizer has "
                             f"{len(self.param_groups)}")
        for i, (saved, mine) in enumerate(zip(groups, self.param_groups)):
            if len(saved["params"]) != len(mine["params"]):
                raise ValueError(f"parameter group {i} has {len(saved['params'])} parameters in the loaded state "
                                 f"dict but {len(mine['params'])} in the optimizer")
        by_index = {}
        for saved, mine in zip(groups, self.param_groups):
            for idx, p in zip(saved["params"], mine["params"]):
                by_index[idx] = p
        new_state = {}
        for idx, entries in state_dict["state"].items():
            idx = int(idx)
            if idx not in by_index:
                raise ValueError(f"loaded optimizer state refers to parameter {idx}, which no group holds")
            p = by_index[idx]
            new_state[p] = {k: self._cast_state(v, p, k) for k, v in entries.items()}
        for saved, mine in zip(groups, self.param_groups):
            for k, v in saved.items():
                if k != "params":
                    mine[k] = copy.deepcopy(v)
        self.state = new_state

    @staticmethod
    def _cast_state(value, param, key):
        if not isinstance(value, Tensor):
            return copy.deepcopy(value)
        dtype = param.dtype if value.dtype.is_floating_point and key != "step" else value.dtype
        moved = value.to(device=param.device, dtype=dtype)
        if moved is value:
            moved = value.clone()
        if list(moved.shape) != list(param.shape) and moved.dim() != 0:
            raise ValueError(f"loaded optimizer state '{key}' has shape {list(moved.shape)}, its parameter has "
                             f"{list(param.shape)}")
        return moved.contiguous()

    def __repr__(self):
        lines = [f"{type(self).__name__} ("]
        for i, group in enumerate(self.param_groups):
            lines.append(f"Parameter Group {i}")
            for k in sorted(group):
                if k != "params":
                    lines.append(f"    {k}: {group[k]}")
        lines.append(")")
        return "\n".join(lines)


def _empty_like_zeros(p):
    """Zeros with p's shape, dtype and device, contiguous (optimizer state buffers)."""
    return _C._zeros(list(p.shape), p.dtype, p.device)
