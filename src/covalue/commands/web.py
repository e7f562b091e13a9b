"""``covalue serve`` (the web app on a workspace) and ``covalue user`` (accounts: add, personal links,
and taking access back). ``covalue user`` touches only the account store, never the workspace's
DuckDB file, so it works while ``covalue serve`` runs."""

from __future__ import annotations

import secrets
import socket
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from covalue.commands.options import WorkspaceOpt, console, fail, open_ws
from covalue.store import ROLES, Store
from covalue.workspace import default_path

# the account rules (argon2, the password checker) and the site are imported by the commands that use
# them, not here: every command of the CLI imports this module
if TYPE_CHECKING:
    from covalue.web.site import Limits

user_app = typer.Typer(
    help="Accounts of the web app: add them, give and take roles, disable or remove them, end their "
    "sessions, make personal journey links (works while `covalue serve` runs).",
    no_args_is_help=True,
)


#: the server's process id, in the workspace while it serves: commands that find the workspace busy name it
PID_FILE = "serve.pid"


def run_server(
    path: Path,
    host: str,
    port: int,
    *,
    announce: list[str] | None = None,
    limits: Limits | None = None,
    trusted_proxies: list[str] | None = None,
) -> None:
    """Serve the web app on the workspace at ``path`` until interrupted."""
    import uvicorn

    from covalue.store import accounts as acc
    from covalue.web.app import KEEP_ALIVE_SECONDS, create_app

    web = create_app(path, limits=limits, trusted_proxies=trusted_proxies)
    base = f"http://{host if host not in ('0.0.0.0', '::') else '127.0.0.1'}:{port}"
    site = web.state.site
    with site.store.session() as db:
        first_run = acc.count_users(db) == 0
    sock = _bind(host, port)
    console.print(f"covalue is serving [bold]{path}[/] at [bold]{base}/[/] (Ctrl+C stops it)")
    for line in announce or []:
        console.print(line)
    if first_run:
        console.print(
            f"No account yet: create the first administrator at [bold]{base}/setup?token={site.setup_token}[/]"
        )
    # proxy headers only from the local machine, so https behind a local reverse proxy gives Secure cookies
    config = uvicorn.Config(
        web,
        host=host,
        port=port,
        proxy_headers=True,
        forwarded_allow_ips="127.0.0.1",
        log_level="warning",
        timeout_keep_alive=KEEP_ALIVE_SECONDS,
    )
    try:
        uvicorn.Server(config).run(sockets=[sock])
    finally:
        sock.close()


def _bind(host: str, port: int) -> socket.socket:
    """The listening socket, bound before anything says "serving": a busy port is a clear error, not a
    promise followed by a traceback."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as e:
        sock.close()
        fail(f"cannot listen on {host}:{port}: {e.strerror or e}", 1)
    sock.listen(2048)
    sock.set_inheritable(True)
    return sock


def serve(
    workspace: WorkspaceOpt = None,
    host: Annotated[str, typer.Option(help="Address to listen on")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on")] = 8000,
    max_upload_mb: Annotated[int, typer.Option(help="Largest export accepted by upload, in MB")] = 2000,
    trusted_proxies: Annotated[
        str | None,
        typer.Option(
            help="Comma-separated addresses or networks of reverse proxies whose X-Forwarded-For is "
            "believed [default: [web] trusted_proxies, none]"
        ),
    ] = None,
) -> None:
    """Serve the web app: dashboards of every community, uploads, people and members' own journeys."""
    from covalue.web.site import Limits

    path = workspace or default_path()
    ws = open_ws(path, create=True)
    ws.close()
    proxies = [p.strip() for p in trusted_proxies.split(",") if p.strip()] if trusted_proxies else None
    run_server(
        Path(path),
        host,
        port,
        limits=Limits(max_upload_bytes=max_upload_mb * 1_000_000),
        trusted_proxies=proxies,
    )


def _store(workspace: Path | None) -> Store:
    path = workspace or default_path()
    ws = open_ws(path)
    ws.close()
    return Store.open(path)


@user_app.command("add")
def user_add(
    email: Annotated[str, typer.Argument(help="The person's email (their sign-in name)")],
    role: Annotated[str, typer.Option("--role", "-r", help=f"One of: {', '.join(ROLES)}")] = "member",
    community: Annotated[
        str | None, typer.Option("--community", "-c", help="Community id or name the role applies to [all]")
    ] = None,
    member: Annotated[
        str | None, typer.Option("--member", help="Member id this account is (for members)")
    ] = None,
    password: Annotated[
        str | None, typer.Option("--password", help="Password (asked for, or generated with --generate)")
    ] = None,
    generate: Annotated[bool, typer.Option("--generate", help="Generate a password and print it")] = False,
    workspace: WorkspaceOpt = None,
) -> None:
    """Add an account (or a role to an existing one)."""
    from covalue.store import accounts as acc

    path = workspace or default_path()
    cid = community
    if community is not None:
        ws = open_ws(path)
        try:
            rows = ws.raw.execute("SELECT community_id, name FROM communities").fetchall()
        except Exception:  # the server holds the workspace: the community is taken as an id
            rows = [(community, community)]
        finally:
            ws.close()
        match = [c for c, n in rows if community in (c, n)]
        if not match:
            known = ", ".join(sorted(c for c, _ in rows)) or "none yet"
            fail(f"no community {community!r} in {path} (known: {known})")
        cid = match[0]
    if generate:
        password = secrets.token_urlsafe(12)
    store = _store(workspace)
    try:
        with store.session() as db:
            exists = acc.find_user(db, email) is not None
            if password is None and not exists and role != "member":
                password = typer.prompt("Password", hide_input=True, confirmation_prompt=True)
            user = acc.add_user(db, email, role, community=cid, password=password, member_id=member)
            acc.audit(db, None, "account role added (cli)", community=cid, subject=f"{user.email}: {role}")
            shown = user.email
    except acc.AccountError as e:
        fail(str(e))
    finally:
        store.dispose()
    where = f" of {cid}" if cid and role != "admin" else ""
    console.print(f"{shown} is {role}{where}" + (f"; password: [bold]{password}[/]" if generate else ""))


@user_app.command("link")
def user_link(
    email: Annotated[str, typer.Argument(help="A member's account email")],
    base_url: Annotated[
        str, typer.Option("--base-url", help="Where the app is served")
    ] = "http://127.0.0.1:8000",
    workspace: WorkspaceOpt = None,
) -> None:
    """Make a personal link to a member's own journey (a new link replaces the old one)."""
    from covalue.store import accounts as acc

    store = _store(workspace)
    try:
        with store.session() as db:
            user = acc.find_user(db, email)
            if user is None or not user.member_id:
                fail(f"{email} is not an account linked to a member (use `user add --member`)")
            token = acc.new_journey_link(db, user)
    finally:
        store.dispose()
    console.print(f"{base_url.rstrip('/')}/j/{token}")


EmailArg = Annotated[str, typer.Argument(help="The account's email")]


def _revoke(
    workspace: Path | None, email: str, action: str, role: str = "", community: str | None = None
) -> None:
    from covalue.store import accounts as acc

    store = _store(workspace)
    try:
        with store.session() as db:
            user = acc.require_user(db, email)
            done = acc.revoke(db, user, action, role, community)
            subject = f"{email}: {role}" if role else email
            acc.audit(db, None, f"{acc.REVOCATIONS[action]} (cli)", community=community, subject=subject)
    except acc.AccountError as e:
        fail(str(e))
    finally:
        store.dispose()
    console.print(done)


@user_app.command("disable")
def user_disable(email: EmailArg, workspace: WorkspaceOpt = None) -> None:
    """Disable an account: it can no longer sign in, and its sessions end at once."""
    _revoke(workspace, email, "disable")


@user_app.command("enable")
def user_enable(email: EmailArg, workspace: WorkspaceOpt = None) -> None:
    """Enable a disabled account again (with the roles it had)."""
    _revoke(workspace, email, "enable")


@user_app.command("remove")
def user_remove(email: EmailArg, workspace: WorkspaceOpt = None) -> None:
    """Remove an account, its roles and sessions (the audit log keeps its email)."""
    _revoke(workspace, email, "remove")


@user_app.command("role-remove")
def user_role_remove(
    email: EmailArg,
    role: Annotated[str, typer.Option("--role", "-r", help=f"One of: {', '.join(ROLES)}")],
    community: Annotated[
        str | None, typer.Option("--community", "-c", help="Community id the role was given in [all]")
    ] = None,
    workspace: WorkspaceOpt = None,
) -> None:
    """Take one role from an account; its sessions end, so its next request has only what is left."""
    _revoke(workspace, email, "role-remove", role, community)


@user_app.command("sessions-end")
def user_sessions_end(email: EmailArg, workspace: WorkspaceOpt = None) -> None:
    """Sign an account out everywhere."""
    _revoke(workspace, email, "sessions-end")


DEMO_ADMIN = "demo@covalue.local"


def serve_demo(path: Path, host: str, port: int) -> None:
    """Serve the demo workspace with a demo admin whose new password is printed on the terminal."""
    from covalue.store import accounts as acc

    password = secrets.token_urlsafe(12)
    store = Store.open(path)
    try:
        with store.session() as db:
            acc.add_user(db, DEMO_ADMIN, "admin", password=password)
    finally:
        store.dispose()
    run_server(
        path, host, port, announce=[f"Demo admin: [bold]{DEMO_ADMIN}[/]  password: [bold]{password}[/]"]
    )
