"""iccrt.optim: optimizers and learning-rate schedules (torch.optim's names).

    opt = iccrt.optim.AdamW(model.parameters(), lr=3e-4, weight_decay=0.1)
    sched = iccrt.optim.lr_scheduler.CosineWarmupLR(opt, warmup_steps=100, total_steps=5000)
"""

from . import lr_scheduler
from .adamw import AdamW
from .optimizer import Optimizer
from .sgd import SGD

__all__ = ["AdamW", "Optimizer", "SGD", "lr_scheduler"]
