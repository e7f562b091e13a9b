"""The command line's commands, one module per job: plain functions with Typer-annotated parameters,
registered on the app in ``covalue.cli`` (importing a module here registers nothing). Options every
command shares are in ``options``."""
