"""``lockgate configs …`` end to end on a data dir (in process, real SQLite)."""

from __future__ import annotations

import json

from proxy.cli import main

SECRET = "sk-cli-secret-5555wxyz"


def run(capsys, *argv):
    code = main(["configs", *argv])
    out, err = capsys.readouterr()
    return code, out, err


def test_create_list_show_update_delete(tmp_path, capsys):
    d = ["--data-dir", str(tmp_path)]
    cfg = json.dumps({"provider": "openai", "api_key": SECRET})
    code, out, _ = run(capsys, "create", cfg, "--name", "Nightly batch", *d)
    assert code == 0 and out.startswith("created pc-nightly-batch-")
    cid = out.split()[1]

    code, out, _ = run(capsys, "list", *d)
    assert code == 0 and out.splitlines()[0].split() == ["ID", "VERSION", "UPDATED_AT", "NAME"]
    assert cid in out and "Nightly batch" in out

    code, out, _ = run(capsys, "show", cid, *d)
    assert code == 0 and SECRET not in out and '"api_key": "sk-…wxyz"' in out

    f = tmp_path / "next.json"
    f.write_text(json.dumps({"provider": "groq", "api_key": "gsk-next-key-0001"}))
    code, out, _ = run(capsys, "update", cid, "--file", str(f), *d)
    assert (code, out.strip()) == (0, f"updated {cid} (version 2)")
    code, out, _ = run(capsys, "show", cid, "--versions", *d)
    assert [line.split()[0] for line in out.splitlines()[1:]] == ["1", "2"]
    code, out, _ = run(capsys, "show", cid, "--version", "1", *d)
    assert '"provider": "openai"' in out and SECRET not in out

    code, out, _ = run(capsys, "delete", cid, *d)
    assert (code, out.strip()) == (0, f"deleted {cid}")
    code, _, err = run(capsys, "show", cid, *d)
    assert code == 1 and "no saved config" in err


def test_invalid_input_is_a_readable_error(tmp_path, capsys):
    d = ["--data-dir", str(tmp_path)]
    bad = json.dumps({"mode": "fallback", "options": [{"provider": "openai", "weight": "x"}]})
    code, out, err = run(capsys, "create", bad, *d)
    assert code == 2 and out == ""
    assert err.strip() == (
        "lockgate configs: Invalid config: targets[0].weight: expected a number, got a string"
    )
    code, _, err = run(capsys, "create", "{oops", *d)
    assert code == 2 and "not valid JSON" in err and "Traceback" not in err
    code, _, err = run(capsys, "create", *d)
    assert code == 2 and "inline or with --file" in err
