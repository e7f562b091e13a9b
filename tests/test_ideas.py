"""Idea detection: structure first (idea tags, spaces named for ideas), text second (proposal phrases in
English and French, thread openers only), measured on real exports.

Figures (see docs/maturity.md): the idea rules' weights were fitted on the History Stack Exchange meta
site (scripts/fit_idea_rules.py) and measured on the French Language one; precision comes from a
human-read sample of 100 ideas (tests/data/idea_sample.toml, drawn by scripts/idea_sample.py).
"""

from __future__ import annotations

import re
import tomllib
from datetime import datetime, timedelta
from pathlib import Path

import ibis
import py7zr
import pytest

import covalue
from covalue import evaluation, models
from covalue.metrics.classify import classify_items, idea_quality, idea_text, role_score

ROLES = models.load("roles")
SAMPLE = Path(__file__).parent / "data" / "idea_sample.toml"
META = {
    "french": ("meta.french.stackexchange.com", "stackexchange:meta-french-stackexchange-com"),
    "history": ("meta.history.stackexchange.com", "stackexchange:meta-history-stackexchange-com"),
}


def _score(text: str, title: str | None = None) -> float:
    t = ibis.memtable({"title": [title], "text": [text]}, schema={"title": "string", "text": "string"})
    rules = ROLES["roles"]["idea"]["rules"]
    return float(t.select(s=role_score(idea_text(t.title, t.text), rules)).execute().s[0])


TITLED = float(ROLES["roles"]["idea"]["threshold"])
CHAT = float(ROLES["roles"]["idea"]["chat_threshold"])


@pytest.mark.parametrize(
    ("title", "text"),
    [
        ("Feature request: dark mode", "It would be nice to have a dark theme for the site."),
        ("Should we add a tag for medieval trade?", "There are a dozen questions on it already."),
        (None, "I propose that we hold the meetup online once a month."),
        (None, "Idea: a shared glossary of the jargon newcomers keep asking about."),
        ("Could we merge the two duplicate tags?", "Both mean the same thing."),
        ("Faut-il une étiquette pour les régionalismes ?", "Plusieurs questions en parlent."),
        (None, "Je propose qu'on organise un atelier de lecture chaque mois."),
        ("Proposition : un concours d'écriture", "Il serait bien de réunir les participants sur méta."),
        (None, "Et si on créait un canal pour les débutants ? Ce serait utile."),
    ],
)
def test_proposals_in_english_and_french_read_as_ideas(title, text):
    assert _score(text, title) >= TITLED, (title, text)


# Each way of proposing in French the rules claim, with French typography (no-break spaces before
# : ? !, typographic apostrophes, decomposed accents): RE2 and Java read \b in ASCII, so before the
# idea text was folded to ASCII letters "ça serait bien" or a word ending in an accent never matched.
NBSP, NNBSP = "\u00a0", "\u202f"


@pytest.mark.parametrize(
    ("title", "text"),
    [
        (None, "Ça serait bien d'avoir une étiquette pour l'argot."),
        (None, "À mon avis on devrait fusionner ces deux étiquettes."),
        (None, "Il serait peut-être judicieux de créer une page d’aide."),
        (None, f"Proposition{NBSP}: un concours d'écriture chaque mois."),
        (None, f"Idée{NNBSP}: un lexique du jargon du site."),
        (None, "On pourrait peut-être créer une balise « régionalismes »."),
        (None, "Que diriez-vous d'un défi hebdomadaire ?"),
        (None, "Je suggère de renommer la balise « idiomes »."),
        (None, f"Ne faudrait-il pas fusionner ces balises{NBSP}?"),
        (None, "Serait-il envisageable d'ajouter un bouton de traduction ?"),
        (None, "Ne pourrait-on pas autoriser les réponses en anglais ?"),
        (None, "J’aimerais qu’on crée une FAQ bilingue."),
        (None, "Il est temps de créer une étiquette pour la francophonie."),
        (None, "Merci de bien vouloir ajouter une balise pour l'argot."),
        (None, "Je me demande s'il ne serait pas utile de créer une balise."),
        ("Création d'une étiquette « argot »", "Plusieurs questions en parlent."),
        ("Ajouter un lien vers le Wiktionnaire", "Sous chaque question."),
        ("Possibilité de masquer les questions en anglais", "Pour les francophones."),
        ("Faudrait-il une étiquette pour l'argot ?", "Plusieurs questions."),
        # decomposed accents (e + combining acute) read as the composed letter
        (None, "Il serait utile de cre\u0301er une e\u0301tiquette."),
    ],
)
def test_french_proposals_with_accents_and_typography_read_as_ideas(title, text):
    assert _score(text, title) >= TITLED, (title, text)


@pytest.mark.parametrize(
    ("title", "text"),
    [
        (None, "It would be useful to have a tag for slang."),
        (None, "I think we need to make clear that sources are not required."),
        (None, "We should clarify the help center on reference requests."),
        (None, "Let's create a tag for regional usage."),
        (None, "Would it make sense to merge these two tags?"),
        (None, "I'd suggest merging the tags."),
        (None, "What do you think about adding a tag for slang?"),
        (None, "Are there any plans to translate the interface into French?"),
        (None, "Could we have a weekly challenge on the site?"),
        ("[Feature request] dark theme", "For reading at night."),
        ("Rename the tag medieval-china", "There was no medieval China."),
        ("Tag synonym request: ww1 and wwi", "Both mean the same war."),
    ],
)
def test_english_proposals_read_as_ideas(title, text):
    assert _score(text, title) >= TITLED, (title, text)


def test_idea_text_folds_accents_spaces_and_apostrophes():
    t = ibis.memtable({"title": ["Créé\u00a0?"], "text": ["L\u2019idée de ça, e\u0301te\u0301"]})
    got = t.select(x=idea_text(t.title, t.text)).execute().x[0]
    assert got == "cree ? ¶ l'idee de ca, ete"


def test_idea_rules_are_written_in_ascii():
    """The idea text is folded to ASCII letters, so a rule with an accent could never match."""
    for rule in ROLES["roles"]["idea"]["rules"]:
        odd = {c for c in rule["pattern"] if ord(c) > 127} - {"¶", "–"}
        assert not odd, (rule["name"], odd)


@pytest.mark.parametrize(
    "text",
    [
        "I propose that we hold the meetup online once a month, it would be great if we met more often.",
        "Idea: a shared glossary of jargon. It would be great if we kept it pinned.",
        "Je propose un atelier mensuel, ce serait bien pour les débutants.",
    ],
)
def test_chat_proposals_need_two_signals(text):
    """A chat message that follows a pause says more than a titled post must: two proposal signals."""
    assert _score(text) >= CHAT > TITLED
    one = text.split(",")[0].split(".")[0]
    assert TITLED <= _score(one) < CHAT, one


@pytest.mark.parametrize(
    ("title", "text"),
    [
        ("How do I export my data?", "I tried the button but nothing happens. Any ideas why?"),
        ("Is it possible to add electrolytes to beer?", "I was wondering how one would do it."),
        ("Can it be made at home?", "I am curious how the brewing works."),
        (None, "If you have a lot of funds I suggest a cold wallet."),
        (None, "I think it should work now, try again."),
        (None, "Could we get an update on the release?"),
        ("Where is my question?", "I cannot find it, pourrait-on m'aider ?"),
        (None, "We need to make sure the node is synced first."),
        # usage questions and remarks on a language site, and a counterfactual history question
        ("Peut-on mettre un accent sur les majuscules ?", "Je ne sais jamais."),
        ("Est-ce possible de dire « après qu'il soit » ?", "On l'entend souvent."),
        ("Which is right?", "It would be more natural to say 'en revanche' here."),
        ("What if there was no war in 1914?", "How would Europe look today?"),
        ("How do I type accents?", "Any help would be welcome, toute aide serait la bienvenue."),
        (None, "It would be great to see you all at the race!"),
    ],
)
def test_help_requests_and_advice_are_not_ideas(title, text):
    bar = TITLED if title else CHAT
    assert _score(text, title) < bar, (title, text)


ITEM_SCHEMA = {
    "item_id": "string",
    "source": "string",
    "space_id": "string",
    "community_id": "string",
    "thread_id": "string",
    "parent_id": "string",
    "author_id": "string",
    "created_at": "timestamp",
    "kind": "string",
    "title": "string",
    "text": "string",
    "n_links": "int32",
    "accepted": "boolean",
}


def _classify(
    items: list[dict], spaces: list[dict], actions: list[dict], *, structure: bool = True
) -> dict[str, dict]:
    t0 = datetime(2025, 3, 1, 9, 0)
    rows = []
    for i, it in enumerate(items):
        rows.append(
            {
                "item_id": it["id"],
                "source": "slack:acme",
                "space_id": it["space"],
                "community_id": "acme",
                "thread_id": it.get("thread"),
                "parent_id": it.get("parent"),
                "author_id": it.get("author", f"a{i}"),
                # far apart unless told: no reply is inferred from timing
                "created_at": t0 + timedelta(minutes=it.get("at", 180 * i)),
                "kind": it.get("kind", "post"),
                "title": it.get("title"),
                "text": it["text"],
                "n_links": 0,
                "accepted": False,
            }
        )
    items_t = ibis.memtable(rows, schema=ITEM_SCHEMA)
    who = ibis.memtable(
        {
            "identity_id": ["a0", "a1", "a2", "a3", "a4", "a5", "a6", "bot"],
            "member_id": ["a0", "a1", "a2", "a3", "a4", "a5", "a6", "bot"],
            "is_bot": [False] * 7 + [True],
        }
    )
    spaces_t = ibis.memtable(spaces)
    actions_t = ibis.memtable(
        actions,
        schema={
            "action_id": "string",
            "verb": "string",
            "detail": "string",
            "space_id": "string",
            "item_id": "string",
            "actor_id": "string",
        },
    )
    if structure:
        r = classify_items(items_t, who, ROLES, spaces=spaces_t, actions=actions_t).execute()
    else:
        r = classify_items(items_t, who, ROLES).execute()
    return {row.item_id: row for row in r.itertuples()}


def test_idea_structure_tags_and_spaces_thread_openers_only():
    spaces = [
        {"space_id": "s:ideas", "name": "ideas", "kind": "channel"},
        {"space_id": "s:fr", "name": "Feature Requests", "kind": "category"},
        {"space_id": "s:fb", "name": "community/discord-feedback", "kind": "channel"},
        {"space_id": "s:getfb", "name": "get_feedback", "kind": "channel"},
        {"space_id": "s:gen", "name": "general", "kind": "channel"},
        {"space_id": "t:fr", "name": "feature-request", "kind": "tag"},
        {"space_id": "t:done", "name": "status-completed", "kind": "tag"},
        {"space_id": "t:bug", "name": "bug", "kind": "tag"},
    ]
    items = [
        {"id": "root", "space": "s:ideas", "text": "A book club for new members."},
        {
            "id": "reply",
            "space": "s:ideas",
            "parent": "root",
            "thread": "root",
            "text": "Yes, and on Fridays.",
        },
        {"id": "topic", "space": "s:fr", "title": "Export to CSV", "text": "From the report page."},
        {"id": "chat", "space": "s:fb", "text": "ok thanks"},
        {"id": "chat_idea", "space": "s:fb", "text": "what if we had a channel for bot commands"},
        {"id": "critique", "space": "s:getfb", "title": "My chart", "text": "Thoughts on the colours?"},
        {"id": "tagged", "space": "s:gen", "kind": "question", "title": "Dark mode", "text": "For the site."},
        {"id": "done", "space": "s:gen", "kind": "question", "title": "Wider boxes", "text": "Done now."},
        {"id": "bug", "space": "s:gen", "kind": "question", "title": "Login fails", "text": "Since Monday."},
        {"id": "fixed", "space": "s:gen", "kind": "question", "title": "Logo blurry", "text": "Fixed now."},
        {"id": "botpost", "space": "s:ideas", "author": "bot", "text": "Reminder: standup at ten."},
        {"id": "plain", "space": "s:gen", "text": "Lunch anyone?"},
    ]
    actions = [
        {"action_id": f"tag:{i}:{t}", "verb": "system", "detail": "tag", "space_id": t, "item_id": i}
        for i, t in [
            ("tagged", "t:fr"),
            ("done", "t:done"),
            ("bug", "t:bug"),
            ("fixed", "t:done"),
            ("fixed", "t:bug"),
        ]
    ]
    r = _classify(items, spaces, actions)
    ideas = {i for i, row in r.items() if row.is_idea}
    # a carried-out bug report (status-completed and bug) is a fix, not an idea
    assert ideas == {"root", "topic", "chat_idea", "tagged", "done"}
    assert r["reply"].role != "idea" and not r["reply"].is_idea  # a reply in an idea space is a reply
    assert r["root"].role_source == "structure" and r["tagged"].role_source == "structure"
    assert r["tagged"].role == "idea" and r["tagged"].is_question  # still a question by kind
    # without spaces and actions only text and the idea kind can find ideas
    r = _classify(items[:1], spaces, actions, structure=False)
    assert not r["root"].is_idea


def test_chat_ideas_need_uptake():
    """A chat message that opens a conversation only by following a pause is an idea when its text
    carries two proposal signals and another member took it up: replied within the chat-reply window
    or reacted. Left alone, or with a single signal, it is not."""
    two = "I propose we add a channel for bot commands, it would be great if we kept general quiet."
    items = [
        {"id": "replied", "space": "s:gen", "author": "a0", "at": 0, "text": two},
        {"id": "reply", "space": "s:gen", "author": "a1", "at": 5, "text": "Yes, good plan."},
        {"id": "alone", "space": "s:gen", "author": "a2", "at": 600, "text": two},
        {"id": "reacted", "space": "s:gen", "author": "a3", "at": 1200, "text": two},
        {"id": "one", "space": "s:gen", "author": "a4", "at": 1800, "text": "I propose a bot channel."},
        {"id": "reply2", "space": "s:gen", "author": "a5", "at": 1805, "text": "Sure."},
        {"id": "self", "space": "s:gen", "author": "a6", "at": 2400, "text": two},
    ]
    spaces = [{"space_id": "s:gen", "name": "general", "kind": "channel"}]
    actions = [
        {"action_id": "r1", "verb": "react", "detail": "+1", "space_id": "s:gen", "item_id": "reacted",
         "actor_id": None},
        {"action_id": "r2", "verb": "react", "detail": "+1", "space_id": "s:gen", "item_id": "self",
         "actor_id": "a6"},
    ]  # fmt: skip
    r = _classify(items, spaces, actions)
    assert r["reply"].parent_id == "replied" and r["reply"].parent_inferred
    assert {i for i, row in r.items() if row.is_idea} == {"replied", "reacted"}
    assert r["replied"].role_source == "text"


# -- the two Stack Exchange meta sites ---------------------------------------------------------------
def _tagged_questions(path: Path, tmp: Path) -> dict[str, set[str]]:
    """Question ids by tag, read from the raw Posts.xml with a regular expression (not the reader)."""
    with py7zr.SevenZipFile(path) as z:
        z.extract(path=tmp, targets=["Posts.xml"])
    posts = (tmp / "Posts.xml").read_text(encoding="utf-8-sig")
    out: dict[str, set[str]] = {t: set() for t in ("feature-request", "status-completed", "bug", "support")}
    for row in re.finditer(r"<row [^>]*>", posts):
        attrs = dict(re.findall(r'(\w+)="([^"]*)"', row.group(0)))
        if attrs.get("PostTypeId") != "1":
            continue
        tags = set(re.findall(r"&lt;([^&]+)&gt;", attrs.get("Tags", ""))) | {
            t for t in attrs.get("Tags", "").split("|") if t
        }
        for t in out:
            if t in tags:
                out[t].add(attrs["Id"])
    return out


@pytest.fixture(scope="module")
def metas(tmp_path_factory, shared_data: Path):
    ws = covalue.init(tmp_path_factory.mktemp("metas") / "ws")
    ws.ingest([shared_data / "stackexchange" / f"{META[k][0]}.7z" for k in META])
    ws.ingest([shared_data / "zulip" / "ncar-zulip-archive.tar.gz"])
    yield ws
    ws.close()


@pytest.fixture(scope="module")
def meta_roles(metas):
    from covalue.metrics.interactions import people

    who = people(metas.table("identities"), metas.table("members"))
    r = classify_items(
        metas.table("items"), who, ROLES, spaces=metas.table("spaces"), actions=metas.table("actions")
    )
    return r.select("item_id", "kind", "is_idea", "role", "role_source").to_pandas()


@pytest.mark.parametrize(
    ("site", "n_fr", "n_done", "n_both", "n_fixes"), [("french", 26, 22, 3, 9), ("history", 36, 21, 2, 11)]
)
def test_meta_site_requests_are_ideas_by_structure(
    metas, meta_roles, shared_data, tmp_path, site, n_fr, n_done, n_both, n_fixes
):
    name, source = META[site]
    tags = _tagged_questions(shared_data / "stackexchange" / f"{name}.7z", tmp_path)
    fr, done = tags["feature-request"], tags["status-completed"]
    assert (len(fr), len(done), len(fr & done)) == (n_fr, n_done, n_both)
    # a carried-out question also tagged bug or support is a fix, not an idea (unless requested as a feature)
    fixes = (done & (tags["bug"] | tags["support"])) - fr
    assert len(fixes) == n_fixes
    want = {f"{source}:{i}" for i in fr | (done - fixes)}
    assert len(want) == n_fr + n_done - n_both - n_fixes  # 36 on meta.french, 44 on meta.history
    r = meta_roles[meta_roles.item_id.str.startswith(source + ":")]
    by_structure = set(r[r.is_idea & (r.role_source == "structure")].item_id)
    assert by_structure == want
    # answers and comments in those threads are not ideas
    assert not r[r.kind.isin(["answer", "comment"])].is_idea.any()


def test_text_only_idea_recall_on_the_meta_sites(metas):
    """Structure off: how many tagged feature requests the title and text rules find. The weights were
    fitted on meta.history; meta.french is the held-out site, never read while fitting. The goal of
    60 % on the held-out site is not reached (see docs/maturity.md). The floors are the figures of the
    shipped rules: meta.history 27/36, meta.french 15/26 (its last rule was written without reading
    meta.french and measured there once)."""
    got = {
        r["source"]: r
        for r in idea_quality(metas.table("items"), metas.table("actions"), metas.table("spaces"), ROLES)
    }
    fr, hi = got[META["french"][1]], got[META["history"][1]]
    print(f"\ntext-only idea recall: meta.french {fr['found']}/{fr['requests']} = {fr['recall']:.0%} (held out), "
          f"meta.history {hi['found']}/{hi['requests']} = {hi['recall']:.0%} (tuned on)")  # fmt: skip
    assert (fr["requests"], hi["requests"]) == (26, 36)
    assert fr["found"] >= 15 and hi["found"] >= 27


def test_idea_precision_on_the_human_read_sample(metas, meta_roles):
    """A person read 100 items covalue calls ideas across six real exports (scripts/idea_sample.py,
    seed 23) and found 85 proposals (the goal is 80). The sampled items of the sources ingested here must
    still be ideas under these rules (a rule change means a fresh draw, read again)."""
    sample = tomllib.loads(SAMPLE.read_text(encoding="utf-8"))["item"]
    assert len(sample) == 100 and len({s["item_id"] for s in sample}) == 100
    assert all(len(s["excerpt"]) <= 100 and s["reason"] for s in sample)
    p = evaluation.idea_sample_precision(SAMPLE)
    print(f"\nidea precision on the human-read sample: {p['precision']:.0%} ({p['proposals']}/{p['items']})")
    assert p["precision"] >= 0.80
    here = {s["item_id"] for s in sample if s["source"] in {META["french"][1], META["history"][1]}}
    here |= {s["item_id"] for s in sample if s["source"].startswith("zulip:")}
    ideas = set(meta_roles[meta_roles.is_idea].item_id)
    assert here and here <= ideas, sorted(here - ideas)


# -- the same answers on Spark -----------------------------------------------------------------------
@pytest.mark.spark
def test_idea_rules_agree_on_duckdb_and_spark(tmp_path, spark):
    """Tags, idea spaces, the ¶ title mark, accents and apostrophes mean the same to Spark's Java regular
    expressions as to DuckDB's RE2."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    t0 = datetime(2025, 3, 1, 9, 0)
    texts = [
        ("ideas", "Book club", "A book club for new members."),
        ("gen", "Feature request: dark mode", "It would be nice to have a dark theme."),
        ("gen", "Pourrait-on ajouter une étiquette ?", "Ce serait utile pour les débutants."),
        ("gen", None, "I’d suggest that we rename the channel, it would be great if we had a short name."),
        ("gen", None, "idée : un atelier mensuel, ce serait bien, et si on essayait ?"),
        ("gen", "How do I export?", "It is not working, any ideas why?"),
        ("fb", None, "ok thanks"),
        ("gen", "Dark mode", "For the site."),
        # folded in both engines: accents next to a word boundary, a no-break space, a decomposed accent
        ("gen", "Ça serait bien\u00a0: une étiquette créée pour l'argot", "Cre\u0301ons-la."),
    ]
    items = pa.Table.from_pylist(
        [
            {
                "item_id": f"i{k}",
                "source": "slack:acme",
                "space_id": f"s:{sp}",
                "community_id": "acme",
                "thread_id": None,
                "parent_id": None,
                "author_id": f"a{k}",
                # days apart: a message after a quiet spell would take up the question before it
                "created_at": t0 + timedelta(hours=75 * k),
                "kind": "post",
                "title": title,
                "text": text,
                "n_links": 0,
                "accepted": False,
            }
            for k, (sp, title, text) in enumerate(texts)
        ],
        schema=pa.schema([(c, pa.from_numpy_dtype("M8[us]") if t == "timestamp" else
                           {"string": pa.string(), "int32": pa.int32(), "boolean": pa.bool_()}[t])
                          for c, t in ITEM_SCHEMA.items()]),
    )  # fmt: skip
    spaces = pa.Table.from_pylist(
        [
            {"space_id": "s:ideas", "name": "Ideas", "kind": "channel"},
            {"space_id": "s:gen", "name": "general", "kind": "channel"},
            {"space_id": "s:fb", "name": "discord-feedback", "kind": "channel"},
            {"space_id": "t:fr", "name": "feature-request", "kind": "tag"},
        ]
    )
    actions = pa.Table.from_pylist(
        [
            {"action_id": "a1", "verb": "system", "detail": "tag", "space_id": "t:fr", "item_id": "i7"},
            # chat proposals count once someone took them up
            {"action_id": "a2", "verb": "react", "detail": "+1", "space_id": "s:gen", "item_id": "i3"},
            {"action_id": "a3", "verb": "react", "detail": "+1", "space_id": "s:gen", "item_id": "i4"},
        ]
    )
    who = pa.Table.from_pylist(
        [{"identity_id": f"a{k}", "member_id": f"a{k}", "is_bot": False} for k in range(len(texts))]
    )
    for name, tab in {"items": items, "spaces": spaces, "actions": actions, "who": who}.items():
        pq.write_table(tab, tmp_path / f"{name}.parquet")

    def run(con) -> list[tuple]:
        t = {
            n: con.read_parquet(str(tmp_path / f"{n}.parquet"), table_name=f"x_{n}")
            for n in ("items", "spaces", "actions", "who")
        }
        r = classify_items(t["items"], t["who"], ROLES, spaces=t["spaces"], actions=t["actions"])
        df = r.select("item_id", "is_idea", "role_source").to_pandas().sort_values("item_id")
        return [(a, bool(b), c) for a, b, c in df.itertuples(index=False)]  # fmt: skip

    duck = run(ibis.duckdb.connect())
    sprk = run(ibis.pyspark.connect(spark))
    assert duck == sprk
    assert [i for i, idea, _ in duck if idea] == ["i0", "i1", "i2", "i3", "i4", "i7", "i8"]
