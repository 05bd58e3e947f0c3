#!/usr/bin/env python3
"""stepwise's grader against the book's (tests/eval/book_grader.py, an independent sympy implementation) on the two
MATH-500 answer files of tests/data/reasoning: every item the book grades correct must be graded correct by
`stepwise eval grade`, except the reviewed items below, where the book is wrong. Prints both graders' counts, the
plain string match's, and every disagreement.

Usage: book_agreement_test.py --stepwise BIN --data DIR (tests/data/reasoning)
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import book_grader  # noqa: E402

# (file, index): why the book's "correct" is wrong there.
BOOK_WRONG = {
    ("math500_gpt_answers.json", 305): r"\frac919 is 9/1 * 9 in LaTeX (one-token arguments), not 9/19",
    ("math500_qwen3_answers.json", 307): "(-inf, 0) is open at 0, the reference (-inf, 0] closed",
    ("math500_qwen3_answers.json", 356): "[-sqrt3, sqrt3) is closed at -sqrt3, the reference open",
}


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--stepwise", required=True)
    parser.add_argument("--data", required=True)
    args = parser.parse_args()
    failures = []
    with tempfile.TemporaryDirectory() as tmp:
        for name in ("math500_gpt_answers.json", "math500_qwen3_answers.json"):
            path = os.path.join(args.data, name)
            items = json.load(open(path))
            details = os.path.join(tmp, name + ".jsonl")
            run = subprocess.run([args.stepwise, "eval", "grade", "--input", path, "--details", details],
                                 capture_output=True, text=True, check=False)
            if run.returncode != 0:
                print(run.stdout, run.stderr)
                return 1
            summary = json.loads(run.stdout.strip().splitlines()[-1])
            ours = [json.loads(line) for line in open(details)]
            book = [book_grader.grade(book_grader.extract(item["prediction"]), item["answer"]) for item in items]
            print(f"{name}: ours {summary['correct']}/{summary['total']}, book {sum(book)}, "
                  f"string match {summary['string_match_correct']}")
            for i, (o, b) in enumerate(zip(ours, book)):
                if o["correct"] == b:
                    continue
                known = BOOK_WRONG.get((name, i))
                verdict = "ours only" if o["correct"] else "book only"
                print(f"  #{i} {verdict}: answer {items[i]['answer']!r}, extracted {o['extracted']!r}"
                      + (f" (reviewed: {known})" if known else ""))
                if b and not o["correct"] and not known:
                    failures.append(f"{name} #{i}")
            for (file, index), why in BOOK_WRONG.items():
                if file == name and not (book[index] and not ours[index]["correct"]):
                    failures.append(f"{name} #{index}: listed as the book's mistake ({why}) but the graders agree")
    if failures:
        print("the book grades these correct and stepwise does not:", ", ".join(failures))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
