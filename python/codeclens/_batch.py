"""The ``on_error`` policy of every batch call (``jpeg.*_batch``, ``dct.forward_batch``, ``metrics.quality_batch``).

A batch first runs every item; an item that fails holds its exception instance in its place (the core's batch
runner and the Python-side items of ``metrics.quality_batch`` both work that way). The policy then decides:

- ``"raise"``: raise the first failed item's exception, same type, its message prefixed ``item i: `` (the
  original is chained as ``__cause__``);
- ``"return"``: return the list as it is, exception instances in the failed places, every other result kept.
"""

from __future__ import annotations

from typing import Any, Literal

OnError = Literal["raise", "return"]

_POLICIES = ("raise", "return")


def check_on_error(on_error: str) -> None:
    """ValueError unless ``on_error`` is ``"raise"`` or ``"return"`` (checked before any item runs)."""
    if on_error not in _POLICIES:
        raise ValueError(f"on_error: expected 'raise' or 'return', got {on_error!r}")


def apply_on_error(results: list[Any], on_error: str) -> list[Any]:
    """Apply the policy to a finished batch whose failed items hold exception instances."""
    check_on_error(on_error)
    if on_error == "raise":
        for i, value in enumerate(results):
            if isinstance(value, BaseException):
                indexed = _indexed(value, i)
                if indexed is value:
                    raise value
                raise indexed from value
    return results


def _indexed(exc: BaseException, i: int) -> BaseException:
    """The same exception type with ``item i: `` before the message."""
    try:
        return type(exc)(f"item {i}: {exc}")
    except TypeError:  # a constructor that wants other arguments: keep the original, noted with its index
        if hasattr(exc, "add_note"):
            exc.add_note(f"item {i}")
        return exc
