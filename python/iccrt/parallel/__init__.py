"""iccrt.parallel: data-parallel training (DistributedDataParallel, communication hooks)."""

from . import comm_hooks
from .ddp import DistributedDataParallel
