"""A fake third-party covalue plug-in: a reader (``forum``) and a report section (``notes``)."""
