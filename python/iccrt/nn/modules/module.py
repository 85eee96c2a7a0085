"""nn.Module: the base class of layers and models (torch.nn.Module's behaviour, minus scripting and DDP hooks).

Attributes are sorted on assignment: a Parameter goes into _parameters, a Module into _modules, a tensor into
_buffers when registered with register_buffer; everything else is a plain attribute. Parameters shared by two
modules (tied weights) are one object: parameters() yields it once, state_dict() lists it under both names, and
to() / float() / cuda() keep it shared.
"""

import collections
import collections.abc
import itertools

from ... import _C
from ..._C import Tensor
from ...autograd import no_grad
from ..parameter import Parameter

__all__ = ["Module", "RemovableHandle"]

_IncompatibleKeys = collections.namedtuple("IncompatibleKeys", ["missing_keys", "unexpected_keys"])


class RemovableHandle:
    """Returned by register_*_hook; remove() unregisters the hook (again is a no-op)."""

    _ids = itertools.count()

    def __init__(self, hooks):
        self._hooks = hooks
        self.id = next(RemovableHandle._ids)

    def remove(self):
        self._hooks.pop(self.id, None)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.remove()


def _conversion(args, kwargs):
    """(device, dtype) from Module.to's arguments: to(device), to(dtype), to(device, dtype), to(tensor)."""
    from ..._tensor import _as_device, _as_dtype

    device = kwargs.pop("device", None)
    dtype = kwargs.pop("dtype", None)
    kwargs.pop("non_blocking", None)
    if kwargs:
        raise TypeError(f"to() got unexpected keyword arguments {sorted(kwargs)}")
    for a in args:
        if isinstance(a, _C.dtype):
            dtype = a
        elif isinstance(a, (_C.device, str, int)) and not isinstance(a, bool):
            device = a
        elif isinstance(a, Tensor):
            device, dtype = a.device, a.dtype
        else:
            raise TypeError(f"to() expects a device, a dtype or a tensor, got {type(a).__name__}")
    if dtype is not None and not _as_dtype(dtype).is_floating_point:
        raise TypeError(f"Module.to only converts to floating dtypes, got {dtype!r}")
    return (None if device is None else _as_device(device)), dtype


class Module:
    """Base class of all layers and models; subclasses call super().__init__() and define forward().

        class MLP(nn.Module):
            def __init__(self):
                super().__init__()
                self.fc = nn.Linear(4, 8)

            def forward(self, x):
                return self.fc(x).relu()
    """

    def __init__(self):
        # object.__setattr__: our own __setattr__ needs these dicts to exist.
        object.__setattr__(self, "training", True)
        object.__setattr__(self, "_parameters", collections.OrderedDict())
        object.__setattr__(self, "_buffers", collections.OrderedDict())
        object.__setattr__(self, "_non_persistent_buffers", set())
        object.__setattr__(self, "_modules", collections.OrderedDict())
        object.__setattr__(self, "_forward_pre_hooks", collections.OrderedDict())
        object.__setattr__(self, "_forward_hooks", collections.OrderedDict())

    def forward(self, *args, **kwargs):
        raise NotImplementedError(f"{type(self).__name__} does not define forward()")

    def __call__(self, *args, **kwargs):
        for hook in list(self._forward_pre_hooks.values()):
            replaced = hook(self, args)
            if replaced is not None:
                args = replaced if isinstance(replaced, tuple) else (replaced,)
        result = self.forward(*args, **kwargs)
        for hook in list(self._forward_hooks.values()):
            replaced = hook(self, args, result)
            if replaced is not None:
                result = replaced
        return result

    # ---- registration ----------------------------------------------------------------------------------------

    def _check_init(self, what):
        if "_parameters" not in self.__dict__:
            raise AttributeError(f"cannot assign {what} before Module.__init__() call (call super().__init__() first)")

    @staticmethod
    def _check_name(name, kind):
        if not isinstance(name, str):
            raise TypeError(f"{kind} name should be a string, got {type(name).__name__}")
        if not name or "." in name:
            raise KeyError(f'{kind} name can\'t be empty or contain ".", got "{name}"')

    def register_parameter(self, name, param):
        """Adds `param` (a Parameter, or None for an absent optional one) under `name`."""
        self._check_init("parameters")
        self._check_name(name, "parameter")
        if param is not None and not isinstance(param, Parameter):
            raise TypeError(f"cannot assign {type(param).__name__} as parameter '{name}' (nn.Parameter or None "
                            "expected)")
        if name not in self._parameters and (hasattr(type(self), name) or name in self.__dict__
                                             or name in self._modules or name in self._buffers):
            raise KeyError(f"attribute '{name}' already exists")
        self._parameters[name] = param

    def register_buffer(self, name, tensor, persistent=True):
        """Adds a tensor that is state but not trained (e.g. a mask); persistent ones are in state_dict()."""
        self._check_init("buffers")
        self._check_name(name, "buffer")
        if tensor is not None and not isinstance(tensor, Tensor):
            raise TypeError(f"cannot assign {type(tensor).__name__} as buffer '{name}' (Tensor or None expected)")
        if name not in self._buffers and (hasattr(type(self), name) or name in self.__dict__
                                          or name in self._parameters or name in self._modules):
            raise KeyError(f"attribute '{name}' already exists")
        self._buffers[name] = tensor
        if persistent:
            self._non_persistent_buffers.discard(name)
        else:
            self._non_persistent_buffers.add(name)

    def add_module(self, name, module):
        """Adds a child module (or None) under `name`."""
        self._check_init("child modules")
        self._check_name(name, "module")
        if module is not None and not isinstance(module, Module):
            raise TypeError(f"{type(module).__name__} is not a Module subclass")
        if name not in self._modules and (hasattr(type(self), name) or name in self.__dict__
                                          or name in self._parameters or name in self._buffers):
            raise KeyError(f"attribute '{name}' already exists")
        self._modules[name] = module

    register_module = add_module

    def __setattr__(self, name, value):
        d = self.__dict__
        params = d.get("_parameters")
        if isinstance(value, Parameter):
            self._check_init("parameters")
            self._forget(name)
            self._parameters[name] = value
        elif params is not None and name in params:
            if value is not None:
                raise TypeError(f"cannot assign {type(value).__name__} as parameter '{name}' (nn.Parameter or None "
                                "expected)")
            params[name] = None
        elif isinstance(value, Module):
            self._check_init("child modules")
            self._forget(name)
            self._modules[name] = value
        elif "_modules" in d and name in d["_modules"]:
            if value is not None:
                raise TypeError(f"cannot assign {type(value).__name__} as child module '{name}' (Module or None "
                                "expected)")
            d["_modules"][name] = None
        elif "_buffers" in d and name in d["_buffers"]:
            if value is not None and not isinstance(value, Tensor):
                raise TypeError(f"cannot assign {type(value).__name__} as buffer '{name}' (Tensor or None expected)")
            d["_buffers"][name] = value
        else:
            object.__setattr__(self, name, value)

    def _forget(self, name):
        self.__dict__.pop(name, None)
        for store in ("_parameters", "_buffers", "_modules"):
            self.__dict__[store].pop(name, None)
        self._non_persistent_buffers.discard(name)

    def __getattr__(self, name):
        # Only reached when normal lookup fails.
        d = self.__dict__
        for store in ("_parameters", "_buffers", "_modules"):
            if store in d and name in d[store]:
                return d[store][name]
        raise AttributeError(f"'{type(self).__name__}' object has no attribute '{name}'")

    def __delattr__(self, name):
        for store in ("_parameters", "_buffers", "_modules"):
            if name in self.__dict__.get(store, ()):
                del self.__dict__[store][name]
                self._non_persistent_buffers.discard(name)
                return
        object.__delattr__(self, name)

    def __dir__(self):
        return sorted(set(super().__dir__()) | set(self._parameters) | set(self._buffers) | set(self._modules))

    # ---- hooks -----------------------------------------------------------------------------------------------

    def register_forward_pre_hook(self, hook):
        """hook(module, args) runs before forward; a non-None return replaces args."""
        handle = RemovableHandle(self._forward_pre_hooks)
        self._forward_pre_hooks[handle.id] = hook
        return handle

    def register_forward_hook(self, hook):
        """hook(module, args, output) runs after forward; a non-None return replaces the output."""
        handle = RemovableHandle(self._forward_hooks)
        self._forward_hooks[handle.id] = hook
        return handle

    # ---- traversal -------------------------------------------------------------------------------------------

    def named_modules(self, memo=None, prefix="", remove_duplicate=True):
        """(name, module) for this module and every descendant, depth first; a module reached twice once."""
        if memo is None:
            memo = set()
        if remove_duplicate:
            if id(self) in memo:
                return
            memo.add(id(self))
        yield prefix, self
        for name, child in self._modules.items():
            if child is None:
                continue
            yield from child.named_modules(memo, f"{prefix}.{name}" if prefix else name, remove_duplicate)

    def modules(self):
        for _, m in self.named_modules():
            yield m

    def named_children(self):
        seen = set()
        for name, child in self._modules.items():
            if child is not None and id(child) not in seen:
                seen.add(id(child))
                yield name, child

    def children(self):
        for _, c in self.named_children():
            yield c

    def _named_members(self, store, prefix, recurse, remove_duplicate=True):
        seen = set()
        mods = self.named_modules(prefix=prefix) if recurse else [(prefix, self)]
        for mod_prefix, mod in mods:
            for name, value in getattr(mod, store).items():
                if value is None or (remove_duplicate and id(value) in seen):
                    continue
                seen.add(id(value))
                yield (f"{mod_prefix}.{name}" if mod_prefix else name), value

    def named_parameters(self, prefix="", recurse=True, remove_duplicate=True):
        """(qualified name, Parameter) pairs; a parameter shared by several modules appears once."""
        yield from self._named_members("_parameters", prefix, recurse, remove_duplicate)

    def parameters(self, recurse=True):
        for _, p in self.named_parameters(recurse=recurse):
            yield p

    def named_buffers(self, prefix="", recurse=True, remove_duplicate=True):
        yield from self._named_members("_buffers", prefix, recurse, remove_duplicate)

    def buffers(self, recurse=True):
        for _, b in self.named_buffers(recurse=recurse):
            yield b

    def get_submodule(self, target):
        """The module at dotted path `target` ("" is self); AttributeError naming the missing part."""
        mod = self
        if target == "":
            return mod
        for part in target.split("."):
            child = mod._modules.get(part)
            if not isinstance(child, Module):
                raise AttributeError(f"{type(mod).__name__} has no submodule '{part}' (looking up '{target}')")
            mod = child
        return mod

    def apply(self, fn):
        """Calls fn(module) on every descendant, then on self (e.g. custom initialisation). Returns self."""
        for child in self.children():
            child.apply(fn)
        fn(self)
        return self

    # ---- modes and gradients ---------------------------------------------------------------------------------

    def train(self, mode=True):
        """Training mode (dropout active) or, with mode=False, evaluation mode; recursive. Returns self."""
        if not isinstance(mode, bool):
            raise TypeError(f"train(mode) expects a bool, got {type(mode).__name__}")
        for m in self.modules():
            object.__setattr__(m, "training", mode)
        return self

    def eval(self):
        return self.train(False)

    def requires_grad_(self, requires_grad=True):
        for p in self.parameters():
            p.requires_grad_(requires_grad)
        return self

    def zero_grad(self, set_to_none=True):
        """Drops every parameter's .grad (set_to_none) or fills it with zeros."""
        for p in self.parameters():
            if p.grad is None:
                continue
            if set_to_none:
                p.grad = None
            else:
                with no_grad():
                    p.grad.zero_()

    # ---- conversion ------------------------------------------------------------------------------------------

    def _apply(self, fn):
        """Replaces every parameter, its grad and every buffer by fn(tensor) (sharing kept: one result per object)."""
        memo = {}

        def convert(t):
            if id(t) not in memo:
                memo[id(t)] = (t, fn(t))  # keep t alive so its id is not reused during the walk
            return memo[id(t)][1]

        with no_grad():
            for mod in self.modules():
                for name, p in mod._parameters.items():
                    if p is None:
                        continue
                    if id(p) in memo:
                        mod._parameters[name] = memo[id(p)][1]
                        continue
                    new = fn(p)
                    if new is p:
                        memo[id(p)] = (p, p)
                        continue
                    new_param = Parameter(new, p.requires_grad)
                    if p.grad is not None:
                        new_param.grad = convert(p.grad)
                    memo[id(p)] = (p, new_param)
                    mod._parameters[name] = new_param
                for name, b in mod._buffers.items():
                    if b is not None:
                        mod._buffers[name] = convert(b)
        return self

    def to(self, *args, **kwargs):
        """to(device), to(dtype), to(device, dtype), to(tensor): moves parameters and buffers; only floating
        tensors change dtype. Parameters that change are replaced by new Parameter objects, so build optimizers
        after moving the model. Returns self."""
        device, dtype = _conversion(args, dict(kwargs))

        def fn(t):
            return t.to(device=device, dtype=dtype if (dtype is not None and t.dtype.is_floating_point) else None)

        return self._apply(fn)

    def cpu(self):
        return self.to(device="cpu")

    def cuda(self, device=None):
        return self.to(device="cuda" if device is None else device)

    def float(self):
        return self.to(dtype=_C.float32)

    def double(self):
        return self.to(dtype=_C.float64)

    def half(self):
        return self.to(dtype=_C.float16)

    def bfloat16(self):
        return self.to(dtype=_C.bfloat16)

    # ---- state -----------------------------------------------------------------------------------------------

    def _state_items(self, prefix=""):
        """(key, owning module, local name, kind) of everything in the state dict, in order."""
        for mod_prefix, mod in self.named_modules(prefix=prefix.rstrip(".")):
            base = f"{mod_prefix}." if mod_prefix else ""
            for name, p in mod._parameters.items():
                if p is not None:
                    yield base + name, mod, name, "_parameters"
            for name, b in mod._buffers.items():
                if b is not None and name not in mod._non_persistent_buffers:
                    yield base + name, mod, name, "_buffers"

    def state_dict(self, prefix="", keep_vars=False):
        """An ordered dict from qualified names ("block.0.attn.weight") to parameters and persistent buffers,
        detached unless keep_vars. Tied parameters appear under each of their names (one tensor)."""
        out = collections.OrderedDict()
        for key, mod, name, store in self._state_items(prefix):
            t = getattr(mod, store)[name]
            out[key] = t if keep_vars else t.detach()
        return out

    def load_state_dict(self, state_dict, strict=True):
        """Copies values from `state_dict` into the parameters and buffers (in place, converting dtype and
        device). Returns (missing_keys, unexpected_keys). ValueError on shape mismatches, and with strict on any
        missing or unexpected key; nothing is modified when it raises."""
        if not isinstance(state_dict, collections.abc.Mapping):
            raise TypeError(f"load_state_dict expects a mapping, got {type(state_dict).__name__}")
        targets = list(self._state_items())
        expected = {key for key, *_ in targets}
        missing = [key for key, *_ in targets if key not in state_dict]
        unexpected = [key for key in state_dict if key not in expected]
        errors = []
        for key, mod, name, store in targets:
            if key not in state_dict:
                continue
            value = state_dict[key]
            current = getattr(mod, store)[name]
            if not isinstance(value, Tensor):
                raise TypeError(f"load_state_dict: '{key}' is a {type(value).__name__}, expected a tensor")
            if tuple(value.shape) != tuple(current.shape):
                errors.append(f"size mismatch for {key}: copying a tensor of shape {list(value.shape)}, the "
                              f"parameter in the model has shape {list(current.shape)}")
        if strict and (missing or unexpected):
            if missing:
                errors.insert(0, "missing keys: " + ", ".join(f'"{k}"' for k in missing))
            if unexpected:
                errors.insert(0, "unexpected keys: " + ", ".join(f'"{k}"' for k in unexpected))
        if errors:
            raise ValueError(f"error(s) loading state_dict for {type(self).__name__}:\n  " + "\n  ".join(errors))
        with no_grad():
            for key, mod, name, store in targets:
                if key in state_dict:
                    getattr(mod, store)[name].copy_(state_dict[key])
        return _IncompatibleKeys(missing, unexpected)

    # ---- printing --------------------------------------------------------------------------------------------

    def extra_repr(self):
        """The text inside this module's parentheses in repr (its configuration); empty by default."""
        return ""

    def __repr__(self):
        lines = []
        extra = self.extra_repr()
        if extra:
            lines.extend(extra.split("\n"))
        for name, child in self._modules.items():
            text = repr(child).replace("\n", "\n  ")
            lines.append(f"({name}): {text}")
        if not self._modules:
            return f"{type(self).__name__}({extra})"
        return f"{type(self).__name__}(\n  " + "\n  ".join(lines) + "\n)"
