"""The real OpenAI and portkey-ai SDKs against the gateway, unchanged but for the base URL."""

from __future__ import annotations

import asyncio

import openai
from portkey_ai import Portkey, createHeaders

from tests.conftest import flush_logs, log_rows

MSGS = [{"role": "user", "content": "Say hello"}]


def _openai(gateway, **headers) -> openai.OpenAI:
    return openai.OpenAI(
        base_url=gateway.url + "/v1",
        api_key="sk-openai-test",
        default_headers=headers or {"x-portkey-provider": "openai"},
        max_retries=0,
        timeout=10,
    )


async def test_openai_sdk_chat_completions_and_embeddings(gateway, upstream):
    def run():
        c = _openai(gateway)
        chat = c.chat.completions.create(model="gpt-4o-mini", messages=MSGS)
        comp = c.completions.create(model="gpt-3.5-turbo-instruct", prompt="hi")
        emb = c.embeddings.create(model="text-embedding-3-small", input=["a", "b"])
        raw = c.chat.completions.with_raw_response.create(model="gpt-4o-mini", messages=MSGS)
        return chat, comp, emb, raw

    chat, comp, emb, raw = await asyncio.to_thread(run)
    assert chat.choices[0].message.content == "Hello from the fake upstream."
    assert chat.usage.total_tokens == 15
    assert comp.choices[0].text == "Hello"
    assert len(emb.data) == 2
    assert raw.headers["x-portkey-trace-id"]
    assert upstream.fake.seen[0].headers["Authorization"] == "Bearer sk-openai-test"


async def test_openai_sdk_streaming(gateway, upstream):
    def run():
        c = _openai(gateway)
        parts = []
        for chunk in c.chat.completions.create(model="gpt-4o-mini", messages=MSGS, stream=True):
            if chunk.choices and chunk.choices[0].delta.content:
                parts.append(chunk.choices[0].delta.content)
        texts = [
            ch.choices[0].text for ch in c.completions.create(model="m", prompt="x", stream=True)
        ]
        return "".join(parts), texts

    text, texts = await asyncio.to_thread(run)
    assert text == "tok1 tok2 tok3 tok4 "
    assert texts == ["w0 ", "w1 ", "w2 "]


async def test_openai_sdk_sees_upstream_errors(gateway, upstream):
    upstream.fake.script.append("429")

    def run():
        try:
            _openai(gateway).chat.completions.create(model="m", messages=MSGS)
        except openai.RateLimitError as e:
            return e
        return None

    err = await asyncio.to_thread(run)
    assert err is not None and "fake upstream error 429" in str(err)


async def test_openai_sdk_with_portkey_create_headers(gateway, upstream):
    headers = createHeaders(
        provider="openai",
        api_key="pk-gw",
        trace_id="t-sdk",
        metadata={"_user": "u1"},
        config={"retry": {"attempts": 1}},
    )

    def run():
        c = openai.OpenAI(
            base_url=gateway.url + "/v1",
            api_key="sk-x",
            default_headers=headers,
            max_retries=0,
            timeout=10,
        )
        return c.chat.completions.with_raw_response.create(model="m", messages=MSGS)

    upstream.fake.script.append("503")  # retried once by the config, then succeeds
    raw = await asyncio.to_thread(run)
    assert raw.http_response.status_code == 200
    assert raw.headers["x-portkey-trace-id"] == "t-sdk"
    assert raw.headers["x-portkey-retry-attempt-count"] == "1"
    assert len(upstream.fake.seen) == 2


async def test_portkey_sdk_chat_completions_and_embeddings(gateway, upstream):
    def run():
        pk = Portkey(
            base_url=gateway.url + "/v1",
            api_key="pk-local",
            provider="openai",
            Authorization="sk-provider-key",
        )
        chat = pk.chat.completions.create(model="gpt-4o-mini", messages=MSGS)
        comp = pk.completions.create(model="m", prompt="hi")
        emb = pk.embeddings.create(model="e", input="hello")
        return chat, comp, emb

    chat, comp, emb = await asyncio.to_thread(run)
    assert chat.choices[0].message.content == "Hello from the fake upstream."
    assert comp.choices[0].text == "Hello"
    assert len(emb.data) == 1
    seen = upstream.fake.seen[0]
    assert seen.headers["Authorization"] == "Bearer sk-provider-key"
    assert not [k for k in seen.headers if k.lower().startswith("x-portkey")]


async def test_portkey_sdk_streaming_with_config(gateway, upstream):
    config = {"provider": "openai", "api_key": "sk-in-config"}

    def run():
        pk = Portkey(base_url=gateway.url + "/v1", api_key="pk-local", config=config)
        parts = []
        for chunk in pk.chat.completions.create(model="m", messages=MSGS, stream=True):
            if chunk.choices and chunk.choices[0].delta.content:
                parts.append(chunk.choices[0].delta.content)
        return "".join(parts)

    assert await asyncio.to_thread(run) == "tok1 tok2 tok3 tok4 "
    assert upstream.fake.seen[0].headers["Authorization"] == "Bearer sk-in-config"


async def test_portkey_sdk_legacy_mode(gateway, upstream):
    def run():
        pk = Portkey(
            base_url=gateway.url + "/v1",
            api_key="pk-local",
            mode="anyscale",
            Authorization="sk-any",
        )
        return pk.chat.completions.create(model="m", messages=MSGS)

    chat = await asyncio.to_thread(run)
    assert chat.choices[0].message.content == "Hello from the fake upstream."


async def test_openai_sdk_uploads_binary_answers_get_and_delete(gateway, upstream, http):
    """Multipart uploads go up byte for byte, binary answers come back byte for byte, and GET
    and DELETE calls pass too: the endpoints beyond chat that every path under /v1/ covers."""
    audio = bytes(range(256)) * 64  # not UTF-8, 16 KB

    def run():
        c = _openai(gateway)
        heard = c.audio.transcriptions.create(model="whisper-1", file=("a.wav", audio))
        speech = c.audio.speech.create(model="tts-1", voice="alloy", input="hello")
        uploaded = c.files.create(file=("data.jsonl", b'{"a": 1}\n'), purpose="batch")
        deleted = c.files.delete("file-fake")
        models = c.models.list()
        return heard, speech.content, uploaded, deleted, models

    heard, speech, uploaded, deleted, models = await asyncio.to_thread(run)
    assert heard.text == f"heard {len(audio)} bytes of a.wav"
    sent = upstream.fake.seen[0]
    assert sent.headers["Content-Type"].startswith("multipart/form-data; boundary=")
    assert audio in sent.body  # the upload reached the provider unchanged

    direct = b""
    async with http.post(
        upstream.url + "/v1/audio/speech", json={"model": "tts-1", "input": "hello"}
    ) as r:
        direct = await r.read()
    assert speech == direct
    assert uploaded.bytes == 9 and uploaded.filename == "data.jsonl"
    assert deleted.deleted is True and upstream.fake.seen[3].method == "DELETE"
    assert models.data[0].id == "fake-model"

    await flush_logs(gateway)
    rows = await log_rows(http, gateway, limit="10")
    by_path = {row["path"]: row for row in rows}
    assert by_path["/audio/transcriptions"]["model"] == "whisper-1"
    assert by_path["/audio/speech"]["streamed"] is True
    assert by_path["/audio/speech"]["complete"] is True
    assert by_path["/files/file-fake"]["method"] == "DELETE"
    assert all(row["status"] == 200 for row in rows)
