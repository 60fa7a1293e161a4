"""The SMTP session on its own, against a real server (aiosmtpd) on loopback.

Every test runs twice: the server waiting for each command in turn ("lockstep"),
and the server offering PIPELINING, as Postfix does ("pipelined"), where MAIL
FROM, RCPT TO and DATA go out in one write.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import pytest

from flask_urgentaction import smtp

from .test_delivery_faults import FaultyMailbox, Settings

SENDER, CEO = "actions@network.example", "ceo@mining.example"


def message(number: int) -> bytes:
    return (
        f"Message-ID: <{number}@network.example>\r\nSubject: Reinstate them\r\n\r\n"
        ".a line that starts with a dot\r\n"
    ).encode("ascii")


@pytest.fixture(params=[False, True], ids=["lockstep", "pipelined"])
def pipelining(request: pytest.FixtureRequest) -> bool:
    return bool(request.param)


@pytest.fixture
def server(pipelining: bool) -> Iterator[FaultyMailbox]:
    box = FaultyMailbox(pipelining)
    box.start()
    yield box
    box.stop()


@pytest.fixture
def session(server: FaultyMailbox) -> Iterator[smtp.Session]:
    with smtp.Session(Settings(server.port), timeout=5) as session:
        yield session


def later(seconds: float = 5) -> float:
    return time.monotonic() + seconds


def delivered(server: FaultyMailbox) -> list[str]:
    return [str(m["Message-ID"]) for m in server.messages]


def test_messages_go_out_with_the_envelope_in_one_write_where_the_server_pipelines(
    server: FaultyMailbox, session: smtp.Session, pipelining: bool
) -> None:
    for number in (1, 2):
        reply = session.send(SENDER, CEO, message(number), later())
        assert reply is not None and reply.code == 250
    assert delivered(server) == ["<1@network.example>", "<2@network.example>"]
    assert server.raw[0].endswith(b"\r\n.a line that starts with a dot\r\n")
    assert server.commands == ["EHLO", *["MAIL", "RCPT", "DATA"] * 2]
    assert server.pipelined == (2 if pipelining else 0)


@pytest.mark.parametrize(
    ("fault", "refused"),
    [
        ("mail", "sender refused: 451 4.3.2 sender deferred"),
        ("rcpt", "recipient <ceo@mining.example> refused: 550 5.1.1 no such user"),
        ("data", "message refused: 452 4.3.1 insufficient storage"),
        ("message", "message refused: 554 5.7.1 rejected as spam"),
    ],
)
def test_each_steps_refusal_keeps_its_reply_delivers_nothing_and_the_session_goes_on(
    server: FaultyMailbox, session: smtp.Session, fault: str, refused: str
) -> None:
    reply = refused.split(": ", 1)[1]
    if fault == "mail":
        server.refuse_mail = reply
    elif fault == "rcpt":
        server.refuse[CEO] = reply
    elif fault == "data":
        server.data_command_reply = reply
    else:
        server.data_replies = [reply]
    with pytest.raises(smtp.SendError) as error:
        session.send(SENDER, CEO, message(1), later())
    assert str(error.value) == refused
    assert error.value.reply == smtp.Reply(int(reply[:3]), reply[4:])
    assert error.value.permanent is reply.startswith("5")
    assert not error.value.maybe_delivered and not error.value.unreachable
    # Refused at its own step: the pipelined commands after it are refused too,
    # and the DATA the server refused ended the transaction; nothing went out.
    if fault != "message":
        assert server.messages == [] and server.commands[-1] == "RSET"

    server.refuse_mail, server.refuse, server.data_command_reply = None, {}, None
    assert session.send(SENDER, CEO, message(2), later()) is not None
    assert delivered(server)[-1] == "<2@network.example>"
    assert server.commands.count("EHLO") == 1


@pytest.mark.parametrize("pipelining", [True], ids=["pipelined"])
def test_a_data_accepted_after_the_recipient_was_refused_is_ended_empty(
    server: FaultyMailbox, session: smtp.Session
) -> None:
    # RFC 2920 (3.1): DATA may be accepted although every RCPT TO was refused; the
    # client then ends it with a lone dot, and no message goes to anyone.
    server.data_without_recipient = True
    server.refuse[CEO] = "550 5.1.1 no such user"
    with pytest.raises(smtp.SendError) as error:
        session.send(SENDER, CEO, message(1), later())
    assert error.value.reply == smtp.Reply(550, "5.1.1 no such user")
    assert server.unaddressed == [b""]
    assert server.messages == []

    del server.refuse[CEO]
    assert session.send(SENDER, CEO, message(2), later()) is not None
    assert delivered(server) == ["<2@network.example>"]
    assert server.commands == ["EHLO", "MAIL", "RCPT", "DATA", "RSET", "MAIL", "RCPT", "DATA"]


@pytest.mark.parametrize("pipelining", [True], ids=["pipelined"])
def test_a_data_accepted_after_the_sender_was_refused_is_never_ended(
    server: FaultyMailbox, session: smtp.Session
) -> None:
    # A server that refuses MAIL FROM and yet takes the recipient and DATA: any end
    # of that DATA, even a lone dot, could deliver an empty message.
    server.refuse_mail = "451 4.3.2 sender deferred"
    server.keep_refused_sender = True
    with pytest.raises(smtp.SendError) as error:
        session.send(SENDER, CEO, message(1), later())
    assert error.value.reply == smtp.Reply(451, "4.3.2 sender deferred")
    time.sleep(0.2)
    assert server.messages == [] and server.unaddressed == []

    server.refuse_mail = None
    assert session.send(SENDER, CEO, message(2), later()) is not None
    assert delivered(server) == ["<2@network.example>"]
    assert server.commands.count("EHLO") == 2


def test_a_refusal_heard_before_the_server_hung_up_is_kept(
    server: FaultyMailbox, session: smtp.Session, pipelining: bool
) -> None:
    server.refuse_mail = "421 4.3.2 shutting down"
    server.keep_refused_sender = True
    server.hang_up_at_rcpt = True  # reached only when the envelope was pipelined
    with pytest.raises(smtp.SendError) as error:
        session.send(SENDER, CEO, message(1), later())
    assert str(error.value) == "sender refused: 421 4.3.2 shutting down"
    assert not error.value.permanent and not error.value.maybe_delivered

    server.refuse_mail, server.hang_up_at_rcpt = None, False
    assert session.send(SENDER, CEO, message(2), later()) is not None
    assert delivered(server) == ["<2@network.example>"]
    assert server.commands.count("EHLO") == (2 if pipelining else 1)


def test_the_preparation_runs_while_the_server_answers_the_envelope(
    server: FaultyMailbox, session: smtp.Session, pipelining: bool
) -> None:
    # Each step of the caller's work runs once a command is on its way and before
    # its reply is read: with PIPELINING, all three are on their way at the first.
    taken = threading.Event()
    server.on_mail = (1, taken.set)
    seen: list[list[str]] = []

    def prepare() -> smtp.Preparation:
        assert taken.wait(5), "MAIL FROM had not gone out"
        for _step in range(2):
            seen.append(list(server.commands))
            yield
        seen.append(list(server.commands))
        assert server.messages == []
        return message(1)

    reply = session.send(SENDER, CEO, prepare(), later())
    assert reply is not None and reply.code == 250
    assert delivered(server) == ["<1@network.example>"]
    if pipelining:
        assert server.pipelined == 1
    else:
        # The second step ran after RCPT TO went out, the third after DATA.
        assert seen[1][-1] in ("MAIL", "RCPT") and seen[2][-1] in ("RCPT", "DATA")


@pytest.mark.parametrize("at_step", [0, 1])
def test_a_withdrawn_message_delivers_nothing_and_the_next_one_goes_out(
    server: FaultyMailbox, session: smtp.Session, pipelining: bool, at_step: int
) -> None:
    def prepare() -> smtp.Preparation:
        for _step in range(at_step):
            yield
        return None

    assert session.send(SENDER, CEO, prepare(), later()) is None
    assert session.send(SENDER, CEO, message(2), later()) is not None
    assert delivered(server) == ["<2@network.example>"]
    if pipelining:
        # The server had accepted DATA: the line was closed rather than end it.
        assert server.commands.count("EHLO") == 2
    else:
        assert server.commands.count("EHLO") == 1
        assert "RSET" in server.commands


def test_an_error_in_the_preparation_passes_on_and_the_next_message_goes_out(
    server: FaultyMailbox, session: smtp.Session
) -> None:
    def prepare() -> smtp.Preparation:
        yield
        raise RuntimeError("the database went away")

    with pytest.raises(RuntimeError, match="the database went away"):
        session.send(SENDER, CEO, prepare(), later())
    assert session.send(SENDER, CEO, message(2), later()) is not None
    assert delivered(server) == ["<2@network.example>"]
    assert server.commands.count("EHLO") == 2


def test_a_preparation_that_outlives_the_deadline_sends_nothing(
    server: FaultyMailbox, session: smtp.Session
) -> None:
    def prepare() -> smtp.Preparation:
        yield
        time.sleep(0.6)
        return message(1)

    with pytest.raises(smtp.SendError) as error:
        session.send(SENDER, CEO, prepare(), later(0.5))
    assert not error.value.maybe_delivered
    time.sleep(0.2)
    assert server.messages == []


def test_suppressed_sending_runs_the_preparation_and_talks_to_no_server(
    server: FaultyMailbox,
) -> None:
    steps: list[int] = []

    def prepare() -> smtp.Preparation:
        steps.append(1)
        yield
        steps.append(2)
        return message(1)

    with smtp.Session(Settings(server.port, suppress=True), timeout=5) as session:
        assert session.send(SENDER, CEO, prepare(), later()) == smtp.SUPPRESSED
    assert steps == [1, 2]
    assert server.commands == []


def test_a_new_connection_after_mail_max_emails(server: FaultyMailbox) -> None:
    with smtp.Session(Settings(server.port, max_emails=2), timeout=5) as session:
        for number in range(3):
            assert session.send(SENDER, CEO, message(number), later()) is not None
    assert len(server.messages) == 3
    assert server.commands.count("EHLO") == 2
