"""Assessment: allocation, blind rubric scoring, the marking workflow, release to the educator and the LMS."""
