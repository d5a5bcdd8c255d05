#!/usr/bin/python
# -*- coding: utf-8 -*-

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: openbao_auth_method
short_description: Enable, tune, configure or disable an OpenBao auth method
description:
  - Reads the auth method at O(path) (C(sys/auth)), compares it with what is asked and writes only the
    difference - it enables a missing method, or tunes (C(sys/auth/<path>/tune)) only the description and
    O(tune) settings that differ. Never remounts a path that holds another O(type) - it fails, naming the path
    and both types.
  - With O(config) or O(config_write_only), it also writes C(auth/<path>/config), for example the kubernetes
    auth method's C(kubernetes_host) and C(kubernetes_ca_cert).
  - Which config fields are compared - every field of O(config) that the server reads back from
    C(auth/<path>/config), with the type rules below. A field the server does not read back cannot be compared;
    it is listed in RV(config.not_compared), a warning names it, and it is sent only when the config is written for
    another reason. For the kubernetes auth method, C(kubernetes_host), C(kubernetes_ca_cert), C(pem_keys), C(issuer),
    C(disable_iss_validation) and C(disable_local_ca_jwt) read back (OpenBao 2.7); C(token_reviewer_jwt) does not
    (only whether it is set, as C(token_reviewer_jwt_set)).
  - Secret write-only fields (kubernetes C(token_reviewer_jwt)) go in O(config_write_only), which is never
    logged, compared or shown; O(config) refuses the known ones (C(token_reviewer_jwt), C(oidc_client_secret),
    C(bindpass), C(client_secret), C(secret_key), C(password)). They are written when the config is created, when
    a compared field differs, or on every run with O(update_write_only=always).
  - The config is written whole (the kubernetes plugin replaces its whole config on every write), so give every
    field you want kept, the write-only ones included.
  - Type rules - durations compare in seconds (V(1h) equals V(3600)); lists compare as sets, and a
    comma-separated string equals the list of its items; booleans accept V(true)/V(yes)/V(1) and the like;
    multi-line strings such as certificates ignore trailing whitespace on each line and trailing blank lines.
author:
  - Kiln maintainers
options:
  path:
    description: Where the method is mounted, without C(auth/); defaults to O(type).
    type: str
  type:
    description: The auth method type, for example V(kubernetes), V(approle), V(userpass). Required with O(state=present).
    type: str
  description:
    description: Human-readable description; not managed when unset.
    type: str
  tune:
    description: Mount configuration, compared with what C(sys/auth) reads back; unset keys are not managed.
    type: dict
    suboptions:
      default_lease_ttl:
        description: Default token TTL, in seconds or as a duration such as V(1h); V(0) means the system default.
        type: raw
      max_lease_ttl:
        description: Maximum token TTL, in seconds or as a duration such as V(768h); V(0) means the system default.
        type: raw
      listing_visibility:
        description: Whether the method is listed in the UI's unauthenticated listing.
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
        description: Request headers passed to the method.
        type: list
        elements: str
      allowed_response_headers:
        description: Response headers the method may set.
        type: list
        elements: str
      token_type:
        description: The type of token the method issues.
        type: str
        choices: [default-service, default-batch, service, batch]
  config:
    description: Fields of C(auth/<path>/config), compared with what reads back (see the description).
    type: dict
  config_write_only:
    description: Secret fields of C(auth/<path>/config) that never read back, such as C(token_reviewer_jwt). Never logged.
    type: dict
  update_write_only:
    description:
      - V(on_create) writes O(config_write_only) only with a config write that O(config) causes (or the first one);
        V(always) writes the config on every run, so C(changed) is then always true.
    type: str
    choices: [on_create, always]
    default: on_create
  state:
    description: V(present) enables, tunes and configures the method; V(absent) disables it, with its roles and config.
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
    details: Before and after of the mount settings given and of the compared config fields; write-only values masked.
"""

EXAMPLES = r"""
- name: Kubernetes auth for the cluster
  kiln.cluster.openbao_auth_method:
    url: https://10.0.0.11:8200
    token: "{{ openbao_token }}"
    ca_cert: /etc/openbao/tls/ca.crt
    type: kubernetes
    description: Kiln cluster service accounts
    tune:
      default_lease_ttl: 1h
      max_lease_ttl: 24h
    config:
      kubernetes_host: https://10.0.0.10:6443
      kubernetes_ca_cert: "{{ lookup('ansible.builtin.file', '/etc/kubernetes/pki/ca.crt') }}"
    config_write_only:
      token_reviewer_jwt: "{{ openbao_reviewer_jwt }}"

- name: Remove an auth method
  kiln.cluster.openbao_auth_method:
    url: https://10.0.0.11:8200
    token: "{{ openbao_token }}"
    path: old-approle
    type: approle
    state: absent
"""

RETURN = r"""
path: {description: The mount path without C(auth/) and slashes., returned: always, type: str, sample: kubernetes}
type: {description: The method type., returned: success, type: str, sample: kubernetes}
changes:
  description: What differs on the mount - V(enable), V(disable), V(description) or C(tune.<key>).
  returned: success
  type: list
  elements: str
config:
  description: What happened to C(auth/<path>/config).
  returned: success and state is present
  type: dict
  contains:
    changes:
      description: V(create), or the compared fields that differ (and the write-only ones with O(update_write_only=always)).
      type: list
      elements: str
    not_compared:
      description: Fields of O(config) the server does not read back, so not compared.
      type: list
      elements: str
diff:
  description: Before and after of the mount settings given (key C(mount)) and the compared config fields (key C(config)).
  returned: success
  type: dict
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.kiln.cluster.plugins.module_utils.openbao import (
    OpenBaoError,
    ensure_auth_config,
    ensure_mount,
    make_client,
    openbao_argument_spec,
    require_hvac,
    tune_argument_spec,
)


def main():
    module = AnsibleModule(
        argument_spec=openbao_argument_spec(
            path=dict(type="str"),
            type=dict(type="str"),
            description=dict(type="str"),
            tune=dict(type="dict", options=tune_argument_spec(auth=True)),
            config=dict(type="dict"),
            config_write_only=dict(type="dict", no_log=True),
            update_write_only=dict(type="str", choices=["on_create", "always"], default="on_create"),
            state=dict(type="str", choices=["present", "absent"], default="present"),
        ),
        required_if=[("state", "present", ["type"])],
        required_one_of=[("path", "type")],
        supports_check_mode=True,
    )
    require_hvac(module)
    p = module.params
    path = p["path"] or p["type"]
    try:
        client = make_client(p)
        changed, result = ensure_mount(client, "auth", path, mount_type=p["type"], description=p["description"],
                                       tune=p["tune"], state=p["state"], check_mode=module.check_mode)
        diff = {"before": {"mount": result["diff"]["before"]}, "after": {"mount": result["diff"]["after"]}}
        if p["state"] == "present":
            if "enable" in result["changes"] and module.check_mode:
                config_changed = bool(p["config"] or p["config_write_only"])
                config = {"changes": ["create"] if config_changed else [], "not_compared": []}
            else:
                config_changed, config = ensure_auth_config(client, result["path"], p["config"], p["config_write_only"],
                                                            p["update_write_only"], check_mode=module.check_mode)
                diff["before"]["config"] = config["diff"]["before"]
                diff["after"]["config"] = config["diff"]["after"]
            changed = changed or config_changed
            if config["not_compared"]:
                module.warn("auth/%s/config does not read back %s: not compared, sent only when the config is "
                            "written for another reason" % (result["path"], ", ".join(config["not_compared"])))
            result["config"] = {"changes": config["changes"], "not_compared": config["not_compared"]}
        result["diff"] = diff
    except OpenBaoError as exc:
        module.fail_json(msg=str(exc), path=path)
    module.exit_json(changed=changed, **result)


if __name__ == "__main__":
    main()
