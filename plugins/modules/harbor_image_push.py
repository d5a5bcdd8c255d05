#!/usr/bin/python
# -*- coding: utf-8 -*-

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: harbor_image_push
short_description: Push an OCI image archive to Harbor (or any OCI registry)
description:
  - Pushes the image of an OCI image archive (a tar of an OCI image layout with one image, as Kiln's artifact
    bundle holds them) as O(repository):O(tag), through the registry API (/v2/) with Harbor's token flow.
  - Reads the tag first; when the registry already serves the archive's manifest digest there, nothing is sent.
  - Blobs the registry already has are not uploaded again; every blob is checked against its sha256 before upload.
  - Needs no container engine or skopeo on the controller.
author:
  - Kiln maintainers
extends_documentation_fragment: [kiln.cluster.harbor]
options:
  archive:
    description: Path of the OCI image archive on the controller.
    type: path
    required: true
  repository:
    description: Target repository, C(<project>/<path>), for example V(k8s/coredns/coredns).
    type: str
    required: true
  tag:
    description: Target tag.
    type: str
    required: true
attributes:
  check_mode:
    support: full
    details: Compares the tag's digest; uploads nothing.
  diff_mode:
    support: none
"""

EXAMPLES = r"""
- name: Seed pause from the bundle
  kiln.cluster.harbor_image_push:
    url: https://harbor.example.internal
    password: "{{ harbor_admin_password }}"
    archive: ~/.cache/kiln/bundle/images-kubernetes-v1.36.3/pause.tar
    repository: k8s/pause
    tag: "3.10.2"
"""

RETURN = r"""
digest: {description: The image's manifest digest., returned: success, type: str}
previous_digest: {description: What the tag pointed to before (none when it did not exist)., returned: success, type: str}
blobs_uploaded: {description: Blobs uploaded., returned: success, type: int}
blobs_present: {description: Blobs the registry already had., returned: success, type: int}
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.kiln.cluster.plugins.module_utils.harbor import harbor_argument_spec, scrub
from ansible_collections.kiln.cluster.plugins.module_utils.harbor_oci import OciError, RegistryClient, push_archive


def main():
    module = AnsibleModule(
        argument_spec=harbor_argument_spec(
            archive=dict(type="path", required=True),
            repository=dict(type="str", required=True),
            tag=dict(type="str", required=True),
        ),
        supports_check_mode=True,
    )
    p = module.params
    if "/" not in p["repository"]:
        module.fail_json(msg="repository %r: Harbor needs <project>/<path>, e.g. k8s/pause" % p["repository"])
    client = RegistryClient(p["url"], p["username"], p["password"], p["ca_cert"], p["validate_certs"],
                            max(p["timeout"], 60))
    try:
        changed, result = push_archive(client, p["archive"], p["repository"], p["tag"], check_mode=module.check_mode)
    except OciError as exc:
        module.fail_json(msg=scrub(exc, [p["password"]]), repository=p["repository"], tag=p["tag"])
    module.exit_json(changed=changed, **result)


if __name__ == "__main__":
    main()
