"""``policy docs``: the standards page rendered from the pack, as markdown and as HTML."""

from __future__ import annotations

import dataclasses
from datetime import date

import pytest

from connector.cli.policy_docs import render_docs
from mappings.policy import Holiday, Interval, Policy, Script, load_policy


@pytest.fixture(scope="module")
def pack() -> Policy:
    return load_policy()


def test_markdown_has_every_section_and_scenario(pack: Policy) -> None:
    page = render_docs(pack, "md")
    assert page.startswith("# Acme Support: SMS support standards\n")
    for heading in (
        "## Scenarios and targets",
        "## When a conversation escalates",
        "## First reply (sent automatically)",
        "## Agent scripts",
        "## Business hours: Support hours",
        "## Holidays (closed)",
    ):
        assert f"\n{heading}\n" in page
    assert (
        "| Critical outage | P1 Critical | urgent | 5 minutes | 30 minutes | 4 hours "
        "| around the clock |" in page
    )
    assert (
        "| General inquiry | P3 Normal | normal | 10 minutes | 4 hours | 3 days | Support hours"
        in (page)
    )
    assert (
        "- Order / status: escalate when the customer has had no status update for 30 minutes."
        in (page)
    )
    assert (
        "- Critical outage: escalate when 3 or more customers report it within 15 minutes." in page
    )
    assert "triage flags the conversation as dispute or high value" in page
    assert "- Mon-Fri: 09:00 to 18:00" in page
    assert "- 2026-11-26: Thanksgiving Day" in page
    assert "Time zone America/New_York." in page


def test_scripts_show_the_blanks_agents_fill(pack: Policy) -> None:
    page = render_docs(pack, "md")
    assert "within [ETA]. Live status: status.example.com" in page
    assert "an update on order [order number]:" in page
    assert "| Closing (Closing) | every scenario |" in page
    for script in pack.scripts:
        assert script.title in page
    for scenario in pack.scenarios:
        assert pack.render_ack(scenario.id) in page


def test_owner_groups_and_several_intervals(pack: Policy) -> None:
    first = pack.business_hours.intervals[0]
    hours = dataclasses.replace(
        pack.business_hours,
        intervals=(first, Interval(("mon", "wed", "sat"), first.start, first.end)),
        holidays=(Holiday("Winter break", date(2026, 12, 24), date(2026, 12, 31)),),
    )
    policy = dataclasses.replace(
        pack,
        business_hours=hours,
        scenarios=tuple(dataclasses.replace(s, group=f"Team {s.id}") for s in pack.scenarios),
    )
    page = render_docs(policy, "md")
    assert "| Support hours | Team general |" in page
    assert "- Mon, Wed, Sat: 09:00 to 18:00" in page
    assert "- 2026-12-24 to 2026-12-31: Winter break" in page


def test_markdown_cells_escape_pipes(pack: Policy) -> None:
    policy = dataclasses.replace(pack, scripts=(Script("x", "A | B", "{brand}: a | b"),))
    page = render_docs(policy, "md")
    assert "| A \\| B (Reply) | every scenario | Acme Support: a \\| b |" in page


def test_html_is_one_escaped_page(pack: Policy) -> None:
    policy = dataclasses.replace(
        pack,
        brand="<Acme & Co>",
        scripts=(Script("x", "<b>bold</b>", "{brand}: 1 < 2", scenario="order"),),
    )
    page = render_docs(policy, "html")
    assert page.startswith("<!DOCTYPE html>")
    assert "<style>" in page and "<link" not in page and "<script" not in page
    assert "<title>&lt;Acme &amp; Co&gt;: SMS support standards</title>" in page
    assert "<td>&lt;b&gt;bold&lt;/b&gt; (Reply)</td><td>Order / status</td>" in page
    assert "<td>&lt;Acme &amp; Co&gt;: 1 &lt; 2</td>" in page
    assert "<b>" not in page
    assert "<h2>Scenarios and targets</h2>" in page and "<li>Mon-Fri: 09:00 to 18:00</li>" in page


def test_unknown_format(pack: Policy) -> None:
    with pytest.raises(ValueError, match="unknown format 'pdf'"):
        render_docs(pack, "pdf")
