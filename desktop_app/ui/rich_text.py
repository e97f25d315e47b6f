"""A model's Markdown answer as HTML for Qt's rich-text view, code highlighted.

Qt's rich text understands a subset of HTML 4 with inline styles, so code
blocks are one-cell tables (a reliable background and border) with a header
row holding the language and a ``copy:<message>:<block>`` link the view
intercepts. Model output is untrusted: raw HTML is escaped (markdown-it's
``html`` option is off) and only http(s) and mailto links become links.

An answer that is a JSON document (what the Extract-to-JSON task writes, under its
grammar, or any answer that parses as a JSON object or array) is not Markdown: read as
Markdown it became one run-on paragraph. It is shown as one ``json`` code block, indented
for reading (Copy gives that text; it parses to the same value). An answer of the JSON
task that does not parse (stopped, or cut at its length limit) is still shown as code, as
written.
"""

from __future__ import annotations

import html
import json
from dataclasses import dataclass


HIGHLIGHT_LIMIT = 20_000   # longer code blocks are shown plain: highlighting cost is bounded
SAFE_SCHEMES = ("http://", "https://", "mailto:")


@dataclass(frozen=True)
class CodeBlock:
    index: int
    language: str
    code: str


@dataclass(frozen=True)
class RenderedMessage:
    parts: tuple[str, ...]     # the HTML of each top-level block, in order
    code_blocks: tuple[CodeBlock, ...]

    @property
    def html(self) -> str:
        return "".join(self.parts)


@dataclass(frozen=True)
class _Theme:
    pygments_style: str
    code_background: str
    code_border: str
    header_background: str
    inline_background: str
    muted: str


LIGHT = _Theme("default", "#f6f8fa", "#d0d7de", "#eaeef2", "#eff1f3", "#57606a")
DARK = _Theme("monokai", "#272822", "#3b3d36", "#32332c", "#3a3b35", "#a8a8a0")


def escape_plain(text: str) -> str:
    """Plain text as HTML that keeps its line breaks."""
    return html.escape(text).replace("\n", "<br>")


JSON_PRESET = "json"
JSON_LIMIT = 2_000_000  # longer answers are not parsed as JSON (bounded work per answer)


def json_document(text: str, *, preset_id: str | None = None) -> str | None:
    """``text`` indented for reading when it is a JSON object or array (or any answer of
    the JSON task, as written when it does not parse); None for other answers."""
    stripped = text.strip()
    if not stripped or len(stripped) > JSON_LIMIT:
        return None
    if stripped[0] in "[{":
        try:
            value = json.loads(stripped)
        except (ValueError, RecursionError):
            value = None
        if isinstance(value, (dict, list)):
            return json.dumps(value, indent=2, ensure_ascii=False)
    return stripped if preset_id == JSON_PRESET else None


def render_markdown(text: str, *, message_id: int | str, dark: bool = False,
                    preset_id: str | None = None) -> RenderedMessage:
    theme = DARK if dark else LIGHT
    document = json_document(text, preset_id=preset_id)
    if document is not None:
        block = CodeBlock(0, "json", document)
        return RenderedMessage((_code_block_html(block, message_id, theme),), (block,))
    from markdown_it import MarkdownIt  # here, not at start-up: the window opens sooner

    # breaks: a single newline is a line break, as the model wrote it (poems, addresses,
    # lists without markers), not CommonMark's soft break into a space.
    parser = MarkdownIt("commonmark", {"html": False, "linkify": False, "breaks": True})
    parser.enable(["table", "strikethrough"])
    blocks: list[CodeBlock] = []

    def fence(_renderer, tokens, idx, _options, _env) -> str:
        token = tokens[idx]
        language = (token.info or "").strip().split(" ")[0]
        code = token.content
        block = CodeBlock(len(blocks), language, code)
        blocks.append(block)
        return _code_block_html(block, message_id, theme)

    def code_inline(_renderer, tokens, idx, _options, _env) -> str:
        return (f"<code style='background:{theme.inline_background}; font-family:monospace'>"
                f"&nbsp;{html.escape(tokens[idx].content)}&nbsp;</code>")

    def link_open(renderer, tokens, idx, options, env) -> str:
        href = tokens[idx].attrGet("href") or ""
        if not href.lower().startswith(SAFE_SCHEMES):
            tokens[idx].attrs.pop("href", None)
            return "<span>"
        return renderer.renderToken(tokens, idx, options, env)

    def link_close(renderer, tokens, idx, options, env) -> str:
        opener = next((t for t in reversed(tokens[:idx]) if t.type == "link_open"), None)
        if opener is not None and "href" not in opener.attrs:
            return "</span>"
        return renderer.renderToken(tokens, idx, options, env)

    def image(_renderer, tokens, idx, _options, _env) -> str:  # never load anything
        return html.escape(f"[image: {tokens[idx].content or 'untitled'}]")

    parser.add_render_rule("fence", fence)
    parser.add_render_rule("code_block", fence)
    parser.add_render_rule("code_inline", code_inline)
    parser.add_render_rule("link_open", link_open)
    parser.add_render_rule("link_close", link_close)
    parser.add_render_rule("image", image)
    table = (f"<table border='1' cellspacing='0' cellpadding='4' "
             f"style='border-style:solid; border-color:{theme.code_border}'>")
    parts = tuple(parser.renderer.render(group, parser.options, {}).replace("<table>", table)
                  for group in _top_level_blocks(parser.parse(text)))
    return RenderedMessage(parts, tuple(blocks))


def _top_level_blocks(tokens: list) -> list[list]:
    """Tokens grouped by top-level block, so a long answer can be shown a block at a time."""
    groups: list[list] = []
    depth = 0
    for token in tokens:
        if depth == 0:
            groups.append([])
        groups[-1].append(token)
        depth += token.nesting
    return groups


def _code_block_html(block: CodeBlock, message_id: int | str, theme: _Theme) -> str:
    # Qt draws a line between any two cells of a table, so the header (language left,
    # Copy right) is a borderless table nested in the block's first cell.
    label = html.escape(block.language or "code")
    return (
        f"<table width='100%' cellspacing='0' cellpadding='6' "
        f"style='background:{theme.code_background}; border:1px solid {theme.code_border}; "
        f"border-collapse:collapse; margin-top:6px; margin-bottom:6px'>"
        f"<tr><td style='background-color:{theme.header_background}; padding:0'>"
        f"<table width='100%' cellspacing='0' cellpadding='3' "
        f"style='color:{theme.muted}; font-size:small'><tr>"
        f"<td style='padding-left:6px'>{label}</td>"
        f"<td align='right' style='padding-right:6px'>"
        f"<a href='copy:{message_id}:{block.index}'>Copy</a></td></tr></table></td></tr>"
        f"<tr><td style='background-color:{theme.code_background}'>"
        f"<pre style='margin:0; font-family:monospace'>{_highlighted(block, theme)}</pre>"
        f"</td></tr></table>")


def _highlighted(block: CodeBlock, theme: _Theme) -> str:
    from pygments import highlight
    from pygments.formatters import HtmlFormatter
    from pygments.lexers import TextLexer, get_lexer_by_name
    from pygments.util import ClassNotFound

    code = block.code.rstrip("\n")
    if len(code) > HIGHLIGHT_LIMIT:
        return html.escape(code)
    try:
        lexer = get_lexer_by_name(block.language) if block.language else TextLexer()
    except ClassNotFound:
        lexer = TextLexer()
    formatter = HtmlFormatter(noclasses=True, nowrap=True, style=theme.pygments_style)
    return highlight(code, lexer, formatter).rstrip("\n")
