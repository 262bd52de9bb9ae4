"""The lease rule: a claim lives `lease` seconds unless renewed, and its owner renews it every
lease/3. A renewal can then be up to lease/3 late before it is missed, so an execution whose claim
has not been renewed for 2/3 of the lease may already be a peer's to finalise: its helper must be
stopped by then. The dispatcher and the worker processes both apply this one rule."""

from __future__ import annotations

#: Renewals per lease: one every lease/3.
RENEWALS_PER_LEASE = 3


def renew_every(lease: float) -> float:
    """Seconds between two renewals of the claims a dispatcher holds."""
    return lease / RENEWALS_PER_LEASE


def unrenewed_budget(lease: float) -> float:
    """How long after its last renewal a claim is certainly still ours: the lease less one
    renewal period (the worst case of a renewal that is on its way)."""
    return lease - renew_every(lease)
