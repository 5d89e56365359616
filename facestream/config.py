"""Typed, frozen configuration loaded once from config.yaml plus environment overrides.

Unknown keys are rejected with their dotted name, so a typo never silently falls back to a
default. Environment variables `FACESTREAM__SECTION__KEY=value` override single keys; values
are parsed as YAML scalars (`true`, `8`, `[a, b]`).
"""

from __future__ import annotations

import dataclasses
import ipaddress
import logging
import os
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

import yaml

from engine.liveness_settings import LANDMARK_BACKENDS, LivenessSettings
from engine.profiles import PROFILES, calibrated_thresholds
from engine.settings import EngineSettings, QualitySettings
from events.settings import WorkerSettings
from facestream.matching_settings import MatchingSettings
from facestream.redis_settings import RedisSettings, RedisUrls, resolve as resolve_redis
from recognition.settings import RecognitionSettings
from sessions.settings import SessionSettings
from streaming.settings import StreamingSettings
from doors.camera_config import CameraConfig
from doors.camera_url import CameraUrlError, check_target, parse_camera_url
from doors.schedules import Schedule, ScheduleError
from streaming.camera_settings import IngestSettings

log = logging.getLogger(__name__)

ENV_PREFIX = "FACESTREAM__"
DEFAULT_CONFIG_PATH = Path(__file__).resolve().parent.parent / "config.yaml"


class ConfigError(ValueError):
    """Raised for unknown keys, wrong types and unreadable config files."""


@dataclass(frozen=True)
class ServerSettings:
    host: str = "0.0.0.0"
    port: int = 8000
    public_url: str = ""
    max_upload_bytes: int = 10 * 1024 * 1024
    inference_threads: int = 2
    log_level: str = "INFO"
    # Browser origins (scheme://host[:port]) allowed to call every surface and open WebSockets;
    # empty = same origin only, "*" = any origin (see api/cors.py).
    cors_origins: tuple[str, ...] = ()
    # HTTPS: PEM certificate chain and private key (both, or neither). Browsers allow the
    # camera only on https:// or localhost; `facestream dev-cert` makes a self-signed pair.
    tls_cert: str = ""
    tls_key: str = ""
    # Reverse proxies / load balancers (CIDRs, e.g. ["10.0.0.0/8"]) whose X-Forwarded-For names
    # the caller's address (brute-force blocks, audit rows). Empty: the TCP peer is the caller.
    trusted_proxies: tuple[str, ...] = ()
    # WebSockets (/ws/recognition/, signaling_url) must authenticate within this many seconds or
    # are closed (4401); at most this many may wait unauthenticated, in total and per address.
    ws_auth_timeout_s: float = 10.0
    ws_max_unauthenticated: int = 1000
    ws_max_unauthenticated_per_address: int = 50


@dataclass(frozen=True)
class AuthSettings:
    # "required": the root-level face API needs `Authorization: ApiKey key:secret`;
    # "off": it is open and acts for the built-in "internal" client (trusted networks only).
    face_api: str = "required"
    # HS256 key for the platform's JWTs. Empty: a random key per process (logged warning):
    # tokens then die with the process and are not accepted by other workers.
    jwt_signing_key: str = ""
    jwt_issuer: str = "facestream"
    access_token_ttl_s: int = 15 * 60
    refresh_token_ttl_s: int = 7 * 24 * 3600
    # How often each process looks for deactivated clients and closes their open WebSockets,
    # stream sessions and in-progress sessions (their tokens and JWTs are refused at once).
    revocation_check_s: float = 30.0


@dataclass(frozen=True)
class TierLimits:
    # 0 = unlimited for that window.
    hourly: int = 1000
    daily: int = 10000
    burst_per_minute: int = 50
    concurrent_sessions: int = 10


@dataclass(frozen=True)
class PremiumLimits(TierLimits):
    # Own defaults, so a config naming only some keys of a tier keeps that tier's other figures.
    hourly: int = 5000
    daily: int = 50000
    burst_per_minute: int = 200
    concurrent_sessions: int = 50


@dataclass(frozen=True)
class EnterpriseLimits(TierLimits):
    # The seed says "custom": set these to the contract's figures.
    hourly: int = 50000
    daily: int = 1000000
    burst_per_minute: int = 2000
    concurrent_sessions: int = 500


@dataclass(frozen=True)
class RateLimitSettings:
    # Per-client request limits by the client's tier (seed api_integration_guide.md, "Rate Limiting").
    enabled: bool = True
    # Counters live in redis.url's Redis when that is set, else in this process (fail open if
    # Redis is unreachable). `url`: deprecated, overrides redis.url for these counters.
    url: str = ""
    key_prefix: str = "facestream:rl:"
    basic: TierLimits = field(default_factory=TierLimits)
    premium: PremiumLimits = field(default_factory=PremiumLimits)
    enterprise: EnterpriseLimits = field(default_factory=EnterpriseLimits)

    def for_tier(self, tier: str) -> TierLimits:
        return {"premium": self.premium, "enterprise": self.enterprise}.get(tier, self.basic)


@dataclass(frozen=True)
class EncryptionSettings:
    # AES-256-GCM keys for stored face embeddings, each "key_id:base64-of-32-bytes".
    # Empty: embeddings stay plaintext float32 (a warning is logged once).
    keys: tuple[str, ...] = ()
    # The key id new rows are written with; the others are kept for reading (rotation).
    current_key_id: str = ""


@dataclass(frozen=True)
class StorageSettings:
    # sqlite:///path or postgresql://user@host/db
    database_url: str = "sqlite:///var/facestream.db"


@dataclass(frozen=True)
class CacheSettings:
    # In redis.url's Redis when that is set (shared by every worker), else in this process.
    url: str = ""  # deprecated: overrides redis.url for the cache and gallery change notices
    ttl_seconds: int = 3600
    key_prefix: str = "facestream:"


@dataclass(frozen=True)
class EventsSettings:
    # Pub/sub in redis.url's Redis when that is set (every worker), else an in-process bus.
    bus_url: str = ""  # deprecated: overrides redis.url for the event bus
    key_prefix: str = "facestream:events:"  # channel names


@dataclass(frozen=True)
class BruteForceSettings:
    """Failed credential checks (API key + secret on every surface, WebSocket authenticate)."""

    enabled: bool = True
    # Failures within window_s before a source address is blocked; its own Retry-After.
    max_failures_per_address: int = 10
    # Failures on one API key from all addresses together; higher, so one attacker cannot lock
    # the key's owner out from their own address.
    max_failures_per_key: int = 50
    window_s: float = 900.0
    # Block length: base_block_s, doubling with every further failure, at most max_block_s.
    base_block_s: float = 30.0
    max_block_s: float = 3600.0
    # Deprecated and ignored (read so old config files still load, with a logged warning): every
    # root /verify now locks a user by the one policy, sessions.max_failures / failure_window_s /
    # lockout_s (README "Brute-force protection").
    verify_max_failures: int | None = None
    verify_lockout_s: float | None = None
    # Counters in redis.url's Redis when that is set (shared by every worker; this process's
    # counters while Redis is unreachable), else in this process.
    url: str = ""  # deprecated: overrides redis.url for these counters
    key_prefix: str = "facestream:bf:"
    # Every credential check waits on Redis at most this long; after a failure (down, frozen,
    # too slow) this process counts on its own for redis_retry_s before trying Redis again.
    redis_timeout_s: float = 0.25
    redis_retry_s: float = 5.0


@dataclass(frozen=True)
class WebhookSettings(WorkerSettings):
    # The delivery worker's knobs are WorkerSettings' (events/settings.py); these are the section's own.
    worker_enabled: bool = True  # false: this process only writes the outbox; another process delivers
    default_max_retries: int = 3
    max_endpoints_per_client: int = 20  # webhook endpoints one client may hold; creating more -> 429
    default_retry_delay_s: float = 30.0


@dataclass(frozen=True)
class RetentionSettings:
    # Days rows are kept; 0 keeps them for ever. One purge task per process deletes older rows.
    sessions_days: int = 90  # enrollment/authentication session records (their attempts go with them)
    attempts_days: int = 90
    usage_days: int = 30  # per-request API usage rows
    audit_days: int = 365
    webhook_logs_days: int = 30  # delivery attempts, finished deliveries and their events
    purge_interval_s: float = 3600.0


@dataclass(frozen=True)
class PageSettings:
    # Show the "Require liveness" checkbox on the kiosk page. Off: whoever stands at the screen
    # cannot turn liveness off; sessions use the server's default (liveness required).
    allow_liveness_toggle: bool = False
    # whether a kiosk key may enroll new IDs (never existing ones); admin keys always may (issue 25)
    kiosk_enrollment: bool = False
    kiosk_reset_s: float = 6.0  # seconds a finished result stays on the kiosk before it resets for the next person
    kiosk_session_timeout_s: float = 45.0  # a kiosk session ends (with its final answer) after this long


@dataclass(frozen=True)
class Config:
    server: ServerSettings = field(default_factory=ServerSettings)
    auth: AuthSettings = field(default_factory=AuthSettings)
    engine: EngineSettings = field(default_factory=EngineSettings)
    quality: QualitySettings = field(default_factory=QualitySettings)
    matching: MatchingSettings = field(default_factory=MatchingSettings)
    storage: StorageSettings = field(default_factory=StorageSettings)
    redis: RedisSettings = field(default_factory=RedisSettings)
    cache: CacheSettings = field(default_factory=CacheSettings)
    events: EventsSettings = field(default_factory=EventsSettings)
    liveness: LivenessSettings = field(default_factory=LivenessSettings)
    recognition: RecognitionSettings = field(default_factory=RecognitionSettings)
    streaming: StreamingSettings = field(default_factory=StreamingSettings)
    sessions: SessionSettings = field(default_factory=SessionSettings)
    rate_limits: RateLimitSettings = field(default_factory=RateLimitSettings)
    encryption: EncryptionSettings = field(default_factory=EncryptionSettings)
    brute_force: BruteForceSettings = field(default_factory=BruteForceSettings)
    webhooks: WebhookSettings = field(default_factory=WebhookSettings)
    retention: RetentionSettings = field(default_factory=RetentionSettings)
    ingest: IngestSettings = field(default_factory=IngestSettings)
    cameras: tuple[CameraConfig, ...] = ()
    pages: PageSettings = field(default_factory=PageSettings)

    @property
    def redis_urls(self) -> RedisUrls:
        """The Redis each use connects to: redis.url, or a deprecated per-use URL where set."""
        return resolve_redis(self.redis.url, cache=self.cache.url, events=self.events.bus_url,
                             rate_limits=self.rate_limits.url, brute_force=self.brute_force.url)

    def validate(self) -> "Config":
        for use, url in dataclasses.asdict(self.redis_urls).items():  # logs deprecated per-use URLs, once each
            if url and not url.startswith(("redis://", "rediss://", "unix://")):
                raise ConfigError(f"the Redis URL for {use} (redis.url) must start with redis://, rediss:// "
                                  f"or unix://, not {url.partition(':')[0]!r}")
        if self.auth.face_api not in ("required", "off"):
            raise ConfigError("auth.face_api must be 'required' or 'off'")
        if not 0.0 < self.matching.threshold < 2.0:
            raise ConfigError("matching.threshold must be a distance between 0 and 2")
        if self.matching.index not in ("auto", "exact", "ann"):
            raise ConfigError("matching.index must be auto, exact or ann")
        if self.matching.index_save_seconds <= 0:
            raise ConfigError("matching.index_save_seconds must be positive")
        if not 4 <= self.matching.hnsw_m <= 128 or self.matching.hnsw_ef_construction < self.matching.hnsw_m:
            raise ConfigError("matching.hnsw_m must be 4..128 and matching.hnsw_ef_construction at least hnsw_m")
        if self.matching.hnsw_ef_search < 0:
            raise ConfigError("matching.hnsw_ef_search must be 0 (by gallery size) or positive")
        for cidr in self.server.trusted_proxies:
            try:
                ipaddress.ip_network(cidr.strip(), strict=False)
            except ValueError:
                raise ConfigError(f"server.trusted_proxies: {cidr!r} is not an address or CIDR network") from None
        if self.brute_force.redis_timeout_s <= 0 or self.brute_force.redis_retry_s < 0:
            raise ConfigError("brute_force.redis_timeout_s must be positive and redis_retry_s at least 0")
        if self.auth.revocation_check_s <= 0:
            raise ConfigError("auth.revocation_check_s must be positive")
        if self.server.ws_auth_timeout_s <= 0 or self.server.ws_max_unauthenticated < 1 \
                or self.server.ws_max_unauthenticated_per_address < 1:
            raise ConfigError("server.ws_auth_timeout_s, ws_max_unauthenticated and "
                              "ws_max_unauthenticated_per_address must be positive")
        if self.server.max_upload_bytes <= 0:
            raise ConfigError("server.max_upload_bytes must be positive")
        if not 0.0 < self.liveness.threshold <= 1.0:
            raise ConfigError("liveness.threshold must be in (0, 1]")
        if not 0.0 <= self.liveness.pad_spoof_threshold <= 1.0 or self.liveness.pad_spoof_frames < 0:
            raise ConfigError("liveness.pad_spoof_threshold must be in [0, 1] and pad_spoof_frames >= 0")
        if self.liveness.landmarks not in LANDMARK_BACKENDS:
            raise ConfigError(f"liveness.landmarks must be one of {', '.join(LANDMARK_BACKENDS)}")
        if self.engine.profile not in PROFILES:
            raise ConfigError(f"engine.profile must be one of {', '.join(PROFILES)}, got {self.engine.profile!r}")
        if self.engine.profile == "permissive" and self.liveness.landmarks != "mediapipe":
            raise ConfigError("engine.profile permissive ships no 2d106 model: liveness.landmarks must be mediapipe")
        if self.auth.access_token_ttl_s <= 0 or self.auth.refresh_token_ttl_s <= self.auth.access_token_ttl_s:
            raise ConfigError("auth.access_token_ttl_s must be positive and shorter than auth.refresh_token_ttl_s")
        for tier in ("basic", "premium", "enterprise"):
            limits = getattr(self.rate_limits, tier)
            if min(limits.hourly, limits.daily, limits.burst_per_minute, limits.concurrent_sessions) < 0:
                raise ConfigError(f"rate_limits.{tier}: limits must be 0 (unlimited) or positive")
        if self.encryption.keys and self.encryption.current_key_id not in {
            k.partition(":")[0] for k in self.encryption.keys
        }:
            raise ConfigError("encryption.current_key_id must name one of encryption.keys")
        if bool(self.server.tls_cert) != bool(self.server.tls_key):
            raise ConfigError("server.tls_cert and server.tls_key must be set together")
        if self.recognition.detect_every < 1:
            raise ConfigError("recognition.detect_every must be at least 1")
        if self.recognition.full_detect_every < 1 or self.recognition.track_det_size < 0:
            raise ConfigError("recognition.full_detect_every must be at least 1 and track_det_size at least 0")
        if self.engine.busy_intra_op_threads < 0:
            raise ConfigError("engine.busy_intra_op_threads must be at least 0")
        if self.sessions.max_per_client < 0 or self.streaming.max_sessions_per_client < 0:
            raise ConfigError("sessions.max_per_client and streaming.max_sessions_per_client must be 0 (a quarter "
                              "of the process cap) or positive")
        if self.sessions.max_failures < 1 or self.sessions.target_samples < 1:
            raise ConfigError("sessions.max_failures and sessions.target_samples must be at least 1")
        if not 0.0 <= self.sessions.quality_threshold <= 1.0:
            raise ConfigError("sessions.quality_threshold must be in [0, 1]")
        ids = [c.id for c in self.cameras]
        if len(set(ids)) != len(ids) or not all(ids):
            raise ConfigError("cameras: every camera needs a unique id")
        for cam in self.cameras:
            try:
                Schedule.parse(cam.schedule, cam.timezone)
            except ScheduleError as exc:
                raise ConfigError(f"cameras[{cam.id}]: {exc}") from exc
            try:  # the same URL rules as the REST API; DNS names are checked again at every connect
                parse_camera_url(cam.url) if self.ingest.allow_private_targets else check_target(cam.url)
            except CameraUrlError as exc:
                raise ConfigError(f"cameras[{cam.id}].url: {exc}") from None
        transports = [self.ingest.transport, *(c.transport or "tcp" for c in self.cameras)]
        if any(t not in ("tcp", "udp") for t in transports):
            raise ConfigError("ingest.transport and cameras[].transport must be tcp or udp")
        sizes = [self.recognition.det_size, *(c.det_size for c in self.cameras)]
        if any(d < 0 or d % 32 for d in sizes):
            raise ConfigError("recognition.det_size and cameras[].det_size must be 0 or a positive multiple of 32")
        if self.ingest.recognition.early_match_margin < 0 or self.recognition.early_match_margin < 0:
            raise ConfigError("early_match_margin must be >= 0")
        w = self.webhooks
        if w.request_timeout_s <= 0 or w.poll_interval_s <= 0 or w.per_endpoint_concurrency < 1 or w.batch_size < 1:
            raise ConfigError("webhooks: request_timeout_s, poll_interval_s, per_endpoint_concurrency and batch_size "
                              "must be positive")
        if w.per_client_concurrency < 1 or w.max_in_flight < 1:
            raise ConfigError("webhooks: per_client_concurrency and max_in_flight must be positive")
        if not 0.0 <= w.jitter < 1.0 or w.max_response_bytes < 0 or w.lease_margin_s < 0:
            raise ConfigError("webhooks: jitter must be in [0, 1); max_response_bytes and lease_margin_s >= 0")
        for key in ("verify_max_failures", "verify_lockout_s"):
            if getattr(self.brute_force, key) is not None:
                log.warning("config: brute_force.%s is deprecated and ignored; root /verify lockouts follow "
                            "sessions.max_failures, sessions.failure_window_s and sessions.lockout_s", key)
        r = self.retention
        if min(r.sessions_days, r.attempts_days, r.usage_days, r.audit_days, r.webhook_logs_days) < 0:
            raise ConfigError("retention: days must be 0 (keep for ever) or positive")
        return self


def load_config(
    path: str | Path | None = None,
    env: Mapping[str, str] | None = None,
    overrides: Mapping[str, Any] | None = None,
) -> Config:
    """Read YAML (default: the repository's config.yaml), apply env then explicit overrides."""
    raw: dict[str, Any] = {}
    source = Path(path) if path is not None else Path(os.environ.get("FACESTREAM_CONFIG", DEFAULT_CONFIG_PATH))
    if source.exists():
        try:
            loaded = yaml.safe_load(source.read_text()) or {}
        except yaml.YAMLError as exc:
            raise ConfigError(f"{source}: {exc}") from exc
        if not isinstance(loaded, dict):
            raise ConfigError(f"{source}: top level must be a mapping")
        raw = loaded
    elif path is not None:
        raise ConfigError(f"config file not found: {source}")
    for key, value in (os.environ if env is None else env).items():
        if key.startswith(ENV_PREFIX):
            parts = [p.lower() for p in key[len(ENV_PREFIX):].split("__")]
            if len(parts) != 2:
                raise ConfigError(f"{key}: expected FACESTREAM__SECTION__KEY")
            raw.setdefault(parts[0], {})[parts[1]] = yaml.safe_load(value) if value != "" else ""
    for dotted, value in (overrides or {}).items():
        section, _, key = dotted.partition(".")
        raw.setdefault(section, {})[key] = value
    return with_profile_threshold(_build(Config, raw, "")).validate()


def with_profile_threshold(config: Config) -> Config:
    """matching.threshold 0 means the configured engine profile's calibrated threshold. The
    permissive profile's MediaPipe bundle sits under engine.weights_dir when that is set."""
    if config.engine.profile == "permissive" and config.engine.weights_dir and not config.liveness.mediapipe_model:
        bundle = str(Path(config.engine.weights_dir) / "mediapipe" / "face_landmarker.task")
        config = dataclasses.replace(config, liveness=dataclasses.replace(config.liveness, mediapipe_model=bundle))
    if config.matching.threshold != 0.0:
        return config
    if config.engine.profile not in PROFILES:
        raise ConfigError(f"engine.profile must be one of {', '.join(PROFILES)}, got {config.engine.profile!r}")
    threshold = calibrated_thresholds().get(config.engine.profile)
    if threshold is None:
        raise ConfigError(f"no calibrated threshold for engine.profile {config.engine.profile!r}; run `make calibrate`")
    return dataclasses.replace(config, matching=dataclasses.replace(config.matching, threshold=threshold))


def _build(cls: type, data: Any, prefix: str) -> Any:
    if not isinstance(data, dict):
        raise ConfigError(f"{prefix or 'config'}: expected a mapping")
    hints = typing.get_type_hints(cls)
    known = {f.name: f for f in dataclasses.fields(cls)}
    unknown = sorted(set(data) - set(known))
    if unknown:
        raise ConfigError(f"unknown config key: {', '.join(prefix + k for k in unknown)}")
    kwargs = {name: _coerce(hints[name], value, f"{prefix}{name}") for name, value in data.items()}
    return cls(**kwargs)


def _coerce(tp: Any, value: Any, name: str) -> Any:
    if dataclasses.is_dataclass(tp):
        return _build(tp, value or {}, name + ".")
    origin = typing.get_origin(tp)
    if origin is tuple:
        if not isinstance(value, (list, tuple)):
            raise ConfigError(f"{name}: expected a list")
        (inner, _) = typing.get_args(tp)
        return tuple(_coerce(inner, v, name) for v in value)
    if origin in (types.UnionType, typing.Union):
        return value
    if tp is bool:
        if not isinstance(value, bool):
            raise ConfigError(f"{name}: expected true or false, got {value!r}")
        return value
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(f"{name}: expected an integer, got {value!r}")
        return value
    if tp is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ConfigError(f"{name}: expected a number, got {value!r}")
        return float(value)
    if tp is str:
        if value is None:
            return ""
        if not isinstance(value, (str, int, float)) or isinstance(value, bool):
            raise ConfigError(f"{name}: expected a string, got {value!r}")
        return str(value)
    return value
