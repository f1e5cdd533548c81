#!/usr/bin/env python3
# SPDX-License-Identifier: BSD-2-Clause
"""Trim a bpftool-generated vmlinux.h to what the given BPF sources use.

Produces the fallback header committed as bpf/vmlinux.h.xz for machines
without /sys/kernel/btf/vmlinux. Starting from the identifiers in the
sources (and the libbpf headers they include), it keeps the declarations
that define them, transitively; a struct or union reached only through a
pointer gets a forward declaration instead of its body. bpftool emits
declarations in dependency order, which the output keeps.

Usage: trim-vmlinux.py VMLINUX_H SOURCE... > trimmed.h
"""
import re
import sys

WORD = re.compile(r"[A-Za-z_]\w*")
TAGREF = re.compile(r"\b(struct|union|enum)\s+(\w+)(\s*\*)?")


def split_decls(text):
    """Top-level declarations between the preamble and the epilogue."""
    body = text.split("#endif\n", 1)[1]  # after the pragma push block
    body = body.rsplit("#ifndef BPF_NO_PRESERVE_ACCESS_INDEX", 1)[0]
    decls, cur, depth = [], [], 0
    for ch in body:
        cur.append(ch)
        if ch == "{":
            depth += 1
        elif ch == "}":
            depth -= 1
        elif ch == ";" and depth == 0:
            d = "".join(cur).strip()
            if d:
                decls.append(d)
            cur = []
    return decls


def defines(d):
    """Names a declaration defines: 'struct X', typedef names, enumerators."""
    names = set()
    head = d.split("{", 1)[0]
    m = re.match(r"(struct|union|enum)\s+(\w+)\s*$", head.strip())
    if m and "{" in d:
        names.add(m.group(1) + " " + m.group(2))
    if d.startswith("typedef"):
        fp = re.search(r"\(\s*\*\s*(\w+)\s*\)", d.rsplit("}", 1)[-1])
        if fp:
            names.add(fp.group(1))
        else:
            names.add(WORD.findall(d.rsplit("}", 1)[-1])[-1])
    if head.strip().startswith("enum") and "{" in d:
        inner = d.split("{", 1)[1].rsplit("}", 1)[0]
        for item in inner.split(","):
            w = WORD.findall(item)
            if w:
                names.add(w[0])
    return names


def main():
    text = open(sys.argv[1]).read()
    decls = split_decls(text)
    by_name = {}
    for i, d in enumerate(decls):
        for n in defines(d):
            by_name.setdefault(n, i)

    full, fwd, work = set(), set(), []

    def want(name, pointer):
        if name.split(" ")[0] in ("struct", "union") and pointer:
            fwd.add(name)
            return
        if name in by_name and by_name[name] not in full:
            full.add(by_name[name])
            work.append(by_name[name])

    def scan(src, pointer_ok):
        for kind, tag, star in TAGREF.findall(src):
            want(kind + " " + tag, pointer_ok and bool(star))
        for w in WORD.findall(src):
            if w in by_name:
                want(w, False)

    for path in sys.argv[2:]:
        # Sources: everything they name is wanted in full.
        scan(open(path).read(), pointer_ok=path.startswith("/usr/"))
    while work:
        scan(decls[work.pop()], pointer_ok=True)

    out = ["#ifndef __VMLINUX_H__", "#define __VMLINUX_H__",
           "/* Trimmed by tests/bpf/trim-vmlinux.py; see bpf/bpf.mk. */", "",
           "#ifndef BPF_NO_PRESERVE_ACCESS_INDEX",
           "#pragma clang attribute push (__attribute__((preserve_access_index)), apply_to = record)",
           "#endif", ""]
    # Forward-declare every struct and union up front, the defined ones
    # too: function-pointer typedefs may name them before their bodies.
    defined = {n for i in full for n in defines(decls[i])}
    for name in sorted(fwd | defined):
        if name.split(" ")[0] in ("struct", "union"):
            out.append(name + ";")
    out.append("")
    for i in sorted(full):
        out.append(decls[i] + "\n")
    out += ["#ifndef BPF_NO_PRESERVE_ACCESS_INDEX",
            "#pragma clang attribute pop", "#endif", "",
            "#endif /* __VMLINUX_H__ */"]
    print("\n".join(out))


if __name__ == "__main__":
    main()
