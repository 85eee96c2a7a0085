"""DistributedDataParallel: torch's data-parallel wrapper over iccrt's C++ reducer.

    dist.init_process_group()
    model = DistributedDataParallel(Net())                  # every rank now holds rank 0's parameters
    opt = iccrt.optim.AdamW(model.parameters(), lr=1e-3)
    for x, y in loader:                                     # each rank its own share of the batch
        loss = F.cross_entropy(model(x), y)
        loss.backward()                                     # .grad averaged over the ranks when it returns
        opt.step(); opt.zero_grad()

The gradient work happens in C++ (``iccrt::parallel::Reducer``, docs/ddp.md): gradients are packed in buckets in
reverse registration order and each bucket's all-reduce starts, asynchronously, as soon as its last gradient is
ready, so communication overlaps the rest of the backward pass. With a mean loss, N ranks with batch B/N step
exactly like one process with batch B.
"""

import contextlib
import math
import numbers

from .. import _C
from .. import distributed as dist
from .._C import Tensor, is_grad_enabled
from ..nn.modules.module import Module
from . import comm_hooks

__all__ = ["DistributedDataParallel"]

_MB = 1024 * 1024
_FIRST_BUCKET_BYTES = 1 * _MB  # torch's default first bucket: small, so that communication starts early


def _output_tensors(out, found):
    """Every tensor in a forward's output (tuples, lists, dicts, nested)."""
    if isinstance(out, Tensor):
        found.append(out)
    elif isinstance(out, (list, tuple)):
        for o in out:
            _output_tensors(o, found)
    elif isinstance(out, dict):
        for o in out.values():
            _output_tensors(o, found)
    return found


def _single_device(module):
    devices = {t.device for t in list(module.parameters()) + list(module.buffers())}
    if len(devices) > 1:
        raise ValueError("DistributedDataParallel: the module's parameters and buffers are on several devices "
                         f"({', '.join(sorted(str(d) for d in devices))}); one device per process is supported")
    return devices.pop() if devices else None


def _check_devices(device, device_ids, output_device):
    """torch's rules for a single-device module: CPU takes no device_ids; CUDA takes None or [its device]."""
    if device_ids is not None:
        if device is None or device.type == "cpu":
            raise ValueError("DistributedDataParallel: device_ids must be None for a module on the CPU, got "
                             f"{device_ids!r}")
        ids = list(device_ids)
        if len(ids) != 1:
            raise ValueError("DistributedDataParallel: one device per process is supported; device_ids must hold "
                             f"the module's device only, got {device_ids!r}")
        idx = ids[0].index if hasattr(ids[0], "index") else ids[0]
        if idx != device.index:
            raise ValueError(f"DistributedDataParallel: device_ids={device_ids!r} but the module is on {device}")
    if output_device is not None and device is not None:
        idx = output_device.index if hasattr(output_device, "index") else output_device
        if isinstance(output_device, str):
            idx = _C.device(output_device).index
        if device.type == "cpu" or idx != device.index:
            raise ValueError(f"DistributedDataParallel: output_device={output_device!r}, but outputs stay on the "
                             f"module's device ({device})")


class DistributedDataParallel(Module):
    """Wraps ``module`` for data-parallel training over ``process_group`` (the default group when None).

    Construction is collective: every rank must pass a module with the same parameters and buffers (ValueError
    naming the first differing rank and parameter otherwise); rank 0's values are then broadcast to all.
    ``bucket_cap_mb``: gradient bucket size in MiB (the first bucket is at most 1 MiB). ``find_unused_parameters``:
    allow parameters that get no gradient in a step (they contribute zeros; those no rank used keep their .grad).
    ``gradient_as_bucket_view``: .grad becomes a view into the bucket (no copy; keep it with
    ``zero_grad(set_to_none=False)``). ``static_graph``: the used parameters never change; found once.
    ``broadcast_buffers``: rank 0's buffers are copied to every rank before each forward. ``device_ids``,
    ``output_device`` and ``dim`` are torch's multi-device arguments: one device per process is supported, so they
    may only name the module's own device.

    Parameters must not be replaced after wrapping (``module.to()`` before, as in torch).
    """

    def __init__(self, module, device_ids=None, output_device=None, dim=0, broadcast_buffers=True,
                 process_group=None, bucket_cap_mb=25, find_unused_parameters=False, gradient_as_bucket_view=False,
                 static_graph=False):
        super().__init__()
        if not isinstance(module, Module):
            raise TypeError(f"DistributedDataParallel expects an iccrt.nn.Module, got {type(module).__name__}")
        if bucket_cap_mb is None:
            bucket_cap_mb = 25
        if isinstance(bucket_cap_mb, bool) or not isinstance(bucket_cap_mb, numbers.Real):
            raise TypeError(f"DistributedDataParallel: bucket_cap_mb must be a number, got {bucket_cap_mb!r}")
        if not (math.isfinite(bucket_cap_mb) and bucket_cap_mb > 0):
            raise ValueError(f"DistributedDataParallel: bucket_cap_mb must be a positive number, got {bucket_cap_mb}")
        if not isinstance(dim, int) or isinstance(dim, bool):
            raise TypeError(f"DistributedDataParallel: dim must be an int, got {dim!r}")
        device = _single_device(module)
        _check_devices(device, device_ids, output_device)
        pg = dist._group(process_group)
        if pg is None:
            raise ValueError("DistributedDataParallel: this rank is not a member of process_group")
        named = list(module.named_parameters())
        if not any(p.requires_grad for _, p in named):
            raise ValueError("DistributedDataParallel: the module has no parameter that requires grad; there is "
                             "nothing to synchronise")
        self.module = module
        self.device_ids = None if device_ids is None else list(device_ids)
        self.output_device = output_device
        self.dim = dim
        self.broadcast_buffers = bool(broadcast_buffers)
        self.process_group = pg
        self.find_unused_parameters = bool(find_unused_parameters)
        self.gradient_as_bucket_view = bool(gradient_as_bucket_view)
        self.static_graph = bool(static_graph)
        self.bucket_bytes_cap = max(1, int(bucket_cap_mb * _MB))
        self._hook_registered = False
        self._reducer = _C._parallel.Reducer(
            [p for _, p in named], pg, [n for n, _ in named], self.bucket_bytes_cap,
            min(_FIRST_BUCKET_BYTES, self.bucket_bytes_cap), self.find_unused_parameters,
            self.gradient_as_bucket_view, self.static_graph, "allreduce")
        buffers = list(module.named_buffers())
        _C._parallel.check_same_across_ranks(pg, [b for _, b in buffers], [n for n, _ in buffers], "buffers")
        _C._parallel.broadcast_coalesced(pg, [p for _, p in named] + [b for _, b in buffers], 0)

    def forward(self, *inputs, **kwargs):
        if self.broadcast_buffers and self.process_group.size() > 1:
            buffers = list(self.module.buffers())
            if buffers:
                _C._parallel.broadcast_coalesced(self.process_group, buffers, 0)
        out = self.module(*inputs, **kwargs)
        if is_grad_enabled() and self._reducer.require_backward_grad_sync:
            # Stamps the end of forward for last_step_stats(); walks the graph only when unused parameters are
            # tracked.
            tracked = self.find_unused_parameters or self.static_graph
            self._reducer.prepare_for_backward(_output_tensors(out, []) if tracked else [])
        return out

    @contextlib.contextmanager
    def no_sync(self):
        """Backward passes inside accumulate gradients locally without communicating; the first backward after
        the block averages the accumulated sum over the ranks."""
        previous = self._reducer.require_backward_grad_sync
        self._reducer.require_backward_grad_sync = False
        try:
            yield
        finally:
            self._reducer.require_backward_grad_sync = previous

    @property
    def require_backward_grad_sync(self):
        return self._reducer.require_backward_grad_sync

    @require_backward_grad_sync.setter
    def require_backward_grad_sync(self, on):
        self._reducer.require_backward_grad_sync = bool(on)

    def register_comm_hook(self, state, hook):
        """Selects what each gradient bucket's communication does: one of the built-ins of
        ``iccrt.parallel.comm_hooks`` (allreduce_hook, bf16_compress_hook, fp16_compress_hook); ``state`` is None
        or this DDP's process group. Once, before the first backward pass (RuntimeError otherwise)."""
        name = comm_hooks._builtin_name(hook)
        if state is not None and dist._group(state) is not self.process_group:
            raise ValueError("register_comm_hook: state must be None or this DistributedDataParallel's process group "
                             "(the built-in hooks communicate over it)")
        if self._hook_registered:
            raise RuntimeError("register_comm_hook can only be called once")
        if self._reducer.last_step_stats()["step"] > 0:
            raise RuntimeError("register_comm_hook must be called before the first backward pass")
        self._reducer.comm_hook = name
        self._hook_registered = True

    def last_step_stats(self):
        """The overlap record of the last synchronised backward pass: per bucket (in launch order) its size,
        when its all-reduce started and completed; when the backward pass ended; how many buckets were launched
        before that; the all-reduce time and the fraction of it hidden behind the backward pass. Times in seconds
        since the first gradient of that pass was ready; first_grad_after_forward_s: from the end of forward to
        that first gradient (docs/ddp.md)."""
        return self._reducer.last_step_stats()

    def bucket_parameter_names(self):
        """The parameters of each bucket, by name, in bucket (= launch) order."""
        names = [n for n, _ in self.module.named_parameters()]
        return [[names[i] for i in self._reducer.bucket_params(b)] for b in range(self._reducer.num_buckets)]

    def extra_repr(self):
        return (f"world_size={self.process_group.size()}, bucket_cap_mb={self.bucket_bytes_cap / _MB:g}, "
                f"find_unused_parameters={self.find_unused_parameters}, "
                f"gradient_as_bucket_view={self.gradient_as_bucket_view}")
