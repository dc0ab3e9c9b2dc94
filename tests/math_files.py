"""Small MATH- and GSM8K-format files, written by the tests (the real ones are the user's)."""

from __future__ import annotations

import json
from pathlib import Path

SUBJECTS = ("Algebra", "Counting & Probability", "Number Theory")


def math_records(n: int = 60) -> list[dict]:
    records = []
    for i in range(n):
        a, b = i + 2, i % 7 + 1
        if i % 3 == 1:  # a fraction: math-verify must take 0.5 for \frac{1}{2}
            solution = f"Divide: $\\frac{{{a}}}{{{2 * a}}} = \\boxed{{\\frac{{1}}{{2}}}}$."
            problem = f"Simplify $\\frac{{{a}}}{{{2 * a}}}$."
        else:
            solution = f"We multiply: ${a} \\cdot {b} = \\boxed{{{a * b}}}$."
            problem = f"What is ${a} \\cdot {b}$?"
        records.append({"problem": problem, "solution": solution, "type": SUBJECTS[i % 3], "level": f"Level {i % 5 + 1}"})
    return records


def gsm8k_records(n: int = 30) -> list[dict]:
    """Two kinds of word problem, alternating: fruit bought (a sum) and a train's journey (a quotient)."""
    records = []
    for i in range(n):
        if i % 2:
            records.append({"question": f"A train travels {60 * (i + 1)} km at 60 km per hour on the railway. "
                                        f"How many hours does the journey take?",
                            "answer": f"It takes {60 * (i + 1)}/60=<<{60 * (i + 1)}/60={i + 1}>>{i + 1} hours.\n#### {i + 1}"})
        else:
            records.append({"question": f"Tom has {i} apples and buys {i + 3} more at the market. How many apples "
                                        f"does he have?",
                            "answer": f"He has {i}+{i + 3}=<<{i}+{i + 3}={2 * i + 3}>>{2 * i + 3} apples.\n#### {2 * i + 3}"})
    return records


def write_math_files(folder: Path) -> dict[str, str]:
    """{"math": a jsonl of MATH records, "gsm8k": a json list of GSM8K records}."""
    folder.mkdir(parents=True, exist_ok=True)
    math_path, gsm8k_path = folder / "math.jsonl", folder / "gsm8k.json"
    math_path.write_text("".join(json.dumps(r) + "\n" for r in math_records()))
    gsm8k_path.write_text(json.dumps(gsm8k_records()))
    return {"math": str(math_path), "gsm8k": str(gsm8k_path)}
