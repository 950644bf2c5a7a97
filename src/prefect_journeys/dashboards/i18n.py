"""Dashboard labels in English and Simplified Chinese.

The locale comes from ``$JOURNEYS_LOCALE`` (``en`` or ``zh-CN``; default ``en``) and can be
changed in the sidebar. :func:`tr` looks a label up; a key missing in a locale falls back to
English, so a new label never breaks a page (the tests check both locales are complete).
"""

from __future__ import annotations

import os

LOCALE_ENV = "JOURNEYS_LOCALE"
LOCALES: tuple[str, ...] = ("en", "zh-CN")
DEFAULT_LOCALE = "en"

LABELS: dict[str, dict[str, str]] = {
    # app frame
    "app.title": {"en": "Customer journeys", "zh-CN": "客户旅程"},
    "app.locale": {"en": "Language", "zh-CN": "语言"},
    "app.store": {"en": "Store", "zh-CN": "数据存储"},
    "page.overview": {"en": "Overview", "zh-CN": "总览"},
    "page.journeys": {"en": "Journeys", "zh-CN": "旅程"},
    "page.deliverability": {"en": "Deliverability & compliance", "zh-CN": "送达与合规"},
    "page.data_quality": {"en": "Data quality", "zh-CN": "数据质量"},
    "page.customer": {"en": "Customer", "zh-CN": "客户"},
    # filters
    "filter.header": {"en": "Filters", "zh-CN": "筛选"},
    "filter.journey": {"en": "Journey", "zh-CN": "旅程"},
    "filter.period": {"en": "Period", "zh-CN": "时间段"},
    "filter.channel": {"en": "Channel", "zh-CN": "渠道"},
    "filter.variant": {"en": "Variant", "zh-CN": "变体"},
    "filter.all": {"en": "(all)", "zh-CN": "(全部)"},
    # guidance
    "guide.missing": {
        "en": "No store at {where}.",
        "zh-CN": "找不到数据存储：{where}。",
    },
    "guide.empty": {
        "en": "The store at {where} has no events yet.",
        "zh-CN": "数据存储 {where} 中还没有事件。",
    },
    "guide.how": {
        "en": "Fill it with a simulation: `./dev demo` (or `journeys demo --customers 500 --days 7`)"
        " and open it with `journeys dashboard --store .journeys/demo.db`; or import your data"
        " with `journeys sync` and open the dashboard on that store.",
        "zh-CN": "用模拟数据填充：`./dev demo`（或 `journeys demo --customers 500 --days 7`），"
        "然后用 `journeys dashboard --store .journeys/demo.db` 打开；"
        "或用 `journeys sync` 导入数据后在该存储上打开仪表盘。",
    },
    "guide.no_rows": {"en": "Nothing in this selection.", "zh-CN": "当前筛选下没有数据。"},
    "common.download": {"en": "Download CSV", "zh-CN": "下载 CSV"},
    "common.day": {"en": "Day", "zh-CN": "日期"},
    "common.count": {"en": "Count", "zh-CN": "数量"},
    "common.channel": {"en": "Channel", "zh-CN": "渠道"},
    "common.stage": {"en": "Stage", "zh-CN": "阶段"},
    "common.event": {"en": "Event", "zh-CN": "事件"},
    "common.reason": {"en": "Reason", "zh-CN": "原因"},
    # overview
    "kpi.customers": {"en": "Customers", "zh-CN": "客户数"},
    "kpi.sent": {"en": "Messages sent", "zh-CN": "已发送消息"},
    "kpi.delivery_rate": {"en": "Delivery rate", "zh-CN": "送达率"},
    "kpi.open_rate": {"en": "Open rate", "zh-CN": "打开率"},
    "kpi.click_rate": {"en": "Click rate", "zh-CN": "点击率"},
    "kpi.conversions": {"en": "Conversions", "zh-CN": "转化数"},
    "kpi.revenue": {"en": "Revenue", "zh-CN": "收入"},
    "kpi.unsubscribe_rate": {"en": "Unsubscribe rate", "zh-CN": "退订率"},
    "kpi.bounce_rate": {"en": "Bounce rate", "zh-CN": "退信率"},
    "kpi.spam_rate": {"en": "Spam-report rate", "zh-CN": "垃圾邮件举报率"},
    "overview.vs_previous": {
        "en": "Deltas compare with the previous {days} day(s).",
        "zh-CN": "变化值与前 {days} 天相比。",
    },
    "overview.trend": {"en": "Daily trend", "zh-CN": "每日趋势"},
    "overview.table": {"en": "KPIs", "zh-CN": "关键指标"},
    "overview.sent_by_channel": {"en": "Messages sent by channel", "zh-CN": "各渠道发送量"},
    # journeys
    "journeys.pick": {
        "en": "Pick a journey in the sidebar to see its map.",
        "zh-CN": "请在侧边栏选择一个旅程以查看旅程图。",
    },
    "journeys.first": {
        "en": "Showing the first journey; pick another one in the sidebar.",
        "zh-CN": "当前显示第一个旅程；可在侧边栏选择其他旅程。",
    },
    "journeys.map": {"en": "Journey map", "zh-CN": "旅程图"},
    "journeys.no_definition": {
        "en": "No definition of {journey} in the project's journeys/ folder: the map is not drawn.",
        "zh-CN": "项目 journeys/ 目录中没有 {journey} 的定义，无法绘制旅程图。",
    },
    "journeys.funnel": {"en": "Stage funnel", "zh-CN": "阶段漏斗"},
    "journeys.steps": {"en": "Steps", "zh-CN": "步骤"},
    "journeys.variants": {"en": "Variants", "zh-CN": "变体"},
    "journeys.totals": {
        "en": "Entered {entered} · converted {converted} · exited {exited} · completed"
        " {completed} · active {active}",
        "zh-CN": "进入 {entered} · 转化 {converted} · 退出 {exited} · 完成 {completed}"
        " · 进行中 {active}",
    },
    "journeys.all_time": {
        "en": "Counts over the journey's whole history (period, channel and variant filters do"
        " not apply on this page yet).",
        "zh-CN": "统计为该旅程的全部历史（时间段、渠道和变体筛选暂不适用于本页）。",
    },
    # deliverability
    "deliv.problems": {"en": "Delivery problems by day", "zh-CN": "每日送达问题"},
    "deliv.by_channel": {"en": "By channel", "zh-CN": "按渠道"},
    "deliv.deferrals": {"en": "Deferrals by reason", "zh-CN": "按原因统计的延迟发送"},
    "deliv.optouts": {"en": "Opt-outs (consent withdrawals)", "zh-CN": "退订（撤回同意）"},
    "deliv.suppressions": {"en": "Suppression list", "zh-CN": "抑制名单"},
    # data quality
    "dq.validations": {"en": "Validation runs", "zh-CN": "数据校验运行"},
    "dq.failed_share": {"en": "Failed rows (share) by day", "zh-CN": "每日失败行比例"},
    "dq.quarantine": {"en": "Quarantined rows", "zh-CN": "隔离的数据行"},
    "dq.reasons": {"en": "Quarantine reasons", "zh-CN": "隔离原因"},
    "dq.window": {
        "en": "The last 30 days of checks, by when they ran (the period filter is event time"
        " and does not apply here).",
        "zh-CN": "最近 30 天的校验记录，按运行时间统计（时间段筛选基于事件时间，不适用于本页）。",
    },
    "dq.none": {
        "en": "No validation runs recorded.",
        "zh-CN": "没有数据校验记录。",
    },
    # customer
    "customer.search": {"en": "Customer id, email or phone", "zh-CN": "客户 ID、邮箱或手机号"},
    "customer.prompt": {
        "en": "Type a customer id, an email or a phone number.",
        "zh-CN": "请输入客户 ID、邮箱或手机号。",
    },
    "customer.not_found": {
        "en": "No customer {customer!r} in the store (tried id, identities, email, phone).",
        "zh-CN": "存储中没有客户 {customer!r}（已尝试 ID、身份标识、邮箱、手机号）。",
    },
    "customer.found_by": {"en": "found by {how}", "zh-CN": "匹配方式：{how}"},
    "customer.profile": {"en": "Profile", "zh-CN": "资料"},
    "customer.identities": {"en": "Identities", "zh-CN": "身份标识"},
    "customer.consents": {"en": "Consents", "zh-CN": "同意状态"},
    "customer.timeline": {"en": "Timeline", "zh-CN": "时间线"},
    "customer.events": {"en": "Events", "zh-CN": "事件"},
    "customer.messages": {"en": "Messages", "zh-CN": "消息"},
    "customer.journeys": {"en": "Journeys", "zh-CN": "旅程"},
}


def env_locale() -> str:
    """The locale from ``$JOURNEYS_LOCALE`` (unknown values fall back to English)."""
    value = os.environ.get(LOCALE_ENV, DEFAULT_LOCALE)
    return value if value in LOCALES else DEFAULT_LOCALE


def tr(key: str, locale: str = DEFAULT_LOCALE, **values: object) -> str:
    """The label ``key`` in ``locale`` (English when missing), formatted with ``values``."""
    entry = LABELS.get(key)
    if entry is None:
        raise KeyError(f"no dashboard label {key!r}")
    text = entry.get(locale) or entry[DEFAULT_LOCALE]
    return text.format(**values) if values else text


__all__ = ["DEFAULT_LOCALE", "LABELS", "LOCALES", "LOCALE_ENV", "env_locale", "tr"]
