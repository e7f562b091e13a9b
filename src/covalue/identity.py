"""Pseudonymous ids for people, and the rules that decide who is a bot.

A person's id is a keyed hash (HMAC-SHA256 with the workspace secret) of their account on one source,
so the same export ingested twice gives the same ids, and nobody without the secret can turn an id back
into an account. Email addresses are never stored: only their keyed hash, which is what lets the same
person be recognised across sources (see :mod:`covalue.merge`).
"""

from __future__ import annotations

import hashlib
import hmac
import re
from typing import Any

_BOT_NAME = re.compile(
    r"(?:^|[\W_])(bot|robot|webhook|integration|automation|github|jira|jenkins)(?:$|[\W_])", re.I
)


def _digest(secret: bytes, *parts: str) -> str:
    msg = "\x1f".join(parts).encode("utf-8")
    return hmac.new(secret, msg, hashlib.sha256).hexdigest()


#: how a reader names an account that a webhook posts under (``webhook:<its id>:<the name it posted as>``):
#: a bridge posting through one webhook under each relayed person's name gives one account per person,
#: which :mod:`covalue.relays` counts as people once the webhook has spoken under several names
WEBHOOK = "webhook:"


def webhook_account(hook: Any, name: Any) -> str:
    """The native id of the account a webhook (``hook``, its id) posts under as ``name``."""
    return f"{WEBHOOK}{hook}:{name}"


def identity_id(secret: bytes, source: str, native_id: str) -> str:
    """The pseudonymous id of one account (``native_id``) on one source."""
    return "m_" + _digest(secret, "identity", source, str(native_id))[:20]


def email_hash(secret: bytes, email: str | None) -> str | None:
    """A keyed hash of a normalised email address, or None when there is none."""
    if not email:
        return None
    norm = email.strip().lower()
    if "@" not in norm:
        return None
    return "e_" + _digest(secret, "email", norm)[:24]


def stable_id(*parts: object) -> str:
    """A short deterministic id for rows that are not people (rejects, actions built from parts)."""
    return hashlib.blake2b("\x1f".join(map(str, parts)).encode("utf-8"), digest_size=12).hexdigest()


def looks_like_bot(name: str | None) -> bool:
    """A fallback for sources that do not flag bots: names such as ``deploy-bot`` or ``GitHub``."""
    return bool(name and _BOT_NAME.search(name))
