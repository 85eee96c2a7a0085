"""iccrt.nn: layers, parameters, functional ops, initialisation and gradient utilities (torch.nn's names).

    from iccrt import nn
    import iccrt.nn.functional as F

    model = nn.Sequential(nn.Linear(4, 8), nn.GELU(), nn.Linear(8, 2))
    loss = F.cross_entropy(model(x), y)
"""

from . import functional, init, utils
from .modules import *  # noqa: F401,F403
from .modules import __all__ as _modules_all
from .parameter import Parameter

__all__ = ["Parameter", "functional", "init", "utils"] + list(_modules_all)
