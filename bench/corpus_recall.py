"""Recall of convlint on the held-out corpus of faulty PyTorch models (tests/corpus/, each reduced from a public
report, each with a clean twin that runs).

    python bench/corpus_recall.py           # a table per case, then the totals
    python bench/corpus_recall.py --json    # the same as one JSON object

For every case, ``convlint.lint(build, input_shape=..., input_dtype=..., verify=False)`` on the faulty model is
classified as:

- ``found``: an error on the module where eager PyTorch fails (``FAULT_MODULE``, or a module inside it);
- ``elsewhere``: errors, but none on that module;
- ``warning``: no error, but a warning on that module;
- ``missed``: none of these;

and the clean twin is ``clean`` when convlint reports no error on it. Recall = found / cases.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "tests"))

import corpus_cases as cc  # noqa: E402


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", action="store_true", help="print one JSON object instead of the table")
    parser.add_argument("cases", nargs="*", help="case names (default: the whole corpus)")
    args = parser.parse_args(argv)

    import warnings

    warnings.filterwarnings("ignore")
    names = args.cases or cc.case_names()
    start = time.perf_counter()
    verdicts = [cc.judge(n) for n in names]
    seconds = time.perf_counter() - start
    counts = {k: sum(v.outcome == k for v in verdicts) for k in (cc.FOUND, cc.ELSEWHERE, cc.WARNING, cc.MISSED)}
    false_errors = [v.name for v in verdicts if v.clean_errors]
    totals = {"cases": len(verdicts), **counts, "recall": counts[cc.FOUND] / len(verdicts) if verdicts else 0.0,
              "clean_twins_with_errors": len(false_errors), "seconds": round(seconds, 1)}
    if args.json:
        print(json.dumps({"cases": [v.to_json() for v in verdicts], "totals": totals}, indent=2, sort_keys=True))
        return 0
    width = max(len(n) for n in names)
    print(f"{'case':{width}}  {'faulty':9}  {'clean twin':10}  fault module")
    for v in verdicts:
        twin = "clean" if not v.clean_errors else f"{len(v.clean_errors)} error(s)"
        print(f"{v.name:{width}}  {v.outcome:9}  {twin:10}  {v.fault_module or '<root>'}")
    print()
    print(f"cases {totals['cases']}: found {counts['found']}, elsewhere {counts['elsewhere']}, "
          f"warning only {counts['warning']}, missed {counts['missed']}; recall {totals['recall']:.0%}")
    print(f"clean twins with false errors: {len(false_errors)}" + (f" ({', '.join(false_errors)})" if false_errors
                                                                      else ""))
    print(f"({seconds:.1f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
