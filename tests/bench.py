#!/usr/bin/env python3
"""`make bench`: timings of the lab, printed as one JSON object per line.

Starts from no lab: lab-up, then each layer's first converge, then each
layer's rerun (seconds and changed count), then a whole-site rerun. The lab is
removed at the end. Figures, not assertions: compare them across changes.
"""

import json
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from lab_tools import lab, playbook, total_changed  # noqa: E402

LAYERS = [("preflight", "playbooks/preflight.yml"), ("nodes", "playbooks/nodes.yml")]


def emit(**record):
    print(json.dumps(record), flush=True)


def main():
    nodes = int(os.environ.get("LAB_NODES", int(os.environ.get("LAB_CONTROL_PLANES", "1")) + 2))
    lab("down")
    start = time.monotonic()
    lab("up")
    emit(measure="lab_up", seconds=round(time.monotonic() - start, 1), nodes=nodes)
    try:
        for run in ("first", "second"):
            for layer, path in LAYERS:
                seconds, recap, _ = playbook(path, "bench-%s-%s" % (layer, run))
                emit(measure="converge", layer=layer, run=run, seconds=round(seconds, 1),
                     changed=total_changed(recap))
        seconds, recap, _ = playbook("site.yml", "bench-site-rerun")
        emit(measure="converge", layer="site", run="rerun", seconds=round(seconds, 1), changed=total_changed(recap))
    finally:
        lab("down")


if __name__ == "__main__":
    main()
