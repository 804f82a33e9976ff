"""Built-in protocols of issue 12's second round: golden prompts written from each publisher's source, and each
ladder on real-world answer strings (lm-eval for GSM8K, GPQA and MATH; the MATH authors' own evaluation)."""

from __future__ import annotations

from pathlib import Path

import pytest

from bench_fixtures import gpqa_rows, gsm8k_rows, math_rows, write_jsonl
from glassboard.bench.protocol import get_protocol
from glassboard.bench.protocol_render import prepare
from glassboard.bench.protocol_score import credit, extract
from glassboard.bench.tasks import get_task


def test_gpqa_lm_eval_golden_prompt(tmp_path: Path) -> None:
    # lm-eval gpqa/cot_zeroshot doc_to_text: "What is the correct answer to this question:{{Question}}\nChoices:\n
    # (A) {{choice1}}\n(B) {{choice2}}\n(C) {{choice3}}\n(D) {{choice4}}\nLet's think step by step: "
    task = get_task("gpqa-diamond")
    sample = task.load(write_jsonl(tmp_path / "g.jsonl", gpqa_rows(1))).samples[0]
    prompt = prepare(task, "lm-eval").render(sample, 1)
    lines = prompt.text.split("\n")
    choices = lines[2:6]
    assert [c[:4] for c in choices] == ["(A) ", "(B) ", "(C) ", "(D) "]
    assert sorted(c[4:] for c in choices) == sorted(sample.choices)
    assert prompt.text == ("What is the correct answer to this question:Which particle is number 0?\nChoices:\n" +
                           "\n".join(choices) + "\nLet's think step by step: ")
    assert choices["ABCD".index(prompt.target)][4:] == "right 0"


@pytest.mark.parametrize("response, answer, right", [
    ("...so the energy is lower. The answer is (B).", "(B)", True),  # the harness's own target form "(B)"
    ("The answer is B.", "B", True),
    ("The answer is (b)", "(b", True),  # the last character is never captured; case and punctuation ignored
    ("The answer is (C).", "(C)", False),
    ("The answer is B because the spin flips.", "B because the spin flips", False),
    ("the answer is (B).", None, False),  # the look-behind is case-sensitive
    ("**Answer:** B", None, False),
    ("The answer is (A).\nOn reflection, The answer is (B).", "(A)", False),  # take_first
])
def test_gpqa_lm_eval_strict_match_ladder(response: str, answer: str | None, right: bool) -> None:
    protocol = get_protocol("gpqa-diamond", "lm-eval")
    got, _ = extract(protocol, response, "ABCD")
    assert got == answer and credit(protocol, got, "B", "ABCD") == (1.0 if right else 0.0)


def gsm8k_train() -> list[dict[str, str]]:
    return [{"question": f"Train question {i}?", "answer": f"Step {i}.\n#### {i}"} for i in range(7)]


def test_gsm8k_lm_eval_golden_prompt(tmp_path: Path) -> None:
    # lm-eval gsm8k.yaml: doc_to_text "Question: {{question}}\nAnswer:", target "{{answer}}", num_fewshot 5;
    # each shot is doc_to_text + target_delimiter " " + target + fewshot_delimiter "\n\n".
    task = get_task("gsm8k")
    sample = task.load(write_jsonl(tmp_path / "t.jsonl", gsm8k_rows(1))).samples[0]
    fewshot = write_jsonl(tmp_path / "train.jsonl", gsm8k_train())
    for name in ("lm-eval", "lm-eval-flexible"):
        renderer = prepare(task, name, fewshot=fewshot)
        shots = "".join(f"Question: Train question {i}?\nAnswer: Step {i}.\n#### {i}\n\n" for i in range(5))
        assert renderer.render(sample, 1).text == shots + f"Question: {sample.question}\nAnswer:"
        assert renderer.protocol.sampling == {"temperature": 0.0, "stop": ["Question:", "</s>", "<|im_end|>"]}


@pytest.mark.parametrize("response, strict, flexible, strict_right, flexible_right", [
    ("Natalia sold 48/2 = 24 clips in May.\nShe sold 48+24 = 72 clips.\n#### 72", "72", "72", True, True),
    ("#### 1,072.", "1,072.", "1,072.", False, False),  # target 72 here; checked for the ignore rules below
    ("So the total is $72.", None, "$72.", False, True),
    ("The answer is 72 clips", None, "72", False, True),
    ("#### 72\n\nQuestion: next one 5", "72", "5", True, False),  # flexible takes the last number
    ("I don't know.", None, None, False, False),
])
def test_gsm8k_lm_eval_filters(response: str, strict: str | None, flexible: str | None, strict_right: bool,
                               flexible_right: bool) -> None:
    for name, answer, right in (("lm-eval", strict, strict_right), ("lm-eval-flexible", flexible, flexible_right)):
        protocol = get_protocol("gsm8k", name)
        got, _ = extract(protocol, response)
        assert got == answer and credit(protocol, got, "72", "") == (1.0 if right else 0.0)


def test_gsm8k_lm_eval_ignore_rules_match_the_harness() -> None:
    # exact_match with regexes_to_ignore [",", "\$", "(?s).*#### ", "\.$"] and ignore_case, on both sides.
    protocol = get_protocol("gsm8k", "lm-eval")
    assert credit(protocol, "1,072.", "1072", "") == 1.0
    assert credit(protocol, "$1,072", "1072", "") == 1.0
    assert credit(protocol, "1072.0", "1072", "") == 0.0  # no numeric comparison in the harness


def test_math_official_golden_prompt(tmp_path: Path) -> None:
    # hendrycks/math evaluate_gpt3.py: train_prompt + "\n" + problem + "\n" + "Answer: $"; train_prompt's first and
    # last exemplars written here by hand from the script.
    for name in ("math500", "math-l5"):
        task = get_task(name)
        sample = task.load(write_jsonl(tmp_path / "m.jsonl", math_rows())).samples[-1]
        text = prepare(task, "official").render(sample, 1).text
        assert text.startswith("Given a mathematics problem, determine the answer. Simplify your answer as much as "
                               "possible.\nProblem: What is $\\left(\\frac{7}{8}\\right)^3 \\cdot "
                               "\\left(\\frac{7}{8}\\right)^{-3}$?\nAnswer: $1$\n###\nProblem: In how many ways")
        assert "\nProblem: Calculate $6 \\cdot 8\\frac{1}{3}\nAnswer: $50$\n###\n" in text
        assert text.endswith("Problem: How many zeros are at the end of the product 25 $\\times$ 240?\nAnswer: $3$\n"
                             f"###\n{sample.question}\nAnswer: $")
        assert text.count("\n###\n") == 8 and get_protocol(name, "official").sampling["max_tokens"] == 20


@pytest.mark.parametrize("response, answer, right", [
    ("\\frac{1}{2}$", "\\frac{1}{2}", True),
    ("0.5$ since half", "0.5", True),  # equivalence by math-verify (see the file's differences)
    ("1/2\n\nProblem: next", "1/2", True),
    ("3###", "3", False),
    ("The answer is $\\frac12$", "The answer is", False),  # only the text before the first '$' is the answer
    ("$", None, False),
])
def test_math_official_ladder(response: str, answer: str | None, right: bool) -> None:
    protocol = get_protocol("math500", "official")
    got, _ = extract(protocol, response)
    assert got == answer and credit(protocol, got, "\\frac{1}{2}", "") == (1.0 if right else 0.0)


def test_math_lm_eval_golden_prompt(tmp_path: Path) -> None:
    # lm-eval hendrycks_math: doc_to_text "Problem: {{problem}}\nAnswer:", zero-shot
    task = get_task("math500")
    sample = task.load(write_jsonl(tmp_path / "m.jsonl", math_rows())).samples[0]
    assert prepare(task, "lm-eval").render(sample, 1).text == f"Problem: {sample.question}\nAnswer:"


@pytest.mark.parametrize("response, answer, rung", [
    ("First \\boxed{3}, then the answer is \\boxed{\\frac{1}{2}}.", "\\frac{1}{2}", "last_boxed"),
    ("So we get \\[x = \\frac{1}{2}\\] and also \\[y = 3\\].", "\\frac{1}{2}", "display_math"),  # the first \[..\]
    ("We have $a$ and then $\\frac{1}{2}$", "\\frac{1}{2}", "dollars"),  # first '$' to last '$': "a$ and then $.."
    ("1/2", "1/2", "whole_output"),
])
def test_math_lm_eval_ladder(response: str, answer: str | None, rung: str) -> None:
    protocol = get_protocol("math500", "lm-eval")
    got, used = extract(protocol, response)
    assert used == rung
    if rung == "dollars":  # the harness's span; math-verify still reads its last expression (is_equiv would not)
        assert got == "a$ and then $\\frac{1}{2}"
    assert credit(protocol, got, "\\frac{1}{2}", "") == 1.0
