#!/usr/bin/env python3
"""Checks that every `docs/<name>.md#<anchor>` cited in the repository's tracked files
names an existing file and one of its headings (GitHub's anchor rules: lower case,
punctuation dropped, spaces to hyphens), and that each `(#anchor)` link inside a
document points at one of its own headings. Run by scripts/lint.sh."""
import re
import subprocess
import sys
from pathlib import Path

CITE = re.compile(r"(docs/[\w\-]+\.md)#([\w\-]+)")
LOCAL = re.compile(r"\]\(#([\w\-]+)\)")


def anchors(md: Path) -> set:
    out = set()
    for line in md.read_text(encoding="utf-8").splitlines():
        m = re.match(r"^#+\s+(.*)", line)
        if m:
            title = re.sub(r"[^\w\- ]", "", m.group(1).strip().lower())
            out.add(title.replace(" ", "-"))
    return out


def main() -> int:
    root = Path(__file__).resolve().parent.parent
    files = subprocess.run(
        ["git", "ls-files"], cwd=root, capture_output=True, text=True, check=True
    ).stdout.split()
    cache = {}
    bad = []
    cited = 0
    for name in files:
        path = root / name
        try:
            text = path.read_text(encoding="utf-8")
        except (UnicodeDecodeError, OSError):
            continue
        for m in CITE.finditer(text):
            cited += 1
            doc, anchor = m.group(1), m.group(2)
            if doc not in cache:
                target = root / doc
                cache[doc] = anchors(target) if target.exists() else None
            if cache[doc] is None:
                bad.append(f"{name}: {doc} does not exist")
            elif anchor not in cache[doc]:
                bad.append(f"{name}: no heading for {doc}#{anchor}")
        if name.endswith(".md"):
            own = anchors(path)
            for m in LOCAL.finditer(text):
                if m.group(1) not in own:
                    bad.append(f"{name}: no heading for #{m.group(1)}")
    for line in bad:
        print(f"doc-links: {line}", file=sys.stderr)
    print(f"doc-links: {cited} citations of docs/*.md#anchor, {len(bad)} broken")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
