#!/usr/bin/python3
"""Validate a JSON document against one of the schemas in docs/schema.

usage: validate_json.py SCHEMA_DIR NAME FILE   (NAME: results, trials, summary, status)

Exits 0 when FILE is valid, 1 with every error (its path in the document
and the message) when it is not, 2 on bad usage. Uses Debian's
python3-jsonschema (draft 2020-12); the schemas refer to each other by
their $id, resolved from SCHEMA_DIR, never from the network.
"""
import json
import pathlib
import sys

import jsonschema


def main(argv):
    if len(argv) != 4:
        print(__doc__.strip().splitlines()[2], file=sys.stderr)
        return 2
    schema_dir, name, path = pathlib.Path(argv[1]), argv[2], argv[3]
    store = {}
    for f in schema_dir.glob("*.schema.json"):
        s = json.loads(f.read_text())
        store[s["$id"]] = s
    schema = json.loads((schema_dir / f"{name}.schema.json").read_text())
    jsonschema.Draft202012Validator.check_schema(schema)
    resolver = jsonschema.RefResolver(schema["$id"], schema, store=store)
    validator = jsonschema.Draft202012Validator(schema, resolver=resolver)
    doc = json.loads(pathlib.Path(path).read_text())
    errors = sorted(validator.iter_errors(doc), key=lambda e: list(e.absolute_path))
    for e in errors:
        where = "/".join(str(p) for p in e.absolute_path) or "(root)"
        print(f"{path}: {where}: {e.message}", file=sys.stderr)
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
