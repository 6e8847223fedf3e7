"""Secrets are masked at any depth, in either key spelling."""

from __future__ import annotations

from proxy.masking import keep_masked, mask_value, masked


def test_mask_shows_prefix_and_last_four_only():
    assert mask_value("sk-live-1234567890abcd") == "sk-…abcd"
    assert mask_value("short-key") == "…"
    assert mask_value({"private_key": "x"}) == "…"
    assert mask_value(None) is None


def test_masked_walks_the_whole_tree():
    body = {
        "apiKey": "sk-top-secret-000000",
        "targets": [
            {"provider": "openai", "api_key": "sk-nested-secret-1111", "override_params": {"a": 1}},
            {"aws_secret_access_key": "AKIA-very-secret-2222", "provider": "bedrock"},
        ],
    }
    text = str(masked(body))
    for secret in ("sk-top-secret-000000", "sk-nested-secret-1111", "AKIA-very-secret-2222"):
        assert secret not in text
    assert masked(body)["targets"][0]["override_params"] == {"a": 1}


def test_keep_masked_only_restores_matching_masks():
    old = {"targets": [{"api_key": "sk-aaaa-bbbb-cccc"}, {"api_key": "sk-dddd-eeee-ffff"}]}
    new = {"targets": [{"api_key": "sk-…cccc"}, {"api_key": "sk-…zzzz"}, {"api_key": "k"}]}
    assert keep_masked(new, old) == {
        "targets": [{"api_key": "sk-aaaa-bbbb-cccc"}, {"api_key": "sk-…zzzz"}, {"api_key": "k"}]
    }
