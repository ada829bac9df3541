"""Replays on a user's own table: encodings, fidelities, seeds, modes and bad input."""

from __future__ import annotations

import json
import math
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bonas import BonasError
from bonas.benchmarks.replay import run_replay
from bonas.benchmarks.tables import (
    ArchitectureNotInTableError,
    NB101Table,
    NB201Table,
    RowsDroppedWarning,
    TableDescription,
    TableError,
    UserTable,
)
from bonas.spaces import CellSpace, GraphSpace, NB101Space, NB201Space, SubsetSpace

OPS = ("none", "skip", "conv")
CELLS = CellSpace(OPS, nodes=3)


def _score(ops: tuple[str, ...], index: int) -> float:
    return 50.0 + 10.0 * ops.count("conv") + 3.0 * ops.count("skip") + 0.01 * index


def _cell_frame() -> pd.DataFrame:
    rows = []
    for index, arch in enumerate(CELLS.enumerate()):
        ops = CELLS.to_ops(arch)
        value = _score(ops, index)
        rows.append(
            {
                "arch": CELLS.to_string(arch),
                "val_acc": value,
                "test_acc": value - 1.0,
                "seconds": 100.0 + index,
                "flops": 1e6 * (1 + ops.count("conv")),
            }
        )
    return pd.DataFrame(rows)


@pytest.fixture()
def cell_csv(tmp_path: Path) -> Path:
    path = tmp_path / "cells.csv"
    _cell_frame().to_csv(path, index=False)
    return path


def _cell_table(path: Path, **fields) -> UserTable:
    defaults = {"arch_column": "arch", "objective": "val_acc:max", "test_column": "test_acc"}
    return UserTable.from_file(path, **{**defaults, **fields})


# -- encodings -------------------------------------------------------------------------


def test_cell_strings_round_trip_with_their_own_ops_and_nodes(cell_csv: Path) -> None:
    table = _cell_table(cell_csv, train_time_column="seconds", cost_column="flops")
    frame = _cell_frame()
    assert isinstance(table.space, SubsetSpace) and table.space.size == 27
    assert isinstance(table.full_space, CellSpace)
    assert table.full_space.ops == tuple(sorted(OPS)) and table.full_space.nodes == 3
    assert table.fidelities == (1.0,) and table.seeds == 1
    assert table.optimum == frame["val_acc"].max()
    assert table.test_optimum == frame["test_acc"].max()
    for _, row in frame.iterrows():
        result = table.query(CELLS.from_string(row["arch"]))
        assert result.value == row["val_acc"] and result.test_value == row["test_acc"]
        assert result.train_time == row["seconds"] and result.cost == row["flops"]


def test_regret_is_against_the_tables_own_optimum(cell_csv: Path) -> None:
    table = _cell_table(cell_csv, train_time_column="seconds", cost_column="flops")
    records = run_replay(table, "rs", seed=0, queries=27)
    values = [r["value"] for r in records]
    assert sorted(values) == sorted(_cell_frame()["val_acc"])  # every row, once
    for k, record in enumerate(records):
        assert record["incumbent"] == max(values[: k + 1])
        assert record["regret"] == pytest.approx(table.optimum - record["incumbent"])
        assert record["cost"] is not None
    assert records[-1]["regret"] == 0.0
    assert records[-1]["sim_time"] == pytest.approx(sum(r["train_time"] for r in records))


def test_minimised_objectives_give_regret_above_the_minimum(tmp_path: Path) -> None:
    frame = _cell_frame().assign(error=lambda f: 100.0 - f["val_acc"])
    path = tmp_path / "errors.csv"
    frame.to_csv(path, index=False)
    table = UserTable.from_file(path, arch_column="arch", objective="error:min")
    assert table.direction == "minimize" and table.optimum == frame["error"].min()
    records = run_replay(table, "re", seed=1, queries=27)
    errors = [r["value"] for r in records]
    for k, record in enumerate(records):
        assert record["incumbent"] == min(errors[: k + 1])
        assert record["regret"] == pytest.approx(record["incumbent"] - table.optimum)
        assert record["regret"] >= 0
    assert records[-1]["regret"] == 0.0


def _dag_rows() -> list[dict]:
    space, rng = NB101Space(max_vertices=5, max_edges=6, ops=("a", "b")), np.random.default_rng(4)
    cells = list(dict.fromkeys(space.sample(rng) for _ in range(60)))
    rows = []
    for index, cell in enumerate(cells):
        matrix, ops = space.to_spec(cell)
        rows.append(
            {
                "adjacency": "|".join("".join(str(v) for v in line) for line in matrix),
                "ops": ",".join(ops),
                "acc": 0.5 + 0.01 * index,
            }
        )
    return rows


def test_adjacency_plus_ops_round_trip(tmp_path: Path) -> None:
    rows = _dag_rows()
    path = tmp_path / "dags.csv"
    pd.DataFrame(rows).to_csv(path, index=False)
    table = UserTable.from_file(
        path, arch_column="adjacency", arch_format="adjacency", ops_column="ops", objective="acc"
    )
    base = table.full_space
    assert isinstance(base, NB101Space) and base.ops == ("a", "b")
    assert table.space.size == len(rows)
    for row in rows:
        matrix = [[int(c) for c in line] for line in row["adjacency"].split("|")]
        cell = base.from_spec(matrix, row["ops"].split(","))
        assert table.query(cell).value == row["acc"]
    # JSON lists are read too
    as_json = [
        {
            "adjacency": json.dumps(
                [[int(c) for c in line] for line in row["adjacency"].split("|")]
            ),
            "ops": json.dumps(row["ops"].split(",")),
            "acc": row["acc"],
        }
        for row in rows
    ]
    json_path = tmp_path / "dags-json.csv"
    pd.DataFrame(as_json).to_csv(json_path, index=False)
    again = UserTable.from_file(
        json_path, arch_column="adjacency", arch_format="adjacency", ops_column="ops",
        objective="acc",
    )  # fmt: skip
    assert again.architectures() == table.architectures()


def _graph(layers: list[tuple[str, int | None]], skips: tuple = ()) -> str:
    nodes = [{"id": f"n{i}", "label": label} | ({"units": u} if u else {})
             for i, (label, u) in enumerate(layers)]  # fmt: skip
    links = [{"source": f"n{i}", "target": f"n{i + 1}"} for i in range(len(layers) - 1)]
    links += [{"source": f"n{i}", "target": f"n{j}"} for i, j in skips]
    return json.dumps({"directed": True, "nodes": nodes, "links": links})


def _graph_rows() -> list[dict]:
    rows = []
    for index, (depth, width, skip) in enumerate(
        (d, w, s) for d in (1, 2, 3) for w in (32, 64, 128) for s in (False, True)
    ):
        layers = [("input", None)] + [("dense", width), ("relu", None)] * depth + [("out", None)]
        skips = ((0, len(layers) - 1),) if skip else ()
        value = 0.9 - abs(depth - 2) * 0.05 - abs(width - 64) / 1000 + 0.01 * skip
        rows.append({"graph": _graph(layers, skips), "acc": value + 1e-4 * index})
    return rows


def test_node_link_graphs_of_free_form_layers_round_trip(tmp_path: Path) -> None:
    rows = _graph_rows()
    path = tmp_path / "graphs.parquet"
    pd.DataFrame(rows).to_parquet(path)
    table = UserTable.from_file(path, arch_column="graph", arch_format="node-link", objective="acc")
    base = table.full_space
    assert isinstance(base, GraphSpace)
    vocab = base.vocabulary
    assert (vocab.input_label, vocab.output_label) == ("input", "out")
    assert set(vocab.labels) == {"input", "out", "dense", "relu"}
    assert vocab.unit_labels == {"dense"} and base.units == (32, 64, 128)
    assert table.space.size == len(rows) and table.optimum == max(r["acc"] for r in rows)
    from bonas import Architecture

    for arch, row in zip(table.architectures(), rows, strict=True):
        assert table.query(Architecture.from_json(arch.to_json())).value == row["acc"]
    for name in ("bonas", "re", "ls", "rs"):  # every optimiser searches the graphs
        records = run_replay(table, name, seed=0, queries=8)
        assert all(r["state"] == "complete" for r in records)
        assert len({r["architecture"] for r in records}) == 8


def test_parquet_csv_and_gzip_give_the_same_table(tmp_path: Path) -> None:
    frame = _cell_frame()
    frame.to_csv(tmp_path / "t.csv.gz", index=False)
    frame.to_parquet(tmp_path / "t.parquet")
    a = _cell_table(tmp_path / "t.csv.gz")
    b = _cell_table(tmp_path / "t.parquet")
    assert a.architectures() == b.architectures()
    assert [a.query(x).value for x in a.architectures()] == [
        b.query(x).value for x in a.architectures()
    ]


# -- fidelities and seeds ----------------------------------------------------------------


def _multi_fidelity_frame() -> pd.DataFrame:
    frame = _cell_frame()
    for budget in (4, 12, 36):
        for seed in (0, 1):
            frame[f"val_e{budget}_s{seed}"] = frame["val_acc"] * budget / 36 + seed
    frame["val_e4"], frame["val_e12"], frame["val_e36"] = (
        frame[f"val_e{b}_s0"] for b in (4, 12, 36)
    )
    return frame


def test_wide_fidelity_columns_by_list_and_by_template(tmp_path: Path) -> None:
    frame = _multi_fidelity_frame()
    path = tmp_path / "mf.csv"
    frame.to_csv(path, index=False)
    listed = UserTable.from_file(
        path, arch_column="arch", objective="val_e4,val_e12,val_e36:max",
        test_column="test_acc", train_time_column="seconds",
    )  # fmt: skip
    assert listed.fidelities == (4.0, 12.0, 36.0) and listed.seeds == 1
    arch = CELLS.from_string(frame["arch"][5])
    for budget in (4, 12, 36):
        result = listed.query(arch, budget=budget)
        assert result.value == frame[f"val_e{budget}"][5]
        # the single time column is the top budget's; lower budgets scale with the budget
        assert result.train_time == pytest.approx(frame["seconds"][5] * budget / 36)
        # a single test column holds the top budget's test value only
        assert result.test_value == (frame["test_acc"][5] if budget == 36 else None)
    named = UserTable.from_file(
        path, arch_column="arch", objective="val_e4,val_e12,val_e36", budgets="1,3,9"
    )
    assert named.fidelities == (1.0, 3.0, 9.0)

    template = UserTable.from_file(path, arch_column="arch", objective="val_e{budget}_s{seed}")
    assert template.fidelities == (4.0, 12.0, 36.0) and template.seeds == 2
    for budget in (4, 12, 36):
        seeds = [frame[f"val_e{budget}_s{s}"][5] for s in (0, 1)]
        assert template.query(arch, budget=budget, seed=1).value == seeds[1]
        assert template.query(arch, budget=budget).value == pytest.approx(np.mean(seeds))
    assert template.optimum == pytest.approx((frame["val_e36_s0"] + frame["val_e36_s1"]).max() / 2)


def test_long_format_equals_the_wide_one(tmp_path: Path) -> None:
    frame = _multi_fidelity_frame()
    wide_path, long_path = tmp_path / "wide.csv", tmp_path / "long.csv"
    frame.to_csv(wide_path, index=False)
    long = pd.DataFrame(
        [
            {"arch": row["arch"], "epochs": b, "seed": s, "acc": row[f"val_e{b}_s{s}"]}
            for _, row in frame.iterrows()
            for b in (4, 12, 36)
            for s in (0, 1)
        ]
    )
    long.sample(frac=1.0, random_state=0).to_csv(long_path, index=False)  # any row order
    wide = UserTable.from_file(wide_path, arch_column="arch", objective="val_e{budget}_s{seed}")
    by_rows = UserTable.from_file(
        long_path, arch_column="arch", objective="acc", budget_column="epochs", seed_column="seed"
    )
    assert by_rows.fidelities == wide.fidelities and by_rows.seeds == wide.seeds
    for arch in wide.architectures():
        for budget in wide.fidelities:
            for seed in (None, 0, 1):
                assert by_rows.query(arch, budget, seed).value == pytest.approx(
                    wide.query(arch, budget, seed).value
                )


# -- architectures that are not in the table ---------------------------------------------


@pytest.fixture()
def partial_csv(tmp_path: Path) -> Path:
    path = tmp_path / "partial.csv"
    _cell_frame().iloc[::3].to_csv(path, index=False)  # 9 of the 27 cells
    return path


def test_restrict_searches_only_the_tables_architectures(partial_csv: Path) -> None:
    table = _cell_table(partial_csv)
    assert table.space.size == 9
    for name in ("bonas", "re", "ls", "rs"):
        records = run_replay(table, name, seed=2, queries=9)
        assert all(r["state"] == "complete" for r in records)


def test_fail_counts_outside_queries_as_failed_evaluations(partial_csv: Path) -> None:
    table = _cell_table(partial_csv, missing="fail")
    assert table.space is table.full_space and table.space.size == 27
    outside = next(a for a in CELLS.enumerate() if a not in table.architectures())
    with pytest.raises(TableError, match="not in the table"):
        table.query(outside)
    records = run_replay(table, "rs", seed=0, queries=27)
    states = [r["state"] for r in records]
    assert states.count("complete") == 9 and states.count("failed") == 18
    failed = next(r for r in records if r["state"] == "failed")
    assert "not in the table" in failed["failure"] and failed["value"] is None


def test_error_stops_the_replay_on_an_outside_query(partial_csv: Path) -> None:
    table = _cell_table(partial_csv, missing="error")
    with pytest.raises(ArchitectureNotInTableError, match="missing='error'"):
        run_replay(table, "rs", seed=0, queries=27)


# -- bad input ---------------------------------------------------------------------------


def test_a_missing_column_is_named(cell_csv: Path) -> None:
    with pytest.raises(TableError, match=r"cells\.csv.*missing column\(s\) \['val_err'\]"):
        _cell_table(cell_csv, objective="val_err:min")
    with pytest.raises(TableError, match=r"cells\.csv.*missing architecture column 'cell'"):
        _cell_table(cell_csv, arch_column="cell")


def test_an_unparsable_architecture_names_file_row_and_column(tmp_path: Path) -> None:
    frame = _cell_frame()
    frame.loc[6, "arch"] = "|none~0|+|skip~0|"
    path = tmp_path / "bad.csv"
    frame.to_csv(path, index=False)
    with pytest.raises(TableError, match=r"bad\.csv: row 7, column 'arch': cannot parse"):
        _cell_table(path)
    graphs = pd.DataFrame(_graph_rows())
    graphs.loc[2, "graph"] = '{"nodes": [{"id": 1}], "links": []}'
    graphs.to_csv(path, index=False)
    with pytest.raises(TableError, match=r"row 3, column 'graph': every node needs an 'id'"):
        UserTable.from_file(path, arch_column="graph", arch_format="node-link", objective="acc")


def test_conflicting_duplicates_are_refused_or_aggregated(tmp_path: Path) -> None:
    frame = _cell_frame()
    twin = frame.iloc[[4]].assign(val_acc=frame["val_acc"][4] + 2.0)
    path = tmp_path / "dupes.csv"
    pd.concat([frame, twin], ignore_index=True).to_csv(path, index=False)
    with pytest.raises(TableError, match=r"dupes\.csv: rows 5 and 28 .* 'val_acc' values"):
        _cell_table(path)
    arch = CELLS.from_string(frame["arch"][4])
    assert _cell_table(path, duplicates="mean").query(arch).value == frame["val_acc"][4] + 1.0
    assert _cell_table(path, duplicates="first").query(arch).value == frame["val_acc"][4]
    # equal duplicates are merged without complaint
    pd.concat([frame, frame.iloc[[4]]], ignore_index=True).to_csv(path, index=False)
    assert _cell_table(path).space.size == 27


def test_isomorphic_duplicates_count_as_the_same_architecture(tmp_path: Path) -> None:
    # the same two-branch cell, its inner vertices numbered both ways
    rows = [
        {"adj": "0110|0001|0001|0000", "ops": "input,a,b,output", "acc": 0.5},
        {"adj": "0110|0001|0001|0000", "ops": "input,b,a,output", "acc": 0.7},
    ]
    path = tmp_path / "iso.csv"
    pd.DataFrame(rows).to_csv(path, index=False)
    fields = {"arch_column": "adj", "arch_format": "adjacency", "ops_column": "ops"}
    with pytest.raises(TableError, match="rows 1 and 2 list the same architecture"):
        UserTable.from_file(path, objective="acc", **fields)
    table = UserTable.from_file(path, objective="acc", duplicates="mean", **fields)
    assert table.space.size == 1 and table.optimum == pytest.approx(0.6)


def test_nan_objectives_are_dropped_with_a_count(tmp_path: Path) -> None:
    frame = _cell_frame()
    frame.loc[[2, 9, 11], "val_acc"] = math.nan
    path = tmp_path / "nan.csv"
    frame.to_csv(path, index=False)
    with pytest.warns(
        RowsDroppedWarning, match=r"dropped 3 NaN objective value\(s\) \(rows 3, 10, 12\)"
    ):
        table = _cell_table(path)
    assert table.dropped_rows == 3 and table.space.size == 24
    frame["val_acc"] = math.nan
    frame.to_csv(path, index=False)
    with (
        pytest.raises(TableError, match="no row has an objective value"),
        warnings.catch_warnings(),
    ):
        warnings.simplefilter("ignore", RowsDroppedWarning)
        _cell_table(path)


def test_empty_tables_and_non_numbers_are_refused(tmp_path: Path) -> None:
    path = tmp_path / "empty.csv"
    _cell_frame().iloc[:0].to_csv(path, index=False)
    with pytest.raises(TableError, match=r"empty\.csv: the table is empty"):
        _cell_table(path)
    frame = _cell_frame().astype({"val_acc": object})
    frame.loc[3, "val_acc"] = "ninety"
    frame.to_csv(path, index=False)
    with pytest.raises(TableError, match=r"row 4, column 'val_acc': 'ninety' is not a number"):
        _cell_table(path)
    with pytest.raises(TableError, match=r"names \['epoch'\]; templates may use"):
        _cell_table(tmp_path / "empty.csv", objective="val_e{epoch}")
    with pytest.raises(TableError, match="no column matches the objective template"):
        _cell_table(tmp_path / "empty.csv", objective="val_e{budget}")
    with pytest.raises(TableError, match="file not found"):
        _cell_table(tmp_path / "nowhere.csv")


def test_descriptions_from_toml_and_json(tmp_path: Path, cell_csv: Path) -> None:
    toml = tmp_path / "table.toml"
    toml.write_text(
        'arch-column = "arch"\narch_format = "cell-string"\nobjective = "val_acc:max"\n'
        'test_column = "test_acc"\nname = "my cells"\n'
    )
    from_toml = UserTable.from_file(cell_csv, toml)
    assert from_toml.name == "my cells" and from_toml.test_optimum is not None
    as_json = tmp_path / "table.json"
    as_json.write_text(json.dumps(TableDescription.from_file(toml).to_dict()))
    assert UserTable.from_file(cell_csv, as_json).optimum == from_toml.optimum
    # fields given beside the file win
    assert UserTable.from_file(cell_csv, toml, name="other").name == "other"
    toml.write_text('arch_column = "arch"\nobjectives = "val_acc"\n')
    with pytest.raises(TableError, match=r"unknown table description keys \['objectives'\]"):
        UserTable.from_file(cell_csv, toml)
    with pytest.raises(TableError, match="a direction after ':' must be max or min"):
        UserTable.from_file(cell_csv, arch_column="arch", objective="val_acc:up")
    with pytest.raises(TableError, match="needs ops_column"):
        TableDescription(arch_column="arch", arch_format="adjacency")


# -- the command line, with worker processes ---------------------------------------------


@pytest.mark.slow
def test_cli_replays_a_users_table_in_worker_processes(tmp_path: Path) -> None:
    path = tmp_path / "my.csv"
    _cell_frame().rename(columns={"val_acc": "val", "test_acc": "test"}).to_csv(path, index=False)
    out = tmp_path / "out"
    command = [
        sys.executable, "-m", "bonas", "replay", "--table", str(path), "--arch-column", "arch",
        "--arch-format", "cell-string", "--objective", "val:max", "--test-column", "test",
        "--train-time-column", "seconds", "--optimizers", "bonas,re,rs", "--seeds", "2",
        "--queries", "10", "--jobs", "2", "--quiet", "--out", str(out),
    ]  # fmt: skip
    done = subprocess.run(command, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    assert "# Replay table:my.csv" in done.stdout
    summary = pd.read_csv(out / "summary.csv")
    assert set(summary["optimizer"]) == {"bonas", "re", "rs"} and (summary["queries"] == 10).all()
    assert (summary["regret_mean"] >= 0).all()
    trace = [json.loads(line) for line in (out / "traces" / "bonas-seed001.jsonl").open()]
    assert len(trace) == 10 and all(r["state"] == "complete" for r in trace)
    assert (out / "regret.png").stat().st_size > 0


def test_cli_names_bad_input_without_a_traceback(tmp_path: Path, cell_csv: Path) -> None:
    from bonas.cli import main

    code = main(["replay", "--table", str(cell_csv), "--arch-column", "arch", "--objective",
                 "nope:max", "--quiet", "--out", str(tmp_path / "o")])  # fmt: skip
    assert code == 2
    assert main(["replay", "--objective", "val:max", "--quiet"]) == 2  # no --table


# -- the shared NAS-Bench CSVs, read as users' tables --------------------------------------


def test_nb201_csv_as_a_users_table_matches_the_built_in_reader(shared_data: Path) -> None:
    path = shared_data / "nas-bench-201" / "nb201_all_archs.csv.gz"
    with pytest.warns(RowsDroppedWarning):  # cells trained with two seeds leave seed 2 empty
        table = UserTable.from_file(
            path, arch_column="arch_str", objective="c10_val_e200_seed{seed}:max",
            train_time_column="c10_train_time_e200_s",
        )  # fmt: skip
    assert isinstance(table.full_space, NB201Space)
    reference = NB201Table.from_csv(path, "cifar10")
    assert table.space.size == 15_625 and table.seeds == 3
    assert table.optimum == pytest.approx(reference.optimum)
    for arch in list(reference.architectures())[::311]:
        assert table.query(arch).value == pytest.approx(reference.query(arch).value)
        assert table.query(arch, seed=0).value == pytest.approx(reference.query(arch, seed=0).value)


def test_nb101_csv_as_a_users_table_matches_the_built_in_reader(
    shared_data: Path, tmp_path: Path
) -> None:
    path = shared_data / "nas-bench-101" / "nb101_20k_multifidelity.csv.gz"
    frame = pd.read_csv(path)
    frame = frame[frame["has_spec"].astype(str).str.lower() == "true"].iloc[:1500]
    small = tmp_path / "nb101.parquet"  # 1,500 rows with specs, as Parquet
    frame.to_parquet(small)
    table = UserTable.from_file(
        small, arch_column="adjacency", arch_format="adjacency", ops_column="ops",
        objective="val_acc_e{budget}:max", train_time_column="train_time_e108_s",
    )  # fmt: skip
    reference = NB101Table(path)
    assert table.fidelities == (4.0, 12.0, 36.0, 108.0)
    assert table.space.size == 1500 and isinstance(table.full_space, NB101Space)
    for arch in table.architectures()[::97]:
        for budget in table.fidelities:
            mine, theirs = table.query(arch, budget), reference.query(arch, budget)
            assert mine.value == pytest.approx(theirs.value)
            assert mine.train_time == pytest.approx(theirs.train_time)


FUZZ_ROWS = [
    {"arch": NB201Space().to_string(NB201Space().sample(i)), "val": 90.0 + i, "test": 89.0 + i,
     "epochs": 200, "seed": i % 2, "time": 100.0}
    for i in range(6)
]  # fmt: skip
FUZZ_CELLS = st.one_of(
    st.text(max_size=12),
    st.sampled_from(
        [
            "inf",
            "-inf",
            "1e400",
            "nan",
            "",
            "[[[[1]]]]",
            "[" * 3000 + "]" * 3000,
            "10" * 3000,
            "-1",
            "0.5",
            "|x~0|",
            "[1, [2]]",
            '{"a": 1}',
        ]
    ),
    st.integers(),
    st.floats(allow_nan=True),
)


@settings(max_examples=150, deadline=None, derandomize=True,
          suppress_health_check=list(HealthCheck))  # fmt: skip
@given(st.sampled_from(sorted(FUZZ_ROWS[0])), st.integers(0, 5), FUZZ_CELLS, st.booleans())
def test_any_cell_of_a_users_table_loads_or_raises_a_table_error(
    tmp_path_factory, column, row, value, long_format
) -> None:
    """One cell of a valid table set to anything: the table loads, or a TableError (a
    BonasError) names what is wrong; infinities are never taken as values."""
    rows = [dict(r) for r in FUZZ_ROWS]
    rows[row][column] = value
    path = tmp_path_factory.mktemp("fuzz") / "table.csv"
    pd.DataFrame(rows).to_csv(path, index=False)
    options = {"arch_column": "arch", "objective": "val:max", "test_column": "test",
               "train_time_column": "time"}  # fmt: skip
    if long_format:
        options.update(budget_column="epochs", seed_column="seed")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RowsDroppedWarning)
        try:
            table = UserTable.from_file(path, **options)
        except BonasError:
            return
    assert math.isfinite(table.optimum)


def test_infinite_values_and_fractional_seeds_are_named(tmp_path) -> None:
    rows = [dict(r) for r in FUZZ_ROWS]
    rows[2]["val"] = "inf"
    path = tmp_path / "inf.csv"
    pd.DataFrame(rows).to_csv(path, index=False)
    with pytest.raises(TableError, match=r"row 3, column 'val': inf is not a finite number"):
        UserTable.from_file(path, arch_column="arch", objective="val:max")
    rows = [dict(r) for r in FUZZ_ROWS]
    rows[1]["seed"] = 0.5
    pd.DataFrame(rows).to_csv(path, index=False)
    with pytest.raises(TableError, match=r"row 2, column 'seed': 0.5 is not a whole number"):
        UserTable.from_file(path, arch_column="arch", objective="val:max", seed_column="seed")
