"""An SBOM generator for BuildKit, for the tests: what the scanner image buildx uses by default
(docker/buildkit-syft-scanner, Syft) does, for the two kinds of packages these images hold.

BuildKit's SBOM generator protocol (moby/buildkit docs/attestations/sbom-protocol.md): the image
runs with the file system to scan at $BUILDKIT_SCAN_SOURCE (read-only), optionally more under
$BUILDKIT_SCAN_SOURCE_EXTRAS, and writes one in-toto statement per file system to
$BUILDKIT_SCAN_DESTINATION/<name>.spdx.json, whose predicate is an SPDX 2.3 document. BuildKit
fills in the subject (the image) and attaches it as an attestation.

Listed: Debian packages (dpkg's status file) and Python distributions (every *.dist-info under a
site-packages or dist-packages directory), each with its package URL (purl).
"""

import hashlib
import json
import os
import sys
import time
from pathlib import Path

TOOL = "iopaint-sbom-scanner-1"


def debian_packages(root):
    status = root / "var/lib/dpkg/status"
    if not status.is_file():
        return []
    packages = []
    for stanza in status.read_text(encoding="utf-8", errors="replace").split("\n\n"):
        fields = {}
        for line in stanza.splitlines():
            if line and not line[0].isspace() and ":" in line:
                key, _, value = line.partition(":")
                fields[key] = value.strip()
        if fields.get("Status", "").endswith(" installed") and "Package" in fields:
            name, version, arch = fields["Package"], fields.get("Version", ""), fields.get("Architecture", "")
            packages.append((name, version, f"pkg:deb/debian/{name}@{version}?arch={arch}"))
    return packages


def python_packages(root):
    packages = []
    for directory in ("usr", "opt"):
        base = root / directory
        if not base.is_dir():
            continue
        for metadata in base.glob("**/*-packages/*.dist-info/METADATA"):
            fields = {}
            for line in metadata.read_text(encoding="utf-8", errors="replace").splitlines():
                if not line:
                    break  # the headers end at the first empty line
                key, _, value = line.partition(":")
                fields.setdefault(key, value.strip())
            if "Name" in fields:
                name, version = fields["Name"], fields.get("Version", "")
                purl_name = name.lower().replace("_", "-").replace(".", "-")
                packages.append((name, version, f"pkg:pypi/{purl_name}@{version}"))
    return packages


def spdx_document(name, packages):
    """SPDX 2.3 JSON, with a namespace and timestamp that depend only on what was found."""
    digest = hashlib.sha256(json.dumps(sorted(packages)).encode()).hexdigest()
    created = time.gmtime(int(os.environ.get("SOURCE_DATE_EPOCH", "0")) or time.time())
    entries = []
    for index, (package, version, purl) in enumerate(sorted(set(packages))):
        entries.append(
            {
                "name": package,
                "SPDXID": f"SPDXRef-Package-{index}",
                "versionInfo": version,
                "downloadLocation": "NOASSERTION",
                "filesAnalyzed": False,
                "externalRefs": [{"referenceCategory": "PACKAGE-MANAGER", "referenceType": "purl", "referenceLocator": purl}],
            }
        )
    return {
        "spdxVersion": "SPDX-2.3",
        "dataLicense": "CC0-1.0",
        "SPDXID": "SPDXRef-DOCUMENT",
        "name": name,
        "documentNamespace": f"https://iopaint.invalid/sbom/{name}-{digest}",
        "creationInfo": {"created": time.strftime("%Y-%m-%dT%H:%M:%SZ", created), "creators": [f"Tool: {TOOL}"]},
        "packages": entries,
        "relationships": [{"spdxElementId": "SPDXRef-DOCUMENT", "relationshipType": "DESCRIBES", "relatedSpdxElement": e["SPDXID"]} for e in entries],
    }


def scan(root, destination):
    root = Path(root)
    document = spdx_document(root.name, debian_packages(root) + python_packages(root))
    statement = {"_type": "https://in-toto.io/Statement/v0.1", "predicateType": "https://spdx.dev/Document", "predicate": document}
    (Path(destination) / f"{root.name}.spdx.json").write_text(json.dumps(statement))
    print(f"{TOOL}: {root.name}: {len(document['packages'])} packages", file=sys.stderr)


def main():
    destination = os.environ["BUILDKIT_SCAN_DESTINATION"]
    scan(os.environ["BUILDKIT_SCAN_SOURCE"], destination)
    extras = Path(os.environ.get("BUILDKIT_SCAN_SOURCE_EXTRAS") or "/nonexistent")
    if extras.is_dir():
        for root in sorted(extras.iterdir()):
            scan(root, destination)


if __name__ == "__main__":
    main()
