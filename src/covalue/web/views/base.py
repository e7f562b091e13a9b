"""What a view module starts from: the request context, its dependency, and the two routers each view
fills (pages left out of the OpenAPI schema, the JSON API under ``/api``) joined into the one router
the app includes."""

from __future__ import annotations

from fastapi import APIRouter

from covalue.web.common import CtxDep
from covalue.web.security import Ctx

__all__ = ["Ctx", "CtxDep", "joined", "routers"]


def routers() -> tuple[APIRouter, APIRouter]:
    """A view's page router and its JSON API router."""
    return APIRouter(include_in_schema=False), APIRouter(prefix="/api", tags=["covalue"])


def joined(*parts: APIRouter) -> APIRouter:
    """One router holding ``parts``' routes, for the app to include."""
    router = APIRouter()
    for part in parts:
        router.include_router(part)
    return router
