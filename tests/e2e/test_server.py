"""The gateway as a real process: settings file + environment, health, SIGTERM, workers."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import sys
from pathlib import Path

import aiohttp
import pytest

STREAM = {"model": "m", "stream": True, "messages": [{"role": "user", "content": "hi"}]}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


async def start(tmp_path: Path, upstream_url: str, *args: str, env: dict[str, str] | None = None):
    port = free_port()
    settings = tmp_path / "lockgate.toml"
    settings.write_text(
        f'shutdown_grace_s = 5\n[cache]\nembedder = "off"\n'
        f'[providers.anyscale]\nbase_url = "{upstream_url}/v1"\n'
    )
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "proxy",
        "serve",
        "--port",
        str(port),
        "--data-dir",
        str(tmp_path / "data"),
        "--settings",
        str(settings),
        *args,
        env={**os.environ, **(env or {})},
        stderr=asyncio.subprocess.PIPE,
    )
    url = f"http://127.0.0.1:{port}"
    async with aiohttp.ClientSession() as http:
        for _ in range(100):
            try:
                async with http.get(url + "/health") as r:
                    if r.status == 200:
                        return proc, url
            except aiohttp.ClientError:
                await asyncio.sleep(0.05)
    proc.kill()
    raise AssertionError("gateway did not start: " + (await proc.stderr.read()).decode())


async def stop(proc) -> int:
    if proc.returncode is None:
        proc.send_signal(signal.SIGTERM)
    try:
        return await asyncio.wait_for(proc.wait(), 10)
    except TimeoutError:
        proc.kill()
        raise


@pytest.mark.timeout(30)
async def test_settings_file_env_and_health(tmp_path, upstream):
    # the environment overrides the file: anyscale's base URL comes from LOCKGATE_PROVIDERS__…
    proc, url = await start(
        tmp_path,
        "http://127.0.0.1:9",
        env={"LOCKGATE_PROVIDERS__ANYSCALE__BASE_URL": upstream.url + "/v1"},
    )
    try:
        async with aiohttp.ClientSession() as http:
            async with http.post(
                url + "/v1/chat/completions",
                json=STREAM | {"stream": False},
                headers={"x-portkey-mode": "proxy anyscale", "Authorization": "Bearer k"},
            ) as r:
                assert r.status == 200
    finally:
        assert await stop(proc) == 0
    assert (tmp_path / "data").is_dir()


@pytest.mark.timeout(30)
async def test_sigterm_lets_inflight_stream_finish(tmp_path, upstream):
    proc, url = await start(tmp_path, upstream.url)
    upstream.fake.script.append("slowstream:20")  # 50 chunks over about a second
    try:
        async with aiohttp.ClientSession() as http:
            async with http.post(
                url + "/v1/chat/completions",
                json=STREAM,
                headers={"x-portkey-provider": "anyscale"},
            ) as r:
                first = await r.content.readany()
                proc.send_signal(signal.SIGTERM)
                rest = await r.read()
        body = first + rest
        assert body.count(b"data: ") == 50
        assert await asyncio.wait_for(proc.wait(), 10) == 0
        async with aiohttp.ClientSession() as http:
            with pytest.raises(aiohttp.ClientConnectionError):
                await http.get(url + "/health")
    finally:
        await stop(proc)


@pytest.mark.timeout(30)
async def test_workers_share_one_port(tmp_path, upstream):
    proc, url = await start(tmp_path, upstream.url, "--workers", "2")
    try:
        async with aiohttp.ClientSession() as http:
            for _ in range(20):
                async with http.post(
                    url + "/v1/chat/completions",
                    json={"model": "m"},
                    headers={"x-portkey-provider": "anyscale"},
                ) as r:
                    assert r.status == 200
        pids = {int(p) for p in os.popen(f"pgrep -P {proc.pid}").read().split()}
        if len(pids) != 2:
            proc.send_signal(signal.SIGTERM)
            _, err = await proc.communicate()
            raise AssertionError(f"workers: {pids}; stderr: {err.decode()[-3000:]}")
    finally:
        assert await stop(proc) == 0


async def test_bad_settings_file_is_a_clear_error(tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text("prot = 1\n")
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "proxy",
        "serve",
        "--settings",
        str(bad),
        stderr=asyncio.subprocess.PIPE,
    )
    _, err = await asyncio.wait_for(proc.communicate(), 20)
    assert proc.returncode == 2
    assert b"prot" in err
