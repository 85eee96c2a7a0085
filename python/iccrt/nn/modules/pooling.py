"""MaxPool2d."""

from .. import functional as F
from .module import Module

__all__ = ["MaxPool2d"]


class MaxPool2d(Module):
    """Max over kernel_size windows of each plane of input [N, C, H, W]; stride defaults to kernel_size."""

    def __init__(self, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False):
        super().__init__()
        self.kernel_size = F._pair(kernel_size, "MaxPool2d: kernel_size")
        self.stride = self.kernel_size if stride is None else F._pair(stride, "MaxPool2d: stride")
        self.padding = F._pair(padding, "MaxPool2d: padding")
        self.dilation = F._pair(dilation, "MaxPool2d: dilation")
        self.ceil_mode = ceil_mode

    def forward(self, input):
        return F.max_pool2d(input, self.kernel_size, self.stride, self.padding, self.dilation, self.ceil_mode)

    def extra_repr(self):
        return (f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}, "
                f"dilation={self.dilation}, ceil_mode={self.ceil_mode}")
