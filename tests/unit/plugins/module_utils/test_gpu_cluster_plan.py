"""Unit tests for the cluster GPU plan (module_utils/gpu_cluster_plan.py).

The main cases plan the sample site inventories/onprem exactly as its YAML says (4 HGX H100 nodes, hgx4 all
1g slices, 2 time-sliced A100 nodes); the mig-parted output is checked against the GPU Operator's own default
config (shared/fixtures/mig).
"""

import copy
import glob
import os
import re
import xml.etree.ElementTree as ET

import pytest
import yaml

from ansible_collections.kiln.cluster.plugins.module_utils.gpu_cluster_plan import (
    GpuPlanError,
    plan_cluster,
    render_svg,
    render_table,
)
from ansible_collections.kiln.cluster.plugins.module_utils.mig_profiles import MODELS
from conftest import REPO_ROOT, SHARED_FIXTURES

ONPREM = os.path.join(REPO_ROOT, "inventories", "onprem")
OPERATOR_CONFIG = os.path.join(SHARED_FIXTURES, "mig", "gpu-operator-default-mig-parted-config.yaml")
H100 = "NVIDIA H100 80GB HBM3"
H100_DEVICE_ID = MODELS["H100-80GB"]["device_ids"][0]
H100_PROFILES = set(profile.name for profile in MODELS["H100-80GB"]["profiles"])


# --- the onprem inventory, read with yaml ---------------------------------------------------------------


class _InventoryLoader(yaml.SafeLoader):
    """Safe YAML plus ansible-vault values, kept as their ciphertext (the GPU intent holds none)."""


_InventoryLoader.add_constructor("!vault", lambda loader, node: loader.construct_scalar(node))


def _yaml_files(base, name):
    """Variables of one group or host: <base>/<name>.yml, or every file in <base>/<name>/."""
    merged = {}
    for path in sorted(glob.glob(os.path.join(base, name + ".yml")) + glob.glob(os.path.join(base, name, "*.yml"))):
        with open(path) as handle:
            merged.update(yaml.load(handle, Loader=_InventoryLoader) or {})  # noqa: S506 - a SafeLoader subclass
    return merged


def _collect(name, body, hosts, children):
    """Union of every mention of a group: its direct hosts and its child groups."""
    body = body or {}
    hosts.setdefault(name, set()).update(body.get("hosts") or {})
    children.setdefault(name, set())
    for child, child_body in (body.get("children") or {}).items():
        children[name].add(child)
        _collect(child, child_body, hosts, children)


def load_inventory(path):
    """(host -> variables, group -> hosts) with Ansible's precedence: deeper groups win, host_vars win last."""
    with open(os.path.join(path, "hosts.yml")) as handle:
        tree = yaml.safe_load(handle)
    direct, children = {}, {}
    _collect("all", tree["all"], direct, children)

    def members(group):
        return direct[group].union(*[members(child) for child in children[group]])

    def depth(group):
        # Ansible's group depth: the longest path from "all".
        parents = [parent for parent, kids in children.items() if group in kids]
        return 1 + max(depth(parent) for parent in parents) if parents else 0

    groups = dict((name, members(name)) for name in direct)
    host_vars = {}
    for host in sorted(groups["all"]):
        merged = {}
        for _, group in sorted((depth(g), g) for g in groups if host in groups[g]):
            merged.update(_yaml_files(os.path.join(path, "group_vars"), group))
        merged.update(_yaml_files(os.path.join(path, "host_vars"), host))
        host_vars[host] = merged
    return host_vars, dict((name, sorted(hosts)) for name, hosts in groups.items())


def onprem_intent():
    """(host -> kiln_gpu, kiln_mig_layouts) for the GPU workers of inventories/onprem."""
    host_vars, groups = load_inventory(ONPREM)
    gpu_workers = groups["gpu_workers"]
    layouts = host_vars[gpu_workers[0]]["kiln_mig_layouts"]
    return dict((host, host_vars[host]["kiln_gpu"]) for host in gpu_workers), layouts


@pytest.fixture(scope="module")
def onprem():
    intents, layouts = onprem_intent()
    return plan_cluster(intents, layouts)


def test_loader_reads_the_sample_as_documented():
    intents, layouts = onprem_intent()
    assert sorted(intents) == ["a100a", "a100b", "hgx1", "hgx2", "hgx3", "hgx4"]
    assert intents["hgx4"]["mig"] == {"layout": "h100-7x1g"}  # host_vars replace the group's kiln_gpu
    assert intents["hgx1"]["mig"]["per_gpu"] == {"6": "none", "7": "none"}
    assert intents["a100a"]["time_slicing"] == {"replicas": 4}
    assert "h100-balanced" in layouts


# --- resources ----------------------------------------------------------------------------------------------

HGX_BALANCED = {"nvidia.com/gpu": 2, "nvidia.com/mig-1g.10gb": 12, "nvidia.com/mig-2g.20gb": 6,
                "nvidia.com/mig-3g.40gb": 6}


def test_onprem_node_resources(onprem):
    assert dict((host, node["resources"]) for host, node in onprem["nodes"].items()) == {
        "a100a": {"nvidia.com/gpu": 8},
        "a100b": {"nvidia.com/gpu": 8},
        "hgx1": HGX_BALANCED,
        "hgx2": HGX_BALANCED,
        "hgx3": HGX_BALANCED,
        "hgx4": {"nvidia.com/mig-1g.10gb": 56},
    }


def test_onprem_cluster_totals(onprem):
    assert onprem["totals"] == {"nvidia.com/gpu": 22, "nvidia.com/mig-1g.10gb": 92, "nvidia.com/mig-2g.20gb": 18,
                                "nvidia.com/mig-3g.40gb": 18}
    assert onprem["summary"] == {"nodes": 6, "gpus": 36, "mig_gpus": 26, "whole_gpus": 10}


def test_onprem_gpus_of_a_split_hgx(onprem):
    gpus = onprem["nodes"]["hgx1"]["gpus"]
    assert [(gpu["index"], gpu["mode"], gpu["layout"]) for gpu in gpus] == (
        [(i, "mig", "h100-balanced") for i in range(6)] + [(6, "whole", None), (7, "whole", None)])
    assert gpus[0]["resources"] == {"nvidia.com/mig-1g.10gb": 2, "nvidia.com/mig-2g.20gb": 1,
                                    "nvidia.com/mig-3g.40gb": 1}
    # Placements are the planner's, in creation order: largest first, each at its lowest free start.
    assert [(p["profile"], p["start"], p["size"]) for p in gpus[0]["placements"]] == [
        ("3g.40gb", 4, 4), ("2g.20gb", 0, 2), ("1g.10gb", 2, 1), ("1g.10gb", 3, 1)]
    assert gpus[7] == {"index": 7, "mode": "whole", "layout": None, "placements": [],
                       "resources": {"nvidia.com/gpu": 1}}


def test_onprem_time_sliced_gpu_advertises_one_per_replica(onprem):
    assert [gpu["resources"] for gpu in onprem["nodes"]["a100a"]["gpus"]] == [{"nvidia.com/gpu": 4}] * 2


# --- strategy, configs, labels ------------------------------------------------------------------------------


def test_onprem_strategy_is_mixed_because_hgx1_mixes_mig_and_whole_gpus(onprem):
    assert onprem["strategy"] == "mixed"


def test_onprem_mig_parted_config(onprem):
    config = onprem["mig_parted_config"]
    assert config["version"] == "v1"
    assert sorted(config["mig-configs"]) == ["all-disabled", "h100-7x1g", "kiln-hgx1", "kiln-hgx2", "kiln-hgx3"]
    assert config["mig-configs"]["all-disabled"] == [{"devices": "all", "mig-enabled": False}]
    assert config["mig-configs"]["h100-7x1g"] == [{"devices": "all", "mig-enabled": True,
                                                   "mig-devices": {"1g.10gb": 7}}]
    assert config["mig-configs"]["kiln-hgx1"] == [
        {"devices": [0, 1, 2, 3, 4, 5], "mig-enabled": True,
         "mig-devices": {"3g.40gb": 1, "2g.20gb": 1, "1g.10gb": 2}},
        {"devices": [6, 7], "mig-enabled": False},
    ]
    assert onprem["mig_default_config"] == "all-disabled"


def test_onprem_time_slicing_configs(onprem):
    assert onprem["time_slicing_configs"] == {
        "no-time-slicing": {"version": "v1"},
        "ts-gpu-x4": {"version": "v1",
                      "sharing": {"timeSlicing": {"resources": [{"name": "nvidia.com/gpu", "replicas": 4}]}}},
    }
    assert onprem["time_slicing_default_config"] == "no-time-slicing"


def test_onprem_node_labels(onprem):
    sliced = {"nvidia.com/mig.config": "all-disabled", "nvidia.com/device-plugin.config": "ts-gpu-x4"}
    assert onprem["node_labels"] == {
        "a100a": sliced,
        "a100b": sliced,
        "hgx1": {"nvidia.com/mig.config": "kiln-hgx1"},
        "hgx2": {"nvidia.com/mig.config": "kiln-hgx2"},
        "hgx3": {"nvidia.com/mig.config": "kiln-hgx3"},
        "hgx4": {"nvidia.com/mig.config": "h100-7x1g"},
    }
    for labels in onprem["node_labels"].values():
        assert labels["nvidia.com/mig.config"] in onprem["mig_parted_config"]["mig-configs"]
        assert labels.get("nvidia.com/device-plugin.config", "no-time-slicing") in onprem["time_slicing_configs"]


def _hgx(layout="h100-7x1g", **extra):
    intent = {"model": H100, "count": 8, "nvswitch": True, "mig": {"layout": layout}}
    intent.update(extra)
    return intent


A100_SLICED = {"model": "NVIDIA A100 80GB PCIe", "count": 2, "time_slicing": {"replicas": 4}}


def test_single_strategy_when_every_mig_node_is_uniform():
    plan = plan_cluster({"hgx4": _hgx(), "a100a": A100_SLICED}, {"h100-7x1g": ["1g.10gb"] * 7})
    assert plan["strategy"] == "single"
    # With the single strategy the device plugin advertises MIG instances as nvidia.com/gpu.
    assert plan["nodes"]["hgx4"]["resources"] == {"nvidia.com/gpu": 56}
    assert plan["totals"] == {"nvidia.com/gpu": 64}


def test_uniform_layout_of_several_profiles_is_mixed():
    layouts = {"h100-balanced": ["3g.40gb", "2g.20gb", "1g.10gb", "1g.10gb"]}
    plan = plan_cluster({"hgx1": _hgx("h100-balanced")}, layouts)
    assert plan["strategy"] == "mixed"
    assert plan["nodes"]["hgx1"]["mig_config"] == "h100-balanced"


def test_no_mig_anywhere_is_strategy_none():
    plan = plan_cluster({"a100a": A100_SLICED}, {})
    assert plan["strategy"] == "none"
    assert plan["mig_parted_config"]["mig-configs"] == {"all-disabled": [{"devices": "all", "mig-enabled": False}]}


def test_gpu_without_a_mig_table_can_still_be_whole_and_time_sliced():
    plan = plan_cluster({"t4": {"model": "Tesla T4", "count": 1, "time_slicing": {"replicas": 8}}}, {})
    node = plan["nodes"]["t4"]
    assert (node["model_name"], node["resources"], node["time_slicing_config"]) == (None, {"nvidia.com/gpu": 8},
                                                                                     "ts-gpu-x8")
    assert "t4 GPU 0: whole GPU time-sliced x8" in render_svg(plan)


def test_per_profile_time_slicing_multiplies_instances():
    layouts = {"h100-balanced": ["3g.40gb", "2g.20gb", "1g.10gb", "1g.10gb"]}
    # replicas needs a whole GPU; this node has none, so only the per-profile sharing applies.
    intent = _hgx("h100-balanced", time_slicing={"replicas": 2, "per_profile": {"1g.10gb": 3}})
    plan = plan_cluster({"hgx1": intent}, layouts)
    node = plan["nodes"]["hgx1"]
    assert node["gpus"][0]["resources"] == {"nvidia.com/mig-1g.10gb": 6, "nvidia.com/mig-2g.20gb": 1,
                                            "nvidia.com/mig-3g.40gb": 1}
    assert node["time_slicing_config"] == "ts-1g.10gb-x3"
    assert plan["time_slicing_configs"]["ts-1g.10gb-x3"] == {
        "version": "v1",
        "sharing": {"timeSlicing": {"resources": [{"name": "nvidia.com/mig-1g.10gb", "replicas": 3}]}}}
    assert node["labels"]["nvidia.com/device-plugin.config"] == "ts-1g.10gb-x3"


def test_same_intent_on_two_nodes_shares_one_config(onprem):
    assert onprem["nodes"]["a100a"]["time_slicing_config"] == onprem["nodes"]["a100b"]["time_slicing_config"]
    assert len(onprem["time_slicing_configs"]) == 2


# --- failures ---------------------------------------------------------------------------------------------


def test_impossible_layout_names_host_gpu_and_profile():
    intents, layouts = onprem_intent()
    intents = copy.deepcopy(intents)
    layouts = dict(layouts, **{"h100-too-big": ["4g.40gb", "3g.40gb", "1g.10gb"]})
    intents["hgx2"]["mig"]["per_gpu"]["3"] = "h100-too-big"
    with pytest.raises(GpuPlanError) as err:
        plan_cluster(intents, layouts)
    message = err.value.message
    assert message.startswith("hgx2: GPU 3: MIG layout h100-too-big")
    assert "1g.10gb does not fit on H100-80GB" in message


def test_unplaceable_layout_on_several_gpus_names_them_all():
    layouts = {"two-4g": ["4g.40gb", "4g.40gb"]}
    with pytest.raises(GpuPlanError) as err:
        plan_cluster({"hgx9": _hgx("two-4g")}, layouts)
    assert err.value.message.startswith("hgx9: GPU 0, 1, 2, 3, 4, 5, 6, 7: MIG layout two-4g")
    assert "too many instances of 4g.40gb" in err.value.message


def test_undefined_layout_is_named():
    with pytest.raises(GpuPlanError) as err:
        plan_cluster({"hgx1": _hgx("nope")}, {"h100-7x1g": ["1g.10gb"] * 7})
    assert err.value.message == ("hgx1: GPU 0: layout 'nope' is not defined in kiln_mig_layouts "
                                 "(defined: h100-7x1g)")


def test_layout_named_like_a_kiln_config_is_refused():
    layouts = {"all-disabled": ["1g.10gb"] * 7}
    with pytest.raises(GpuPlanError) as err:
        plan_cluster({"hgx1": _hgx("all-disabled")}, layouts)
    assert "mig-parted config 'all-disabled' means two different things" in err.value.message


# --- against the GPU Operator's own mig-parted config ----------------------------------------------------------


def _operator_configs():
    with open(OPERATOR_CONFIG) as handle:
        config_map = yaml.safe_load(handle)
    return yaml.safe_load(config_map["data"]["config.yaml"])["mig-configs"]


def _h100_entry(blocks):
    """The block of an operator config that applies to an H100 80GB, or None."""
    for block in blocks:
        device_filter = block.get("device-filter")
        if device_filter is None:
            return block
        device_filter = [device_filter] if isinstance(device_filter, str) else device_filter
        if any(re.sub(r"^0x", "", d, flags=re.IGNORECASE).upper() == H100_DEVICE_ID for d in device_filter):
            return block
    return None


def _h100_operator_cases():
    for name, blocks in sorted(_operator_configs().items()):
        block = _h100_entry(blocks)
        if block and block.get("mig-enabled") and set(block["mig-devices"]) <= H100_PROFILES:
            yield name, block


H100_OPERATOR_CASES = list(_h100_operator_cases())


def test_operator_fixture_has_the_h100_configs_kiln_compares_with():
    names = [name for name, _ in H100_OPERATOR_CASES]
    assert {"all-1g.10gb", "all-balanced", "all-3g.40gb", "all-7g.80gb", "all-enabled"} <= set(names)


@pytest.mark.parametrize("name,block", H100_OPERATOR_CASES, ids=[name for name, _ in H100_OPERATOR_CASES])
def test_uniform_node_config_equals_the_operators(name, block):
    """A node whose GPUs all use the operator's layout gets the operator's entry (less its device filter)."""
    layout = [profile for profile, count in sorted(block["mig-devices"].items()) for _ in range(count)]
    plan = plan_cluster({"hgx1": _hgx(name)}, {name: layout})
    expected = dict((key, value) for key, value in block.items() if key != "device-filter")
    assert plan["mig_parted_config"]["mig-configs"][name] == [expected]


def test_onprem_layouts_equal_the_operators_for_the_same_layout(onprem):
    operator = _operator_configs()
    configs = onprem["mig_parted_config"]["mig-configs"]
    # hgx4's seven 1g slices are the operator's all-1g.10gb for the H100.
    assert configs["h100-7x1g"][0]["mig-devices"] == _h100_entry(operator["all-1g.10gb"])["mig-devices"]
    # h100-balanced (hgx1-3, GPUs 0-5) is the operator's all-balanced for the H100.
    assert configs["kiln-hgx1"][0]["mig-devices"] == _h100_entry(operator["all-balanced"])["mig-devices"]
    # Every config shares the operator's all-disabled.
    assert configs["all-disabled"] == operator["all-disabled"]


# --- renderers --------------------------------------------------------------------------------------------------


def test_table_groups_identical_nodes_and_gpus_and_splits_the_totals(onprem):
    table = render_table(onprem)
    text = "\n".join(table)
    assert table[0] == "GPU plan: 6 nodes, 36 GPUs (26 MIG, 10 whole), MIG strategy mixed"
    gpu_rows = [line for line in table if re.match(r"^(hgx|a100)\S*(, \S+)*\s+[\d, -]+\s+(mig|whole)\s", line)]
    # hgx1-hgx3 are alike (GPUs 0-5 balanced, 6-7 whole), the A100s alike: 4 rows instead of 36.
    assert len(gpu_rows) == 4, gpu_rows
    assert re.search(r"^hgx1-hgx3\s+0-5\s+mig\s+h100-balanced\s+0-1:2g\.20gb 2:1g\.10gb 3:1g\.10gb 4-7:3g\.40gb\s+"
                     r"mig-1g\.10gb=2 mig-2g\.20gb=1 mig-3g\.40gb=1$", text, re.MULTILINE)
    assert re.search(r"^a100a, a100b\s+0-1\s+whole\s+-\s+whole GPU\s+gpu=4 \(shared x4\)$", text, re.MULTILINE)
    # The node-specific mig-parted configs of a group are named as a pattern, not as one node's.
    assert re.search(r"^hgx1-hgx3\s+3\s+H100-80GB\s+nvidia\.com/mig\.config=kiln-<node>\s", text, re.MULTILINE)
    # Totals by resource name, each with where it comes from: never whole and shared GPUs as one bare number.
    assert table[-5:] == [
        "CLUSTER TOTAL           COUNT  FROM",
        "nvidia.com/gpu          22     16 time-sliced replicas (x4) on 4 GPUs + 6 whole GPUs",
        "nvidia.com/mig-1g.10gb  92     92 MIG 1g.10gb instances on 26 GPUs",
        "nvidia.com/mig-2g.20gb  18     18 MIG 2g.20gb instances on 18 GPUs",
        "nvidia.com/mig-3g.40gb  18     18 MIG 3g.40gb instances on 18 GPUs"]


def _svg(plan):
    root = ET.fromstring(render_svg(plan))
    namespace = "{http://www.w3.org/2000/svg}"
    blocks = [rect for rect in root.iter(namespace + "rect") if rect.find(namespace + "title") is not None]
    titles = dict((rect.find(namespace + "title").text, rect) for rect in blocks)
    texts = [text.text for text in root.iter(namespace + "text")]
    return root, namespace, titles, texts


def test_svg_draws_a_block_per_instance_coloured_by_profile_with_a_legend(onprem):
    root, namespace, titles, texts = _svg(onprem)
    # One block per MIG instance (its label inside it, no slice boundary through it), free slices apart.
    assert "hgx1, hgx2, hgx3 GPU 0-5: 3g.40gb on slices 4-7" in titles
    assert titles["hgx1, hgx2, hgx3 GPU 0-5: 3g.40gb on slices 4-7"].get("width") == str(4 * 64 - 2)
    assert "hgx4 GPU 0-7: slice 7 free" in titles
    # A profile has one colour everywhere, and the legend names it.
    ones = [rect.get("fill") for title, rect in titles.items() if ": 1g.10gb on slice" in title]
    assert len(set(ones)) == 1 and len(ones) == 2 + 7
    legend = [text for text in texts if text in ("1g.10gb", "2g.20gb", "3g.40gb", "whole GPU",
                                                 "time-sliced (hatched)", "free memory slices")]
    assert sorted(set(legend)) == ["1g.10gb", "2g.20gb", "3g.40gb", "free memory slices", "time-sliced (hatched)",
                                   "whole GPU"]
    # Whole and time-sliced GPUs are told apart: the shared ones are hatched and say by how much.
    assert "a100a, a100b GPU 0-1: whole GPU time-sliced x4" in titles
    hatched = [rect for rect in root.iter(namespace + "rect") if rect.get("fill") == "url(#time-sliced)"]
    assert len(hatched) == 1 + 1  # the A100 row, and the legend's swatch
    assert "x3 nodes x 6 GPUs" in texts and "x1 node x 8 GPUs" in texts
    assert "nvidia.com/gpu: 22 = 16 time-sliced replicas (x4) on 4 GPUs + 6 whole GPUs" in texts


def test_svg_of_thousands_of_alike_nodes_stays_small():
    intents = dict(("node%04d" % i, {"model": "NVIDIA H100 80GB HBM3", "count": 8,
                                     "mig": {"layout": "h100-7x1g" if i % 2 else "h100-2x3g"}}) for i in range(5000))
    plan = plan_cluster(intents, {"h100-7x1g": ["1g.10gb"] * 7, "h100-2x3g": ["3g.40gb"] * 2})
    svg = render_svg(plan)
    assert len(svg) < 20000, len(svg)
    _, _, titles, texts = _svg(plan)
    rows = [text for text in texts if text.startswith("node")]
    assert len(rows) == 2 and all("+" in row and "more" in row for row in rows), rows
    # MIG strategy single: both profiles are advertised as nvidia.com/gpu, and the total says so.
    assert ("nvidia.com/gpu: 180000 = 140000 MIG 1g.10gb instances on 20000 GPUs + 40000 MIG 3g.40gb instances on "
            "20000 GPUs") in texts
    assert len(render_table(plan)) < 20
