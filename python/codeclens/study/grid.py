"""Study grids: which versions of each photo to make. Named presets from the papers, and custom grids from
TOML/JSON files or compact command-line blocks.

A :class:`Setting` is one version: a codec with fixed parameters, or a codec at a target bits per pixel
(its rate parameter searched per photo), after a transform (scale 1, 1/2, 1/4, 1/8; rgb or gray). Its
canonical ``key`` (``"jpeg:q=90,scale=1,color=rgb"``) names it in the store; parameters equal to the codec's
default are left out of the key (the full settings are stored with each result). The original photo is the
setting ``"original"`` and is part of every grid.

Grid file (TOML or JSON, same structure)::

    name = "my-grid"
    [[block]]
    codec = "jpeg"
    scale = [1, "1/2"]
    color = ["rgb", "gray"]
    params = { quality = [90, 50, 10], subsampling = ["444"] }
    [[block]]
    codec = "jpeg2000"
    params = { layers = [[200, 40, 20], [50]] }    # a list parameter takes a list of lists
    [[block]]
    codec = "hevc"
    target_bpp = [0.25, 0.5]                       # rate-matched: QP searched per photo

Command-line block: ``"codec=jpeg quality=90,50,10 scale=1,1/2 color=rgb,gray"`` (``layers=200/40/20;50``
for list parameters, ``bpp=0.25,0.5`` for targets).
"""

from __future__ import annotations

import itertools
import json
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..codecs import codec_names, get_codec
from ..transforms import COLORS, parse_scale

ORIGINAL = "original"
_SCALE_TEXT = {1.0: "1", 0.5: "1/2", 0.25: "1/4", 0.125: "1/8"}


def _key_text(value: Any) -> str:
    """A parameter value as it appears in a setting key (``90``, ``0.5``, ``200/40/20``, ``true``)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return f"{value:g}"
    if isinstance(value, (tuple, list)):
        return "/".join(_key_text(v) for v in value)
    return str(value)


@dataclass(frozen=True)
class Setting:
    """One version of a photo. ``params`` holds only the parameters given (validated), in schema order."""

    codec: str
    params: tuple[tuple[str, Any], ...] = ()
    scale: float = 1.0
    color: str = "rgb"
    target_bpp: float | None = None

    @property
    def is_original(self) -> bool:
        return self.codec == ORIGINAL

    @property
    def key(self) -> str:
        if self.is_original:
            return ORIGINAL
        codec = get_codec(self.codec)
        schema = codec.schema()
        parts = [f"{schema[n].key or n}={_key_text(v)}" for n, v in self.params
                 if v != schema[n].default or n == codec.quality_param]
        if self.target_bpp is not None:
            parts.append(f"bpp={_key_text(self.target_bpp)}")
        parts += [f"scale={_SCALE_TEXT[self.scale]}", f"color={self.color}"]
        return f"{self.codec}:" + ",".join(parts)

    @property
    def param_dict(self) -> dict[str, Any]:
        return dict(self.params)

    def nominal_quality(self) -> float:
        """The quality column for fixed settings (NaN for the original, PNG and rate-matched settings,
        whose quality is the one found per photo)."""
        if self.is_original or self.target_bpp is not None:
            return float("nan")
        return get_codec(self.codec).quality_of(self.param_dict)

    def to_json(self) -> dict[str, Any]:
        return {"codec": self.codec, "params": {n: list(v) if isinstance(v, tuple) else v for n, v in self.params},
                "scale": self.scale, "color": self.color, "target_bpp": self.target_bpp}


ORIGINAL_SETTING = Setting(ORIGINAL)


def make_setting(codec: str, params: dict[str, Any] | None = None, scale: float | str = 1.0,
                 color: str = "rgb", target_bpp: float | None = None) -> Setting:
    """A validated Setting (ValueError / TypeError naming the bad codec, parameter, scale or colour)."""
    if codec == ORIGINAL:
        return ORIGINAL_SETTING
    c = get_codec(codec)
    if c.kind != "image":
        raise ValueError(f"codec {codec!r} is an {c.kind} codec; study grids encode photos, so they take the image "
                         f"codecs {codec_names('image')}")
    params = dict(params or {})
    full = c.check_params(params)  # validates names and values
    if color not in COLORS:
        raise ValueError(f"color must be one of {list(COLORS)}, got {color!r}")
    if target_bpp is not None:
        target_bpp = float(target_bpp)
        if not target_bpp > 0:
            raise ValueError(f"target_bpp must be > 0, got {target_bpp}")
        if c.rate is None:
            raise ValueError(f"codec {codec!r} has no rate control to search a target bpp")
        if c.rate.param in params:
            raise ValueError(f"{codec}: give either {c.rate.param} or target_bpp, not both")
    ordered = tuple((p.name, full[p.name]) for p in c.params if p.name in params)
    return Setting(codec, ordered, parse_scale(scale), color, target_bpp)


@dataclass
class Grid:
    """A named list of settings (the original first, no duplicates)."""

    name: str
    settings: list[Setting]
    description: str = ""
    source: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        seen, unique = set(), [ORIGINAL_SETTING]
        seen.add(ORIGINAL)
        for s in self.settings:
            if s.key not in seen:
                seen.add(s.key)
                unique.append(s)
        self.settings = unique

    def __len__(self) -> int:
        return len(self.settings)

    def codecs(self) -> list[str]:
        return sorted({s.codec for s in self.settings if not s.is_original})

    def restrict(self, codecs: list[str]) -> Grid:
        """Only the settings of the named codecs (plus the original)."""
        unknown = sorted(set(codecs) - set(codec_names()))
        if unknown:
            raise ValueError(f"unknown codec(s) {unknown}; expected some of {codec_names()}")
        return Grid(self.name, [s for s in self.settings if s.codec in codecs], self.description, self.source)

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "description": self.description, "source": self.source,
                "settings": [s.key for s in self.settings]}

    def with_params(self, codec: str, params: dict[str, Any]) -> Grid:
        """The grid with ``params`` set on every setting of ``codec`` (e.g. x265's preset for every HEVC
        version); a parameter different from its default shows in the setting key."""
        if not params:
            return self
        changed = [make_setting(s.codec, {**s.param_dict, **params}, s.scale, s.color, s.target_bpp)
                   if s.codec == codec else s for s in self.settings]
        return Grid(self.name, changed, self.description, self.source)


def _as_list(value: Any) -> list[Any]:
    return list(value) if isinstance(value, (list, tuple)) else [value]


def expand_block(block: dict[str, Any]) -> list[Setting]:
    """Settings of one grid block: the cartesian product of its parameter lists, scales, colours and
    target bpp values. A list-valued parameter (JPEG 2000 ``layers``) takes a list of lists."""
    block = dict(block)
    try:
        codec = block.pop("codec")
    except KeyError:
        raise ValueError(f"grid block without 'codec': {block}") from None
    scales = _as_list(block.pop("scale", [1]))
    colors = _as_list(block.pop("color", ["rgb"]))
    targets = _as_list(block.pop("target_bpp", [None]))
    params = dict(block.pop("params", {}))
    if block:
        raise ValueError(f"grid block for {codec!r}: unknown keys {sorted(block)}; "
                         "expected codec, params, scale, color, target_bpp")
    schema = get_codec(codec).schema()
    names, value_lists = [], []
    for name, values in params.items():
        if name in schema and schema[name].kind is tuple:
            values = [values] if values and not isinstance(values[0], (list, tuple)) else values
        names.append(name)
        value_lists.append(_as_list(values))
    out = []
    for combo in itertools.product(*value_lists):
        for scale, color, target in itertools.product(scales, colors, targets):
            out.append(make_setting(codec, dict(zip(names, combo)), scale, color, target))
    return out


def grid_from_dict(spec: dict[str, Any], default_name: str = "custom") -> Grid:
    """A Grid from the parsed TOML/JSON structure described in the module docstring."""
    blocks = spec.get("block", spec.get("blocks"))
    if not isinstance(blocks, list) or not blocks:
        raise ValueError("a grid needs a non-empty list of blocks ('block' in TOML, 'blocks' in JSON)")
    settings = [s for b in blocks for s in expand_block(b)]
    return Grid(str(spec.get("name", default_name)), settings, str(spec.get("description", "")),
                {"blocks": blocks})


def load_grid_file(path: str | Path) -> Grid:
    """Read a grid from a ``.toml`` or ``.json`` file."""
    path = Path(path)
    text = path.read_text(encoding="utf-8")
    if path.suffix.lower() == ".json":
        spec = json.loads(text)
    elif path.suffix.lower() == ".toml":
        if sys.version_info >= (3, 11):
            import tomllib
        else:  # Python 3.10
            try:
                import tomli as tomllib
            except ImportError:
                raise ImportError("reading TOML grids on Python 3.10 needs tomli (pip install tomli); "
                                  "or write the grid as JSON") from None
        spec = tomllib.loads(text)
    else:
        raise ValueError(f"grid file must end in .toml or .json, got {path.name}")
    return grid_from_dict(spec, default_name=path.stem)


def _parse_value(text: str) -> Any:
    low = text.lower()
    if low in ("true", "false"):
        return low == "true"
    for cast in (int, float):
        try:
            return cast(text)
        except ValueError:
            pass
    return text


def parse_block(text: str) -> dict[str, Any]:
    """``"codec=jpeg quality=90,50 scale=1,1/2 color=rgb"`` -> a block dict (see module docstring)."""
    block: dict[str, Any] = {"params": {}}
    for token in text.split():
        if "=" not in token:
            raise ValueError(f"grid block item {token!r}: expected name=value[,value...]")
        name, value = token.split("=", 1)
        if name == "codec":
            block["codec"] = value
        elif name == "scale":
            block["scale"] = value.split(",")
        elif name == "color":
            block["color"] = value.split(",")
        elif name in ("bpp", "target_bpp"):
            block["target_bpp"] = [float(v) for v in value.split(",")]
        elif "/" in value or ";" in value:  # list parameter: a;b with values v1/v2/v3
            block["params"][name] = [[_parse_value(x) for x in v.split("/")] for v in value.split(";")]
        else:
            block["params"][name] = [_parse_value(v) for v in value.split(",")]
    if "codec" not in block:
        raise ValueError(f"grid block {text!r} names no codec (codec=...)")
    return block


# ------------------------------------------------------------------------------------------------ presets

QF_LADDER = [100, 90, 80, 70, 60, 50, 40, 30, 20, 10]
SEED2017_JPEG_QUALITY = [1, 2, 3, 4, 5, 6, 7, 8, 10, 12, 14, 16, 18, 20, 25, 30, 40, 50]
SEED2017_J2K_LAYERS = [
    [200, 40, 20], [200, 40], [200], [100, 20, 10], [100, 20], [100],
    [50, 40, 20], [50, 40], [50], [25, 20, 10], [25, 20], [25],
    [15, 10, 1], [15, 10], [15], [10, 5, 1], [10, 5], [10],
]
SEED2017_HEVC_QP = [30, *range(35, 52)]
ALL_SCALES = [1, "1/2", "1/4", "1/8"]
RATE_TARGETS = [0.125, 0.25, 0.5, 1.0, 2.0]
QUICK_TARGETS = [0.1, 0.2, 0.4, 0.8]


def _preset_specs() -> dict[str, dict[str, Any]]:
    seed_common = {"scale": ALL_SCALES, "color": ["rgb", "gray"]}
    return {
        "qf-ladder": {
            "description": "original + JPEG QF 100, 90, ..., 10 (Yang, Amer, Jiang 2021)",
            "block": [{"codec": "jpeg", "params": {"quality": QF_LADDER}}],
        },
        "seed2017": {
            "description": "Tables 1-3 of Dejean-Servieres et al. 2017: JPEG, JPEG 2000 and HEVC (for BPG) x "
                           "4 scales x RGB/gray, 432 versions per photo",
            "block": [
                {"codec": "jpeg", "params": {"quality": SEED2017_JPEG_QUALITY}, **seed_common},
                {"codec": "jpeg2000", "params": {"layers": SEED2017_J2K_LAYERS}, **seed_common},
                {"codec": "hevc", "params": {"qp": SEED2017_HEVC_QP}, **seed_common},
            ],
        },
        "codecs-vs-rate": {
            "description": f"each lossy codec at matched bits per pixel {RATE_TARGETS} (quality parameter "
                           "searched per photo; JPEG 2000 sets the rate directly)",
            "block": [{"codec": c, "target_bpp": RATE_TARGETS} for c in ("jpeg", "jpeg2000", "hevc", "avif", "webp")],
        },
        "quick": {
            "description": f"qf-ladder + JPEG 2000 and HEVC at {QUICK_TARGETS} bpp (the README's first command)",
            "block": [
                {"codec": "jpeg", "params": {"quality": QF_LADDER}},
                {"codec": "jpeg2000", "target_bpp": QUICK_TARGETS},
                {"codec": "hevc", "target_bpp": QUICK_TARGETS},
            ],
        },
    }


def preset_names() -> list[str]:
    return list(_preset_specs())


def preset(name: str) -> Grid:
    """A named preset grid: qf-ladder, seed2017, codecs-vs-rate, quick."""
    specs = _preset_specs()
    if name not in specs:
        raise ValueError(f"unknown preset {name!r}; expected one of {list(specs)}")
    grid = grid_from_dict(specs[name], default_name=name)
    grid.name = name
    return grid
