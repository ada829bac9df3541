"""NASBOT's convolutional-network space: conv/res layers with filters and strides,
pools that halve the image, ``fc`` layers, then ``softmax`` layers (see
:mod:`bonas.spaces.nasbot` for the shared constraints and mutation primitives)."""

from __future__ import annotations

from typing import Any

from bonas.architecture import Architecture
from bonas.exceptions import InvalidArchitectureError, InvalidSpaceError
from bonas.spaces.nasbot import CONV_LABELS, POOL_LABELS, EditableArchitecture, NASBOTSpace
from bonas.spaces.nasbot_zoo import blocked_cnn, multidepth_cnn, resnet_cnn, vgg_net
from bonas.vocabulary import CNN_VOCABULARY

__all__ = ["CNNSpace"]

# NASBOT's swap table for conv/res layers: target label -> probability mass.
_POOL_SWAPS = {"max-pool": 0.05, "avg-pool": 0.05}
_CONV_SWAPS: dict[str, dict[str, float]] = {
    "conv3": {"res3": .25, "res5": .25, "conv5": .15, "conv7": .25, **_POOL_SWAPS},
    "conv5": {"res3": .25, "res5": .25, "conv3": .2, "conv7": .2, **_POOL_SWAPS},
    "conv7": {"res3": .25, "res5": .25, "conv3": .25, "conv5": .15, **_POOL_SWAPS},
    "res3": {"conv3": .25, "conv5": .25, "res5": .15, "res7": .25, **_POOL_SWAPS},
    "res5": {"conv3": .25, "conv5": .25, "res3": .2, "res7": .2, **_POOL_SWAPS},
    "res7": {"conv3": .25, "conv5": .25, "res3": .25, "res5": .15, **_POOL_SWAPS},
}  # fmt: skip


class CNNSpace(NASBOTSpace):
    """NASBOT's convolutional-network space.

    Args:
        max_num_2strides: Most halvings of the image along any path (``None``: no limit).
        **constraints: See :class:`NASBOTSpace`.

    Example:
        >>> import numpy as np
        >>> space = CNNSpace()
        >>> arch = space.sample(np.random.default_rng(0))
        >>> space.contains(space.mutate(arch, np.random.default_rng(1)))
        True
    """

    name = "cnn"
    vocabulary = CNN_VOCABULARY
    hidden_labels = (*CONV_LABELS, *POOL_LABELS, "fc")

    def __init__(self, *, max_num_2strides: int | None = None, **constraints: Any) -> None:
        super().__init__(**constraints)
        if max_num_2strides is not None and max_num_2strides < 0:
            raise InvalidSpaceError(f"max_num_2strides must be >= 0, got {max_num_2strides}")
        self.max_num_2strides = max_num_2strides

    def config(self) -> dict[str, Any]:
        return {**super().config(), "max_num_2strides": self.max_num_2strides}

    @staticmethod
    def image_reductions(arch: Architecture) -> list[int | None]:
        """Halvings of the image at each layer's output (``None`` once flattened by fc).

        Raises:
            InvalidArchitectureError: If a layer's parents disagree on the image size or a
                conv/pool layer follows a flattened layer.
        """
        post: list[int | None] = [None] * arch.num_layers
        labels = arch.labels
        for layer in arch.topological_order():
            label = labels[layer]
            if label == "ip":
                post[layer] = 0
                continue
            parents = arch.predecessors(layer)
            if len(parents) == 1:  # most layers: nothing to agree on
                pre = post[parents[0]]
            else:
                sizes = {post[p] for p in parents}
                if len(sizes) != 1:
                    raise InvalidArchitectureError(
                        "image-size",
                        f"the parents of layer {layer} ({label}) see different image sizes "
                        f"{sorted(sizes, key=lambda s: -1 if s is None else s)}",
                        (layer,),
                    )
                (pre,) = sizes
            if label in CONV_LABELS or label in POOL_LABELS:
                if pre is None:
                    raise InvalidArchitectureError(
                        "image-size",
                        f"layer {layer} ({label}) follows a flattened fc layer",
                        (layer,),
                    )
                halves = label in POOL_LABELS or arch.strides[layer] == 2
                post[layer] = pre + 1 if halves else pre
            else:
                post[layer] = None
        return post

    def _validate_family(self, arch: Architecture) -> None:
        not_conv = tuple(
            c for c in arch.successors(arch.input_layer) if arch.labels[c] not in CONV_LABELS
        )
        if not_conv:
            raise InvalidArchitectureError(
                "conv-after-input",
                f"the input may feed only conv/res layers; layers {list(not_conv)} are "
                f"{[arch.labels[i] for i in not_conv]}",
                not_conv,
            )
        reductions = self.image_reductions(arch)
        if self.max_num_2strides is not None:
            deepest = max(r for r in reductions if r is not None)
            if deepest > self.max_num_2strides:
                raise InvalidArchitectureError(
                    "num-2strides",
                    f"the image is halved {deepest} times, above max_num_2strides="
                    f"{self.max_num_2strides}",
                )

    def _swap_targets(self, label: str) -> dict[str, float]:
        if label in _CONV_SWAPS:
            return _CONV_SWAPS[label]
        if label in POOL_LABELS:
            return {next(p for p in POOL_LABELS if p != label): 1.0}
        return {}

    def _wedge_label(self, source_label: str, after_input: bool, rng: Any) -> str:
        if source_label == "fc":
            return "fc"
        if not after_input and rng.random() < 0.05:
            return POOL_LABELS[int(rng.integers(2))]
        return CONV_LABELS[int(rng.integers(len(CONV_LABELS)))]

    def _new_stride(self, label: str, rng: Any) -> int | None:
        if label in CONV_LABELS:
            return 2 if rng.random() < 0.05 else 1
        return None

    def _skip_end_ok(self, arch: Architecture, start: int, end: int) -> bool:
        if arch.labels[end] == "fc":
            return all(arch.labels[p] in CONV_LABELS + POOL_LABELS for p in arch.predecessors(end))
        return True

    def _connect_skip(
        self, arch: Architecture, net: EditableArchitecture, start: int, end: int
    ) -> None:
        reductions = self.image_reductions(arch)
        start_size = reductions[start]
        end_parents = {reductions[p] for p in arch.predecessors(end)}
        (end_size,) = end_parents
        if start_size is None or end_size is None or end_size == start_size:
            net.edges.add((start, end))
            return
        if end_size < start_size:
            raise InvalidArchitectureError(
                "image-size", f"layer {end} sees a larger image than layer {start} produces"
            )
        # NASBOT inserts one avg-pool per halving so the skip matches the image size.
        previous = start
        for _ in range(end_size - start_size):
            pool = net.add_layer("avg-pool", None, None)
            net.edges.add((previous, pool))
            previous = pool
        net.edges.add((previous, end))

    # -- NASBOT's initial pool ---------------------------------------------------------

    def initial_pool(self) -> list[Architecture]:
        """VGG-like (1-4 convs per block), blocked, ResNet-like and multi-depth networks."""
        pool = [vgg_net(n) for n in (1, 2, 3, 4)]
        pool += [blocked_cnn(3, per_block, 1) for per_block in (1, 2, 3, 4, 5)]
        pool += [blocked_cnn(4, 4, 1)]
        pool += [resnet_cnn(blocks) for blocks in (2, 3)]
        pool += [multidepth_cnn(depths) for depths in ((1, 2), (1, 2, 3))]
        return pool
