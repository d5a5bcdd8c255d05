#!/usr/bin/python
# -*- coding: utf-8 -*-

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: oci_push
short_description: Push an OCI image archive or a packaged Helm chart to an OCI registry
description:
  - Pushes the image of an OCI image archive (Kiln's artifact bundle holds one image per archive) with skopeo,
    keeping its manifest digest, or a packaged Helm chart with C(helm push).
  - Reads the tag first with C(skopeo inspect --raw); nothing is sent when the registry already serves the
    archive's manifest digest (image) or the package's sha256 as the chart layer (chart).
  - Fails when, after a push, the registry does not serve what was pushed.
author:
  - Kiln maintainers
options:
  src:
    description: Path of the OCI image archive (C(.tar)) or the packaged chart (C(<chart>-<version>.tgz)) on the controller.
    type: path
    required: true
  dest:
    description:
      - Target reference C(host[:port]/repository:tag), without a scheme.
      - For a chart the last path element and the tag must be the chart's name and version (C(helm push) names it
        from C(Chart.yaml)).
    type: str
    required: true
  kind:
    description: What O(src) is.
    type: str
    choices: [image, chart]
    default: image
  ca_cert:
    description: CA certificate (PEM) the registry's TLS certificate is checked against; default the system's CAs.
    type: path
  skopeo:
    description: The skopeo command.
    type: str
    default: skopeo
  helm:
    description: The helm command (charts only).
    type: str
    default: helm
notes:
  - Supports check mode (reads the registry, pushes nothing).
"""

EXAMPLES = r"""
- name: Push kube-router to the site registry's Docker Hub project
  kiln.cluster.oci_push:
    src: ~/.cache/kiln/bundle/images-platform/kube-router.tar
    dest: registry.example.internal:5000/dockerhub/cloudnativelabs/kube-router:v2.1.0
    ca_cert: inventories/mysite/site-registry/ca.crt
"""

RETURN = r"""
digest:
  description: Manifest digest of the image, or the sha256 of the chart package (its chart layer).
  returned: always
  type: str
dest:
  description: The reference pushed to.
  returned: always
  type: str
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.kiln.cluster.plugins.module_utils.oci_push import (CertDir, PushError, push_chart,
                                                                            push_image)


def main():
    module = AnsibleModule(
        argument_spec=dict(
            src=dict(type="path", required=True),
            dest=dict(type="str", required=True),
            kind=dict(type="str", choices=["image", "chart"], default="image"),
            ca_cert=dict(type="path"),
            skopeo=dict(type="str", default="skopeo"),
            helm=dict(type="str", default="helm"),
        ),
        supports_check_mode=True,
    )
    params = module.params

    def run(argv):
        return module.run_command(argv, encoding="utf-8", errors="surrogate_or_strict")

    try:
        with CertDir(params["ca_cert"]) as cert_dir:
            if params["kind"] == "image":
                changed, digest = push_image(run, params["skopeo"], params["src"], params["dest"], cert_dir,
                                             module.check_mode)
            else:
                changed, digest = push_chart(run, params["skopeo"], params["helm"], params["src"], params["dest"],
                                             params["ca_cert"], cert_dir, module.check_mode)
    except (PushError, OSError) as exc:
        module.fail_json(msg="%s: %s" % (params["dest"], exc))
    module.exit_json(changed=changed, digest=digest, dest=params["dest"])


if __name__ == "__main__":
    main()
