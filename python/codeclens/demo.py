"""``codeclens demo``: decode, re-encode and read the DCT of the embedded sample photos, print a table (a
quick check of the JPEG core: probe, decode and coefficients through :mod:`codeclens.jpeg`, re-encoding
through the ``jpeg`` codec of :mod:`codeclens.codecs`)."""

from __future__ import annotations

import argparse
import sys


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("demo", help="decode / re-encode / read the DCT of the embedded photos")
    p.add_argument("--quality", type=int, nargs="+", default=[90, 50, 10], help="JPEG qualities")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import numpy as np

    from . import jpeg
    from .codecs import get_codec
    from .data import sample_photos
    from .measures import bits_per_pixel

    codec = get_codec("jpeg")
    photos = sample_photos()
    print(f"{'photo':<20} {'size':>9} {'src KB':>7} {'src Q':>5} " + " ".join(
        f"{'Q' + str(q) + ' KB':>8} {'bpp':>5}" for q in args.quality) + f" {'DC(Y) mean':>10}")
    for photo in photos:
        data = photo.path.read_bytes()
        info = jpeg.probe(data)
        pixels = codec.decode(data)
        cells = []
        for q in args.quality:
            size = codec.stream_size(codec.encode(pixels, quality=q))
            cells.append(f"{size / 1024:8.1f} {bits_per_pixel(size, info.width, info.height):5.2f}")
        coeffs = jpeg.read_coefficients(data)
        dc = coeffs.components[0].coefficients[:, :, 0, 0].astype(np.float64) * coeffs.components[0].qtable[0, 0]
        print(f"{photo.name:<20} {info.width:>4}x{info.height:<4} {len(data) / 1024:7.1f} "
              f"{info.quality:>5} " + " ".join(cells) + f" {dc.mean():10.1f}")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m codeclens.demo")
    sub = parser.add_subparsers()
    register(sub)
    return run(parser.parse_args(["demo", *(argv if argv is not None else sys.argv[1:])]))


if __name__ == "__main__":
    sys.exit(main())
