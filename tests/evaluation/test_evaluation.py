"""The training evaluator: builder, datasets, trainer and checkpoint continuation."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from bonas import Architecture, BonasError
from bonas.evaluation import (
    DatasetError,
    Trainer,
    TrainingError,
    build_network,
    count_parameters,
    load_dataset,
)
from bonas.spaces import CNNSpace, MLPSpace, NBGraphSpace


def _tiny_cnn(filters: int = 4) -> Architecture:
    return Architecture.from_layers(
        ["ip", "conv3", "max-pool", "fc", "softmax", "op"],
        [None, filters, None, 16, None, None],
        [(0, 1), (1, 2), (2, 3), (3, 4), (4, 5)],
        vocabulary="cnn",
    )


@pytest.fixture(scope="module")
def data():
    return load_dataset("mnist5k", seed=0).subset(0.05, seed=0)  # 200 training digits


# -- the builder -------------------------------------------------------------------------


@pytest.mark.parametrize("space", [CNNSpace(max_num_layers=14), MLPSpace(task="class")])
def test_every_sampled_architecture_compiles(space) -> None:
    rng = np.random.default_rng(0)
    for _ in range(15):
        arch = space.sample(rng)
        net = build_network(arch, (1, 28, 28), 10)
        out = net(torch.rand(3, 1, 28, 28))
        assert out.shape == (3, 10) and torch.isfinite(out).all()


def test_parameters_follow_the_layers_and_merges_concatenate() -> None:
    arch = _tiny_cnn(4)
    # conv3: 1*4*9 weights + BN 2*4; fc: 4*16 + 16; softmax: 16*10 + 10
    assert count_parameters(build_network(arch, (1, 28, 28), 10)) == 36 + 8 + 80 + 170
    two_branches = Architecture.from_layers(
        ["ip", "conv3", "conv5", "conv3", "fc", "softmax", "op"],
        [None, 4, 6, 5, 8, None, None],
        [(0, 1), (0, 2), (1, 3), (2, 3), (3, 4), (4, 5), (5, 6)],
        vocabulary="cnn",
    )
    net = build_network(two_branches, (3, 16, 16), 2)
    merge_conv = net.layers["3"][0]
    assert merge_conv.in_channels == 4 + 6 and merge_conv.out_channels == 5
    assert net(torch.rand(2, 3, 16, 16)).shape == (2, 2)


def test_the_builder_refuses_what_it_cannot_build() -> None:
    graph = NBGraphSpace().sample(0)
    with pytest.raises(BonasError, match=r"cnn and mlp vocabularies.*got 'nbgraph'"):
        build_network(graph, (3, 32, 32), 10)
    with pytest.raises(BonasError, match="width_multiplier must be a positive number"):
        build_network(_tiny_cnn(), (1, 28, 28), 10, width_multiplier=0)
    with pytest.raises(BonasError, match=r"\(C, H, W\)"):
        build_network(_tiny_cnn(), (784,), 10)


# -- datasets ----------------------------------------------------------------------------


def test_mnist5k_is_split_by_seed() -> None:
    a, b, c = (load_dataset("mnist5k", seed=s) for s in (0, 0, 1))
    assert a.input_shape == (1, 28, 28) and a.num_classes == 10
    assert len(a.train_y) == 4000 and len(a.val_y) == 1000
    assert float(a.train_x.min()) >= 0.0 and float(a.train_x.max()) <= 1.0
    assert torch.equal(a.val_x, b.val_x) and not torch.equal(a.val_x, c.val_x)
    # every class is in both parts (the package's digits come sorted by class)
    assert set(a.val_y.tolist()) == set(range(10)) == set(a.train_y.tolist())


def test_image_folders_and_missing_data(tmp_path: Path) -> None:
    from PIL import Image

    for label in ("cats", "dogs"):
        folder = tmp_path / "images" / label
        folder.mkdir(parents=True)
        for k in range(5):
            shade = 40 if label == "cats" else 200
            Image.new("RGB", (20 + k, 24), (shade, shade, shade)).save(folder / f"{k}.png")
    data = load_dataset("imagefolder", tmp_path / "images", image_size=16, val_fraction=0.2)
    assert data.input_shape == (3, 16, 16) and data.num_classes == 2
    assert len(data.train_y) + len(data.val_y) == 10
    with pytest.raises(DatasetError, match=r"no such folder.*--download"):
        load_dataset("cifar10", tmp_path / "nowhere")
    with pytest.raises(DatasetError, match="needs data_dir"):
        load_dataset("fashionmnist")
    with pytest.raises(DatasetError, match="unknown dataset 'svhn'"):
        load_dataset("svhn")


# -- training ------------------------------------------------------------------------------


def test_training_is_deterministic_and_leaves_global_rng_alone(data) -> None:
    trainer = Trainer(data, max_epochs=2, batch_size=64, seed=3)
    torch.manual_seed(123)
    before = torch.rand(1)
    torch.manual_seed(123)
    first = trainer.train(_tiny_cnn(), 2)
    assert torch.equal(torch.rand(1), before)  # the run drew nothing from the global RNG
    second = trainer.train(_tiny_cnn(), 2)
    assert first.val_curve == second.val_curve and len(first.val_curve) == 2
    assert first.epochs == 2 and first.resumed_from is None and first.device == "cpu"
    assert first.params == count_parameters(build_network(_tiny_cnn(), (1, 28, 28), 10))
    assert first.flops > 0 and first.wall_s > 0
    other = Trainer(data, max_epochs=2, batch_size=64, seed=4).train(_tiny_cnn(), 2)
    assert other.val_curve != first.val_curve


def test_a_continued_run_equals_a_straight_one(data, tmp_path: Path) -> None:
    trainer = Trainer(data, max_epochs=3, batch_size=64, seed=0, optimizer="adamw")
    low = trainer.train(_tiny_cnn(), 1, checkpoint=tmp_path / "e1.pt")
    continued = trainer.train(
        _tiny_cnn(), 3, resume=tmp_path / "e1.pt", checkpoint=tmp_path / "e3.pt"
    )
    straight = trainer.train(_tiny_cnn(), 3)
    assert continued.resumed_from == 1 and len(continued.val_curve) == 2
    assert low.val_curve + continued.val_curve == straight.val_curve
    saved = torch.load(tmp_path / "e3.pt", weights_only=True)
    assert saved["epoch"] == 3
    with pytest.raises(TrainingError, match="another architecture"):
        trainer.train(_tiny_cnn(8), 3, resume=tmp_path / "e1.pt")
    with pytest.raises(TrainingError, match="beyond the budget 2"):
        trainer.train(_tiny_cnn(), 2, resume=tmp_path / "e3.pt")
    (tmp_path / "junk.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(TrainingError, match="not a readable bonas checkpoint"):
        trainer.train(_tiny_cnn(), 3, resume=tmp_path / "junk.pt")


def test_data_fraction_budgets(data) -> None:
    trainer = Trainer(data, budget_unit="data", epochs=1, batch_size=64)
    result = trainer.train(_tiny_cnn(), 0.5)
    assert result.epochs == 1 and 0.0 <= result.val_accuracy <= 1.0
    with pytest.raises(TrainingError, match=r"in \(0, 1\]"):
        trainer.train(_tiny_cnn(), 2.0)
    with pytest.raises(TrainingError, match="optimizer must be"):
        Trainer(data, optimizer="lbfgs")
