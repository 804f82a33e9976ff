"""Test helpers for glassboard.rating: synthetic battles as LMArena-schema rows and files."""

from __future__ import annotations

from typing import Any

import numpy as np

from glassboard.rating.table import BattleTable

WINNER_OF = {0: "model_a", 1: "model_b", 2: "tie", 3: "tie (bothbad)"}


def metadata(counts: np.ndarray, with_emoji: bool = True) -> dict[str, Any]:
    """conv_metadata (LMArena names) for one battle's (2, 5) style totals."""
    meta: dict[str, Any] = {}
    for s, side in ((0, "a"), (1, "b")):
        tokens, headers, lists, bold, emoji = (int(v) for v in counts[s])
        meta[f"sum_assistant_{side}_tokens"] = tokens
        meta[f"header_count_{side}"] = {"h1": headers, "h2": 0, "h3": 0, "h4": 0, "h5": 0, "h6": 0}
        meta[f"list_count_{side}"] = {"ordered": lists, "unordered": 0}
        meta[f"bold_count_{side}"] = {"**": bold, "__": 0}
        if with_emoji:
            meta[f"emoji_count_{side}"] = emoji
    return meta


def rows_from_table(table: BattleTable, *, with_meta: bool = True, with_emoji: bool = True) -> list[dict[str, Any]]:
    """The table's battles as schema dicts (tstamp increasing)."""
    rows = []
    for i in range(len(table)):
        row: dict[str, Any] = {
            "model_a": table.models[int(table.a[i])],
            "model_b": table.models[int(table.b[i])],
            "winner": WINNER_OF[int(table.outcome[i])],
            "tstamp": 1_700_000_000.0 + i,
        }
        if with_meta:
            row["conv_metadata"] = metadata(table.counts[i], with_emoji)
        rows.append(row)
    return rows


def expanded_mle(table: BattleTable) -> np.ndarray:
    """Independent BT MLE: scipy on one row per battle (ties and both-bad as y = 0.5), model 0 pinned at 0.

    Returns centred strengths in log-odds.
    """
    from scipy.optimize import minimize

    m = table.n_models
    a, b = table.a.astype(int), table.b.astype(int)
    y = np.select([table.outcome == 0, table.outcome == 1], [1.0, 0.0], 0.5)

    def negloglik(free: np.ndarray) -> tuple[float, np.ndarray]:
        theta = np.concatenate([[0.0], free])
        z = theta[a] - theta[b]
        nll = float(np.sum(np.logaddexp(0.0, z) - y * z))
        r = 1.0 / (1.0 + np.exp(-z)) - y
        grad = np.bincount(a, r, m) - np.bincount(b, r, m)
        return nll, grad[1:]

    res = minimize(negloglik, np.zeros(m - 1), jac=True, method="BFGS", options={"gtol": 1e-10, "maxiter": 10_000})
    theta = np.concatenate([[0.0], res.x])
    return theta - theta.mean()
