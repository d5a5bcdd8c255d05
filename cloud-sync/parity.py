#!/usr/bin/env python3
"""Parity check of one cloud-sync environment: on-prem desired state vs cloud desired state (and live clusters).

Reads what playbooks/cloud-sync.yml rendered into ENV_DIR (onprem-state.json, terraform.tfvars.json,
values/*.yaml), maps each cloud instance type back to its GPU model with the GPU instance map, prints the
side-by-side table, writes ENV_DIR/parity.json and exits 1 on any difference the inventory does not allow
(2 on bad input). With --onprem-kubeconfig and --cloud-kubeconfig it also compares the live clusters: server
versions, installed chart versions, platform CRDs present and GPU resources of the nodes.
"""

import argparse
import json
import os
import sys

import yaml

# kiln_collection.py lies beside this script (its directory is on sys.path when run, added when imported).
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import kiln_collection  # noqa: E402

kiln_collection.add_to_path()

from ansible_collections.kiln.cluster.plugins.module_utils import cloud_sync_parity as parity  # noqa: E402
from ansible_collections.kiln.cluster.plugins.module_utils.cloud_sync import CloudSyncError, cloud_state  # noqa: E402


def _load_json(path):
    with open(path) as handle:
        return json.load(handle)


def _values(env_dir, charts):
    values = {}
    for name, chart in charts.items():
        path = os.path.join(env_dir, chart["values_file"])
        if os.path.isfile(path):
            with open(path) as handle:
                values[name] = yaml.safe_load(handle) or {}
        else:
            values[name] = None
    return values


def _live(onprem_kubeconfig, cloud_kubeconfig):
    from kubernetes import config  # only the live check needs the Kubernetes client

    sides = []
    for path in (onprem_kubeconfig, cloud_kubeconfig):
        sides.append(parity.read_live_state(config.new_client_from_config(config_file=path)))
    return sides


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--env-dir", required=True, help="cloud-sync/generated/<environment>")
    parser.add_argument("--instance-map",
                        default=os.path.join(kiln_collection.REPO_ROOT, "cloud-sync", "gpu-instance-map.yml"))
    parser.add_argument("--onprem-kubeconfig", default="")
    parser.add_argument("--cloud-kubeconfig", default="")
    parser.add_argument("--output", default="", help="JSON report (default ENV_DIR/parity.json)")
    args = parser.parse_args(argv)
    output = args.output or os.path.join(args.env_dir, "parity.json")
    try:
        onprem = _load_json(os.path.join(args.env_dir, "onprem-state.json"))
        tfvars = _load_json(os.path.join(args.env_dir, "terraform.tfvars.json"))
        with open(args.instance_map) as handle:
            instance_map = yaml.safe_load(handle)
        cloud = cloud_state(onprem["target"], tfvars, _values(args.env_dir, tfvars["charts"]), instance_map)
    except (OSError, ValueError, KeyError, CloudSyncError) as err:
        print("parity: cannot read the rendered environment in %s: %s (run playbooks/cloud-sync.yml first)"
              % (args.env_dir, getattr(err, "message", err)), file=sys.stderr)
        return 2
    left, right = onprem["state"], cloud
    mode = "desired state"
    if args.onprem_kubeconfig and args.cloud_kubeconfig:
        live_onprem, live_cloud = _live(args.onprem_kubeconfig, args.cloud_kubeconfig)
        left, right = dict(left, **live_onprem), dict(right, **live_cloud)
        mode = "desired and live state"
    rows, used = parity.compare(left, right, onprem["allowed_differences"])
    counts = parity.summary(rows)
    title = "Parity of %s (%s) with on premise, %s: %d ok, %d allowed, %d drift" % (
        onprem["environment"], onprem["target"], mode, counts[parity.OK], counts[parity.ALLOWED], counts[parity.DRIFT])
    for line in parity.render_table(rows, title):
        print(line)
    # A declared difference that no longer differs: its reason is stale (the inventory or the cloud changed).
    stale = [{"key": entry["key"], "reason": entry.get("reason", "")}
             for entry in onprem["allowed_differences"] if entry["key"] not in used]
    for entry in stale:
        print("STALE allowed difference %s (reason: %s): nothing differs there any more; remove it from "
              "allowed_differences" % (entry["key"], entry["reason"]))
    report = {"environment": onprem["environment"], "target": onprem["target"], "mode": mode, "summary": counts,
              "drift": [row["key"] for row in rows if row["status"] == parity.DRIFT],
              "stale_allowed_differences": stale, "rows": rows}
    text = json.dumps(report, indent=2, sort_keys=True) + "\n"
    previous = None
    if os.path.isfile(output):
        with open(output) as handle:
            previous = handle.read()
    if previous != text:
        with open(output, "w") as handle:
            handle.write(text)
    print("parity.json: %s %s" % ("written" if previous != text else "unchanged", output))
    return 1 if counts[parity.DRIFT] else 0


if __name__ == "__main__":
    sys.exit(main())
