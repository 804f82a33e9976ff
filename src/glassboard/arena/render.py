"""Safe markdown: markdown-it-py with raw HTML off, then nh3 with a small allow-list (http/https/mailto links)."""

from __future__ import annotations

import nh3
from markdown_it import MarkdownIt
from markdown_it.common.utils import escapeHtml

ALLOWED_TAGS = {
    "p", "br", "hr", "h1", "h2", "h3", "h4", "h5", "h6", "strong", "em", "code", "pre", "blockquote",
    "ul", "ol", "li", "a", "table", "thead", "tbody", "tr", "th", "td", "del", "s",
}
ALLOWED_ATTRIBUTES = {"a": {"href", "title"}, "ol": {"start"}, "th": {"style"}, "td": {"style"}}
URL_SCHEMES = {"http", "https", "mailto"}


def _image_as_text(renderer, tokens, idx, options, env) -> str:  # noqa: ANN001 - markdown-it rule signature
    """An image becomes its alt text in brackets: nothing is fetched from the URL."""
    alt = renderer.renderInlineAsText(tokens[idx].children or [], options, env)
    return escapeHtml(f"[image: {alt}]" if alt else "[image]")


class Renderer:
    """Markdown to sanitized HTML; images are not rendered (they would load third-party URLs in a blind test)."""

    def __init__(self) -> None:
        self._md = MarkdownIt("commonmark", {"html": False, "linkify": False}).enable(["table", "strikethrough"])
        self._md.add_render_rule("image", _image_as_text)

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
