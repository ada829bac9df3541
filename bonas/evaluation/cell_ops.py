"""The ops of cell networks (NAS-Bench-201's, DARTS's and NAS-Bench-101's) as PyTorch
modules, by name (:data:`CELL_OPS`), and the helpers the skeletons of
:mod:`bonas.evaluation.cells` share."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from types import MappingProxyType

import torch
import torch.nn.functional as F
from torch import nn

from bonas.exceptions import BonasError

__all__ = [
    "CELL_OPS",
    "ConvBNReLU",
    "DilConv",
    "FactorizedReduce",
    "OpFactory",
    "ReLUConvBN",
    "SepConv",
    "UnknownOpError",
    "Zero",
    "check_image_settings",
    "global_pool",
    "make_op",
    "op_table",
]

#: Builds an op from ``(in_channels, out_channels, stride)``.
OpFactory = Callable[[int, int, int], nn.Module]


class UnknownOpError(BonasError, ValueError):
    """A cell uses an op the builder has no module for.

    Attributes:
        op: The op's name.
        known: The op names the builder knows.
    """

    def __init__(self, op: str, known: Sequence[str]) -> None:
        super().__init__(
            f"the cell builder has no module for op {op!r}; known ops: {sorted(known)} "
            "(pass op_factories={name: factory} to add one)"
        )
        self.op = op
        self.known = tuple(sorted(known))

    def __reduce__(self) -> tuple:
        return (type(self), (self.op, self.known))


class Zero(nn.Module):
    """The ``none`` op: zeros of the output's shape (no gradient flows through it)."""

    def __init__(self, c_out: int, stride: int) -> None:
        super().__init__()
        self.c_out = c_out
        self.stride = stride

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        height = -(-x.shape[2] // self.stride)
        width = -(-x.shape[3] // self.stride)
        return x.new_zeros(x.shape[0], self.c_out, height, width)


class ReLUConvBN(nn.Sequential):
    def __init__(
        self, c_in: int, c_out: int, kernel: int, stride: int = 1, dilation: int = 1
    ) -> None:
        super().__init__(
            nn.ReLU(inplace=False),
            nn.Conv2d(
                c_in, c_out, kernel, stride=stride, padding=dilation * (kernel // 2),
                dilation=dilation, bias=False,
            ),
            nn.BatchNorm2d(c_out),
        )  # fmt: skip


class ConvBNReLU(nn.Sequential):
    def __init__(self, c_in: int, c_out: int, kernel: int, stride: int = 1) -> None:
        super().__init__(
            nn.Conv2d(c_in, c_out, kernel, stride=stride, padding=kernel // 2, bias=False),
            nn.BatchNorm2d(c_out),
            nn.ReLU(inplace=False),
        )


class DilConv(nn.Sequential):
    """ReLU, a depthwise (dilated) convolution, a pointwise one, BN."""

    def __init__(self, c_in: int, c_out: int, kernel: int, stride: int, dilation: int) -> None:
        super().__init__(
            nn.ReLU(inplace=False),
            nn.Conv2d(
                c_in, c_in, kernel, stride=stride, padding=dilation * (kernel // 2),
                dilation=dilation, groups=c_in, bias=False,
            ),
            nn.Conv2d(c_in, c_out, 1, bias=False),
            nn.BatchNorm2d(c_out),
        )  # fmt: skip


class SepConv(nn.Sequential):
    """Two depthwise-separable convolutions in a row, the first with the stride."""

    def __init__(self, c_in: int, c_out: int, kernel: int, stride: int) -> None:
        super().__init__(
            DilConv(c_in, c_in, kernel, stride, dilation=1),
            DilConv(c_in, c_out, kernel, 1, dilation=1),
        )


class FactorizedReduce(nn.Module):
    """Halve the image with two 1x1 stride-2 convolutions, one shifted by a pixel.

    The shifted path pads the bottom and right edges first, so both paths give
    ``ceil(H / 2)`` rows for odd sizes too.
    """

    def __init__(self, c_in: int, c_out: int) -> None:
        super().__init__()
        if c_out < 2:
            raise BonasError(
                f"a factorized reduction needs at least 2 output channels, got {c_out}"
            )
        self.relu = nn.ReLU(inplace=False)
        self.even = nn.Conv2d(c_in, c_out // 2, 1, stride=2, bias=False)
        self.odd = nn.Conv2d(c_in, c_out - c_out // 2, 1, stride=2, bias=False)
        self.bn = nn.BatchNorm2d(c_out)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.relu(x)
        shifted = F.pad(x, (0, 1, 0, 1))[:, :, 1:, 1:]
        return self.bn(torch.cat([self.even(x), self.odd(shifted)], dim=1))


def _match_channels(module: nn.Module, c_in: int, c_out: int) -> nn.Module:
    """A channel-keeping op, followed by a 1x1 ReLU-Conv-BN where the widths differ."""
    if c_in == c_out:
        return module
    return nn.Sequential(module, ReLUConvBN(c_in, c_out, 1))


def _skip(c_in: int, c_out: int, stride: int) -> nn.Module:
    if stride != 1:
        return FactorizedReduce(c_in, c_out)
    return nn.Identity() if c_in == c_out else ReLUConvBN(c_in, c_out, 1)


def _avg_pool(c_in: int, c_out: int, stride: int) -> nn.Module:
    pool = nn.AvgPool2d(3, stride=stride, padding=1, count_include_pad=False)
    return _match_channels(pool, c_in, c_out)


def _max_pool(c_in: int, c_out: int, stride: int) -> nn.Module:
    return _match_channels(nn.MaxPool2d(3, stride=stride, padding=1), c_in, c_out)


_BUILTIN_OPS: dict[str, OpFactory] = {
    # NAS-Bench-201 (and the ``none`` op of the DARTS search space)
    "none": lambda c_in, c_out, stride: Zero(c_out, stride),
    "skip_connect": _skip,
    "nor_conv_1x1": lambda c_in, c_out, stride: ReLUConvBN(c_in, c_out, 1, stride),
    "nor_conv_3x3": lambda c_in, c_out, stride: ReLUConvBN(c_in, c_out, 3, stride),
    "avg_pool_3x3": _avg_pool,
    # DARTS
    "max_pool_3x3": _max_pool,
    "sep_conv_3x3": lambda c_in, c_out, stride: SepConv(c_in, c_out, 3, stride),
    "sep_conv_5x5": lambda c_in, c_out, stride: SepConv(c_in, c_out, 5, stride),
    "dil_conv_3x3": lambda c_in, c_out, stride: DilConv(c_in, c_out, 3, stride, 2),
    "dil_conv_5x5": lambda c_in, c_out, stride: DilConv(c_in, c_out, 5, stride, 2),
    # NAS-Bench-101
    "conv3x3-bn-relu": lambda c_in, c_out, stride: ConvBNReLU(c_in, c_out, 3, stride),
    "conv1x1-bn-relu": lambda c_in, c_out, stride: ConvBNReLU(c_in, c_out, 1, stride),
    "maxpool3x3": _max_pool,
}

#: The ops every skeleton knows, by name: NAS-Bench-201's, DARTS's and NAS-Bench-101's.
#: Each maps ``(in_channels, out_channels, stride)`` to a module that keeps the image
#: size at stride 1 and gives ``ceil(H / 2)`` at stride 2.
CELL_OPS: Mapping[str, OpFactory] = MappingProxyType(_BUILTIN_OPS)


def op_table(op_factories: Mapping[str, OpFactory] | None) -> dict[str, OpFactory]:
    return {**_BUILTIN_OPS, **(op_factories or {})}


def make_op(
    table: Mapping[str, OpFactory], name: str, c_in: int, c_out: int, stride: int
) -> nn.Module:
    try:
        factory = table[name]
    except KeyError:
        raise UnknownOpError(name, list(table)) from None
    return factory(c_in, c_out, stride)


def check_image_settings(input_shape: Sequence[int], channels: int, cells_per_stage: int) -> int:
    """The input channels of ``(C, H, W)``, after checking the shape and the settings."""
    if len(input_shape) != 3 or any(int(d) < 1 for d in input_shape):
        raise BonasError(
            f"cell networks take images (C, H, W) with positive sizes, got input_shape="
            f"{tuple(input_shape)}"
        )
    if channels < 1 or cells_per_stage < 1:
        raise BonasError(
            f"channels and cells_per_stage must be positive, got channels={channels}, "
            f"cells_per_stage={cells_per_stage}"
        )
    return int(input_shape[0])


def global_pool(x: torch.Tensor) -> torch.Tensor:
    return x.mean(dim=(2, 3))
