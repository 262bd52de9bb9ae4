"""The store layer: queuectl's state in Redis, read and changed only through these modules.

The Lua scripts (one atomic transition each) and their typed wrappers, the helper catalog, the
planner, the operator actions, and the read sides of the queue, history and status.
"""
