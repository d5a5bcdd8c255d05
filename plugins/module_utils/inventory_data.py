"""Inventory values as data: read without templating, refuse template syntax, type-check against one schema.

The gate (plugins/action/inventory_preflight.py) and the GPU plan read each host's variables once, untemplated
(``hostvars.raw_get``). Nothing here evaluates a value: a string is only searched for template markers, an
encrypted value is only decrypted (ansible-vault, no templating), and types are checked with Ansible's own
argument-spec validator on plain data.
"""

import difflib

# Jinja's default delimiters, as Ansible templates strings with them.
TEMPLATE_MARKERS = ("{{", "{%", "{#")
# Ansible's magic variables: set by Ansible, not by the inventory.
MAGIC_VARS = frozenset((
    "ansible_check_mode", "ansible_config_file", "ansible_diff_mode", "ansible_facts", "ansible_forks",
    "ansible_inventory_sources", "ansible_playbook_python", "ansible_run_tags", "ansible_skip_tags",
    "ansible_verbosity", "ansible_version", "group_names", "groups", "inventory_dir", "inventory_file",
    "inventory_hostname", "inventory_hostname_short", "omit", "playbook_dir", "ansible_local",
))
MAX_FINDINGS_PER_VALUE = 5


# Bounds of one inventory value, as YAML expands it (aliases count each time they are used): far above any real
# Kiln value, far below what would stall the gate (a "billion laughs" document).
MAX_VALUE_ITEMS = 100000
MAX_VALUE_DEPTH = 64


def oversized(value):
    """Why ``value`` is too big to check (expanded item count or nesting), or None; never expands it."""
    sizes = {}

    def measure(item, depth):
        if depth > MAX_VALUE_DEPTH:
            raise ValueError("nests deeper than %d levels" % MAX_VALUE_DEPTH)
        if not isinstance(item, (dict, list, tuple)):
            return 1
        key = id(item)
        if key not in sizes:
            children = list(item.items()) if isinstance(item, dict) else [(None, v) for v in item]
            total = 1
            for _k, child in children:
                total += measure(child, depth + 1)
                if total > MAX_VALUE_ITEMS:
                    raise ValueError("expands to more than %d items" % MAX_VALUE_ITEMS)
            sizes[key] = total
        return sizes[key]

    try:
        measure(value, 0)
    except ValueError as err:
        return str(err)
    return None


def has_template(text):
    return any(marker in text for marker in TEMPLATE_MARKERS)


def is_encrypted(value):
    """An ansible-vault value (``!vault``): ciphertext, which is data until decrypted."""
    return type(value).__name__ in ("EncryptedString", "AnsibleVaultEncryptedUnicode")


def origin(value):
    """``file:line`` an inventory value came from, where Ansible recorded it (ansible-core 2.19+)."""
    try:
        from ansible._internal._datatag._tags import Origin
    except ImportError:  # older ansible-core: no origin tags
        return None
    try:
        tag = Origin.get_tag(value)
    except Exception:  # pylint: disable=broad-except  # an untagged or exotic value has no origin
        return None
    if tag is None or not getattr(tag, "path", None):
        return None
    return "%s:%s" % (tag.path, tag.line_num) if getattr(tag, "line_num", None) else str(tag.path)


def template_paths(value, path, limit=MAX_FINDINGS_PER_VALUE):
    """Dotted paths inside ``value`` (keys included) whose strings hold template syntax, and the string found."""
    found = []
    stack = [(path, value)]
    while stack and len(found) < limit:
        where, item = stack.pop()
        if isinstance(item, str) and not is_encrypted(item):
            if has_template(item):
                found.append((where, item))
        elif isinstance(item, dict):
            for key in sorted(item, key=str, reverse=True):
                if isinstance(key, str) and has_template(key):
                    found.append(("%s (key %r)" % (where, key), key))
                stack.append(("%s.%s" % (where, key), item[key]))
        elif isinstance(item, (list, tuple)):
            for index in range(len(item) - 1, -1, -1):
                stack.append(("%s[%d]" % (where, index), item[index]))
    return sorted(found)


def encrypted_values(value, path):
    """(path, value) of every ansible-vault value inside ``value``."""
    found = []
    stack = [(path, value)]
    while stack:
        where, item = stack.pop()
        if is_encrypted(item):
            found.append((where, item))
        elif isinstance(item, dict):
            stack.extend(("%s.%s" % (where, k), v) for k, v in item.items())
        elif isinstance(item, (list, tuple)):
            stack.extend(("%s[%d]" % (where, i), v) for i, v in enumerate(item))
    return found


def decrypts(value):
    """Whether an ansible-vault value decrypts with the vault secrets this run has; returns (ok, error)."""
    try:
        str(value)
    except Exception as err:  # pylint: disable=broad-except  # any vault failure is the finding
        return False, str(err).splitlines()[0] if str(err) else type(err).__name__
    return True, None


def plain(value):
    """A deep copy as plain Python types (tags dropped, ciphertext decrypted) for the type checks."""
    if isinstance(value, dict):
        return dict((plain(k), plain(v)) for k, v in value.items())
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    if isinstance(value, bool):
        return bool(value)
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        return float(value)
    if isinstance(value, str) or is_encrypted(value):
        return str(value)
    return value


def inventory_names(raw):
    """The variable names of one host's raw variables that the inventory (or extra vars) set: facts and magic
    variables left out."""
    facts = raw.get("ansible_facts") or {}
    names = []
    for name in raw:
        # Facts (gathered, or set by Kiln's modules such as kiln_gpus) come from hosts, not from the inventory.
        if name in MAGIC_VARS or name in facts or (name.startswith("ansible_") and name[len("ansible_"):] in facts):
            continue
        names.append(name)
    return names


class Schema(object):
    """Every variable Kiln documents, with its argument-spec: the inventory schema (role kiln) and each role's
    ``meta/argument_specs.yml``. ``prefixes`` are the name spaces Kiln owns (``kiln_`` and each role's name)."""

    def __init__(self, options, prefixes):
        self.options = options
        self.prefixes = tuple(sorted(prefixes, key=len, reverse=True))

    def owns(self, name):
        return any(name.startswith(p) for p in self.prefixes)

    def suggest(self, name):
        close = difflib.get_close_matches(name, list(self.options), n=1, cutoff=0.75)
        return close[0] if close else None

    def check(self, name, value):
        """Error messages for ``value`` against the spec of ``name`` (empty when it conforms or is unknown)."""
        spec = self.options.get(name)
        if spec is None:
            return []
        from ansible.module_utils.common.arg_spec import ArgumentSpecValidator
        strict = _strict_type_error(spec.get("type", "str"), value)
        if strict:
            return [strict]
        spec = dict(spec)
        # Required-ness is the gate's business (cluster-wide rules); defaults must not fill a set value.
        spec.pop("required", None)
        spec.pop("default", None)
        try:
            result = ArgumentSpecValidator({name: spec}).validate({name: value})
        except Exception as err:  # pylint: disable=broad-except  # a malformed value is a finding, not a traceback
            return ["cannot be checked against its type: %s" % err]
        return [_without_internal_prefix(str(error)) for error in result.errors]


_STRICT = {"list": (list,), "dict": (dict,), "bool": (bool,), "int": (int,)}
_NAMES = {"list": "a list", "dict": "a mapping", "bool": "true or false", "int": "an integer", "str": "a string"}


def _strict_type_error(kind, value):
    """Where Ansible's validator would convert (a string split into a list, 'yes' into true, a mapping into its
    text), the inventory must already hold the type: a wrong shape is a mistake, not a shorthand."""
    if value is None:
        return None
    if kind in _STRICT:
        wanted = _STRICT[kind]
        if not isinstance(value, wanted) or (kind == "int" and isinstance(value, bool)):
            return "is %s (%s), expected %s" % (type(value).__name__, _short(value), _NAMES[kind])
    if kind == "str" and isinstance(value, (dict, list)):
        return "is %s (%s), expected %s" % (type(value).__name__, _short(value), _NAMES["str"])
    return None


def _short(value):
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _without_internal_prefix(message):
    for prefix in ("Unsupported parameters for (basic.py) module: ",):
        message = message.replace(prefix, "")
    return message


def load_schema(paths_and_documents, role_names):
    """Merges argument-spec documents (path, parsed YAML) into one Schema; the first definition of a name wins."""
    options = {}
    for _path, document in paths_and_documents:
        for entry in ((document or {}).get("argument_specs") or {}).values():
            for name, spec in ((entry or {}).get("options") or {}).items():
                options.setdefault(name, spec or {})
    prefixes = {"kiln_"} | set("%s_" % role for role in role_names)
    return Schema(options, prefixes)
