#!/usr/bin/env python3
"""Plots mean KL divergence against KV bytes per token from `kv_quality --json`.

    cargo run --release --example kv_quality -- --json target/kv_quality.json
    python3 -m pip install matplotlib   # once
    python3 scripts/plot_kv_quality.py target/kv_quality.json docs/kv_kld_vs_bytes.png
"""
import json
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


def main() -> None:
    src, out = sys.argv[1], sys.argv[2]
    with open(src) as f:
        report = json.load(f)
    rows = [r for r in report["rows"] if r["name"] != "f16"]
    style = {
        "uniform": ("o", "tab:blue"),
        "kv-split": ("s", "tab:purple"),
        "hybrid": ("D", "tab:green"),
        "scan": ("x", "tab:orange"),
    }
    fig, ax = plt.subplots(figsize=(6.4, 4.0), dpi=90)
    seen = set()
    for r in rows:
        marker, color = style[r["kind"]]
        label = r["kind"] if r["kind"] not in seen else None
        seen.add(r["kind"])
        x = r["bytes_per_token_full"] / 1024.0
        ax.errorbar(x, r["kld_mean"], yerr=r["kld_err"], fmt=marker, color=color,
                    label=label, capsize=2, markersize=5)
        short = r["name"].split(":")[0]
        if r["kind"] != "scan":
            ax.annotate(short, (x, r["kld_mean"]), textcoords="offset points",
                        xytext=(5, 3), fontsize=7)
    ax.set_xlabel("KV cache KiB per token (all 18 layers, full context)")
    ax.set_ylabel("mean KL divergence from f16 cache (nats)")
    ax.set_yscale("log")
    ax.set_title(f"{report['model']}: KV cache type vs quality\n"
                 f"{report['scored_tokens']} scored tokens, chunks of {report['ctx']}",
                 fontsize=9)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(out)
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
