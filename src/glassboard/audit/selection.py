"""`audit selection`: the rank a provider gains by testing many private variants and reporting the best, and
whether each provider got its fair share of battles.

Why (Singh et al. 2025, "The Leaderboard Illusion"): the best of N noisy ratings is biased upwards even when every
variant is equally good, and some providers receive far more battles than others. glassboard lists every variant,
so both can be measured:
  - best-of-N bias. For a provider with N rated variants (ratings r_i, standard errors s_i from the 95% intervals),
    the bias of reporting its best is E[r_best - mu_best], best = argmax_i r_i, with r_i ~ N(mu_i, s_i^2). The
    means mu_i are empirical-Bayes estimates (each variant shrunk toward the provider's mean by
    tau^2 / (tau^2 + s_i^2), tau^2 = max(0, var(r) - mean(s^2))), and the expectation is a seeded Monte Carlo.
    With equal strengths and errors it is s * e_N, e_N = E[max of N standard normals] (order statistics; also
    reported). The corrected rating of the top variant is its rating minus the bias.
  - sampling fairness. A uniform pair sampler gives every active model the same share of battle slots; a model is
    active from its first to its last battle. Expected slots per model = sum over battles of 2 / (models active
    then); per provider they are compared with the observed slots by a chi-square test, and each provider by a
    two-sided binomial z-test, Bonferroni-corrected over providers (flagged below FAIR_ALPHA).
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy import integrate
from scipy.stats import chisquare, norm

from glassboard.rating.bt import fit_bt_table
from glassboard.rating.errors import RatingWarning
from glassboard.rating.result import CENTER
from glassboard.rating.table import BattleTable, prepare
from glassboard.schema import Fairness, ProviderReport, SelectionReport, SelectionVariant

FAIR_ALPHA = 0.01
DRAWS = 20_000
Z95 = float(norm.ppf(0.975))


def expected_max_normal(n: int) -> float:
    """E[max of n independent standard normals] = integral of x * n * phi(x) * Phi(x)^(n-1) dx."""
    if n < 1:
        raise ValueError("n must be at least 1")
    if n == 1:
        return 0.0
    value, _ = integrate.quad(lambda x: x * n * norm.pdf(x) * norm.cdf(x) ** (n - 1), -12, 12, limit=200)
    return float(value)


def best_of_n_bias(ratings: np.ndarray, ses: np.ndarray, *, seed: int = 0, draws: int = DRAWS) -> float:
    """E[r_best - mu_best] with empirical-Bayes means (see the module doc); 0 for a single variant."""
    r, s = np.asarray(ratings, dtype=np.float64), np.asarray(ses, dtype=np.float64)
    if len(r) < 2:
        return 0.0
    tau2 = max(0.0, float(np.var(r, ddof=1)) - float(np.mean(s**2)))
    mu = r.mean() + tau2 / (tau2 + s**2) * (r - r.mean())
    rng = np.random.default_rng(seed)
    draws_r = mu + s * rng.standard_normal((draws, len(r)))
    best = np.argmax(draws_r, axis=1)
    rows = np.arange(draws)
    return float(np.mean(draws_r[rows, best] - mu[best]))


@dataclass(frozen=True, slots=True)
class Variant:
    """What the audit knows of one variant: its provider and whether it was released."""

    provider: str
    public: bool = True


def expected_slots(table: BattleTable) -> np.ndarray:
    """Battle slots each model would get from a uniform pair sampler over the models active at each battle."""
    m, n = table.n_models, len(table)
    if n == 0:
        return np.zeros(m)
    if np.isnan(table.tstamp).any():  # no times: every model active throughout
        return np.full(m, 2.0 * n / m)
    t = table.tstamp
    first, last = np.full(m, np.inf), np.full(m, -np.inf)
    for side in (table.a, table.b):
        np.minimum.at(first, side, t)
        np.maximum.at(last, side, t)
    starts, ends = np.sort(first), np.sort(last)
    active = np.searchsorted(starts, t, side="right") - np.searchsorted(ends, t, side="left")
    per_battle = 2.0 / np.maximum(active, 2)
    order = np.argsort(t, kind="stable")
    cum = np.concatenate([[0.0], np.cumsum(per_battle[order])])
    ts = t[order]
    lo, hi = np.searchsorted(ts, first, side="left"), np.searchsorted(ts, last, side="right")
    return cum[hi] - cum[lo]


def audit_selection(
    table: BattleTable, variants: Mapping[str, Variant] | None = None, *, seed: int = 0, name: str | None = None
) -> SelectionReport:
    """Per provider: variants tested (public and unreleased), best-of-N bias and corrected top rating, battle share
    against the uniform sampler's, with the chi-square test and flags. `variants` maps model -> Variant (models not
    in it are their own provider)."""
    variants = dict(variants or {})
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", RatingWarning)
        rated_table = prepare(table, connected="largest")
        ratings = fit_bt_table(rated_table, ci="sandwich")
    rating_of = {mdl: (float(ratings.ratings[i]), float(ratings.ci_low[i]), float(ratings.ci_high[i]))
                 for i, mdl in enumerate(ratings.models)}
    slots = table.votes().astype(np.float64)
    expected = expected_slots(table)
    providers: dict[str, dict[str, Any]] = {}
    names = set(table.models) | set(variants)
    for model in sorted(names):
        v = variants.get(model, Variant(model))
        entry = providers.setdefault(v.provider, {"provider": v.provider, "variants": [], "public": 0,
                                                  "unreleased": 0, "slots": 0.0, "expected_slots": 0.0})
        entry["public" if v.public else "unreleased"] += 1
        if model in table.models:
            k = table.models.index(model)
            entry["slots"] += float(slots[k])
            entry["expected_slots"] += float(expected[k])
        rating = rating_of.get(model)
        entry["variants"].append({"model": model, "public": v.public,
                                  "rating": None if rating is None else round(rating[0], 2),
                                  "se": None if rating is None or not math.isfinite(rating[2] - rating[1])
                                  else round((rating[2] - rating[1]) / (2 * Z95), 3)})
    rows = [_provider_row(entry, seed) for entry in providers.values()]
    fairness = _fairness(rows)
    providers_out = [ProviderReport(**{**r, "variants": [SelectionVariant(**v) for v in r["variants"]]})
                     for r in sorted(rows, key=lambda r: -r["slots"])]
    return SelectionReport(source=name or table.source, battles=len(table), models=table.n_models, center=CENTER,
                           providers=providers_out, fairness=fairness,
                           warnings=[str(w.message) for w in caught if issubclass(w.category, RatingWarning)])


def _provider_row(entry: dict[str, Any], seed: int) -> dict[str, Any]:
    rated = [v for v in entry["variants"] if v["rating"] is not None and v["se"] is not None]
    row = {k: entry[k] for k in ("provider", "public", "unreleased")}
    row.update(tested=len(entry["variants"]), rated=len(rated), slots=int(entry["slots"]),
               expected_slots=round(entry["expected_slots"], 1), variants=entry["variants"])
    if not rated:
        row.update(top=None, top_rating=None, expected_max_z=None, bias_if_equal=None, bias=None, corrected=None)
        return row
    r = np.array([v["rating"] for v in rated])
    s = np.array([v["se"] for v in rated])
    top = rated[int(np.argmax(r))]
    bias = best_of_n_bias(r, s, seed=seed)
    e_n = expected_max_normal(len(rated))
    row.update(top=top["model"], top_rating=top["rating"], expected_max_z=round(e_n, 4),
               bias_if_equal=round(float(np.sqrt(np.mean(s**2))) * e_n, 2), bias=round(bias, 2),
               corrected=round(top["rating"] - bias, 2))
    return row


def _fairness(rows: list[dict[str, Any]]) -> Fairness:
    obs = np.array([r["slots"] for r in rows], dtype=np.float64)
    exp = np.array([r["expected_slots"] for r in rows], dtype=np.float64)
    present = exp > 0
    total = obs[present].sum()
    if present.sum() < 2 or total == 0:
        for r in rows:
            r.update(share=None, intended_share=None, z=None, p_value=None, flag=None)
        return Fairness(chi2=None, df=0, p_value=None, alpha=FAIR_ALPHA)
    exp_scaled = np.where(present, exp / exp[present].sum() * total, 0.0)
    stat, p = chisquare(obs[present], exp_scaled[present])
    flagged = []
    for r, o, e in zip(rows, obs, exp_scaled, strict=True):
        share, intended = float(o / total), float(e / total)
        if e <= 0:
            r.update(share=round(share, 4), intended_share=None, z=None, p_value=None, flag=None)
            continue
        z = (o - e) / math.sqrt(e * (1 - intended)) if intended < 1 else 0.0
        p_one = min(1.0, 2 * float(norm.sf(abs(z))) * int(present.sum()))  # Bonferroni over providers
        flag = None if p_one >= FAIR_ALPHA else ("over-sampled" if z > 0 else "under-sampled")
        r.update(share=round(share, 4), intended_share=round(intended, 4), z=round(z, 2), p_value=p_one, flag=flag)
        if flag:
            flagged.append(r["provider"])
    return Fairness(chi2=round(float(stat), 3), df=int(present.sum()) - 1, p_value=float(p), alpha=FAIR_ALPHA,
                    flagged=flagged)
