"""Synthetic results tables (the contract of codeclens.analysis.table) for the analysis tests."""

from __future__ import annotations

import numpy as np

JPEG_Q = (100, 90, 80, 70, 60, 50, 40, 30, 20, 10)
HEVC_QP = (30, 35, 40, 45, 50)
J2K_CR = (10, 25, 50, 100, 200)


def row(photo, setting, codec, quality, rank, nbytes, *, model="m", label=7, scale=1.0, color="rgb", top1=None,
        top5=None, ssim=1.0, bpp=None, pixels=10_000, source_nbytes=None, status="ok"):
    """One result row; top-1/top-5 consistent with ``rank`` unless given."""
    if top5 is None:
        others = [900 + i for i in range(5)]
        top5 = others[:rank - 1] + [label] + others[rank - 1:4] if rank <= 5 else others
        top5 = top5[:5]
    if top1 is None:
        top1 = top5[0]
    src = nbytes if source_nbytes is None else source_nbytes
    if status != "ok":  # the contract: metric/prediction columns NaN / -1
        return {"photo": photo, "label": label, "model": model, "codec": codec, "setting": setting,
                "quality": float(quality), "scale": scale, "color": color, "nbytes": -1, "bpp": np.nan,
                "cr_raw": np.nan, "cr_source": np.nan, "psnr": np.nan, "ssim": np.nan, "rank": -1,
                "p_true": np.nan, "top1": -1, "top5": [-1] * 5, "status": status, "error": "boom"}
    return {"photo": photo, "label": label, "model": model, "codec": codec, "setting": setting,
            "quality": float(quality), "scale": scale, "color": color, "nbytes": nbytes,
            "bpp": 8.0 * nbytes / (pixels * scale * scale) if bpp is None else bpp,
            "cr_raw": 24.0 * pixels * scale * scale / (8 * nbytes), "cr_source": src / nbytes,
            "psnr": 40.0, "ssim": ssim, "rank": rank, "p_true": 0.5, "top1": top1, "top5": list(top5),
            "status": status, "error": "" if status == "ok" else "boom"}


def to_table(rows):
    names = list(rows[0])
    out = {}
    for n in names:
        vals = [r[n] for r in rows]
        if n == "top5":
            out[n] = np.array(vals, dtype=np.int64).reshape(-1, 5)
        elif isinstance(vals[0], str):
            out[n] = np.array(vals, dtype=object)
        else:
            out[n] = np.array(vals)
    return out


def synthetic_study(n_photos=12, seed=0, models=("m",), scales=(1.0, 0.5), colors=("rgb", "gray"),
                    codecs=("jpeg", "hevc", "jpeg2000")):
    """A study-like table: each photo has an SSIM threshold; versions below it lose rank; gray loses more;
    JPEG sometimes improves badly-ranked photos."""
    rng = np.random.default_rng(seed)
    rows = []
    grids = {"jpeg": [(q, 1 - q / 100.0) for q in JPEG_Q], "hevc": [(q, (q - 25) / 30) for q in HEVC_QP],
             "jpeg2000": [(q, np.log(q) / np.log(250)) for q in J2K_CR]}
    for model in models:
        for p in range(n_photos):
            photo = f"p{p:02d}"
            orig_rank = int(rng.choice([1, 1, 1, 2, 3, 80]))
            src = int(rng.integers(40_000, 120_000))
            thr = rng.uniform(0.6, 0.9)
            rows.append(row(photo, "original", "original", np.nan, orig_rank, src, model=model, source_nbytes=src,
                            pixels=100_000))
            for codec in codecs:
                for scale in scales:
                    for color in colors:
                        for q, c in grids[codec]:
                            ssim = float(np.clip(1 - 0.5 * c - (1 - scale) * 0.3 + rng.normal(0, 0.01), 0, 1))
                            r = orig_rank if ssim >= thr else orig_rank + int(rng.integers(1, 40))
                            if color == "gray":
                                r += int(rng.integers(0, 20))
                            if codec == "jpeg" and orig_rank > 50 and 0.3 < c < 0.8:
                                r = max(1, orig_rank - int(rng.integers(5, 60)))
                            nb = max(200, int(src * scale * scale * (1 - 0.9 * c) / (1.5 if codec != "jpeg" else 1)))
                            rows.append(row(photo, f"{codec}:q={q:g},scale={scale:g},color={color}", codec, q, r, nb,
                                            model=model, scale=scale, color=color, ssim=ssim, source_nbytes=src,
                                            pixels=100_000))
    return to_table(rows)
