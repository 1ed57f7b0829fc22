"""A small declarative checker for the JSON config and board files.

One spec format serves both files, so every mistake gets the same kind of
answer: one line naming the file, the dotted key and the problem. Unknown
keys are errors (a typo must not silently fall back to a default).
"""

from sipdoor.storage import os_reason


class ConfigError(Exception):
    """A bad config or board file. str() is the one line shown to the user."""

    def __init__(self, path, key, problem):
        super().__init__(path, key, problem)
        self.path = path
        self.key = key
        self.problem = problem

    def __str__(self):
        if self.key:
            return "%s: %s: %s" % (self.path, self.key, self.problem)
        return "%s: %s" % (self.path, self.problem)


class Field:
    """What one key may hold.

    kind: str, int, bool, float, list or dict. fields: spec of a nested
    object; items: Field for each list item; entries: Field for each value
    of an object whose keys are names the user picks (buttons.<name>).
    check(value) returns a problem string or None.
    """

    def __init__(self, kind, required=False, default=None, check=None,
                 fields=None, items=None, entries=None, nullable=False):
        self.kind = kind
        self.required = required
        self.default = default
        self.check = check
        self.fields = fields
        self.items = items
        self.entries = entries
        self.nullable = nullable


_KIND_NAMES = {str: "a string", int: "an integer", bool: "true or false",
               float: "a number", list: "a list", dict: "an object"}


def _kind_ok(kind, value):
    if kind is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if kind is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    return isinstance(value, kind)


def _type_name(value):
    if value is None:
        return "null"
    for kind in (bool, int, float, str, list, dict):
        if isinstance(value, kind):
            return _KIND_NAMES[kind]
    return type(value).__name__


def _copy_default(value):
    if isinstance(value, dict):
        return dict((k, _copy_default(v)) for k, v in value.items())
    if isinstance(value, list):
        return [_copy_default(v) for v in value]
    return value


def check_value(field, value, path, key):
    """Validate one value against its field; return it with defaults filled."""
    if value is None:
        if field.nullable:
            return None
        raise ConfigError(path, key, "must be %s, not null" % _KIND_NAMES[field.kind])
    if not _kind_ok(field.kind, value):
        raise ConfigError(path, key, "must be %s, not %s" % (_KIND_NAMES[field.kind], _type_name(value)))
    if field.fields is not None:
        value = check_object(field.fields, value, path, key)
    elif field.entries is not None:
        out = {}
        for name in value:
            if not valid_name(name):
                raise ConfigError(path, _join(key, name), "bad name (use letters, digits, '_' or '-')")
            out[name] = check_value(field.entries, value[name], path, _join(key, name))
        value = out
    elif field.items is not None:
        value = [check_value(field.items, item, path, "%s[%d]" % (key, i)) for i, item in enumerate(value)]
    if field.check is not None:
        problem = field.check(value)
        if problem:
            raise ConfigError(path, key, problem)
    return value


def check_object(spec, data, path, prefix=""):
    """Validate a JSON object against a spec dict of Fields."""
    if not isinstance(data, dict):
        raise ConfigError(path, prefix, "must be an object, not %s" % _type_name(data))
    for name in data:
        if name not in spec:
            known = ", ".join(sorted(spec))
            raise ConfigError(path, _join(prefix, name), "unknown key (known here: %s)" % known)
    out = {}
    for name in sorted(spec):
        field = spec[name]
        key = _join(prefix, name)
        if name in data:
            out[name] = check_value(field, data[name], path, key)
        elif field.required:
            raise ConfigError(path, key, "missing (required)")
        else:
            default = _copy_default(field.default)
            if field.fields is not None and isinstance(default, dict):
                default = check_object(field.fields, default, path, key)
            out[name] = default
    return out


def _join(prefix, name):
    return "%s.%s" % (prefix, name) if prefix else name


def valid_name(name):
    if not name or len(name) > 32:
        return False
    for ch in name:
        if not (ch.isalpha() or ch.isdigit() or ch in "_-"):
            return False
    return True


# -- reusable checks ----------------------------------------------------

def one_of(*choices):
    def check(value):
        if value not in choices:
            return "must be one of %s, not %r" % (", ".join(repr(c) for c in choices), value)
        return None
    return check


def in_range(low, high, unit=""):
    def check(value):
        if not low <= value <= high:
            return "%r out of range (%s-%s%s)" % (value, low, high, unit)
        return None
    return check


def non_empty(value):
    if not value.strip():
        return "must not be empty"
    return None


def load_json(path):
    """Read and parse a JSON file; any failure is a ConfigError naming the file."""
    import json

    try:
        with open(path) as f:
            text = f.read()
    except OSError as e:
        raise ConfigError(path, None, os_reason(e))
    except UnicodeError:
        raise ConfigError(path, None, "not UTF-8 text")
    try:
        return json.loads(text)
    except ValueError as e:
        raise ConfigError(path, None, "malformed JSON: %s" % e)
