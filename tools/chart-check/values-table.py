#!/usr/bin/env python3
"""The values table of the chart's README, made from values.yaml and its "# -- " comments.

A key preceded by a "# -- text" comment (continued by further "#" lines) gets a row with that
text; a map so described is one row, an undescribed map is walked into. The first item of a list
of maps (workers) stands for all items, as "workers[].key".

  values-table.py VALUES_YAML                   print the table
  values-table.py VALUES_YAML --check README    exit 1 if README's table (between the
                                                values-table markers) is not this table
  values-table.py VALUES_YAML --write README    replace README's table with this one
"""
import json
import re
import sys

import yaml

BEGIN, END = "<!-- values-table:begin -->", "<!-- values-table:end -->"
KEY = re.compile(r"^(\s*)(- )?([A-Za-z_][\w.-]*):(\s|$)")


def descriptions(lines):
    """{path: description} from "# -- " comments; path elements joined by '.'."""
    found, stack, pending, in_comment = {}, [], None, False
    skipping_below = None  # indent under which later list items are skipped
    for line in lines:
        stripped = line.strip()
        if stripped.startswith("#"):
            text = stripped.lstrip("#").strip()
            if text.startswith("-- "):
                pending, in_comment = text[3:], True
            elif in_comment and text:
                pending += " " + text
            continue
        in_comment = False
        m = KEY.match(line)
        if not m:
            if stripped:
                pending = None
            continue
        indent = len(m.group(1))
        if m.group(2):  # "- key:" starts a list item; its keys sit two columns further in
            parent_indent = indent
            indent += 2
            while stack and stack[-1][0] >= indent:
                stack.pop()
            if stack and stack[-1][2] > 0:
                skipping_below = parent_indent
            if stack:
                stack[-1] = (stack[-1][0], stack[-1][1], stack[-1][2] + 1)
        if skipping_below is not None:
            if indent > skipping_below:
                pending = None
                continue
            skipping_below = None
        while stack and stack[-1][0] >= indent:
            stack.pop()
        parents = [s[1] for s in stack]
        key = m.group(3)
        path = ".".join(parents + [key])
        if pending:
            found[path] = pending
        pending = None
        stack.append((indent, key if not m.group(2) else key, 0))
        if m.group(2):
            # the item's first key: re-root it under "<list>[]"
            stack[-1] = (indent, key, 0)
    return found


def rows(values, described):
    out = []

    def walk(value, path):
        description = described.get(path.replace("[]", ""), "")
        if isinstance(value, dict) and value and not description:
            for key, child in value.items():
                walk(child, f"{path}.{key}" if path else key)
            return
        if isinstance(value, list) and value and isinstance(value[0], dict) and not description:
            for key, child in value[0].items():
                walk(child, f"{path}[].{key}")
            return
        out.append((path, json.dumps(value), description))

    walk(values, "")
    return out


def table(values_path):
    with open(values_path) as f:
        text = f.read()
    values = yaml.safe_load(text)
    described = descriptions(text.splitlines())
    lines = ["| key | default | description |", "|---|---|---|"]
    for path, default, description in rows(values, described):
        default = default.replace("|", "\\|")
        description = description.replace("|", "/").replace("<", "&lt;").replace(">", "&gt;")
        lines.append(f"| `{path}` | `{default}` | {description} |")
    return "\n".join(lines)


def main():
    if len(sys.argv) not in (2, 4):
        sys.exit(__doc__)
    generated = table(sys.argv[1])
    if len(sys.argv) == 2:
        print(generated)
        return
    mode, readme = sys.argv[2], sys.argv[3]
    with open(readme) as f:
        text = f.read()
    if BEGIN not in text or END not in text:
        sys.exit(f"{readme}: no {BEGIN} ... {END} section")
    head, rest = text.split(BEGIN, 1)
    current, tail = rest.split(END, 1)
    if mode == "--check":
        if current.strip() != generated.strip():
            sys.exit(f"{readme}: the values table is out of date; run "
                     f"tools/chart-check/values-table.py {sys.argv[1]} --write {readme}")
        print("values table up to date")
    elif mode == "--write":
        with open(readme, "w") as f:
            f.write(f"{head}{BEGIN}\n{generated}\n{END}{tail}")
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main()
