from b24app.store import Settings
from handlers import create_app


def test_health_check_answers_with_the_version(tmp_path):
    settings = Settings.from_env({"B24APP_INSTANCE": str(tmp_path / "instance")})
    app = create_app(settings)
    answer = app.test_client().get("/healthz")
    assert answer.status_code == 200
    assert answer.get_json()["status"] == "ok"
    assert app.extensions["b24app.store"] is not None
