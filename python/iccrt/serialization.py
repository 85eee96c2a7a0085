"""iccrt.save / iccrt.load: checkpoints as safetensors files, without pickle.

save(obj, path) takes a tensor or a nesting of dicts (str or int keys), lists and tuples whose leaves are
tensors, numbers (bool, int, float incl. inf/NaN), strings, None, iccrt dtypes and devices: what model and
optimizer state dicts, step counters, RNG states and configs are made of. Tensors become the file's entries,
named by their path ("model.blocks.0.attn.weight", "optimizer.state.3.exp_avg"), so the file is an ordinary
safetensors file other tools can read; everything else, and the shape of the nesting, is JSON in the header's
__metadata__ under "iccrt.structure". Loading never executes code from the file.

The C++ writer makes the write atomic: the file appears complete under `path` or not at all (an existing file
is replaced only by a complete new one). A truncated or corrupt file raises ValueError on load.
"""

import json
import math
import os

from . import _C
from ._C import Tensor

__all__ = ["load", "save"]

_STRUCTURE_KEY = "iccrt.structure"
_FORMAT_KEY = "format"
_FORMAT = "iccrt-1"


class _Writer:
    def __init__(self):
        self.entries = []
        self.names = set()

    def _name(self, parts):
        base = ".".join(parts) if parts else "tensor"
        name, n = base, 1
        while name in self.names:  # keys containing "." can collide ({"a.b": x, "a": {"b": y}})
            n += 1
            name = f"{base}#{n}"
        self.names.add(name)
        return name

    def node(self, obj, parts):
        """The JSON description of obj; tensors are appended to entries."""
        if isinstance(obj, Tensor):
            name = self._name(parts)
            self.entries.append((name, obj.detach()))
            return {"T": name}
        if obj is None or isinstance(obj, (bool, str)):
            return {"V": obj}
        if isinstance(obj, int):
            return {"V": int(obj)}
        if isinstance(obj, float):
            return {"V": obj} if math.isfinite(obj) else {"F": repr(obj)}
        if isinstance(obj, _C.dtype):
            return {"dtype": obj.name}
        if isinstance(obj, _C.device):
            return {"device": str(obj)}
        if isinstance(obj, dict):
            items = []
            for k, v in obj.items():
                if isinstance(k, bool) or not isinstance(k, (str, int)):
                    raise TypeError(f"iccrt.save: dict keys must be str or int, got {type(k).__name__} at "
                                    f"'{'.'.join(parts) or '<root>'}'")
                items.append([k, self.node(v, parts + [str(k)])])
            return {"D": items}
        if isinstance(obj, (list, tuple)):
            kids = [self.node(v, parts + [str(i)]) for i, v in enumerate(obj)]
            return {"L": kids} if isinstance(obj, list) else {"U": kids}
        # Accept NumPy scalars as the numbers they hold.
        item = getattr(obj, "item", None)
        if type(obj).__module__ == "numpy" and callable(item) and getattr(obj, "ndim", 1) == 0:
            return self.node(item(), parts)
        raise TypeError(f"iccrt.save: can't save a {type(obj).__name__} at '{'.'.join(parts) or '<root>'}' "
                        "(tensors, numbers, strings, None, dtypes, devices, and dicts / lists / tuples of them)")


def save(obj, path):
    """Writes obj (see the module docstring for what it may hold) to `path` atomically.

    Tensors may be on any device and in any layout; they are written contiguous, in host byte order
    (little-endian). Raises TypeError for unsupported objects (before anything is written).
    """
    writer = _Writer()
    structure = writer.node(obj, [])
    meta = {_FORMAT_KEY: _FORMAT, _STRUCTURE_KEY: json.dumps(structure, separators=(",", ":"))}
    _C._save_safetensors(os.fspath(path), writer.entries, meta)


def _rebuild(node, tensors, used):
    if not isinstance(node, dict) or len(node) != 1:
        raise ValueError(f"malformed structure node {node!r}")
    (kind, value), = node.items()
    if kind == "T":
        if value not in tensors:
            raise ValueError(f"the structure refers to a tensor '{value}' the file does not hold")
        used.add(value)
        return tensors[value]
    if kind == "V":
        return value
    if kind == "F":
        if value not in ("inf", "-inf", "nan"):
            raise ValueError(f"bad non-finite float {value!r}")
        return float(value)
    if kind == "dtype":
        dt = getattr(_C, value, None)
        if not isinstance(dt, _C.dtype):
            raise ValueError(f"unknown dtype {value!r}")
        return dt
    if kind == "device":
        return _C.device(value)
    if kind == "D":
        out = {}
        for pair in value:
            if not isinstance(pair, list) or len(pair) != 2 or not isinstance(pair[0], (str, int)):
                raise ValueError(f"malformed dict entry {pair!r}")
            out[pair[0]] = _rebuild(pair[1], tensors, used)
        return out
    if kind in ("L", "U"):
        if not isinstance(value, list):
            raise ValueError(f"malformed sequence {value!r}")
        items = [_rebuild(v, tensors, used) for v in value]
        return items if kind == "L" else tuple(items)
    raise ValueError(f"unknown structure node kind {kind!r}")


def load(path, map_location=None):
    """Reads a file written by save and returns the object (tensors contiguous, on the CPU unless map_location
    names a device). A safetensors file from elsewhere (without iccrt's structure) loads as {name: tensor}.

    ValueError for a truncated, corrupt or inconsistent file (naming the path); OSError-style errors from the
    C++ reader (RuntimeError) when the file cannot be opened.
    """
    path = os.fspath(path)
    entries, meta = _C._load_safetensors(path)
    if map_location is not None:
        from ._tensor import _as_device

        device = _as_device(map_location)
        entries = [(name, t.to(device=device)) for name, t in entries]
    tensors = dict(entries)
    if _STRUCTURE_KEY not in meta:
        return tensors
    if meta.get(_FORMAT_KEY) != _FORMAT:
        raise ValueError(f"{path}: written by an unknown iccrt checkpoint format {meta.get(_FORMAT_KEY)!r}")
    try:
        structure = json.loads(meta[_STRUCTURE_KEY])
        used = set()
        obj = _rebuild(structure, tensors, used)
    except (ValueError, TypeError, RecursionError) as e:
        raise ValueError(f"{path}: not a valid iccrt checkpoint: {e}") from None
    unused = set(tensors) - used
    if unused:
        raise ValueError(f"{path}: not a valid iccrt checkpoint: tensors {sorted(unused)[:5]} are not referenced "
                         "by its structure")
    return obj
