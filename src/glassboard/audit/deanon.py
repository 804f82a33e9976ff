"""De-anonymisation: how well a simple classifier picks out one model's answers in revealed battles.

Why: the arena hides names until the vote, but an attacker who recognises the target's answers can vote for it
whenever it appears (Huang et al. 2025, "Exploring and Mitigating Adversarial Manipulation of Voting-Based
Leaderboards"). The audit measures that risk on the arena's own data with the simplest credible classifier:
L2-regularised logistic regression on a hashed bag of words (word unigrams and bigrams, 2^18 buckets, log counts,
unit-length rows) plus the five style features (log1p of tokens, headers, list items, bold spans, emoji), with
balanced class weights, evaluated by k-fold cross-validation with folds by battle (both answers of a battle in the
same fold). Numerics are numpy/scipy, seeded, and do not depend on the number of threads.
"""

from __future__ import annotations

import math
import re
import zlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from scipy.optimize import minimize
from scipy.sparse import csr_matrix, hstack
from scipy.stats import rankdata

from glassboard.audit.integrity_reports import Deanonymisation, Estimate
from glassboard.rating.table import BattleTable
from glassboard.schema import GlassboardError

HASH_BITS = 18
L2 = 1.0  # ridge on the weights (per answer-weighted loss: the loss is a mean)
FOLDS = 5
MAX_ANSWERS = 20_000  # answers the classifier is trained and evaluated on at most (a seeded sample)
BOOT_ROUNDS = 500
_TOKEN = re.compile(r"\w+|[^\w\s]")


class DeanonError(GlassboardError, ValueError):
    """The battles cannot train the classifier (no answers of the target, nothing to compare it to)."""


@dataclass(frozen=True, slots=True)
class Interval:
    """A point estimate with its 95% interval."""

    value: float
    low: float
    high: float

    def to_json(self) -> dict[str, float]:
        return self.report().to_json()

    def report(self) -> Estimate:
        return Estimate(round(self.value, 4), round(self.low, 4), round(self.high, 4))


@dataclass(frozen=True, slots=True)
class DeanonResult:
    """Out-of-fold quality of the classifier and the attacker's operating point."""

    target: str
    answers: int
    target_answers: int
    battles: int
    uses_text: bool
    auc: Interval
    accuracy: Interval  # answers classified right at the 0.5 threshold (balanced weights)
    balanced_accuracy: Interval
    side_accuracy: Interval  # battles with the target: the target's answer scores higher than the other
    tpr: float  # P(score >= 0.5 | target's answer): the attacker's "target present" rate
    fpr: float
    folds: int

    def to_json(self) -> dict[str, Any]:
        return self.report().to_json()

    def report(self) -> Deanonymisation:
        """The rounded, typed record the manipulation report carries."""
        return Deanonymisation(
            target=self.target, answers=self.answers, target_answers=self.target_answers, battles=self.battles,
            uses_text=self.uses_text, folds=self.folds, auc=self.auc.report(), accuracy=self.accuracy.report(),
            balanced_accuracy=self.balanced_accuracy.report(), side_accuracy=self.side_accuracy.report(),
            tpr=round(self.tpr, 4), fpr=round(self.fpr, 4))


# ------------------------------------------------------------------------------------------------ features
def hashed_counts(texts: Sequence[str], bits: int = HASH_BITS) -> csr_matrix:
    """Rows of log(1 + count) of hashed word unigrams and bigrams, each row scaled to unit length."""
    size = 1 << bits
    indptr, indices, data = [0], [], []
    for text in texts:
        words = _TOKEN.findall(text.lower())
        grams = words + [f"{x} {y}" for x, y in zip(words, words[1:], strict=False)]
        buckets = np.fromiter((zlib.crc32(g.encode()) & (size - 1) for g in grams), dtype=np.int64,
                              count=len(grams))
        cols, counts = np.unique(buckets, return_counts=True)
        values = np.log1p(counts)
        norm = math.sqrt(float(values @ values)) or 1.0
        indices.append(cols)
        data.append(values / norm)
        indptr.append(indptr[-1] + len(cols))
    if not texts:
        return csr_matrix((0, size))
    return csr_matrix((np.concatenate(data), np.concatenate(indices), np.asarray(indptr)), shape=(len(texts), size))


def style_block(counts: np.ndarray) -> np.ndarray:
    """log1p of the five style counts, standardised (unknown counts: 0 after standardising)."""
    x = np.log1p(np.asarray(counts, dtype=np.float64))
    mean = np.nanmean(x, axis=0) if len(x) else np.zeros(x.shape[1])
    std = np.nanstd(x, axis=0) if len(x) else np.ones(x.shape[1])
    x = (x - np.nan_to_num(mean)) / np.where(np.nan_to_num(std) > 0, np.nan_to_num(std), 1.0)
    return np.nan_to_num(x)


# ---------------------------------------------------------------------------------------------- classifier
def fit_logistic(x: csr_matrix, y: np.ndarray, weight: np.ndarray, l2: float = L2) -> np.ndarray:
    """Weights (last entry: intercept) of the weighted, L2-penalised logistic regression, by L-BFGS."""
    n, k = x.shape
    total = float(weight.sum())

    def loss(w: np.ndarray) -> tuple[float, np.ndarray]:
        z = x @ w[:k] + w[k]
        sign = 2.0 * y - 1.0
        value = float(weight @ np.logaddexp(0.0, -sign * z)) / total + 0.5 * l2 * float(w[:k] @ w[:k])
        r = weight * (1.0 / (1.0 + np.exp(-z)) - y) / total
        grad = np.concatenate([x.T @ r + l2 * w[:k], [r.sum()]])
        return value, grad

    result = minimize(loss, np.zeros(k + 1), jac=True, method="L-BFGS-B", options={"maxiter": 500})
    return result.x


def predict(x: csr_matrix, w: np.ndarray) -> np.ndarray:
    z = x @ w[:-1] + w[-1]
    return 1.0 / (1.0 + np.exp(-z))


def auc(score: np.ndarray, label: np.ndarray) -> float:
    """Area under the ROC curve (Mann-Whitney, ties counted half)."""
    pos = label.astype(bool)
    n_pos, n_neg = int(pos.sum()), int((~pos).sum())
    if n_pos == 0 or n_neg == 0:
        return math.nan
    ranks = rankdata(score)
    return float((ranks[pos].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


# ---------------------------------------------------------------------------------------------------- audit
def answers_of(source: Any, table: BattleTable, rows: np.ndarray) -> list[tuple[str, str]]:
    """(text of side a, text of side b) of the table's battles at positions `rows` ('' where no conversation)."""
    wanted = table.rows[rows].tolist()
    if isinstance(source, str | Path):
        found = _file_conversations(Path(source), set(wanted))
    else:
        found = {n: (_get(row, "conversation_a"), _get(row, "conversation_b")) for n, row in enumerate(source, 1)}
    return [tuple(_assistant_text(c) for c in found.get(r, (None, None))) for r in wanted]  # type: ignore[misc]


def _get(row: Any, key: str) -> Any:
    return row.get(key) if isinstance(row, Mapping) else getattr(row, key, None)


def _assistant_text(conversation: Any) -> str:
    if not isinstance(conversation, list):
        return ""
    return "\n".join(str(m.get("content") or "") for m in conversation
                     if isinstance(m, Mapping) and m.get("role") == "assistant")


def _file_conversations(path: Path, wanted: set[int]) -> dict[int, tuple[Any, Any]]:
    if path.name.lower().endswith(".parquet"):
        import pyarrow.parquet as pq

        names = pq.ParquetFile(path).schema_arrow.names
        cols = [c for c in ("conversation_a", "conversation_b") if c in names]
        if not cols:
            return {}
        order = sorted(wanted)
        part = pq.read_table(path, columns=cols).take([n - 1 for n in order]).to_pylist()
        return {n: (row.get("conversation_a"), row.get("conversation_b")) for n, row in zip(order, part, strict=True)}
    from glassboard.rating.battles import iter_rows

    return {n: (_get(row, "conversation_a"), _get(row, "conversation_b")) for n, row in iter_rows(path)
            if n in wanted and isinstance(row, Mapping)}


def deanonymise(
    source: Any, table: BattleTable, target: str, *, folds: int = FOLDS, seed: int = 0,
    max_answers: int = MAX_ANSWERS, rounds: int = BOOT_ROUNDS,
) -> DeanonResult:
    """Cross-validated quality of a classifier that tells `target`'s answers from the others' (see module doc)."""
    if target not in table.models:
        known = table.names(range(table.n_models))
        raise DeanonError(f"{table.source}: model {target!r} has no battles (models: {known})")
    if folds < 2:
        raise DeanonError(f"folds must be at least 2, got {folds}")
    rng = np.random.default_rng(seed)
    k = table.models.index(target)
    has = (table.a == k) | (table.b == k)
    with_target, without = np.flatnonzero(has), np.flatnonzero(~has)
    half = max_answers // 2
    take_t = rng.permutation(with_target)[: min(len(with_target), half)]
    take_o = rng.permutation(without)[: max(0, min(len(without), (max_answers - 2 * len(take_t)) // 2))]
    battles = np.sort(np.concatenate([take_t, take_o]))
    texts = answers_of(source, table, battles)
    uses_text = any(a or b for a, b in texts)
    label = np.concatenate([table.a[battles] == k, table.b[battles] == k]).astype(np.float64)
    if label.sum() < folds or (1 - label).sum() < folds:
        raise DeanonError(f"{table.source}: too few answers to cross-validate ({int(label.sum())} of {target}, "
                          f"{int((1 - label).sum())} of other models; {folds} folds)")
    style = style_block(np.concatenate([table.counts[battles, 0, :], table.counts[battles, 1, :]]))
    blocks = [csr_matrix(style)]
    if uses_text:
        blocks.insert(0, hashed_counts([a for a, _ in texts] + [b for _, b in texts]))
    x = hstack(blocks, format="csr")
    x = x[:, np.unique(x.indices)]  # only the buckets that occur: L-BFGS's cost grows with the dimension
    n = len(battles)
    fold = np.tile(rng.permutation(np.arange(n) % folds), 2)  # both answers of a battle share its fold
    weight = np.where(label == 1, 0.5 / label.mean(), 0.5 / (1 - label.mean()))
    score = np.empty(2 * n)
    for f in range(folds):
        test = fold == f
        w = fit_logistic(x[~test], label[~test], weight[~test])
        score[test] = predict(x[test], w)
    return _evaluate(target, score, label, n, uses_text, folds, rng, rounds, len(with_target))


def _evaluate(target: str, score: np.ndarray, label: np.ndarray, n: int, uses_text: bool, folds: int,
              rng: np.random.Generator, rounds: int, target_battles: int) -> DeanonResult:
    pos = label == 1
    hit = (score >= 0.5) == pos
    sa, sb = score[:n], score[n:]
    la, lb = label[:n], label[n:]
    in_battle = (la + lb) > 0
    side_right = np.where(la == 1, sa > sb, sb > sa) + 0.5 * (sa == sb)

    def stats(idx: np.ndarray) -> tuple[float, float, float, float]:
        both = np.concatenate([idx, idx + n])
        lab, sc, ok = label[both], score[both], hit[both]
        bal = 0.5 * float(ok[lab == 1].mean() + ok[lab == 0].mean()) if 0 < lab.sum() < len(lab) else math.nan
        side = side_right[idx][in_battle[idx]]
        return auc(sc, lab), float(ok.mean()), bal, float(side.mean()) if len(side) else math.nan

    point = stats(np.arange(n))
    boots = np.array([stats(rng.integers(0, n, n)) for _ in range(rounds)])  # battles resampled

    def interval(j: int) -> Interval:
        col = boots[:, j][~np.isnan(boots[:, j])]
        low, high = (np.percentile(col, [2.5, 97.5]) if len(col) else (math.nan, math.nan))
        return Interval(point[j], float(low), float(high))

    return DeanonResult(target=target, answers=2 * n, target_answers=int(pos.sum()), battles=n, uses_text=uses_text,
                        auc=interval(0), accuracy=interval(1), balanced_accuracy=interval(2),
                        side_accuracy=interval(3), tpr=float(hit[pos].mean()), fpr=float(1 - hit[~pos].mean()),
                        folds=folds)
