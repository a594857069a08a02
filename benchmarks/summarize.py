"""Turn a pytest-benchmark JSON file into a Markdown table of medians, throughput and ratios.

    python benchmarks/summarize.py out.json [--baseline codeclens]

In each group, the ratio column is (peer median) / (baseline median): above 1 means the baseline is faster.
"""

from __future__ import annotations

import argparse
import json
import re
from collections import defaultdict


def variant_name(bench: dict) -> str:
    """The parameter that distinguishes members of a group (library, threads or operation)."""
    params = bench.get("params") or {}
    for key in ("lib", "threads", "op", "impl", "how"):
        if key in params and not (key == "op" and "threads" in params):
            return f"{key}={params[key]}"
    return re.sub(r"^test_", "", bench["name"])


def summarize(path: str, baseline: str) -> str:
    with open(path) as f:
        data = json.load(f)
    groups: dict[str, list[dict]] = defaultdict(list)
    for b in data["benchmarks"]:
        groups[b["group"]].append(b)
    machine = data.get("machine_info", {})
    lines = [f"Machine: {machine.get('cpu', {}).get('brand_raw', machine.get('processor', '?'))}, "
             f"Python {machine.get('python_version', '?')}", "",
             "| group | variant | median ms | MP/s | ratio vs baseline |", "|---|---|---:|---:|---:|"]
    for group, benches in sorted(groups.items()):
        base = next((b for b in benches if baseline in variant_name(b)), benches[0])
        for b in sorted(benches, key=lambda b: b["stats"]["median"]):
            med = b["stats"]["median"]
            mp = b.get("extra_info", {}).get("megapixels")
            mps = f"{mp / med:.1f}" if mp and med else "–"
            lines.append(f"| {group} | {variant_name(b)} | {med * 1e3:.2f} | {mps} | "
                         f"{med / base['stats']['median']:.2f} |")
    return "\n".join(lines + _measurements(groups))


_TIMING_INFO = {"megapixels", "mpix_per_s", "machine", "how"}


def _measurements(groups: dict[str, list[dict]]) -> list[str]:
    """Tables of what single-round benchmarks measured themselves (``extra_info``: items/s, RSS, ratios...)."""
    lines: list[str] = []
    for group, benches in sorted(groups.items()):
        keys = list(dict.fromkeys(k for b in benches for k in b.get("extra_info", {}) if k not in _TIMING_INFO))
        if not keys:
            continue
        lines += ["", f"{group}:", "", "| variant | " + " | ".join(keys) + " |", "|---|" + "---:|" * len(keys)]
        for b in benches:
            info = b.get("extra_info", {})
            cells = [f"{info[k]:.4g}" if isinstance(info.get(k), float) else str(info.get(k, "–")) for k in keys]
            lines.append(f"| {info.get('how', variant_name(b))} | " + " | ".join(cells) + " |")
    return lines


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("json")
    ap.add_argument("--baseline", default="codeclens", help="variant substring used as the ratio's denominator")
    args = ap.parse_args()
    print(summarize(args.json, args.baseline))


if __name__ == "__main__":
    main()
