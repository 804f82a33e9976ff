"""Full-vocabulary token scoring with llama.cpp: chat-formatted re-scoring, raw-text scoring and Min-K%++."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

import numpy as np

from glassboard.models.types import ConfigError, Message

T = TypeVar("T")


@dataclass(frozen=True)
class TokenScores:
    """Per scored token: its id, log p(token | prefix) and the mean / std of log p under that next-token law."""

    tokens: np.ndarray
    logprob: np.ndarray
    mean: np.ndarray
    std: np.ndarray

    def __len__(self) -> int:
        return len(self.tokens)


def log_softmax(logits: np.ndarray) -> np.ndarray:
    """Row-wise log-softmax, computed stably in float64."""
    logits = np.asarray(logits, dtype=np.float64)
    shifted = logits - logits.max(axis=-1, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=-1, keepdims=True))


def token_scores(logits: np.ndarray, targets: Sequence[int], temperature: float = 1.0) -> TokenScores:
    """Scores of `targets[i]` under the distribution softmax(logits[i] / temperature) (rows aligned with targets)."""
    logp = log_softmax(np.asarray(logits, dtype=np.float64) / (temperature if temperature > 0 else 1.0))
    idx = np.asarray(targets, dtype=np.int64)
    chosen = logp[np.arange(len(idx)), idx]
    prob = np.exp(logp)
    # Zero-probability entries give 0 * -inf = nan; they contribute nothing to the moments.
    weighted = np.where(prob > 0, prob * logp, 0.0)
    mean = weighted.sum(axis=1)
    second = np.where(prob > 0, prob * logp * logp, 0.0).sum(axis=1)
    std = np.sqrt(np.maximum(second - mean * mean, 0.0))
    return TokenScores(tokens=idx, logprob=chosen, mean=mean, std=std)


def min_k_plus_plus(scores: TokenScores, k: float = 0.2) -> float:
    """Min-K%++ (Zhang et al. 2024): mean of the k-fraction lowest z-scores (log p(x_t) - mu_t) / sigma_t.

    Higher means the text sits nearer the modes of the model's next-token distributions (memorised-like).
    """
    if not 0 < k <= 1:
        raise ValueError(f"k must be in (0, 1], got {k}")
    if len(scores) == 0:
        return float("nan")
    z = (scores.logprob - scores.mean) / np.maximum(scores.std, 1e-6)
    count = max(1, int(round(k * len(z))))
    return float(np.sort(z)[:count].mean())


def _eval_scores(llama: Any, context: list[int], target: list[int], temperature: float) -> TokenScores:
    """Evaluate context + target in one pass (needs logits_all) and score the target tokens."""
    room = llama.n_ctx() - len(context)
    if room <= 0 or not context:
        raise ConfigError("the prompt does not fit in the model's context window")
    target = target[:room]
    if not target:
        return token_scores(np.zeros((0, llama.n_vocab())), [], temperature)
    tokens = context + target
    # Reuse the KV cache (and the stored logits rows) of the longest prefix shared with the previous call: items
    # scored after one long system prompt then cost only their own tokens.
    cached = list(llama.input_ids[: llama.n_tokens])
    common = 0
    for old, new in zip(cached, tokens[:-1], strict=False):
        if old != new:
            break
        common += 1
    llama.n_tokens = common
    llama.eval(tokens[common:])
    # The logits at position i predict token i + 1.
    start = len(context) - 1
    logits = np.array(llama.scores[start : start + len(target)], dtype=np.float64)
    return token_scores(logits, target, temperature)


@contextlib.contextmanager
def _scoring_threads(llama: Any) -> Iterator[None]:
    """Score with the variant's own thread count for batches too, restored afterwards.

    llama-cpp-python defaults batch threads to the CPU count whatever n_threads is; on a busy machine the extra
    batch thread spin-waits and a 100-token evaluation costs ~10x the CPU (measured: 7.0 vs 0.7 CPU s).
    """
    ctx, threads = getattr(llama, "_ctx", None), getattr(llama, "n_threads", None)
    batch = getattr(llama, "n_threads_batch", None)
    if ctx is None or not threads or not batch or batch == threads:
        yield
        return
    ctx.set_n_threads(threads, threads)
    try:
        yield
    finally:
        ctx.set_n_threads(threads, batch)


def _chat_formatter(llama: Any) -> Any:
    """The GGUF's own chat template, rendered exactly as llama-cpp-python does for create_chat_completion."""
    from llama_cpp.llama_chat_format import Jinja2ChatFormatter

    template = llama.metadata.get("tokenizer.chat_template")
    if not template:
        raise ConfigError("the model file has no chat template; chat re-scoring is not possible")
    eos, bos = llama.token_eos(), llama.token_bos()
    return Jinja2ChatFormatter(
        template=template,
        eos_token=llama._model.token_get_text(eos) if eos != -1 else "",
        bos_token=llama._model.token_get_text(bos) if bos != -1 else "",
    )


def score_chat_completions(
    items: Sequence[tuple[Sequence[Message], str]], temperature: float = 1.0
) -> Callable[[Any], list[TokenScores]]:
    """A function for `backend.run_exclusive(fn, logits_all=True)`: score each completion after its chat."""

    def run(llama: Any) -> list[TokenScores]:
        formatter = _chat_formatter(llama)
        out = []
        with _scoring_threads(llama):
            for messages, completion in items:
                prompt = formatter(messages=list(messages)).prompt
                context = llama.tokenize(prompt.encode("utf-8"), add_bos=False, special=True)
                target = llama.tokenize(completion.encode("utf-8"), add_bos=False, special=False)
                out.append(_eval_scores(llama, context, target, temperature))
        return out

    return run


def score_texts(texts: Sequence[str]) -> Callable[[Any], list[TokenScores]]:
    """A function for `backend.run_exclusive(fn, logits_all=True)`: score raw texts after BOS (no chat template)."""

    def run(llama: Any) -> list[TokenScores]:
        out = []
        with _scoring_threads(llama):
            for text in texts:
                tokens = llama.tokenize(text.encode("utf-8"), add_bos=True, special=False)
                bos = llama.token_bos()
                context, target = (tokens[:1], tokens[1:]) if tokens and tokens[0] == bos else ([bos], tokens)
                out.append(_eval_scores(llama, context, target, 1.0))
        return out

    return run


def scoring_backend(model: Any) -> Any | None:
    """The model's backend when it can score arbitrary text with full logprobs (local llama.cpp), else None."""
    backend = getattr(model, "backend", None)
    return backend if callable(getattr(backend, "run_exclusive", None)) else None
