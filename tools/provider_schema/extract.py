"""Derive the compact google provider schema the Terraform tests check against.

The only machine-readable copy of the hashicorp/google schema that CI can fetch without the
Terraform Registry is the `.jsii` manifest inside the npm package `@cdktf/provider-google`
(16.12.1 is generated from provider 6.50.0). It is ~99 MB, so we keep only the resource and data
source types our `.tf` files use, reduced to what a name check needs: for every attribute and
nested block, its HCL name, whether it is required, and (for blocks) whether it may repeat.

    npm pack @cdktf/provider-google@16.12.1            # once, outside the repository
    python tools/provider_schema/extract.py cdktf-provider-google-16.12.1.tgz \
        --terraform terraform --out tests/terraform/provider_schema.json

The output is sorted and carries no timestamp, so re-running it on the same inputs gives the
same bytes and a diff shows exactly which types or fields changed.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import tarfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

PACKAGE = "@cdktf/provider-google"
# The registry link cdktf writes into every class doc names the Terraform type and provider
# version; it is the only place the manifest states them, so we read both from it.
_TYPE_LINK = re.compile(
    r"registry\.terraform\.io/providers/hashicorp/google/(?P<version>[0-9.]+)/docs/"
    r"(?P<kind>resources|data-sources)/[a-z0-9_]+ (?P<name>google[a-z0-9_]*)\}"
)
# Each property doc ends with "...docs/resources/<type>#<hcl_name> Class#<hcl_name>"; the anchor
# is the exact HCL spelling (camelCase -> snake_case is ambiguous for names with digits).
_ANCHOR = re.compile(r"#(?P<name>[a-z0-9_]+) [A-Za-z0-9]+#")
# Enum-like attributes carry the provider's list in their docs: Possible values: ["A", "B"].
_POSSIBLE = re.compile(r"Possible values: \[([^\]]*)\]")
_TF_TYPE_USE = re.compile(r'^\s*(resource|data)\s+"(google[a-z0-9_]*)"', re.MULTILINE)


class SchemaError(Exception):
    """The package or the Terraform tree is not what this script expects."""


@dataclass
class Block:
    # name -> {"required": bool} plus "values" (the allowed strings) for enum-like attributes
    attributes: dict[str, dict[str, Any]] = field(default_factory=dict)
    blocks: dict[str, dict[str, Any]] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {
            "attributes": dict(sorted(self.attributes.items())),
            "blocks": dict(sorted(self.blocks.items())),
        }


def load_manifest(source: Path) -> dict[str, Any]:
    """Read `.jsii` from the npm tarball (or an already extracted `.jsii` file)."""
    if source.suffix in {".tgz", ".gz"}:
        with tarfile.open(source) as tar:
            try:
                member = tar.extractfile("package/.jsii")
            except KeyError as exc:
                raise SchemaError(f"{source}: no package/.jsii inside the tarball") from exc
            if member is None:
                raise SchemaError(f"{source}: package/.jsii is not a regular file")
            manifest = json.load(member)
    else:
        manifest = json.loads(source.read_text(encoding="utf-8"))
    if manifest.get("name") != PACKAGE:
        raise SchemaError(f"{source}: package is {manifest.get('name')!r}, expected {PACKAGE}")
    return manifest


def _snake(camel: str) -> str:
    return re.sub(r"(?<=[a-z0-9])([A-Z])", r"_\1", camel).lower()


def _possible_values(prop: dict[str, Any]) -> list[str] | None:
    docs = prop.get("docs", {})
    match = _POSSIBLE.search(docs.get("summary", "") + " " + docs.get("remarks", ""))
    if not match:
        return None
    return json.loads(f"[{match.group(1)}]")


def _hcl_name(prop: dict[str, Any]) -> str:
    match = _ANCHOR.search(prop.get("docs", {}).get("remarks", ""))
    return match["name"] if match else _snake(prop["name"])


def _nested_fqn(type_ref: dict[str, Any]) -> tuple[str | None, bool]:
    """(struct fqn, repeats) when the property is a nested block, else (None, False)."""
    if type_ref.get("fqn", "").startswith(PACKAGE + "."):
        return type_ref["fqn"], False
    for option in type_ref.get("union", {}).get("types", []):
        coll = option.get("collection", {})
        elem = coll.get("elementtype", {})
        if coll.get("kind") == "array" and elem.get("fqn", "").startswith(PACKAGE + "."):
            return elem["fqn"], True
    return None, False


def _block(types: dict[str, Any], fqn: str, seen: tuple[str, ...] = ()) -> Block:
    if fqn in seen:  # the provider has no recursive blocks today; fail loudly if one appears
        raise SchemaError(f"recursive nested block type {fqn}")
    out = Block()
    for prop in types[fqn].get("properties", []):
        name = _hcl_name(prop)
        required = not prop.get("optional", False)
        nested, repeats = _nested_fqn(prop["type"])
        if nested is None:
            spec: dict[str, Any] = {"required": required}
            values = _possible_values(prop)
            if values is not None:
                spec["values"] = values
            out.attributes[name] = spec
        else:
            inner = _block(types, nested, (*seen, fqn)).to_json()
            out.blocks[name] = {"required": required, "repeats": repeats, **inner}
    return out


def index_types(manifest: dict[str, Any]) -> tuple[str, dict[str, dict[str, str]]]:
    """Map Terraform type names to their cdktf config struct, per kind."""
    found: dict[str, dict[str, str]] = {"resources": {}, "data-sources": {}}
    versions: set[str] = set()
    for ty in manifest["types"].values():
        if ty.get("kind") != "class" or ty.get("base") not in {
            "cdktf.TerraformResource",
            "cdktf.TerraformDataSource",
        }:
            continue
        link = _TYPE_LINK.search(ty.get("docs", {}).get("summary", ""))
        if not link:
            continue
        params = ty.get("initializer", {}).get("parameters", [])
        config = next((p["type"].get("fqn") for p in params if p["name"] == "config"), None)
        if config is None:
            continue
        versions.add(link["version"])
        found[link["kind"]][link["name"]] = config
    if len(versions) != 1:
        raise SchemaError(f"expected one provider version in the manifest, found {versions}")
    return versions.pop(), found


def used_types(terraform_dirs: list[Path]) -> dict[str, set[str]]:
    used: dict[str, set[str]] = {"resources": set(), "data-sources": set()}
    for root in terraform_dirs:
        for path in sorted(root.rglob("*.tf")):
            if ".terraform" in path.parts:
                continue
            for kind, name in _TF_TYPE_USE.findall(path.read_text(encoding="utf-8")):
                used["resources" if kind == "resource" else "data-sources"].add(name)
    return used


def build(manifest: dict[str, Any], used: dict[str, set[str]]) -> dict[str, Any]:
    version, index = index_types(manifest)
    out: dict[str, Any] = {
        "source": f"{PACKAGE}@{manifest['version']}",
        "provider": f"hashicorp/google {version}",
        "resources": {},
        "data_sources": {},
    }
    for kind, key in (("resources", "resources"), ("data-sources", "data_sources")):
        for name in sorted(used[kind]):
            if name not in index[kind]:
                raise SchemaError(f"{kind[:-1]} type {name} does not exist in provider {version}")
            out[key][name] = _block(manifest["types"], index[kind][name]).to_json()
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("package", type=Path, help="the npm tarball or its extracted .jsii file")
    parser.add_argument(
        "--terraform",
        type=Path,
        action="append",
        required=True,
        help="directory whose .tf files name the types to keep (repeatable)",
    )
    parser.add_argument("--out", type=Path, required=True, help="where to write the JSON")
    args = parser.parse_args(argv)
    try:
        schema = build(load_manifest(args.package), used_types(args.terraform))
    except (SchemaError, OSError, json.JSONDecodeError, tarfile.TarError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    args.out.write_text(json.dumps(schema, indent=1, sort_keys=True) + "\n", encoding="utf-8")
    n_res, n_data = len(schema["resources"]), len(schema["data_sources"])
    print(f"{args.out}: {n_res} resource types, {n_data} data sources ({schema['provider']})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
