#!/usr/bin/env python3
"""Prints THE REGISTER MAP section of meterctl-modbus(1) in scdoc, from meterctl itself.

Usage: register_map.py METERCTL_BINARY

The rows come from `meterctl modbus map --all -o json` (the same rows as `-o csv`, plus the
block each row belongs to and where that block's layout comes from), so the page shows
exactly what meterd can serve. man/meterctl-modbus.1.scd holds this output between the
"; BEGIN REGISTER MAP" and "; END REGISTER MAP" comment lines; man_pages_test.sh fails when
the two differ. To refresh the page after a change to the map:

    tests/docs/register_map.py build/cli/meterctl > /tmp/map.scd
    and paste /tmp/map.scd over the lines between the two markers.

The table is a preformatted block rather than an scdoc table: tbl hyphenates long cells,
and a point name must stay whole to be copied. One space between columns, and descriptions
wrapped under the name, keep every block inside 80 columns once man indents it.
"""

import json
import subprocess
import sys
import textwrap

# man indents a literal block by 11 columns in all; 80 - 11 leaves 69, and 68 keeps a margin.
LINE_WIDTH = 68
COLUMNS = [("REG", "register"), ("ADDR", "address"), ("NAME", "name"), ("TYPE", "type"),
           ("UNIT", "unit"), ("ACCESS", "access")]


def literal(text):
    # scdoc still interprets backslashes inside literal blocks.
    return text.replace("\\", "\\\\")


def block_table(rows):
    widths = [max(len(title), *(len(str(row[key])) for row in rows)) for title, key in COLUMNS]
    description_indent = widths[0] + 1 + widths[1] + 1

    def line(cells):
        return " ".join(str(cell).ljust(width) for cell, width in zip(cells, widths)).rstrip()

    out = ["```", line([title for title, _ in COLUMNS])]
    for row in rows:
        out.append(literal(line([row[key] for _, key in COLUMNS])))
        for part in textwrap.wrap(row["description"], LINE_WIDTH - description_indent):
            out.append(literal(" " * description_indent + part))
    out.append("```")
    return out


def main():
    if len(sys.argv) != 2:
        sys.exit("usage: register_map.py METERCTL_BINARY")
    document = json.loads(subprocess.run([sys.argv[1], "modbus", "map", "--all", "-o", "json"],
                                         check=True, capture_output=True, text=True).stdout)
    out = []
    for block in document["blocks"]:
        rows = [row for row in document["registers"] if row["block"] == block["name"]]
        last = max(row["register"] + row["count"] - 1 for row in rows)
        out += ["", f"## Block {block['name']}: registers {block['first_register']} to {last}", "",
                *textwrap.wrap(f"Origin: {literal(block['origin'])}.", 80), ""]
        out += block_table(rows)
    print("\n".join(out[1:]))


if __name__ == "__main__":
    main()
