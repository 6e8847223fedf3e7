"""What one row holds: model, tokens (read or estimated), cost, spans, metadata, bodies —
and no secret, anywhere in the file."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import msgspec
import pytest
from multidict import CIMultiDict, CIMultiDictProxy

from proxy.config import Target
from proxy.logstore import LogFilter, LogSettings, Price
from proxy.logstore.prices import Prices
from proxy.logstore.query import entry
from proxy.logstore.rows import RowBuilder, scrub_url
from proxy.logstore.schema import REQUEST_COLUMNS, trace_key, user_key

from .conftest import answer, make_call, make_outcome, make_reply, record


def builder(**kw) -> RowBuilder:
    s = LogSettings(**kw)
    return RowBuilder(s, Prices.from_settings(s))


def build(call=None, reply=None, outcome=None, **kw) -> dict:
    """The row as the API shows it (``entry``), plus the stored tuple's raw columns under
    ``_row``, the key text under ``_keys`` and the attempts (as `AttemptEntry`) under
    ``_attempts``."""
    row, keys = builder(**kw).build(
        call or make_call(), reply or make_reply(), outcome or make_outcome()
    )
    e = entry(row, attempts=True)
    d = msgspec.structs.asdict(e)
    d["_row"] = dict(zip(REQUEST_COLUMNS, row, strict=True))
    d["_keys"] = keys
    d["_attempts"] = e.attempts
    return d


def sse(*events: dict, done: bool = True) -> bytes:
    out = b"".join(b"data: " + msgspec.json.encode(e) + b"\n\n" for e in events)
    return out + (b"data: [DONE]\n\n" if done else b"")


def chunk(text: str) -> dict:
    return {"object": "chat.completion.chunk", "choices": [{"delta": {"content": text}}]}


def test_usage_model_and_cost_from_a_json_answer():
    d = build(outcome=make_outcome(body=answer(prompt=1000, completion=500)))
    assert (d["prompt_tokens"], d["completion_tokens"], d["total_tokens"]) == (1000, 500, 1500)
    assert d["tokens_estimated"] == 0
    assert d["model"] == "gpt-4o-mini"
    # gpt-4o-mini: 0.15 / 0.60 USD per 1M tokens (the answer's dated model matches by prefix)
    assert d["cost"] == pytest.approx((1000 * 0.15 + 500 * 0.60) / 1e6)


def test_usage_from_the_tail_of_a_stream():
    tail = sse(
        chunk("Hel"),
        chunk("lo"),
        {"choices": [], "usage": {"prompt_tokens": 9, "completion_tokens": 2, "total_tokens": 11}},
    )
    d = build(outcome=make_outcome(streamed=True, tail=tail[5:]))  # tail starts mid-line
    assert (d["prompt_tokens"], d["completion_tokens"], d["total_tokens"]) == (9, 2, 11)
    assert d["tokens_estimated"] == 0 and d["streamed"] == 1


def test_anthropic_and_gemini_shaped_usage():
    body = msgspec.json.encode(
        {"type": "message", "usage": {"input_tokens": 5, "output_tokens": 3}}
    )
    assert build(outcome=make_outcome(body=body))["total_tokens"] == 8
    body = msgspec.json.encode(
        {"usageMetadata": {"promptTokenCount": 4, "candidatesTokenCount": 6, "totalTokenCount": 10}}
    )
    d = build(outcome=make_outcome(body=body))
    assert (d["prompt_tokens"], d["completion_tokens"], d["total_tokens"]) == (4, 6, 10)


def test_tokens_are_estimated_without_usage_and_say_so():
    body = msgspec.json.encode({"choices": [{"message": {"content": "x" * 40}}]})
    call = make_call()
    d = build(call=call, outcome=make_outcome(body=body))
    assert d["tokens_estimated"] == 1
    assert d["completion_tokens"] == 10
    assert d["prompt_tokens"] == len(call.body) // 4
    d = build(outcome=make_outcome(streamed=True, tail=sse(*(chunk("a") for _ in range(6)))))
    assert d["tokens_estimated"] == 1 and d["completion_tokens"] == 6


def test_no_tokens_for_errors_and_failed_requests():
    d = build(
        reply=make_reply(status=500),
        outcome=make_outcome(
            status=500, body=b'{"error":{"message":"boom"}}', error="upstream 500"
        ),
    )
    assert d["total_tokens"] is None and d["cost"] is None and d["error"] == "upstream 500"
    row, _ = builder().build(
        make_call(), None, make_outcome(status=400, body=b"{}", error="bad config")
    )
    d = msgspec.structs.asdict(entry(row))
    assert d["provider"] == "openai" and d["status"] == 400 and d["target_path"] is None


def test_cache_hit_costs_nothing():
    d = build(reply=make_reply(cache_status="HIT"))
    assert d["total_tokens"] == 18 and d["cost"] == 0.0


def test_price_override_from_settings():
    d = build(
        outcome=make_outcome(body=answer(prompt=1_000_000, completion=0)),
        prices={"openai": {"gpt-4o-mini": Price(input=1.0, output=2.0)}},
    )
    assert d["cost"] == pytest.approx(1.0)
    d = build(
        call=make_call(model="my-local-model"),
        outcome=make_outcome(body=msgspec.json.encode({"usage": {"prompt_tokens": 3}})),
    )
    assert d["cost"] is None  # unknown model: no guess


def test_model_comes_from_override_params_of_the_target_that_answered():
    cfg = Target(
        strategy=None,
        targets=[
            Target(provider="openai"),
            Target(provider="anthropic", override_params={"model": "claude-3-5-haiku-latest"}),
        ],
    )
    call = make_call(config=cfg)
    d = build(call=call, reply=make_reply(provider="anthropic", target_path="config.targets[1]"))
    assert d["model"] == "claude-3-5-haiku-latest" and d["provider"] == "anthropic"
    assert build(call=call)["model"] == "gpt-4o-mini"


def test_spans_metadata_and_attempts():
    call = make_call(
        headers={
            "x-portkey-span-id": "s1",
            "x-portkey-parent-span-id": "s0",
            "x-portkey-span-name": "plan",
        },
        metadata={
            "_user": "u1",
            "_organisation": "acme",
            "_environment": "prod",
            "_prompt": "p9",
            "team": "search",
        },
        attempts=3,
    )
    d = build(call=call, reply=make_reply(retries=2))
    assert (d["span_id"], d["parent_span_id"], d["span_name"]) == ("s1", "s0", "plan")
    assert (d["meta_user"], d["meta_organisation"], d["meta_environment"], d["meta_prompt"]) == (
        "u1",
        "acme",
        "prod",
        "p9",
    )
    assert d["metadata"]["team"] == "search"
    assert d["attempt_count"] == 3 and d["retries"] == 2
    assert [a.status for a in d["_attempts"]] == [500, 500, 200]
    assert [a.seq for a in d["_attempts"]] == [0, 1, 2]
    assert d["_keys"] == f"{trace_key(call.trace_id)} {user_key('u1')}"


@pytest.mark.parametrize(("mode", "want"), [("off", None), ("truncated", 10), ("full", None)])
def test_body_setting(mode, want):
    call = make_call()
    d = build(call=call, bodies=mode, body_limit=10)
    row = d["_row"]
    if mode == "off":
        assert row["request_body"] is None and row["response_body"] is None
    elif mode == "truncated":
        assert row["request_body"] == call.body[:10] and len(row["response_body"]) == 10
    else:
        assert row["request_body"] == call.body and row["response_body"] == answer()


def test_key_like_query_values_are_scrubbed_from_urls():
    assert (
        scrub_url("https://g.test/v1/x?alt=sse&key=AIzaSECRET")
        == "https://g.test/v1/x?alt=sse&key=***"
    )
    assert scrub_url("https://a.test/v1/chat") == "https://a.test/v1/chat"


SECRET = "sk-PLANTED-7f3a9c1e5b"


async def test_secrets_never_reach_the_file(tmp_path, open_logs):
    store = await open_logs(bodies="full")
    config_header = msgspec.json.encode({"provider": "openai", "api_key": SECRET}).decode()
    headers = {
        "Authorization": f"Bearer {SECRET}",
        "x-portkey-api-key": SECRET,
        "api-key": SECRET,
        "x-api-key": SECRET,
        "x-portkey-config": config_header,
    }
    for _ in range(20):
        call = make_call(
            headers=headers,
            config=Target(provider="openai", api_key=SECRET),
            metadata={"_user": "u1"},
        )
        call.attempts[0].url = f"https://gen.test/v1/models/x:generate?key={SECRET}"
        assert store.recorder.record(call, make_reply(), make_outcome()) is None
    await store.flush()
    files = [p for p in Path(tmp_path).iterdir() if p.name.startswith("logs.sqlite3")]
    assert any(p.name.endswith("-wal") for p in files)
    blob = b"".join(p.read_bytes() for p in files)
    assert b"u1" in blob  # the rows are there …
    assert SECRET.encode() not in blob  # … the key is not
    await store.close()
    conn = sqlite3.connect(store.path)
    dump = "\n".join(conn.iterdump())
    assert SECRET not in dump and conn.execute("SELECT COUNT(*) FROM requests").fetchone()[0]


async def test_headers_are_never_copied(store):
    call = await record(store, headers={"x-custom": "visible-only-to-upstream"})
    await store.flush()
    page = await store.list(LogFilter(trace_id=call.trace_id))
    got = await store.get(page.data[0].id)
    assert got is not None and "visible-only-to-upstream" not in msgspec.json.encode(got).decode()


def test_fake_headers_are_case_insensitive():
    h = CIMultiDictProxy(CIMultiDict({"X-Portkey-Span-Id": "abc"}))
    assert build(call=make_call(headers=dict(h)))["span_id"] == "abc"


def test_model_of_json_and_multipart_bodies():
    from proxy.logstore.rows import _body_model

    def form(*parts: tuple[str, bytes]) -> bytes:
        out = b""
        for name, value in parts:
            out += b'--XyZ\r\nContent-Disposition: form-data; name="' + name.encode() + b'"'
            out += b'; filename="a.wav"\r\nContent-Type: audio/wav' if name == "file" else b""
            out += b"\r\n\r\n" + value + b"\r\n"
        return out + b"--XyZ--\r\n"

    assert _body_model(b'{"model": "gpt-4o", "messages": []}') == "gpt-4o"
    assert _body_model(form(("model", b"whisper-1"), ("file", bytes(range(256))))) == "whisper-1"
    assert _body_model(form(("file", bytes(range(256))), ("model", b"whisper-1"))) == "whisper-1"
    assert _body_model(form(("file", b"\xff" * 10))) is None
    assert _body_model(form(("model_name", b"x"))) is None
    assert _body_model(b"not json") is None


def test_usage_of_the_responses_api_plain_and_streamed():
    usage = {"input_tokens": 12, "output_tokens": 4, "total_tokens": 16}
    call = make_call(endpoint="proxy")
    call.path = "/responses"
    body = msgspec.json.encode({"object": "response", "model": "gpt-5", "usage": usage})
    d = build(call=call, outcome=make_outcome(body=body))
    assert (d["prompt_tokens"], d["completion_tokens"], d["total_tokens"]) == (12, 4, 16)
    done = {"type": "response.completed", "response": {"model": "gpt-5-2026", "usage": usage}}
    tail = sse({"type": "response.output_text.delta", "delta": "Hi"}, done, done=False)
    d = build(call=call, outcome=make_outcome(streamed=True, tail=tail))
    assert (d["prompt_tokens"], d["completion_tokens"], d["total_tokens"]) == (12, 4, 16)
    assert d["tokens_estimated"] == 0


def test_usage_of_an_anthropic_stream_joins_its_first_and_last_events():
    call = make_call(endpoint="proxy")
    call.path = "/messages"
    start = {
        "type": "message_start",
        "message": {"model": "claude-x", "usage": {"input_tokens": 9, "output_tokens": 1}},
    }
    delta = {"type": "content_block_delta", "delta": {"type": "text_delta", "text": "Hi"}}
    end = {"type": "message_delta", "usage": {"output_tokens": 2}}
    tail = sse(start, delta, end, {"type": "message_stop"}, done=False)
    d = build(call=call, outcome=make_outcome(streamed=True, tail=tail))
    assert (d["prompt_tokens"], d["completion_tokens"], d["total_tokens"]) == (9, 2, 11)
    cut_start = sse(delta, end, done=False)  # a long stream: its start is not in the tail
    d = build(call=call, outcome=make_outcome(streamed=True, tail=cut_start))
    assert (d["prompt_tokens"], d["completion_tokens"]) == (None, 2)
