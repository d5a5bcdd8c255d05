"""Unit tests for the kiln.cluster.mig_plan module, run through its main()."""


import pytest

from ansible_collections.kiln.cluster.plugins.modules import mig_plan

H100 = "NVIDIA H100 80GB HBM3"


@pytest.fixture
def run_module(run_main):
    return lambda args: run_main(mig_plan, args)


@pytest.mark.parametrize("check_mode", [False, True])
def test_plan(run_module, check_mode):
    rc, result = run_module(
        {"gpu_model": H100, "layout": ["1g.10gb", "4g.40gb", "2g.20gb"], "_ansible_check_mode": check_mode}
    )

    assert rc == 0
    assert result["changed"] is False
    assert "failed" not in result
    assert result["model"] == "H100-80GB"
    assert result["placements"] == [
        {"profile": "4g.40gb", "profile_id": 5, "start": 0, "size": 4, "compute_slices": 4, "memory_gib": 40},
        {"profile": "2g.20gb", "profile_id": 14, "start": 4, "size": 2, "compute_slices": 2, "memory_gib": 20},
        {"profile": "1g.10gb", "profile_id": 19, "start": 6, "size": 1, "compute_slices": 1, "memory_gib": 10},
    ]
    assert result["mig_parted"] == {
        "devices": "all",
        "mig-enabled": True,
        "mig-devices": {"4g.40gb": 1, "2g.20gb": 1, "1g.10gb": 1},
    }
    assert result["resources"] == {
        "nvidia.com/mig-4g.40gb": 1,
        "nvidia.com/mig-2g.20gb": 1,
        "nvidia.com/mig-1g.10gb": 1,
    }


def test_plan_by_device_id_for_some_gpus(run_module):
    rc, result = run_module({"gpu_model": "0x20b010de", "layout": ["1g.5gb+me", "3g.20gb"], "devices": [0, 2]})

    assert rc == 0
    assert result["model"] == "A100-40GB"
    assert [(p["profile"], p["start"]) for p in result["placements"]] == [("3g.20gb", 0), ("1g.5gb+me", 4)]
    assert result["mig_parted"]["devices"] == [0, 2]
    assert result["resources"] == {"nvidia.com/mig-3g.20gb": 1, "nvidia.com/mig-1g.5gb.me": 1}


def test_empty_layout(run_module):
    rc, result = run_module({"gpu_model": "A30-24GB", "layout": []})

    assert rc == 0
    assert (result["placements"], result["resources"]) == ([], {})
    assert result["mig_parted"] == {"devices": "all", "mig-enabled": True, "mig-devices": {}}


@pytest.mark.parametrize(
    "args,msg",
    [
        (
            {"gpu_model": H100, "layout": ["3g.40gb", "3g.40gb", "1g.10gb"]},
            "1g.10gb does not fit on H100-80GB: memory slices exhausted (need 1, have 0; 3g.40gb, 3g.40gb use 8 of 8)",
        ),
        (
            {"gpu_model": H100, "layout": ["1g.10gb+me", "1g.10gb+me"]},
            "too many instances of 1g.10gb+me on H100-80GB: 2 requested, max 1",
        ),
        (
            {"gpu_model": "Tesla T4", "layout": ["1g.5gb"]},
            "Tesla T4 has no MIG (MIG needs an A30, A100, H100, H200 or GH200); remove kiln_gpu.mig for it",
        ),
        (
            {"gpu_model": "NVIDIA B200", "layout": ["1g.23gb"]},
            "unknown GPU model 'NVIDIA B200'; known models: A30-24GB, A100-40GB, A100-80GB, H100-80GB, H100-NVL-94GB, "
            "H200-141GB, GH200-96GB, GH200-144GB (or one of their nvidia-smi product names or PCI device ids)",
        ),
        (
            {"gpu_model": H100, "layout": ["7g.80gb"], "devices": "gpu0"},
            "devices must be 'all' or a list of GPU indexes, got 'gpu0'",
        ),
    ],
    ids=["memory-exhausted", "media-extension-limit", "no-mig-model", "unknown-model", "bad-devices"],
)
def test_impossible_plan_fails_with_the_reason(run_module, args, msg):
    rc, result = run_module(args)

    assert rc == 1
    assert result["failed"] is True
    assert result["changed"] is False
    assert result["msg"] == msg


def test_layout_is_required(run_module):
    rc, result = run_module({"gpu_model": H100})

    assert rc == 1
    assert result["msg"] == "missing required arguments: layout"
