"""The shared test case every architecture kernel passes (like gpytorch's
``BaseKernelTestCase``): batch consistency, ``diag``, PSD after the fix-up, float and
double, symmetry, cross-covariances, gradients and input checks.

A kernel of your own joins in a pytest module::

    from bonas.testing.kernels import ArchitectureKernelTestCase

    class TestMyKernel(ArchitectureKernelTestCase):
        def create_archs(self):
            return [NB201Space().sample(i) for i in range(9)]

        def create_kernel(self, registry):
            return MyKernel(registry)
"""

from __future__ import annotations

import warnings

import pytest
import torch
from gpytorch.kernels import Kernel

from bonas import Architecture, BonasError, NonPSDWarning
from bonas.kernels import ArchitectureRegistry, kernel_is_psd

__all__ = ["ArchitectureKernelTestCase"]


class ArchitectureKernelTestCase:
    """Base class of a kernel's conformance tests; see the module docstring."""

    #: How many architectures :meth:`create_archs` is expected to return.
    num_archs = 9

    def create_archs(self) -> list[Architecture]:
        raise NotImplementedError

    def create_kernel(self, registry: ArchitectureRegistry) -> Kernel:
        raise NotImplementedError

    @pytest.fixture
    def setup(self) -> tuple[Kernel, torch.Tensor]:
        registry = ArchitectureRegistry()
        ids = registry.add_all(self.create_archs())
        return self.create_kernel(registry), torch.tensor(ids, dtype=torch.double)[:, None]

    @staticmethod
    def evaluate(
        kernel: Kernel, x1: torch.Tensor, x2: torch.Tensor | None = None, **kwargs: object
    ) -> torch.Tensor:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", NonPSDWarning)  # checked in test_psd_after_fixup
            out = kernel(x1, x2, **kwargs)
            return out if isinstance(out, torch.Tensor) else out.to_dense()

    def test_shapes_and_symmetry(self, setup: tuple[Kernel, torch.Tensor]) -> None:
        kernel, x = setup
        gram = self.evaluate(kernel, x)
        assert gram.shape == (len(x), len(x))
        assert torch.isfinite(gram).all()
        torch.testing.assert_close(gram, gram.T)

    def test_diag_matches_the_full_matrix(self, setup: tuple[Kernel, torch.Tensor]) -> None:
        kernel, x = setup
        gram = self.evaluate(kernel, x)
        torch.testing.assert_close(self.evaluate(kernel, x, diag=True), gram.diagonal())

    def test_batch_consistency(self, setup: tuple[Kernel, torch.Tensor]) -> None:
        kernel, x = setup
        n = len(x) // 3 * 3
        batched = self.evaluate(kernel, x[:n].view(3, n // 3, 1))
        assert batched.shape == (3, n // 3, n // 3)
        for b in range(3):
            single = self.evaluate(kernel, x[b * (n // 3) : (b + 1) * (n // 3)])
            torch.testing.assert_close(batched[b], single)

    def test_cross_covariance_is_a_block_of_the_gram(self, setup) -> None:
        kernel, x = setup
        gram = self.evaluate(kernel, x)
        cross = self.evaluate(kernel, x[:4], x[4:])
        # a projected Gram may differ from its raw blocks; compare only guaranteed kernels
        if kernel_is_psd(kernel):
            torch.testing.assert_close(cross, gram[:4, 4:])
        assert cross.shape == (4, len(x) - 4)

    def test_psd_after_fixup(self, setup: tuple[Kernel, torch.Tensor]) -> None:
        kernel, x = setup
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            gram = kernel(x).to_dense()
        eigenvalues = torch.linalg.eigvalsh(gram.detach())
        assert eigenvalues.min() >= -1e-7 * max(1.0, float(eigenvalues.max()))
        if kernel_is_psd(kernel):
            assert not [w for w in caught if issubclass(w.category, NonPSDWarning)]

    def test_float_and_double_agree(self, setup: tuple[Kernel, torch.Tensor]) -> None:
        kernel, x = setup
        double = self.evaluate(kernel, x)
        single = self.evaluate(kernel.float(), x.float())
        assert single.dtype == torch.float32
        torch.testing.assert_close(single.double(), double, rtol=1e-4, atol=1e-5)
        kernel.double()

    def test_gradients_reach_the_hyperparameters(self, setup) -> None:
        kernel, x = setup
        params = [p for p in kernel.parameters() if p.requires_grad]
        if not params:
            pytest.skip("this kernel has no hyperparameters")
        self.evaluate(kernel, x).sum().backward()
        assert any(
            p.grad is not None and torch.isfinite(p.grad).all() and p.grad.abs().sum() > 0
            for p in params
        )

    def test_bad_ids_are_rejected(self, setup: tuple[Kernel, torch.Tensor]) -> None:
        kernel, x = setup
        with pytest.raises(BonasError):
            self.evaluate(kernel, x + 0.5)
        with pytest.raises(BonasError):
            self.evaluate(kernel, torch.cat([x, x], dim=-1))
        with pytest.raises(BonasError):
            self.evaluate(kernel, torch.tensor([[1e6]], dtype=torch.double))
