"""Communication hooks for DistributedDataParallel: what happens to each gradient bucket (torch's built-in
``torch.distributed.algorithms.ddp_comm_hooks.default_hooks``).

    ddp = DistributedDataParallel(model)
    ddp.register_comm_hook(None, comm_hooks.bf16_compress_hook)   # half the bytes on the wire

DistributedDataParallel recognises these three functions and runs the same operation in its C++ reducer, on the
backward thread, overlapped with the rest of the backward pass. Called directly, each one does that operation on
one tensor (``state`` is the process group, None for the default one) and returns it, averaged over the ranks.
Custom Python hooks are not supported (``register_comm_hook`` raises TypeError).
"""

from .. import distributed as dist
from .._C import bfloat16, float16

__all__ = ["allreduce_hook", "bf16_compress_hook", "fp16_compress_hook"]


def allreduce_hook(state, bucket):
    """Averages ``bucket`` over the ranks in place (DDP's default): sum, then divide by the world size."""
    dist.all_reduce(bucket, op=dist.ReduceOp.AVG, group=state)
    return bucket


def _compressed(state, bucket, dtype):
    world = dist.get_world_size(state)
    # Divided before the cast: the sum of the compressed values stays in range (float16 overflows at 65504).
    compressed = (bucket / float(world)).to(dtype)
    dist.all_reduce(compressed, op=dist.ReduceOp.SUM, group=state)
    bucket.copy_(compressed)
    return bucket


def bf16_compress_hook(state, bucket):
    """Averages ``bucket`` over the ranks in place, sending bfloat16: 8 significant bits, float32's range."""
    return _compressed(state, bucket, bfloat16)


def fp16_compress_hook(state, bucket):
    """Averages ``bucket`` over the ranks in place, sending float16: 11 significant bits, values up to 65504."""
    return _compressed(state, bucket, float16)


# The reducer's name for each built-in hook.
_BUILTIN = {allreduce_hook: "allreduce", bf16_compress_hook: "bf16_compress", fp16_compress_hook: "fp16_compress"}


def _builtin_name(hook):
    """The C++ reducer's name for a built-in hook; TypeError for anything else."""
    try:
        return _BUILTIN[hook]
    except (KeyError, TypeError):
        pass
    raise TypeError(f"register_comm_hook: unsupported hook {getattr(hook, '__name__', hook)!r}; the supported hooks "
                    "are iccrt.parallel.comm_hooks.allreduce_hook, bf16_compress_hook and fp16_compress_hook "
                    "(custom Python hooks are not supported)")
