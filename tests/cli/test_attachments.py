"""`dispatch mail attachments` and `dispatch mail attachment`: listed, streamed to stdout,
saved to a file or a directory; bad ids refused before any request, unknown ones 404."""

from __future__ import annotations

import email.policy
import os
import subprocess
from email.message import EmailMessage
from pathlib import Path

from tests.cli.conftest import DISPATCH, Shell
from tests.helpers import smtp_send

DATA = os.urandom(700_000)


def test_list_stream_and_save(shell: Shell, tmp_path: Path) -> None:
    address = shell.run("signup").json()["inbox"]["address"]
    message = EmailMessage()
    message["From"] = "bot@acme.test"
    message["To"] = address
    message["Subject"] = "files"
    message.set_content("attached")
    message.add_attachment(DATA, maintype="application", subtype="zip", filename="../a b.zip")
    message.add_attachment(b"<b>x</b>", maintype="text", subtype="html", filename="CON.html")
    smtp_send("127.0.0.1", shell.dev.smtp_port, address, message.as_bytes(policy=email.policy.SMTP))
    message_id = shell.run("mail", "wait", "--timeout", "30").json()["id"]

    listed = shell.run("mail", "attachments", message_id).json()
    assert [(a["id"], a["filename"], a["size_bytes"]) for a in listed] == [
        (0, "a b.zip", len(DATA)),
        (1, "_CON.html", 8),
    ]
    table = shell.run("mail", "attachments", message_id, "-o", "table")
    assert "a b.zip" in table.stdout and "application/zip" in table.stdout

    streamed = subprocess.run(
        [DISPATCH, "mail", "attachment", message_id, "0"],
        env=shell.env(),
        capture_output=True,
        timeout=60,
    )
    assert streamed.returncode == 0 and streamed.stdout == DATA

    saved = shell.run("mail", "attachment", message_id, "0", "--save", str(tmp_path)).json()
    assert saved["path"] == str(tmp_path / "a b.zip")
    assert (tmp_path / "a b.zip").read_bytes() == DATA
    shell.run("mail", "attachment", message_id, "1", "--save", str(tmp_path / "x.html")).json()
    assert (tmp_path / "x.html").read_bytes() == b"<b>x</b>"

    for bad in ("-1", "one", "1.5"):
        refused = shell.run("mail", "attachment", message_id, bad)
        assert refused.status == 2 and "ATTACHMENT_ID" in refused.stderr, refused.stderr
    missing = shell.run("mail", "attachment", message_id, "7")
    assert missing.status == 5 and "no attachment 7" in missing.stderr
    unknown = shell.run("mail", "attachments", "msg_nope")
    assert unknown.status == 5 and "not found" in unknown.stderr
