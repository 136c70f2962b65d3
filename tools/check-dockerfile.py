#!/usr/bin/env python3
"""Checks deploy/docker/Dockerfile against the repository and a build, since no container engine
runs where the tests do:

- every file or folder a COPY takes from the build context exists (and is not .dockerignored);
- every binary the build stage copies out is built by the CMake targets it names, and every
  binary a later stage copies from it or runs as ENTRYPOINT is one of those;
- the runtime stage installs the Debian packages (or their dependencies) holding every shared
  library those binaries link;
- every image the Helm chart and the Dockerfile's usage lines name is a target, and every final
  image runs as a non-root user.

Usage: check-dockerfile.py BUILD_DIR
"""
import fnmatch
import os
import re
import shlex
import shutil
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DOCKERFILE = os.path.join(ROOT, "deploy", "docker", "Dockerfile")
# Present in every Debian image (Essential: yes or Priority: required), so never listed.
BASE_PACKAGES = {"libc6", "libstdc++6", "libgcc-s1", "zlib1g", "libzstd1", "liblzma5", "libbz2-1.0",
                 "libcrypt1", "libselinux1", "libpcre2-8-0", "libgmp10", "libacl1", "libattr1"}


ERRORS = []


def report_error(message):
    ERRORS.append(message)


class Stage:
    def __init__(self, name, base):
        self.name, self.base = name, base
        self.instructions = []  # (keyword, argument text)


def parse(path):
    """Stages of a Dockerfile, with continuation lines joined and comments dropped."""
    stages, logical = [], ""
    with open(path) as f:
        for raw in f:
            line = raw.rstrip("\n")
            if not logical and (not line.strip() or line.lstrip().startswith("#")):
                continue
            if line.endswith("\\"):
                logical += line[:-1] + " "
                continue
            logical += line
            keyword, _, argument = logical.strip().partition(" ")
            logical = ""
            keyword = keyword.upper()
            if keyword == "FROM":
                words = argument.split()
                name = words[2] if len(words) >= 3 and words[1].upper() == "AS" else None
                stages.append(Stage(name, words[0]))
            else:
                stages[-1].instructions.append((keyword, argument.strip()))
    return stages


def dockerignore_patterns():
    path = os.path.join(ROOT, ".dockerignore")
    if not os.path.exists(path):
        return []
    with open(path) as f:
        return [l.strip() for l in f if l.strip() and not l.startswith("#")]


def ignored(rel, patterns):
    parts = rel.split("/")
    for pattern in patterns:
        pattern = pattern.rstrip("/")
        if pattern.startswith("**/"):
            if any(fnmatch.fnmatch(p, pattern[3:]) for p in parts):
                return True
        elif any(fnmatch.fnmatch("/".join(parts[:i]), pattern) for i in range(1, len(parts) + 1)):
            return True
    return False


def copy_sources(argument):
    """(from_stage or None, [sources], destination) of a COPY argument."""
    words = shlex.split(argument)
    options = [w for w in words if w.startswith("--")]
    paths = [w for w in words if not w.startswith("--")]
    stage = next((o.split("=", 1)[1] for o in options if o.startswith("--from=")), None)
    return stage, paths[:-1], paths[-1]


def package_of(library_path):
    # With merged /usr, dpkg may know a library by its /lib, /usr/lib or symlink-resolved path.
    candidates = []
    for path in (library_path, os.path.realpath(library_path)):
        candidates += [path, path[4:] if path.startswith("/usr/") else "/usr" + path]
    for path in candidates:
        out = subprocess.run(["dpkg", "-S", path], capture_output=True, text=True)
        if out.returncode == 0:
            return out.stdout.split(":")[0]
    return None


def linked_packages(binary):
    out = subprocess.run(["ldd", binary], capture_output=True, text=True, check=True).stdout
    packages = set()
    for line in out.splitlines():
        m = re.search(r"=>\s+(/\S+)", line)
        if m:
            package = package_of(m.group(1))
            if package:
                packages.add(package)
            else:
                report_error(f"{binary}: cannot tell which package holds {m.group(1)}")
    return packages


def dependencies(packages):
    """The packages `packages` pull in when installed (recursively, without recommends)."""
    out = subprocess.run(
        ["apt-cache", "depends", "--recurse", "--no-recommends", "--no-suggests", "--no-conflicts",
         "--no-breaks", "--no-replaces", "--no-enhances"] + sorted(packages),
        capture_output=True, text=True, check=True).stdout
    found = set(packages)
    for line in out.splitlines():
        line = line.strip()
        if line.startswith("Depends:") or line.startswith("PreDepends:"):
            found.add(line.split(":", 1)[1].strip().strip("<>").split(":")[0])
        elif line and not line.startswith("|") and ":" not in line:
            found.add(line.strip("<>"))
    return found


def main():
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    build_dir = os.path.abspath(sys.argv[1])
    stages = parse(DOCKERFILE)
    by_name = {s.name: s for s in stages if s.name}
    patterns = dockerignore_patterns()

    # Context files.
    for stage in stages:
        for keyword, argument in stage.instructions:
            if keyword != "COPY":
                continue
            source_stage, sources, _ = copy_sources(argument)
            if source_stage:
                continue
            for source in sources:
                if not os.path.exists(os.path.join(ROOT, source)):
                    report_error(f"stage {stage.name}: COPY {source}: no such file in the repository")
                elif ignored(source, patterns):
                    report_error(f"stage {stage.name}: COPY {source}: excluded by .dockerignore")

    # The build stage: targets built, binaries copied to /out.
    build = by_name.get("build")
    produced = {}  # name in /out -> path in the CMake build dir
    if not build:
        report_error("no stage named build")
    else:
        run = " ".join(a for k, a in build.instructions if k == "RUN")
        targets = re.findall(r"--target((?:\s+[\w-]+)+)", run)
        targets = {t for group in targets for t in group.split()}
        for copy in re.finditer(r"\bcp\s+((?:/build/\S+\s+)+)/out/", run):
            for path in copy.group(1).split():
                name = os.path.basename(path)
                if name not in targets:
                    report_error(f"build stage copies {path} but builds no target {name}")
                local = os.path.join(build_dir, os.path.relpath(path, "/build"))
                if not os.access(local, os.X_OK):
                    report_error(f"build stage copies {path}: {local} is not built here")
                produced[name] = local
        if not produced:
            report_error("build stage copies no binary to /out")

    # The build stage's sources alone configure, and define the targets it builds (a CMake file
    # reaching outside what the stage copies would break the image build only).
    if build:
        with tempfile.TemporaryDirectory() as context:
            src = os.path.join(context, "src")
            for keyword, argument in build.instructions:
                if keyword != "COPY":
                    continue
                _, sources, destination = copy_sources(argument)
                for source in sources:
                    target = destination if not destination.endswith("/") else \
                        os.path.join(destination, os.path.basename(source))
                    target = os.path.join(context, target.lstrip("/"))
                    os.makedirs(os.path.dirname(target), exist_ok=True)
                    if os.path.isdir(os.path.join(ROOT, source)):
                        shutil.copytree(os.path.join(ROOT, source), target, dirs_exist_ok=True,
                                        ignore=shutil.ignore_patterns("node_modules", "__pycache__"))
                    elif os.path.exists(os.path.join(ROOT, source)):
                        shutil.copy2(os.path.join(ROOT, source), target)
            run = " ".join(a for k, a in build.instructions if k == "RUN")
            definitions = re.findall(r"(?<=\s)-D\S+", run)  # the stage's own cache settings
            configure = subprocess.run(
                ["cmake", "-S", src, "-B", os.path.join(context, "build"), "-G", "Ninja"] +
                definitions, capture_output=True, text=True)
            if configure.returncode != 0:
                report_error("the build stage's sources do not configure:\n" + configure.stderr[-2000:])
            else:
                plan = subprocess.run(["ninja", "-C", os.path.join(context, "build"), "-n"] +
                                      sorted(produced), capture_output=True, text=True)
                if plan.returncode != 0:
                    report_error("the build stage cannot build its targets:\n" + plan.stdout[-2000:])

    # Later stages: what they copy from the build and what they run.
    def chain(stage):
        while stage is not None:
            yield stage
            stage = by_name.get(stage.base)

    linked = set()
    for stage in stages:
        for keyword, argument in stage.instructions:
            if keyword == "COPY":
                source_stage, sources, _ = copy_sources(argument)
                if source_stage == "build":
                    for source in sources:
                        name = os.path.basename(source)
                        if not source.startswith("/out/") or name not in produced:
                            report_error(f"stage {stage.name}: COPY --from=build {source}: not produced")
                        else:
                            linked |= linked_packages(produced[name])
                elif source_stage and source_stage not in by_name:
                    report_error(f"stage {stage.name}: COPY --from={source_stage}: no such stage")
            if keyword == "ENTRYPOINT":
                binary = shlex.split(argument.replace("[", " ").replace("]", " ").replace(",", " "))[0]
                copied = [copy_sources(a)[2] for s in chain(stage) for k, a in s.instructions
                          if k == "COPY"]
                if binary not in copied:
                    report_error(f"stage {stage.name}: ENTRYPOINT {binary} is never copied in")

    # Runtime libraries.
    runtime = by_name.get("runtime")
    if runtime:
        run = " ".join(a for k, a in runtime.instructions if k == "RUN")
        m = re.search(r"apt-get install -y --no-install-recommends((?:\s+[a-z0-9][\w.+-]*)+)", run)
        installed = set(m.group(1).split()) if m else set()
        available = dependencies(installed) | BASE_PACKAGES if installed else BASE_PACKAGES
        for package in sorted(linked - available):
            report_error(f"runtime stage: the binaries link a library of {package}, not installed")
        for needed in ("tzdata", "ca-certificates"):
            if needed not in installed:
                report_error(f"runtime stage must install {needed}")
    else:
        report_error("no stage named runtime")

    # Images named by the usage lines and the chart are targets; final images are not root.
    with open(DOCKERFILE) as f:
        usage = re.findall(r"--target\s+(\S+)\s+-t\s+(\S+?):", f.read())
    images = {image: target for target, image in usage}
    for target, _ in usage:
        if target not in by_name:
            report_error(f"usage line builds --target {target}: no such stage")
    chart_values = []
    chart = os.path.join(ROOT, "deploy", "helm", "gridflow")
    for folder, _, files in os.walk(chart):
        chart_values += [os.path.join(folder, f) for f in files
                         if f.endswith(".yaml") and "templates" not in folder]
    for path in chart_values:
        with open(path) as f:
            for repository in re.findall(r"repository:\s*(gridflow/\S+)", f.read()):
                if repository not in images:
                    report_error(f"{os.path.relpath(path, ROOT)}: image {repository} is built by no "
                                f"Dockerfile target")
    for target in images.values():
        stage = by_name.get(target)
        users = [a for s in chain(stage) for k, a in reversed(s.instructions) if k == "USER"]
        if not users or users[0].split(":")[0] in ("root", "0"):
            report_error(f"image target {target} runs as root")

    if ERRORS:
        for e in ERRORS:
            print(f"error: {e}", file=sys.stderr)
        sys.exit(1)
    print(f"Dockerfile ok: {len(stages)} stages, images {', '.join(sorted(images))}; "
          f"binaries {', '.join(sorted(produced))} built; runtime libraries from "
          f"{len(linked)} packages covered")


if __name__ == "__main__":
    main()
