from __future__ import annotations

import msgspec

from cache.sse import PIECE, StreamAssembler, replay_events
from tests.cache.conftest import completion_json, sse_chunks

enc = msgspec.json.encode


def assemble(chunks: list[bytes], byte_by_byte: bool = False):
    a = StreamAssembler()
    for c in chunks:
        if byte_by_byte:
            for i in range(len(c)):
                a.feed(c[i : i + 1])
        else:
            a.feed(c)
    return a.result()


def test_assembles_content_and_usage_even_when_split_at_any_byte():
    chunks = sse_chunks("Hello there, world")
    for split in (False, True):
        out = assemble(chunks, byte_by_byte=split)
        assert out["object"] == "chat.completion"
        assert out["choices"][0]["message"] == {
            "role": "assistant",
            "content": "Hello there, world",
        }
        assert out["choices"][0]["finish_reason"] == "stop"
        assert out["usage"]["total_tokens"] == 6
        assert out["id"] == "chatcmpl-s" and out["model"] == "gpt-4o-mini"


def test_assembles_tool_calls():
    head = {"id": "c", "object": "chat.completion.chunk", "created": 1, "model": "m"}

    def ev(delta, finish=None):
        return (
            b"data: "
            + enc({**head, "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]})
            + b"\r\n\r\n"
        )

    chunks = [
        ev({"role": "assistant", "content": None}),
        ev(
            {
                "tool_calls": [
                    {
                        "index": 0,
                        "id": "call_1",
                        "type": "function",
                        "function": {"name": "get_weather", "arguments": ""},
                    }
                ]
            }
        ),
        ev({"tool_calls": [{"index": 0, "function": {"arguments": '{"city":'}}]}),
        ev({"tool_calls": [{"index": 0, "function": {"arguments": '"Paris"}'}}]}),
        ev(
            {
                "tool_calls": [
                    {
                        "index": 1,
                        "id": "call_2",
                        "type": "function",
                        "function": {"name": "get_time", "arguments": "{}"},
                    }
                ]
            }
        ),
        ev({}, "tool_calls"),
        b"data: [DONE]\r\n\r\n",
    ]
    msg = assemble(chunks)["choices"][0]["message"]
    assert msg["content"] is None
    assert msg["tool_calls"] == [
        {
            "id": "call_1",
            "type": "function",
            "function": {"name": "get_weather", "arguments": '{"city":"Paris"}'},
        },
        {"id": "call_2", "type": "function", "function": {"name": "get_time", "arguments": "{}"}},
    ]


def test_incomplete_or_failed_streams_give_nothing():
    chunks = sse_chunks("Hello")
    assert assemble(chunks[:2]) is None  # cut before finish / [DONE]
    err = [chunks[0], b'data: {"error": {"message": "overloaded"}}\n\n', chunks[-1]]
    assert assemble(err) is None
    assert assemble([b"data: not json\n\n", b"data: [DONE]\n\n"]) is None
    big = StreamAssembler(max_bytes=50)
    for c in chunks:
        big.feed(c)
    assert big.result() is None


def test_text_completion_stream():
    head = {"id": "cmpl", "object": "text_completion", "created": 1, "model": "davinci"}
    chunks = [
        b"data: "
        + enc({**head, "choices": [{"text": t, "index": 0, "logprobs": None, "finish_reason": f}]})
        + b"\n\n"
        for t, f in (("Once", None), (" upon", None), ("", "length"))
    ]
    out = assemble(chunks + [b"data: [DONE]\n\n"])
    assert out["object"] == "text_completion"
    assert out["choices"][0]["text"] == "Once upon"
    assert out["choices"][0]["finish_reason"] == "length"


def test_replay_is_sse_that_assembles_back_to_the_answer():
    answer = completion_json("x" * (2 * PIECE + 7))
    events = replay_events(answer, include_usage=True)
    assert events[-1] == b"data: [DONE]\n\n"
    assert all(e.startswith(b"data: ") and e.endswith(b"\n\n") for e in events)
    first = msgspec.json.decode(events[0][6:])
    assert first["object"] == "chat.completion.chunk"
    assert first["choices"][0]["delta"]["role"] == "assistant"
    pieces = [msgspec.json.decode(e[6:])["choices"][0]["delta"].get("content") for e in events[1:4]]
    assert [len(p) for p in pieces] == [PIECE, PIECE, 7]
    back = assemble(events)
    assert back["choices"] == answer["choices"]
    assert back["usage"] == answer["usage"]
    no_usage = replay_events(answer, include_usage=False)
    assert len(no_usage) == len(events) - 1


def test_replay_tool_calls_and_text_completions():
    answer = completion_json("")
    answer["choices"][0]["message"] = {
        "role": "assistant",
        "content": None,
        "tool_calls": [
            {"id": "call_9", "type": "function", "function": {"name": "f", "arguments": '{"a":1}'}}
        ],
    }
    answer["choices"][0]["finish_reason"] = "tool_calls"
    back = assemble(replay_events(answer))
    assert (
        back["choices"][0]["message"]["tool_calls"] == answer["choices"][0]["message"]["tool_calls"]
    )
    assert back["choices"][0]["finish_reason"] == "tool_calls"
    text = {
        "id": "c",
        "object": "text_completion",
        "created": 1,
        "model": "m",
        "choices": [{"text": "abc", "index": 0, "logprobs": None, "finish_reason": "stop"}],
    }
    assert assemble(replay_events(text))["choices"][0]["text"] == "abc"
    assert replay_events({"object": "list", "data": []}) is None
