"""Integration test of the Python client (clients/python/stepwise_client.py) against a real `stepwise serve`.

Run by ctest (tests/serve/CMakeLists.txt, test serve_python_client):

    python3 tests/serve/python_client_test.py --stepwise build/bin/stepwise \\
        --model tests/data/fixtures/qwen3-tiny-a --python-path build/python [unittest arguments, e.g. -k Streaming]

It starts the server itself on a free loopback port (read from its "listening on HOST:PORT" line) and checks, over
the client: 16 concurrent greedy requests give the tokens `stepwise generate` gives for the same prompts; seeded
sampling with n=2 gives generate's samples; Generate streams; ListModels, GetMetrics; invalid requests are refused
with INVALID_ARGUMENT naming the field; and, on a second server, the bearer token and TLS with a client certificate.
The fixture has no tokenizer, so every prompt is token ids. Servers are stopped with SIGTERM (killed after 10 s) and
must exit 0 within that time; the whole run gives up after 120 s. Exits non-zero on any failure.
"""

import argparse
import concurrent.futures
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import unittest

import grpc

TESTS_DIR = os.path.dirname(os.path.abspath(__file__))
if TESTS_DIR not in sys.path:  # stepwise_server.py is beside this file
    sys.path.insert(0, TESTS_DIR)
from stepwise_server import ServerProcess, start_watchdog, stop_all_servers  # noqa: E402

CLIENT_DIR = os.path.join(TESTS_DIR, "..", "..", "clients", "python")
VOCAB_SIZE = 1000  # the fixture's vocab_size
CONTEXT_LENGTH = 256  # its max_position_embeddings
MODEL_NAME = "qwen3-tiny-a"  # the served name: the folder's
OVERALL_TIMEOUT_S = 120
STARTUP_TIMEOUT_S = 60
CALL_TIMEOUT_S = 60
STOP_GRACE_S = 10


def start_server(*extra_flags):
    """`stepwise serve --listen 127.0.0.1:0 --model MODEL EXTRA_FLAGS...`, once it listens."""
    return ServerProcess(ARGS.stepwise, ["--model", ARGS.model, *extra_flags], startup_timeout_s=STARTUP_TIMEOUT_S,
                         stop_grace_s=STOP_GRACE_S)


GENERATE_PROCESSES = set()  # `stepwise generate` children still running: the watchdog kills them
GENERATE_LOCK = threading.Lock()


def kill_generate_processes():
    """For the watchdog, before it stops the servers."""
    with GENERATE_LOCK:
        for process in GENERATE_PROCESSES:
            process.kill()


def reference_generations(prompt_ids, max_tokens, *extra_flags):
    """The token id arrays `stepwise generate` prints for a prompt (one per sample)."""
    command = [ARGS.stepwise, "generate", "--model", ARGS.model, "--prompt-ids", ",".join(map(str, prompt_ids)),
               "--max-new-tokens", str(max_tokens), "--ignore-eos", *extra_flags]
    with subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) as process:
        with GENERATE_LOCK:
            GENERATE_PROCESSES.add(process)
        try:
            stdout, stderr = process.communicate(timeout=CALL_TIMEOUT_S)
        finally:
            process.kill()  # a no-op once it has exited
            with GENERATE_LOCK:
                GENERATE_PROCESSES.discard(process)
    if process.returncode != 0:
        raise RuntimeError("%s failed (%d): %s" % (" ".join(command), process.returncode, stderr))
    return [json.loads(line) for line in stdout.splitlines() if line.strip()]


def random_prompt(rng, max_length):
    return [rng.randrange(VOCAB_SIZE) for _ in range(rng.randint(1, max_length))]


class PlainServerTest(unittest.TestCase):
    """One plaintext server without a token, shared by the tests of this class."""

    CONCURRENT_REQUESTS = 16

    @classmethod
    def setUpClass(cls):
        rng = random.Random(ARGS.seed)
        cls.cases = []  # (prompt_ids, max_tokens): prompt + max_tokens fits the context
        for _ in range(cls.CONCURRENT_REQUESTS):
            cls.cases.append((random_prompt(rng, 64), rng.randint(1, 128)))
        # The references first, before the server competes for the CPUs.
        with concurrent.futures.ThreadPoolExecutor(max_workers=4) as pool:
            cls.expected = list(pool.map(lambda case: reference_generations(*case)[0], cls.cases))
        cls.sampled_prompt = random_prompt(rng, 16)
        cls.expected_samples = reference_generations(
            cls.sampled_prompt, 24, "--temperature", "0.8", "--top-p", "0.9", "--seed", "5", "--samples", "2")
        cls.server = start_server()
        cls.addClassCleanup(cls.server.stop_cleanly)
        cls.client = StepwiseClient(cls.server.address)
        cls.addClassCleanup(cls.client.close)

    def test_concurrent_greedy_requests_equal_generate(self):
        start = threading.Barrier(len(self.cases))

        def run(case):
            prompt_ids, max_tokens = case
            start.wait(timeout=CALL_TIMEOUT_S)
            return self.client.generate_text(prompt_ids=prompt_ids, max_tokens=max_tokens, ignore_eos=True,
                                             timeout=CALL_TIMEOUT_S)

        with concurrent.futures.ThreadPoolExecutor(max_workers=len(self.cases)) as pool:
            results = list(pool.map(run, self.cases))
        for i, ((prompt_ids, max_tokens), expected, samples) in enumerate(zip(self.cases, self.expected, results)):
            with self.subTest(request=i, prompt_tokens=len(prompt_ids), max_tokens=max_tokens):
                self.assertEqual(len(samples), 1)
                sample = samples[0]
                self.assertEqual(sample["token_ids"], expected)
                self.assertEqual(sample["finish_reason"], "length")
                self.assertEqual(sample["prompt_tokens"], len(prompt_ids))
                self.assertEqual(sample["completion_tokens"], max_tokens)
                self.assertEqual(sample["text"], "")  # no tokenizer: no text

    def test_seeded_samples_equal_generate(self):
        samples = self.client.generate_text(prompt_ids=self.sampled_prompt, max_tokens=24, ignore_eos=True,
                                            temperature=0.8, top_p=0.9, seed=5, n=2, timeout=CALL_TIMEOUT_S)
        self.assertEqual([s["index"] for s in samples], [0, 1])
        self.assertEqual([s["token_ids"] for s in samples], self.expected_samples)

    def test_generate_streams_chunks(self):
        arrivals = []  # (monotonic time, response)
        for response in self.client.generate(prompt_ids=list(range(1, 9)), max_tokens=200, ignore_eos=True,
                                             timeout=CALL_TIMEOUT_S):
            arrivals.append((time.monotonic(), response))
        self.assertGreater(len(arrivals), 1, "200 tokens came in one response")
        self.assertLess(arrivals[0][0], arrivals[-1][0], "the first response did not arrive before the last")
        self.assertEqual(sum(len(r.token_ids) for _, r in arrivals), 200)
        self.assertEqual([r.finish_reason for _, r in arrivals[:-1]], [""] * (len(arrivals) - 1))
        last = arrivals[-1][1]
        self.assertEqual(last.finish_reason, "length")
        self.assertEqual((last.usage.prompt_tokens, last.usage.completion_tokens), (8, 200))

    def test_list_models_names_the_model(self):
        models = self.client.list_models(timeout=CALL_TIMEOUT_S)
        self.assertEqual([m.name for m in models], [MODEL_NAME])
        self.assertEqual(models[0].context_length, CONTEXT_LENGTH)
        self.assertEqual(models[0].state, "ready")

    def assert_invalid_argument(self, naming, **request):
        with self.assertRaises(grpc.RpcError) as raised:
            self.client.generate_text(timeout=CALL_TIMEOUT_S, **request)
        self.assertEqual(raised.exception.code(), grpc.StatusCode.INVALID_ARGUMENT, raised.exception.details())
        self.assertIn(naming, raised.exception.details())

    def test_request_without_input_is_invalid(self):
        self.assert_invalid_argument("prompt_ids", max_tokens=4)

    def test_token_id_outside_the_vocabulary_is_invalid(self):
        self.assert_invalid_argument("prompt_ids[2]", prompt_ids=[1, 2, VOCAB_SIZE, 3], max_tokens=4)
        self.assert_invalid_argument("prompt_ids[0]", prompt_ids=[-1], max_tokens=4)

    def test_request_past_the_context_is_invalid(self):
        self.assert_invalid_argument("max_tokens", prompt_ids=[1] * 100, max_tokens=CONTEXT_LENGTH - 99)

    def test_text_prompt_without_tokenizer_is_invalid(self):
        self.assert_invalid_argument("prompt", prompt="hello", max_tokens=4)

    def test_metrics_count_requests(self):
        self.client.generate_text(prompt_ids=[5, 6, 7], max_tokens=2, ignore_eos=True, timeout=CALL_TIMEOUT_S)
        text = self.client.metrics(timeout=CALL_TIMEOUT_S)
        self.assertIn("stepwise_requests_total", text)
        self.assertRegex(text, r'(?m)^stepwise_requests_total\{code="OK"\} [1-9]')


@unittest.skipUnless(shutil.which("openssl"), "needs the openssl command to make a certificate")
class SecuredServerTest(unittest.TestCase):
    """A server with a bearer token and TLS requiring a client certificate (a self-signed one serves as the server's
    certificate, the client CA and the client's certificate)."""

    TOKEN = "test-token-7f3a"

    @classmethod
    def setUpClass(cls):
        folder = tempfile.mkdtemp(prefix="stepwise_python_client_")
        cls.addClassCleanup(shutil.rmtree, folder)
        cert, key, token = (os.path.join(folder, name) for name in ("cert.pem", "key.pem", "token.txt"))
        subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
                        "-nodes", "-keyout", key, "-out", cert, "-days", "2", "-subj", "/CN=localhost",
                        "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost"],
                       check=True, capture_output=True, timeout=CALL_TIMEOUT_S)
        with open(token, "w", encoding="utf-8") as f:
            f.write(cls.TOKEN + "\n")
        with open(cert, "rb") as f:
            cls.cert = f.read()
        with open(key, "rb") as f:
            cls.key = f.read()
        cls.server = start_server("--auth-token-file", token, "--tls-cert", cert, "--tls-key", key,
                                  "--tls-client-ca", cert)
        cls.addClassCleanup(cls.server.stop_cleanly)

    def call_list_models(self, **client_options):
        with StepwiseClient(self.server.address, **client_options) as client:
            return client.list_models(timeout=CALL_TIMEOUT_S)

    def tls(self, **extra):
        return dict(root_certificates=self.cert, private_key=self.key, certificate_chain=self.cert, **extra)

    def assert_refused(self, code, **client_options):
        with self.assertRaises(grpc.RpcError) as raised:
            self.call_list_models(**client_options)
        self.assertEqual(raised.exception.code(), code, raised.exception.details())

    def test_server_says_tls_and_token(self):
        self.assertIn("TLS", self.server.features)
        self.assertIn("bearer token", self.server.features)

    def test_token_and_client_certificate_are_accepted(self):
        self.assertEqual([m.name for m in self.call_list_models(**self.tls(token=self.TOKEN))], [MODEL_NAME])
        with StepwiseClient(self.server.address, **self.tls(token=self.TOKEN)) as client:
            samples = client.generate_text(prompt_ids=[3, 1, 4], max_tokens=5, ignore_eos=True,
                                           timeout=CALL_TIMEOUT_S)
            self.assertEqual(len(samples[0]["token_ids"]), 5)
            self.assertIn("stepwise_requests_total", client.metrics(timeout=CALL_TIMEOUT_S))

    def test_pem_as_text_is_accepted(self):
        options = dict(token=self.TOKEN, root_certificates=self.cert.decode(), private_key=self.key.decode(),
                       certificate_chain=self.cert.decode())
        self.assertEqual(len(self.call_list_models(**options)), 1)

    def test_missing_or_wrong_token_is_unauthenticated(self):
        self.assert_refused(grpc.StatusCode.UNAUTHENTICATED, **self.tls())
        self.assert_refused(grpc.StatusCode.UNAUTHENTICATED, **self.tls(token=self.TOKEN + "x"))

    def test_plaintext_or_no_client_certificate_cannot_connect(self):
        self.assert_refused(grpc.StatusCode.UNAVAILABLE, token=self.TOKEN)
        self.assert_refused(grpc.StatusCode.UNAVAILABLE, token=self.TOKEN, root_certificates=self.cert)


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--stepwise", required=True, help="the stepwise binary")
    parser.add_argument("--model", required=True, help="the model folder to serve (tests/data/fixtures/qwen3-tiny-a)")
    parser.add_argument("--python-path", required=True, help="<build>/python: the generated stepwise.v1 modules")
    parser.add_argument("--seed", type=int, default=20261130, help="the random prompts' seed")
    return parser.parse_known_args()


def main(unittest_args):
    watchdog = start_watchdog(OVERALL_TIMEOUT_S, before_stopping=kill_generate_processes)
    try:
        program = unittest.main(argv=[sys.argv[0], "-v", *unittest_args], exit=False)
    finally:
        stop_all_servers()
        watchdog.cancel()
    return 0 if program.result.wasSuccessful() else 1


if __name__ == "__main__":
    ARGS, UNITTEST_ARGS = parse_args()
    sys.path[:0] = [ARGS.python_path, CLIENT_DIR]
    from stepwise_client import StepwiseClient

    sys.exit(main(UNITTEST_ARGS))
