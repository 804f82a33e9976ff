"""Contamination probes on multiple-choice benchmarks: TS-Guessing, option-order shuffle and Min-K%++."""

from __future__ import annotations

import hashlib
import math
import random
import re
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from glassboard.audit.contamination_report import (
    ContaminationData,
    ContaminationReport,
    ContaminationSettings,
    GapVsReference,
    GuessRecord,
    LetterBias,
    MinKProbe,
    MinKRecord,
    Probes,
    ShuffleProbe,
    ShuffleRecord,
    SkippedProbe,
    TsGuessing,
)
from glassboard.models.types import ConfigError, ModelError

Progress = Callable[[int], None]
LETTERS = "ABCDEFGHIJKLMNOP"
PROBES = ("ts_guessing", "shuffle", "min_k")

CAVEATS = (
    "These probes look for signs that benchmark items were seen (in training or in the served context); they "
    "cannot prove contamination and a clean result does not prove its absence.",
    "TS-Guessing: a model can legitimately guess a wrong option that is obvious from the question (a planet "
    "among planets); the baseline is the same guesses matched against other questions' options, or a reference "
    "model given with --reference.",
    "Option shuffle: a model with a strong letter preference gains or loses accuracy when the correct letter "
    "moves, with or without contamination; the probe is skipped when every canonical answer has the same letter.",
    "Min-K%++ and other membership-inference scores are weak evidence: their accuracy is close to chance on many "
    "real pre-training corpora, and the control items (the same item with its options re-ordered) only control "
    "for verbatim order, not for the topic being familiar.",
    "The probes need multiple-choice items (MMLU-Pro / GPQA shapes); a tiny model is a noisy detector, so treat "
    "'no signal' on a few dozen items as 'not enough evidence', not as clean.",
)

TS_TEMPLATE = """Here is a multiple-choice question in which one option has been replaced by [MASK].

Question: {question}
{options}

What is the exact text of option {letter}? Reply with that option only."""

# The item in the plain layout of a leaked test file, ending at "Answer:": a model that memorised (or has in its
# context) the item in its published order tends to continue with the published letter.
ANSWER_TEMPLATE = """Question: {question}
{options}
Answer:"""

MINK_REQUEST = "Write a multiple-choice question with its options and the letter of the correct answer."


@dataclass
class ContaminationOptions:
    """Budget and settings; temperature 0 for every generation (the probes compare single best answers)."""

    shuffles: int = 2  # shuffled orders per item for the shuffle probe
    controls: int = 2  # re-ordered control versions per item for Min-K%++
    k: float = 0.2  # Min-K%++ keeps this fraction of the lowest token z-scores
    guess_tokens: int = 24
    answer_tokens: int = 6  # the letter comes first ("C) Jupiter"); the lenient extractor reads it
    seed: int = 0
    min_rate: float = 0.25  # TS-Guessing is flagged only above this exact-match rate (and above its baseline)
    margin: float = 0.15  # Min-K%++: smallest item - control gap (in z units) flagged without a reference
    probes: tuple[str, ...] = PROBES
    reference: str | None = None  # a clean model for baselines (e.g. the released weights)

    def validate(self) -> None:
        unknown = sorted(set(self.probes) - set(PROBES))
        if unknown or not self.probes:
            raise ConfigError(f"unknown probe(s) {unknown}; known probes: {', '.join(PROBES)}")
        if self.shuffles < 1 or self.controls < 1 or self.guess_tokens < 1 or self.answer_tokens < 1:
            raise ConfigError("--shuffles, --controls and the token budgets must be at least 1")
        if not 0 < self.k <= 1:
            raise ConfigError(f"k must be in (0, 1], got {self.k}")


def _rng(seed: int, *parts: object) -> random.Random:
    digest = hashlib.sha256(":".join(map(str, (seed, *parts))).encode()).digest()
    return random.Random(int.from_bytes(digest[:8], "big"))


def format_options(choices: Sequence[str], order: Sequence[int], masked: int | None = None) -> str:
    """Options as "A) text" lines in `order`; the option with data index `masked` shows "[MASK]"."""
    return "\n".join(
        f"{LETTERS[pos]}) {'[MASK]' if idx == masked else choices[idx].strip()}" for pos, idx in enumerate(order)
    )


def moved_order(n: int, correct: int, rng: random.Random) -> list[int]:
    """A random order of n options in which the correct option is not at its canonical position."""
    order = list(range(n))
    for _ in range(100):
        rng.shuffle(order)
        if order.index(correct) != correct:
            return order
    order = list(range(n))
    order[correct], order[(correct + 1) % n] = order[(correct + 1) % n], order[correct]
    return order


def option_line(text: str, letter: str) -> str:
    """The model's guess: the line labelled with the masked letter if the reply lists options, else its first line."""
    lines = [part for part in text.strip().splitlines() if part.strip()]
    labelled = [line for line in lines if re.match(rf"^\s*\(?{letter}\)?\s*[:.)]\s*\S", line)]
    return labelled[0] if labelled else (lines[0] if lines else "")


def normalise_option(text: str) -> str:
    """Lower-case words of the first line, without a leading option label, quotes or final punctuation."""
    line = next((part for part in text.strip().splitlines() if part.strip()), "")
    line = re.sub(r"^\s*(?:option\s+)?\(?[A-P]\)?\s*[:.)]\s+", "", line, flags=re.IGNORECASE)
    line = re.sub(r"^\s*(?:option\s+[A-P]\s+is\s*:?|the\s+(?:missing\s+)?option\s+is\s*:?)\s*", "", line, flags=re.I)
    line = line.strip().strip("\"'“”‘’`*").strip()
    line = re.sub(r"[.!?;,]+$", "", line)
    return re.sub(r"\s+", " ", line).lower()


def wilson(hits: int, n: int, z: float = 1.96) -> tuple[float | None, float | None]:
    """95% Wilson score interval of a rate (sound at 0 and n, unlike mean +- 1.96 SE)."""
    if n == 0:
        return None, None
    p = hits / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return max(0.0, centre - half), min(1.0, centre + half)


def _mc_items(samples: Sequence[Any]) -> list[Any]:
    items = [s for s in samples if getattr(s, "correct", None) is not None and len(s.choices) >= 2]
    if not items:
        raise ConfigError("the contamination probes need a multiple-choice task (e.g. mmlu-pro or gpqa-diamond)")
    return items


async def _answer(model: Any, prompt: str, max_tokens: int) -> str:
    try:
        return (await model.complete(prompt, temperature=0.0, max_tokens=max_tokens, seed=0)).text
    except ModelError as err:
        if err.kind == "empty":
            return ""
        raise


# ------------------------------------------------------------------------------------------------- probes
async def ts_guessing(model: Any, items: Sequence[Any], options: ContaminationOptions, progress: Progress | None
                      ) -> list[GuessRecord]:
    """Mask one wrong option (data order) and ask for it back; exact match after normalisation."""
    records = []
    for sample in items:
        wrong = [i for i in range(len(sample.choices)) if i != sample.correct]
        if len(sample.choices) < 3:  # with two options the question alone gives too little context
            continue
        masked = _rng(options.seed, "ts", sample.id).choice(wrong)
        order = list(range(len(sample.choices)))
        prompt = TS_TEMPLATE.format(
            question=sample.question.strip(), options=format_options(sample.choices, order, masked),
            letter=LETTERS[masked],
        )
        guess = await _answer(model, prompt, options.guess_tokens)
        target = normalise_option(sample.choices[masked])
        guess = option_line(guess, LETTERS[masked])
        records.append(GuessRecord(sample.id, sample.choices[masked], guess.strip()[:200],
                                   normalise_option(guess) == target and bool(target)))
        if progress:
            progress(1)
    return records


def ts_summary(records: Sequence[GuessRecord], min_rate: float, reference: float | None) -> TsGuessing:
    """Exact-match rate, its Wilson interval, the cross-item baseline and a verdict."""
    n = len(records)
    hits = sum(r.match for r in records)
    low, high = wilson(hits, n)
    masked = {r.id: normalise_option(r.masked) for r in records}
    guesses = [(r.id, normalise_option(r.guess)) for r in records]
    # Baseline: how often a guess equals the masked option of a *different* question (coincidental matches).
    cross = [g == masked[j] for i, g in guesses for j in masked if j != i]
    baseline = float(np.mean(cross)) if cross else 0.0
    rate = hits / n if n else None
    bar = max(baseline, reference or 0.0)
    signal = rate is not None and low is not None and rate >= min_rate and low > bar
    return TsGuessing(
        probe="TS-Guessing (Deng et al. 2024): restore a masked wrong option",
        items=n, exact_match=hits, rate=rate, ci_low=low, ci_high=high,
        baseline=baseline, baseline_kind="guesses matched against other questions' masked options",
        reference_rate=reference, min_rate=min_rate,
        verdict="signal" if signal else "no signal",
        rule="signal when the rate is at least min_rate and its 95% Wilson lower bound exceeds the baseline "
        "(and the reference model's rate, when given)",
        records=list(records),
    )


async def shuffle_probe(model: Any, items: Sequence[Any], options: ContaminationOptions, progress: Progress | None
                      ) -> list[ShuffleRecord]:
    """Answer each item in data order and in `shuffles` orders that move the correct option (temperature 0)."""
    from glassboard.bench.extract import lenient

    records = []
    for sample in items:
        n = len(sample.choices)
        orders = [list(range(n))] + [
            moved_order(n, sample.correct, _rng(options.seed, "shuffle", sample.id, s)) for s in range(options.shuffles)
        ]
        scores, answers = [], []
        for order in orders:
            prompt = ANSWER_TEMPLATE.format(question=sample.question.strip(),
                                            options=format_options(sample.choices, order))
            text = await _answer(model, prompt, options.answer_tokens)
            letter = lenient(text, "letter", LETTERS[:n]).answer
            answers.append(letter)
            scores.append(1.0 if letter == LETTERS[order.index(sample.correct)] else 0.0)
            if progress:
                progress(1)
        records.append(ShuffleRecord(sample.id, scores[0], float(np.mean(scores[1:])), answers,
                                     LETTERS[sample.correct]))
    return records


def shuffle_summary(records: Sequence[ShuffleRecord], reference: ShuffleProbe | None = None
                    ) -> ShuffleProbe | SkippedProbe:
    """Canonical minus shuffled accuracy with a paired 95% CI (bench.stats); signal when the CI excludes 0."""
    from glassboard.bench.stats import paired_difference

    name = "option-order shuffle: accuracy in data order vs orders that move the answer"
    if len({r.canonical_letter for r in records}) < 2:
        return SkippedProbe(probe=name, items=len(records),
                            reason="every canonical answer has the same letter: position bias cannot be told apart")
    diff = paired_difference({r.id: r.canonical for r in records}, {r.id: r.shuffled for r in records})
    low, high = diff.diff.ci_low, diff.diff.ci_high
    answered = [a for r in records for a in r.answers if a]
    # The most answered letter; a tie goes to the earlier letter (a set's order varies with the hash seed).
    top = min(set(answered), key=lambda letter: (-answered.count(letter), letter)) if answered else None
    return ShuffleProbe(
        probe=name, items=len(records),
        canonical_accuracy=diff.mean_a, shuffled_accuracy=diff.mean_b, drop=diff.diff.mean,
        ci_low=low, ci_high=high, baseline=0.0, baseline_kind="no drop expected for an uncontaminated model",
        reference_drop=reference.drop if reference else None,
        letter_bias=LetterBias(top, answered.count(top) / len(answered) if top is not None else None),
        verdict="signal" if low is not None and low > 0 else "no signal",
        rule="signal when the 95% CI of the paired accuracy drop (canonical - shuffled) is above 0",
        records=list(records),
    )


def item_text(sample: Any, order: Sequence[int]) -> str:
    """The item as it would appear in a leaked test file: question, options and the answer letter."""
    options = format_options(sample.choices, order)
    return f"Question: {sample.question.strip()}\n{options}\nAnswer: {LETTERS[list(order).index(sample.correct)]}"


async def _min_k_scores(model: Any, items: Sequence[Any], options: ContaminationOptions) -> list[MinKRecord] | None:
    """Per item: Min-K%++ of the item (data order) and of `controls` re-ordered versions, scored in the model's
    chat (its system prompt included) as the answer to a request for a question; None without full logprobs."""
    from glassboard.audit.logprobs import min_k_plus_plus, score_chat_completions, scoring_backend

    backend = scoring_backend(model)
    if backend is None:
        return None
    texts: list[str] = []
    for sample in items:
        n = len(sample.choices)
        texts.append(item_text(sample, range(n)))
        for c in range(options.controls):
            texts.append(item_text(sample, moved_order(n, sample.correct, _rng(options.seed, "control", sample.id, c))))
    chat = [(model.messages_for(MINK_REQUEST), text) for text in texts]
    scored = await backend.run_exclusive(score_chat_completions(chat, 1.0), logits_all=True)
    values = [min_k_plus_plus(s, options.k) for s in scored]
    step = 1 + options.controls
    return [
        MinKRecord(sample.id, values[i * step], values[i * step + 1 : (i + 1) * step],
                   values[i * step] - float(np.mean(values[i * step + 1 : (i + 1) * step])))
        for i, sample in enumerate(items)
    ]


async def min_k_probe(
    model: Any, items: Sequence[Any], options: ContaminationOptions, reference: Any | None = None
) -> MinKProbe | SkippedProbe:
    """Min-K%++ of items vs re-ordered controls; with a reference model, the model's gap minus the reference's."""
    from glassboard.bench.stats import mean_ci, paired_difference

    name = "Min-K%++ (Zhang et al. 2024) of items vs the same items with re-ordered options"
    records = await _min_k_scores(model, items, options)
    if records is None:
        return SkippedProbe(probe=name, reason="needs full-vocabulary logprobs (local llama.cpp)")
    estimate = mean_ci([r.difference for r in records])
    low, mean = estimate.ci_low, estimate.mean
    signal = low is not None and low > 0 and mean is not None and mean >= options.margin
    rule = ("signal when the 95% CI of the mean (item - control) difference is above 0 and the mean is at least "
            "`margin` (benchmark authors order options naturally, so a small gap is expected)")
    reference_difference, vs_reference = None, None
    ref_records = await _min_k_scores(reference, items, options) if reference is not None else None
    if ref_records is not None:
        paired = paired_difference({r.id: r.difference for r in records}, {r.id: r.difference for r in ref_records})
        reference_difference = paired.mean_b
        vs_reference = GapVsReference(paired.diff.mean, paired.diff.ci_low, paired.diff.ci_high)
        signal = paired.significant and paired.diff.mean is not None and paired.diff.mean > 0
        rule = "signal when the model's (item - control) gap exceeds the reference's (paired 95% CI above 0)"
    return MinKProbe(
        probe=name, k=options.k, items=len(items), item_score=float(np.mean([r.item for r in records])),
        baseline=float(np.mean([np.mean(r.controls) for r in records])),
        baseline_kind="the same items with their options re-ordered (answer letter updated)",
        difference=mean, ci_low=low, ci_high=estimate.ci_high,
        above_all_controls=float(np.mean([r.item > max(r.controls) for r in records])), margin=options.margin,
        rule=rule, reference_difference=reference_difference, vs_reference=vs_reference,
        verdict="signal" if signal else "no signal", records=records,
    )


# ----------------------------------------------------------------------------------------------- the audit
def planned_generations(samples: Sequence[Any], options: ContaminationOptions) -> int:
    """How many completions the audit will request (for the progress bar)."""
    items = [s for s in samples if getattr(s, "correct", None) is not None and len(s.choices) >= 2]
    per_model = (sum(len(s.choices) >= 3 for s in items) if "ts_guessing" in options.probes else 0) + (
        len(items) * (1 + options.shuffles) if "shuffle" in options.probes else 0
    )
    return per_model * (2 if options.reference else 1)


async def audit_contamination(
    hub: Any, model_name: str, task: Any, samples: Sequence[Any], options: ContaminationOptions,
    progress: Progress | None = None, *, source: str | None = None, sha256: str | None = None,
) -> ContaminationReport:
    """Run the selected probes on `model_name` (and the reference, for baselines); JSON-able report. `source` and
    `sha256` name the data file the samples came from (recorded so that the audit can be re-run)."""
    options.validate()
    items = _mc_items(samples)
    model = hub.get(model_name)
    reference = hub.get(options.reference) if options.reference else None
    started, cpu = time.perf_counter(), time.process_time()
    ts, shuffle, min_k = None, None, None
    if "ts_guessing" in options.probes:
        ref_rate = None
        if reference is not None:
            ref_records = await ts_guessing(reference, items, options, progress)
            ref_rate = ts_summary(ref_records, options.min_rate, None).rate
        ts = ts_summary(await ts_guessing(model, items, options, progress), options.min_rate, ref_rate)
    if "shuffle" in options.probes:
        ref_summary = None
        if reference is not None:
            ref_summary = shuffle_summary(await shuffle_probe(reference, items, options, progress))
        shuffle = shuffle_summary(await shuffle_probe(model, items, options, progress),
                                  ref_summary if isinstance(ref_summary, ShuffleProbe) else None)
    if "min_k" in options.probes:
        min_k = await min_k_probe(model, items, options, reference)
    probes = Probes(ts, shuffle, min_k)
    signals = [name for name, probe in probes.ran() if probe.verdict == "signal"]
    return ContaminationReport(
        model=model.variant.snapshot(), reference=reference.variant.snapshot() if reference else None,
        task=task.name, data=ContaminationData(source=source, sha256=sha256, items=len(samples)),
        items=len(items), probes=probes, signals=signals,
        verdict="contamination signal" if signals else "no signal", caveats=list(CAVEATS),
        settings=ContaminationSettings(seed=options.seed, probes=list(options.probes), shuffles=options.shuffles,
                                       controls=options.controls,
                                       k=options.k, min_rate=options.min_rate, margin=options.margin),
        elapsed_s=round(time.perf_counter() - started, 2), cpu_s=round(time.process_time() - cpu, 2),
    )
