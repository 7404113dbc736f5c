"""Compare a reproduction with the run it reproduces: the metrics, and the likely causes of any
difference, read from what both records hold (identity, seeds, environment, data checks)."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from gitlab_journal.journal.identity import finite_json
from gitlab_journal.journal.records import Run, now_iso
from gitlab_journal.reproduce.inputs import InputCheck

IDENTICAL = "identical"  # every metric equal to the last digit (or not finite on both sides)
CLOSE = "close"  # every metric within the tolerance asked for
DIFFERS = "differs"
FAILED = "failed"  # the reproduction did not train (or failed where the run had not)

MAX_LISTED = 6


@dataclass(frozen=True)
class MetricRow:
    """One metric of the run and of its reproduction (None where one of them lacks it)."""

    name: str
    recorded: float | None
    now: float | None

    @property
    def identical(self) -> bool:
        """Equal to the last digit; or not a finite number on both sides, which metrics.json
        writes alike (null: a NaN and an infinity are one value there)."""
        if self.recorded is None or self.now is None:
            return self.recorded is None and self.now is None
        if not math.isfinite(self.recorded) and not math.isfinite(self.now):
            return True
        return self.recorded == self.now

    @property
    def delta(self) -> float | None:
        if self.recorded is None or self.now is None:
            return None
        return self.now - self.recorded

    def within(self, tolerance: float) -> bool:
        if self.identical:
            return True
        delta = self.delta
        return delta is not None and math.isfinite(delta) and abs(delta) <= tolerance


@dataclass(frozen=True)
class Comparison:
    """What a rerun found: ``result`` is identical, close, differs or failed."""

    result: str
    rows: tuple[MetricRow, ...]
    causes: tuple[str, ...] = ()
    tolerance: float = 0.0

    @property
    def differing(self) -> list[MetricRow]:
        return [row for row in self.rows if not row.identical]

    @property
    def reproduced(self) -> bool:
        return self.result in (IDENTICAL, CLOSE)

    def entry(self, by: str | None) -> dict[str, Any]:
        """The record of this attempt, appended to the original run's ``reproductions``."""
        out: dict[str, Any] = {"checked": now_iso(), "result": self.result, "by": by}
        if self.tolerance:
            out["tolerance"] = self.tolerance
        if self.differing:  # a NaN as {"__float__": "nan"}: run.json is strict JSON
            out["differences"] = {
                row.name: finite_json([row.recorded, row.now]) for row in self.differing
            }
        if self.causes and not self.reproduced:
            out["causes"] = list(self.causes)
        return out


def compared_metrics(metrics: Mapping[str, Any]) -> dict[str, float]:
    """The metrics a reproduction must match: all but the timings (``*_time``). A null, how
    metrics.json writes a score that is not a finite number, is that score: NaN."""
    return {
        name: math.nan if value is None else float(value)
        for name, value in metrics.items()
        if not name.endswith("_time")
        and (value is None or (isinstance(value, (int, float)) and not isinstance(value, bool)))
    }


def compare_runs(
    original: Run,
    new: Run,
    *,
    tolerance: float = 0.0,
    inputs: Sequence[InputCheck] = (),
) -> Comparison:
    """Compare ``new`` (a reproduction) with ``original``, metric by metric."""
    before = compared_metrics(original.metrics)
    after = compared_metrics(new.metrics)
    names = list(before) + [name for name in after if name not in before]
    rows = tuple(MetricRow(name, before.get(name), after.get(name)) for name in names)
    if new.status == "failed" and original.status != "failed":
        result = FAILED
    elif new.status != original.status:
        result = DIFFERS
    elif all(row.identical for row in rows) and _same_error(original, new):
        result = IDENTICAL
    elif tolerance > 0 and all(row.within(tolerance) for row in rows):
        result = CLOSE
    else:
        result = DIFFERS
    causes: tuple[str, ...] = ()
    if result in (DIFFERS, FAILED):
        causes = tuple(likely_causes(original, new, inputs))
    return Comparison(result=result, rows=rows, causes=causes, tolerance=tolerance)


def likely_causes(original: Run, new: Run, inputs: Sequence[InputCheck] = ()) -> list[str]:
    """Why a reproduction may differ, most likely first."""
    causes: list[str] = []
    if new.status == "failed" and new.error:
        causes.append("training failed: " + new.error.strip().splitlines()[-1])
    elif new.status != original.status:
        causes.append(f"the run ended {original.status!r}, its reproduction {new.status!r}")
    changed = [check for check in inputs if not check.matches]
    if changed:
        causes.append("data changed: " + "; ".join(check.describe() for check in changed))
    causes += _identity_causes(original.identity, new.identity, skip_data=bool(changed))
    packages = _package_changes(original.environment, new.environment)
    if packages:
        causes.append("package versions changed: " + ", ".join(packages))
    causes += _randomness(original)
    for key, label in (("python", "Python"), ("platform", "platform"), ("machine", "machine")):
        old, now = original.environment.get(key), new.environment.get(key)
        if old is not None and now is not None and old != now:
            causes.append(f"{label} changed: {old} → {now}")
    if not causes:
        causes.append(
            "nothing recorded differs (code, data, seeds, versions): the estimator or the "
            "machine is not deterministic (threads, BLAS, GPU)"
        )
    return causes


def _same_error(original: Run, new: Run) -> bool:
    if original.status != "failed":
        return True
    last = [
        (run.error or "").strip().splitlines()[-1:] for run in (original, new)
    ]  # the exception line
    return last[0] == last[1]


def _identity_causes(
    recorded: Mapping[str, Any], now: Mapping[str, Any], *, skip_data: bool
) -> list[str]:
    causes: list[str] = []
    old_model, new_model = recorded.get("model") or {}, now.get("model") or {}
    if old_model != new_model:
        changes = _changed_keys(old_model.get("params") or {}, new_model.get("params") or {})
        if old_model.get("class") != new_model.get("class"):
            changes.insert(0, f"class {old_model.get('class')} → {new_model.get('class')}")
        causes.append(
            "the model resolves to other parameters (new defaults in a new library version?): "
            + (", ".join(changes[:MAX_LISTED]) or "its identity changed")
            + (f" and {len(changes) - MAX_LISTED} more" if len(changes) > MAX_LISTED else "")
        )
    if not skip_data and recorded.get("data") != now.get("data"):
        changes = _changed_keys(recorded.get("data") or {}, now.get("data") or {})
        causes.append("data differs: " + ", ".join(changes[:MAX_LISTED]))
    if recorded.get("evaluation") != now.get("evaluation"):
        causes.append("the evaluation protocol differs from the record")
    old_code = (recorded.get("code") or {}).get("files") or {}
    new_code = (now.get("code") or {}).get("files") or {}
    if old_code != new_code:
        files = sorted(
            k for k in set(old_code) | set(new_code) if old_code.get(k) != new_code.get(k)
        )
        causes.append("code differs from the record: " + ", ".join(files[:MAX_LISTED]))
    return causes


def _changed_keys(old: Mapping[str, Any], new: Mapping[str, Any]) -> list[str]:
    out: list[str] = []
    for key in sorted(set(old) | set(new)):
        if old.get(key) != new.get(key):
            out.append(
                f"{key} {_text(old.get(key, '(absent)'))} → {_text(new.get(key, '(absent)'))}"
            )
    return out


def _text(value: Any) -> str:
    text = str(value)
    return text if len(text) <= 40 else text[:39] + "…"


def _package_changes(old_env: Mapping[str, Any], new_env: Mapping[str, Any]) -> list[str]:
    old = old_env.get("packages") or {}
    new = new_env.get("packages") or {}
    out: list[str] = []
    for name in sorted(set(old) | set(new)):
        if old.get(name) != new.get(name):
            out.append(f"{name} {old.get(name, 'absent')} → {new.get(name, 'absent')}")
    return out


def _randomness(run: Run) -> list[str]:
    """Seeds left unset: a model or an evaluation that draws fresh random numbers each time."""
    seeds = dict(run.seeds)
    if not seeds:  # a record without `seeds`: read them from its params and evaluation
        seeds = {"evaluation": run.evaluation.get("seed")}
        seeds.update(
            {
                k: v
                for k, v in run.params.items()
                if k.rsplit("__", 1)[-1] in ("random_state", "seed")
            }
        )
    causes: list[str] = []
    unseeded = sorted(k for k, v in seeds.items() if k != "evaluation" and v is None)
    if unseeded:
        causes.append(
            "a non-deterministic estimator with no seed: "
            + ", ".join(unseeded)
            + " is None, so every fit draws other random numbers (set evaluation.seed)"
        )
    evaluation = run.evaluation
    shuffles = bool((evaluation.get("cv") or {}).get("shuffle")) or "split" in evaluation
    if seeds.get("evaluation") is None and shuffles:
        causes.append("the evaluation shuffles the data with no seed (set evaluation.seed)")
    if seeds.get("evaluation") is None and run.kind not in ("sklearn", "custom") and not unseeded:
        causes.append(f"a {run.kind} model with no seed starts from other random weights")
    return causes
