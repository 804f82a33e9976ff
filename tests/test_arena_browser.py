"""End to end in headless Chromium (Playwright, Debian's /usr/bin/chromium): battle, vote, reveal, leaderboard and
transparency with the bundled llama.cpp variants; an XSS corpus in prompts and model answers never executes."""

from __future__ import annotations

from pathlib import Path

from playwright.sync_api import Browser, Page

from arena_fixtures import ArenaServer, scripted_registry, settings_for
from glassboard.models import Registry

# Each payload, if it ever ran, would set window.__xss, open a dialog or log to the console.
XSS_CORPUS = [
    "<script>window.__xss=1</script>",
    "<SCRIPT SRC=data:text/javascript,window.__xss=2></SCRIPT>",
    "<img src=x onerror=window.__xss=3>",
    "<svg onload=window.__xss=4>",
    "<svg><script>window.__xss=5</script></svg>",
    "<math><mtext><table><mglyph><style><img src=x onerror=window.__xss=6>",
    "<body onload=window.__xss=7>",
    "<iframe src=\"javascript:window.parent.__xss=8\"></iframe>",
    "<a href=\"javascript:window.__xss=9\">click</a>",
    "[click me](javascript:window.__xss=10)",
    "[click me](JaVaScRiPt:window.__xss=11)",
    "[click me](java\tscript:window.__xss=12)",
    "[click me](&#106;avascript:window.__xss=13)",
    "[x](data:text/html;base64,PHNjcmlwdD53aW5kb3cuX194c3M9MTQ8L3NjcmlwdD4=)",
    "![img](javascript:window.__xss=15)",
    "![img\" onerror=\"window.__xss=16](http://127.0.0.1:1/x.png)",
    "[a](http://x.test/\" onmouseover=\"window.__xss=17)",
    "<details open ontoggle=window.__xss=18>",
    "<input autofocus onfocus=window.__xss=19>",
    "<video><source onerror=window.__xss=20></video>",
    "<object data=\"javascript:window.__xss=21\"></object>",
    "<embed src=\"javascript:window.__xss=22\">",
    "<form action=\"javascript:window.__xss=23\"><button>go</button></form>",
    "<style>@import 'javascript:window.__xss=24';</style>",
    "<div style=\"background:url(javascript:window.__xss=25)\">x</div>",
    "<meta http-equiv=\"refresh\" content=\"0;url=javascript:window.__xss=26\">",
    "<base href=\"javascript:window.__xss=27//\">",
    "<svg><a xlink:href=\"javascript:window.__xss=28\"><text x=20 y=20>x</text></a></svg>",
    "<math href=\"javascript:window.__xss=29\">click</math>",
    "`<script>window.__xss=30</script>` and\n\n```html\n<script>window.__xss=31</script>\n```",
    "<scr<script>ipt>window.__xss=32</scr</script>ipt>",
    "\"><script>window.__xss=33</script>",
    "</textarea><script>window.__xss=34</script>",
    "<a href=\"&#0000106&#0000097&#0000118&#0000097&#0000115&#0000099&#0000114&#0000105&#0000112&#0000116:"
    "window.__xss=35\">x</a>",
    "[link](<javascript:window.__xss=36>)",
    "<img src=\"x\" onerror=\"&#119;indow.__xss=37\">",
    "<noscript><p title=\"</noscript><img src=x onerror=window.__xss=38>\">",
    "[ref]\n\n[ref]: javascript:window.__xss=39",
    "<https://x.test/\" onclick=\"window.__xss=40>",
    "<svg><animate onbegin=window.__xss=41 attributeName=x dur=1s>",
]


def watch(page: Page) -> list[str]:
    """Record anything that looks like executed script: dialogs and console messages."""
    seen: list[str] = []
    page.add_init_script("window.__xss = 0;")
    page.on("dialog", lambda dialog: (seen.append(f"dialog: {dialog.message}"), dialog.dismiss()))
    page.on("console", lambda message: seen.append(f"console: {message.text}") if "xss" in message.text else None)
    return seen


def battle(page: Page, prompt: str, turn: int = 0, timeout: float = 60_000) -> None:
    """Send a prompt and wait until both answers of that turn are finished (and the battle is votable)."""
    page.fill("#prompt", prompt)
    page.click("#send")
    for side in ("a", "b"):
        page.wait_for_selector(f"#side-{side} .turn[data-turn='{turn}'] .answer:not(.streaming)", timeout=timeout)
    page.wait_for_selector("#vote:not([hidden]), .battle.failed", timeout=timeout)


def test_battle_vote_reveal_leaderboard_with_llama_cpp(browser: Browser, tmp_path: Path) -> None:
    registry = Registry.load(None)  # the two bundled llama.cpp variants
    settings = settings_for(f"sqlite:///{tmp_path / 'arena.db'}", registry,
                            generation={"max_tokens": 16, "temperature": 0.0})
    with ArenaServer(settings) as server:
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        seen = watch(page)
        page.goto(server.url)
        assert page.is_hidden("#vote")
        battle(page, "Name three colours of the rainbow.")
        answers = [page.inner_text(f"#side-{side} .answer") for side in ("a", "b")]
        assert all(a.strip() for a in answers), answers
        assert page.inner_text("#side-a h2") == "Model A"  # still anonymous
        page.click("button[data-winner='model_a']")
        page.wait_for_selector("#reveal:not([hidden])")
        reveal = page.inner_text("#reveal")
        assert "smollm2-135m" in reveal
        headers = sorted(page.inner_text(f"#side-{side} h2").split(": ")[1] for side in ("a", "b"))
        assert headers == ["smollm2-135m", "smollm2-135m-chat-exp"]
        assert page.is_hidden("#vote")
        page.screenshot(path=str(tmp_path / "arena.png"), full_page=True)
        # A second battle, then the leaderboard has rows.
        page.click("#new")
        battle(page, "What is 2 + 2?")
        page.click("button[data-winner='tie']")
        page.wait_for_selector("#reveal:not([hidden])")
        page.goto(f"{server.url}/leaderboard")
        body = page.inner_text("main")
        assert "smollm2-135m-chat-exp" in body and "NaN" not in body
        assert page.locator("#board tbody tr").count() == 2
        assert page.locator("#ci-plot").count() == 1
        page.goto(f"{server.url}/transparency")
        rows = page.inner_text("#variants")
        assert "smollm2-135m-chat-exp" in rows and "unreleased" in rows and "public" in rows
        page.goto(f"{server.url}/no/such/page")
        assert "Not found" in page.inner_text("main")
        assert seen == []
        page.close()


def test_xss_corpus_never_executes(browser: Browser, scripted_server, tmp_path: Path) -> None:
    assert len(XSS_CORPUS) >= 30
    registry = scripted_registry(scripted_server, {"alpha": "echo", "beta": "echo"})
    settings = settings_for(f"sqlite:///{tmp_path / 'arena.db'}", registry, create_per_min_voter=0,
                            create_per_min_ip=0, vote_per_min_voter=0, vote_per_min_ip=0)
    with ArenaServer(settings) as server:
        page = browser.new_page()
        seen = watch(page)
        page.goto(server.url)
        for index, payload in enumerate(XSS_CORPUS):
            if index:
                page.click("#new")
            battle(page, payload, timeout=15_000)
            assert page.is_visible("#vote"), payload
            prompt_text = page.inner_text("#side-a .prompt")
            assert prompt_text.strip() == payload.strip()  # the prompt is shown as text
            # Hover and click every link the answers contain: none may run script.
            for link in page.locator(".answer a").all():
                href = link.get_attribute("href") or ""
                assert href.startswith(("http://", "https://", "mailto:")), (payload, href)
                assert "noopener" in (link.get_attribute("rel") or "")
            dangerous = page.evaluate("""() => {
                const bad = [];
                for (const el of document.querySelectorAll('.side *')) {
                    const tag = el.tagName.toLowerCase();
                    if (['script', 'iframe', 'object', 'embed', 'svg', 'math', 'img', 'form', 'input', 'style',
                         'meta', 'base', 'video', 'details', 'noscript'].includes(tag)) bad.push(tag);
                    for (const attr of el.attributes) {
                        const name = attr.name.toLowerCase(), value = attr.value.toLowerCase().replace(/\\s/g, '');
                        if (name.startsWith('on') || value.includes('javascript:') || value.startsWith('data:'))
                            bad.push(tag + '@' + name);
                    }
                }
                return bad;
            }""")
            assert dangerous == [], (payload, dangerous)
            assert page.evaluate("window.__xss") == 0, payload
        # Continue the conversation: same two models, the new turn below the first, then vote.
        battle(page, "a follow-up **question**", turn=1)
        assert page.locator("#side-b .turn").count() == 2
        assert page.inner_html("#side-b .turn[data-turn='1'] .answer").startswith("<p>a follow-up <strong>")
        page.click("button[data-winner='tie']")
        page.wait_for_selector("#reveal:not([hidden])")
        assert "alpha" in page.inner_text("#reveal") and page.is_hidden("#vote")
        # Code blocks survive sanitizing, as code.
        page.click("#new")
        battle(page, "```html\n<script>window.__xss=99</script>\n```")
        assert "<script>window.__xss=99</script>" in page.inner_text("#side-a .answer pre code")
        page.hover("#side-a .answer")
        assert page.evaluate("window.__xss") == 0 and seen == []
        page.close()
