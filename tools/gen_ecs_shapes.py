#!/usr/bin/env python3
"""Generate berth's Rust types for the Amazon ECS wire shapes from botocore's service model.

botocore's `data/ecs/2014-11-13/service-2.json` is the authority for every name and type the
ECS API uses. Rather than hand-copy dozens of structures (and drift from them), this script
walks the shapes reachable from the operations berth serves and writes:

  crates/model/src/shapes.rs    the ECS resource documents (Cluster, TaskDefinition, ...)
  crates/api/src/ecs/wire.rs    the operations' request and response envelopes

Run it after adding an operation to OPERATIONS below (needs `pip install botocore`):

    python3 tools/gen_ecs_shapes.py && cargo fmt --all
"""

import gzip
import html
import json
import os
import re
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


def load_model():
    import botocore
    base = os.path.join(os.path.dirname(botocore.__file__), "data/ecs/2014-11-13/service-2.json")
    if os.path.exists(base):
        return json.load(open(base))
    return json.load(gzip.open(base + ".gz"))


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


def main():
    model = load_model()
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
    write(os.path.join(ROOT, "crates/model/src/shapes.rs"), "".join(out))

    out = [header,
           "//! The request and response envelopes of the ECS operations berth serves, exactly as\n"
           "//! botocore's service model shapes them. The resource documents inside them live in\n"
           "//! `berth_model::shapes`.\n\n",
           "#![allow(unused_imports, dead_code)] // envelopes and the shapes they use arrive before their operations are served\n\n",
           "use serde::{Deserialize, Serialize};\n\nuse berth_model::Timestamp;\nuse berth_model::shapes::*;\n\n"]
    for n in envelopes:
        emit_struct(n, out)
    write(os.path.join(ROOT, "crates/api/src/ecs/wire.rs"), "".join(out))


def write(path, text):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as f:
        f.write(text)
    print("wrote", os.path.relpath(path, ROOT), file=sys.stderr)


if __name__ == "__main__":
    main()
