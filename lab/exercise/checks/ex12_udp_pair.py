"""Exercise 12: the student's UDP sender and receiver. The receiver is started first (role
``receiver``), the sender then sends WIRELAB_COUNT numbered datagrams through a lossy relay
(lab/exercise/lossy_relay.py) that knows exactly which it dropped, duplicated and delivered
late. The receiver's report must match that record: which numbers were lost, how many
distinct arrived, how many were duplicates."""

from __future__ import annotations

import errno
import json
import secrets
import socket
import time

from lab.exercise.context import CheckContext
from lab.exercise.lossy_relay import LossyDamage, LossyRelay
from services.common.processes import free_port

NUMBER_HINT = (
    "start every datagram with its sequence number, 4 bytes big-endian: "
    "struct.pack('!I', seq) + payload, for seq in range(WIRELAB_COUNT); without numbers "
    "the receiver cannot tell which datagram is missing, late or a copy"
)


def udp_bound(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        try:
            probe.bind(("127.0.0.1", port))
        except OSError as exc:
            return exc.errno == errno.EADDRINUSE
    return False


def check(ctx: CheckContext) -> None:
    count, rate = ctx.param("count", 400), ctx.param("rate", 400)
    idle = ctx.param("idle", 1.0)
    damage = LossyDamage(
        count=count,
        loss=ctx.param("loss", 0.05),
        duplicate=ctx.param("duplicate", 0.04),
        reorder=ctx.param("reorder", 0.04),
        gap=ctx.param("gap", 3),
        late_run=ctx.param("late_run", 8),
        tail_loss=ctx.param("tail_loss", 5),
        seed=secrets.randbelow(2**32),
    )
    port = free_port("udp")
    common = {"WIRELAB_COUNT": str(count), "WIRELAB_RATE": str(rate), "WIRELAB_IDLE": str(idle)}
    receiver_env = {
        **common,
        "WIRELAB_ROLE": "receiver",
        "WIRELAB_LISTEN_HOST": "127.0.0.1",
        "WIRELAB_LISTEN_PORT": str(port),
    }
    with ctx.background(receiver_env) as receiver, LossyRelay(("127.0.0.1", port), damage) as relay:
        deadline = time.monotonic() + ctx.param("start_timeout", 8.0)
        while receiver.alive() and not udp_bound(port) and time.monotonic() < deadline:
            time.sleep(0.05)
        if not ctx.expect(
            f"the receiver listens on UDP 127.0.0.1:{port} (WIRELAB_LISTEN_PORT)",
            receiver.alive() and udp_bound(port),
            "listening" if receiver.alive() else receiver.result().describe(),
            "with WIRELAB_ROLE=receiver, bind a SOCK_DGRAM socket to WIRELAB_LISTEN_HOST / "
            "WIRELAB_LISTEN_PORT",
        ):
            ctx.crashed = ctx.crashed or receiver.result().crashed
            return
        sender_env = {
            **common,
            "WIRELAB_ROLE": "sender",
            "WIRELAB_TARGET_HOST": "127.0.0.1",
            "WIRELAB_TARGET_PORT": str(relay.port),
        }
        sent = ctx.run(sender_env, timeout=count / rate + 15)
        ctx.expect_clean_exit(sent, "the sender ran and exited with 0")
        numbers = relay.record.from_sender
        numbered = ctx.expect(
            f"the sender sent datagrams numbered 0 to {count - 1}, each once",
            sorted(n for n in numbers if n is not None) == list(range(count))
            and None not in numbers,
            describe_numbers(numbers, count),
            NUMBER_HINT,
        )
        deadline = time.monotonic() + idle + ctx.param("finish_timeout", 5.0)
        while receiver.alive() and time.monotonic() < deadline:
            time.sleep(0.05)
        still = receiver.alive()
        ended = receiver.result()
    ctx.crashed = ctx.crashed or ended.crashed
    if not numbered:
        return  # without numbers, the report cannot be compared with anything
    if not ctx.expect(
        "the receiver printed its report and exited with 0",
        not still and ended.exit_code == 0,
        f"still running {idle:g} s after the last datagram" if still else ended.describe(),
        f"stop once nothing has arrived for WIRELAB_IDLE ({idle:g}) seconds, print the "
        "report, exit 0",
    ):
        return
    try:
        report = json.loads(ended.stdout.strip().splitlines()[-1])
        if not isinstance(report, dict):
            raise ValueError
    except (ValueError, IndexError):
        ctx.expect(
            "the receiver printed its report as one JSON object",
            False,
            f"printed {ended.stdout.strip()[-120:]!r}",
            'print {"received": .., "duplicates": .., "lost": [..]} as the last line',
        )
        return
    judge_report(ctx, report, relay.record.truth(count), relay.record, count)


def describe_numbers(numbers: list[int | None], count: int) -> str:
    seqs = [n for n in numbers if n is not None and n < count]
    text = f"{len(numbers)} datagrams reached the relay"
    if len(seqs) < len(numbers):
        text += f", {len(numbers) - len(seqs)} without a number in 0..{count - 1} first"
    if len(set(seqs)) != len(seqs):
        text += f", {len(seqs) - len(set(seqs))} numbers sent twice"
    if len(set(seqs)) < count:
        text += f", {count - len(set(seqs))} numbers never sent"
    return text


def judge_report(ctx: CheckContext, report: dict, truth: dict, record, count: int) -> None:
    arrivals = len(record.delivered)
    received = report.get("received")
    ctx.expect(
        "received matches the relay's record (distinct datagrams)",
        received == truth["received"],
        f"you reported {received!r}, the relay delivered {truth['received']} distinct "
        f"({arrivals} with the copies)",
        "you counted arrivals: a duplicate is the same datagram again, not a new one; keep a "
        "set of the numbers seen"
        if received == arrivals
        else "count distinct sequence numbers",
    )
    duplicates = report.get("duplicates")
    ctx.expect(
        "duplicates matches the relay's record",
        duplicates == truth["duplicates"],
        f"you reported {duplicates!r}, the relay delivered {truth['duplicates']} copies",
        "a duplicate is an arrival of a number already seen (a late datagram is not one)",
    )
    lost = report.get("lost")
    true_lost = truth["lost"]
    if not isinstance(lost, list) or not all(isinstance(n, int) for n in lost):
        ctx.expect(
            "lost lists the numbers that never arrived",
            False,
            f"you reported {lost!r}",
            "report lost as a list of sequence numbers, e.g. [17, 40, 41]",
        )
        return
    mine, truly = set(lost), set(true_lost)
    late_called_lost = sorted(mine & record.late)
    tail_missed = sorted(n for n in truly - mine if n > max(record.delivered, default=-1))
    hint = "lost = every number in range(WIRELAB_COUNT) that never arrived, decided at the end"
    if late_called_lost:
        hint = (
            f"{len(late_called_lost)} of the numbers you call lost (e.g. {late_called_lost[0]}) "
            "arrived late, after a higher number: UDP does not keep order. Do not decide a "
            "number is lost when a gap opens; at the end, lost = range(count) minus the set seen"
        )
    elif tail_missed:
        hint = (
            f"the last {len(tail_missed)} datagrams were lost, so no higher number came after "
            "them: lost is every number in range(WIRELAB_COUNT) never seen, not only the gaps "
            "below the highest one"
        )
    ctx.expect(
        "lost lists exactly the numbers the relay dropped",
        mine == truly and len(lost) == len(mine),
        f"you reported {len(lost)} lost, the relay dropped {len(true_lost)}"
        + (f"; wrongly lost: {sorted(mine - truly)[:8]}" if mine - truly else "")
        + (f"; missed: {sorted(truly - mine)[:8]}" if truly - mine else ""),
        hint,
    )
