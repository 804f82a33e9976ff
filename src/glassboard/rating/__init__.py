"""Ratings: battle logs, Elo, Bradley-Terry with style control and confidence intervals (no server imports).

The public names below are imported lazily (PEP 562), so `import glassboard.rating` stays cheap for the CLI.
The leaderboard function lives at `glassboard.rating.leaderboard.leaderboard` (its module has the same name).
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "WINNERS": "battles",
    "Battle": "battles",
    "compute_conv_metadata": "battles",
    "load_battles": "battles",
    "write_battles": "battles",
    "style_counts": "textstats",
    "BattleTable": "table",
    "RatingError": "errors",
    "RatingWarning": "errors",
    "Ratings": "result",
    "SCALE": "result",
    "FEATURES": "features",
    "fit_bt": "bt",
    "fit_style": "style",
    "fit_elo": "elo",
    "Leaderboard": "leaderboard",
    "synthetic_battles": "synth",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        value = getattr(importlib.import_module(f"{__name__}.{_EXPORTS[name]}"), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted([*globals(), *_EXPORTS])
