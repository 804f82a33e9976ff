"""Model equality testing (Gao, Liang, Guestrin 2024): MMD^2 with a Hamming string kernel and a permutation test."""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np

from glassboard.models.types import ConfigError, ModelError
from glassboard.schema import JsonRecord, shallow_fields

Progress = Callable[[int], None]


# ------------------------------------------------------------------------------------------ pure statistics
def hamming_gram(texts: Sequence[str], length: int) -> np.ndarray:
    """k(x, x') = fraction of the first `length` character positions where x and x' agree (both padded)."""
    codes = np.full((len(texts), length), -1, dtype=np.int32)  # -1 is the pad symbol: two short texts agree there
    for i, text in enumerate(texts):
        head = [ord(c) for c in text[:length]]
        codes[i, : len(head)] = head
    return (codes[:, None, :] == codes[None, :, :]).mean(axis=2)


def _mmd2_batch(grams: Sequence[np.ndarray], labels: Sequence[np.ndarray]) -> np.ndarray:
    """Prompt-averaged unbiased MMD^2 for a batch of labelings; labels[p] is (B, size_p), 1 = side A, 0 = side B.

    The kernel is zero across prompts, so the Gram matrix is block diagonal: each block is one prompt. Each
    prompt's unbiased MMD^2 (within-side pairs i != j) is averaged with equal weight, so the statistic has
    expectation 0 when both sides draw from the same distribution, whatever the number of samples per prompt.
    """
    total = np.zeros(len(labels[0]) if labels else 0)
    for gram, z in zip(grams, labels, strict=True):
        w = 1.0 - z
        m, n = z[0].sum(), w[0].sum()  # permutations keep each prompt's A/B counts
        diag = np.diag(gram)
        zg, wg = z @ gram, w @ gram
        aa = (zg * z).sum(axis=1) - z @ diag
        bb = (wg * w).sum(axis=1) - w @ diag
        ab = (zg * w).sum(axis=1)
        total = total + aa / (m * (m - 1)) + bb / (n * (n - 1)) - 2.0 * ab / (m * n)
    return total / len(grams)


@dataclass(frozen=True)
class MMDResult:
    """The test's outcome: MMD^2 (unbiased, prompt-averaged), permutation p-value and mean kernel similarities."""

    statistic: float
    p_value: float
    permutations: int
    samples_a: int
    samples_b: int
    within_a: float
    within_b: float
    across: float


def mmd_test(
    samples_a: Sequence[Sequence[str]],
    samples_b: Sequence[Sequence[str]],
    *,
    length: int = 100,
    permutations: int = 1000,
    seed: int = 0,
) -> MMDResult:
    """Two-sample test on completions grouped by prompt (samples_x[i] = completions of prompt i).

    Kernel k((p, x), (p', x')) = 1[p = p'] * hamming(x, x'); the p-value permutes side labels within each prompt,
    which keeps every prompt's A/B counts (valid under H0: both sides draw from one distribution per prompt).
    """
    if len(samples_a) != len(samples_b) or not samples_a:
        raise ValueError("both sides need completions for the same, non-empty list of prompts")
    if length < 1 or permutations < 1:
        raise ValueError("length and permutations must be positive")
    grams, observed = [], []
    for xs, ys in zip(samples_a, samples_b, strict=True):
        grams.append(hamming_gram([*xs, *ys], length))
        observed.append(np.array([1.0] * len(xs) + [0.0] * len(ys)))
    if min(min(len(x), len(y)) for x, y in zip(samples_a, samples_b, strict=True)) < 2:
        raise ValueError("the test needs at least two completions per prompt and side")
    m, n = sum(len(x) for x in samples_a), sum(len(y) for y in samples_b)
    stat = float(_mmd2_batch(grams, [z[None, :] for z in observed])[0])
    rng = np.random.default_rng(seed)
    perm = [rng.permuted(np.broadcast_to(z, (permutations, len(z))), axis=1) for z in observed]
    null = _mmd2_batch(grams, perm)
    # Ties count as extreme (conservative); +1 in both terms makes the p-value valid for a finite permutation count.
    p_value = (1 + int(np.sum(null >= stat - 1e-12))) / (permutations + 1)
    return MMDResult(
        statistic=stat,
        p_value=p_value,
        permutations=permutations,
        samples_a=m,
        samples_b=n,
        **_similarities(grams, observed),
    )


def _similarities(grams: Sequence[np.ndarray], labels: Sequence[np.ndarray]) -> dict[str, float]:
    """Mean kernel value within A, within B (off-diagonal) and across, pooled over prompts."""
    sums = {"within_a": [0.0, 0], "within_b": [0.0, 0], "across": [0.0, 0]}
    for gram, z in zip(grams, labels, strict=True):
        a, b = z == 1, z == 0
        for key, rows, cols in (("within_a", a, a), ("within_b", b, b), ("across", a, b)):
            block = gram[np.ix_(rows, cols)]
            if key != "across":
                k = block.shape[0]
                sums[key][0] += block.sum() - np.trace(block)
                sums[key][1] += k * (k - 1)
            else:
                sums[key][0] += block.sum()
                sums[key][1] += block.size
    return {key: float(total / count) if count else float("nan") for key, (total, count) in sums.items()}


# ------------------------------------------------------------------------------------------------ sampling
def derive_seed(seed: int, side: str, prompt: int, sample: int) -> int:
    """A reproducible per-call seed; side labels differ, so `A A` gets two independent sample sets."""
    digest = hashlib.sha256(f"{seed}:{side}:{prompt}:{sample}".encode()).digest()
    return int.from_bytes(digest[:4], "big") & 0x7FFFFFFF


async def sample_completions(
    model: Any,
    prompts: Sequence[str],
    samples: int,
    *,
    side: str,
    seed: int,
    max_tokens: int,
    temperature: float | None = None,
    progress: Progress | None = None,
) -> tuple[list[list[str]], int]:
    """`samples` completions per prompt, each with its own derived seed; returns (texts per prompt, tokens).

    An empty answer is a legitimate draw from the distribution, so it is kept as "" rather than dropped.
    """
    out: list[list[str]] = []
    tokens = 0
    for i, prompt in enumerate(prompts):
        texts = []
        for j in range(samples):
            call_seed = derive_seed(seed, side, i, j)
            try:
                completion = await model.complete(
                    prompt, temperature=temperature, max_tokens=max_tokens, seed=call_seed
                )
                texts.append(completion.text)
                tokens += completion.completion_tokens or 0
            except ModelError as err:
                if err.kind != "empty":
                    raise
                texts.append("")
            if progress:
                progress(1)
        out.append(texts)
    return out, tokens


# ------------------------------------------------------------------------------------------------ the report
@dataclass(frozen=True, slots=True)
class IdentitySettings(JsonRecord):
    """What each side was sampled with (the budget actually served and the temperature used)."""

    prompts: int
    samples_per_prompt: int
    max_tokens_a: int
    max_tokens_b: int
    length: int
    seed: int
    temperature_a: float
    temperature_b: float
    temperature_source: str


@dataclass(frozen=True, slots=True)
class IdentityExamples(JsonRecord):
    """The first prompt and the first two completions of each side, for a person to look at."""

    a: list[str]
    b: list[str]
    prompt: str


@dataclass(frozen=True, slots=True)
class LogprobComparison(JsonRecord):
    """Both sides' log probabilities of the same completions; when unavailable only `reason` is set."""

    available: bool
    reason: str | None = None
    completions: int | None = None
    tokens: int | None = None
    mean_abs_delta: float | None = None
    mean_delta: float | None = None
    max_abs_delta: float | None = None
    tokenizer_mismatches: int | None = None
    identical: bool | None = None

    def to_json(self) -> dict[str, Any]:
        if not self.available:
            return {"available": False, "reason": self.reason}
        return {k: v for k, v in JsonRecord.to_json(self).items() if k != "reason"}


@dataclass(frozen=True, slots=True)
class IdentityReport(JsonRecord):
    """`audit identity`: the MMD test's outcome, the verdict at alpha, settings and the logprob comparison."""

    audit: Literal["identity"] = field(default="identity", init=False)
    model_a: dict[str, Any]  # the variant's snapshot (models layer)
    model_b: dict[str, Any]
    statistic: float
    p_value: float
    permutations: int
    samples_a: int
    samples_b: int
    within_a: float
    within_b: float
    across: float
    samples: int
    verdict: Literal["same", "different"]
    alpha: float
    method: str
    settings: IdentitySettings
    tokens_generated: int
    examples: IdentityExamples
    logprobs: LogprobComparison
    elapsed_s: float
    cpu_s: float


# ----------------------------------------------------------------------------------------------- the audit
@dataclass
class IdentityOptions:
    """Budget and test settings; the defaults are the CLI's (200 completions, about 4,500 generated tokens)."""

    prompts: list[str] = field(default_factory=lambda: _default_prompts())
    samples: int = 10
    max_tokens: int = 24
    seed: int = 0
    temperature: float | None = None  # None: each side samples at its own configured temperature
    length: int = 100
    permutations: int = 1000
    alpha: float = 0.05
    logprobs: bool = True
    logprob_samples: int = 1  # completions per prompt and side that are re-scored under both sides

    def validate(self) -> None:
        if not self.prompts:
            raise ConfigError("the identity audit needs at least one prompt")
        if self.samples < 2:
            raise ConfigError("--samples must be at least 2 (the kernel only compares completions of one prompt)")
        if self.max_tokens < 1 or self.length < 1 or self.permutations < 1:
            raise ConfigError("--max-tokens, --length and --permutations must be at least 1")
        if not 0 < self.alpha < 1:
            raise ConfigError(f"alpha must be between 0 and 1, got {self.alpha}")
        if self.temperature is not None and not 0 <= self.temperature <= 5:
            raise ConfigError(f"--temperature must be between 0 and 5, got {self.temperature}")


def _default_prompts() -> list[str]:
    from glassboard.audit.prompts import load_prompts

    return load_prompts(None, 10)


def effective_temperature(model: Any, options: IdentityOptions) -> float:
    """The side's sampling temperature: --temperature for both sides, else the variant's own."""
    return options.temperature if options.temperature is not None else model.variant.params.temperature


def effective_max_tokens(model: Any, options: IdentityOptions) -> int:
    """The budget, but never more than the variant serves: an endpoint that caps answers is serving that."""
    return min(options.max_tokens, model.variant.params.max_tokens)


SampleCache = dict[tuple[Any, ...], tuple[list[list[str]], int]]


async def cached_samples(
    model: Any, options: IdentityOptions, side: str, cache: SampleCache | None, progress: Progress | None
) -> tuple[list[list[str]], int]:
    """Sample one side, or reuse a sample set drawn with exactly the same variant, side, seeds and budget.

    The providers audit compares every endpoint with one reference, whose samples are drawn once this way.
    """
    max_tokens = effective_max_tokens(model, options)
    key = (model.variant.id, side, options.seed, tuple(options.prompts), options.samples, max_tokens,
           options.temperature)
    if cache is not None and key in cache:
        if progress:
            progress(len(options.prompts) * options.samples)
        return cache[key]
    result = await sample_completions(
        model, options.prompts, options.samples, side=side, seed=options.seed, max_tokens=max_tokens,
        temperature=options.temperature, progress=progress,
    )
    if cache is not None:
        cache[key] = result
    return result


async def audit_identity(
    hub: Any, a: str, b: str, options: IdentityOptions, progress: Progress | None = None,
    cache: SampleCache | None = None,
) -> IdentityReport:
    """Are A and B the same served model? The MMD test's report (statistic, p_value, samples, verdict, ...)."""
    options.validate()
    model_a, model_b = hub.get(a), hub.get(b)
    started, cpu = time.perf_counter(), time.process_time()
    samples_a, tokens_a = await cached_samples(model_a, options, "a", cache, progress)
    samples_b, tokens_b = await cached_samples(model_b, options, "b", cache, progress)
    result = mmd_test(
        samples_a, samples_b, length=options.length, permutations=options.permutations, seed=options.seed
    )
    logprobs = (await compare_logprobs(model_a, model_b, options, samples_a, samples_b) if options.logprobs
                else LogprobComparison(False, "disabled"))
    return IdentityReport(
        **shallow_fields(result), model_a=model_a.variant.snapshot(), model_b=model_b.variant.snapshot(),
        samples=result.samples_a + result.samples_b, verdict="different" if result.p_value < options.alpha else "same",
        alpha=options.alpha,
        method="MMD^2 (unbiased, averaged over prompts), Hamming kernel on the first L characters, "
        "within-prompt permutation p-value",
        settings=IdentitySettings(
            prompts=len(options.prompts), samples_per_prompt=options.samples,
            max_tokens_a=effective_max_tokens(model_a, options), max_tokens_b=effective_max_tokens(model_b, options),
            length=options.length, seed=options.seed, temperature_a=effective_temperature(model_a, options),
            temperature_b=effective_temperature(model_b, options),
            temperature_source="command line" if options.temperature is not None else "each variant's own",
        ),
        tokens_generated=tokens_a + tokens_b,
        examples=IdentityExamples(a=samples_a[0][:2], b=samples_b[0][:2], prompt=options.prompts[0]),
        logprobs=logprobs, elapsed_s=round(time.perf_counter() - started, 2),
        cpu_s=round(time.process_time() - cpu, 2),
    )


async def compare_logprobs(
    model_a: Any,
    model_b: Any,
    options: IdentityOptions,
    samples_a: Sequence[Sequence[str]],
    samples_b: Sequence[Sequence[str]],
) -> LogprobComparison:
    """Re-score the same completions under both sides; mean |delta log p| per token (0 for identical models).

    Each side scores with its own chat template, system prompt and sampling temperature (logits / T), so the
    number compares the distributions the two sides sample from. Needs full logprobs: local llama.cpp only.
    """
    from glassboard.audit.logprobs import score_chat_completions, scoring_backend

    backend_a, backend_b = scoring_backend(model_a), scoring_backend(model_b)
    if backend_a is None or backend_b is None:
        return LogprobComparison(False, "re-scoring needs both sides on local llama.cpp weights")
    chosen = [
        (prompt, text)
        for i, prompt in enumerate(options.prompts)
        for side in (samples_a, samples_b)
        for text in side[i][: options.logprob_samples]
        if text
    ]
    if not chosen:
        return LogprobComparison(False, "no non-empty completions to re-score")
    scored = []
    for model, backend in ((model_a, backend_a), (model_b, backend_b)):
        items = [(model.messages_for(prompt), text) for prompt, text in chosen]
        temperature = effective_temperature(model, options) or 1.0  # greedy sides are scored at T = 1
        scored.append(await backend.run_exclusive(score_chat_completions(items, temperature), logits_all=True))
    deltas, mismatched = [], 0
    for sa, sb in zip(*scored, strict=True):
        if len(sa) != len(sb) or not np.array_equal(sa.tokens, sb.tokens):
            mismatched += 1  # different tokenizers: per-token comparison is meaningless
            continue
        deltas.append(sa.logprob - sb.logprob)
    if not deltas:
        return LogprobComparison(False, "the two sides tokenize the completions differently")
    delta = np.concatenate(deltas)
    return LogprobComparison(
        available=True, completions=len(deltas), tokens=int(delta.size), mean_abs_delta=float(np.abs(delta).mean()),
        mean_delta=float(delta.mean()), max_abs_delta=float(np.abs(delta).max()) if delta.size else 0.0,
        tokenizer_mismatches=mismatched, identical=bool(np.abs(delta).max() < 1e-3) if delta.size else True,
    )
