"""Failed SIP authentications read from Asterisk's security log (lines as Asterisk 16 writes
them in the e2e suite), counted by reason only."""

from __future__ import annotations

from pathlib import Path

from prometheus_client import CollectorRegistry, generate_latest

from hotline.sip_security import SecurityLog, failure_reason

PREFIX = "[2026-12-06 09:58:16.637] SECURITY[8359] res_security_log.c: "
WRONG_SECRET = PREFIX + (
    'SecurityEvent="ChallengeResponseFailed",EventTV="2026-12-06T09:58:16.637+0000",'
    'Severity="Error",Service="PJSIP",EventVersion="1",AccountID="fiona",'
    'SessionID="1-8368@127.0.0.4",LocalAddress="IPV4/UDP/127.0.0.1/37701",'
    'RemoteAddress="IPV4/UDP/127.0.0.4/45098",Challenge="1796551096/79d644a0549fed9e8b08da91",'
    'Response="6c6f0ea4d6e2fcb716ce54f12411f6f1",ExpectedResponse=""'
)
UNKNOWN_USER = WRONG_SECRET.replace('AccountID="fiona"', 'AccountID="<unknown>"')
CHALLENGE = PREFIX + (
    'SecurityEvent="ChallengeSent",EventTV="2026-12-06T09:58:16.519+0000",'
    'Severity="Informational",Service="PJSIP",EventVersion="1",AccountID="<unknown>",'
    'SessionID="1-8366@127.0.0.4",LocalAddress="IPV4/UDP/127.0.0.1/37701",'
    'RemoteAddress="IPV4/UDP/127.0.0.4/45098",Challenge=""'
)
SUCCESS = CHALLENGE.replace("ChallengeSent", "SuccessfulAuth")


def test_failures_have_a_reason_and_other_events_none() -> None:
    assert failure_reason(WRONG_SECRET) == "wrong_secret"
    assert failure_reason(UNKNOWN_USER) == "unknown_user"
    assert failure_reason(CHALLENGE) is None
    assert failure_reason(SUCCESS) is None
    assert failure_reason("[2026-12-06 09:58:16.023] Asterisk 16.28.0 built by nobody") is None


def test_the_log_is_followed_from_its_end_across_partial_lines_truncation_and_rotation(
    tmp_path: Path,
) -> None:
    path = tmp_path / "security"
    path.write_text(WRONG_SECRET + "\n")
    log = SecurityLog(path)
    log.skip_to_end()  # what was there before the app started is not counted
    with path.open("a") as out:
        out.write(f"{CHALLENGE}\n{UNKNOWN_USER}\n{WRONG_SECRET[:40]}")
    log.count(log.read_new_lines())
    assert dict(log.failures) == {"unknown_user": 1}
    with path.open("a") as out:
        out.write(WRONG_SECRET[40:] + "\n")
    log.count(log.read_new_lines())
    path.write_text(WRONG_SECRET + "\n")  # truncated
    log.count(log.read_new_lines())
    path.rename(tmp_path / "security.1")  # rotated: a new file, longer than the offset
    path.write_text(f"{WRONG_SECRET}\n" * 3)
    log.count(log.read_new_lines())
    assert dict(log.failures) == {"unknown_user": 1, "wrong_secret": 5}

    registry = CollectorRegistry()
    registry.register(log)
    text = generate_latest(registry).decode()
    assert 'hotline_sip_auth_failures_total{reason="wrong_secret"} 5.0' in text
    assert 'hotline_sip_auth_failures_total{reason="acl"} 0.0' in text
    assert "fiona" not in text
    assert "127.0.0.4" not in text
