"""The runtime layer: the long-running parts behind `queuectl run`.

Helper discovery, the dispatcher loop and its parts (Redis guard, helper registry, leases,
Sentinel watch, loop timing, log throttling), the worker pool and the worker processes.
"""
