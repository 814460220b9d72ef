"""A small shop: the example suite pytest-octane's README uploads to the bundled simulator."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.jira("SHOP-1")


def price_with_tax(net: float, rate: float = 0.2) -> float:
    return round(net * (1 + rate), 2)


@pytest.mark.jira("SHOP-2")
@pytest.mark.parametrize(("net", "gross"), [(10.0, 12.0), (0.0, 0.0), (99.99, 119.99)])
def test_price_with_tax(net: float, gross: float) -> None:
    assert price_with_tax(net) == gross


class TestBasket:
    pytestmark = pytest.mark.jira("SHOP-3")

    def test_empty_basket_costs_nothing(self) -> None:
        assert sum([]) == 0

    @pytest.mark.jira("SHOP-4")
    def test_discount_never_negative(self) -> None:
        assert max(0.0, 5.0 - 7.5) == 0.0

    @pytest.mark.skip(reason="payment provider sandbox is not reachable from CI")
    def test_pay_by_card(self) -> None:
        raise AssertionError("never runs")


@pytest.mark.xfail(reason="rounding of half cents is not decided yet", strict=False)
def test_half_cent_rounding() -> None:
    assert price_with_tax(0.025) == 0.03


def test_known_bug_in_currency_conversion() -> None:
    """Fails on purpose so the example shows how a failed run looks in Octane."""
    rates = {"EUR": 1.0, "USD": 1.08}
    assert rates["USD"] * 100 == 100, "conversion must keep the amount (demonstration failure)"
