"""The run's report: the printed table, ``results.json`` and ``latency.png``.

A row is a dict made by `bench.run` (scenario, target, figures, the raw tool results). Gateway
rows get an ``overhead`` entry computed here against their baseline direct row: the req/s ratio,
the latency added at p50/p99/TTFB, and the CPU time added per request.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

Row = dict[str, Any]

_COLUMNS = (
    "scenario",
    "target",
    "req/s@32",
    "p50@1",
    "p99@1",
    "TTFB p50",
    "CPU/req",
    "busy",
    "+p50",
    "+p99",
    "+TTFB",
    "req/s ratio",
)


def add_overhead(rows: list[Row]) -> None:
    """Fill ``row["overhead"]`` for every measured gateway row that has a measured baseline."""
    direct = {r["scenario"]: r for r in rows if r["target"] == "direct" and not r.get("skipped")}
    for row in rows:
        base = direct.get(row.get("baseline") or "")
        if row["target"] == "direct" or row.get("skipped") or base is None:
            continue
        row["overhead"] = {
            "vs": f"{base['scenario']}/direct",
            "rps_ratio": row["rps"] / base["rps"] if base["rps"] else None,
            "p50_added_ms": row["p50_ms"] - base["p50_ms"],
            "p99_added_ms": row["p99_ms"] - base["p99_ms"],
            "ttfb_p50_added_ms": row["ttfb_p50_ms"] - base["ttfb_p50_ms"],
        }


def _ms(v: float | None, sign: bool = False) -> str:
    if v is None:
        return "-"
    return f"{v:+.3f} ms" if sign else f"{v:.3f} ms"


def _cells(row: Row) -> list[str]:
    if row.get("skipped"):
        return [row["scenario"], row["target"], "skipped: " + row["skipped"]] + [""] * 9
    over = row.get("overhead") or {}
    cpu = row.get("cpu_us_per_req")
    ratio = over.get("rps_ratio")
    return [
        row["scenario"],
        row["target"],
        f"{row['rps']:,.0f}",
        _ms(row["p50_ms"]),
        _ms(row["p99_ms"]),
        _ms(row["ttfb_p50_ms"]),
        f"{cpu:.0f} µs" if cpu else "-",
        f"{row['busy_pct']:.0f} %" if row.get("busy_pct") is not None else "-",
        _ms(over.get("p50_added_ms"), True),
        _ms(over.get("p99_added_ms"), True),
        _ms(over.get("ttfb_p50_added_ms"), True),
        f"{ratio:.2f}" if ratio else "-",
    ]


def table(rows: list[Row]) -> str:
    """The rows as an aligned Markdown table (pastes into a README as it is)."""
    body = [_cells(r) for r in rows]
    skipped = [r for r in body if r[2].startswith("skipped")]
    measured = [r for r in body if not r[2].startswith("skipped")]
    widths = [max(len(c[i]) for c in [list(_COLUMNS), *measured]) for i in range(len(_COLUMNS))]
    right = [i >= 2 for i in range(len(_COLUMNS))]

    def line(cells: list[str]) -> str:
        out = [
            c.rjust(w) if r else c.ljust(w) for c, w, r in zip(cells, widths, right, strict=True)
        ]
        return "| " + " | ".join(out) + " |"

    sep = (
        "|"
        + "|".join(
            ("-" * (w + 1) + ":") if r else ("-" * (w + 2))
            for w, r in zip(widths, right, strict=True)
        )
        + "|"
    )
    lines = [line(list(_COLUMNS)), sep, *(line(c) for c in measured)]
    lines += [f"{c[0]} / {c[1]}: {c[2]}" for c in skipped]
    return "\n".join(lines)


def legend(meta: dict[str, Any]) -> str:
    m = meta["machine"]
    s = meta["settings"]
    return (
        f"req/s@32: {s['connections']} connections, {s['seconds']:g} s; p50/p99@1: one "
        f"connection; TTFB: time to the first body chunk at one connection; CPU/req: CPU time "
        f"of the process under test (gateway, or upstream for direct) per request at 32 "
        f"connections; busy: that process's CPU use during that run (below ~95 % for a gateway "
        f"row, the load side, not the gateway, set req/s@32); +x: added over the baseline "
        f"direct row. Stream rows: "
        f"{s['stream_chunks']} chunks, measured with bench.loadclient; others with wrk.\n"
        f"{m['nproc']} × {m['cpu_model']}, Python {m['python']}, {s['pinning']}; "
        f"CPU steal during the run: {m.get('during_run', {}).get('steal_pct', '?')} %."
    )


def write_json(path: Path, meta: dict[str, Any], rows: list[Row]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({**meta, "rows": rows}, indent=2) + "\n")


def plot(path: Path, rows: list[Row]) -> None:
    """Latency percentiles at one connection (left) and p50/p99/TTFB per row (right)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    measured = [r for r in rows if not r.get("skipped")]
    fig, (curves, bars) = plt.subplots(1, 2, figsize=(13, 5), constrained_layout=True)
    for r in measured:
        points = r["runs"]["latency"]["curve_ms"]
        style = "-" if r["target"] == "direct" else "--"
        curves.plot(
            [p for p, _ in points],
            [v for _, v in points],
            style,
            marker=".",
            label=f"{r['scenario']} / {r['target']}",
        )
    curves.set_yscale("log")
    curves.set_xlabel("percentile")
    curves.set_ylabel("latency at 1 connection (ms, log)")
    curves.set_title("Latency distribution, one connection")
    curves.grid(True, which="both", alpha=0.3)
    curves.legend(fontsize=8)

    width = 0.27
    xs = range(len(measured))
    for i, (key, label) in enumerate(
        (("p50_ms", "p50"), ("p99_ms", "p99"), ("ttfb_p50_ms", "TTFB p50"))
    ):
        bars.bar([x + (i - 1) * width for x in xs], [r[key] for r in measured], width, label=label)
    bars.set_xticks(list(xs), [f"{r['scenario']}\n{r['target']}" for r in measured], fontsize=8)
    bars.set_ylabel("ms")
    bars.set_title("p50 / p99 / TTFB p50 at one connection")
    bars.grid(True, axis="y", alpha=0.3)
    bars.legend(fontsize=8)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)


def cache_lines(rows: list[Row], micro: dict[str, Any] | None) -> list[str]:
    """The semantic rows' embed and FAISS search times, as the gateway timed them during the
    one-connection run, and the cache micro-benchmarks (`bench.cache_bench`)."""
    out = []
    for r in rows:
        c = r.get("cache")
        if not c:
            continue
        e, s = c["embed_ms"], c["search_ms"]
        kinds = ", ".join(f"{k} {v}" for k, v in c["semantic_index"].items() if v)
        out.append(
            f"{r['scenario']} / {r['target']} (timed inside the gateway, 1 connection, "
            f"{e['n']} lookups): embed p50 {e['p50']} ms (p99 {e['p99']}), FAISS search p50 "
            f"{s['p50']} ms (p99 {s['p99']}), {c['semantic_vectors']:,} vectors ({kinds} scopes)"
        )
    if micro:
        if "error" in micro:
            out.append(f"cache micro-benchmarks failed: {micro['error'][-300:]}")
        else:
            emb = micro["embed_minilm_int8"]
            ivf, flat = micro["faiss_ivf_100k_search"], micro["faiss_flat_100k_search"]
            others = [v for k, v in micro.items() if k.startswith("embed_minilm_int8_")]
            alt = "".join(f", {o['threads']} thr {o['p50_ms']} ms" for o in others)
            out.append(
                f"cache micro (bench.cache_bench, gateway CPU): embed p50 {emb['p50_ms']} ms "
                f"({emb['threads']} thr, the gateway's default{alt}); FAISS search p50 at "
                f"{ivf['entries']:,}: IVF {ivf['p50_ms']} ms (recall@1 {ivf['recall_at_1']}), "
                f"flat {flat['p50_ms']} ms"
            )
    return out
