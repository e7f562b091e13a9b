"""Who did something, where and when: the member activity that dynamics and health build on.

Activity is what a person *does* in a community: an item they wrote, or a reaction, vote or acceptance
they gave. Views, joins and system events are not activity (SWOOP's rule: lurking is not taking part).
Accounts are resolved to members through ``identities`` so merges across sources apply, and bots are
left out everywhere.
"""

from __future__ import annotations

import ibis
from ibis import _

# one month key for the whole engine: dynamics and stages must agree on what a month is
from covalue.periods import key_of, month_index
from covalue.periods import period_label as month_label

__all__ = ["ACTIVE_VERBS", "events", "month_index", "month_index_of", "month_label", "resolve"]

#: verbs that count as taking part (a person giving attention to someone else's contribution)
ACTIVE_VERBS = ("react", "vote", "accept", "attend", "share")


def resolve(identities: ibis.Table) -> ibis.Table:
    """identity_id → (member_id, is_bot), for joining onto items and actions."""
    return identities.select(
        identity_id=_.identity_id, member_id=_.member_id, is_bot=_.is_bot.fill_null(False)
    )


def events(items: ibis.Table, actions: ibis.Table, identities: ibis.Table) -> ibis.Table:
    """One row per act of taking part: (community_id, member_id, ts, month, what, item_id).

    ``what`` is the item kind for contributions and the verb for actions.
    """
    ids = resolve(identities)
    contrib = items.filter(_.author_id.notnull() & _.created_at.notnull()).select(
        community_id=_.community_id, identity_id=_.author_id, ts=_.created_at, what=_.kind, item_id=_.item_id
    )
    acts = actions.filter(_.verb.isin(ACTIVE_VERBS) & _.actor_id.notnull() & _.ts.notnull()).select(
        community_id=_.community_id, identity_id=_.actor_id, ts=_.ts, what=_.verb, item_id=_.item_id
    )
    ev = contrib.union(acts)
    ev = ev.join(ids, "identity_id").filter(~_.is_bot)
    return ev.select("community_id", "member_id", "ts", "what", "item_id").mutate(month=month_index(_.ts))


def month_index_of(year: int, month: int) -> int:
    """The month index of a calendar month (see :func:`month_index`)."""
    return key_of(year, month)
