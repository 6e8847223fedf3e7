"""The user-visible prompt of a request: the text the semantic cache embeds and compares.

Per spec §4.1 the semantic cache covers chat and text completions only, for short
conversations (≤ 4 messages), and a leading system message is not part of the compared text when
there are ≥ 2 messages. Unlike hosted Portkey, that system message is not *ignored*: it goes into
the scope (must match exactly), because "answer in French" and "answer in German" must not share.
Requests whose prompt is not plain text (images, audio, tool results) are left to the exact cache.
"""

from __future__ import annotations

from typing import Any

import msgspec

MAX_MESSAGES = 4


class Prompt(msgspec.Struct, frozen=True):
    text: str
    """What is embedded and checked by the guard."""
    exact: Any
    """Prompt parts that must match exactly (the leading system message), or None."""


def _content_text(content: Any) -> str | None:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        parts = []
        for part in content:
            if not isinstance(part, dict) or part.get("type") != "text":
                return None
            text = part.get("text")
            if not isinstance(text, str):
                return None
            parts.append(text)
        return "\n".join(parts)
    return None


def chat_prompt(body: dict[str, Any]) -> Prompt | None:
    messages = body.get("messages")
    if not isinstance(messages, list) or not 1 <= len(messages) <= MAX_MESSAGES:
        return None
    exact = None
    first = messages[0]
    if (
        len(messages) >= 2
        and isinstance(first, dict)
        and first.get("role") in ("system", "developer")
    ):
        exact, messages = first, messages[1:]
    lines = []
    for m in messages:
        if (
            not isinstance(m, dict)
            or m.get("tool_calls")
            or m.get("role") not in ("user", "assistant", "system", "developer")
        ):
            return None
        text = _content_text(m.get("content"))
        if text is None:
            return None
        lines.append((m["role"], text))
    if len(lines) == 1 and lines[0][0] == "user":
        return Prompt(lines[0][1], exact)
    return Prompt("\n".join(f"{role}: {text}" for role, text in lines), exact)


def completion_prompt(body: dict[str, Any]) -> Prompt | None:
    prompt = body.get("prompt")
    if isinstance(prompt, list) and len(prompt) == 1:
        prompt = prompt[0]
    if isinstance(prompt, str):
        return Prompt(prompt, None)
    return None


def semantic_prompt(endpoint: str, body: Any, max_chars: int) -> Prompt | None:
    """The prompt to compare by meaning, or None when this request is exact-cache only."""
    if not isinstance(body, dict):
        return None
    if endpoint == "chat":
        p = chat_prompt(body)
    elif endpoint == "completions":
        p = completion_prompt(body)
    else:
        return None
    if p is None or not p.text.strip() or len(p.text) > max_chars:
        return None
    return p
