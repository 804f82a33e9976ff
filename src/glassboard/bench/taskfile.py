"""Bring your own benchmark: a task declared in a TOML file (`--task-file mytask.toml`), so a new dataset needs no code.

The file names the data (JSONL/CSV/Parquet, read by bench.data with its per-row defect warnings and --strict-data),
the answer kind (`multiple-choice`, `exact-match` for numbers, or `math` for LaTeX answers), and a field mapping:
question, options (one list column) or choices (one column per option), answer (a letter, a 0-based index or the
option's text), id and cluster. Its default protocol is glassboard's prompt for that kind, unless `[prompt]` gives
another template; other protocols come with `--protocol-file`. Every error names the task file and the field.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

from glassboard.bench.data import DataIssues, Row, RowError, field, string_list, text
from glassboard.bench.extract import AnswerKind, clean_math, normalise_number
from glassboard.bench.tasks import LETTERS, Dataset, MultipleChoiceTask, Sample, Task, get_task
from glassboard.bench.tasks.gsm8k import TEMPLATE as NUMBER_TEMPLATE
from glassboard.bench.tasks.math500 import TEMPLATE as MATH_TEMPLATE
from glassboard.bench.tasks.mmlu_pro import TEMPLATE as CHOICE_TEMPLATE
from glassboard.models.types import ConfigError

KINDS: dict[str, AnswerKind] = {"multiple-choice": "letter", "exact-match": "number", "math": "math"}
ANSWER_FORMS = ("letter", "index", "text")
_TEMPLATES = {"letter": CHOICE_TEMPLATE, "number": NUMBER_TEMPLATE, "math": MATH_TEMPLATE}
_KNOWN = {"name", "kind", "data", "description", "fields", "prompt"}
_FIELDS = {"question", "options", "choices", "answer", "answer_form", "id", "cluster"}


class TaskFileError(ConfigError):
    """A task file that cannot be used; the message names the file and the field."""


@dataclass(frozen=True, slots=True)
class Mapping:
    question: str
    answer: str
    options: str | None = None
    choices: tuple[str, ...] = ()
    answer_form: str = "letter"
    id: str | None = None
    cluster: str | None = None


class FileTask(Task):
    """A task read from a task file: rows become Samples through the file's field mapping."""

    hub: ClassVar[Any] = None

    def __init__(self, name: str, kind: AnswerKind, mapping: Mapping, data: Path | None, template: str,
                 shuffle: bool, description: str, where: str) -> None:
        self.name = name  # type: ignore[misc]
        self.kind = kind  # type: ignore[misc]
        self.mapping, self.data, self.where = mapping, data, where
        self.template = template  # type: ignore[misc]
        self.description = description  # type: ignore[misc]
        self.shuffle = shuffle
        self.protocol_data: dict[str, Any] = {
            "name": "glassboard", "task": name, "version": 1, "status": "verified",
            "description": f"glassboard's prompt for a {kind} task declared in {where}",
            "source": {"repository": "glassboard", "file": where},
            "prompt": {"question": template, "strip": True, "shuffle": shuffle},
            "ladder": [{"id": "strict", "builtin": "glassboard-strict"}],
            "scoring": {"normaliser": kind, "unparsed": "wrong"}}

    def render(self, sample: Sample, epoch: int) -> Any:
        if self.kind == "letter":
            return MultipleChoiceTask.render(self, sample, epoch)  # type: ignore[arg-type]
        return super().render(sample, epoch)

    def load(self, path: Path | None = None, limit: int | None = None, *, strict: bool = False) -> Dataset:
        path = path or self.data
        if path is None:
            raise TaskFileError(f"{self.where}: no 'data' file named; add data = \"FILE\" or pass --data FILE")
        return super().load(path, limit, strict=strict)

    def parse_row(self, row: Row, issues: DataIssues) -> Sample:
        m = self.mapping
        question = field(row, m.question, text)
        sample_id = field(row, m.id, text, required=False) if m.id else None
        cluster = field(row, m.cluster, text, required=False) if m.cluster else None
        sample_id = sample_id or str(row.index)
        if self.kind != "letter":
            raw = field(row, m.answer, text).strip()
            target = normalise_number(raw) if self.kind == "number" else clean_math(raw)
            if target is None:
                what = "number" if self.kind == "number" else "math answer"
                raise RowError(row.where, f"field '{m.answer}' is not a {what}: {raw[:80]!r}")
            return Sample(id=sample_id, question=question, target=target, cluster=cluster)
        if m.options:
            options = [o.strip() for o in field(row, m.options, string_list)]
        else:
            options = [(field(row, c, text, required=False) or "").strip() for c in m.choices]
        if any(not o for o in options):
            raise RowError(row.where, "an option is empty (fields "
                                      f"{m.options or ', '.join(m.choices)})")
        if len(options) < 2 or len(options) > len(LETTERS):
            raise RowError(row.where, f"needs 2 to {len(LETTERS)} options, got {len(options)}")
        correct = _correct(row, m, options)
        return Sample(id=sample_id, question=question, target=options[correct], choices=tuple(options),
                      correct=correct, cluster=cluster)


def _correct(row: Row, m: Mapping, options: list[str]) -> int:
    value = field(row, m.answer, text).strip()
    if m.answer_form == "letter":
        letter = value.upper().strip("().")
        if len(letter) != 1 or letter not in LETTERS[: len(options)]:
            raise RowError(row.where, f"field '{m.answer}' must be a letter A-{LETTERS[len(options) - 1]}, "
                                      f"got {value!r}")
        return LETTERS.index(letter)
    if m.answer_form == "index":
        try:
            index = int(float(value))
        except ValueError:
            raise RowError(row.where, f"field '{m.answer}' must be an option index (0-based), got {value!r}") from None
        if not 0 <= index < len(options):
            raise RowError(row.where, f"field '{m.answer}' index {index} is outside the {len(options)} options")
        return index
    matches = [i for i, o in enumerate(options) if o == value]
    if len(matches) != 1:
        raise RowError(row.where, f"field '{m.answer}' ({value[:80]!r}) matches {len(matches)} options; it must "
                                  "be the text of exactly one")
    return matches[0]


def load_task_file(path: Path) -> FileTask:
    """Parse and check a task file; every error names the file and the field."""
    where = str(path)
    try:
        data = tomllib.loads(path.read_bytes().decode("utf-8-sig"))
    except FileNotFoundError:
        raise TaskFileError(f"task file not found: {path}") from None
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as err:
        raise TaskFileError(f"{where}: not a readable TOML task file ({err})") from None
    unknown = sorted(set(data) - _KNOWN)
    if unknown:
        raise TaskFileError(f"{where}: unknown field(s) {unknown}; known: {sorted(_KNOWN)}")
    name = _string(data, "name", where)
    kind_name = _string(data, "kind", where)
    if kind_name not in KINDS:
        raise TaskFileError(f"{where}: field 'kind' must be one of {', '.join(KINDS)}, got {kind_name!r}")
    kind = KINDS[kind_name]
    try:
        get_task(name)
    except ConfigError:
        pass
    else:
        raise TaskFileError(f"{where}: field 'name' {name!r} is a built-in task; choose another name")
    fields = data.get("fields")
    if not isinstance(fields, dict):
        raise TaskFileError(f"{where}: missing table [fields] (question, answer, options or choices, ...)")
    bad = sorted(set(fields) - _FIELDS)
    if bad:
        raise TaskFileError(f"{where}: unknown field(s) {['fields.' + b for b in bad]}; known: {sorted(_FIELDS)}")
    mapping = _mapping(fields, kind, where)
    prompt = data.get("prompt", {})
    if not isinstance(prompt, dict):
        raise TaskFileError(f"{where}: field 'prompt' must be a table")
    template = prompt.get("template", _TEMPLATES[kind])
    if not isinstance(template, str) or "{question}" not in template or (kind == "letter") != ("{options}" in
                                                                                                template):
        raise TaskFileError(f"{where}: field 'prompt.template' must be a string with {{question}}"
                            f"{' and {options}' if kind == 'letter' else ' (and no {options})'}")
    shuffle = prompt.get("shuffle", True)
    if not isinstance(shuffle, bool):
        raise TaskFileError(f"{where}: field 'prompt.shuffle' must be true or false")
    data_path = data.get("data")
    if data_path is not None and not isinstance(data_path, str):
        raise TaskFileError(f"{where}: field 'data' must be a file path (relative to the task file)")
    resolved = (path.parent / data_path) if data_path else None
    description = data.get("description", f"{kind_name} task from {where}")
    return FileTask(name, kind, mapping, resolved, template, shuffle, str(description), where)


def _string(table: dict[str, Any], key: str, where: str, prefix: str = "") -> str:
    value = table.get(key)
    if not isinstance(value, str) or not value.strip():
        raise TaskFileError(f"{where}: missing field '{prefix}{key}' (a non-empty string)")
    return value


def _mapping(fields: dict[str, Any], kind: AnswerKind, where: str) -> Mapping:
    def optional(key: str) -> str | None:
        return _string(fields, key, where, "fields.") if key in fields else None

    mapping = Mapping(question=_string(fields, "question", where, "fields."),
                      answer=_string(fields, "answer", where, "fields."), options=optional("options"),
                      id=optional("id"), cluster=optional("cluster"))
    if kind != "letter":
        if "options" in fields or "choices" in fields:
            raise TaskFileError(f"{where}: fields.options/choices are for kind = \"multiple-choice\" only")
        return mapping
    choices = fields.get("choices", [])
    if not isinstance(choices, list) or not all(isinstance(c, str) and c for c in choices):
        raise TaskFileError(f"{where}: field 'fields.choices' must be a list of column names")
    if bool(mapping.options) == bool(choices):
        raise TaskFileError(f"{where}: a multiple-choice task needs exactly one of 'fields.options' (a list "
                            "column) or 'fields.choices' (one column per option)")
    form = fields.get("answer_form", "letter")
    if form not in ANSWER_FORMS:
        raise TaskFileError(f"{where}: field 'fields.answer_form' must be one of {', '.join(ANSWER_FORMS)}, "
                            f"got {form!r}")
    return Mapping(mapping.question, mapping.answer, mapping.options, tuple(choices), form, mapping.id,
                   mapping.cluster)


def resolve_task(task: str | None, task_file: Path | None) -> Task:
    """The task named by --task, or declared by --task-file (exactly one of them)."""
    if task_file is not None:
        if task is not None:
            raise TaskFileError("pass --task or --task-file, not both")
        return load_task_file(task_file)
    if task is None:
        raise TaskFileError("pass --task NAME or --task-file FILE")
    return get_task(task)
