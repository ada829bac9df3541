"""Weisfeiler-Lehman features and kernel: hand counts, invariances, PSD, depth selection."""

from __future__ import annotations

from collections import Counter

import numpy as np
import pytest
from scipy.stats import multivariate_normal

from bonas import Architecture, BonasError
from bonas.kernels.wl import (
    WLFeaturizer,
    gp_log_marginal_likelihood,
    select_wl_depth,
    wl_kernel_matrix,
)
from bonas.spaces import NB101Space

from ..helpers import SPACES, permuted, samples

C3, MP = "conv3x3-bn-relu", "maxpool3x3"


def _samples(name: str, count: int, seed: int) -> list[Architecture]:
    return samples(SPACES[name], count, seed)


def _diamond() -> Architecture:
    """ip -> conv3 -> op and ip -> conv3 -> op (two parallel conv vertices)."""
    matrix = [[0, 1, 1, 0], [0, 0, 0, 1], [0, 0, 0, 1], [0, 0, 0, 0]]
    return NB101Space().from_spec(matrix, ["input", C3, C3, "output"])


def _chains() -> list[Architecture]:
    """Two-op NB101 chains over the same ops in both orders."""
    chain = [[0, 1, 0, 0], [0, 0, 1, 0], [0, 0, 0, 1], [0, 0, 0, 0]]
    space = NB101Space()
    return [space.from_spec(chain, ["input", *ops, "output"]) for ops in ([C3, MP], [MP, C3])]


def test_feature_counts_by_hand() -> None:
    wl = WLFeaturizer(h=1)
    counts = wl.features(_diamond())
    readable = Counter({wl.describe(f): c for f, c in counts.items() if f.startswith("1:")})
    assert counts["0:ip"] == 1 and counts[f"0:{C3}"] == 2 and counts["0:op"] == 1
    assert readable == Counter({"ip<-()": 1, f"{C3}<-(ip)": 2, f"op<-({C3}, {C3})": 1})
    assert sum(counts.values()) == 2 * 4 and len(counts) == 6
    # h = 0 is the label histogram; h = 2 adds one label per layer again
    assert wl.features(_diamond(), h=0) == Counter({"0:ip": 1, f"0:{C3}": 2, "0:op": 1})
    deeper = wl.features(_diamond(), h=2)
    assert sum(deeper.values()) == 3 * 4
    assert f"op<-({C3}<-(ip), {C3}<-(ip))" in {wl.describe(f) for f in deeper}


def test_initial_labels_carry_units_and_strides() -> None:
    arch = Architecture.from_layers(
        ["ip", "conv3", "fc", "softmax", "op"],
        [None, 16, 64, None, None],
        [(0, 1), (1, 2), (2, 3), (3, 4)],
        [None, 2, None, None, None],
        vocabulary="cnn",
    )
    level0 = set(WLFeaturizer(0).features(arch))
    assert level0 == {"0:ip", "0:conv3:16:s2", "0:fc:64", "0:softmax", "0:op"}


@pytest.mark.parametrize("name", sorted(SPACES))
def test_features_ignore_layer_numbering(name: str) -> None:
    wl = WLFeaturizer(h=3)
    for i, arch in enumerate(_samples(name, 3, seed=1)):
        copy = permuted(arch, seed=i)
        assert copy == arch
        assert wl.features(copy) == wl.features(arch)
        # and so does a fresh featurizer: labels are stable digests, not per-instance ids
        assert WLFeaturizer(h=3).features(copy) == wl.features(arch)


def test_transform_shared_and_fixed_vocabulary() -> None:
    wl = WLFeaturizer(h=2)
    archs = _samples("nb201", 5, seed=2)
    x, vocab = wl.transform(archs)
    assert x.shape == (5, len(vocab)) and vocab == sorted(vocab)
    for row, arch in zip(x, archs, strict=True):
        assert row.sum() == 3 * arch.num_layers
        assert dict(zip(vocab, row, strict=True)) == {
            f: float(wl.features(arch).get(f, 0)) for f in vocab
        }
    new = _samples("nb201", 3, seed=99)
    scored, same_vocab = wl.transform(new, vocabulary=vocab)
    assert same_vocab == vocab and scored.shape == (3, len(vocab))
    for row, arch in zip(scored, new, strict=True):
        known = {f: c for f, c in wl.features(arch).items() if f in set(vocab)}
        assert row.sum() == sum(known.values())  # unknown features are dropped
    with pytest.raises(BonasError, match="repeats"):
        wl.transform(new, vocabulary=[vocab[0], vocab[0]])


def test_kernel_normalised_symmetric_psd() -> None:
    archs = _samples("cnn", 12, seed=4)
    k = wl_kernel_matrix(archs, archs, h=2)
    np.testing.assert_allclose(np.diag(k), 1.0, rtol=0, atol=1e-12)
    np.testing.assert_allclose(k, k.T, atol=1e-12)
    assert np.linalg.eigvalsh(k).min() >= -1e-9
    assert ((k > 0) & (k <= 1 + 1e-12)).all()
    raw = wl_kernel_matrix(archs, None, 2, normalize=False)
    x, _ = WLFeaturizer(2).transform(archs)
    np.testing.assert_allclose(raw, x @ x.T)
    assert np.linalg.eigvalsh(raw).min() >= -1e-9 * np.abs(raw).max()
    cross = wl_kernel_matrix(archs[:3], archs[3:], h=2)
    np.testing.assert_allclose(cross, k[:3, 3:], atol=1e-12)
    copies = [permuted(a, seed=i) for i, a in enumerate(archs[:3])]
    np.testing.assert_allclose(wl_kernel_matrix(copies, archs, h=2), k[:3], atol=1e-12)


def test_kernel_errors() -> None:
    mixed = _samples("nb201", 1, seed=0) + _samples("nb101", 1, seed=0)
    with pytest.raises(BonasError, match="one vocabulary"):
        wl_kernel_matrix(mixed, h=1)
    with pytest.raises(BonasError, match="non-negative integer"):
        wl_kernel_matrix(mixed[:1], h=-1)
    with pytest.raises(BonasError, match="non-negative integer"):
        WLFeaturizer(h=1.5)  # type: ignore[arg-type]


def test_log_marginal_likelihood_matches_gaussian_density() -> None:
    archs = _samples("nbgraph", 8, seed=5)
    k = wl_kernel_matrix(archs, h=1)
    y = np.random.default_rng(0).normal(size=8)
    expected = multivariate_normal(np.zeros(8), k + 0.05 * np.eye(8)).logpdf(y)
    assert gp_log_marginal_likelihood(k, y, noise=0.05) == pytest.approx(expected, rel=1e-10)
    with pytest.raises(BonasError, match="noise"):
        gp_log_marginal_likelihood(k, y, noise=0.0)


def test_depth_selection_prefers_separating_depth() -> None:
    archs = _chains() * 4
    y = [1.0, 0.0] * 4  # depends only on the order of the ops, invisible at h = 0
    h, scores = select_wl_depth(archs, y, candidates=(0, 1, 2), return_scores=True)
    assert h in (1, 2) and set(scores) == {0, 1, 2}
    assert scores[0] < min(scores[1], scores[2])
    assert select_wl_depth(archs, y, candidates=(0, 1, 2)) == h  # deterministic


def test_depth_selection_on_samples_and_ties() -> None:
    archs = _samples("nb201", 10, seed=6)
    y = np.random.default_rng(1).normal(size=10)
    h = select_wl_depth(archs, y)
    assert h in (0, 1, 2, 3) and select_wl_depth(archs, y) == h
    # identical architectures give the same kernel at every depth: the smallest h wins
    same = [archs[0]] * 4
    assert select_wl_depth(same, [0.0, 1.0, 2.0, 3.0], candidates=(3, 1, 2)) == 1
    assert select_wl_depth(same, [2.0] * 4, candidates=(2, 0)) == 0  # constant y
    with pytest.raises(BonasError, match="one value per architecture"):
        select_wl_depth(archs, y[:3])
    with pytest.raises(BonasError, match="non-negative integer"):
        select_wl_depth(archs, y, candidates=(0, -1))
    with pytest.raises(BonasError, match="candidate"):
        select_wl_depth(archs, y, candidates=())
