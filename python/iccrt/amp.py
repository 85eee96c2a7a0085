"""Mixed precision: autocast regions and GradScaler (torch.amp's names).

Inside `autocast(dtype=...)`, matmul / linear / bmm / scaled_dot_product_attention / conv2d compute in that
dtype (their inputs are cast; gradients flow back to the float32 parameters in float32), while layer_norm,
softmax, log_softmax and cross_entropy compute in float32, and binary elementwise ops between two floating
dtypes give the wider one. Parameters stay float32: autocast changes how ops run, not what is stored.

float16 has a narrow exponent range, so float16 training scales the loss up before backward to keep small
gradients from flushing to zero, and scales gradients back down before the step: GradScaler. bfloat16 has
float32's range and needs no scaler.

    scaler = iccrt.amp.GradScaler()
    with iccrt.autocast("cuda", dtype=iccrt.float16):
        loss = model(x, y)
    scaler.scale(loss).backward()
    scaler.unscale_(opt)                      # optional: only to clip gradients before the step
    iccrt.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
    scaler.step(opt)                          # skipped when a gradient is inf or NaN
    scaler.update()
"""

import functools

from . import _C
from ._C import Tensor
from .autograd import no_grad

__all__ = ["GradScaler", "autocast", "is_autocast_enabled"]


def is_autocast_enabled():
    return _C._get_autocast()[0]


class autocast:  # noqa: N801 - torch's name
    """Runs the region with autocast to `dtype` (context manager or decorator); restores the previous state on exit.

    device_type: "cuda" or "cpu" (for torch compatibility; the setting applies to ops on either device). dtype
    defaults to float16 for "cuda" and bfloat16 otherwise. enabled=False runs the region without autocast (e.g.
    a float32 island inside an autocast region).
    """

    def __init__(self, device_type="cuda", dtype=None, enabled=True):
        if device_type not in ("cuda", "cpu"):
            raise ValueError(f"autocast: device_type must be 'cuda' or 'cpu', got {device_type!r}")
        if dtype is None:
            dtype = _C.float16 if device_type == "cuda" else _C.bfloat16
        if dtype not in (_C.float16, _C.bfloat16):
            raise TypeError(f"autocast: dtype must be float16 or bfloat16, got {dtype!r}")
        self.device_type = device_type
        self.dtype = dtype
        self.enabled = bool(enabled)
        self._saved = []

    def __enter__(self):
        self._saved.append(_C._get_autocast())
        _C._set_autocast(self.enabled, self.dtype)
        return self

    def __exit__(self, *exc):
        enabled, dtype = self._saved.pop()
        _C._set_autocast(enabled, dtype)
        return False

    def __call__(self, fn):
        settings = (self.device_type, self.dtype, self.enabled)

        @functools.wraps(fn)
        def wrapper(*args, **kwargs):
            with autocast(*settings):
                return fn(*args, **kwargs)

        return wrapper


class GradScaler:
    """Dynamic loss scaling for float16 training.

    The scale starts at init_scale. A step whose gradients contain inf or NaN is skipped and the scale is
    multiplied by backoff_factor; after growth_interval clean steps in a row it is multiplied by growth_factor.
    The inf/NaN check costs one host synchronisation per optimizer step. enabled=False makes every method a
    pass-through (scale() returns its input, step() just steps), so one training loop serves both precisions.
    """

    def __init__(self, device="cuda", init_scale=2.0**16, growth_factor=2.0, backoff_factor=0.5,
                 growth_interval=2000, enabled=True):
        if init_scale <= 0:
            raise ValueError(f"GradScaler: init_scale must be positive, got {init_scale}")
        if growth_factor <= 1.0:
            raise ValueError(f"GradScaler: growth_factor must be > 1, got {growth_factor}")
        if not 0.0 < backoff_factor < 1.0:
            raise ValueError(f"GradScaler: backoff_factor must be in (0, 1), got {backoff_factor}")
        if growth_interval <= 0:
            raise ValueError(f"GradScaler: growth_interval must be positive, got {growth_interval}")
        self.device = device
        self._enabled = bool(enabled)
        self._scale = float(init_scale)
        self._growth_factor = float(growth_factor)
        self._backoff_factor = float(backoff_factor)
        self._growth_interval = int(growth_interval)
        self._growth_tracker = 0
        self._per_optimizer = {}  # id(optimizer) -> {"unscaled": bool, "stepped": bool, "found_inf": bool}

    def is_enabled(self):
        return self._enabled

    def get_scale(self):
        """The current scale (1.0 when disabled)."""
        return self._scale if self._enabled else 1.0

    def scale(self, outputs):
        """outputs * scale: a tensor, or a list / tuple of tensors (nested)."""
        if not self._enabled:
            return outputs
        if isinstance(outputs, Tensor):
            return outputs * self._scale
        if isinstance(outputs, (list, tuple)):
            return type(outputs)(self.scale(o) for o in outputs)
        raise TypeError(f"GradScaler.scale expects tensors, got {type(outputs).__name__}")

    def _state(self, optimizer):
        return self._per_optimizer.setdefault(id(optimizer), {"unscaled": False, "stepped": False,
                                                               "found_inf": False})

    def unscale_(self, optimizer):
        """Divides the gradients of `optimizer`'s parameters by the scale (in place) and records whether any is inf
        or NaN. At most once per optimizer between update() calls (RuntimeError otherwise)."""
        if not self._enabled:
            return
        state = self._state(optimizer)
        if state["unscaled"]:
            raise RuntimeError("unscale_() has already been called on this optimizer since the last update()")
        if state["stepped"]:
            raise RuntimeError("unscale_() is being called after step(); call update() first")
        inv = 1.0 / self._scale
        counts = []
        with no_grad():
            for group in optimizer.param_groups:
                for p in group["params"]:
                    g = p.grad
                    if g is None:
                        continue
                    g.mul_(inv)
                    # x - x is 0 for every finite x and NaN for inf and NaN (exact, no overflow, no NaN rules
                    # of max kernels involved).
                    counts.append(((g - g) != 0).sum())
        if counts:
            total = _C.stack([c.to(device=counts[0].device) for c in counts], 0).sum()
            state["found_inf"] = total.item() > 0
        else:
            state["found_inf"] = False
        state["unscaled"] = True

    def step(self, optimizer, *args, **kwargs):
        """Unscales (unless unscale_ ran already) and steps the optimizer unless a gradient was inf or NaN.
        Returns the optimizer step's return value, or None when skipped."""
        if not self._enabled:
            return optimizer.step(*args, **kwargs)
        state = self._state(optimizer)
        if state["stepped"]:
            raise RuntimeError("step() has already been called on this optimizer since the last update()")
        if not state["unscaled"]:
            self.unscale_(optimizer)
        state["stepped"] = True
        if state["found_inf"]:
            return None
        return optimizer.step(*args, **kwargs)

    def update(self, new_scale=None):
        """Adjusts the scale after this iteration's steps (or sets new_scale) and resets the per-step records."""
        if not self._enabled:
            return
        if new_scale is not None:
            if isinstance(new_scale, Tensor):
                new_scale = new_scale.item()
            if new_scale <= 0:
                raise ValueError(f"GradScaler.update: new_scale must be positive, got {new_scale}")
            self._scale = float(new_scale)
        else:
            if not any(s["unscaled"] for s in self._per_optimizer.values()):
                raise RuntimeError("update() without an inf check: call step() (or unscale_()) first")
            if any(s["found_inf"] for s in self._per_optimizer.values()):
                self._scale *= self._backoff_factor
                self._growth_tracker = 0
            else:
                self._growth_tracker += 1
                if self._growth_tracker == self._growth_interval:
                    self._scale *= self._growth_factor
                    self._growth_tracker = 0
        self._per_optimizer.clear()

    def state_dict(self):
        if not self._enabled:
            return {}
        return {"scale": self._scale, "growth_factor": self._growth_factor, "backoff_factor": self._backoff_factor,
                "growth_interval": self._growth_interval, "_growth_tracker": self._growth_tracker}

    def load_state_dict(self, state_dict):
        if not self._enabled:
            return
        if not state_dict:
            raise ValueError("GradScaler.load_state_dict: the state dict is empty (saved from a disabled scaler)")
        self._scale = float(state_dict["scale"])
        self._growth_factor = float(state_dict["growth_factor"])
        self._backoff_factor = float(state_dict["backoff_factor"])
        self._growth_interval = int(state_dict["growth_interval"])
        self._growth_tracker = int(state_dict["_growth_tracker"])
