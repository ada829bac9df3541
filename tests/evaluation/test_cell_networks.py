"""Cell architectures compiled inside their benchmarks' skeletons (bonas.evaluation.cells)."""

from __future__ import annotations

import pickle
from collections.abc import Iterator

import numpy as np
import pytest
import torch
from torch import nn

from bonas import BonasError
from bonas.evaluation import (
    DARTSNetwork,
    NB101Network,
    NB201Network,
    Trainer,
    UnknownOpError,
    build_cell_network,
    build_network,
    cell_family,
    count_parameters,
    load_dataset,
    nb101_cell_spec,
)
from bonas.spaces import CellSpace, DARTSSpace, NB101Space, NB201Space, NBGraphSpace
from bonas.spaces.cell import split_cell_string

SPACES = {
    "nb201": NB201Space(),
    "cell3": CellSpace(
        ("none", "skip_connect", "sep_conv_3x3", "max_pool_3x3", "dil_conv_5x5"), nodes=3
    ),
    "nb101": NB101Space(),
    "darts": DARTSSpace(),
}
NETWORK_TYPES = {
    "nb201": NB201Network,
    "cell3": NB201Network,
    "nb101": NB101Network,
    "darts": DARTSNetwork,
}
ALL_CONV = "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|nor_conv_3x3~0|nor_conv_3x3~1|nor_conv_3x3~2|"  # noqa: E501
ALL_NONE = "|none~0|+|none~0|none~1|+|none~0|none~1|none~2|"


@pytest.fixture(autouse=True, scope="module")
def _one_thread() -> Iterator[None]:
    # small convolutions on a shared 2-core machine run far faster on one thread
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(autouse=True)
def _seeded() -> None:
    torch.manual_seed(0)


def _reaches_output(space: CellSpace, arch) -> bool:
    """Whether a path of ops other than ``none`` joins the cell's input to its output."""
    reached = {0}
    for j, ops in enumerate(split_cell_string(space.to_string(arch)), start=1):
        if any(op != "none" and i in reached for i, op in enumerate(ops)):
            reached.add(j)
    return space.nodes - 1 in reached


@pytest.mark.parametrize("name", list(SPACES))
@pytest.mark.parametrize("shape", [(1, 28, 28), (3, 32, 32)])
def test_sampled_cells_give_logits_and_gradients_reach_the_stem(name, shape) -> None:
    space = SPACES[name]
    for k in range(3):
        arch = space.sample(np.random.default_rng(k))
        assert cell_family(arch) == {"cell3": "cell"}.get(name, name)
        net = build_network(arch, shape, 7)
        assert isinstance(net, NETWORK_TYPES[name]) and net.architecture is arch
        logits = net(torch.rand(2, *shape))
        assert logits.shape == (2, 7) and torch.isfinite(logits).all()
        logits.square().sum().backward()
        stem_grad = net.stem[0].weight.grad
        connected = _reaches_output(space, arch) if isinstance(space, CellSpace) else True
        # a cell whose output only receives ``none`` edges cuts the stem off the loss
        assert (stem_grad is not None and bool(stem_grad.abs().sum() > 0)) == connected


def test_the_all_none_cell_is_smaller_than_the_all_conv_cell_and_still_runs() -> None:
    space = NB201Space()
    empty = build_network(space.from_string(ALL_NONE), (1, 28, 28), 10)
    full = build_network(space.from_string(ALL_CONV), (1, 28, 28), 10)
    # each 3x3 ReLU-Conv-BN edge at C channels adds 9*C*C + 2*C; 6 edges per cell,
    # one cell at each of C = 8, 16, 32
    per_cell = [6 * (9 * c * c + 2 * c) for c in (8, 16, 32)]
    assert count_parameters(full) - count_parameters(empty) == sum(per_cell)
    out = empty(torch.rand(2, 1, 28, 28))
    assert out.shape == (2, 10) and torch.isfinite(out).all()
    # nothing reaches the output: the logits do not depend on the image
    torch.testing.assert_close(out[0], out[1])
    cut = "|nor_conv_3x3~0|+|nor_conv_1x1~0|skip_connect~1|+|none~0|none~1|none~2|"
    for cell, connected in ((ALL_NONE, False), (cut, False), (ALL_CONV, True)):
        net = build_network(space.from_string(cell), (1, 28, 28), 10)
        net(torch.rand(2, 1, 28, 28)).square().sum().backward()
        assert (net.stem[0].weight.grad is not None) == connected


def test_the_nb201_cell_wires_its_edges_node_by_node() -> None:
    cell = [["nor_conv_1x1"], ["none", "skip_connect"], ["avg_pool_3x3", "none", "none"]]
    net = NB201Network(cell, (1, 8, 8), 3)
    first_cell = net.cells[0]
    assert first_cell.sources == [[0], [1], [0]]  # ``none`` edges are not computed
    assert isinstance(first_cell.edges["1-2"], nn.Identity)


def test_isomorphic_nb101_specs_build_equal_networks() -> None:
    # three vertices feed the output: 16 channels split 6/5/5, the spare one going to
    # the earliest vertex, so the vertex order must not depend on the numbering
    matrix = np.array(
        [
            [0, 1, 1, 1, 0],
            [0, 0, 0, 0, 1],
            [0, 0, 0, 0, 1],
            [0, 0, 0, 0, 1],
            [0, 0, 0, 0, 0],
        ]
    )
    space = NB101Space()
    first = space.from_spec(
        matrix, ["input", "conv3x3-bn-relu", "conv1x1-bn-relu", "maxpool3x3", "output"]
    )
    second = space.from_spec(
        matrix, ["input", "maxpool3x3", "conv1x1-bn-relu", "conv3x3-bn-relu", "output"]
    )
    assert first == second
    assert nb101_cell_spec(first)[1] == nb101_cell_spec(second)[1]
    counts = {count_parameters(build_network(a, (1, 28, 28), 10)) for a in (first, second)}
    assert len(counts) == 1
    # the cell's output concatenates its in-edges' vertices: 6 + 5 + 5 = 16 channels
    widths = build_network(first, (1, 28, 28), 10).cells[0].widths
    assert sorted(widths[1:-1]) == [5, 5, 6] and widths[-1] == 16


def test_the_nb101_input_output_edge_adds_a_projection() -> None:
    ops = ["input", "conv3x3-bn-relu", "output"]
    chain = NB101Network([[0, 1, 0], [0, 0, 1], [0, 0, 0]], ops, (1, 8, 8), 2)
    bypass = NB101Network([[0, 1, 1], [0, 0, 1], [0, 0, 0]], ops, (1, 8, 8), 2)
    assert "2" in bypass.cells[0].projections and "2" not in chain.cells[0].projections
    assert bypass(torch.rand(2, 1, 8, 8)).shape == (2, 2)


@pytest.mark.parametrize("name", list(SPACES))
def test_width_and_depth_options_change_the_parameter_count(name) -> None:
    arch = SPACES[name].sample(np.random.default_rng(3))
    net = build_network(arch, (1, 28, 28), 10)
    base = count_parameters(net)
    wider = build_network(arch, (1, 28, 28), 10, channels=24)
    deeper = build_network(arch, (1, 28, 28), 10, cells_per_stage=2)
    assert count_parameters(wider) > base
    # three more cells; only a cell of skips, pools and ``none`` has no weights
    assert (count_parameters(deeper) > base) == (count_parameters(net.cells[0]) > 0)
    assert wider(torch.rand(2, 1, 28, 28)).shape == (2, 10)


def test_the_darts_skeleton_reduces_at_a_third_and_two_thirds() -> None:
    arch = SPACES["darts"].sample(np.random.default_rng(0))
    net = build_network(arch, (1, 28, 28), 10, cells_per_stage=2)
    sizes = []
    hook = [c.register_forward_hook(lambda m, i, o: sizes.append(o.shape[1:])) for c in net.cells]
    net(torch.rand(1, 1, 28, 28))
    for handle in hook:
        handle.remove()
    # 8 cells, reductions at 2 and 5; a cell outputs 4 nodes of 8, 16, 32 channels
    assert sizes == [(32, 28, 28)] * 2 + [(64, 14, 14)] * 3 + [(128, 7, 7)] * 3


def test_odd_image_sizes_reduce_consistently() -> None:
    for name in SPACES:
        net = build_network(SPACES[name].sample(np.random.default_rng(1)), (2, 9, 11), 3)
        assert net(torch.rand(2, 2, 9, 11)).shape == (2, 3)


def test_unknown_ops_and_kinds_raise_bonas_errors() -> None:
    space = CellSpace(("none", "skip_connect", "my_op"), nodes=3)
    arch = space.from_ops(["my_op", "skip_connect", "none"])
    with pytest.raises(UnknownOpError, match=r"op 'my_op'; known ops: \[.*'nor_conv_3x3'") as err:
        build_network(arch, (1, 28, 28), 10)
    assert isinstance(err.value, BonasError) and err.value.op == "my_op"
    assert str(pickle.loads(pickle.dumps(err.value))) == str(err.value)
    # a factory for the op makes it buildable
    net = build_network(arch, (1, 8, 8), 2, op_factories={"my_op": lambda i, o, s: nn.Identity()})
    assert net(torch.rand(1, 1, 8, 8)).shape == (1, 2)
    dag = NB101Space(ops=("conv3x3-bn-relu", "mystery")).from_spec(
        [[0, 1, 0], [0, 0, 1], [0, 0, 0]], ["input", "mystery", "output"]
    )
    with pytest.raises(UnknownOpError, match="'mystery'"):
        build_network(dag, (1, 28, 28), 10)

    graph_arch = NBGraphSpace().sample(np.random.default_rng(0))
    assert cell_family(graph_arch) is None
    with pytest.raises(BonasError, match=r"nb201, cell-\*, nb101, dag-\* and darts.*'nbgraph'"):
        build_network(graph_arch, (1, 28, 28), 10)
    nb201 = NB201Space().sample(np.random.default_rng(0))
    with pytest.raises(BonasError, match=r"unknown cell-network options \['width'\]"):
        build_cell_network(nb201, (1, 28, 28), 10, width=4)
    with pytest.raises(BonasError, match=r"\(C, H, W\).*\(784,\)"):
        build_network(nb201, (784,), 10)
    with pytest.raises(BonasError, match="channels=0"):
        build_network(nb201, (1, 28, 28), 10, channels=0)
    dense = np.triu(np.ones((7, 7), dtype=int), 1)  # five vertices feed the output
    with pytest.raises(BonasError, match="4 output channels cannot split them over the 5"):
        NB101Network(dense, ["input", *["maxpool3x3"] * 5, "output"], (1, 8, 8), 2, channels=4)


def test_a_trainer_run_on_an_nb201_cell() -> None:
    data = load_dataset("mnist5k", seed=0).subset(0.05, seed=0)  # 200 training digits
    arch = NB201Space().from_string(
        "|nor_conv_3x3~0|+|skip_connect~0|nor_conv_1x1~1|+|skip_connect~0|avg_pool_3x3~1|"
        "nor_conv_3x3~2|"
    )
    result = Trainer(data, max_epochs=1, batch_size=64, seed=0).train(arch, 1)
    assert 0.0 <= result.val_accuracy <= 1.0 and result.epochs == 1
    assert result.params == count_parameters(build_network(arch, (1, 28, 28), 10))
    assert result.flops > 0
