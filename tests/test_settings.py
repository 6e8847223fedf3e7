from __future__ import annotations

from types import SimpleNamespace

import pytest

from proxy.observability import log_settings
from proxy.settings import SettingsError, load_settings


def test_file_then_env_then_flags(tmp_path):
    f = tmp_path / "s.toml"
    f.write_text('port = 9000\nworkers = 2\n[providers.groq]\nbase_url = "http://a/v1"\n')
    env = {
        "LOCKGATE_PORT": "9100",
        "LOCKGATE_PROVIDERS__GROQ__BASE_URL": "http://b/v1",
        "LOCKGATE_UPSTREAM_TIMEOUT_S": "2.5",
        "OTHER": "x",
    }
    s = load_settings(f, environ=env, workers=None, host="0.0.0.0")
    assert s.port == 9100 and s.workers == 2 and s.host == "0.0.0.0"
    assert s.providers["groq"].base_url == "http://b/v1"
    assert s.upstream_timeout_s == 2.5


def test_unknown_key_and_bad_type_are_errors(tmp_path):
    f = tmp_path / "s.toml"
    f.write_text("portt = 1\n")
    with pytest.raises(SettingsError, match="portt"):
        load_settings(f, environ={})
    with pytest.raises(SettingsError, match="port"):
        load_settings(environ={"LOCKGATE_PORT": "abc"})


def test_log_writer_nice_is_a_nice_value():
    def writer_nice(env: dict[str, str]) -> int:
        s = load_settings(environ=env)
        return log_settings(SimpleNamespace(settings=s)).writer_nice  # type: ignore[arg-type]

    assert writer_nice({}) == 19
    assert writer_nice({"LOCKGATE_LOGS__WRITER_NICE": "0"}) == 0
    with pytest.raises(ValueError, match="writer_nice"):
        writer_nice({"LOCKGATE_LOGS__WRITER_NICE": "20"})
