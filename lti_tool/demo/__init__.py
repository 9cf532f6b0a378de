"""The demo LMS: a small LTI 1.3 platform for newcomers, in the development configuration only."""
