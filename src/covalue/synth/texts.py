"""What the synthetic members write: topic and role templates filled into pools of texts, one pool
per item role (question, answer, idea...), so that role detection has something real to find.
"""

from __future__ import annotations

_TOPICS = (
    "the quarterly forecast",
    "the CI pipeline",
    "expense approvals",
    "the CRM export",
    "onboarding checklists",
    "pivot tables",
    "the data warehouse",
    "contract templates",
    "the release calendar",
    "customer churn models",
    "travel bookings",
    "the VPN client",
    "supplier invoices",
    "A/B test results",
    "the hiring pipeline",
)
_FIXES = (
    "clear the cache and sign in again",
    "use the shared template in the finance drive",
    "set the date column to ISO format first",
    "ask for the reporting role in the access portal",
    "rerun the job with the full refresh flag",
    "split the file into monthly parts",
)
_IDEAS = (
    "run a monthly clinic on {t}",
    "build one shared glossary for {t}",
    "pair newcomers with a buddy for {t}",
    "publish a short playbook on {t}",
    "automate the weekly report on {t}",
    "hold a hack day about {t}",
)

#: text templates per planted role; every one carries the signals a text classifier can look for
_TEXT: dict[str, tuple[str, ...]] = {
    "question": (
        "How do I refresh {t} without breaking the links?",
        "Does anyone know who owns {t}?",
        "Any advice on cleaning up {t} before the audit?",
        "What is the quickest way to export {t}?",
        "Why does {t} fail every Monday morning?",
        "How can I get access to {t}?",
    ),
    "answer": (
        "You can {f}; that is what we do in our team.",
        "Try to {f}, it usually sorts it out.",
        "The fix is to {f}.",
        "You can {f} and then rerun it.",
    ),
    "idea": (
        "Idea: {i}.",
        "What if we {i}? It would save everyone time.",
        "I propose we {i}.",
        "We could try to {i} next quarter.",
    ),
    "support": (
        "+1, my team would use this every week.",
        "Love this, count me in.",
        "Yes please, happy to help set it up.",
        "Strong support from our side.",
    ),
    "resource": (
        "Sharing the guide we wrote on {t}: https://wiki.example.org/guides/{s}",
        "Here is a guide to {t} that saved us hours: https://wiki.example.org/{s}",
        "Sharing our checklist for {t}, feel free to reuse: https://docs.example.org/{s}",
    ),
    "gratitude": (
        "Thanks, that solved it!",
        "That worked, thank you so much.",
        "Thanks, that solved it for the whole team.",
    ),
    "social": (
        "Good morning everyone, have a great week.",
        "Great to see so many people at the meetup today.",
        "Congratulations to the team on the launch!",
        "Bookmarked, great read.",
        "Nice work, well done all.",
        "Hi all, happy to be here and looking forward to learning from you.",
    ),
    "discussion": (
        "Agreed, I will update the notes on {t} today.",
        "Done, the changes for {t} are in.",
        "Good point, I added it to the plan for {t}.",
        "Noted, let us review {t} on Thursday.",
    ),
    "announcement": (
        "Announcement: changes to {t} start next week. Details: https://intranet.example.org/news/{s}",
        "Newsletter: this month in {t}. Read it here: https://intranet.example.org/newsletter/{s}",
        "Reminder: the policy on {t} has been updated. https://intranet.example.org/policy/{s}",
    ),
    "bot": (
        "Weekly digest: new threads on {t} this week. https://digest.example.org/{s}",
        "Automated reminder: please file your updates on {t}.",
    ),
}
ROLES = tuple(_TEXT)


def _fill(template: str, k: int) -> str:
    t = _TOPICS[k % len(_TOPICS)]
    return template.format(
        t=t, f=_FIXES[k % len(_FIXES)], i=_IDEAS[k % len(_IDEAS)].format(t=t), s=f"{t.replace(' ', '-')}-{k}"
    )


def _pool(role: str) -> list[str]:
    """Every distinct text of one role (templates crossed with topics), in a fixed order."""
    out: list[str] = []
    for tpl in _TEXT[role]:
        for k in range(len(_TOPICS) if "{" in tpl else 1):
            out.append(_fill(tpl, k))
    return out


POOLS = {r: _pool(r) for r in ROLES}
