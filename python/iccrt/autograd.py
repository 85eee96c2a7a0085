"""Automatic differentiation: grad-mode switches, backward / grad, custom Functions and a gradient checker.

The graph and the engine are C++ (src/autograd/); this module is the torch-style Python surface over them:

    >>> x = iccrt.randn(3, requires_grad=False).requires_grad_()
    >>> (x * x).sum().backward()
    >>> x.grad  # 2 * x

Grad mode is per thread, like PyTorch's: `no_grad()` in one thread does not stop recording in another.
"""

import functools
import math

from . import _C
from ._C import Tensor

__all__ = [
    "Function",
    "FunctionCtx",
    "backward",
    "enable_grad",
    "grad",
    "gradcheck",
    "is_grad_enabled",
    "no_grad",
    "queue_callback",
    "set_grad_enabled",
]


def is_grad_enabled():
    """Whether ops record on the autograd tape in this thread."""
    return _C.is_grad_enabled()


# ---- grad-mode switches ------------------------------------------------------------------------------------------


class _GradModeSwitch:
    """A context manager and decorator that runs its body with grad mode `_mode`, restoring the previous mode."""

    _mode = True

    def __init__(self):
        self._saved = []  # a stack, so one instance may be entered again while inside itself

    def __enter__(self):
        self._saved.append(_C.is_grad_enabled())
        _C._set_grad_enabled(self._mode)
        return self

    def __exit__(self, *exc):
        _C._set_grad_enabled(self._saved.pop())
        return False

    def __call__(self, fn):
        switch = type(self)

        @functools.wraps(fn)
        def wrapper(*args, **kwargs):
            with switch():
                return fn(*args, **kwargs)

        return wrapper


class no_grad(_GradModeSwitch):  # noqa: N801 - torch's name
    """Ops inside do not record (results have requires_grad False); for evaluation and parameter updates.

        with iccrt.no_grad():
            p -= lr * p.grad

    Also a decorator: `@iccrt.no_grad()`.
    """

    _mode = False


class enable_grad(_GradModeSwitch):  # noqa: N801 - torch's name
    """Turns recording back on inside a no_grad region (context manager or decorator)."""

    _mode = True


class set_grad_enabled:  # noqa: N801 - torch's name
    """set_grad_enabled(mode): sets grad mode at once; as a context manager, restores the previous mode on exit.

        iccrt.set_grad_enabled(False)          # from now on, in this thread
        with iccrt.set_grad_enabled(is_train):  # only inside
            ...

    As a decorator (`@set_grad_enabled(False)`) the mode applies only while the decorated function runs.
    """

    def __init__(self, mode):
        if not isinstance(mode, bool):
            raise TypeError(f"set_grad_enabled expects a bool, got {type(mode).__name__}")
        self._prev = _C.is_grad_enabled()
        self._mode = mode
        _C._set_grad_enabled(mode)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        _C._set_grad_enabled(self._prev)
        return False

    def __call__(self, fn):
        _C._set_grad_enabled(self._prev)  # decorating must not change the mode of the code around it
        mode = self._mode

        @functools.wraps(fn)
        def wrapper(*args, **kwargs):
            with set_grad_enabled(mode):
                return fn(*args, **kwargs)

        return wrapper


# ---- running the graph -------------------------------------------------------------------------------------------


def _tensor_list(x, what):
    if isinstance(x, Tensor):
        return [x]
    try:
        items = list(x)
    except TypeError:
        raise TypeError(f"{what}: expected a tensor or a sequence of tensors, got {type(x).__name__}") from None
    for i, t in enumerate(items):
        if not isinstance(t, Tensor):
            raise TypeError(f"{what}: element {i} is a {type(t).__name__}, not a tensor")
    return items


def _grad_list(grads, n, what):
    if grads is None:
        return [None] * n
    items = [grads] if isinstance(grads, Tensor) else list(grads)
    if len(items) != n:
        raise ValueError(f"{what}: got {len(items)} gradients for {n} outputs")
    for i, g in enumerate(items):
        if g is not None and not isinstance(g, Tensor):
            raise TypeError(f"{what}: gradient {i} is a {type(g).__name__}, not a tensor or None")
    return items


def backward(tensors, grad_tensors=None, retain_graph=False):
    """Accumulates the gradients of `tensors` (weighted by `grad_tensors`) into the .grad of every leaf.

    grad_tensors: one per tensor; None is allowed for one-element tensors (a gradient of 1). Without
    retain_graph the graph's saved tensors are freed, and a second backward through it raises ValueError.
    """
    tensors = _tensor_list(tensors, "backward")
    _C._backward(tensors, _grad_list(grad_tensors, len(tensors), "backward"), bool(retain_graph))


def grad(outputs, inputs, grad_outputs=None, retain_graph=False, allow_unused=False):
    """The gradients of `outputs` with respect to `inputs`, returned as a tuple instead of accumulated into .grad.

    allow_unused: an input the outputs do not depend on gets None (ValueError otherwise).
    """
    outputs = _tensor_list(outputs, "grad")
    inputs = _tensor_list(inputs, "grad")
    grads = _grad_list(grad_outputs, len(outputs), "grad")
    return tuple(_C._grad(outputs, inputs, grads, bool(retain_graph), bool(allow_unused)))


def queue_callback(callback):
    """Runs ``callback()`` once the backward pass running on this thread has finished every node, before
    ``backward()`` returns (torch's ``Variable._execution_engine.queue_callback``). Called from a hook or a custom
    Function's backward; outside a backward pass it raises ValueError. Data parallel waits for its last
    all-reduces this way."""
    if not callable(callback):
        raise TypeError(f"queue_callback: expected a callable, got {type(callback).__name__}")
    _C._queue_callback(callback)


# ---- custom functions --------------------------------------------------------------------------------------------


class FunctionCtx:
    """What a custom Function's forward hands to its backward.

    save_for_backward(*tensors): tensors the backward needs (read back as ctx.saved_tensors; writing one of them
    in place before the backward makes saved_tensors raise ValueError instead of giving a wrong gradient).
    needs_input_grad: one bool per forward argument. mark_non_differentiable(*outputs): outputs (e.g. indices)
    that get no history; the backward receives zeros for them. Any other attribute may be set freely.
    """

    def __init__(self):
        self._saved = ()
        self._non_differentiable = set()
        self.needs_input_grad = ()

    def save_for_backward(self, *tensors):
        saved = []
        for i, t in enumerate(tensors):
            if t is None:
                saved.append(None)
            elif isinstance(t, Tensor):
                # Detached: the data without history, so saving an output makes no reference cycle.
                saved.append((t.detach(), t._version))
            else:
                raise TypeError(f"save_for_backward: argument {i} is a {type(t).__name__}, not a tensor or None")
        self._saved = tuple(saved)

    @property
    def saved_tensors(self):
        out = []
        for i, entry in enumerate(self._saved):
            if entry is None:
                out.append(None)
                continue
            t, version = entry
            if t._version != version:
                raise ValueError(f"saved_tensors: tensor {i} saved for the backward was modified in place since "
                                 f"(version {version} when saved, now {t._version}); clone it before modifying")
            out.append(t)
        return tuple(out)

    def mark_non_differentiable(self, *tensors):
        for t in tensors:
            if not isinstance(t, Tensor):
                raise TypeError(f"mark_non_differentiable expects tensors, got {type(t).__name__}")
            self._non_differentiable.add(id(t))


class Function:
    """Base class of custom differentiable operations (like torch.autograd.Function).

        class Exp(iccrt.autograd.Function):
            @staticmethod
            def forward(ctx, x):
                y = x.exp()
                ctx.save_for_backward(y)
                return y

            @staticmethod
            def backward(ctx, grad_y):
                (y,) = ctx.saved_tensors
                return grad_y * y

        y = Exp.apply(x)

    forward runs under no_grad and returns a tensor or a tuple (non-tensor entries pass through). backward gets
    one gradient per tensor output and returns one entry per forward argument: a tensor of that argument's shape,
    dtype and device, or None (required for non-tensor arguments). Wrong counts, shapes or devices raise
    ValueError when the backward runs.
    """

    @staticmethod
    def forward(ctx, *args, **kwargs):
        raise NotImplementedError("a Function subclass must define forward(ctx, ...)")

    @staticmethod
    def backward(ctx, *grad_outputs):
        raise NotImplementedError("a Function subclass must define backward(ctx, *grads) to be differentiated")

    @classmethod
    def apply(cls, *args, **kwargs):
        ctx = FunctionCtx()
        ctx.needs_input_grad = tuple(isinstance(a, Tensor) and a.requires_grad for a in args)
        with no_grad():
            result = cls.forward(ctx, *args, **kwargs)
        if not (_C.is_grad_enabled() and any(ctx.needs_input_grad)):
            ctx._saved = ()
            return result
        single = not isinstance(result, tuple)
        outputs = (result,) if single else result
        slots = [i for i, o in enumerate(outputs)
                 if isinstance(o, Tensor) and id(o) not in ctx._non_differentiable]
        if not slots:
            return result
        # Fresh handles for the recorder (an output may be an input returned as is).
        fresh = [outputs[i].detach() for i in slots]
        inputs = [a if isinstance(a, Tensor) else None for a in args]
        backward_fn = _make_backward(cls, ctx, args, outputs, slots)
        recorded = _C._record_function(cls.__name__ + "Backward", inputs, fresh, backward_fn)
        final = list(outputs)
        for i, t in zip(slots, recorded):
            final[i] = t
        return final[0] if single else tuple(final)


def _make_backward(cls, ctx, args, outputs, slots):
    """The callable the C++ node runs: maps the recorded outputs' gradients onto the user's backward."""
    n_out = len(outputs)
    # Non-differentiable tensor outputs get zeros of their geometry; non-tensors get None.
    fillers = [None if not isinstance(o, Tensor) else (list(o.shape), o.dtype, o.device) for o in outputs]
    del outputs  # the node must not keep the forward outputs alive
    n_args = len(args)
    arg_is_tensor = [isinstance(a, Tensor) for a in args]
    del args

    def run(*grads):
        full = [None] * n_out
        for i, g in zip(slots, grads):
            full[i] = g
        for i in range(n_out):
            if full[i] is None and fillers[i] is not None:
                shape, dtype, device = fillers[i]
                full[i] = _C._zeros(shape, dtype, device)
        result = cls.backward(ctx, *full)
        if not isinstance(result, tuple):
            result = (result,)
        if len(result) != n_args:
            raise ValueError(f"{cls.__name__}.backward returned {len(result)} gradients, but forward took {n_args} "
                             "arguments (return one per argument, None where there is none)")
        for i, g in enumerate(result):
            if g is None:
                continue
            if not isinstance(g, Tensor):
                raise TypeError(f"{cls.__name__}.backward: gradient {i} is a {type(g).__name__}, not a tensor")
            if not arg_is_tensor[i]:
                raise ValueError(f"{cls.__name__}.backward returned a gradient for argument {i}, which is not a "
                                 "tensor; return None there")
        return tuple(result)

    return run


# ---- gradient checking -------------------------------------------------------------------------------------------


def _as_numpy64(t):
    return t.detach().to(dtype=_C.float64).cpu().numpy().copy()


def gradcheck(fn, inputs, eps=1e-6, atol=1e-5, rtol=1e-3, raise_exception=True):
    """Compares the backward of fn(*inputs) with central finite differences, for float64 inputs.

    Every input tensor with requires_grad is perturbed element by element (through a contiguous copy, so
    non-contiguous inputs are checked through their own layout in the analytic pass). fn may return a tensor or a
    tuple of tensors; each output is weighted by a fixed random-looking projection so one backward checks it.
    Returns True, or raises ValueError naming the input and the worst element (or returns False when
    raise_exception is False).
    """
    import numpy as np

    inputs = tuple(inputs)
    diff = [i for i, a in enumerate(inputs) if isinstance(a, Tensor) and a.requires_grad]
    if not diff:
        raise ValueError("gradcheck: no input requires grad")
    for i in diff:
        if inputs[i].dtype != _C.float64:
            raise TypeError(f"gradcheck: input {i} is {inputs[i].dtype!r}; use float64 inputs for finite differences")

    def outputs_of(args):
        out = fn(*args)
        return out if isinstance(out, tuple) else (out,)

    outs = [o for o in outputs_of(inputs) if isinstance(o, Tensor) and o.dtype.is_floating_point]
    # Fixed weights with no symmetry, so errors cannot cancel between elements.
    weights = [np.cos(np.arange(o.numel(), dtype=np.float64) * 0.731 + 0.3).reshape(list(o.shape)) for o in outs]

    def objective(args):
        with no_grad():
            vals = [o for o in outputs_of(args) if isinstance(o, Tensor) and o.dtype.is_floating_point]
        return math.fsum(float((_as_numpy64(v) * w).sum()) for v, w in zip(vals, weights))

    recorded = [(o, w) for o, w in zip(outs, weights) if o.requires_grad]
    if not recorded:
        raise ValueError("gradcheck: no output requires grad (did fn detach its result?)")
    analytic = grad([o for o, _ in recorded], [inputs[i] for i in diff],
                    [_C.from_numpy(w.copy()).to(dtype=o.dtype, device=o.device) for o, w in recorded],
                    allow_unused=True)

    for k, i in enumerate(diff):
        x = inputs[i]
        base = _as_numpy64(x)
        numeric = np.zeros_like(base)
        flat = numeric.reshape(-1)
        for j in range(base.size):
            vals = []
            for sign in (1.0, -1.0):
                pert = base.copy().reshape(-1)
                pert[j] += sign * eps
                xt = _C.from_numpy(pert.reshape(base.shape)).to(device=x.device)
                args = list(inputs)
                args[i] = xt
                vals.append(objective(args))
            flat[j] = (vals[0] - vals[1]) / (2 * eps)
        got = np.zeros_like(base) if analytic[k] is None else _as_numpy64(analytic[k])
        err = np.abs(got - numeric) - (atol + rtol * np.abs(numeric))
        if (err > 0).any():
            worst = np.unravel_index(int(np.argmax(err)), base.shape) if base.ndim else ()
            if not raise_exception:
                return False
            raise ValueError(f"gradcheck: input {i}: analytic and numerical gradients differ, worst at index "
                             f"{tuple(int(w) for w in worst)}: analytic {got[worst]:.10g}, numerical "
                             f"{numeric[worst]:.10g}")
    return True
