"""The built-in sandbox: no network, deterministic outcomes by the number's last four digits (PRODUCT.md §5).

0000 refused at submit (failed); 0001 accepted, then reported undelivered; 0002 answers 429 twice, then
accepts; 0003 accepted and never reported; any other number accepted, then reported delivered. Its reports
are stored like a real gateway's webhook and applied by the same worker, after `dlr_delay` seconds.
"""

import hashlib

from .. import statuses
from .base import ACCEPTED, PERMANENT, TEMPORARY, Gateway, OutboundSms, StatusReport, SubmitResult

REJECT, UNDELIVERED, TWO_429S, SILENT = "0000", "0001", "0002", "0003"


class SandboxGateway(Gateway):
    kind = "sandbox"
    label = "Sandbox"
    max_batch = 1000
    config_fields = ("dlr_delay",)
    resubmit_safe = True  # it has no upstream: a resubmission cannot text anyone twice

    def send_batch(self, messages: list[OutboundSms]) -> list[SubmitResult]:
        return [self._submit(sms) for sms in messages]

    def _submit(self, sms: OutboundSms) -> SubmitResult:
        suffix = sms.to[-4:]
        if suffix == REJECT:
            return SubmitResult(sms.message_id, PERMANENT, error_code="21610", error_text="Sandbox: number refuses messages (…0000).")
        if suffix == TWO_429S and sms.attempt <= 2:
            return SubmitResult(
                sms.message_id, TEMPORARY, error_code="429", error_text="Sandbox: too many requests (…0002 answers 429 twice).",
                retry_after=None,
            )
        # Stable per message, so a resubmission after an interrupted batch gets the same id back.
        ref = "SB" + hashlib.blake2b(sms.idempotency_key.encode(), digest_size=12).hexdigest()
        return SubmitResult(sms.message_id, ACCEPTED, gateway_message_id=ref, raw={"id": ref, "status": "accepted"})

    def reports_after_submit(self, messages, results):
        delay = float(self.config.get("dlr_delay", 2.0))
        by_id = {sms.message_id: sms for sms in messages}
        reports = []
        for result in results:
            if result.outcome != ACCEPTED:
                continue
            suffix = by_id[result.message_id].to[-4:]
            if suffix == SILENT:
                continue
            if suffix == UNDELIVERED:
                report = StatusReport(result.gateway_message_id, statuses.UNDELIVERED, code="30003", text="Sandbox: unreachable handset (…0001).")
            else:
                report = StatusReport(result.gateway_message_id, statuses.DELIVERED, code="DELIVRD", text="Sandbox: delivered.")
            reports.append((report, delay))
        return reports
