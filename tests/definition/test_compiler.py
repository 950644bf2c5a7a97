"""Plans: JSON round trip, content hash, processing order, task names, descriptions."""

from __future__ import annotations

import json
from pathlib import Path

from prefect_journeys.definition.compiler import Plan
from prefect_journeys.definition.project import Project

from .helpers import FIXTURE, HEADER, make_project


def welcome_plan(root: Path = FIXTURE) -> Plan:
    return Project.load(root).plan("welcome_series")


def test_plan_json_round_trips_exactly() -> None:
    plan = welcome_plan()
    data = json.loads(json.dumps(plan.to_json()))
    again = Plan.from_json(data)
    assert again == plan
    assert again.to_json() == plan.to_json()
    assert again.journey == plan.journey
    assert dict(again.templates) == dict(plan.templates)
    assert again.content_hash == plan.content_hash


def test_plan_keeps_only_referenced_templates_and_segments(tmp_path: Path) -> None:
    plan = welcome_plan()
    assert sorted(plan.templates) == [
        "brand_highlights",
        "discount",
        "follow_us_and_install_app",
        "offer_reminder",
        "welcome_intro",
    ]
    assert dict(plan.segments) == {}
    text = "id: trial\nentry: {segment: vip}\nsteps:\n  - id: a\n    wait: 1d\n"
    vip_plan = Project.load(make_project(tmp_path, {"trial": text})).plan("trial")
    assert sorted(vip_plan.segments) == ["engaged_customers", "vip"]  # transitively
    assert vip_plan.templates == {}


def test_changing_a_template_changes_the_hash(tmp_path: Path) -> None:
    root = make_project(tmp_path, {})
    (root / "journeys" / "welcome_series.yaml").write_text(
        (FIXTURE / "journeys" / "welcome_series.yaml").read_text()
    )
    before = welcome_plan(root).content_hash
    assert before == welcome_plan(root).content_hash  # stable
    template = root / "templates" / "offer_reminder.yaml"
    template.write_text(template.read_text().replace("soon", "tonight"))
    assert welcome_plan(root).content_hash != before
    unrelated = root / "templates" / "unused.yaml"
    unrelated.write_text("channel: sms\nbody: hello\n")
    after = welcome_plan(root).content_hash
    unrelated.write_text("channel: sms\nbody: hello again\n")
    assert welcome_plan(root).content_hash == after


def test_changing_a_segment_changes_the_hash(tmp_path: Path) -> None:
    text = "id: trial\nentry: {segment: vip}\nsteps:\n  - id: a\n    wait: 1d\n"
    root = make_project(tmp_path, {"trial": text})
    before = Project.load(root).plan("trial").content_hash
    nested = root / "segments" / "engaged_customers.yaml"
    nested.write_text(nested.read_text().replace("60d", "90d"))
    assert Project.load(root).plan("trial").content_hash != before


def test_order_puts_predecessors_first() -> None:
    plan = welcome_plan()
    position = {step: i for i, step in enumerate(plan.order)}
    assert set(plan.order) == {s.id for s in plan.journey.steps}
    assert plan.order[0] == "intro"
    for step in plan.journey.steps:
        for target in step.targets():
            if target != "exit":
                assert position[step.id] < position[target], (step.id, target)


def test_order_ignores_back_edges(tmp_path: Path) -> None:
    text = (
        HEADER
        + """\
  - id: a
    wait: 1d
    next: b
  - id: b
    branch:
      - when: {attribute: plan, value: pro}
        next: c
      - else: a
  - id: c
    update: {add_tags: [pro]}
"""
    )
    plan = Project.load(make_project(tmp_path, {"trial": text})).plan("trial")
    assert plan.order == ("a", "b", "c")


def test_task_names() -> None:
    plan = welcome_plan()
    names = list(plan.task_names.values())
    # the phases before the steps, every step in processing order, the phases after
    assert names[:4] == [
        "welcome_series/segments",
        "welcome_series/prepare",
        "welcome_series/rules",
        "welcome_series/enroll",
    ]
    assert names[4:-4] == [f"welcome_series/{step}" for step in plan.order]
    assert names[-4:] == [
        "welcome_series/settle",
        "welcome_series/audience",
        "welcome_series/dispatch",
        "welcome_series/finish",
    ]
    assert len(names) == 11 + 8


def test_describe_rows() -> None:
    rows = {row["step"]: row for row in welcome_plan().describe()}
    assert rows["offer"] == {
        "step": "offer",
        "kind": "split",
        "stage": "decision",
        "targets": "send_10, send_20",
        "does": "split: discount_10 45%: go to 'send_10', discount_20 45%: go to 'send_20',"
        " holdout 10% (holdout): end the journey",
    }
    assert rows["send_10"]["does"] == "send email 'discount' with percent=10"
    assert rows["clicked_offer"]["does"] == (
        "if clicked send_10 or send_20: leave the journey; else: go to 'sms_reminder'"
    )


def test_render_template() -> None:
    import pytest

    from prefect_journeys.definition.templates import TemplateRenderError, render

    spec = welcome_plan().templates["discount"]
    customer = {"first_name": "Ada", "attributes": {"plan": "pro"}, "tags": []}
    message = render(spec, {"customer": customer, "data": {"percent": 20}})
    assert message.subject == "20% off, just for you"
    assert message.body == "Hi Ada,\nuse your 20% discount before it expires.\nPlan: pro\n"
    with pytest.raises(TemplateRenderError) as caught:
        render(spec, {"customer": {"attributes": {}}, "data": {"percent": 20}})
    assert str(caught.value) == (
        "template 'discount' (body): 'customer.first_name' is undefined for this customer"
    )
