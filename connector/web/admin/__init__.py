"""``/admin/``: the operator's pages (health, dead letters, conversations, opt-outs, timers,
policy coverage, the latest weekly report), behind ``server.admin_token``.

``auth`` decides who may look (session cookie or Bearer token, CSRF on every form), ``readings``
gathers what the pages show from the connector's own store, ``pages`` holds the routes; the
templates live beside them under ``templates/admin/``.
"""

from connector.web.admin.pages import bp

__all__ = ["bp"]
