"""Typed JSON shapes of the log API (encoded and decoded with msgspec)."""

from __future__ import annotations

from typing import Annotated, Any

import msgspec
from msgspec import UNSET, Meta, UnsetType


class AttemptEntry(msgspec.Struct, kw_only=True):
    seq: int
    target_path: str | None
    provider: str | None
    url: str | None
    status: int | None
    latency_ms: float | None
    ttfb_ms: float | None
    error: str | None
    started_at: float | None


class FeedbackEntry(msgspec.Struct, kw_only=True):
    id: str
    trace_id: str
    value: int
    weight: float
    metadata: dict[str, Any] | None
    created_at: float
    updated_at: float


class Detail(msgspec.Struct, omit_defaults=True):
    """The ``detail`` JSON column: the fields of a row that no filter or aggregate reads.
    (Positional: the log writer builds one per request, and keywords cost it more.)"""

    span_id: str | None = None
    parent_span_id: str | None = None
    span_name: str | None = None
    method: str = ""
    path: str = ""
    target_path: str | None = None
    attempt_count: int = 0
    retries: int = 0
    ttfb_ms: float | None = None
    cache_mode: str | None = None
    streamed: bool = False
    tokens_estimated: bool = False
    error: str | None = None
    bytes_in: int | None = None
    bytes_out: int | None = None
    attempts: list[tuple] = []
    """One ``[target_path, provider, url, status, latency_ms, ttfb_ms, error, started_at]``
    per upstream attempt, in order (the ``attempts`` view shows them as rows)."""


class LogEntry(msgspec.Struct, kw_only=True):
    id: str
    trace_id: str
    span_id: str | None
    parent_span_id: str | None
    span_name: str | None
    created_at: float
    method: str
    path: str
    endpoint: str | None
    provider: str | None
    model: str | None
    target_path: str | None
    attempt_count: int
    retries: int
    status: int
    latency_ms: float
    ttfb_ms: float | None
    cache_status: str | None
    cache_mode: str | None
    streamed: bool
    complete: bool
    prompt_tokens: int | None
    completion_tokens: int | None
    total_tokens: int | None
    tokens_estimated: bool
    cost: float | None
    metadata: dict[str, Any]
    meta_user: str | None
    meta_organisation: str | None
    meta_environment: str | None
    meta_prompt: str | None
    error: str | None
    bytes_in: int | None
    bytes_out: int | None
    request_body: str | None | UnsetType = UNSET
    response_body: str | None | UnsetType = UNSET
    attempts: list[AttemptEntry] | UnsetType = UNSET
    feedback: list[FeedbackEntry] | UnsetType = UNSET


class LogPage(msgspec.Struct, kw_only=True):
    object: str = "list"
    data: list[LogEntry]
    has_more: bool
    next_cursor: str | None


class FeedbackSummary(msgspec.Struct, kw_only=True):
    count: int = 0
    avg_value: float | None = None
    weighted_avg_value: float | None = None
    positive: int = 0
    negative: int = 0


class GroupStats(msgspec.Struct, kw_only=True):
    key: str | None
    requests: int
    errors: int
    error_rate: float
    latency_p50_ms: float | None
    latency_p90_ms: float | None
    latency_p99_ms: float | None
    prompt_tokens: int
    completion_tokens: int
    total_tokens: int
    cost: float
    cache_hits: int
    feedback: FeedbackSummary


class Analytics(msgspec.Struct, kw_only=True):
    group_by: str | None
    totals: GroupStats
    groups: list[GroupStats]


Value = Annotated[int, Meta(ge=-10, le=10)]
Weight = Annotated[float, Meta(ge=0, le=1)]


class FeedbackIn(msgspec.Struct, kw_only=True):
    """What ``portkey.feedback.create`` sends (spec §8.1); unknown keys are ignored."""

    trace_id: Annotated[str, Meta(min_length=1, max_length=256)]
    value: Value
    weight: Weight = 1.0
    metadata: dict[str, Any] | None = None


class FeedbackUpdate(msgspec.Struct, kw_only=True):
    value: Value | UnsetType = UNSET
    weight: Weight | UnsetType = UNSET
    metadata: dict[str, Any] | None | UnsetType = UNSET


class FeedbackResponse(msgspec.Struct, kw_only=True):
    status: str = "success"
    message: str
    feedback_ids: list[str]


class FeedbackList(msgspec.Struct, kw_only=True):
    object: str = "list"
    data: list[FeedbackEntry]


class Failure(msgspec.Struct, kw_only=True):
    status: str = "failure"
    message: str
