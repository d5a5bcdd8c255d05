"""Kiln's job templates run through ansible-runner, as AWX runs them (tests/awx_runner.py).

Controller-only templates run for real with their survey defaults; host templates are run up to the point
where they would touch a node, with ssh replaced by a trap (tests/bin/no-ssh): their controller-side refusals
must stop them before any host is contacted. Against the lab, tests/integration runs "Kiln deploy site".
"""

import json
import os
import sys

import pytest

from conftest import REPO_ROOT

sys.path.insert(0, os.path.join(REPO_ROOT, "tests"))
import awx_runner  # noqa: E402  (tests/ is not a package; its path is added just above)

ONPREM = "inventories/onprem"


def _trap(tmp_path):
    log = tmp_path / "ssh-calls.log"
    return log, {"ANSIBLE_SSH_EXECUTABLE": os.path.join(REPO_ROOT, "tests", "bin", "no-ssh"),
                 "KILN_NO_SSH_LOG": str(log), "ANSIBLE_CACHE_PLUGIN": "memory"}


def _run(tmp_path, name, answers=None):
    log, envvars = _trap(tmp_path)
    runner = awx_runner.run_job_template(name, ONPREM, answers, private_data_dir=str(tmp_path / "runner"),
                                         envvars=envvars)
    return runner, (log.read_text() if log.exists() else "")


def _failed_task_messages(runner):
    """Messages of failed tasks, loop items included."""
    messages = []
    for event in runner.events:
        if event.get("event") in ("runner_on_failed", "runner_item_on_failed"):
            result = event["event_data"]["res"]
            messages += [result.get("msg", "")] + [item.get("msg", "") for item in result.get("results", [])]
    return messages


def test_gpu_plan_template_runs_with_its_survey_defaults(tmp_path):
    runner, contacted = _run(tmp_path, "Kiln GPU plan")
    assert (runner.status, runner.rc) == ("successful", 0)
    assert contacted == ""
    assert set(runner.stats["processed"]) == {"localhost"} and runner.stats["failures"] == {}
    # The default output directory is relative to the project directory, as in AWX's /runner/project.
    plan = os.path.join(REPO_ROOT, "out", "gpu-plan", "plan.json")
    written = [event["event_data"]["res"] for event in runner.events if event.get("event") == "runner_on_ok"
               and event["event_data"].get("task") == "Write the plan as JSON"]
    assert [os.path.realpath(result["dest"]) for result in written] == [os.path.realpath(plan)]
    with open(plan, encoding="utf-8") as handle:
        assert json.load(handle)["summary"]["nodes"] == 6
    # ansible-runner kept its artifacts in the private data directory, not in the repository.
    assert (tmp_path / "runner" / "artifacts").is_dir()


def test_cloud_sync_template_runs_with_its_survey_defaults(tmp_path):
    runner, contacted = _run(tmp_path, "Kiln cloud-sync parity")
    assert (runner.status, runner.rc) == ("successful", 0), runner.stdout.read()[-3000:]
    assert contacted == ""
    assert set(runner.stats["processed"]) == {"localhost"}


@pytest.mark.parametrize("answers, message", [
    ({"kiln_mig_nodes": "hgx1", "kiln_mig_layout": "h100-9x1g"}, 'kiln_mig_layout "h100-9x1g" is not a layout'),
    # hgx1 uses h100-balanced on six GPUs only: the GPU Operator has no whole-node config of that name.
    ({"kiln_mig_nodes": "hgx1", "kiln_mig_layout": "h100-balanced"}, "would not know h100-balanced"),
])
def test_mig_reconfigure_refuses_on_the_controller_before_any_node(tmp_path, answers, message):
    runner, contacted = _run(tmp_path, "Kiln MIG reconfigure", answers)
    assert runner.status == "failed"
    assert contacted == ""
    assert any(message in text for text in _failed_task_messages(runner)), _failed_task_messages(runner)


def test_mig_reconfigure_checks_the_layout_fits_the_gpu_model(tmp_path):
    inventory = tmp_path / "inventory"
    inventory.mkdir()
    (inventory / "hosts.yml").symlink_to(os.path.join(REPO_ROOT, ONPREM, "hosts.yml"))
    (inventory / "host_vars").symlink_to(os.path.join(REPO_ROOT, ONPREM, "host_vars"))
    (inventory / "group_vars").mkdir()
    for name in os.listdir(os.path.join(REPO_ROOT, ONPREM, "group_vars")):
        if name != "all":
            (inventory / "group_vars" / name).symlink_to(os.path.join(REPO_ROOT, ONPREM, "group_vars", name))
    (inventory / "group_vars" / "all.yml").write_text(
        "kiln_mig_layouts:\n  h100-7x1g: [1g.10gb, 1g.10gb, 1g.10gb, 1g.10gb, 1g.10gb, 1g.10gb, 1g.10gb]\n"
        "  too-big: [7g.80gb, 1g.10gb]\n")
    log, envvars = _trap(tmp_path)
    runner = awx_runner.run_job_template("mig-reconfigure", str(inventory),
                                         {"kiln_mig_nodes": "hgx4", "kiln_mig_layout": "too-big"},
                                         private_data_dir=str(tmp_path / "runner"), envvars=envvars)
    assert runner.status == "failed" and not log.exists()
    assert any("too-big" in text or "7g.80gb" in text or "1g.10gb" in text
               for text in _failed_task_messages(runner)), _failed_task_messages(runner)


def test_mig_reconfigure_reaches_only_the_first_control_plane_node_once_the_request_is_valid(tmp_path):
    runner, contacted = _run(tmp_path, "Kiln MIG reconfigure", {"kiln_mig_nodes": "hgx4", "kiln_mig_layout": "h100-7x1g"})
    # The controller play passed; the label play tried cp1 (10.20.0.11) only, where the trap stopped it.
    assert runner.stats["failures"].get("localhost") is None and runner.stats["ok"]["localhost"] >= 4
    assert set(runner.stats["dark"]) == {"cp1"}
    assert "10.20.0.11" in contacted and "10.20.1." not in contacted


def test_etcd_backup_scope_outside_the_survey_choices_is_refused_at_launch(tmp_path):
    with pytest.raises(awx_runner.SurveyError, match="kiln_etcd_backup_scope"):
        _run(tmp_path, "Kiln etcd backup", {"kiln_etcd_backup_scope": "everything"})
    assert not (tmp_path / "runner").exists()


def test_remove_node_with_its_survey_default_confirmation_stops_on_the_controller(tmp_path):
    runner, contacted = _run(tmp_path, "Kiln remove node", {"kiln_remove_nodes": "cpu2"})
    assert runner.status == "failed" and contacted == ""
    assert any("kiln_remove_confirm=yes" in text for text in _failed_task_messages(runner))


def test_a_launch_awx_would_refuse_is_refused_before_ansible_runs(tmp_path):
    with pytest.raises(awx_runner.SurveyError, match="kiln_mig_nodes"):
        awx_runner.run_job_template("Kiln MIG reconfigure", ONPREM, private_data_dir=str(tmp_path))
    assert not (tmp_path / "artifacts").exists()
