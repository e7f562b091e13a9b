"""covalue: see and grow the value a community creates, for its members and for its organisation."""

from covalue.workspace import IngestResult, Workspace, WorkspaceError, init, open

__all__ = ["IngestResult", "Workspace", "WorkspaceError", "__version__", "init", "open"]
__version__ = "0.1.0"
