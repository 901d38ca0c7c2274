"""Exact pins for docker/Dockerfile's lock, resolve and torch stages, from a lock or pip's own records.

  python pins.py split LOCK DIR           a lock (locks/<variant>.txt, written by npm run lock) as
                                          the files the resolve stage reads: one hash-checked
                                          requirement file per section (torch.txt, packages.txt,
                                          build.txt), the inputs it was made from (inputs.txt)
                                          and its variant
  python pins.py exact REPORT             a pip report (--report) as exact pins: one name==version
                                          per line, PEP 503 names, sorted
  python pins.py additions REPORT LOCKED  what the report installs beyond LOCKED (name==version
                                          lines), each with the sha256 the index gave, so pip's
                                          hash check holds them as it holds the lock
  python pins.py check TORCH TORCHVISION [XFORMERS]
                                          exits non-zero when the installed torch stack is not the
                                          pinned releases (local labels like +cpu aside)
"""
import json
import os
import re
import sys
from importlib.metadata import version


def normalized(name):
    return re.sub(r"[-_.]+", "-", name).lower()


def installs(report):
    with open(report) as file:
        return json.load(file)["install"]


def split(lock, directory):
    """The lock's "### <section>: ..." parts as they are (pip's own format), and two of its "# key: value" header lines."""
    sections, inputs, current = {}, {}, None
    with open(lock) as file:
        for line in file:
            if line.startswith("### "):
                current = sections.setdefault(line[4:].split(":")[0], [])
            elif current is None and line.startswith("# ") and ": " in line:
                key, value = line[2:].rstrip("\n").split(": ", 1)
                inputs[key] = value
            elif current is not None and line.strip():
                current.append(line)
    os.makedirs(directory)
    for name in ("torch", "packages", "build"):
        lines = sections.get(name, [])
        with open(os.path.join(directory, name + ".txt"), "w") as file:
            # An empty section stays an empty file: pip refuses --require-hashes with nothing to install.
            file.write("".join(["--require-hashes\n", *lines] if lines else []))
    with open(os.path.join(directory, "inputs.txt"), "w") as file:
        file.write(f"requirements {inputs['requirements']}\nextras {inputs['extras']}\n")
    with open(os.path.join(directory, "variant"), "w") as file:
        file.write(os.path.splitext(os.path.basename(lock))[0] + "\n")


def exact(report):
    return sorted(f"{normalized(i['metadata']['name'])}=={i['metadata']['version']}" for i in installs(report))


def additions(report, locked):
    with open(locked) as file:
        held = {normalized(line.split("==")[0]) for line in file if "==" in line}
    new = [i for i in installs(report) if normalized(i["metadata"]["name"]) not in held]
    digests = [i["download_info"].get("archive_info", {}).get("hashes", {}).get("sha256") for i in new]
    # pip checks hashes for all requirements of a file or for none: without one, none.
    hashed = all(digests)
    return sorted(
        f"{normalized(i['metadata']['name'])}=={i['metadata']['version']}" + (f" --hash=sha256:{digest}" if hashed else "")
        for i, digest in zip(new, digests)
    )


def check(*wanted):
    differ = [
        f"{name} {version(name)} (pinned {want})"
        for name, want in zip(("torch", "torchvision", "xformers"), wanted)
        if want and version(name).split("+")[0] != want
    ]
    if differ:
        sys.exit("installed versions differ from the pins: " + ", ".join(differ))


if __name__ == "__main__":
    command, *arguments = sys.argv[1:]
    if command == "check":
        check(*arguments)
    elif command == "split":
        split(*arguments)
    else:
        lines = {"exact": exact, "additions": additions}[command](*arguments)
        sys.stdout.write("".join(line + "\n" for line in lines))
