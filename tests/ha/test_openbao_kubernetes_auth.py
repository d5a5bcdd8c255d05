"""OpenBao's Kubernetes auth against the lab's real API server (make test-ha; any lab with
LAB_PLATFORM_TESTS=1): a service account's token (what a pod gets, issued by the TokenRequest API) logs in
through the role the inventory declares and reads its own path only; another account of the same namespace is
refused. Runs playbooks/platform.yml after site.yml, as an operator would."""

import base64
import json
import os
import sys

import hvac
import pytest
import yaml

sys.path.insert(0, os.path.dirname(os.path.dirname(__file__)))
from lab_tools import LAB_INVENTORY, REPO, kubectl, openbao_admin_client, openbao_vault_file, playbook  # noqa: E402

STATE = os.path.join(REPO, ".lab", "openbao")
NAMESPACE = "kiln-smoke"

pytestmark = pytest.mark.skipif(os.environ.get("LAB_CONTROL_PLANES") != "3" and os.environ.get("LAB_PLATFORM_TESTS") != "1",
                                reason="needs a converged lab (make test-ha, or LAB_PLATFORM_TESTS=1)")


def _first_control_plane():
    with open(os.path.join(LAB_INVENTORY, "hosts.yml")) as handle:
        hosts = yaml.safe_load(handle)["all"]["children"]["k8s_cluster"]["children"]["control_plane"]["hosts"]
    return next(iter(hosts.values()))["ansible_host"]


def _client(token=None):
    return hvac.Client(url="https://%s:8200" % _first_control_plane(), token=token, verify=os.path.join(STATE, "ca.crt"))


def test_a_service_account_token_logs_in_and_reads_only_its_own_secret():
    _, _, output = playbook("playbooks/platform.yml", "openbao-kubernetes-auth")
    root = openbao_admin_client(_first_control_plane())
    assert root.sys.read_auth_method_tuning("kubernetes")  # enabled by Kiln
    root.secrets.kv.v2.create_or_update_secret(mount_point="kiln", path="smoke/app", secret={"answer": "42"})
    root.secrets.kv.v2.create_or_update_secret(mount_point="kiln", path="velero/creds", secret={"key": "not-yours"})
    kubectl("create", "namespace", NAMESPACE, check=False)
    for account in ("smoke", "intruder"):
        kubectl("create", "serviceaccount", account, "-n", NAMESPACE, check=False)

    pod = _client()
    pod.auth.kubernetes.login(role="kiln-smoke", jwt=kubectl("create", "token", "smoke", "-n", NAMESPACE).strip())
    read = pod.secrets.kv.v2.read_secret_version(mount_point="kiln", path="smoke/app", raise_on_deleted_version=True)
    assert read["data"]["data"] == {"answer": "42"}
    with pytest.raises(hvac.exceptions.Forbidden):
        pod.secrets.kv.v2.read_secret_version(mount_point="kiln", path="velero/creds", raise_on_deleted_version=True)
    with pytest.raises(hvac.exceptions.VaultError):
        _client().auth.kubernetes.login(role="kiln-smoke", jwt=kubectl("create", "token", "intruder", "-n", NAMESPACE).strip())

    # The reviewer's token Kiln configured never shows in the output.
    reviewer = json.loads(kubectl("get", "secret", "-n", "kube-system", "kiln-openbao-token-reviewer", "-o", "json"))
    assert base64.b64decode(reviewer["data"]["token"]).decode() not in output
    assert openbao_vault_file("init.vault")["root_token"] not in output
