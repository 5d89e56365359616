from pathlib import Path

import pytest

from facestream.config import ConfigError, load_config


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
