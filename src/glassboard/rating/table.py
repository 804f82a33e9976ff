"""`BattleTable`: battles as compact numpy arrays (model indices, outcomes, style counts), filters, graph checks."""

from __future__ import annotations

import math
import warnings
from array import array
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np

from glassboard.rating.battles import Battle, iter_rows, parse_battle, report_invalid
from glassboard.rating.errors import RatingError, RatingWarning
from glassboard.rating.identify import result_graph
from glassboard.schema import A_WINS as A_WINS  # re-exported: the outcome codes of the table
from glassboard.schema import B_WINS as B_WINS
from glassboard.schema import BOTHBAD as BOTHBAD
from glassboard.schema import OUTCOME_CODES as _OUTCOME
from glassboard.schema import TIE as TIE

# Style totals kept per side, in this order (counts[:, side, k]).
COUNT_NAMES = ("tokens", "headers", "lists", "bold", "emoji")


@dataclass
class BattleTable:
    """Battles as arrays: `a`, `b` index `models`; `counts` is (n, 2, 5) style totals with NaN where unknown."""

    models: list[str]
    a: np.ndarray
    b: np.ndarray
    outcome: np.ndarray
    counts: np.ndarray
    rows: np.ndarray
    tstamp: np.ndarray
    source: str = "<battles>"
    excluded: dict[str, int] = field(default_factory=dict)

    def __len__(self) -> int:
        return int(self.a.shape[0])

    @property
    def n_models(self) -> int:
        return len(self.models)

    # ------------------------------------------------------------------------------------ constructors
    @classmethod
    def from_arrays(
        cls,
        models: list[str],
        a: np.ndarray,
        b: np.ndarray,
        outcome: np.ndarray,
        counts: np.ndarray | None = None,
        *,
        rows: np.ndarray | None = None,
        tstamp: np.ndarray | None = None,
        source: str = "<arrays>",
    ) -> BattleTable:
        """Build a table from index arrays (fast path for generated data and benchmarks)."""
        n = len(a)
        a = np.asarray(a, dtype=np.int32)
        b = np.asarray(b, dtype=np.int32)
        outcome = np.asarray(outcome, dtype=np.int8)
        if b.shape != (n,) or outcome.shape != (n,):
            raise RatingError("a, b and outcome must be 1-d arrays of the same length")
        if n and (min(a.min(), b.min()) < 0 or max(a.max(), b.max()) >= len(models)):
            raise RatingError("model index out of range")
        if n and (outcome.min() < 0 or outcome.max() > BOTHBAD):
            raise RatingError("outcome codes must be 0 (a wins), 1 (b wins), 2 (tie) or 3 (both bad)")
        if counts is None:
            counts = np.full((n, 2, len(COUNT_NAMES)), np.nan, dtype=np.float32)
        counts = np.asarray(counts, dtype=np.float32)
        if counts.shape != (n, 2, len(COUNT_NAMES)):
            raise RatingError(f"counts must have shape (n, 2, {len(COUNT_NAMES)})")
        if np.any(counts < 0) or np.isinf(counts).any():
            raise RatingError("style counts must be non-negative and finite (NaN marks an unknown count)")
        return cls(
            models=list(models),
            a=a,
            b=b,
            outcome=outcome,
            counts=counts,
            rows=np.arange(1, n + 1, dtype=np.int64) if rows is None else np.asarray(rows, dtype=np.int64),
            tstamp=np.full(n, np.nan) if tstamp is None else np.asarray(tstamp, dtype=np.float64),
            source=source,
        )

    @classmethod
    def read(cls, path: str | Path, **filters: Any) -> BattleTable:
        """Read a battle file into a table (see `from_battles` for the filters).

        Parquet files are read column by column when their types allow (fast); everything else, and any
        file with an invalid row, goes through the row reader, which names the bad rows.
        """
        if str(path).lower().endswith(".parquet"):
            from glassboard.rating.columnar import read_parquet_arrays

            fast = {k: v for k, v in filters.items() if k != "on_invalid"}
            arrays = read_parquet_arrays(path, **fast)
            if arrays is not None:
                return cls(source=str(path), **arrays)
        return cls._from_rows(iter_rows(path), source=str(path), **filters)

    @classmethod
    def from_battles(
        cls, battles: Iterable[Battle | Mapping[str, Any]], *, source: str = "<battles>", **filters: Any
    ) -> BattleTable:
        """Build a table from `Battle` records or schema dicts (e.g. the arena's stored battles)."""
        return cls._from_rows(enumerate(battles, 1), source=source, **filters)

    @classmethod
    def _from_rows(
        cls,
        rows: Iterator[tuple[int, Any]],
        *,
        source: str,
        category: str | None = None,
        language: str | None = None,
        include_flagged: bool = False,
        on_invalid: Literal["error", "skip"] = "error",
        with_style: bool = True,
    ) -> BattleTable:
        if on_invalid not in ("error", "skip"):
            raise RatingError(f"on_invalid must be 'error' or 'skip', not {on_invalid!r}")
        index: dict[str, int] = {}
        a, b, outc, rownum = array("i"), array("i"), array("b"), array("q")
        counts, stamps = array("f"), array("d")
        bad: list[tuple[int, str]] = []
        excluded = {"flagged": 0, "category": 0, "language": 0}
        nan5 = [math.nan] * len(COUNT_NAMES)
        total = 0
        for n, raw in rows:
            total += 1
            try:
                if isinstance(raw, RatingError):
                    raise raw
                battle = raw if isinstance(raw, Battle) else parse_battle(raw)
            except RatingError as exc:
                bad.append((n, str(exc)))
                continue
            # Flagged rows (e.g. identity_revealed) stay in files but do not count unless asked for.
            if battle.flags and not include_flagged:
                excluded["flagged"] += 1
                continue
            if category is not None and category not in battle.categories():
                excluded["category"] += 1
                continue
            if language is not None and battle.language != language:
                excluded["language"] += 1
                continue
            a.append(index.setdefault(battle.model_a, len(index)))
            b.append(index.setdefault(battle.model_b, len(index)))
            outc.append(_OUTCOME[battle.winner])
            rownum.append(n)
            stamps.append(math.nan if battle.tstamp is None else battle.tstamp)
            if with_style:
                sa, sb = battle.side_counts("a"), battle.side_counts("b")
                counts.extend(sa[k] for k in COUNT_NAMES)
                counts.extend(sb[k] for k in COUNT_NAMES)
            else:
                counts.extend(nan5 + nan5)
        if total == 0:
            raise RatingError(f"{source}: the file contains no battles")
        report_invalid(source, bad, on_invalid, total)
        table = cls(
            models=list(index),
            a=np.frombuffer(a, dtype=np.int32).copy(),
            b=np.frombuffer(b, dtype=np.int32).copy(),
            outcome=np.frombuffer(outc, dtype=np.int8).copy(),
            counts=np.frombuffer(counts, dtype=np.float32).reshape(-1, 2, len(COUNT_NAMES)).copy(),
            rows=np.frombuffer(rownum, dtype=np.int64).copy(),
            tstamp=np.frombuffer(stamps, dtype=np.float64).copy(),
            source=source,
            excluded={k: v for k, v in excluded.items() if v} | ({"invalid": len(bad)} if bad else {}),
        )
        return table

    # ---------------------------------------------------------------------------------------- queries
    def subset(self, mask: np.ndarray) -> BattleTable:
        """The battles where `mask` is true, with models re-indexed to those that still have votes."""
        a, b = self.a[mask], self.b[mask]
        present = np.zeros(self.n_models, dtype=bool)
        present[a] = True
        present[b] = True
        new_index = np.cumsum(present) - 1
        return BattleTable(
            models=[m for m, keep in zip(self.models, present, strict=True) if keep],
            a=new_index[a].astype(np.int32),
            b=new_index[b].astype(np.int32),
            outcome=self.outcome[mask],
            counts=self.counts[mask],
            rows=self.rows[mask],
            tstamp=self.tstamp[mask],
            source=self.source,
            excluded=dict(self.excluded),
        )

    def votes(self) -> np.ndarray:
        """Number of battles each model took part in."""
        m = self.n_models
        return np.bincount(self.a, minlength=m) + np.bincount(self.b, minlength=m)

    def components(self) -> list[np.ndarray]:
        """Connected parts of the comparison graph (model indices), largest first."""
        return _components(_result_graph(self), self.n_models)

    def names(self, idx: Iterable[int], limit: int = 8) -> str:
        """Comma-separated model names, truncated after `limit`."""
        idx = list(idx)
        shown = ", ".join(self.models[i] for i in idx[:limit])
        return shown + (f", ... ({len(idx) - limit} more)" if len(idx) > limit else "")


def as_table(battles: Any, **filters: Any) -> BattleTable:
    """Accept a BattleTable, a path, or an iterable of Battle/dicts and return a BattleTable."""
    if isinstance(battles, BattleTable):
        if filters.get("category") or filters.get("language"):
            raise RatingError("category/language filters apply when reading battles, not to a BattleTable")
        return battles
    if isinstance(battles, str | Path):
        return BattleTable.read(battles, **filters)
    if isinstance(battles, Iterable):
        return BattleTable.from_battles(battles, **filters)
    raise RatingError(f"cannot rate {type(battles).__name__}: pass a path, a BattleTable or battles")


def prepare(table: BattleTable, *, connected: Literal["error", "largest"] = "error") -> BattleTable:
    """Check a table before fitting: not empty, one connected comparison graph, warn on thin models.

    A graph in several parts has no common scale (ratings in different parts cannot be compared), so by
    default that is an error naming the parts; connected='largest' rates the largest part and warns,
    naming the models left out.
    """
    if len(table) == 0:
        why = ", ".join(f"{v} {k}" for k, v in table.excluded.items())
        raise RatingError(f"{table.source}: no battles left to rate" + (f" (excluded: {why})" if why else ""))
    graph = _result_graph(table)
    parts = _components(graph, table.n_models)
    if len(parts) > 1:
        listing = "\n".join(f"  part {i + 1} ({len(p)} models): {table.names(p)}" for i, p in enumerate(parts[:6]))
        more = f"\n  ... and {len(parts) - 6} more parts" if len(parts) > 6 else ""
        if connected == "error":
            raise RatingError(
                f"{table.source}: the comparison graph has {len(parts)} disconnected parts, so their ratings "
                f"share no scale:\n{listing}{more}\n(rate only the largest part with --largest-component / "
                "connected='largest', or filter the battles)"
            )
        left_out = np.concatenate(parts[1:])
        warnings.warn(
            f"the comparison graph has {len(parts)} disconnected parts; rating only the largest "
            f"({len(parts[0])} models) and leaving out {len(left_out)}: {table.names(left_out, 20)}",
            RatingWarning,
            stacklevel=2,
        )
        keep = np.zeros(table.n_models, dtype=bool)
        keep[parts[0]] = True
        table = table.subset(keep[table.a] & keep[table.b])
        graph = _result_graph(table)
    if table.n_models < 2:
        raise RatingError(f"{table.source}: at least two models are needed for a rating")
    single = np.flatnonzero(table.votes() == 1)
    if len(single):
        warnings.warn(
            f"{len(single)} model(s) have a single vote; their ratings are rough and their intervals wide: "
            f"{table.names(single, 20)}",
            RatingWarning,
            stacklevel=2,
        )
    _warn_separation(table, graph)
    return table


def _warn_separation(table: BattleTable, graph: Any) -> None:
    """Warn when some group of models never lost (or never won) against the rest.

    The BT maximum-likelihood estimate is then infinite for that group; a tiny ridge penalty keeps the
    numbers finite, but they mean only "better (worse) than everything it met".
    """
    from scipy.sparse.csgraph import connected_components

    # The MLE is finite iff the "beat or tied" graph is strongly connected.
    n_parts, labels = connected_components(graph, directed=True, connection="strong")
    if n_parts == 1:
        return
    core = labels == np.argmax(np.bincount(labels))
    odd = np.flatnonzero(~core)
    scale = (
        f"the other {int(core.sum())} are rated with intervals on a scale centred on them (mean 1000)"
        if core.sum() >= 2 else "no two models have a determined rating difference, so no interval is reported"
    )
    warnings.warn(
        f"{len(odd)} model(s) never lost, or never won, against some group of the others, so their "
        f"ratings are not determined by the votes (only bounded by regularisation; interval not determined): "
        f"{table.names(odd, 20)}; {scale}",
        RatingWarning,
        stacklevel=3,
    )


def _components(graph: Any, m: int) -> list[np.ndarray]:
    from scipy.sparse.csgraph import connected_components

    n_parts, labels = connected_components(graph, directed=False)
    order = np.argsort(labels, kind="stable")
    parts = np.split(order, np.cumsum(np.bincount(labels, minlength=n_parts))[:-1])
    return sorted(parts, key=lambda p: (-len(p), int(p[0])))


def _result_graph(table: BattleTable) -> Any:
    """Sparse graph with an edge i -> j when i beat or tied j at least once."""
    return result_graph(table.a, table.b, table.outcome, table.n_models)
