"""Per-model auto-arena scores: win rate vs the baseline, length-controlled win rate, style-controlled rating.

* Win rate: the mean of the model's judgment scores (1 preferred, 0.5 A=B, 0 baseline preferred) over parsed
  judgments; 95% interval by a prompt-clustered bootstrap (both orders of a prompt move together).
* Length-controlled win rate (AlpacaEval's GLM idea), fitted per model on its own judgments against the baseline
  only: logit P(model preferred) = theta + gamma * pos + phi * tanh(dlen / sd(dlen)), with pos = +1/2 when the
  model was shown first, -1/2 otherwise, and dlen the model's answer length minus the baseline's in tokens. The
  score is sigmoid(theta): the predicted win rate at equal length, averaged over positions. Nothing in it reads
  another model's data (bootstrap seeds are per model too), so adding or removing a model never changes it.
* Style-controlled rating: the rating library's contextual Bradley-Terry (glassboard.rating) on all judge battles,
  anchored at the baseline (1000), and its win probability against the baseline. This one is a joint fit: adding
  a model can move it (the issue's complaint about other tools, and why the length-controlled score exists).
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass
from typing import Any

import numpy as np

from glassboard.judge.glm import bootstrap_weights, fit_logistic, interval, seed_for, sigmoid
from glassboard.judge.run import JudgeRun, Judgment
from glassboard.rating.textstats import style_counts

WIN_ROUNDS = 1000
LC_ROUNDS = 200
SCALE = 400.0 / math.log(10.0)  # rating points per unit of log-odds (the rating library's scale)


@dataclass(frozen=True, slots=True)
class Estimate:
    """A number with its 95% interval (None = not determined by the data)."""

    value: float | None
    ci_low: float | None = None
    ci_high: float | None = None

    def to_json(self) -> dict[str, float | None]:
        return {"value": _r(self.value), "ci_low": _r(self.ci_low), "ci_high": _r(self.ci_high)}


@dataclass(frozen=True, slots=True)
class ModelScore:
    """One model's auto-arena scores against the baseline."""

    model: str
    variant: str
    judgments: int  # parsed judgments used
    unparsable: int
    missing_answers: int  # prompts without a usable answer of this model or the baseline
    win_rate: Estimate
    lc_win_rate: Estimate
    style_rating: Estimate | None = None
    style_win_rate: float | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "model": self.model, "variant": self.variant, "judgments": self.judgments, "unparsable": self.unparsable,
            "missing_answers": self.missing_answers, "win_rate": self.win_rate.to_json(),
            "lc_win_rate": self.lc_win_rate.to_json(),
            "style_rating": self.style_rating.to_json() if self.style_rating is not None else None,
            "style_win_rate": _r(self.style_win_rate),
        }


@dataclass(frozen=True, slots=True)
class Rows:
    """One model's parsed judgments as arrays: score, prompt (cluster), position (+1 shown first), lengths."""

    y: np.ndarray
    prompts: np.ndarray
    pos: np.ndarray
    tokens_model: np.ndarray
    tokens_baseline: np.ndarray

    @classmethod
    def of(cls, judgments: list[Judgment], tokens: dict[str, float]) -> Rows:
        parsed = [j for j in judgments if j.verdict is not None]
        return cls(
            y=np.array([j.model_score for j in parsed], dtype=np.float64),
            prompts=np.array([j.prompt_id for j in parsed], dtype=object).astype(str),
            pos=np.array([1.0 if j.model_is_a else -1.0 for j in parsed]),
            tokens_model=np.array([_tokens(tokens, j.model_answer) for j in parsed]),
            tokens_baseline=np.array([_tokens(tokens, j.baseline_answer) for j in parsed]),
        )


def _tokens(cache: dict[str, float], answer: str) -> float:
    if answer not in cache:
        cache[answer] = float(style_counts(answer)["tokens"])
    return cache[answer]


def model_rows(run: JudgeRun) -> dict[str, Rows]:
    """Per model, its parsed judgments as arrays (answer lengths computed once per distinct answer)."""
    tokens: dict[str, float] = {}
    return {v.name: Rows.of([j for j in run.judgments if j.model == v.name], tokens) for v in run.models}


def win_rate(rows: Rows, model: str, seed: int = 0) -> tuple[Estimate, np.ndarray | None]:
    """Mean score and its prompt-bootstrap interval (and the bootstrap values, for the audits)."""
    if len(rows.y) == 0:
        return Estimate(None), None
    weights = bootstrap_weights(rows.prompts, WIN_ROUNDS, seed_for(seed, "win", model))
    value = float(rows.y.mean())
    if weights is None:
        return Estimate(value), None
    boots = (weights @ rows.y) / weights.sum(axis=1)
    low, high = interval(boots)
    return Estimate(value, low, high), boots


def lc_win_rate(rows: Rows, model: str, seed: int = 0) -> Estimate:
    """Length-controlled win rate (see the module docstring), with a prompt-bootstrap interval."""
    if len(rows.y) == 0:
        return Estimate(None)
    dlen = rows.tokens_model - rows.tokens_baseline
    sd = float(dlen.std())
    columns = [np.ones(len(rows.y)), 0.5 * rows.pos]
    if sd > 0:
        columns.append(np.tanh(dlen / sd))
    x = np.column_stack(columns)
    value = float(sigmoid(fit_logistic(x, rows.y)[0]))
    weights = bootstrap_weights(rows.prompts, LC_ROUNDS, seed_for(seed, "lc", model))
    if weights is None:
        return Estimate(value)
    boots = np.array([sigmoid(fit_logistic(x, rows.y, w)[0]) for w in weights])
    low, high = interval(boots)
    return Estimate(value, low, high)


def style_scores(run: JudgeRun) -> tuple[dict[str, Estimate], dict[str, float], list[str]]:
    """Style-controlled ratings (anchored at the baseline = 1000) and win probabilities vs the baseline."""
    from glassboard.rating.errors import RatingError
    from glassboard.rating.leaderboard import leaderboard

    battles = run.battles()
    if not battles:
        return {}, {}, ["no parsed judgments: no style-controlled ratings"]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            board = leaderboard(battles, anchor=run.baseline.name, ci="sandwich", connected="largest")
        except RatingError as err:
            return {}, {}, [f"style-controlled ratings not computed: {err}"]
    if board.style is None:
        return {}, {}, [*board.warnings, "style control not identified by these judgments"]
    ratings, probs = {}, {}
    style = board.style
    base = dict(zip(style.models, style.ratings, strict=True)).get(run.baseline.name)
    for name, rating, low, high in zip(style.models, style.ratings, style.ci_low, style.ci_high, strict=True):
        ratings[name] = Estimate(float(rating), _finite(low), _finite(high))
        if base is not None:
            probs[name] = float(sigmoid((rating - base) / SCALE))
    return ratings, probs, list(board.warnings)


def score_models(run: JudgeRun, seed: int = 0) -> tuple[list[ModelScore], dict[str, np.ndarray], list[str]]:
    """Every model's scores (best win rate first), the win-rate bootstrap values, and the style fit's notes."""
    rows = model_rows(run)
    style, style_p, notes = style_scores(run)
    out, boots = [], {}
    for variant in run.models:
        r = rows[variant.name]
        mine = [j for j in run.judgments if j.model == variant.name]
        wr, b = win_rate(r, variant.name, seed)
        if b is not None:
            boots[variant.name] = b
        out.append(ModelScore(
            model=variant.name, variant=variant.id, judgments=len(r.y),
            unparsable=sum(1 for j in mine if j.verdict is None),
            missing_answers=run.unjudged.get(variant.name, 0),
            win_rate=wr, lc_win_rate=lc_win_rate(r, variant.name, seed), style_rating=style.get(variant.name),
            style_win_rate=style_p.get(variant.name),
        ))
    out.sort(key=lambda s: -(s.win_rate.value if s.win_rate.value is not None else -1))
    return out, boots, notes


def _finite(value: float) -> float | None:
    return float(value) if math.isfinite(value) else None


def _r(value: float | None, digits: int = 4) -> float | None:
    return None if value is None or not math.isfinite(value) else round(value, digits)
