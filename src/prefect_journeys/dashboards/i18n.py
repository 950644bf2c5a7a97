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
        "en": "The map and the tables just below count the journey's whole history; the"
        " statistics further down follow the period, channel and variant filters.",
        "zh-CN": "旅程图及其下方的表格统计该旅程的全部历史；更下方的统计遵循时间段、渠道和变体筛选。",
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
    # analytics pages
    "page.experiments": {"en": "Experiments", "zh-CN": "实验"},
    "page.attribution": {"en": "Attribution", "zh-CN": "归因"},
    "page.cohorts": {"en": "Cohorts & CLV", "zh-CN": "同期群与客户终身价值"},
    "exp.none": {
        "en": "No journey of the project has a split step: nothing to compare.",
        "zh-CN": "项目中没有包含分流步骤的旅程：没有可比较的实验。",
    },
    "exp.journey": {"en": "Experiment", "zh-CN": "实验"},
    "exp.mode": {
        "en": "Split {step} ({mode}): {variants}. All of the journey's enrollments.",
        "zh-CN": "分流步骤 {step}（{mode}）：{variants}。统计该旅程的全部参与记录。",
    },
    "exp.verdict": {"en": "Verdict", "zh-CN": "结论"},
    "exp.rates": {
        "en": "Conversion rate by variant (95% CI)",
        "zh-CN": "各变体转化率（95% 置信区间）",
    },
    "exp.table": {"en": "Variants", "zh-CN": "变体"},
    "exp.allocation": {"en": "Bandit allocation over time", "zh-CN": "多臂老虎机流量分配变化"},
    "exp.no_allocation": {
        "en": "No allocation recorded yet for this bandit split.",
        "zh-CN": "该多臂老虎机分流尚无分配记录。",
    },
    "exp.no_data": {
        "en": "No enrollment of {journey} has reached its split yet.",
        "zh-CN": "{journey} 还没有参与记录到达分流步骤。",
    },
    "exp.rate": {"en": "Conversion rate", "zh-CN": "转化率"},
    "exp.share": {"en": "Share of customers (%)", "zh-CN": "客户占比（%）"},
    "common.variant": {"en": "Variant", "zh-CN": "变体"},
    "common.model": {"en": "Model", "zh-CN": "模型"},
    "attr.key": {"en": "Credit by", "zh-CN": "归因维度"},
    "attr.key.channel": {"en": "channel", "zh-CN": "渠道"},
    "attr.key.step": {"en": "step", "zh-CN": "步骤"},
    "attr.key.message": {"en": "message", "zh-CN": "消息"},
    "attr.lookback": {"en": "Lookback (days)", "zh-CN": "回溯窗口（天）"},
    "attr.half_life": {"en": "Time-decay half-life (days)", "zh-CN": "时间衰减半衰期（天）"},
    "attr.metric": {"en": "Credit", "zh-CN": "归因指标"},
    "attr.conversions": {"en": "Conversions", "zh-CN": "转化数"},
    "attr.revenue": {"en": "Revenue", "zh-CN": "收入"},
    "attr.chart": {"en": "Credit by model", "zh-CN": "各模型归因结果"},
    "attr.table": {"en": "Model × key", "zh-CN": "模型 × 维度"},
    "attr.scope": {
        "en": "Conversions of the period ({journey}); touches up to {lookback} day(s) before"
        " each conversion.",
        "zh-CN": "本时间段内的转化（{journey}）；统计每次转化前 {lookback} 天内的触点。",
    },
    "attr.all_journeys": {"en": "all journeys", "zh-CN": "全部旅程"},
    "attr.unattributed": {
        "en": "{conversions:g} conversion(s) ({revenue:,.2f} revenue) had no touch in the"
        " lookback window and are credited to no {dimension}.",
        "zh-CN": "{conversions:g} 次转化（收入 {revenue:,.2f}）在回溯窗口内没有触点，"
        "未归因到任何{dimension}。",
    },
    "attr.none": {
        "en": "No conversion with a touch in this selection.",
        "zh-CN": "当前筛选下没有带触点的转化。",
    },
    "coh.scope": {
        "en": "All customers, every order up to {end} (the journey, channel and variant filters"
        " do not apply to customer-level figures).",
        "zh-CN": "全部客户、截至 {end} 的全部订单（旅程、渠道和变体筛选不适用于客户层面指标）。",
    },
    "coh.none": {
        "en": "No purchase up to {end}: cohorts, churn and CLV need orders.",
        "zh-CN": "截至 {end} 没有购买记录：同期群、流失和客户终身价值都需要订单数据。",
    },
    "coh.retention": {"en": "Retention by first-purchase cohort", "zh-CN": "按首购月份的留存"},
    "coh.offset": {"en": "Months since first purchase", "zh-CN": "首购后月数"},
    "coh.cohort": {"en": "Cohort", "zh-CN": "同期群"},
    "coh.retained": {"en": "Retained", "zh-CN": "留存率"},
    "coh.curve": {"en": "Retention curve (size-weighted)", "zh-CN": "留存曲线（按规模加权）"},
    "coh.repeat_rate": {"en": "Repeat rate", "zh-CN": "复购率"},
    "coh.aov": {"en": "Average order value", "zh-CN": "平均订单金额"},
    "coh.orders": {"en": "Orders", "zh-CN": "订单数"},
    "coh.revenue_per_journey": {"en": "Revenue per journey", "zh-CN": "各旅程收入"},
    "coh.churn_days": {
        "en": "Churned after (days without an order)",
        "zh-CN": "流失阈值（无订单天数）",
    },
    "coh.churn_rate": {"en": "Churn rate", "zh-CN": "流失率"},
    "coh.churn_help": {
        "en": "{churned} of {customers} purchasers have not ordered for {days:g} days.",
        "zh-CN": "{customers} 名购买客户中有 {churned} 名已 {days:g} 天未下单。",
    },
    "coh.median_survival": {"en": "Median time to churn (days)", "zh-CN": "流失中位时间（天）"},
    "coh.survival": {
        "en": "Survival until churn (Kaplan–Meier, 95% band)",
        "zh-CN": "流失前生存曲线（Kaplan–Meier，95% 区间）",
    },
    "coh.days": {"en": "Days since first purchase", "zh-CN": "首购后天数"},
    "coh.survival_axis": {"en": "Still active", "zh-CN": "仍活跃比例"},
    "coh.clv": {
        "en": "Customer lifetime value (12 months, BG/NBD + Gamma-Gamma)",
        "zh-CN": "客户终身价值（12 个月，BG/NBD + Gamma-Gamma）",
    },
    "coh.clv_refused": {
        "en": "The CLV models cannot be fitted on this data: {reason}. They need repeat"
        " purchasers over several weeks — simulate more days or import more orders.",
        "zh-CN": "无法在当前数据上拟合客户终身价值模型：{reason}。模型需要数周内有复购的客户——"
        "请模拟更多天数或导入更多订单。",
    },
    "coh.params": {"en": "Fitted parameters", "zh-CN": "拟合参数"},
    "coh.clv_hist": {"en": "Predicted CLV", "zh-CN": "预测客户终身价值"},
    "coh.alive_hist": {"en": "P(alive)", "zh-CN": "存活概率"},
    "coh.top": {"en": "Top customers by CLV", "zh-CN": "客户终身价值最高的客户"},
    # overview health cards
    "kpi.nps": {"en": "NPS", "zh-CN": "净推荐值"},
    "kpi.churn_rate": {"en": "Churn rate (90 days)", "zh-CN": "流失率（90 天）"},
    "kpi.mean_clv": {"en": "Mean predicted CLV", "zh-CN": "平均预测客户终身价值"},
    "overview.nps_help": {
        "en": "% promoters − % detractors of the {replies} NPS replies of the period.",
        "zh-CN": "本时间段 {replies} 条 NPS 回复中推荐者占比减去贬损者占比。",
    },
    "overview.churn_help": {
        "en": "Purchasers up to the period's end whose last order is at least 90 days old"
        " ({churned} of {customers}).",
        "zh-CN": "截至本时间段结束的购买客户中，最近一次订单已超过 90 天的比例（{churned}/{customers}）。",
    },
    "overview.clv_help": {
        "en": "Mean discounted 12-month value predicted by BG/NBD + Gamma-Gamma per purchaser.",
        "zh-CN": "BG/NBD + Gamma-Gamma 预测的每位购买客户 12 个月折现价值的平均值。",
    },
    "overview.clv_refused": {
        "en": "Not enough order history to fit the CLV models: {reason}",
        "zh-CN": "订单历史不足，无法拟合客户终身价值模型：{reason}",
    },
    # journeys page additions
    "journeys.period_stats": {
        "en": "Step statistics for {start} – {end}{selection}",
        "zh-CN": "{start} – {end} 的步骤统计{selection}",
    },
    "journeys.ttc": {"en": "Time to convert", "zh-CN": "转化用时"},
    "journeys.ttc_median": {"en": "Median time to convert", "zh-CN": "转化用时中位数"},
    "journeys.ttc_p90": {"en": "90th percentile", "zh-CN": "第 90 百分位"},
    "journeys.ttc_count": {"en": "Conversions", "zh-CN": "转化数"},
    "journeys.friction": {
        "en": "Friction: where enrollments are lost",
        "zh-CN": "摩擦点：流失最多的步骤",
    },
    "journeys.gaps": {"en": "Targets vs actuals", "zh-CN": "目标与实际"},
    "journeys.no_targets": {
        "en": "The journey declares no targets (add a `targets:` block to its YAML).",
        "zh-CN": "该旅程未声明目标（可在其 YAML 中添加 `targets:` 块）。",
    },
    "journeys.nps": {"en": "NPS of the journey", "zh-CN": "该旅程的净推荐值"},
    "journeys.nps_none": {
        "en": "No NPS reply for this journey in the period.",
        "zh-CN": "本时间段内该旅程没有 NPS 回复。",
    },
    "journeys.stage_funnel_period": {
        "en": "Stage funnel in the period",
        "zh-CN": "本时间段的阶段漏斗",
    },
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
