"""Communities and their spaces: administrators see which spaces (channels, categories, tags, groups)
make up each community and move spaces to another community (``covalue.communities``), after which
the workspace is analysed again so every page shows the communities as they now are."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form
from fastapi.responses import Response

from covalue import communities
from covalue.presentation import plural
from covalue.web.common import CtxDep, admin_only, audit, render
from covalue.web.security import Ctx
from covalue.web.site import Busy

router = APIRouter(include_in_schema=False)

_ADMINS_ONLY = "Only administrators move spaces between communities."


def _page(ctx: Ctx, status: int = 200, *, message: str | None = None, error: str | None = None) -> Response:
    admin_only(ctx, _ADMINS_ONLY)
    with ctx.site.reader() as ws:
        rows = communities.spaces(ws)
    names = ctx.site.snapshot().names
    return render(
        ctx,
        "admin_spaces.html.j2",
        status,
        title="Communities and spaces",
        nav="admin",
        rows=rows,
        names=names,
        message=message,
        error=error,
    )


@router.get("/admin/communities")
def spaces_page(ctx: Ctx = CtxDep) -> Response:
    return _page(ctx)


@router.post("/admin/communities/move")
def move_spaces(
    ctx: Ctx = CtxDep,
    space: Annotated[list[str] | None, Form()] = None,
    to: Annotated[str, Form()] = "",
    name: Annotated[str, Form()] = "",
) -> Response:
    """Move the ticked spaces into the community ``to`` (made when new), then analyse again."""
    admin_only(ctx, _ADMINS_ONLY)
    if not space or not to.strip():
        return _page(ctx, 400, error="Tick at least one space and name the community to move it to.")
    site = ctx.site
    try:
        with site.write_lock, site.lock:
            moved = communities.move(site.ws, space, to.strip(), name=name.strip() or None)
    except communities.CommunityError as e:
        return _page(ctx, 400, error=str(e))
    audit(ctx, "moved spaces between communities", moved.community_id, ", ".join(moved.spaces))
    done = (
        f"{plural(len(moved.spaces), 'space')} moved to {moved.name}: {moved.items:,} items and "
        f"{moved.actions:,} actions."
    )
    try:
        site.analyse(moved.community_id)  # in the worker, as a canvas's re-analysis; redraws the pages
    except Busy as e:
        return _page(ctx, message=f"{done} {e.message}")
    return _page(ctx, message=f"{done} The workspace was analysed again.")
