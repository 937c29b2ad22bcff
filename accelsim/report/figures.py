"""Writing matplotlib figures as files a paper can use: PNG, SVG or PDF, chosen by the file's extension, with
no timestamps in the file (the same figure gives the same bytes); and the look every figure shares: plain numbers
on every axis (no offset, no power of ten: a log axis reads 0.02, 200, 300, never 2x10^2)."""

from __future__ import annotations

import io
from pathlib import Path

from accelsim.errors import AccelsimError

#: File extension -> matplotlib format.
FORMATS = {".png": "png", ".svg": "svg", ".pdf": "pdf"}
#: No creation dates or generator versions in the files (byte-identical reruns).
_METADATA = {"png": {"Software": None}, "svg": {"Date": None, "Creator": None}, "pdf": {"CreationDate": None, "Creator": None, "Producer": None}}


def figure_format(path: str | Path) -> str:
    """The format a file name asks for, or one clear error."""
    suffix = Path(path).suffix.lower()
    if suffix not in FORMATS:
        raise AccelsimError(f"{path}: a figure is written as {', '.join(FORMATS)}; got {suffix or 'no extension'!r}")
    return FORMATS[suffix]


#: Axis numbers as written, without an offset or a common power of ten above the axis.
STYLE = {"axes.formatter.useoffset": False, "axes.formatter.limits": (-6, 9)}


def subplots(*args, **kwargs):
    """``plt.subplots`` in accelsim's figure style (see :data:`STYLE`)."""
    import matplotlib

    matplotlib.use("Agg")  # files only; no display needed
    import matplotlib.pyplot as plt

    with matplotlib.rc_context(STYLE):
        return plt.subplots(*args, **kwargs)


def plain_number(value: float) -> str:
    """0.00002, 0.02, 200, 3000000: a tick value without an exponent."""
    import numpy as np

    return np.format_float_positional(float(value), precision=8, unique=True, trim="-")


def plain_log_axis(ax, which: str = "y") -> None:
    """Put ``ax``'s ``which`` axis ("x" or "y") on a log scale labelled in plain numbers, after its data are drawn:
    1, 2, 5 x 10^k over a wide span, every 1..9 x 10^k over a span too narrow for three of those; no minor labels."""
    from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter, NullLocator

    axis = getattr(ax, f"{which}axis")
    if axis.get_scale() != "log":
        getattr(ax, f"set_{which}scale")("log")
    low, high = sorted(getattr(ax, f"get_{which}lim")())
    subs: tuple[float, ...] = (1.0, 2.0, 5.0)
    if sum(low <= t <= high for t in LogLocator(subs=subs).tick_values(low, high)) < 3:
        subs = tuple(float(k) for k in range(1, 10))
    axis.set_major_locator(LogLocator(subs=subs))
    axis.set_major_formatter(FuncFormatter(lambda v, _: plain_number(v)))
    axis.set_minor_locator(NullLocator())
    axis.set_minor_formatter(NullFormatter())


def figure_bytes(fig, fmt: str = "png", dpi: int = 150) -> bytes:
    """The figure in ``fmt`` (closed afterwards)."""
    import matplotlib
    import matplotlib.pyplot as plt

    buf = io.BytesIO()
    with matplotlib.rc_context({"svg.hashsalt": "accelsim", "svg.fonttype": "none", "pdf.fonttype": 42}):
        fig.savefig(buf, format=fmt, dpi=dpi, bbox_inches="tight", metadata=_METADATA[fmt])
    plt.close(fig)
    return buf.getvalue()
