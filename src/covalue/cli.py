"""The ``covalue`` command line. Every command is a function in ``covalue/commands/`` (one module per
job) and is registered here, in the order ``covalue --help`` lists them; options they share (workspace,
community, period, JSON) are defined once in ``covalue.commands.options``."""

from __future__ import annotations

import sys

import typer

from covalue.commands import canvas, health, identities, maturity, report, rights, synth, web, workspace


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

# a workspace and its data
app.command()(workspace.init)
app.command()(workspace.ingest)
app.command()(workspace.status)
app.command()(synth.synth)
app.command()(synth.demo)
app.command()(identities.identities)
app.command("merge")(identities.merge_cmd)
app.command()(identities.unmerge)
# the value journey
app.command()(maturity.analyze)
app.command()(maturity.stages)
app.command()(maturity.journeys)
app.command()(maturity.explain)
app.command()(maturity.evaluate)
# health
app.command()(health.health)
app.command()(health.dynamics)
app.command()(health.champions)
app.command()(health.resonance)
# what people read and fill in
app.command()(report.report)
app.command()(web.serve)
app.add_typer(web.user_app, name="user")
app.add_typer(canvas.canvas_app, name="canvas")
app.command()(canvas.experiments)
app.command()(canvas.stories)
# the rights of the people in the data
app.command()(rights.forget)
app.command("subject-access")(rights.subject_access_cmd)
app.command()(rights.prune)

if __name__ == "__main__":  # pragma: no cover
    app()
