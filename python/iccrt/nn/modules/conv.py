"""Conv2d."""

import math

from ... import _factories
from .. import functional as F
from .. import init
from ..parameter import Parameter
from .module import Module

__all__ = ["Conv2d"]


class Conv2d(Module):
    """2-D convolution over input [N, C, H, W] (NCHW), torch's arguments and default initialisation.

    weight [out_channels, in_channels / groups, kh, kw] and bias [out_channels] start uniform in
    +-1/sqrt(fan_in), fan_in = in_channels / groups * kh * kw. padding: int, pair, "valid" or "same" (stride 1).
    """

    def __init__(self, in_channels, out_channels, kernel_size, stride=1, padding=0, dilation=1, groups=1, bias=True,
                 device=None, dtype=None, generator=None):
        super().__init__()
        if groups <= 0 or in_channels % groups or out_channels % groups:
            raise ValueError(f"Conv2d: in_channels ({in_channels}) and out_channels ({out_channels}) must be "
                             f"divisible by groups ({groups})")
        self.in_channels = in_channels
        self.out_channels = out_channels
        self.kernel_size = F._pair(kernel_size, "Conv2d: kernel_size")
        self.stride = F._pair(stride, "Conv2d: stride")
        self.padding = padding if isinstance(padding, str) else F._pair(padding, "Conv2d: padding")
        self.dilation = F._pair(dilation, "Conv2d: dilation")
        F._conv_padding(self.padding, self.kernel_size, self.dilation, self.stride)  # ValueError now, not at forward
        self.groups = groups
        kh, kw = self.kernel_size
        self.weight = Parameter(_factories.empty(out_channels, in_channels // groups, kh, kw, device=device,
                                                 dtype=dtype))
        if bias:
            self.bias = Parameter(_factories.empty(out_channels, device=device, dtype=dtype))
        else:
            self.register_parameter("bias", None)
        self.reset_parameters(generator)

    def reset_parameters(self, generator=None):
        init.kaiming_uniform_(self.weight, a=math.sqrt(5), generator=generator)
        if self.bias is not None:
            fan_in = self.weight.shape[1] * self.kernel_size[0] * self.kernel_size[1]
            bound = 1.0 / math.sqrt(fan_in)
            init.uniform_(self.bias, -bound, bound, generator=generator)

    def forward(self, input):
        return F.conv2d(input, self.weight, self.bias, self.stride, self.padding, self.dilation, self.groups)

    def extra_repr(self):
        s = (f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, stride={self.stride}, "
             f"padding={self.padding}")
        if self.dilation != (1, 1):
            s += f", dilation={self.dilation}"
        if self.groups != 1:
            s += f", groups={self.groups}"
        return s + f", bias={self.bias is not None}"
