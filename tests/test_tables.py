"""Tables with strings, blanks and missing values, run through `git journal` end to end: named
column transformers, encoders, constructor lists and repository factories built from YAML, and
bad tables refused before anything trains."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from conftest import git
from helpers import Cli, logged, planned
from helpers.passengers import COLUMNS, HGB_SPEC, SPEC, passengers, write_table

import gitlab_journal
from gitlab_journal.journal import format as fmt

pytestmark = pytest.mark.slow  # see the README: `pytest -m "not slow"` skips these locally


def setup(
    repo: Path,
    cli: Any,
    spec: str = SPEC,
    rows: list[list[Any]] | None = None,
    header: list[str] = COLUMNS,
) -> None:
    write_table(repo / "data" / "passengers.csv", header, rows or passengers())
    (repo / "journal.yaml").write_text(spec)
    git(repo, "add", ".")
    git(repo, "commit", "-q", "-m", "Add the passenger table and its spec")
    assert cli("init")[0] == 0


def reference_scores(repo: Path, C: float, strategy: str) -> dict[str, Any]:
    """scikit-learn's own cross_validate of the spec's pipeline on the same DataFrame."""
    from sklearn.model_selection import StratifiedKFold, cross_validate

    frame = pd.read_csv(repo / "data" / "passengers.csv")
    X, y = frame.drop(columns="survived"), frame["survived"].to_numpy()
    model = _passenger_pipeline(C, strategy)
    scores: dict[str, Any] = cross_validate(
        model, X, y, cv=StratifiedKFold(5), scoring=["accuracy", "roc_auc"]
    )
    return scores


def _passenger_pipeline(C: float, strategy: str) -> Any:
    """The spec's pipeline, written in Python."""
    from sklearn.compose import ColumnTransformer
    from sklearn.impute import SimpleImputer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    numbers = Pipeline([("impute", SimpleImputer(strategy=strategy)), ("scale", StandardScaler())])
    prep = ColumnTransformer(
        [
            ("numbers", numbers, ["age", "fare"]),
            ("categories", OneHotEncoder(handle_unknown="ignore"), ["sex", "embarked", "pclass"]),
        ]
    )
    return Pipeline([("prep", prep), ("clf", LogisticRegression(C=C, random_state=0))])


# --- the issue's spec, verbatim ----------------------------------------------------------------


def test_the_issue_spec_scores_as_cross_validate_and_reruns_nothing(repo: Path, cli: Cli) -> None:
    setup(repo, cli)

    code, _, err = cli("run", "-q")

    assert code == 0, err
    runs = logged(cli)
    assert len(runs) == 6
    assert {
        (r["params"]["clf__C"], r["params"]["prep__numbers__impute__strategy"]) for r in runs
    } == {(c, s) for c in (0.1, 1.0, 10.0) for s in ("mean", "median")}
    for run in runs:
        assert run["status"] == "ok", run
        params = run["params"]
        want = reference_scores(repo, params["clf__C"], params["prep__numbers__impute__strategy"])
        for name in ("accuracy", "roc_auc"):
            folds = np.asarray(want[f"test_{name}"], dtype=float)
            assert run["metrics"][name] == float(folds.mean())  # to the last digit
            assert run["metrics"][f"{name}_std"] == float(folds.std())

    before = git(repo, "rev-parse", "journal")
    code, out, err = cli("run", "-q")
    assert code == 0, err
    assert "Nothing to run" in out
    assert git(repo, "rev-parse", "journal") == before
    assert cli("check")[0] == 1  # every point already ran


def test_a_grid_reads_and_hashes_its_table_once_per_run(
    repo: Path, cli: Cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Six points, one read of the CSV and one md5 of it; the next run finds the md5 cached
    and reads the table once again; `check` of a changed table reads and hashes it once, for
    its validation and its table checks both."""
    from gitlab_journal.data import hashing

    setup(repo, cli)
    table = (repo / "data" / "passengers.csv").resolve()
    reads: list[Path] = []
    hashes: list[Path] = []
    read_csv, md5_of_file = pd.read_csv, hashing._md5_of_file

    def counted_read(path: Any, *args: Any, **kwargs: Any) -> Any:
        reads.append(Path(path).resolve())
        return read_csv(path, *args, **kwargs)

    def counted_md5(path: Path) -> str:
        hashes.append(Path(path).resolve())
        return md5_of_file(path)

    monkeypatch.setattr(pd, "read_csv", counted_read)
    monkeypatch.setattr(hashing, "_md5_of_file", counted_md5)

    code, _, err = cli("run", "-q")
    assert code == 0, err
    assert len(logged(cli)) == 6
    assert reads.count(table) == 1
    assert hashes.count(table) == 1

    reads.clear()
    hashes.clear()
    code, _, err = cli("run", "-q", "--set", "model.params.clf__C=[0.5, 2.0]")
    assert code == 0, err
    assert len(logged(cli)) == 10
    assert reads.count(table) == 1
    assert hashes.count(table) == 0  # unchanged since the last run: its md5 is cached

    reads.clear()
    with table.open("a") as handle:  # a changed table: hashed again, and read once by check
        handle.write("male,S,30,7.25,3,0\n")
    code, out, err = cli("check")
    assert code == 0, err
    assert "6 of 6 points are new" in out
    assert reads.count(table) == 1
    assert hashes.count(table) == 1


@pytest.mark.parametrize(
    ("old", "new"),
    [
        ("columns: [sex, embarked, pclass]", "columns: [sex, pclass]"),  # a transformer's columns
        ("{handle_unknown: ignore}", "{handle_unknown: ignore, min_frequency: 2}"),  # an encoder
        (  # the table view
            "  target: survived\n",
            "  target: survived\n  columns: [age, fare, sex, embarked, pclass]\n",
        ),
        ("  target: survived\n", "  target: survived\n  dtypes: {pclass: category}\n"),
    ],
)
def test_a_changed_column_list_or_encoder_param_is_a_new_experiment(
    repo: Path, cli: Cli, old: str, new: str
) -> None:
    setup(repo, cli, SPEC.replace("clf__C: [0.1, 1.0, 10.0]", "clf__C: 1.0"))
    assert cli("run", "-q")[0] == 0
    ran = {r["fingerprint"] for r in logged(cli)}
    assert len(ran) == 2

    (repo / "journal.yaml").write_text(
        SPEC.replace("clf__C: [0.1, 1.0, 10.0]", "clf__C: 1.0").replace(old, new)
    )

    now = planned(cli)
    assert len(now) == 2 and not set(now) & ran
    code, _, err = cli("run", "-q")
    assert code == 0, err
    runs = logged(cli)
    assert len(runs) == 4 and all(r["status"] == "ok" for r in runs)


def test_another_target_column_is_a_new_experiment(repo: Path, cli: Cli) -> None:
    spec = SPEC.replace("clf__C: [0.1, 1.0, 10.0]", "clf__C: 1.0").replace(
        "columns: [sex, embarked, pclass]", "columns: [embarked, pclass]"
    )
    setup(repo, cli, spec)
    assert cli("run", "-q")[0] == 0
    ran = {r["fingerprint"] for r in logged(cli)}

    (repo / "journal.yaml").write_text(spec.replace("target: survived", "target: sex"))

    assert not set(planned(cli)) & ran


def assert_same_scores(runs: list[dict[str, Any]], from_csv: dict[str, Any]) -> None:
    """The runs (one per imputing strategy) scored as the runs of the plain CSV, to the digit."""
    assert sorted(r["params"]["prep__numbers__impute__strategy"] for r in runs) == sorted(from_csv)
    for run in runs:
        want = from_csv[run["params"]["prep__numbers__impute__strategy"]]
        for name in ("accuracy", "accuracy_std", "roc_auc", "roc_auc_std"):
            assert run["metrics"][name] == want[name]


def test_a_parquet_table_scores_as_its_csv(repo: Path, cli: Cli) -> None:
    spec = SPEC.replace("clf__C: [0.1, 1.0, 10.0]", "clf__C: 1.0")
    setup(repo, cli, spec)
    assert cli("run", "-q")[0] == 0
    from_csv = {r["params"]["prep__numbers__impute__strategy"]: r["metrics"] for r in logged(cli)}
    import pyarrow  # the dev extra installs it: a missing pyarrow fails this test

    assert pyarrow.__version__
    pd.read_csv(repo / "data" / "passengers.csv").to_parquet(repo / "data" / "passengers.parquet")
    (repo / "journal.yaml").write_text(spec.replace("passengers.csv", "passengers.parquet"))

    code, _, err = cli("run", "-q")

    assert code == 0, err
    runs = [r for r in logged(cli) if "data/passengers.parquet" in r["data"]]
    assert_same_scores(runs, from_csv)


EURO = (
    "  path: data/passagiere.csv\n  sep: ';'\n  decimal: ','\n  encoding: latin-1\n  drop: [name]\n"
)


def write_euro(repo: Path) -> bytes:
    """The passenger table as a spreadsheet in a European locale writes it: ';' between
    columns, decimal commas, Latin-1 text (and a name column the spec drops)."""
    frame = pd.read_csv(repo / "data" / "passengers.csv")
    frame.insert(0, "name", "Zoë Ñúñez")
    with (repo / "data" / "passagiere.csv").open("w", encoding="latin-1", newline="") as handle:
        frame.to_csv(handle, sep=";", decimal=",", index=False)
    return (repo / "data" / "passagiere.csv").read_bytes()


def identity_of(repo: Path, run_id: str) -> dict[str, Any]:
    names = git(repo, "ls-tree", "-r", "--name-only", "journal").split()
    (path,) = [n for n in names if n.endswith(f"/{run_id}/{fmt.IDENTITY_FILE}")]
    found: dict[str, Any] = json.loads(git(repo, "show", f"journal:{path}"))
    return found


def test_a_semicolon_latin1_table_with_decimal_commas_scores_as_its_plain_csv(
    repo: Path, cli: Cli
) -> None:
    spec = SPEC.replace("clf__C: [0.1, 1.0, 10.0]", "clf__C: 1.0")
    setup(repo, cli, spec)
    assert cli("run", "-q")[0] == 0
    from_csv = {r["params"]["prep__numbers__impute__strategy"]: r["metrics"] for r in logged(cli)}
    raw = write_euro(repo)
    header, first = raw.split(b"\n")[:2]
    assert header.startswith(b"name;sex;embarked;age;fare") and b"Zo\xeb" in first
    assert first.split(b";")[4].count(b",") == 1  # the fare, with a decimal comma
    (repo / "journal.yaml").write_text(spec.replace("  path: data/passengers.csv\n", EURO))

    code, _, err = cli("run", "-q")

    assert code == 0, err
    runs = [r for r in logged(cli) if "data/passagiere.csv" in r["data"]]
    assert_same_scores(runs, from_csv)
    for run in runs:
        table = identity_of(repo, run["id"])["table"]
        assert table == {"sep": ";", "decimal": ",", "encoding": "iso8859-1", "drop": ["name"]}


# the thousands mark and the decimal mark of each style of grouped numbers
STYLES = {"commas": (",", "."), "european": (".", ","), "french": (" ", ",")}


def write_thousands(repo: Path, *, style: str) -> None:
    """The passenger table with fares in the thousands: ``plain.csv`` as pandas writes it, and
    ``grouped.csv`` with thousands separators (``54,170.50``; ``54.170,50`` in the
    ``european`` style and ``54 170,50`` in the ``french`` one, with ';' between columns)."""
    frame = pd.read_csv(repo / "data" / "passengers.csv")
    frame["fare"] = frame["fare"] * 1000 + 0.5
    frame.to_csv(repo / "data" / "plain.csv", index=False)
    thousands, decimal = STYLES[style]
    text = frame["fare"].map(
        lambda v: f"{v:,.2f}".replace(",", "_").replace(".", decimal).replace("_", thousands)
    )
    grouped = frame.assign(fare=text)
    if style == "commas":  # the grouped fares are quoted, as they hold the separator
        grouped.to_csv(repo / "data" / "grouped.csv", index=False)
    else:
        grouped.to_csv(repo / "data" / "grouped.csv", index=False, sep=";", decimal=",")


@pytest.mark.parametrize(
    ("style", "options"),
    [
        ("commas", "  thousands: ','\n"),
        ("european", "  sep: ';'\n  decimal: ','\n  thousands: '.'\n"),
        ("french", "  sep: ';'\n  decimal: ','\n  thousands: ' '\n"),
    ],
)
def test_numbers_with_thousands_separators_read_with_thousands(
    repo: Path, cli: Cli, style: str, options: str
) -> None:
    spec = SPEC.replace("clf__C: [0.1, 1.0, 10.0]", "clf__C: 1.0")
    setup(repo, cli, spec)
    write_thousands(repo, style=style)
    (repo / "journal.yaml").write_text(spec.replace("passengers.csv", "plain.csv"))
    assert cli("run", "-q")[0] == 0
    plain = {r["params"]["prep__numbers__impute__strategy"]: r["metrics"] for r in logged(cli)}
    grouped = spec.replace("passengers.csv", "grouped.csv")
    mark = STYLES[style][0]
    without = grouped.replace("  target: survived\n", f"  target: survived\n{options}")
    without = without.replace(f"  thousands: '{mark}'\n", "")
    (repo / "journal.yaml").write_text(without)

    code, _, err = cli("check")

    assert code == 2, err
    assert f"holds strings, e.g. '54{mark}170" in err.splitlines()[0], err
    assert f"add thousands: '{mark}' to the data block" in err.splitlines()[1], err

    (repo / "journal.yaml").write_text(
        grouped.replace("  target: survived\n", f"  target: survived\n{options}")
    )
    code, _, err = cli("run", "-q")
    assert code == 0, err
    runs = [r for r in logged(cli) if "data/grouped.csv" in r["data"]]
    assert_same_scores(runs, plain)
    assert identity_of(repo, runs[0]["id"])["table"]["thousands"] == mark


def compress(path: Path, raw: bytes) -> None:
    """``raw`` as a compressed file named ``path``, written with the standard library."""
    import bz2
    import gzip
    import lzma
    import zipfile

    if path.suffix == ".zip":
        with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
            archive.writestr(path.stem, raw)
        return
    opener: Any = {".gz": gzip.open, ".bz2": bz2.open, ".xz": lzma.open}[path.suffix]
    with opener(path, "wb") as handle:
        handle.write(raw)


@pytest.mark.parametrize(
    "name",
    [
        "passengers.csv.gz",
        "passengers.csv.bz2",
        "passengers.csv.xz",
        "passengers.csv.zip",
        "passagiere.csv.gz",
    ],
)
def test_a_compressed_table_scores_as_its_csv(repo: Path, cli: Cli, name: str) -> None:
    spec = SPEC.replace("clf__C: [0.1, 1.0, 10.0]", "clf__C: 1.0")
    setup(repo, cli, spec)
    assert cli("run", "-q")[0] == 0
    from_csv = {r["params"]["prep__numbers__impute__strategy"]: r["metrics"] for r in logged(cli)}
    if name.startswith("passagiere"):  # ';', decimal commas and Latin-1, compressed
        raw = write_euro(repo)
        data = EURO.replace("passagiere.csv", name)
    else:
        raw = (repo / "data" / "passengers.csv").read_bytes()
        data = f"  path: data/{name}\n"
    compress(repo / "data" / name, raw)
    (repo / "journal.yaml").write_text(spec.replace("  path: data/passengers.csv\n", data))

    code, _, err = cli("run", "-q")

    assert code == 0, err
    runs = [r for r in logged(cli) if f"data/{name}" in r["data"]]
    assert_same_scores(runs, from_csv)


def test_a_damaged_archive_or_a_file_of_another_kind_stops_before_training(
    repo: Path, cli: Cli
) -> None:
    import zipfile

    setup(repo, cli)
    (repo / "data" / "broken.csv.gz").write_bytes(b"not gzip at all")
    with zipfile.ZipFile(repo / "data" / "two.csv.zip", "w") as archive:
        archive.writestr("a.csv", "x,y\n1,0\n")
        archive.writestr("b.csv", "x,y\n2,1\n")
    (repo / "data" / "sheet.xlsx").write_bytes(b"PK\x03\x04")
    before = git(repo, "rev-parse", "journal")
    for name, problem in [
        ("broken.csv.gz", "data/broken.csv.gz: cannot read as a table: Not a gzipped file"),
        ("two.csv.zip", "a .zip table holds one file; this one holds 2"),
        ("sheet.xlsx", "unknown data file type 'data/sheet.xlsx'"),
    ]:
        (repo / "journal.yaml").write_text(SPEC.replace("passengers.csv", name))

        code, _, err = cli("run", "-q")

        assert code == 2, err
        assert err.startswith("error: journal.yaml:2: data.path: ") and problem in err, err
        assert "Traceback" not in err
    assert "hint: read other formats in a loader of your repository" in err
    assert git(repo, "rev-parse", "journal") == before


def test_the_default_separator_decimal_and_encoding_are_the_same_experiment(
    repo: Path, cli: Cli
) -> None:
    setup(repo, cli)
    plain = planned(cli)
    defaults = "  path: data/passengers.csv\n  sep: ','\n  decimal: '.'\n  encoding: UTF8\n"
    (repo / "journal.yaml").write_text(SPEC.replace("  path: data/passengers.csv\n", defaults))
    assert planned(cli) == plain
    (repo / "journal.yaml").write_text(SPEC.replace("  target: survived\n", "  sep: ';'\n"))
    code, _, err = cli("check")
    assert code == 2, err  # read with ';', the header is one column: no 'survived' in it


def test_a_file_read_with_the_wrong_separator_says_which_sep_reads_it(repo: Path, cli: Cli) -> None:
    setup(repo, cli)
    write_euro(repo)
    spec = SPEC.replace("passengers.csv", "passagiere.csv")
    (repo / "journal.yaml").write_text(spec)

    code, _, err = cli("check")

    assert code == 2, err
    assert "journal.yaml:2: data.path: data/passagiere.csv: cannot read as a table" in err
    assert "hint: a file that is not UTF-8 needs its encoding: add encoding: latin-1" in err

    spec = spec.replace("  target: survived\n", "  target: survived\n  encoding: latin-1\n")
    (repo / "journal.yaml").write_text(spec)

    code, _, err = cli("check")

    assert code == 2, err
    assert "journal.yaml:3: data.target: data/passagiere.csv has no column 'survived'" in err
    assert "hint: the header reads as one column" in err and "add sep: ';'" in err


def test_a_file_that_is_not_in_the_encoding_given_says_so(repo: Path, cli: Cli) -> None:
    setup(repo, cli)
    write_euro(repo)
    euro = EURO.replace("latin-1", "ascii")
    (repo / "journal.yaml").write_text(SPEC.replace("  path: data/passengers.csv\n", euro))

    code, _, err = cli("check")

    assert code == 2, err
    assert "journal.yaml:2: data.path: data/passagiere.csv: cannot read as a table" in err
    assert "hint: the file is not ascii: give the encoding it was written in" in err


@pytest.mark.parametrize(
    ("option", "where", "problem"),
    [
        ("sep: ';;'", "4: data.sep", "sep must be one character"),
        ("sep: \\t", "4: data.sep", 'a tab is written "\\t", in double quotes'),
        ("sep: '\"'", "4: data.sep", "sep cannot be"),
        ("decimal: ','", "4: data.decimal", "the decimal mark ',' is the separator of a .csv file"),
        ("decimal: '7'", "4: data.decimal", "the decimal mark cannot be '7'"),
        ("encoding: klingon", "4: data.encoding", "unknown encoding 'klingon'"),
        ("sep: '.'", "4: data.sep", "the separator '.' is also the decimal mark"),
        (
            "sep: ';'\n  decimal: ';'",
            "5: data.decimal",
            "the separator ';' is also the decimal mark",
        ),
        ("thousands: '.'", "4: data.thousands", "the thousands mark '.' is also the decimal"),
        ("thousands: '7'", "4: data.thousands", "the thousands mark cannot be '7'"),
    ],
)
def test_a_bad_separator_decimal_or_encoding_names_its_line(
    repo: Path, cli: Cli, option: str, where: str, problem: str
) -> None:
    setup(repo, cli)
    (repo / "journal.yaml").write_text(
        SPEC.replace("  target: survived\n", f"  target: survived\n  {option}\n")
    )
    before = git(repo, "rev-parse", "journal")

    code, _, err = cli("run", "-q")

    assert code == 2, err
    assert err.startswith(f"error: journal.yaml:{where}: "), err
    assert problem in err.splitlines()[0] + err, err
    assert git(repo, "rev-parse", "journal") == before


def test_a_parquet_file_takes_no_separator(repo: Path, cli: Cli) -> None:
    setup(repo, cli)
    pd.read_csv(repo / "data" / "passengers.csv").to_parquet(repo / "data" / "passengers.parquet")
    (repo / "journal.yaml").write_text(
        SPEC.replace("passengers.csv\n", "passengers.parquet\n  decimal: ','\n")
    )

    code, _, err = cli("check")

    assert code == 2, err
    assert "journal.yaml:3: data.decimal: decimal is for CSV and TSV files" in err, err


# --- whitespace separators and dtype aliases -------------------------------------------------


def write_separated(repo: Path, name: str, sep: str) -> None:
    """The passenger table, its columns separated by ``sep``, as ``data/{name}``."""
    frame = pd.read_csv(repo / "data" / "passengers.csv")
    frame.to_csv(repo / "data" / name, sep=sep, index=False)


@pytest.mark.parametrize(
    ("written", "sep", "spellings"),
    [
        ('"\\t"', "\t", ['"\\x09"', '"\\u0009"', "'\t'", '"\t"']),
        ("' '", " ", ['"\\x20"', '" "']),
    ],
    ids=["tab", "space"],
)
def test_a_table_separated_by_tabs_or_spaces_reads_with_its_sep(
    repo: Path, cli: Cli, written: str, sep: str, spellings: list[str]
) -> None:
    """``sep: "\\t"``, as the README writes it, reads a tab-separated file (one named .csv
    too), and so does a space: the runs score as the plain CSV's, and every spelling of the
    character is the same experiment."""
    spec = SPEC.replace("clf__C: [0.1, 1.0, 10.0]", "clf__C: 1.0")
    setup(repo, cli, spec)
    assert cli("run", "-q")[0] == 0
    from_csv = {r["params"]["prep__numbers__impute__strategy"]: r["metrics"] for r in logged(cli)}
    write_separated(repo, "p_tab.csv", sep)
    assert sep in (repo / "data" / "p_tab.csv").read_text().splitlines()[0]
    data = f"  path: data/p_tab.csv\n  sep: {written}\n"
    (repo / "journal.yaml").write_text(spec.replace("  path: data/passengers.csv\n", data))

    code, _, err = cli("run", "-q")

    assert code == 0, err
    runs = [r for r in logged(cli) if "data/p_tab.csv" in r["data"]]
    assert_same_scores(runs, from_csv)
    for run in runs:
        assert run["status"] == "ok", run
        assert identity_of(repo, run["id"])["table"] == {"sep": sep}
    fingerprints = planned(cli)
    for spelling in spellings:
        data = f"  path: data/p_tab.csv\n  sep: {spelling}\n"
        (repo / "journal.yaml").write_text(spec.replace("  path: data/passengers.csv\n", data))
        assert planned(cli) == fingerprints, spelling
        assert cli("check")[0] == 1, spelling  # every point already ran


def test_a_tsv_read_with_the_hinted_tab_is_the_same_experiment_as_without(
    repo: Path, cli: Cli
) -> None:
    """A tab-separated .csv read with commas names the sep that reads it; the spec that says it
    checks, and a .tsv's own tab is the same experiment as no sep."""
    setup(repo, cli)
    write_separated(repo, "p_tab.csv", "\t")
    (repo / "journal.yaml").write_text(SPEC.replace("passengers.csv", "p_tab.csv"))

    code, _, err = cli("check")

    assert code == 2, err
    assert 'add sep: "\\t" to the data block' in err, err
    (repo / "journal.yaml").write_text(
        SPEC.replace("passengers.csv", "p_tab.csv").replace(
            "  target: survived\n", '  target: survived\n  sep: "\\t"\n'
        )
    )
    code, _, err = cli("check")
    assert code == 0, err
    write_separated(repo, "p_tab.tsv", "\t")
    (repo / "journal.yaml").write_text(SPEC.replace("passengers.csv", "p_tab.tsv"))
    plain = planned(cli)
    (repo / "journal.yaml").write_text(
        SPEC.replace("passengers.csv", "p_tab.tsv").replace(
            "  target: survived\n", '  target: survived\n  sep: "\\t"\n'
        )
    )
    assert planned(cli) == plain


@pytest.mark.parametrize("alias", ["float", "double", "f8", "<f8"])
def test_a_dtype_alias_is_the_experiment_of_its_canonical_name(
    repo: Path, cli: Cli, alias: str
) -> None:
    spec = HGB_SPEC.replace(
        "{sex: category, embarked: category}", "{fare: DTYPE, sex: category, embarked: category}"
    )
    setup(repo, cli, spec.replace("DTYPE", "float64"))
    code, _, err = cli("run", "-q")
    assert code == 0, err
    (run,) = logged(cli)
    assert run["status"] == "ok", run
    assert identity_of(repo, run["id"])["table"]["dtypes"] == {
        "embarked": "category",
        "fare": "float64",
        "sex": "category",
    }
    fingerprints = planned(cli)
    (repo / "journal.yaml").write_text(spec.replace("DTYPE", alias))

    assert planned(cli) == fingerprints
    code, out, err = cli("check")
    assert code == 1, (out, err)  # nothing new to run
    code, out, err = cli("run", "-q")
    assert code == 0, err
    assert "Nothing to run" in out
    (repo / "journal.yaml").write_text(spec.replace("DTYPE", "float32"))
    assert planned(cli) != fingerprints  # another dtype is another experiment


# --- constructor lists and factories ---------------------------------------------------------

NUMERIC_HEADER = ["a", "b", "c", "d", "label"]


def numeric_rows(n: int = 90, seed: int = 1) -> list[list[Any]]:
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 4))
    y = (X[:, 0] + 0.5 * X[:, 1] + rng.normal(scale=0.5, size=n) > 0).astype(int)
    return [[f"{v:.6f}" for v in row] + [int(label)] for row, label in zip(X, y, strict=True)]


def numeric_setup(repo: Path, cli: Any, spec: str) -> None:
    write_table(repo / "data" / "train.csv", NUMERIC_HEADER, numeric_rows())
    (repo / "journal.yaml").write_text(spec)
    git(repo, "add", ".")
    git(repo, "commit", "-q", "-m", "Add a numeric table and its spec")
    assert cli("init")[0] == 0


def numeric_reference(repo: Path, model: Any, scoring: str = "accuracy") -> float:
    from sklearn.model_selection import StratifiedKFold, cross_validate

    frame = pd.read_csv(repo / "data" / "train.csv")
    X, y = frame.drop(columns="label"), frame["label"].to_numpy()
    scores = cross_validate(model, X, y, cv=StratifiedKFold(5), scoring=[scoring])
    return float(np.asarray(scores[f"test_{scoring}"], dtype=float).mean())


DATA = "data:\n  path: data/train.csv\n  target: label\n"
EVALUATION = "evaluation:\n  cv: 5\n  scoring: [accuracy]\n  seed: 0\n"


def _feature_union() -> Any:
    from sklearn.decomposition import PCA
    from sklearn.feature_selection import SelectKBest
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import FeatureUnion, Pipeline

    union = FeatureUnion([("pca", PCA(n_components=2, random_state=0)), ("best", SelectKBest(k=1))])
    return Pipeline([("features", union), ("clf", LogisticRegression(C=0.5, random_state=0))])


def _voting() -> Any:
    from sklearn.ensemble import VotingClassifier
    from sklearn.linear_model import LogisticRegression
    from sklearn.naive_bayes import GaussianNB
    from sklearn.tree import DecisionTreeClassifier

    return VotingClassifier(
        [
            ("linear", LogisticRegression(random_state=0)),
            ("tree", DecisionTreeClassifier(max_depth=3, random_state=0)),
            ("bayes", GaussianNB()),
        ],
        voting="soft",
    )


def _stacking() -> Any:
    from sklearn.ensemble import StackingClassifier
    from sklearn.linear_model import LogisticRegression
    from sklearn.neighbors import KNeighborsClassifier
    from sklearn.tree import DecisionTreeClassifier

    return StackingClassifier(
        [
            ("knn", KNeighborsClassifier(n_neighbors=7)),
            ("tree", DecisionTreeClassifier(max_depth=2, random_state=0)),
        ],
        final_estimator=LogisticRegression(random_state=0),
    )


CONSTRUCTOR_LISTS = {
    "FeatureUnion": (
        """\
model:
  estimator: sklearn.pipeline.Pipeline
  steps:
    - features:
        estimator: sklearn.pipeline.FeatureUnion
        transformer_list:
          - name: pca
            estimator: sklearn.decomposition.PCA
            params: {n_components: 2}
          - name: best
            estimator: sklearn.feature_selection.SelectKBest
            params: {k: 1}
    - clf: sklearn.linear_model.LogisticRegression
  params:
    clf__C: 0.5
""",
        _feature_union,
        "sklearn.pipeline.Pipeline",
    ),
    "VotingClassifier": (
        """\
model:
  estimator: sklearn.ensemble.VotingClassifier
  estimators:
    - name: linear
      estimator: sklearn.linear_model.LogisticRegression
    - name: tree
      estimator: sklearn.tree.DecisionTreeClassifier
      params: {max_depth: 3}
    - name: bayes
      estimator: sklearn.naive_bayes.GaussianNB
  params:
    voting: soft
""",
        _voting,
        "sklearn.ensemble.VotingClassifier",
    ),
    "StackingClassifier": (
        """\
model:
  estimator: sklearn.ensemble.StackingClassifier
  estimators:
    - name: knn
      estimator: sklearn.neighbors.KNeighborsClassifier
      params: {n_neighbors: 7}
    - name: tree
      estimator: sklearn.tree.DecisionTreeClassifier
      params: {max_depth: 2}
  params:
    final_estimator: {estimator: sklearn.linear_model.LogisticRegression}
""",
        _stacking,
        "sklearn.ensemble.StackingClassifier",
    ),
}


@pytest.mark.parametrize("kind", sorted(CONSTRUCTOR_LISTS))
def test_a_constructor_list_is_one_argument_built_from_named_blocks(
    repo: Path, cli: Cli, kind: str
) -> None:
    block, reference, model = CONSTRUCTOR_LISTS[kind]
    numeric_setup(repo, cli, DATA + block + EVALUATION)

    assert len(planned(cli)) == 1  # a list of blocks is never a grid axis
    code, _, err = cli("run", "-q")

    assert code == 0, err
    (run,) = logged(cli)
    assert run["status"] == "ok", run
    assert run["model"] == model
    assert run["metrics"]["accuracy"] == numeric_reference(repo, reference())


def test_the_column_transformer_is_one_argument_too(repo: Path, cli: Cli) -> None:
    setup(repo, cli)
    assert len(planned(cli)) == 6  # the two axes of the model's params, not the transformers


FACTORY = """\
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler



def make_model(C=1.0):
    return make_pipeline(StandardScaler(), LogisticRegression(C=C, random_state=0))
"""


def test_a_factory_in_the_repository_imports_without_pythonpath(repo: Path, cli: Cli) -> None:
    (repo / "models").mkdir()
    (repo / "models" / "__init__.py").write_text("")
    (repo / "models" / "linear.py").write_text(FACTORY)
    spec = DATA + "model:\n  estimator: models.linear:make_model\n  params:\n    C: [0.5, 2.0]\n"
    numeric_setup(repo, cli, spec + EVALUATION)
    # A fresh interpreter whose path holds the package under test but not the repository (-P:
    # not even the working directory), as `git journal` runs from an installed entry point.
    package_root = str(Path(gitlab_journal.__file__).resolve().parent.parent)
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env["PYTHONPATH"] = package_root
    assert package_root != str(repo.resolve())

    done = subprocess.run(
        [sys.executable, "-P", "-m", "gitlab_journal", "run", "-q"],
        cwd=repo,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )

    assert done.returncode == 0, done.stderr
    runs = logged(cli)
    assert sorted(r["point"]["C"] for r in runs) == [0.5, 2.0]
    namespace: dict[str, Any] = {}
    exec(FACTORY, namespace)
    for run in runs:
        assert run["status"] == "ok", run
        want = numeric_reference(repo, namespace["make_model"](C=run["point"]["C"]))
        assert run["metrics"]["accuracy"] == want
    # The factory's module is code the experiment depends on: editing it is a new experiment.
    ran = {r["fingerprint"] for r in runs}
    (repo / "models" / "linear.py").write_text(FACTORY.replace("C=C,", "C=C * 2,"))
    assert not set(planned(cli)) & ran


# --- numeric tables keep their identity ------------------------------------------------------

PINNED_SPEC = """\
data:
  path: data/train.csv
  target: label
model:
  estimator: sklearn.linear_model.LogisticRegression
  params:
    C: 1.0
evaluation:
  cv: 5
  scoring: [accuracy]
  seed: 0
"""
PINNED_CSV = "a,b,label\n" + "".join(f"{i % 7}.5,{(i * 3) % 11},{i % 2}\n" for i in range(40))


def test_a_numeric_table_keeps_the_fingerprint_it_had(repo: Path, cli: Cli) -> None:
    (repo / "data").mkdir()
    (repo / "data" / "train.csv").write_text(PINNED_CSV)
    (repo / "journal.yaml").write_text(PINNED_SPEC)
    git(repo, "add", ".")
    git(repo, "commit", "-q", "-m", "Add a numeric table")
    assert cli("init")[0] == 0

    # Pins the identity of a plain numeric table (path, an explicit target that is the last
    # column, no column options) with a numeric-only estimator, as the journal recorded it
    # before tables learned column selection, encoders and string labels: a journal written
    # then must still find its runs. (The value moves with scikit-learn's defaults, which are
    # part of the identity, and with this repository's code files: train.py, from make_repo.)
    assert planned(cli) == ["e04a3d07a928f894390a630d63c2e810ecbc74841f900f89b26c7b8657ca4e72"]


def test_a_numeric_table_with_dtypes_keeps_the_fingerprint_it_had(repo: Path, cli: Cli) -> None:
    (repo / "data").mkdir()
    (repo / "data" / "train.csv").write_text(PINNED_CSV)
    typed = "  target: label\n  dtypes: {a: float64, b: int64}\n"
    (repo / "journal.yaml").write_text(PINNED_SPEC.replace("  target: label\n", typed))
    git(repo, "add", ".")
    git(repo, "commit", "-q", "-m", "Add a numeric table")
    assert cli("init")[0] == 0

    # Pins the identity of canonical dtype names as the journal recorded it before dtype
    # aliases were read as their canonical names: the same spec must find the same runs, and
    # the aliases find them too. (The value moves as the pin above does.)
    pinned = ["4245460f4cf0ee63c49c11c2690f5ac0ef6ba4d78b8f10bd9fccf55a67956ba4"]
    assert planned(cli) == pinned
    aliases = "  target: label\n  dtypes: {a: double, b: i8}\n"
    (repo / "journal.yaml").write_text(PINNED_SPEC.replace("  target: label\n", aliases))
    assert planned(cli) == pinned


# --- bad tables ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("old", "new", "where", "named"),
    [
        (
            "  target: survived\n",
            "  target: survived\n  columns: [age, fare, cabin]\n",
            "journal.yaml:4: data.columns",
            "'cabin'",
        ),
        (
            "  target: survived\n",
            "  target: survived\n  drop: [cabin]\n",
            "journal.yaml:4: data.drop",
            "'cabin'",
        ),
        (
            "  target: survived\n",
            "  target: survived\n  dtypes:\n    pclass: notatype\n",
            "journal.yaml:5: data.dtypes.pclass",
            "'notatype'",
        ),
        ("target: survived", "target: survival", "journal.yaml:3: data.target", "'survival'"),
        (
            "columns: [age, fare]",
            "columns: [age, fares]",
            "journal.yaml:11: model.steps.0.prep.transformers.0.columns",
            "'fares'",
        ),
        (  # a column the transformer takes but the table view drops
            "  target: survived\n",
            "  target: survived\n  drop: [embarked]\n",
            "journal.yaml:17: model.steps.0.prep.transformers.1.columns",
            "'embarked'",
        ),
    ],
)
def test_a_bad_table_option_stops_before_training_naming_the_spec_line(
    repo: Path, cli: Cli, old: str, new: str, where: str, named: str
) -> None:
    setup(repo, cli)
    (repo / "journal.yaml").write_text(SPEC.replace(old, new))
    before = git(repo, "rev-parse", "journal")

    for command in ("run", "check"):
        code, _, err = cli(command, "-q") if command == "run" else cli(command)

        assert code == 2, err
        first = err.strip().splitlines()[0]
        assert first.startswith(f"error: {where}: "), err
        assert named in first
        assert "Traceback" not in err
    assert git(repo, "rev-parse", "journal") == before
    assert logged(cli) == []


@pytest.mark.parametrize(
    ("dtypes", "column", "test", "hint"),
    [
        ("{age: Int64}", "age", lambda v: v != "" and float(v) % 1, "holds fractions"),
        ("{age: int8}", "age", lambda v: v == "", "use Int8"),
        ("{age: uint16}", "age", lambda v: v == "", "use UInt16"),
        ("{sex: float64}", "sex", lambda v: v == "male", None),
        ("{pclass: category, sex: boolean}", "sex", lambda v: True, None),
    ],
)
def test_cells_that_do_not_convert_to_a_dtype_are_named(
    repo: Path, cli: Cli, dtypes: str, column: str, test: Callable[[Any], bool], hint: str | None
) -> None:
    """pandas' own message names neither the column nor the cell; the error does both, at
    the dtype's line, and nothing is recorded."""
    rows = passengers()
    for n, row in enumerate(rows):  # numbers but for one word, in the fourth row
        row[0] = "male" if n == 3 else "1"
    spec = SPEC.replace("  target: survived\n", f"  target: survived\n  dtypes: {dtypes}\n")
    setup(repo, cli, spec, rows)
    at = COLUMNS.index(column)
    line, cell = next((n, row[at]) for n, row in enumerate(rows, start=2) if test(row[at]))
    shown = "a blank cell" if cell == "" else repr(float(cell) if column == "age" else cell)
    dtype = dtypes.rsplit(": ", 1)[1].rstrip("}")
    before = git(repo, "rev-parse", "journal")

    for command in ("check", "run"):
        code, _, err = cli(command)

        assert code == 2, err
        assert err.startswith(
            f"error: journal.yaml:4: data.dtypes.{column}: data/passengers.csv: column "
            f"{column!r} does not convert to {dtype}, e.g. {shown} in line {line}: "
        ), err
        hints = [text for text in err.splitlines() if text.startswith("hint: ")]
        assert (hint is None and not hints) or (hint is not None and hint in hints[0]), err
    assert git(repo, "rev-parse", "journal") == before


def test_a_string_column_reaching_a_numeric_estimator_is_refused(repo: Path, cli: Cli) -> None:
    spec = """\
data:
  path: data/passengers.csv
  target: survived
  columns: [sex, fare]
model:
  estimator: sklearn.linear_model.LogisticRegression
  params:
    C: [0.1, 1.0]
evaluation:
  cv: 5
  seed: 0
"""
    setup(repo, cli, spec)
    before = git(repo, "rev-parse", "journal")

    code, _, err = cli("run", "-q")

    assert code == 2, err
    first = err.strip().splitlines()[0]
    assert "'sex'" in first and "LogisticRegression" in first
    assert "OneHotEncoder" in err and "ColumnTransformer" in err
    assert git(repo, "rev-parse", "journal") == before
    assert logged(cli) == []


@pytest.mark.parametrize(
    "dates",
    [
        ["2024-01-31", "2024-02-01", "", "2024-02-03"],
        ["31/01/2024", "01/02/2024", "02/02/2024", ""],
        ["2024-01-31T09:30:00Z", "2024-02-01 17:05:12", "2024-02-02T08:00:00+01:00", ""],
    ],
    ids=["iso", "slashes", "time stamps"],
)
def test_a_date_column_reaching_the_model_is_named_as_dates(
    repo: Path, cli: Cli, dates: list[str]
) -> None:
    rows = [[*row, dates[i % len(dates)]] for i, row in enumerate(passengers())]
    setup(repo, cli, HGB_SPEC, rows, header=[*COLUMNS, "booked"])
    before = git(repo, "rev-parse", "journal")

    code, _, err = cli("run", "-q")

    assert code == 2, err
    first, hint = err.strip().splitlines()[:2]
    assert first.startswith("error: journal.yaml:5: model: column 'booked' holds dates, e.g. ")
    assert "reaches HistGradientBoostingClassifier, which takes numbers only" in first
    assert hint.startswith("hint: leave it out with data: drop: [booked], or turn a date into")
    assert git(repo, "rev-parse", "journal") == before

    (repo / "journal.yaml").write_text(
        HGB_SPEC.replace("survived\n", "survived\n  drop: [booked]\n")
    )
    assert cli("run", "-q")[0] == 0


BLANKS_SPEC = """\
data:
  path: data/passengers.csv
  target: survived
  columns: [age, fare, pclass]
model: {model}
evaluation: {{cv: 3, seed: 0}}
"""


@pytest.mark.parametrize(
    ("model", "step"),
    [
        ("sklearn.linear_model.LogisticRegression", "LogisticRegression"),
        (
            "{steps: [{scale: sklearn.preprocessing.StandardScaler}, "
            "{clf: sklearn.linear_model.LogisticRegression}]}",
            "step 'clf' (LogisticRegression)",
        ),
        (
            "{steps: [{pca: sklearn.decomposition.PCA}, "
            "{clf: sklearn.ensemble.HistGradientBoostingClassifier}]}",
            "step 'pca' (PCA)",
        ),
        (
            "{steps: [{encode: sklearn.preprocessing.OrdinalEncoder}, {clf: sklearn.svm.SVC}]}",
            "step 'clf' (SVC)",
        ),
    ],
    ids=["model", "after-a-scaler", "pca", "after-an-ordinal-encoder"],
)
def test_blank_cells_reaching_a_step_that_takes_none_stop_before_training(
    repo: Path, cli: Cli, model: str, step: str
) -> None:
    """Missing ages reaching LogisticRegression failed every point's fit; they now stop at
    the model's line (a scaler passes blanks on; PCA takes none, a booster after it would)."""
    rows = passengers()
    blanks = sum(1 for row in rows if row[COLUMNS.index("age")] == "")
    setup(repo, cli, BLANKS_SPEC.format(model=model), rows)
    before = git(repo, "rev-parse", "journal")

    for command in ("check", "run"):
        code, _, err = cli(command)

        assert code == 2, err
        first, hint = err.strip().splitlines()[:2]
        assert first == (
            f"error: journal.yaml:5: model: column 'age' has blank cells ({blanks} of "
            f"{len(rows)} rows) and reaches {step}, which takes no missing values"
        ), err
        assert hint.startswith("hint: fill them first: a sklearn.impute.SimpleImputer step"), err
    assert git(repo, "rev-parse", "journal") == before


def test_blank_text_cells_an_ordinal_encoder_hands_on_stop_before_training(
    repo: Path, cli: Cli
) -> None:
    """The encoder takes the text, but a blank cell comes out of it blank."""
    spec = BLANKS_SPEC.replace("[age, fare, pclass]", "[embarked, fare, pclass]").format(
        model="{steps: [{encode: sklearn.preprocessing.OrdinalEncoder}, {clf: sklearn.svm.SVC}]}"
    )
    setup(repo, cli, spec)
    code, _, err = cli("check")
    assert code == 2, err
    assert err.startswith("error: journal.yaml:5: model: column 'embarked' has blank cells ("), err
    assert "reaches step 'clf' (SVC), which takes no missing values" in err.splitlines()[0]


@pytest.mark.parametrize(
    "model",
    [
        "{steps: [{impute: sklearn.impute.SimpleImputer}, "
        "{clf: sklearn.linear_model.LogisticRegression}]}",
        "sklearn.ensemble.HistGradientBoostingClassifier",
        "sklearn.ensemble.RandomForestClassifier",
    ],
    ids=["imputed", "booster", "forest"],
)
def test_blank_cells_reaching_steps_that_take_them_train(repo: Path, cli: Cli, model: str) -> None:
    setup(repo, cli, BLANKS_SPEC.format(model=model))
    code, _, err = cli("run", "-q")
    assert code == 0, err
    (run,) = logged(cli)
    assert run["status"] == "ok", run


LOADER = """\
from pathlib import Path

import pandas as pd


def load():
    frame = pd.read_csv(Path(__file__).parent / "data" / "passengers.csv")
    return frame.drop(columns="survived"), frame["survived"]
"""


def test_a_loaders_dataframe_keeps_its_columns_for_the_pipeline(repo: Path, cli: Cli) -> None:
    """The README sends other formats (.xlsx) to a loader: the DataFrame it returns reaches
    the model as it is, so the issue's pipeline, named columns and all, scores there as it does
    on the table itself."""
    one = SPEC.replace("clf__C: [0.1, 1.0, 10.0]", "clf__C: 1.0")
    setup(repo, cli, one)
    assert cli("run", "-q")[0] == 0
    table_runs = logged(cli)
    from_table = {r["params"]["prep__numbers__impute__strategy"]: r["metrics"] for r in table_runs}
    (repo / "prep.py").write_text(LOADER)
    (repo / "journal.yaml").write_text(
        one.replace(
            "  path: data/passengers.csv\n  target: survived\n",
            "  loader: prep:load\n  deps: [data/passengers.csv]\n",
        )
    )

    code, _, err = cli("run", "-q")

    assert code == 0, err
    runs = [r for r in logged(cli) if r["id"] not in {t["id"] for t in table_runs}]
    assert len(runs) == 2 and all(r["status"] == "ok" for r in runs), runs
    assert_same_scores(runs, from_table)


LOGREG_SPEC = """\
data:
  path: data/passengers.csv
  target: survived
  columns: [fare, pclass, booked]
model: sklearn.linear_model.LogisticRegression
evaluation: {cv: 3, seed: 0}
"""


@pytest.mark.parametrize("stored", ["parquet", "dtype"])
@pytest.mark.parametrize(
    ("spec", "column", "kind"),
    [
        (HGB_SPEC, "booked", "dates"),
        (LOGREG_SPEC, "booked", "dates"),
        (HGB_SPEC, "stay", "time spans"),
    ],
    ids=["booster-dates", "logistic-dates", "booster-time-spans"],
)
def test_a_datetime_column_reaching_the_model_stops_before_training(
    repo: Path, cli: Cli, stored: str, spec: str, column: str, kind: str
) -> None:
    """A column that is a date or a time span by its dtype (Parquet keeps it; a CSV gets it from
    `dtypes:`) is refused as text is, instead of a failed run for every point."""
    rows = passengers()
    days = pd.date_range("2024-01-01", periods=len(rows), freq="D")
    frame = pd.DataFrame(rows, columns=COLUMNS)
    frame["age"] = pd.to_numeric(frame["age"].replace("", None))
    frame["fare"] = pd.to_numeric(frame["fare"])
    frame["embarked"] = frame["embarked"].replace("", None)
    frame[column] = days if kind == "dates" else days - days[0]
    frame = frame[[*COLUMNS[:-1], column, COLUMNS[-1]]]
    (repo / "data").mkdir()
    if stored == "parquet":
        frame.to_parquet(repo / "data" / "passengers.parquet")
        spec = spec.replace("passengers.csv", "passengers.parquet")
    else:
        frame.to_csv(repo / "data" / "passengers.csv", index=False)
        dtype = "datetime64[ns]" if kind == "dates" else "timedelta64[ns]"
        typed = f"{column}: '{dtype}'"
        if "dtypes: {" in spec:
            spec = spec.replace("dtypes: {", f"dtypes: {{{typed}, ")
        else:
            spec = spec.replace("survived\n", f"survived\n  dtypes: {{{typed}}}\n", 1)
    (repo / "journal.yaml").write_text(spec)
    git(repo, "add", ".")
    git(repo, "commit", "-q", "-m", "Add a table with a date column")
    assert cli("init")[0] == 0
    before = git(repo, "rev-parse", "journal")

    for command in ("check", "run"):
        code, _, err = cli(command)

        assert code == 2, err
        first, hint = err.strip().splitlines()[:2]
        assert f"column {column!r} holds {kind}, e.g. " in first, err
        assert first.endswith("which takes numbers only"), err
        assert hint.startswith(f"hint: leave it out with data: drop: [{column}], or turn "), err
    assert git(repo, "rev-parse", "journal") == before
    assert logged(cli) == []


@pytest.mark.parametrize(
    ("make", "shown"),
    [
        (lambda i: f"{i % 90 + 10}-{i % 7 + 32}-{i:04d}", "10-32-0000"),  # no such month
        (lambda i: f"{i % 3 + 1}.{i % 12}.{i % 5}", "1.0.0"),  # versions, not dates
    ],
    ids=["codes", "versions"],
)
def test_codes_that_only_look_like_dates_get_the_encoding_hint(
    repo: Path, cli: Cli, make: Callable[[int], str], shown: str
) -> None:
    rows = [[*row, make(i)] for i, row in enumerate(passengers())]
    spec = (
        "data:\n  path: data/passengers.csv\n  target: survived\n  columns: [code, fare]\n"
        "model:\n  estimator: sklearn.linear_model.LogisticRegression\n"
        "evaluation:\n  cv: 3\n  seed: 0\n"
    )
    setup(repo, cli, spec, rows, header=[*COLUMNS, "code"])

    code, _, err = cli("check")

    assert code == 2, err
    assert f"column 'code' holds strings, e.g. '{shown}'" in err, err
    assert "OneHotEncoder" in err and "dates" not in err


def test_a_string_column_left_to_a_pipeline_step_is_refused_too(repo: Path, cli: Cli) -> None:
    spec = SPEC.replace("columns: [sex, embarked, pclass]", "columns: [embarked, pclass]")
    spec = spec.replace(
        "    - prep:\n        estimator: sklearn.compose.ColumnTransformer\n",
        "    - prep:\n        estimator: sklearn.compose.ColumnTransformer\n"
        "        params: {remainder: passthrough}\n",
    )
    setup(repo, cli, spec)

    code, _, err = cli("run", "-q")

    assert code == 2, err
    first = err.strip().splitlines()[0]
    assert "'sex'" in first and "'clf'" in first
    assert logged(cli) == []


def test_category_columns_reach_a_gradient_booster_that_takes_them(repo: Path, cli: Cli) -> None:
    setup(repo, cli, HGB_SPEC)

    code, _, err = cli("run", "-q")

    assert code == 0, err
    (run,) = logged(cli)
    assert run["status"] == "ok", run
    # Left as strings, the same column is refused, with the dtype that would do.
    (repo / "journal.yaml").write_text(HGB_SPEC.replace("sex: category, ", ""))
    code, _, err = cli("run", "-q")
    assert code == 2
    assert "'sex'" in err.splitlines()[0]
    assert "dtypes: {sex: category}" in err
    assert len(logged(cli)) == 1
    # Categories, but the booster is told to take no column as one.
    (repo / "journal.yaml").write_text(
        HGB_SPEC.replace("categorical_features: from_dtype", "categorical_features: null")
    )
    code, _, err = cli("check")
    assert code == 2
    first, hint = err.strip().splitlines()[:2]
    assert "column 'sex' (and 'embarked') holds categories" in first
    assert hint == (
        "hint: HistGradientBoostingClassifier takes category columns as categories with "
        "categorical_features: from_dtype in its params"
    )


LABELS_SPEC = (
    SPEC.replace("target: survived", "target: outcome")
    .replace("clf__C: [0.1, 1.0, 10.0]", "clf__C: 1.0")
    .replace(
        "prep__numbers__impute__strategy: [mean, median]", "prep__numbers__impute__strategy: mean"
    )
)


def run_file(repo: Path, run: dict[str, Any], name: str) -> Any:
    fp = run["fingerprint"]
    return json.loads(
        git(
            repo, "show", f"journal:{fmt.run_dir(fp, run['id'], version=fmt.FORMAT_VERSION)}/{name}"
        )
    )


@pytest.mark.parametrize("split", ["cv: 5", "split: {test_size: 0.25}"])
def test_string_class_labels_stay_strings_in_the_record(repo: Path, cli: Cli, split: str) -> None:
    rows = [[*row[:5], "yes" if row[5] else "no"] for row in passengers()]
    header = [*COLUMNS[:5], "outcome"]
    write_table(repo / "data" / "passengers.csv", header, rows)
    (repo / "journal.yaml").write_text(LABELS_SPEC.replace("cv: 5", split))
    git(repo, "add", ".")
    git(repo, "commit", "-q", "-m", "Add a table with string labels")
    assert cli("init")[0] == 0

    code, _, err = cli("run", "-q")

    assert code == 0, err
    (run,) = logged(cli)
    assert run["status"] == "ok", run
    classes = run_file(repo, run, "classes.json")
    assert classes["labels"] == ["no", "yes"]
    assert [c["label"] for c in classes["classes"]] == ["no", "yes"]
    truth = [row[5] for row in rows]
    held = len(truth) if split.startswith("cv") else 20
    assert sum(c["support"] for c in classes["classes"]) == held
    if split.startswith("cv"):
        # the out-of-fold predictions of scikit-learn's own folds, scored per class
        from sklearn.metrics import precision_recall_fscore_support
        from sklearn.model_selection import StratifiedKFold, cross_val_predict

        frame = pd.read_csv(repo / "data" / "passengers.csv")
        model = _passenger_pipeline(1.0, "mean")
        X, y = frame.drop(columns="outcome"), frame["outcome"].to_numpy()
        predicted = cross_val_predict(model, X, y, cv=StratifiedKFold(5))
        precision, recall, f1, support = precision_recall_fscore_support(
            y, predicted, labels=["no", "yes"], zero_division=0
        )
        for i, entry in enumerate(classes["classes"]):
            assert entry["recall"] == float(recall[i])
            assert entry["precision"] == float(precision[i])
            assert entry["f1"] == float(f1[i])
            assert entry["support"] == int(support[i])
        assert truth.count("yes") == classes["classes"][1]["support"]

    code, shown, err = cli("show", run["id"])
    assert code == 0, err
    lines = shown.splitlines()
    at = lines.index("per class (held-out predictions)")
    assert lines[at + 1].split() == ["class", "precision", "recall", "F1", "support"]
    for line, entry in zip(lines[at + 2 : at + 4], classes["classes"], strict=True):
        figures = [f"{entry[k]:.4f}" for k in ("precision", "recall", "f1")]
        assert line.split() == [entry["label"], *figures, str(entry["support"])]


# --- pre-flight checks of a table's columns --------------------------------------------------


def _frame(**extra: Any) -> tuple[pd.DataFrame, np.ndarray]:
    """The passenger table's features and target, with ``extra`` columns added."""
    frame = pd.DataFrame(passengers(), columns=COLUMNS).replace("", np.nan)
    frame["age"] = pd.to_numeric(frame["age"])
    frame["fare"] = pd.to_numeric(frame["fare"])
    y = frame.pop("survived").to_numpy()
    for name, values in extra.items():
        frame[name] = values(y) if callable(values) else values
    return frame, y


def table_codes(X: pd.DataFrame, y: np.ndarray) -> list[tuple[str, str]]:
    from gitlab_journal.train.preflight import table_checks

    return [(f.code, f.message.split("'")[1]) for f in table_checks(X, y)]


def test_the_passenger_table_has_no_findings() -> None:
    assert table_codes(*_frame()) == []


@pytest.mark.parametrize(
    ("column", "values", "code"),
    [
        ("ticket", [f"T{i:03d}" for i in range(80)], "JP008"),  # an id, as strings
        ("passenger_id", list(range(1000, 1080)), "JP008"),  # an id, as integers
        ("rescued", lambda y: np.where(y == 1, "yes", "no"), "JP009"),  # a recoding
        ("copy", lambda y: y.copy(), "JP009"),  # the target itself
        ("cabin", [f"C{i % 20}" for i in range(80)], "JP010"),  # 20 levels for 80 rows
        ("ship", ["Titanic"] * 80, "JP011"),
        ("boat", [np.nan] * 50 + ["A"] * 30, "JP012"),
        ("body", [np.nan] * 80, "JP012"),
    ],
)
def test_each_table_check_names_the_column(column: str, values: Any, code: str) -> None:
    X, y = _frame(**{column: values})
    assert table_codes(X, y) == [(code, column)]


def test_table_checks_need_a_table() -> None:
    from gitlab_journal.train.preflight import table_checks

    assert table_checks(np.zeros((30, 2)), np.zeros(30)) == []


def test_table_findings_are_printed_by_check_and_recorded_by_run(repo: Path, cli: Cli) -> None:
    rows = [[*row[:5], row[5], f"P{i:03d}"] for i, row in enumerate(passengers())]
    header = [*COLUMNS, "ticket"]
    write_table(repo / "data" / "passengers.csv", header, rows)
    spec = SPEC.replace("clf__C: [0.1, 1.0, 10.0]", "clf__C: 1.0").replace(
        "impute__strategy: [mean, median]", "impute__strategy: mean"
    )
    (repo / "journal.yaml").write_text(spec)
    git(repo, "add", ".")
    git(repo, "commit", "-q", "-m", "Add a table with a ticket id")
    assert cli("init")[0] == 0

    code, _, err = cli("check")
    assert code == 0
    assert "warning: JP008: column 'ticket' has a different value in every row" in err
    assert "data: drop: [ticket]" in err
    code, out, _ = cli("check", "--json")
    assert [f.split(":")[0] for f in json.loads(out)["findings"]] == ["JP008"]

    code, _, err = cli("run", "-q")
    assert code == 0, err
    (run,) = logged(cli)
    recorded = run_file(repo, run, "run.json")["findings"]
    assert [f.split(":")[0] for f in recorded] == ["JP008"]

    (repo / "journal.yaml").write_text(spec + "checks:\n  ignore: [JP008]\n")
    assert "JP008" not in cli("check")[2]
    code, _, err = cli("run", "-q", "--strict", "--force")
    assert code == 0, err


def test_the_hint_for_a_saved_index_column_pastes_into_the_spec(repo: Path, cli: Cli) -> None:
    """`DataFrame.to_csv` writes the index under a blank header, which pandas reads back as
    'Unnamed: 0': the finding's `drop` quotes it, and the spec with that line added checks
    clean (unquoted, YAML reads `[Unnamed: 0]` as a mapping)."""
    frame = pd.DataFrame(passengers(), columns=COLUMNS)
    (repo / "data").mkdir()
    frame.to_csv(repo / "data" / "passengers.csv")  # the index too
    spec = SPEC.replace("clf__C: [0.1, 1.0, 10.0]", "clf__C: 1.0")
    (repo / "journal.yaml").write_text(spec)
    git(repo, "add", ".")
    git(repo, "commit", "-q", "-m", "Add a table saved with its index")
    assert cli("init")[0] == 0

    code, _, err = cli("check")
    assert code == 0, err
    (finding,) = [line for line in err.splitlines() if "JP008" in line]
    drop = finding.rsplit("(data: ", 1)[1].removesuffix(")")
    assert drop == "drop: ['Unnamed: 0']"
    (repo / "journal.yaml").write_text(
        spec.replace("  target: survived\n", f"  target: survived\n  {drop}\n")
    )
    code, _, err = cli("check")
    assert code == 0, err
    assert "JP008" not in err


def test_strict_refuses_a_leaking_column_before_training(repo: Path, cli: Cli) -> None:
    rows = [[*row, "yes" if row[5] else "no"] for row in passengers()]
    write_table(repo / "data" / "passengers.csv", [*COLUMNS, "rescued"], rows)
    spec = SPEC.replace("clf__C: [0.1, 1.0, 10.0]", "clf__C: 1.0").replace(
        "columns: [sex, embarked, pclass]", "columns: [sex, embarked, pclass, rescued]"
    )
    (repo / "journal.yaml").write_text(spec)
    git(repo, "add", ".")
    git(repo, "commit", "-q", "-m", "Add a table with a leak")
    assert cli("init")[0] == 0

    code, _, err = cli("run", "-q", "--strict")

    assert code == 1
    assert "JP009: column 'rescued'" in err
    assert logged(cli) == []


def test_the_readme_shows_the_spec_verbatim() -> None:
    readme = (Path(__file__).resolve().parent.parent / "README.md").read_text()
    section = readme.split("### Tabular data", 1)[1].split("\n### ", 1)[0]
    assert f"```yaml\n{SPEC}```" in section
    for key in ("columns:", "drop:", "dtypes:", "na_values:", "target:"):
        assert f"`{key}" in section


@pytest.mark.parametrize(
    ("name", "content", "problem"),
    [
        ("passengers.csv", b"", "the file is empty"),
        ("passengers.csv", b"sex,age,survived\n", "the table has no rows"),
        ("passengers.csv", b"\xff\xfe\x00garbage\x81\n1,2\n", "cannot read as a table"),
        ("passengers.parquet", b"PAR1 not really parquet", "cannot read as Parquet"),
    ],
)
def test_an_empty_or_unreadable_table_stops_before_training(
    repo: Path, cli: Cli, name: str, content: bytes, problem: str
) -> None:
    (repo / "data").mkdir()
    (repo / "data" / name).write_bytes(content)
    (repo / "journal.yaml").write_text(SPEC.replace("passengers.csv", name))
    git(repo, "add", ".")
    git(repo, "commit", "-q", "-m", "Add a bad table")
    assert cli("init")[0] == 0

    for command in ("check", "run"):
        code, _, err = cli(command)

        assert code == 2, err
        first = err.strip().splitlines()[0]
        assert first.startswith(f"error: journal.yaml:2: data.path: data/{name}: {problem}"), err
    assert logged(cli) == []


def test_a_tables_meta_features_count_its_text_columns_and_blanks() -> None:
    from gitlab_journal.data.metafeatures import metafeatures

    X, y = _frame()
    doc = metafeatures(X, y)

    # sex and embarked (strings) and pclass (three integer values) are categorical
    assert doc["categorical_share"] == round(3 / 5, 6)
    blanks = int(X["embarked"].isna().sum() + X["age"].isna().sum())
    assert blanks > 0
    assert doc["missing_share"] == round(blanks / (80 * 5), 6)
    numeric = metafeatures(X[["age", "fare", "pclass"]], y)
    assert numeric == metafeatures(X[["age", "fare", "pclass"]].to_numpy(), y)


def test_the_header_names_columns_as_pandas_does(tmp_path: Path) -> None:
    from gitlab_journal.data.header import read_header

    (tmp_path / "t.csv").write_text("\ufeffa, b ,a,,a\n1,2,3,4,5\n")
    (tmp_path / "t.tsv").write_text("x\ty\n1\t2\n")

    pandas = list(pd.read_csv(tmp_path / "t.csv", encoding="utf-8-sig").columns.str.strip())
    assert read_header(tmp_path, "t.csv") == pandas == ["a", "b", "a.1", "Unnamed: 3", "a.2"]
    assert read_header(tmp_path, "t.tsv") == ["x", "y"]


def test_a_csv_with_a_byte_order_mark_loads_as_the_same_table(tmp_path: Path) -> None:
    from gitlab_journal.data.loaders import load_data
    from gitlab_journal.spec.model import DataSpec

    text = "städt,x,label\nKöln,1.5,0\n,2.5,1\nBonn,,0\n"
    (tmp_path / "plain.csv").write_text(text, encoding="utf-8")
    (tmp_path / "marked.csv").write_text("\ufeff" + text, encoding="utf-8")
    loaded = {
        name: load_data(tmp_path, DataSpec(source="table", path=f"{name}.csv", target="label"))
        for name in ("plain", "marked")
    }
    X, y = loaded["marked"]
    assert list(X.columns) == ["städt", "x"]
    assert X["städt"].tolist()[0] == "Köln" and pd.isna(X["städt"].tolist()[1])
    pd.testing.assert_frame_equal(X, loaded["plain"][0])
    assert np.array_equal(y, loaded["plain"][1]) and list(y) == [0, 1, 0]


def test_text_columns_are_followed_to_the_step_that_takes_numbers_only() -> None:
    from sklearn.compose import ColumnTransformer, make_column_selector
    from sklearn.ensemble import RandomForestClassifier
    from sklearn.impute import SimpleImputer
    from sklearn.linear_model import LogisticRegression
    from sklearn.multiclass import OneVsRestClassifier
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import FunctionTransformer, OrdinalEncoder, StandardScaler

    from gitlab_journal.train.columns import blocked

    X, _ = _frame()
    allowed = [
        _passenger_pipeline(1.0, "mean"),
        make_pipeline(SimpleImputer(strategy="most_frequent"), OrdinalEncoder(), StandardScaler()),
        make_pipeline(FunctionTransformer(lambda frame: frame), LogisticRegression()),
        OneVsRestClassifier(_passenger_pipeline(1.0, "mean")),
        make_pipeline(
            ColumnTransformer([("n", "passthrough", make_column_selector(dtype_include="number"))]),
            LogisticRegression(),
        ),
    ]
    for model in allowed:
        assert blocked(model, X) is None, model
    assert blocked(LogisticRegression(), X[["fare", "pclass"]]) is None
    found = blocked(LogisticRegression(), X[["age", "fare", "pclass"]])  # ages are missing
    assert found is not None and found.blanks and found.columns == ("age",)
    assert blocked(LogisticRegression(), X.to_numpy()) is None  # arrays are not followed

    found = blocked(make_pipeline(SimpleImputer(strategy="mean"), LogisticRegression()), X)
    assert found is not None and found.step == "simpleimputer"
    assert found.columns == ("sex", "embarked")
    found = blocked(OneVsRestClassifier(RandomForestClassifier()), X)
    assert found is not None and found.step == "estimator"
    assert found.kind == "RandomForestClassifier"
