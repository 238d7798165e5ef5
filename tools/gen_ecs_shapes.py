#!/usr/bin/env python3
"""Generate berth's Rust types for the Amazon ECS wire shapes from botocore's service model.

botocore's `data/ecs/2014-11-13/service-2.json` is the authority for every name and type the
ECS API uses. Rather than hand-copy dozens of structures (and drift from them), this script
walks the shapes reachable from the operations berth serves and writes:

  crates/model/src/shapes.rs    the ECS resource documents (Cluster, TaskDefinition, ...)
  crates/api/src/services/ecs/wire.rs    the operations' request and response envelopes

The model is read from the botocore release pinned in BOTOCORE_VERSION below, so that the same
script gives the same files on every machine: a newer botocore adds members and enum values
(and so changes the generated types) on its own schedule. `scripts/install-deps --test` puts
that release into the project's `.venv`. Run it after adding an operation to OPERATIONS below:

    .venv/bin/python tools/gen_ecs_shapes.py

It formats what it writes with rustfmt, so the files are exactly what `cargo fmt` leaves.
`--check` writes nothing: it regenerates into memory and fails, with a diff, if the committed
files differ (CI runs it through `scripts/check-generated`). To move to a newer model, change
BOTOCORE_VERSION, re-run `scripts/install-deps --test`, regenerate and review the diff.
"""

import argparse
import difflib
import gzip
import html
import json
import os
import re
import subprocess
import sys

OPERATIONS = [
    "CreateCluster", "DescribeClusters", "ListClusters", "DeleteCluster", "UpdateCluster",
    "UpdateClusterSettings", "PutClusterCapacityProviders",
    "RegisterTaskDefinition", "DescribeTaskDefinition", "ListTaskDefinitions",
    "ListTaskDefinitionFamilies", "DeregisterTaskDefinition", "DeleteTaskDefinitions",
    "TagResource", "UntagResource", "ListTagsForResource",
    "RunTask", "DescribeTasks", "ListTasks", "StopTask",
]

RUST_KEYWORDS = {"type", "match", "ref", "mod", "use", "self", "struct", "enum", "fn", "loop"}
PRIMITIVES = {"integer": "i32", "long": "i64", "boolean": "bool", "double": "f64",
              "float": "f32", "timestamp": "Timestamp", "string": "String"}
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# The botocore release whose ECS model the committed shapes.rs and wire.rs were generated from.
# scripts/install-deps reads this line; keep it a plain string assignment.
BOTOCORE_VERSION = "1.43.11"
SHAPES_RS = "crates/model/src/shapes.rs"
WIRE_RS = "crates/api/src/services/ecs/wire.rs"


def load_model(model_path=None):
    """The ECS service model: from `model_path` if given, else from the pinned botocore."""
    if model_path is None:
        try:
            import botocore
        except ImportError:
            sys.exit("gen_ecs_shapes: botocore is not installed for %s; run scripts/install-deps --test "
                     "and use .venv/bin/python" % sys.executable)
        if botocore.__version__ != BOTOCORE_VERSION:
            sys.exit("gen_ecs_shapes: botocore %s is installed (%s), but the shapes are pinned to %s: "
                     "run scripts/install-deps --test and use .venv/bin/python, or change BOTOCORE_VERSION "
                     "on purpose" % (botocore.__version__, botocore.__file__, BOTOCORE_VERSION))
        model_path = os.path.join(os.path.dirname(botocore.__file__), "data/ecs/2014-11-13/service-2.json")
    if os.path.exists(model_path):
        with open(model_path) as f:
            return json.load(f)
    with gzip.open(model_path + ".gz") as f:
        return json.load(f)


def snake(name):
    s = re.sub(r"([A-Z]+)([A-Z][a-z])", r"\1_\2", name)
    s = re.sub(r"([a-z0-9])([A-Z])", r"\1_\2", s)
    return s.lower()


def serde_camel(snake_name):
    parts = snake_name.split("_")
    return parts[0] + "".join(p[:1].upper() + p[1:] for p in parts[1:])


def variant(value):
    words = [w for w in re.split(r"[^A-Za-z0-9]+", value) if w]
    # camelCase words keep their inner capitals (containerInsights -> ContainerInsights);
    # SHOUTING or lower words are capitalized (FARGATE_SPOT -> FargateSpot).
    name = "".join(w[:1].upper() + (w[1:] if w[1:] != w[1:].lower() and w != w.upper() else w[1:].lower())
                   for w in words)
    return name if name[:1].isalpha() else "V" + name


def first_sentence(doc):
    text = html.unescape(re.sub(r"<[^>]+>", "", doc or "")).strip()
    text = re.sub(r"\s+", " ", text)
    m = re.match(r"(.+?\.)(\s|$)", text)
    return (m.group(1) if m else text)[:300]


def generate(model):
    """The generated files, {path relative to ROOT: text before formatting}."""
    files = {}
    shapes = model["shapes"]
    reachable = set()

    def walk(name):
        if name in reachable:
            return
        reachable.add(name)
        shape = shapes[name]
        for member in shape.get("members", {}).values():
            walk(member["shape"])
        if "member" in shape:
            walk(shape["member"]["shape"])
        if "key" in shape:
            walk(shape["key"]["shape"])
            walk(shape["value"]["shape"])

    for op in OPERATIONS:
        walk(model["operations"][op]["input"]["shape"])
        walk(model["operations"][op]["output"]["shape"])

    def is_enum(name):
        return shapes[name]["type"] == "string" and "enum" in shapes[name]

    def rust_type(name):
        shape = shapes[name]
        kind = shape["type"]
        if kind == "structure" or is_enum(name):
            return name
        if kind == "list":
            return "Vec<%s>" % rust_type(shape["member"]["shape"])
        if kind == "map":
            return "BTreeMap<String, %s>" % rust_type(shape["value"]["shape"])
        return PRIMITIVES[kind]

    def defaultable(name):
        shape = shapes[name]
        return all(
            m not in shape.get("required", []) or not is_enum(spec["shape"])
            for m, spec in shape["members"].items())

    def emit_enum(name, out):
        values = shapes[name]["enum"]
        out.append("/// %s\n" % (first_sentence(shapes[name].get("documentation")) or
                                 "The `%s` values of the ECS API." % name))
        out.append("#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]\n")
        out.append("pub enum %s {\n" % name)
        seen = set()
        for v in values:
            var = variant(v)
            assert var not in seen, (name, v)
            seen.add(var)
            out.append("    #[serde(rename = %s)]\n    %s,\n" % (json.dumps(v), var))
        out.append("}\n\n")
        out.append("impl %s {\n    /// The value exactly as the ECS API spells it.\n" % name)
        out.append("    pub fn as_str(self) -> &'static str {\n        match self {\n")
        for v in values:
            out.append("            Self::%s => %s,\n" % (variant(v), json.dumps(v)))
        out.append("        }\n    }\n}\n\n")
        out.append("impl std::fmt::Display for %s {\n" % name)
        out.append("    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {\n")
        out.append("        f.write_str(self.as_str())\n    }\n}\n\n")

    def emit_struct(name, out):
        shape = shapes[name]
        required = set(shape.get("required", []))
        doc = first_sentence(shape.get("documentation")) or "The `%s` shape of the ECS API." % name
        out.append("/// %s\n" % doc)
        derives = ["Debug", "Clone", "PartialEq", "Serialize", "Deserialize"]
        if defaultable(name):
            derives.append("Default")
        out.append("#[derive(%s)]\n" % ", ".join(derives))
        out.append('#[serde(rename_all = "camelCase")]\n')
        out.append("pub struct %s {\n" % name)
        for member, spec in shape["members"].items():
            field = snake(member)
            doc = first_sentence(spec.get("documentation"))
            if doc:
                out.append("    /// %s\n" % doc.replace("\n", " "))
            attrs = []
            if serde_camel(field) != member:
                attrs.append("rename = %s" % json.dumps(member))
            ty = rust_type(spec["shape"])
            if member not in required:
                ty = "Option<%s>" % ty
                attrs.append('skip_serializing_if = "Option::is_none"')
            if attrs:
                out.append("    #[serde(%s)]\n" % ", ".join(attrs))
            ident = "r#" + field if field in RUST_KEYWORDS else field
            out.append("    pub %s: %s,\n" % (ident, ty))
        out.append("}\n\n")

    envelope_names = {model["operations"][op][io]["shape"]
                      for op in OPERATIONS for io in ("input", "output")}

    def is_envelope(name):
        return name in envelope_names

    header = ("// @generated by tools/gen_ecs_shapes.py from botocore's ECS service model "
              "(2014-11-13). Do not edit by hand: add operations to the script and run it again.\n\n")
    nouns = [n for n in sorted(reachable)
             if (shapes[n]["type"] == "structure" and not is_envelope(n)) or is_enum(n)]
    envelopes = [n for n in sorted(reachable) if shapes[n]["type"] == "structure" and is_envelope(n)]

    out = [header,
           "//! The ECS API's resource documents, exactly as botocore's service model shapes them.\n//!\n"
           "//! berth stores and returns these documents as users registered them, so every field a\n"
           "//! user sets comes back unchanged; domain logic reads the parts it reasons about through\n"
           "//! typed parsers elsewhere in this crate (`fargate`, `arn`, `names`).\n\n",
           "use std::collections::BTreeMap;\n\nuse serde::{Deserialize, Serialize};\n\nuse crate::Timestamp;\n\n"]
    for n in nouns:
        (emit_enum if is_enum(n) else emit_struct)(n, out)
    files[SHAPES_RS] = "".join(out)

    out = [header,
           "//! The request and response envelopes of the ECS operations berth serves, exactly as\n"
           "//! botocore's service model shapes them. The resource documents inside them live in\n"
           "//! `berth_model::shapes`.\n\n",
           "#![allow(unused_imports, dead_code)] // envelopes and the shapes they use arrive before their operations are served\n\n",
           "use serde::{Deserialize, Serialize};\n\nuse berth_model::Timestamp;\nuse berth_model::shapes::*;\n\n"]
    for n in envelopes:
        emit_struct(n, out)
    files[WIRE_RS] = "".join(out)
    return files


def rustfmt(text):
    """`text` as `cargo fmt` leaves it: rustfmt with the workspace's edition (and its rustfmt.toml,
    if it gets one, which rustfmt finds from the working directory)."""
    with open(os.path.join(ROOT, "Cargo.toml")) as f:
        edition = re.search(r'^edition\s*=\s*"(\d+)"', f.read(), re.M).group(1)
    done = subprocess.run(["rustfmt", "--edition", edition, "--emit", "stdout"], input=text,
                          capture_output=True, text=True, cwd=ROOT)
    if done.returncode != 0:
        sys.exit("gen_ecs_shapes: rustfmt failed:\n" + done.stderr)
    return done.stdout


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--check", action="store_true",
                        help="write nothing; exit 1 with a diff if the committed files differ")
    parser.add_argument("--model", metavar="SERVICE_JSON",
                        help="read this ecs service-2.json instead of the pinned botocore's "
                             "(to compare releases; the result is not what CI checks)")
    parser.add_argument("--out", metavar="DIR", default=ROOT,
                        help="write (with --check, compare) the files under DIR instead of the repository")
    args = parser.parse_args()

    files = {path: rustfmt(text) for path, text in generate(load_model(args.model)).items()}
    if args.check:
        stale = []
        for path, text in files.items():
            try:
                with open(os.path.join(args.out, path)) as f:
                    committed = f.read()
            except FileNotFoundError:
                committed = ""
            if committed != text:
                stale.append(path)
                sys.stdout.writelines(difflib.unified_diff(
                    committed.splitlines(True), text.splitlines(True),
                    "a/" + path + " (committed)", "b/" + path + " (regenerated)"))
        if stale:
            print("gen_ecs_shapes: not what botocore %s generates: %s; regenerate with "
                  "`.venv/bin/python tools/gen_ecs_shapes.py` (never edit them by hand)"
                  % (BOTOCORE_VERSION, " and ".join(stale)), file=sys.stderr)
            sys.exit(1)
        print("gen_ecs_shapes: %s are up to date with botocore %s"
              % (" and ".join(files), BOTOCORE_VERSION), file=sys.stderr)
        return
    for path, text in files.items():
        target = os.path.join(args.out, path)
        os.makedirs(os.path.dirname(target), exist_ok=True)
        with open(target, "w") as f:
            f.write(text)
        print("wrote", os.path.relpath(target), file=sys.stderr)


if __name__ == "__main__":
    main()
