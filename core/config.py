"""Typed, layered configuration: defaults < TOML file < environment, loaded once and frozen.

Every setting has an environment override named ``HOTLINE_<SECTION>_<KEY>`` (for example
``HOTLINE_ARI_URL``). Secrets are read from the environment only; a secret found in the file is
an error, so a configuration file can be shared or committed without leaking anything.
"""

from __future__ import annotations

import dataclasses
import os
import tomllib
import types
import typing
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import phonenumbers
from cryptography.fernet import Fernet
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

ENV_PREFIX = "HOTLINE_"
PROJECT_DIR = Path(__file__).resolve().parent.parent


class ConfigError(ValueError):
    """The configuration is invalid; the message names the file, section and key."""


@dataclass(frozen=True)
class AriSettings:
    """How the app reaches Asterisk's REST interface."""

    url: str = "http://127.0.0.1:8088"
    username: str = "hotline"
    #: Stasis application name; each app instance needs its own (a second connection with the
    #: same name takes the first one's calls away).
    app: str = "hotline"
    connect_timeout: float = 10.0


@dataclass(frozen=True)
class RedisSettings:
    """Where live state lives. A Redis reached over a network needs a password (or an ACL
    user and its password) and TLS: ``rediss://`` URL, ``username``, ``ca_file`` here, the
    password only from the environment (``HOTLINE_REDIS_PASSWORD``)."""

    url: str = "redis://127.0.0.1:6379/0"
    prefix: str = "hotline"
    #: ACL user ("" = the default user).
    username: str = ""
    #: CA certificate(s) (PEM) that a ``rediss://`` server's certificate must chain to; "" =
    #: the system's CAs.
    ca_file: str = ""
    password: str = field(default="", repr=False)
    #: Redis Sentinels ("host:port", e.g. three of them): when set, the primary is the one
    #: they name for ``master_name`` and clients follow a failover; ``url`` then gives only
    #: the scheme (``rediss://`` for TLS) and the database number.
    sentinels: tuple[str, ...] = ()
    master_name: str = "hotline"
    #: Seconds a caller's call waits for an unreachable Redis to answer again (a failover:
    #: the Sentinels' down-after time plus an election) before it goes to the fallback.
    caller_wait_s: float = 8.0

    def __post_init__(self) -> None:
        for sentinel in self.sentinels:
            host, _, port = sentinel.rpartition(":")
            if not host or not port.isdigit() or not 0 < int(port) < 65536:
                raise ConfigError(f"[redis] sentinels: not host:port: {sentinel!r}")

    @property
    def where(self) -> str:
        """Where the service finds Redis, for logs (never the URL's credentials)."""
        if self.sentinels:
            return f"the primary {self.master_name!r} of Sentinels {', '.join(self.sentinels)}"
        return self.url.split("@")[-1]

    def sentinel_addresses(self) -> list[tuple[str, int]]:
        """The Sentinels as (host, port) pairs."""
        pairs = (sentinel.rpartition(":") for sentinel in self.sentinels)
        return [(host.strip("[]"), int(port)) for host, _, port in pairs]


@dataclass(frozen=True)
class IvrSettings:
    """The caller-facing flow."""

    #: Relative paths are taken from the configuration file's directory.
    flow: Path = PROJECT_DIR / "ivr" / "flows" / "demo.toml"
    languages: tuple[str, ...] = ("en", "fr")


@dataclass(frozen=True)
class AsteriskSettings:
    """What ``dialplans/`` is rendered with (ports, numbers, trunk)."""

    sip_bind: str = "127.0.0.1"
    sip_port: int = 5060
    http_bind: str = "127.0.0.1"
    http_port: int = 8088
    rtp_start: int = 10000
    rtp_end: int = 20000
    #: Toll-free numbers (E.164) whose calls enter the ARI app.
    dids: tuple[str, ...] = ("+18005550100",)
    #: The carrier's signalling address(es); calls from there use the trunk endpoint.
    carrier_host: str = "127.0.0.1"
    carrier_match: tuple[str, ...] = ("127.0.0.1",)
    carrier_dtmf_mode: str = "rfc4733"
    #: Seconds between SIP OPTIONS pings to the carrier (0 = none). With pings, Asterisk marks
    #: the trunk offline when the carrier stops answering, and SMS over SIP wait for it.
    carrier_qualify_seconds: int = 0
    #: The number volunteers' phones show as the caller, instead of the caller's number.
    hotline_number: str = "+18005550100"
    #: ``host:port`` of the SIP proxy (Kamailio, ``hotline/sip_proxy.py``) in front of several
    #: Asterisks: phones register there and this Asterisk reaches them through it. "" = phones
    #: register with this Asterisk.
    sip_proxy: str = ""
    #: Asterisk's ``systemname``, which prefixes its channel ids: each Asterisk sharing one Redis
    #: needs its own (two started in the same second would otherwise name channels alike).
    system_name: str = ""


@dataclass(frozen=True)
class ProxySettings:
    """Kamailio in front of several Asterisks (``hotline render-proxy``,
    ``dialplans/kamailio/``): carrier calls are dispatched to one of ``asterisks``, phones
    register with it. Each Asterisk names it in ``[asterisk] sip_proxy``."""

    listen: str = "127.0.0.1"
    sip_port: int = 5060
    #: The Asterisks' SIP addresses (``host:port``), in dispatch order.
    asterisks: tuple[str, ...] = ()
    #: Seconds between SIP OPTIONS probes of each Asterisk (a dead one is skipped after one).
    probe_interval_s: int = 2
    #: Milliseconds without any answer to an INVITE before the next Asterisk is tried.
    invite_timeout_ms: int = 2000
    #: The carrier's signalling addresses: the only sources of new calls and messages sent on
    #: to the Asterisks (which take whatever comes from the proxy as the carrier's).
    carrier_match: tuple[str, ...] = ("127.0.0.1",)
    #: Kamailio's worker processes.
    children: int = 4


@dataclass(frozen=True)
class PhonesSettings:
    """Volunteers' SIP phones: every SIP device of the agent file is an endpoint that must
    authenticate (digest) with its own secret (``hotline phones``; ``hotline/phones.py``)."""

    #: Digest realm of the phones' credentials (their HA1 hashes depend on it).
    realm: str = "hotline"
    #: TOML file of device secrets (``NAME = "secret"``), written by ``hotline phones``; relative
    #: paths are taken from the configuration file's directory. ``HOTLINE_PHONE_SECRET_<NAME>``
    #: in the environment overrides a device's entry.
    secrets_file: Path = Path("phone-secrets.toml")
    #: The host name or address softphones are told to reach (``hotline phones``).
    public_host: str = "127.0.0.1"
    #: Port of the phones' TLS transport; 0 = no TLS. With TLS, every phone's media must be
    #: SRTP (SDES keys, which only TLS keeps from eavesdroppers).
    tls_port: int = 0
    #: Address the TLS transport binds ("" = ``[asterisk] sip_bind``). With the public address
    #: here and ``sip_bind`` on the carrier-facing one, phones cannot reach UDP at all.
    tls_bind: str = ""
    #: PEM certificate (chain) and private key of the TLS transport; relative paths are taken
    #: from the configuration file's directory.
    tls_cert: Path = Path("tls/sip.crt")
    tls_key: Path = Path("tls/sip.key")
    #: Whether phones may use plain UDP; false (needs TLS): Asterisk reaches phones over TLS
    #: only (a phone that registered over UDP gets no call).
    udp: bool = True
    #: Asterisk's security log (``logger.conf``: ``security``, e.g.
    #: ``/var/log/asterisk/security``), which the app follows to count failed
    #: authentications for ``/metrics``; "" = not followed.
    security_log: str = ""

    def __post_init__(self) -> None:
        if not self.udp and not self.tls_port:
            raise ConfigError("[phones] udp = false needs a TLS transport (tls_port)")


@dataclass(frozen=True)
class HttpSettings:
    """The app's HTTP API (health, ACD, statistics, metrics, webhooks)."""

    bind: str = "127.0.0.1"
    port: int = 8080


SENDER_TYPES = ("long_code", "toll_free", "short_code")
#: "twilio": its REST API and webhooks; "sip": SIP MESSAGE over the carrier trunk (Asterisk).
SMS_PROVIDERS = ("twilio", "sip")


@dataclass(frozen=True)
class SmsSettings:
    """The SMS gateway: provider, sender, per-sender-type rate limits, RQ queue, retries."""

    provider: str = "twilio"
    #: Where the Twilio REST API is reached; "" is the real Twilio (a stand-in in tests).
    twilio_base_url: str = ""
    #: The externally visible base URL of this service, which Twilio signs its webhooks with.
    public_base_url: str = "http://127.0.0.1:8080"
    from_number: str = "+18005550100"
    sender_type: str = "toll_free"
    #: Segments per second and burst (segments) a provider accepts per sender, by sender type.
    long_code_rate: float = 1.0
    long_code_burst: int = 1
    toll_free_rate: float = 3.0
    toll_free_burst: int = 3
    short_code_rate: float = 100.0
    short_code_burst: int = 100
    rq_queue: str = "sms"
    #: Messages one job may carry: its own and those queued behind it while it waited for a
    #: worker (a backlog shares RQ's per-job cost); 1 = one job per message.
    batch_max: int = 50
    #: Retries of a send after a retryable error (429, 5xx, timeout), with jittered backoff.
    max_retries: int = 5
    retry_base_seconds: int = 2
    retry_cap_seconds: int = 300
    #: Seconds one provider request may take.
    provider_timeout: float = 10.0
    #: Seconds message records and inbound conversation content are kept.
    retention_seconds: int = 7 * 86400
    #: The ACD queue inbound SMS conversations wait in for a volunteer's chat slot.
    chat_queue: str = "general"
    #: TOML file of volunteers who get conversations relayed to their own phone, by SMS
    #: (``[agents.ID] number = "+1...", language = "fr"``) or as SIP MESSAGEs to one of their
    #: SIP devices (``device = "NAME"``); "" = none.
    relay_file: str = ""

    def __post_init__(self) -> None:
        if self.provider not in SMS_PROVIDERS:
            raise ConfigError(
                f"[sms] provider must be one of {', '.join(SMS_PROVIDERS)}, not {self.provider!r}"
            )
        if self.sender_type not in SENDER_TYPES:
            raise ConfigError(f"[sms] sender_type must be one of {', '.join(SENDER_TYPES)}")
        if self.batch_max < 1:
            raise ConfigError("[sms] batch_max: must be at least 1")

    @property
    def rate_limit(self) -> tuple[float, int]:
        """(segments per second, burst) of the configured sender type."""
        rate: float = getattr(self, f"{self.sender_type}_rate")
        burst: int = getattr(self, f"{self.sender_type}_burst")
        return rate, burst


@dataclass(frozen=True)
class PrivacySettings:
    """How callers' numbers are shown and kept (see ``core/privacy/vault.py``)."""

    #: Staff see pseudonyms only; false lets trained staff see "pseudonym (number)".
    mask_numbers: bool = True
    #: Region (ISO 3166 code) whose national formats caller ids are read in.
    default_region: str = "CA"
    #: Days a caller's vault entry is kept after their last contact.
    retention_days: int = 90

    def __post_init__(self) -> None:
        if self.default_region not in phonenumbers.SUPPORTED_REGIONS:
            raise ConfigError(f"[privacy] default_region: unknown region {self.default_region!r}")
        if self.retention_days < 1:
            raise ConfigError("[privacy] retention_days: must be at least 1")


@dataclass(frozen=True)
class AcdSettings:
    """The ACD's queue and agent files (see ``acd/config.py``); relative paths are taken from
    the configuration file's directory."""

    queues: Path = PROJECT_DIR / "acd" / "queues" / "demo.toml"
    agents: Path = PROJECT_DIR / "acd" / "agents" / "demo.toml"
    #: The number volunteers dial to log in or out by phone.
    volunteer_did: str = "+18005550199"
    #: The key a waiting caller presses to be called back instead (keeping their place).
    callback_key: str = "*"
    callback_prompt: tuple[str, ...] = ("auth-thankyou", "vm-goodbye")
    #: The key a waiting caller presses to go on by text (SMS), keeping their place.
    text_key: str = "#"
    text_prompt: tuple[str, ...] = ("auth-thankyou", "vm-goodbye")
    #: The key a volunteer presses during a call to hand it to the queue's ``supervisor``.
    supervisor_key: str = "*"
    #: What an agent hears on answering, before the caller is connected.
    whisper: tuple[str, ...] = ("beep",)
    #: Agents reached on an external number must press 1 (a voicemail cannot).
    confirm_prompt: tuple[str, ...] = ("vm-press", "digits/1")
    confirm_timeout_s: float = 10.0
    #: How often each instance expires long waits and retries routing (widening, wrap-up).
    tick_s: float = 1.0
    #: How often each instance compares its records with Asterisk's channels (and checks
    #: that Redis still holds its data): see ``hotline.reconciler``.
    reconcile_s: float = 5.0


@dataclass(frozen=True)
class ConsoleSettings:
    """The web console under ``/console`` (``console/``): sessions, sign-in limits, and the
    supervisor's day."""

    #: Seconds a signed-in session lasts (cookie and Redis record alike).
    session_s: int = 8 * 3600
    #: Set when the console is reached over TLS (directly or behind a proxy): Secure cookie.
    secure_cookie: bool = False
    #: Failed sign-ins an account, and an address, may have within ``attempts_window_s``.
    attempts_per_account: int = 5
    attempts_per_address: int = 20
    attempts_window_s: int = 300
    #: The line's time zone, whose midnight starts the day of the wallboard's counts and of
    #: the agents table's "calls today" (the ACD counts each day apart in it).
    time_zone: str = "UTC"

    def __post_init__(self) -> None:
        if min(self.session_s, self.attempts_per_account, self.attempts_per_address) < 1:
            raise ConfigError("[console] session_s and attempts_*: must be at least 1")
        if self.attempts_window_s < 1:
            raise ConfigError("[console] attempts_window_s: must be at least 1")
        try:
            ZoneInfo(self.time_zone)
        except (ZoneInfoNotFoundError, ValueError):
            raise ConfigError(f"[console] time_zone: unknown {self.time_zone!r}") from None


@dataclass(frozen=True)
class RecordsSettings:
    """The SQL store of contacts, wrap-ups, audit and queue history (``records/``)."""

    #: SQLAlchemy URL: "" = SQLite at ``data_dir/records.sqlite3``; PostgreSQL as
    #: ``postgresql+asyncpg://user@host:5432/db`` (the password from HOTLINE_RECORDS_PASSWORD).
    url: str = ""
    #: Where the SQLite file lives; relative paths are taken from the configuration file's
    #: directory.
    data_dir: Path = Path("run")
    #: Seconds between two drains of the Redis streams into SQL (by ``hotline worker``), and
    #: between two tries to migrate while the database is away (the app and the workers).
    drain_every_s: float = 2.0
    #: Stream entries one drain step writes in a transaction.
    drain_batch: int = 1000
    #: Seconds of drained queue-log entries kept in Redis for the live view.
    stream_keep_s: int = 3600
    #: Seconds after a call's wrap-up ends during which its volunteer may still write one.
    wrapup_grace_s: float = 600.0
    #: Longest wrap-up note accepted (characters).
    notes_max: int = 4000
    #: Days kept, per table.
    contacts_days: int = 730
    wrapups_days: int = 730
    queue_history_days: int = 730
    #: Days a pledge's donor details, alias, comment and donor reference are kept after its
    #: last change; its amounts, statuses and provider reference stay for accounting.
    pledge_details_days: int = 365

    def __post_init__(self) -> None:
        if self.url:
            try:
                url = make_url(self.url)
            except ArgumentError:
                raise ConfigError(f"[records] url: not a database URL: {self.url!r}") from None
            if url.password is not None:
                raise ConfigError(
                    "[records] url: the password comes from HOTLINE_RECORDS_PASSWORD only"
                )
        if self.drain_batch < 1:
            raise ConfigError("[records] drain_batch: must be at least 1")


@dataclass(frozen=True)
class PledgesSettings:
    """Telethon campaigns (``pledges/``)."""

    #: The campaign file (format: ``pledges/campaigns.py``; the demo's is
    #: ``pledges/campaigns/demo.toml``); "" = no telethon. A relative path is taken from the
    #: configuration file's directory.
    campaigns: str = ""
    #: Stripe's API (the tests point it at a local stand-in).
    stripe_url: str = "https://api.stripe.com"
    #: Where Stripe's Checkout sends a donor who has paid.
    success_url: str = "https://example.org/thank-you"
    #: Seconds a signed webhook stays acceptable (older ones are replays).
    webhook_tolerance_s: int = 300


@dataclass(frozen=True)
class Secrets:
    """Values that only ever come from the environment."""

    ari_password: str = field(default="", repr=False)
    #: Key of the HMAC that turns a caller's number into a stable, non-reversible log token.
    hash_key: bytes = field(default=b"", repr=False)
    #: Fernet keys of the number vault, newest first: the first encrypts, all decrypt.
    vault_keys: tuple[bytes, ...] = field(default=(), repr=False)
    twilio_account_sid: str = field(default="", repr=False)
    twilio_auth_token: str = field(default="", repr=False)
    #: HTTP API bearer tokens, ``actor:role:token`` entries (HOTLINE_API_TOKENS, comma-separated).
    api_tokens: str = field(default="", repr=False)
    #: The SQL store's password (PostgreSQL).
    records_password: str = field(default="", repr=False)
    #: Stripe's secret API key and the signing secret of its webhook endpoint (pledges).
    stripe_api_key: str = field(default="", repr=False)
    stripe_webhook_secret: str = field(default="", repr=False)


@dataclass(frozen=True)
class Settings:
    """The whole configuration of one app instance."""

    ari: AriSettings = field(default_factory=AriSettings)
    redis: RedisSettings = field(default_factory=RedisSettings)
    ivr: IvrSettings = field(default_factory=IvrSettings)
    asterisk: AsteriskSettings = field(default_factory=AsteriskSettings)
    http: HttpSettings = field(default_factory=HttpSettings)
    sms: SmsSettings = field(default_factory=SmsSettings)
    privacy: PrivacySettings = field(default_factory=PrivacySettings)
    acd: AcdSettings = field(default_factory=AcdSettings)
    records: RecordsSettings = field(default_factory=RecordsSettings)
    phones: PhonesSettings = field(default_factory=PhonesSettings)
    proxy: ProxySettings = field(default_factory=ProxySettings)
    console: ConsoleSettings = field(default_factory=ConsoleSettings)
    pledges: PledgesSettings = field(default_factory=PledgesSettings)
    secrets: Secrets = field(default_factory=Secrets)
    log_level: str = "INFO"
    log_format: str = "text"

    def require_secrets(self) -> None:
        """Raise ConfigError naming the environment variables a running service lacks."""
        missing = []
        if not self.secrets.ari_password:
            missing.append("HOTLINE_ARI_PASSWORD")
        if len(self.secrets.hash_key) < 16:
            missing.append("HOTLINE_HASH_KEY (at least 16 bytes)")
        if not self.secrets.vault_keys:
            missing.append("HOTLINE_VAULT_KEYS (Fernet keys, newest first)")
        if self.pledges.campaigns and not self.secrets.stripe_api_key:
            missing.append("HOTLINE_STRIPE_API_KEY (pledges' payment links)")
        if self.pledges.campaigns and not self.secrets.stripe_webhook_secret:
            missing.append("HOTLINE_STRIPE_WEBHOOK_SECRET (pledges' payment webhooks)")
        if missing:
            raise ConfigError("missing secrets in the environment: " + ", ".join(missing))


SECTIONS: dict[str, type[Any]] = {
    "ari": AriSettings,
    "redis": RedisSettings,
    "ivr": IvrSettings,
    "asterisk": AsteriskSettings,
    "http": HttpSettings,
    "sms": SmsSettings,
    "privacy": PrivacySettings,
    "acd": AcdSettings,
    "records": RecordsSettings,
    "phones": PhonesSettings,
    "proxy": ProxySettings,
    "console": ConsoleSettings,
    "pledges": PledgesSettings,
}
SECRET_ENV = {
    "ari_password": "HOTLINE_ARI_PASSWORD",
    "hash_key": "HOTLINE_HASH_KEY",
    "vault_keys": "HOTLINE_VAULT_KEYS",
    "twilio_account_sid": "HOTLINE_TWILIO_ACCOUNT_SID",
    "twilio_auth_token": "HOTLINE_TWILIO_AUTH_TOKEN",
    "records_password": "HOTLINE_RECORDS_PASSWORD",
    "stripe_api_key": "HOTLINE_STRIPE_API_KEY",
    "stripe_webhook_secret": "HOTLINE_STRIPE_WEBHOOK_SECRET",
}
#: Section keys that are secrets: read from the environment (HOTLINE_<SECTION>_<KEY>) only.
SECRET_KEYS = {("redis", "password")}
TOP_LEVEL = ("log_level", "log_format")


def load_settings(path: Path | None = None, env: Mapping[str, str] | None = None) -> Settings:
    """Build the settings from defaults, then the TOML file at ``path``, then ``env``."""
    env = os.environ if env is None else env
    source = str(path) if path else "<defaults>"
    data: dict[str, Any] = {}
    if path is not None:
        try:
            data = tomllib.loads(path.read_text(encoding="utf-8"))
        except OSError as exc:
            raise ConfigError(f"{path}: cannot read: {exc.strerror}") from exc
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"{path}: not valid TOML: {exc}") from exc
    if "secrets" in data:
        raise ConfigError(f"{source}: secrets come from the environment only, not the file")
    unknown = set(data) - set(SECTIONS) - set(TOP_LEVEL)
    if unknown:
        raise ConfigError(f"{source}: unknown setting(s): {', '.join(sorted(unknown))}")

    sections: dict[str, Any] = {}
    for name, cls in SECTIONS.items():
        raw = data.get(name, {})
        if not isinstance(raw, dict):
            raise ConfigError(f"{source}: [{name}] must be a table")
        sections[name] = _build_section(cls, name, raw, env, source)
    if path is not None and not sections["ivr"].flow.is_absolute():
        flow = path.resolve().parent / sections["ivr"].flow
        sections["ivr"] = dataclasses.replace(sections["ivr"], flow=flow)
    if path is not None:
        base, acd = path.resolve().parent, sections["acd"]
        sections["acd"] = dataclasses.replace(
            acd, queues=base / acd.queues, agents=base / acd.agents
        )
        records = sections["records"]
        sections["records"] = dataclasses.replace(records, data_dir=base / records.data_dir)
        if campaigns := sections["pledges"].campaigns:
            pledges = sections["pledges"]
            sections["pledges"] = dataclasses.replace(pledges, campaigns=str(base / campaigns))
        phones = sections["phones"]
        sections["phones"] = dataclasses.replace(
            phones,
            secrets_file=base / phones.secrets_file,
            tls_cert=base / phones.tls_cert,
            tls_key=base / phones.tls_key,
        )
    top: dict[str, Any] = {}
    for key in TOP_LEVEL:
        value = env.get(f"{ENV_PREFIX}{key.upper()}", data.get(key))
        if value is not None:
            top[key] = _coerce(str, value, f"{source}: {key}")
    secrets = Secrets(
        ari_password=env.get(SECRET_ENV["ari_password"], ""),
        hash_key=env.get(SECRET_ENV["hash_key"], "").encode(),
        vault_keys=_vault_keys(env.get(SECRET_ENV["vault_keys"], "")),
        twilio_account_sid=env.get(SECRET_ENV["twilio_account_sid"], ""),
        twilio_auth_token=env.get(SECRET_ENV["twilio_auth_token"], ""),
        api_tokens=env.get("HOTLINE_API_TOKENS", ""),
        records_password=env.get(SECRET_ENV["records_password"], ""),
        stripe_api_key=env.get(SECRET_ENV["stripe_api_key"], ""),
        stripe_webhook_secret=env.get(SECRET_ENV["stripe_webhook_secret"], ""),
    )
    return Settings(secrets=secrets, **sections, **top)


def _vault_keys(value: str) -> tuple[bytes, ...]:
    """Comma-separated Fernet keys, each checked (the message never shows a key)."""
    keys = tuple(item.strip().encode() for item in value.split(",") if item.strip())
    for number, key in enumerate(keys, start=1):
        try:
            Fernet(key)
        except ValueError:
            raise ConfigError(
                f"{SECRET_ENV['vault_keys']}: key {number} is not a Fernet key "
                "(32 url-safe base64-encoded bytes)"
            ) from None
    return keys


def _build_section(
    cls: type[Any], name: str, raw: Mapping[str, Any], env: Mapping[str, str], source: str
) -> Any:
    hints = typing.get_type_hints(cls)
    fields = {f.name for f in dataclasses.fields(cls)}
    unknown = set(raw) - fields
    if unknown:
        raise ConfigError(f"{source}: [{name}] unknown key(s): {', '.join(sorted(unknown))}")
    for key in raw:
        if (name, key) in SECRET_KEYS:
            env_key = f"{ENV_PREFIX}{name.upper()}_{key.upper()}"
            raise ConfigError(f"{source}: [{name}] {key} is a secret: set {env_key} instead")
    if name == "redis" and urlsplit(str(raw.get("url", ""))).password:
        raise ConfigError(
            f"{source}: [redis] url holds a password: set HOTLINE_REDIS_PASSWORD instead"
        )
    values: dict[str, Any] = {}
    for key in fields:
        env_key = f"{ENV_PREFIX}{name.upper()}_{key.upper()}"
        if env_key in env:
            values[key] = _coerce(hints[key], env[env_key], env_key)
        elif key in raw:
            values[key] = _coerce(hints[key], raw[key], f"{source}: [{name}] {key}")
    return cls(**values)


def _coerce(hint: Any, value: Any, where: str) -> Any:
    """Convert a file or environment value to the field's type, or raise ConfigError."""
    origin = typing.get_origin(hint)
    try:
        if origin is tuple:
            items = value.split(",") if isinstance(value, str) else list(value)
            (item_type, _) = typing.get_args(hint)
            return tuple(
                _coerce(item_type, item.strip() if isinstance(item, str) else item, where)
                for item in items
                if item != ""
            )
        if isinstance(hint, types.UnionType) or origin is typing.Union:
            raise TypeError("union settings are not supported")
        if hint is bool:
            if isinstance(value, bool):
                return value
            if str(value).lower() in ("1", "true", "yes", "on"):
                return True
            if str(value).lower() in ("0", "false", "no", "off"):
                return False
            raise ValueError(value)
        if hint is int and isinstance(value, float | bool):
            raise ValueError(value)
        if hint is str and not isinstance(value, str):
            raise ValueError(value)
        return hint(value)
    except (TypeError, ValueError) as exc:
        raise ConfigError(
            f"{where}: expected {getattr(hint, '__name__', hint)}, got {value!r}"
        ) from exc
