"""Learning-rate schedules (torch.optim.lr_scheduler's names and step() protocol).

Every scheduler here is closed-form: the rate at step t is a function of t and the group's initial rate only, so
resuming from state_dict() gives exactly the rates of an uninterrupted run. (Unlike torch's chainable forms,
two schedulers on one optimizer do not compose; use one LambdaLR with the product instead.)

Usage, once per optimizer step:

    sched = CosineWarmupLR(opt, warmup_steps=100, total_steps=5000)
    for batch in data:
        ...; opt.step(); sched.step()
"""

import math

from .optimizer import Optimizer

__all__ = ["CosineAnnealingLR", "CosineWarmupLR", "LRScheduler", "LambdaLR", "StepLR"]


class LRScheduler:
    """Base class: sets each group's "lr" to get_lr()'s value for the current step `last_epoch`.

    Construction performs step 0 (the groups get the rate for t = 0). last_epoch=-1 starts fresh and records each
    group's "initial_lr"; another value resumes at that step (the groups must already have "initial_lr").
    """

    def __init__(self, optimizer, last_epoch=-1):
        if not isinstance(optimizer, Optimizer):
            raise TypeError(f"{type(optimizer).__name__} is not an Optimizer")
        self.optimizer = optimizer
        if last_epoch == -1:
            for group in optimizer.param_groups:
                group.setdefault("initial_lr", group["lr"])
        else:
            for i, group in enumerate(optimizer.param_groups):
                if "initial_lr" not in group:
                    raise KeyError(f"param 'initial_lr' is not specified in param_groups[{i}] when resuming a "
                                   "scheduler (last_epoch != -1)")
        self.base_lrs = [group["initial_lr"] for group in optimizer.param_groups]
        self.last_epoch = last_epoch
        self._last_lr = list(self.base_lrs)
        self.step()

    def lr_at(self, base_lr, t):
        """The rate at step t for a group whose initial rate is base_lr."""
        raise NotImplementedError(f"{type(self).__name__} does not define lr_at()")

    def get_lr(self):
        return [self.lr_at(base, self.last_epoch) for base in self.base_lrs]

    def get_last_lr(self):
        """The rates the last step() set, one per group."""
        return list(self._last_lr)

    def step(self):
        self.last_epoch += 1
        lrs = self.get_lr()
        for group, lr in zip(self.optimizer.param_groups, lrs):
            group["lr"] = lr
        self._last_lr = lrs

    def _config(self):
        """Constructor settings saved in state_dict (numbers only)."""
        return {}

    def state_dict(self):
        """last_epoch, base_lrs, the last rates and the schedule's settings (no callables: LambdaLR's functions are
        not saved; rebuild the scheduler with them and load the state)."""
        return {"last_epoch": self.last_epoch, "base_lrs": list(self.base_lrs), "last_lr": list(self._last_lr),
                **self._config()}

    def load_state_dict(self, state_dict):
        """Restores the step and rates and sets the optimizer's rates to the restored step's."""
        if len(state_dict["base_lrs"]) != len(self.optimizer.param_groups):
            raise ValueError(f"loaded scheduler state has {len(state_dict['base_lrs'])} groups, the optimizer has "
                             f"{len(self.optimizer.param_groups)}")
        for key, value in self._config().items():
            if key in state_dict and state_dict[key] != value:
                raise ValueError(f"loaded scheduler state has {key}={state_dict[key]!r}, this {type(self).__name__} "
                                 f"was built with {value!r}")
        self.last_epoch = int(state_dict["last_epoch"])
        self.base_lrs = [float(b) for b in state_dict["base_lrs"]]
        for group, base in zip(self.optimizer.param_groups, self.base_lrs):
            group["initial_lr"] = base
        self._last_lr = self.get_lr()
        for group, lr in zip(self.optimizer.param_groups, self._last_lr):
            group["lr"] = lr


class LambdaLR(LRScheduler):
    """lr = initial_lr * lr_lambda(t); lr_lambda is one function, or one per group."""

    def __init__(self, optimizer, lr_lambda, last_epoch=-1):
        n = len(optimizer.param_groups)
        if isinstance(lr_lambda, (list, tuple)):
            if len(lr_lambda) != n:
                raise ValueError(f"expected {n} lr_lambdas, got {len(lr_lambda)}")
            self.lr_lambdas = list(lr_lambda)
        else:
            self.lr_lambdas = [lr_lambda] * n
        if not all(callable(f) for f in self.lr_lambdas):
            raise TypeError("lr_lambda must be callable (or a list of callables)")
        super().__init__(optimizer, last_epoch)

    def get_lr(self):
        return [base * f(self.last_epoch) for base, f in zip(self.base_lrs, self.lr_lambdas)]


class StepLR(LRScheduler):
    """lr = initial_lr * gamma ** (t // step_size)."""

    def __init__(self, optimizer, step_size, gamma=0.1, last_epoch=-1):
        if step_size <= 0:
            raise ValueError(f"StepLR: step_size must be positive, got {step_size}")
        self.step_size = int(step_size)
        self.gamma = float(gamma)
        super().__init__(optimizer, last_epoch)

    def lr_at(self, base_lr, t):
        return base_lr * self.gamma ** (t // self.step_size)

    def _config(self):
        return {"step_size": self.step_size, "gamma": self.gamma}


class CosineAnnealingLR(LRScheduler):
    """lr = eta_min + (initial_lr - eta_min) * (1 + cos(pi * t / T_max)) / 2: from the initial rate at t = 0 down to
    eta_min at t = T_max (and back up after, periodically, as the closed form of torch's schedule)."""

    def __init__(self, optimizer, T_max, eta_min=0.0, last_epoch=-1):  # noqa: N803 - torch's name
        if T_max <= 0:
            raise ValueError(f"CosineAnnealingLR: T_max must be positive, got {T_max}")
        self.T_max = int(T_max)
        self.eta_min = float(eta_min)
        super().__init__(optimizer, last_epoch)

    def lr_at(self, base_lr, t):
        return self.eta_min + (base_lr - self.eta_min) * (1 + math.cos(math.pi * t / self.T_max)) / 2

    def _config(self):
        return {"T_max": self.T_max, "eta_min": self.eta_min}


class CosineWarmupLR(LRScheduler):
    """Linear warmup then cosine decay, the usual schedule for transformers:

        t <  warmup_steps:  lr = initial_lr * (t + 1) / warmup_steps   (the first step already trains)
        t >= warmup_steps:  lr = eta_min + (initial_lr - eta_min) * (1 + cos(pi * p)) / 2,
                            p = min(1, (t - warmup_steps) / max(1, total_steps - warmup_steps))

    so the rate reaches eta_min at total_steps and stays there.
    """

    def __init__(self, optimizer, warmup_steps, total_steps, eta_min=0.0, last_epoch=-1):
        if warmup_steps < 0 or total_steps <= 0 or warmup_steps > total_steps:
            raise ValueError(f"CosineWarmupLR: needs 0 <= warmup_steps <= total_steps and total_steps > 0, got "
                             f"warmup_steps={warmup_steps}, total_steps={total_steps}")
        self.warmup_steps = int(warmup_steps)
        self.total_steps = int(total_steps)
        self.eta_min = float(eta_min)
        super().__init__(optimizer, last_epoch)

    def lr_at(self, base_lr, t):
        if t < self.warmup_steps:
            return base_lr * (t + 1) / self.warmup_steps
        progress = min(1.0, (t - self.warmup_steps) / max(1, self.total_steps - self.warmup_steps))
        return self.eta_min + (base_lr - self.eta_min) * (1 + math.cos(math.pi * progress)) / 2

    def _config(self):
        return {"warmup_steps": self.warmup_steps, "total_steps": self.total_steps, "eta_min": self.eta_min}
