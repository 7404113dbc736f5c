"""Loading and validating journal.yaml: records, grids, --set, and errors with file:line:key."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import textwrap
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from conftest import IRIS_SPEC, PIPELINE_SPEC

from gitlab_journal.errors import JournalError
from gitlab_journal.spec.load import load_spec
from gitlab_journal.spec.locate import find_spec, repo_root
from gitlab_journal.spec.model import (
    CANONICAL_DTYPES as NAMED_WITHOUT_PANDAS,
)
from gitlab_journal.spec.model import (
    DEFAULT_CODE_GLOBS,
    DEFAULT_FOLDS,
    TableView,
    canonical_dtype,
)
from gitlab_journal.spec.overrides import apply_overrides

REPO = Path(__file__).resolve().parents[1]
TEMPLATES = REPO / "templates"

IRIS = IRIS_SPEC
PIPELINE = PIPELINE_SPEC


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    """A directory that looks like a git repository (the loader only looks for ``.git``)."""
    (tmp_path / ".git").mkdir()
    return tmp_path


def write(directory: Path, text: str, name: str = "journal.yaml") -> Path:
    path = directory / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


def error_of(path: Path, overrides: tuple[str, ...] = ()) -> JournalError:
    with pytest.raises(JournalError) as info:
        load_spec(path, overrides)
    assert info.value.exit_code == 2
    return info.value


# --- the two reference specs ------------------------------------------------------------------


def test_iris_spec_loads(repo: Path) -> None:
    spec = load_spec(write(repo, IRIS))
    assert spec.data.source == "sklearn"
    assert spec.data.name == "iris"
    assert spec.data.inputs() == ()
    (model,) = spec.models
    assert model.kind == "sklearn"
    assert model.estimator == "sklearn.linear_model.LogisticRegression"
    assert model.grids == ({"C": (0.1, 1.0, 10.0), "max_iter": (500,)},)
    assert model.line == 2  # a block under `model:` is located at that key
    assert [p.params for p in spec.points()] == [
        {"C": 0.1, "max_iter": 500},
        {"C": 1.0, "max_iter": 500},
        {"C": 10.0, "max_iter": 500},
    ]
    assert spec.evaluation.cv == 5
    assert spec.evaluation.test_size is None
    assert spec.evaluation.scoring == ("accuracy", "f1_macro")
    assert spec.evaluation.seed == 0
    assert spec.notes == {"hypothesis": "Stronger regularisation underfits iris."}
    assert spec.code == DEFAULT_CODE_GLOBS
    assert spec.name is None


def test_document_is_plain_python(repo: Path) -> None:
    spec = load_spec(write(repo, IRIS))
    doc = spec.document
    assert type(doc) is dict
    assert type(doc["model"]["params"]["C"]) is list
    assert all(type(c) is float for c in doc["model"]["params"]["C"])
    assert type(doc["evaluation"]["cv"]) is int
    assert type(doc["notes"]["hypothesis"]) is str
    # Records hold plain values too: no ruamel ScalarFloat in the grid.
    assert all(type(c) is float for c in spec.models[0].grids[0]["C"])


def test_pipeline_spec_loads(repo: Path) -> None:
    spec = load_spec(write(repo, PIPELINE))
    assert spec.data.source == "table"
    assert spec.data.path == "data/train.csv"
    assert spec.data.target == "label"
    assert spec.data.inputs() == ("data/train.csv",)
    (model,) = spec.models
    assert model.estimator == "sklearn.pipeline.Pipeline"
    assert [(s.name, s.estimator) for s in model.steps] == [
        ("scale", "sklearn.preprocessing.StandardScaler"),
        ("svc", "sklearn.svm.SVC"),
    ]
    points = [p.params for p in spec.points()]
    assert len(points) == 4
    assert {"svc__C": 5.0, "svc__kernel": "linear"} in points
    assert spec.evaluation.cv is None
    assert spec.evaluation.test_size == 0.25
    assert spec.evaluation.stratify is None
    assert spec.evaluation.seed == 1


# --- grids ------------------------------------------------------------------------------------


def test_several_blocks_and_several_grids(repo: Path) -> None:
    path = write(
        repo,
        """\
        data: sklearn:wine
        model:
          - estimator: sklearn.svm.SVC
            params:
              - {kernel: [linear], C: [1, 10]}
              - {kernel: [rbf], C: [1, 10], gamma: [scale, 0.1]}
          - estimator: sklearn.neighbors.KNeighborsClassifier
            params:
              n_neighbors: [3, 5, 7]
        """,
    )
    spec = load_spec(path)
    svc, knn = spec.models
    assert len(svc.grids) == 2
    assert (svc.line, knn.line) == (3, 7)
    assert len(svc.points()) == 2 + 4
    assert len(knn.points()) == 3
    points = spec.points()
    assert len(points) == 9
    assert [p.index for p in points] == list(range(9))
    assert points[-1].model is knn
    assert points[-1].params == {"n_neighbors": 7}
    assert spec.evaluation.cv == DEFAULT_FOLDS


def test_nested_list_values_become_tuples(repo: Path) -> None:
    path = write(
        repo,
        """\
        data: sklearn:digits
        model:
          estimator: sklearn.neural_network.MLPClassifier
          params:
            hidden_layer_sizes: [[100, 50], [64]]
            class_weight: {0: 1, 1: 2}
        """,
    )
    (model,) = load_spec(path).models
    assert model.grids[0]["hidden_layer_sizes"] == ((100, 50), (64,))
    assert model.grids[0]["class_weight"] == ({0: 1, 1: 2},)
    assert [p["hidden_layer_sizes"] for p in model.points()] == [(100, 50), (64,)]


def test_step_forms(repo: Path) -> None:
    path = write(
        repo,
        """\
        data: sklearn:iris
        model:
          steps:
            - scale: passthrough
            - pca:
                estimator: sklearn.decomposition.PCA
                params: {whiten: true, n_components: [2, 3]}
            - clf: sklearn.svm.SVC
          params: {clf__C: [1, 10]}
        """,
    )
    (model,) = load_spec(path).models
    assert model.estimator == "sklearn.pipeline.Pipeline"
    scale, pca, clf = model.steps
    assert scale.estimator is None
    assert pca.estimator == "sklearn.decomposition.PCA"
    assert pca.params == {"whiten": True}
    assert model.grids == ({"clf__C": (1, 10), "pca__n_components": (2, 3)},)
    assert len(model.points()) == 4
    assert clf.estimator == "sklearn.svm.SVC"


def test_keras_block_flattens_lists_into_the_grid(repo: Path) -> None:
    path = write(
        repo,
        """\
        data: {X: x.npy, y: y.npy}
        model:
          keras: nets:build
          params: {units: [32, 64]}
          compile:
            optimizer: {class_name: adam, learning_rate: [0.001, 0.01]}
            loss: sparse_categorical_crossentropy
            metrics: [accuracy]
          fit:
            epochs: [5, 10]
            batch_size: 32
        """,
    )
    (model,) = load_spec(path).models
    assert model.kind == "keras"
    assert model.estimator == "nets:build"
    assert model.grids == (
        {
            "units": (32, 64),
            "compile.optimizer.learning_rate": (0.001, 0.01),
            "fit.epochs": (5, 10),
        },
    )
    assert model.fixed == {
        "compile": {
            "optimizer": {"class_name": "adam"},
            "loss": "sparse_categorical_crossentropy",
            "metrics": ["accuracy"],
        },
        "fit": {"batch_size": 32},
    }
    assert len(model.points()) == 8


# --- data -------------------------------------------------------------------------------------


def test_data_forms_and_paths(repo: Path) -> None:
    (repo / "data" / "images").mkdir(parents=True)
    exp = repo / "exp"
    cases: dict[str, tuple[str, dict[str, Any]]] = {
        "{sklearn: wine}": ("sklearn", {"name": "wine"}),
        "../data/t.parquet": ("table", {"path": "data/t.parquet", "target": None}),
        "t.tsv": ("table", {"path": "exp/t.tsv"}),
        "{path: arrays.npz}": ("arrays", {"path": "exp/arrays.npz"}),
        "{x: ./a.npy, y: b.npy}": ("arrays", {"x": "exp/a.npy", "y": "exp/b.npy"}),
        f"{{path: {repo}/data/t.csv, target: 0}}": ("table", {"path": "data/t.csv", "target": "0"}),
    }
    for text, (source, fields) in cases.items():
        spec = load_spec(write(exp, f"data: {text}\nmodel: sklearn.svm.SVC\n"))
        assert spec.data.source == source, text
        for name, value in fields.items():
            assert getattr(spec.data, name) == value, text


def test_loader_data(repo: Path) -> None:
    (repo / "data" / "images").mkdir(parents=True)
    path = write(
        repo,
        """\
        data:
          loader: prep.io:load
          deps: [data/raw.csv, data/images, data/new/]
          args: {size: 32, names: [a, b]}
        model: {estimator: sklearn.svm.SVC}
        """,
    )
    data = load_spec(path).data
    assert data.source == "loader"
    assert data.loader == "prep.io:load"
    assert data.deps == ("data/raw.csv", "data/images/", "data/new/")
    assert data.inputs() == data.deps
    assert data.args == {"size": 32, "names": ["a", "b"]}


def test_paths_escaping_the_repository_are_errors(repo: Path) -> None:
    path = write(repo, "data: ../outside.csv\nmodel: sklearn.svm.SVC\n")
    err = error_of(path)
    assert "journal.yaml:1: data: " in err.message
    assert "escapes the repository" in err.message
    path = write(repo, "data: {path: /etc/passwd.csv}\nmodel: sklearn.svm.SVC\n")
    err = error_of(path)
    assert "journal.yaml:1: data.path: " in err.message
    assert "outside the repository" in err.message


def test_bad_data_kind(repo: Path) -> None:
    err = error_of(write(repo, "model: sklearn.svm.SVC\ndata: notes.txt\n"))
    assert err.message.startswith(f"{repo / 'journal.yaml'}:2: data: unknown data 'notes.txt'")
    err = error_of(write(repo, "model: sklearn.svm.SVC\ndata:\n  url: http://x\n"))
    assert ":2: data: cannot tell the kind of data" in err.message
    err = error_of(write(repo, "model: sklearn.svm.SVC\ndata: {loader: prep.load}\n"))
    assert ":2: data.loader: 'prep.load' does not look like module:function" in err.message


# --- a table's marks and dtypes ---------------------------------------------------------------


def table_spec(options: str, path: str = "t.csv") -> str:
    """A spec whose data block reads ``path`` with ``options`` (lines of ``key: value``)."""
    lines = "".join(f"  {line}\n" for line in options.splitlines())
    return f"data:\n  path: {path}\n{lines}model: sklearn.svm.SVC\n"


# how a tab is written in YAML: the README's "\t", its code, and the character itself, quoted
TAB_SPELLINGS = ['"\\t"', '"\\x09"', '"\\u0009"', "'\t'", '"\t"']


@pytest.mark.parametrize("written", TAB_SPELLINGS)
def test_a_tab_separator_is_read_as_written(repo: Path, written: str) -> None:
    spec = load_spec(write(repo, table_spec(f"sep: {written}")))
    assert spec.data.table is not None
    assert spec.data.table.sep == "\t"
    assert spec.data.view() == {"sep": "\t"}
    # a tab is a .tsv file's own separator: the same experiment as no sep
    tsv = load_spec(write(repo, table_spec(f"sep: {written}", "t.tsv")))
    assert tsv.data.view() == {}
    assert tsv.data.table is not None and tsv.data.table.read_options(".tsv")[0] == "\t"


@pytest.mark.parametrize(
    ("options", "key", "mark"),
    [
        ("sep: ' '", "sep", " "),
        ('sep: "\\x20"', "sep", " "),
        ("sep: ';'\ndecimal: ','\nthousands: ' '", "thousands", " "),
        ("sep: ';'\ndecimal: ','\nthousands: \"\\u00a0\"", "thousands", "\u00a0"),
        ("sep: ';'\ndecimal: ','\nthousands: \"\\u202f\"", "thousands", "\u202f"),
        ("sep: '\t'\ndecimal: ','\nthousands: ' '", "thousands", " "),
    ],
)
def test_a_whitespace_mark_is_taken_as_written(
    repo: Path, options: str, key: str, mark: str
) -> None:
    spec = load_spec(write(repo, table_spec(options)))
    assert spec.data.table is not None
    assert getattr(spec.data.table, key) == mark
    assert spec.data.view()[key] == mark


def test_a_mark_with_spaces_around_it_reads_as_before(repo: Path) -> None:
    """A quoted mark padded with spaces was read stripped: it still is, the same experiment."""
    spec = load_spec(write(repo, table_spec("sep: ' ; '\ndecimal: ' , '")))
    assert spec.data.view() == {"sep": ";", "decimal": ","}


@pytest.mark.parametrize(
    ("options", "problem"),
    [
        ("sep: ''", "data.sep: expected one character, e.g. ';' or \"\\t\", got an empty string"),
        ("sep:", "data.sep: expected one character, e.g. ';' or \"\\t\", got nothing (null)"),
        ("sep: '  '", "data.sep: sep must be one character, e.g. ';' or \"\\t\", not '  '"),
        ('sep: "\\t\\t"', "data.sep: sep must be one character"),
        ('sep: "\\n"', "data.sep: sep cannot be '\\n'"),
        ("thousands: ''", "data.thousands: expected one character, e.g. ',', got an empty string"),
        ("sep: \\t", 'data.sep: sep: a tab is written "\\t", in double quotes'),
    ],
)
def test_a_mark_that_is_not_one_character_is_refused(
    repo: Path, options: str, problem: str
) -> None:
    err = error_of(write(repo, table_spec(options)))
    assert f"journal.yaml:3: {problem}" in err.message, err.message


def test_a_missing_separator_says_how_a_tab_and_a_space_are_written(repo: Path) -> None:
    err = error_of(write(repo, table_spec("sep:")))
    assert err.hint is not None
    assert "a tab is written \"\\t\" and a space ' ', quoted" in err.hint, err.hint


CANONICAL_DTYPES = (
    "category",
    "float64",
    "float32",
    "int64",
    "int32",
    "uint8",
    "bool",
    "Int64",
    "UInt16",
    "Float64",
    "boolean",
    "string",
    "str",
    "object",
    "datetime64[ns]",
    "datetime64[ns, UTC]",
    "timedelta64[ns]",
    # pandas' own spellings whose meaning depends on the pandas version or on pyarrow: kept
    "string[python]",
    "string[pyarrow]",
    "O",
    # not a dtype: `check` names it, the identity keeps it as written
    "notatype",
)


@pytest.mark.parametrize("name", CANONICAL_DTYPES)
def test_a_canonical_dtype_is_its_own_identity(name: str) -> None:
    assert TableView(dtypes=(("x", name),)).identity() == {"dtypes": {"x": name}}


@pytest.mark.parametrize(
    ("alias", "name"),
    [
        ("float", "float64"),
        ("double", "float64"),
        ("f8", "float64"),
        ("<f8", "float64"),
        ("d", "float64"),
        ("f4", "float32"),
        ("single", "float32"),
        ("i8", "int64"),
        ("int", np.dtype("int").name),
        ("u1", "uint8"),
        ("bool_", "bool"),
        ("?", "bool"),
        ("M8[ns]", "datetime64[ns]"),
        ("<M8[ns]", "datetime64[ns]"),
        ("m8[ns]", "timedelta64[ns]"),
        ("complex", "complex128"),
    ],
)
def test_a_numpy_dtype_alias_is_the_canonical_names_experiment(alias: str, name: str) -> None:
    assert TableView(dtypes=(("x", alias),)).identity() == {"dtypes": {"x": name}}


def test_dtype_aliases_keep_their_spelling_in_the_spec(repo: Path) -> None:
    """The identity holds the canonical name; the table is read, and errors name, as written."""
    spec = load_spec(write(repo, table_spec("dtypes: {fare: double, sex: category}")))
    assert spec.data.table is not None
    assert spec.data.table.dtypes == (("fare", "double"), ("sex", "category"))
    assert spec.data.view() == {"dtypes": {"fare": "float64", "sex": "category"}}


@pytest.mark.parametrize("name", sorted(NAMED_WITHOUT_PANDAS))
def test_a_name_read_without_pandas_is_the_name_pandas_gives(name: str) -> None:
    assert canonical_dtype(name) == name


def test_the_identity_of_canonical_dtypes_imports_no_pandas(repo: Path) -> None:
    written = [n for n in CANONICAL_DTYPES if n in NAMED_WITHOUT_PANDAS]
    assert len(written) > 10
    names = ", ".join(f"c{i}: {n!r}" for i, n in enumerate(written))
    path = write(repo, table_spec(f"dtypes: {{{names}}}"))
    code = textwrap.dedent(
        f"""\
        import sys
        from pathlib import Path
        from gitlab_journal.spec.load import load_spec
        view = load_spec(Path({str(path)!r})).data.view()
        assert len(view["dtypes"]) == {len(written)}, view
        print("PANDAS", "pandas" in sys.modules)
        """
    )
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")]),
    }
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, check=False
    )
    assert result.returncode == 0, result.stderr
    assert "PANDAS False" in result.stdout


def test_repo_root_without_git_is_the_spec_directory(tmp_path: Path) -> None:
    path = write(tmp_path / "a", "data: t.csv\nmodel: sklearn.svm.SVC\n")
    assert repo_root(path.parent) == tmp_path / "a"
    assert load_spec(path).data.path == "t.csv"


# --- evaluation, notes, code, name ------------------------------------------------------------


def test_evaluation_forms(repo: Path) -> None:
    base = "data: sklearn:iris\nmodel: sklearn.svm.SVC\n"
    spec = load_spec(write(repo, base))
    assert (spec.evaluation.cv, spec.evaluation.scoring) == (DEFAULT_FOLDS, ())
    ev = load_spec(write(repo, base + "evaluation: {cv: {folds: 3, shuffle: true}}\n")).evaluation
    assert (ev.cv, ev.shuffle) == (3, True)
    ev = load_spec(
        write(repo, base + "evaluation: {split: {test_size: 30, stratify: false}, scoring: r2}\n")
    ).evaluation
    assert (ev.cv, ev.test_size, ev.stratify, ev.scoring) == (None, 30, False, ("r2",))


def test_notes_code_and_name(repo: Path) -> None:
    path = write(
        repo,
        """\
        name: svm-family
        data: sklearn:iris
        model: sklearn.svm.SVC
        code: "src/**/*.py"
        notes:
          hypothesis: |
            Two lines
            of text.
          runs: 3
        """,
    )
    spec = load_spec(path)
    assert spec.name == "svm-family"
    assert spec.code == ("src/**/*.py",)
    assert spec.notes == {"hypothesis": "Two lines\nof text.\n", "runs": "3"}


# --- --set ------------------------------------------------------------------------------------


def test_set_scalar_list_and_new_key(repo: Path) -> None:
    path = write(repo, IRIS)
    spec = load_spec(
        path,
        [
            "model.params.C=10",
            "model.params.penalty=[l1, l2]",
            "model.params.solver=saga",
            "evaluation.seed=7",
            "notes.inference=pending",
        ],
    )
    grid = spec.models[0].grids[0]
    assert grid["C"] == (10,)
    assert grid["penalty"] == ("l1", "l2")
    assert grid["solver"] == ("saga",)
    assert spec.evaluation.seed == 7
    assert spec.notes["inference"] == "pending"
    assert spec.document["model"]["params"]["penalty"] == ["l1", "l2"]
    assert len(spec.points()) == 2


def test_set_indexes_lists(repo: Path) -> None:
    path = write(
        repo,
        """\
        data: sklearn:iris
        model:
          - estimator: sklearn.svm.SVC
          - estimator: sklearn.tree.DecisionTreeClassifier
        """,
    )
    spec = load_spec(path, ["model.1.params.max_depth=[2, 4]"])
    assert spec.models[1].grids == ({"max_depth": (2, 4)},)
    err = error_of(path, ("model.2.params.x=1",))
    assert "--set model.2.params.x=1" in err.message
    assert "no item 2" in err.message


def test_set_bad_form(repo: Path) -> None:
    path = write(repo, IRIS)
    err = error_of(path, ("model.params.C",))
    assert "--set model.params.C" in err.message
    assert "dotted.key=value" in err.message
    err = error_of(path, ("model..C=1",))
    assert "empty part" in err.message
    err = error_of(path, ("data.name=1",))
    assert "--set data.name=1" in err.message  # data is a string: cannot descend into it


def test_set_errors_point_at_the_key(repo: Path) -> None:
    path = write(repo, IRIS)
    err = error_of(path, ("model.params.C=[]",))
    assert f"{path}:5: model.params.C: an empty grid list" in err.message
    assert err.message.endswith("(set by --set)")


def test_apply_overrides_on_plain_dict() -> None:
    doc: dict[str, Any] = {"a": {"b": [1, 2]}}
    keys = apply_overrides(doc, ["a.b.0=x", "a.c.d=3"], "spec")
    assert doc == {"a": {"b": ["x", 2], "c": {"d": 3}}}
    assert keys == ("a.b.0", "a.c.d")


# --- errors name the file, the line and the key -----------------------------------------------


def test_unknown_top_level_key(repo: Path) -> None:
    path = write(repo, IRIS + "evalution: {cv: 3}\n")
    err = error_of(path)
    assert err.message == f"{path}:13: evalution: unknown key (did you mean 'evaluation'?)"
    assert err.hint is not None and "evaluation" in err.hint


def test_bad_estimator_path(repo: Path) -> None:
    path = write(
        repo, IRIS.replace("sklearn.linear_model.LogisticRegression", "LogisticRegression")
    )
    err = error_of(path)
    assert err.message.startswith(f"{path}:3: model.estimator: 'LogisticRegression' is not")
    path = write(
        repo,
        PIPELINE.replace("sklearn.svm.SVC", "sklearn.svm.SVC()"),
    )
    err = error_of(path)
    assert err.message.startswith(f"{path}:8: model.steps.1.svc: 'sklearn.svm.SVC()' is not")


def test_empty_grid_list(repo: Path) -> None:
    path = write(repo, IRIS.replace("max_iter: 500", "max_iter: []"))
    err = error_of(path)
    assert err.message.startswith(f"{path}:6: model.params.max_iter: an empty grid list")
    path = write(repo, IRIS.replace("C: [0.1, 1.0, 10.0]\n    max_iter: 500", "[]"))
    assert "model.params: an empty list of grids" in error_of(path).message


def test_cv_and_split_together(repo: Path) -> None:
    path = write(repo, IRIS.replace("  cv: 5\n", "  cv: 5\n  split: {test_size: 0.2}\n"))
    err = error_of(path)
    assert err.message == f"{path}:9: evaluation.split: give either cv or split, not both"


@pytest.mark.parametrize("size", ["1.5", "0", "-3", "0.0", "true", "half"])
def test_bad_test_size(repo: Path, size: str) -> None:
    path = write(repo, PIPELINE.replace("{test_size: 0.25}", f"{{test_size: {size}}}"))
    err = error_of(path)
    assert err.message.startswith(f"{path}:13: evaluation.split.test_size: ")


def test_bad_cv(repo: Path) -> None:
    path = write(repo, IRIS.replace("cv: 5", "cv: 1"))
    assert f"{path}:8: evaluation.cv: must be at least 2" in error_of(path).message


def test_yaml_syntax_error(repo: Path) -> None:
    path = write(repo, "data: sklearn:iris\nmodel:\n  params: {C: [1, 2}\n")
    err = error_of(path)
    assert err.message.startswith(f"{path}:3: YAML syntax error")
    path = write(repo, "data: sklearn:iris\ndata: sklearn:wine\nmodel: a.B\n")
    err = error_of(path)
    assert err.message.startswith(f"{path}:2: YAML syntax error: found duplicate key")


def test_missing_and_empty_spec(repo: Path) -> None:
    err = error_of(repo / "journal.yaml")
    assert "no spec at" in err.message
    assert err.hint is not None and "git journal new" in err.hint
    err = error_of(write(repo, "# nothing yet\n"))
    assert "the spec is empty" in err.message
    err = error_of(write(repo, "- a\n- b\n"))
    assert "must be a mapping" in err.message
    err = error_of(write(repo, "model: a.B\n"))
    assert "spec: no data: key" in err.message


def test_messages_show_paths_relative_to_cwd(repo: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = write(repo / "exp", IRIS + "bogus: 1\n")
    monkeypatch.chdir(repo)
    err = error_of(path)
    assert err.message.startswith(f"exp{os.sep}journal.yaml:13: bogus: unknown key")


# --- finding the spec -------------------------------------------------------------------------


def test_find_spec(repo: Path) -> None:
    sub = repo / "src" / "pkg"
    sub.mkdir(parents=True)
    assert find_spec(None, sub) == sub / "journal.yaml"  # none anywhere: the cwd's, to report
    root_spec = write(repo, IRIS)
    assert find_spec(None, sub) == root_spec
    local = write(sub, IRIS)
    assert find_spec(None, sub) == local
    assert find_spec("other.yaml", sub) == sub / "other.yaml"
    assert find_spec(str(repo), sub) == root_spec


# --- templates and import cost ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "count"),
    [("sklearn-classifier", 3), ("sklearn-regressor", 8), ("sklearn-pipeline", 9)],
)
def test_templates_load(repo: Path, name: str, count: int) -> None:
    path = repo / "journal.yaml"
    shutil.copy(TEMPLATES / f"{name}.yaml", path)
    spec = load_spec(path)
    assert spec.data.source == "sklearn"
    assert len(spec.points()) == count
    assert spec.notes.get("hypothesis")
    assert spec.name


def test_classifier_template_is_the_iris_spec(repo: Path) -> None:
    template = load_spec(Path(shutil.copy(TEMPLATES / "sklearn-classifier.yaml", repo / "t.yaml")))
    reference = load_spec(write(repo, IRIS))
    assert template.data == reference.data
    assert [replace(m, line=0) for m in template.models] == [
        replace(m, line=0) for m in reference.models
    ]
    assert template.evaluation == reference.evaluation


def test_loading_a_spec_imports_neither_sklearn_nor_numpy(repo: Path) -> None:
    path = write(repo, PIPELINE)
    code = textwrap.dedent(
        f"""\
        import sys
        from pathlib import Path
        from gitlab_journal.spec.load import load_spec
        spec = load_spec(Path({str(path)!r}), ["model.params.svc__C=[1, 2, 3]"])
        assert len(spec.points()) == 6, spec.points()
        heavy = sorted(m for m in sys.modules if m.split(".")[0] in {{"sklearn", "numpy"}})
        print("HEAVY", heavy)
        """
    )
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")]),
    }
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, check=False
    )
    assert result.returncode == 0, result.stderr
    assert "HEAVY []" in result.stdout
