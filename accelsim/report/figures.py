"""Writing matplotlib figures as files a paper can use: PNG, SVG or PDF, chosen by the file's extension, with
no timestamps in the file (the same figure gives the same bytes)."""

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


def figure_bytes(fig, fmt: str = "png", dpi: int = 150) -> bytes:
    """The figure in ``fmt`` (closed afterwards)."""
    import matplotlib
    import matplotlib.pyplot as plt

    buf = io.BytesIO()
    with matplotlib.rc_context({"svg.hashsalt": "accelsim", "svg.fonttype": "none", "pdf.fonttype": 42}):
        fig.savefig(buf, format=fmt, dpi=dpi, bbox_inches="tight", metadata=_METADATA[fmt])
    plt.close(fig)
    return buf.getvalue()
