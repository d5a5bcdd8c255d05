"""Parse the XML report printed by ``nvidia-smi -q -x``.

Pure standard library, so it runs on any managed node (defusedxml is not
guaranteed there). Documents are screened for DTD tricks before they reach
the XML parser; see ``_refuse_unsafe_markup``.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import re
import xml.etree.ElementTree as ET

# nvidia-smi prints one of these instead of a value it cannot report; any
# bracketed text ("[N/A]", "[Not Supported]", "[Unknown Error]") is too.
_PLACEHOLDERS = frozenset(("", "n/a", "none", "not supported"))

# The only DOCTYPE nvidia-smi emits: an external DTD reference, which
# ElementTree never fetches. Anything richer could declare entities.
_ALLOWED_DOCTYPE = re.compile(r"""<!DOCTYPE\s+nvidia_smi_log\s+SYSTEM\s+(["'])nvsmi_device_v\d+\.dtd\1\s*>""")
_DOCTYPE = re.compile(r"<!DOCTYPE", re.IGNORECASE)
_ENTITY = re.compile(r"<!ENTITY", re.IGNORECASE)

_QUANTITY = re.compile(r"^(-?\d+(?:\.\d+)?)(?:\s*([A-Za-z%]+))?$")
_PCI_DEVICE_ID = re.compile(r"^[0-9A-F]{8}$")

_MIG_MODES = ("Enabled", "Disabled")

# v13 split the single reading into instant/average; older DTDs keep
# "power_draw" under "power_readings" (v10/v11) or "gpu_power_readings" (v12).
_POWER_PATHS = tuple(
    "%s/%s" % (section, field)
    for section in ("gpu_power_readings", "power_readings")
    for field in ("power_draw", "instant_power_draw", "average_power_draw")
)


class NvidiaSmiParseError(Exception):
    """The document is not a usable (or not a safe) nvidia-smi XML report."""


def parse_nvidia_smi_xml(document):
    """Return driver/CUDA versions and one dict per GPU, in index order.

    ``document`` is the report as text or UTF-8 bytes.
    Raises NvidiaSmiParseError for unsafe, malformed or foreign documents.
    """
    if isinstance(document, bytes):
        try:
            document = document.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise NvidiaSmiParseError("nvidia-smi XML is not valid UTF-8: %s" % exc)
    _refuse_unsafe_markup(document)
    try:
        root = ET.fromstring(document)
    except ET.ParseError as exc:
        raise NvidiaSmiParseError("nvidia-smi XML is not well-formed: %s" % exc)
    if root.tag != "nvidia_smi_log":
        raise NvidiaSmiParseError("expected an <nvidia_smi_log> document, got <%s>" % root.tag)

    gpus = root.findall("gpu")
    minors = [_int(gpu, "minor_number") for gpu in gpus]
    # Minor numbers give the device index; if any is missing keep the report's order.
    if None not in minors:
        gpus = [gpu for _minor, gpu in sorted(zip(minors, gpus), key=lambda pair: pair[0])]

    return {
        "driver_version": _text(root, "driver_version"),
        "cuda_version": _text(root, "cuda_version"),
        "gpus": [_gpu(gpu, index) for index, gpu in enumerate(gpus)],
    }


def _refuse_unsafe_markup(document):
    # Checked on the text, before parsing: expat would otherwise expand
    # internal entities (billion laughs) before we could look at the tree.
    if _ENTITY.search(document):
        raise NvidiaSmiParseError("refusing nvidia-smi XML that declares entities (<!ENTITY)")
    doctypes = _DOCTYPE.findall(document)
    if not doctypes:
        return
    if len(doctypes) > 1 or not _ALLOWED_DOCTYPE.search(document):
        raise NvidiaSmiParseError(
            "refusing nvidia-smi XML with an unexpected DOCTYPE; only "
            '<!DOCTYPE nvidia_smi_log SYSTEM "nvsmi_device_vNN.dtd"> is accepted'
        )


def _gpu(gpu, index):
    current_mig = _mig_mode(gpu, "mig_mode/current_mig")
    return {
        "index": index,
        "product_name": _text(gpu, "product_name"),
        "uuid": _text(gpu, "uuid"),
        # The <gpu id="..."> attribute is the bus id; minimal reports omit <pci_bus_id>.
        "pci_bus_id": _text(gpu, "pci/pci_bus_id") or _value(gpu.get("id")),
        "pci_device_id": _pci_device_id(_text(gpu, "pci/pci_device_id")),
        "memory_total_mib": _int(gpu, "fb_memory_usage/total", "MiB"),
        "mig_capable": current_mig is not None,
        "mig_mode_current": current_mig,
        "mig_mode_pending": _mig_mode(gpu, "mig_mode/pending_mig"),
        # Non-MIG GPUs print "None" as the text of <mig_devices>, hence findall.
        "mig_devices": [_mig_device(dev) for dev in gpu.findall("mig_devices/mig_device")],
        "power_draw_w": _first_number(gpu, _POWER_PATHS, "W"),
        "temperature_c": _int(gpu, "temperature/gpu_temp", "C"),
    }


def _mig_device(device):
    return {
        "gpu_instance_id": _int(device, "gpu_instance_id"),
        "compute_instance_id": _int(device, "compute_instance_id"),
        "memory_total_mib": _int(device, "fb_memory_usage/total", "MiB"),
        "multiprocessor_count": _int(device, "device_attributes/shared/multiprocessor_count"),
    }


def _value(raw):
    if raw is None:
        return None
    text = raw.strip()
    if text.lower() in _PLACEHOLDERS or (text.startswith("[") and text.endswith("]")):
        return None
    return text


def _text(element, path):
    found = element.find(path)
    return None if found is None else _value(found.text)


def _number(element, path, unit=None):
    """Float value of "<number>[ <unit>]"; None if absent or in another unit."""
    text = _text(element, path)
    match = _QUANTITY.match(text) if text else None
    if not match or match.group(2) != unit:
        return None
    return float(match.group(1))


def _int(element, path, unit=None):
    number = _number(element, path, unit)
    return int(number) if number is not None and number.is_integer() else None


def _first_number(element, paths, unit):
    for path in paths:
        number = _number(element, path, unit)
        if number is not None:
            return number
    return None


def _mig_mode(element, path):
    mode = _text(element, path)
    return mode if mode in _MIG_MODES else None


def _pci_device_id(text):
    """Normalise to the 8 upper-case hex digits nvidia-smi prints, e.g. "20B210DE"."""
    if text is None:
        return None
    digits = text.upper()
    if digits.startswith("0X"):
        digits = digits[2:]
    return digits if _PCI_DEVICE_ID.match(digits) else None
