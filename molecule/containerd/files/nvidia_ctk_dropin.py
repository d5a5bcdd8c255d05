#!/usr/bin/env python3
"""Write a containerd drop-in the way the NVIDIA Container Toolkit 1.18+ does.

Test helper of the containerd Molecule scenario. `nvidia-ctk runtime configure
--runtime=containerd --set-as-default` (drop-in mode, default config source
`containerd config dump`) writes conf.d/99-nvidia.toml holding the whole CRI
plugin table of the live configuration - containerd 1.x replaces plugin tables
from imports instead of merging them - plus runtimes.nvidia: a copy of the runc
runtime with options.BinaryName set, and default_runtime_name = "nvidia".

Usage: nvidia_ctk_dropin.py DEST [BINARY]
"""

import copy
import json
import re
import subprocess
import sys
import tomllib

CRI = "io.containerd.grpc.v1.cri"
BARE_KEY = re.compile(r"^[A-Za-z0-9_-]+$")


def key(name):
    return name if BARE_KEY.match(name) else json.dumps(name)


def value(item):
    if isinstance(item, bool):
        return "true" if item else "false"
    if isinstance(item, (int, float)):
        return str(item)
    if isinstance(item, str):
        return json.dumps(item)
    if isinstance(item, list):
        return "[" + ", ".join(value(element) for element in item) + "]"
    if isinstance(item, dict):
        return "{" + ", ".join(f"{key(k)} = {value(v)}" for k, v in item.items()) + "}"
    raise TypeError(f"cannot write {item!r} as TOML")


def emit(path, table, lines):
    if path:
        lines.append("")
        lines.append("[" + ".".join(key(part) for part in path) + "]")
    for name, item in table.items():
        if not isinstance(item, dict):
            lines.append(f"{key(name)} = {value(item)}")
    for name, item in table.items():
        if isinstance(item, dict):
            emit(path + [name], item, lines)


def main():
    dest = sys.argv[1]
    binary = sys.argv[2] if len(sys.argv) > 2 else "/usr/bin/nvidia-container-runtime"
    live = tomllib.loads(subprocess.run(["containerd", "config", "dump"], check=True,
                                        capture_output=True, text=True).stdout)
    cri = copy.deepcopy(live["plugins"][CRI])
    runtimes = cri["containerd"]["runtimes"]
    nvidia = copy.deepcopy(runtimes["runc"])
    nvidia.setdefault("options", {})["BinaryName"] = binary
    runtimes["nvidia"] = nvidia
    cri["containerd"]["default_runtime_name"] = "nvidia"
    lines = ["version = 2"]
    emit(["plugins", CRI], cri, lines)
    with open(dest, "w", encoding="utf-8") as out:
        out.write("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
