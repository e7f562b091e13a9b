"""Quoted text in replies: what is not the author's own words.

Mail replies (and chat or forum messages pasted from mail) carry the message they answer: ``>`` lines,
an attribution ("On Mon, Jane wrote:", "Le lundi, Jane a écrit :"), Outlook's "-----Original
Message-----" or "From: … Sent: …" block with the old message below it unmarked, and a signature after
a "-- " line. Left in, a reply that quotes a question reads as a question, and its length is the
length of the whole thread. The stored text stays whole; classification and length measures use
:func:`own_text` (in Python) or :func:`strip_quoted` (an engine expression) instead.

One list of rules serves both, so the reader's word counts and the engine's roles agree. The rules are
regular expressions in the common subset of RE2 (DuckDB), Java (Spark) and Python: no look-arounds and
no back-references, and ``^``/``$`` only for the start and end of the whole text. They are written in
lower case because the engine applies them to lower-cased text (Python matches them ignoring case).

Why no library: quotequail and mail-parser-reply (both maintained) find quotes well in Python, but
classification runs inside the engine on DuckDB or Spark, where a Python function per row would be the
one slow, engine-specific step; two definitions of "quoted" (one in the reader, another in the engine)
would also let word counts and roles disagree.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import ibis.expr.types as ir

_ATTRIBUTED = r"(?:wrote|writes|schrieb|a écrit|escribió|ha scritto|schreef|escreveu|napisał)"
_OPENER = r"(?:on|am|le|el|il|op|em|w dniu)"
_FROM = r"\*?(?:from|von|de|van|da|od)\*?"
_SENT = r"\*?(?:sent|gesendet|envoyé|verzonden|inviato|enviado|wysłane)\*?"
_ORIGINAL = (
    r"-{2,}[ \t]*(?:original message|ursprüngliche nachricht|message d'origine|mensaje original"
    r"|messaggio originale|oorspronkelijk bericht|mensagem original)[ \t]*-{2,}"
)

#: (pattern, replacement), applied in this order
RULES: tuple[tuple[str, str], ...] = (
    # Outlook: everything from its separator, or from its "From: … / Sent: …" header block (and the
    # rule of underscores above it), on is the old message
    (r"(?:^|\n)[ \t]*" + _ORIGINAL + r"(?s:.*)", ""),
    (
        r"(?:^|\n)(?:[ \t]*_{8,}[ \t\r]*\n)?[ \t]*"
        + _FROM
        + r"[ \t\xa0]*:[^\n]*\r?\n[ \t]*"
        + _SENT
        + r"[ \t\xa0]*:(?s:.*)",
        "",
    ),
    # a signature: everything after a line that is "-- " (or "--")
    (r"(?:^|\n)--[ \t]?\r?(?:\n(?s:.*))?$", ""),
    # "On <date>, <name> wrote:", even with the quote unmarked below; wrapped onto a second line only
    # when the first holds a digit (a date), so that "On my machine ..." is never taken with it (the
    # first digit is found without backtracking: no line, however long, costs more than one pass)
    (
        r"(?:^|\n)[ \t]*"
        + _OPENER
        + r"\b(?:[^\n]*|[^\n\d]*\d[^\n]*\r?\n[^\n]*)\b"
        + _ATTRIBUTED
        + r"[ \t\xa0]*:[ \t\r]*(?:\n|$)",
        "\n",
    ),
    # any other line ending in "wrote:" right before quoted lines introduces them
    (r"(?:^|\n)[^\n]*\b" + _ATTRIBUTED + r"[ \t\xa0]*:[ \t\r]*\n(?:[ \t\r]*\n)*[ \t]*>", "\n>"),
    # quoted lines
    (r"(?:^|\n)[ \t]*>[^\n]*", ""),
)

_COMPILED = tuple((re.compile(p, re.I), r) for p, r in RULES)

#: what any rule needs somewhere in the text: most messages have none of it, and :func:`own_text`
#: spares them the rules (one search instead of six replacements)
ANY_MARK = (
    r"(?:^|\n)[ \t]*>|(?:^|\n)--|"
    + _ATTRIBUTED
    + r"|"
    + _SENT
    + r"|-{2,}[ \t]*(?:original|ursprüngliche|message d|mensaje"
    r"|messaggio|oorspronkelijk|mensagem)"
)
_ANY_MARK = re.compile(ANY_MARK, re.I)


def own_text(text: str | None) -> str:
    """The part of a message its author wrote: quotes, attributions, quoted Outlook blocks and the
    signature left out."""
    if not text:
        return ""
    if _ANY_MARK.search(text):
        for rx, repl in _COMPILED:
            text = rx.sub(repl, text)
    return text.strip()


def strip_quoted(text: ir.StringValue) -> ir.StringValue:
    """:func:`own_text` as an engine expression, for text that is already lower-cased.

    The six replacements run on every text, with no test for :data:`ANY_MARK` first: a CASE there
    turns DuckDB's dictionary-encoded text into one string per row, so every later expression on the
    text (markup removal, each role's rules) ran once per item instead of once per distinct text
    (classifying the 1 M-action synthetic organisation took twice as long). Where no mark is found
    the rules change nothing, so the result is the same.
    """
    stripped = text
    for pattern, repl in RULES:
        stripped = stripped.re_replace(pattern, repl)
    return stripped
