"""The yardstick of `python -m bench launches`: the leanest LTI 1.3 tool pylti1p3 makes, as its Flask example does.

OIDC login and launch through pylti1p3's Flask classes, its launch data and state in a Flask-Caching cache
(the filesystem, or Redis when REDIS_URL is set: the same backend as the tool in the same run), the platform's
keys cached by pylti1p3 (`set_public_key_caching`), no database, and a ten-line page rendered by the launch
itself. pylti1p3 checks that a nonce was issued but never consumes one. Served by gunicorn with the tool's own
settings (`gunicorn -c bench/gunicorn_counting.py 'bench.minimal_tool:create_app()'`), configured from the
environment by the benchmark: MINIMAL_ISSUER, MINIMAL_CLIENT_ID, MINIMAL_AUTH_URL, MINIMAL_TOKEN_URL,
MINIMAL_JWKS_URL, MINIMAL_DEPLOYMENT_ID, MINIMAL_KEY_FILE, CACHE_DIR, REDIS_URL.
"""

from __future__ import annotations

import os

from flask import Flask, jsonify, render_template_string, request
from flask_caching import Cache
from pylti1p3.contrib.flask import FlaskCacheDataStorage, FlaskMessageLaunch, FlaskOIDCLogin, FlaskRequest
from pylti1p3.tool_config import ToolConfDict

PAGE = """<!doctype html>
<html lang="en">
<head><meta charset="utf-8"><title>Launched</title></head>
<body>
<main>
<h1>Welcome, {{ name }}</h1>
<p>Course: {{ course }}</p>
</main>
</body>
</html>"""


def create_app() -> Flask:
    env = os.environ
    app = Flask(__name__)
    if env.get("REDIS_URL"):
        app.config.update(CACHE_TYPE="RedisCache", CACHE_REDIS_URL=env["REDIS_URL"], CACHE_KEY_PREFIX="minimal:")
    else:
        app.config.update(CACHE_TYPE="FileSystemCache", CACHE_DIR=env["CACHE_DIR"], CACHE_THRESHOLD=0)
    cache = Cache(app)
    issuer, client_id = env["MINIMAL_ISSUER"], env["MINIMAL_CLIENT_ID"]
    tool_conf = ToolConfDict({issuer: [{
        "default": True,
        "client_id": client_id,
        "auth_login_url": env["MINIMAL_AUTH_URL"],
        "auth_token_url": env["MINIMAL_TOKEN_URL"],
        "auth_audience": None,
        "key_set_url": env["MINIMAL_JWKS_URL"],
        "key_set": None,
        "deployment_ids": [env["MINIMAL_DEPLOYMENT_ID"]],
    }]})
    with open(env["MINIMAL_KEY_FILE"]) as key_file:
        tool_conf.set_private_key(issuer, key_file.read(), client_id=client_id)

    @app.get("/healthz")
    def healthz():
        return jsonify(status="ok")

    @app.route("/lti/login", methods=["GET", "POST"])
    def login():
        storage = FlaskCacheDataStorage(cache)
        oidc = FlaskOIDCLogin(FlaskRequest(), tool_conf, launch_data_storage=storage)
        return oidc.redirect(request.values["target_link_uri"])

    @app.post("/lti/launch")
    def launch():
        storage = FlaskCacheDataStorage(cache)
        message_launch = FlaskMessageLaunch(FlaskRequest(), tool_conf, launch_data_storage=storage)
        message_launch.set_public_key_caching(storage, cache_lifetime=7200)
        data = message_launch.get_launch_data()
        context = data.get("https://purl.imsglobal.org/spec/lti/claim/context") or {}
        return render_template_string(PAGE, name=data.get("name") or data["sub"], course=context.get("title"))

    return app
