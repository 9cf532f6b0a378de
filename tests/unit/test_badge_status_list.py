"""Where a credential's bit lies in its issuer's status lists: a first credential and a reinstated one never share
one."""

from __future__ import annotations

import base64
import gzip
from types import SimpleNamespace

import pytest

from lti_tool.badges import status_list
from lti_tool.badges.status_list import LIST_BITS, REISSUE_BASE


def test_a_first_credential_takes_its_assessments_id_and_a_reinstated_one_a_list_of_its_own():
    assert status_list.first_index(SimpleNamespace(assessment_id=7)) == 7
    assert status_list.position_of(7) == (0, 7)
    assert status_list.position_of(LIST_BITS + 3) == (1, 3)
    reissued = status_list.reissue_index(SimpleNamespace(id=1))
    assert reissued == REISSUE_BASE + 1 and status_list.position_of(reissued) == (1024, 1)


@pytest.mark.parametrize("assessment_id", [REISSUE_BASE, REISSUE_BASE + 5, -1])
def test_an_assessment_id_among_the_reinstated_indexes_is_refused_rather_than_shared(assessment_id):
    with pytest.raises(RuntimeError, match="reinstated"):
        status_list.first_index(SimpleNamespace(assessment_id=assessment_id))


def test_the_encoded_list_sets_bit_0_as_the_first_bytes_most_significant_bit():
    encoded = status_list.encode([0, 9, LIST_BITS - 1])
    assert encoded.startswith("u")
    raw = gzip.decompress(base64.urlsafe_b64decode(encoded[1:] + "=" * (-len(encoded[1:]) % 4)))
    assert len(raw) == LIST_BITS // 8 and raw[0] == 0x80 and raw[1] == 0x40 and raw[-1] == 0x01
    assert sum(bin(byte).count("1") for byte in raw) == 3
