"""The rendered terraform.tfvars.json against the Terraform variable declarations, offline.

Declarations are parsed from cloud-sync/terraform/<cloud>/*.tf with python-hcl2; the checker
(plugins/module_utils/cloud_sync_tfvars.py) is shown to refuse wrong values too. When a terraform or tofu binary
can be found (PATH, or the OpenTofu Kiln builds into ~/.cache/kiln/tofu-<version>/bin), `fmt -check` runs for real;
`init`/`validate` need providers from a registry and are not run here.
"""

import glob
import json
import os
import shutil
import subprocess
import sys

import pytest

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "cloud_sync"))
sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "..", "cloud-sync"))

import check_tfvars  # noqa: E402
import cloud_sync_helpers as helpers  # noqa: E402

from ansible_collections.kiln.cluster.plugins.module_utils.cloud_sync_tfvars import (  # noqa: E402
    TypeExpressionError,
    check_tfvars as check,
    parse_type,
)


@pytest.fixture(scope="module", params=["aws", "gcp"])
def rendered(request, tmp_path_factory):
    out = tmp_path_factory.mktemp("tfvars-" + request.param)
    rendered = helpers.render_inventory(helpers.ONPREM, request.param, out)
    declarations = check_tfvars.read_declarations(os.path.join(helpers.TERRAFORM, request.param))
    return request.param, out, rendered["tfvars"], declarations


def test_rendered_tfvars_match_the_declarations(rendered):
    target, out, tfvars, declarations = rendered
    assert check(declarations, tfvars) == []
    # Every declared variable without a default is rendered; "tags" has a default and is rendered too.
    assert sorted(tfvars) == sorted(declarations)
    # The command the playbook runs says the same.
    proc = subprocess.run([helpers.PYTHON, helpers.CHECK_TFVARS, os.path.join(helpers.TERRAFORM, target),
                           str(out / "terraform.tfvars.json")], capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert proc.stdout.endswith("valid\n")


def test_both_clouds_declare_the_same_variables_but_project():
    aws = check_tfvars.read_declarations(os.path.join(helpers.TERRAFORM, "aws"))
    gcp = check_tfvars.read_declarations(os.path.join(helpers.TERRAFORM, "gcp"))
    assert sorted(set(gcp) - set(aws)) == ["project"]
    for name in aws:
        assert (aws[name]["type"], aws[name]["required"]) == (gcp[name]["type"], gcp[name]["required"]), name


def _broken(tfvars, change):
    tfvars = json.loads(json.dumps(tfvars))
    change(tfvars)
    return tfvars


@pytest.mark.parametrize("change,expected", [
    (lambda t: t.pop("kubernetes_version"), ["kubernetes_version: required variable is not set"]),
    (lambda t: t.update(extra=1), ["extra: no such variable is declared"]),
    (lambda t: t["node_groups"]["cpu-workers"].update(node_count="two"),
     ["node_groups.cpu-workers.node_count: expected number, got string"]),
    (lambda t: t["node_groups"]["cpu-workers"].pop("taints"),
     ["node_groups.cpu-workers: attribute 'taints' is required"]),
    (lambda t: t["node_groups"]["cpu-workers"].update(spot=True),
     ["node_groups.cpu-workers: attribute 'spot' is not declared in the type"]),
    (lambda t: t["node_groups"]["a100-80gb"]["labels"].update(rack={"row": 1}),
     ["node_groups.a100-80gb.labels.rack: expected string, got object"]),
    (lambda t: t["security_baseline"].update(audit_logging="sometimes"),
     ["security_baseline.audit_logging: expected bool, got string"]),
    (lambda t: t["network"].update(zones="eu-central-1a"), ["network.zones: expected list(string), got string"]),
    (lambda t: t.update(charts=None), ["charts: null where map(object) is expected"]),
])
def test_the_checker_refuses_wrong_values(rendered, change, expected):
    _, _, tfvars, declarations = rendered
    assert check(declarations, _broken(tfvars, change)) == expected


def test_type_expressions_parse():
    assert parse_type("${map(object({name = string, count = optional(number, 1), tags = list(string)}))}") == (
        "map", ("object", {"name": ("string", False), "count": ("number", True), "tags": (("list", "string"), False)}))
    assert parse_type("tuple([string, number])") == ("tuple", ["string", "number"])
    assert parse_type("string") == "string"
    with pytest.raises(TypeExpressionError):
        parse_type("list(strin)")
    with pytest.raises(TypeExpressionError):
        parse_type("map(string) extra")


def test_optional_attributes_may_be_left_out():
    declarations = {"group": {"type": "object({size = optional(number, 3), name = string})", "required": True}}
    assert check(declarations, {"group": {"name": "a"}}) == []
    assert check(declarations, {"group": {"name": "a", "size": "x"}}) == ["group.size: expected number, got string"]


# --- fmt with a real binary -------------------------------------------------------------------------------------


def _binary():
    """tofu in PATH, the OpenTofu Kiln builds into the cache, or terraform in PATH; None without any."""
    for candidate in [shutil.which("tofu")] + sorted(glob.glob(os.path.expanduser("~/.cache/kiln/tofu-*/bin/tofu"))) \
            + [shutil.which("terraform")]:
        if candidate and os.access(candidate, os.X_OK):
            return candidate
    return None


BINARY = _binary()
TOOL_ENV = dict(os.environ, CHECKPOINT_DISABLE="1")


@pytest.mark.skipif(BINARY is None, reason="no terraform or tofu binary on this machine (PATH, ~/.cache/kiln/tofu-*)")
def test_terraform_code_is_formatted(tmp_path):
    proc = subprocess.run([BINARY, "fmt", "-check", "-recursive", "-diff", helpers.TERRAFORM], capture_output=True,
                          text=True, check=False, env=TOOL_ENV)
    assert proc.returncode == 0, "%s fmt -check:\n%s%s" % (BINARY, proc.stdout, proc.stderr)
    # And fmt -check does find a misformatted file.
    copy = tmp_path / "terraform"
    shutil.copytree(helpers.TERRAFORM, str(copy))
    with open(str(copy / "aws" / "outputs.tf"), "a") as handle:
        handle.write('output "x" {\nvalue = 1\n}\n')
    proc = subprocess.run([BINARY, "fmt", "-check", "-recursive", str(copy)], capture_output=True, text=True,
                          check=False, env=TOOL_ENV)
    assert proc.returncode != 0 and "outputs.tf" in proc.stdout
