"""HA lab (make test-ha, 3 control planes): OpenBao's Raft cluster from playbooks/platform.yml, for real.

Kiln initialises once (the result ansible-vault encrypted on the controller), unseals all three nodes (the other
two join the first's Raft cluster), mounts KV v2; a rerun changes nothing and never re-initialises; when the leader
stops, a new leader serves the data; the old leader comes back sealed and Kiln unseals it. No generated secret
appears in any output.
"""

import os
import subprocess
import sys
import time

import hvac
import pytest
import yaml

sys.path.insert(0, os.path.dirname(os.path.dirname(__file__)))
from lab_tools import LAB_INVENTORY, REPO, openbao_admin_client, openbao_vault_file, playbook  # noqa: E402

LAB = os.environ.get("LAB_NAME", "kiln-lab")
STATE = os.path.join(REPO, ".lab", "openbao")
CONTROL_PLANES = ("cp1", "cp2", "cp3")

pytestmark = pytest.mark.skipif(os.environ.get("LAB_CONTROL_PLANES") != "3", reason="needs the HA lab (make test-ha)")


def _addresses():
    with open(os.path.join(LAB_INVENTORY, "hosts.yml")) as handle:
        hosts = yaml.safe_load(handle)["all"]["children"]["k8s_cluster"]["children"]["control_plane"]["hosts"]
    return {name: hosts[name]["ansible_host"] for name in CONTROL_PLANES}


def _client(address, token=None):
    return hvac.Client(url="https://%s:8200" % address, token=token, verify=os.path.join(STATE, "ca.crt"))


def _changed(recap):
    return {host: r["changed"] for host, r in recap.items() if r["changed"]}


@pytest.fixture(scope="module")
def openbao():
    _, _, first = playbook("playbooks/platform.yml", "openbao-first")
    assert oct(os.stat(os.path.join(STATE, "init.vault")).st_mode & 0o777) == "0o600"
    init = openbao_vault_file("init.vault")
    secrets = init["keys_base64"] + [init["root_token"]]
    if os.path.exists(os.path.join(STATE, "approle.vault")):
        secrets.append(openbao_vault_file("approle.vault")["secret_id"])
    # Kiln's own token (its AppRole's once the root token is revoked), as the tests use OpenBao.
    token = openbao_admin_client(_addresses()["cp1"]).token
    return {"init": init, "addresses": _addresses(), "outputs": [first], "token": token, "secrets": secrets}


def test_three_unsealed_raft_voters_and_a_rerun_that_changes_nothing(openbao):
    addresses, token = openbao["addresses"], openbao["token"]
    servers = _client(addresses["cp1"], token).sys.read_raft_config()["data"]["config"]["servers"]
    assert sorted((s["node_id"], s["voter"]) for s in servers) == [(n, True) for n in CONTROL_PLANES]
    for name, address in addresses.items():
        assert _client(address).sys.read_seal_status()["sealed"] is False, name
    assert "kiln/" in _client(addresses["cp1"], token).sys.list_mounted_secrets_engines()["data"]

    before = open(os.path.join(STATE, "init.vault")).read()
    _, recap, output = playbook("playbooks/platform.yml", "openbao-rerun")
    openbao["outputs"].append(output)
    assert not _changed(recap), _changed(recap)
    assert open(os.path.join(STATE, "init.vault")).read() == before, "the rerun rewrote the init result"


def test_a_new_leader_serves_when_the_leader_stops_and_kiln_unseals_the_old_one(openbao):
    addresses, token = openbao["addresses"], openbao["token"]
    _client(addresses["cp1"], token).secrets.kv.v2.create_or_update_secret(
        mount_point="kiln", path="ha-test", secret={"value": "before-failover"})
    leader = [n for n, a in addresses.items() if _client(a).sys.read_leader_status()["is_self"]][0]
    subprocess.run(["podman", "exec", "%s-%s" % (LAB, leader), "systemctl", "stop", "openbao"], check=True)
    try:
        others = [n for n in CONTROL_PLANES if n != leader]
        deadline = time.monotonic() + 60
        while True:
            try:
                active = [n for n in others if _client(addresses[n]).sys.read_leader_status()["is_self"]]
                read = _client(addresses[others[0]], token).secrets.kv.v2.read_secret_version(
                    mount_point="kiln", path="ha-test", raise_on_deleted_version=True)
                if active:
                    break
            except (hvac.exceptions.VaultError, OSError):
                pass
            assert time.monotonic() < deadline, "no new leader within 60 s"
            time.sleep(1)
        assert read["data"]["data"] == {"value": "before-failover"}
    finally:
        subprocess.run(["podman", "exec", "%s-%s" % (LAB, leader), "systemctl", "start", "openbao"], check=True)

    deadline = time.monotonic() + 30
    while True:
        try:
            if _client(addresses[leader]).sys.read_seal_status()["sealed"]:
                break
        except OSError:
            pass
        assert time.monotonic() < deadline
        time.sleep(1)
    _, recap, output = playbook("playbooks/platform.yml", "openbao-unseal")
    openbao["outputs"].append(output)
    assert _changed(recap) == {leader: 1}, _changed(recap)
    assert _client(addresses[leader]).sys.read_seal_status()["sealed"] is False


def test_no_generated_secret_in_any_output(openbao):
    for output in openbao["outputs"]:
        leaked = [i for i, secret in enumerate(openbao["secrets"]) if secret in output]
        assert not leaked, "secret(s) %s in the playbook output" % leaked
