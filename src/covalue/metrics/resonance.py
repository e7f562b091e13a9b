"""What content resonates with members (the World Bank toolkit's member-value evidence): the most
viewed, replied and reacted content, the themes members ask about most, the themes left unanswered, and
the most attended events.

Counts are Ibis expressions over the canonical and derived tables, so they run in the engine; only the
top rows and the question texts (at most ``max_questions`` per community) come into Python. Themes are
TF-IDF vectors of the questions' titles and texts, clustered with k-means and named by the heaviest
terms of each cluster's centre, so a theme's name says what its questions share.
"""

from __future__ import annotations

import html
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import ibis
import ibis.expr.types as ir
import numpy as np

_TAGS = re.compile(r"<[^>]+>")
_CODE = re.compile(r"<pre>.*?</pre>|<code>.*?</code>|```.*?```", re.S)
_URL = re.compile(r"https?://\S+|www\.\S+")
_MENTION = re.compile(r"<[@#!][^>]*>")
_SPACE = re.compile(r"\s+")
_AT = re.compile(r"@[\w.-]+:?")  # a chat mention (@U061A5N1G, @name): a person, not a subject
#: words of asking itself, common to questions on any subject, so they never name a theme
ASKING = (
    "anyone",
    "anybody",
    "does",
    "did",
    "do",
    "know",
    "just",
    "like",
    "want",
    "way",
    "best",
    "good",
    "make",
    "use",
    "using",
    "used",
    "really",
    "question",
    "questions",
    "answer",
    "thanks",
    "thank",
    "help",
    "need",
    "get",
    "getting",
    "got",
    "think",
    "hi",
    "hello",
    "hey",
    "please",
    "possible",
    "know",
    "tell",
    "find",
    "looking",
    "wondering",
    "trying",
    "try",
    "would",
    "could",
    "should",
    "can",
    "will",
    "is",
    "are",
    "am",
)


def plain(text: str | None, limit: int | None = None) -> str:
    """Readable text: code, tags, links and chat mentions removed, entities decoded, spaces collapsed."""
    if not text:
        return ""
    t = _CODE.sub(" ", text)
    t = _MENTION.sub(" ", t)
    t = html.unescape(_TAGS.sub(" ", t))
    t = _SPACE.sub(" ", _URL.sub(" ", t)).strip()
    if limit is not None and len(t) > limit:
        t = t[: limit - 1].rstrip() + "…"
    return t


def title_or_excerpt(title: str | None, text: str | None, limit: int = 100) -> str:
    return plain(title, limit) or plain(text, limit) or "(no text)"


# -- counts ------------------------------------------------------------------------------------------
#: the measures of :func:`item_counts`, one top list each
MEASURES = ("viewed", "replied", "reacted", "attended")


def replied(roles: ir.Table) -> ir.Table:
    """``community_id, item_id, n``: for each thread start, the replies in its thread written by people
    other than its author (bots left out)."""
    r = roles.filter(~roles.author_is_bot & roles.thread_id.notnull() & (roles.thread_id != roles.item_id))
    starts = roles.filter(roles.is_root).select(
        _sid=roles.item_id, _sauthor=roles.author_member, community_id=roles.community_id
    )
    j = r.join(starts, r.thread_id == starts._sid)
    j = j.filter(j.author_member != j._sauthor)
    return j.group_by(j.community_id, item_id=j._sid).aggregate(n=j.count())


def item_counts(items: ir.Table, actions: ir.Table, roles: ir.Table) -> ir.Table:
    """``community_id, item_id, viewed, replied, reacted, attended`` per item, from one pass over the
    actions: views (the platform's counter or the view actions, whichever is larger: some exports carry
    one, some the other), replies by others in its thread, reactions and votes, and distinct attendees
    (``attend`` actions, for events)."""
    a = actions.filter(actions.item_id.notnull() & actions.verb.isin(("view", "react", "vote")))
    per = a.group_by(_aid=a.item_id).aggregate(
        _nv=(a.verb == "view").ifelse(1, 0).sum(),
        _nr=a.verb.isin(("react", "vote")).ifelse(1, 0).sum(),
    )
    # distinct attendees from the attend actions alone: a distinct count over every action grouped by
    # item would hold a set per item for the few that are events
    e = actions.filter(actions.item_id.notnull() & (actions.verb == "attend") & actions.actor_id.notnull())
    e = e.select(_eid=e.item_id, _who=e.actor_id).distinct()
    att = e.group_by("_eid").aggregate(_na=e.count())
    rep = replied(roles)
    rep = rep.select(_rid=rep.item_id, _nrep=rep.n)
    j = items.left_join(per, items.item_id == per._aid).left_join(att, items.item_id == att._eid)
    j = j.left_join(rep, j.item_id == rep._rid)
    return j.select(
        "community_id",
        "item_id",
        viewed=ibis.greatest(j.views.fill_null(0), j._nv.fill_null(0)).cast("int64"),
        replied=j._nrep.fill_null(0).cast("int64"),
        reacted=j._nr.fill_null(0).cast("int64"),
        attended=j._na.fill_null(0).cast("int64"),
    )


def top_per_community(counts: ir.Table, top: int, column: str = "n") -> ir.Table:
    """The ``top`` rows with the highest ``column`` (above zero) per community, ties broken by item id,
    as ``community_id, item_id, n``."""
    c = counts.filter(counts[column] > 0)
    w = ibis.window(group_by=c.community_id, order_by=[ibis.desc(c[column]), c.item_id])
    c = c.mutate(_r=ibis.row_number().over(w))
    return c.filter(c._r < top).select("community_id", "item_id", n=c[column])


def top_lists(counts: ir.Table, top: int) -> ir.Table:
    """Every top list of :func:`item_counts` in one table: ``measure, community_id, item_id, n``."""
    out = None
    for m in MEASURES:
        t = top_per_community(counts, top, m).mutate(measure=ibis.literal(m))
        out = t if out is None else out.union(t)
    return out


# -- themes ------------------------------------------------------------------------------------------
@dataclass
class Theme:
    label: str
    terms: list[str]
    members: list[int]  # positions of the questions in this theme, closest to its centre first


def find_themes(texts: list[str], model: dict[str, Any], *, seed: int = 0) -> list[Theme]:
    """Cluster question texts into themes (TF-IDF + k-means), largest first.

    About one theme per ``questions_per_theme`` questions, at most ``max_themes``; no themes under
    ``min_questions`` questions or when the texts share no vocabulary. The vocabulary and the centres
    are learnt from at most ``fit_sample`` questions spread evenly over the list; every question is
    then placed in its nearest theme, so large communities cost little more than small ones.
    """
    from sklearn.cluster import KMeans
    from sklearn.feature_extraction.text import ENGLISH_STOP_WORDS, TfidfVectorizer

    n = len(texts)
    least = int(model["min_questions"])
    if n < least:
        return []
    vec = TfidfVectorizer(
        stop_words=sorted(ENGLISH_STOP_WORDS.union(ASKING)),
        min_df=2,
        max_df=float(model["max_term_share"]),
        max_features=20000,
        token_pattern=r"(?u)\b[a-zA-Z][a-zA-Z0-9]{2,}\b",  # words of three letters or more
        sublinear_tf=True,
    )
    docs = [_AT.sub(" ", t) for t in texts]
    sample = int(model["fit_sample"])
    fit_rows = np.linspace(0, n - 1, sample).astype(np.int64) if n > sample else np.arange(n)
    try:
        vec.fit([docs[i] for i in fit_rows])
    except ValueError:  # nothing left after stop words and rare terms
        return []
    x = vec.transform(docs)
    has_terms = np.asarray(x.getnnz(axis=1)) > 0
    if has_terms.sum() < least:
        return []
    k = int(min(int(model["max_themes"]), max(2, n // int(model["questions_per_theme"]))))
    fit_x = x[fit_rows[has_terms[fit_rows]]]
    if fit_x.shape[0] < k:
        return []
    km = KMeans(n_clusters=k, random_state=seed, n_init=2).fit(fit_x)
    rows = np.flatnonzero(has_terms)
    xs = x[rows]
    labels = km.predict(xs)
    centres = km.cluster_centers_
    vocab = vec.get_feature_names_out()
    sims = np.asarray(xs.multiply(centres[labels]).sum(axis=1)).ravel()
    n_terms = int(model["terms"])
    out = []
    for c in range(k):
        pos = np.flatnonzero(labels == c)
        if len(pos) == 0:
            continue
        terms = _top_terms(centres[c], vocab, n_terms)
        order = pos[np.argsort(-sims[pos], kind="stable")]
        out.append(Theme(label=", ".join(terms[:3]), terms=terms, members=[int(rows[p]) for p in order]))
    out.sort(key=lambda t: (-len(t.members), t.label))
    return out


def _top_terms(centre: np.ndarray, vocab: np.ndarray, n: int) -> list[str]:
    """The ``n`` heaviest terms of a cluster centre."""
    return [str(vocab[i]) for i in np.argsort(-centre, kind="stable")[:n] if centre[i] > 0]


def themes_summary(
    themes: list[Theme],
    ids: list[str],
    shown: Sequence[str] | Callable[[int], str],
    unanswered: set[str],
    examples: int,
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """``(question_themes, unanswered_themes)`` as plain dicts: every theme with its questions, and the
    themes of the questions nobody answered, ranked by how many are waiting. ``shown`` gives the text
    shown for the question at a position (a list, or a function so only the examples are rendered)."""
    if not callable(shown):
        shown = shown.__getitem__
    asked, waiting = [], []
    for t in themes:
        ex = [{"item_id": ids[p], "title_or_excerpt": shown(p)} for p in t.members[:examples]]
        asked.append({"label": t.label, "terms": t.terms, "n_questions": len(t.members), "examples": ex})
        open_ = [p for p in t.members if ids[p] in unanswered]
        if open_:
            ex = [{"item_id": ids[p], "title_or_excerpt": shown(p)} for p in open_[:examples]]
            waiting.append({"label": t.label, "terms": t.terms, "n_questions": len(open_), "examples": ex})
    waiting.sort(key=lambda d: (-d["n_questions"], d["label"]))
    return asked, waiting
