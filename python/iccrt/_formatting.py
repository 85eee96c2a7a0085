"""repr(tensor), following torch's rules (torch/_tensor_str.py): 4 decimals, a shared column width, integer mode
for floats that are all whole numbers, scientific notation when the magnitudes span more than 1e3 or reach
1e8 or go below 1e-4, summaries with '...' above 1000 elements (3 items at each edge), 80 columns.

Values are formatted from a float64 / int64 / bool NumPy copy of (at most) the printed elements.
"""

import math

import numpy as np

from . import _C

PRECISION = 4
THRESHOLD = 1000
EDGEITEMS = 3
LINEWIDTH = 80

_DEFAULT_DTYPES = (_C.float32, _C.int64, _C.bool)


def _to_host_numpy(t):
    if not t.is_cpu:
        t = t.cpu()
    if t.dtype in (_C.bfloat16, _C.float16):
        t = t.to(dtype=_C.float32)
    a = t.numpy()
    if a.dtype.kind == "f":
        return a.astype(np.float64)
    if a.dtype.kind in "iu":
        return a.astype(np.int64)
    return a.astype(np.bool_)


def _summarized(t, axis=0):
    """The elements that get printed: along every axis longer than 2*EDGEITEMS, only the edges."""
    if axis == t.dim():
        return _to_host_numpy(t)
    n = t.shape[axis]
    if n > 2 * EDGEITEMS:
        parts = [t.narrow(axis, 0, EDGEITEMS), t.narrow(axis, n - EDGEITEMS, EDGEITEMS)]
        return np.concatenate([_summarized(p, axis + 1) for p in parts], axis=axis)
    return _summarized(t, axis + 1)


class _Formatter:
    def __init__(self, values, floating):
        self.floating = floating
        self.int_mode = True
        self.sci_mode = False
        self.max_width = 1
        flat = values.reshape(-1)
        if not floating:
            for v in flat.tolist():
                self.max_width = max(self.max_width, len(str(v)))
            return
        finite = flat[np.isfinite(flat) & (flat != 0)]
        if finite.size == 0:
            return
        absv = np.abs(finite)
        lo, hi = float(absv.min()), float(absv.max())
        vals = finite.tolist()
        self.int_mode = all(v == math.ceil(v) for v in vals)
        if self.int_mode:
            if hi / lo > 1000.0 or hi > 1.0e8:
                self.sci_mode = True
                fmt = f"{{:.{PRECISION}e}}"
                self.max_width = max(len(fmt.format(v)) for v in vals)
            else:
                self.max_width = max(len(f"{v:.0f}") + 1 for v in vals)
        elif hi / lo > 1000.0 or hi > 1.0e8 or lo < 1.0e-4:
            self.sci_mode = True
            fmt = f"{{:.{PRECISION}e}}"
            self.max_width = max(len(fmt.format(v)) for v in vals)
        else:
            fmt = f"{{:.{PRECISION}f}}"
            self.max_width = max(len(fmt.format(v)) for v in vals)

    def format(self, v):
        if self.floating:
            if self.sci_mode:
                s = f"{{:{self.max_width}.{PRECISION}e}}".format(v)
            elif self.int_mode:
                s = f"{v:.0f}"
                if not (math.isinf(v) or math.isnan(v)):
                    s += "."
            else:
                s = f"{{:.{PRECISION}f}}".format(v)
        else:
            s = str(v)
        return " " * (self.max_width - len(s)) + s


def _vector_str(values, size, indent, summarize, fmt):
    element_length = fmt.max_width + 2
    per_line = max(1, int(math.floor((LINEWIDTH - indent) / element_length)))
    items = [fmt.format(v) for v in values.tolist()]
    if summarize and size > 2 * EDGEITEMS:
        items = items[:EDGEITEMS] + [" ..."] + items[-EDGEITEMS:]
    lines = [", ".join(items[i : i + per_line]) for i in range(0, len(items), per_line)]
    return "[" + ("," + "\n" + " " * (indent + 1)).join(lines) + "]"


def _nd_str(values, shape, indent, summarize, fmt):
    """values: the summarised elements; shape: the tensor's real shape (says where '...' goes)."""
    if len(shape) == 0:
        return fmt.format(values.item())
    if len(shape) == 1:
        return _vector_str(values, shape[0], indent, summarize, fmt)
    rows = [_nd_str(values[i], shape[1:], indent + 1, summarize, fmt) for i in range(values.shape[0])]
    if summarize and shape[0] > 2 * EDGEITEMS:
        rows = rows[:EDGEITEMS] + ["..."] + rows[-EDGEITEMS:]
    return "[" + ("," + "\n" * (len(shape) - 1) + " " * (indent + 1)).join(rows) + "]"


def _add_suffixes(text, suffixes, indent):
    parts = [text]
    last_line_len = len(text) - text.rfind("\n") + 1
    for suffix in suffixes:
        if last_line_len + len(suffix) + 2 > LINEWIDTH:
            parts.append(",\n" + " " * indent + suffix)
            last_line_len = indent + len(suffix)
        else:
            parts.append(", " + suffix)
            last_line_len += len(suffix) + 2
    parts.append(")")
    return "".join(parts)


def tensor_repr(t):
    prefix = "tensor("
    indent = len(prefix)
    suffixes = []
    if t.is_cuda:
        suffixes.append(f"device='{t.device}'")
    shape = tuple(t.shape)
    if t.numel() == 0:
        if len(shape) != 1:
            suffixes.append(f"size={shape}")
        if t.dtype != _C.float32:  # nothing to infer the dtype from
            suffixes.append(f"dtype={t.dtype!r}")
        body = "[]"
    else:
        if t.dtype not in _DEFAULT_DTYPES:
            suffixes.append(f"dtype={t.dtype!r}")
        summarize = t.numel() > THRESHOLD
        values = _summarized(t) if summarize else _to_host_numpy(t)
        fmt = _Formatter(values, t.dtype.is_floating_point)
        body = _nd_str(values, shape, indent, summarize, fmt)
    return _add_suffixes(prefix + body, suffixes, indent)
