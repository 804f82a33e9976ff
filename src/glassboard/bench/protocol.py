"""Benchmark protocols as data: how a question is asked and how its answer is read, versioned and hashed.

A protocol is one TOML file (built in under bench/protocols/TASK/NAME.toml, or the user's `--protocol-file`): the
prompt templates, few-shot exemplars (read from a file in the hub's field names), option order, sampling
overrides, the extraction ladder, the answer normaliser and the unparsed rule. Its sha256 (over the parsed
content, so comments and whitespace do not count) is part of every run's log path and header, so a resumed run
never mixes protocols. This module owns the protocol record and its loading and checking; asking a question
under a protocol (few-shot exemplars, option order, the prompt text) lives in bench/protocol_render.py, scoring
under it in bench/protocol_score.py.
"""

from __future__ import annotations

import hashlib
import json
import re
import string
import tomllib
from dataclasses import dataclass, field, replace
from importlib import resources
from pathlib import Path
from typing import Any, Literal

from glassboard.models.types import ConfigError

DEFAULT_PROTOCOL = "glassboard"
Pick = Literal["first", "last"]
Normaliser = Literal["letter", "number", "string-nocomma", "exact", "math"]
Unparsed = Literal["wrong", "uniform-guess", "seeded-guess"]
Builtin = Literal["glassboard-strict", "glassboard-lenient", "last-boxed"]
NORMALISERS: tuple[str, ...] = ("letter", "number", "string-nocomma", "exact", "math")
UNPARSED: tuple[str, ...] = ("wrong", "uniform-guess", "seeded-guess")
BUILTIN_RUNGS: tuple[str, ...] = ("glassboard-strict", "glassboard-lenient", "last-boxed")
FLAGS = {"IGNORECASE": re.IGNORECASE, "MULTILINE": re.MULTILINE, "DOTALL": re.DOTALL}


class ProtocolError(ConfigError):
    """A protocol that cannot be used: unknown name, bad file, or a missing few-shot file; the message says which."""


@dataclass(frozen=True, slots=True)
class LadderRung:
    """One extraction step: an id, and either a regex (`pick` which match, `group` = the answer) or a built-in."""

    id: str
    regex: re.Pattern[str] | None = None
    pick: Pick = "first"
    group: int = 1
    builtin: Builtin | None = None


@dataclass(frozen=True, slots=True)
class FewShot:
    """How exemplars are chosen: the first `k` rows of the file (with the same `match` field value, if set)."""

    k: int
    needs: str  # what file is needed, in words, for the error message
    match: str | None = None
    replace: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True, slots=True)
class ExactMatch:
    """What an exact-match scorer removes from both answer and target before comparing (as HF `exact_match`)."""

    ignore: tuple[re.Pattern[str], ...] = ()  # regexes removed, in order
    ignore_case: bool = False
    ignore_punctuation: bool = False  # string.punctuation removed

    @property
    def active(self) -> bool:
        return bool(self.ignore) or self.ignore_case or self.ignore_punctuation

    def apply(self, value: str) -> str:
        for regex in self.ignore:
            value = regex.sub("", value)
        if self.ignore_case:
            value = value.lower()
        if self.ignore_punctuation:
            value = value.translate(_PUNCTUATION)
        return value


_PUNCTUATION = str.maketrans("", "", string.punctuation)


@dataclass(frozen=True, slots=True)
class Protocol:
    name: str
    task: str
    version: int
    status: Literal["verified", "unverified"]
    description: str
    source: dict[str, Any]
    header: str
    example: str
    question: str
    option: str
    option_join: str
    system: str | None
    shuffle: bool
    strip: bool  # strip whitespace around the question and options (glassboard's own prompts do)
    sampling: dict[str, Any]
    ladder: tuple[LadderRung, ...]
    normaliser: Normaliser
    unparsed: Unparsed
    seed: int
    fewshot: FewShot | None
    sha256: str
    path: str
    exact: ExactMatch = field(default_factory=lambda: ExactMatch())
    overrides: dict[str, Any] = field(default_factory=dict)

    @property
    def short_hash(self) -> str:
        return self.sha256[:12]

    @property
    def builtin(self) -> bool:
        return Path(self.path).parent.parent == protocol_dir() and not self.overrides

    @property
    def log_suffix(self) -> str:
        """Added to the run log's name: none for glassboard's own protocol (so older logs still resume)."""
        if self.name == DEFAULT_PROTOCOL and self.builtin:
            return ""
        return f"-{re.sub(r'[^A-Za-z0-9._-]+', '_', self.name)}-{self.short_hash}"

    def with_shuffle(self, shuffle: bool | None) -> Protocol:
        """The protocol with another option order: a different protocol, hence a different hash."""
        if shuffle is None or shuffle == self.shuffle:
            return self
        overrides = {**self.overrides, "shuffle": shuffle}
        digest = _digest({"base": self.sha256, "overrides": overrides})
        return replace(self, shuffle=shuffle, overrides=overrides, sha256=digest)

    def as_dict(self) -> dict[str, Any]:
        """What a run's JSON and log header say about the protocol."""
        data: dict[str, Any] = {"name": self.name, "version": self.version, "sha256": self.sha256,
                                "status": self.status, "source": self.source}
        if self.overrides:
            data["overrides"] = self.overrides
        return data


def protocol_dir() -> Path:
    return Path(str(resources.files("glassboard.bench") / "protocols"))


def available(task: str | None = None) -> list[Protocol]:
    """Every built-in protocol (for one task, or all), sorted by task then name (the default first)."""
    root = protocol_dir()
    paths = sorted(root.glob(f"{task}/*.toml" if task else "*/*.toml"))
    protocols = [load_file(p) for p in paths]
    return sorted(protocols, key=lambda p: (p.task, p.name != DEFAULT_PROTOCOL, p.name))


def get_protocol(task: str, name: str | None = None, path: Path | None = None) -> Protocol:
    """A protocol by name (built in for `task`) or from a file; the file must be for the same task."""
    if path is not None:
        protocol = load_file(path)
        if protocol.task != task:
            raise ProtocolError(f"{path}: protocol '{protocol.name}' is for task '{protocol.task}', not '{task}'")
        return protocol
    name = name or DEFAULT_PROTOCOL
    candidate = protocol_dir() / task / f"{name}.toml"
    if not re.fullmatch(r"[A-Za-z0-9._-]+", name) or not candidate.is_file():
        known = ", ".join(p.name for p in available(task)) or "(none)"
        raise ProtocolError(f"unknown protocol '{name}' for task {task}; built-in protocols: {known} "
                            "(or pass --protocol-file PATH)")
    return load_file(candidate)


def load_file(path: Path) -> Protocol:
    """Parse and check a protocol file; every error names the file and the field."""
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise ProtocolError(f"protocol file not found: {path}") from None
    except OSError as err:
        raise ProtocolError(f"cannot read protocol file {path}: {err}") from None
    try:
        data = tomllib.loads(raw.decode("utf-8-sig"))
    except (UnicodeDecodeError, tomllib.TOMLDecodeError) as err:
        raise ProtocolError(f"{path}: not a valid TOML protocol file ({err})") from None
    return parse_protocol(data, str(path))


def parse_protocol(data: dict[str, Any], where: str) -> Protocol:
    """A protocol from parsed TOML data; `where` names its file in every error."""
    def need(table: dict[str, Any], key: str, kind: type, prefix: str = "", default: Any = ...) -> Any:
        value = table.get(key, default)
        if value is ...:
            raise ProtocolError(f"{where}: missing field '{prefix}{key}'")
        if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
            raise ProtocolError(f"{where}: field '{prefix}{key}' must be {kind.__name__}, got {value!r}")
        return value

    known = {"name", "task", "version", "status", "description", "source", "prompt", "fewshot", "sampling",
             "ladder", "scoring"}
    unknown = sorted(set(data) - known)
    if unknown:
        raise ProtocolError(f"{where}: unknown field(s) {unknown}; known: {sorted(known)}")
    prompt = need(data, "prompt", dict)
    scoring = need(data, "scoring", dict)
    status = need(data, "status", str, default="verified")
    if status not in ("verified", "unverified"):
        raise ProtocolError(f"{where}: field 'status' must be 'verified' or 'unverified', got {status!r}")
    normaliser = need(scoring, "normaliser", str, "scoring.")
    if normaliser not in NORMALISERS:
        raise ProtocolError(f"{where}: field 'scoring.normaliser' must be one of {', '.join(NORMALISERS)}, "
                            f"got {normaliser!r}")
    unparsed = need(scoring, "unparsed", str, "scoring.", default="wrong")
    if unparsed not in UNPARSED:
        raise ProtocolError(f"{where}: field 'scoring.unparsed' must be one of {', '.join(UNPARSED)}, "
                            f"got {unparsed!r}")
    if unparsed != "wrong" and normaliser != "letter":
        raise ProtocolError(f"{where}: 'scoring.unparsed = {unparsed}' needs multiple choice (normaliser 'letter')")
    ladder = tuple(_rung(item, i, where) for i, item in enumerate(need(data, "ladder", list)))
    if not ladder:
        raise ProtocolError(f"{where}: field 'ladder' needs at least one rung")
    sampling = need(data, "sampling", dict, default={})
    bad = sorted(set(sampling) - {"temperature", "max_tokens", "top_p", "stop"})
    if bad:
        raise ProtocolError(f"{where}: unknown sampling override(s) {bad}; known: max_tokens, stop, temperature, "
                            "top_p")
    fewshot = None
    if "fewshot" in data:
        table = need(data, "fewshot", dict)
        pairs = need(table, "replace", list, "fewshot.", default=[])
        if not all(isinstance(p, list) and len(p) == 2 and all(isinstance(s, str) for s in p) for p in pairs):
            raise ProtocolError(f"{where}: field 'fewshot.replace' must be a list of [old, new] string pairs")
        fewshot = FewShot(k=need(table, "k", int, "fewshot."), needs=need(table, "needs", str, "fewshot."),
                          match=need(table, "match", str, "fewshot.", default=None) if "match" in table else None,
                          replace=tuple((a, b) for a, b in pairs))
        if fewshot.k < 1:
            raise ProtocolError(f"{where}: field 'fewshot.k' must be at least 1")
    protocol = Protocol(
        name=need(data, "name", str), task=need(data, "task", str), version=need(data, "version", int),
        status=status, description=need(data, "description", str, default=""),
        source=need(data, "source", dict),
        header=need(prompt, "header", str, "prompt.", default=""),
        example=need(prompt, "example", str, "prompt.", default=""),
        question=need(prompt, "question", str, "prompt."),
        option=need(prompt, "option", str, "prompt.", default="{letter}) {text}"),
        option_join=need(prompt, "option_join", str, "prompt.", default="\n"),
        system=need(prompt, "system", str, "prompt.", default="") or None,
        shuffle=need(prompt, "shuffle", bool, "prompt.", default=False),
        strip=need(prompt, "strip", bool, "prompt.", default=False),
        sampling=sampling, ladder=ladder, normaliser=normaliser, unparsed=unparsed,
        seed=need(scoring, "seed", int, "scoring.", default=0), fewshot=fewshot, sha256=_digest(data), path=where,
        exact=_exact(scoring, where, need),
    )
    if fewshot is not None and not protocol.example:
        raise ProtocolError(f"{where}: a [fewshot] table needs 'prompt.example' (how one exemplar is written)")
    _check_templates(protocol, where)
    return protocol


def _exact(scoring: dict[str, Any], where: str, need: Any) -> ExactMatch:
    patterns = need(scoring, "ignore", list, "scoring.", default=[])
    regexes = []
    for i, pattern in enumerate(patterns):
        try:
            regexes.append(re.compile(pattern))
        except (re.error, TypeError) as err:
            raise ProtocolError(f"{where}: scoring.ignore[{i}] is not a valid regex: {err}") from None
    return ExactMatch(tuple(regexes), need(scoring, "ignore_case", bool, "scoring.", default=False),
                      need(scoring, "ignore_punctuation", bool, "scoring.", default=False))


def _rung(item: Any, index: int, where: str) -> LadderRung:
    prefix = f"ladder[{index}]"
    if not isinstance(item, dict) or not isinstance(item.get("id"), str):
        raise ProtocolError(f"{where}: {prefix} must be a table with an 'id'")
    if "builtin" in item:
        if item["builtin"] not in BUILTIN_RUNGS:
            raise ProtocolError(f"{where}: {prefix}.builtin must be one of {', '.join(BUILTIN_RUNGS)}")
        return LadderRung(item["id"], builtin=item["builtin"])
    pattern, pick, group = item.get("regex"), item.get("pick", "first"), item.get("group", 1)
    if not isinstance(pattern, str) or pick not in ("first", "last") or not isinstance(group, int):
        raise ProtocolError(f"{where}: {prefix} needs 'regex' (a string), 'pick' ('first' or 'last') and an "
                            "integer 'group'")
    flags = 0
    for name in item.get("flags", []):
        if name not in FLAGS:
            raise ProtocolError(f"{where}: {prefix}.flags: unknown flag {name!r}; known: {', '.join(FLAGS)}")
        flags |= FLAGS[name]
    try:
        regex = re.compile(pattern, flags)
    except re.error as err:
        raise ProtocolError(f"{where}: {prefix}.regex does not compile: {err}") from None
    if group > regex.groups:
        raise ProtocolError(f"{where}: {prefix}.group {group} but the regex has {regex.groups} group(s)")
    return LadderRung(item["id"], regex, pick, group)


_FIELDS = {"question", "options", "letters", "category", "cot_content", "answer"}


def _check_templates(protocol: Protocol, where: str) -> None:
    for name in ("header", "example", "question", "option", "system"):
        template = getattr(protocol, name) or ""
        try:
            fields = {f for _, f, _, _ in string.Formatter().parse(template) if f is not None}
        except ValueError as err:
            raise ProtocolError(f"{where}: field 'prompt.{name}' is not a valid template ({err})") from None
        allowed = {"letter", "text"} if name == "option" else _FIELDS
        if fields - allowed:
            raise ProtocolError(f"{where}: field 'prompt.{name}' uses unknown placeholder(s) "
                                f"{sorted(fields - allowed)}; known: {sorted(allowed)}")


def _digest(data: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(data, sort_keys=True, ensure_ascii=False).encode()).hexdigest()
