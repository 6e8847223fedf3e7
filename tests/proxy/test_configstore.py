"""The saved-config store: versions, validation, ids, and a request path served from memory."""

from __future__ import annotations

import sqlite3

import pytest

from proxy.configstore import ConfigStore, StoreError, db_path
from proxy.providers import REGISTRY

CFG = {"provider": "openai", "api_key": "sk-live-0000aaaa1111"}


@pytest.fixture
async def store(tmp_path):
    s = await ConfigStore(db_path(tmp_path), REGISTRY).open()
    yield s
    await s.close()


async def test_create_update_keeps_every_version(store):
    saved = await store.create(CFG, name="Prod chat")
    assert saved.id.startswith("pc-prod-chat-") and len(saved.id) == len("pc-prod-chat-") + 6
    v2 = {"provider": "groq", "api_key": "gsk-1"}
    updated = await store.update(saved.id, v2, name="renamed")
    assert updated.version == 2 and updated.name == "renamed"
    assert (await store.get(saved.id)).config == v2
    assert (await store.get(saved.id, 1)).config == CFG
    assert [(v.version, v.name) for v in await store.versions(saved.id)] == [
        (1, "Prod chat"),
        (2, "renamed"),
    ]
    assert [s.id for s in await store.list()] == [saved.id]


async def test_user_ids_and_conflicts(store):
    await store.create(CFG, config_id="pc-mine")
    with pytest.raises(StoreError) as e:
        await store.create(CFG, config_id="pc-mine")
    assert e.value.status == 409
    for bad in ("mine", "pc-", "pc-a b", "pc-" + "x" * 80):
        with pytest.raises(StoreError) as e:
            await store.create(CFG, config_id=bad)
        assert e.value.status == 400


async def test_invalid_configs_are_refused_naming_the_path(store):
    bad = {"strategy": {"mode": "loadbalance"}, "targets": [CFG, {"provider": "x", "weight": 1}]}
    with pytest.raises(StoreError) as e:
        await store.create(bad)
    assert e.value.status == 400 and e.value.message == (
        "Invalid config: targets[1].provider: unknown provider 'x'"
    )
    saved = await store.create(CFG)
    with pytest.raises(StoreError) as e:
        await store.update(saved.id, {"provider": "openai", "request_timeout": "soon"})
    assert "request_timeout: expected an integer" in e.value.message
    assert (await store.get(saved.id)).version == 1  # nothing written


async def test_update_and_delete_of_unknown_ids(store):
    with pytest.raises(StoreError) as e:
        await store.update("pc-none", CFG)
    assert e.value.status == 404
    assert await store.delete("pc-none") is False
    saved = await store.create(CFG)
    assert await store.delete(saved.id) is True
    assert await store.get(saved.id) is None and await store.versions(saved.id) is None


async def test_a_secret_sent_back_masked_keeps_its_value(store):
    saved = await store.create({"strategy": {"mode": "fallback"}, "targets": [CFG, CFG]})
    edited = {
        "strategy": {"mode": "fallback"},
        "targets": [
            {"provider": "openai", "api_key": "sk-…1111"},  # as shown: kept
            {"provider": "openai", "api_key": "sk-new-key-9999zzzz"},  # replaced
        ],
    }
    await store.update(saved.id, edited)
    keys = [t["api_key"] for t in (await store.get(saved.id)).config["targets"]]
    assert keys == [CFG["api_key"], "sk-new-key-9999zzzz"]


async def test_lookup_reads_the_disk_once_then_memory(store):
    saved = await store.create(CFG)
    first = await store.lookup(saved.id)
    assert first.provider == "openai" and await store.lookup("pc-missing") is None
    db, store._db = store._db, None  # any disk access now raises
    try:
        assert await store.lookup(saved.id) == first
        assert await store.lookup("pc-missing") is None
    finally:
        store._db = db


async def test_writes_through_the_store_invalidate_at_once(store):
    saved = await store.create(CFG)
    assert (await store.lookup(saved.id)).provider == "openai"
    await store.update(saved.id, {"provider": "groq"})
    assert (await store.lookup(saved.id)).provider == "groq"
    await store.delete(saved.id)
    assert await store.lookup(saved.id) is None


async def test_refresh_sees_writes_of_another_process(store, tmp_path):
    saved = await store.create(CFG)
    assert (await store.lookup(saved.id)).provider == "openai"
    assert await store.lookup("pc-later") is None
    other = await ConfigStore(db_path(tmp_path), REGISTRY).open()  # e.g. the CLI
    try:
        await other.update(saved.id, {"provider": "groq"})
        await other.create(CFG, config_id="pc-later")
    finally:
        await other.close()
    assert (await store.lookup(saved.id)).provider == "openai"  # until the refresh
    await store.refresh()
    assert (await store.lookup(saved.id)).provider == "groq"
    assert (await store.lookup("pc-later")).provider == "openai"


async def test_own_tables_in_a_shared_wal_file(store, tmp_path):
    con = sqlite3.connect(db_path(tmp_path))
    try:
        con.execute("CREATE TABLE IF NOT EXISTS someone_elses (x)")
        tables = {r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        assert {"configs", "config_versions", "someone_elses"} <= tables
        assert con.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    finally:
        con.close()
    again = await ConfigStore(db_path(tmp_path), REGISTRY).open()  # reopening is harmless
    await again.close()
