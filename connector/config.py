"""Settings: one TOML file, overlaid by the environment, validated once with marshmallow.

Lookup order (one, like django-anymail's): the file named by ``--config`` or
``SMS_CONNECTOR_CONFIG``, then environment variables ``SMS_CONNECTOR_<SECTION>__<KEY>``
(list entries by index: ``SMS_CONNECTOR_CHANNELS__0__NUMBER``), which win. Flask's own
``from_file`` / ``from_prefixed_env`` keep only UPPERCASE keys and would drop ours silently, so the
file is read with tomllib and the overlay is done here.

Every error names the key path (``zendesk.subdomain: missing``) and raises
:class:`~connector.errors.ConfigurationError`, which the CLI turns into a non-zero exit.

The core's sections are declared here; each registered adapter (``adapters.helpdesk.HELPDESKS``,
``adapters.sms.PROVIDERS``) brings its own ``[<name>]`` section (``settings_schema``), so a new
provider adds keys without a change here. ``helpdesk.kind`` and every channel's ``provider`` must
name a registered adapter: anything else stops start-up naming the key.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, is_dataclass
from datetime import time as dt_time
from typing import Any

from marshmallow import (
    RAISE,
    Schema,
    ValidationError,
    post_load,
    validate,
    validates_schema,
)
from marshmallow import (
    fields as mf,
)

from adapters.helpdesk import HELPDESKS
from adapters.sms import PROVIDERS
from connector.config_fields import Duration, Section, TimeOfDay, parse_duration, url_field
from connector.errors import ConfigurationError
from connector.text.phones import is_e164

ENV_PREFIX = "SMS_CONNECTOR_"
CONFIG_ENV = "SMS_CONNECTOR_CONFIG"
DEFAULT_DATABASE_URL = "sqlite:///sms-connector.db"


def adapter_sections() -> dict[str, Any]:
    """Every registered adapter's config section name → its adapter class."""
    return {**PROVIDERS, **HELPDESKS}


def secret_keys() -> frozenset[str]:
    """Keys whose values are never printed or logged: the core's and every adapter's."""
    keys = {"server.admin_token", "server.metrics_token", "server.media_signing_key",
            "escalation.alert_routing_key"}
    for name, adapter in adapter_sections().items():
        keys.update(f"{name}.{key}" for key in adapter.secret_keys)
    return frozenset(keys)


# --- the settings objects the rest of the code sees ------------------------------------------


@dataclass(frozen=True)
class ServerSettings:
    public_url: str = "http://127.0.0.1:8080"
    admin_token: str = ""
    metrics_token: str = ""
    embedded_worker: bool = True
    host: str = "127.0.0.1"
    port: int = 8080
    max_body_bytes: int = 64 * 1024
    read_timeout: float = 2.0
    media_signing_key: str = ""
    media_url_ttl: float = 3600.0
    log_level: str = "INFO"
    threads: int = 8
    worker_niceness: int = 0


@dataclass(frozen=True)
class DatabaseSettings:
    url: str = DEFAULT_DATABASE_URL
    pool_size: int = 5


@dataclass(frozen=True)
class HelpdeskSettings:
    kind: str = "zendesk"


@dataclass(frozen=True)
class ChannelSettings:
    provider: str = "twilio"
    number: str | None = None
    messaging_service_sid: str | None = None
    numbers: tuple[str, ...] = ()
    name: str | None = None

    @property
    def key(self) -> str:
        """Stable id of the channel: the Messaging Service SID (a provider's sender pool), else
        the number."""
        return self.messaging_service_sid or self.number or ""


@dataclass(frozen=True)
class PolicySettings:
    pack: str | None = None


@dataclass(frozen=True)
class ThreadingSettings:
    reopen_within: float = 72 * 3600.0


@dataclass(frozen=True)
class QueueSettings:
    max_attempts: int = 8
    lease_seconds: float = 60.0
    backoff_base_seconds: float = 2.0
    backoff_max_seconds: float = 900.0
    poll_interval_seconds: float = 0.25


@dataclass(frozen=True)
class EscalationSettings:
    # Where a top-tier (P1) escalation is posted as JSON; empty = no alerts.
    alert_url: str = ""
    alert_routing_key: str = ""  # the body's ``routing_key`` (a PagerDuty integration key)
    tick: float = 15.0  # how often the scheduler looks for due timers
    # Texts nobody asked for (reminders) only between these, in the customer's time zone.
    proactive_from: dt_time = dt_time(8, 0)
    proactive_until: dt_time = dt_time(21, 0)
    # At most one automated text (acknowledgement, reminder) per customer this often.
    automated_interval: float = 300.0
    # More texts than this from one number within flood_window: a bot; no automated replies.
    flood_texts: int = 10
    flood_window: float = 300.0


@dataclass(frozen=True)
class ReportSettings:
    weekly_to: str = ""  # a folder: the scheduler writes each week's HTML report there
    backlog_after: float = 120.0  # a ticket filed (or its job run) later than this: backlog


@dataclass(frozen=True)
class Settings:
    server: ServerSettings = field(default_factory=ServerSettings)
    database: DatabaseSettings = field(default_factory=DatabaseSettings)
    helpdesk: HelpdeskSettings = field(default_factory=HelpdeskSettings)
    channels: tuple[ChannelSettings, ...] = ()
    policy: PolicySettings = field(default_factory=PolicySettings)
    threading: ThreadingSettings = field(default_factory=ThreadingSettings)
    queue: QueueSettings = field(default_factory=QueueSettings)
    escalation: EscalationSettings = field(default_factory=EscalationSettings)
    report: ReportSettings = field(default_factory=ReportSettings)
    # Each registered adapter's section by name (``[zendesk]``, ``[twilio]`` …), defaults filled.
    sections: Mapping[str, Any] = field(default_factory=dict)
    source: str | None = None  # the file the settings came from, for messages

    def section(self, name: str) -> Any:
        """An adapter's settings (``settings.section("twilio").auth_token``)."""
        try:
            return self.sections[name]
        except KeyError:
            raise ConfigurationError(f"{name}: no such section (not a registered adapter)",
                                     errors={name: "unknown section"}) from None

    def __getattr__(self, name: str) -> Any:
        # ``settings.twilio`` reads as ``settings.section("twilio")`` (tests, the sandbox).
        sections = self.__dict__.get("sections") or {}
        if name in sections:
            return sections[name]
        raise AttributeError(name)

    @property
    def helpdesk_settings(self) -> Any:
        """The section of the helpdesk in use (``[zendesk]`` when ``helpdesk.kind = "zendesk"``)."""
        return self.section(self.helpdesk.kind)

    def require(self, *paths: str) -> None:
        """Refuse to start a flow that needs a secret / value the config left empty."""
        missing = [p for p in paths if not _lookup(self, p)]
        if missing:
            raise ConfigurationError(
                "; ".join(
                    f"{p}: missing (set it in the config file or as "
                    f"{ENV_PREFIX}{p.replace('.', '__').upper()})"
                    for p in missing
                ),
                errors={p: "missing" for p in missing},
            )

    def channel_for(self, *, messaging_service_sid: str | None, to_number: str | None):
        """The channel a message belongs to: by Messaging Service first, then by number."""
        if messaging_service_sid:
            for channel in self.channels:
                if channel.messaging_service_sid == messaging_service_sid:
                    return channel
        if to_number:
            for channel in self.channels:
                if channel.number == to_number or to_number in channel.numbers:
                    return channel
        return None


def _lookup(obj: Any, path: str) -> Any:
    for part in path.split("."):
        obj = getattr(obj, part)
    return obj


# --- schemas ----------------------------------------------------------------------------------

_MISSING = {"required": "missing"}


class ServerSchema(Section):
    settings_class = ServerSettings
    public_url = url_field()
    admin_token = mf.String()
    metrics_token = mf.String()
    embedded_worker = mf.Boolean()
    host = mf.String()
    port = mf.Integer(validate=validate.Range(1, 65535))
    max_body_bytes = mf.Integer(validate=validate.Range(1024, 50 * 1024 * 1024))
    read_timeout = Duration(validate=validate.Range(0, 300))
    media_signing_key = mf.String()
    media_url_ttl = Duration()
    log_level = mf.String(validate=validate.OneOf(["DEBUG", "INFO", "WARNING", "ERROR"]))
    threads = mf.Integer(validate=validate.Range(1, 256))
    worker_niceness = mf.Integer(validate=validate.Range(0, 19))


class DatabaseSchema(Section):
    settings_class = DatabaseSettings
    url = mf.String(validate=validate.Regexp(r"^(sqlite|postgresql)(\+\w+)?://", error="must be a "
                                             "sqlite:/// or postgresql+psycopg:// URL"))
    pool_size = mf.Integer(validate=validate.Range(1, 100))


class HelpdeskSchema(Section):
    settings_class = HelpdeskSettings
    kind = mf.String()  # a registered helpdesk: checked in SettingsSchema


def _e164(value: str) -> None:
    if not is_e164(value):
        raise ValidationError("not an E.164 number (e.g. +12025550142)")


class ChannelSchema(Section):
    settings_class = ChannelSettings
    provider = mf.String()  # a registered SMS provider: checked in SettingsSchema
    number = mf.String(validate=_e164)
    messaging_service_sid = mf.String()  # its shape is the provider's (check_channel)
    numbers = mf.List(mf.String(validate=_e164))
    name = mf.String()

    @validates_schema
    def _one_address(self, data: dict[str, Any], **_: Any) -> None:
        if not data.get("number") and not data.get("messaging_service_sid"):
            raise ValidationError("missing (a channel needs number or messaging_service_sid)",
                                  "number")

    @post_load
    def _make(self, data: dict[str, Any], **_: Any) -> Any:
        data["numbers"] = tuple(data.get("numbers", ()))
        return ChannelSettings(**data)


class PolicySchema(Section):
    settings_class = PolicySettings
    pack = mf.String(allow_none=True)


class ThreadingSchema(Section):
    settings_class = ThreadingSettings
    reopen_within = Duration()


class QueueSchema(Section):
    settings_class = QueueSettings
    max_attempts = mf.Integer(validate=validate.Range(1, 1000))
    lease_seconds = Duration()
    backoff_base_seconds = Duration()
    backoff_max_seconds = Duration()
    poll_interval_seconds = mf.Float(validate=validate.Range(0.01, 60))


class EscalationSchema(Section):
    settings_class = EscalationSettings
    alert_url = mf.String(validate=validate.Regexp(
        r"^(https?://\S+)?$", error="must be an http:// or https:// URL, or empty (no alerts)"))
    alert_routing_key = mf.String()
    tick = Duration(validate=validate.Range(0.1, 600))
    proactive_from = TimeOfDay()
    proactive_until = TimeOfDay()
    automated_interval = Duration(validate=validate.Range(0, 86400))
    flood_texts = mf.Integer(strict=True, validate=validate.Range(min=1))
    flood_window = Duration(validate=validate.Range(1, 86400))

    @validates_schema
    def _window(self, data: dict[str, Any], **_: Any) -> None:
        start, end = data.get("proactive_from"), data.get("proactive_until")
        if start is not None and end is not None and not start < end:
            raise ValidationError({"proactive_until": ["must be later than proactive_from"]})


class ReportSchema(Section):
    settings_class = ReportSettings
    weekly_to = mf.String()
    backlog_after = Duration(validate=validate.Range(0, 86400))


class _CoreSchema(Schema):
    class Meta:
        unknown = RAISE

    server = mf.Nested(ServerSchema)
    database = mf.Nested(DatabaseSchema)
    helpdesk = mf.Nested(HelpdeskSchema)
    channels = mf.List(mf.Nested(ChannelSchema))
    policy = mf.Nested(PolicySchema)
    threading = mf.Nested(ThreadingSchema)
    queue = mf.Nested(QueueSchema)
    escalation = mf.Nested(EscalationSchema)
    report = mf.Nested(ReportSchema)

    @validates_schema(skip_on_field_errors=False)
    def _registered(self, data: dict[str, Any], **_: Any) -> None:
        errors: dict[str, Any] = {}
        kind = getattr(data.get("helpdesk"), "kind", HelpdeskSettings.kind)
        helpdesk = HELPDESKS.get(kind)
        if helpdesk is None:
            errors["helpdesk"] = {"kind": [f"{kind!r} is not a registered helpdesk "
                                           f"(one of: {', '.join(sorted(HELPDESKS))})"]}
        else:
            section = data.get(kind) or helpdesk.settings_schema.settings_class()
            # A section that failed its own fields is reported by them, not checked again here.
            problems = (helpdesk.check_settings(section)
                        if isinstance(section, helpdesk.settings_schema.settings_class) else {})
            if problems:
                errors[kind] = {key: [message] for key, message in problems.items()}
        channel_errors: dict[int, Any] = {}
        for index, channel in enumerate(data.get("channels") or ()):
            if not isinstance(channel, ChannelSettings):
                continue  # its own fields failed and say so
            provider = PROVIDERS.get(channel.provider)
            if provider is None:
                channel_errors[index] = {"provider": [
                    f"{channel.provider!r} is not a registered SMS provider "
                    f"(one of: {', '.join(sorted(PROVIDERS))})"]}
                continue
            problems = provider.check_channel(channel)
            if problems:
                channel_errors[index] = {key: [message] for key, message in problems.items()}
        if channel_errors:
            errors["channels"] = channel_errors
        if errors:
            raise ValidationError(errors)

    @post_load
    def _make(self, data: dict[str, Any], **_: Any) -> Settings:
        if "channels" in data:
            data["channels"] = tuple(data["channels"])
        sections = {name: data.pop(name, None) or adapter.settings_schema.settings_class()
                    for name, adapter in adapter_sections().items()}
        return Settings(**data, sections=sections)


_SCHEMA_CLASSES: dict[tuple[tuple[str, type], ...], type[Schema]] = {}


def settings_schema() -> Schema:
    """The whole file's schema: the core's sections plus each registered adapter's (built once
    per set of registered adapters)."""
    sections = adapter_sections()
    key = tuple(sorted((name, adapter.settings_schema) for name, adapter in sections.items()))
    cls = _SCHEMA_CLASSES.get(key)
    if cls is None:
        extra = {name: mf.Nested(adapter.settings_schema) for name, adapter in sections.items()}
        cls = _SCHEMA_CLASSES[key] = type("SettingsSchema", (_CoreSchema,), extra)
    return cls()


# --- loading ----------------------------------------------------------------------------------


def _flatten_errors(messages: Any, prefix: str = "") -> dict[str, str]:
    out: dict[str, str] = {}
    if isinstance(messages, dict):
        for key, value in messages.items():
            if key == "_schema":
                path = prefix or "(config)"
            elif isinstance(key, int):
                path = f"{prefix}[{key}]"
            else:
                path = f"{prefix}.{key}" if prefix else str(key)
            if isinstance(value, dict):
                out.update(_flatten_errors(value, path))
            else:
                out[path] = "; ".join(_friendly(m) for m in value)
    elif isinstance(messages, list):
        out[prefix or "(config)"] = "; ".join(_friendly(m) for m in messages)
    return out


def _friendly(message: Any) -> str:
    text = str(message)
    return {
        "Missing data for required field.": "missing",
        "Unknown field.": "unknown key",
        "Not a valid string.": "must be a string",
        "Not a valid integer.": "must be a whole number",
        "Not a valid boolean.": "must be true or false",
        "Not a valid number.": "must be a number",
        "Not a valid URL.": "not a URL",
        "Not a valid list.": "must be a list",
    }.get(text, text)


def _env_overlay(data: dict[str, Any], environ: Mapping[str, str]) -> dict[str, Any]:
    for name in sorted(environ):
        if not name.startswith(ENV_PREFIX) or "__" not in name[len(ENV_PREFIX):]:
            continue
        parts = name[len(ENV_PREFIX):].lower().split("__")
        node: Any = data
        for i, part in enumerate(parts):
            last = i == len(parts) - 1
            key: Any = int(part) if part.isdigit() else part
            if isinstance(key, int):
                if not isinstance(node, list):
                    raise ConfigurationError(f"{name}: {'.'.join(parts[:i])} is not a list")
                while len(node) <= key:
                    node.append({} if not last else None)
                if last:
                    node[key] = environ[name]
                else:
                    if not isinstance(node[key], dict | list):
                        node[key] = [] if parts[i + 1].isdigit() else {}
                    node = node[key]
            else:
                if not isinstance(node, dict):
                    raise ConfigurationError(f"{name}: {'.'.join(parts[:i])} is not a section")
                if last:
                    node[key] = environ[name]
                else:
                    if not isinstance(node.get(key), dict | list):
                        node[key] = [] if parts[i + 1].isdigit() else {}
                    node = node[key]
    return data


def load_settings(
    path: str | os.PathLike[str] | None = None,
    *,
    environ: Mapping[str, str] | None = None,
    overrides: Mapping[str, Any] | None = None,
) -> Settings:
    """Read, overlay and validate. ``path=None`` uses ``SMS_CONNECTOR_CONFIG`` or no file."""
    environ = os.environ if environ is None else environ
    path = path or environ.get(CONFIG_ENV) or None
    data: dict[str, Any] = {}
    if path:
        try:
            with open(path, "rb") as fh:
                data = tomllib.load(fh)
        except FileNotFoundError:
            raise ConfigurationError(f"config file not found: {path}") from None
        except tomllib.TOMLDecodeError as exc:
            raise ConfigurationError(f"{path}: not valid TOML: {exc}") from None
    data = _env_overlay(data, environ)
    if overrides:
        data = _deep_merge(data, overrides)
    return settings_from_dict(data, source=str(path) if path else None)


def settings_from_dict(data: Mapping[str, Any], *, source: str | None = None) -> Settings:
    try:
        settings: Settings = settings_schema().load(dict(data))
    except ValidationError as exc:
        errors = _flatten_errors(exc.messages)
        where = f"{source}: " if source else ""
        raise ConfigurationError(
            where + "invalid configuration\n" + "\n".join(f"  {k}: {v}" for k, v in errors.items()),
            errors=errors,
        ) from None
    return _replace_source(settings, source)


def _replace_source(settings: Settings, source: str | None) -> Settings:
    from dataclasses import replace

    return replace(settings, source=source)


def _deep_merge(base: dict[str, Any], extra: Mapping[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in extra.items():
        if isinstance(value, Mapping) and isinstance(out.get(key), dict):
            out[key] = _deep_merge(out[key], value)
        else:
            out[key] = value
    return out


def as_dict(settings: Settings, *, mask_secrets: bool = True) -> dict[str, Any]:
    """The effective settings as plain data, secrets masked (for ``check-config``): the core's
    sections, then each adapter's by its name."""
    secrets = secret_keys()
    out: dict[str, Any] = {}
    for f in fields(settings):
        if f.name == "source":
            continue
        items = (settings.sections.items() if f.name == "sections"
                 else [(f.name, getattr(settings, f.name))])
        for name, value in items:
            out[name] = _masked(value, name, secrets, mask_secrets)
    return out


def _masked(value: Any, path: str, secrets: frozenset[str], mask: bool) -> Any:
    if is_dataclass(value) and not isinstance(value, type):
        return {f.name: (mask_secret(getattr(value, f.name))
                         if mask and f"{path}.{f.name}" in secrets
                         else _masked(getattr(value, f.name), f"{path}.{f.name}", secrets, mask))
                for f in fields(value)}
    if isinstance(value, tuple | list):
        return [_masked(v, path, secrets, mask) for v in value]
    if mask and isinstance(value, str) and "://" in value:
        return mask_url_password(value)
    if isinstance(value, dt_time):
        return value.strftime("%H:%M")  # as the config file writes it
    return value


def mask_url_password(url: str) -> str:
    """``url`` with the password of its userinfo replaced by ``***`` (``database.url`` holds
    ``postgresql+psycopg://user:password@host/db``); unchanged when it has none."""
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    try:
        parsed = make_url(url)
    except (ArgumentError, ValueError):
        parsed = None
    if parsed is not None and parsed.password is not None:
        return parsed.render_as_string(hide_password=True)
    # Not a database URL (or not one SQLAlchemy reads): cut whatever sits between ':' and the
    # last '@' of the authority.
    scheme, sep, rest = url.partition("://")
    authority, slash, tail = rest.partition("/")
    userinfo, at, host = authority.rpartition("@")
    if not at or ":" not in userinfo:
        return url
    return f"{scheme}{sep}{userinfo.split(':', 1)[0]}:***@{host}{slash}{tail}"


def mask_secret(value: str) -> str:
    if not value:
        return "(not set)"
    return "****" + (value[-4:] if len(value) >= 12 else "")


def config_schema_keys() -> dict[str, list[str]]:
    """Every section's keys, for docs and the example-config test."""
    schema = settings_schema()
    out: dict[str, list[str]] = {}
    for name, fld in schema.fields.items():
        nested = getattr(fld, "inner", fld)
        nested_schema = getattr(nested, "schema", None)
        if nested_schema is not None:
            out[name] = sorted(nested_schema.fields)
    return out


__all__ = [
    "ChannelSettings",
    "ConfigurationError",
    "Settings",
    "load_settings",
    "parse_duration",
    "settings_from_dict",
]
