"""Render platform roles for real (tests/playbooks/platform-render.yml, controller only) and read what they wrote.

Used by the platform roles' render tests: each renders its role(s) for inventories/onprem (or an altered copy)
into a temporary kiln_platform_render_dir, then validates the documents with crd_schema.CrdCatalog.
"""

import json
import os
import shutil

import yaml

from conftest import REPO_ROOT
from crd_schema import load_documents
from playbook_runner import run_playbook, task_results

PLAYBOOK = os.path.join("tests", "playbooks", "platform-render.yml")
ONPREM = os.path.join("inventories", "onprem")


class Render(object):
    def __init__(self, rc, report, stderr, render_dir):
        self.rc, self.report, self.stderr, self.render_dir = rc, report, stderr, render_dir

    def ok(self):
        """The playbook's outcome, with enough output to see why when it failed."""
        assert self.rc == 0, json.dumps(self.report)[-4000:] + self.stderr[-2000:]
        return self

    @property
    def changed(self):
        return self.report["stats"]["localhost"]["changed"]

    def tasks(self):
        return task_results(self.report)

    def failure_messages(self):
        """The messages of every failed task, loop items included."""
        results = self.tasks().values()
        return ([r.get("msg", "") for r in results if r.get("failed")]
                + [i.get("msg", "") for r in results for i in r.get("results", []) if i.get("failed")])

    def documents(self, role):
        """[(file, document)] a role rendered, in the order platform_apply applies them."""
        return load_documents(os.path.join(str(self.render_dir), role))

    def by_kind(self, role, kind):
        return [doc for _, doc in self.documents(role) if doc.get("kind") == kind]


def render(tmp_path, roles, inventory=ONPREM, extra_vars=None, *options):
    """Run the render playbook for roles; returns a Render (not yet checked: call .ok())."""
    render_dir = tmp_path / "render"
    variables = {"platform_render_roles": list(roles), "kiln_platform_render_dir": str(render_dir)}
    variables.update(extra_vars or {})
    rc, report, stderr = run_playbook(tmp_path, PLAYBOOK, str(inventory), variables, *options)
    return Render(rc, report, stderr, render_dir)


def altered_inventory(tmp_path, **variables):
    """A copy of inventories/onprem with variables set for every host (group_vars/all/zz-test.yml)."""
    inventory = tmp_path / "inventory"
    shutil.copytree(os.path.join(REPO_ROOT, ONPREM), str(inventory))
    with open(str(inventory / "group_vars" / "all" / "zz-test.yml"), "w") as handle:
        yaml.safe_dump(variables, handle)
    return inventory


def assert_refused_before_rendering(tmp_path, role, variables, expected):
    """role, given the inventory altered by variables, fails on the controller with a message containing
    expected, before it has rendered anything."""
    result = render(tmp_path, [role], altered_inventory(tmp_path, **variables))
    assert result.rc != 0
    failures = result.failure_messages()
    assert any(expected in message for message in failures), failures
    assert not os.path.exists(str(result.render_dir))
