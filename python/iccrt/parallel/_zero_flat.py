"""Flat parameter groups of ZeroDataParallel (zero.py): one padded flat buffer per group, its per-rank shard, the
collectives that keep them consistent, and the autograd Function that hands the module views of the buffer.

A group of P parameters of one dtype and device lives in `full`, a 1-D buffer of `padded` elements (the
parameters back to back in registration order, then zeros up to a multiple of the world size N). Rank r owns
shard r, elements [r * S, (r + 1) * S) with S = padded / N: an autograd leaf that the optimizer updates. At
stages 1 and 2 the shard aliases its slice of `full` (no copy, `full` is always allocated); at stage 3 it has its
own storage and `full` is released whenever no forward or backward needs it (Note [ZeRO-3 parameter storage] in
zero.py).
"""

import weakref

from .. import distributed as dist
from .._factories import empty, zeros
from ..autograd import Function
from ..nn.parameter import Parameter

__all__ = ["FlatGroup", "Gather"]


def _nbytes(t):
    return t.numel() * t.element_size()


class FlatEntry:
    """One original parameter inside a group: where it sits in `full` and every (module, attribute) holding it
    (two or more for tied weights)."""

    __slots__ = ("names", "shape", "numel", "offset", "slots")

    def __init__(self, names, shape, numel, offset, slots):
        self.names = names
        self.shape = shape
        self.numel = numel
        self.offset = offset
        self.slots = slots


class FlatGroup:
    """A flat buffer, its shard and the per-step communication state of one group of parameters.

    params: [(parameter, [qualified names], [(module, attribute)])] in the order they are packed. The parameter
    values are copied in and then broadcast from group rank 0, so every rank starts from rank 0's weights.
    """

    def __init__(self, index, unit, params, stage, pg, reduce_pg, tracker):
        self.index = index
        self.unit = unit  # index of the owning unit (stage 3), 0 (the root) otherwise
        self.stage = stage
        self.pg = pg  # all-gathers and construction broadcasts
        self.reduce_pg = reduce_pg  # gradient reductions (a separate queue: Note [Two process groups] in zero.py)
        self.rank = dist.get_rank(pg)
        self.world = dist.get_world_size(pg)
        self._tracker = tracker  # counts gathered bytes for memory_report
        first = params[0][0]
        self.dtype, self.device = first.dtype, first.device
        self.entries = []
        offset = 0
        for p, names, slots in params:
            self.entries.append(FlatEntry(names, tuple(p.shape), p.numel(), offset, slots))
            offset += p.numel()
        self.numel = offset
        self.shard_numel = -(-offset // self.world)
        self.padded = self.shard_numel * self.world
        self.full = zeros(self.padded, dtype=self.dtype, device=self.device)
        for (p, _, _), e in zip(params, self.entries):
            self.full.narrow(0, e.offset, e.numel).copy_(p.detach().reshape(-1))
        dist.broadcast(self.full, group=pg, group_src=0)
        mine = self.full.narrow(0, self.rank * self.shard_numel, self.shard_numel)
        self.shard = Parameter(mine if stage < 3 else mine.clone())
        # Detached views of `full`, one per parameter: what the modules hold between forwards.
        self.resting = [self.full.narrow(0, e.offset, e.numel).view(list(e.shape)) for e in self.entries]
        self.synced_version = self.shard._version  # `full` holds the shards as of this version
        self.work = None  # an all-gather in flight into `full`
        self.work_version = None
        # Backward state: recorded Gather nodes not yet run (their contexts: a graph dropped without a backward
        # frees its own), local gradient accumulation, the reduction.
        self.live = weakref.WeakSet()
        self.local = None  # local (unreduced) gradient sum of this round, full size
        self.grad_full = None  # stage 1: the persistent full gradient buffer
        self.stash = None  # stage 1: the shard's previous gradient when it lived in grad_full
        self.reduce_work = None
        self.reduce_out = None
        self.reduce_in = None
        self.ready = False
        if stage == 3:
            self.full._release_storage()
        else:
            tracker.restored(_nbytes(self.full))

    # ---- parameters --------------------------------------------------------------------------------------

    @property
    def released(self):
        return self.full._storage_released

    def gather_async(self):
        """Starts bringing `full` up to date (restores its memory first when released); no-op when it already
        is, or an all-gather is in flight."""
        if self.work is not None:
            return
        if self.released:
            self.full._restore_storage()
            self._tracker.restored(_nbytes(self.full))
        elif self.shard._version == self.synced_version:
            return
        self.work_version = self.shard._version
        self.work = dist.all_gather_into_tensor(self.full, self.shard.detach(), group=self.pg, async_op=True)

    def wait_gathered(self):
        """Makes `full` hold every rank's current shard (waiting for a prefetch, or gathering now)."""
        self.gather_async()
        if self.work is not None:
            work, self.work = self.work, None
            work.wait()
            self.synced_version = self.work_version
            if self.shard._version != self.synced_version:  # stepped while a prefetch was in flight
                self.wait_gathered()

    def release(self):
        """Stage 3: frees `full`'s memory (after any all-gather into it finished)."""
        if self.stage < 3 or self.released:
            return
        if self.work is not None:
            work, self.work = self.work, None
            work.wait()
        self.full._release_storage()
        self._tracker.released(_nbytes(self.full))

    def abort_work(self):
        """Forgets in-flight collectives after a failed pass (waiting on them, errors ignored)."""
        for name in ("work", "reduce_work"):
            work = getattr(self, name)
            setattr(self, name, None)
            if work is not None:
                try:
                    work.wait()
                except Exception:  # noqa: BLE001 - the pass already failed with its own error
                    pass
        self.reduce_out = self.reduce_in = None
        self.ready = False

    def install(self, views):
        """Puts one tensor per parameter into every module attribute that holds it."""
        for e, v in zip(self.entries, views):
            for mod, name in e.slots:
                mod.__dict__[name] = v

    def full_copy(self):
        """A new tensor with the whole flat buffer as of the current shards (collective over the group)."""
        if not self.released and self.work is None and self.shard._version == self.synced_version:
            return self.full.clone()
        out = empty(self.padded, dtype=self.dtype, device=self.device)
        dist.all_gather_into_tensor(out, self.shard.detach(), group=self.pg)
        return out

    # ---- gradients ---------------------------------------------------------------------------------------

    def _begin_round(self):
        """A zeroed local buffer for the first gradient of a round (the backward passes up to a synced one)."""
        if self.stage == 1:
            if self.grad_full is None:
                self.grad_full = zeros(self.padded, dtype=self.dtype, device=self.device)
            else:
                g = self.shard.grad
                if g is not None and g._storage_ptr() == self.grad_full._storage_ptr():
                    self.stash = g.clone()  # not zeroed by the user: accumulate onto it at the end
                self.grad_full.zero_()
            self.local = self.grad_full
        else:
            self.local = zeros(self.padded, dtype=self.dtype, device=self.device)

    def accumulate(self, grads):
        """Adds one Gather node's gradients (one per parameter) into the local buffer."""
        if self.local is None:
            self._begin_round()
        for e, g in zip(self.entries, grads):
            if g is not None:
                self.local.narrow(0, e.offset, e.numel).view(list(e.shape)).add_(g)

    def launch_reduce(self):
        """Starts averaging the round's gradient over the ranks: all-reduce of the full buffer (stage 1) or
        reduce-scatter into a new shard-sized tensor (stages 2, 3). A group without gradients this round
        contributes zeros (every rank must take part)."""
        if self.local is None:
            self._begin_round()
        buf, self.local = self.local, None
        if self.stage == 1:
            self.reduce_work = dist.all_reduce(buf, op=dist.ReduceOp.AVG, group=self.reduce_pg, async_op=True)
        else:
            self.reduce_in = buf
            self.reduce_out = empty(self.shard_numel, dtype=self.dtype, device=self.device)
            self.reduce_work = dist.reduce_scatter_tensor(self.reduce_out, buf, op=dist.ReduceOp.AVG,
                                                          group=self.reduce_pg, async_op=True)

    def finish_reduce(self):
        """Waits for the reduction and accumulates the averaged shard gradient into shard.grad."""
        work, self.reduce_work = self.reduce_work, None
        work.wait()
        if self.stage == 1:
            out = self.grad_full.narrow(0, self.rank * self.shard_numel, self.shard_numel)
        else:
            out, self.reduce_out, self.reduce_in = self.reduce_out, None, None
        g = self.shard.grad
        if self.stash is not None:
            out.add_(self.stash)
            self.stash = None
            self.shard.grad = out
        elif g is None or (self.stage == 1 and g._storage_ptr() == out._storage_ptr()):
            self.shard.grad = out
        else:
            g.add_(out)

    def persistent_grad_bytes(self):
        n = 0
        if self.grad_full is not None:
            n += _nbytes(self.grad_full)
        g = self.shard.grad
        if g is not None and (self.grad_full is None or g._storage_ptr() != self.grad_full._storage_ptr()):
            n += _nbytes(g)
        if self.local is not None and self.local is not self.grad_full:
            n += _nbytes(self.local)  # no_sync accumulation held until the synced pass
        return n


class Gather(Function):
    """shard -> one view of the up-to-date flat buffer per parameter of the group.

    forward makes `full` current (waiting for a prefetch or all-gathering now) and returns views of it, so every
    use of a parameter in the module is a use of one of this node's outputs. backward receives the summed
    gradient of every use, per parameter, and hands it to the owner (`owner.on_backward`), which accumulates it
    and reduces it asynchronously; the shard's .grad is set by the owner at the end of the backward pass, so
    backward returns no gradient to the autograd engine.
    """

    @staticmethod
    def forward(ctx, shard, group, owner, sync):
        group.wait_gathered()
        ctx.group, ctx.owner, ctx.sync = group, owner, sync
        group.live.add(ctx)  # dropped at once when nothing is recorded (no_grad)
        return tuple(group.resting)

    @staticmethod
    def backward(ctx, *grads):
        ctx.group.live.discard(ctx)
        ctx.owner.on_backward(ctx.group, grads, ctx.sync)
        return None, None, None, None
