#!/usr/bin/env python3
"""The book's answer grader, as an independent check of stepwise's C++ grader (src/eval/answer*.h).

Provenance: a re-implementation of extract_final_candidate, normalize_text, sympy_parser, equality_check,
split_into_parts and grade_answer from rasbt/reasoning-from-scratch, reasoning_from_scratch/ch03.py (Apache-2.0),
written for this project from reading that file; it imports nothing but sympy (Debian: python3-sympy).

Usage: book_grader.py FILE.json [OUT.jsonl]: grades a JSON array of {"answer", "prediction"} as the book does
(the prediction's last \\boxed{}, else its last number, else its whole text) and prints {"total", "correct"};
OUT.jsonl gets one line per item: index, extracted, correct.
"""
import json
import re
import sys
from tokenize import TokenError

from sympy import simplify
from sympy.core.sympify import SympifyError
from sympy.parsing import sympy_parser as spp
from sympy.polys.polyerrors import PolynomialError

NUMBER = re.compile(r"-?(?:\d+/\d+|\d+(?:\.\d+)?(?:[eE][+-]?\d+)?)")
LATEX_FIXES = [(r"\\left\s*", ""), (r"\\right\s*", ""), (r"\\,|\\!|\\;|\\:", ""), (r"\\cdot", "*"),
               ("\u00B7|\u00D7", "*"), (r"\\\^\\circ", ""), (r"\\dfrac", r"\\frac"), (r"\\tfrac", r"\\frac"),
               ("°", "")]
SPECIAL = re.compile(r"<\|[^>]+?\|>")
SUPERSCRIPTS = {"⁰": "0", "¹": "1", "²": "2", "³": "3", "⁴": "4", "⁵": "5", "⁶": "6", "⁷": "7", "⁸": "8", "⁹": "9",
                "⁺": "+", "⁻": "-", "⁽": "(", "⁾": ")"}


def last_boxed(text):
    start = text.rfind(r"\boxed")
    if start < 0:
        return None
    i = start + len(r"\boxed")
    while i < len(text) and text[i].isspace():
        i += 1
    if i >= len(text) or text[i] != "{":
        return None
    i += 1
    depth, begin = 1, i
    while i < len(text) and depth > 0:
        depth += {"{": 1, "}": -1}.get(text[i], 0)
        i += 1
    return text[begin:i - 1] if depth == 0 else None


def extract(text):
    if not text:
        return ""
    boxed = last_boxed(text.strip())
    if boxed:
        return boxed.strip().strip("$ ")
    numbers = NUMBER.findall(text)
    return numbers[-1] if numbers else text


def superscripts(s, base=None):
    out = "".join(SUPERSCRIPTS.get(ch, ch) for ch in s)
    return out if base is None else f"{base}**{out}"


def normalize(text):
    if not text:
        return ""
    text = SPECIAL.sub("", text).strip()
    m = re.match(r"^[A-Za-z]\s*[.:]\s*(.+)$", text)
    if m:
        text = m.group(1)
    text = re.sub(r"\^\s*\{\s*\\circ\s*\}", "", text)
    text = re.sub(r"\^\s*\\circ", "", text).replace("°", "")
    m = re.match(r"^\\text\{(?P<x>.+?)\}$", text)
    if m:
        text = m.group("x")
    text = re.sub(r"\\\(|\\\)|\\\[|\\\]", "", text)
    for pattern, replacement in LATEX_FIXES:
        text = re.sub(pattern, replacement, text)
    text = re.sub(r"([0-9A-Za-z\)\]\}])([⁰¹²³⁴⁵⁶⁷⁸⁹⁺⁻]+)", lambda m: superscripts(m.group(2), m.group(1)), text)
    text = superscripts(text)
    text = text.replace("\\%", "%").replace("$", "").replace("%", "")
    text = re.sub(r"\\sqrt\s*\{([^}]*)\}", lambda m: f"sqrt({m.group(1)})", text)
    text = re.sub(r"\\sqrt\s+([^\\\s{}]+)", lambda m: f"sqrt({m.group(1)})", text)
    text = re.sub(r"\\frac\s*\{([^{}]+)\}\s*\{([^{}]+)\}", lambda m: f"({m.group(1)})/({m.group(2)})", text)
    text = re.sub(r"\\frac\s+([^\s{}]+)\s+([^\s{}]+)", lambda m: f"({m.group(1)})/({m.group(2)})", text)
    text = text.replace("^", "**")
    text = re.sub(r"(?<=\d)\s+(\d+/\d+)", lambda m: "+" + m.group(1), text)
    text = re.sub(r"(?<=\d),(?=\d\d\d(\D|$))", "", text)
    return text.replace("{", "").replace("}", "").strip().lower()


def parse(expr):
    if expr is None or len(expr) > 2000:
        return None
    try:
        return spp.parse_expr(expr, transformations=(*spp.standard_transformations,
                                                     spp.implicit_multiplication_application), evaluate=True)
    except (SympifyError, SyntaxError, TypeError, AttributeError, IndexError, TokenError, ValueError,
            PolynomialError):
        return None


def equal(truth, pred):
    if truth == pred:
        return True
    a, b = parse(truth), parse(pred)
    if a is not None and b is not None:
        try:
            return simplify(a - b) == 0
        except (SympifyError, TypeError):
            pass
    return False


def parts(text):
    if not text:
        return []
    if len(text) >= 2 and text[0] in "([" and text[-1] in ")]" and "," in text[1:-1]:
        items = [p.strip() for p in text[1:-1].split(",")]
        if all(items):
            return items
    return [text]


def grade(pred, truth):
    if pred is None or truth is None:
        return False
    t, p = parts(normalize(truth)), parts(normalize(pred))
    return bool(t and p and len(t) == len(p) and all(equal(a, b) for a, b in zip(t, p)))


def main():
    items = json.load(open(sys.argv[1], encoding="utf-8"))
    lines, correct = [], 0
    for i, item in enumerate(items):
        extracted = extract(item["prediction"])
        ok = grade(extracted, item["answer"])
        correct += ok
        lines.append(json.dumps({"index": i, "extracted": extracted, "correct": ok}))
    if len(sys.argv) > 2:
        with open(sys.argv[2], "w", encoding="utf-8") as out:
            out.write("\n".join(lines) + "\n")
    print(json.dumps({"total": len(items), "correct": correct}))


if __name__ == "__main__":
    main()
