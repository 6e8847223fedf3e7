from __future__ import annotations

import pytest

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
