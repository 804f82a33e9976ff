"""Pure statistics of the audits: Hamming kernel, MMD^2, permutation p-values, Min-K%++, prompt loading."""

from __future__ import annotations

import json
import math
import random

import numpy as np
import pytest

from glassboard.audit.identity import derive_seed, hamming_gram, mmd_test
from glassboard.audit.logprobs import TokenScores, log_softmax, min_k_plus_plus, token_scores
from glassboard.audit.prompts import builtin_prompts, load_prompts
from glassboard.models.types import ConfigError


def test_hamming_gram_counts_equal_positions_including_padding() -> None:
    gram = hamming_gram(["abcd", "abxx", "ab", ""], length=4)
    assert gram[0, 1] == pytest.approx(0.5)  # a, b equal; c/x, d/x differ
    assert gram[0, 2] == pytest.approx(0.5)  # "ab" is padded: positions 3-4 are pad vs c, d
    assert gram[2, 3] == pytest.approx(0.5)  # "ab" vs "": the two pad positions agree
    assert np.allclose(np.diag(gram), 1.0)
    assert np.allclose(gram, gram.T)
    assert hamming_gram(["abcdef"], length=3)[0, 0] == 1.0  # only the first L characters count


def test_mmd_statistic_matches_a_hand_computation() -> None:
    # One prompt, L = 2.  A = {aa, aa}, B = {aa, bb}.
    # within A: k(aa, aa) = 1 -> mean 1; within B: k(aa, bb) = 0 -> mean 0;
    # across: k(aa,aa)=1, k(aa,bb)=0 twice each -> mean 0.5.  MMD^2 = 1 + 0 - 2 * 0.5 = 0.
    result = mmd_test([["aa", "aa"]], [["aa", "bb"]], length=2, permutations=10)
    assert result.statistic == pytest.approx(0.0)
    assert (result.within_a, result.within_b, result.across) == pytest.approx((1.0, 0.0, 0.5))
    # A = {aa, aa}, B = {ab, bb}: within A 1; within B k(ab, bb) = 0.5; across k(aa,ab)=.5, k(aa,bb)=0 -> .25.
    # MMD^2 = 1 + 0.5 - 0.5 = 1.0.  Two prompts are averaged with equal weight.
    two = mmd_test([["aa", "aa"], ["aa", "aa"]], [["ab", "bb"], ["aa", "bb"]], length=2, permutations=10)
    assert two.statistic == pytest.approx((1.0 + 0.0) / 2)
    assert (two.samples_a, two.samples_b) == (4, 4)


def test_permutation_test_separates_clearly_different_samples() -> None:
    rng = random.Random(0)
    a = [[f"the answer is {rng.choice('abc')}" for _ in range(8)] for _ in range(5)]
    b = [[f"!! {rng.choice('xyz')} the answer" for _ in range(8)] for _ in range(5)]
    result = mmd_test(a, b, length=20, permutations=500, seed=1)
    assert result.statistic > 0.3
    assert result.p_value == pytest.approx(1 / 501)  # nothing in the null is as extreme


def test_permutation_p_values_are_roughly_uniform_under_the_null() -> None:
    rng = random.Random(7)
    alphabet = "abcde"

    def draw() -> str:  # a biased character source, so kernel values vary but both sides share it
        return "".join(rng.choices(alphabet, weights=[5, 3, 2, 1, 1], k=6))

    p_values = []
    for trial in range(120):
        a = [[draw() for _ in range(5)] for _ in range(4)]
        b = [[draw() for _ in range(5)] for _ in range(4)]
        p_values.append(mmd_test(a, b, length=6, permutations=199, seed=trial).p_value)
    p = np.array(p_values)
    assert 0.01 <= np.mean(p < 0.05) <= 0.12  # about alpha
    assert 0.35 <= p.mean() <= 0.65  # uniform mean is 0.5
    assert np.mean(p < 0.5) == pytest.approx(0.5, abs=0.15)


def test_mmd_test_rejects_bad_input() -> None:
    with pytest.raises(ValueError):
        mmd_test([["a", "b"]], [], length=3)
    with pytest.raises(ValueError):
        mmd_test([["a"]], [["b", "c"]], length=3)


def test_derived_seeds_are_reproducible_and_side_specific() -> None:
    assert derive_seed(0, "a", 1, 2) == derive_seed(0, "a", 1, 2)
    assert derive_seed(0, "a", 1, 2) != derive_seed(0, "b", 1, 2)
    assert derive_seed(0, "a", 1, 2) != derive_seed(1, "a", 1, 2)
    assert 0 <= derive_seed(5, "x", 9, 9) < 2**31


def test_token_scores_on_a_hand_made_distribution() -> None:
    # Vocabulary of 4; the next-token law is (0.5, 0.25, 0.125, 0.125).
    probs = np.array([0.5, 0.25, 0.125, 0.125])
    logits = np.log(probs)[None, :].repeat(2, axis=0)
    scores = token_scores(logits, [0, 3])
    assert scores.logprob == pytest.approx(np.log([0.5, 0.125]))
    mu = float((probs * np.log(probs)).sum())
    sigma = math.sqrt(float((probs * np.log(probs) ** 2).sum()) - mu**2)
    assert scores.mean == pytest.approx([mu, mu])
    assert scores.std == pytest.approx([sigma, sigma])
    # Min-K%++ with k = 50% of two tokens keeps the lowest z-score: the rare token 3.
    assert min_k_plus_plus(scores, k=0.5) == pytest.approx((math.log(0.125) - mu) / sigma)
    assert min_k_plus_plus(scores, k=1.0) == pytest.approx(((math.log(0.5) + math.log(0.125)) / 2 - mu) / sigma)
    # Temperature flattens the law: at T = 2 the chosen probabilities move towards uniform.
    hot = token_scores(logits, [0, 3], temperature=2.0)
    assert hot.logprob[0] < scores.logprob[0] and hot.logprob[1] > scores.logprob[1]


def test_min_k_plus_plus_prefers_modal_text_and_handles_edges() -> None:
    modal = TokenScores(np.arange(5), np.full(5, -0.1), np.full(5, -1.0), np.full(5, 0.5))
    rare = TokenScores(np.arange(5), np.full(5, -4.0), np.full(5, -1.0), np.full(5, 0.5))
    assert min_k_plus_plus(modal) > 0 > min_k_plus_plus(rare)
    empty = TokenScores(np.array([]), np.array([]), np.array([]), np.array([]))
    assert math.isnan(min_k_plus_plus(empty))
    with pytest.raises(ValueError):
        min_k_plus_plus(modal, k=0)
    assert np.allclose(np.exp(log_softmax(np.array([[1000.0, 0.0]]))).sum(), 1.0)


def test_prompt_sets(tmp_path) -> None:
    builtin = builtin_prompts()
    assert len(builtin) >= 40 and len(set(builtin)) == len(builtin)
    assert load_prompts(None, 3) == builtin[:3]
    jsonl = tmp_path / "p.jsonl"
    jsonl.write_text(json.dumps({"prompt": "one"}) + "\n\n" + json.dumps({"prompt": "two"}) + "\n")
    assert load_prompts(jsonl) == ["one", "two"]
    txt = tmp_path / "p.txt"
    txt.write_text("first\n\nsecond\n")
    assert load_prompts(txt, 1) == ["first"]
    with pytest.raises(ConfigError, match="line 1"):
        bad = tmp_path / "bad.jsonl"
        bad.write_text('{"text": 1}\n')
        load_prompts(bad)
    with pytest.raises(ConfigError, match="not found"):
        load_prompts(tmp_path / "missing.txt")
    with pytest.raises(ConfigError, match="has 2 prompts"):
        load_prompts(jsonl, 5)
