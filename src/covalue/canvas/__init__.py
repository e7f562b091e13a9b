"""The coaching workshops as domain logic (no I/O): the Shared Value canvas, the Collaboration canvas,
its coaching questions and the value-creation stories."""
