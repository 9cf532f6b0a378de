"""`make loadtest` (`python -m loadtest`): educators and instructors under Locust against several web servers.

The people and what they do are in loadtest/locustfile.py; loadtest/__main__.py starts the stack (cluster/),
prepares the course, runs Locust headless from Python and reports each kind of request.
"""
