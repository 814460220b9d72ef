"""The pytest-bdd suite the BDD tests run: two feature files and two plain tests.

shop.feature: a Background, one passing scenario, an outline with three examples and a failing
scenario tagged with a JIRA key; login.feature (tagged with another key): one passing scenario
and one skipped by its ``@skip`` tag.  7 scenarios, 2 plain tests.
"""

from __future__ import annotations

import pytest

SHOP = """\
@shop
Feature: Shopping cart
  Background:
    Given an empty cart

  Scenario: Add one item
    When I add 1 apple
    Then the cart holds 1 item

  Scenario Outline: Add several items
    When I add <count> apple
    Then the cart holds <count> item

    Examples:
      | count |
      | 2     |
      | 3     |
      | 5     |

  @QZ-7
  Scenario: Remove from an empty cart
    When I remove 1 apple
    Then the cart holds 0 item
"""

LOGIN = """\
@QZ-8
Feature: Login
  Scenario: Good password
    Given a user "ann"
    When she logs in with "secret"
    Then she is in

  @skip
  Scenario: Single sign-on
    Given a user "bob"
    Then she is in
"""

STEPS = """\
import pytest
from pytest_bdd import given, parsers, scenarios, then, when

scenarios("features")


@given("an empty cart", target_fixture="cart")
def empty_cart():
    return []


@when(parsers.parse("I add {count:d} apple"))
def add(cart, count):
    cart.extend(["apple"] * count)


@when(parsers.parse("I remove {count:d} apple"))
def remove(cart, count):
    if len(cart) < count:
        raise ValueError("cannot remove from an empty cart")


@then(parsers.parse("the cart holds {count:d} item"))
def holds(cart, count):
    assert len(cart) == count


@given(parsers.parse('a user "{name}"'), target_fixture="user")
def user(name):
    return {"name": name, "in": False}


@when(parsers.parse('she logs in with "{password}"'))
def login(user, password):
    user["in"] = password == "secret"


@then("she is in")
def is_in(user):
    assert user["in"]
"""

PLAIN = """\
import pytest


@pytest.mark.jira("QZ-9")
def test_plain_passes():
    pass


def test_plain_fails():
    assert 1 == 2
"""

INI = """\
[pytest]
markers =
    shop
    QZ-7
    QZ-8
"""

#: what pytest reports for the suite
OUTCOMES = {"passed": 6, "failed": 2, "skipped": 1}


def make_bdd_suite(pytester: pytest.Pytester) -> None:
    pytester.makeini(INI)
    features = pytester.mkdir("features")
    (features / "shop.feature").write_text(SHOP, encoding="utf-8")
    (features / "login.feature").write_text(LOGIN, encoding="utf-8")
    pytester.makepyfile(test_steps=STEPS, test_plain=PLAIN)
