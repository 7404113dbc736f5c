"""Reading a journal with several models: each model's own params, no cross-model blanks
rendered as values, integer metrics shown as integers."""

from __future__ import annotations

import re
from pathlib import Path

from helpers import Cli

TWO_MODELS = """\
data: sklearn:diabetes
model:
  - estimator: sklearn.linear_model.Ridge
    params:
      alpha: [0.1, 10.0]
  - estimator: sklearn.tree.DecisionTreeRegressor
    params:
      max_depth: [2, 4]
      random_state: 0
evaluation:
  cv: 3
  scoring: [r2]
"""


def test_log_shows_each_model_only_its_own_params(repo: Path, cli: Cli) -> None:
    (repo / "journal.yaml").write_text(TWO_MODELS)
    cli("init")
    assert cli("run", "-q")[0] == 0
    code, out, _ = cli("log")
    assert code == 0
    header = out.splitlines()[0]
    assert "alpha" in header and "max_depth" in header
    columns = [c.strip() for c in re.split(r"[┃│]", header)]
    alpha, depth = columns.index("alpha"), columns.index("max_depth")
    rows = [[c.strip() for c in re.split(r"[┃│]", line)] for line in out.splitlines()[2:-1]]
    assert len(rows) == 4
    for row in rows:
        if "DecisionTreeRegressor" in row:
            assert row[alpha] == "—" and row[depth] in ("2", "4")
        else:
            assert row[depth] == "—" and row[alpha] in ("0.1", "10")
    assert "null" not in out


INTEGERS = """\
import json, os
out = os.path.join(os.environ["JOURNAL_RUN_DIR"], "metrics.json")
json.dump({"epochs": 5, "loss": 0.25}, open(out, "w"))
"""


def test_show_prints_integer_metrics_as_integers(repo: Path, cli: Cli) -> None:
    (repo / "train.py").write_text(INTEGERS)
    (repo / "journal.yaml").write_text("command: python train.py\n")
    cli("init")
    assert cli("run", "-q")[0] == 0
    _, out, _ = cli("log", "--json")
    run_id = out.split('"id": "')[1].split('"')[0]
    code, shown, _ = cli("show", run_id)
    assert code == 0
    assert re.search(r"epochs\s+5\s", shown) and "5.0000" not in shown
    assert re.search(r"loss\s+0\.2500", shown)
