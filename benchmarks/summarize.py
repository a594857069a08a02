"""Turn a pytest-benchmark JSON file into a Markdown table of medians, throughput and ratios.

    python benchmarks/summarize.py out.json [--baseline codeclens]

In each group, the ratio column is (peer median) / (baseline median): above 1 means the baseline is faster.
A second table lists, per group, every peer's ratio on one line, with the metric kernels' instruction set.
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


def find_baseline(benches: list[dict], baseline: str) -> dict | None:
    """The group's member named exactly `baseline` (lib=codeclens), else the first whose name contains it."""
    exact = [b for b in benches if variant_name(b).split("=", 1)[-1] == baseline]
    return exact[0] if exact else next((b for b in benches if baseline in variant_name(b)), None)


def load_groups(path: str) -> tuple[dict, dict[str, list[dict]]]:
    """The JSON document and its benchmarks by group."""
    with open(path) as f:
        data = json.load(f)
    groups: dict[str, list[dict]] = defaultdict(list)
    for b in data["benchmarks"]:
        groups[b["group"]].append(b)
    return data, groups


def ratio_summary(path: str, baseline: str) -> str:
    """One row per group: 'peer ratio' for every peer against the baseline, and the kernel ISA used."""
    _, groups = load_groups(path)
    lines = [f"| group | peer median / {baseline} median | kernel ISA |", "|---|---|---|"]
    for group, benches in sorted(groups.items()):
        base = find_baseline(benches, baseline)
        if base is None or len(benches) < 2:
            continue
        peers = sorted((b for b in benches if b is not base), key=lambda b: b["stats"]["median"])
        ratios = ", ".join(f"{variant_name(b).split('=', 1)[-1]} {b['stats']['median'] / base['stats']['median']:.2f}"
                           for b in peers)
        isa = base.get("extra_info", {}).get("kernel_isa", "–")
        lines.append(f"| {group} | {ratios} | {isa} |")
    return "\n".join(lines)


def summarize(path: str, baseline: str) -> str:
    data, groups = load_groups(path)
    machine = data.get("machine_info", {})
    lines = [f"Machine: {machine.get('cpu', {}).get('brand_raw', machine.get('processor', '?'))}, "
             f"Python {machine.get('python_version', '?')}", "",
             "| group | variant | median ms | MP/s | ratio vs baseline |", "|---|---|---:|---:|---:|"]
    for group, benches in sorted(groups.items()):
        base = find_baseline(benches, baseline) or benches[0]
        for b in sorted(benches, key=lambda b: b["stats"]["median"]):
            med = b["stats"]["median"]
            mp = b.get("extra_info", {}).get("megapixels")
            mps = f"{mp / med:.1f}" if mp and med else "–"
            lines.append(f"| {group} | {variant_name(b)} | {med * 1e3:.2f} | {mps} | "
                         f"{med / base['stats']['median']:.2f} |")
    return "\n".join(lines + _measurements(groups))


_TIMING_INFO = {"megapixels", "mpix_per_s", "machine", "how", "kernel_isa"}


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
    print()
    print(ratio_summary(args.json, args.baseline))


if __name__ == "__main__":
    main()
