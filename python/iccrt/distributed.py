"""iccrt.distributed: collective communication with torch.distributed's names and semantics.

    >>> import iccrt, iccrt.distributed as dist
    >>> dist.init_process_group()            # RANK / WORLD_SIZE / MASTER_ADDR / MASTER_PORT, mpirun or Slurm
    >>> t = iccrt.ones(4)
    >>> dist.all_reduce(t)                    # in place; t == world size everywhere
    >>> work = dist.all_reduce(t, op=dist.ReduceOp.MAX, async_op=True)
    >>> work.wait()

One process group implementation serves every backend name: CPU tensors go through iccrt's own algorithms
(shared memory between ranks of one machine, MPI point-to-point between machines) and CUDA tensors through NCCL.

Ranks. As in torch.distributed, ``src`` / ``dst`` arguments are *global* ranks (ranks in the default group) even
when ``group=`` is a sub-group; they are translated to the group's own rank, and a rank outside the group is a
ValueError. The keyword-only ``group_src`` / ``group_dst`` take a rank of ``group`` directly (torch >= 2.5).
``get_rank(group)`` is the rank within ``group``. On a rank that is not a member of ``group``
(``GroupMember.NON_GROUP_MEMBER``, what ``new_group`` returns there) every op is a no-op returning None, and
``get_rank`` / ``get_world_size`` return -1, as in torch.distributed.

Errors. A peer that dies or leaves raises ``DistError`` (a RuntimeError) naming it; a wait that runs past the
group's timeout raises ``DistTimeoutError`` (a DistError and a TimeoutError) naming the op, the group, its sequence
number and the ranks that did not arrive. Bad shapes raise ValueError, dtype mismatches TypeError. After a failure a
group is unusable: later ops on it fail at once with the first error. With ``ICCRT_DEBUG=1`` every collective first
checks that all ranks call the same op with the same count, dtype and root, and reports each rank's call otherwise.

Every op is queued on the group's worker thread; ``async_op=True`` returns a ``Work`` (``wait()``,
``is_completed()``), otherwise the call waits and returns None. A tensor given to an async op must not be used
until its Work is waited on. Ops of one group run in issue order, ops of different groups concurrently.
"""

import atexit
import datetime
import hashlib
import os
import time

from . import _C

_D = _C._distributed

ReduceOp = _D.ReduceOp
DistError = _D.DistError
DistTimeoutError = _D.DistTimeoutError
ProcessGroup = _D.ProcessGroup
Store = _D.Store
HashStore = _D.HashStore
TCPStore = _D.TcpStore
TcpStore = _D.TcpStore

__all__ = [
    "Backend", "DistError", "DistTimeoutError", "GroupMember", "HashStore", "ProcessGroup", "ReduceOp", "Store",
    "TCPStore", "TcpStore", "Work", "all_gather", "all_gather_into_tensor", "all_reduce", "all_to_all",
    "all_to_all_single", "barrier", "broadcast", "destroy_process_group", "flight_record", "get_backend",
    "get_global_rank", "get_group_rank", "get_process_group_ranks", "get_rank", "get_world_size", "init_process_group",
    "irecv", "is_available", "is_initialized", "is_nccl_available", "isend", "new_group", "recv",
    "reduce", "reduce_scatter", "reduce_scatter_tensor", "send", "split_group",
]

_NOT_INITIALIZED = ("Default process group has not been initialized, please make sure to call "
                    "init_process_group.")


class Backend(str):
    """Backend names accepted by init_process_group / get_backend. They all select the same iccrt group: "nccl"
    only says that CUDA tensors use NCCL (which they always do), "gloo" and "mpi" are accepted for scripts
    written for torch.distributed. ``Backend("NCCL") == "nccl"``."""

    ICCRT = "iccrt"
    GLOO = "gloo"
    MPI = "mpi"
    NCCL = "nccl"

    def __new__(cls, name):
        if not isinstance(name, str):
            raise TypeError(f"Backend name must be a string, got {type(name).__name__}")
        value = name.lower()
        # torch's "cpu:gloo,cuda:nccl" form: every part must name a known backend.
        parts = [p.split(":", 1)[-1] for p in value.split(",")]
        if not parts or any(p not in ("iccrt", "gloo", "mpi", "nccl") for p in parts):
            raise ValueError(f"unknown backend '{name}' (expected iccrt, gloo, mpi, nccl, or device:backend pairs "
                             "such as 'cpu:gloo,cuda:nccl'); they all use the same iccrt process group")
        return str.__new__(cls, value)


class GroupMember:
    """``WORLD`` (None) stands for the default group; ``NON_GROUP_MEMBER`` is what new_group / split_group give a
    rank that is not in the new group."""

    WORLD = None

    class _NonMember:
        def __repr__(self):
            return "GroupMember.NON_GROUP_MEMBER"

        def __bool__(self):
            return False

    NON_GROUP_MEMBER = _NonMember()


class Work:
    """Handle of an asynchronous op, returned by every op called with ``async_op=True``.

    ``wait()`` blocks until the op finished (the op itself is bounded by the group's timeout) and raises its
    error, if any; results are in the output tensors once it returns. ``is_completed()`` never blocks.
    """

    __slots__ = ("_work", "_after", "_result")

    def __init__(self, work, after=None, result=None):
        self._work = work
        self._after = after
        self._result = result

    def wait(self, timeout=None):
        """Waits for the op and raises its error. ``timeout`` (seconds or timedelta) bounds this wait only; on
        expiry a DistTimeoutError is raised and the op keeps running. Returns True."""
        seconds = _seconds(timeout, "timeout")
        if seconds is not None:
            deadline = time.monotonic() + seconds
            delay = 1e-4
            while not self._work.is_completed():
                if time.monotonic() >= deadline:
                    raise DistTimeoutError(f"Work.wait: {self._work.description} did not complete within "
                                           f"{seconds:g} s")
                time.sleep(delay)
                delay = min(delay * 2, 0.01)
        self._work.wait()
        after, self._after = self._after, None
        if after is not None:
            after()
        return True

    def is_completed(self):
        """True once the op finished, successfully or not (never blocks). Outputs that are copied after the op
        (all_gather / all_to_all into a list) are filled in by wait()."""
        return self._work.is_completed()

    def is_success(self):
        """True when the op finished without error."""
        return self._work.is_completed() and self._work.exception_text() is None

    def exception(self):
        """The op's error as a Python exception (DistError, DistTimeoutError, ValueError, ...), or None."""
        return self._work.exception()

    def result(self):
        """The op's output tensors (a list), as torch's Work.result()."""
        return list(self._result or [])

    @property
    def description(self):
        """What the op is: name, dtype, count, group and sequence number."""
        return self._work.description

    def __repr__(self):
        return repr(self._work).replace("<iccrt Work", "<iccrt.distributed.Work", 1)


# ---------------------------------------------------------------------------------------------------------------
# State of this process: the default group and the groups made from it.

class _State:
    def __init__(self):
        self.default_pg = None
        self.backend = None
        self.groups = []  # every live group made here, default first (shut down at exit)


_state = _State()


def _shutdown_all():
    # At exit, before the interpreter goes away: stop the workers while the GIL can still be released.
    groups, _state.groups = _state.groups, []
    for pg in reversed(groups):
        try:
            pg.shutdown()
        except Exception:  # noqa: BLE001 - best effort at exit
            pass
    _state.default_pg = None
    _state.backend = None


atexit.register(_shutdown_all)


def _seconds(timeout, what="timeout"):
    if timeout is None:
        return None
    if isinstance(timeout, datetime.timedelta):
        s = timeout.total_seconds()
    elif isinstance(timeout, (int, float)) and not isinstance(timeout, bool):
        s = float(timeout)
    else:
        raise TypeError(f"{what} must be a datetime.timedelta or a number of seconds, got {type(timeout).__name__}")
    if not s > 0:
        raise ValueError(f"{what} must be positive, got {timeout!r}")
    return s


def _default():
    if _state.default_pg is None:
        raise RuntimeError(_NOT_INITIALIZED)
    return _state.default_pg


def _group(group):
    """The ProcessGroup for `group` (None: the default group), or None on a rank that is not a member."""
    if group is None:
        return _default()
    if group is GroupMember.NON_GROUP_MEMBER:
        _default()
        return None
    if not isinstance(group, ProcessGroup):
        raise TypeError(f"group must be a ProcessGroup, GroupMember.WORLD or None, got {type(group).__name__}")
    return group


def _reduce_op(op):
    if isinstance(op, ReduceOp):
        return op
    if isinstance(op, str):
        names = {"sum": ReduceOp.SUM, "product": ReduceOp.PRODUCT, "prod": ReduceOp.PRODUCT, "min": ReduceOp.MIN,
                 "max": ReduceOp.MAX, "avg": ReduceOp.AVG}
        if op.lower() in names:
            return names[op.lower()]
        raise ValueError(f"unknown reduce op '{op}' (expected SUM, PRODUCT, MIN, MAX or AVG)")
    raise TypeError(f"op must be a ReduceOp, got {type(op).__name__}")


def _tensor(t, what):
    if not isinstance(t, _C.Tensor):
        raise TypeError(f"{what} must be an iccrt.Tensor, got {type(t).__name__}")
    return t


def _tensor_list(ts, what):
    if not isinstance(ts, (list, tuple)):
        raise TypeError(f"{what} must be a list of iccrt.Tensor, got {type(ts).__name__}")
    for i, t in enumerate(ts):
        _tensor(t, f"{what}[{i}]")
    return ts


def _same_dtype(what, expected, t, name):
    if t.dtype != expected:
        raise TypeError(f"{what}: {name} has dtype {t.dtype.name}, expected {expected.name}")


def _to_group_rank(pg, rank, group_rank, what):
    """Translates a global rank (src= / dst=) or takes a group rank (group_src= / group_dst=)."""
    if group_rank is not None:
        if rank is not None:
            raise ValueError(f"{what}: give either a global rank or a group rank, not both")
        if not 0 <= group_rank < pg.size():
            raise ValueError(f"{what}: group rank {group_rank} out of range for group '{pg.name()}' of size "
                             f"{pg.size()}")
        return int(group_rank)
    if rank is None:
        raise ValueError(f"{what}: a rank is required")
    ranks = pg.world_ranks()
    try:
        return ranks.index(int(rank))
    except ValueError:
        raise ValueError(f"{what}: global rank {rank} is not part of group '{pg.name()}' (its global ranks: "
                         f"{ranks})") from None


def _finish(work, async_op, after=None, result=None):
    w = Work(work, after, result)
    if async_op:
        return w
    w.wait()
    return None


def _flat(n, like):
    from . import _factories
    return _factories.empty(n, dtype=like.dtype, device=like.device)


# ---------------------------------------------------------------------------------------------------------------
# Initialisation and groups

def is_available():
    """True: iccrt always has its collective layer."""
    return True


def is_nccl_available():
    """Whether CUDA tensors can be reduced through NCCL (a CUDA build)."""
    return _C._cuda_compiled()


def is_initialized():
    """Whether init_process_group has run (and destroy_process_group has not)."""
    return _state.default_pg is not None


def _tcp_token(host, port):
    # Every rank derives the same value without talking to the others. ICCRT_STORE_TOKEN makes it a real secret;
    # the fallback only keeps stray connections (another job on the port) out.
    tok = os.environ.get("ICCRT_STORE_TOKEN")
    if tok:
        return tok
    material = f"iccrt-store-py-v1\n{host}\n{port}\n"
    for n in ("SLURM_JOB_ID", "TORCHELASTIC_RUN_ID", "OMPI_MCA_orte_hnp_uri", "PMIX_NAMESPACE"):
        if n in os.environ:
            material += f"{n}={os.environ[n]}\n"
    return hashlib.sha256(material.encode()).hexdigest()[:32]


def _parse_tcp(init_method):
    rest = init_method[len("tcp://"):].split("?", 1)[0].rstrip("/")
    if rest.startswith("["):  # [ipv6]:port
        host, sep, port = rest[1:].partition("]:")
    else:
        host, sep, port = rest.rpartition(":")
    if not sep or not host or not port.isdigit() or not 1 <= int(port) <= 65535:
        raise ValueError(f"init_method '{init_method}' is not of the form tcp://host:port")
    return host, int(port)


def init_process_group(backend=None, init_method=None, timeout=None, world_size=-1, rank=-1, store=None,
                       group_name=None, pg_options=None, device_id=None):
    """Creates the default process group; collective over every rank.

    Rendezvous, in this order:

    * ``store=`` (a TCPStore / HashStore shared by the ranks): needs ``rank`` and ``world_size``.
    * ``init_method="tcp://host:port"``: needs ``rank`` and ``world_size``; rank 0 runs the TCP store server on
      ``port`` (all interfaces), every rank connects to ``host:port``. Connections present a shared token:
      ``ICCRT_STORE_TOKEN`` when set, else one derived from host, port and the job's id variables.
    * ``init_method=None`` or ``"env://"`` without rank / world_size: from the launcher's environment — mpirun
      (any MPI; the MPI library is the rendezvous), Slurm (``SLURM_PROCID`` / ``SLURM_NTASKS``), or torchrun-style
      ``RANK`` / ``WORLD_SIZE`` / ``MASTER_ADDR`` / ``MASTER_PORT``. With none of them set: a group of one rank.
    * ``"env://"`` (or None) with explicit ``rank`` and ``world_size``: those, with ``MASTER_ADDR`` /
      ``MASTER_PORT`` from the environment (as torch.distributed).

    ``backend``: None, "iccrt", "gloo", "mpi" or "nccl" (or "cpu:gloo,cuda:nccl"): all give the same group, whose
    CPU tensors use iccrt's shared-memory / MPI algorithms and CUDA tensors NCCL. The name is kept for
    get_backend. ``timeout`` (datetime.timedelta or seconds; default ``ICCRT_TIMEOUT``, 300 s) bounds every
    blocking wait of this group and of the rendezvous. ``group_name`` names the group in errors and the flight
    recorder (default "world"). ``pg_options`` and ``device_id`` are accepted for torch compatibility and ignored.

    Raises RuntimeError when already initialised, ValueError for bad arguments or a garbled environment,
    DistTimeoutError when the peers do not all arrive within the timeout.
    """
    if _state.default_pg is not None:
        raise RuntimeError("trying to initialize the default process group twice!")
    name = Backend(backend if backend is not None else "iccrt")
    seconds = _seconds(timeout)
    rank = int(rank)
    world_size = int(world_size)
    if group_name is not None and not isinstance(group_name, str):
        raise TypeError(f"group_name must be a string, got {type(group_name).__name__}")
    gname = group_name or ""
    explicit = rank >= 0 or world_size > 0

    def need_rank_and_size(how):
        if rank < 0 or world_size <= 0:
            raise ValueError(f"init_process_group with {how} needs both rank (>= 0) and world_size (>= 1), got "
                             f"rank={rank}, world_size={world_size}")
        if rank >= world_size:
            raise ValueError(f"rank {rank} is out of range for world_size {world_size}")

    if store is not None:
        if init_method is not None:
            raise ValueError("Cannot specify both init_method and store.")
        if not isinstance(store, Store):
            raise TypeError(f"store must be an iccrt.distributed Store, got {type(store).__name__}")
        need_rank_and_size("store=")
        pg = ProcessGroup.create(rank, world_size, store, name=gname, timeout=seconds)
    elif init_method is None or init_method == "env://":
        if explicit:
            need_rank_and_size("explicit ranks")
            addr = os.environ.get("MASTER_ADDR")
            port = os.environ.get("MASTER_PORT")
            if not addr or not port:
                raise ValueError("init_process_group(rank=, world_size=) without init_method reads MASTER_ADDR and "
                                 "MASTER_PORT from the environment, but they are not set")
            if not port.isdigit() or not 1 <= int(port) <= 65535:
                raise ValueError(f"MASTER_PORT='{port}' is not a TCP port")
            st = TcpStore(addr, int(port), is_server=rank == 0, token=_tcp_token(addr, int(port)), timeout=seconds)
            pg = ProcessGroup.create(rank, world_size, st, name=gname, timeout=seconds)
        else:
            pg = ProcessGroup.from_environment(name=gname, timeout=seconds)
    elif isinstance(init_method, str) and init_method.startswith("tcp://"):
        host, port = _parse_tcp(init_method)
        need_rank_and_size("init_method='tcp://...'")
        st = TcpStore(host, port, is_server=rank == 0, token=_tcp_token(host, port), timeout=seconds)
        pg = ProcessGroup.create(rank, world_size, st, name=gname, timeout=seconds)
    else:
        raise ValueError(f"unsupported init_method {init_method!r}: use 'env://', 'tcp://host:port', or store=")
    _state.default_pg = pg
    _state.backend = name
    _state.groups = [pg]


def destroy_process_group(group=None):
    """Shuts a group down (waits for its queued ops, then leaves it: peers still waiting on this rank fail at
    once, naming it). ``group=None`` destroys the default group and every group made from it, after which
    is_initialized() is False and init_process_group may be called again."""
    if group is None:
        if _state.default_pg is None:
            raise RuntimeError(_NOT_INITIALIZED)
        _shutdown_all()
        return
    pg = _group(group)
    if pg is None:
        return
    pg.shutdown()
    _state.groups = [g for g in _state.groups if g is not pg]
    if pg is _state.default_pg:
        _shutdown_all()


def get_rank(group=None):
    """This process's rank in ``group`` (default: the default group); -1 on a rank that is not a member."""
    pg = _group(group)
    return -1 if pg is None else pg.rank()


def get_world_size(group=None):
    """Number of ranks in ``group`` (default: the default group); -1 on a rank that is not a member."""
    pg = _group(group)
    return -1 if pg is None else pg.size()


def get_backend(group=None):
    """The backend name given to init_process_group ("iccrt" when none was), for any group."""
    _group(group)
    return _state.backend


def get_process_group_ranks(group):
    """The global ranks of ``group``'s members, in group-rank order."""
    pg = _group(group)
    if pg is None:
        raise ValueError("this rank is not a member of the group")
    return list(pg.world_ranks())


def get_group_rank(group, global_rank):
    """The rank in ``group`` of global rank ``global_rank`` (ValueError when it is not a member)."""
    pg = _group(group)
    if pg is None:
        raise ValueError("this rank is not a member of the group")
    return _to_group_rank(pg, global_rank, None, "get_group_rank")


def get_global_rank(group, group_rank):
    """The global rank of ``group``'s rank ``group_rank``."""
    pg = _group(group)
    if pg is None:
        raise ValueError("this rank is not a member of the group")
    ranks = pg.world_ranks()
    if not 0 <= group_rank < len(ranks):
        raise ValueError(f"group rank {group_rank} out of range for group '{pg.name()}' of size {len(ranks)}")
    return ranks[group_rank]


def _register(pg):
    if pg is None:
        return GroupMember.NON_GROUP_MEMBER
    _state.groups.append(pg)
    return pg


def new_group(ranks=None, timeout=None, backend=None, pg_options=None, use_local_synchronization=False,
              group_desc=None):
    """A sub-group of the default group made of global ``ranks`` (default: all); collective over *every* rank
    of the default group, each passing the same list. Group ranks follow the sorted global ranks (as torch).
    Ranks outside the list get ``GroupMember.NON_GROUP_MEMBER``. ``timeout`` (timedelta or seconds) defaults to
    the default group's; ``group_desc`` names the group in errors. ``backend`` / ``pg_options`` are accepted
    and ignored; ``use_local_synchronization=True`` is not supported (ValueError)."""
    world = _default()
    if use_local_synchronization:
        raise ValueError("new_group(use_local_synchronization=True) is not supported: every rank of the default "
                         "group must call new_group")
    if backend is not None:
        Backend(backend)
    if ranks is None:
        ranks = list(range(world.size()))
    ranks = sorted(int(r) for r in ranks)
    seconds = _seconds(timeout)
    pg = world.new_group(ranks, name=group_desc or "", timeout=seconds if seconds is not None else world.timeout())
    return _register(pg)


def split_group(parent_pg=None, split_ranks=None, timeout=None, pg_options=None, group_desc=None):
    """Splits ``parent_pg`` (default: the default group) into disjoint sub-groups; collective over the parent.

    ``split_ranks`` is a list of lists of *parent-group* ranks (as torch.distributed.split_group); each rank gets
    the group whose list holds it (group ranks in ascending parent rank), or None when no list does. For an
    arbitrary color / key split use ``group.split(color, key)``."""
    parent = _group(parent_pg)
    if parent is None:
        return None
    if split_ranks is None or not split_ranks:
        raise ValueError("split_group: split_ranks must be a non-empty list of lists of ranks")
    seen = {}
    for i, lst in enumerate(split_ranks):
        for r in lst:
            r = int(r)
            if not 0 <= r < parent.size():
                raise ValueError(f"split_group: rank {r} out of range for group '{parent.name()}' of size "
                                 f"{parent.size()}")
            if r in seen:
                raise ValueError(f"split_group: rank {r} appears in split {seen[r]} and split {i}")
            seen[r] = i
    me = parent.rank()
    color = seen.get(me, -1)
    seconds = _seconds(timeout)
    pg = parent.split(color, me, name=group_desc or "", timeout=seconds if seconds is not None else parent.timeout())
    if pg is None:
        return None
    return _register(pg)


def flight_record(group=None):
    """The last collectives of ``group`` on this rank (op, size, sequence number, state, times), oldest first, as
    text. Also printed to stderr when an op times out."""
    pg = _group(group)
    return "" if pg is None else pg.flight_record()


# ---------------------------------------------------------------------------------------------------------------
# Collectives

def barrier(group=None, async_op=False, device_ids=None):
    """Blocks until every rank of ``group`` reached it."""
    pg = _group(group)
    if pg is None:
        return None
    return _finish(pg.barrier(), async_op)


def all_reduce(tensor, op=ReduceOp.SUM, group=None, async_op=False, *, algorithm="auto"):
    """Reduces ``tensor`` over every rank of ``group``, in place: afterwards every rank holds the result.

    Any layout (a non-contiguous CPU tensor goes through a contiguous copy that is written back). float16 and
    bfloat16 are reduced in float32; AVG needs a floating dtype (TypeError otherwise). ``algorithm``
    (iccrt extension): "auto" (the tuner, or ICCRT_ALGO), "ring", "tree", "rhd", "rd", "direct",
    "hierarchical"."""
    _tensor(tensor, "all_reduce: tensor")
    op = _reduce_op(op)
    pg = _group(group)
    if pg is None:
        return None
    return _finish(pg.all_reduce(tensor, op, algorithm, not async_op), async_op, result=[tensor])


def reduce(tensor, dst=None, op=ReduceOp.SUM, group=None, async_op=False, *, group_dst=None, algorithm="auto"):
    """Reduces ``tensor`` over ``group`` into ``tensor`` of rank ``dst`` (a global rank; ``group_dst``: a rank of
    ``group``). The other ranks' tensors are left unchanged (torch leaves them unspecified)."""
    _tensor(tensor, "reduce: tensor")
    op = _reduce_op(op)
    pg = _group(group)
    if pg is None:
        return None
    root = _to_group_rank(pg, dst, group_dst, "reduce: dst")
    return _finish(pg.reduce(tensor, root, op, algorithm, not async_op), async_op, result=[tensor])


def broadcast(tensor, src=None, group=None, async_op=False, *, group_src=None, algorithm="auto"):
    """Copies ``tensor`` of rank ``src`` (a global rank; ``group_src``: a rank of ``group``) into ``tensor`` of
    every rank of ``group``. Tensors must have the same number of elements and dtype on every rank."""
    _tensor(tensor, "broadcast: tensor")
    pg = _group(group)
    if pg is None:
        return None
    root = _to_group_rank(pg, src, group_src, "broadcast: src")
    return _finish(pg.broadcast(tensor, root, algorithm, not async_op), async_op, result=[tensor])


def all_gather_into_tensor(output_tensor, input_tensor, group=None, async_op=False, *, algorithm="auto"):
    """Gathers ``input_tensor`` of every rank into ``output_tensor``: rank r's values at elements
    [r * n, (r + 1) * n) in row-major order, n = input_tensor.numel(). So ``output_tensor`` is either the inputs
    concatenated along dim 0 (shape (size * d0, ...)) or stacked (shape (size, *input.shape)); any shape with
    size * n elements is accepted. Same dtype required (TypeError), element count checked (ValueError)."""
    _tensor(output_tensor, "all_gather_into_tensor: output_tensor")
    _tensor(input_tensor, "all_gather_into_tensor: input_tensor")
    pg = _group(group)
    if pg is None:
        return None
    return _finish(pg.all_gather(output_tensor, input_tensor, algorithm, not async_op), async_op, result=[output_tensor])


def all_gather(tensor_list, tensor, group=None, async_op=False, *, algorithm="auto"):
    """Gathers ``tensor`` of every rank into ``tensor_list`` (one tensor per rank of ``group``, each with
    tensor's element count and dtype; any shapes and layouts). Gathers into one flat buffer, then copies rank
    r's block into ``tensor_list[r]`` (with async_op=True, when the Work is waited on)."""
    _tensor(tensor, "all_gather: tensor")
    _tensor_list(tensor_list, "all_gather: tensor_list")
    pg = _group(group)
    if pg is None:
        return None
    n = tensor.numel()
    if len(tensor_list) != pg.size():
        raise ValueError(f"all_gather: tensor_list has {len(tensor_list)} tensors, expected one per rank of group "
                         f"'{pg.name()}' ({pg.size()})")
    for i, t in enumerate(tensor_list):
        _same_dtype("all_gather", tensor.dtype, t, f"tensor_list[{i}]")
        if t.numel() != n:
            raise ValueError(f"all_gather: tensor_list[{i}] has {t.numel()} elements, tensor has {n}")
    flat = _flat(n * pg.size(), tensor)
    work = pg.all_gather(flat, tensor, algorithm, not async_op)

    def scatter_into_list():
        for i, t in enumerate(tensor_list):
            t.copy_(flat.narrow(0, i * n, n).view(t.shape))

    return _finish(work, async_op, scatter_into_list, result=list(tensor_list))


def reduce_scatter_tensor(output, input, op=ReduceOp.SUM, group=None, async_op=False, *, algorithm="auto"):
    """Reduces ``input`` (size * n elements, n = output.numel()) over ``group`` and leaves block r (elements
    [r * n, (r + 1) * n) in row-major order) of the result in ``output`` of rank r."""
    _tensor(output, "reduce_scatter_tensor: output")
    _tensor(input, "reduce_scatter_tensor: input")
    op = _reduce_op(op)
    pg = _group(group)
    if pg is None:
        return None
    return _finish(pg.reduce_scatter(output, input, op, algorithm, not async_op), async_op, result=[output])


def reduce_scatter(output, input_list, op=ReduceOp.SUM, group=None, async_op=False, *, algorithm="auto"):
    """Reduces ``input_list`` (one tensor per rank, each with output's element count and dtype) over ``group``;
    rank r receives the reduction of every rank's ``input_list[r]`` in ``output``. The list is first copied into
    one flat buffer."""
    _tensor(output, "reduce_scatter: output")
    _tensor_list(input_list, "reduce_scatter: input_list")
    op = _reduce_op(op)
    pg = _group(group)
    if pg is None:
        return None
    n = output.numel()
    if len(input_list) != pg.size():
        raise ValueError(f"reduce_scatter: input_list has {len(input_list)} tensors, expected one per rank of group "
                         f"'{pg.name()}' ({pg.size()})")
    for i, t in enumerate(input_list):
        _same_dtype("reduce_scatter", output.dtype, t, f"input_list[{i}]")
        if t.numel() != n:
            raise ValueError(f"reduce_scatter: input_list[{i}] has {t.numel()} elements, output has {n}")
    flat = _flat(n * pg.size(), output)
    for i, t in enumerate(input_list):
        flat.narrow(0, i * n, n).copy_(t.reshape(-1))
    return _finish(pg.reduce_scatter(output, flat, op, algorithm, not async_op), async_op, result=[output])


def all_to_all_single(output, input, output_split_sizes=None, input_split_sizes=None, group=None, async_op=False,
                      *, algorithm="auto"):
    """Splits ``input`` into size equal blocks (row-major), sends block j to rank j, and stores the block from
    rank i at block i of ``output``. Uneven ``*_split_sizes`` are not supported (ValueError); even ones (each
    dim0 / size) are accepted."""
    _tensor(output, "all_to_all_single: output")
    _tensor(input, "all_to_all_single: input")
    pg = _group(group)
    if pg is None:
        return None
    for what, t, splits in (("output_split_sizes", output, output_split_sizes),
                            ("input_split_sizes", input, input_split_sizes)):
        if splits:
            d0 = t.shape[0] if t.dim() else 1
            if len(splits) != pg.size() or any(int(s) * pg.size() != d0 for s in splits):
                raise ValueError(f"all_to_all_single: {what}={list(splits)}: only equal splits (dim 0 / group size) "
                                 "are supported")
    return _finish(pg.all_to_all(output, input, algorithm, not async_op), async_op, result=[output])


def all_to_all(output_tensor_list, input_tensor_list, group=None, async_op=False, *, algorithm="auto"):
    """Sends ``input_tensor_list[j]`` to rank j, which stores it in its ``output_tensor_list[i]`` (i: this rank).
    Every tensor must have the same element count and dtype (the list goes through flat buffers)."""
    _tensor_list(output_tensor_list, "all_to_all: output_tensor_list")
    _tensor_list(input_tensor_list, "all_to_all: input_tensor_list")
    pg = _group(group)
    if pg is None:
        return None
    size = pg.size()
    if len(output_tensor_list) != size or len(input_tensor_list) != size:
        raise ValueError(f"all_to_all: lists have {len(output_tensor_list)} and {len(input_tensor_list)} tensors, "
                         f"expected {size} each")
    ref = input_tensor_list[0]
    n = ref.numel()
    for name, lst in (("input_tensor_list", input_tensor_list), ("output_tensor_list", output_tensor_list)):
        for i, t in enumerate(lst):
            _same_dtype("all_to_all", ref.dtype, t, f"{name}[{i}]")
            if t.numel() != n:
                raise ValueError(f"all_to_all: {name}[{i}] has {t.numel()} elements, expected {n}")
    flat_in = _flat(n * size, ref)
    for i, t in enumerate(input_tensor_list):
        flat_in.narrow(0, i * n, n).copy_(t.reshape(-1))
    flat_out = _flat(n * size, ref)
    work = pg.all_to_all(flat_out, flat_in, algorithm, not async_op)

    def scatter_into_list():
        for i, t in enumerate(output_tensor_list):
            t.copy_(flat_out.narrow(0, i * n, n).view(t.shape))

    return _finish(work, async_op, scatter_into_list, result=list(output_tensor_list))


# ---------------------------------------------------------------------------------------------------------------
# Point to point

def isend(tensor, dst=None, group=None, tag=0, *, group_dst=None):
    """Sends ``tensor`` to rank ``dst`` (global; ``group_dst``: a rank of ``group``) and returns a Work. The
    matching recv must use the same tag and element count. ``tensor`` must not change until the Work is done."""
    _tensor(tensor, "isend: tensor")
    pg = _group(group)
    if pg is None:
        return None
    peer = _to_group_rank(pg, dst, group_dst, "isend: dst")
    return Work(pg.send(tensor, peer, int(tag)), result=[tensor])


def irecv(tensor, src=None, group=None, tag=0, *, group_src=None):
    """Receives into ``tensor`` from rank ``src`` (global; ``group_src``: a rank of ``group``) and returns a
    Work. Receiving from any source (src=None) is not supported."""
    _tensor(tensor, "irecv: tensor")
    pg = _group(group)
    if pg is None:
        return None
    if src is None and group_src is None:
        raise ValueError("irecv: src is required (receiving from any source is not supported)")
    peer = _to_group_rank(pg, src, group_src, "irecv: src")
    return Work(pg.recv(tensor, peer, int(tag)), result=[tensor])


def send(tensor, dst=None, group=None, tag=0, *, group_dst=None):
    """Sends ``tensor`` to ``dst`` and waits until the send completed (see isend). Like MPI, two ranks that both
    send first to each other can block on large messages: order them or use isend."""
    w = isend(tensor, dst, group, tag, group_dst=group_dst)
    if w is not None:
        w.wait()


def recv(tensor, src=None, group=None, tag=0, *, group_src=None):
    """Receives into ``tensor`` from ``src`` and waits (see irecv). Returns the sender's global rank (-1 on a
    non-member)."""
    w = irecv(tensor, src, group, tag, group_src=group_src)
    if w is None:
        return -1
    w.wait()
    pg = _group(group)
    return pg.world_ranks()[_to_group_rank(pg, src, group_src, "recv: src")]
