import logging
from pathlib import Path

import pytest

from facestream.config import ConfigError, load_config
from facestream.redis_settings import warn_deprecated


def test_repository_config_loads_with_documented_defaults() -> None:
    cfg = load_config(env={})
    assert cfg.server.port == 8000
    assert cfg.auth.face_api == "required"
    assert cfg.engine.det_size == 512
    assert cfg.storage.database_url.startswith("sqlite:///")
    assert cfg.cache.url == ""


def test_unknown_key_is_rejected_by_name(tmp_path: Path) -> None:
    path = tmp_path / "c.yaml"
    path.write_text("server:\n  prot: 9000\n")
    with pytest.raises(ConfigError, match="server.prot"):
        load_config(path, env={})


def test_unknown_section_is_rejected(tmp_path: Path) -> None:
    path = tmp_path / "c.yaml"
    path.write_text("servr:\n  port: 9000\n")
    with pytest.raises(ConfigError, match="servr"):
        load_config(path, env={})


def test_environment_overrides_single_keys() -> None:
    cfg = load_config(env={"FACESTREAM__SERVER__PORT": "9100", "FACESTREAM__CACHE__URL": "redis://127.0.0.1:6379/3",
                           "FACESTREAM__ENGINE__PROVIDERS": "[CPUExecutionProvider]"})
    assert cfg.server.port == 9100
    assert cfg.cache.url == "redis://127.0.0.1:6379/3"
    assert cfg.engine.providers == ("CPUExecutionProvider",)


def test_wrong_types_are_rejected() -> None:
    with pytest.raises(ConfigError, match="server.port: expected an integer"):
        load_config(env={"FACESTREAM__SERVER__PORT": "eighty"})
    with pytest.raises(ConfigError, match="auth.face_api"):
        load_config(env={"FACESTREAM__AUTH__FACE_API": "maybe"})


def test_config_is_frozen() -> None:
    cfg = load_config(env={})
    with pytest.raises(AttributeError):
        cfg.server.port = 1  # type: ignore[misc]


def test_stream_scaling_keys_are_validated() -> None:
    cfg = load_config(env={})
    assert (cfg.recognition.track_det_size, cfg.recognition.full_detect_every) == (320, 5)
    assert cfg.engine.busy_intra_op_threads == 1 and cfg.recognition.identity_check_s == 1.0
    with pytest.raises(ConfigError, match="full_detect_every"):
        load_config(env={"FACESTREAM__RECOGNITION__FULL_DETECT_EVERY": "0"})
    with pytest.raises(ConfigError, match="busy_intra_op_threads"):
        load_config(env={"FACESTREAM__ENGINE__BUSY_INTRA_OP_THREADS": "-1"})


REDIS_USES = ("cache", "events", "rate_limits", "brute_force")
DEPRECATED_REDIS_KEYS = {"cache": "cache.url", "events": "events.bus_url", "rate_limits": "rate_limits.url",
                         "brute_force": "brute_force.url"}


def test_one_redis_url_serves_every_use_under_its_own_prefix() -> None:
    default = load_config(env={})
    assert default.redis.url == ""
    assert all(getattr(default.redis_urls, use) == "" for use in REDIS_USES)  # everything in this process
    cfg = load_config(env={"FACESTREAM__REDIS__URL": "redis://127.0.0.1:6379/4"})
    assert cfg.redis.url == "redis://127.0.0.1:6379/4"
    assert {use: getattr(cfg.redis_urls, use) for use in REDIS_USES} == dict.fromkeys(REDIS_USES, "redis://127.0.0.1:6379/4")
    prefixes = [cfg.cache.key_prefix, cfg.events.key_prefix, cfg.rate_limits.key_prefix, cfg.brute_force.key_prefix]
    assert prefixes == ["facestream:", "facestream:events:", "facestream:rl:", "facestream:bf:"]


def test_redis_url_from_the_file(tmp_path: Path) -> None:
    path = tmp_path / "c.yaml"
    path.write_text("redis:\n  url: rediss://cache.example:6380/0\n")
    assert load_config(path, env={}).redis_urls.events == "rediss://cache.example:6380/0"
    path.write_text("redis:\n  url: http://cache.example/\n")
    with pytest.raises(ConfigError, match="must start with redis://, rediss:// or unix://, not 'http'"):
        load_config(path, env={})


@pytest.mark.parametrize("use", REDIS_USES)
def test_deprecated_per_use_url_overrides_redis_url_and_warns_once(use: str, caplog: pytest.LogCaptureFixture) -> None:
    warn_deprecated.cache_clear()  # another test may have loaded the key already in this process
    key = DEPRECATED_REDIS_KEYS[use]
    env_name = "FACESTREAM__" + key.replace(".", "__").upper()
    with caplog.at_level(logging.WARNING, logger="facestream.redis_settings"):
        cfg = load_config(env={"FACESTREAM__REDIS__URL": "redis://127.0.0.1:6379/4", env_name: "redis://127.0.0.1:6379/9"})
        again = load_config(overrides={key: "redis://127.0.0.1:6379/9"}, env={})
    assert getattr(cfg.redis_urls, use) == "redis://127.0.0.1:6379/9"  # the old key wins for its own use ...
    assert all(getattr(cfg.redis_urls, other) == "redis://127.0.0.1:6379/4" for other in REDIS_USES if other != use)
    assert getattr(again.redis_urls, use) == "redis://127.0.0.1:6379/9"  # ... and works without redis.url
    assert all(getattr(again.redis_urls, other) == "" for other in REDIS_USES if other != use)
    warnings = [r.getMessage() for r in caplog.records if r.name == "facestream.redis_settings"]
    assert len(warnings) == 1, warnings  # two loads, one warning
    assert warnings[0].startswith(f"config key {key} is deprecated: set redis.url")
