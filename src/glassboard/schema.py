"""The shared vocabulary of glassboard: the one error root and the names every layer agrees on.

This module sits below every other one (it imports nothing from glassboard). What lives here is what crosses layers:
LMArena's battle columns, winner labels and outcome codes, the arena's battle statuses, and `GlassboardError`, the
root of every error glassboard raises on purpose (so a caller catches one type and prints its message). Typed
records that cross layers (the battle row, run records, reports) are defined next to this vocabulary or import it;
nothing else defines these names a second time.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from typing import Any, Final, Literal, Self


class GlassboardError(Exception):
    """Root of glassboard's own errors: the message is meant for a person and names the file, row, field or URL."""


# LMArena's vote-release columns, in file order. One battle record carries exactly these names from the arena to
# the store, to exports and to the rating library (extra columns such as `judge` or `turn` ride along untouched).
BATTLE_COLUMNS: Final = (
    "model_a", "model_b", "winner", "tstamp", "conversation_a", "conversation_b",
    "conv_metadata", "category", "language", "voter", "flags",
)

Winner = Literal["model_a", "model_b", "tie", "tie (bothbad)"]
# The four labels of LMArena's releases. "tie (bothbad)" is a tie in which the voter disliked both answers.
WINNERS: Final[tuple[Winner, ...]] = ("model_a", "model_b", "tie", "tie (bothbad)")
# Spellings seen in other public arena exports, accepted on read and normalised to the labels above.
WINNER_ALIASES: Final = {"both_bad": "tie (bothbad)", "bothbad": "tie (bothbad)", "tie(bothbad)": "tie (bothbad)"}

# Outcome codes, from model_a's point of view (the rating library's arrays use these).
A_WINS, B_WINS, TIE, BOTHBAD = 0, 1, 2, 3
OUTCOME_CODES: Final = {"model_a": A_WINS, "model_b": B_WINS, "tie": TIE, "tie (bothbad)": BOTHBAD}

BattleStatus = Literal["streaming", "ready", "failed", "voted"]
# A battle's life in the arena: answers streaming -> ready to vote (or failed) -> voted.
BATTLE_STATUSES: Final[tuple[BattleStatus, ...]] = ("streaming", "ready", "failed", "voted")

# Flag set on a vote whose answers named a model, vendor or provider (kept and exported, not rated).
IDENTITY_FLAG: Final = "identity_revealed"


class RecordError(GlassboardError, ValueError):
    """A JSON record that does not have the shape of a glassboard record; the message names the field."""


# --- typed records that cross layers -------------------------------------------------------------------------------
# Each has `to_json()` (the dict written to files and sent over HTTP, field names and order unchanged) and
# `from_json()` (validating: a wrong or missing field raises RecordError naming it; the caller adds file and line).

SampleStatus = Literal["ok", "error"]


def _field(data: Mapping[str, Any], name: str, kinds: type | tuple[type, ...], *, optional: bool = False) -> Any:
    """`data[name]` checked against `kinds` (bool is never accepted as a number); None allowed when optional."""
    value = data.get(name)
    if value is None:
        if optional:
            return None
        raise RecordError(f"field '{name}' is missing")
    if not isinstance(value, kinds) or (isinstance(value, bool) and bool not in _as_tuple(kinds)):
        expected = " or ".join(k.__name__ for k in _as_tuple(kinds))
        raise RecordError(f"field '{name}' must be {expected}, got {type(value).__name__} {value!r:.40}")
    return value


def _as_tuple(kinds: type | tuple[type, ...]) -> tuple[type, ...]:
    return kinds if isinstance(kinds, tuple) else (kinds,)


@dataclass(frozen=True, slots=True)
class Reading:
    """One scoring (strict or lenient) of one response: the extracted answer, the pattern that found it, right?"""

    answer: str | None
    pattern: str | None
    correct: bool

    def to_json(self) -> dict[str, Any]:
        return {"answer": self.answer, "pattern": self.pattern, "correct": self.correct}

    @classmethod
    def from_json(cls, data: Any, name: str = "reading") -> Reading:
        if not isinstance(data, Mapping):
            raise RecordError(f"field '{name}' must be an object with answer, pattern and correct")
        return cls(_field(data, "answer", str, optional=True), _field(data, "pattern", str, optional=True),
                   bool(_field(data, "correct", bool)))


@dataclass(frozen=True, slots=True)
class Scored:
    """Both readings of one response and whether the strict format was followed (what the scorer adds)."""

    format_ok: bool
    strict: Reading
    lenient: Reading

    def to_json(self) -> dict[str, Any]:
        return {"format_ok": self.format_ok, "strict": self.strict.to_json(), "lenient": self.lenient.to_json()}


@dataclass(frozen=True, slots=True)
class SampleError:
    """Why a sample has no response: the model layer's error kind, its message and the HTTP status if any."""

    kind: str
    message: str
    status: int | None = None

    def to_json(self) -> dict[str, Any]:
        return {"kind": self.kind, "message": self.message, "status": self.status}

    @classmethod
    def from_json(cls, data: Any) -> SampleError:
        if not isinstance(data, Mapping):
            raise RecordError("field 'error' must be an object with kind, message and status")
        return cls(str(data.get("kind") or "unknown"), str(data.get("message") or ""),
                   _field(data, "status", int, optional=True))


@dataclass(frozen=True, slots=True)
class SampleRecord:
    """One line of a run log: one (sample, epoch) sent to one variant, with its response and scores or its error.

    Written by the bench runner; read by the run summary, the Inspect export and the provider audit. An "ok"
    record has the response fields and `scored`; an "error" record has `error` instead.
    """

    variant: str  # variant id
    task: str
    id: str
    epoch: int
    prompt_hash: str
    status: SampleStatus
    target: str
    letters: str = ""
    cluster: str | None = None
    prompt: str = ""
    response: str | None = None
    finish_reason: str | None = None
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    latency_s: float | None = None
    scorer: str | None = None  # the scorer version that produced `scored`
    scored: Scored | None = None
    error: SampleError | None = None
    time: float | None = None  # when it was written (seconds since the epoch)

    @property
    def ok(self) -> bool:
        return self.status == "ok"

    @property
    def key(self) -> tuple[str, int, str]:
        """(sample id, epoch, prompt hash): the identity of a record within its log."""
        return (self.id, self.epoch, self.prompt_hash)

    def reading(self, scoring: Literal["strict", "lenient"]) -> Reading:
        """The strict or lenient reading of an ok record (RecordError for an error record)."""
        if self.scored is None:
            raise RecordError(f"sample '{self.id}' epoch {self.epoch} has no score (status {self.status})")
        return self.scored.strict if scoring == "strict" else self.scored.lenient

    def to_json(self) -> dict[str, Any]:
        """The run-log line: "type" first (a torn line is recognised by its start), fields in the runner's order."""
        out: dict[str, Any] = {
            "type": "sample", "variant": self.variant, "task": self.task, "id": self.id, "epoch": self.epoch,
            "prompt_hash": self.prompt_hash, "status": self.status, "target": self.target, "letters": self.letters,
            "cluster": self.cluster, "prompt": self.prompt,
        }
        if self.error is not None:
            out["error"] = self.error.to_json()
        if self.status == "ok":
            out.update(response=self.response, finish_reason=self.finish_reason, prompt_tokens=self.prompt_tokens,
                       completion_tokens=self.completion_tokens, latency_s=self.latency_s, scorer=self.scorer)
            if self.scored is not None:
                out.update(self.scored.to_json())
        out["time"] = self.time
        return out

    @classmethod
    def from_json(cls, data: Any) -> SampleRecord:
        if not isinstance(data, Mapping):
            raise RecordError("a sample record must be a JSON object")
        status = _field(data, "status", str)
        if status not in ("ok", "error"):
            raise RecordError(f"field 'status' must be 'ok' or 'error', got {status!r:.40}")
        sample_id = _field(data, "id", (str, int))
        scored = None
        if status == "ok" and data.get("strict") is not None and data.get("lenient") is not None:
            scored = Scored(bool(data.get("format_ok")), Reading.from_json(data["strict"], "strict"),
                            Reading.from_json(data["lenient"], "lenient"))
        latency = _field(data, "latency_s", (int, float), optional=True)
        when = _field(data, "time", (int, float), optional=True)
        return cls(
            variant=str(data.get("variant") or ""), task=str(data.get("task") or ""), id=str(sample_id),
            epoch=_field(data, "epoch", int), prompt_hash=_field(data, "prompt_hash", str), status=status,
            target=str(_field(data, "target", (str, int, float))), letters=_field(data, "letters", str, optional=True)
            or "", cluster=_field(data, "cluster", str, optional=True), prompt=str(data.get("prompt") or ""),
            response=_field(data, "response", str, optional=status != "ok"),
            finish_reason=_field(data, "finish_reason", str, optional=True),
            prompt_tokens=_field(data, "prompt_tokens", int, optional=True),
            completion_tokens=_field(data, "completion_tokens", int, optional=True),
            latency_s=None if latency is None else float(latency), scorer=_field(data, "scorer", str, optional=True),
            scored=scored, error=SampleError.from_json(data["error"]) if data.get("error") is not None else None,
            time=None if when is None else float(when),
        )


@dataclass(frozen=True, slots=True)
class StyleStanding:
    """A model's place on the style-controlled board (see LeaderboardRow)."""

    rating: float | None
    ci_low: float | None
    ci_high: float | None
    rank: int
    rank_ub: int
    rank_shift: int  # raw Rank(UB) minus style Rank(UB): positive when the model climbs under style control


@dataclass(frozen=True, slots=True)
class LeaderboardRow:
    """One model on the leaderboard: raw rating, 95% interval (None = not determined by the votes), ranks, votes;
    the style-controlled standing when style control ran, and the online Elo when asked for."""

    model: str
    rating: float | None
    ci_low: float | None
    ci_high: float | None
    rank: int
    rank_ub: int
    votes: int
    style: StyleStanding | None = None
    elo: float | None = None

    def to_json(self) -> dict[str, Any]:
        """The row as JSON: ROW_KEYS, then the style_* keys and rank_shift with style control, then elo."""
        out: dict[str, Any] = {
            "model": self.model, "rating": self.rating, "ci_low": self.ci_low, "ci_high": self.ci_high,
            "rank": self.rank, "rank_ub": self.rank_ub, "votes": self.votes,
        }
        if self.style is not None:
            s = self.style
            out.update(style_rating=s.rating, style_ci_low=s.ci_low, style_ci_high=s.ci_high, style_rank=s.rank,
                       style_rank_ub=s.rank_ub, rank_shift=s.rank_shift)
        if self.elo is not None:
            out["elo"] = self.elo
        return out

    @classmethod
    def from_json(cls, data: Any) -> LeaderboardRow:
        if not isinstance(data, Mapping):
            raise RecordError("a leaderboard row must be a JSON object")
        num = (int, float)
        style = None
        if "style_rating" in data:
            style = StyleStanding(
                _opt_float(data, "style_rating"), _opt_float(data, "style_ci_low"), _opt_float(data, "style_ci_high"),
                _field(data, "style_rank", int), int(data.get("style_rank_ub") or _field(data, "style_rank", int)),
                int(data.get("rank_shift") or 0),
            )
        elo = _field(data, "elo", num, optional=True)
        return cls(
            model=_field(data, "model", str), rating=_opt_float(data, "rating"), ci_low=_opt_float(data, "ci_low"),
            ci_high=_opt_float(data, "ci_high"), rank=_field(data, "rank", int),
            rank_ub=int(data.get("rank_ub") or _field(data, "rank", int)), votes=int(data.get("votes") or 0),
            style=style, elo=None if elo is None else float(elo),
        )


def _opt_float(data: Mapping[str, Any], name: str) -> float | None:
    value = _field(data, name, (int, float), optional=True)
    return None if value is None else float(value)


# --- typed audit reports ---------------------------------------------------------------------------------------------
# Every audit returns a frozen dataclass derived from JsonRecord: `to_json()` is the document `audit ... --json`
# writes (fields in declaration order, which is the order of the files written before these types existed) and
# `from_json()` reads one back, validated by pydantic (already installed with FastAPI) so a wrong field's path is
# named. Reports read by more than one layer (the selection report: audit, arena, cli) are defined here; the others
# next to their audit.


def to_jsonable(value: Any) -> Any:
    """`value` with every JsonRecord replaced by its `to_json()` (lists and dict values recursively)."""
    if isinstance(value, JsonRecord):
        return value.to_json()
    if isinstance(value, list | tuple):
        return [to_jsonable(v) for v in value]
    if isinstance(value, dict):
        return {k: to_jsonable(v) for k, v in value.items()}
    return value


OMIT_IF_NONE: Final = "omit_if_none"


def shallow_fields(record: Any) -> dict[str, Any]:
    """A dataclass's fields by name, values as they are (dataclasses.asdict would turn nested records into dicts):
    a flat report takes an inner result's fields with `Report(**shallow_fields(result), ...)`."""
    return {f.name: getattr(record, f.name) for f in fields(record) if f.init}


def omitted_if_none() -> Any:
    """A field (default None) that `to_json()` leaves out while None: a key some documents have and others lack."""
    return field(default=None, metadata={OMIT_IF_NONE: True})


class JsonRecord:
    """Base of the typed reports: `to_json()` by field order, `from_json()` validating (RecordError names the path)."""

    __slots__ = ()

    def to_json(self) -> dict[str, Any]:
        return {f.name: to_jsonable(value) for f in fields(self)  # type: ignore[arg-type]
                if (value := getattr(self, f.name)) is not None or not f.metadata.get(OMIT_IF_NONE)}

    @classmethod
    def from_json(cls, data: Any) -> Self:
        from pydantic import TypeAdapter, ValidationError

        try:
            return TypeAdapter(cls).validate_python(data)
        except ValidationError as err:
            first = err.errors()[0]
            where = ".".join(str(part) for part in first["loc"]) or "<document>"
            raise RecordError(f"{cls.__name__}: field '{where}': {first['msg']}") from None


@dataclass(frozen=True, slots=True)
class SelectionVariant(JsonRecord):
    """One variant in the selection audit: its release status and rating with standard error (None: not rated)."""

    model: str
    public: bool
    rating: float | None
    se: float | None


@dataclass(frozen=True, slots=True)
class ProviderReport(JsonRecord):
    """One provider in the selection audit: variants tested, best-of-N bias of its top one, its battle share."""

    provider: str
    public: int
    unreleased: int
    tested: int
    rated: int
    slots: int
    expected_slots: float
    variants: list[SelectionVariant]
    top: str | None = None
    top_rating: float | None = None
    expected_max_z: float | None = None
    bias_if_equal: float | None = None
    bias: float | None = None
    corrected: float | None = None
    share: float | None = None
    intended_share: float | None = None
    z: float | None = None
    p_value: float | None = None
    flag: str | None = None  # "over-sampled" | "under-sampled" | None


@dataclass(frozen=True, slots=True)
class Fairness(JsonRecord):
    """The chi-square test of battle shares against the uniform sampler's, and the providers flagged."""

    chi2: float | None
    df: int
    p_value: float | None
    alpha: float
    flagged: list[str] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class SelectionReport(JsonRecord):
    """`audit selection`: per provider best-of-N bias and battle share (read by the CLI and the arena)."""

    audit: Literal["selection"] = field(default="selection", init=False)
    source: str
    battles: int
    models: int
    center: float
    providers: list[ProviderReport]
    fairness: Fairness
    warnings: list[str] = field(default_factory=list)
