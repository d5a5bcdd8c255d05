#!/usr/bin/python
# -*- coding: utf-8 -*-

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: harbor_project
short_description: Keep a Harbor project, normal or a proxy cache of an upstream registry
description:
  - Reads the project O(name) and creates it, or updates the metadata that differs (PUT with only those keys).
  - With O(proxy_cache), the upstream registry endpoint is kept first (created, or its URL, TLS check, description
    and credential updated through /registries) and the project is created as a proxy cache of it.
  - Harbor cannot turn a normal project into a proxy cache (or back) or switch its registry; the module fails
    then, naming the project, instead of deleting images.
author:
  - Kiln maintainers
extends_documentation_fragment: [kiln.cluster.harbor]
options:
  name:
    description: Project name.
    type: str
    required: true
  public:
    description: Anyone may pull without logging in.
    type: bool
    default: false
  metadata:
    description:
      - Further project metadata keys (Harbor's ProjectMetadata), for example C(auto_scan), C(severity),
        C(proxy_speed_kb). Values are kept as strings; bools become V(true)/V(false).
    type: dict
    default: {}
  proxy_cache:
    description: The upstream registry this project caches; omit for a normal project.
    type: dict
    suboptions:
      registry_name:
        description: Name of the registry endpoint in Harbor; default C(<name>-upstream).
        type: str
      type:
        description: Harbor's adapter for the upstream.
        type: str
        required: true
        choices: [docker-hub, docker-registry, harbor, quay, github-ghcr, google-gcr, aws-ecr, azure-acr, jfrog-artifactory]
      url:
        description: Upstream URL, for example V(https://registry.k8s.io).
        type: str
        required: true
      insecure:
        description: Skip the upstream's TLS certificate check.
        type: bool
        default: false
      description:
        description: Registry endpoint description.
        type: str
        default: ""
      credential:
        description: Credential for the upstream (rate limits, private repositories); omit for anonymous pulls.
        type: dict
        suboptions:
          type:
            description: Credential type.
            type: str
            default: basic
          access_key:
            description: User name or access key.
            type: str
            required: true
          access_secret:
            description: Password or token; never logged. Harbor never returns it, so it is sent on creation and with O(proxy_cache.update_secret).
            type: str
            required: true
      update_secret:
        description: Send the access secret on every run (it cannot be compared).
        type: bool
        default: false
attributes:
  check_mode:
    support: full
    details: Reads and compares; sends no request that changes anything.
  diff_mode:
    support: none
"""

EXAMPLES = r"""
- name: Proxy cache of registry.k8s.io
  kiln.cluster.harbor_project:
    url: https://harbor.example.internal
    password: "{{ harbor_admin_password }}"
    name: k8s
    public: true
    proxy_cache:
      type: docker-registry
      url: https://registry.k8s.io
"""

RETURN = r"""
project_id: {description: The project's id (none in check mode for a new project)., returned: success, type: int}
metadata_changed: {description: Metadata keys that were (or would be) written., returned: success, type: list, elements: str}
registry:
  description: The registry endpoint of a proxy cache (id, name, fields_changed); none for a normal project.
  returned: success
  type: dict
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.kiln.cluster.plugins.module_utils.harbor import (
    PROXY_CACHE_REGISTRY_TYPES,
    HarborClient,
    HarborError,
    ensure_project,
    harbor_argument_spec,
    scrub,
)


def main():
    credential = dict(type=dict(type="str", default="basic"), access_key=dict(type="str", required=True, no_log=False),
                      access_secret=dict(type="str", required=True, no_log=True))
    proxy_cache = dict(registry_name=dict(type="str"), type=dict(type="str", required=True, choices=PROXY_CACHE_REGISTRY_TYPES),
                       url=dict(type="str", required=True), insecure=dict(type="bool", default=False),
                       description=dict(type="str", default=""),
                       credential=dict(type="dict", options=credential),
                       update_secret=dict(type="bool", default=False, no_log=False))
    module = AnsibleModule(
        argument_spec=harbor_argument_spec(
            name=dict(type="str", required=True),
            public=dict(type="bool", default=False),
            metadata=dict(type="dict", default={}),
            proxy_cache=dict(type="dict", options=proxy_cache),
        ),
        supports_check_mode=True,
    )
    p = module.params
    cache = p["proxy_cache"]
    if cache and not cache.get("registry_name"):
        cache["registry_name"] = "%s-upstream" % p["name"]
    secrets = [p["password"], ((cache or {}).get("credential") or {}).get("access_secret")]
    try:
        changed, result = ensure_project(HarborClient.from_params(p), p["name"], public=p["public"],
                                         metadata=p["metadata"], proxy_cache=cache, check_mode=module.check_mode)
    except HarborError as exc:
        module.fail_json(msg=scrub(exc, secrets), name=p["name"])
    module.exit_json(changed=changed, **result)


if __name__ == "__main__":
    main()
