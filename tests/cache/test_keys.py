from __future__ import annotations

import msgspec

from cache import keys
from proxy.config import StrategyConfig, Target
from tests.cache.conftest import chat, make_call


def key_of(body, **kw) -> str:
    call = make_call(body, **kw)
    return keys.call_key(call, keys.decoded_body(call))


def test_key_ignores_json_key_order_and_delivery_fields():
    a = b'{"model":"m","messages":[{"role":"user","content":"hi"}],"temperature":0}'
    b = (
        b'{"temperature":0,"stream":true,"stream_options":{"include_usage":true},'
        b'"user":"u1","messages":[{"content":"hi","role":"user"}],"model":"m"}'
    )
    assert key_of(a) == key_of(b)


def test_key_changes_with_what_changes_the_answer():
    base = key_of(chat("hi"))
    assert key_of(chat("hi", model="gpt-4o")) != base
    assert key_of(chat("hi", temperature=1)) != base
    assert key_of(chat("hi!")) != base
    assert key_of(chat("hi"), namespace="team-a") != base
    assert key_of(chat("hi"), provider="anthropic") != base
    assert key_of(chat("hi"), path="/completions") != base


def test_key_ignores_provider_key_and_never_contains_it():
    k1 = key_of(chat("hi"), api_key="sk-one")
    k2 = key_of(chat("hi"), api_key="sk-two")
    assert k1 == k2
    fp = keys.config_fingerprint(Target(provider="openai", api_key="sk-secret", virtual_key="vk"))
    assert b"sk-secret" not in fp and b"vk" not in fp


def test_override_params_and_conditional_metadata_are_part_of_the_key():
    plain = key_of(chat("hi"), config=Target(provider="openai"))
    over = key_of(chat("hi"), config=Target(provider="openai", override_params={"model": "gpt-4o"}))
    assert plain != over
    cond = Target(
        strategy=StrategyConfig(mode="conditional"),
        targets=[Target(provider="openai", name="a"), Target(provider="groq", name="b")],
    )
    assert key_of(chat("hi"), config=cond, metadata={"tier": "free"}) != key_of(
        chat("hi"), config=cond, metadata={"tier": "pro"}
    )
    # metadata does not split the cache when nothing routes on it
    assert key_of(chat("hi"), metadata={"tier": "free"}) == key_of(
        chat("hi"), metadata={"tier": "pro"}
    )


def test_non_json_body_hashes_raw_bytes():
    a = key_of(b"--boundary\r\nfile-a", path="/audio/transcriptions")
    b = key_of(b"--boundary\r\nfile-b", path="/audio/transcriptions")
    assert a != b and len(a) == 64


def test_fast_path_does_not_copy_a_body_without_ignored_fields():
    body = msgspec.json.decode(msgspec.json.encode(chat("hi")))
    assert keys.strip_ignored(body) is body
    assert "stream" not in keys.strip_ignored({**body, "stream": True})


def test_semantic_scope_splits_on_params_and_system_message_but_not_prompt():
    def scope(body, exact=None):
        c = make_call(body)
        return keys.semantic_scope(c, c.json(), exact, "e")

    assert scope(chat("a")) == scope(chat("b"))
    assert scope(chat("a", temperature=0.2)) != scope(chat("a", temperature=0.9))
    assert scope(chat("a", model="x")) != scope(chat("a", model="y"))
    assert scope(chat("a"), {"role": "system", "content": "French"}) != scope(
        chat("a"), {"role": "system", "content": "German"}
    )
