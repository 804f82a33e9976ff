"""Safe markdown: markdown-it-py with raw HTML off, then nh3 with a small allow-list (http/https/mailto links).

Also owns "what the voter sees" as plain text (`visible_text`), which the identity guard matches on, and rendering
off the event loop (`html`): markdown-it is pure Python, and a 50 MB answer rendered on the loop stalled every
other request for 790 ms. Rendering runs on one worker thread of the renderer's own, so a burst of renders takes
at most that one thread's share of the interpreter, never the loop's.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

import nh3
from markdown_it import MarkdownIt
from markdown_it.common.utils import escapeHtml
from markdown_it.renderer import RendererHTML
from markdown_it.token import Token
from markdown_it.utils import EnvType, OptionsDict

ALLOWED_TAGS = {
    "p", "br", "hr", "h1", "h2", "h3", "h4", "h5", "h6", "strong", "em", "code", "pre", "blockquote",
    "ul", "ol", "li", "a", "table", "thead", "tbody", "tr", "th", "td", "del", "s",
}
ALLOWED_ATTRIBUTES = {"a": {"href", "title"}, "ol": {"start"}, "th": {"style"}, "td": {"style"}}
URL_SCHEMES = {"http", "https", "mailto"}
T = TypeVar("T")
# Answers up to this many characters are rendered on the loop. Measured (2 shared cores): the hand-off to the render
# thread costs ~60 us of wall time; rendering 17-100 plain characters ~55 us, 210 characters of light markdown
# ~470 us, 2,000 characters ~3 ms. Markup, not length, sets the cost, so only trivially short answers stay.
INLINE_CHARS = 64


def _image_as_text(renderer: RendererHTML, tokens: Sequence[Token], idx: int, options: OptionsDict,
                   env: EnvType) -> str:
    """An image becomes its alt text in brackets: nothing is fetched from the URL."""
    alt = renderer.renderInlineAsText(tokens[idx].children or [], options, env)
    return escapeHtml(f"[image: {alt}]" if alt else "[image]")


class Renderer:
    """Markdown to sanitized HTML; images are not rendered (they would load third-party URLs in a blind test)."""

    def __init__(self) -> None:
        self._md = MarkdownIt("commonmark", {"html": False, "linkify": False}).enable(["table", "strikethrough"])
        self._md.add_render_rule("image", _image_as_text)
        self._pool: concurrent.futures.ThreadPoolExecutor | None = None

    def __call__(self, text: str) -> str:
        html = self._md.render(text or "")
        return nh3.clean(
            html,
            tags=ALLOWED_TAGS,
            attributes=ALLOWED_ATTRIBUTES,
            url_schemes=URL_SCHEMES,
            link_rel="noopener nofollow noreferrer",
            strip_comments=True,
            filter_style_properties={"text-align"},
        )

    async def html(self, text: str) -> str:
        """`self(text)`, on the render thread unless the text is short."""
        if len(text or "") <= INLINE_CHARS:
            return self(text)
        return await self.offload(self, text)

    async def offload(self, fn: Callable[..., T], *args: Any, size: int | None = None) -> T:
        """`fn(*args)` on the render thread (for other work on answers, e.g. the identity guard); inline when the
        text it works on has at most INLINE_CHARS characters (`size`): a thread hop would cost more than the work,
        and under load it waits for the GIL (measured: p50 at 300 battles/s 32 ms with every answer hopping)."""
        if size is not None and size <= INLINE_CHARS:
            return fn(*args)
        if self._pool is None:
            self._pool = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="render")
        return await asyncio.get_running_loop().run_in_executor(self._pool, fn, *args)

    def visible_text(self, text: str) -> str:
        """The text a voter reads once `text` is rendered, plus link targets (shown on hover), one block a line.

        Markdown syntax is gone (`**alpha**-7b` and `alpha\\-7b` read "alpha-7b"), code stays as written, an
        image reads "[image: ALT]" as rendered.
        """
        out: list[str] = []
        for token in self._md.parse(text or ""):
            if token.type in ("fence", "code_block"):
                out.append(token.content)
            elif token.type == "inline":
                out.append("".join(_inline_text(token.children or [])))
        return "\n".join(out)

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True)
            self._pool = None


def _inline_text(children: list[Token]) -> list[str]:
    """Text, inline code and image alt text as the voter reads them; link targets after, each on its own line."""
    parts: list[str] = []
    targets: list[str] = []
    for child in children:
        if child.type in ("text", "code_inline"):
            parts.append(child.content)
        elif child.type in ("softbreak", "hardbreak"):
            parts.append("\n")
        elif child.type == "image":
            alt = "".join(_inline_text(child.children or []))
            parts.append(f"[image: {alt}]" if alt else "[image]")
        elif child.type == "link_open" and child.attrs.get("href"):
            targets.append(f"\n{child.attrs['href']}")
    return [*parts, *targets]
