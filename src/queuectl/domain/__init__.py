"""The domain layer: what queuectl's words mean, with no Redis and no I/O.

Key names, errors, the clock, the records (executions, helpers), the schedule maths, the queue
score, the retry and lease rules. Everything here is pure and is tested without a server.
"""
