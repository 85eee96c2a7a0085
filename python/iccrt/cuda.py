"""iccrt.cuda: CUDA device queries and the caching allocator's statistics.

Everything here works in CPU-only builds and on machines without a GPU: is_available() is False,
device_count() is 0 and the memory functions report nothing.
"""

from . import _C


def is_available():
    """Whether iccrt was built with CUDA and at least one CUDA device is visible."""
    return _C._cuda_available()


def is_compiled():
    """Whether this build of iccrt includes CUDA support (independent of any GPU being present)."""
    return _C._cuda_compiled()


def device_count():
    """Number of visible CUDA devices (0 without a GPU or without CUDA support)."""
    return _C._cuda_device_count()


def _index(device):
    if device is None:
        return 0
    if isinstance(device, int):
        return device
    d = device if isinstance(device, _C.device) else _C.device(device)
    if d.type != "cuda":
        raise ValueError(f"expected a CUDA device, got {d}")
    return d.index


def memory_stats(device=None):
    """The caching allocator's counters for a device (bytes allocated / reserved, peaks, device mallocs and
    frees, cache hits, OOMs), or {} when CUDA is not available."""
    if not is_available():
        return {}
    return _C._cuda_memory_stats(_index(device))


def memory_allocated(device=None):
    """Bytes currently handed out by the caching allocator on `device`."""
    return memory_stats(device).get("allocated_bytes", 0)


def memory_reserved(device=None):
    """Bytes the caching allocator holds from the device (handed out + cached)."""
    return memory_stats(device).get("reserved_bytes", 0)


def max_memory_allocated(device=None):
    return memory_stats(device).get("peak_allocated_bytes", 0)


def max_memory_reserved(device=None):
    return memory_stats(device).get("peak_reserved_bytes", 0)


def empty_cache(device=None):
    """Returns cached, unused blocks to the device."""
    if is_available():
        _C._cuda_empty_cache(_index(device))


def reset_peak_memory_stats(device=None):
    if is_available():
        _C._cuda_reset_peak_memory_stats(_index(device))


def synchronize(device=None):
    """Waits for the work this thread queued on the device's current stream (like torch.cuda.synchronize)."""
    _C._cuda_synchronize(_index(device))
