"""Build the poller's Lambda package: `output/lambda/poller.zip`, the file Terraform
uploads (`var.lambda_package`) and the tests invoke.

It holds the `ingest` package and nothing else: the Lambda Python runtime provides
boto3, and the poller needs no other library. Entries are written in a fixed order with
a fixed timestamp, so the same sources give the same bytes (and Terraform's
source_code_hash changes only when the code does).
"""

from __future__ import annotations

import sys
import zipfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
PACKAGE_DIR = REPO / "ingest"
LAMBDA_ZIP = REPO / "output" / "lambda" / "poller.zip"
HANDLER = "ingest.lambda_handler.handler"
FIXED_TIME = (2020, 1, 1, 0, 0, 0)


def build_lambda(dest: Path = LAMBDA_ZIP) -> Path:
    dest.parent.mkdir(parents=True, exist_ok=True)
    sources = sorted(p for p in PACKAGE_DIR.rglob("*.py") if "__pycache__" not in p.parts)
    with zipfile.ZipFile(dest, "w", zipfile.ZIP_DEFLATED) as zf:
        for path in sources:
            info = zipfile.ZipInfo(path.relative_to(REPO).as_posix(), FIXED_TIME)
            info.external_attr = 0o644 << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            zf.writestr(info, path.read_bytes())
    return dest


if __name__ == "__main__":
    print(build_lambda(Path(sys.argv[1]) if len(sys.argv) > 1 else LAMBDA_ZIP))
