"""connector.sync.plan: the values a plan and an apply are told in."""

from __future__ import annotations

from connector.sync.plan import CREATE, DELETE, KEEP, UPDATE, ApplyResult, Change, Plan

KEEP_HOOK = Change(KEEP, "hook", "[sms-connector] hook", "1")
EDITED = Change(UPDATE, "rule", "[sms-connector] rule", "2", ("conditions", "active"))
STALE = Change(DELETE, "rule", "[sms-connector] old", "3")


def test_a_change_reads_as_one_line():
    assert Change(CREATE, "rule", "[sms-connector] rule").line() == (
        "create  rule '[sms-connector] rule'")
    assert EDITED.line() == "update  rule '[sms-connector] rule' #2 (conditions, active)"
    assert KEEP_HOOK.line() == "keep    hook '[sms-connector] hook' #1"


def test_drift_is_every_change_that_is_not_a_keep():
    plan = Plan((KEEP_HOOK, EDITED, STALE))
    assert plan.drift == (EDITED, STALE) and plan.changed
    assert plan.counts() == {CREATE: 0, UPDATE: 1, DELETE: 1, KEEP: 1}
    assert plan.lines() == [KEEP_HOOK.line(), EDITED.line(), STALE.line()]
    clean = Plan((KEEP_HOOK,))
    assert clean.drift == () and not clean.changed


def test_apply_result_lines():
    done = ApplyResult(Plan((KEEP_HOOK, EDITED)), secret="s", webhook_id="1", secret_stored=True)
    assert done.lines() == [EDITED.line(), "stored the signing secret of webhook 1"]
    assert "secret=" not in repr(done)  # never printed by accident
    nothing = ApplyResult(Plan((KEEP_HOOK,)), secret="s", webhook_id="1")
    assert nothing.lines() == ["nothing to change: the helpdesk matches the policy"]
