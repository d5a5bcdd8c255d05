"""Plan the NVIDIA driver of one node: the packages to install, or why not.

Pure standard library and read-only, so the same code runs in the module on a
node and in unit tests against a fake PCI tree. Three inputs decide:

- the GPUs: what ``nvidia-smi -q -x`` reported (``kiln_gpus``; only once a
  driver runs) merged with the PCI bus (``/sys/bus/pci/devices``: vendor
  0x10de, class 0x03xx), which is all there is before a driver is installed;
- the running kernel and the pinned driver branch/version;
- the package-name patterns of the node's distribution (the role's
  ``vars/<os_family>.yml``), with ``{branch}``, ``{version}`` and ``{kernel}``.

``build_plan`` never raises on a bad combination: it returns ``refusals``
(each naming the GPU or kernel, the problem and the fix) and the role fails
on them before it installs anything.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os
import re

NVIDIA_VENDOR_ID = "10de"
# PCI class codes (the sysfs "class" file is 0xCCSSPP: class, subclass, prog-if).
PCI_CLASS_DISPLAY = 0x03  # VGA 0x0300, 3D controller 0x0302: the GPUs
PCI_SUBCLASS_BRIDGE_OTHER = 0x0680  # how NVSwitches appear on HGX/DGX boards

# Driver branch -> (oldest, newest) kernel series its modules are known to
# build against: the oldest from NVIDIA's README ("Linux kernel 4.15 or newer"
# for the open modules), the newest that Kiln has seen the branch support.
# Sites extend or correct it with nvidia_driver_kernel_support.
KERNEL_SUPPORT = {
    "535": ("4.15", "6.14"),
    "550": ("4.15", "6.14"),
    "570": ("4.15", "6.16"),
    "575": ("4.15", "6.16"),
    "580": ("4.15", "6.18"),
    "590": ("4.15", "6.19"),
}

# NVIDIA's open kernel modules run on Turing and newer only.
PRE_TURING = ("Kepler", "Maxwell", "Pascal", "Volta")
# 580 is the last branch that supports Maxwell, Pascal and Volta GPUs.
LAST_BRANCH_FOR_PRE_TURING = 580
# Blackwell needs the 570 branch or newer, with the open modules.
FIRST_BRANCH_FOR_BLACKWELL = 570
# From the 620 branch on NVIDIA publishes only the open kernel modules.
LAST_BRANCH_WITH_PROPRIETARY = 619

# PCI device id ranges per architecture (NVIDIA assigns ids by chip family).
# Every id below 0x1E00 belongs to a GPU older than Turing.
_ARCH_BY_DEVICE_ID = (
    (0x0F00, 0x12FF, "Kepler"),
    (0x1340, 0x14FF, "Maxwell"),
    (0x15F0, 0x15FF, "Pascal"),  # GP100 (Tesla P100)
    (0x1600, 0x17FF, "Maxwell"),  # GM20x
    (0x1B00, 0x1D7F, "Pascal"),  # GP102..GP108
    (0x1D80, 0x1DFF, "Volta"),  # GV100 (Tesla V100, Titan V)
    (0x1E00, 0x1FFF, "Turing"),
    (0x2000, 0x20FF, "Ampere"),  # GA100 (A100, A30)
    (0x2180, 0x21FF, "Turing"),  # TU116/TU117
    (0x2200, 0x22FF, "Ampere"),  # GA102
    (0x2300, 0x23FF, "Hopper"),  # GH100 (H100, H200, GH200)
    (0x2400, 0x25FF, "Ampere"),  # GA103..GA107
    (0x2600, 0x28FF, "Ada Lovelace"),
    (0x2900, 0x29FF, "Blackwell"),  # GB100/GB102 (B200, GB200)
    (0x2B00, 0x2FFF, "Blackwell"),  # GB20x
)
_TURING_FIRST_DEVICE_ID = 0x1E00

# Product-name fallback, for reports without a PCI device id (old nvidia-smi).
_ARCH_BY_NAME = (
    ("Blackwell", r"\b(B100|B200|B300|GB200|GB300)\b|\bRTX 50\d0\b|\bRTX PRO \d+ Blackwell"),
    ("Hopper", r"\b(H100|H200|H800|H20|GH200)\b"),
    ("Ada Lovelace", r"\bRTX 40\d0\b|\b(L4|L20|L40S?)\b|\bRTX \d+ Ada\b"),
    ("Ampere", r"\b(A2|A10|A16|A30|A40|A100|A800)\b|\bRTX 30\d0\b|\bRTX A\d+\b"),
    ("Turing", r"\bT4\b|\bRTX 20\d0\b|\bGTX 16\d0\b|\bQuadro RTX\b|\bTITAN RTX\b|\bT(400|600|1000|1200|2000)\b"),
    ("Volta", r"\bV100S?\b|\bTITAN V\b|\bGV100\b"),
    ("Pascal", r"\bGTX 10\d0\b|\bGT 1030\b|\bQuadro GP100\b|\bQuadro P\d+\b|\bTesla P(4|6|40|100)\b|\bP100\b|\bTITAN Xp\b"),
    ("Maxwell", r"\bGTX (9\d0|750)\b|\bQuadro M\d+\b|\bTesla M\d+\b"),
    ("Kepler", r"\bTesla K\d+\b|\bQuadro K\d+\b|\bGTX (6\d0|7[0-46-9]0)\b"),
)

_KERNEL_SERIES = re.compile(r"^(\d+)\.(\d+)")


def _read(path):
    try:
        with open(path) as handle:
            return handle.read().strip()
    except (IOError, OSError):
        return None


def _hex(text):
    try:
        return int(text, 16)
    except (TypeError, ValueError):
        return None


def normalise_bus_id(bus_id):
    """``00000000:17:00.0`` (nvidia-smi) and ``0000:17:00.0`` (sysfs) -> ``0000:17:00.0``."""
    if not bus_id:
        return None
    parts = bus_id.strip().lower().split(":")
    if len(parts) == 3:
        parts[0] = parts[0][-4:].rjust(4, "0")
    return ":".join(parts)


def read_pci_devices(path):
    """Every PCI function under ``path`` (``/sys/bus/pci/devices``) as plain data."""
    devices = []
    try:
        names = sorted(os.listdir(path))
    except (IOError, OSError):
        return devices
    for name in names:
        base = os.path.join(path, name)
        vendor, device, pci_class = (_read(os.path.join(base, f)) for f in ("vendor", "device", "class"))
        if vendor is None or pci_class is None:
            continue
        devices.append({
            "bus_id": normalise_bus_id(name),
            "vendor_id": "%04x" % (_hex(vendor) or 0),
            "device_id": "%04x" % (_hex(device) or 0),
            "class": _hex(pci_class) or 0,
        })
    return devices


def nvidia_pci_gpus(devices):
    return [d for d in devices if d["vendor_id"] == NVIDIA_VENDOR_ID and d["class"] >> 16 == PCI_CLASS_DISPLAY]


def nvidia_pci_nvswitches(devices):
    return [d for d in devices if d["vendor_id"] == NVIDIA_VENDOR_ID and d["class"] >> 8 == PCI_SUBCLASS_BRIDGE_OTHER]


def architecture(device_id=None, name=None):
    """Architecture name, ``pre-Turing``/``Turing or newer`` when only the range is known, or None."""
    number = _hex(device_id)
    if number is not None:
        for start, end, arch in _ARCH_BY_DEVICE_ID:
            if start <= number <= end:
                return arch
        return "pre-Turing" if number < _TURING_FIRST_DEVICE_ID else "Turing or newer"
    for arch, pattern in _ARCH_BY_NAME:
        if name and re.search(pattern, name, re.IGNORECASE):
            return arch
    return None


def _smi_device_id(pci_device_id):
    """nvidia-smi prints device and vendor together, ``1C3010DE``; return ``1c30``."""
    if pci_device_id and len(pci_device_id) == 8 and pci_device_id[4:].lower() == NVIDIA_VENDOR_ID:
        return pci_device_id[:4].lower()
    return None


def merge_gpus(smi_gpus, pci_gpus):
    """One entry per GPU from both sources, matched by PCI bus id; nvidia-smi names them."""
    merged, seen = [], {}
    for gpu in smi_gpus or []:
        entry = {
            "bus_id": normalise_bus_id(gpu.get("pci_bus_id")),
            "name": gpu.get("product_name"),
            "device_id": _smi_device_id(gpu.get("pci_device_id")),
            "source": "nvidia-smi",
        }
        merged.append(entry)
        if entry["bus_id"]:
            seen[entry["bus_id"]] = entry
    for device in pci_gpus or []:
        known = seen.get(device["bus_id"])
        if known is not None:
            known["source"] = "nvidia-smi+pci"
            known["device_id"] = known["device_id"] or device["device_id"]
            continue
        merged.append({"bus_id": device["bus_id"], "name": None, "device_id": device["device_id"], "source": "pci"})
    for entry in merged:
        entry["architecture"] = architecture(entry["device_id"], entry["name"])
    return merged


def kernel_series(release):
    match = _KERNEL_SERIES.match(release or "")
    return (int(match.group(1)), int(match.group(2))) if match else None


def _series(text):
    return kernel_series(str(text))


def _describe(gpu):
    """``GPU 'Quadro P2000' (PCI 0000:17:00.0, device id 1c30)``; PCI-only GPUs have no name."""
    name = " '%s'" % gpu["name"] if gpu["name"] else ""
    details = ["PCI %s" % gpu["bus_id"]] if gpu["bus_id"] else []
    if gpu["device_id"]:
        details.append("device id %s" % gpu["device_id"])
    return "GPU%s (%s)" % (name, ", ".join(details)) if details else "GPU%s" % (name or " (unidentified)")


def _support_table(overrides):
    table = dict(KERNEL_SUPPORT)
    for branch, limits in (overrides or {}).items():
        if isinstance(limits, dict):
            table[str(branch)] = (str(limits["min"]), str(limits["max"]))
        else:
            table[str(branch)] = (str(limits[0]), str(limits[1]))
    return table


def _kernel_refusals(branch, kernel, table):
    limits = table.get(branch)
    if limits is None:
        return ["driver branch %s is not in Kiln's driver/kernel table (known: %s). Fix: choose a known "
                "kiln_nvidia_driver_branch, or add the branch with its kernel range to "
                "nvidia_driver_kernel_support after checking NVIDIA's release notes." % (branch, ", ".join(sorted(table)))]
    running = kernel_series(kernel)
    oldest, newest = _series(limits[0]), _series(limits[1])
    if running is None:
        return ["cannot read a kernel version from '%s'. Fix: run a distribution kernel (uname -r like 6.8.0-45-generic)." % kernel]
    if running < oldest:
        return ["kernel %s is older than %s, the oldest kernel driver branch %s supports. Fix: boot a newer "
                "distribution kernel." % (kernel, limits[0], branch)]
    if running > newest:
        return ["kernel %s is newer than %s, the newest kernel series driver branch %s is known to build on. "
                "Fix: boot a kernel from %s to %s, choose a newer kiln_nvidia_driver_branch, or, once NVIDIA's "
                "release notes list this kernel, raise the branch's max in nvidia_driver_kernel_support."
                % (kernel, limits[1], branch, limits[0], limits[1])]
    return []


def _gpu_refusals(gpus, branch_number, flavor, node):
    refusals, notes = [], []
    for gpu in gpus:
        arch, what = gpu["architecture"], "%s on %s" % (_describe(gpu), node)
        if arch in PRE_TURING + ("pre-Turing",):
            if flavor == "open":
                refusals.append(
                    "%s is %s; NVIDIA's open kernel modules need Turing or newer. Fix: set "
                    "nvidia_driver_kernel_module_flavor: proprietary for this node or its group (branch %d or older), "
                    "or move the GPU to a node without it." % (what, arch, LAST_BRANCH_FOR_PRE_TURING))
            if branch_number is not None and branch_number > LAST_BRANCH_FOR_PRE_TURING:
                refusals.append(
                    "%s is %s; driver branch %d is the last that supports it. Fix: set kiln_nvidia_driver_branch "
                    "(and kiln_nvidia_driver_version) to %d or older for this node's group."
                    % (what, arch, LAST_BRANCH_FOR_PRE_TURING, LAST_BRANCH_FOR_PRE_TURING))
        elif arch == "Blackwell":
            if flavor == "proprietary":
                refusals.append("%s is Blackwell, which runs only with NVIDIA's open kernel modules. Fix: set "
                                "nvidia_driver_kernel_module_flavor: open." % what)
            if branch_number is not None and branch_number < FIRST_BRANCH_FOR_BLACKWELL:
                refusals.append("%s is Blackwell, which needs driver branch %d or newer. Fix: raise "
                                "kiln_nvidia_driver_branch." % (what, FIRST_BRANCH_FOR_BLACKWELL))
        elif arch is None and flavor == "open":
            notes.append("cannot tell the architecture of %s; the open kernel modules need Turing or newer." % what)
    return refusals, notes


def build_plan(mode, branch, version, flavor="open", precompiled=False, kernel="", distribution="",
               package_sets=None, smi_gpus=None, pci_devices=None, nvswitch=None, kernel_support=None,
               node="this node"):
    """What the node gets. ``pci_devices`` is ``read_pci_devices()`` output."""
    branch = str(branch)
    version = str(version)
    pci_devices = pci_devices or []
    gpus = merge_gpus(smi_gpus, nvidia_pci_gpus(pci_devices))
    switches = [d["bus_id"] for d in nvidia_pci_nvswitches(pci_devices)]
    nvswitch_system = bool(nvswitch) or bool(switches)
    method = "precompiled" if precompiled else "dkms"
    plan = {
        "node": node,
        "mode": mode,
        "branch": branch,
        "version": version,
        "flavor": flavor,
        "method": method if mode == "host" else None,
        "kernel": kernel,
        "distribution": distribution,
        "gpus": gpus,
        "nvswitch": {"inventory": bool(nvswitch), "pci_devices": switches},
        "fabric_manager": False,
        "module_stream": None,
        "packages": [],
        "services": [],
        "refusals": [],
        "notes": [],
    }
    if not gpus:
        plan["notes"].append("no NVIDIA GPU: nvidia-smi reports none and no PCI device has vendor 0x10de, class 0x03xx")
        return plan
    if mode != "host":
        plan["notes"].append("the GPU Operator installs the driver%s; Kiln only blacklists nouveau"
                             % (" and runs Fabric Manager in its driver container" if nvswitch_system else ""))
        plan["notes"].extend(
            "%s is %s: the GPU Operator must use the proprietary kernel modules (driver.kernelModuleType)"
            % (_describe(gpu), gpu["architecture"]) for gpu in gpus if gpu["architecture"] in PRE_TURING + ("pre-Turing",))
        return plan

    branch_number = int(branch) if branch.isdigit() else None
    refusals = _kernel_refusals(branch, kernel, _support_table(kernel_support))
    if not version.startswith(branch + "."):
        refusals.append("kiln_nvidia_driver_version %s is not on driver branch %s. Fix: set both from the same "
                        "release (e.g. %s.x.y)." % (version, branch, branch))
    if flavor == "proprietary" and branch_number is not None and branch_number > LAST_BRANCH_WITH_PROPRIETARY:
        refusals.append("driver branch %s ships only the open kernel modules. Fix: set "
                        "nvidia_driver_kernel_module_flavor: open (Turing or newer GPUs)." % branch)
    gpu_refusals, notes = _gpu_refusals(gpus, branch_number, flavor, node)
    refusals.extend(gpu_refusals)
    plan["notes"].extend(notes)

    sets = package_sets or {}
    patterns = (sets.get(method) or {}).get(flavor)
    if not patterns:
        refusals.append("no %s %s packages are published for %s. Fix: %s" % (
            method, flavor, distribution or "this distribution",
            "set nvidia_driver_precompiled: false (DKMS)" if precompiled
            else "add the names to nvidia_driver_package_sets in roles/nvidia_driver/vars/"))
    plan["refusals"] = refusals
    if refusals:
        return plan

    values = {"branch": branch, "version": version, "kernel": kernel}
    packages = [pattern.format(**values) for pattern in patterns]
    stream = (sets.get("module_stream") or {}).get(flavor)
    plan["module_stream"] = stream.format(**values) if stream else None
    services = ["nvidia-persistenced"]
    if nvswitch_system:
        plan["fabric_manager"] = True
        packages.extend(pattern.format(**values) for pattern in sets.get("fabric_manager") or [])
        services.append("nvidia-fabricmanager")
    plan["packages"] = packages
    plan["services"] = services
    return plan
