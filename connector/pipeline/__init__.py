"""Job handlers, one module per flow; ``build_handlers`` is the explicit registry."""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from connector.jobs.queue import Job
    from connector.runtime import Runtime


def build_handlers(runtime: Runtime) -> dict[str, Callable[[Job], Any]]:
    from connector.pipeline.inbound import handle_inbound
    from connector.pipeline.outbox import SEND_JOB
    from connector.pipeline.send import handle_send

    handlers: dict[str, Callable[[Job], Any]] = {
        "inbound": partial(handle_inbound, runtime),
        SEND_JOB: partial(handle_send, runtime),
    }
    from connector.pipeline.agent_reply import handlers as agent_reply_handlers

    handlers.update(agent_reply_handlers(runtime))
    from connector.pipeline.escalation import handlers as escalation_handlers

    handlers.update(escalation_handlers(runtime))
    from connector.pipeline.ticket_state import STATE_JOB, handle_ticket_state

    handlers[STATE_JOB] = partial(handle_ticket_state, runtime)
    from connector.pipeline.reminders import handlers as reminder_handlers

    handlers.update(reminder_handlers(runtime))
    from connector.pipeline.outage import handlers as outage_handlers

    handlers.update(outage_handlers(runtime))
    from connector.jobs.scheduler import scheduler_handlers

    handlers.update(scheduler_handlers(runtime))
    return handlers
