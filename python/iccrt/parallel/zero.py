"""ZeroDataParallel: data parallelism with the ZeRO memory optimisations (stages 1, 2 and 3).

    dist.init_process_group()
    model = ZeroDataParallel(GPT(cfg), stage=2)
    opt = iccrt.optim.AdamW(model.parameters(), lr=3e-4)    # this rank's shards only
    loss = model(x, y)[1]; loss.backward(); opt.step(); opt.zero_grad()
    iccrt.save(model.state_dict(), "ckpt.safetensors")      # the full model, plain names, on every rank

The model's parameters are packed into flat groups (_zero_flat.py); each rank owns one 1/N shard of every group,
and parameters() returns those shards, so an optimizer built on them keeps 1/N of the optimizer state (stage 1).
Gradients reach the shards averaged over the ranks: all-reduced with the full gradient kept (stage 1), or
reduce-scattered so that only the shard's gradient remains (stage 2). At stage 3 the full parameters exist only
while a unit (a transformer block, the root's remaining parameters) runs forward or backward.

Note [ZeRO-3 parameter storage]: the modules never hold the original Parameters: their attributes are views of
a group's flat buffer `full`, handed out by the Gather Function (one output per parameter), so every use of a
parameter routes its gradient into Gather's backward. At stage 3 `full` is released (its memory freed, the storage
object and every view kept: StorageImpl::release_memory) when its unit's forward returns. The autograd graph still
holds those views as saved tensors; before the unit's backward nodes run, a hook on the unit's outputs restores
the memory and all-gathers the shards into it again. Collectives write without bumping the storage's version, so
the saved tensors stay valid; shards do not change between a forward and its backward, so the values are those
the forward used. Once every recorded Gather node of the unit has run, nothing needs `full` and it is released
again. A use of a released view (a unit's parameter touched outside its forward) raises "memory was released".

Note [Two process groups]: all-gathers are issued when forward / backward reach a unit (in the order the hooks
fire), reductions in a fixed group order (reverse of packing) as soon as all groups before them are ready, the
rest at the end of the backward pass. Each sequence is the same on every rank, but their interleaving depends on
timing, so reductions use their own group (a split of the process group) and never pair with an all-gather.
"""

import contextlib
import math

from .. import distributed as dist
from .._factories import tensor
from ..autograd import is_grad_enabled, no_grad, queue_callback
from ..nn.modules.container import ModuleList, Sequential
from ..nn.modules.module import Module, _IncompatibleKeys
from ._zero_flat import FlatGroup, Gather

__all__ = ["ZeroDataParallel"]


class _Tracker:
    """Bytes of flat parameter buffers allocated right now, and the most at once (memory_report)."""

    def __init__(self):
        self.now = 0
        self.peak = 0

    def restored(self, n):
        self.now += n
        self.peak = max(self.peak, self.now)

    def released(self, n):
        self.now -= n


def _unit_modules(root, units):
    """The modules that are units: root first, then (depth first) each matching module below it."""
    if units is None:
        marked = set()
        for m in root.modules():
            if isinstance(m, (ModuleList, Sequential)):
                marked.update(id(c) for c in m.children())
        match = lambda m: id(m) in marked  # noqa: E731
    else:
        kinds, ids = [], set()
        for u in units:
            if isinstance(u, type) and issubclass(u, Module):
                kinds.append(u)
            elif isinstance(u, Module):
                ids.add(id(u))
            else:
                raise TypeError(f"ZeroDataParallel: units must be Module subclasses or modules, got {u!r}")
        kinds = tuple(kinds)
        match = lambda m: id(m) in ids or (kinds and isinstance(m, kinds))  # noqa: E731
    return [root] + [m for m in root.modules() if m is not root and match(m)]


def _tensors_in(obj):
    """Every tensor inside a module's output (nested tuples, lists and dict values)."""
    from .._C import Tensor

    if isinstance(obj, Tensor):
        yield obj
    elif isinstance(obj, (tuple, list)):
        for o in obj:
            yield from _tensors_in(o)
    elif isinstance(obj, dict):
        for o in obj.values():
            yield from _tensors_in(o)


class ZeroDataParallel(Module):
    """Wraps `module` for ZeRO data parallelism over `process_group` (default: the default group).

    stage: 1 shards optimizer state, 2 also gradients, 3 also parameters. bucket_cap_mb: the size of the flat
    groups at stages 1 and 2. units (stage 3 only): module classes or modules whose parameters are gathered
    together around their forward; by default every element of an nn.ModuleList / nn.Sequential, the root
    holding what no unit does (a parameter shared by several modules belongs to the innermost unit containing all
    of them). prefetch (stage 3): gather the next unit while the current one computes.

    Construction is collective: parameters and buffers are broadcast from rank 0. Parameters with requires_grad
    False are left in the module, replicated. Move or cast the module before wrapping it.
    """

    def __init__(self, module, stage=1, process_group=None, bucket_cap_mb=25, units=None, prefetch=True):
        super().__init__()
        if not isinstance(module, Module):
            raise TypeError(f"ZeroDataParallel wraps an iccrt.nn.Module, got {type(module).__name__}")
        if isinstance(stage, bool) or stage not in (1, 2, 3):
            raise ValueError(f"ZeroDataParallel: stage must be 1, 2 or 3, got {stage!r}")
        if not bucket_cap_mb > 0:
            raise ValueError(f"ZeroDataParallel: bucket_cap_mb must be positive, got {bucket_cap_mb!r}")
        if units is not None and stage != 3:
            raise ValueError(f"ZeroDataParallel: units apply to stage 3 only (stage is {stage})")
        if getattr(module, "_zero_wrapped", False):
            raise ValueError("ZeroDataParallel: this module is already wrapped by a ZeroDataParallel")
        if dist.get_rank(process_group) < 0:
            raise ValueError("ZeroDataParallel: this rank is not a member of process_group")
        self.module = module
        self.stage = stage
        self.prefetch = bool(prefetch)
        self.process_group = process_group
        self.rank = dist.get_rank(process_group)
        self.world_size = dist.get_world_size(process_group)
        self._reduce_pg = (dist.new_group(group_desc="zero-reduce") if process_group is None else
                           dist.split_group(parent_pg=process_group, split_ranks=[list(range(self.world_size))],
                                            group_desc="zero-reduce"))
        with no_grad():
            for b in module.buffers():
                dist.broadcast(b, group=process_group, group_src=0)
            self._build(module, units, bucket_cap_mb * 2**20)
        object.__setattr__(module, "_zero_wrapped", True)
        self._sync = True
        self._grad_bytes = 0  # gradient memory held when the last backward pass ended
        self._in_pass = False
        self._pass_sync = False
        self._cursor = 0
        self._starts, self._ends, self._plan = [], [], []
        for i, (m, _) in enumerate(self._units):
            m.register_forward_pre_hook(self._make_pre_hook(i))
            m.register_forward_hook(self._make_post_hook(i))

    # ---- construction ------------------------------------------------------------------------------------

    def _build(self, module, units, cap_bytes):
        info = {}  # id(param) -> [param, names, slots]
        order = []
        for prefix, mod in module.named_modules():
            for name, p in mod._parameters.items():
                if p is None or not p.requires_grad:
                    continue
                if id(p) not in info:
                    info[id(p)] = [p, [], []]
                    order.append(p)
                info[id(p)][1].append(f"{prefix}.{name}" if prefix else name)
                info[id(p)][2].append((mod, name))
        unit_mods = _unit_modules(module, units) if self.stage == 3 else [module]
        owned = [[] for _ in unit_mods]
        if self.stage == 3:
            subtrees = [{id(m) for m in u.modules()} for u in unit_mods]
            for p in order:
                users = {id(mod) for mod, _ in info[id(p)][2]}
                fits = [i for i, s in enumerate(subtrees) if users <= s]
                owned[min(fits, key=lambda i: len(subtrees[i]))].append(p)
        else:
            owned[0] = order
        self._tracker = _Tracker()
        self._groups, self._units = [], []
        for ui, (umod, params) in enumerate(zip(unit_mods, owned)):
            batches, cur, cur_bytes = [], [], 0
            for p in params:
                nb = p.numel() * p.element_size()
                split = cur and (p.dtype != cur[0].dtype or p.device != cur[0].device or
                                 (self.stage < 3 and cur_bytes + nb > cap_bytes))
                if split:
                    batches.append(cur)
                    cur, cur_bytes = [], 0
                cur.append(p)
                cur_bytes += nb
            if cur:
                batches.append(cur)
            groups = []
            for batch in batches:
                g = FlatGroup(len(self._groups), ui, [(p, info[id(p)][1], info[id(p)][2]) for p in batch],
                              self.stage, self.process_group, self._reduce_pg, self._tracker)
                self._groups.append(g)
                groups.append(g)
            if ui == 0 or groups:
                self._units.append((umod, groups))
        self._reduce_order = list(reversed(self._groups))
        # Swap the Parameters for views of the flat buffers; remember the state-dict layout of the plain module.
        where = {}
        for g in self._groups:
            for e in g.entries:
                for mod, name in e.slots:
                    where[(id(mod), name)] = (g, e)
        self._layout = []
        for key, mod, name, store in module._state_items():
            ref = where.get((id(mod), name)) if store == "_parameters" else None
            self._layout.append((key, mod, name, store, ref))
        for g in self._groups:
            for e in g.entries:
                for mod, name in e.slots:
                    del mod._parameters[name]
            g.install(g.resting)
            self._parameters[f"flat_{g.index}"] = g.shard
        self._model_bytes = sum(p.numel() * p.element_size() for p in order)

    # ---- forward -----------------------------------------------------------------------------------------

    def forward(self, *args, **kwargs):
        return self.module(*args, **kwargs)

    def _gather_unit(self, ui):
        for g in self._units[ui][1]:
            g.gather_async()

    def _make_pre_hook(self, ui):
        def pre_hook(module, args):
            if ui == 0:
                self._begin_forward()
            k = len(self._starts)
            self._starts.append(ui)
            groups = self._units[ui][1]
            for g in groups:
                g.gather_async()
            plan = self._plan
            if self.prefetch and k + 1 < len(plan) and plan[k] == ui and plan[k + 1] != ui:
                self._gather_unit(plan[k + 1])
            for g in groups:
                views = Gather.apply(g.shard, g, self, self._sync)
                g.install(views)
            return None

        return pre_hook

    def _make_post_hook(self, ui):
        def post_hook(module, args, output):
            groups = self._units[ui][1]
            for g in groups:
                g.install(g.resting)
            ends = self._ends
            k = len(ends)
            ends.append(ui)
            if self.stage == 3:
                for g in groups:
                    g.release()
                if is_grad_enabled() and groups:
                    self._hook_outputs(output, ui, ends, k)
            if ui == 0:
                self._plan = self._starts
                if self.stage == 3:
                    for g in self._groups:  # a prefetch the forward did not use
                        g.release()
            return None

        return post_hook

    def _hook_outputs(self, output, ui, ends, k):
        """Stage 3: gathers unit `ui` again when the backward reaches its outputs (Note [ZeRO-3 parameter
        storage]), and prefetches the unit whose forward ended just before."""
        fired = []

        def hook(grad):
            if not fired:
                fired.append(True)
                self._gather_unit(ui)
                if self.prefetch and k > 0 and ends[k - 1] != ui:
                    self._gather_unit(ends[k - 1])
                for g in self._units[ui][1]:
                    g.wait_gathered()
            return None

        for t in _tensors_in(output):
            if t.requires_grad and not t.is_leaf:
                t.register_hook(hook)

    def _begin_forward(self):
        if self._in_pass:  # the last backward pass failed before its end
            self._abort_pass()
        self._starts, self._ends = [], []
        if self.stage == 3:
            for g in self._groups:
                g.release()

    @contextlib.contextmanager
    def no_sync(self):
        """Gradient accumulation without communication: backward passes of forwards run inside add to a local
        full-size gradient per group; the first backward outside reduces the sum. The local buffers cost the
        full gradient size until then (at every stage)."""
        prev, self._sync = self._sync, False
        try:
            yield
        finally:
            self._sync = prev

    # ---- backward ----------------------------------------------------------------------------------------

    def on_backward(self, group, grads, sync):
        """Gather.backward of `group` ran: accumulate, release (stage 3), reduce once the group is complete."""
        if not self._in_pass:
            queue_callback(self._finish_pass)
            self._in_pass = True
        group.accumulate(grads)
        if sync:
            self._pass_sync = True
        if len(group.live) == 0:
            group.release()
            if sync:
                group.ready = True
                order = self._reduce_order
                while self._cursor < len(order) and order[self._cursor].ready:
                    order[self._cursor].launch_reduce()
                    self._cursor += 1

    def _finish_pass(self):
        try:
            if self._pass_sync:
                for g in self._reduce_order[self._cursor:]:
                    g.launch_reduce()
                self._cursor = len(self._reduce_order)
                for g in self._reduce_order:
                    g.finish_reduce()
        except BaseException:
            self._abort_pass()
            raise
        self._in_pass = self._pass_sync = False
        self._cursor = 0
        for g in self._groups:
            g.ready = False
            g.release()
        self._grad_bytes = sum(g.persistent_grad_bytes() for g in self._groups)

    def _abort_pass(self):
        for g in self._groups:
            g.abort_work()
            g.release()
        self._in_pass = self._pass_sync = False
        self._cursor = 0

    def zero_grad(self, set_to_none=True):
        """Clears the shards' gradients and any gradient accumulated under no_sync."""
        super().zero_grad(set_to_none)
        for g in self._groups:
            g.local = g.stash = None

    # ---- state -------------------------------------------------------------------------------------------

    def state_dict(self, prefix="", keep_vars=False):
        """The full model under the wrapped module's own names (what module.state_dict() gave before wrapping),
        on every rank; collective. Parameters are new tensors; buffers are the module's own (detached)."""
        import collections

        values = {}
        with no_grad():
            for g in self._groups:
                flat = g.full_copy()
                for e in g.entries:
                    values[id(e)] = flat.narrow(0, e.offset, e.numel).view(list(e.shape))
        out = collections.OrderedDict()
        for key, mod, name, store, ref in self._layout:
            if ref is not None:
                out[prefix + key] = values[id(ref[1])]
            else:
                t = getattr(mod, store)[name]
                out[prefix + key] = t if keep_vars else t.detach()
        return out

    def load_state_dict(self, state_dict, strict=True):
        """Loads a full state (as state_dict() or the plain module's give) and re-shards it; collective. Returns
        (missing_keys, unexpected_keys); ValueError on shape mismatches and, with strict, on missing or unexpected
        keys (nothing is modified then)."""
        from .._C import Tensor

        if not hasattr(state_dict, "keys"):
            raise TypeError(f"load_state_dict expects a mapping, got {type(state_dict).__name__}")
        expected = [key for key, *_ in self._layout]
        missing = [k for k in expected if k not in state_dict]
        unexpected = [k for k in state_dict if k not in set(expected)]
        errors = []
        for key, mod, name, store, ref in self._layout:
            if key not in state_dict:
                continue
            value = state_dict[key]
            if not isinstance(value, Tensor):
                raise TypeError(f"load_state_dict: '{key}' is a {type(value).__name__}, expected a tensor")
            shape = ref[1].shape if ref is not None else tuple(getattr(mod, store)[name].shape)
            if tuple(value.shape) != tuple(shape):
                errors.append(f"size mismatch for {key}: copying a tensor of shape {list(value.shape)}, the "
                              f"parameter in the model has shape {list(shape)}")
        if strict and missing:
            errors.insert(0, "missing keys: " + ", ".join(f'"{k}"' for k in missing))
        if strict and unexpected:
            errors.insert(0, "unexpected keys: " + ", ".join(f'"{k}"' for k in unexpected))
        if errors:
            raise ValueError("error(s) loading state_dict for ZeroDataParallel:\n  " + "\n  ".join(errors))
        with no_grad():
            if self.stage < 3:
                for g in self._groups:  # every rank's slice current before writing some of them
                    g.wait_gathered()
            for key, mod, name, store, ref in self._layout:
                if key not in state_dict:
                    continue
                if ref is None:
                    getattr(mod, store)[name].copy_(state_dict[key])
                else:
                    self._load_param(ref[0], ref[1], state_dict[key])
            for g in self._groups:
                g.synced_version = g.shard._version if self.stage < 3 else -1
        return _IncompatibleKeys(missing, unexpected)

    @staticmethod
    def _load_param(g, e, value):
        if g.stage < 3:
            g.full.narrow(0, e.offset, e.numel).view(list(e.shape)).copy_(value)
            return
        lo = max(e.offset, g.rank * g.shard_numel)
        hi = min(e.offset + e.numel, (g.rank + 1) * g.shard_numel)
        if lo < hi:
            flat = value.reshape(-1)
            g.shard.narrow(0, lo - g.rank * g.shard_numel, hi - lo).copy_(flat.narrow(0, lo - e.offset, hi - lo))

    def _apply(self, fn):
        raise ValueError("ZeroDataParallel: move or cast the module (to / cuda / half ...) before wrapping it")

    # ---- utilities ---------------------------------------------------------------------------------------

    def clip_grad_norm_(self, max_norm, norm_type=2.0, error_if_nonfinite=False):
        """Scales the shards' gradients so that the norm of the whole model's gradient is at most max_norm;
        returns that norm before clipping (0-d float64). Collective: the shards' partial sums are all-reduced."""
        from .._C import float64

        norm_type = float(norm_type)
        if norm_type < 1.0:
            raise ValueError(f"clip_grad_norm_: norm_type must be >= 1 (or inf), got {norm_type}")
        if max_norm < 0:
            raise ValueError(f"clip_grad_norm_: max_norm must be non-negative, got {max_norm}")
        grads = [p.grad for p in self.parameters() if p.grad is not None]
        inf = norm_type == math.inf
        with no_grad():
            local = 0.0
            for g in grads:
                a = g.to(dtype=float64).abs()
                local = max(local, a.max().item()) if inf else local + (a ** norm_type).sum().item()
            t = tensor([local], dtype=float64)
            dist.all_reduce(t, op=dist.ReduceOp.MAX if inf else dist.ReduceOp.SUM, group=self.process_group)
            total = t.item() if inf else t.item() ** (1.0 / norm_type)
            if error_if_nonfinite and not math.isfinite(total):
                raise ValueError(f"clip_grad_norm_: the total norm of order {norm_type} of the gradients is "
                                 f"{total}; the step would make the parameters non-finite")
            coef = min(float(max_norm) / (total + 1e-6), 1.0)
            if coef < 1.0:
                for g in grads:
                    g.mul_(coef)
        return tensor(total, dtype=float64)

    def memory_report(self, optimizer=None):
        """Bytes this rank holds: parameters (persistent: full flat buffers at stages 1 and 2, shards at stage
        3, plus unsharded frozen parameters), gathered_now / gathered_peak (full flat buffers allocated now / at
        most at once since construction), gradients (full buffers at stage 1, shard gradients at 2 and 3, plus
        no_sync accumulation; as held at the end of the last backward pass, so optimizer.zero_grad() before the
        report does not hide them), optimizer_state (every tensor in optimizer.state), and model_parameters (the
        unsharded trainable model, for comparison)."""
        frozen = sum(p.numel() * p.element_size() for p in self.module.parameters())
        if self.stage < 3:
            params = sum(g.full.numel() * g.full.element_size() for g in self._groups)
        else:
            params = sum(g.shard.numel() * g.shard.element_size() for g in self._groups)
        opt = 0
        if optimizer is not None:
            for state in optimizer.state.values():
                for v in state.values():
                    if hasattr(v, "element_size"):
                        opt += v.numel() * v.element_size()
        return {
            "stage": self.stage,
            "world_size": self.world_size,
            "rank": self.rank,
            "parameters": params + frozen,
            "gathered_now": self._tracker.now,
            "gathered_peak": self._tracker.peak,
            "gradients": max(self._grad_bytes, sum(g.persistent_grad_bytes() for g in self._groups)),
            "optimizer_state": opt,
            "model_parameters": self._model_bytes,
        }

    def extra_repr(self):
        return f"stage={self.stage}, world_size={self.world_size}, groups={len(self._groups)}"
