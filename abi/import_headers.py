#!/usr/bin/env python3
"""Import the facts of the Level Zero Sysman ABI from the public C headers into abi/sysman.json.

This is run by hand when a new spec version appears, never in CI (the headers are not vendored).
It reads the headers out of a git clone of the public Level Zero repository, at the newest commit
and at the last commit of every earlier spec version, so that each function, struct, enum value
and dispatch-table entry gets the spec version it first appeared in.

    python3 abi/import_headers.py /path/to/level-zero.git > abi/sysman.json

Only facts are kept: names, types, layouts, values, parameter directions and versions.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from dataclasses import dataclass, field

# Core (ze*) functions that the bindings call on the legacy path or that a driver must serve
# while a loader initializes it.
CORE_FUNCTIONS = [
    "zeInit",
    "zeDriverGet",
    "zeDriverGetApiVersion",
    "zeDriverGetProperties",
    "zeDriverGetExtensionProperties",
    "zeDriverGetExtensionFunctionAddress",
    "zeDeviceGet",
    "zeDeviceGetProperties",
    "zeDeviceGetSubDevices",
]
# Extension structs whose base the headers' prose does not name.
EXTRA_EXTENDS = {"zes_device_ext_properties_t": ["zes_device_properties_t"]}
# Core dispatch tables the simulated driver fills.
CORE_TABLES = ["ze_global_dditable_t", "ze_driver_dditable_t", "ze_device_dditable_t"]

SCALARS = {
    "uint8_t": "u8",
    "uint16_t": "u16",
    "uint32_t": "u32",
    "uint64_t": "u64",
    "int8_t": "i8",
    "int16_t": "i16",
    "int32_t": "i32",
    "int64_t": "i64",
    "char": "char",
    "double": "f64",
    "float": "f32",
    "size_t": "usize",
    "void": "void",
}


def git_show(repo: str, rev: str, path: str) -> str | None:
    proc = subprocess.run(
        ["git", "--git-dir", repo, "show", f"{rev}:{path}"], capture_output=True, text=True
    )
    return proc.stdout if proc.returncode == 0 else None


def spec_version_of(text: str) -> str:
    m = re.search(r"@version v(\d+\.\d+)", text)
    if not m:
        raise SystemExit("header has no @version line")
    return m.group(1)


def strip_block_comments(text: str) -> str:
    return re.sub(r"/\*.*?\*/", "", text, flags=re.S)


@dataclass
class Parsed:
    constants: dict = field(default_factory=dict)
    handles: dict = field(default_factory=dict)
    typedefs: dict = field(default_factory=dict)
    enums: dict = field(default_factory=dict)
    structs: dict = field(default_factory=dict)
    functions: dict = field(default_factory=dict)
    tables: dict = field(default_factory=dict)
    getters: list = field(default_factory=list)
    stype_of: dict = field(default_factory=dict)
    getter_table: dict = field(default_factory=dict)


ANNOT = re.compile(r"///<\s*(\[[^\]]*\](?:\[[^\]]*\])*)")


def parse_annotations(comment: str) -> dict:
    tags = re.findall(r"\[([^\]]*)\]", comment)
    out: dict = {}
    for tag in tags:
        tag = tag.strip()
        if tag in ("in", "out", "in,out"):
            out["dir"] = {"in": "in", "out": "out", "in,out": "inout"}[tag]
        elif tag == "optional":
            out["optional"] = True
        elif tag.startswith("range("):
            out["range"] = tag[len("range(") : -1]
        elif tag == "release":
            out["release"] = True
    return out


def parse_decl(decl: str) -> dict:
    """Parse `const zes_foo_t* name[SIZE]` into a type record."""
    decl = decl.strip()
    array = None
    m = re.match(r"(.*?)\s*\[\s*([A-Za-z0-9_]+)\s*\]$", decl)
    if m:
        decl, array = m.group(1), m.group(2)
    m = re.match(r"^(const\s+)?([A-Za-z_][A-Za-z0-9_]*)\s*((?:\*\s*(?:const\s*)?)*)\s*([A-Za-z_][A-Za-z0-9_]*)$", decl)
    if not m:
        raise ValueError(f"cannot parse declaration {decl!r}")
    rec = {"name": m.group(4), "type": m.group(2), "ptr": m.group(3).count("*")}
    if m.group(1):
        rec["const"] = True
    if array is not None:
        rec["array"] = int(array) if array.isdigit() else array
    return rec


def parse_value(expr: str):
    expr = expr.strip()
    m = re.fullmatch(r"ZE_BIT\(\s*(\d+)\s*\)", expr)
    if m:
        return 1 << int(m.group(1))
    m = re.fullmatch(r"ZE_MAKE_VERSION\(\s*(\d+)\s*,\s*(\d+)\s*\)", expr)
    if m:
        return (int(m.group(1)) << 16) | int(m.group(2))
    m = re.fullmatch(r"\(?\s*(0x[0-9a-fA-F]+|\d+)[uUlL]*\s*\)?", expr)
    if m:
        return int(m.group(1), 0)
    if expr == "(~(0ULL))":
        return (1 << 64) - 1
    m = re.fullmatch(r'"([^"]*)"', expr)
    if m:
        return m.group(1)
    return None


def parse_header(text: str, out: Parsed) -> None:
    text = strip_block_comments(text)
    lines = text.split("\n")
    doc: list[str] = []
    i = 0
    while i < len(lines):
        line = lines[i]
        s = line.strip()
        if s.startswith("///") and not s.startswith("///<"):
            doc.append(s[3:].strip())
            i += 1
            continue
        m = re.match(r"#define\s+((?:ZES|ZE)_[A-Z0-9_]+)\s+(.+)$", s)
        if m and "(" not in m.group(1):
            val = parse_value(m.group(2).split("//")[0])
            if val is not None and not m.group(1).endswith("_H") and m.group(1) not in ("ZE_APICALL", "ZE_APIEXPORT", "ZE_DLLEXPORT"):
                out.constants[m.group(1)] = val
        m = re.match(r"typedef struct _(\w+) \*(\w+);", s)
        if m:
            out.handles[m.group(2)] = {"name": m.group(2)}
        m = re.match(r"typedef (\w+) (\w+);", s)
        if m and m.group(1) != "struct":
            src, dst = m.group(1), m.group(2)
            if src.endswith("_handle_t"):
                out.handles[dst] = {"name": dst, "alias_of": src}
            else:
                out.typedefs[dst] = src
        if re.match(r"typedef enum _(\w+)$", s):
            body = []
            i += 2  # skip "{"
            while not lines[i].strip().startswith("}"):
                body.append(lines[i])
                i += 1
            name = re.match(r"}\s*(\w+);", lines[i].strip()).group(1)
            values = []
            for b in body:
                names_struct = re.search(r"///<\s*::(\w+_t)\s*$", b)
                if names_struct and "STRUCTURE_TYPE_" in b:
                    out.stype_of[names_struct.group(1)] = b.split("=")[0].strip()
                b = b.split("///<")[0].strip().rstrip(",")
                if not b:
                    continue
                vm = re.match(r"(\w+)\s*=\s*(.+)$", b)
                if not vm:
                    continue
                if vm.group(1).endswith("_FORCE_UINT32"):
                    continue
                val = parse_value(vm.group(2))
                if val is None:
                    # value expressed through another member of the same enum
                    prior = {v["name"]: v["value"] for v in values}
                    val = prior.get(vm.group(2).strip())
                if val is None:
                    raise ValueError(f"enum {name}: cannot evaluate {b!r}")
                values.append({"name": vm.group(1), "value": val})
            out.enums[name] = {"name": name, "values": values}
            doc = []
            i += 1
            continue
        if re.match(r"typedef struct _(\w+)$", s) and not s.endswith("_dditable_t") and lines[i + 1].strip() == "{":
            fields = []
            i += 2
            pending = None
            while not lines[i].strip().startswith("}"):
                t = lines[i].strip()
                if t and not t.startswith("///"):
                    decl, _, comment = t.partition(";")
                    try:
                        rec = parse_decl(decl)
                    except ValueError:
                        rec = {"unparsed": decl}
                    rec.update(parse_annotations(comment))
                    fields.append(rec)
                    pending = rec
                elif t.startswith("///<") and pending is not None:
                    pass
                i += 1
            name = re.match(r"}\s*(\w+);", lines[i].strip()).group(1)
            joined = " ".join(doc)
            extends_fns = []
            # Only bullet points that say where this struct is chained name its bases.
            for bullet in re.split(r"\s-\s", joined):
                if "pNext" in bullet and re.search(r"may be|can be passed", bullet):
                    extends_fns += re.findall(r"::((?:zes|ze)[A-Z]\w+|zes_\w+_t)\b", bullet)
            out.structs[name] = {"name": name, "fields": fields, "extends_fns": extends_fns}
            doc = []
            i += 1
            continue
        if s.startswith("ZE_APIEXPORT ze_result_t ZE_APICALL") or s.startswith("ZE_DLLEXPORT ze_result_t ZE_APICALL"):
            fname = lines[i + 1].strip().rstrip("(")
            i += 2
            params = []
            while not lines[i].strip().startswith(");"):
                t = lines[i].strip()
                if t and not t.startswith("///"):
                    decl, sep, comment = t.partition("///<")
                    decl = decl.strip().rstrip(",")
                    if decl:
                        try:
                            rec = parse_decl(decl)
                        except ValueError:
                            rec = {"unparsed": decl}
                        rec.update(parse_annotations("///<" + comment))
                        params.append(rec)
                i += 1
            if fname.endswith("ProcAddrTable"):
                out.getters.append(fname)
                out.getter_table[fname] = params[-1]["type"]
            else:
                out.functions[fname] = {"name": fname, "params": params}
            doc = []
            i += 1
            continue
        m = re.match(r"typedef struct _(\w+_dditable_t)$", s)
        if m:
            entries = []
            i += 2
            while not lines[i].strip().startswith("}"):
                em = re.match(r"(\w+)\s+(pfn\w+);", lines[i].strip())
                if em:
                    entries.append({"pfn_type": em.group(1), "field": em.group(2)})
                i += 1
            out.tables[m.group(1)] = {"name": m.group(1), "entries": entries}
            i += 1
            continue
        if s and not s.startswith("///"):
            doc = []
        i += 1


def parse_tree(repo: str, rev: str) -> tuple[str, Parsed]:
    parsed = Parsed()
    text = git_show(repo, rev, "include/zes_api.h")
    version = spec_version_of(text)
    for path in ("include/ze_api.h", "include/zes_api.h", "include/ze_ddi.h", "include/zes_ddi.h", "include/zet_ddi.h"):
        src = git_show(repo, rev, path)
        if src is not None:
            parse_header(src, parsed)
    return version, parsed


def version_key(v: str) -> tuple[int, int]:
    a, b = v.split(".")
    return int(a), int(b)


def history(repo: str) -> dict[str, str]:
    """Last commit of every spec version, keyed by version."""
    log = subprocess.run(
        ["git", "--git-dir", repo, "log", "--format=%H", "--", "include/zes_api.h"],
        capture_output=True, text=True, check=True,
    ).stdout.split()
    last: dict[str, str] = {}
    for commit in log:  # newest first
        text = git_show(repo, commit, "include/zes_api.h")
        if not text or "@version" not in text:
            continue
        v = spec_version_of(text)
        if v.startswith("0."):
            continue
        last.setdefault(v, commit)
    return last


def pfn_to_function(pfn_type: str) -> str:
    m = re.fullmatch(r"(ze|zes|zet)_pfn(\w+)_t", pfn_type)
    return m.group(1) + m.group(2)


def main() -> None:
    repo = sys.argv[1]
    commits = history(repo)
    versions = sorted(commits, key=version_key)
    parsed_by_version = {v: parse_tree(repo, commits[v])[1] for v in versions}
    newest = parsed_by_version[versions[-1]]

    def since(kind: str, name: str, member: str | None = None) -> str:
        for v in versions:
            p = parsed_by_version[v]
            coll = getattr(p, kind)
            if name not in coll:
                continue
            if member is None:
                return v
            if kind == "enums" and any(x["name"] == member for x in coll[name]["values"]):
                return v
            if kind == "tables" and any(x["field"] == member for x in coll[name]["entries"]):
                return v
        raise KeyError(name)

    # Which names are part of our ABI: every zes* item plus the closure of core items referenced.
    needed_types: set[str] = set()
    zes_functions = sorted(n for n in newest.functions if n.startswith("zes"))
    functions = [newest.functions[n] for n in zes_functions] + [newest.functions[n] for n in CORE_FUNCTIONS]

    def want_type(t: str) -> None:
        if t in needed_types or t in SCALARS:
            return
        needed_types.add(t)
        if t in newest.structs:
            bad = [f["unparsed"] for f in newest.structs[t]["fields"] if "unparsed" in f]
            if bad:
                raise SystemExit(f"{t}: cannot parse {bad}")
            for f in newest.structs[t]["fields"]:
                want_type(f["type"])
                if isinstance(f.get("array"), str):
                    newest_const.add(f["array"])
        if t in newest.typedefs:
            want_type(newest.typedefs[t])
        if t in newest.handles and "alias_of" in newest.handles[t]:
            want_type(newest.handles[t]["alias_of"])
        if t.endswith("_flags_t"):
            flag_enum = t[: -len("s_t")] + "_t"
            if flag_enum in newest.enums:
                want_type(flag_enum)

    newest_const: set[str] = set()
    for n in list(newest.structs) + list(newest.enums) + list(newest.handles) + list(newest.typedefs):
        if n.startswith("zes_"):
            want_type(n)
    for fn in functions:
        for p in fn["params"]:
            want_type(p["type"])
    for t in ("ze_result_t", "ze_api_version_t", "ze_structure_type_t", "ze_init_flags_t",
              "ze_driver_extension_properties_t"):
        want_type(t)

    doc = {
        "spec_version": versions[-1],
        "versions": versions,
        "constants": [],
        "scalars": [],
        "handles": [],
        "enums": [],
        "structs": [],
        "functions": [],
        "ddi_tables": [],
        "getters": [],
    }
    for name, value in newest.constants.items():
        if name.startswith("ZES_") or name in newest_const or name.startswith("ZE_MAX_"):
            doc["constants"].append({"name": name, "value": value, "since": since("constants", name)})
    for name in sorted(needed_types):
        if name in newest.typedefs and newest.typedefs[name] in SCALARS and not name.endswith("_flags_t"):
            doc["scalars"].append({"name": name, "c": newest.typedefs[name], "since": since("typedefs", name)})
    for name in sorted(needed_types):
        if name in newest.handles:
            h = dict(newest.handles[name])
            h["since"] = since("handles", name)
            doc["handles"].append(h)
    for name in sorted(needed_types):
        if name in newest.enums:
            e = newest.enums[name]
            flags_t = name[: -len("_t")] + "s_t" if name.endswith("_flag_t") else None
            rec = {"name": name, "since": since("enums", name)}
            if flags_t and flags_t in newest.typedefs:
                rec["flags"] = flags_t
            rec["values"] = [
                {"name": v["name"], "value": v["value"], "since": since("enums", name, v["name"])}
                for v in e["values"]
            ]
            doc["enums"].append(rec)
    # Structs in definition order (dependencies first), which the header order guarantees.
    for name, s in newest.structs.items():
        if name not in needed_types:
            continue
        has_stype_field = bool(s["fields"]) and s["fields"][0]["name"] == "stype"
        stype = newest.stype_of.get(name) if has_stype_field else None
        rec = {"name": name, "since": since("structs", name)}
        if stype:
            rec["stype"] = stype
        rec["fields"] = s["fields"]
        extends = []
        for target in s["extends_fns"] + EXTRA_EXTENDS.get(name, []):
            if target.endswith("_t"):
                base = target
            else:
                ptrs = [p["type"] for p in newest.functions[target]["params"]
                        if p["ptr"] == 1 and p["type"] in newest.structs]
                base = ptrs[-1]
            chainable = base in newest.structs and newest.structs[base]["fields"][0]["name"] == "stype"
            if chainable and base != name and base not in extends:
                extends.append(base)
        if extends:
            rec["extends"] = extends
        doc["structs"].append(rec)
    for fn in functions:
        rec = {"name": fn["name"], "since": since("functions", fn["name"]), "params": fn["params"]}
        doc["functions"].append(rec)
    for tname, t in newest.tables.items():
        if not (tname.startswith("zes_") or tname in CORE_TABLES) or not t["entries"]:
            continue
        entries = []
        for e in t["entries"]:
            entries.append({
                "field": e["field"],
                "function": pfn_to_function(e["pfn_type"]),
                "since": since("tables", tname, e["field"]),
            })
        getter = next(g for g, table in newest.getter_table.items() if table == tname)
        doc["ddi_tables"].append({"name": tname, "getter": getter, "since": since("tables", tname), "entries": entries})
    # Every getter a loader of any version may ask for, with the version it appeared in.
    all_getters: dict[str, str] = {}
    for v in versions:
        for g in parsed_by_version[v].getters:
            all_getters.setdefault(g, v)
    doc["getters"] = [{"name": g, "since": s} for g, s in sorted(all_getters.items())]
    sys.stdout.write(dump(doc))


def dump(obj, indent: int = 0) -> str:
    """JSON with one leaf record (a field, a parameter, an enum value) per line, for reading."""
    pad = "  " * indent
    if isinstance(obj, dict) and any(isinstance(v, (dict, list)) for v in obj.values()):
        items = [f'{pad}  {json.dumps(k)}: {dump(v, indent + 1).lstrip()}' for k, v in obj.items()]
        return pad + "{\n" + ",\n".join(items) + "\n" + pad + "}" + ("\n" if indent == 0 else "")
    if isinstance(obj, list) and obj and any(isinstance(v, (dict, list)) for v in obj):
        items = [dump(v, indent + 1) for v in obj]
        return pad + "[\n" + ",\n".join(items) + "\n" + pad + "]"
    return pad + json.dumps(obj)


if __name__ == "__main__":
    main()
