"""The gradebook: the durable outbox of scores to the LMS and its worker."""


def init_app(app) -> None:
    """Follow launches (a person opening another placement of their micro-credential gets their latest score in its
    column, `services.catch_up_new_placement`) and mount the admins' outbox page."""
    from lti_tool.gradebook.services import catch_up_new_placement
    from lti_tool.gradebook.views import bp
    from lti_tool.lti.hooks import on_first_launch_from

    on_first_launch_from(catch_up_new_placement)
    app.register_blueprint(bp)
