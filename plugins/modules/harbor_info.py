#!/usr/bin/python
# -*- coding: utf-8 -*-

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: harbor_info
short_description: Read Harbor's version and health
description:
  - Reads /api/v2.0/systeminfo and /api/v2.0/health; changes nothing. With O(wait), retries until Harbor answers
    and reports healthy (a fresh install takes minutes).
author:
  - Kiln maintainers
extends_documentation_fragment: [kiln.cluster.harbor]
options:
  wait:
    description: Seconds to keep retrying until Harbor is healthy; V(0) reads once.
    type: int
    default: 0
attributes:
  check_mode:
    support: full
    details: Read-only.
  diff_mode:
    support: none
"""

EXAMPLES = r"""
- name: Wait for Harbor
  kiln.cluster.harbor_info:
    url: https://harbor.example.internal
    password: "{{ harbor_admin_password }}"
    wait: 600
"""

RETURN = r"""
harbor_version: {description: Harbor's version string., returned: success, type: str}
health_status: {description: Overall health (V(healthy) when every component is)., returned: success, type: str}
components: {description: Health per component., returned: success, type: dict}
"""

import time

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.kiln.cluster.plugins.module_utils.harbor import (
    HarborClient,
    HarborError,
    harbor_argument_spec,
    scrub,
    system_info,
)


def main():
    module = AnsibleModule(argument_spec=harbor_argument_spec(wait=dict(type="int", default=0)),
                           supports_check_mode=True)
    p = module.params
    client = HarborClient.from_params(p)
    deadline = time.time() + p["wait"]
    while True:
        try:
            info = system_info(client)
            if info["health_status"] == "healthy" or time.time() >= deadline:
                break
        except HarborError as exc:
            if time.time() >= deadline:
                module.fail_json(msg=scrub(exc, [p["password"]]))
        time.sleep(5)
    if p["wait"] and info["health_status"] != "healthy":
        module.fail_json(msg="Harbor at %s is not healthy after %d s: %s" % (p["url"], p["wait"], info["components"]),
                         **info)
    module.exit_json(changed=False, **info)


if __name__ == "__main__":
    main()
