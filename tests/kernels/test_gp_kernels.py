"""Every architecture kernel passes the shared kernel test case; plus kernel specifics."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest
import torch
from gpytorch.kernels import ScaleKernel

from bonas import Architecture, BonasError, NonPSDWarning
from bonas.kernels import (
    ArchitectureBudgetKernel,
    ArchitectureRegistry,
    CellOpsKernel,
    DistanceCache,
    EditKernel,
    OTMANNDistance,
    OTMANNKernel,
    WLKernel,
    kernel_is_psd,
    project_psd,
)
from bonas.spaces import CellSpace, CNNSpace, MLPSpace, NB101Space, NB201Space
from bonas.testing.kernels import ArchitectureKernelTestCase

from ..helpers import samples


class TestOTMANNKernelCNN(ArchitectureKernelTestCase):
    def create_archs(self) -> list[Architecture]:
        return samples(CNNSpace(), self.num_archs, 0)

    def create_kernel(self, registry: ArchitectureRegistry) -> OTMANNKernel:
        return OTMANNKernel(registry)


class TestOTMANNKernelMLP(ArchitectureKernelTestCase):
    def create_archs(self) -> list[Architecture]:
        return samples(MLPSpace(), self.num_archs, 1)

    def create_kernel(self, registry: ArchitectureRegistry) -> OTMANNKernel:
        kernel = OTMANNKernel(registry)
        kernel._set("beta_emd", 30.0)  # sharper: exercises the PSD projection
        return kernel


class TestOTMANNKernelNB201(ArchitectureKernelTestCase):
    def create_archs(self) -> list[Architecture]:
        return samples(NB201Space(), self.num_archs, 2)

    def create_kernel(self, registry: ArchitectureRegistry) -> OTMANNKernel:
        return OTMANNKernel(registry, distance=OTMANNDistance.for_space(NB201Space()))


class TestHammingKernelNB201(ArchitectureKernelTestCase):
    def create_archs(self) -> list[Architecture]:
        return samples(NB201Space(), self.num_archs, 3)

    def create_kernel(self, registry: ArchitectureRegistry) -> EditKernel:
        return EditKernel(registry)


class TestEditKernelNB101(ArchitectureKernelTestCase):
    def create_archs(self) -> list[Architecture]:
        return samples(NB101Space(), self.num_archs, 4)

    def create_kernel(self, registry: ArchitectureRegistry) -> EditKernel:
        return EditKernel(registry)


class TestWLKernelCNN(ArchitectureKernelTestCase):
    def create_archs(self) -> list[Architecture]:
        return samples(CNNSpace(), self.num_archs, 5)

    def create_kernel(self, registry: ArchitectureRegistry) -> ScaleKernel:
        return ScaleKernel(WLKernel(registry, h=2))


class TestSumOfKernels(ArchitectureKernelTestCase):
    def create_archs(self) -> list[Architecture]:
        return samples(NB201Space(), self.num_archs, 6)

    def create_kernel(self, registry: ArchitectureRegistry):  # type: ignore[no-untyped-def]
        otmann = OTMANNKernel(registry, distance=OTMANNDistance.for_space(NB201Space()))
        return otmann + ScaleKernel(WLKernel(registry, h=1))


class TestCellOpsKernelNB201(ArchitectureKernelTestCase):
    def create_archs(self) -> list[Architecture]:
        return samples(NB201Space(), self.num_archs, 8)

    def create_kernel(self, registry: ArchitectureRegistry) -> CellOpsKernel:
        kernel = CellOpsKernel(registry, NB201Space())
        kernel._set_lengthscale(torch.linspace(0.5, 3.0, 6))
        return kernel


class TestWLPlusCellOpsKernel(ArchitectureKernelTestCase):
    def create_archs(self) -> list[Architecture]:
        return samples(CellSpace(("zero", "skip", "conv"), nodes=3), self.num_archs, 9)

    def create_kernel(self, registry: ArchitectureRegistry):  # type: ignore[no-untyped-def]
        space = CellSpace(("zero", "skip", "conv"), nodes=3)
        return ScaleKernel(WLKernel(registry, h=2)) + ScaleKernel(CellOpsKernel(registry, space))


class TestProductOfKernels(ArchitectureKernelTestCase):
    def create_archs(self) -> list[Architecture]:
        return samples(NB201Space(), self.num_archs, 7)

    def create_kernel(self, registry: ArchitectureRegistry):  # type: ignore[no-untyped-def]
        return ScaleKernel(WLKernel(registry, h=2)) * EditKernel(registry)


# -- specifics ---------------------------------------------------------------------------


def test_psd_declarations() -> None:
    registry = ArchitectureRegistry()
    assert not kernel_is_psd(OTMANNKernel(registry))
    assert kernel_is_psd(WLKernel(registry))
    assert kernel_is_psd(ScaleKernel(WLKernel(registry)) * WLKernel(registry, h=1))
    assert not kernel_is_psd(WLKernel(registry) + OTMANNKernel(registry))
    assert kernel_is_psd(ArchitectureBudgetKernel(WLKernel(registry)))
    assert not kernel_is_psd(ArchitectureBudgetKernel(ScaleKernel(OTMANNKernel(registry))))


def test_project_psd_clips_negative_eigenvalues() -> None:
    bad = torch.tensor([[1.0, 1.0, 0.0], [1.0, 1.0, 1.0], [0.0, 1.0, 1.0]], dtype=torch.double)
    assert torch.linalg.eigvalsh(bad).min() < -0.4
    fixed, projected = project_psd(bad)
    assert projected
    assert torch.linalg.eigvalsh(fixed).min() >= -1e-12
    good = torch.eye(3, dtype=torch.double)
    same, projected = project_psd(good)
    assert not projected and same is good


def test_project_psd_tolerates_what_its_tolerance_allows_relative_to_the_top_eigenvalue() -> None:
    # eigenvalues 100, 1 and -9.5e-7: within 1e-8 of the largest, so not projected, though
    # the Cholesky shortcut (shifted by 1e-8 times the largest diagonal entry) fails on it
    basis, _ = torch.linalg.qr(torch.randn(3, 3, generator=torch.Generator().manual_seed(0),
                                           dtype=torch.double))  # fmt: skip
    gram = basis @ torch.diag(torch.tensor([100.0, 1.0, -9.5e-7], dtype=torch.double)) @ basis.T
    assert 1e-8 * gram.diagonal().max() < 9.5e-7
    same, projected = project_psd(gram)
    assert not projected and same is gram
    worse = basis @ torch.diag(torch.tensor([100.0, 1.0, -5e-6], dtype=torch.double)) @ basis.T
    fixed, projected = project_psd(worse)
    assert projected and torch.linalg.eigvalsh(fixed).min() >= -1e-12


class _ChainDistance:
    """d(a, b) = 0, d(b, c) = 0, d(a, c) = 50: exp(-d) is then not PSD."""

    def __init__(self, archs: list[Architecture]) -> None:
        self.index = {a: i for i, a in enumerate(archs)}
        self.table = np.array([[0.0, 0.0, 50.0], [0.0, 0.0, 0.0], [50.0, 0.0, 0.0]])

    def pairwise(self, a: list[Architecture], b: list[Architecture] | None = None) -> np.ndarray:
        b = a if b is None else b
        return self.table[np.ix_([self.index[x] for x in a], [self.index[y] for y in b])]


def test_non_psd_gram_is_projected_with_a_warning() -> None:
    archs = samples(CNNSpace(), 3, 9)
    registry = ArchitectureRegistry()
    x = torch.tensor(registry.add_all(archs), dtype=torch.double)[:, None]
    kernel = EditKernel(registry, distance=_ChainDistance(archs))
    kernel._set_lengthscale(1.0)
    with pytest.warns(NonPSDWarning, match="not PSD"):
        gram = kernel(x).to_dense()
    assert torch.linalg.eigvalsh(gram.detach()).min() >= -1e-10
    # cross-covariances are not projected (they are not Gram matrices)
    with warnings.catch_warnings():
        warnings.simplefilter("error", NonPSDWarning)
        cross = kernel(x[:1], x[1:]).to_dense()
    torch.testing.assert_close(
        cross, torch.tensor([[1.0, float(np.exp(-50.0))]], dtype=torch.double)
    )


def test_otmann_kernel_matches_nasbots_formula() -> None:
    archs = samples(CNNSpace(), 4, 10)
    registry = ArchitectureRegistry()
    ids = registry.add_all(archs)
    kernel = OTMANNKernel(registry)
    kernel._set("alpha", torch.tensor([0.7, 0.3]))
    kernel._set("beta_lp", torch.tensor([1e-5, 2e-5, 3e-5, 4e-5]))
    kernel._set("beta_emd", torch.tensor([1.0, 2.0, 3.0, 4.0]))
    d = OTMANNDistance().pairwise(archs[:2], archs[2:])
    expected = 0.7 * np.exp(-(d[..., 0::2] * [1e-5, 2e-5, 3e-5, 4e-5]).sum(-1)) + 0.3 * np.exp(
        -(d[..., 1::2] ** 2 * [1.0, 2.0, 3.0, 4.0]).sum(-1)
    )
    x = torch.tensor(ids, dtype=torch.double)[:, None]
    got = kernel(x[:2], x[2:]).to_dense().detach().numpy()
    np.testing.assert_allclose(got, expected, rtol=1e-6)


def test_otmann_kernel_parameters_stay_in_nasbots_bounds() -> None:
    kernel = OTMANNKernel(ArchitectureRegistry())
    for name in ("raw_alpha", "raw_beta_lp", "raw_beta_emd"):
        getattr(kernel, name).data.fill_(50.0)
    assert (kernel.beta_lp <= 1e-3 + 1e-12).all() and (kernel.beta_emd <= 100.0 + 1e-9).all()
    for name in ("raw_beta_lp", "raw_beta_emd"):
        getattr(kernel, name).data.fill_(-50.0)
    assert (kernel.beta_lp >= 1e-9).all() and (kernel.beta_emd >= 0.1).all()
    assert {name for name, *_ in kernel.named_priors()} == {
        "alpha_prior",
        "beta_lp_prior",
        "beta_emd_prior",
    }


def test_kernel_distances_come_from_the_cache() -> None:
    archs = samples(CNNSpace(), 5, 11)
    registry = ArchitectureRegistry()
    x = torch.tensor(registry.add_all(archs), dtype=torch.double)[:, None]
    kernel = OTMANNKernel(registry)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", NonPSDWarning)
        kernel(x).to_dense()
        misses = kernel.cache.misses
        kernel(x).to_dense()  # a fit's next step: the same block, not even looked up again
        assert kernel.cache.misses == misses and kernel.cache.hits == 0
        kernel(x[1:], x[:2]).to_dense()  # another block of the same architectures
    assert misses == 10  # 5 choose 2 pairs, the diagonal needs no solve
    assert kernel.cache.misses == misses and kernel.cache.hits == 7  # (1, 1) needs none


def test_the_lazily_loaded_names_are_the_gp_modules() -> None:
    import importlib

    import bonas.kernels
    import bonas.kernels.categorical
    import bonas.kernels.gp

    modules = (bonas.kernels.gp, bonas.kernels.categorical)
    assert set(bonas.kernels._LAZY) == {n for m in modules for n in m.__all__}
    assert all(
        getattr(bonas.kernels, n) is getattr(importlib.import_module(m), n)
        for n, m in bonas.kernels._LAZY.items()
    )


def test_cell_ops_kernel_is_the_product_of_per_edge_kernels() -> None:
    space = NB201Space()
    registry = ArchitectureRegistry()
    a = space.from_ops(["none", "skip_connect", "nor_conv_1x1", "nor_conv_3x3", "none", "none"])
    b = space.from_ops(
        ["none", "avg_pool_3x3", "nor_conv_1x1", "nor_conv_3x3", "none", "skip_connect"]
    )
    x = torch.tensor(registry.add_all([a, b]), dtype=torch.double)[:, None]
    kernel = CellOpsKernel(registry, space)
    scales = torch.tensor([1.0, 2.0, 3.0, 4.0, 5.0, 6.0], dtype=torch.double)
    kernel._set_lengthscale(scales)
    gram = kernel(x).to_dense().detach()
    # a and b differ on edges 1 and 5 only
    expected = math.exp(-1 / 2.0 - 1 / 6.0)
    assert gram[0, 1].item() == pytest.approx(expected, rel=1e-6)
    assert gram[0, 0].item() == gram[1, 1].item() == 1.0
    with pytest.raises(BonasError, match="needs a cell space"):
        CellOpsKernel(registry, CNNSpace())


def test_wl_plus_ops_kernel_option_selects_the_wl_depth_and_resumes() -> None:
    from bonas.searchers.gp import GPSearcher
    from bonas.surrogate import find_wl_kernel

    space = NB201Space()
    opt = GPSearcher(space, seed=0, n_initial=4, kernel="wl+ops")
    for _ in range(6):
        (trial,) = opt.ask()
        opt.tell(trial, float(space.to_string(trial.architecture).count("conv_3x3")))
    wl = find_wl_kernel(opt.surrogate.kernel)
    assert wl is not None and opt.state_dict()["wl_depth"] == wl.h
    again = GPSearcher(space, seed=0, n_initial=4, kernel="wl+ops")
    again.trials = list(opt.trials)
    again.load_state_dict(opt.state_dict())
    assert [t.architecture for t in again.ask(1)] == [t.architecture for t in opt.ask(1)]


def test_a_gram_of_one_more_architecture_reads_only_its_new_row_and_column() -> None:
    registry = ArchitectureRegistry()
    archs = samples(CNNSpace(), 7, seed=2)
    ids = registry.add_all(archs)
    kernel = OTMANNKernel(registry)
    kernel.distances(ids[:6], ids[:6])
    hits, misses = kernel.cache.hits, kernel.cache.misses
    grown = kernel.distances(ids, ids)
    np.testing.assert_allclose(grown, OTMANNDistance().pairwise(archs), rtol=1e-12)
    # the 6 new pairs computed once, then read back for the new row; the 30 old pairs
    # came from the kept block, not the cache
    assert (kernel.cache.hits - hits, kernel.cache.misses - misses) == (6, 6)
    # a nearly full cache is read in full, which refreshes its kept pairs
    full = OTMANNKernel(registry, cache=DistanceCache(OTMANNDistance(), max_pairs=16))
    full.distances(ids[:6], ids[:6])
    hits = full.cache.hits
    np.testing.assert_allclose(full.distances(ids, ids), grown, rtol=1e-12)
    assert full.cache.hits - hits > 6


class TestCategoricalKernelNB101(ArchitectureKernelTestCase):
    def create_archs(self) -> list[Architecture]:
        return samples(NB101Space(), self.num_archs, 8)

    def create_kernel(self, registry: ArchitectureRegistry) -> ScaleKernel:
        from bonas.kernels import CategoricalKernel

        return ScaleKernel(CategoricalKernel(registry, NB101Space()))


def test_categorical_kernel_is_its_formula_with_an_exact_diagonal() -> None:
    from bonas.kernels import CategoricalKernel

    space, registry = NB101Space(), ArchitectureRegistry()
    archs = samples(space, 9, seed=3)
    x = torch.tensor(registry.add_all(archs), dtype=torch.double)[:, None]
    kernel = CategoricalKernel(registry, space)
    scales = torch.linspace(0.3, 4.0, len(space.categories()), dtype=torch.double)
    kernel._set_lengthscale(scales)
    gram = kernel(x).to_dense()
    codes = np.array([space.encode(a) for a in archs])
    differ = torch.as_tensor(codes[:, None, :] != codes[None, :, :], dtype=torch.double)
    lengthscales = kernel.lengthscale_per_variable.detach().to(torch.double)
    expected = torch.exp(-(differ / lengthscales).sum(-1))
    torch.testing.assert_close(gram.detach(), expected, rtol=1e-12, atol=0.0)
    assert torch.equal(gram.diagonal().detach(), torch.ones(9, dtype=torch.double))
    gram.sum().backward()
    grad = kernel.raw_category_lengthscale.grad
    assert grad is not None and torch.isfinite(grad).all() and bool((grad != 0).any())


def test_architecture_budget_kernel_is_its_formula_on_repeated_and_batched_budgets() -> None:
    registry = ArchitectureRegistry()
    ids = registry.add_all(samples(NB201Space(), 4, seed=1))
    kernel = ArchitectureBudgetKernel(ScaleKernel(WLKernel(registry)))
    kernel.budget_kernel.lengthscale = 0.7
    arch = torch.tensor([ids[0], ids[1], ids[1], ids[2], ids[3]], dtype=torch.double)
    budget = torch.log(torch.tensor([4.0, 12.0, 108.0, 12.0, 4.0], dtype=torch.double))
    x1 = torch.stack([arch, budget], dim=-1)
    x2 = x1[[4, 0, 2]]
    batched = torch.stack([x1, x1.flip(0)])  # (2, 5, 2), as acquisition batches come

    def by_formula(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        k_a = kernel.architecture_kernel.forward(a[..., :1], b[..., :1]).to_dense()
        k_s = kernel.budget_kernel.forward(a[..., 1:], b[..., 1:])
        k_t = kernel.trend_kernel.forward(a[..., 1:], b[..., 1:])
        return k_a * k_s + k_t

    with torch.no_grad():
        for a, b in [(x1, x1), (x1, x2), (batched, batched)]:
            torch.testing.assert_close(kernel.forward(a, b), by_formula(a, b), rtol=1e-12, atol=0.0)
        diagonal = kernel.forward(x1, x1, diag=True)
        torch.testing.assert_close(diagonal, by_formula(x1, x1).diagonal(), rtol=1e-12, atol=0.0)
