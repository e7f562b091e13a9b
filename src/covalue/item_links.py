"""Where a person can read an item on its own platform, when the export says enough to know.

Only links that can be built from what the export itself holds are given: a Stack Exchange dump names
its site (``beer.stackexchange.com``) and keeps the post ids the site's addresses use. Other exports
(a Slack or Zulip archive without its host) give no link rather than a guessed one.

    item_link("stackexchange:beer-stackexchange-com:7809", "beer.stackexchange.com", "question")
    # 'https://beer.stackexchange.com/q/7809'
"""

from __future__ import annotations

import re

#: a site's host as a Stack Exchange dump names its community
_HOST = re.compile(r"^[a-z0-9-]+(\.[a-z0-9-]+)+$")


def item_link(item_id: str, community_name: str | None, kind: str | None = None) -> str | None:
    """The platform address of an item, or None when the export does not tell it."""
    source, _, rest = (item_id or "").partition(":")
    if source != "stackexchange" or not community_name:
        return None
    host = community_name.strip().lower()
    if not _HOST.match(host):
        return None
    post = rest.rpartition(":")[2]
    if post.startswith("c") and post[1:].isdigit():
        return f"https://{host}/posts/comments/{post[1:]}"
    if not post.isdigit():
        return None
    return f"https://{host}/{'a' if kind == 'answer' else 'q'}/{post}"
