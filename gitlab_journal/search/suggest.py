"""`git journal suggest`: the next settings worth trying, and why, without training.

The candidates come from the same warm-started sampler as `run --search` (settings of similar
data sets first, on a data set new to the model). A Gaussian-process surrogate fitted on the
recorded scores explains each (its predicted score, its expected improvement over the journal's
best) and ranks them: the sampler draws a pool of 4 N and the N with the highest expected
improvement are shown, with how far each lies from the nearest recorded experiment.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from gitlab_journal.search.history import Observation, observation_of_runs
from gitlab_journal.search.study import Block, Setup, ask, new_study, tell
from gitlab_journal.spec.model import Point

UNEXPLORED = 0.25  # farther than this (unit-cube distance) from every recorded point
MIN_FOR_MODEL = 3  # scored observations the surrogate needs
MAX_FOR_MODEL = 800  # and the most it is fitted on
STARTUP = 10  # the sampler draws at random until the study holds this many scored trials
POOL = 4  # with a surrogate, draw this many times N settings and keep the N most promising


@dataclass(frozen=True)
class Suggestion:
    """One setting worth trying."""

    model: str
    values: dict[str, Any]  # the searched params
    params: dict[str, Any]  # the whole point (fixed and searched)
    fingerprint: str
    predicted: float | None = None
    uncertainty: float | None = None
    expected_improvement: float | None = None
    nearest: float | None = None  # unit-cube distance to the nearest recorded experiment
    nearest_run: str | None = None
    reasons: tuple[str, ...] = field(default_factory=tuple)


class Surrogate:
    """A Gaussian process over the unit cube, fitted on the scored observations."""

    def __init__(self, block: Block, known: Sequence[Observation]):
        self.block = block
        self.best: float | None = None
        self.model: Any = None
        scored = sorted((o for o in known if o.score is not None), key=lambda o: -(o.score or 0.0))
        if scored:
            self.best = scored[0].score
        if len(scored) < MIN_FOR_MODEL:
            return
        if len(scored) > MAX_FOR_MODEL:
            # A Gaussian process costs the cube of its points: the best half, and the rest
            # thinned evenly.
            half = MAX_FOR_MODEL // 2
            rest = scored[half:]
            scored = scored[:half] + rest[:: max(1, len(rest) // half)][:half]
        import numpy as np
        from sklearn.gaussian_process import GaussianProcessRegressor
        from sklearn.gaussian_process.kernels import ConstantKernel, Matern, WhiteKernel

        X = np.array([block.space.unit(o.values) for o in scored])
        y = np.array([o.score for o in scored], dtype=float)
        kernel = ConstantKernel(1.0) * Matern(length_scale=0.3, nu=2.5) + WhiteKernel(1e-3)
        model = GaussianProcessRegressor(kernel=kernel, normalize_y=True, random_state=0)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            model.fit(X, y)
        self.model = model

    def predict(self, values: dict[str, Any]) -> tuple[float, float, float] | None:
        """(mean, standard deviation, expected improvement over the best), or None."""
        if self.model is None or self.best is None:
            return None
        import numpy as np

        x = np.array([self.block.space.unit(values)])
        mean, std = self.model.predict(x, return_std=True)
        mu, sigma = float(mean[0]), max(float(std[0]), 1e-12)
        gain = mu - self.best
        z = gain / sigma
        cdf = 0.5 * (1.0 + math.erf(z / math.sqrt(2.0)))
        pdf = math.exp(-0.5 * z * z) / math.sqrt(2.0 * math.pi)
        return mu, sigma, max(gain * cdf + sigma * pdf, 0.0)


def suggest(setup: Setup, n: int, *, seed: int | None = None) -> list[list[Suggestion]]:
    """Up to ``n`` new settings for each model block (none of them recorded already)."""
    out: list[list[Suggestion]] = []
    for block in setup.blocks:
        study = new_study(block, seed=seed, constant_liar=True)
        known = list(block.known)
        surrogate = Surrogate(block, known)
        scored = sum(1 for o in known if o.score is not None)
        found: list[Suggestion] = []
        seen: set[str] = set()
        tries = 0
        pool = POOL * n if surrogate.model is not None else n
        first: list[Suggestion] = []  # the settings of similar data sets
        while len(found) + len(first) < pool and tries < 20 * pool + 50:
            tries += 1
            trial, values, proposal = ask(study, block)
            point = Point(block.space.model, block.space.point(values), len(found))
            planned = setup.planner.plan(point)
            if planned.earlier:
                answer = observation_of_runs(planned.earlier, block.space, values, setup.metric)
                tell(study, trial, answer.score if answer else None)
                continue
            if planned.fingerprint in seen:
                continue  # left running: the sampler's constant liar steers away from it
            seen.add(planned.fingerprint)
            reasons: list[str] = []
            if proposal is not None:
                reasons.append(proposal.reason(setup.metric))
            elif scored + len(found) + len(first) < STARTUP:
                reasons.append(
                    f"exploring: the sampler draws at random until {STARTUP} scored trials "
                    f"({scored} recorded)"
                )
            prediction = surrogate.predict(values)
            label = setup.metric or "score"
            if prediction is not None and surrogate.best is not None:
                mu, sigma, ei = prediction
                gain = f"{ei:.4f}" if ei >= 1e-4 else "below 0.0001"
                reasons.append(
                    f"expected improvement {gain} over the best {label} "
                    f"{surrogate.best:.4f} (predicted {mu:.4f} ± {sigma:.4f})"
                )
            distance, near = _nearest(block, known, values)
            if distance is None:
                reasons.append("unexplored: nothing of this model recorded on this data")
            elif distance > UNEXPLORED:
                reasons.append(
                    f"unexplored region: the nearest recorded run is {distance:.2f} away"
                )
            else:
                reasons.append(f"near recorded run {near} ({distance:.2f} away)")
            (first if proposal is not None else found).append(
                Suggestion(
                    model=block.reference.model,
                    values=values,
                    params=dict(point.params),
                    fingerprint=planned.fingerprint,
                    predicted=prediction[0] if prediction else None,
                    uncertainty=prediction[1] if prediction else None,
                    expected_improvement=prediction[2] if prediction else None,
                    nearest=distance,
                    nearest_run=near,
                    reasons=tuple(reasons),
                )
            )
        if surrogate.model is not None:
            found.sort(key=lambda s: (-(s.expected_improvement or 0.0), -(s.nearest or 0.0)))
        out.append([*first, *found][:n])
    return out


def _nearest(
    block: Block, known: Sequence[Observation], values: dict[str, Any]
) -> tuple[float | None, str | None]:
    best: tuple[float, str] | None = None
    for observation in known:
        distance = block.space.distance(values, observation.values)
        if best is None or distance < best[0]:
            best = (distance, observation.runs[-1] if observation.runs else "")
    return (best[0], best[1]) if best else (None, None)
