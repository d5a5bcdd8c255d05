"""Placement-aware MIG layout planner (pure, controller side).

A layout is a list of GPU-instance profile names for one GPU. ``plan_layout``
finds where each instance starts, by an exact search over the placements the
driver allows (``mig_profiles``), so a layout is accepted only if
``nvidia-smi mig -cgi`` could create it on an empty GPU.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import difflib
import re
from collections import Counter

from ansible_collections.kiln.cluster.plugins.module_utils.mig_profiles import MODELS

_NVIDIA_VENDOR_ID = "10DE"
# "20B210DE", "0x20b210de" (device then vendor, as nvidia-smi prints it) or "20B2".
_DEVICE_ID = re.compile(r"^(?:0x)?([0-9a-f]{4})([0-9a-f]{4})?$", re.IGNORECASE)
_ME_SUFFIX = "+me"
# Product-name beginnings (as normalised) of NVIDIA GPUs without MIG: data-centre ones Kiln users run
# (T4, L4, L40S, A10, A16, A40, V100, P100, RTX) and the consumer and workstation lines.
_WITHOUT_MIG = re.compile(r"^(tesla|geforce|quadro|titan|rtx|t4|l4|l40s?|l20|a10g?|a16|a2|a40|v100|p100|p40)(\b|-)")


class MigPlanError(Exception):
    """The layout cannot be created on the GPU model; ``message`` says why."""

    def __init__(self, message):
        super().__init__(message)
        self.message = message


def _normalise_name(name):
    name = " ".join(name.split()).lower()
    return name[len("nvidia ") :] if name.startswith("nvidia ") else name


def _device_id(text):
    match = _DEVICE_ID.match(text.strip())
    if not match:
        return None
    device, vendor = match.groups()
    return (device + (vendor or _NVIDIA_VENDOR_ID)).upper()


def find_model(gpu_model):
    """Return ``(canonical name, model record)`` for a canonical name, product name or PCI device id."""
    wanted = _normalise_name(gpu_model)
    for canonical, model in MODELS.items():
        if wanted in [_normalise_name(name) for name in (canonical,) + model["product_names"]]:
            return canonical, model
    device_id = _device_id(gpu_model)
    for canonical, model in MODELS.items():
        if device_id in model["device_ids"]:
            return canonical, model
    if _WITHOUT_MIG.match(wanted):
        raise MigPlanError(
            "%s has no MIG (MIG needs an A30, A100, H100, H200 or GH200); remove kiln_gpu.mig for it" % (gpu_model,)
        )
    names = dict((_normalise_name(name), canonical) for canonical, model in MODELS.items()
                 for name in (canonical,) + model["product_names"])
    close = difflib.get_close_matches(wanted, list(names), n=1, cutoff=0.85)
    raise MigPlanError(
        "unknown GPU model %r;%s known models: %s (or one of their nvidia-smi product names or PCI device ids)"
        % (gpu_model, (" did you mean %s?" % names[close[0]]) if close else "", ", ".join(MODELS))
    )


def _profiles_in_creation_order(canonical, model, layout):
    """Check names and instance limits; return the profiles largest first, as NVIDIA would create them."""
    by_name = dict((profile.name, profile) for profile in model["profiles"])
    for name in layout:
        if name not in by_name:
            raise MigPlanError(
                "profile %r is not valid for %s; valid profiles: %s" % (name, canonical, ", ".join(by_name))
            )
    counts = Counter(layout)
    for profile in model["profiles"]:
        if counts[profile.name] > profile.max_instances:
            raise MigPlanError(
                "too many instances of %s on %s: %d requested, max %d"
                % (profile.name, canonical, counts[profile.name], profile.max_instances)
            )
    media = sorted(name for name in counts if name.endswith(_ME_SUFFIX))
    limit = model["media_extension_instances"]
    if sum(counts[name] for name in media) > limit:
        requested = ", ".join("%s x%d" % (name, counts[name]) for name in media)
        raise MigPlanError(
            "too many media-extension (+me) instances on %s: %s requested, max %d in all "
            "(each takes the GPU's only OFA engine)" % (canonical, requested, limit)
        )
    rank = dict((profile.name, index) for index, profile in enumerate(model["profiles"]))
    return sorted(
        (by_name[name] for name in layout),
        key=lambda profile: (-profile.memory_slices, -profile.compute_slices, rank[profile.name]),
    )


def _check_totals(canonical, model, profiles):
    """Fail on the first profile that no longer fits by compute or memory slice count."""
    compute = memory = 0
    for index, profile in enumerate(profiles):
        before = ", ".join(p.name for p in profiles[:index])
        for kind, need, used in (
            ("compute", profile.compute_slices, compute),
            ("memory", profile.memory_slices, memory),
        ):
            total = model[kind + "_slices"]
            if need > total - used:
                raise MigPlanError(
                    "%s does not fit on %s: %s slices exhausted (need %d, have %d; %s use %d of %d)"
                    % (profile.name, canonical, kind, need, total - used, before, used, total)
                )
        compute += profile.compute_slices
        memory += profile.memory_slices


def _slices(start, size):
    return "slice %d" % start if size == 1 else "slices %d-%d" % (start, start + size - 1)


def _search(canonical, model, profiles):
    """Backtrack over allowed starts, lowest first; return the start of each profile."""
    occupied = [False] * model["memory_slices"]
    starts = []
    # The deepest profile that could not be placed, and what was placed when it first failed.
    stuck_index, stuck_taken = -1, ""

    def place(index):
        nonlocal stuck_index, stuck_taken
        if index == len(profiles):
            return True
        profile = profiles[index]
        # Equal profiles are interchangeable: keep their starts increasing so no permutation is tried twice.
        after = starts[-1] if index and profiles[index - 1] == profile else -1
        for start in profile.starts:
            span = range(start, start + profile.memory_slices)
            if start <= after or any(occupied[slot] for slot in span):
                continue
            for slot in span:
                occupied[slot] = True
            starts.append(start)
            if place(index + 1):
                return True
            starts.pop()
            for slot in span:
                occupied[slot] = False
        if index > stuck_index:
            stuck_index = index
            stuck_taken = ", ".join(
                "%s on %s" % (p.name, _slices(start, p.memory_slices)) for p, start in zip(profiles, starts)
            )
        return False

    if not place(0):
        profile = profiles[stuck_index]
        raise MigPlanError(
            "%s does not fit on %s: no free placement (allowed starts %s, size %d; already taken: %s)"
            % (
                profile.name,
                canonical,
                ", ".join(str(start) for start in profile.starts),
                profile.memory_slices,
                stuck_taken,
            )
        )
    return starts


# (model, layout) -> placements or the MigPlanError message: a cluster of thousands of nodes uses a handful of
# layouts, and each search is exact (tens of microseconds); planned once per controller process.
_PLANNED = {}


def plan_layout(gpu_model, layout):
    """Return the placements of ``layout`` on ``gpu_model`` in creation order, or raise MigPlanError."""
    try:
        key = (gpu_model, tuple(layout))
        hash(key)
    except TypeError:  # an unhashable layout (a malformed one): planned uncached, to fail with the planner's words
        return _plan_layout(gpu_model, layout)
    if key not in _PLANNED:
        try:
            _PLANNED[key] = (True, _plan_layout(gpu_model, layout))
        except MigPlanError as err:
            _PLANNED[key] = (False, err.message)
    ok, planned = _PLANNED[key]
    if not ok:
        raise MigPlanError(planned)
    return [dict(placement) for placement in planned]


def _plan_layout(gpu_model, layout):
    canonical, model = find_model(gpu_model)
    profiles = _profiles_in_creation_order(canonical, model, layout)
    _check_totals(canonical, model, profiles)
    starts = _search(canonical, model, profiles)
    return [
        {
            "profile": profile.name,
            "profile_id": profile.profile_id,
            "start": start,
            "size": profile.memory_slices,
            "compute_slices": profile.compute_slices,
            "memory_gib": profile.memory_gib,
        }
        for profile, start in zip(profiles, starts)
    ]


def _profile_counts(model, layout):
    counts = {}
    for placement in plan_layout(model, layout):
        counts[placement["profile"]] = counts.get(placement["profile"], 0) + 1
    return counts


def _is_index(device):
    if isinstance(device, bool):
        return False
    return (isinstance(device, int) and device >= 0) or (isinstance(device, str) and device.isdigit())


def _devices(devices):
    if not devices or devices == "all":
        return "all"
    if isinstance(devices, list) and all(_is_index(device) for device in devices):
        return [int(device) for device in devices]
    raise MigPlanError("devices must be 'all' or a list of GPU indexes, got %r" % (devices,))


def mig_parted_entry(model, layout, devices="all"):
    """The mig-parted (config ``version: v1``) entry that creates ``layout`` on ``devices``."""
    return {"devices": _devices(devices), "mig-enabled": True, "mig-devices": _profile_counts(model, layout)}


def advertised_resources(model, layout):
    """Extended resources the device plugin's ``mixed`` strategy advertises for ``layout``.

    Kubernetes resource names cannot hold "+", so the plugin turns "1g.10gb+me" into "mig-1g.10gb.me".
    """
    return dict(
        ("nvidia.com/mig-" + name.replace("+", "."), count) for name, count in _profile_counts(model, layout).items()
    )
