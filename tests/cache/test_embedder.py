from __future__ import annotations

import asyncio
import shutil

import numpy as np
import pytest
from aiohttp import web

from cache.embedder import TOKENIZER_PATH, EmbedderError, MiniLMEmbedder, UpstreamEmbedder


async def test_minilm_vectors_are_normalised_and_meaningful(minilm):
    a = await minilm.embed("What is the capital of France?")
    b = await minilm.embed("What's the capital city of France")
    c = await minilm.embed("How do I bake sourdough bread?")
    assert a.shape == (384,) and a.dtype == np.float32
    assert np.linalg.norm(a) == pytest.approx(1.0, abs=1e-5)
    assert float(a @ b) > 0.8 > 0.3 > float(a @ c)


async def test_minilm_runs_off_the_event_loop(minilm):
    ticks = 0
    done = False

    async def ticker():
        nonlocal ticks
        while not done:
            ticks += 1
            await asyncio.sleep(0)

    t = asyncio.ensure_future(ticker())
    for i in range(10):
        await minilm.embed(f"prompt number {i} about something long enough to take a while")
    done = True
    await t
    assert ticks >= 10  # the loop kept running while the model did


def test_tampered_tokenizer_is_refused(tmp_path):
    bad = tmp_path / "tokenizer.json"
    shutil.copy(TOKENIZER_PATH, bad)
    with bad.open("ab") as f:
        f.write(b" ")
    with pytest.raises(EmbedderError, match="sha256"):
        MiniLMEmbedder.load(tokenizer_path=bad)


async def test_upstream_embedder_against_a_local_fake(aiohttp_server):
    seen = {}

    async def embeddings(request: web.Request) -> web.Response:
        body = await request.json()
        seen["auth"] = request.headers.get("authorization")
        seen["body"] = body
        if body["input"] == "fail":
            return web.json_response({"error": "x"}, status=500)
        return web.json_response(
            {
                "object": "list",
                "data": [{"object": "embedding", "index": 0, "embedding": [3.0, 4.0, 0.0]}],
            }
        )

    app = web.Application()
    app.router.add_post("/v1/embeddings", embeddings)
    server = await aiohttp_server(app, host="127.0.0.1")
    emb = UpstreamEmbedder(str(server.make_url("/v1/embeddings")), "bge-small", api_key="k-123")
    try:
        vec = await emb.embed("hello")
        assert np.allclose(vec, [0.6, 0.8, 0.0])
        assert seen == {"auth": "Bearer k-123", "body": {"model": "bge-small", "input": "hello"}}
        assert "k-123" not in repr(emb)
        with pytest.raises(EmbedderError, match="500"):
            await emb.embed("fail")
    finally:
        await emb.close()
