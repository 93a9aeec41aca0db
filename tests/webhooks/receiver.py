#!/usr/bin/env python3
"""A webhook receiver for Keyward's webhook tests, verifying as a real receiver would with
the reference `standardwebhooks` package (PyPI; .ci/run installs it into
tests/webhooks/.venv).

    tests/webhooks/.venv/bin/python tests/webhooks/receiver.py DIR SECRET

Listens on 127.0.0.1, a free port, and prints `PORT <n>` once it accepts connections.
Each POST is verified with `standardwebhooks.Webhook(SECRET).verify(body, headers)` and
written to DIR/delivery-<n>.json: its path, the headers webhook-id, webhook-timestamp and
webhook-signature, the body, and `verified` (true, or the verification error's words).
It answers as the file DIR/mode says at that moment (DIR/mode_<path>, for a path such as
/hanging DIR/mode_hanging, says it for that path alone):

  accept    (the default) 204
  fail      500
  redirect  302 to DIR/location's URL (http://127.0.0.1:1/ by default)
  hang      nothing for 15 s (past Keyward's 10 s limit for an attempt), then 204; it
            stops waiting early when Keyward closes the connection
  slow      204 after DIR/delay seconds (0.5 by default)

Requests in flight are counted per path, from the request's arrival until just before
its answer (or until Keyward closes a hanging one): each delivery's record holds
`in_flight`, the count per path when it arrived (itself included), and DIR/concurrency.json
holds the highest count per path seen so far.

The receiver's clock, which the reference library reads to refuse timestamps more than
5 minutes old (or ahead), is the real one moved forward by DIR/clock-offset seconds (0 by
default): a test that moves the server's clock minutes forward moves the receiver's
alike, as two machines whose clocks agree would see minutes pass.

A file DIR/secret, when present, replaces SECRET (a test that rotates it). Files appear
whole (written aside, then renamed). The receiver exits when its standard input closes.
"""

import http.server
import json
import os
import select
import socket
import sys
import threading

import time
from datetime import datetime, timedelta

import standardwebhooks.webhooks as reference
from standardwebhooks.webhooks import Webhook


def main():
    folder, secret = sys.argv[1], sys.argv[2]
    count = [0]
    lock = threading.Lock()
    in_flight = {}
    highest = {}

    def write_whole(name, text):
        aside = os.path.join(folder, "." + name)
        with open(aside, "w") as f:
            f.write(text)
        os.rename(aside, os.path.join(folder, name))

    def arrived(path):
        """Counts a request in; the counts per path at its arrival."""
        with lock:
            in_flight[path] = in_flight.get(path, 0) + 1
            if in_flight[path] > highest.get(path, 0):
                highest[path] = in_flight[path]
                write_whole("concurrency.json", json.dumps(highest))
            return dict(in_flight)

    def answered(path):
        with lock:
            in_flight[path] -= 1

    def read(name, default):
        try:
            with open(os.path.join(folder, name)) as f:
                return f.read().strip() or default
        except FileNotFoundError:
            return default

    class ReceiverClock(datetime):
        """The clock the reference library's timestamp check reads."""

        @classmethod
        def now(cls, tz=None):
            offset = float(read("clock-offset", "0"))
            return datetime.now(tz) + timedelta(seconds=offset)

    reference.datetime = ReceiverClock

    class Handler(http.server.BaseHTTPRequestHandler):
        def log_message(self, *args):
            pass

        def closed_by_peer(self):
            readable, _, _ = select.select([self.connection], [], [], 0.1)
            if not readable:
                return False
            try:
                return self.connection.recv(1, socket.MSG_PEEK) == b""
            except OSError:
                return True

        def do_POST(self):
            try:
                self.handle_post()
            finally:
                if getattr(self, "counted", False):
                    answered(self.path)
                    self.counted = False

        def handle_post(self):
            seen = arrived(self.path)
            self.counted = True
            length = int(self.headers.get("content-length") or 0)
            body = self.rfile.read(length)
            headers = {k.lower(): v for k, v in self.headers.items()}
            try:
                Webhook(read("secret", secret)).verify(body, headers)
                verified = True
            except Exception as e:  # the reference library's refusal, in its words
                verified = "%s: %s" % (type(e).__name__, e)
            with lock:
                count[0] += 1
                n = count[0]
            record = {
                "path": self.path,
                "webhook_id": headers.get("webhook-id"),
                "webhook_timestamp": headers.get("webhook-timestamp"),
                "webhook_signature": headers.get("webhook-signature"),
                "body": body.decode("utf-8", "replace"),
                "verified": verified,
                "in_flight": seen,
            }
            aside = os.path.join(folder, ".delivery-%06d" % n)
            with open(aside, "w") as f:
                json.dump(record, f)
            os.rename(aside, os.path.join(folder, "delivery-%06d.json" % n))
            mode = read("mode" + self.path.replace("/", "_"), read("mode", "accept"))
            if mode == "slow":
                time.sleep(float(read("delay", "0.5")))
            if mode != "hang":
                # Counted out before the answer: Keyward cannot start its next attempt
                # to this path until it has the answer.
                answered(self.path)
                self.counted = False
            if mode == "fail":
                self.send_response(500)
                self.send_header("content-length", "5")
                self.end_headers()
                self.wfile.write(b"oops\n")
            elif mode == "redirect":
                self.send_response(302)
                self.send_header("location", read("location", "http://127.0.0.1:1/"))
                self.send_header("content-length", "0")
                self.end_headers()
            elif mode == "hang":
                until = time.monotonic() + 15
                while time.monotonic() < until and not self.closed_by_peer():
                    pass
                answered(self.path)
                self.counted = False
                try:
                    self.send_response(204)
                    self.end_headers()
                except OSError:
                    pass  # Keyward stopped waiting, as it should
            else:
                self.send_response(204)
                self.end_headers()

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    print("PORT %d" % server.server_address[1], flush=True)
    sys.stdin.read()
    server.shutdown()


if __name__ == "__main__":
    main()
