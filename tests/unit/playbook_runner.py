"""Run a playbook on the controller only, as the render tests do: ssh is replaced by a trap, so a playbook that
tries to reach a host fails the test that ran it."""

import json
import os
import subprocess

from conftest import REPO_ROOT

ANSIBLE_PLAYBOOK = os.path.join(REPO_ROOT, ".venv", "bin", "ansible-playbook")


def run_playbook(tmp_path, playbook, inventory, extra_vars, *options):
    """Run a playbook; return (return code, json report, stderr). Fails if any host was contacted."""
    trap_log = tmp_path / "ssh-calls.log"
    env = dict(os.environ, ANSIBLE_STDOUT_CALLBACK="ansible.builtin.json",
               ANSIBLE_CALLBACKS_ENABLED="ansible.builtin.timer",
               ANSIBLE_SSH_EXECUTABLE=os.path.join(REPO_ROOT, "tests", "bin", "no-ssh"),
               KILN_NO_SSH_LOG=str(trap_log), ANSIBLE_CACHE_PLUGIN="memory")
    command = [ANSIBLE_PLAYBOOK, playbook, "-i", inventory, "-e", json.dumps(extra_vars)] + list(options)
    proc = subprocess.run(command, cwd=REPO_ROOT, env=env, capture_output=True, text=True, check=False)
    assert not trap_log.exists(), "%s contacted a host: %s" % (playbook, trap_log.read_text())
    # The json callback's document comes first; the timer's line follows it.
    report, _ = json.JSONDecoder().raw_decode(proc.stdout)
    return proc.returncode, report, proc.stderr


def task_results(report, host="localhost"):
    """{task name (without the role prefix): that host's result}, last one wins."""
    return dict((t["task"]["name"].split(" : ", 1)[-1], t["hosts"][host])
                for play in report["plays"] for t in play["tasks"] if host in t["hosts"])
