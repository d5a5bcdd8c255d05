#!/usr/bin/env python3
"""Check a terraform.tfvars.json against the variable blocks of a Terraform root module, offline.

Usage: check_tfvars.py TERRAFORM_DIR TFVARS_JSON. Parses every *.tf file of TERRAFORM_DIR with python-hcl2,
then checks that each required variable is set, that nothing undeclared is set and that every value has its
declared type. Exit 0: valid; 1: problems (listed); 2: bad input; 3: python-hcl2 is not installed (nothing checked).
"""

import glob
import importlib.util
import json
import os
import sys

# kiln_collection.py lies beside this script (its directory is on sys.path when run, added when imported).
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import kiln_collection  # noqa: E402

kiln_collection.add_to_path()

from ansible_collections.kiln.cluster.plugins.module_utils.cloud_sync_tfvars import (  # noqa: E402
    TypeExpressionError,
    check_tfvars,
)


def _unquote(text):
    return text[1:-1] if isinstance(text, str) and len(text) > 1 and text[0] == text[-1] == '"' else text


def read_declarations(terraform_dir):
    """Variable name -> {"type": type expression text or None, "required": no default}, from every *.tf file."""
    import hcl2  # python-hcl2

    declarations = {}
    for path in sorted(glob.glob(os.path.join(terraform_dir, "*.tf"))):
        with open(path) as handle:
            document = hcl2.load(handle)
        for block in document.get("variable", []):
            for name, body in block.items():
                declarations[_unquote(name)] = {"type": body.get("type"), "required": "default" not in body,
                                                "file": os.path.basename(path)}
    return declarations


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    if len(argv) != 2:
        print(__doc__, file=sys.stderr)
        return 2
    terraform_dir, tfvars_path = argv
    if importlib.util.find_spec("hcl2") is None:
        print("tfvars check skipped: python-hcl2 is not installed (pip install python-hcl2)")
        return 3
    try:
        declarations = read_declarations(terraform_dir)
        with open(tfvars_path) as handle:
            tfvars = json.load(handle)
        problems = check_tfvars(declarations, tfvars)
    except (OSError, ValueError, TypeExpressionError) as err:
        print("tfvars check: cannot check %s against %s: %s" % (tfvars_path, terraform_dir, err), file=sys.stderr)
        return 2
    if not declarations:
        print("tfvars check: no variable blocks in %s" % terraform_dir, file=sys.stderr)
        return 2
    for problem in problems:
        print("tfvars problem: %s" % problem)
    print("tfvars check: %s against %d variables of %s: %s" % (
        os.path.basename(tfvars_path), len(declarations), terraform_dir,
        "valid" if not problems else "%d problem(s)" % len(problems)))
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
