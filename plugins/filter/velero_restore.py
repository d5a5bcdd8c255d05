"""Pure logic of playbooks/restore-test.yml: which backup to restore, and the Restore to create."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import re
from datetime import datetime

from ansible.errors import AnsibleFilterError

_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$")
_SUFFIX = "-restore-test-"


def _includes(spec, namespace):
    """Velero's own rule: empty or '*' includes every namespace; exclusions win."""
    included = spec.get("includedNamespaces") or ["*"]
    excluded = spec.get("excludedNamespaces") or []
    return (namespace in included or "*" in included) and namespace not in excluded and "*" not in excluded


def _finished(backup):
    status = backup.get("status") or {}
    stamp = status.get("completionTimestamp") or status.get("startTimestamp") \
        or (backup.get("metadata") or {}).get("creationTimestamp") or ""
    try:
        return datetime.strptime(stamp[:19], "%Y-%m-%dT%H:%M:%S")
    except ValueError:
        return datetime.min


def velero_latest_backup(backups, namespace):
    """Name of the newest backup in phase Completed whose scope includes namespace; '' when there is none."""
    if not isinstance(backups, list):
        raise AnsibleFilterError("velero_latest_backup expects a list of Backup objects, got %s" % type(backups).__name__)
    usable = [b for b in backups
              if (b.get("status") or {}).get("phase") == "Completed" and _includes(b.get("spec") or {}, namespace)]
    if not usable:
        return ""
    return max(usable, key=lambda b: (_finished(b), b["metadata"]["name"]))["metadata"]["name"]


def velero_scratch_namespace(namespace, stamp):
    """<namespace>-restore-test-<stamp>, the namespace part shortened so the result is a valid namespace name."""
    stamp = str(stamp)
    if not _LABEL.match(namespace or ""):
        raise AnsibleFilterError("velero_restore_test_namespace must be a namespace name (RFC 1123 label), got %r"
                                 % namespace)
    if not re.match(r"^[0-9a-z]+$", stamp):
        raise AnsibleFilterError("the restore test stamp must be lowercase letters and digits, got %r" % stamp)
    room = 63 - len(_SUFFIX) - len(stamp)
    if room < 1:
        raise AnsibleFilterError("the restore test stamp %r leaves no room for the namespace name" % stamp)
    return namespace[:room].rstrip("-") + _SUFFIX + stamp


def velero_restore(backup, namespace, scratch, velero_namespace="velero"):
    """The Restore object: only namespace from backup, mapped into scratch (never over the original)."""
    if not backup:
        raise AnsibleFilterError("velero_restore needs a backup name")
    if scratch == namespace:
        raise AnsibleFilterError("the scratch namespace must differ from %s, or the restore would overwrite it" % namespace)
    return {
        "apiVersion": "velero.io/v1",
        "kind": "Restore",
        "metadata": {"name": scratch, "namespace": velero_namespace,
                     "labels": {"app.kubernetes.io/managed-by": "kiln", "kiln.io/restore-test": "true"}},
        "spec": {"backupName": backup, "includedNamespaces": [namespace],
                 "namespaceMapping": {namespace: scratch}, "restorePVs": True,
                 "existingResourcePolicy": "none"},
    }


class FilterModule(object):
    def filters(self):
        return {"velero_latest_backup": velero_latest_backup,
                "velero_scratch_namespace": velero_scratch_namespace,
                "velero_restore": velero_restore}
