from handlers import create_app


def test_health_check_answers_with_the_version():
    client = create_app({"TESTING": True}).test_client()
    answer = client.get("/healthz")
    assert answer.status_code == 200
    assert answer.get_json()["status"] == "ok"
