"""Render an architecture to PNG or SVG with matplotlib (no graphviz binary needed)."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import networkx as nx

from bonas.architecture import Architecture
from bonas.exceptions import BonasError

__all__ = ["draw"]

_FORMATS = (".png", ".svg", ".pdf")


def _layer_text(arch: Architecture, layer: int) -> str:
    text = arch.labels[layer]
    if arch.units[layer] is not None:
        text += f"\n{arch.units[layer]}"
    if arch.strides[layer] not in (None, 1):
        text += f" /{arch.strides[layer]}"
    return text


def _layered_positions(arch: Architecture) -> dict[int, tuple[float, float]]:
    """Top-to-bottom positions: a layer's row is its longest-path depth from the input."""
    graph = arch.to_networkx()
    depth: dict[int, int] = {}
    for node in arch.topological_order():
        preds = list(graph.predecessors(node))
        depth[node] = 1 + max(depth[p] for p in preds) if preds else 0
    nx.set_node_attributes(graph, depth, "depth")
    pos = nx.multipartite_layout(graph, subset_key="depth", align="horizontal")
    return {node: (float(x), -float(y)) for node, (x, y) in pos.items()}


def draw(arch: Architecture, path: str | Path, *, title: str | None = None) -> Path:
    """Draw ``arch`` with layer labels and units, input at the top, to ``path``.

    Args:
        arch: The architecture to draw.
        path: Output file; its suffix (``.png``, ``.svg`` or ``.pdf``) picks the format.
        title: Optional figure title.

    Returns:
        The path written.

    Example:
        >>> from bonas.spaces import CNNSpace
        >>> import numpy as np
        >>> draw(CNNSpace().sample(np.random.default_rng(0)), "cnn.png")  # doctest: +SKIP
    """
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    path = Path(path)
    if path.suffix.lower() not in _FORMATS:
        raise BonasError(f"draw() writes {list(_FORMATS)} files; got suffix {path.suffix!r}")
    graph = arch.to_networkx()
    pos = _layered_positions(arch)
    row_sizes = Counter(y for _, y in pos.values())
    rows, width = len(row_sizes), max(row_sizes.values())
    fig, ax = plt.subplots(figsize=(max(4.0, 1.8 * width), max(4.0, 0.9 * rows)))
    special = {arch.vocabulary.input_label, arch.vocabulary.output_label}
    colours = ["#f4c27a" if arch.labels[n] in special else "#a9cbe8" for n in graph.nodes]
    # edges that jump rows are arced, or they would run hidden behind the layers between.
    row_of = {n: y for n, (_, y) in pos.items()}
    row_step = min((abs(a - b) for a in row_sizes for b in row_sizes if a != b), default=1.0)
    adjacent = [(u, v) for u, v in graph.edges if abs(row_of[u] - row_of[v]) <= 1.01 * row_step]
    jumping = [e for e in graph.edges if e not in set(adjacent)]
    for edges, style in ((adjacent, "arc3"), (jumping, "arc3,rad=0.35")):
        nx.draw_networkx_edges(
            graph,
            pos,
            edgelist=edges,
            ax=ax,
            arrows=True,
            arrowsize=12,
            node_size=1600,
            edge_color="#555555",
            connectionstyle=style,
        )
    nx.draw_networkx_nodes(
        graph, pos, ax=ax, node_color=colours, node_size=1600, node_shape="s", edgecolors="#333333"
    )
    nx.draw_networkx_labels(
        graph, pos, labels={n: _layer_text(arch, n) for n in graph.nodes}, ax=ax, font_size=7
    )
    ax.set_axis_off()
    ax.set_title(title or f"{arch.vocabulary.name}: {arch.num_layers} layers")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path
