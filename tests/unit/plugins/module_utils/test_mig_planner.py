"""Unit tests for the MIG planner (module_utils/mig_planner.py) and its tables (module_utils/mig_profiles.py)."""

import itertools
import os
import re
import xml.etree.ElementTree as ET

import pytest
import yaml

from ansible_collections.kiln.cluster.plugins.module_utils.mig_planner import (
    MigPlanError,
    advertised_resources,
    find_model,
    mig_parted_entry,
    plan_layout,
)
from ansible_collections.kiln.cluster.plugins.module_utils.mig_profiles import MODELS, Profile
from conftest import SHARED_FIXTURES

OPERATOR_CONFIG = os.path.join(SHARED_FIXTURES, "mig", "gpu-operator-default-mig-parted-config.yaml")
NVIDIA_SMI_A100 = os.path.join(SHARED_FIXTURES, "nvidia-smi", "a100-sxm4-v12.xml")

H100 = "NVIDIA H100 80GB HBM3"


def _starts(placements):
    return [(placement["profile"], placement["start"]) for placement in placements]


def _assert_feasible(model_name, placements):
    """Each instance sits on an allowed start, none overlap, and the compute slices suffice."""
    model = MODELS[model_name]
    profiles = dict((profile.name, profile) for profile in model["profiles"])
    taken = set()
    for placement in placements:
        profile = profiles[placement["profile"]]
        assert placement["start"] in profile.starts
        assert placement["size"] == profile.memory_slices
        span = set(range(placement["start"], placement["start"] + placement["size"]))
        assert not span & taken
        taken |= span
    assert sum(placement["compute_slices"] for placement in placements) <= model["compute_slices"]


# --- the tables -----------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(MODELS))
def test_table_is_consistent(name):
    model = MODELS[name]
    names = [profile.name for profile in model["profiles"]]
    assert len(set(names)) == len(names)
    assert len(set(profile.profile_id for profile in model["profiles"])) == len(names)
    for device_id in model["device_ids"]:
        assert re.match(r"^[0-9A-F]{4}10DE$", device_id)
    for product_name in model["product_names"]:
        assert product_name.startswith("NVIDIA ")
    for profile in model["profiles"]:
        compute, memory = re.match(r"^(\d+)g\.(\d+)gb(\+me)?$", profile.name).groups()[:2]
        assert (profile.compute_slices, profile.memory_gib) == (int(compute), int(memory))
        assert profile.compute_slices <= model["compute_slices"]
        assert all(0 <= start and start + profile.memory_slices <= model["memory_slices"] for start in profile.starts)
        assert 1 <= profile.max_instances <= len(profile.starts)
        if profile.name.endswith("+me"):
            assert profile.max_instances == 1


def test_device_ids_are_unique_across_models():
    device_ids = [device_id for model in MODELS.values() for device_id in model["device_ids"]]
    assert len(set(device_ids)) == len(device_ids)


# --- valid and invalid layouts --------------------------------------------------------------------------

# (model, layout, [(profile, start)] in creation order)
VALID = [
    ("A30-24GB", ["4g.24gb"], [("4g.24gb", 0)]),
    ("A30-24GB", ["1g.6gb", "2g.12gb", "1g.6gb"], [("2g.12gb", 0), ("1g.6gb", 2), ("1g.6gb", 3)]),
    ("A30-24GB", ["2g.12gb+me", "2g.12gb"], [("2g.12gb", 0), ("2g.12gb+me", 2)]),
    (
        "A30-24GB",
        ["1g.6gb+me", "1g.6gb", "1g.6gb", "1g.6gb"],
        [("1g.6gb", 0), ("1g.6gb", 1), ("1g.6gb", 2), ("1g.6gb+me", 3)],
    ),
    ("A100-40GB", ["7g.40gb"], [("7g.40gb", 0)]),
    ("A100-40GB", ["1g.5gb", "4g.20gb", "2g.10gb"], [("4g.20gb", 0), ("2g.10gb", 4), ("1g.5gb", 6)]),
    ("A100-40GB", ["3g.20gb", "3g.20gb"], [("3g.20gb", 0), ("3g.20gb", 4)]),
    ("A100-40GB", ["1g.10gb"] * 4, [("1g.10gb", 0), ("1g.10gb", 2), ("1g.10gb", 4), ("1g.10gb", 6)]),
    ("A100-40GB", ["1g.5gb"] * 7, [("1g.5gb", start) for start in range(7)]),
    # 3g.20gb at 0 would leave only slice 7 for the second 1g.5gb, which cannot start there.
    (
        "A100-40GB",
        ["1g.5gb", "3g.20gb", "1g.5gb", "2g.10gb"],
        [("3g.20gb", 4), ("2g.10gb", 0), ("1g.5gb", 2), ("1g.5gb", 3)],
    ),
    ("A100-80GB", ["4g.40gb", "1g.20gb", "1g.20gb"], [("4g.40gb", 0), ("1g.20gb", 4), ("1g.20gb", 6)]),
    (
        "A100-80GB",
        ["3g.40gb", "2g.20gb", "1g.10gb", "1g.10gb"],
        [("3g.40gb", 4), ("2g.20gb", 0), ("1g.10gb", 2), ("1g.10gb", 3)],
    ),
    ("H100-80GB", ["4g.40gb", "2g.20gb", "1g.10gb"], [("4g.40gb", 0), ("2g.20gb", 4), ("1g.10gb", 6)]),
    ("H100-80GB", ["1g.10gb+me"] + ["1g.10gb"] * 6, [("1g.10gb", start) for start in range(6)] + [("1g.10gb+me", 6)]),
    # The 1g.20gb moves to 6 so the two 1g.10gb get 4 and 5.
    (
        "H100-80GB",
        ["1g.10gb", "1g.20gb", "3g.40gb", "1g.10gb"],
        [("3g.40gb", 0), ("1g.20gb", 6), ("1g.10gb", 4), ("1g.10gb", 5)],
    ),
    ("H100-NVL-94GB", ["3g.47gb", "4g.47gb"], [("4g.47gb", 0), ("3g.47gb", 4)]),
    ("H100-NVL-94GB", ["2g.24gb"] * 3 + ["1g.12gb"], [("2g.24gb", 0), ("2g.24gb", 2), ("2g.24gb", 4), ("1g.12gb", 6)]),
    (
        "H200-141GB",
        ["1g.18gb", "2g.35gb", "3g.71gb", "1g.18gb"],
        [("3g.71gb", 4), ("2g.35gb", 0), ("1g.18gb", 2), ("1g.18gb", 3)],
    ),
    ("H200-141GB", ["7g.141gb"], [("7g.141gb", 0)]),
    ("GH200-96GB", ["1g.24gb"] * 4, [("1g.24gb", 0), ("1g.24gb", 2), ("1g.24gb", 4), ("1g.24gb", 6)]),
    ("GH200-96GB", ["4g.48gb", "3g.48gb"], [("4g.48gb", 0), ("3g.48gb", 4)]),
    (
        "GH200-144GB",
        ["2g.36gb"] * 3 + ["1g.18gb+me"],
        [("2g.36gb", 0), ("2g.36gb", 2), ("2g.36gb", 4), ("1g.18gb+me", 6)],
    ),
    ("GH200-144GB", ["3g.72gb", "1g.36gb", "1g.36gb"], [("3g.72gb", 0), ("1g.36gb", 4), ("1g.36gb", 6)]),
]


@pytest.mark.parametrize("model,layout,expected", VALID)
def test_valid_layout(model, layout, expected):
    placements = plan_layout(model, layout)

    assert _starts(placements) == expected
    _assert_feasible(model, placements)


# (model, layout, what the message must say)
INVALID = [
    ("A30-24GB", ["1g.5gb"], r"^profile '1g.5gb' is not valid for A30-24GB; valid profiles: 4g.24gb, 2g.12gb, "),
    ("A30-24GB", ["2g.12gb"] * 3, r"^too many instances of 2g.12gb on A30-24GB: 3 requested, max 2$"),
    (
        "A30-24GB",
        ["1g.6gb+me", "2g.12gb+me"],
        r"^too many media-extension \(\+me\) instances on A30-24GB: 1g.6gb\+me x1, 2g.12gb\+me x1 requested, max 1",
    ),
    (
        "A30-24GB",
        ["1g.6gb", "4g.24gb"],
        r"^1g.6gb does not fit on A30-24GB: compute slices exhausted \(need 1, have 0; 4g.24gb use 4 of 4\)$",
    ),
    ("A100-40GB", ["1g.10gb"] * 5, r"^too many instances of 1g.10gb on A100-40GB: 5 requested, max 4$"),
    ("A100-40GB", ["4g.20gb", "4g.20gb"], r"^too many instances of 4g.20gb on A100-40GB: 2 requested, max 1$"),
    (
        "A100-40GB",
        ["7g.40gb", "1g.5gb"],
        r"^1g.5gb does not fit on A100-40GB: compute slices exhausted \(need 1, have 0; 7g.40gb use 7 of 7\)$",
    ),
    (
        "A100-40GB",
        ["2g.10gb", "4g.20gb", "2g.10gb"],
        r"^2g.10gb does not fit on A100-40GB: compute slices exhausted \(need 2, have 1; "
        r"4g.20gb, 2g.10gb use 6 of 7\)$",
    ),
    (
        "A100-40GB",
        ["3g.20gb", "3g.20gb", "1g.5gb"],
        r"^1g.5gb does not fit on A100-40GB: memory slices exhausted \(need 1, have 0; 3g.20gb, 3g.20gb use 8 of 8\)$",
    ),
    ("A100-80GB", ["1g.5gb"], r"^profile '1g.5gb' is not valid for A100-80GB; valid profiles: 7g.80gb, "),
    (
        "A100-80GB",
        ["1g.20gb"] * 4 + ["1g.10gb"],
        r"^1g.10gb does not fit on A100-80GB: memory slices exhausted \(need 1, have 0; "
        r"1g.20gb, 1g.20gb, 1g.20gb, 1g.20gb use 8 of 8\)$",
    ),
    ("H100-80GB", ["1g.10gb"] * 8, r"^too many instances of 1g.10gb on H100-80GB: 8 requested, max 7$"),
    (
        "H100-80GB",
        ["3g.40gb", "3g.40gb", "1g.10gb"],
        r"^1g.10gb does not fit on H100-80GB: memory slices exhausted \(need 1, have 0; 3g.40gb, 3g.40gb use 8 of 8\)$",
    ),
    ("H100-80GB", ["3g.20gb"], r"^profile '3g.20gb' is not valid for H100-80GB; "),
    ("H100-NVL-94GB", ["3g.47gb"] * 3, r"^too many instances of 3g.47gb on H100-NVL-94GB: 3 requested, max 2$"),
    (
        "H100-NVL-94GB",
        ["4g.47gb", "3g.47gb", "1g.12gb"],
        r"^1g.12gb does not fit on H100-NVL-94GB: compute slices exhausted \(need 1, have 0; "
        r"4g.47gb, 3g.47gb use 7 of 7\)$",
    ),
    (
        "H200-141GB",
        ["2g.35gb"] * 3 + ["1g.35gb", "1g.18gb"],
        r"^1g.18gb does not fit on H200-141GB: compute slices exhausted \(need 1, have 0; ",
    ),
    ("H200-141GB", ["1g.18gb+me"] * 2, r"^too many instances of 1g.18gb\+me on H200-141GB: 2 requested, max 1$"),
    (
        "GH200-96GB",
        ["1g.24gb"] * 4 + ["1g.12gb"],
        r"^1g.12gb does not fit on GH200-96GB: memory slices exhausted \(need 1, have 0; ",
    ),
    ("GH200-96GB", ["7g.94gb"], r"^profile '7g.94gb' is not valid for GH200-96GB; "),
    (
        "GH200-144GB",
        ["3g.72gb", "3g.72gb", "1g.18gb+me"],
        r"^1g.18gb\+me does not fit on GH200-144GB: memory slices exhausted \(need 1, have 0; ",
    ),
    ("GH200-144GB", ["7g.144gb"] * 2, r"^too many instances of 7g.144gb on GH200-144GB: 2 requested, max 1$"),
    ("NVIDIA B200", ["1g.23gb"], r"^unknown GPU model 'NVIDIA B200'; known models: A30-24GB, .*, GH200-144GB "),
    # A near miss of a product name gets a suggestion; a GPU without MIG is named as such (the fix differs).
    ("NVIDIA H100 80GB HBM", ["1g.10gb"], r"^unknown GPU model 'NVIDIA H100 80GB HBM'; did you mean H100-80GB\? "),
    ("Tesla T4", ["1g.10gb"], r"^Tesla T4 has no MIG \(MIG needs an A30, A100, H100, H200 or GH200\); remove "),
    ("NVIDIA L40S", ["1g.10gb"], r"^NVIDIA L40S has no MIG "),
    ("NVIDIA GeForce RTX 3080", ["1g.10gb"], r"^NVIDIA GeForce RTX 3080 has no MIG "),
    ("NVIDIA A100 80GB HBM2e", ["1g.10gb"], r"^unknown GPU model 'NVIDIA A100 80GB HBM2e'; "),
]


@pytest.mark.parametrize("model,layout,reason", INVALID)
def test_invalid_layout(model, layout, reason):
    with pytest.raises(MigPlanError, match=reason):
        plan_layout(model, layout)


def test_every_model_has_valid_and_invalid_cases():
    assert set(model for model, _, _ in VALID) == set(MODELS)
    assert set(model for model, _, _ in INVALID) >= set(MODELS)


# --- placement versus slice counts ----------------------------------------------------------------------

# Layouts that fit by slice counts but have no placement: none, on any model. A brute force over every
# layout within the instance limits (916 fit by count: 20 on the A30, 128 on each 8-slice model) finds a
# placement for each, and test_slice_counts_decide_on_every_model keeps it that way. Why: on the 8-slice
# GPUs no instance smaller than 4 slices but the 2-slice 1g can start on the 8th slice; a layout that needs
# all 8 memory slices within 7 compute slices must hold a profile with more memory than compute slices
# (3g, 2-slice 1g or 7g), which can cover it, and all other starts are aligned like a buddy allocator's.
# The A30 (4 compute, 4 memory slices) is aligned the same way. The "no free placement" error is therefore
# exercised on a made-up geometry below.


def _layouts_that_fit_by_count(model):
    profiles = model["profiles"]
    for counts in itertools.product(*[range(profile.max_instances + 1) for profile in profiles]):
        chosen = [profile for profile, count in zip(profiles, counts) for _ in range(count)]
        if (
            sum(profile.compute_slices for profile in chosen) <= model["compute_slices"]
            and sum(profile.memory_slices for profile in chosen) <= model["memory_slices"]
            and sum(profile.name.endswith("+me") for profile in chosen) <= model["media_extension_instances"]
        ):
            yield [profile.name for profile in chosen]


@pytest.mark.parametrize("name", sorted(MODELS))
def test_slice_counts_decide_on_every_model(name):
    layouts = list(_layouts_that_fit_by_count(MODELS[name]))

    # Empty layout included; every 8-slice model has the same geometry, hence the same count.
    assert len(layouts) == (20 if name == "A30-24GB" else 128)
    for layout in layouts:
        _assert_feasible(name, plan_layout(name, layout))


TOY_MODEL = {
    # Two 1-slice instances may only start on even slices, so they collide around a 2-slice one.
    "product_names": ("NVIDIA Toy",),
    "device_ids": ("FFF010DE",),
    "memory_slices": 4,
    "compute_slices": 4,
    "media_extension_instances": 1,
    "profiles": (
        Profile("2g.2gb", 1, 2, 2, 2, 2, (0, 2)),
        Profile("1g.1gb", 2, 1, 1, 1, 2, (0, 2)),
    ),
}


def test_no_free_placement_names_the_profile_and_the_taken_slices(monkeypatch):
    monkeypatch.setitem(MODELS, "TOY-4GB", TOY_MODEL)

    assert _starts(plan_layout("TOY-4GB", ["1g.1gb", "2g.2gb"])) == [("2g.2gb", 0), ("1g.1gb", 2)]
    with pytest.raises(MigPlanError) as exc:
        plan_layout("TOY-4GB", ["1g.1gb", "2g.2gb", "1g.1gb"])
    assert exc.value.message == (
        "1g.1gb does not fit on TOY-4GB: no free placement "
        "(allowed starts 0, 2, size 1; already taken: 2g.2gb on slices 0-1, 1g.1gb on slice 2)"
    )


def test_creation_order_does_not_depend_on_input_order():
    layout = ["1g.10gb", "3g.40gb", "2g.20gb", "1g.10gb"]
    expected = plan_layout(H100, layout)

    for permutation in itertools.permutations(layout):
        assert plan_layout(H100, list(permutation)) == expected


def test_empty_layout_enables_mig_without_instances():
    assert plan_layout(H100, []) == []
    assert mig_parted_entry(H100, []) == {"devices": "all", "mig-enabled": True, "mig-devices": {}}


# --- the known issue examples ---------------------------------------------------------------------------


def test_h100_issue_examples():
    assert plan_layout(H100, ["4g.40gb", "2g.20gb", "1g.10gb"]) == [
        {"profile": "4g.40gb", "profile_id": 5, "start": 0, "size": 4, "compute_slices": 4, "memory_gib": 40},
        {"profile": "2g.20gb", "profile_id": 14, "start": 4, "size": 2, "compute_slices": 2, "memory_gib": 20},
        {"profile": "1g.10gb", "profile_id": 19, "start": 6, "size": 1, "compute_slices": 1, "memory_gib": 10},
    ]
    with pytest.raises(MigPlanError) as exc:
        plan_layout(H100, ["3g.40gb", "3g.40gb", "1g.10gb"])
    assert exc.value.message == (
        "1g.10gb does not fit on H100-80GB: memory slices exhausted (need 1, have 0; 3g.40gb, 3g.40gb use 8 of 8)"
    )


# --- media extensions -----------------------------------------------------------------------------------


def _media_profiles():
    for name, model in sorted(MODELS.items()):
        for profile in model["profiles"]:
            if profile.name.endswith("+me"):
                yield name, profile.name


@pytest.mark.parametrize("model,profile", list(_media_profiles()))
def test_one_media_extension_instance_per_gpu(model, profile):
    assert len(plan_layout(model, [profile])) == 1
    reason = r"^too many instances of %s on %s: 2 requested, max 1$" % (re.escape(profile), model)
    with pytest.raises(MigPlanError, match=reason):
        plan_layout(model, [profile, profile])


@pytest.mark.parametrize("model", sorted(name for name in MODELS if MODELS[name]["memory_slices"] == 8))
def test_media_extension_instance_beside_six_plain_ones(model):
    # On every 8-slice GPU, -lgip ids 19 and 20 are the 1-slice profile and its +me twin.
    names = dict((profile.profile_id, profile.name) for profile in MODELS[model]["profiles"])
    plain, media = names[19], names[20]
    placements = plan_layout(model, [media] + [plain] * 6)

    assert _starts(placements) == [(plain, start) for start in range(6)] + [(media, 6)]


# --- model lookup ---------------------------------------------------------------------------------------


def _lookup_cases():
    for canonical, model in sorted(MODELS.items()):
        yield canonical, canonical
        yield canonical.lower(), canonical
        for product_name in model["product_names"]:
            bare = product_name[len("NVIDIA ") :]
            for spelling in (product_name, product_name.upper(), bare, bare.lower(), "  nvidia   " + bare + " "):
                yield spelling, canonical
        for device_id in model["device_ids"]:
            for spelling in (device_id, device_id.lower(), "0x" + device_id, "0x" + device_id.lower(), device_id[:4]):
                yield spelling, canonical


@pytest.mark.parametrize("spelling,canonical", list(_lookup_cases()))
def test_lookup(spelling, canonical):
    assert find_model(spelling) == (canonical, MODELS[canonical])


def test_lookup_of_the_nvidia_smi_report():
    gpu = ET.parse(NVIDIA_SMI_A100).getroot().find("gpu")

    assert gpu.findtext("product_name") == "NVIDIA A100-SXM4-80GB"
    assert find_model(gpu.findtext("product_name"))[0] == "A100-80GB"
    assert find_model(gpu.findtext("pci/pci_device_id"))[0] == "A100-80GB"


@pytest.mark.parametrize(
    "spelling",
    [
        "NVIDIA A100",  # 40 or 80 GB: ambiguous on purpose
        "NVIDIA B200",
        "1EB810DE",  # Tesla T4, no MIG
        "10DE20B2",  # vendor and device swapped
        "20B21234",  # not the NVIDIA vendor id
        "0x20B2X",
        "",
    ],
)
def test_lookup_of_unknown_models(spelling):
    with pytest.raises(MigPlanError, match=r"^unknown GPU model '.*'; known models: A30-24GB, "):
        find_model(spelling)


# --- GPU Operator default mig-parted config -------------------------------------------------------------

KNOWN_DEVICE_IDS = dict(
    (device_id, canonical) for canonical, model in MODELS.items() for device_id in model["device_ids"]
)


def _operator_cases():
    """(config name, device id, model, block) for every all-* block whose device filter names a known model."""
    with open(OPERATOR_CONFIG) as handle:
        config_map = yaml.safe_load(handle)
    configs = yaml.safe_load(config_map["data"]["config.yaml"])["mig-configs"]
    for name, blocks in sorted(configs.items()):
        if not name.startswith("all-"):
            continue
        for block in blocks:
            device_filter = block.get("device-filter", [])
            for device_id in [device_filter] if isinstance(device_filter, str) else device_filter:
                model = KNOWN_DEVICE_IDS.get(re.sub(r"^0x", "", device_id, flags=re.IGNORECASE).upper())
                if model:
                    yield name, device_id, model, block


OPERATOR_CASES = list(_operator_cases())


def test_operator_config_names_every_model():
    assert set(model for _, _, model, _ in OPERATOR_CASES) == set(MODELS)


@pytest.mark.parametrize(
    "config,device_id,model,block",
    OPERATOR_CASES,
    ids=["%s-%s" % (config, device_id) for config, device_id, _, _ in OPERATOR_CASES],
)
def test_operator_default_config(config, device_id, model, block):
    layout = [profile for profile, count in block["mig-devices"].items() for _ in range(count)]

    placements = plan_layout(device_id, layout)
    _assert_feasible(model, placements)
    entry = mig_parted_entry(device_id, layout, block["devices"])
    assert entry == dict((key, value) for key, value in block.items() if key != "device-filter")


# --- mig-parted entry and device plugin resources -------------------------------------------------------


@pytest.mark.parametrize(
    "devices,expected",
    [("all", "all"), (None, "all"), ("", "all"), ([0, 1], [0, 1]), (["2", "3"], [2, 3]), ([], "all")],
)
def test_mig_parted_entry_devices(devices, expected):
    entry = mig_parted_entry(H100, ["3g.40gb", "3g.40gb"], devices)

    assert entry == {"devices": expected, "mig-enabled": True, "mig-devices": {"3g.40gb": 2}}


@pytest.mark.parametrize("devices", ["gpu0", "0", [True], [-1], ["a"], {"0": 1}])
def test_mig_parted_entry_rejects_bad_devices(devices):
    with pytest.raises(MigPlanError, match=r"^devices must be 'all' or a list of GPU indexes, got "):
        mig_parted_entry(H100, ["7g.80gb"], devices)


def test_mig_parted_entry_counts_in_creation_order():
    entry = mig_parted_entry("A100-40GB", ["1g.5gb", "2g.10gb", "1g.5gb", "3g.20gb"])

    assert list(entry["mig-devices"].items()) == [("3g.20gb", 1), ("2g.10gb", 1), ("1g.5gb", 2)]


def test_mig_parted_entry_and_resources_refuse_impossible_layouts():
    with pytest.raises(MigPlanError, match="memory slices exhausted"):
        mig_parted_entry(H100, ["3g.40gb", "3g.40gb", "1g.10gb"])
    with pytest.raises(MigPlanError, match="memory slices exhausted"):
        advertised_resources(H100, ["3g.40gb", "3g.40gb", "1g.10gb"])


def test_advertised_resources_use_mixed_strategy_names():
    assert advertised_resources(H100, ["1g.10gb", "1g.10gb+me", "4g.40gb", "1g.10gb"]) == {
        "nvidia.com/mig-4g.40gb": 1,
        "nvidia.com/mig-1g.10gb": 2,
        "nvidia.com/mig-1g.10gb.me": 1,
    }
    assert advertised_resources("A30", ["2g.12gb+me", "1g.6gb", "1g.6gb"]) == {
        "nvidia.com/mig-2g.12gb.me": 1,
        "nvidia.com/mig-1g.6gb": 2,
    }
