"""The peer optimisers (bonas.benchmarks.peers): each passes the searchers'
conformance suite on NB201, proposals that are no untried member become the nearest
one, and a missing library or a space without an encoding is a one-line error."""

from __future__ import annotations

import builtins

import numpy as np
import pytest

from bonas import Architecture, BonasError
from bonas.benchmarks.peers import BoTorchOneHot, EncodedSearcher, make_peer
from bonas.benchmarks.replay import make_replay_searcher, replay
from bonas.searchers import Searcher
from bonas.spaces import CNNSpace, NB201Space
from bonas.spaces.subset import SubsetSpace
from bonas.testing.searchers import SearcherConformance
from tests.objectives import nb201_score

optuna = pytest.importorskip("optuna", reason="the peers extra (optuna) is not installed")
smac = pytest.importorskip("smac", reason="the peers extra (smac) is not installed")


class _OnNB201(SearcherConformance):
    def objective(self, architecture: Architecture) -> float:
        return nb201_score(architecture)


class TestOptunaTPE(_OnNB201):
    steps = 12  # past TPE's 10 random startup trials

    def make(self, seed: int) -> Searcher:
        return make_peer("tpe", NB201Space(), seed=seed)


SMALL = SubsetSpace(NB201Space(), list(NB201Space().enumerate())[::31], label="every-31st")


class TestBoTorchOneHot(_OnNB201):
    def make(self, seed: int) -> Searcher:
        # a subset of 505 cells: every searcher lists and encodes the members once
        return make_peer("botorch-onehot", SMALL, seed=seed, n_initial=3)


@pytest.mark.slow
class TestSMACRandomForest(_OnNB201):
    steps = 8  # past SMAC's initial design of a quarter of n_trials

    def make(self, seed: int) -> Searcher:
        return make_peer("smac", NB201Space(), seed=seed, n_trials=20)


class _Fixed(EncodedSearcher):
    """Proposes the same codes every time: what the projection makes of them."""

    name = "fixed"

    def __init__(self, space, codes, **kwargs) -> None:
        super().__init__(space, **kwargs)
        self.codes = codes

    def _suggest(self, n, taken):
        return [self.codes] * n


def test_a_proposal_outside_the_table_becomes_the_nearest_untried_member() -> None:
    space = NB201Space()
    centre = space.from_ops(["nor_conv_3x3"] * 6)
    near = [a for a in space.neighbours(centre) if space.to_ops(a).count("none") == 1][:3]
    far = [space.from_ops(["none"] * 6)]
    subset = SubsetSpace(space, [*near, *far], label="four")
    searcher = _Fixed(subset, space.encode(centre), seed=0)
    proposed = [searcher.ask()[0].architecture for _ in range(4)]
    assert set(proposed[:3]) == set(near)  # one edge away, in the generator's order
    assert proposed[3] == far[0]  # the only one left
    with pytest.raises(BonasError, match="every one of the 4"):
        searcher.ask()


def test_an_untried_member_is_taken_as_proposed() -> None:
    space = NB201Space()
    arch = space.sample(3)
    assert _Fixed(space, space.encode(arch), seed=0).ask()[0].architecture == arch


@pytest.mark.slow
def test_botorch_scores_every_untried_member_of_a_small_space() -> None:
    space = NB201Space()
    subset = SubsetSpace(space, [space.sample(i) for i in range(40)], label="forty")
    peer = BoTorchOneHot(subset, seed=0, n_initial=5)
    for _ in range(7):
        (trial,) = peer.ask()
        peer.tell(trial, nb201_score(trial.architecture))
    assert len({t.architecture for t in peer.trials}) == 7
    one_hot = peer.one_hot(np.array([space.encode(subset.members[0])]))
    assert one_hot.shape == (1, 30) and one_hot.sum() == 6


def test_spaces_without_an_encoding_and_unknown_names_are_clear_errors() -> None:
    with pytest.raises(BonasError, match="CNNSpace has no categorical encoding"):
        make_peer("tpe", CNNSpace(), seed=0)
    with pytest.raises(BonasError, match="unknown peer 'hebo'"):
        make_peer("hebo", NB201Space(), seed=0)
    with pytest.raises(BonasError, match=r"unknown optimizer 'hebo'; known: bonas, rs.*smac"):
        make_replay_searcher("hebo", NB201Space(), seed=0, queries=5)


def test_a_missing_library_names_the_install_command(monkeypatch) -> None:
    real_import = builtins.__import__

    def no_optuna(name, *args, **kwargs):
        if name == "optuna" or name.startswith("optuna."):
            raise ImportError("No module named 'optuna'")
        return real_import(name, *args, **kwargs)

    monkeypatch.delitem(__import__("sys").modules, "optuna", raising=False)
    monkeypatch.setattr(builtins, "__import__", no_optuna)
    with pytest.raises(
        BonasError, match=r'the tpe peer needs the optuna package: pip install "\.\[peers\]"'
    ):
        make_peer("tpe", NB201Space(), seed=0)


def test_smac_gets_the_replay_queries_as_its_budget() -> None:
    peer = make_replay_searcher("smac", NB201Space(), seed=0, queries=37)
    assert peer.config()["n_trials"] == 37


@pytest.mark.slow
def test_peers_replay_on_a_table(tmp_path) -> None:
    """End to end: the replay harness runs a peer and resumes it from its traces."""
    from tests.benchmarks.test_replay import ScoreTable

    table = ScoreTable()
    peers, options = ["tpe", "botorch-onehot"], {"botorch-onehot": {"n_initial": 4}}
    first = replay(table, peers, queries=6, seeds=1, out=tmp_path, optimizer_options=options,
                   progress=False)  # fmt: skip
    again = replay(table, peers, queries=7, seeds=1, out=tmp_path, optimizer_options=options,
                   progress=False)  # fmt: skip
    assert set(first.summary["optimizer"]) == {"tpe", "botorch-onehot"}
    traces = again.traces
    assert len(traces) == 14 and traces.groupby("optimizer")["architecture"].nunique().eq(7).all()
    resumed = traces[traces["query"] <= 6].drop(columns="overhead_s").reset_index(drop=True)
    assert resumed.equals(first.traces.drop(columns="overhead_s").reset_index(drop=True))
