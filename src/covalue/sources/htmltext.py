"""Plain text from the HTML that forums, chats and mail carry: paragraphs kept as line breaks, links and
media counted, mentions found; parsed without fetching anything."""

from __future__ import annotations

import html
import re
from dataclasses import dataclass, field

from lxml import etree
from lxml import html as lxml_html

#: elements that end a paragraph, and elements that only end a line, once the markup is gone
_PARAGRAPH_TAGS = {
    "p",
    "ul",
    "ol",
    "pre",
    "blockquote",
    "h1",
    "h2",
    "h3",
    "h4",
    "h5",
    "h6",
    "hr",
    "table",
    "dl",
}


_LINE_TAGS = {"div", "br", "li", "tr", "dt", "dd"}

#: where Discourse, Zulip and mail HTML breaks a line (the same elements, with asides, and no definition lists)
_BLOCKS = (_PARAGRAPH_TAGS | _LINE_TAGS | {"aside"}) - {"dl", "dt", "dd"}


_SPACES = re.compile(r"[ \t\r\f\v]+")


_NEWLINES = re.compile(r"\n\s*\n+")


_HTML_PARSER = lxml_html.HTMLParser(no_network=True, remove_comments=True, remove_pis=True)


@dataclass
class Html:
    """What an HTML fragment holds: its plain text, images and uploads, and the people it mentions as
    (name shown, platform user id if the markup carries one, silent) — silent mentions are Zulip's
    quote-and-reply references that do not notify."""

    text: str
    media: int = 0
    mentions: list[tuple[str, str | None, bool]] = field(default_factory=list)


def parse_html(html: str | None) -> Html:
    """Plain text, media count and mentions from an HTML fragment (Discourse cooked posts, Zulip
    messages, HTML mail).

    A link keeps its address in brackets after its words (``issue #1 (https://...)``) so the link
    count made from the text stays right; mentions and other site-relative links are left as words.
    """
    if not html or not html.strip():
        return Html("")
    try:
        root = lxml_html.fragment_fromstring(html, create_parent="div", parser=_HTML_PARSER)
    except (etree.ParserError, ValueError):
        return Html(html)
    out = Html("")
    for el in root.iter():
        tag = el.tag if isinstance(el.tag, str) else ""
        cls = el.get("class") or ""
        if tag in ("script", "style"):
            el.text = ""
            continue
        if tag == "img":
            if "emoji" not in cls and "avatar" not in cls:
                out.media += 1
            alt = el.get("alt") or el.get("title") or ""
            el.tail = (f" {alt} " if alt and "emoji" in cls else "") + (el.tail or "")
        elif tag == "a":
            href = (el.get("href") or "").strip()
            words = el.text_content().strip()
            if href.startswith(("http://", "https://")) and href not in words:
                el.tail = f" ({href})" + (el.tail or "")
            if "attachment" in cls:
                out.media += 1
            if "mention" in cls.split() and href.startswith(("/u/", "/users/")):
                out.mentions.append((href.rstrip("/").rsplit("/", 1)[-1], None, False))
        elif tag == "span" and "user-mention" in cls.split():
            uid = el.get("data-user-id")
            name = el.text_content().strip().removeprefix("@").strip("*").strip()
            if name and uid != "*":
                out.mentions.append((name, uid, "silent" in cls.split()))
        if tag in _BLOCKS:
            el.tail = "\n" + (el.tail or "")
    text = root.text_content()
    lines = (_SPACES.sub(" ", line).strip() for line in text.split("\n"))
    out.text = _NEWLINES.sub("\n\n", "\n".join(lines)).strip()
    return out


def html_text(html: str | None) -> tuple[str, int]:
    """(plain text, images and uploads) of an HTML fragment; see :func:`parse_html`."""
    h = parse_html(html)
    return h.text, h.media


_URL = re.compile(r"https?://", re.I)


_BLANK_LINES = re.compile(r"\n\s*\n\s*")


def html_to_text(body: str | None) -> tuple[str, int]:
    """Plain text of an HTML fragment and the number of links in it (counted before the markup goes)."""
    if not body or not body.strip():
        return "", 0
    try:
        root = lxml_html.fragment_fromstring(body, create_parent="div")
    except (etree.ParserError, ValueError):
        # not HTML at all (or unparsable): drop anything tag-like, keep the rest
        text = html.unescape(re.sub(r"<[^>]{0,500}>", " ", body))
        return _tidy(text), len(re.findall(r"<a\s[^>]*href", body, re.I))
    links = 0
    for el in root.iter():
        tag = el.tag if isinstance(el.tag, str) else ""
        in_link = any(True for _ in el.iterancestors("a"))
        if tag == "a" and el.get("href"):
            links += 1
        elif el.text and not in_link:  # a bare address in the text is a link too
            links += len(_URL.findall(el.text))
        if el.tail and not in_link:
            links += len(_URL.findall(el.tail))
        if tag in _PARAGRAPH_TAGS:  # keep paragraphs and lines apart once the tags are gone
            el.tail = "\n\n" + (el.tail or "")
        elif tag in _LINE_TAGS:
            el.tail = "\n" + (el.tail or "")
    return _tidy(root.text_content()), links


def _tidy(text: str) -> str:
    lines = (_SPACES.sub(" ", line).strip() for line in text.split("\n"))
    return _BLANK_LINES.sub("\n\n", "\n".join(lines)).strip()
