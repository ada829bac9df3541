r"""Weisfeiler-Lehman subtree features and kernel, as in NAS-BOWL.

Ru, Wan, Dong, Osborne. "Interpretable Neural Architecture Search via Bayesian
Optimisation with Weisfeiler-Lehman Kernels". ICLR 2021. The WL subtree kernel is
Shervashidze, Schweitzer, van Leeuwen, Mehlhorn, Borgwardt, JMLR 12, 2011.

Each layer starts with the label ``l_0(v)``: its layer label, then ``:units`` where the
layer has units and ``:s<stride>`` where it has a stride (``conv3:16:s1``, ``fc:64``,
``ip``). Iteration ``t`` relabels every layer from its own label and the sorted labels
of its **in-neighbours** (predecessors), so a label describes the sub-DAG of computation
that feeds the layer::

    l_t(v) = compress( l_{t-1}(v) + "<-(" + sorted(l_{t-1}(u) for u -> v) + ")" )

Aggregating predecessors only is a choice made here, matching data flow in a DAG; it is
documented because the WL kernel on directed graphs can also use out-neighbours or both.
``compress`` is a stable 16-hex-digit BLAKE2b digest prefixed by the iteration
(``"2:1f0c..."``); :meth:`WLFeaturizer.describe` gives the readable subtree behind a
digest. Labels are built from labels alone, never from layer numbers, so isomorphic
architectures have identical features.

The feature vector ``phi_h(G)`` counts every label of iterations ``0..h`` over all
layers; the kernel is ``k(a, b) = <phi_h(a), phi_h(b)>``, cosine-normalised by default.
NAS-BOWL chooses ``h`` per fit by the GP marginal likelihood: :func:`select_wl_depth`.
"""

from __future__ import annotations

import hashlib
import math
import numbers
from collections import Counter
from collections.abc import Sequence
from functools import lru_cache

import numpy as np
from scipy.linalg import LinAlgError, cho_solve, cholesky

from bonas.architecture import Architecture
from bonas.exceptions import BonasError

__all__ = ["WLFeaturizer", "gp_log_marginal_likelihood", "select_wl_depth", "wl_kernel_matrix"]

_MAX_JITTER_TRIES = 6


def _check_depth(h: object) -> int:
    if not isinstance(h, numbers.Integral) or isinstance(h, bool) or h < 0:
        raise BonasError(f"the WL depth h must be a non-negative integer, got {h!r}")
    return int(h)


def _initial_label(label: str, units: int | None, stride: int | None) -> str:
    text = label
    if units is not None:
        text += f":{units}"
    if stride is not None:
        text += f":s{stride}"
    return text


_DESCRIPTIONS: dict[str, str] = {}


class WLFeaturizer:
    """Weisfeiler-Lehman subtree features of architectures (NAS-BOWL's ``phi_h``).

    Args:
        h: Default number of WL iterations; features cover iterations ``0..h``.

    Example:
        >>> from bonas.spaces import NB101Space
        >>> cell = NB101Space().from_spec([[0, 1, 0], [0, 0, 1], [0, 0, 0]],
        ...                               ["input", "maxpool3x3", "output"])
        >>> wl = WLFeaturizer(h=1)
        >>> counts = wl.features(cell)
        >>> sum(counts.values()), counts["0:maxpool3x3"]
        (6, 1)
        >>> sorted(wl.describe(f) for f in counts if f.startswith("1:"))
        ['ip<-()', 'maxpool3x3<-(ip)', 'op<-(maxpool3x3)']
    """

    def __init__(self, h: int = 2) -> None:
        self.h = _check_depth(h)
        # features are content hashes, so their readable forms are shared process-wide
        # (and survive the feature cache, which skips recomputing them)
        self._descriptions = _DESCRIPTIONS

    def __repr__(self) -> str:
        return f"WLFeaturizer(h={self.h})"

    def iteration_labels(self, arch: Architecture, h: int | None = None) -> list[list[str]]:
        """The label of every layer at each iteration.

        Returns:
            ``h + 1`` lists, each of ``arch.num_layers`` labels (layer order); iteration 0
            labels read ``"0:<initial label>"``, later ones ``"<t>:<digest>"``.
        """
        if not isinstance(arch, Architecture):
            raise BonasError(f"WL features need an Architecture, got {type(arch).__name__}")
        depth = self.h if h is None else _check_depth(h)
        n = arch.num_layers
        preds = [arch.predecessors(v) for v in range(n)]
        labels = [
            "0:" + _initial_label(arch.labels[v], arch.units[v], arch.strides[v]) for v in range(n)
        ]
        for feature in labels:
            self._descriptions.setdefault(feature, feature[2:])
        rounds = [labels]
        for t in range(1, depth + 1):
            previous = rounds[-1]
            current = []
            for v in range(n):
                inputs = sorted(previous[u] for u in preds[v])
                text = previous[v] + "<-(" + ",".join(inputs) + ")"
                feature = f"{t}:" + hashlib.blake2b(text.encode(), digest_size=8).hexdigest()
                if feature not in self._descriptions:
                    # the depth-t subtree: the layer's own label over its inputs' subtrees
                    parts = sorted(self._descriptions[u] for u in inputs)
                    own = self._descriptions[labels[v]]
                    self._descriptions[feature] = f"{own}<-({', '.join(parts)})"
                current.append(feature)
            rounds.append(current)
        return rounds

    def features(self, arch: Architecture, h: int | None = None) -> Counter[str]:
        """Counts of the WL labels of iterations ``0..h`` over all layers (``phi_h``).

        Args:
            arch: The architecture.
            h: Iterations; ``None`` for the featurizer's ``h``.

        Returns:
            A ``Counter`` from feature string to count; the counts sum to
            ``(h + 1) * arch.num_layers``.
        """
        depth = self.h if h is None else _check_depth(h)
        return Counter(_cached_features(arch, depth))

    def describe(self, feature: str) -> str:
        """The readable subtree behind a feature this featurizer produced.

        Iteration 0 features read as the initial label (``conv3:16:s1``); later ones as
        ``own<-(inputs...)`` with the inputs' descriptions nested, e.g.
        ``op<-(maxpool3x3<-(ip))`` at iteration 2.

        Raises:
            BonasError: If no featurizer of this process produced the feature.
        """
        try:
            return self._descriptions[feature]
        except KeyError:
            raise BonasError(
                f"unknown WL feature {feature!r}: describe() knows only the features WL "
                "featurizers have produced in this process"
            ) from None

    def transform(
        self,
        archs: Sequence[Architecture],
        h: int | None = None,
        vocabulary: Sequence[str] | None = None,
    ) -> tuple[np.ndarray, list[str]]:
        """Count vectors of several architectures over one feature vocabulary.

        Args:
            archs: ``n`` architectures.
            h: Iterations; ``None`` for the featurizer's ``h``.
            vocabulary: A fixed list of features (e.g. the one returned when fitting);
                features outside it are ignored, so new candidates are scored on the
                fitted features. ``None``: the sorted union of the features of ``archs``.

        Returns:
            ``(X, vocabulary)``: ``X`` of shape ``(n, F)`` (float64), column ``j`` counting
            ``vocabulary[j]``.

        Raises:
            BonasError: If ``vocabulary`` repeats a feature.
        """
        counts = [self.features(arch, h) for arch in archs]
        if vocabulary is None:
            vocab = sorted(set().union(*counts)) if counts else []
        else:
            vocab = list(vocabulary)
            if len(set(vocab)) != len(vocab):
                raise BonasError(f"the WL vocabulary repeats features ({len(vocab)} entries)")
        index = {feature: j for j, feature in enumerate(vocab)}
        matrix = np.zeros((len(counts), len(vocab)))
        for i, c in enumerate(counts):
            for feature, count in c.items():
                j = index.get(feature)
                if j is not None:
                    matrix[i, j] = count
        return matrix, vocab


def _check_vocabularies(archs: Sequence[Architecture]) -> None:
    bad = sorted({type(a).__name__ for a in archs if not isinstance(a, Architecture)})
    if bad:
        raise BonasError(f"the WL kernel compares Architecture objects, got {bad}")
    names = sorted({a.vocabulary.name for a in archs})
    if len(names) > 1:
        raise BonasError(f"the WL kernel compares architectures of one vocabulary; got {names}")


def wl_kernel_matrix(
    archs_a: Sequence[Architecture],
    archs_b: Sequence[Architecture] | None = None,
    h: int = 2,
    normalize: bool = True,
    *,
    featurizer: WLFeaturizer | None = None,
) -> np.ndarray:
    """The WL subtree kernel between two lists, shape ``(len_a, len_b)``.

    ``K[i, j] = <phi_h(a_i), phi_h(b_j)>``, divided by ``||phi_h(a_i)|| ||phi_h(b_j)||``
    when ``normalize`` (then ``k(a, a) = 1`` and ``0 <= K <= 1``). ``K(archs, archs)`` is
    PSD, being a Gram matrix of explicit feature vectors.

    Args:
        archs_a: First list.
        archs_b: Second list; ``None`` for ``archs_a`` itself.
        h: WL iterations.
        normalize: Cosine-normalise.
        featurizer: The featurizer to use (its :meth:`~WLFeaturizer.describe` table grows).

    Raises:
        BonasError: If the architectures are not all over one vocabulary.

    Example:
        >>> import numpy as np
        >>> from bonas.spaces import NB201Space
        >>> space = NB201Space()
        >>> archs = [space.sample(np.random.default_rng(s)) for s in range(3)]
        >>> k = wl_kernel_matrix(archs, h=2)
        >>> k.shape, bool(np.allclose(np.diag(k), 1.0))
        ((3, 3), True)
    """
    h = _check_depth(h)
    archs_a = list(archs_a)
    archs_b = archs_a if archs_b is None else list(archs_b)
    _check_vocabularies(archs_a + archs_b)
    featurizer = WLFeaturizer(h) if featurizer is None else featurizer
    both, _ = featurizer.transform(archs_a + archs_b, h)
    xa, xb = both[: len(archs_a)], both[len(archs_a) :]
    gram = xa @ xb.T
    if normalize:
        # every architecture has >= 2 layers, so no feature vector is zero
        gram = gram / np.outer(np.linalg.norm(xa, axis=1), np.linalg.norm(xb, axis=1))
    return gram


def gp_log_marginal_likelihood(kernel: np.ndarray, y: np.ndarray, noise: float = 1e-2) -> float:
    r"""Log marginal likelihood of a zero-mean GP.

    With ``L = chol(K + noise * I)`` and ``alpha = L^-T L^-1 y``::

        log p(y) = -1/2 y^T alpha - sum_i log L_ii - n/2 log(2 pi)

    (Rasmussen & Williams, "Gaussian Processes for Machine Learning", 2006, Alg. 2.1).
    If the Cholesky factorisation fails, jitter ``1e-10 * mean(diag K)``, growing
    tenfold per try, is added to the diagonal.

    Args:
        kernel: ``(n, n)`` symmetric kernel matrix.
        y: ``(n,)`` targets (used as given; standardise first if wanted).
        noise: Noise variance added to the diagonal, ``> 0``.

    Raises:
        BonasError: If shapes disagree, values are not finite, ``noise <= 0``, or the
            matrix stays non-positive-definite after jitter.
    """
    kernel = np.asarray(kernel, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    n = y.shape[0] if y.ndim == 1 else -1
    if y.ndim != 1 or kernel.shape != (n, n):
        raise BonasError(f"need an (n, n) kernel and (n,) targets; got {kernel.shape}, {y.shape}")
    if not (np.isfinite(kernel).all() and np.isfinite(y).all()):
        raise BonasError("the kernel matrix and targets must be finite")
    if not (math.isfinite(noise) and noise > 0):
        raise BonasError(f"the noise variance must be positive and finite, got {noise!r}")
    base = kernel + noise * np.eye(n)
    jitter = 1e-10 * max(float(np.mean(np.diag(kernel))) if n else 1.0, 1e-12)
    for attempt in range(_MAX_JITTER_TRIES + 1):
        try:
            extra = 0.0 if attempt == 0 else jitter * 10 ** (attempt - 1)
            chol = cholesky(base + extra * np.eye(n), lower=True)
            break
        except LinAlgError:
            continue
    else:
        raise BonasError(
            f"the kernel matrix plus noise {noise} is not positive definite even with "
            f"jitter up to {jitter * 10 ** (_MAX_JITTER_TRIES - 1):.1e}"
        )
    alpha = cho_solve((chol, True), y)
    return float(-0.5 * y @ alpha - np.log(np.diag(chol)).sum() - 0.5 * n * math.log(2 * math.pi))


def select_wl_depth(
    archs: Sequence[Architecture],
    y: Sequence[float] | np.ndarray,
    candidates: Sequence[int] = (0, 1, 2, 3),
    *,
    noise: float = 1e-2,
    featurizer: WLFeaturizer | None = None,
    return_scores: bool = False,
) -> int | tuple[int, dict[int, float]]:
    """Choose the WL depth ``h`` for one GP fit by marginal likelihood, as NAS-BOWL does.

    For each candidate ``h``, the GP has zero mean, kernel = the cosine-normalised WL
    kernel of depth ``h`` plus ``noise * I``, and targets ``y`` standardised to mean 0
    and standard deviation 1 (only centred when all are equal); the score is
    :func:`gp_log_marginal_likelihood`. The highest score wins; a score within
    ``1e-9 * max(1, |best|)`` of the best is a tie, and ties go to the smallest ``h``.

    Args:
        archs: The ``n`` observed architectures.
        y: Their ``n`` objective values.
        candidates: Depths to try (non-negative integers).
        noise: Noise variance, in units of the standardised targets.
        featurizer: The featurizer to use.
        return_scores: Also return ``{h: log marginal likelihood}``.

    Returns:
        The chosen depth, or ``(depth, scores)`` with ``return_scores``.

    Raises:
        BonasError: If ``y`` does not match ``archs``, is not finite, there are no
            architectures or candidates, or a candidate is not a non-negative integer.

    Example:
        >>> from bonas.spaces import NB101Space
        >>> space, ops = NB101Space(), ["conv3x3-bn-relu", "maxpool3x3"]
        >>> chain = [[0, 1, 0, 0], [0, 0, 1, 0], [0, 0, 0, 1], [0, 0, 0, 0]]
        >>> archs = [space.from_spec(chain, ["input", *o, "output"]) for o in (ops, ops[::-1])]
        >>> h, scores = select_wl_depth(archs * 3, [1.0, 0.0] * 3, return_scores=True)
        >>> h, scores[0] < scores[1]  # h = 0 cannot tell the two orders apart
        (3, True)
    """
    archs = list(archs)
    targets = np.asarray(y, dtype=np.float64)
    if not archs:
        raise BonasError("select_wl_depth needs at least one architecture")
    if targets.shape != (len(archs),):
        raise BonasError(
            f"y must hold one value per architecture ({len(archs)}), got {targets.shape}"
        )
    if not np.isfinite(targets).all():
        raise BonasError("y must be finite")
    depths = sorted({_check_depth(h) for h in candidates})
    if not depths:
        raise BonasError("select_wl_depth needs at least one candidate depth")
    _check_vocabularies(archs)
    std = targets.std()
    targets = targets - targets.mean()
    if std > 0:
        targets = targets / std
    featurizer = WLFeaturizer(max(depths)) if featurizer is None else featurizer
    # one pass at the largest depth; phi_h sums the per-iteration counts up to h
    rounds = [featurizer.iteration_labels(arch, max(depths)) for arch in archs]
    scores: dict[int, float] = {}
    for h in depths:
        counts = [Counter(label for level in r[: h + 1] for label in level) for r in rounds]
        vocab = {f: j for j, f in enumerate(sorted(set().union(*counts)))}
        x = np.zeros((len(archs), len(vocab)))
        for i, c in enumerate(counts):
            for feature, count in c.items():
                x[i, vocab[feature]] = count
        x /= np.linalg.norm(x, axis=1, keepdims=True)
        scores[h] = gp_log_marginal_likelihood(x @ x.T, targets, noise)
    best = depths[0]
    for h in depths[1:]:
        if scores[h] > scores[best] + 1e-9 * max(1.0, abs(scores[best])):
            best = h
    return (best, scores) if return_scores else best


@lru_cache(maxsize=1 << 16)
def _cached_features(arch: Architecture, h: int) -> dict[str, int]:
    """WL feature counts, kept across featurizers and models: a search scores the same
    candidates (all 15,625 NB201 cells, say) at every iteration. Keyed by architecture
    equality, so relabelled copies share an entry. Bounded (about 4 kB an NB201 cell and
    depth): a GA over a large cell space meets a thousand new cells an iteration."""
    counts: Counter[str] = Counter()
    for labels in WLFeaturizer(h).iteration_labels(arch, h):
        counts.update(labels)
    return dict(counts)
