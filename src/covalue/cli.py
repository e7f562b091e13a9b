"""The ``covalue`` command line. Every command is a function in ``covalue/commands/`` (one module per
job) and is registered here, in the order ``covalue --help`` lists them; options they share (workspace,
community, period, JSON) are defined once in ``covalue.commands.options``."""

from __future__ import annotations

import sys
from collections.abc import Callable

import typer

from covalue.commands import (
    canvas,
    communities,
    health,
    identities,
    maturity,
    report,
    rights,
    synth,
    web,
    workspace,
)


class _Cli(typer.Typer):
    """The command group; a workspace held by the server is said in one line, not a traceback."""

    def __call__(self, *args: object, **kwargs: object) -> object:
        from covalue.workspace import WorkspaceBusy

        try:
            return super().__call__(*args, **kwargs)
        except WorkspaceBusy as e:
            sys.stderr.write(f"error: {e}\n")
            raise SystemExit(2) from None


app = _Cli(
    name="covalue",
    help="See and grow the value your community creates: ingest exports, find where members stand on "
    "the Connect → Share → Solve → Innovate journey, diagnose health, and coach.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

#: the commands in the order ``covalue --help`` lists them, by what they are about; a Typer is a group of
#: subcommands (``covalue user ...``, ``covalue canvas ...``)
COMMANDS: dict[str, list[Callable[..., None] | typer.Typer]] = {
    "a workspace": [
        workspace.init,
        workspace.ingest,
        workspace.status,
        workspace.compact,
        communities.communities_app,
        workspace.export,
        workspace.import_cmd,
    ],
    "synthetic data": [synth.synth, synth.demo],
    "who is who": [identities.identities, identities.merge_cmd, identities.unmerge],
    "the value journey": [
        maturity.analyze,
        maturity.stages,
        maturity.journeys,
        maturity.explain,
        maturity.evaluate,
    ],
    "health": [health.health, health.dynamics, health.champions, health.resonance],
    "what people read": [report.report, web.serve, web.user_app],
    "what people fill in": [canvas.canvas_app, canvas.experiments, canvas.stories],
    "the rights of the people in the data": [rights.forget, rights.subject_access_cmd, rights.prune],
}
#: commands not named after their function
_NAMES: dict[object, str] = {
    identities.merge_cmd: "merge",
    rights.subject_access_cmd: "subject-access",
    web.user_app: "user",
    canvas.canvas_app: "canvas",
    communities.communities_app: "communities",
    workspace.import_cmd: "import",
}

for _group in COMMANDS.values():
    for _command in _group:
        if isinstance(_command, typer.Typer):
            app.add_typer(_command, name=_NAMES[_command])
        else:
            app.command(_NAMES.get(_command))(_command)

if __name__ == "__main__":  # pragma: no cover
    app()
