"""A real `stepwise serve` as a child process, for the Python integration tests in this folder (python_client_test.py,
python_jobs_test.py).

ServerProcess starts `stepwise serve --listen 127.0.0.1:0 FLAGS...`, echoes its stdout to ours (each line prefixed
with "[server] "), and reads its address and features from its "stepwise serve: listening on HOST:PORT (FEATURES)"
line. stop() sends SIGTERM and kills it after a grace period; stop_cleanly() also fails unless it exited 0 in time.
start_watchdog() gives up on a run that takes too long: it stops every running server and exits at once.

The tests run as scripts and import this module from their own folder.
"""

import os
import queue
import re
import signal
import subprocess
import sys
import threading
import time

LISTENING = re.compile(r"^stepwise serve: listening on (\S+):(\d+) \((.*)\)$")


class ServerProcess:
    """`stepwise serve --listen 127.0.0.1:0 EXTRA_FLAGS...` as a child process (in cwd, if given); its stdout is
    echoed to ours. address ("HOST:PORT") and features (the parenthesised text) are set once it listens."""

    running = []  # every started, not yet stopped server: the watchdog stops them
    _lock = threading.Lock()

    def __init__(self, stepwise, extra_flags=(), *, cwd=None, startup_timeout_s, stop_grace_s):
        self.startup_timeout_s = startup_timeout_s
        self.stop_grace_s = stop_grace_s
        command = [stepwise, "serve", "--listen", "127.0.0.1:0", *extra_flags]
        print("starting:", " ".join(command), flush=True)
        self.process = subprocess.Popen(command, stdout=subprocess.PIPE, text=True, cwd=cwd)
        with ServerProcess._lock:
            ServerProcess.running.append(self)
        self._lines = queue.Queue()
        threading.Thread(target=self._echo_stdout, daemon=True).start()
        self.address, self.features = self._wait_until_listening()

    def _echo_stdout(self):
        for line in self.process.stdout:
            sys.stdout.write("[server] " + line)
            sys.stdout.flush()
            self._lines.put(line.rstrip("\n"))

    def _wait_until_listening(self):
        deadline = time.monotonic() + self.startup_timeout_s
        while time.monotonic() < deadline:
            try:
                line = self._lines.get(timeout=0.2)
            except queue.Empty:
                if self.process.poll() is not None:
                    raise RuntimeError("stepwise serve exited with %d before listening" % self.process.returncode)
                continue
            match = LISTENING.match(line)
            if match:
                return "%s:%s" % (match.group(1), match.group(2)), match.group(3)
        raise RuntimeError("stepwise serve printed no 'listening on' line within %d s" % self.startup_timeout_s)

    def stop(self):
        """SIGTERM, then SIGKILL after stop_grace_s. Returns (exit code, whether it had to be killed)."""
        with ServerProcess._lock:
            if self not in ServerProcess.running:
                return self.process.returncode, False
            ServerProcess.running.remove(self)
        killed = False
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=self.stop_grace_s)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
                killed = True
        return self.process.returncode, killed

    def stop_cleanly(self, announce=False):
        """stop(), failing (as a class clean-up error) unless the server drained and exited 0 after SIGTERM. With
        announce, says that it stops the server and how long the server took to exit."""
        if announce:
            print("stopping the server (SIGTERM)", flush=True)
        started = time.monotonic()
        code, killed = self.stop()
        if killed:
            raise AssertionError("stepwise serve ignored SIGTERM for %d s and was killed" % self.stop_grace_s)
        if code != 0:
            raise AssertionError("stepwise serve exited with %d after SIGTERM (expected 0)" % code)
        if announce:
            print("the server exited 0 after %.1f s" % (time.monotonic() - started), flush=True)


def stop_all_servers():
    """stop() every server still running."""
    for server in list(ServerProcess.running):
        server.stop()


def start_watchdog(timeout_s, what="the servers", before_stopping=None):
    """Starts (and returns, to cancel) a daemon timer that, after timeout_s, says the test did not finish, calls
    before_stopping (if given: e.g. to kill other children), stops every running server and exits 1 at once."""

    def give_up():
        print("\nFAILED: the test did not finish within %d s; stopping %s" % (timeout_s, what), flush=True)
        if before_stopping is not None:
            before_stopping()
        stop_all_servers()
        os._exit(1)

    watchdog = threading.Timer(timeout_s, give_up)
    watchdog.daemon = True
    watchdog.start()
    return watchdog
