#!/usr/bin/env python3
"""`make bench`: timings of the lab, printed as one JSON object per line.

First the artifact bundle (cached: seconds to confirm nothing needs building;
a cold build is timed only with BENCH_BUNDLE_COLD=1, which empties the cache
first and takes about 1.5 hours on 2 cores). Then from no lab: lab-up, each
layer's first converge (the site registry and the platform layer included),
the seconds from bare nodes until every node is Ready (the end of the first
verify.yml, which passes only then), each layer's rerun (seconds and changed
count), a whole-site rerun, the Velero drill (backup seconds; restore-test.yml
seconds, the RTO; the backup's age when restored, the RPO of a backup taken
just then), and scale-out: the last worker removed and added back with scale.yml. The lab is removed at the end. Figures, not
assertions: compare them across changes.
"""

import json
import os
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from lab_tools import REPO, lab, playbook, total_changed, velero_drill  # noqa: E402

LAYERS = [("preflight", "playbooks/preflight.yml"), ("registry", "playbooks/registry.yml"),
          ("nodes", "playbooks/nodes.yml"), ("kubernetes", "playbooks/kubernetes.yml"),
          ("verify", "playbooks/verify.yml"), ("platform", "playbooks/platform.yml")]
SITE_REGISTRY = os.environ.get("LAB_SITE_REGISTRY", "1") != "0"


def emit(**record):
    print(json.dumps(record), flush=True)


def bundle():
    cold = os.environ.get("BENCH_BUNDLE_COLD") == "1"
    if cold:
        cache = os.environ.get("KILN_CACHE", os.path.expanduser("~/.cache/kiln"))
        for sub in ("bundle", "build"):
            subprocess.run(["rm", "-rf", os.path.join(cache, sub)], check=True)
    start = time.monotonic()
    subprocess.run(["ansible-playbook", "playbooks/bundle.yml"], cwd=REPO, check=True, stdout=subprocess.DEVNULL)
    emit(measure="bundle", cache="cold" if cold else "warm", seconds=round(time.monotonic() - start, 1))


def main():
    nodes = int(os.environ.get("LAB_NODES", int(os.environ.get("LAB_CONTROL_PLANES", "1")) + 2))
    bundle()
    lab("down")
    start = time.monotonic()
    lab("up")
    emit(measure="lab_up", seconds=round(time.monotonic() - start, 1), nodes=nodes)
    try:
        bare = time.monotonic()
        for run in ("first", "second"):
            for layer, path in LAYERS:
                seconds, recap, _ = playbook(path, "bench-%s-%s" % (layer, run))
                emit(measure="converge", layer=layer, run=run, seconds=round(seconds, 1),
                     changed=total_changed(recap))
                if run == "first" and layer == "verify":  # verify passes only with every node Ready
                    emit(measure="bare_to_all_ready", seconds=round(time.monotonic() - bare, 1), nodes=nodes)
        seconds, recap, _ = playbook("site.yml", "bench-site-rerun")
        emit(measure="converge", layer="site", run="rerun", seconds=round(seconds, 1), changed=total_changed(recap))
        if SITE_REGISTRY:  # Velero installs from the lab's chart mirror and backs up to its S3 store
            drill = velero_drill("kiln-bench-backup", "gpu1", "bench-velero")
            emit(measure="backup_restore_drill", backup_seconds=round(drill["backup_seconds"], 1),
                 restore_seconds=round(drill.get("restore_seconds", 0), 1),
                 backup_age_at_restore_seconds=round(drill.get("backup_age_at_restore", 0), 1),
                 restored=drill.get("restored") == drill["token"])
        last = "gpu%d" % (nodes - int(os.environ.get("LAB_CONTROL_PLANES", "1")))
        playbook("playbooks/remove-node.yml", "bench-remove", "-e", "kiln_remove_nodes=" + last,
                 "-e", "kiln_remove_confirm=yes")
        seconds, _, _ = playbook("playbooks/scale.yml", "bench-scale", "--limit", last)
        emit(measure="scale_out", seconds_per_node=round(seconds, 1), nodes_added=1)
    finally:
        lab("down")


if __name__ == "__main__":
    main()
