#!/usr/bin/env python3
"""Checks that every collective of stepwise goes through distributed/'s role-named modules.

Rules (docs/architecture.md, "Where ranks talk"):
  1. Outside distributed/ (src/, kernels/, bench/), no code calls a Communicator collective
     (all_reduce, reduce_scatter, all_gather, broadcast, barrier) or a generic helper (sum_over_ranks):
     it calls tensor_parallel.h, data_parallel.h or process_grid.h's functions, named by role.
  2. Inside distributed/, collectives on the TP group are called in tensor_parallel.cpp only, and on the DP group
     in data_parallel.cpp only; the backends implement the collectives and process_grid.cpp holds the job-wide ones.
tests/ are exempt: they test the collectives themselves.

Usage: check_collectives.py ROOT   (exit 1 and one line per violation, naming file:line and what to use instead)
       check_collectives.py --self-test   (shows that the check finds violations planted in a scratch tree)
"""
import os
import re
import sys
import tempfile

COLLECTIVE_CALL = re.compile(r"(\.|->)\s*(all_reduce|reduce_scatter|all_gather|broadcast|barrier)\s*\(")
GENERIC_HELPER = re.compile(r"\bsum_over_ranks\s*\(")
SOURCE_SUFFIXES = (".cpp", ".h", ".cu", ".cuh", ".inc")
OUTSIDE = ("src", "kernels", "bench")
# distributed/ files that may call collectives, and on which groups.
ALLOWED_IN_DISTRIBUTED = {
    "tensor_parallel.cpp": "the TP group",
    "data_parallel.cpp": "the DP group",
    "process_grid.cpp": "the world group (job-wide synchronisation)",
    "communicator.cpp": "any group (the generic helpers)",
    "single_process.cpp": "(a backend)",
    "mpi_communicator.cpp": "(a backend)",
    "nccl_communicator.cpp": "(a backend)",
}


def strip_comments(line):
    return line.split("//", 1)[0]


def source_files(root, folder):
    for dirpath, _, names in os.walk(os.path.join(root, folder)):
        for name in sorted(names):
            if name.endswith(SOURCE_SUFFIXES):
                yield os.path.join(dirpath, name)


def violations(root):
    found = []
    for folder in OUTSIDE:
        for path in source_files(root, folder):
            for number, line in enumerate(open(path, encoding="utf-8", errors="replace"), 1):
                code = strip_comments(line)
                if COLLECTIVE_CALL.search(code) or GENERIC_HELPER.search(code):
                    found.append(f"{os.path.relpath(path, root)}:{number}: a collective called outside distributed/; "
                                 "use the role-named functions of distributed/tensor_parallel.h (TP), "
                                 "data_parallel.h (DP) or process_grid.h (the whole job)")
    for path in source_files(root, "distributed"):
        name = os.path.basename(path)
        if name in ALLOWED_IN_DISTRIBUTED:
            continue
        for number, line in enumerate(open(path, encoding="utf-8", errors="replace"), 1):
            if COLLECTIVE_CALL.search(strip_comments(line)):
                found.append(f"{os.path.relpath(path, root)}:{number}: a collective in distributed/{name}; TP "
                             "collectives belong in tensor_parallel.cpp, DP ones in data_parallel.cpp")
    return found


def self_test():
    planted = {
        "src/model/bad_model.cpp": "void f(Communicator& tp, Tensor& x) { tp.all_reduce(x, ReduceOp::kSum); }\n",
        "src/train/bad_loop.cpp": "double g(Communicator* dp) { return sum_over_ranks(*dp, 1.0); }\n",
        "kernels/bad_kernel.h": "inline void h(Group& g) { g.tp->barrier(); }\n",
        "distributed/bad_helper.cpp": "void k(Communicator& tp, Tensor& t) { tp.broadcast(t, 0); }\n",
        "src/model/fine.cpp": "// tp.all_reduce(x) in a comment is fine\nvoid ok() { reduce_row_parallel_output(tp, y); }\n",
        "distributed/tensor_parallel.cpp": "void r(Communicator& tp, Tensor& y) { tp.all_reduce(y, ReduceOp::kSum); }\n",
    }
    with tempfile.TemporaryDirectory() as root:
        for rel, text in planted.items():
            os.makedirs(os.path.dirname(os.path.join(root, rel)), exist_ok=True)
            with open(os.path.join(root, rel), "w") as f:
                f.write(text)
        found = violations(root)
    expected = {"src/model/bad_model.cpp:1", "src/train/bad_loop.cpp:1", "kernels/bad_kernel.h:1",
                "distributed/bad_helper.cpp:1"}
    got = {v.split(": ", 1)[0] for v in found}
    if got != expected:
        print(f"self-test: expected violations at {sorted(expected)}, found {sorted(got)}")
        return 1
    print(f"self-test: the check finds all {len(expected)} planted violations and nothing else")
    return 0


def main():
    if sys.argv[1:] == ["--self-test"]:
        return self_test()
    if len(sys.argv) != 2:
        print(__doc__)
        return 2
    found = violations(sys.argv[1])
    for v in found:
        print(v)
    if not found:
        print("every collective goes through distributed/'s modules")
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main())
