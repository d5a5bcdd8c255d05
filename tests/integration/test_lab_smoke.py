"""Lab smoke test: real nodes, site.yml twice, and the second run changes nothing.

Recreates the lab from scratch (lab-down, lab-up) and removes it afterwards.
"""

import os
import sys

import pytest

sys.path.insert(0, os.path.dirname(os.path.dirname(__file__)))
from lab_tools import lab, playbook, total_changed  # noqa: E402


@pytest.fixture(scope="module")
def fresh_lab():
    lab("down")
    lab("up")
    yield
    lab("down")


def test_site_converges_then_reruns_with_no_change(fresh_lab):
    _, first, _ = playbook("site.yml", "site-first")
    assert set(first) >= {"cp1", "gpu1", "gpu2"}
    assert all(h["failed"] == 0 and h["unreachable"] == 0 for h in first.values())
    assert total_changed(first) > 0, "a first converge of bare nodes must change them"

    _, second, output = playbook("site.yml", "site-second")
    changed = dict((host, r["changed"]) for host, r in second.items() if r["changed"])
    assert not changed, "second site.yml run changed something: %s\n%s" % (changed, output[-4000:])
