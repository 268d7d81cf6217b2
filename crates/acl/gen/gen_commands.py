#!/usr/bin/env python3
"""Generates crates/acl/src/commands/generated.rs: the command metadata table.

Input: Redis 7.0.15's src/commands/*.json (the same files Redis's own
utils/generate-command-code.py reads) plus gen/ninesdb.json (ninesdb's own
commands, in the same format). The output is committed, so builds need no Redis
source. Run from anywhere:

    apt-get source redis   # Debian's redis 7.0.15 source, into redis-7.0.15/
    python3 crates/acl/gen/gen_commands.py redis-7.0.15

What Redis computes at start-up is computed here once, the same way:
- implicit ACL categories from flags (server.c setImplicitACLCategories);
- the legacy (first, last, step) key range and the MOVABLE_KEYS flag
  (server.c populateCommandLegacyRangeSpec);
- sentinel-only commands are dropped (server.c populateCommandStructure).
"""
import glob
import json
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "..", "src", "commands", "generated.rs")

# Redis's ACLCommandCategories order: bit i is category i.
CATEGORIES = ["keyspace", "read", "write", "set", "sortedset", "list", "hash", "string",
              "bitmap", "hyperloglog", "geo", "stream", "pubsub", "admin", "fast", "slow",
              "blocking", "dangerous", "connection", "transaction", "scripting"]

GROUPS = {"sorted_set": "sorted-set"}


def c_literal(text):
    """What C makes of '"' + text + '"', as Redis's generator writes strings into commands.c:
    the JSON token '""' (a literal pair of quotes) becomes the empty string there."""
    out, inside, i = [], False, 0
    source = '"' + text + '"'
    while i < len(source):
        c = source[i]
        if c == '"':
            inside = not inside
        elif inside and c == "\\" and i + 1 < len(source):
            i += 1
            out.append({"n": "\n", "t": "\t"}.get(source[i], source[i]))
        elif inside:
            out.append(c)
        i += 1
    return "".join(out)


def rust_str(s):
    return json.dumps(s, ensure_ascii=False)


def opt_str(s):
    return "None" if s is None else "Some(%s)" % rust_str(s)


def flag_expr(prefix, names):
    names = list(names)
    if not names:
        return "0"
    return " | ".join("%s::%s" % (prefix, n) for n in names)


def implicit_categories(flags, cats):
    cats = list(cats)
    def add(c):
        if c not in cats:
            cats.append(c)
    if "WRITE" in flags:
        add("WRITE")
    if "READONLY" in flags and "SCRIPTING" not in cats:
        add("READ")
    if "ADMIN" in flags:
        add("ADMIN")
        add("DANGEROUS")
    if "PUBSUB" in flags:
        add("PUBSUB")
    if "FAST" in flags:
        add("FAST")
    if "BLOCKING" in flags:
        add("BLOCKING")
    if "FAST" not in cats:
        add("SLOW")
    order = [c.upper() for c in CATEGORIES]
    return sorted(cats, key=order.index)


def legacy_range(specs, flags):
    """server.c populateCommandLegacyRangeSpec: (first, last, step), movable."""
    movable = False
    if not specs:
        return (0, 0, 0), movable
    def is_range(s):
        return "index" in s["begin_search"] and "range" in s["find_keys"]
    if len(specs) == 1 and is_range(specs[0]):
        s = specs[0]
        if "INCOMPLETE" in s["flags"]:
            movable = True
        pos = s["begin_search"]["index"]["pos"]
        last = s["find_keys"]["range"]["lastkey"]
        return (pos, last + pos if last >= 0 else last, s["find_keys"]["range"]["step"]), movable
    first, last, prev_last = 1 << 31, 0, 0
    for s in specs:
        if not is_range(s):
            movable = True
            continue
        pos = s["begin_search"]["index"]["pos"]
        r = s["find_keys"]["range"]
        if r["step"] != 1 or (prev_last and prev_last != pos - 1):
            movable = True
            continue
        if "INCOMPLETE" in s["flags"]:
            movable = True
        first = min(first, pos)
        abs_last = r["lastkey"] + pos if r["lastkey"] >= 0 else r["lastkey"]
        last = max(last & 0xffffffff, abs_last & 0xffffffff)
        if last >= 1 << 31:
            last -= 1 << 32
        prev_last = last
    if first == 1 << 31:
        return (0, 0, 0), True
    return (first, last, 1), movable


def key_spec(s):
    bs = s["begin_search"]
    if "index" in bs:
        begin = "BeginSearch::Index(%d)" % bs["index"]["pos"]
    elif "keyword" in bs:
        begin = "BeginSearch::Keyword { keyword: %s, start_from: %d }" % (
            rust_str(bs["keyword"]["keyword"]), bs["keyword"]["startfrom"])
    else:
        begin = "BeginSearch::Unknown"
    fk = s["find_keys"]
    if "range" in fk:
        find = "FindKeys::Range { last_key: %d, step: %d, limit: %d }" % (
            fk["range"]["lastkey"], fk["range"]["step"], fk["range"]["limit"])
    elif "keynum" in fk:
        find = "FindKeys::Keynum { keynum_index: %d, first_key: %d, step: %d }" % (
            fk["keynum"]["keynumidx"], fk["keynum"]["firstkey"], fk["keynum"]["step"])
    else:
        find = "FindKeys::Unknown"
    return "KeySpec { notes: %s, flags: %s, begin_search: %s, find_keys: %s }" % (
        opt_str(s.get("notes")), flag_expr("key_flag", s["flags"]), begin, find)


def argument(a, indent):
    flags = []
    if a.get("optional"):
        flags.append("OPTIONAL")
    if a.get("multiple"):
        flags.append("MULTIPLE")
    if a.get("multiple_token"):
        flags.append("MULTIPLE_TOKEN")
    sub = a.get("arguments", []) if a["type"] in ("oneof", "block") else []
    pad = " " * indent
    subs = "".join("\n%s    %s," % (pad, argument(x, indent + 4)) for x in sub)
    return ("Arg { name: %s, kind: %s, key_spec_index: %d, token: %s, summary: %s, since: %s, "
            "deprecated_since: %s, flags: %s, arguments: &[%s] }") % (
        rust_str(a["name"].lower()), rust_str(a["type"]), a.get("key_spec_index", -1),
        opt_str(c_literal(a["token"].upper()) if a.get("token") else None), opt_str(a.get("summary")),
        opt_str(a.get("since")), opt_str(a.get("deprecated_since")), flag_expr("arg_flag", flags),
        subs + ("\n" + pad if subs else ""))


GETKEYS = {"setGetKeys": "Set", "bitfieldGetKeys": "Bitfield", "sortGetKeys": "Sort",
           "sortROGetKeys": "SortReadOnly", "migrateGetKeys": "Migrate"}
GENERIC = {"zunionInterDiffGetKeys": (0, 1, 2, 1), "evalGetKeys": (0, 2, 3, 1),
           "functionGetKeys": (0, 2, 3, 1), "lmpopGetKeys": (0, 1, 2, 1),
           "blmpopGetKeys": (0, 2, 3, 1), "zmpopGetKeys": (0, 1, 2, 1),
           "bzmpopGetKeys": (0, 2, 3, 1), "sintercardGetKeys": (0, 1, 2, 1),
           "zunionInterDiffStoreGetKeys": (1, 2, 3, 1), "georadiusGetKeys": None,
           "xreadGetKeys": None}


def getkeys(desc):
    fn = desc.get("get_keys_function")
    if fn is None:
        return "GetKeys::None"
    if fn in GETKEYS:
        return "GetKeys::" + GETKEYS[fn]
    if fn in GENERIC:
        g = GENERIC[fn]
        if g is None:  # Complete key specs: the callback is never reached.
            return "GetKeys::None"
        return "GetKeys::Generic { store: %d, count: %d, first: %d, step: %d }" % g
    raise SystemExit("unknown get_keys_function %s" % fn)


def command(name, desc, fullname, subs, ids, indent):
    flags = list(desc.get("command_flags", []))
    specs = desc.get("key_specs", [])
    (first, last, step), movable = legacy_range(specs, flags)
    if movable:
        flags.append("MOVABLE_KEYS")
    cats = implicit_categories(flags, desc.get("acl_categories", []))
    pad = " " * indent
    ident = ids.setdefault(fullname, len(ids))
    sub_code = "".join("\n%s    %s," % (pad, s) for s in subs)
    history = ", ".join("(%s, %s)" % (rust_str(a), rust_str(b)) for a, b in desc.get("history", []))
    tips = ", ".join(rust_str(t.lower()) for t in desc.get("command_tips", []))
    args = "".join("\n%s    %s," % (pad, argument(a, indent + 4)) for a in desc.get("arguments", []))
    return ("CommandMeta {\n%(p)s    name: %(name)s,\n%(p)s    id: %(id)d,\n%(p)s    arity: %(arity)d,\n"
            "%(p)s    flags: %(flags)s,\n%(p)s    categories: %(cats)s,\n"
            "%(p)s    first_key: %(first)d,\n%(p)s    last_key: %(last)d,\n%(p)s    key_step: %(step)d,\n"
            "%(p)s    key_specs: &[%(specs)s],\n%(p)s    get_keys: %(getkeys)s,\n"
            "%(p)s    group: %(group)s,\n%(p)s    since: %(since)s,\n%(p)s    summary: %(summary)s,\n"
            "%(p)s    complexity: %(complexity)s,\n%(p)s    doc_flags: %(docflags)s,\n"
            "%(p)s    deprecated_since: %(dep)s,\n%(p)s    replaced_by: %(rep)s,\n"
            "%(p)s    history: &[%(history)s],\n%(p)s    tips: &[%(tips)s],\n"
            "%(p)s    arguments: &[%(args)s],\n%(p)s    subcommands: &[%(subs)s],\n%(p)s}") % dict(
        p=pad, name=rust_str(fullname), id=ident, arity=desc["arity"],
        flags=flag_expr("flag", flags), cats=flag_expr("category", cats),
        first=first, last=last, step=step,
        specs=", ".join(key_spec(s) for s in specs), getkeys=getkeys(desc),
        group=rust_str(GROUPS.get(desc["group"], desc["group"])), since=opt_str(desc.get("since")),
        summary=opt_str(desc.get("summary")), complexity=opt_str(desc.get("complexity")),
        docflags=flag_expr("doc_flag", desc.get("doc_flags", [])),
        dep=opt_str(desc.get("deprecated_since")), rep=opt_str(desc.get("replaced_by")),
        history=history, tips=tips, args=args + ("\n" + pad + "" if args else ""),
        subs=sub_code + ("\n" + pad if sub_code else ""))


def main():
    if len(sys.argv) != 2:
        sys.exit("usage: gen_commands.py <redis-7.0.15 source directory> (apt-get source redis)")
    redis = sys.argv[1]
    files = sorted(glob.glob(os.path.join(redis, "src", "commands", "*.json")))
    files.append(os.path.join(HERE, "ninesdb.json"))
    commands, containers = {}, {}
    for path in files:
        with open(path) as f:
            for name, desc in json.load(f).items():
                if "ONLY_SENTINEL" in desc.get("command_flags", []):
                    continue
                if desc.get("container"):
                    containers.setdefault(desc["container"].lower(), {})[name.lower()] = desc
                else:
                    commands[name.lower()] = desc
    ids = {}
    out = []
    for name in sorted(commands):
        desc = commands[name]
        ids.setdefault(name, len(ids))
        subs = []
        for sub in sorted(containers.get(name, {})):
            sdesc = dict(containers[name][sub])
            sdesc["group"] = desc["group"]
            subs.append(command(sub, sdesc, "%s|%s" % (name, sub), [], ids, 8))
        out.append(command(name, desc, name, subs, ids, 4))
    with open(OUT, "w") as f:
        f.write("// @generated by crates/acl/gen/gen_commands.py from Redis 7.0.15's src/commands/*.json\n")
        f.write("// and crates/acl/gen/ninesdb.json. Do not edit: change the generator and run it again.\n\n")
        f.write("use super::*;\n\n")
        f.write("/// How many command ids there are (commands and subcommands): the size of a\n")
        f.write("/// permission bitmap.\n")
        f.write("pub const COMMAND_ID_COUNT: usize = %d;\n\n" % len(ids))
        f.write("/// Every command, sorted by name; subcommands sorted inside their container.\n")
        f.write("pub static COMMANDS: &[CommandMeta] = &[\n")
        for c in out:
            f.write("    %s,\n" % c)
        f.write("];\n")
    print("%d commands, %d ids -> %s" % (len(out), len(ids), os.path.normpath(OUT)))


main()
