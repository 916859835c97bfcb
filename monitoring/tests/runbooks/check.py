#!/usr/bin/env python3
"""Check that the runbooks and the alerting rules agree.

Usage:
    check.py [--repo DIR] [--no-yaml]     check the repository (default: three levels up)
    check.py --self-test                   prove that every check can fail

Checks (each prints `ok` or `FAIL` lines under its name; exit 1 when one fails):

  rules           every monitoring/prometheus/rules/*.yml parses and every alert has a name
  alert-has-page  every alert name has runbooks/<AlertName>.md
  page-has-alert  every runbooks/*.md except README.md is named after an alert
  runbook-url     every alert has a runbook_url annotation, it starts with RUNBOOK_BASE,
                  and what follows is an existing page, the alert's own (<AlertName>.md)
  sections        every page starts with `# <AlertName>` and has exactly the sections
                  Meaning, Impact, Diagnosis, Mitigation, Escalation (`## ` headings), in
                  that order, none of them empty
  index           runbooks/README.md has an index table row for every page, with a link to
                  it and the severities the rules give that alert
  links           every relative link of every page and of the README points at an existing
                  file or directory inside the repository, and a `#anchor` into a Markdown
                  file at an existing heading (GitHub's anchor rules)

Headings and links inside fenced code blocks and inline code are ignored, so a shell
comment (`# ...`) in a code block is not a heading.

The rule files are read with PyYAML when it is installed (Debian: python3-yaml), else with a
minimal line parser that understands what rule files use (`- alert:`, `labels:`
`severity:`, `annotations:` `runbook_url:`, block scalars). --no-yaml forces the line
parser; --self-test runs every case with both parsers when PyYAML is there, and checks
that they agree on the repository's own rule files.
"""

import argparse
import glob
import os
import re
import shutil
import sys
import tempfile

try:
    import yaml  # python3-yaml
except ImportError:  # pragma: no cover - depends on the host
    yaml = None

RUNBOOK_BASE = "https://github.com/provisioner/provisioner/blob/main/runbooks/"
SECTIONS = ["Meaning", "Impact", "Diagnosis", "Mitigation", "Escalation"]
RULES_GLOB = ("monitoring/prometheus/rules/*.yml", "monitoring/prometheus/rules/*.yaml")
CHECKS = ["rules", "alert-has-page", "page-has-alert", "runbook-url", "sections", "index",
          "links"]


# ==========================================================================================
# Rule files
# ==========================================================================================


class Alert:
    """What the rule files say about one alert name (it may be defined several times)."""

    def __init__(self, name):
        self.name = name
        self.severities = set()
        self.runbook_urls = set()
        self.definitions = []  # "file:line" or "file" of each rule with this name
        self.missing_url = []  # definitions without a runbook_url

    def key(self):
        return (self.name, tuple(sorted(self.severities)), tuple(sorted(self.runbook_urls)),
                len(self.definitions), len(self.missing_url))


def _add_rule(alerts, errors, where, name, severity, url):
    if not isinstance(name, str) or not name.strip():
        errors.append(f"{where}: an alerting rule without a name")
        return
    a = alerts.setdefault(name, Alert(name))
    a.definitions.append(where)
    if severity is not None:
        a.severities.add(str(severity))
    if url is None:
        a.missing_url.append(where)
    else:
        a.runbook_urls.add(str(url))


def parse_rules_yaml(path, rel, alerts, errors):
    try:
        with open(path, encoding="utf-8") as f:
            doc = yaml.safe_load(f)
    except (OSError, yaml.YAMLError) as e:
        errors.append(f"{rel}: cannot parse: {str(e).splitlines()[0]}")
        return
    if not isinstance(doc, dict) or not isinstance(doc.get("groups"), list):
        errors.append(f"{rel}: no `groups:` list")
        return
    for gi, group in enumerate(doc["groups"]):
        rules = group.get("rules") if isinstance(group, dict) else None
        if not isinstance(rules, list):
            errors.append(f"{rel}: group {gi} has no `rules:` list")
            continue
        for rule in rules:
            if not isinstance(rule, dict) or "alert" not in rule:
                continue  # a recording rule
            labels = rule.get("labels") or {}
            annotations = rule.get("annotations") or {}
            _add_rule(alerts, errors, rel, rule.get("alert"),
                      labels.get("severity") if isinstance(labels, dict) else None,
                      annotations.get("runbook_url") if isinstance(annotations, dict) else None)


def _scalar(text):
    """A plain or quoted one-line YAML scalar, trailing comment removed."""
    text = text.strip()
    if text[:1] in ("'", '"'):
        q = text[0]
        end = text.find(q, 1)
        while q == "'" and end != -1 and text[end + 1:end + 2] == "'":
            end = text.find(q, end + 2)
        if end == -1:
            return text[1:]
        body = text[1:end]
        return body.replace("''", "'") if q == "'" else body
    return re.sub(r"\s+#.*$", "", text).strip()


BLOCK_SCALAR = re.compile(r":\s*[|>][-+0-9]*\s*(#.*)?$")
RULE_ITEM = re.compile(r"^(\s*)-\s+(alert|record):(.*)$")
KEY = re.compile(r"^(\s*)(?:-\s+)?([A-Za-z_][A-Za-z0-9_]*):(.*)$")


def parse_rules_lines(path, rel, alerts, errors):
    """The minimal parser: enough for Prometheus rule files as they are written here."""
    try:
        with open(path, encoding="utf-8") as f:
            lines = f.read().splitlines()
    except OSError as e:
        errors.append(f"{rel}: cannot read: {e}")
        return
    current = None  # [where, name, severity, url, item_indent]
    section = None  # "labels" / "annotations" / None, with its indent
    section_indent = -1
    block_indent = None  # inside a block scalar: lines more indented than this

    def flush():
        if current is not None and current[1] is not None:
            _add_rule(alerts, errors, current[0], current[1], current[2], current[3])

    for i, line in enumerate(lines, 1):
        stripped = line.strip()
        indent = len(line) - len(line.lstrip(" "))
        if block_indent is not None:
            if not stripped or indent > block_indent:
                continue
            block_indent = None
        if not stripped or stripped.startswith("#"):
            continue
        m = RULE_ITEM.match(line)
        if m:
            flush()
            kind = m.group(2)
            name = _scalar(m.group(3)) if kind == "alert" else None
            current = [f"{rel}:{i}", name, None, None, len(m.group(1))]
            section, section_indent = None, -1
            if kind == "alert" and not name:
                errors.append(f"{rel}:{i}: an alerting rule without a name")
                current = None
            continue
        if current is not None and indent <= current[4]:
            # A line at the rule item's indentation or less ends the rule.
            flush()
            current = None
        m = KEY.match(line)
        if m and BLOCK_SCALAR.search(line):
            block_indent = len(m.group(1))
        if current is None or not m:
            continue
        key, value = m.group(2), m.group(3)
        key_indent = len(m.group(1))
        if section is not None and key_indent <= section_indent:
            section, section_indent = None, -1
        if key in ("labels", "annotations") and not value.strip():
            section, section_indent = key, key_indent
            continue
        if key in ("labels", "annotations") and value.strip().startswith("{"):
            # A flow mapping on one line: labels: {severity: critical, team: x}
            want = "severity" if key == "labels" else "runbook_url"
            body = re.sub(r"\s+#.*$", "", value.strip())
            for item in body.strip("{} ").split(","):
                k, sep, v = item.partition(":")
                if sep and k.strip().strip("'\"") == want:
                    current[2 if key == "labels" else 3] = _scalar(v)
            continue
        if BLOCK_SCALAR.search(line):
            continue
        if section == "labels" and key == "severity":
            current[2] = _scalar(value)
        elif section == "annotations" and key == "runbook_url":
            current[3] = _scalar(value)
    flush()


def load_alerts(repo, use_yaml):
    alerts, errors, files = {}, [], []
    for pattern in RULES_GLOB:
        files.extend(sorted(glob.glob(os.path.join(repo, pattern))))
    if not files:
        errors.append(f"no rule files match {' or '.join(RULES_GLOB)}")
    for path in files:
        rel = os.path.relpath(path, repo)
        if use_yaml:
            parse_rules_yaml(path, rel, alerts, errors)
        else:
            parse_rules_lines(path, rel, alerts, errors)
    if files and not alerts and not errors:
        errors.append("the rule files define no alert")
    return alerts, errors, files


# ==========================================================================================
# Markdown
# ==========================================================================================

FENCE = re.compile(r"^ {0,3}(`{3,}|~{3,})")
ATX = re.compile(r"^ {0,3}(#{1,6})(?:[ \t]+(.*?))?[ \t]*#*[ \t]*$")


def markdown_lines(text):
    """(line number, line, in_code) for every line; fence lines count as code."""
    out = []
    fence = None
    for n, line in enumerate(text.splitlines(), 1):
        m = FENCE.match(line)
        if fence is None and m:
            fence = m.group(1)[0] * len(m.group(1))
            out.append((n, line, True))
            continue
        if fence is not None:
            if m and m.group(1)[0] == fence[0] and len(m.group(1)) >= len(fence) \
                    and not line.strip()[len(m.group(1)):].strip():
                fence = None
            out.append((n, line, True))
            continue
        out.append((n, line, False))
    return out


def headings(text):
    """(line number, level, text) of the ATX headings outside code blocks."""
    out = []
    for n, line, code in markdown_lines(text):
        if code:
            continue
        m = ATX.match(line)
        if m:
            out.append((n, len(m.group(1)), (m.group(2) or "").strip()))
    return out


def strip_inline_code(line):
    return re.sub(r"(`+)(.+?)\1", lambda m: " " * len(m.group(0)), line)


def github_slug(text):
    """The id GitHub gives a heading (github-slugger): markup dropped, lowercased,
    punctuation removed, spaces to hyphens."""
    text = re.sub(r"!?\[([^\]]*)\]\([^)]*\)", r"\1", text)  # links and images: their text
    text = re.sub(r"<[^>]+>", "", text)  # inline HTML
    text = text.replace("`", "")
    text = text.lower()
    text = re.sub(r"[^\w\- ]", "", text)
    return text.replace(" ", "-")


def anchors(text):
    seen = {}
    out = set()
    for _, _, title in headings(text):
        slug = github_slug(title)
        if slug in seen:
            seen[slug] += 1
            out.add(f"{slug}-{seen[slug]}")
        else:
            seen[slug] = 0
            out.add(slug)
    for _, line, code in markdown_lines(text):
        if not code:
            for m in re.finditer(r"<a\s+(?:name|id)=\"([^\"]+)\"", line):
                out.add(m.group(1))
    return out


LINK = re.compile(r"(?<!\\)!?\[(?:[^\[\]]|\[[^\]]*\])*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
REF_DEF = re.compile(r"^ {0,3}\[[^\]]+\]:\s*<?(\S+?)>?(?:\s+\"[^\"]*\")?\s*$")


def links(text):
    """(line number, target) of the links outside code blocks and inline code."""
    out = []
    for n, line, code in markdown_lines(text):
        if code:
            continue
        plain = strip_inline_code(line)
        for m in LINK.finditer(plain):
            out.append((n, m.group(1)))
        m = REF_DEF.match(plain)
        if m:
            out.append((n, m.group(1)))
    return out


def table_rows(text, section_title):
    """The cells of the table rows under `## section_title` (outside code blocks)."""
    rows = []
    inside = False
    for n, line, code in markdown_lines(text):
        if code:
            continue
        m = ATX.match(line)
        if m:
            inside = len(m.group(1)) == 2 and (m.group(2) or "").strip() == section_title
            continue
        if inside and line.lstrip().startswith("|"):
            cells = [c.strip() for c in re.split(r"(?<!\\)\|", line.strip().strip("|"))]
            if all(re.fullmatch(r":?-{3,}:?", c) for c in cells if c):
                continue  # the delimiter row
            rows.append((n, cells))
    return rows


# ==========================================================================================
# Checks
# ==========================================================================================


class Report:
    def __init__(self):
        self.failures = {c: [] for c in CHECKS}
        self.notes = {c: "" for c in CHECKS}

    def fail(self, check, message):
        self.failures[check].append(message)

    def ok(self):
        return not any(self.failures.values())

    def failed_checks(self):
        return {c for c, f in self.failures.items() if f}

    def print(self, out=sys.stdout):
        for c in CHECKS:
            if self.failures[c]:
                for f in self.failures[c]:
                    print(f"FAIL {c}: {f}", file=out)
            else:
                print(f"ok   {c}{': ' + self.notes[c] if self.notes[c] else ''}", file=out)


def read(path):
    with open(path, encoding="utf-8") as f:
        return f.read()


def run_checks(repo, use_yaml):
    r = Report()
    repo = os.path.realpath(repo)
    book = os.path.join(repo, "runbooks")

    # rules
    alerts, errors, files = load_alerts(repo, use_yaml)
    for e in errors:
        r.fail("rules", e)
    r.notes["rules"] = (f"{len(alerts)} alerts in {len(files)} files "
                        f"({'PyYAML' if use_yaml else 'line parser'})")

    pages = {}
    if os.path.isdir(book):
        for path in sorted(glob.glob(os.path.join(book, "*.md"))):
            name = os.path.basename(path)[:-3]
            if name != "README":
                pages[name] = path
    else:
        r.fail("alert-has-page", "there is no runbooks/ directory")

    # alert-has-page
    for name in sorted(alerts):
        if name not in pages:
            r.fail("alert-has-page", f"alert {name} ({alerts[name].definitions[0]}) has no "
                   f"page runbooks/{name}.md")
    r.notes["alert-has-page"] = f"{len(alerts)} alerts, {len(pages)} pages"

    # page-has-alert
    for name in sorted(pages):
        if name not in alerts:
            r.fail("page-has-alert", f"runbooks/{name}.md belongs to no alert of the rule files")

    # runbook-url
    n_urls = 0
    for name in sorted(alerts):
        a = alerts[name]
        for where in a.missing_url:
            r.fail("runbook-url", f"alert {name} ({where}) has no runbook_url annotation")
        for url in sorted(a.runbook_urls):
            n_urls += 1
            if not url.startswith(RUNBOOK_BASE):
                r.fail("runbook-url", f"alert {name}: runbook_url {url} does not start with "
                       f"{RUNBOOK_BASE}")
                continue
            rest = url[len(RUNBOOK_BASE):]
            target = os.path.join(book, rest)
            if "/" in rest or "#" in rest or not rest.endswith(".md") or \
                    not os.path.isfile(target):
                r.fail("runbook-url", f"alert {name}: runbook_url {url} names no page "
                       f"(runbooks/{rest} does not exist)")
            elif rest != f"{name}.md":
                r.fail("runbook-url", f"alert {name}: runbook_url {url} points at {rest}, not "
                       f"at its own page {name}.md")
    r.notes["runbook-url"] = f"{n_urls} distinct URLs"

    # sections
    for name, path in sorted(pages.items()):
        rel = os.path.relpath(path, repo)
        text = read(path)
        hs = headings(text)
        if not hs or hs[0][1] != 1 or hs[0][2] != name:
            first = f"'{'#' * hs[0][1]} {hs[0][2]}'" if hs else "no heading"
            r.fail("sections", f"{rel}: the first heading must be '# {name}', found {first}")
        if sum(1 for h in hs if h[1] == 1) > 1:
            r.fail("sections", f"{rel}: more than one '# ' title")
        h2 = [h for h in hs if h[1] == 2]
        titles = [h[2] for h in h2]
        if titles != SECTIONS:
            r.fail("sections", f"{rel}: sections are {titles}, expected exactly {SECTIONS} "
                   "in this order")
        lines = text.splitlines()
        for i, (n, _, title) in enumerate(h2):
            end = h2[i + 1][0] - 1 if i + 1 < len(h2) else len(lines)
            body = "\n".join(lines[n:end])
            body = re.sub(r"<!--.*?-->", "", body, flags=re.S)
            if not body.strip():
                r.fail("sections", f"{rel}:{n}: section '## {title}' is empty")
    r.notes["sections"] = f"{len(pages)} pages, {len(SECTIONS)} sections each"

    # index
    readme = os.path.join(book, "README.md")
    if not os.path.isfile(readme):
        r.fail("index", "runbooks/README.md does not exist")
    else:
        rows = table_rows(read(readme), "Index")
        listed = {}
        for n, cells in rows:
            for _, target in links(" | ".join(cells)):
                target = target.split("#", 1)[0]
                if target.endswith(".md") and "/" not in target and target != "README.md":
                    listed.setdefault(target[:-3], []).append((n, cells))
        for name in sorted(pages):
            if name not in listed:
                r.fail("index", f"the index of runbooks/README.md has no row linking {name}.md")
                continue
            for n, cells in listed[name]:
                if not cells or name not in cells[0]:
                    r.fail("index", f"runbooks/README.md:{n}: the row linking {name}.md does not "
                           f"name {name} in its first column")
                if name in alerts and alerts[name].severities:
                    given = set(re.findall(r"\b(critical|warning|info)\b",
                                           cells[1] if len(cells) > 1 else ""))
                    want = alerts[name].severities
                    if given != want:
                        r.fail("index", f"runbooks/README.md:{n}: {name} has severity "
                               f"{', '.join(sorted(given)) or 'none'} in the index, "
                               f"{', '.join(sorted(want))} in the rules")
        r.notes["index"] = f"{len(listed)} pages listed"

    # links
    n_links = 0
    docs = list(pages.values()) + ([readme] if os.path.isfile(readme) else [])
    for path in docs:
        rel = os.path.relpath(path, repo)
        text = read(path)
        for n, target in links(text):
            if re.match(r"^[a-zA-Z][a-zA-Z0-9+.-]*:", target):
                continue  # https:, mailto: ...
            n_links += 1
            file_part, _, anchor = target.partition("#")
            dest = path if not file_part else \
                os.path.realpath(os.path.join(os.path.dirname(path), file_part))
            if not (dest == repo or dest.startswith(repo + os.sep)):
                r.fail("links", f"{rel}:{n}: {target} points outside the repository")
                continue
            if not os.path.exists(dest):
                r.fail("links", f"{rel}:{n}: {target}: {os.path.relpath(dest, repo)} does not "
                       "exist")
                continue
            if anchor and dest.endswith(".md") and os.path.isfile(dest):
                if anchor not in anchors(read(dest)):
                    r.fail("links", f"{rel}:{n}: {target}: no heading with the anchor #{anchor} in "
                           f"{os.path.relpath(dest, repo)}")
    r.notes["links"] = f"{n_links} relative links"
    return r


# ==========================================================================================
# Self-test
# ==========================================================================================

FIXTURE_RULES_A = """\
groups:
  - name: a
    rules:
      - record: job:x:rate5m
        expr: sum(rate(x[5m]))
      # A comment that says runbook_url: nothing
      - alert: Alpha
        expr: |
          up == 0
          # severity: fake, inside a block scalar
        for: 5m
        labels:
          severity: critical
        annotations:
          summary: Alpha.
          description: >-
            Text that mentions runbook_url: https://example.com/x.md and severity: info.
          runbook_url: https://github.com/provisioner/provisioner/blob/main/runbooks/Alpha.md
      - alert: Beta
        expr: vector(1)
        labels:
          severity: warning
          long: 1d
        annotations:
          summary: "Beta."
          runbook_url: 'https://github.com/provisioner/provisioner/blob/main/runbooks/Beta.md'
      - alert: Beta
        expr: vector(2)
        labels: {severity: critical}
        annotations:
          runbook_url: https://github.com/provisioner/provisioner/blob/main/runbooks/Beta.md  # same page
"""

FIXTURE_RULES_B = """\
groups:
  - name: b
    rules:
      - alert: Gamma
        expr: vector(1)
        labels:
          severity: warning
        annotations:
          runbook_url: https://github.com/provisioner/provisioner/blob/main/runbooks/Gamma.md
"""

FIXTURE_DOC = """\
# Guide

## Section one

## `POST /api/v1/jobs/{id}/cancel`

## Section one
"""


def fixture_page(name, extra=""):
    return f"""\
# {name}

## Meaning

{name} fires when things break. See [the guide](../docs/guide.md#section-one) and
[the cancel call](../docs/guide.md#post-apiv1jobsidcancel){extra}.

```sh
# a shell comment, not a heading
echo "[not a link](nowhere.md)"
```

## Impact

Something breaks.

## Diagnosis

Run `curl -s "$API/health" | jq`, see `[x](also-not-a-link.md)`.

## Mitigation

1. Fix it. The [second anchor](../docs/guide.md#section-one-1) and [the index](README.md#index).

## Escalation

Call `<provisioner-maintainers>`; the [rules](../monitoring/prometheus/rules/).
"""


FIXTURE_README = """\
# Runbooks

## Index

| Alert | Severity | Meaning | Runbook |
|---|---|---|---|
| `Alpha` | critical | Alpha. | [Alpha](Alpha.md) |
| `Beta` | critical, warning | Beta. | [Beta](Beta.md) |
| `Gamma` | warning | Gamma \\| pipes. | [Gamma](Gamma.md) |

## Adding a page

Copy [Alpha](Alpha.md).
"""


def write(path, text):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w", encoding="utf-8") as f:
        f.write(text)


def make_fixture(root):
    write(os.path.join(root, "monitoring/prometheus/rules/a.yml"), FIXTURE_RULES_A)
    write(os.path.join(root, "monitoring/prometheus/rules/b.yml"), FIXTURE_RULES_B)
    write(os.path.join(root, "docs/guide.md"), FIXTURE_DOC)
    write(os.path.join(root, "runbooks/README.md"), FIXTURE_README)
    for name in ("Alpha", "Beta", "Gamma"):
        write(os.path.join(root, f"runbooks/{name}.md"), fixture_page(name))


def edit(path, old, new, count=1):
    text = read(path)
    if old not in text:
        raise AssertionError(f"self-test: {old!r} not in {path}")
    write(path, text.replace(old, new, count))


def swap_sections(path, a, b):
    text = read(path)
    ia, ib = text.index(f"## {a}\n"), text.index(f"## {b}\n")
    assert ia < ib
    # Sections a and b are adjacent in the fixture: a..b and b..next.
    nxt = text.index("\n## ", ib + 1) + 1
    write(path, text[:ia] + text[ib:nxt] + text[ia:ib] + text[nxt:])


# (name, expected failing check, mutation of the fixture at root, PyYAML only)
MUTATIONS = [
    ("an alert without a page", "alert-has-page",
     lambda root: os.remove(os.path.join(root, "runbooks/Gamma.md")), False),
    ("a page without an alert", "page-has-alert",
     lambda root: write(os.path.join(root, "runbooks/Delta.md"), fixture_page("Delta")), False),
    ("a runbook_url naming no page", "runbook-url",
     lambda root: edit(os.path.join(root, "monitoring/prometheus/rules/b.yml"),
                       "runbooks/Gamma.md", "runbooks/Nope.md"), False),
    ("a runbook_url with another base URL", "runbook-url",
     lambda root: edit(os.path.join(root, "monitoring/prometheus/rules/b.yml"),
                       "https://github.com/provisioner/provisioner/blob/main/runbooks/",
                       "https://example.com/runbooks/"), False),
    ("a runbook_url pointing at another alert's page", "runbook-url",
     lambda root: edit(os.path.join(root, "monitoring/prometheus/rules/b.yml"),
                       "runbooks/Gamma.md", "runbooks/Alpha.md"), False),
    ("an alert without runbook_url", "runbook-url",
     lambda root: edit(os.path.join(root, "monitoring/prometheus/rules/a.yml"),
                       "          runbook_url: https://github.com/provisioner/provisioner/blob/"
                       "main/runbooks/Beta.md  # same page\n", ""), False),
    ("a missing section", "sections",
     lambda root: edit(os.path.join(root, "runbooks/Beta.md"), "## Impact\n\nSomething breaks.\n\n",
                       ""), False),
    ("sections out of order", "sections",
     lambda root: swap_sections(os.path.join(root, "runbooks/Beta.md"), "Diagnosis",
                                "Mitigation"), False),
    ("an empty section", "sections",
     lambda root: edit(os.path.join(root, "runbooks/Beta.md"), "\nSomething breaks.\n",
                       "\n<!-- to do -->\n"), False),
    ("an extra section", "sections",
     lambda root: edit(os.path.join(root, "runbooks/Beta.md"), "## Escalation",
                       "## Notes\n\nMore.\n\n## Escalation"), False),
    ("a wrong title", "sections",
     lambda root: edit(os.path.join(root, "runbooks/Beta.md"), "# Beta\n", "# Beta alert\n"),
     False),
    ("a page missing from the index", "index",
     lambda root: edit(os.path.join(root, "runbooks/README.md"),
                       "| `Gamma` | warning | Gamma \\| pipes. | [Gamma](Gamma.md) |\n", ""), False),
    ("a wrong severity in the index", "index",
     lambda root: edit(os.path.join(root, "runbooks/README.md"), "| critical, warning |",
                       "| warning |"), False),
    ("an index row naming another alert", "index",
     lambda root: edit(os.path.join(root, "runbooks/README.md"), "| `Gamma` | warning",
                       "| `Gama` | warning"), False),
    ("a link to a missing file", "links",
     lambda root: edit(os.path.join(root, "runbooks/Alpha.md"), "(../docs/guide.md#section-one)",
                       "(../docs/gide.md#section-one)"), False),
    ("a link to a missing anchor", "links",
     lambda root: edit(os.path.join(root, "runbooks/Alpha.md"), "(../docs/guide.md#section-one)",
                       "(../docs/guide.md#section-two)"), False),
    ("a link to a missing anchor of the same page", "links",
     lambda root: edit(os.path.join(root, "runbooks/Gamma.md"), "Something breaks.",
                       "See [below](#mitigations)."), False),
    ("a link out of the repository", "links",
     lambda root: edit(os.path.join(root, "runbooks/Alpha.md"), "[the index](README.md#index)",
                       "[the index](../../outside/README.md)"), False),
    ("a broken link in the README", "links",
     lambda root: edit(os.path.join(root, "runbooks/README.md"), "Copy [Alpha](Alpha.md).",
                       "Copy [Alpha](Alpah.md)."), False),
    ("an alert without a name", "rules",
     lambda root: edit(os.path.join(root, "monitoring/prometheus/rules/b.yml"),
                       "- alert: Gamma", "- alert: ''"), False),
    ("a rule file that is not YAML", "rules",
     lambda root: write(os.path.join(root, "monitoring/prometheus/rules/c.yml"),
                        "groups:\n  - name: c\n    rules: [\n"), True),
    ("no rule files at all", "rules",
     lambda root: shutil.rmtree(os.path.join(root, "monitoring/prometheus/rules")), False),
]


def self_test(repo):
    parsers = [True, False] if yaml is not None else [False]
    problems = []
    cases = 0
    with tempfile.TemporaryDirectory(prefix="runbooks-selftest-") as tmp:
        for use_yaml in parsers:
            label = "PyYAML" if use_yaml else "line parser"
            base = os.path.join(tmp, f"base-{int(use_yaml)}")
            make_fixture(base)
            r = run_checks(base, use_yaml)
            cases += 1
            if not r.ok():
                problems.append(f"[{label}] the good fixture fails: "
                                f"{sorted(r.failed_checks())}")
                r.print(sys.stderr)
            alerts, _, _ = load_alerts(base, use_yaml)
            want = {"Alpha": {"critical"}, "Beta": {"critical", "warning"}, "Gamma": {"warning"}}
            got = {n: a.severities for n, a in alerts.items()}
            if got != want:
                problems.append(f"[{label}] fixture alerts {got}, expected {want}")
            for i, (what, check, mutate, yaml_only) in enumerate(MUTATIONS):
                if yaml_only and not use_yaml:
                    continue
                root = os.path.join(tmp, f"case-{int(use_yaml)}-{i}")
                make_fixture(root)
                mutate(root)
                r = run_checks(root, use_yaml)
                cases += 1
                if check not in r.failed_checks():
                    problems.append(f"[{label}] {what}: check '{check}' did not fail "
                                    f"(failed: {sorted(r.failed_checks()) or 'none'})")
                else:
                    first = r.failures[check][0]
                    print(f"ok   [{label}] {what}: FAIL {check}: {first}")
    # The two parsers agree on the repository's own rule files.
    if yaml is not None and repo is not None:
        a_yaml, e_yaml, _ = load_alerts(repo, True)
        a_lines, e_lines, _ = load_alerts(repo, False)
        if e_yaml or e_lines:
            problems.append(f"repository rule files: PyYAML errors {e_yaml}, line parser "
                            f"errors {e_lines}")
        ky = {k: v.key() for k, v in a_yaml.items()}
        kl = {k: v.key() for k, v in a_lines.items()}
        if ky != kl:
            diff = sorted(set(ky.items()) ^ set(kl.items()))
            problems.append(f"the parsers disagree on the repository's rule files: {diff}")
        else:
            print(f"ok   both parsers read the same {len(ky)} alerts from the repository's "
                  "rule files")
    for p in problems:
        print(f"FAIL self-test: {p}", file=sys.stderr)
    print(f"self-test: {cases} cases, {len(problems)} problem(s)")
    return 0 if not problems else 1


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--repo", default=os.path.normpath(os.path.join(here, "..", "..", "..")))
    ap.add_argument("--no-yaml", action="store_true", help="use the line parser even if "
                    "PyYAML is installed")
    ap.add_argument("--self-test", action="store_true")
    args = ap.parse_args()
    if args.self_test:
        return self_test(args.repo)
    use_yaml = yaml is not None and not args.no_yaml
    r = run_checks(args.repo, use_yaml)
    r.print()
    if not r.ok():
        n = sum(len(f) for f in r.failures.values())
        print(f"runbooks: {n} problem(s) in {len(r.failed_checks())} check(s)", file=sys.stderr)
        return 1
    print("runbooks: all checks passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
