#!/usr/bin/python3
"""A real SMTP server for Doorloop's tests and benchmarks (Debian's python3-aiosmtpd).

Usage: smtp_sink.py PORT FILE [--raw]

Listens on 127.0.0.1:PORT. Every accepted message is appended to FILE as one JSON line,
decoded with Python's email package: envelope, headers, text, HTML and calendar parts,
attachments. With --raw only the envelope, Message-ID, X-Doorloop-Key and size are kept,
from the headers alone, and nothing is fsynced (for benchmarks). Prints "ready" once it listens.
"""
import asyncio
import json
import os
import signal
import sys
import threading
from email import message_from_bytes
from email.parser import BytesHeaderParser
from email.policy import default

HEADERS = BytesHeaderParser(policy=default)

from aiosmtpd.controller import Controller


class Sink:
    def __init__(self, path, raw, delay):
        self.out = open(path, "a", encoding="utf-8")
        self.raw = raw
        self.delay = delay
        self.lock = threading.Lock()

    async def handle_DATA(self, server, session, envelope):
        if self.delay:
            # A slow server: each message takes this long before its 250.
            await asyncio.sleep(self.delay)
        data = envelope.original_content or envelope.content
        # Raw mode (benchmarks) reads the headers only.
        msg = HEADERS.parsebytes(data) if self.raw else message_from_bytes(data, policy=default)
        record = {
            "mail_from": envelope.mail_from,
            "rcpt_tos": envelope.rcpt_tos,
            "message_id": msg.get("Message-ID"),
            "key": msg.get("X-Doorloop-Key"),
            "size": len(data),
        }
        if not self.raw:
            record.update({
                "from": msg.get("From"),
                "to": msg.get("To"),
                "subject": msg.get("Subject"),
                "text": None,
                "html": None,
                "calendar": None,
                "calendar_method": None,
                "attachments": [],
            })
            for part in msg.walk():
                ctype = part.get_content_type()
                if part.is_multipart():
                    continue
                if part.get_filename():
                    record["attachments"].append({
                        "filename": part.get_filename(),
                        "content_type": ctype,
                        "content": part.get_content() if ctype.startswith("text/") else None,
                    })
                    if ctype == "application/ics":
                        content = part.get_payload(decode=True).decode("utf-8")
                        record["attachments"][-1]["content"] = content
                elif ctype == "text/plain":
                    record["text"] = part.get_content()
                elif ctype == "text/html":
                    record["html"] = part.get_content()
                elif ctype == "text/calendar":
                    record["calendar"] = part.get_content()
                    record["calendar_method"] = part.get_param("method")
        with self.lock:
            self.out.write(json.dumps(record) + "\n")
            self.out.flush()
            if not self.raw:
                # Tests kill the server mid-run: what it acknowledged must be on disk.
                os.fsync(self.out.fileno())
        return "250 OK"


def main():
    port = int(sys.argv[1])
    path = sys.argv[2]
    raw = "--raw" in sys.argv[3:]
    delay = 0.0
    for arg in sys.argv[3:]:
        if arg.startswith("--delay-ms="):
            delay = int(arg.split("=", 1)[1]) / 1000.0
    controller = Controller(Sink(path, raw, delay), hostname="127.0.0.1", port=port)
    controller.start()
    print("ready", flush=True)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    stop.wait()
    controller.stop()


if __name__ == "__main__":
    main()
