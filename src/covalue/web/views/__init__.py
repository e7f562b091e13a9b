"""The web app's views, one module per concept, each serving its pages and its JSON API from the
same services: sign-in, the portfolio, a community's pages, data uploads, accounts, and the two
canvases. :data:`ROUTERS` is what the app includes; CSRF is the app's dependency, not theirs."""

from __future__ import annotations

from fastapi import APIRouter

from covalue.web.views import (
    admin,
    auth,
    collaboration,
    community,
    data,
    member,
    people,
    portfolio,
    shared_value,
    spaces,
)

ROUTERS: list[APIRouter] = [
    auth.router,
    portfolio.router,
    community.router,
    people.router,
    member.router,
    data.router,
    admin.router,
    spaces.router,
    shared_value.router,
    collaboration.router,
]
