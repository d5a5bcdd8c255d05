#!/usr/bin/python
# -*- coding: utf-8 -*-

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: openbao_mount
short_description: Enable, tune or disable an OpenBao secrets engine
description:
  - Reads the secrets engine at O(path) (C(sys/mounts)), compares it with what is asked and writes only the
    difference - it enables a missing engine, or tunes (C(sys/mounts/<path>/tune)) only the description, options
    and O(tune) settings that differ. So C(changed) is honest and check mode reports exactly what would change.
  - Only the settings given are compared; the rest are left as the server has them.
  - Never remounts a path that holds an engine of another O(type) - that would destroy its data. It fails instead,
    naming the path and both types. The same refusal guards O(state=absent) when O(type) is given.
  - Durations are compared in seconds (V(1h) equals V(3600)); lists in any order.
  - O(type=kv-v2) is C(kv) with O(options) C(version=2), as the server stores it. Asking for C(version=2) on a
    C(kv) version 1 engine upgrades it in place (the server refuses the way back).
author:
  - Kiln maintainers
options:
  path:
    description: Where the engine is mounted, for example V(secret) or V(kiln/kv); leading and trailing slashes are ignored.
    type: str
    required: true
  type:
    description: The engine type, for example V(kv), V(kv-v2), V(pki), V(transit). Required with O(state=present).
    type: str
  description:
    description: Human-readable description; not managed when unset.
    type: str
  options:
    description: Engine options, for example C(version=2) for kv. Only the keys given are compared.
    type: dict
  tune:
    description: Mount configuration, compared with what C(sys/mounts) reads back; unset keys are not managed.
    type: dict
    suboptions:
      default_lease_ttl:
        description: Default lease TTL, in seconds or as a duration such as V(1h); V(0) means the system default.
        type: raw
      max_lease_ttl:
        description: Maximum lease TTL, in seconds or as a duration such as V(768h); V(0) means the system default.
        type: raw
      listing_visibility:
        description: Whether the mount is listed in the UI's unauthenticated listing.
        type: str
        choices: ['', hidden, unauth]
      audit_non_hmac_request_keys:
        description: Request keys audit devices log without HMAC.
        type: list
        elements: str
      audit_non_hmac_response_keys:
        description: Response keys audit devices log without HMAC.
        type: list
        elements: str
      passthrough_request_headers:
        description: Request headers passed to the engine.
        type: list
        elements: str
      allowed_response_headers:
        description: Response headers the engine may set.
        type: list
        elements: str
  state:
    description: V(present) enables or tunes the engine; V(absent) disables it, deleting everything it holds.
    type: str
    choices: [present, absent]
    default: present
extends_documentation_fragment:
  - kiln.cluster.openbao
attributes:
  check_mode:
    support: full
    details: Reads, compares and reports what would change; writes nothing.
  diff_mode:
    support: full
    details: Before and after of the type, description and the options and tune keys given.
"""

EXAMPLES = r"""
- name: A kv version 2 engine for Kiln's secrets
  kiln.cluster.openbao_mount:
    url: https://10.0.0.11:8200
    token: "{{ openbao_token }}"
    ca_cert: /etc/openbao/tls/ca.crt
    path: kiln
    type: kv
    options:
      version: 2
    description: Kiln cluster secrets
    tune:
      default_lease_ttl: 1h
      max_lease_ttl: 24h

- name: Remove an old engine (only if it is kv)
  kiln.cluster.openbao_mount:
    url: https://10.0.0.11:8200
    token: "{{ openbao_token }}"
    path: old
    type: kv
    state: absent
"""

RETURN = r"""
path: {description: The mount path without slashes., returned: always, type: str, sample: kiln}
type: {description: The engine type (as the server stores it; V(kv) for V(kv-v2))., returned: success, type: str, sample: kv}
changes:
  description: What differs - V(enable), V(disable), V(description), C(options.<key>) or C(tune.<key>).
  returned: success
  type: list
  elements: str
  sample: [tune.max_lease_ttl]
diff:
  description: Before and after (type, description, and the options and tune keys given).
  returned: success
  type: dict
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.kiln.cluster.plugins.module_utils.openbao import (
    OpenBaoError,
    ensure_mount,
    make_client,
    openbao_argument_spec,
    require_hvac,
    tune_argument_spec,
)


def main():
    module = AnsibleModule(
        argument_spec=openbao_argument_spec(
            path=dict(type="str", required=True),
            type=dict(type="str"),
            description=dict(type="str"),
            options=dict(type="dict"),
            tune=dict(type="dict", options=tune_argument_spec()),
            state=dict(type="str", choices=["present", "absent"], default="present"),
        ),
        required_if=[("state", "present", ["type"])],
        supports_check_mode=True,
    )
    require_hvac(module)
    p = module.params
    try:
        changed, result = ensure_mount(make_client(p), "secret", p["path"], mount_type=p["type"],
                                       description=p["description"], options=p["options"], tune=p["tune"],
                                       state=p["state"], check_mode=module.check_mode)
    except OpenBaoError as exc:
        module.fail_json(msg=str(exc), path=p["path"])
    module.exit_json(changed=changed, **result)


if __name__ == "__main__":
    main()
