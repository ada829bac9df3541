"""Compile an architecture to a ``torch.nn.Module``.

The builder is separate from :class:`~bonas.architecture.Architecture` (a spec) and from
the search spaces (which architectures are allowed): :func:`build_network` reads a spec
and returns a module that evaluates its DAG of layers in topological order.

NASBOT's CNN layers (Kandasamy et al. 2018; dragonfly's ``nn`` code), for images
``(C, H, W)``:

* ``conv{3,5,7}``: ``Conv2d(k, stride) -> BatchNorm -> ReLU`` with ``units`` filters;
* ``res{3,5,7}``: a residual block, ``conv(k, stride) -> BN -> ReLU -> conv(k) -> BN``
  plus the input (projected by a 1x1 convolution where the shape changes), then ReLU;
* ``max-pool`` / ``avg-pool``: a 2x2 pooling that halves the image (rounding up);
* ``fc``: ``Linear -> ReLU`` with ``units`` outputs; after convolutional parents the image
  is first averaged to one value per channel (global average pooling, which keeps the
  parameter count independent of the image size where NASBOT's flattening would not);
* ``softmax``: a linear map to the class logits (the softmax is in the loss);
* ``op``: the mean of its parents' logits.

NASBOT's MLP layers, for flat inputs: every hidden activation layer is ``Linear ->
activation`` with ``units`` outputs (``crelu`` concatenates ``relu(x)`` and ``relu(-x)``,
so it gives ``2 * units``); ``linear`` and ``softmax`` decision layers map to the outputs
and ``op`` averages them.

A layer with several parents takes their outputs concatenated along the channel (or
feature) axis, as NASBOT's layer masses count them (the sum of incoming channels);
the CNN space guarantees that a layer's parents agree on the image size. Channels and
image sizes are inferred from the input shape.

Cell architectures (NAS-Bench-201 and :class:`~bonas.spaces.CellSpace` cells,
NAS-Bench-101 cells, DARTS genotypes) are built inside their benchmarks' skeletons by
:mod:`bonas.evaluation.cells`; :func:`build_network` recognises them by their
vocabulary (:func:`~bonas.evaluation.cells.cell_family`) and passes its options on.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

import torch
from torch import nn

from bonas.architecture import Architecture
from bonas.evaluation.cells import build_cell_network, cell_family
from bonas.exceptions import BonasError

__all__ = ["ArchitectureNetwork", "build_network", "count_parameters"]

_MLP_ACTIVATIONS = {
    "relu": nn.ReLU,
    "leaky-relu": nn.LeakyReLU,
    "softplus": nn.Softplus,
    "elu": nn.ELU,
    "logistic": nn.Sigmoid,
    "tanh": nn.Tanh,
}


class _CReLU(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat([torch.relu(x), torch.relu(-x)], dim=1)


class _Mean(nn.Module):
    def forward(self, *inputs: torch.Tensor) -> torch.Tensor:
        return torch.stack(inputs, dim=0).mean(dim=0)


class _ConvBNReLU(nn.Sequential):
    def __init__(self, c_in: int, c_out: int, kernel: int, stride: int) -> None:
        super().__init__(
            nn.Conv2d(c_in, c_out, kernel, stride=stride, padding=kernel // 2, bias=False),
            nn.BatchNorm2d(c_out),
            nn.ReLU(inplace=True),
        )


class _Residual(nn.Module):
    def __init__(self, c_in: int, c_out: int, kernel: int, stride: int) -> None:
        super().__init__()
        pad = kernel // 2
        self.body = nn.Sequential(
            nn.Conv2d(c_in, c_out, kernel, stride=stride, padding=pad, bias=False),
            nn.BatchNorm2d(c_out),
            nn.ReLU(inplace=True),
            nn.Conv2d(c_out, c_out, kernel, padding=pad, bias=False),
            nn.BatchNorm2d(c_out),
        )
        self.shortcut: nn.Module = nn.Identity()
        if stride != 1 or c_in != c_out:
            self.shortcut = nn.Sequential(
                nn.Conv2d(c_in, c_out, 1, stride=stride, bias=False), nn.BatchNorm2d(c_out)
            )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.relu(self.body(x) + self.shortcut(x))


class _GlobalPoolLinear(nn.Module):
    def __init__(self, c_in: int, c_out: int, activation: bool) -> None:
        super().__init__()
        self.linear = nn.Linear(c_in, c_out)
        self.activation = activation

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.dim() == 4:
            x = x.mean(dim=(2, 3))
        x = self.linear(x)
        return torch.relu(x) if self.activation else x


class ArchitectureNetwork(nn.Module):
    """Evaluates an architecture's layers in topological order.

    Attributes:
        architecture: The spec it was built from.
        order: Layer indices in evaluation order.
        parents: Each layer's parent layers.
        layers: One module per layer (``"3"`` for layer 3); input and merge layers are
            identities.
    """

    def __init__(
        self, architecture: Architecture, layers: dict[int, nn.Module], flatten_input: bool
    ) -> None:
        super().__init__()
        self.architecture = architecture
        self.order = list(architecture.topological_order())
        self.parents = {v: list(architecture.predecessors(v)) for v in self.order}
        self.layers = nn.ModuleDict({str(k): m for k, m in layers.items()})
        self.flatten_input = flatten_input
        self._input = architecture.input_layer
        self._output = architecture.output_layer

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Logits (or regression outputs) of a batch, shape ``(batch, outputs)``."""
        if self.flatten_input:
            x = x.flatten(start_dim=1)
        outputs: dict[int, torch.Tensor] = {}
        for layer in self.order:
            module = self.layers[str(layer)]
            if layer == self._input:
                outputs[layer] = x
                continue
            inputs = [outputs[p] for p in self.parents[layer]]
            if layer == self._output:
                outputs[layer] = module(*inputs)
            else:
                merged = inputs[0] if len(inputs) == 1 else torch.cat(inputs, dim=1)
                outputs[layer] = module(merged)
        return outputs[self._output]


def build_network(
    arch: Architecture, input_shape: Sequence[int], num_outputs: int, **options: Any
) -> nn.Module:
    """Compile a CNN-, MLP- or cell-space architecture to a module.

    Args:
        arch: An architecture over the ``cnn`` or ``mlp`` vocabulary (an
            :class:`ArchitectureNetwork` is returned), or a cell of NAS-Bench-201, a
            :class:`~bonas.spaces.CellSpace`, NAS-Bench-101 or DARTS (see
            :func:`~bonas.evaluation.cells.build_cell_network`).
        input_shape: One example's shape without the batch axis: ``(C, H, W)`` for a
            CNN or a cell network, any shape for an MLP (it is flattened).
        num_outputs: Classes (or regression targets).
        **options: The skeleton's settings for cell architectures: ``channels``,
            ``cells_per_stage``, ``op_factories``. CNN and MLP architectures take
            ``width_multiplier``: every layer's units times it (rounded, at least 1), a
            cheaper proxy of the same topology for quick searches.

    Returns:
        The module; ``module(x)`` maps ``(batch, *input_shape)`` to ``(batch,
        num_outputs)``.

    Raises:
        BonasError: For an architecture of no known kind, a CNN input that is not
            ``(C, H, W)``, ``num_outputs < 1``, or options the architecture's kind
            does not take.

    Example:
        >>> from bonas.spaces import blocked_cnn
        >>> net = build_network(blocked_cnn(2, 1), (1, 28, 28), 10)
        >>> net(torch.zeros(4, 1, 28, 28)).shape
        torch.Size([4, 10])
    """
    if num_outputs < 1:
        raise BonasError(f"num_outputs must be at least 1, got {num_outputs}")
    family = arch.vocabulary.name
    if cell_family(arch) is not None:
        return build_cell_network(arch, input_shape, num_outputs, **options)
    multiplier = options.pop("width_multiplier", 1.0)
    if options and family in ("cnn", "mlp"):
        raise BonasError(
            f"{family} architectures take only the build option width_multiplier; got "
            f"{sorted(options)}"
        )
    if not (isinstance(multiplier, int | float) and multiplier > 0):
        raise BonasError(f"width_multiplier must be a positive number, got {multiplier!r}")

    def scaled(units: int | None) -> int:
        return max(1, round(int(units) * multiplier))  # type: ignore[arg-type]

    if family == "cnn":
        if len(input_shape) != 3:
            raise BonasError(f"a CNN takes (C, H, W) inputs, got input_shape={input_shape}")
        layers = _cnn_layers(arch, int(input_shape[0]), num_outputs, scaled)
        return ArchitectureNetwork(arch, layers, flatten_input=False)
    if family == "mlp":
        features = math.prod(int(d) for d in input_shape)
        layers = _mlp_layers(arch, features, num_outputs, scaled)
        return ArchitectureNetwork(arch, layers, flatten_input=True)
    raise BonasError(
        f"build_network compiles architectures of the cnn and mlp vocabularies and the "
        f"cells of the nb201, cell-*, nb101, dag-* and darts vocabularies; got {family!r}"
    )


def _cnn_layers(
    arch: Architecture, channels: int, num_outputs: int, scaled: Callable[[int | None], int]
) -> dict[int, nn.Module]:
    width: dict[int, int] = {}
    layers: dict[int, nn.Module] = {}
    for layer in arch.topological_order():
        label, units, stride = arch.labels[layer], arch.units[layer], arch.strides[layer]
        incoming = sum(width[p] for p in arch.predecessors(layer))
        if layer == arch.input_layer:
            layers[layer], width[layer] = nn.Identity(), channels
        elif layer == arch.output_layer:
            layers[layer], width[layer] = _Mean(), num_outputs
        elif label.startswith("conv"):
            layers[layer] = _ConvBNReLU(incoming, scaled(units), int(label[-1]), int(stride))
            width[layer] = scaled(units)
        elif label.startswith("res"):
            layers[layer] = _Residual(incoming, scaled(units), int(label[-1]), int(stride))
            width[layer] = scaled(units)
        elif label == "max-pool":
            layers[layer], width[layer] = nn.MaxPool2d(2, ceil_mode=True), incoming
        elif label == "avg-pool":
            layers[layer], width[layer] = nn.AvgPool2d(2, ceil_mode=True), incoming
        elif label == "fc":
            layers[layer] = _GlobalPoolLinear(incoming, scaled(units), activation=True)
            width[layer] = scaled(units)
        elif label == "softmax":
            layers[layer] = _GlobalPoolLinear(incoming, num_outputs, activation=False)
            width[layer] = num_outputs
        else:
            raise BonasError(f"layer {layer} has a label the CNN builder does not know: {label}")
    return layers


def _mlp_layers(
    arch: Architecture, features: int, num_outputs: int, scaled: Callable[[int | None], int]
) -> dict[int, nn.Module]:
    width: dict[int, int] = {}
    layers: dict[int, nn.Module] = {}
    for layer in arch.topological_order():
        label, units = arch.labels[layer], arch.units[layer]
        incoming = sum(width[p] for p in arch.predecessors(layer))
        if layer == arch.input_layer:
            layers[layer], width[layer] = nn.Identity(), features
        elif layer == arch.output_layer:
            layers[layer], width[layer] = _Mean(), num_outputs
        elif label in ("linear", "softmax"):
            layers[layer], width[layer] = nn.Linear(incoming, num_outputs), num_outputs
        elif label == "crelu":
            layers[layer] = nn.Sequential(nn.Linear(incoming, scaled(units)), _CReLU())
            width[layer] = 2 * scaled(units)
        elif label in _MLP_ACTIVATIONS:
            layers[layer] = nn.Sequential(
                nn.Linear(incoming, scaled(units)), _MLP_ACTIVATIONS[label]()
            )
            width[layer] = scaled(units)
        else:
            raise BonasError(f"layer {layer} has a label the MLP builder does not know: {label}")
    return layers


def count_parameters(module: nn.Module) -> int:
    """Trainable parameters of a module."""
    return sum(p.numel() for p in module.parameters() if p.requires_grad)
