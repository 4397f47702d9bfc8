"""Print the README's table of supported formats, made from `wavescope formats --json`.

    python packaging/formats_table.py > formats.md

Only the built-in formats are listed (the user's plugin folder is ignored), so
the table is the same on every machine.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

COLUMNS = ("Format", "Title", "Read/write", "Parallel write", "Extensions", "Stream modes", "Required fields")


def builtin_format_rows() -> list[dict]:
    """The rows of `wavescope formats --json`, with an empty plugin folder."""
    from app import cli
    from app.io.registry import supported_formats

    saved = os.environ.get("WAVESCOPE_FORMATS_PATH")
    with tempfile.TemporaryDirectory() as empty:
        os.environ["WAVESCOPE_FORMATS_PATH"] = empty
        try:
            supported_formats(reload=True)
            out = io.StringIO()
            with contextlib.redirect_stdout(out):
                status = cli.main(["formats", "--json"])
        finally:
            if saved is None:
                os.environ.pop("WAVESCOPE_FORMATS_PATH", None)
            else:
                os.environ["WAVESCOPE_FORMATS_PATH"] = saved
            supported_formats(reload=True)
    if status != 0:
        raise RuntimeError(f"`wavescope formats --json` exited with status {status}")
    return json.loads(out.getvalue())


def _cell(text: str) -> str:
    return text.replace("|", "\\|")


def table_row(row: dict) -> list[str]:
    required = ", ".join(f"`{name}` ({kind})" for name, kind in row["required_fields"].items())
    return [
        f"`{row['name']}`",
        row["title"],
        "read/write" if row["write"] else "read",
        "yes" if row["parallel_write"] else "",
        " ".join(f"`{ext}`" for ext in row["extensions"]) or "any",
        ", ".join(row["stream_modes"]),
        required or "none (all from the header)",
    ]


def markdown_table(rows: list[dict]) -> str:
    lines = ["| " + " | ".join(COLUMNS) + " |", "|" + "---|" * len(COLUMNS)]
    for row in rows:
        lines.append("| " + " | ".join(_cell(c) for c in table_row(row)) + " |")
    return "\n".join(lines)


def main() -> int:
    print(markdown_table(builtin_format_rows()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
