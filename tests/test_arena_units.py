"""Unit tests of the arena's parts: pair sampler, identity guard, markdown sanitizer, rate limiter, voter cookies."""

from __future__ import annotations

import random
from collections import Counter
from html.parser import HTMLParser

import pytest

from glassboard.arena.guard import IdentityGuard
from glassboard.arena.integrity import RateLimiter, VoterCookies, ip_hash
from glassboard.arena.render import ALLOWED_TAGS, Renderer
from glassboard.arena.sampler import PairSampler, SamplerError
from glassboard.models import Variant, builtin_variants
from test_arena_browser import XSS_CORPUS


def variants(*names: str) -> list[Variant]:
    return [Variant(name=n, backend="openai", model=n, base_url="http://127.0.0.1:9/v1") for n in names]


def test_uniform_sampler_is_uniform_over_pairs_and_sides() -> None:
    sampler = PairSampler(rng=random.Random(7))
    pool = variants("a", "b", "c", "d")
    pairs, firsts = Counter(), Counter()
    for _ in range(6000):
        first, second, decision = sampler.choose(pool, {})
        assert first.name != second.name and decision["mode"] == "uniform"
        assert decision["p_pair"] == pytest.approx(1 / 6, abs=1e-6)
        pairs[frozenset((first.name, second.name))] += 1
        firsts[first.name] += 1
    assert len(pairs) == 6 and all(800 < n < 1200 for n in pairs.values())
    assert all(1300 < n < 1700 for n in firsts.values())
    with pytest.raises(SamplerError, match="two active"):
        sampler.choose(variants("solo"), {})


def test_exposure_caps_exclude_overexposed_variants() -> None:
    pool = variants("a", "b", "c")
    sampler = PairSampler(caps={"a": 0.5}, cap_min_battles=10, rng=random.Random(1))
    counts = {"a": 30, "b": 15, "c": 15}  # 30 battles: a took part in all of them
    for _ in range(200):
        first, second, decision = sampler.choose(pool, counts)
        assert {first.name, second.name} == {"b", "c"} and decision["capped"] == ["a"]
    assert sampler.choose(pool, {"a": 4, "b": 2, "c": 2})[2]["capped"] == []  # too few battles for caps
    everyone = PairSampler(default_cap=0.1, cap_min_battles=1, rng=random.Random(1))
    first, second, decision = everyone.choose(pool, counts)
    assert decision["caps_relaxed"] and first.name != second.name  # never leaves the arena without a pair


def test_uncertainty_sampler_favours_wide_intervals_and_explores() -> None:
    pool = variants("a", "b", "c")
    sampler = PairSampler(mode="uncertainty", exploration=0.1, rng=random.Random(3))
    widths = {"a": 400.0, "b": 380.0, "c": 20.0}
    pairs = Counter()
    for _ in range(3000):
        first, second, decision = sampler.choose(pool, {}, widths)
        pairs[frozenset((first.name, second.name))] += 1
    assert pairs[frozenset("ab")] > pairs[frozenset("ac")] > pairs[frozenset("bc")] > 0
    _, _, decision = sampler.choose(pool, {}, widths)
    assert decision["mode"] == "uncertainty" and 0 < decision["p_pair"] < 1
    assert sampler.choose(pool, {}, None)[2]["mode"] == "uniform"  # no ratings yet: uniform


def test_identity_guard_names_aliases_providers_word_bounded() -> None:
    guard = IdentityGuard.from_variants(builtin_variants())
    assert guard.find("I am SmolLM2, a model.") == ["smollm2"]  # reported as the registry spells it
    assert guard.find("This is smollm2 135m talking") == ["smollm2-135m"]
    assert guard.find("I was built by Local llama.cpp") == ["local llama.cpp"]  # a provider, self-identifying
    assert guard.find("served by Local llama.cpp") == []  # a provider merely mentioned
    assert guard.find("smollm2-135m-chat-exp here") == ["smollm2-135m-chat-exp"]
    assert guard.find("xsmollm2 and smollm25 and smollmish") == []
    conversation = [{"role": "user", "content": "are you smollm2?"}, {"role": "assistant", "content": "No idea."}]
    assert guard.check_answers(conversation, conversation) == []


def test_markdown_is_rendered_and_sanitized() -> None:
    render = Renderer()
    assert render("**bold** and `code`") == "<p><strong>bold</strong> and <code>code</code></p>\n"
    html = render("```python\nprint('<b>')\n```")
    assert html.startswith("<pre><code>") and "&lt;b&gt;" in html
    link = render("[site](https://example.com)")
    assert 'href="https://example.com"' in link and "noopener" in link and "nofollow" in link
    assert render("![logo](https://example.com/x.png)") == "<p>[image: logo]</p>\n"
    for payload in XSS_CORPUS:
        tags = collect_tags(render(payload))
        for tag, attrs in tags:
            assert tag in ALLOWED_TAGS, (payload, tag)
            for name, value in attrs:
                assert not name.startswith("on"), (payload, name)
                if name == "href":
                    assert (value or "").startswith(("http://", "https://", "mailto:")), (payload, value)


def collect_tags(html: str) -> list[tuple[str, list[tuple[str, str | None]]]]:
    found: list[tuple[str, list[tuple[str, str | None]]]] = []

    class Collector(HTMLParser):
        def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
            found.append((tag, attrs))

    Collector().feed(html)
    return found


def test_rate_limiter_buckets() -> None:
    limiter = RateLimiter()
    assert [limiter.allow(("create", "v"), 3, now=100.0) for _ in range(3)] == [0.0, 0.0, 0.0]
    wait = limiter.allow(("create", "v"), 3, now=100.0)
    assert 19.0 < wait <= 20.0  # one token every 20 s at 3 per minute
    assert limiter.allow(("create", "v"), 3, now=121.0) == 0.0
    assert limiter.allow(("create", "other"), 3, now=100.0) == 0.0
    assert limiter.allow(("create", "v"), 0, now=100.0) == 0.0  # 0 = off
    small = RateLimiter(max_keys=10)
    for i in range(50):
        small.allow(("x", str(i)), 5, now=float(i))
    assert len(small._buckets) <= 11


def test_voter_cookies_are_signed_and_pseudonymous() -> None:
    cookies = VoterCookies("secret-1")
    voter, value = cookies.new()
    assert cookies.verify(value) == voter
    assert cookies.verify(value[:-2] + "xx") is None
    assert VoterCookies("secret-2").verify(value) is None
    assert cookies.verify(None) is None and cookies.verify("a" * 500) is None
    pseudonym = cookies.pseudonym(voter)
    assert pseudonym.startswith("v-") and voter not in pseudonym and pseudonym == cookies.pseudonym(voter)
    assert ip_hash("10.0.0.1", "salt") != ip_hash("10.0.0.1", "pepper") and "10.0.0.1" not in ip_hash("10.0.0.1", "s")
    assert ip_hash(None, "salt") is None


def test_sqlite_sync_mode_is_checked_with_a_clear_message(tmp_path) -> None:  # noqa: ANN001 - pytest fixture
    from typer.testing import CliRunner

    from glassboard.cli import app
    from glassboard.store.db import StoreError, make_engine

    result = CliRunner().invoke(app, ["serve", "--db", f"sqlite:///{tmp_path}/x.db", "--sqlite-sync", "off"])
    assert result.exit_code != 0 and "sqlite_sync must be one of full, normal, got 'off'" in result.output
    assert "Traceback" not in result.output
    with pytest.raises(StoreError, match="unknown SQLite sync mode 'off'"):
        make_engine(f"sqlite:///{tmp_path}/y.db", sqlite_sync="off")
    engine = make_engine(f"sqlite:///{tmp_path}/z.db", sqlite_sync="normal")
    with engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA synchronous").scalar() == 1  # NORMAL
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
    engine.dispose()


def test_language_is_named_only_when_the_detector_is_sure() -> None:
    from glassboard.arena.language import LanguageDetector, script_language

    detect = LanguageDetector()
    assert detect("Summarize the following text in three bullet points, please.") == "English"
    assert detect("Quelle est la capitale de la France ?") == "French"
    assert detect("Cześć, jak się masz?") == "Polish"
    assert detect("请用中文写一首关于秋天的诗") == "Chinese"  # the model is unsure (0.77); the script decides
    assert detect("日本の首都はどこですか") == "Japanese"
    assert detect("안녕하세요") == "Korean"
    for unsure in ("Hello there", "Hi", "def f(x): return x*2", "12345", "   ", "", "🙂🙂"):
        assert detect(unsure) is None, unsure  # too short or not language: no label rather than a guess
    assert script_language("Translate 你好 to English please") is None  # mostly Latin letters
    long_prompt = "The quick brown fox jumps over the lazy dog while the children watch from the garden. " * 1200
    assert detect(long_prompt) == "English"  # only the first MAX_CHARS are read
