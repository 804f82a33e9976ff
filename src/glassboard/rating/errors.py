"""The error and warning types of glassboard.rating."""

from __future__ import annotations

from glassboard.schema import GlassboardError


class RatingError(GlassboardError, ValueError):
    """Bad input to the ratings library (file, rows, options); the message says what and where."""


class StyleNotIdentified(RatingError):
    """The votes do not determine the style-controlled fit (too few, collinear, or separated): report raw only."""


class RatingWarning(UserWarning):
    """Something the caller should know about a rating (e.g. a model with a single vote) that does not stop it."""
