"""One mail message read for what a community needs: who sent it (also when a list rewrote From), when,
what it replies to, and its own text apart from what it quotes."""

from __future__ import annotations

import codecs
import email
import email.errors
import email.policy
import re
from datetime import datetime
from email.header import decode_header
from email.message import EmailMessage
from email.utils import getaddresses, parseaddr, parsedate_to_datetime
from functools import lru_cache

from lxml import etree
from lxml import html as lxml_html

from covalue.sources.base import to_utc
from covalue.sources.htmltext import html_text

_OBFUSCATED = re.compile(r"^\s*([^\s@()<>]+) at ([^\s@()<>]+)\s*(?:\((.*)\))?\s*$", re.S)


MSGID = re.compile(r"<([^<>\s]+)>")


_REPLY_PREFIX = re.compile(
    r"^\s*(?:(?:re|aw|sv|antw|fwd?|wg)\s*(?:\[\d+\])?\s*:\s*|\[[^\]]{1,60}\]\s*)+", re.I
)


IS_REPLY = re.compile(r"^\s*(?:\[[^\]]{1,60}\]\s*)*(?:re|aw|sv|antw)\s*(?:\[\d+\])?\s*:", re.I)


_LIST_ID = re.compile(r"^\s*(.*?)\s*<([^<>]+)>\s*$")


#: ``Jane Doe via Some-List`` (Mailman 3, groups.io) or ``'Jane Doe' via group`` (Google Groups)
_VIA = re.compile(r"^\s*[\"']?(.+?)[\"']?\s+via\s+(\S.*?)\s*$", re.I)


_MAILTO = re.compile(r"mailto:([^>?,\s]+)", re.I)


#: where a list that rewrote From keeps the person, most explicit first
_ORIGINAL_SENDER = ("x-original-from", "reply-to", "x-original-sender")


def _clean(text: str) -> str:
    """Turn bytes smuggled as surrogates (8-bit headers) back into readable text."""
    if not _SURROGATE.search(text):
        return text
    raw = text.encode("utf-8", "surrogateescape")
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return raw.decode("cp1252", "replace")


def decode_words(value: str) -> str:
    """RFC 2047 encoded words (=?utf-8?q?...?=) decoded, each with a charset fallback when its declared
    charset is wrong or unknown."""
    if "=?" not in value:
        return _clean(value)
    try:
        chunks = decode_header(value)
    except (ValueError, email.errors.HeaderParseError):
        return _clean(value)
    out = []
    for chunk, charset in chunks:
        out.append(decode_payload(chunk, charset)[0] if isinstance(chunk, bytes) else chunk)
    return _clean("".join(out))


@lru_cache(maxsize=65536)  # lists repeat the same senders, and parseaddr is slow
def parse_from(value: str) -> tuple[str | None, str | None]:
    """(address, display name) from a From header, including pipermail's ``jane at example.org (Jane)``."""
    value = value.strip()
    m = _OBFUSCATED.match(value)
    if m:
        return _clean(f"{m.group(1)}@{m.group(2)}").lower(), (
            decode_words(m.group(3)).strip() or None if m.group(3) else None
        )
    name, addr = parseaddr(value)
    addr = _clean(addr).strip().lower() or None
    name = decode_words(name).strip() if name else ""
    if addr is not None and "@" not in addr:
        name, addr = name or addr, None
    if addr is None and not name and value:
        # nothing that looks like an address: keep what the header says as the account
        return None, decode_words(value).strip() or None
    return addr, name or None


def _list_identity(headers: dict[str, str]) -> tuple[set[str], str | None]:
    """The list's own posting addresses (``List-Post``) and its ``List-Id`` identifier, lower-cased."""
    posts = {m.lower() for m in _MAILTO.findall(_clean(headers.get("list-post") or ""))}
    ident = split_list_id(headers["list-id"])[0].lower() or None if headers.get("list-id") else None
    return posts, ident


def original_sender(
    headers: dict[str, str], addr: str | None, name: str | None
) -> tuple[str, str | None, str | None] | None:
    """``(key, display name, address)`` of the person behind a From that a list rewrote, or None when
    From is a person's own (or the list's and nobody else can be found).

    From is the list's when its address is a ``List-Post`` address, when it is the ``List-Id`` with
    ``@`` for its first dot (``some-list@lists.example.org`` for ``<some-list.lists.example.org>``), or
    when its display name reads "Jane Doe via Some-List". The person is then the first address in
    ``X-Original-From``, ``Reply-To`` or ``X-Original-Sender`` that is not the list's; failing that,
    the name before " via ", keyed within the list so that two people of the same list never merge
    and the same name on two lists stays two accounts.
    """
    posts, ident = _list_identity(headers)
    via = _VIA.match(name) if name else None
    own = bool(addr) and (addr in posts or (ident is not None and addr.replace("@", ".", 1) == ident))
    if not own and via is None:
        return None
    lists = posts | ({addr} if addr else set())
    for header in _ORIGINAL_SENDER:
        value = headers.get(header)
        if not value:
            continue
        try:
            found = getaddresses([_clean(value)])
        except (ValueError, TypeError, IndexError):
            continue
        for other_name, other in found:
            other = other.strip().lower()
            if "@" in other and other not in lists and (ident is None or other.replace("@", ".", 1) != ident):
                display = decode_words(other_name).strip() if other_name else ""
                return other, display or (via.group(1).strip() if via else None), other
    if via is None:
        return None
    person = via.group(1).strip()
    where = ident or addr or via.group(2).strip().lower()
    return f"via:{where}:{person.casefold()}", person, None


def recovered_warning(label: str, n: int) -> str:
    """What an ingest says when :func:`original_sender` recovered ``n`` senders of a source."""
    return (
        f"{label}: the list rewrote From on some messages; {n} senders were recovered "
        "from X-Original-From, Reply-To or the name before 'via'"
    )


def decode_payload(payload: bytes, charset: str | None) -> tuple[str, bool]:
    """Text from a part's bytes and whether the declared charset had to be abandoned (or was missing on
    non-ASCII text)."""
    if charset:
        try:
            codecs.lookup(charset)
            return payload.decode(charset), False
        except (LookupError, UnicodeDecodeError, ValueError):
            pass
    try:
        text = payload.decode("utf-8")
        return text, bool(charset) and charset.lower() not in ("utf-8", "utf8")
    except UnicodeDecodeError:
        return payload.decode("cp1252", "replace"), True


def raw_headers(msg: EmailMessage) -> dict[str, str]:
    """The raw (unparsed) header values by lower-cased name, first occurrence winning, so that a
    malformed header cannot raise while it is read."""
    out: dict[str, str] = {}
    for key, value in msg.raw_items():
        out.setdefault(key.lower(), str(value))
    return out


def sent_at(msg: EmailMessage, raw: str | None) -> datetime | None:
    if raw is None or not raw.strip():
        return None
    try:
        return to_utc(parsedate_to_datetime(raw))
    except (ValueError, TypeError, IndexError, OverflowError):
        pass
    try:  # the structured header is more forgiving of junk around the date
        dt = getattr(msg["date"], "datetime", None)
    except (ValueError, TypeError, IndexError, AttributeError):
        return None
    return to_utc(dt) if dt is not None else None


def message_body(msg: EmailMessage) -> tuple[str, int, bool]:
    """(text, attachments, charset fallback used) of a message: text/plain preferred, else HTML as text."""
    plain: str | None = None
    html: str | None = None
    attachments = 0
    fallback = False
    parts = msg.walk() if msg.is_multipart() else [msg]
    for part in parts:
        if part.is_multipart():
            continue
        ctype = part.get_content_type()
        disposition = part.get_content_disposition()
        if (
            disposition == "attachment"
            or (
                ctype not in ("text/plain", "text/html")
                and ctype.startswith(("application/", "image/", "audio/", "video/", "message/"))
            )
            or (part.get_filename() and ctype not in ("text/plain", "text/html"))
        ):
            if ctype != "application/pgp-signature":
                attachments += 1
            continue
        if ctype not in ("text/plain", "text/html") or (plain is not None and html is not None):
            continue
        try:
            payload = part.get_payload(decode=True)
        except (ValueError, TypeError, AssertionError):
            payload = None
        if payload is None:
            raw = part.get_payload()
            payload = raw.encode("utf-8", "surrogateescape") if isinstance(raw, str) else b""
        try:
            charset = part.get_content_charset()
        except (ValueError, TypeError):
            charset = None
        text, fb = decode_payload(payload, charset)
        if ctype == "text/plain" and plain is None:
            plain, fallback = text, fallback or fb
        elif ctype == "text/html" and html is None:
            html, fallback = text, fallback or fb
    if plain is not None and plain.strip():
        return plain.strip(), attachments, fallback
    if html is not None:
        return html_text(quote_marked(html))[0], attachments, fallback
    return (plain or "").strip(), attachments, fallback


def split_list_id(value: str) -> tuple[str, str]:
    """(identifier, label) of a ``List-Id`` such as ``Some List <some-list.lists.example.org>``."""
    value = decode_words(value)
    m = _LIST_ID.match(value)
    return (m.group(2).strip(), m.group(1).strip('" ')) if m else (value.strip(), "")


def list_label(value: str) -> str | None:
    """What a ``List-Id`` calls the list: its label, else its identifier."""
    ident, label = split_list_id(value)
    return label or ident or None


def quote_marked(html: str) -> str:
    """HTML mail with each outermost ``<blockquote>`` replaced by its text, every line marked ``> ``, as
    a plain-text mail client shows a quote: the text then says which lines are quoted, and the word
    counts and roles leave them out (:mod:`covalue.quoting`) as they do for plain-text mail."""
    if "<blockquote" not in html.lower():
        return html
    try:
        root = lxml_html.fragment_fromstring(html, create_parent="div", parser=_HTML_PARSER)
    except (etree.ParserError, ValueError):
        return html
    for quote in root.xpath("//blockquote[not(ancestor::blockquote)]"):
        inner = html_text(etree.tostring(quote, encoding="unicode", with_tail=False))[0]
        marked = lxml_html.Element("div")
        marked.text = "\n" + "\n".join("> " + line for line in inner.split("\n")) + "\n"
        marked.tail = quote.tail
        quote.getparent().replace(quote, marked)
    return etree.tostring(root, encoding="unicode")


def normalise_subject(subject: str) -> str:
    """A subject without reply/forward prefixes and list tags, lower-cased and with spaces collapsed."""
    return " ".join(_REPLY_PREFIX.sub("", subject).split()).lower()


_SURROGATE = re.compile("[\udc80-\udcff]")


_HTML_PARSER = lxml_html.HTMLParser(no_network=True, remove_comments=True, remove_pis=True)
