"""Check Terraform variable values against their declarations, offline (pure).

Terraform itself checks ``-var-file`` values only at plan time, and only after ``init`` has fetched providers.
This module does the part that needs no provider: every required variable is set, no undeclared variable is
set, and each value has the declared type constraint (``string``, ``number``, ``bool``, ``any``, ``list(T)``,
``set(T)``, ``map(T)``, ``tuple([...])``, ``object({...})`` with ``optional(T[, default])`` attributes).
Declarations come from an HCL parser (``cloud-sync/check_tfvars.py`` uses python-hcl2), which hands type
expressions over as text.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import re

_TOKEN = re.compile(r"\s*(?:([A-Za-z_][A-Za-z0-9_-]*)|(\"(?:[^\"\\]|\\.)*\")|(-?\d+(?:\.\d+)?)|(.))")
PRIMITIVES = ("string", "number", "bool", "any")


class TypeExpressionError(Exception):
    pass


def _tokens(text):
    text = text.strip()
    if text.startswith("${") and text.endswith("}"):
        text = text[2:-1]
    tokens = []
    position = 0
    while position < len(text):
        match = _TOKEN.match(text, position)
        if not match or match.end() == position:
            break
        tokens.append(next(group for group in match.groups() if group is not None))
        position = match.end()
    return tokens


class _Parser(object):
    def __init__(self, text):
        self.text = text
        self.tokens = _tokens(text)
        self.index = 0

    def peek(self):
        return self.tokens[self.index] if self.index < len(self.tokens) else None

    def take(self, expected=None):
        token = self.peek()
        if token is None or (expected is not None and token != expected):
            raise TypeExpressionError("type %r: expected %r at token %d, got %r"
                                      % (self.text, expected or "a token", self.index, token))
        self.index += 1
        return token

    def skip_value(self):
        """Skip an optional() default: anything up to the ')' closing optional(."""
        depth = 0
        while True:
            token = self.peek()
            if token is None:
                raise TypeExpressionError("type %r: unterminated optional()" % self.text)
            if token in "([{" and len(token) == 1:
                depth += 1
            elif token in ")]}" and len(token) == 1:
                if depth == 0:
                    return
                depth -= 1
            self.index += 1

    def parse(self):
        kind = self.take()
        if kind in PRIMITIVES:
            return kind
        if kind in ("list", "set", "map"):
            self.take("(")
            inner = self.parse()
            self.take(")")
            return (kind, inner)
        if kind == "tuple":
            self.take("(")
            self.take("[")
            items = []
            while self.peek() != "]":
                items.append(self.parse())
                if self.peek() == ",":
                    self.take(",")
            self.take("]")
            self.take(")")
            return ("tuple", items)
        if kind == "object":
            self.take("(")
            self.take("{")
            attributes = {}
            while self.peek() != "}":
                name = self.take().strip('"')
                self.take("=")
                optional = False
                if self.peek() == "optional":
                    self.take("optional")
                    self.take("(")
                    attribute = self.parse()
                    if self.peek() == ",":
                        self.take(",")
                        self.skip_value()
                    self.take(")")
                    optional = True
                else:
                    attribute = self.parse()
                attributes[name] = (attribute, optional)
                if self.peek() == ",":
                    self.take(",")
            self.take("}")
            self.take(")")
            return ("object", attributes)
        raise TypeExpressionError("type %r: unknown type %r" % (self.text, kind))


def parse_type(text):
    """A type constraint's text -> "string" | ("list", T) | ("object", {name: (T, optional)}) | ..."""
    parser = _Parser(text)
    parsed = parser.parse()
    if parser.peek() is not None:
        raise TypeExpressionError("type %r: unexpected %r after the type" % (text, parser.peek()))
    return parsed


def type_errors(value, constraint, path):
    """Every way ``value`` fails ``constraint``, as "path: problem" strings."""
    if constraint == "any":
        return []
    if value is None:
        return ["%s: null where %s is expected" % (path, describe(constraint))]
    if constraint == "string":
        # Terraform converts numbers and bools to strings; a list or object is an error.
        return [] if isinstance(value, (str, int, float, bool)) else ["%s: expected string, got %s" % (path, _kind(value))]
    if constraint == "number":
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            if isinstance(value, str) and re.match(r"^-?\d+(\.\d+)?$", value):
                return []
            return ["%s: expected number, got %s" % (path, _kind(value))]
        return []
    if constraint == "bool":
        if isinstance(value, bool) or value in ("true", "false"):
            return []
        return ["%s: expected bool, got %s" % (path, _kind(value))]
    kind = constraint[0]
    if kind in ("list", "set", "tuple"):
        if not isinstance(value, list):
            return ["%s: expected %s, got %s" % (path, describe(constraint), _kind(value))]
        if kind == "tuple":
            if len(value) != len(constraint[1]):
                return ["%s: expected %d elements, got %d" % (path, len(constraint[1]), len(value))]
            pairs = zip(value, constraint[1])
        else:
            pairs = ((item, constraint[1]) for item in value)
        errors = []
        for index, (item, item_type) in enumerate(pairs):
            errors.extend(type_errors(item, item_type, "%s[%d]" % (path, index)))
        return errors
    if not isinstance(value, dict):
        return ["%s: expected %s, got %s" % (path, describe(constraint), _kind(value))]
    errors = []
    if kind == "map":
        for key in sorted(value):
            errors.extend(type_errors(value[key], constraint[1], "%s.%s" % (path, key)))
        return errors
    attributes = constraint[1]
    for name in sorted(attributes):
        attribute, optional = attributes[name]
        if name not in value:
            if not optional:
                errors.append("%s: attribute %r is required" % (path, name))
            continue
        errors.extend(type_errors(value[name], attribute, "%s.%s" % (path, name)))
    for name in sorted(set(value) - set(attributes)):
        # Terraform drops unknown object attributes silently; here that is a rendering bug.
        errors.append("%s: attribute %r is not declared in the type" % (path, name))
    return errors


def describe(constraint):
    if isinstance(constraint, str):
        return constraint
    if constraint[0] == "object":
        return "object"
    if constraint[0] == "tuple":
        return "tuple"
    return "%s(%s)" % (constraint[0], describe(constraint[1]))


def _kind(value):
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, (int, float)):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "list"
    if isinstance(value, dict):
        return "object"
    return type(value).__name__


def check_tfvars(declarations, tfvars):
    """declarations: name -> {"type": type text or None, "required": bool}. Returns sorted problems."""
    problems = []
    for name in sorted(declarations):
        declaration = declarations[name]
        if name not in tfvars:
            if declaration["required"]:
                problems.append("%s: required variable is not set" % name)
            continue
        if declaration.get("type"):
            problems.extend(type_errors(tfvars[name], parse_type(declaration["type"]), name))
    for name in sorted(set(tfvars) - set(declarations)):
        problems.append("%s: no such variable is declared" % name)
    return problems
