from urllib.parse import parse_qsl

from b24app.bitrix.encoding import batch_command, php_query


def test_nested_mappings_use_php_brackets():
    query = php_query({"fields": {"ENTITY_ID": "SOURCE", "NAME": "Звонок"}, "id": 5})

    assert query == "fields[ENTITY_ID]=SOURCE&fields[NAME]=%D0%97%D0%B2%D0%BE%D0%BD%D0%BE%D0%BA&id=5"


def test_lists_are_indexed():
    assert php_query({"select": ["ID", "NAME"], "filter": {"@ID": [1, 2]}}) == (
        "select[0]=ID&select[1]=NAME&filter[%40ID][0]=1&filter[%40ID][1]=2"
    )


def test_scalars_bools_none_and_empty_containers():
    query = php_query({"yes": True, "no": False, "none": None, "empty": [], "nothing": {}, "flag": "Y"})

    assert query == "yes=1&no=0&none=&empty=&nothing=&flag=Y"


def test_special_characters_in_values_are_percent_encoded():
    query = php_query({"filter": {"%NAME": "a&b=c?d#e[f] g+h"}})

    assert query == "filter[%25NAME]=a%26b%3Dc%3Fd%23e%5Bf%5D%20g%2Bh"
    assert parse_qsl(query) == [("filter[%NAME]", "a&b=c?d#e[f] g+h")]


def test_batch_references_survive_as_plain_values():
    query = php_query({"id": "$result[add][ID]"})

    assert parse_qsl(query) == [("id", "$result[add][ID]")]


def test_batch_command_always_has_a_question_mark():
    assert batch_command("user.admin") == "user.admin?"
    assert batch_command("crm.status.list", {"filter": {"ENTITY_ID": "SOURCE"}}) == (
        "crm.status.list?filter[ENTITY_ID]=SOURCE"
    )
