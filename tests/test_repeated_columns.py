"""A table whose header names a column twice: `check` and `run` say which columns share the
name and how each is read (pandas reads the later ones as ``fare.1``, ...), and a spec that
names such a column by its plain name, which could mean any of them, stops before anything
trains. The names the later copies are read as keep working."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from conftest import git
from helpers import Cli, logged
from helpers.passengers import HGB_SPEC, SPEC, passengers, write_table

from gitlab_journal.data.header import read_header
from gitlab_journal.data.loaders import forget_tables, load_data
from gitlab_journal.spec.model import DataSpec, TableView

pytestmark = pytest.mark.slow  # real training on the passenger table

# The passenger table with a second `fare` column (another currency, some cells blank).
REPEATED = ["sex", "embarked", "age", "fare", "pclass", "fare", "survived"]
WARNING = (
    "warning: journal.yaml:2: data.path: data/passengers.csv has 2 columns named 'fare' "
    "(columns 4 and 6), read as 'fare' (column 4) and 'fare.1' (column 6): "
    "'fare' in the spec means column 4"
)


def repeated_rows() -> list[list[Any]]:
    rows = []
    for i, row in enumerate(passengers()):
        other = "" if i % 7 == 0 else f"{float(row[3]) * 1.17:.2f}"
        rows.append([*row[:5], other, row[5]])
    return rows


def setup(repo: Path, cli: Cli, spec: str) -> None:
    write_table(repo / "data" / "passengers.csv", REPEATED, repeated_rows())
    (repo / "journal.yaml").write_text(spec)
    git(repo, "add", ".")
    git(repo, "commit", "-q", "-m", "Add a passenger table with two fare columns")
    assert cli("init")[0] == 0


def one_point(spec: str) -> str:
    return spec.replace("clf__C: [0.1, 1.0, 10.0]", "clf__C: 1.0").replace(
        "impute__strategy: [mean, median]", "impute__strategy: median"
    )


def test_check_and_run_name_the_columns_a_header_repeats(repo: Path, cli: Cli) -> None:
    setup(repo, cli, HGB_SPEC)  # the spec names no fare: both copies are features

    code, out, err = cli("check")
    assert code == 0, err
    assert WARNING in err.splitlines(), err
    assert "fare.1" in next(line for line in err.splitlines() if line.startswith("hint: "))
    code, out, err = cli("check", "--json")
    assert code == 0 and json.loads(out)["points"], err
    assert WARNING in err.splitlines()

    code, _, err = cli("run", "-q")
    assert code == 0, err
    assert WARNING in err.splitlines()
    (run,) = logged(cli)
    assert run["status"] == "ok"
    # the run keeps the warning: a reviewer reading it later learns the table was ambiguous
    code, out, err = cli("show", run["id"], "--json")
    assert code == 0, err
    assert WARNING.removeprefix("warning: ") in json.loads(out)["warnings"]


def test_the_hook_says_a_repeated_name_once(repo: Path, cli: Cli) -> None:
    """The pre-commit check plans the staged spec and HEAD's: the header is said once."""
    setup(repo, cli, HGB_SPEC)
    (repo / "journal.yaml").write_text(HGB_SPEC.replace("max_iter: 20", "max_iter: 30"))
    git(repo, "add", "journal.yaml")

    code, _, err = cli("check", "--staged")

    assert code == 0, err
    assert err.splitlines().count(WARNING) == 1, err


@pytest.mark.parametrize(
    ("old", "new", "where"),
    [
        ("target: survived", "target: fare", "journal.yaml:3: data.target"),
        (
            "  target: survived\n",
            "  target: survived\n  columns: [age, fare, sex, embarked, pclass]\n",
            "journal.yaml:4: data.columns",
        ),
        (
            "  target: survived\n",
            "  target: survived\n  drop: [fare]\n",
            "journal.yaml:4: data.drop",
        ),
        (
            "  target: survived\n",
            "  target: survived\n  dtypes:\n    fare: float32\n",
            "journal.yaml:5: data.dtypes.fare",
        ),
        (  # the spec as it is: its transformer takes [age, fare]
            "clf__C: [0.1, 1.0, 10.0]",
            "clf__C: 1.0",
            "journal.yaml:11: model.steps.0.prep.transformers.0.columns",
        ),
    ],
)
def test_a_spec_naming_a_repeated_column_stops_before_training(
    repo: Path, cli: Cli, old: str, new: str, where: str
) -> None:
    setup(repo, cli, SPEC.replace(old, new))
    before = git(repo, "rev-parse", "journal")

    for command in ("check", "run"):
        code, _, err = cli(command)

        assert code == 2, err
        lines = err.strip().splitlines()
        first = lines[0]
        assert first.startswith(f"error: {where}: 'fare' is ambiguous: "), err
        assert "data/passengers.csv has 2 columns named 'fare' (columns 4 and 6)" in first
        assert "read as 'fare' and 'fare.1'" in first
        (hint,) = [line for line in lines if line.startswith("hint: ")]
        assert "'fare.1' for column 6" in hint
        assert "Traceback" not in err
    assert git(repo, "rev-parse", "journal") == before
    assert logged(cli) == []


def test_the_names_the_copies_are_read_as_keep_working(repo: Path, cli: Cli) -> None:
    setup(repo, cli, HGB_SPEC.replace("  dtypes:", "  drop: [fare.1]\n  dtypes:"))

    code, _, err = cli("check")
    assert code == 0, err
    assert WARNING in err.splitlines()
    code, _, err = cli("run", "-q")
    assert code == 0, err
    (run,) = logged(cli)
    assert run["status"] == "ok" and run["table"]["drop"] == ["fare.1"]

    forget_tables()
    view = TableView(drop=("fare.1",), dtypes=(("embarked", "category"), ("sex", "category")))
    X, _ = load_data(repo, DataSpec(source="table", path="data/passengers.csv", table=view))
    assert list(X.columns) == ["sex", "embarked", "age", "fare", "pclass"]
    assert X["fare"].tolist() == [float(row[3]) for row in passengers()]


def test_a_spec_that_names_every_copy_means_the_first_by_the_plain_name(
    repo: Path, cli: Cli
) -> None:
    """`[age, fare, fare.1]`: with the copy named as it is read, `fare` can only be column 4."""
    spec = one_point(SPEC).replace("columns: [age, fare]", "columns: [age, fare, fare.1]")
    setup(repo, cli, spec)

    code, _, err = cli("check")
    assert code == 0, err
    assert WARNING in err.splitlines()
    code, _, err = cli("run", "-q")
    assert code == 0, err
    (run,) = logged(cli)
    assert run["status"] == "ok"


@pytest.mark.parametrize(
    "header",
    [
        "a,b,a,y",
        "a,a.1,a,y",  # a name the copy would be read as is taken: pandas skips it
        " a,a,y",  # one name once stripped
        "a,a ,a,y",
        "x,a,a.1,a,a.1,y",
        "a,,a,y",
        "a, a,a.1,y",  # ' a' is 'a' once stripped, and 'a.1' is taken: read as 'a.2'
        "a,a,a.1 ,y",
        ",a,,Unnamed: 0,y",
    ],
)
def test_the_header_and_the_loaded_table_name_repeated_columns_alike(
    tmp_path: Path, header: str
) -> None:
    width = header.count(",") + 1
    rows = ["1," * (width - 1) + "0", ",".join(["2"] * (width - 1)) + ",1", "," * (width - 1) + "0"]
    (tmp_path / "t.csv").write_text("\n".join([header, *rows]) + "\n")

    names = read_header(tmp_path, "t.csv")
    forget_tables()
    X, y = load_data(tmp_path, DataSpec(source="table", path="t.csv"))

    assert len(set(names)) == len(names) == width
    assert list(X.columns) == names[:-1] and names[-1] == "y"
    assert list(y) == [0, 1, 0]
    read = [str(c).strip() for c in pd.read_csv(tmp_path / "t.csv").columns]
    # pandas' own names, where stripping them leaves them distinct
    if len(set(read)) == len(read):
        assert names == read


def test_a_parquet_file_with_a_name_twice_stops_before_training(repo: Path, cli: Cli) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    rows = repeated_rows()
    columns = [pa.array([row[i] for row in rows]) for i in range(len(REPEATED))]
    (repo / "data").mkdir()
    pq.write_table(pa.table(columns, names=REPEATED), repo / "data" / "passengers.parquet")
    (repo / "journal.yaml").write_text(HGB_SPEC.replace(".csv", ".parquet"))
    git(repo, "add", ".")
    git(repo, "commit", "-q", "-m", "Add a Parquet table with two fare columns")
    assert cli("init")[0] == 0

    for command in ("check", "run"):
        code, _, err = cli(command)

        assert code == 2, err
        assert err.startswith(
            "error: journal.yaml:2: data.path: data/passengers.parquet has 2 columns named "
            "'fare' (columns 4 and 6): a Parquet file's columns are read by name"
        ), err
    assert logged(cli) == []


def test_the_warning_says_when_the_target_is_a_later_copy(repo: Path, cli: Cli) -> None:
    """No `target:`: the target is the last column, which a header naming `survived` twice
    reads as `survived.1`; the spec's `survived` would be column 1."""
    rows = [[row[5], *row] for row in passengers()]
    write_table(repo / "data" / "passengers.csv", ["survived", *REPEATED[:5], "survived"], rows)
    (repo / "journal.yaml").write_text(HGB_SPEC.replace("  target: survived\n", ""))
    git(repo, "add", ".")
    git(repo, "commit", "-q", "-m", "Add a table that names its target twice")
    assert cli("init")[0] == 0

    code, _, err = cli("check")

    assert code == 0, err
    assert (
        "data/passengers.csv has 2 columns named 'survived' (columns 1 and 7), read as "
        "'survived' (column 1) and 'survived.1' (column 7): 'survived' in the spec means "
        "column 1; the target, the last column, is 'survived.1'"
    ) in err


@pytest.mark.parametrize(
    ("header", "names"),
    [
        ("a,a,a.1,y", ["a", "a.2", "a.1", "y"]),
        ("a, a,a.1,y", ["a", "a.2", "a.1", "y"]),
        ("a,a,a.1 ,y", ["a", "a.2", "a.1", "y"]),
        (" a,a,a,y", ["a", "a.1", "a.2", "y"]),
        ("a, a,a,y", ["a", "a.1", "a.2", "y"]),
        ("a,a ,a.1,a.2,y", ["a", "a.3", "a.1", "a.2", "y"]),
        (",a,,Unnamed: 0,y", ["Unnamed: 0.1", "a", "Unnamed: 2", "Unnamed: 0", "y"]),
    ],
)
def test_names_are_stripped_then_repeated_ones_renamed_skipping_the_headers_own(
    tmp_path: Path, header: str, names: list[str]
) -> None:
    """A name the header holds already (once stripped) is never given to a copy: the header
    check and the loaded table name every column alike, as pandas names a header written
    without the spaces."""
    width = header.count(",") + 1
    rows = [",".join(["1"] * (width - 1)) + ",0", ",".join(["2"] * (width - 1)) + ",1"]
    (tmp_path / "t.csv").write_text("\n".join([header, *rows]) + "\n")
    (tmp_path / "s.csv").write_text(
        "\n".join([",".join(c.strip() for c in header.split(",")), *rows]) + "\n"
    )

    assert read_header(tmp_path, "t.csv") == names
    forget_tables()
    X, _ = load_data(tmp_path, DataSpec(source="table", path="t.csv"))
    assert list(X.columns) == names[:-1]
    assert list(pd.read_csv(tmp_path / "s.csv").columns) == names


LEAK_SPEC = """\
data:
  path: data/t.csv
  drop: [a.1]
model:
  estimator: sklearn.tree.DecisionTreeClassifier
  params:
    max_depth: [3]
evaluation:
  cv: 3
  seed: 0
"""


def test_a_name_the_header_holds_is_dropped_as_the_column_that_holds_it(
    repo: Path, cli: Cli
) -> None:
    """`a, a,a.1,y`: ` a` is `a` once stripped, read as `a.2` (the header holds `a.1`), so
    `drop: [a.1]` drops column 3, a copy of the target, and nothing trains on it."""
    lines = ["a, a,a.1,y"]
    for i in range(60):
        y = int((i * 37 % 101) > 50)
        lines.append(f"{i % 7},{i % 5},{y},{y}")
    (repo / "data").mkdir()
    (repo / "data" / "t.csv").write_text("\n".join(lines) + "\n")
    (repo / "journal.yaml").write_text(LEAK_SPEC)
    git(repo, "add", ".")
    git(repo, "commit", "-q", "-m", "A table whose header names a twice")
    assert cli("init")[0] == 0
    warning = (
        "warning: journal.yaml:2: data.path: data/t.csv has 2 columns named 'a' (columns 1 "
        "and 2), read as 'a' (column 1) and 'a.2' (column 2): 'a' in the spec means column 1"
    )

    code, _, err = cli("check")
    assert code == 0, err
    assert warning in err.splitlines(), err
    code, _, err = cli("run", "-q")
    assert code == 0, err
    assert warning in err.splitlines(), err
    (run,) = logged(cli)
    assert run["status"] == "ok" and run["table"]["drop"] == ["a.1"]
    assert run["metrics"]["accuracy"] < 0.9  # column 3, the target's copy, was dropped

    forget_tables()
    view = TableView(drop=("a.1",))
    X, y = load_data(repo, DataSpec(source="table", path="data/t.csv", table=view))
    assert list(X.columns) == ["a", "a.2"]
    assert X["a.2"].tolist() == [i % 5 for i in range(60)]
