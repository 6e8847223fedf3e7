"""The headers sent upstream: which client headers go, in any spelling of their names, and
the bounded memo of verdicts per name that spares the hot path re-judging them."""

from __future__ import annotations

from multidict import CIMultiDict, CIMultiDictProxy

from proxy import upstream
from proxy.config import Target
from proxy.providers import registry_with_overrides
from proxy.services import Services
from proxy.settings import load_settings
from tests.fakes.playbook import make_call

SERVICES = Services(settings=load_settings(environ={}), providers=registry_with_overrides({}))


def sent(headers: list[tuple[str, str]], **target: object) -> dict[str, str]:
    call = make_call()
    call.headers = CIMultiDictProxy(CIMultiDict(headers))
    t = Target(provider="openai", api_key="sk-gw", **target)  # type: ignore[arg-type]
    return upstream.upstream_headers(SERVICES, t, call)


CLIENT = [
    ("X-Portkey-Trace-Id", "t-1"),
    ("x-portkey-trace-id", "t-2"),
    ("AUTHORIZATION", "Bearer sk-client"),
    ("Keep-Alive", "timeout=5"),
    ("HOST", "gw"),
    ("X-Team", "blue"),
    ("x-team", "green"),
]


def test_the_same_names_in_any_case_get_the_same_verdict_twice_over():
    for _ in range(2):  # the second round is answered from the memo
        out = sent(CLIENT)
        assert out == {"X-Team": "blue", "x-team": "green", "Authorization": "Bearer sk-gw"}
    assert upstream._request_verdicts["X-Portkey-Trace-Id"] is False
    assert upstream._request_verdicts["X-Team"] is True


def test_forward_headers_still_let_a_dropped_name_through_after_it_was_memoised():
    sent(CLIENT)  # "AUTHORIZATION" is now memoised as not forwarded
    out = sent(CLIENT, forward_headers=["authorization"])
    assert out["AUTHORIZATION"] == "Bearer sk-client"
    assert not {k for k in out if k.lower().startswith("x-portkey-")}


def test_the_memo_stops_growing_at_its_bound_and_the_verdicts_stay_right(monkeypatch):
    monkeypatch.setattr(upstream, "_request_verdicts", {})
    monkeypatch.setattr(upstream, "_NAMES_KEPT", 3)
    names = [(f"X-Made-Up-{i}", str(i)) for i in range(10)]
    out = sent([*names, ("x-portkey-provider", "openai"), ("Connection", "close")])
    assert len(upstream._request_verdicts) == 3
    assert [k for k in out if k.startswith("X-Made-Up-")] == [n for n, _ in names]
    assert "x-portkey-provider" not in out and "Connection" not in out


def test_response_headers_relayed_by_name_in_any_case():
    answer = CIMultiDictProxy(
        CIMultiDict(
            [
                ("Server", "nginx"),
                ("SERVER", "again"),
                ("Date", "Wed, 02 Dec 2026 09:00:00 GMT"),
                ("x-request-id", "r-1"),
                ("Content-Type", "application/json"),
                ("Connection", "keep-alive"),
            ]
        )
    )
    for _ in range(2):  # the second round is answered from the memo
        kept = upstream.relayed_headers(answer)
        assert kept == [("x-request-id", "r-1"), ("Content-Type", "application/json")]
    assert upstream._response_verdicts["SERVER"] is False


def test_a_repeated_name_keeps_every_value_and_defaults_yield_to_the_client():
    call = make_call()
    call.headers = CIMultiDictProxy(
        CIMultiDict(
            [
                ("anthropic-beta", "tools-1"),
                ("anthropic-beta", "cache-2"),
                ("Anthropic-Version", "2024-01-01"),
            ]
        )
    )
    t = Target(provider="anthropic", api_key="sk-ant")
    out = upstream.upstream_headers(SERVICES, t, call)
    assert out["anthropic-beta"] == "tools-1, cache-2"
    assert [k for k in out if k.lower() == "anthropic-version"] == ["Anthropic-Version"]
    assert out["Anthropic-Version"] == "2024-01-01" and out["x-api-key"] == "sk-ant"
    call.headers = CIMultiDictProxy(CIMultiDict())
    assert upstream.upstream_headers(SERVICES, t, call)["anthropic-version"] == "2023-06-01"
