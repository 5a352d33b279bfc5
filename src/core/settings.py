"""Read and validate the service's configuration from environment variables.

This is the only module that looks at the environment. Every value has a safe embedded default,
so `vid2mp3 run` works with no configuration at all; a bad value raises `SettingsError` naming
the variable, and the command line turns that into one line on stderr.
"""

from __future__ import annotations

import dataclasses
import ipaddress
import os
import re
import secrets
from collections.abc import Mapping
from pathlib import Path
from urllib.parse import urlsplit

GIB = 1024**3
# A URL path prefix: "/" and a segment, repeated; no empty segment, no "..", nothing to escape.
ROOT_PATH_PATTERN = re.compile(r"(/(?!\.\.?(/|$))[A-Za-z0-9._~%-]+)+")


class SettingsError(ValueError):
    """A configuration variable has a value the service cannot use."""


@dataclasses.dataclass(frozen=True)
class Settings:
    """Typed configuration; build it with `Settings.from_env()`."""

    data_dir: Path
    database_url: str
    database_timeout_seconds: float
    storage_url: str
    broker_url: str
    smtp_url: str
    mail_from: str
    public_url: str
    video_queue: str
    mp3_queue: str
    metrics_port: int
    jwt_secret: str | None = dataclasses.field(repr=False)
    jwt_issuer: str
    jwt_audience: str
    jwt_ttl_seconds: int
    session_ttl_seconds: int
    max_upload_bytes: int
    user_quota_bytes: int
    max_duration_seconds: float
    login_max_failures: int
    login_lockout_seconds: int
    download_link_ttl_seconds: int
    retry_max: int
    retry_min_backoff_ms: int
    retry_max_backoff_ms: int
    stuck_job_seconds: int
    keep_videos: bool
    admin_email: str | None
    admin_password: str | None = dataclasses.field(repr=False)
    log_format: str
    log_level: str
    web_concurrency: int
    notify_retry_hours: float = 24.0
    broker_timeout_seconds: float = 5.0
    # A worker whose heartbeat is older than this shows as gone on /admin.
    worker_gone_seconds: float = 60.0
    # A gone worker whose heartbeat is older than this is deleted from the workers table.
    worker_prune_seconds: float = 86400.0
    # The path prefix the app is served under behind a reverse proxy ("" at the root).
    root_path: str = ""
    # Peers whose X-Forwarded-For/-Proto/-Host/-Prefix headers are believed (web.proxy).
    trusted_proxies: tuple[str, ...] = ()
    # Fair sharing (core.fairqueue): convert messages go out per user, at most this many each.
    fair_queue: bool = True
    user_convert_limit: int = 0  # 0: as many as the live workers have conversion slots
    # A resumable upload without progress for this long expires and the sweeper removes it.
    upload_expiry_seconds: int = 86400
    # OpenID Connect single sign-on (core.sso); off while OIDC_ISSUER is empty.
    oidc_issuer: str | None = None
    oidc_client_id: str | None = None
    oidc_client_secret: str | None = dataclasses.field(default=None, repr=False)
    oidc_allowed_domains: tuple[str, ...] = ()
    oidc_admin_claim: str = "groups"
    oidc_admin_value: str | None = None
    oidc_provider_name: str | None = None

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        """Build settings from `environ` (default: the process environment)."""
        env = _Reader(os.environ if environ is None else environ)
        data_dir = Path(env.str("DATA_DIR", "./var")).expanduser().resolve()
        settings = cls(
            data_dir=data_dir,
            database_url=env.url(
                "DATABASE_URL",
                f"sqlite:///{data_dir / 'vid2mp3.db'}",
                ("sqlite", "mysql+pymysql", "mysql"),
            ),
            database_timeout_seconds=env.float("DATABASE_TIMEOUT", 10.0, low=0.5),
            storage_url=env.url("STORAGE_URL", f"file://{data_dir / 'blobs'}", ("file", "mongodb")),
            broker_url=env.url("BROKER_URL", "stub://", ("stub", "amqp", "amqps", "redis")),
            smtp_url=env.url(
                "SMTP_URL", f"file://{data_dir / 'outbox'}", ("file", "smtp", "smtps")
            ),
            mail_from=env.str("MAIL_FROM", "vid2mp3 <noreply@localhost>"),
            public_url=env.url("PUBLIC_URL", "http://localhost:8080", ("http", "https")).rstrip(
                "/"
            ),
            root_path=env.path_prefix("ROOT_PATH"),
            trusted_proxies=env.networks("TRUSTED_PROXIES"),
            video_queue=env.str("VIDEO_QUEUE", "video"),
            mp3_queue=env.str("MP3_QUEUE", "mp3"),
            metrics_port=env.int("METRICS_PORT", 9100, low=1, high=65535),
            jwt_secret=env.secret("JWT_SECRET"),
            jwt_issuer=env.str("JWT_ISSUER", "vid2mp3"),
            jwt_audience=env.str("JWT_AUDIENCE", "vid2mp3-api"),
            jwt_ttl_seconds=env.int("JWT_TTL_SECONDS", 3600, low=60, high=7 * 86400),
            session_ttl_seconds=env.int("SESSION_TTL_SECONDS", 8 * 3600, low=60, high=30 * 86400),
            max_upload_bytes=env.int("MAX_UPLOAD_BYTES", 4 * GIB, low=1),
            user_quota_bytes=env.int("USER_QUOTA_BYTES", 20 * GIB, low=1),
            max_duration_seconds=env.float("MAX_DURATION", 4 * 3600.0, low=1.0),
            login_max_failures=env.int("LOGIN_MAX_FAILURES", 5, low=1),
            login_lockout_seconds=env.int("LOGIN_LOCKOUT_SECONDS", 300, low=1),
            download_link_ttl_seconds=env.int("DOWNLOAD_LINK_TTL", 7 * 86400, low=60),
            retry_max=env.int("RETRY_MAX", 5, low=0, high=50),
            retry_min_backoff_ms=env.int("RETRY_MIN_BACKOFF_MS", 1000, low=0),
            retry_max_backoff_ms=env.int("RETRY_MAX_BACKOFF_MS", 300_000, low=0),
            stuck_job_seconds=env.int("STUCK_JOB_SECONDS", 600, low=10),
            keep_videos=env.bool("KEEP_VIDEOS", False),
            admin_email=env.str("ADMIN_EMAIL", "") or None,
            admin_password=env.secret("ADMIN_PASSWORD"),
            log_format=env.choice("LOG_FORMAT", "text", ("text", "json")),
            log_level=env.choice(
                "LOG_LEVEL", "INFO", ("DEBUG", "INFO", "WARNING", "ERROR"), upper=True
            ),
            web_concurrency=env.int("WEB_CONCURRENCY", 2, low=1, high=64),
            notify_retry_hours=env.float("NOTIFY_RETRY_HOURS", 24.0, low=0.0),
            broker_timeout_seconds=env.float("BROKER_TIMEOUT", 5.0, low=0.5),
            worker_gone_seconds=env.float("WORKER_GONE_SECONDS", 60.0, low=1.0),
            worker_prune_seconds=env.float("WORKER_PRUNE_SECONDS", 86400.0, low=1.0),
            fair_queue=env.bool("FAIR_QUEUE", True),
            user_convert_limit=env.int("USER_CONVERT_LIMIT", 0, low=0),
            upload_expiry_seconds=env.int("UPLOAD_EXPIRY_SECONDS", 86400, low=60),
            oidc_issuer=env.url("OIDC_ISSUER", "", ("http", "https")).rstrip("/") or None,
            oidc_client_id=env.str("OIDC_CLIENT_ID", "") or None,
            oidc_client_secret=env.secret("OIDC_CLIENT_SECRET"),
            oidc_allowed_domains=tuple(
                domain.strip().lower().lstrip("@")
                for domain in env.str("OIDC_ALLOWED_DOMAINS", "").split(",")
                if domain.strip()
            ),
            oidc_admin_claim=env.str("OIDC_ADMIN_CLAIM", "groups"),
            oidc_admin_value=env.str("OIDC_ADMIN_VALUE", "") or None,
            oidc_provider_name=env.str("OIDC_PROVIDER_NAME", "") or None,
        )
        if settings.oidc_issuer and not settings.oidc_client_id:
            raise SettingsError("OIDC_CLIENT_ID: required when OIDC_ISSUER is set")
        if settings.retry_min_backoff_ms > settings.retry_max_backoff_ms:
            raise SettingsError("RETRY_MIN_BACKOFF_MS: must not exceed RETRY_MAX_BACKOFF_MS")
        if settings.worker_prune_seconds <= settings.worker_gone_seconds:
            raise SettingsError("WORKER_PRUNE_SECONDS: must exceed WORKER_GONE_SECONDS")
        return _with_root_path(settings)

    def replace(self, **changes: object) -> Settings:
        """Return a copy with some fields changed (tests and the embedded runner use it)."""
        return dataclasses.replace(self, **changes)

    @property
    def embedded(self) -> bool:
        """Tell whether the broker runs inside this process (no external queue)."""
        return self.broker_url.startswith("stub:")

    @property
    def oidc_provider_label(self) -> str | None:
        """Return the name the sign-in button gives the provider; None without single sign-on."""
        if not self.oidc_issuer:
            return None
        return self.oidc_provider_name or urlsplit(self.oidc_issuer).hostname

    @property
    def secure_cookies(self) -> bool:
        """Tell whether browser cookies must be `Secure` (the public URL is https)."""
        return self.public_url.startswith("https://")

    def signing_secret(self) -> str:
        """Return the JWT secret, creating and keeping one under DATA_DIR when none is set."""
        if self.jwt_secret:
            return self.jwt_secret
        path = self.data_dir / "jwt-secret"
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            # O_EXCL: when several processes start at once, exactly one writes the secret.
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            return path.read_text().strip()
        with os.fdopen(fd, "w") as secret_file:
            value = secrets.token_urlsafe(48)
            secret_file.write(value)
        return value


def _with_root_path(settings: Settings) -> Settings:
    """Make PUBLIC_URL and ROOT_PATH agree: either one may give the prefix, or both alike."""
    url_path = urlsplit(settings.public_url).path
    if not url_path:
        return settings.replace(public_url=settings.public_url + settings.root_path)
    if not settings.root_path:
        if not ROOT_PATH_PATTERN.fullmatch(url_path):
            raise SettingsError(f"PUBLIC_URL: its path {url_path!r} is not a usable prefix")
        return settings.replace(root_path=url_path)
    if url_path != settings.root_path:
        raise SettingsError(
            f"ROOT_PATH: {settings.root_path!r} differs from PUBLIC_URL's path {url_path!r}"
        )
    return settings


class _Reader:
    """Typed access to an environment mapping; every error names its variable."""

    def __init__(self, environ: Mapping[str, str]) -> None:
        self._environ = environ

    def _raw(self, name: str) -> str | None:
        value = self._environ.get(name)
        return None if value is None or value.strip() == "" else value.strip()

    def str(self, name: str, default: str) -> str:
        value = self._raw(name)
        return default if value is None else value

    def secret(self, name: str) -> str | None:
        """Read NAME, or the file named by NAME_FILE (Kubernetes mounts secrets as files)."""
        value = self._raw(name)
        file_name = self._raw(f"{name}_FILE")
        if value is None and file_name is not None:
            try:
                value = Path(file_name).read_text().strip()
            except OSError as error:
                raise SettingsError(
                    f"{name}_FILE: cannot read {file_name}: {error.strerror}"
                ) from None
        if value is not None and name.endswith("SECRET") and len(value) < 32:
            raise SettingsError(f"{name}: must be at least 32 characters long")
        return value

    def int(self, name: str, default: int, low: int | None = None, high: int | None = None) -> int:
        value = self._raw(name)
        if value is None:
            return default
        try:
            number = int(value.replace("_", ""))
        except ValueError:
            raise SettingsError(f"{name}: expected a whole number, got {value!r}") from None
        return self._in_range(name, number, low, high)

    def float(self, name: str, default: float, low: float | None = None) -> float:
        value = self._raw(name)
        if value is None:
            return default
        try:
            number = float(value)
        except ValueError:
            raise SettingsError(f"{name}: expected a number, got {value!r}") from None
        return self._in_range(name, number, low, None)

    def bool(self, name: str, default: bool) -> bool:
        value = self._raw(name)
        if value is None:
            return default
        lowered = value.lower()
        if lowered in ("1", "true", "yes", "on"):
            return True
        if lowered in ("0", "false", "no", "off"):
            return False
        raise SettingsError(f"{name}: expected true or false, got {value!r}")

    def choice(self, name: str, default: str, allowed: tuple[str, ...], upper: bool = False) -> str:
        value = self._raw(name)
        if value is None:
            return default
        value = value.upper() if upper else value.lower()
        if value not in allowed:
            raise SettingsError(f"{name}: expected one of {', '.join(allowed)}, got {value!r}")
        return value

    def path_prefix(self, name: str) -> str:
        """Read a URL path prefix such as `/vid2mp3` ("" when unset; a lone "/" means unset)."""
        value = (self._raw(name) or "").rstrip("/")
        if value and not ROOT_PATH_PATTERN.fullmatch(value):
            raise SettingsError(
                f"{name}: expected a path such as /vid2mp3 (letters, digits, . _ ~ % -), "
                f"got {value!r}"
            )
        return value

    def networks(self, name: str) -> tuple[str, ...]:
        """Read a comma-separated list of IP addresses or networks (CIDR), or `*` for any."""
        items = tuple(item.strip() for item in (self._raw(name) or "").split(",") if item.strip())
        for item in items:
            if item == "*":
                continue
            try:
                ipaddress.ip_network(item)
            except ValueError:
                raise SettingsError(
                    f"{name}: {item!r} is not an IP address or network (such as 10.0.0.0/8)"
                ) from None
        return items

    def url(self, name: str, default: str, schemes: tuple[str, ...]) -> str:
        value = self._raw(name)
        if value is None:
            return default
        scheme = urlsplit(value).scheme
        if scheme not in schemes:
            raise SettingsError(
                f"{name}: expected a URL starting with {' or '.join(s + '://' for s in schemes)}"
            )
        return value

    @staticmethod
    def _in_range(name, number, low, high):
        if low is not None and number < low:
            raise SettingsError(f"{name}: must be at least {low}, got {number}")
        if high is not None and number > high:
            raise SettingsError(f"{name}: must be at most {high}, got {number}")
        return number
