#!/usr/bin/env python3
"""Plots edge-bench sweeps (its llama-bench-compatible JSON, `-o json`).

    # t/s vs threads, and decode t/s vs context depth for two K/V cache types:
    edge-bench -p 128 -n 32 -t 1,2 -r 3 -o json > target/threads.json
    edge-bench -p 0 -n 32 -d 0,512,1024,2048,4096 --ctk f16,q8_0 --ctv f16,q8_0 -r 3 -o json > target/depth.json
    python3 -m pip install matplotlib   # once
    python3 scripts/plot_bench.py threads target/threads.json docs/bench_threads.png
    python3 scripts/plot_bench.py depth target/depth.json docs/bench_depth.png
"""
import json
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


def test_name(r: dict) -> str:
    if r["n_gen"] == 0:
        return f"pp{r['n_prompt']}"
    if r["n_prompt"] == 0:
        return f"tg{r['n_gen']}"
    return f"pp{r['n_prompt']}+tg{r['n_gen']}"


def series(rows, key, group):
    """{group label: [(x, mean, stddev)]}, sorted by x."""
    out = {}
    for r in rows:
        out.setdefault(group(r), []).append((r[key], r["avg_ts"], r["stddev_ts"]))
    return {k: sorted(v) for k, v in sorted(out.items())}


def plot(ax, data, xlabel, title):
    for label, pts in data.items():
        xs, ys, es = zip(*pts)
        ax.errorbar(xs, ys, yerr=es, marker="o", capsize=3, label=label)
    ax.set_xlabel(xlabel)
    ax.set_ylabel("tokens / s")
    ax.set_title(title, fontsize=10)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)


def main() -> None:
    kind, src, dst = sys.argv[1], sys.argv[2], sys.argv[3]
    with open(src) as f:
        rows = json.load(f)
    machine = rows[0]["cpu_info"] if rows else ""
    model = rows[0]["model_type"] if rows else ""
    if kind == "threads":
        tests = sorted({test_name(r) for r in rows})
        fig, axes = plt.subplots(1, len(tests), figsize=(4.2 * len(tests), 3.4), dpi=90)
        axes = axes if len(tests) > 1 else [axes]
        for ax, t in zip(axes, tests):
            data = series(
                [r for r in rows if test_name(r) == t],
                "n_threads",
                lambda r: f"K {r['type_k']} / V {r['type_v']}",
            )
            plot(ax, data, "threads", t)
            ax.set_xticks(sorted({r["n_threads"] for r in rows}))
    elif kind == "depth":
        fig, ax = plt.subplots(figsize=(6.0, 3.8), dpi=90)
        data = series(
            rows,
            "n_depth",
            lambda r: f"{test_name(r)}, K {r['type_k']} / V {r['type_v']}, fa {r['flash_attn']}",
        )
        plot(ax, data, "context depth (tokens already in the cache)", "decode speed vs depth")
    else:
        sys.exit(f"unknown plot kind {kind!r}: use threads or depth")
    fig.suptitle(f"{model} · {machine}", fontsize=8)
    fig.tight_layout()
    fig.savefig(dst)
    print(f"wrote {dst}")


if __name__ == "__main__":
    main()
