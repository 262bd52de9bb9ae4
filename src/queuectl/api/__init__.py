"""`queuectl serve`: the HTTP management API (FastAPI), the dashboard and /metrics.

Imported only by `queuectl serve`: the web stack must not slow the other commands' start. The
routes call the same core functions as the CLI (store/views.py, store/control.py) and answer
with the same JSON objects as its `--json`.
"""
