#!/usr/bin/env python3
"""A documented one-step compile and link (`g++ ... app.cpp -o app`), run as two steps so that the compile goes
through the compiler cache: ccache caches compiles (-c), not a compile and link in one call.

check_doc_commands.py puts this, as `g++` and `c++`, first on the PATH of the documented commands when ccache is
installed. A call with one source file and -o (and no -c, -E, -S or -M): the compile with every argument but the
output and the link-only ones (-l, -L, -Wl, object files and archives), through ccache, to a temporary object;
then the link with every argument as written, the object in the source's place. A compile alone (-c, one source)
runs through ccache as it is. Anything else, or without LANMSFF_CCACHE (the ccache to run), runs the real compiler
as called. The real compiler is the one of that name in LANMSFF_REAL_COMPILER_DIR (default /usr/bin).
The result is the same program; only a repeated run (CI after CI) finds the compile in the cache.

Usage (through the PATH entry): g++|c++ ARGUMENTS...
"""
import os
import pathlib
import subprocess
import sys
import tempfile

SOURCE = (".cpp", ".cc", ".cxx", ".c++", ".C", ".c")
LINK_ONLY_PREFIXES = ("-l", "-L", "-Wl,")
LINK_ONLY_SUFFIXES = (".o", ".a", ".so")
NO_SPLIT = {"-c", "-E", "-S", "-M", "-MM", "-shared", "-x", "-"}


def main():
    name, args = sys.argv[1], sys.argv[2:]
    real = pathlib.Path(os.environ.get("LANMSFF_REAL_COMPILER_DIR", "/usr/bin")) / name
    ccache = os.environ.get("LANMSFF_CCACHE", "")
    sources = [i for i, a in enumerate(args) if a.endswith(SOURCE) and not a.startswith("-")]
    outputs = [i for i, a in enumerate(args) if a == "-o"]
    if ccache and "-c" in args and len(sources) == 1 and not any(a in NO_SPLIT - {"-c"} for a in args):
        os.execv(ccache, [ccache, str(real), *args])  # a compile alone: ccache caches it as it is
    if (not ccache or len(sources) != 1 or len(outputs) != 1 or outputs[0] + 1 >= len(args)
            or any(a in NO_SPLIT for a in args)):
        os.execv(str(real), [str(real), *args])
    source, out = sources[0], outputs[0]
    skip = {source, out, out + 1}
    compile_args = [a for i, a in enumerate(args)
                    if i not in skip and not a.startswith(LINK_ONLY_PREFIXES) and not a.endswith(LINK_ONLY_SUFFIXES)]
    with tempfile.TemporaryDirectory(prefix="cached-compile.") as work:
        obj = str(pathlib.Path(work) / (pathlib.Path(args[source]).stem + ".o"))
        made = subprocess.run([ccache, str(real), *compile_args, "-c", args[source], "-o", obj])
        if made.returncode != 0:
            return made.returncode
        return subprocess.run([str(real), *[obj if i == source else a for i, a in enumerate(args)]]).returncode


if __name__ == "__main__":
    sys.exit(main())
