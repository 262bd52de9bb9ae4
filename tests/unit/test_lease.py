"""The lease rule: renew every lease/3, and a claim not renewed for 2/3 of its lease may already
be a peer's. The dispatcher and the workers both rely on these two numbers."""

from __future__ import annotations

import pytest

from queuectl.domain.lease import RENEWALS_PER_LEASE, renew_every, unrenewed_budget

LEASES = [0.5, 3.0, 30.0, 45.0, 86400.0]


@pytest.mark.parametrize(
    "lease, every, budget", [(30.0, 10.0, 20.0), (3.0, 1.0, 2.0), (0.5, 0.5 / 3, 1 / 3), (86400.0, 28800.0, 57600.0)]
)
def test_known_leases(lease: float, every: float, budget: float) -> None:
    """Worked values: a 30 s lease renews every 10 s and trusts an unrenewed claim for 20 s."""
    assert renew_every(lease) == pytest.approx(every)
    assert unrenewed_budget(lease) == pytest.approx(budget)


def test_three_renewals_per_lease() -> None:
    assert RENEWALS_PER_LEASE == 3


@pytest.mark.parametrize("lease", LEASES)
def test_budget_is_two_thirds_of_the_lease(lease: float) -> None:
    """The budget is the lease less one renewal period: 2/3 of it, strictly less than the lease."""
    assert unrenewed_budget(lease) == pytest.approx(lease * 2 / 3)
    assert unrenewed_budget(lease) + renew_every(lease) == pytest.approx(lease)
    assert 0 < unrenewed_budget(lease) < lease


@pytest.mark.parametrize("lease", LEASES)
def test_one_missed_renewal_stays_within_the_lease(lease: float) -> None:
    """Renewed at 0, the renewal due at lease/3 is lost, the next one lands at 2*lease/3: the
    claim (expiring at `lease` after its last renewal) never lapsed in between."""
    last_renewal = 0.0
    missed = last_renewal + renew_every(lease)
    next_renewal = missed + renew_every(lease)
    assert next_renewal < last_renewal + lease
    # ... and the budget still covers the time until that next renewal.
    assert next_renewal - last_renewal <= unrenewed_budget(lease) + 1e-9 * lease
    # Two missed renewals would not fit: the third lands exactly as the lease expires.
    assert next_renewal + renew_every(lease) == pytest.approx(last_renewal + lease)
