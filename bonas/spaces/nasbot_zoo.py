"""Hand-designed networks of NASBOT's CNN and MLP spaces: VGG-like, blocked, ResNet-like
and multi-depth CNNs and blocked MLPs. They seed the spaces' initial pools
(:meth:`~bonas.spaces.CNNSpace.initial_pool`) and serve as examples and test cases.

Example:
    >>> from bonas.spaces import CNNSpace, blocked_cnn
    >>> CNNSpace().contains(blocked_cnn(3, 2, 1))
    True
"""

from __future__ import annotations

from collections.abc import Sequence

from bonas.architecture import Architecture
from bonas.vocabulary import CNN_VOCABULARY, MLP_VOCABULARY, Vocabulary

__all__ = ["blocked_cnn", "blocked_mlp", "multidepth_cnn", "resnet_cnn", "vgg_net"]

#: The rectifier and sigmoid labels blocked MLPs alternate (NASBOT's MLP labels).
MLP_RECTIFIERS: tuple[str, ...] = ("relu", "crelu", "leaky-relu", "softplus", "elu")
MLP_SIGMOIDS: tuple[str, ...] = ("logistic", "tanh")


def _chain(
    labels: Sequence[str],
    units: Sequence[int | None],
    strides: Sequence[int | None],
    vocabulary: Vocabulary,
    extra_edges: Sequence[tuple[int, int]] = (),
) -> Architecture:
    edges = [(i, i + 1) for i in range(len(labels) - 1)] + list(extra_edges)
    return Architecture(labels, units, edges, strides, vocabulary)


def vgg_net(convs_per_block: int = 2) -> Architecture:
    """A VGG-like CNN: two conv3(64), then blocks of ``convs_per_block`` conv3 layers of 128,
    256 and 512 filters, each block followed by a max-pool, then fc 128/256/512."""
    spec: list[tuple[str, int | None, int | None]] = [("ip", None, None)]
    spec += [("conv3", 64, 1), ("conv3", 64, 1), ("max-pool", None, None)]
    spec += [("conv3", 128, 1), ("conv3", 128, 1), ("max-pool", None, None)]
    for width in (128, 256, 512):
        spec += [("conv3", width, 1)] * convs_per_block + [("max-pool", None, None)]
    spec += [("fc", 128, None), ("fc", 256, None), ("fc", 512, None)]
    spec += [("softmax", None, None), ("op", None, None)]
    labels, units, strides = zip(*spec, strict=True)
    return _chain(labels, units, strides, CNN_VOCABULARY)


def blocked_cnn(num_blocks: int = 3, convs_per_block: int = 2, num_fc: int = 1) -> Architecture:
    """A blocked CNN: conv7(64), max-pool, then ``num_blocks`` blocks of conv3 layers of
    64/128/256/512 filters, each block starting with a stride-2 conv, then avg-pool and
    ``num_fc`` fc layers."""
    widths = (64, 128, 256, 512)
    spec: list[tuple[str, int | None, int | None]] = [
        ("ip", None, None), ("conv7", 64, 1), ("max-pool", None, None),
    ]  # fmt: skip
    for block in range(num_blocks):
        for k in range(convs_per_block):
            spec.append(("conv3", widths[min(block, 3)], 2 if k == 0 else 1))
    last = widths[min(num_blocks - 1, 3)]
    spec.append(("avg-pool", None, None))
    spec += [("fc", 2 * last, None)] * num_fc
    spec += [("softmax", None, None), ("op", None, None)]
    labels, units, strides = zip(*spec, strict=True)
    return _chain(labels, units, strides, CNN_VOCABULARY)


def resnet_cnn(num_blocks: int = 2, width: int = 64) -> Architecture:
    """A ResNet-like CNN: conv3 stem, ``num_blocks`` pairs of res3 layers each bridged by a
    skip edge, doubling width after a max-pool between blocks, then fc and softmax."""
    labels: list[str] = ["ip", "conv3"]
    units: list[int | None] = [None, width]
    strides: list[int | None] = [None, 1]
    extra: list[tuple[int, int]] = []
    for block in range(num_blocks):
        block_in = len(labels) - 1
        w = width * 2**block
        labels += ["res3", "res3"]
        units += [w, w]
        strides += [1, 1]
        labels.append("max-pool" if block < num_blocks - 1 else "avg-pool")
        units.append(None)
        strides.append(None)
        extra.append((block_in, len(labels) - 1))  # skip over the res pair into the pool
    labels += ["fc", "softmax", "op"]
    units += [2 * width * 2 ** (num_blocks - 1), None, None]
    strides += [None, None, None]
    return _chain(labels, units, strides, CNN_VOCABULARY, extra)


def multidepth_cnn(depths: Sequence[int] = (1, 2, 3), width: int = 32) -> Architecture:
    """A multi-depth CNN: a conv3 stem feeding parallel conv branches of the given depths,
    merged by a max-pool, then conv3, avg-pool, fc and softmax."""
    labels: list[str] = ["ip", "conv3"]
    units: list[int | None] = [None, width]
    strides: list[int | None] = [None, 1]
    edges: list[tuple[int, int]] = [(0, 1)]
    branch_ends = []
    kinds = ("conv3", "conv5", "conv7")
    for b, depth in enumerate(depths):
        previous = 1
        for _ in range(depth):
            labels.append(kinds[b % 3])
            units.append(width)
            strides.append(1)
            edges.append((previous, len(labels) - 1))
            previous = len(labels) - 1
        branch_ends.append(previous)
    merge = len(labels)
    labels.append("max-pool")
    units.append(None)
    strides.append(None)
    edges += [(end, merge) for end in branch_ends]
    tail = [("conv3", 2 * width, 1), ("avg-pool", None, None), ("fc", 4 * width, None),
            ("softmax", None, None), ("op", None, None)]  # fmt: skip
    for label, unit, stride in tail:
        labels.append(label)
        units.append(unit)
        strides.append(stride)
        edges.append((len(labels) - 2, len(labels) - 1))
    return Architecture(labels, units, edges, strides, CNN_VOCABULARY)


def blocked_mlp(num_blocks: int, layers_per_block: int, decision: str = "linear") -> Architecture:
    """A blocked MLP: ``num_blocks`` blocks of ``layers_per_block`` layers alternating a
    rectifier block (relu) and a sigmoid block (tanh), widths growing then shrinking."""
    labels: list[str] = ["ip"]
    units: list[int | None] = [None]
    widths = [64 * 2 ** min(b, num_blocks - 1 - b, 3) for b in range(num_blocks)]
    for block in range(num_blocks):
        label = (
            MLP_RECTIFIERS[block // 2 % len(MLP_RECTIFIERS)]
            if block % 2 == 0
            else (MLP_SIGMOIDS[block // 2 % len(MLP_SIGMOIDS)])
        )
        labels += [label] * layers_per_block
        units += [widths[block]] * layers_per_block
    labels += [decision, "op"]
    units += [None, None]
    return _chain(labels, units, [None] * len(labels), MLP_VOCABULARY)
