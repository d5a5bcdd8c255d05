#!/usr/bin/env python3
"""Inventory gate and GPU plan at scale: generated inventories of 50, 500 and 5000 nodes (the sample site's
variables, 3 control planes, the rest HGX H100 GPU workers with MIG). Prints one JSON line per size: the gate's
and the GPU plan's task seconds (what the issue's goals are about) and each playbook's wall seconds (Ansible's
start-up and inventory loading included). Runs on the controller only; contacts no host.
"""

import ipaddress
import json
import os
import shutil
import subprocess
import sys
import tempfile

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))
ONPREM = os.path.join(REPO, "inventories", "onprem")
PLAYBOOK = os.path.join(REPO, ".venv", "bin", "ansible-playbook")
SIZES = [int(n) for n in os.environ.get("BENCH_GATE_SIZES", "50,500,5000").split(",")]


def generate(path, nodes):
    """The sample site with ``nodes`` hosts in a /16 node network."""
    shutil.copytree(ONPREM, path)
    os.remove(os.path.join(path, "host_vars", "hgx4.yml"))
    network = ipaddress.ip_network("10.20.0.0/16")
    with open(os.path.join(path, "group_vars", "all", "cluster.yml")) as handle:
        cluster = handle.read().replace("kiln_node_cidr: 10.20.0.0/22", "kiln_node_cidr: %s" % network)
    with open(os.path.join(path, "group_vars", "all", "cluster.yml"), "w") as handle:
        handle.write(cluster)
    addresses = network.hosts()
    next(addresses)  # .1, the gateway
    lines = ["all:", "  children:", "    k8s_cluster:", "      children:", "        control_plane:", "          hosts:"]
    used = set(["10.20.0.10"])  # the API VIP
    def address():
        while True:
            candidate = str(next(addresses))
            if candidate not in used:
                used.add(candidate)
                return candidate
    lines += ["            cp%d: {ansible_host: %s}" % (i, address()) for i in range(1, 4)]
    lines += ["        workers:", "          children:", "            gpu_workers:", "    gpu_workers:",
              "      children:", "        hgx_h100:", "          hosts:"]
    lines += ["            hgx%d: {ansible_host: %s}" % (i, address()) for i in range(1, nodes - 2)]
    with open(os.path.join(path, "hosts.yml"), "w") as handle:
        handle.write("\n".join(lines) + "\n")


def task_seconds(report, suffix):
    for play in report["plays"]:
        for task in play["tasks"]:
            if task["task"]["name"].endswith(suffix):
                duration = task["task"]["duration"]
                from datetime import datetime
                start = datetime.fromisoformat(duration["start"].replace("Z", "+00:00"))
                end = datetime.fromisoformat(duration["end"].replace("Z", "+00:00"))
                return (end - start).total_seconds()
    return None


def run(args, inventory):
    import time
    env = dict(os.environ, ANSIBLE_STDOUT_CALLBACK="ansible.builtin.json", ANSIBLE_CALLBACKS_ENABLED="ansible.builtin.timer",
               ANSIBLE_CACHE_PLUGIN="memory",
               ANSIBLE_VAULT_PASSWORD_FILE=os.path.join(inventory, "vault-password.example.txt"))
    start = time.monotonic()
    proc = subprocess.run([PLAYBOOK] + args + ["-i", inventory], cwd=REPO, env=env, capture_output=True, text=True,
                          check=False)
    wall = time.monotonic() - start
    if proc.returncode != 0:
        sys.exit("bench_gate: %s failed:\n%s%s" % (" ".join(args), proc.stdout[-3000:], proc.stderr[-2000:]))
    report, _ = json.JSONDecoder().raw_decode(proc.stdout)
    return report, wall


def main():
    for nodes in SIZES:
        work = tempfile.mkdtemp(prefix="kiln-bench-gate-")
        try:
            inventory = os.path.join(work, "inventory")
            generate(inventory, nodes)
            gate, gate_wall = run(["playbooks/preflight.yml", "--tags", "inventory"], inventory)
            plan, plan_wall = run(["playbooks/gpu-plan.yml", "-e", "gpu_plan_output_dir=%s/plan" % work], inventory)
            gate_seconds = task_seconds(gate, "Validate the inventory model (all findings at once)")
            plan_seconds = task_seconds(plan, "Plan the GPUs of every GPU worker")
            print(json.dumps({"measure": "inventory_gate", "nodes": nodes, "gate_seconds": round(gate_seconds, 2),
                              "gpu_plan_seconds": round(plan_seconds, 2),
                              "gate_plus_plan_seconds": round(gate_seconds + plan_seconds, 2),
                              "gate_playbook_wall_seconds": round(gate_wall, 2),
                              "gpu_plan_playbook_wall_seconds": round(plan_wall, 2)}), flush=True)
        finally:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
