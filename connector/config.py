"""Settings: one TOML file, overlaid by the environment, validated once with marshmallow.

Lookup order (one, like django-anymail's): the file named by ``--config`` or
``SMS_CONNECTOR_CONFIG``, then environment variables ``SMS_CONNECTOR_<SECTION>__<KEY>``
(list entries by index: ``SMS_CONNECTOR_CHANNELS__0__NUMBER``), which win. Flask's own
``from_file`` / ``from_prefixed_env`` keep only UPPERCASE keys and would drop ours silently, so the
file is read with tomllib and the overlay is done here.

Every error names the key path (``zendesk.subdomain: missing``) and raises
:class:`~connector.errors.ConfigurationError`, which the CLI turns into a non-zero exit.
"""

from __future__ import annotations

import os
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, is_dataclass
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

from connector.errors import ConfigurationError
from connector.text.phones import is_e164

ENV_PREFIX = "SMS_CONNECTOR_"
CONFIG_ENV = "SMS_CONNECTOR_CONFIG"
DEFAULT_DATABASE_URL = "sqlite:///sms-connector.db"
# Keys whose values are never printed or logged.
SECRET_KEYS = frozenset(
    {
        "server.admin_token",
        "zendesk.api_token",
        "zendesk.webhook_secret",
        "freshdesk.api_key",
        "freshdesk.webhook_secret",
        "twilio.auth_token",
        "twilio.webhook_signing_secret",
        "server.media_signing_key",
    }
)

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(s|m|h|d)?\s*$")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, None: 1}


def parse_duration(value: str | int | float) -> float:
    """``"72h"`` → 259200.0; plain numbers are seconds."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    match = _DURATION.match(str(value))
    if not match:
        raise ValueError(f"not a duration: {value!r} (use e.g. 30s, 15m, 72h, 2d)")
    return float(match.group(1)) * _UNITS[match.group(2)]


class Duration(mf.Field):
    """A duration written as ``15m`` / ``72h`` / seconds; loads to seconds (float)."""

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> float:
        try:
            return parse_duration(value)
        except ValueError as exc:
            raise ValidationError(str(exc)) from exc


def _url() -> mf.Url:
    return mf.Url(require_tld=False, schemes={"http", "https"})


# --- the settings objects the rest of the code sees ------------------------------------------


@dataclass(frozen=True)
class ServerSettings:
    public_url: str = "http://127.0.0.1:8080"
    admin_token: str = ""
    embedded_worker: bool = True
    host: str = "127.0.0.1"
    port: int = 8080
    max_body_bytes: int = 64 * 1024
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
class ZendeskSettings:
    subdomain: str = ""
    email: str = ""
    api_token: str = ""
    base_url: str = ""
    webhook_secret: str = ""
    timeout: float = 10.0
    requests_per_minute: int = 200
    ticket_updates_per_minute: int = 100
    updates_per_ticket_per_10_minutes: int = 30

    @property
    def effective_base_url(self) -> str:
        return (self.base_url or f"https://{self.subdomain}.zendesk.com").rstrip("/")


@dataclass(frozen=True)
class FreshdeskSettings:
    domain: str = ""
    api_key: str = ""
    base_url: str = ""
    webhook_secret: str = ""

    @property
    def effective_base_url(self) -> str:
        return (self.base_url or f"https://{self.domain}").rstrip("/")


@dataclass(frozen=True)
class TwilioSettings:
    account_sid: str = ""
    auth_token: str = ""
    base_url: str = "https://api.twilio.com"
    webhook_signing_secret: str = ""
    opt_out_handling: str = "twilio"
    timeout: float = 10.0
    media_max_bytes: int = 5 * 1024 * 1024
    media_content_types: tuple[str, ...] = (
        "image/jpeg",
        "image/png",
        "image/gif",
        "image/webp",
        "image/heic",
        "application/pdf",
        "audio/amr",
        "audio/mpeg",
        "video/mp4",
        "video/3gpp",
        "text/vcard",
        "text/x-vcard",
    )


@dataclass(frozen=True)
class ChannelSettings:
    provider: str = "twilio"
    number: str | None = None
    messaging_service_sid: str | None = None
    numbers: tuple[str, ...] = ()
    name: str | None = None

    @property
    def key(self) -> str:
        """Stable id of the channel: the Messaging Service SID, else the number."""
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
class Settings:
    server: ServerSettings = field(default_factory=ServerSettings)
    database: DatabaseSettings = field(default_factory=DatabaseSettings)
    helpdesk: HelpdeskSettings = field(default_factory=HelpdeskSettings)
    zendesk: ZendeskSettings = field(default_factory=ZendeskSettings)
    freshdesk: FreshdeskSettings = field(default_factory=FreshdeskSettings)
    twilio: TwilioSettings = field(default_factory=TwilioSettings)
    channels: tuple[ChannelSettings, ...] = ()
    policy: PolicySettings = field(default_factory=PolicySettings)
    threading: ThreadingSettings = field(default_factory=ThreadingSettings)
    queue: QueueSettings = field(default_factory=QueueSettings)
    source: str | None = None  # the file the settings came from, for messages

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


class _Section(Schema):
    class Meta:
        unknown = RAISE

    settings_class: type = object

    @post_load
    def _make(self, data: dict[str, Any], **_: Any) -> Any:
        return self.settings_class(**data)


class ServerSchema(_Section):
    settings_class = ServerSettings
    public_url = _url()
    admin_token = mf.String()
    embedded_worker = mf.Boolean()
    host = mf.String()
    port = mf.Integer(validate=validate.Range(1, 65535))
    max_body_bytes = mf.Integer(validate=validate.Range(1024, 50 * 1024 * 1024))
    media_signing_key = mf.String()
    media_url_ttl = Duration()
    log_level = mf.String(validate=validate.OneOf(["DEBUG", "INFO", "WARNING", "ERROR"]))
    threads = mf.Integer(validate=validate.Range(1, 256))
    worker_niceness = mf.Integer(validate=validate.Range(0, 19))


class DatabaseSchema(_Section):
    settings_class = DatabaseSettings
    url = mf.String(validate=validate.Regexp(r"^(sqlite|postgresql)(\+\w+)?://", error="must be a "
                                             "sqlite:/// or postgresql+psycopg:// URL"))
    pool_size = mf.Integer(validate=validate.Range(1, 100))


class HelpdeskSchema(_Section):
    settings_class = HelpdeskSettings
    kind = mf.String(validate=validate.OneOf(["zendesk", "freshdesk"]))


class ZendeskSchema(_Section):
    settings_class = ZendeskSettings
    subdomain = mf.String(validate=validate.Regexp(r"^[a-z0-9][a-z0-9-]*$",
                                                   error="not a Zendesk subdomain (e.g. acme)"))
    email = mf.String()
    api_token = mf.String()
    base_url = mf.String(validate=validate.Regexp(r"^(https?://\S+)?$", error="not a URL"))
    webhook_secret = mf.String()
    timeout = mf.Float(validate=validate.Range(0.1, 120))
    requests_per_minute = mf.Integer(validate=validate.Range(1, 100000))
    ticket_updates_per_minute = mf.Integer(validate=validate.Range(1, 100000))
    updates_per_ticket_per_10_minutes = mf.Integer(validate=validate.Range(1, 100000))


class FreshdeskSchema(_Section):
    settings_class = FreshdeskSettings
    domain = mf.String()
    api_key = mf.String()
    base_url = mf.String(validate=validate.Regexp(r"^(https?://\S+)?$", error="not a URL"))
    webhook_secret = mf.String()


class TwilioSchema(_Section):
    settings_class = TwilioSettings
    account_sid = mf.String(validate=validate.Regexp(r"^(AC[0-9a-fA-F]{32})?$",
                                                     error="not a Twilio Account SID (AC…)"))
    auth_token = mf.String()
    base_url = _url()
    webhook_signing_secret = mf.String()
    opt_out_handling = mf.String(validate=validate.OneOf(["twilio", "connector"]))
    timeout = mf.Float(validate=validate.Range(0.1, 120))
    media_max_bytes = mf.Integer(validate=validate.Range(1, 100 * 1024 * 1024))
    media_content_types = mf.List(mf.String())

    @post_load
    def _make(self, data: dict[str, Any], **_: Any) -> Any:
        if "media_content_types" in data:
            data["media_content_types"] = tuple(data["media_content_types"])
        return TwilioSettings(**data)


def _e164(value: str) -> None:
    if not is_e164(value):
        raise ValidationError("not an E.164 number (e.g. +12025550142)")


class ChannelSchema(_Section):
    settings_class = ChannelSettings
    provider = mf.String(validate=validate.OneOf(["twilio"]))
    number = mf.String(validate=_e164)
    messaging_service_sid = mf.String(validate=validate.Regexp(
        r"^MG[0-9a-fA-F]{32}$", error="not a Messaging Service SID (MG…)"))
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


class PolicySchema(_Section):
    settings_class = PolicySettings
    pack = mf.String(allow_none=True)


class ThreadingSchema(_Section):
    settings_class = ThreadingSettings
    reopen_within = Duration()


class QueueSchema(_Section):
    settings_class = QueueSettings
    max_attempts = mf.Integer(validate=validate.Range(1, 1000))
    lease_seconds = Duration()
    backoff_base_seconds = Duration()
    backoff_max_seconds = Duration()
    poll_interval_seconds = mf.Float(validate=validate.Range(0.01, 60))


class SettingsSchema(Schema):
    class Meta:
        unknown = RAISE

    server = mf.Nested(ServerSchema)
    database = mf.Nested(DatabaseSchema)
    helpdesk = mf.Nested(HelpdeskSchema)
    zendesk = mf.Nested(ZendeskSchema)
    freshdesk = mf.Nested(FreshdeskSchema)
    twilio = mf.Nested(TwilioSchema)
    channels = mf.List(mf.Nested(ChannelSchema))
    policy = mf.Nested(PolicySchema)
    threading = mf.Nested(ThreadingSchema)
    queue = mf.Nested(QueueSchema)

    @validates_schema(skip_on_field_errors=False)
    def _helpdesk_section(self, data: dict[str, Any], **_: Any) -> None:
        kind = getattr(data.get("helpdesk"), "kind", "zendesk")
        if kind == "zendesk":
            zd = data.get("zendesk")
            if zd is None or not zd.subdomain:
                if zd is not None and zd.base_url:
                    return  # a base_url alone (proxy, sandbox) is enough to reach Zendesk
                raise ValidationError({"zendesk": {"subdomain": ["missing"]}})
        if kind == "freshdesk":
            fd = data.get("freshdesk")
            if fd is None or not (fd.domain or fd.base_url):
                raise ValidationError({"freshdesk": {"domain": ["missing"]}})

    @post_load
    def _make(self, data: dict[str, Any], **_: Any) -> Settings:
        if "channels" in data:
            data["channels"] = tuple(data["channels"])
        return Settings(**data)


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
        settings: Settings = SettingsSchema().load(dict(data))
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


def as_dict(settings: Any, *, mask_secrets: bool = True, prefix: str = "") -> Any:
    """The effective settings as plain data, secrets masked (for ``check-config``)."""
    if is_dataclass(settings) and not isinstance(settings, type):
        out: dict[str, Any] = {}
        for f in fields(settings):
            if f.name == "source":
                continue
            path = f"{prefix}.{f.name}" if prefix else f.name
            value = getattr(settings, f.name)
            if mask_secrets and path in SECRET_KEYS:
                out[f.name] = mask_secret(value)
            else:
                out[f.name] = as_dict(value, mask_secrets=mask_secrets, prefix=path)
        return out
    if isinstance(settings, tuple | list):
        return [as_dict(v, mask_secrets=mask_secrets, prefix=prefix) for v in settings]
    return settings


def mask_secret(value: str) -> str:
    if not value:
        return "(not set)"
    return "****" + (value[-4:] if len(value) >= 12 else "")


def config_schema_keys() -> dict[str, list[str]]:
    """Every section's keys, for docs and the example-config test."""
    schema = SettingsSchema()
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
