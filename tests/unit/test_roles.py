"""LTI roles map to duties with least privilege."""

import pytest

from lti_tool.lti.roles import duties_for_roles

LIS = "http://purl.imsglobal.org/vocab/lis/v2/"


@pytest.mark.parametrize(
    ("roles", "duties"),
    [
        ([LIS + "membership#Learner"], ["educator"]),
        ([LIS + "membership#Instructor"], ["instructor"]),
        ([LIS + "membership#ContentDeveloper"], ["instructor"]),
        ([LIS + "membership#Mentor"], ["assessor"]),
        ([LIS + "membership/Instructor#TeachingAssistant"], ["assessor"]),
        ([LIS + "membership#Instructor", LIS + "membership/Instructor#TeachingAssistant"], ["assessor"]),
        ([LIS + "membership/Instructor#Grader"], ["assessor"]),
        ([LIS + "institution/person#Administrator"], ["admin"]),
        ([LIS + "system/person#Administrator", LIS + "membership#Instructor"], ["instructor", "admin"]),
        (["Learner"], ["educator"]),
        ([LIS + "membership#Observer"], []),
        (["http://example.com/roles#Wizard"], []),
        ([], []),
        (None, []),
    ],
)
def test_duties_for_roles(roles, duties):
    assert duties_for_roles(roles) == duties
