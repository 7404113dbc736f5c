"""DVC: the journal's data hashes against the real `dvc add`, reuse of DVC's state, the DVC
record of a run, and `git journal checkout-data` bringing a run's data back."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import pytest
from conftest import git
from helpers import Cli, dvc, dvc_table
from ruamel.yaml import YAML

from gitlab_journal.data.dvc import tracking
from gitlab_journal.data.hashing import HashCache, hash_input
from gitlab_journal.journal.store import Store

pytestmark = pytest.mark.slow  # see the README: `pytest -m "not slow"` skips these locally


def dvc_md5(dvc_file: Path) -> str:
    doc = YAML(typ="safe").load(dvc_file.read_text())
    return str(doc["outs"][0]["md5"])


@pytest.fixture
def dvc_repo(repo: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("DVC_NO_ANALYTICS", "1")
    monkeypatch.setenv("DVC_TEST", "1")
    dvc(repo, "init", "-q")
    git(repo, "commit", "-q", "-m", "Initialise DVC")
    return repo


def test_hashes_equal_dvc_add_for_a_file_and_a_directory(dvc_repo: Path) -> None:
    data = dvc_repo / "data"
    (data / "images" / "nested").mkdir(parents=True)
    (data / "train.csv").write_text(dvc_table(50))
    (data / "images" / "b.txt").write_bytes(b"\x00\x01binary\n")
    (data / "images" / "a.txt").write_text("a\r\nwindows line ends stay as they are\r\n")
    (data / "images" / "nested" / "ünïcode name.txt").write_text("nested\n")
    (data / "images" / "empty.txt").write_bytes(b"")

    dvc(dvc_repo, "add", "-q", "data/train.csv", "data/images")

    file_md5 = dvc_md5(data / "train.csv.dvc")
    dir_md5 = dvc_md5(data / "images.dvc")
    assert dir_md5.endswith(".dir")
    # Read every byte (no cache, so DVC's state is not consulted either): the same hashes.
    assert hash_input(dvc_repo, "data/train.csv", None) == file_md5
    assert hash_input(dvc_repo, "data/images/", None) == dir_md5
    assert tracking(dvc_repo, "data/images/nested/ünïcode name.txt") is not None
    found = tracking(dvc_repo, "data/train.csv")
    assert found is not None and found.file == "data/train.csv.dvc" and found.md5 == file_md5


def test_dvc_state_is_reused_without_reading_the_data(dvc_repo: Path, tmp_path: Path) -> None:
    data = dvc_repo / "data"
    (data / "images").mkdir(parents=True)
    (data / "train.csv").write_text(dvc_table(40))
    (data / "images" / "one.txt").write_text("first\n")
    (data / "images" / "two.txt").write_text("second\n")
    dvc(dvc_repo, "add", "-q", "data/train.csv", "data/images")
    recorded = dvc_md5(data / "train.csv.dvc")
    recorded_dir = dvc_md5(data / "images.dvc")
    # Change the bytes but not the size, inode or mtime: DVC's state still says "unchanged",
    # so a hash that comes from DVC's state is the old one, proof that nothing was read.
    for path in (data / "train.csv", data / "images" / "one.txt"):
        st = path.stat()
        text = path.read_bytes()
        with open(path, "r+b") as fh:
            fh.write(bytes([text[0] ^ 1]))
        os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))
        assert path.stat().st_ino == st.st_ino and path.stat().st_size == st.st_size

    cache = HashCache(tmp_path / "md5-cache.json")
    assert hash_input(dvc_repo, "data/train.csv", cache) == recorded
    assert hash_input(dvc_repo, "data/images/", cache) == recorded_dir
    assert hash_input(dvc_repo, "data/train.csv", None) != recorded  # the bytes did change

    # Once the stat moves, DVC's state no longer vouches for the file: it is read again.
    st = (data / "train.csv").stat()
    os.utime(data / "train.csv", ns=(st.st_atime_ns, st.st_mtime_ns + 10**9))
    fresh = HashCache(tmp_path / "other-cache.json")
    assert hash_input(dvc_repo, "data/train.csv", fresh) == hash_input(
        dvc_repo, "data/train.csv", None
    )


SPEC = """\
data:
  path: data/train.csv
  target: label
model:
  estimator: sklearn.tree.DecisionTreeClassifier
  params:
    max_depth: [2]
evaluation:
  cv: 3
  seed: 0
"""


def test_a_run_records_the_dvc_remote_and_tracking_file_and_checkout_data_brings_it_back(
    dvc_repo: Path, cli: Cli, tmp_path: Path
) -> None:
    store_dir = tmp_path / "dvc-storage"
    dvc(dvc_repo, "remote", "add", "-d", "storage", str(store_dir))
    (dvc_repo / "data").mkdir()
    train = dvc_repo / "data" / "train.csv"
    train.write_text(dvc_table(60))
    dvc(dvc_repo, "add", "-q", "data/train.csv")
    (dvc_repo / "journal.yaml").write_text(SPEC)
    git(dvc_repo, "add", "-A")
    git(dvc_repo, "commit", "-q", "-m", "Track the data with DVC")
    dvc(dvc_repo, "push", "-q")
    first_data = train.read_text()
    first_dvc = (dvc_repo / "data" / "train.csv.dvc").read_text()
    assert cli("init")[0] == 0

    code, _, err = cli("run", "-q")

    assert code == 0, err
    store = Store.discover(dvc_repo)
    (run,) = store.iter_runs()
    record = json.loads(store.files(run)["dvc.json"])
    assert record["remote"] == {"name": "storage", "url": str(store_dir)}
    assert record["inputs"]["data/train.csv"]["file"] == "data/train.csv.dvc"
    assert record["files"]["data/train.csv.dvc"] == first_dvc
    assert run.data["data/train.csv"] == dvc_md5(dvc_repo / "data" / "train.csv.dvc")

    # The data moves on (a new version, tracked and committed), and the local cache no longer
    # holds the first version: it must come from the DVC remote.
    train.write_text(dvc_table(80, offset=5))
    dvc(dvc_repo, "add", "-q", "data/train.csv")
    git(dvc_repo, "commit", "-q", "-am", "New data")
    md5 = run.data["data/train.csv"]
    (dvc_repo / ".dvc" / "cache" / "files" / "md5" / md5[:2] / md5[2:]).unlink()

    code, out, err = cli("checkout-data", run.id)

    assert code == 0, err
    assert "dvc pull" in out and "restored data/train.csv.dvc" in out
    assert train.read_text() == first_data
    assert (dvc_repo / "data" / "train.csv.dvc").read_text() == first_dvc
    # Uncommitted edits to a tracking file are not overwritten without --force.
    git(dvc_repo, "commit", "-q", "-am", "Back to the first data")
    dvc(dvc_repo, "add", "-q", "data/train.csv")  # unchanged data: the .dvc file is the same
    (dvc_repo / "data" / "train.csv.dvc").write_text(first_dvc + "# a local edit\n")
    code, _, err = cli("checkout-data", run.id)
    assert code == 2 and "uncommitted changes" in err
    code, _, err = cli("checkout-data", run.id, "--force")
    assert code == 0, err
    assert (dvc_repo / "data" / "train.csv.dvc").read_text() == first_dvc


def test_outputs_of_dvc_lock_are_tracked_and_recorded(dvc_repo: Path, cli: Cli) -> None:
    (dvc_repo / "prepare.py").write_text(
        "from pathlib import Path\n"
        "rows = ['a,b,label'] + [f'{i % 9},{(i * 7) % 11},{i % 2}' for i in range(50)]\n"
        "Path('data').mkdir(exist_ok=True)\n"
        "Path('data/prepared.csv').write_text('\\n'.join(rows) + '\\n')\n"
    )
    dvc(
        dvc_repo,
        "stage",
        "add",
        "-q",
        "-n",
        "prepare",
        "-d",
        "prepare.py",
        "-o",
        "data/prepared.csv",
        f"{sys.executable} prepare.py",
    )
    dvc(dvc_repo, "repro", "-q")
    lock = YAML(typ="safe").load((dvc_repo / "dvc.lock").read_text())
    out_md5 = lock["stages"]["prepare"]["outs"][0]["md5"]
    (dvc_repo / "journal.yaml").write_text(SPEC.replace("data/train.csv", "data/prepared.csv"))
    git(dvc_repo, "add", "-A")
    git(dvc_repo, "commit", "-q", "-m", "A prepared data set")
    assert cli("init")[0] == 0

    code, _, err = cli("run", "-q")

    assert code == 0, err
    store = Store.discover(dvc_repo)
    (run,) = store.iter_runs()
    assert run.data["data/prepared.csv"] == out_md5
    record = json.loads(store.files(run)["dvc.json"])
    assert record["inputs"]["data/prepared.csv"] == {
        "file": "dvc.lock",
        "out": "data/prepared.csv",
        "md5": out_md5,
    }
    assert record["files"]["dvc.lock"] == (dvc_repo / "dvc.lock").read_text()
    assert record["remote"] is None


def test_checkout_data_explains_runs_without_dvc_data(repo: Path, cli: Cli) -> None:
    (repo / "journal.yaml").write_text(
        SPEC.replace("data:\n  path: data/train.csv\n  target: label", "data: sklearn:iris")
    )
    assert cli("init")[0] == 0
    assert cli("run", "-q")[0] == 0
    (run,) = Store.discover(repo).iter_runs()

    code, _, err = cli("checkout-data", run.id)

    assert code == 2
    assert "DVC did not track" in err and "sklearn:iris" in err
