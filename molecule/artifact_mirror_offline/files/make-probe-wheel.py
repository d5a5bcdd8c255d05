#!/usr/bin/env python3
"""Test helper: a tiny wheel and a PEP 503 simple index for it under ROOT."""

import base64
import hashlib
import pathlib
import sys
import zipfile

NAME, VERSION = "kiln_probe", "1.0.0"
WHEEL = f"{NAME}-{VERSION}-py3-none-any.whl"
DIST_INFO = f"{NAME}-{VERSION}.dist-info"


def record_hash(data):
    return "sha256=" + base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()


def main():
    root = pathlib.Path(sys.argv[1])
    files = {
        f"{NAME}/__init__.py": b'"""Kiln mirror probe."""\n',
        f"{DIST_INFO}/METADATA": f"Metadata-Version: 2.1\nName: kiln-probe\nVersion: {VERSION}\n".encode(),
        f"{DIST_INFO}/WHEEL": b"Wheel-Version: 1.0\nGenerator: kiln-molecule\nRoot-Is-Purelib: true\nTag: py3-none-any\n",
    }
    record = "".join(f"{path},{record_hash(data)},{len(data)}\n" for path, data in files.items())
    files[f"{DIST_INFO}/RECORD"] = (record + f"{DIST_INFO}/RECORD,,\n").encode()

    packages = root / "packages"
    packages.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(packages / WHEEL, "w", zipfile.ZIP_DEFLATED) as wheel:
        for path, data in files.items():
            wheel.writestr(zipfile.ZipInfo(path, date_time=(2026, 1, 1, 0, 0, 0)), data)
    digest = hashlib.sha256((packages / WHEEL).read_bytes()).hexdigest()

    project = root / "simple" / "kiln-probe"
    project.mkdir(parents=True, exist_ok=True)
    (project / "index.html").write_text(
        f'<!DOCTYPE html>\n<html><body><a href="../../packages/{WHEEL}#sha256={digest}">{WHEEL}</a></body></html>\n')
    (root / "simple" / "index.html").write_text(
        '<!DOCTYPE html>\n<html><body><a href="kiln-probe/">kiln-probe</a></body></html>\n')


if __name__ == "__main__":
    main()
