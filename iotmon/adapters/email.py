"""Email over SMTP (smtplib): one plain-text message per alert change to every recipient."""

from __future__ import annotations

import json
import smtplib
import ssl
from email.message import EmailMessage
from email.policy import SMTP
from email.utils import formatdate

from iotmon.core.channels import DeliveryError, SmtpConfig
from iotmon.core.contracts.alerts import AlertChange
from iotmon.core.routing import change_key

# CRLF lines; headers up to RFC 5322's hard limit, so a subject is never folded (subjects are cut at 250).
_POLICY = SMTP.clone(max_line_length=998)


def subject(change: AlertChange) -> str:
    """[CRITICAL] device-002 threshold_exceeded: Pressure above threshold (RESOLVED / ESCALATED as the change is)."""
    tag = "RESOLVED" if change.action == "resolved" else change.severity.upper()
    what = change.type if change.action in ("triggered", "resolved") else f"{change.type} {change.action}"
    line = f"[{tag}] {change.device_id} {what}: {change.message}"
    return " ".join(line.split())[:250]  # one header line, whatever the message holds


def body(change: AlertChange) -> str:
    rows = [
        ("Alert", change.alert_id),
        ("Change", change.action),
        ("Status", change.status),
        ("Device", change.device_id),
        ("Type", change.type),
        ("Severity", change.severity),
        ("Value", change.value),
        ("Threshold", change.threshold),
        ("At", change.timestamp),
        ("Triggered at", change.triggered_at),
        ("By", change.actor),
        ("Note", change.note),
    ]
    lines = [change.message, ""]
    lines += [f"{name + ':':<14}{value}" for name, value in rows if value is not None]
    if change.details:
        lines += ["", "Details:", json.dumps(change.details, indent=2, sort_keys=True, default=str)]
    lines += ["", "-- ", "iot-monitoring notify"]
    return "\n".join(lines) + "\n"


def message(change: AlertChange, smtp: SmtpConfig) -> EmailMessage:
    domain = smtp.sender.rpartition("@")[2] or "iotmon"
    mail = EmailMessage(policy=_POLICY)
    mail["Subject"] = subject(change)
    mail["From"] = smtp.sender
    mail["To"] = ", ".join(smtp.recipients)
    mail["Date"] = formatdate(localtime=False, usegmt=True)
    # One Message-ID per change (a receiver can spot a resend), threaded under the alert.
    mail["Message-ID"] = f"<{change.alert_id}.{change_key(change).replace(':', '-').replace('@', '.')}@{domain}>"
    mail["References"] = f"<{change.alert_id}@{domain}>"
    mail["X-Iotmon-Alert"] = change.alert_id
    mail.set_content(body(change))
    return mail


def send_email(change: AlertChange, smtp: SmtpConfig) -> None:
    """Send the change's message; DeliveryError when it did not go out."""
    try:
        with smtplib.SMTP(smtp.host, smtp.port, timeout=smtp.timeout) as client:
            if smtp.starttls:
                client.starttls(context=ssl.create_default_context())
            if smtp.user and smtp.password:
                client.login(smtp.user, smtp.password)
            refused = client.send_message(message(change, smtp))
    except smtplib.SMTPAuthenticationError as error:
        raise DeliveryError(
            f"SMTP login refused: {error.smtp_code} {_text(error.smtp_error)}", retryable=False
        ) from error
    except smtplib.SMTPRecipientsRefused as error:
        permanent = all(code >= 500 for code, _ in error.recipients.values())
        raise DeliveryError(f"SMTP refused every recipient: {error.recipients}", retryable=not permanent) from error
    except smtplib.SMTPResponseException as error:
        raise DeliveryError(
            f"SMTP {error.smtp_code} {_text(error.smtp_error)}", retryable=error.smtp_code < 500
        ) from error
    except (OSError, smtplib.SMTPException) as error:  # refused, unreachable, timed out, dropped
        raise DeliveryError(f"SMTP {smtp.host}:{smtp.port}: {error}", retryable=True) from error
    if refused:  # some recipients got it: sending again would duplicate theirs
        raise DeliveryError(f"SMTP refused some recipients: {refused}", retryable=False)


def _text(value: bytes | str) -> str:
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else value
