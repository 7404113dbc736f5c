"""The validated-spec cache: a hit skips YAML parsing; any change reparses; errors are not kept."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from conftest import IRIS_SPEC

from gitlab_journal.errors import JournalError
from gitlab_journal.spec.cache import load_spec_cached

PROBE = """
import sys
from pathlib import Path
from gitlab_journal.spec.cache import load_spec_cached
spec = load_spec_cached(Path(sys.argv[1]), [], Path(sys.argv[2]))
print(len(spec.points()), "ruamel.yaml" in sys.modules)
"""


def _probe(spec: Path, cache: Path) -> list[str]:
    return subprocess.run(
        [sys.executable, "-c", PROBE, str(spec), str(cache)],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()


def test_a_hit_does_not_parse_yaml_and_an_edit_reparses(tmp_path: Path) -> None:
    (tmp_path / ".git").mkdir()
    spec, cache = tmp_path / "journal.yaml", tmp_path / ".git"
    spec.write_text(IRIS_SPEC)
    assert _probe(spec, cache) == ["3", "True"]  # first read: parsed
    assert _probe(spec, cache) == ["3", "False"]  # same bytes: from the cache
    spec.write_text(IRIS_SPEC.replace("[0.1, 1.0, 10.0]", "[0.1, 1.0]"))
    assert _probe(spec, cache) == ["2", "True"]


def test_overrides_are_part_of_the_key_and_errors_are_not_cached(tmp_path: Path) -> None:
    (tmp_path / ".git").mkdir()
    spec = tmp_path / "journal.yaml"
    spec.write_text(IRIS_SPEC)
    assert len(load_spec_cached(spec, [], tmp_path).points()) == 3
    assert len(load_spec_cached(spec, ["model.params.C=1"], tmp_path).points()) == 1
    with pytest.raises(JournalError, match=r"model\.params\.C"):
        load_spec_cached(spec, ["model.params.C=[]"], tmp_path)
    with pytest.raises(JournalError, match=r"model\.params\.C"):
        load_spec_cached(spec, ["model.params.C=[]"], tmp_path)


TEXT_PROBE = """
import sys
from pathlib import Path
from gitlab_journal.spec.cache import load_spec_text_cached
text = Path(sys.argv[1]).read_bytes()
spec = load_spec_text_cached(text, Path(sys.argv[1]), [], Path(sys.argv[2]), shown="staged")
print(len(spec.points()), "ruamel.yaml" in sys.modules)
"""


def test_a_spec_read_from_git_is_cached_by_its_bytes(tmp_path: Path) -> None:
    (tmp_path / ".git").mkdir()
    spec, cache = tmp_path / "journal.yaml", tmp_path / ".git"
    spec.write_text(IRIS_SPEC)

    def probe() -> list[str]:
        return subprocess.run(
            [sys.executable, "-c", TEXT_PROBE, str(spec), str(cache)],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.split()

    assert probe() == ["3", "True"]
    assert probe() == ["3", "False"]
    spec.write_text(IRIS_SPEC.replace("[0.1, 1.0, 10.0]", "0.5"))
    assert probe() == ["1", "True"]
