"""kiln.cluster.cloud_sync_render: read-compare-write (changed only when a file changes), check mode writes nothing,
values files are read from where the platform rendered them, bad settings fail naming the variable."""

import json
import os
import sys

import yaml

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "cloud_sync"))

import cloud_sync_helpers as helpers  # noqa: E402

from ansible_collections.kiln.cluster.plugins.modules import cloud_sync_render  # noqa: E402

FILES = ["backend.hcl", "onprem-state.json", "terraform.tfvars.json", "values/argo-cd.yaml",
         "values/gpu-operator.yaml", "values/harbor.yaml", "values/istio-base.yaml", "values/istiod.yaml",
         "values/kserve.yaml", "values/kube-prometheus-stack.yaml", "values/velero.yaml"]


def _args(tmp_path, **changes):
    args = helpers.inventory_inputs(helpers.ONPREM, "aws")
    values = tmp_path / "platform" / "harbor.yaml"
    values.parent.mkdir(exist_ok=True)
    values.write_text("# rendered by role harbor\nexpose:\n  type: clusterIP\n")
    args.update(output_dir=str(tmp_path / "out"), values_files={"harbor": str(values), "velero": ""})
    args.update(changes)
    return args


def _listing(root):
    return sorted(os.path.relpath(os.path.join(d, f), root) for d, _, files in os.walk(root) for f in files)


def test_writes_then_changes_nothing(tmp_path, run_main):
    args = _args(tmp_path)
    rc, result = run_main(cloud_sync_render, args)
    assert rc == 0, result
    assert result["changed"] is True and result["written"] == FILES == result["files"]
    assert _listing(args["output_dir"]) == FILES
    assert result["node_groups"]["hgx-h100-kiln-hgx1"] == {"instance_type": "p5.48xlarge", "nodes": 3,
                                                          "gpus_per_node": 8}
    with open(os.path.join(args["output_dir"], "values", "harbor.yaml")) as handle:
        text = handle.read()
    assert text.startswith("# Rendered by Kiln") and yaml.safe_load(text) == {"expose": {"type": "clusterIP"}}
    with open(os.path.join(args["output_dir"], "terraform.tfvars.json")) as handle:
        assert json.load(handle)["values_dir"] == args["output_dir"]
    assert "velero: no Kiln-rendered values found on premise; both sides install the chart defaults" in result["notes"]

    rc, again = run_main(cloud_sync_render, args)
    assert rc == 0 and again["changed"] is False and again["written"] == []


def test_a_changed_input_rewrites_only_its_file_and_removes_stale_values(tmp_path, run_main):
    args = _args(tmp_path)
    run_main(cloud_sync_render, args)
    stale = os.path.join(args["output_dir"], "values", "retired.yaml")
    with open(stale, "w") as handle:
        handle.write("---\n")
    args["components"] = [c for c in args["components"] if c["name"] != "kserve"]
    rc, result = run_main(cloud_sync_render, args)
    assert rc == 0 and result["changed"] is True
    assert result["written"] == ["onprem-state.json", "terraform.tfvars.json", "values/kserve.yaml",
                                 "values/retired.yaml"]
    assert not os.path.exists(stale) and not os.path.exists(os.path.join(args["output_dir"], "values", "kserve.yaml"))


def test_check_mode_writes_nothing(tmp_path, run_main):
    args = _args(tmp_path, _ansible_check_mode=True)
    rc, result = run_main(cloud_sync_render, args)
    assert rc == 0 and result["changed"] is True and result["written"] == FILES
    assert not os.path.exists(args["output_dir"])


def test_missing_settings_fail_naming_them(tmp_path, run_main):
    args = _args(tmp_path)
    args["environment"] = dict(args["environment"], region="", state={"bucket": "b"})
    rc, result = run_main(cloud_sync_render, args)
    assert rc == 1 and result["failed"] is True
    assert result["msg"] == ("cloud-sync settings missing or empty: cloud_sync_environments.aws.region, "
                             "cloud_sync_environments.aws.state.key, cloud_sync_environments.aws.state.region; "
                             "set them in the inventory (group_vars/all/cloud_sync.yml)")
    assert not os.path.exists(args["output_dir"])
