"""Make the repository importable as the collection ``kiln.cluster`` for unit tests.

The repository root *is* the collection, so tests import
``ansible_collections.kiln.cluster.plugins...`` exactly as Ansible does at run
time. ``make setup`` creates the same link for ansible itself.
"""

import json
import os
import sys

import pytest
from ansible.module_utils.testing import patch_module_args

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
