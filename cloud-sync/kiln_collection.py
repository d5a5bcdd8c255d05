"""Makes the collection kiln.cluster (the repository root) importable for the cloud-sync scripts.

Through the project's collections/ link when it exists (make setup makes it), else through a link in a temporary
directory, so a script runs from a bare checkout without touching the repository.
"""

import os
import sys
import tempfile

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def add_to_path():
    link = os.path.join(REPO_ROOT, "collections", "ansible_collections", "kiln", "cluster")
    if os.path.isdir(link):
        sys.path.insert(0, os.path.join(REPO_ROOT, "collections"))
        return
    base = tempfile.mkdtemp(prefix="kiln-collection-")
    os.makedirs(os.path.join(base, "ansible_collections", "kiln"))
    os.symlink(REPO_ROOT, os.path.join(base, "ansible_collections", "kiln", "cluster"))
    sys.path.insert(0, base)
