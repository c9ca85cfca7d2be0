"""Size of the built browser tag as it goes over the wire: raw, gzip -9, brotli (if installed).

The budget (2,048 bytes gzip'd, the same limit tag/build.mjs enforces) is reported with the
headroom left. Run:  cd /work/main && uv run python bench/tag_size.py [--out FILE.json]
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import json
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import REPO_DIR, machine_info, write_result  # bench/ is not a package

TAG = REPO_DIR / "src/heliograph/collector/static/heliograph.js"
MANIFEST = TAG.with_name("heliograph.manifest.json")
GZIP_BUDGET = 2048


def sizes(body: bytes) -> dict[str, Any]:
    result: dict[str, Any] = {
        "raw_bytes": len(body),
        # Python's gzip at level 9 with a zero mtime: what the collector serves (app.Tag.load).
        "gzip9_bytes": len(gzip.compress(body, compresslevel=9, mtime=0)),
    }
    gzip_tool = shutil.which("gzip")
    if gzip_tool:
        # The gzip command line, as a cross-check (-n: no name or time stamp in the header).
        out = subprocess.run(
            [gzip_tool, "-9", "-n", "-c"], input=body, capture_output=True, check=True
        ).stdout
        result["gzip9_cli_bytes"] = len(out)
    try:
        import brotli  # type: ignore[import-not-found]
    except ImportError:
        result["brotli_bytes"] = None
        result["brotli_note"] = "brotli module not installed; skipped"
    else:
        result["brotli_bytes"] = len(brotli.compress(body, quality=11))
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tag", default=str(TAG), help="the built tag to measure")
    parser.add_argument("--out", help="also write the JSON document to this file")
    args = parser.parse_args(argv)
    path = Path(args.tag)
    body = path.read_bytes()
    measured = sizes(body)
    manifest: dict[str, Any] | None = None
    if MANIFEST.exists() and path.resolve() == TAG.resolve():
        manifest = json.loads(MANIFEST.read_text(encoding="utf-8"))
    result: dict[str, Any] = {
        "benchmark": "tag_size",
        "generated_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "machine": machine_info(),
        "tag": str(path.relative_to(REPO_DIR) if path.is_relative_to(REPO_DIR) else path),
        "sha256": hashlib.sha256(body).hexdigest(),
        **measured,
        "gzip_budget_bytes": GZIP_BUDGET,
        "gzip_headroom_bytes": GZIP_BUDGET - measured["gzip9_bytes"],
        "within_budget": measured["gzip9_bytes"] <= GZIP_BUDGET,
    }
    if manifest is not None:
        result["manifest"] = {
            "version": manifest.get("version"),
            "bytes": manifest.get("bytes"),
            "gzip_bytes": manifest.get("gzip_bytes"),
            "matches_raw_size": manifest.get("bytes") == len(body),
        }
    write_result(result, args.out)
    return 0 if result["within_budget"] else 1


if __name__ == "__main__":
    raise SystemExit(main())
