"""iccrt: a distributed training runtime with a PyTorch-style tensor API.

    >>> import iccrt
    >>> x = iccrt.randn(2, 3)
    >>> (x @ x.T).shape
    iccrt.Size([2, 2])

Tensors live on the CPU or a CUDA device, share memory with NumPy (``from_numpy`` / ``Tensor.numpy``) and any
DLPack library (``from_dlpack`` / ``Tensor.__dlpack__``). Binary ops need operands of one dtype: iccrt does not
promote types silently (``t.to(iccrt.float64)`` converts).
"""

from . import _C
from ._C import Generator, Tensor, device, dtype
from ._C import bfloat16, float16, float32, float64, int32, int64, uint8
from ._C import bool  # noqa: A004 - iccrt.bool, like torch.bool

# torch-style aliases
float = float32  # noqa: A001
double = float64
half = float16
long = int64
int = int32  # noqa: A001

from . import _tensor  # noqa: E402,F401 - installs the Python half of Tensor (indexing, printing, .to, ...)
from . import cuda  # noqa: E402
from . import distributed  # noqa: E402
from ._factories import (  # noqa: E402
    arange,
    empty,
    empty_like,
    full,
    full_like,
    ones,
    ones_like,
    rand,
    rand_like,
    randn,
    randn_like,
    tensor,
    zeros,
    zeros_like,
)
from ._functional import max, min, where  # noqa: E402,A004
from . import autograd, nn, optim, amp  # noqa: E402
from .autograd import enable_grad, no_grad, set_grad_enabled  # noqa: E402
from ._C import is_grad_enabled  # noqa: E402
from .amp import autocast  # noqa: E402
from .serialization import load, save  # noqa: E402
from ._C import cat, stack  # noqa: E402
from ._tensor import Size  # noqa: E402
from ._C import (  # noqa: E402
    abs,
    add,
    argmax,
    argmin,
    bmm,
    div,
    eq,
    exp,
    from_dlpack,
    from_numpy,
    ge,
    gelu,
    gt,
    le,
    log,
    lt,
    manual_seed,
    matmul,
    maximum,
    mean,
    minimum,
    mm,
    mul,
    ne,
    neg,
    pow,
    relu,
    rsqrt,
    sigmoid,
    silu,
    sqrt,
    sub,
    sum,
    tanh,
    var,
)

__version__ = _C._version()


def config():
    """How this build was made: compiler, CPU ISA, OpenMP, BLAS, CUDA library versions (like torch.__config__)."""
    return _C._build_config()

# The process-wide generator rand/randn use when no generator= is given (seeded by manual_seed).
default_generator = _C.default_generator()


def is_tensor(obj):
    """Whether `obj` is an iccrt.Tensor."""
    return isinstance(obj, Tensor)


def get_default_dtype():
    """The dtype of floating tensors made without an explicit dtype (float32)."""
    return float32
