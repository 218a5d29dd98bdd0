"""predictive-shared-mechanism: contracts at the smoke preset and (slow) the quick claims."""

import pytest

from brainlearn.experiments.base import claim_ok
from tests.contracts import check_contracts, quick_claims

NAME = "predictive-shared-mechanism"





def test_contracts(tmp_path):
    check_contracts(NAME, tmp_path, interrupt_after=2)


@pytest.mark.slow
def test_quickquick_claims(NAME):
    for row in quick_claims(NAME).values():
        assert claim_ok(row), row
