"""Judge audits: position bias, verbosity bias, self-preference, and agreement with human arena votes.

* Position: the share of decisive verdicts that prefer answer A (0.5 for an unbiased judge), and the flip rate:
  among (model, prompt) pairs judged in both orders, the share whose outcome for the model (win/tie/loss)
  changes when the order is swapped.
* Position and verbosity coefficients, from one logistic fit on all parsed judgments (model's point of view):
  logit P(model preferred) = theta_model + gamma * pos + beta * log2(tokens_model / tokens_baseline), pos = +1
  when the model was shown first, -1 otherwise. gamma is the judge's log-odds bonus for position A; beta its
  log-odds bonus per doubling of an answer's length relative to the other. 0 for an unbiased judge.
* Self-preference (only for contestants that share weights or provider with the judge): the judge's log-odds of
  the model beating the baseline, logit(win rate), minus the human votes' log-odds (their Bradley-Terry
  difference), i.e. how much more the judge likes the model than people do; `vs_unrelated` subtracts the same
  excess averaged over the unrelated models (a judge that is merely harsher or kinder than people is not
  self-preferring). Needs human votes on these models and the baseline.
* Human agreement, on human battles whose first prompt is one of the judged prompts and whose two models were
  both judged (the baseline scores 0.5): the judge prefers the model with the higher mean score on that prompt;
  agreement is the share of decisive human votes where that preference (when the judge has one) matches.
  Spearman: rank correlation of the judge's win rates and the human Bradley-Terry ratings over common models.
  Separability: the share of model pairs whose 95% intervals do not overlap, for each board.
Every interval is a 95% bootstrap interval over prompts (judge side) and battles (human side).
"""

from __future__ import annotations

import itertools
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from glassboard.judge.glm import bootstrap_weights, fit_logistic, interval, seed_for
from glassboard.judge.run import JudgeRun
from glassboard.judge.scores import SCALE, Estimate, ModelScore, Rows, model_rows
from glassboard.models.registry import Variant
from glassboard.schema import GlassboardError

AUDIT_ROUNDS = 200
HUMAN_ROUNDS = 200


@dataclass(frozen=True, slots=True)
class Related:
    """A contestant that shares weights or provider with the judge, and its measured self-preference."""

    model: str
    reason: str  # "same weights" or "same provider"
    excess_logodds: Estimate | None = None
    vs_unrelated: float | None = None

    def to_json(self) -> dict[str, Any]:
        return {"model": self.model, "reason": self.reason,
                "excess_logodds": self.excess_logodds.to_json() if self.excess_logodds else None,
                "vs_unrelated": None if self.vs_unrelated is None else round(self.vs_unrelated, 4)}


@dataclass(frozen=True, slots=True)
class HumanAgreement:
    """How the judge compares with human votes on the same prompts and models."""

    battles: int  # decisive human votes on judged prompts and models
    judge_decisive: int  # of those, where the judge prefers one side
    agreement: Estimate
    spearman: Estimate
    models: int  # models on both boards
    separability_judge: float | None
    separability_human: float | None

    def to_json(self) -> dict[str, Any]:
        return {"battles": self.battles, "judge_decisive": self.judge_decisive, "agreement": self.agreement.to_json(),
                "spearman": self.spearman.to_json(), "models": self.models,
                "separability_judge": self.separability_judge, "separability_human": self.separability_human}


@dataclass(frozen=True, slots=True)
class JudgeAudit:
    judgments: int
    unparsable: int
    a_share: Estimate  # share of decisive verdicts preferring position A
    flip_rate: Estimate
    pairs_both_orders: int
    position_logodds: Estimate
    verbosity_logodds_per_doubling: Estimate
    related: tuple[Related, ...]
    human: HumanAgreement | None
    notes: tuple[str, ...] = ()

    def to_json(self) -> dict[str, Any]:
        return {
            "judgments": self.judgments, "unparsable": self.unparsable,
            "unparsable_rate": round(self.unparsable / self.judgments, 4) if self.judgments else None,
            "position": {"a_share": self.a_share.to_json(), "flip_rate": self.flip_rate.to_json(),
                         "pairs_both_orders": self.pairs_both_orders,
                         "logodds": self.position_logodds.to_json()},
            "verbosity": {"logodds_per_doubling": self.verbosity_logodds_per_doubling.to_json()},
            "self_preference": [r.to_json() for r in self.related],
            "human": self.human.to_json() if self.human else None,
            "notes": list(self.notes),
        }


def related_models(judge: Variant, contestants: list[Variant]) -> list[tuple[str, str]]:
    """Contestants (baseline included) that share weights or provider with the judge."""
    out = []
    for v in contestants:
        if v.weights_identity() == judge.weights_identity():
            out.append((v.name, "same weights"))
        elif v.provider == judge.provider:
            out.append((v.name, "same provider"))
    return out


def position_audit(run: JudgeRun, seed: int = 0) -> tuple[Estimate, Estimate, int]:
    """(share of decisive verdicts for A, flip rate, pairs judged in both orders)."""
    parsed = [j for j in run.judgments if j.verdict is not None]
    decisive = [j for j in parsed if j.verdict != "A=B"]
    a_pref = np.array([1.0 if j.verdict in ("A>>B", "A>B") else 0.0 for j in decisive])
    a_share = _mean_ci(a_pref, np.array([j.prompt_id for j in decisive]), seed_for(seed, "a-share"))
    by_pair: dict[tuple[str, str], dict[str, float | None]] = {}
    for j in parsed:
        by_pair.setdefault((j.model, j.prompt_id), {})[j.position] = j.model_score
    both = [(k, v) for k, v in by_pair.items() if len(v) == 2]
    flips = np.array([1.0 if v["model_first"] != v["baseline_first"] else 0.0 for _, v in both])
    flip = _mean_ci(flips, np.array([k[1] for k, _ in both]), seed_for(seed, "flip"))
    return a_share, flip, len(both)


def bias_fit(rows: dict[str, Rows], seed: int = 0) -> tuple[Estimate, Estimate]:
    """(position log-odds gamma, verbosity log-odds per doubling beta) with prompt-bootstrap intervals."""
    names = [n for n, r in rows.items() if len(r.y)]
    if not names:
        return Estimate(None), Estimate(None)
    y = np.concatenate([rows[n].y for n in names])
    prompts = np.concatenate([rows[n].prompts for n in names])
    pos = np.concatenate([rows[n].pos for n in names])
    ratio = np.concatenate([np.log2(np.maximum(rows[n].tokens_model, 1) / np.maximum(rows[n].tokens_baseline, 1))
                            for n in names])
    dummies = np.zeros((len(y), len(names)))
    start = 0
    for i, n in enumerate(names):
        dummies[start:start + len(rows[n].y), i] = 1.0
        start += len(rows[n].y)
    x = np.column_stack([dummies, pos, ratio])
    free = [pos.std() > 0, ratio.std() > 0]
    beta = fit_logistic(x, y)
    weights = bootstrap_weights(prompts, AUDIT_ROUNDS, seed_for(seed, "bias"))
    boots = np.array([fit_logistic(x, y, w)[-2:] for w in weights]) if weights is not None else None
    out = []
    for k, idx in enumerate((-2, -1)):
        if not free[k]:
            out.append(Estimate(None))
            continue
        low, high = interval(boots[:, k]) if boots is not None else (None, None)
        out.append(Estimate(float(beta[idx]), low, high))
    return out[0], out[1]


def audit(run: JudgeRun, scores: list[ModelScore], win_boots: dict[str, np.ndarray],
          human: list[dict[str, Any]] | None = None, seed: int = 0) -> JudgeAudit:
    rows = model_rows(run)
    a_share, flip, pairs = position_audit(run, seed)
    gamma, beta = bias_fit(rows, seed)
    notes: list[str] = []
    related = related_models(run.judge, [run.baseline, *run.models])
    if any(name == run.baseline.name for name, _ in related):
        notes.append(f"the baseline '{run.baseline.name}' shares weights or provider with the judge: every "
                     "win rate is measured against a model the judge may favour")
    human_fit = _human_fit(human, [run.baseline.name, *(v.name for v in run.models)], seed) if human else None
    if human and human_fit is None:
        notes.append("human votes given, but none connect the judged models and the baseline: no agreement, "
                     "Spearman or self-preference measured")
    rel_out = [_self_preference(name, reason, run, scores, win_boots, human_fit, related) for name, reason in related
               if name != run.baseline.name]
    if related and human_fit is None:
        notes.append("self-preference needs human votes on the same models (--human FILE or --db URL)")
    agreement = _agreement(run, scores, win_boots, human, human_fit, seed) if human and human_fit else None
    n = len(run.judgments)
    return JudgeAudit(n, run.unparsable, a_share, flip, pairs, gamma, beta, tuple(rel_out), agreement, tuple(notes))


@dataclass(frozen=True, slots=True)
class _HumanFit:
    models: list[str]
    ratings: np.ndarray
    ci_low: np.ndarray
    ci_high: np.ndarray
    samples: np.ndarray  # bootstrap rounds x models

    def logodds(self, a: str, b: str, samples: bool = False) -> Any:
        i, k = self.models.index(a), self.models.index(b)
        src = self.samples if samples else self.ratings
        return (src[..., i] - src[..., k]) / SCALE


def _human_fit(human: list[dict[str, Any]], names: list[str], seed: int) -> _HumanFit | None:
    from glassboard.rating.bt import fit_bt
    from glassboard.rating.errors import RatingError

    wanted = set(names)
    rows = [b for b in human if b.get("model_a") in wanted and b.get("model_b") in wanted]
    if len(rows) < 2:
        return None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            fit = fit_bt(rows, ci="bootstrap", rounds=HUMAN_ROUNDS, seed=seed, connected="largest", on_invalid="skip")
        except (RatingError, GlassboardError):
            return None
    if fit.samples is None or names[0] not in fit.models:
        return None
    return _HumanFit(list(fit.models), fit.ratings, fit.ci_low, fit.ci_high, fit.samples)


def _logit(p: Any) -> Any:
    p = np.clip(p, 1e-3, 1 - 1e-3)
    return np.log(p / (1 - p))


def _self_preference(name: str, reason: str, run: JudgeRun, scores: list[ModelScore],
                     win_boots: dict[str, np.ndarray], fit: _HumanFit | None,
                     related: list[tuple[str, str]]) -> Related:
    score = next((s for s in scores if s.model == name), None)
    base = run.baseline.name
    if fit is None or score is None or score.win_rate.value is None or name not in fit.models:
        return Related(name, reason)

    def excess(model: str) -> tuple[float, np.ndarray | None]:
        s = next(s for s in scores if s.model == model)
        value = float(_logit(s.win_rate.value) - fit.logodds(model, base))
        boots = win_boots.get(model)
        if boots is None:
            return value, None
        n = min(len(boots), len(fit.samples))
        return value, _logit(boots[:n]) - fit.logodds(model, base, samples=True)[:n]

    value, boots = excess(name)
    low, high = interval(boots) if boots is not None else (None, None)
    related_names = {n for n, _ in related}
    others = [s.model for s in scores if s.model not in related_names and s.model in fit.models
              and s.win_rate.value is not None]
    vs = value - float(np.mean([excess(m)[0] for m in others])) if others else None
    return Related(name, reason, Estimate(value, low, high), vs)


def _agreement(run: JudgeRun, scores: list[ModelScore], win_boots: dict[str, np.ndarray],
               human: list[dict[str, Any]], fit: _HumanFit, seed: int) -> HumanAgreement:
    per_prompt: dict[tuple[str, str], list[float]] = {}
    for j in run.judgments:
        if j.model_score is not None:
            per_prompt.setdefault((j.model, j.prompt.strip()), []).append(j.model_score)
    prompts = {p.question.strip() for p in run.prompts}
    judged = {v.name for v in run.models} | {run.baseline.name}
    hits, clusters, decisive = [], [], 0
    for b in human:
        if b.get("winner") not in ("model_a", "model_b") or b.get("model_a") not in judged \
                or b.get("model_b") not in judged:
            continue
        text = _first_prompt(b)
        if text not in prompts:
            continue
        decisive += 1
        sa, sb = (_prompt_score(per_prompt, b["model_a"], text, run.baseline.name),
                  _prompt_score(per_prompt, b["model_b"], text, run.baseline.name))
        if sa is None or sb is None or sa == sb:
            continue
        hits.append(1.0 if (sa > sb) == (b["winner"] == "model_a") else 0.0)
        clusters.append(text)
    agreement = _mean_ci(np.array(hits), np.array(clusters, dtype=object).astype(str), seed_for(seed, "agree"))
    # Spearman over models on both boards (the baseline is 0.5 on the judge's board).
    common = [m for m in [run.baseline.name, *(s.model for s in scores if s.win_rate.value is not None)]
              if m in fit.models]
    rank_corr = Estimate(None)
    if len(common) >= 3:
        judge_vals = np.array([0.5 if m == run.baseline.name else next(s.win_rate.value for s in scores
                                                                          if s.model == m) for m in common])
        human_vals = np.array([fit.ratings[fit.models.index(m)] for m in common])
        rho = spearman(judge_vals, human_vals)
        n = min([len(fit.samples), *(len(win_boots[m]) for m in common if m in win_boots)])
        jb = np.column_stack([np.full(n, 0.5) if m == run.baseline.name or m not in win_boots else win_boots[m][:n]
                              for m in common])
        hb = fit.samples[:n, [fit.models.index(m) for m in common]]
        boots = np.array([spearman(jb[i], hb[i]) for i in range(n)])
        low, high = interval(boots)
        rank_corr = Estimate(rho, low, high)
    judge_ci = [(s.win_rate.ci_low, s.win_rate.ci_high) for s in scores if s.win_rate.ci_low is not None]
    human_ci = [(float(fit.ci_low[fit.models.index(m)]), float(fit.ci_high[fit.models.index(m)])) for m in common]
    return HumanAgreement(decisive, len(hits), agreement, rank_corr, len(common), separability(judge_ci),
                          separability(human_ci))


def _prompt_score(per_prompt: dict[tuple[str, str], list[float]], model: str, text: str, baseline: str
                  ) -> float | None:
    if model == baseline:
        return 0.5
    values = per_prompt.get((model, text))
    return float(np.mean(values)) if values else None


def _first_prompt(battle: dict[str, Any]) -> str:
    for turn in battle.get("conversation_a") or []:
        if isinstance(turn, dict) and turn.get("role") == "user":
            return str(turn.get("content") or "").strip()
    return ""


def spearman(x: np.ndarray, y: np.ndarray) -> float:
    """Spearman's rank correlation (ties get their average rank); NaN when either side is constant."""
    rx, ry = _ranks(x), _ranks(y)
    if rx.std() == 0 or ry.std() == 0:
        return float("nan")
    return float(np.corrcoef(rx, ry)[0, 1])


def _ranks(values: np.ndarray) -> np.ndarray:
    unique, inverse, counts = np.unique(values, return_inverse=True, return_counts=True)
    ends = np.cumsum(counts)
    return ((ends - counts + 1 + ends) / 2.0)[inverse]


def separability(intervals: Sequence[tuple[float | None, float | None]]) -> float | None:
    """Share of pairs whose 95% intervals do not overlap (None with fewer than two determined intervals)."""
    known = [(lo, hi) for lo, hi in intervals if lo is not None and hi is not None]
    pairs = list(itertools.combinations(known, 2))
    if not pairs:
        return None
    apart = sum(1 for (l1, h1), (l2, h2) in pairs if h1 < l2 or h2 < l1)
    return round(apart / len(pairs), 4)


def _mean_ci(values: np.ndarray, clusters: np.ndarray, seed: list[int]) -> Estimate:
    if len(values) == 0:
        return Estimate(None)
    weights = bootstrap_weights(clusters, AUDIT_ROUNDS * 5, seed)
    if weights is None:
        return Estimate(float(values.mean()))
    low, high = interval((weights @ values) / weights.sum(axis=1))
    return Estimate(float(values.mean()), low, high)
