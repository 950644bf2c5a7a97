"""One test per kind of problem: each names the file, the line and (when it applies) the step."""

from __future__ import annotations

from pathlib import Path

from prefect_journeys.definition.errors import Problem
from prefect_journeys.definition.project import Project

from .helpers import HEADER, make_project

J = "journeys/trial.yaml"


def problems_of(tmp_path: Path, journey: str, **extra: dict[str, str]) -> list[Problem]:
    root = make_project(tmp_path, {"trial": journey}, **extra)
    return Project.load(root).problems


def only(problems: list[Problem]) -> Problem:
    assert len(problems) == 1, [str(p) for p in problems]
    return problems[0]


def test_valid_fixture_has_no_problems() -> None:
    from .helpers import FIXTURE

    project = Project.load(FIXTURE)
    assert project.problems == []
    assert list(project.journeys) == ["welcome_series"]


def test_problem_str_reads_like_a_compiler_message() -> None:
    problem = Problem("journeys/w.yaml", 12, "offer", "split weights sum to 90, not 100", "fix")
    assert str(problem) == (
        "journeys/w.yaml:12: step 'offer': split weights sum to 90, not 100 (hint: fix)"
    )


def test_yaml_syntax_error(tmp_path: Path) -> None:
    p = only(problems_of(tmp_path, HEADER + "  - id: a\n   wait: 1d\n"))
    assert (p.file, p.line, p.step) == (J, 5, None)
    assert p.message.startswith("YAML syntax error")


def test_duplicate_key(tmp_path: Path) -> None:
    text = HEADER + "  - id: a\n    wait: 1d\n    wait: 2d\n"
    p = only(problems_of(tmp_path, text))
    assert (p.file, p.line) == (J, 6)
    assert "'wait' appears twice" in p.message and "line 5" in p.message


def test_unknown_field_with_suggestion(tmp_path: Path) -> None:
    text = HEADER + "  - id: a\n    wait_for: {event: x, timout: 1d}\n    on_event: exit\n"
    found = problems_of(tmp_path, text)
    assert [(p.line, p.step, p.message) for p in found] == [
        (5, "a", "wait_for: missing required field 'timeout'"),
        (5, "a", "unknown field 'timout'"),
    ]
    assert found[1].hint == "did you mean 'timeout'?"


def test_missing_field(tmp_path: Path) -> None:
    p = only(problems_of(tmp_path, HEADER + "  - id: a\n    send: {channel: email}\n"))
    assert (p.file, p.line, p.step) == (J, 5, "a")
    assert p.message == "send: missing required field 'template'"


def test_missing_step_id(tmp_path: Path) -> None:
    p = only(problems_of(tmp_path, HEADER + "  - wait: 1d\n"))
    assert (p.line, p.step) == (4, None)
    assert p.message == "step #1 has no 'id'"


def test_step_without_kind(tmp_path: Path) -> None:
    p = only(problems_of(tmp_path, HEADER + "  - id: a\n    next: exit\n"))
    assert (p.line, p.step) == (4, "a")
    assert "exactly one of: send, wait" in p.message


def test_invalid_step_id(tmp_path: Path) -> None:
    p = only(problems_of(tmp_path, HEADER + "  - id: Send Offer\n    wait: 1d\n"))
    assert (p.line, p.step) == (4, "Send Offer")
    assert p.message == "id: invalid id 'Send Offer'"


def test_duplicate_step_id(tmp_path: Path) -> None:
    text = HEADER + "  - id: a\n    wait: 1d\n    next: a2\n  - id: a2\n    wait: 1d\n"
    text += "  - id: a\n    wait: 2d\n"
    found = problems_of(tmp_path, text)
    dup = [p for p in found if "duplicate" in p.message]
    assert [(p.line, p.step) for p in dup] == [(9, "a")]
    assert "step #1, line 4" in dup[0].message


def test_reserved_step_id(tmp_path: Path) -> None:
    p = only(problems_of(tmp_path, HEADER + "  - id: dispatch\n    wait: 1d\n"))
    assert (p.line, p.step) == (4, "dispatch")
    assert "reserved" in p.message


def test_target_pointing_nowhere(tmp_path: Path) -> None:
    text = HEADER + "  - id: a\n    wait: 1d\n    next: bb\n  - id: b\n    wait: 1d\n"
    found = problems_of(tmp_path, text)
    target = [p for p in found if "points to" in p.message]
    assert [(p.line, p.step) for p in target] == [(6, "a")]
    assert target[0].message == "'next' points to 'bb', which is not a step of this journey"
    assert target[0].hint is not None and "did you mean 'b'?" in target[0].hint


def test_branch_and_split_targets(tmp_path: Path) -> None:
    text = (
        HEADER
        + """\
  - id: a
    branch:
      - when: {attribute: plan, value: pro}
        next: nope
      - else: nada
  - id: s
    split:
      - {variant: x, weight: 50, next: zip}
      - {variant: y, weight: 50}
"""
    )
    found = [p for p in problems_of(tmp_path, text) if "points to" in p.message]
    assert [(p.line, p.step, p.message.split(" points")[0]) for p in found] == [
        (7, "a", "'next'"),
        (8, "a", "'else'"),
        (11, "s", "'next'"),
    ]


def test_unreachable_step(tmp_path: Path) -> None:
    text = HEADER + "  - id: a\n    wait: 1d\n  - id: lonely\n    wait: 1d\n"
    p = only(problems_of(tmp_path, text))
    assert (p.line, p.step) == (6, "lonely")
    assert p.message == "this step can never be reached from the first step 'a'"


def test_loop_without_wait(tmp_path: Path) -> None:
    text = (
        HEADER
        + """\
  - id: a
    update: {add_tags: [x]}
    next: b
  - id: b
    update: {add_tags: [y]}
    next: a
"""
    )
    p = only(problems_of(tmp_path, text))
    assert (p.line, p.step) == (4, "a")
    assert p.message == "steps a → b form a loop with no wait or wait_for step"


def test_loop_with_wait_is_fine(tmp_path: Path) -> None:
    text = HEADER + "  - id: a\n    wait: 1d\n    next: b\n  - id: b\n"
    text += "    update: {add_tags: [y]}\n    next: a\n"
    assert problems_of(tmp_path, text) == []


def test_split_weights(tmp_path: Path) -> None:
    text = (
        HEADER
        + """\
  - id: offer
    split:
      - {variant: a, weight: 45}
      - {variant: b, weight: 45}
"""
    )
    p = only(problems_of(tmp_path, text))
    assert str(p) == (
        "journeys/trial.yaml:5: step 'offer': split weights sum to 90, not 100"
        " (hint: make the weights add up to 100 (they are percentages))"
    )


def test_unknown_channel(tmp_path: Path) -> None:
    text = HEADER + "  - id: a\n    send: {channel: fax, template: welcome_intro}\n"
    p = only(problems_of(tmp_path, text))
    assert (p.line, p.step) == (5, "a")
    assert p.message.startswith("send.channel: unknown channel 'fax'")


def test_unknown_template(tmp_path: Path) -> None:
    text = HEADER + "  - id: a\n    send: {channel: email, template: welcome_intr}\n"
    p = only(problems_of(tmp_path, text))
    assert (p.line, p.step, p.message) == (5, "a", "unknown template 'welcome_intr'")
    assert p.hint is not None and "did you mean 'welcome_intro'?" in p.hint


def test_template_channel_mismatch(tmp_path: Path) -> None:
    text = HEADER + "  - id: a\n    send: {channel: email, template: offer_reminder}\n"
    p = only(problems_of(tmp_path, text))
    assert (p.line, p.step) == (5, "a")
    assert p.message == "template 'offer_reminder' is a sms template but this step sends by email"


def test_undeclared_template_data(tmp_path: Path) -> None:
    text = HEADER + "  - id: a\n    send: {channel: email, template: discount}\n"
    p = only(problems_of(tmp_path, text))
    assert (p.line, p.step) == (5, "a")
    assert p.message == (
        "template 'discount' uses 'data.percent' (templates/discount.yaml:2)"
        " but this step's send.data does not set 'percent'"
    )


def test_unknown_template_variable_on_template_and_step(tmp_path: Path) -> None:
    template = "channel: sms\nbody: |\n  Hi\n  {{ customer.plan }} {{ shop.name }}\n"
    text = HEADER + "  - id: a\n    send: {channel: sms, template: promo}\n"
    found = problems_of(tmp_path, text, templates={"promo": template})
    assert sorted((p.file, p.line, p.step, p.message) for p in found) == [
        (
            J,
            5,
            "a",
            "template 'promo' uses an unknown variable 'customer.plan' (templates/promo.yaml:4)",
        ),
        (
            J,
            5,
            "a",
            "template 'promo' uses an unknown variable 'shop.name' (templates/promo.yaml:4)",
        ),
        ("templates/promo.yaml", 4, None, "unknown variable 'customer.plan'"),
        ("templates/promo.yaml", 4, None, "unknown variable 'shop.name'"),
    ]


def test_liquid_locals_are_not_flagged(tmp_path: Path) -> None:
    template = (
        'channel: sms\nbody: "{% assign n = customer.first_name %}{{ n }}'
        '{% for t in customer.tags %}{{ t }}{{ forloop.index }}{% endfor %}"\n'
    )
    text = HEADER + "  - id: a\n    send: {channel: sms, template: promo}\n"
    assert problems_of(tmp_path, text, templates={"promo": template}) == []


def test_liquid_syntax_error(tmp_path: Path) -> None:
    template = "channel: sms\nbody: |\n  line one\n  {% if customer.email %}\n  no end\n"
    text = HEADER + "  - id: a\n    send: {channel: sms, template: promo}\n"
    found = problems_of(tmp_path, text, templates={"promo": template})
    assert [(p.file, p.line, p.step) for p in found] == [
        ("templates/promo.yaml", 5, None),
        (J, 5, "a"),
    ]
    assert found[0].message.startswith("Liquid syntax error in body: expected tag endif")
    assert found[1].message == (
        "template 'promo' has problems of its own (see templates/promo.yaml)"
    )


def test_email_template_needs_subject(tmp_path: Path) -> None:
    text = HEADER + "  - id: a\n    send: {channel: email, template: bare}\n"
    found = problems_of(tmp_path, text, templates={"bare": "channel: email\nbody: hi\n"})
    assert (found[0].file, found[0].line) == ("templates/bare.yaml", 1)
    assert found[0].message == "an email template needs a 'subject'"


def test_unknown_segment_in_entry(tmp_path: Path) -> None:
    text = "id: trial\nentry: {segment: vipp}\nsteps:\n  - id: a\n    wait: 1d\n"
    p = only(problems_of(tmp_path, text))
    assert (p.file, p.line, p.step, p.message) == (J, 2, None, "unknown segment 'vipp'")
    assert p.hint is not None and "did you mean 'vip'?" in p.hint


def test_unknown_segment_in_branch_condition(tmp_path: Path) -> None:
    text = (
        HEADER
        + """\
  - id: a
    branch:
      - when:
          any:
            - {attribute: plan, value: pro}
            - {segment: gold}
        next: exit
"""
    )
    p = only(problems_of(tmp_path, text))
    assert (p.line, p.step, p.message) == (9, "a", "unknown segment 'gold'")


def test_unknown_segment_in_exit_rules(tmp_path: Path) -> None:
    text = HEADER + "  - id: a\n    wait: 1d\nexit: {on_leaving_segment: gold}\n"
    p = only(problems_of(tmp_path, text))
    assert (p.line, p.message) == (6, "unknown segment 'gold'")


def test_unknown_segment_inside_named_segment(tmp_path: Path) -> None:
    segment = "id: loyal\nrule:\n  not: {segment: platinum}\n"
    text = HEADER + "  - id: a\n    wait: 1d\n"
    p = only(problems_of(tmp_path, text, segments={"loyal": segment}))
    assert (p.file, p.line) == ("segments/loyal.yaml", 3)
    assert p.message == "segment 'loyal' uses unknown segment 'platinum'"


def test_segments_referring_to_each_other(tmp_path: Path) -> None:
    segments = {
        "a_seg": "id: a_seg\nrule: {segment: b_seg}\n",
        "b_seg": "id: b_seg\nrule: {segment: a_seg}\n",
    }
    found = problems_of(tmp_path, HEADER + "  - id: a\n    wait: 1d\n", segments=segments)
    p = only(found)
    assert (p.file, p.line) == ("segments/a_seg.yaml", 2)
    assert "a_seg → b_seg → a_seg" in p.message


def test_leaving_segment_without_entry_segment(tmp_path: Path) -> None:
    text = HEADER + "  - id: a\n    wait: 1d\nexit: {on_leaving_segment: true}\n"
    p = only(problems_of(tmp_path, text))
    assert (p.line, p.step) == (6, None)
    assert "entry has no segment" in p.message


def test_invalid_duration(tmp_path: Path) -> None:
    text = HEADER + "  - id: a\n    wait_for: {event: x, timeout: 3x}\n    on_event: exit\n"
    p = only(problems_of(tmp_path, text))
    assert (p.line, p.step) == (5, "a")
    assert p.message.startswith("wait_for.timeout: invalid duration '3x'")


def test_invalid_wait_shorthand_picks_the_meant_form(tmp_path: Path) -> None:
    p = only(problems_of(tmp_path, HEADER + "  - id: a\n    wait: 1 day\n"))
    assert (p.line, p.step) == (5, "a")
    assert p.message.startswith("wait: invalid duration '1 day'")


def test_invalid_time_zone(tmp_path: Path) -> None:
    text = HEADER + "  - id: a\n    wait: 1d\nsettings:\n  timezone: Mars/Base\n"
    p = only(problems_of(tmp_path, text))
    assert (p.line, p.step) == (7, None)
    assert p.message.startswith("settings.timezone: unknown time zone 'Mars/Base'")


def test_invalid_cron(tmp_path: Path) -> None:
    text = "id: trial\nentry:\n  schedule: {cron: every monday}\nsteps:\n  - id: a\n    wait: 1d\n"
    p = only(problems_of(tmp_path, text))
    assert p.line == 3
    assert p.message.startswith("entry.schedule.cron: invalid cron expression")


def test_invalid_time_of_day(tmp_path: Path) -> None:
    text = HEADER + "  - id: a\n    wait: {until: '25:00'}\n"
    p = only(problems_of(tmp_path, text))
    assert (p.line, p.step) == (5, "a")
    assert p.message.startswith("wait.until: invalid time of day '25:00'")


def test_unquoted_time_of_day_stays_text(tmp_path: Path) -> None:
    text = HEADER + "  - id: a\n    wait: {until: 09:30}\nsettings:\n"
    text += "  quiet_hours: {start: 21:00, end: 08:00}\n"
    assert problems_of(tmp_path, text) == []


def test_unknown_stage(tmp_path: Path) -> None:
    text = HEADER + "  - id: a\n    stage: awarenes\n    wait: 1d\n"
    p = only(problems_of(tmp_path, text))
    assert (p.line, p.step, p.message) == (5, "a", "unknown stage 'awarenes'")
    assert p.hint is not None and "did you mean 'awareness'?" in p.hint


def test_engagement_naming_a_non_send_step(tmp_path: Path) -> None:
    text = (
        HEADER
        + """\
  - id: pause
    wait: 1d
    next: check
  - id: check
    branch:
      - when: {opened: [pause]}
        next: exit
"""
    )
    p = only(problems_of(tmp_path, text))
    assert (p.line, p.step) == (9, "check")
    assert p.message == "'opened' names 'pause', which is a wait step, not a send step"


def test_engagement_naming_a_later_send(tmp_path: Path) -> None:
    text = (
        HEADER
        + """\
  - id: check
    branch:
      - when: {clicked: [later]}
        next: exit
      - else: later
  - id: later
    send: {channel: sms, template: offer_reminder}
"""
    )
    p = only(problems_of(tmp_path, text))
    assert (p.line, p.step) == (6, "check")
    assert p.message == "'clicked' names 'later', but no path leads from 'later' to this branch"


def test_engagement_in_entry_segment(tmp_path: Path) -> None:
    text = "id: trial\nentry:\n  segment: {clicked: [a]}\nsteps:\n  - id: a\n    wait: 1d\n"
    p = only(problems_of(tmp_path, text))
    assert p.line == 3
    assert "only work in a branch step" in p.message


def test_duplicate_journey_ids(tmp_path: Path) -> None:
    text = HEADER + "  - id: a\n    wait: 1d\n"
    root = make_project(tmp_path, {"one": text, "two": text})
    p = only(Project.load(root).problems)
    assert (p.file, p.line) == ("journeys/two.yaml", 1)
    assert p.message == "journey id 'trial' is already used by journeys/one.yaml"


def test_all_problems_reported_at_once(tmp_path: Path) -> None:
    text = (
        HEADER
        + """\
  - id: a
    send: {channel: email, template: nope}
    next: b
  - id: b
    wait: 3x
    next: missing
  - id: c
    split:
      - {variant: x, weight: 10}
      - {variant: y, weight: 10}
"""
    )
    found = problems_of(tmp_path, text)
    assert sorted((p.line, p.step) for p in found) == [
        (5, "a"),  # unknown template
        (8, "b"),  # bad duration
        (9, "b"),  # next points nowhere
        (10, "c"),  # unreachable
        (11, "c"),  # weights
    ]


def test_plan_raises_journey_invalid(tmp_path: Path) -> None:
    import pytest

    from prefect_journeys.definition.errors import JourneyInvalid

    root = make_project(tmp_path, {"trial": HEADER + "  - id: a\n    wait: 1x\n"})
    with pytest.raises(JourneyInvalid) as caught:
        Project.load(root).plan("trial")
    assert [p.line for p in caught.value.problems] == [5]
    with pytest.raises(JourneyInvalid):
        Project.load(root).plan("nope")
