from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from gitlab_journal.data.hashing import (
    HashCache,
    bundled_files,
    bundled_md5,
    data_hashes,
    dir_md5,
    file_md5,
    hash_input,
)
from gitlab_journal.data.loaders import load_data
from gitlab_journal.errors import JournalError
from gitlab_journal.spec.model import DataSpec

REPO = Path(__file__).resolve().parents[1]


def md5(data: bytes) -> str:
    return hashlib.md5(data).hexdigest()


# --- hashing ---------------------------------------------------------------------------------


def test_file_md5_equals_hashlib(tmp_path: Path) -> None:
    data = os.urandom(3 * 1024 * 1024 + 17)  # more than one chunk
    f = tmp_path / "big.bin"
    f.write_bytes(data)
    assert file_md5(f) == md5(data)
    empty = tmp_path / "empty"
    empty.write_bytes(b"")
    assert file_md5(empty) == md5(b"")


def test_dir_md5_matches_dvc_manifest(tmp_path: Path) -> None:
    d = tmp_path / "data"
    files = {
        "b.csv": b"b,1\n",
        "a/z.txt": b"zzz",
        "a/b/c.bin": b"\x00\x01",
        "a-b.txt": b"dash sorts before slash",
        "A.txt": b"upper",
    }
    for rel, content in files.items():
        (d / rel).parent.mkdir(parents=True, exist_ok=True)
        (d / rel).write_bytes(content)
    # .git and .dvc folders are not data
    (d / ".git").mkdir()
    (d / ".git" / "HEAD").write_text("ref")
    (d / "a" / ".dvc").mkdir()
    (d / "a" / ".dvc" / "config").write_text("x")

    manifest = [{"md5": md5(files[rel]), "relpath": rel} for rel in sorted(files)]
    expected = md5(json.dumps(manifest, sort_keys=True).encode("utf-8")) + ".dir"
    assert dir_md5(d) == expected
    assert dir_md5(d, HashCache(tmp_path / "cache.json")) == expected
    assert hash_input(tmp_path, "data/", None) == expected
    assert hash_input(tmp_path, "data", None) == expected

    empty = tmp_path / "empty"
    empty.mkdir()
    assert dir_md5(empty) == md5(b"[]") + ".dir"


def test_cache_hit_does_not_reread(tmp_path: Path) -> None:
    f = tmp_path / "data.csv"
    f.write_bytes(b"a,b\n1,2\n")
    cache_file = tmp_path / "git" / "journal" / "md5-cache.json"
    original = md5(b"a,b\n1,2\n")
    assert hash_input(tmp_path, "data.csv", HashCache(cache_file)) == original

    stored = json.loads(cache_file.read_text())
    st = os.stat(f)
    assert stored[os.path.abspath(f)] == {
        "size": st.st_size,
        "mtime_ns": st.st_mtime_ns,
        "inode": st.st_ino,
        "md5": original,
    }

    # Same size, same inode, mtime restored: a cache hit returns the stored hash unread.
    with open(f, "r+b") as fh:
        fh.write(b"x,y\n3,4\n")
    os.utime(f, ns=(st.st_atime_ns, st.st_mtime_ns))
    assert os.stat(f).st_ino == st.st_ino
    assert hash_input(tmp_path, "data.csv", HashCache(cache_file)) == original
    assert file_md5(f) == md5(b"x,y\n3,4\n")  # without the cache, the truth

    # A changed mtime misses the cache and the new content is hashed.
    os.utime(f, ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000_000))
    assert hash_input(tmp_path, "data.csv", HashCache(cache_file)) == md5(b"x,y\n3,4\n")


def test_cache_entries_are_merged_across_writers(tmp_path: Path) -> None:
    a = tmp_path / "a"
    b = tmp_path / "b"
    a.write_text("a")
    b.write_text("b")
    cache_file = tmp_path / "cache.json"
    c1 = HashCache(cache_file)
    c2 = HashCache(cache_file)
    file_md5(a, c1)
    file_md5(b, c2)
    c1.save()
    c2.save()
    stored = json.loads(cache_file.read_text())
    assert set(stored) == {os.path.abspath(a), os.path.abspath(b)}
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]


@pytest.mark.parametrize("content", ["{not json", "[1, 2]", '{"x": {"size": "big"}}', ""])
def test_corrupt_cache_is_ignored(tmp_path: Path, content: str) -> None:
    f = tmp_path / "f.txt"
    f.write_text("hello")
    cache_file = tmp_path / "cache.json"
    cache_file.write_text(content)
    assert hash_input(tmp_path, "f.txt", HashCache(cache_file)) == md5(b"hello")
    stored = json.loads(cache_file.read_text())
    assert stored[os.path.abspath(f)]["md5"] == md5(b"hello")


def test_missing_input(tmp_path: Path) -> None:
    with pytest.raises(JournalError, match=r"data file not found: nope/x\.csv") as info:
        hash_input(tmp_path, "nope/x.csv", None)
    assert info.value.exit_code == 2
    # where it was looked for: a path relative to another folder (a notebook's) is plain
    assert str(tmp_path / "nope" / "x.csv") in info.value.message
    assert info.value.hint and f"relative to the repository root, {tmp_path}" in info.value.hint


def test_bundled_md5_iris() -> None:
    import sklearn

    iris = Path(sklearn.__file__).parent / "datasets" / "data" / "iris.csv"
    assert bundled_files("iris") == [iris]
    assert bundled_md5("iris", None) == md5(iris.read_bytes())


def test_bundled_md5_several_files() -> None:
    files = bundled_files("diabetes")
    assert [f.name for f in files] == ["diabetes_data_raw.csv.gz", "diabetes_target.csv.gz"]
    manifest = [{"md5": md5(f.read_bytes()), "relpath": f.name} for f in files]
    expected = md5(json.dumps(manifest, sort_keys=True).encode()) + ".dir"
    assert bundled_md5("diabetes", None) == expected


def test_bundled_unknown_name() -> None:
    with pytest.raises(JournalError) as info:
        bundled_files("mnist")
    assert "iris" in (info.value.hint or "")


def test_data_hashes(tmp_path: Path) -> None:
    (tmp_path / "t.csv").write_text("a,y\n1,2\n")
    (tmp_path / "imgs").mkdir()
    (tmp_path / "imgs" / "1.png").write_bytes(b"png")
    cache = HashCache(tmp_path / "cache.json")

    assert data_hashes(tmp_path, DataSpec(source="table", path="t.csv"), cache) == {
        "t.csv": md5(b"a,y\n1,2\n")
    }
    loader = DataSpec(source="loader", loader="m:f", deps=("t.csv", "imgs/"))
    hashes = data_hashes(tmp_path, loader, cache)
    assert list(hashes) == ["t.csv", "imgs"]
    assert hashes["imgs"].endswith(".dir")
    assert data_hashes(tmp_path, DataSpec(source="loader", loader="m:f"), cache) == {}
    assert list(data_hashes(tmp_path, DataSpec(source="sklearn", name="wine"), None)) == [
        "sklearn:wine"
    ]


def test_hashing_does_not_import_numpy_or_sklearn(tmp_path: Path) -> None:
    code = textwrap.dedent(
        f"""
        import sys
        from pathlib import Path
        import gitlab_journal.data.hashing as h
        from gitlab_journal.spec.model import DataSpec
        out = h.data_hashes(Path("."), DataSpec(source="sklearn", name="iris"),
                            h.HashCache(Path({str(tmp_path / "c.json")!r})))
        assert list(out) == ["sklearn:iris"], out
        bad = sorted(m for m in sys.modules
                     if m.split(".")[0] in ("numpy", "sklearn", "pandas", "scipy"))
        print(",".join(bad))
        """
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, check=True
    )
    assert result.stdout.strip() == ""


# --- loading ---------------------------------------------------------------------------------


def test_sklearn_load() -> None:
    X, y = load_data(Path("."), DataSpec(source="sklearn", name="iris"))
    assert X.shape == (150, 4)
    assert y.shape == (150,)
    with pytest.raises(JournalError, match="unknown scikit-learn data set"):
        load_data(Path("."), DataSpec(source="sklearn", name="mnist"))


def test_csv_string_target(tmp_path: Path) -> None:
    (tmp_path / "d.csv").write_text("a,species,b\n1.5,setosa,2\n,virginica,3\n")
    X, y = load_data(tmp_path, DataSpec(source="table", path="d.csv", target="species"))
    assert X.shape == (2, 2)
    assert list(X.columns) == ["a", "b"]
    assert X.to_numpy(dtype=np.float64)[0].tolist() == [1.5, 2.0]
    assert np.isnan(X["a"].iloc[1])
    assert y.tolist() == ["setosa", "virginica"]
    assert y.dtype.kind == "U"


def test_csv_numeric_target_last_column(tmp_path: Path) -> None:
    (tmp_path / "d.csv").write_text("a,b,y\n1,2,0\n3,4,1.0\n5,6,2\n")
    X, y = load_data(tmp_path, DataSpec(source="table", path="d.csv"))
    assert X.to_numpy().tolist() == [[1, 2], [3, 4], [5, 6]]
    assert y.dtype == np.int64
    assert y.tolist() == [0, 1, 2]

    (tmp_path / "r.tsv").write_text("a\ty\n1\t0.5\n2\t1.5\n")
    X, y = load_data(tmp_path, DataSpec(source="table", path="r.tsv"))
    assert X.to_numpy().tolist() == [[1.0], [2.0]]
    assert y.dtype == np.float64
    assert y.tolist() == [0.5, 1.5]


def test_csv_non_numeric_feature_kept_as_strings(tmp_path: Path) -> None:
    (tmp_path / "d.csv").write_text("colour,y\nred,1\n")
    X, y = load_data(tmp_path, DataSpec(source="table", path="d.csv"))
    assert X["colour"].tolist() == ["red"]
    assert y.tolist() == [1]


def test_csv_unknown_target(tmp_path: Path) -> None:
    (tmp_path / "d.csv").write_text("a,b\n1,2\n")
    with pytest.raises(JournalError, match="no target column 'label'") as info:
        load_data(tmp_path, DataSpec(source="table", path="d.csv", target="label"))
    assert info.value.hint == "columns: a, b"


def test_parquet_load(tmp_path: Path) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    table = pa.table(
        {
            "a": pa.array([1, 2, None], pa.int64()),
            "b": pa.array([0.5, 1.5, 2.5]),
            "label": pa.array(["x", "y", "x"]),
        }
    )
    pq.write_table(table, tmp_path / "d.parquet")
    X, y = load_data(tmp_path, DataSpec(source="table", path="d.parquet", target="label"))
    assert X.shape == (3, 2)
    assert X.to_numpy(dtype=np.float64)[0].tolist() == [1.0, 0.5]
    assert np.isnan(X["a"].iloc[2])
    assert y.tolist() == ["x", "y", "x"]

    pq.write_table(table.select(["a", "b"]), tmp_path / "null_target.parquet")
    with pytest.raises(JournalError, match="target column 'a' is empty in row 3"):
        load_data(tmp_path, DataSpec(source="table", path="null_target.parquet", target="a"))
    X, _ = load_data(tmp_path, DataSpec(source="table", path="d.parquet", target="b"))
    assert X["label"].tolist() == ["x", "y", "x"]

    pq.write_table(pa.table({"f": [1.0, 2.0], "t": [3, 4]}), tmp_path / "n.pq")
    X, y = load_data(tmp_path, DataSpec(source="table", path="n.pq"))
    assert X.to_numpy().tolist() == [[1.0], [2.0]]
    assert y.dtype == np.int64
    assert y.tolist() == [3, 4]


def test_npz_and_npy_pair(tmp_path: Path) -> None:
    X0 = np.arange(12, dtype=float).reshape(4, 3)
    y0 = np.array([0, 1, 0, 1])
    np.savez(tmp_path / "d.npz", X=X0, y=y0)
    X, y = load_data(tmp_path, DataSpec(source="arrays", path="d.npz"))
    assert np.array_equal(X, X0)
    assert np.array_equal(y, y0)

    np.savez(tmp_path / "lower.npz", x=X0, y=y0)
    X, _ = load_data(tmp_path, DataSpec(source="arrays", path="lower.npz"))
    assert np.array_equal(X, X0)

    np.savez(tmp_path / "bad.npz", features=X0, y=y0)
    with pytest.raises(JournalError, match="X and y"):
        load_data(tmp_path, DataSpec(source="arrays", path="bad.npz"))

    np.save(tmp_path / "x.npy", X0)
    np.save(tmp_path / "y.npy", y0)
    X, y = load_data(tmp_path, DataSpec(source="arrays", x="x.npy", y="y.npy"))
    assert np.array_equal(X, X0)
    assert np.array_equal(y, y0)

    np.save(tmp_path / "short.npy", y0[:3])
    with pytest.raises(JournalError, match="different lengths"):
        load_data(tmp_path, DataSpec(source="arrays", x="x.npy", y="short.npy"))

    np.save(tmp_path / "obj.npy", np.array([{"a": 1}] * 4, dtype=object))
    with pytest.raises(JournalError, match=r"obj\.npy"):
        load_data(tmp_path, DataSpec(source="arrays", x="x.npy", y="obj.npy"))


def test_loader_with_args_and_deps(tmp_path: Path) -> None:
    (tmp_path / "raw.csv").write_text("1,2\n3,4\n5,6\n")
    (tmp_path / "prep_mod_a.py").write_text(
        textwrap.dedent(
            """
            import numpy as np

            def load(path, scale=1.0):
                rows = np.loadtxt(path, delimiter=",", ndmin=2)
                return rows[:, :1] * scale, rows[:, 1]
            """
        )
    )
    spec = DataSpec(
        source="loader",
        loader="prep_mod_a:load",
        deps=("raw.csv",),
        args={"path": str(tmp_path / "raw.csv"), "scale": 10},
    )
    X, y = load_data(tmp_path, spec)
    assert X.tolist() == [[10.0], [30.0], [50.0]]
    assert y.tolist() == [2.0, 4.0, 6.0]
    assert list(data_hashes(tmp_path, spec, None)) == ["raw.csv"]
    assert str(tmp_path.resolve()) not in sys.path
    assert not (tmp_path / "__pycache__").exists()

    # An edited loader is imported afresh.
    (tmp_path / "prep_mod_a.py").write_text(
        "def load(path, scale=1.0):\n    return [[1.0], [2.0]], [0, 1]\n"
    )
    X, y = load_data(tmp_path, spec)
    assert X.tolist() == [[1.0], [2.0]]
    assert y.tolist() == [0, 1]


def test_loader_same_module_name_in_two_repositories(tmp_path: Path) -> None:
    for name, value in (("one", 1), ("two", 2)):
        repo = tmp_path / name
        repo.mkdir()
        (repo / "prep_mod_b.py").write_text(f"def load():\n    return [[{value}]], [{value}]\n")
        X, _ = load_data(repo, DataSpec(source="loader", loader="prep_mod_b:load"))
        assert X.tolist() == [[value]]


def test_loader_errors(tmp_path: Path) -> None:
    (tmp_path / "prep_mod_c.py").write_text(
        "def three():\n    return 1, 2, 3\n\nnot_callable = 5\n"
    )
    with pytest.raises(JournalError, match="prep_mod_c:three"):
        load_data(tmp_path, DataSpec(source="loader", loader="prep_mod_c:three"))
    with pytest.raises(JournalError, match="prep_mod_c:missing"):
        load_data(tmp_path, DataSpec(source="loader", loader="prep_mod_c:missing"))
    with pytest.raises(JournalError, match="no_such_module_xyz:f"):
        load_data(tmp_path, DataSpec(source="loader", loader="no_such_module_xyz:f"))
    with pytest.raises(JournalError, match="prep_mod_c:not_callable"):
        load_data(tmp_path, DataSpec(source="loader", loader="prep_mod_c:not_callable"))
    with pytest.raises(JournalError, match="module:function"):
        load_data(tmp_path, DataSpec(source="loader", loader="prep_mod_c"))


def test_missing_files(tmp_path: Path) -> None:
    cases = [
        (DataSpec(source="table", path="data/x.csv"), "data/x.csv"),
        (DataSpec(source="arrays", path="d.npz"), "d.npz"),
        (DataSpec(source="arrays", x="x.npy", y="y.npy"), "x.npy"),
    ]
    for spec, relpath in cases:
        with pytest.raises(JournalError) as info:
            load_data(tmp_path, spec)
        assert str(info.value) == f"data file not found: {relpath}"
        assert info.value.hint
