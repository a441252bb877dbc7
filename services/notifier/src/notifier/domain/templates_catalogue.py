"""Every kind of message the notifier writes: template name -> who reads it and its subject.

The Jinja2 files live in `notifier/templates/<name>.{txt,html}.j2` (letters render the text
template into a PDF). Subjects are Japanese, as the messages are.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Reader = Literal["resident", "staff"]


@dataclass(frozen=True)
class TemplateInfo:
    reader: Reader
    subject: str


TEMPLATES: dict[str, TemplateInfo] = {
    "chip_rewrite_reminder": TemplateInfo("resident", "マイナンバーカードの継続利用手続のお願い"),
    "card_expired": TemplateInfo("resident", "マイナンバーカードの失効と再交付申請のご案内"),
    "card_pickup": TemplateInfo("resident", "マイナンバーカードの交付のご案内"),
    "card_pickup_renotice": TemplateInfo("resident", "マイナンバーカードの交付のご案内（再通知）"),
    "application_defect": TemplateInfo("resident", "マイナンバーカード申請の再申請のお願い"),
    "card_renewal_reminder": TemplateInfo("resident", "マイナンバーカード等の有効期限のお知らせ"),
    "apology": TemplateInfo("resident", "お詫び"),
    "staff_reminder": TemplateInfo("staff", "【期限】処理期限が近づいています"),
    "manager_escalation": TemplateInfo("staff", "【超過】処理期限を過ぎた案件があります"),
    "manager_digest": TemplateInfo("staff", "【日次】担当係の未処理・期限超過状況"),
    "sequence_gap_alert": TemplateInfo("staff", "【警告】J-LIS通知の連番に欠番があります"),
    "orphaned_queue_alert": TemplateInfo("staff", "【警告】担当者のいない処理キューがあります"),
    "watcher_silent_alert": TemplateInfo("staff", "【警告】期限監視サービスの応答がありません"),
    "command_rejected": TemplateInfo("staff", "【差戻し】操作が受け付けられませんでした"),
    "surface_chip_mismatch": TemplateInfo("staff", "【要確認】券面記載後のIC書換が未完了です"),
    "delivery_failed": TemplateInfo("staff", "【警告】通知を送達できませんでした"),
}
