#!/usr/bin/python3
"""A real SMTP server for Keyward's mail tests (Debian's python3-aiosmtpd).

    /usr/bin/python3 tests/smtp/sink.py DIR

Listens on 127.0.0.1, a free port, and prints `PORT <n>` once it accepts connections.
Each message's DATA is answered as the file DIR/mode says at that moment:

  accept    (the default) the message is written to DIR/mail-<id>.json (envelope, subject,
            headers and the decoded plain-text body) and answered 250
  stall     nothing is answered until the client goes away; the message is not kept
  tempfail  answered 451 (try again later)
  permfail  answered 550 (refused for good)
  slow      every MAIL, RCPT and DATA answered after 0.7 s (then accepted)

MAIL and RCPT are answered as the mode says, too:

  rejectsender  MAIL FROM answered 550, as a relay refusing the sender
  rejectrcpt    RCPT TO answered 550, naming the address ("<...>: User unknown")

Every DATA also leaves DIR/attempt-<id> holding the mode it met, so tests can count
attempts. Files appear whole (written aside, then renamed). The server exits when its
standard input closes, so it never outlives the test that started it.
"""

import asyncio
import email
import email.policy
import json
import os
import sys
import threading
import uuid

from aiosmtpd.smtp import SMTP


class Sink:
    def __init__(self, folder):
        self.folder = folder

    def mode(self):
        try:
            with open(os.path.join(self.folder, "mode")) as f:
                return f.read().strip() or "accept"
        except FileNotFoundError:
            return "accept"

    def write(self, name, text):
        aside = os.path.join(self.folder, ".tmp-" + uuid.uuid4().hex)
        with open(aside, "w") as f:
            f.write(text)
        os.rename(aside, os.path.join(self.folder, name))

    async def handle_MAIL(self, server, session, envelope, address, mail_options):
        mode = self.mode()
        if mode == "slow":
            await asyncio.sleep(0.7)
        if mode == "rejectsender":
            return "550 5.7.1 <%s>: Sender address rejected: not owned by user ops@relay.test" % address
        envelope.mail_from = address
        envelope.mail_options.extend(mail_options)
        return "250 OK"

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        mode = self.mode()
        if mode == "slow":
            await asyncio.sleep(0.7)
        if mode == "rejectrcpt":
            return "550 5.1.1 <%s>: Recipient address rejected: User unknown" % address
        envelope.rcpt_tos.append(address)
        envelope.rcpt_options.extend(rcpt_options)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        mode = self.mode()
        self.write("attempt-" + uuid.uuid4().hex, mode)
        if mode == "slow":
            await asyncio.sleep(0.7)
        if mode == "stall":
            # Cancelled when the client disconnects; the message is never kept.
            await asyncio.sleep(3600)
            return "451 4.3.0 the test sink stalled"
        if mode == "tempfail":
            return "451 4.3.0 the test sink refuses for now"
        if mode == "permfail":
            return "550 5.7.1 the test sink refuses this for good"
        message = email.message_from_bytes(envelope.original_content or envelope.content,
                                           policy=email.policy.default)
        plain = message.get_body(preferencelist=("plain",))
        record = {
            "mail_from": envelope.mail_from,
            "rcpt_tos": list(envelope.rcpt_tos),
            "subject": str(message.get("subject", "")),
            "headers": [[k, str(v)] for k, v in message.items()],
            "body": plain.get_content() if plain is not None else "",
        }
        self.write("mail-" + uuid.uuid4().hex + ".json", json.dumps(record))
        return "250 OK"


def exit_when_stdin_closes():
    sys.stdin.buffer.read()
    os._exit(0)


def main():
    folder = sys.argv[1]
    os.makedirs(folder, exist_ok=True)
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    handler = Sink(folder)
    server = loop.run_until_complete(
        loop.create_server(lambda: SMTP(handler, hostname="sink.test"), "127.0.0.1", 0)
    )
    port = server.sockets[0].getsockname()[1]
    threading.Thread(target=exit_when_stdin_closes, daemon=True).start()
    print("PORT", port, flush=True)
    loop.run_forever()


if __name__ == "__main__":
    main()
