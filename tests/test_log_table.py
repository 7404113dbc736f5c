"""`git journal log`'s table as a user sees it: fitted to the width, aligned, coloured only on a
terminal, and printed without importing rich."""

from __future__ import annotations

import os
import re
import select
import subprocess
import sys
import time
from pathlib import Path

import pytest
from helpers import Cli, commands_modules, make_run

from gitlab_journal.journal.index import open_index
from gitlab_journal.journal.store import Store
from gitlab_journal.textable import Column, box_table, cell_width

SGR = re.compile(r"\x1b\[[0-9;]*m")


def record(store: Store, count: int, **params: object) -> None:
    for i in range(count):
        store.record(
            make_run(
                f"run{i:05d}",
                {"C": 10.0**i, "max_iter": 100 * (i + 1), **params},
                metrics={"accuracy": 0.8 + i / 100, "accuracy_std": 0.01, "f1_macro": 0.7},
                second=i,
            )
        )


@pytest.fixture
def journal(repo: Path) -> Store:
    store = Store.discover(repo)
    store.init()
    record(store, 3)
    return store


def separators(line: str) -> list[int]:
    """The display columns at which ``line``'s column separators stand."""
    out, at = [], 0
    for char in SGR.sub("", line):
        if char in "│┃╇":
            out.append(at)
        at += cell_width(char)
    return out


def test_log_prints_its_table_without_importing_rich(journal: Store, repo: Path) -> None:
    modules, printed = commands_modules(
        repo, ["log"], ["log", "--sort", "metrics.accuracy", "-n", "2"], ["log", "--json"]
    )
    assert not {m for m in modules if m.split(".")[0] == "rich"}
    assert "pygit2" in modules  # the modules of the commands that ran, not of a bare start
    assert "run00002 │" in printed


def test_log_on_a_warm_index_loads_no_bulk_json_reader(journal: Store, repo: Path) -> None:
    open_index(journal).close()  # built: what the commands below read needs no records parsed
    modules, printed = commands_modules(
        repo,
        ["log"],
        ["log", "--sort", "metrics.accuracy", "-n", "2"],
        ["log", "--where", "params.C >= 10", "--where", f"params.C != {2**70}"],
        ["log", "--json"],
    )
    assert "orjson" not in modules  # its import is paid only where many runs are read
    assert printed.count("run00002") == 4


def test_the_columns_line_up_under_their_headers(journal: Store, cli: Cli) -> None:
    code, out, _ = cli("log")
    assert code == 0
    lines = out.splitlines()
    header, rule, rows = lines[0], lines[1], lines[2:5]
    assert [c.strip() for c in header.split("┃")] == [
        "id",
        "created (UTC)",
        "model",
        "C",
        "max_iter",
        "accuracy",
        "f1_macro",
        "status",
    ]
    assert set(rule) == {"━", "╇"}
    assert separators(header) == separators(rule) == separators(rows[0]) == separators(rows[2])
    assert rows[0].split(" │ ")[-3] == "0.8200 ± 0.0100"
    assert rows[0].split(" │ ")[-2] == "  0.7000"  # numbers right-justified, headers too
    assert header.split(" ┃ ")[-3] == "       accuracy"
    assert all(line == line.rstrip() for line in lines)


def test_a_narrow_output_leaves_out_columns_and_says_which(
    journal: Store, cli: Cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COLUMNS", "60")
    code, out, _ = cli("log")
    assert code == 0
    lines = out.splitlines()
    assert all(cell_width(line) <= 60 for line in lines), out
    assert [c.strip() for c in lines[0].split("┃")] == ["id", "model", "accuracy", "status"]
    note = " ".join(line for line in lines if not line.startswith(("id", "━", "run")))
    left = "Columns left out to fit 60 characters: C, max_iter, f1_macro, created"
    assert f"{left} (widen the terminal)." in note
    monkeypatch.setenv("COLUMNS", "200")
    _, wide, _ = cli("log")
    assert "Columns left out" not in wide
    assert "created (UTC)" in wide.splitlines()[0]


def test_wide_characters_keep_the_columns_aligned(repo: Path, cli: Cli) -> None:
    store = Store.discover(repo)
    store.init()
    for i, label in enumerate(["学習率", "ascii", "e\u0301te\u0301"]):
        store.record(make_run(f"run{i:05d}", {"C": 1.0, "label": label}, second=i))
    code, out, _ = cli("log")
    assert code == 0
    lines = out.splitlines()
    assert "学習率" in out and "e\u0301te\u0301" in out
    marks = {tuple(separators(line)) for line in lines[:5]}
    assert len(marks) == 1, out


def test_colour_only_on_a_terminal_or_when_forced(
    journal: Store, cli: Cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    _, plain, _ = cli("log")
    assert "\x1b" not in plain  # captured output is not a terminal
    monkeypatch.setenv("FORCE_COLOR", "1")
    _, forced, _ = cli("log")
    assert "\x1b[33mrun00002\x1b[0m" in forced  # ids yellow
    assert "\x1b[32mok\x1b[0m" in forced  # an ok status green
    assert "\x1b[1mid\x1b[0m" in forced  # the header bold
    assert SGR.sub("", forced) == plain  # the same text, only styled
    monkeypatch.setenv("NO_COLOR", "1")
    _, none, _ = cli("log")
    assert none == plain


def test_log_on_a_real_terminal_is_coloured_and_fits_it(journal: Store, repo: Path) -> None:
    """Under a pseudo-terminal of 70 columns: styled, and no line wider than the terminal."""
    import pty
    import struct
    from fcntl import ioctl
    from termios import TIOCSWINSZ

    leader, follower = pty.openpty()
    ioctl(follower, TIOCSWINSZ, struct.pack("HHHH", 40, 70, 0, 0))
    env = {k: v for k, v in os.environ.items() if k not in ("COLUMNS", "NO_COLOR")}
    env.update(TERM="xterm", PYTHONPATH=str(Path(__file__).resolve().parents[1]))
    proc = subprocess.Popen(
        [sys.executable, "-m", "gitlab_journal", "log"],
        cwd=repo,
        stdin=follower,
        stdout=follower,
        stderr=follower,
        env=env,
    )
    os.close(follower)
    chunks = []
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        ready, _, _ = select.select([leader], [], [], 1.0)
        if not ready:
            if proc.poll() is not None:
                break
            continue
        try:
            chunk = os.read(leader, 65536)
        except OSError:  # the terminal closed with the process
            break
        if not chunk:
            break
        chunks.append(chunk)
    os.close(leader)
    assert proc.wait(timeout=10) == 0
    out = b"".join(chunks).decode().replace("\r\n", "\n")
    assert "\x1b[33mrun00002\x1b[0m" in out
    lines = SGR.sub("", out).splitlines()
    assert all(cell_width(line) <= 70 for line in lines), out
    assert "Columns left out to fit 70 characters" in SGR.sub("", out).replace("\n", " ")


def test_a_long_header_wraps_to_its_column() -> None:
    columns = [Column("id"), Column("a_very_long_parameter_name", fold=10), Column("n", right=True)]
    text = box_table(columns, [["r1", "short", "1.5"], ["r2", "x", "10.25"]], color=False)
    lines = text.splitlines()
    assert lines[0] == "id ┃ a_very_lon ┃     n"
    assert lines[1] == "   ┃ g_paramete ┃"
    assert lines[2] == "   ┃ r_name     ┃"
    assert lines[3] == "━━━╇━━━━━━━━━━━━╇━━━━━━"
    assert lines[4] == "r1 │ short      │   1.5"
    assert lines[5] == "r2 │ x          │ 10.25"
    wide = box_table([Column("学習率の上限", fold=4)], [["abcd"]], color=False).splitlines()
    assert wide[:3] == ["学習", "率の", "上限"]  # 4 columns a line: two wide characters
