#!/usr/bin/env python3
"""A webhook receiver for Keyward's webhook tests, verifying as a real receiver would with
the reference `standardwebhooks` package (PyPI; .ci/run installs it into
tests/webhooks/.venv).

    tests/webhooks/.venv/bin/python tests/webhooks/receiver.py DIR SECRET

Listens on 127.0.0.1, a free port, and prints `PORT <n>` once it accepts connections.
Each POST is verified with `standardwebhooks.Webhook(SECRET).verify(body, headers)` and
written to DIR/delivery-<n>.json: its path, the headers webhook-id, webhook-timestamp and
webhook-signature, the body, and `verified` (true, or the verification error's words).
It answers as the file DIR/mode says at that moment:

  accept    (the default) 204
  fail      500
  redirect  302 to DIR/location's URL (http://127.0.0.1:1/ by default)
  hang      nothing for 15 s (past Keyward's 10 s limit for an attempt), then 204

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

        def do_POST(self):
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
            }
            aside = os.path.join(folder, ".delivery-%06d" % n)
            with open(aside, "w") as f:
                json.dump(record, f)
            os.rename(aside, os.path.join(folder, "delivery-%06d.json" % n))
            mode = read("mode", "accept")
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
                time.sleep(15)
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
