#!/usr/bin/env python3
"""Runs every command that README.md and docs/*.md give a reader, so that none can break unnoticed.

What counts as a documented command:
  - every command in a ```sh block (a line ending in a backslash continues on the next; a construct that spans
    lines, such as a while loop or a quoted string, is one command; comment lines are skipped);
  - every line that starts with "$ " in a plain ``` block (a transcript: the command that printed it);
  - every inline `code span` that reads as a complete command: it starts with a program a reader runs (lanmsff,
    bash, cmake, ctest, python3, a compiler, build/...) and holds no placeholder (`<command>`, `[--train]`, `a|b`,
    `...`, or a word in capitals such as DIR or FILE). `lanmsff train` alone names a command; it is not one.

Every command must match one of the rules (rules() below), or the test fails with "no rule for": a new documented command
either runs as written or says, here, why and where it is checked instead. Commands run with bash, one after the
other in document order, in a scratch directory per document that holds stand-ins for the data sets the docs
name (fer2013.csv, ferplus/, KDEF/, faces/, RAF-DB/ or RAF-DB's download basic/, face.png, face.jpg, photo.jpg,
group.jpg, photos/, the
authors' Pretrained_on_MSCeleb.pth.tar with random weights), links to the sources' include/, tools/, bench/ and
to the tested build tree (build/), the file of every ```cpp block whose first line is `// NAME.cpp`, and
`lanmsff` on PATH (the tool of the tested build). Only sizes change: --epochs is capped at 2 (3 with --resume),
--limit at 256, --seconds at 0.3, --rounds at 1 and a benchmark program's time per benchmark at 0.01 s, so that the
whole check takes minutes; and with ccache installed, bench/compile_times.py compiles through it (--launcher
ccache: its five uncached compiles were the check's longest command), and a compile and link in one step (`g++ ... app.cpp -o app`,
which ccache does not cache) runs as a cached compile and then the link as written (tests/docs/cached_compile.py).
An installation prefix /usr/local becomes one under the scratch directory, and the README's install command runs on
a fresh configure of a clean copy of the sources, after which the find_package consumer (tests/install/consumer) is
built against it.

Usage: check_doc_commands.py --source DIR --build DIR [--work DIR] [--only FILE.md] [--list]
  --list  prints every documented command and the rule it matched, runs nothing.
ctest: doc_commands (tests/CMakeLists.txt). The commands that need PyTorch (python3-torch) are skipped without
it, except under CI (CI set), where a skip is a failure.
"""
import argparse
import os
import pathlib
import re
import shutil
import subprocess
import sys
import tempfile
import time

PROGRAMS = r"(lanmsff|bash|cmake|ctest|/usr/bin/python3|python3|g\+\+|c\+\+|clang\+\+(-\d+)?|pkg-config|build/\S+)"
# A placeholder: a whole word in capitals (DIR, FILE, OUT.png, IMAGE...), or synopsis punctuation.
PLACEHOLDER = re.compile(r"(^|\s)[A-Z][A-Z0-9_]*(\.\w+)?(\.\.\.)?(?=\s|$)|[<>\[\]|…]|\.\.\.")
# In a command block only these: a shell command may hold capitals and redirections.
BLOCK_PLACEHOLDER = re.compile(r"\.\.\.|…|<[a-z][\w-]*>|\[--")
CAPS = {"--epochs": 2, "--limit": 256, "--rounds": 1}
TIMEOUT = 900


class Command:
    def __init__(self, doc, line, text, inline):
        self.doc, self.line, self.text, self.inline = doc, line, text, inline

    def where(self):
        return f"{self.doc}:{self.line}"


# ---- extraction --------------------------------------------------------------------------------------------------

def complete_shell(text):
    """True when bash can parse text as a whole (no open loop, quote or continuation)."""
    return subprocess.run(["bash", "-n", "-c", text], capture_output=True).returncode == 0


def fenced_blocks(lines):
    """Yields (language, first line number of the body, body lines) for every fenced block."""
    i = 0
    while i < len(lines):
        m = re.match(r"^\s*```(\w*)\s*$", lines[i])
        if not m:
            i += 1
            continue
        start, body = i + 2, []
        i += 1
        while i < len(lines) and not re.match(r"^\s*```\s*$", lines[i]):
            body.append(lines[i])
            i += 1
        yield m.group(1), start, body
        i += 1


def sh_commands(doc, start, body):
    commands, pending, pending_line = [], "", 0
    for offset, raw in enumerate(body):
        line = raw.rstrip()
        if not pending and (not line.strip() or line.lstrip().startswith("#")):
            continue
        if not pending:
            pending_line = start + offset
        pending = f"{pending}\n{line}" if pending else line
        if line.endswith("\\") or not complete_shell(pending):
            continue
        commands.append(Command(doc, pending_line, join_continuations(pending), inline=False))
        pending = ""
    if pending:
        raise SystemExit(f"{doc}:{pending_line}: this ```sh block ends inside a command: {pending!r}")
    return commands


def join_continuations(text):
    return re.sub(r"\\\n\s*", "", text)


def extract(path, name):
    text = path.read_text(encoding="utf-8")
    lines = text.split("\n")
    commands, cpp_files = [], {}
    for language, start, body in fenced_blocks(lines):
        if language in ("sh", "bash", "shell"):
            commands += sh_commands(name, start, body)
        elif language == "":
            for offset, line in enumerate(body):
                if line.startswith("$ "):
                    commands.append(Command(name, start + offset, line[2:].strip(), inline=False))
        elif language == "cpp" and body:
            m = re.match(r"^//\s*([\w.-]+\.cpp)\b", body[0])
            if m:
                cpp_files[m.group(1)] = "\n".join(body) + "\n"
    # Inline spans, outside fenced blocks (blanked out, so that line numbers stay right).
    prose = re.sub(r"(?ms)^\s*```\w*\s*$.*?^\s*```\s*$", lambda m: re.sub(r"[^\n]", " ", m.group(0)), text)
    for m in re.finditer(r"(?<!`)`([^`]+)`(?!`)", prose):
        span = " ".join(m.group(1).split())
        if not re.match(PROGRAMS + r"(\s|$)", span) or PLACEHOLDER.search(span):
            continue
        if re.fullmatch(r"lanmsff [\w-]+", span) or re.match(r"lanmsff (\w+/)+\w+", span):  # `lanmsff train`
            continue
        if len(span.split()) == 1:  # a program's name or path: `lanmsff`, `build/bench/bench_kernels`
            continue
        commands.append(Command(name, prose.count("\n", 0, m.start()) + 1, span, inline=True))
    commands.sort(key=lambda c: c.line)
    return commands, cpp_files


# ---- the scratch directory of a document -------------------------------------------------------------------------

class Scratch:
    """The directory a document's commands run in, with its fixtures."""

    def __init__(self, checker, doc, cpp_files, commands):
        self.checker = checker
        self.dir = checker.work / re.sub(r"\W", "_", doc)
        self.dir.mkdir(parents=True)
        src = checker.source
        for name in ("include", "src", "tools", "bench", "examples"):
            (self.dir / name).symlink_to(src / name)
        (self.dir / "build").symlink_to(checker.build)
        data = src / "tests" / "data"
        shutil.copy(data / "datasets/fer2013/fer2013.csv", self.dir / "fer2013.csv")
        shutil.copytree(data / "datasets/ferplus", self.dir / "ferplus")
        shutil.copytree(data / "datasets/kdef", self.dir / "KDEF")
        shutil.copytree(data / "cli/faces", self.dir / "faces")
        shutil.copy(data / "cli/faces/test/class_a/test_0.png", self.dir / "face.png")
        shutil.copy(data / "datasets/kdef/AF01/AF01ANS.JPG", self.dir / "face.jpg")  # a face crop
        # Photos for the face front end (docs/faces.md): a portrait from Debian's facedetect package, a group
        # photo, and a folder of photos by class.
        portrait = pathlib.Path("/usr/share/doc/facedetect/examples/grace_hopper_512x512.jpg")
        shutil.copy(portrait if portrait.exists() else data / "datasets/kdef/AF01/AF01ANS.JPG", self.dir / "photo.jpg")
        shutil.copy(data / "faces/2007_007763.jpg", self.dir / "group.jpg")
        for name, source in (("happy", "faces/2008_001322.jpg"), ("neutral", "faces/2007_007763.jpg")):
            (self.dir / "photos" / name).mkdir(parents=True)
            shutil.copy(data / source, self.dir / "photos" / name / "1.jpg")
        shutil.copy(src / "tests/install/consumer/main.cpp", self.dir / "app.cpp")
        if any("list_patition_label.txt" in c.text for c in commands):
            self.raf_db_download(data / "cli/faces_rgb")  # the document builds RAF-DB/ from it
        else:
            shutil.copytree(data / "cli/faces_rgb", self.dir / "RAF-DB")
        if any("Pretrained_on_MSCeleb" in c.text for c in commands) and checker.pretrained():
            (self.dir / "Pretrained_on_MSCeleb.pth.tar").symlink_to(checker.pretrained())
        for name, source in cpp_files.items():
            (self.dir / name).write_text(source)
        self.variables = []  # NAME=value lines, run before every later command of the document

    def raf_db_download(self, faces_rgb):
        """RAF-DB as downloaded: basic/EmoLabel/list_patition_label.txt and basic/Image/aligned/*_aligned.jpg
        (labels 1-7; the images are KDEF fixture JPEGs, the content does not matter here)."""
        aligned = self.dir / "basic/Image/aligned"
        aligned.mkdir(parents=True)
        (self.dir / "basic/EmoLabel").mkdir(parents=True)
        jpgs = sorted((self.checker.source / "tests/data/datasets/kdef").rglob("*.JPG"))
        rows = []
        for split in ("train", "test"):
            for label in range(1, 8):
                for k in range(2 if split == "train" else 1):
                    name = f"{split}_{len(rows) + 1:05d}.jpg"
                    shutil.copy(jpgs[len(rows) % len(jpgs)], aligned / name.replace(".jpg", "_aligned.jpg"))
                    rows.append(f"{name} {label}")
        (self.dir / "basic/EmoLabel/list_patition_label.txt").write_text("\n".join(rows) + "\n")


# ---- rules -------------------------------------------------------------------------------------------------------

def cap_sizes(text):
    for option, cap in CAPS.items():
        if option == "--epochs" and "--resume" in text:
            cap += 1  # one epoch more than the run it resumes
        text = re.sub(rf"({option}[ =])(\d+)", lambda m, cap=cap: f"{m.group(1)}{min(int(m.group(2)), cap)}", text)
    return re.sub(r"(--seconds[ =])([\d.]+)", lambda m: f"{m.group(1)}{min(float(m.group(2)), 0.3):g}", text)


class Checker:
    def __init__(self, source, build, work):
        self.source, self.build, self.work = source, build, work
        self.tool = build / "examples" / "lanmsff"
        self.bin = work / "bin"
        self.bin.mkdir(parents=True)
        (self.bin / "lanmsff").write_text(f'#!/bin/sh\nexec "{self.tool}" "$@"\n')
        (self.bin / "lanmsff").chmod(0o755)
        self.env = dict(os.environ, PATH=f"{self.bin}:{os.environ['PATH']}", OMP_WAIT_POLICY="PASSIVE")
        if shutil.which("ccache"):
            # CMake builds the commands start (the find_package consumer, compare_paths.py's) compile through
            # the compiler cache. (A one-step compile-and-link such as `g++ ... app.cpp -o app` is not cached.)
            self.env["CMAKE_CXX_COMPILER_LAUNCHER"] = "ccache"
            # Paths under the temporary directory hashed relative to the build directory: a scratch directory
            # (or compare_paths.py's) of another name still hits the cache.
            self.env.setdefault("CCACHE_BASEDIR", tempfile.gettempdir())
        # A documented compile and link in one step runs through tests/docs/cached_compile.py (as g++ and c++,
        # first on the PATH of those commands only): the compile through the cache, then the link as written.
        self.compile_paths = {}  # what compile() adds to env
        compiler = shutil.which("g++")
        if shutil.which("ccache") and compiler:
            wrappers = work / "cached-compile"
            wrappers.mkdir()
            for name in ("g++", "c++"):
                (wrappers / name).write_text(f'#!/bin/sh\nexec "{sys.executable}" "{source / "tests/docs/cached_compile.py"}" '
                                             f'{name} "$@"\n')
                (wrappers / name).chmod(0o755)
            self.compile_paths = dict(PATH=f"{wrappers}:{self.env['PATH']}", LANMSFF_CCACHE=shutil.which("ccache"),
                                      LANMSFF_REAL_COMPILER_DIR=str(pathlib.Path(compiler).parent))
        self.prefix = work / "usr-local"  # stands for /usr/local, where pkg-config looks by default
        self.env["PKG_CONFIG_PATH"] = str(self.prefix / "share/pkgconfig")
        self.installed = None  # where the install command was checked
        self._pretrained = None
        self.scratches = {}
        self.skipped = []

    def pretrained(self):
        """The authors' checkpoint layout with random weights (12,666 MS-Celeb identities), made once."""
        if self._pretrained is None:
            path = self.work / "Pretrained_on_MSCeleb.pth.tar"
            script = ("import sys, torch; sys.path.insert(0, sys.argv[1]); import test_convert_manet as t; "
                      "torch.save({'epoch': 40, 'state_dict': t.authors_state_dict(t.IDENTITIES, 1)}, sys.argv[2])")
            made = subprocess.run(["/usr/bin/python3", "-c", script, str(self.source / "tools"), str(path)],
                                  capture_output=True, text=True)
            self._pretrained = path if made.returncode == 0 else False
            if not self._pretrained:
                print(f"  (no PyTorch: {made.stderr.strip().splitlines()[-1] if made.stderr.strip() else '?'})")
        return self._pretrained

    # -- actions --
    def sh(self, command, scratch, text=None, cwd=None, env=None):
        script = "\n".join(["set -eo pipefail", *scratch.variables, text if text is not None else command.text])
        started = time.monotonic()
        result = subprocess.run(["bash", "-c", script], cwd=cwd or scratch.dir, env=env or self.env,
                                capture_output=True, text=True, timeout=TIMEOUT)
        seconds = time.monotonic() - started
        if result.returncode != 0:
            tail = "\n".join((result.stdout + result.stderr).strip().splitlines()[-25:])
            raise Failure(f"exit status {result.returncode} after {seconds:.0f} s:\n{tail}")
        return f"ran in {seconds:.1f} s"

    def run(self, command, scratch, env=None):
        text = cap_sizes(command.text).replace("/usr/local", str(self.prefix))
        if "Pretrained_on_MSCeleb" in text and not self.pretrained():
            return self.skip(command, "needs PyTorch (python3-torch) for the Pretrained_on_MSCeleb.pth.tar stand-in")
        return self.sh(command, scratch, text, env=env)

    def benchmark(self, command, scratch):
        """A Google Benchmark program, each benchmark timed for 0.01 s (sizes capped, as --seconds elsewhere)."""
        return self.sh(command, scratch, command.text + " --benchmark_min_time=0.01")

    def compile(self, command, scratch):
        """A compile and link in one step (or a script that makes one), run as written, the compile cached."""
        return self.run(command, scratch, env=dict(self.env, **self.compile_paths))

    def compile_times(self, command, scratch):
        """bench/compile_times.py, its compiles through ccache when it is installed (the times do not matter here)."""
        text = cap_sizes(command.text)
        if shutil.which("ccache"):
            text += f" --launcher {shutil.which('ccache')}"
        return self.sh(command, scratch, text)

    def assign(self, command, scratch):
        """NAME="..." : checked by bash, then set for the document's later commands."""
        text = cap_sizes(command.text)
        self.sh(command, scratch, text)
        scratch.variables.append(text)
        return "set for the commands after it"

    def install_library(self, command, scratch):
        """The README's install command, exactly, on a fresh configure of a clean copy of the sources; then the
        find_package consumer built against the prefix, and run. Once: the same command elsewhere is the same."""
        if self.installed:
            return f"the same command as {self.installed}, checked there"
        copy = self.work / "clean-sources"
        if copy.exists():
            shutil.rmtree(copy)
        skip = shutil.ignore_patterns(".git", "build*", "runs", "__pycache__", "*.pyc")
        shutil.copytree(self.source, copy, ignore=lambda d, names: skip(d, names) if d == str(self.source) else
                        shutil.ignore_patterns("__pycache__", "node_modules")(d, names), symlinks=True)
        text = command.text.replace("/usr/local", str(self.prefix))
        outcome = self.sh(command, scratch, text, cwd=copy)
        consumer = self.work / "consumer-build"
        self.sh(command, scratch, f'cmake -S "{copy}/tests/install/consumer" -B "{consumer}" -DCMAKE_BUILD_TYPE=Release '
                f'-DCMAKE_PREFIX_PATH="{self.prefix}" -DCMAKE_FIND_USE_PACKAGE_REGISTRY=OFF >/dev/null && '
                f'cmake --build "{consumer}" >/dev/null && "{consumer}/consumer" | grep -qx "sum 18"')
        self.installed = command.where()
        return outcome + "; the find_package consumer builds against the prefix and prints sum 18"

    def covered(self, where, needle, how=None):
        """Checked elsewhere: `where` (a file of the sources) must contain `needle`."""
        def action(command, scratch):
            path = self.source / where
            if needle not in path.read_text():
                raise Failure(f"claimed to be covered by {where}, which does not contain {needle!r}")
            return f"covered: {how or where + ' runs it'}"
        return action

    def skip(self, command, why):
        self.skipped.append(f"{command.where()}: {command.text}: {why}")
        return f"SKIPPED: {why}"


class Failure(Exception):
    pass


def rules(c):
    """(description, pattern on the command's text, action): the first match decides."""
    return [
        # What tools/test.sh and CI already run as the README gives it.
        ("the test command", r"bash tools/test\.sh", c.covered(".ci/run", "exec bash tools/test.sh")),
        ("the demo", r"bash tools/demo\.sh", c.covered("tools/test.sh", "bash tools/demo.sh")),
        ("the demo with train options", r"bash tools/demo\.sh( --[\w-]+ \S+)+",
         c.covered("tools/demo.sh", '--out "$run" "$@"', "tools/demo.sh hands them to its lanmsff train, after "
                   "its own (the last of a repeated option counts: tests/cli/run.sh checks it); the demo runs in "
                   "tools/test.sh")),
        ("the test run by hand", r"ctest --test-dir build --output-on-failure", c.covered("tools/test.sh",
                                                                                          "ctest --test-dir build --output-on-failure")),
        ("configuring build/", r"cmake -S \. -B build -DCMAKE_BUILD_TYPE=Release",
         c.covered("tools/test.sh", "cmake -S . -B build -DCMAKE_BUILD_TYPE=Release")),
        ("configuring a sanitized build",
         r"cmake -S \. -B build-asan -DCMAKE_CXX_COMPILER=clang\+\+-16 -DLANMSFF_SANITIZE=address,undefined",
         c.covered("tools/test.sh", "-DLANMSFF_SANITIZE=address,undefined",
                   "tools/test.sh configures build-clang/ so and runs its tests")),
        ("a fuzzing run",
         r"cd tests && mkdir -p /tmp/fuzz-found && \.\./build-clang/tests/fuzz/fuzz_\w+ -max_total_time=\d+ "
         r"/tmp/fuzz-found( [\w/.-]+)+",
         c.covered("tests/fuzz/CMakeLists.txt", "-fsanitize=fuzzer",
                   "tools/test.sh builds the fuzz targets so in build-clang/; ctest replays their corpora")),
        ("installing the dependencies", r"bash tools/install-deps\.sh",
         c.covered("tools/test.sh", "bash tools/install-deps.sh", "tools/test.sh runs it first")),
        # The face front end's video: a clip is made and predicted by tests/cli/faces.sh; no test machine has a camera.
        ("predict on a video", r"lanmsff predict --weights \S+ clip\.avi --annotate \S+\.avi > \S+\.csv",
         c.covered("tests/cli/faces.sh", 'predict --weights "$W" "$WORK/clip.avi" --annotate "$WORK/annotated.avi"',
                   "tests/cli/faces.sh writes a clip with OpenCV and checks this command's CSV and video")),
        ("predict on a camera", r"lanmsff predict --weights \S+ --camera 0 .*",
         c.covered("examples/tool/faces.hpp", "faces::VideoSource source(args.camera);",
                   "no test machine has a camera: a camera runs the loop that tests/cli/faces.sh tests on a file")),
        ("the face detector comparison", r"bash bench/compare_face_detectors\.sh", c.compile),
        ("an MPI program of the build", r"([A-Za-z_]+=\S+ )*mpiexec( --[\w-]+ \S+)* -n \d+ build/\S+( .*)?", c.run),
        # Installation.
        ("installing the library", r"cmake -S \. -B build && cmake --install build --prefix /usr/local",
         c.install_library),
        ("building and installing the tool",
         r"cmake --build build --target example_lanmsff && cmake --install build --component tool --prefix /usr/local",
         lambda cmd, s: c.run(cmd, s) + (c.sh(cmd, s, f'"{c.prefix}/bin/lanmsff" --version | grep -q "^lanmsff "')
                                          and "; the installed lanmsff --version runs")),
        # The tested build tree.
        # In the tested build tree, which is built: an up-to-date check.
        ("building in build/", r"cmake --build build( --target \w+| -j\S+)*", c.run),
        ("a benchmark of the build", r"build/bench/bench_\w+( --benchmark_\w+=\S+)*", c.benchmark),
        ("a program of the build", r"build/\S+( .*)?", c.run),
        # Everything else runs as written, sizes capped.
        ("the tool", r"lanmsff( .*)?", c.run),
        ("a compile", r"(g\+\+|c\+\+|clang\+\+(-\d+)?) -std=c\+\+20 .*", c.compile),
        ("the compile-time benchmark", r"/usr/bin/python3 bench/compile_times\.py( .*)?", c.compile_times),
        ("a Python tool", r"/usr/bin/python3 (tools|bench)/\w+\.py( .*)?", c.run),
        ("a variable", r'[A-Z_]+="[^"]*"', c.assign),
        ("RAF-DB's re-arrangement", r"while read -r name label; do.*done < basic/EmoLabel/list_patition_label\.txt",
         c.run),
    ]


def check(checker, docs, list_only=False):
    """Checks the documents [(path, name)]; returns the failures and the number of commands."""
    table = rules(checker)
    failures, count = [], 0
    for doc, name in docs:
        commands, cpp_files = extract(doc, name)
        scratch = None
        for command in commands:
            count += 1
            # Matched without trailing comments and with spaces collapsed; run as written.
            flat = " ".join(re.sub(r"[ \t]+#[^\n'\"]*$", "", command.text, flags=re.M).split())
            if not command.inline and BLOCK_PLACEHOLDER.search(flat):
                failures.append(f"{command.where()}: a placeholder in a command block (write the command "
                                f"out, or describe it in the text): {command.text}")
                print(f"FAIL {failures[-1]}")
                continue
            match = next(((d, a) for d, p, a in table if re.fullmatch(p, flat, re.S)), None)
            if match is None:
                failures.append(f"{command.where()}: no rule for the documented command: {command.text}")
                print(f"FAIL {failures[-1]}")
                continue
            description, action = match
            if list_only:
                print(f"{command.where()}: [{description}] {command.text}")
                continue
            if scratch is None:
                scratch = Scratch(checker, name, cpp_files, commands)
            print(f"{command.where()}: {command.text}", flush=True)
            try:
                print(f"  ok ({description}): {action(command, scratch)}", flush=True)
            except (Failure, subprocess.TimeoutExpired) as error:
                failures.append(f"{command.where()}: {command.text}\n{error}")
                print(f"  FAIL: {error}", flush=True)
    return failures, count


SELF_TEST = """# A document with two good commands and four bad ones

```sh
lanmsff --version
lanmsff summary --no-such-option
frobnicate --all
lanmsff train --data faces/ ... --out runs/x
g++ -std=c++20 -O2 fine.cpp -o fine && ./fine
g++ -std=c++20 -O2 broken.cpp -o broken
```

```cpp
// fine.cpp
int main() { return 0; }
```

```cpp
// broken.cpp
int main() { return undeclared; }
```
"""


def self_test(checker):
    """The checker must catch what it is for: a failing command, a command without a rule, a placeholder, a
    documented program that does not compile (through the cached compile, where ccache is installed)."""
    print("---- self-test: a document with four bad commands")
    doc = checker.work / "self-test.md"
    doc.write_text(SELF_TEST)
    failures, count = check(checker, [(doc, "self-test.md")])
    expected = ["self-test.md:5: lanmsff summary --no-such-option", "self-test.md:6: no rule",
                "self-test.md:7: a placeholder", "self-test.md:9: g++ -std=c++20 -O2 broken.cpp"]
    if count != 6 or len(failures) != 4 or any(not f.startswith(e) for f, e in zip(failures, expected)):
        raise SystemExit(f"the self-test expected failures {expected}, got {failures}")
    print("---- self-test passed: each bad command failed\n")


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--source", required=True, type=pathlib.Path)
    parser.add_argument("--build", required=True, type=pathlib.Path)
    parser.add_argument("--work", type=pathlib.Path, help="scratch directory (default: a temporary one, removed)")
    parser.add_argument("--only", help="check one document (README.md, docs/training.md, ...)")
    parser.add_argument("--list", action="store_true", help="list the commands and their rules; run nothing")
    args = parser.parse_args()
    source, build = args.source.resolve(), args.build.resolve()
    docs = [(d, str(d.relative_to(source))) for d in [source / "README.md", *sorted((source / "docs").glob("*.md"))]]
    if args.only:
        docs = [(d, n) for d, n in docs if n == args.only]
        if not docs:
            raise SystemExit(f"--only {args.only}: no such document")

    work = args.work.resolve() if args.work else pathlib.Path(tempfile.mkdtemp(prefix="lanmsff-docs."))
    if args.work:
        shutil.rmtree(work, ignore_errors=True)
        work.mkdir(parents=True)
    try:
        checker = Checker(source, build, work)
        if not args.list:
            self_test(Checker(source, build, work / "self-test"))
        failures, count = check(checker, docs, args.list)
    finally:
        if not args.work:
            shutil.rmtree(work, ignore_errors=True)
    if checker.skipped and os.environ.get("CI"):
        failures += [f"skipped under CI: {s}" for s in checker.skipped]
    print(f"\n{count} documented commands, {len(failures)} failed, {len(checker.skipped)} skipped")
    for failure in failures:
        print(f"\nFAIL {failure}")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
