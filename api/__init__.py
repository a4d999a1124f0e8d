"""gridgov interfaces: the FastAPI HTTP API and the ``gridgov`` command line."""
