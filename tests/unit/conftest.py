"""Make the repository importable as the collection ``kiln.cluster`` for unit tests.

The repository root *is* the collection, so tests import
``ansible_collections.kiln.cluster.plugins...`` exactly as Ansible does at run
time. ``make setup`` creates the same link for ansible itself.
"""

import json
import os
import sys

import hvac
import pytest
from ansible.module_utils.testing import patch_module_args

from openbao_server import dev_server

REPO_ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
COLLECTIONS_DIR = os.path.join(REPO_ROOT, "collections")
LINK = os.path.join(COLLECTIONS_DIR, "ansible_collections", "kiln", "cluster")
SHARED_FIXTURES = os.path.abspath(os.path.join(REPO_ROOT, "..", "shared", "fixtures"))

if not os.path.islink(LINK):
    os.makedirs(os.path.dirname(LINK), exist_ok=True)
    os.symlink(os.path.relpath(REPO_ROOT, os.path.dirname(LINK)), LINK)
if COLLECTIONS_DIR not in sys.path:
    sys.path.insert(0, COLLECTIONS_DIR)


@pytest.fixture
def run_main(capsys):
    """run_main(module, args) -> (exit code, the result the module printed as JSON), as Ansible runs main()."""

    def _run(module, args):
        with patch_module_args(args):
            with pytest.raises(SystemExit) as exc:
                module.main()
        return exc.value.code, json.loads(capsys.readouterr().out)

    return _run


# --- OpenBao: a real `bao server -dev` on 127.0.0.1 per test module (tests of the openbao_* modules) ---------

@pytest.fixture
def module_warnings(monkeypatch):
    """Every AnsibleModule.warn() message of the test, in order. Read here rather than from the result's
    "warnings": once a test in the same process has imported Ansible's controller side (inventory, templar),
    module warnings go to the controller's display instead of the result."""
    from ansible.module_utils.basic import AnsibleModule
    messages = []
    original = AnsibleModule.warn

    def _warn(self, warning, *args, **kwargs):
        messages.append(warning)
        return original(self, warning, *args, **kwargs)

    monkeypatch.setattr(AnsibleModule, "warn", _warn)
    return messages


@pytest.fixture(autouse=True)
def _openbao_loopback_only(monkeypatch):
    """Requests to the test servers never go through a proxy, and no OpenBao address or token of the caller's
    environment leaks into a module (its options fall back to BAO_*/VAULT_*)."""
    monkeypatch.setenv("NO_PROXY", "127.0.0.1")
    monkeypatch.setenv("no_proxy", "127.0.0.1")
    for name in ("BAO_TOKEN", "VAULT_TOKEN", "BAO_ADDR", "VAULT_ADDR"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture(scope="module")
def bao(tmp_path_factory):
    """A dev server for this test module -> (url, root token)."""
    with dev_server(tmp_path_factory.mktemp("bao")) as (url, token):
        yield url, token


@pytest.fixture
def client(bao):
    return hvac.Client(url=bao[0], token=bao[1])


@pytest.fixture
def run_bao(run_main, bao):
    """run_bao(module, check_mode=False, **args) -> (exit code, result) of the module against the dev server."""
    def _run(module, check_mode=False, **args):
        args.update(url=bao[0], token=bao[1], _ansible_check_mode=check_mode)
        return run_main(module, args)
    return _run
