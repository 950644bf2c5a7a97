"""Prefect's own checks for published blocks, the entry point, and the block type slugs."""

from __future__ import annotations

import re
import subprocess
import sys
from importlib.metadata import entry_points

import pytest
from prefect.blocks.core import Block
from prefect.testing.standard_test_suites import BlockStandardTestSuite

from prefect_journeys.blocks import SendGridCredentials, TwilioCredentials, WebhookCredentials

BLOCKS = [SendGridCredentials, TwilioCredentials, WebhookCredentials]


@pytest.mark.parametrize("block", BLOCKS, indirect=True, ids=lambda b: b.__name__)
class TestStandards(BlockStandardTestSuite):
    @pytest.fixture
    def block(self, request: pytest.FixtureRequest) -> type[Block]:
        return request.param  # type: ignore[no-any-return]

    def test_has_a_valid_image(self, block: type[Block]) -> None:
        """Prefect's version downloads the logo (with Pillow installed) and our machines have no
        internet: check instead that it is one of Prefect's own block logos at a pinned commit."""
        url = str(block._logo_url)
        assert re.fullmatch(
            r"https://raw\.githubusercontent\.com/PrefectHQ/prefect/[0-9a-f]{40}"
            r"/assets/block-logos/[a-z_-]+\.png",
            url,
        ), url


def test_slugs_do_not_clash_with_prefect_notification_blocks() -> None:
    slugs = {b.get_block_type_slug() for b in BLOCKS}
    assert slugs == {
        "journeys-sendgrid-credentials",
        "journeys-twilio-credentials",
        "journeys-webhook-credentials",
    }
    # Prefect's own notification blocks keep their slugs and classes
    assert (
        Block.get_block_class_from_key("sendgrid-email").__module__
        == "prefect.blocks.notifications"
    )
    assert Block.get_block_class_from_key("twilio-sms").__module__ == "prefect.blocks.notifications"


def test_entry_point_is_declared() -> None:
    found = [
        ep for ep in entry_points(group="prefect.collections") if ep.name == "prefect_journeys"
    ]
    assert [ep.value for ep in found] == ["prefect_journeys.blocks"]


def test_prefect_finds_the_block_types_through_the_entry_point_alone() -> None:
    # A fresh interpreter that never imports prefect_journeys itself: Prefect's collection loading
    # (triggered by the lookup) must import the module and register the three types.
    code = (
        "import sys\n"
        "from prefect.blocks.core import Block\n"
        "assert 'prefect_journeys.blocks' not in sys.modules\n"
        "for slug in ('journeys-sendgrid-credentials', 'journeys-twilio-credentials',"
        " 'journeys-webhook-credentials'):\n"
        "    cls = Block.get_block_class_from_key(slug)\n"
        "    print(slug, cls.__module__, cls.__name__)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 0, done.stderr[-2000:]
    lines = done.stdout.split("\n")
    assert (
        "journeys-sendgrid-credentials prefect_journeys.blocks.sendgrid SendGridCredentials"
        in lines
    )
    assert "journeys-twilio-credentials prefect_journeys.blocks.twilio TwilioCredentials" in lines
    assert (
        "journeys-webhook-credentials prefect_journeys.blocks.webhook WebhookCredentials" in lines
    )


def test_block_module_import_does_not_load_provider_sdks() -> None:
    # Every Prefect process imports the collection: it must stay cheap.
    code = (
        "import sys, prefect_journeys.blocks\n"
        "print(sorted(m for m in ('sendgrid', 'twilio', 'httpx') if m in sys.modules))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 0, done.stderr[-2000:]
    # httpx comes with prefect itself; the two provider SDKs must not be imported
    assert "sendgrid" not in done.stdout and "twilio" not in done.stdout, done.stdout
