"""Asking a question under a protocol: its few-shot exemplars, option order and prompt text.

A `Renderer` is what the runner calls instead of the task's own prompt: it turns a Sample into the exact text
(and chat messages) the protocol prescribes, with exemplars read once from the user's `--fewshot` file and chosen
once per category. The protocol record itself, and its loading and checking, live in bench/protocol.py.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from pathlib import Path

from glassboard.bench.data import DataError, Row, read_rows, string_list, text
from glassboard.bench.data import field as get
from glassboard.bench.protocol import DEFAULT_PROTOCOL, Protocol, ProtocolError, get_protocol, parse_protocol
from glassboard.bench.tasks import LETTERS, Prompt, Sample, Task, prompt_hash, shuffle_seed


@dataclass(frozen=True, slots=True)
class Exemplar:
    question: str
    options: tuple[str, ...]
    cot_content: str
    category: str | None


def load_fewshot(protocol: Protocol, path: Path | None) -> list[Exemplar]:
    """The exemplar rows a protocol needs (none when it has no [fewshot] table); a clear error when missing."""
    if protocol.fewshot is None:
        return []
    if path is None:
        raise ProtocolError(f"protocol '{protocol.name}' for {protocol.task} needs {protocol.fewshot.k}-shot "
                            f"exemplars: pass --fewshot FILE with {protocol.fewshot.needs}")
    try:
        rows, _ = read_rows(path)
    except DataError as err:
        raise ProtocolError(f"--fewshot: {err}") from None
    return [_exemplar(row) for row in rows]


def _exemplar(row: Row) -> Exemplar:
    options = get(row, "options", string_list, required=False) or []
    return Exemplar(question=get(row, "question", text), options=tuple(o for o in options if o != "N/A"),
                    cot_content=get(row, "cot_content", text, required=False) or
                    get(row, "answer", text, required=False) or "",
                    category=get(row, "category", text, required=False))


@dataclass
class Renderer:
    """Renders samples under a protocol; exemplars are chosen once per category."""

    protocol: Protocol
    task: Task
    exemplars: list[Exemplar] = field(default_factory=list)
    _shots: dict[str | None, str] = field(default_factory=dict)

    def shots(self, category: str | None) -> str:
        if category not in self._shots:
            spec = self.protocol.fewshot
            chosen: list[Exemplar] = []
            if spec is not None:
                pool = [e for e in self.exemplars if spec.match is None or e.category == category]
                if len(pool) < spec.k:
                    raise ProtocolError(f"--fewshot file has {len(pool)} exemplar(s) for category {category!r}; "
                                        f"protocol '{self.protocol.name}' needs {spec.k}")
                chosen = pool[: spec.k]
            parts = []
            for exemplar in chosen:
                cot = exemplar.cot_content
                for old, new in spec.replace if spec else ():
                    cot = cot.replace(old, new)
                options = self._options(exemplar.options, list(range(len(exemplar.options))))
                parts.append(self.protocol.example.format(question=exemplar.question, options=options,
                                                          cot_content=cot, category=category or "",
                                                          letters=LETTERS[: len(exemplar.options)], answer=cot))
            self._shots[category] = "".join(parts)
        return self._shots[category]

    def _options(self, choices: tuple[str, ...], order: list[int]) -> str:
        strip = self.protocol.strip
        return self.protocol.option_join.join(
            self.protocol.option.format(letter=LETTERS[i], text=choices[j].strip() if strip else choices[j])
            for i, j in enumerate(order))

    def render(self, sample: Sample, epoch: int) -> Prompt:
        protocol = self.protocol
        question = sample.question.strip() if protocol.strip else sample.question
        fields: dict[str, str] = {"question": question, "category": sample.cluster or "",
                                  "options": "", "letters": "", "cot_content": "", "answer": ""}
        letters, target = "", sample.target
        if sample.choices:
            if sample.correct is None:
                raise DataError(f"sample {sample.id}: multiple choice without a correct option")
            order = list(range(len(sample.choices)))
            if protocol.shuffle:
                random.Random(shuffle_seed(sample.id, epoch)).shuffle(order)
            letters = LETTERS[: len(order)]
            fields["options"] = self._options(sample.choices, order)
            fields["letters"] = letters
            target = letters[order.index(sample.correct)]
        text_ = (protocol.header.format(**fields) + self.shots(sample.cluster) + protocol.question.format(**fields))
        digest = prompt_hash(text_ if protocol.system is None else f"{protocol.system}\x00{text_}")
        return Prompt(sample, epoch, text_, target, letters, digest)

    def messages(self, prompt: Prompt) -> str | list[dict[str, str]]:
        if self.protocol.system is None:
            return prompt.text
        return [{"role": "system", "content": self.protocol.system}, {"role": "user", "content": prompt.text}]


def prepare(task: Task, name: str | None = None, path: Path | None = None, fewshot: Path | None = None,
            shuffle: bool | None = None) -> Renderer:
    """The renderer for `task` under a protocol (by name or file), with its exemplars and option-order override."""
    if path is None and (name or DEFAULT_PROTOCOL) == DEFAULT_PROTOCOL and task.protocol_data is not None:
        protocol = parse_protocol(task.protocol_data, str(task.protocol_data["source"]["file"])).with_shuffle(shuffle)
    else:
        protocol = get_protocol(task.name, name, path).with_shuffle(shuffle)
    multiple_choice = task.kind == "letter"
    if multiple_choice != (protocol.normaliser == "letter") or multiple_choice != ("{options}" in protocol.question):
        raise ProtocolError(f"{protocol.path}: protocol '{protocol.name}' does not fit task {task.name} (a "
                            f"{'multiple-choice' if multiple_choice else task.kind} task: "
                            f"{'needs' if multiple_choice else 'has no'} {{options}} and normaliser 'letter')")
    return Renderer(protocol, task, load_fewshot(protocol, fewshot))
