from __future__ import annotations

from flask.testing import FlaskClient

from .conftest import Mailbox, action_body, form_data


def test_form_action_reaches_every_target(
    client: FlaskClient, campaign: object, mailbox: Mailbox
) -> None:
    response = client.post("/actions/example-mine-strike", data=form_data(client))
    assert response.status_code == 303
    assert len(mailbox.messages) == 1
    rcpt, message = mailbox.received[0]
    assert sorted(rcpt) == ["ceo@mining.example", "minister@labour.example"]
    assert str(message["Reply-To"]) == "Ana Kovač <ana@example.org>"
    assert str(message["From"]) == "Ana Kovač via Example Network <actions@network.example>"


def test_api_action(client: FlaskClient, campaign: object, mailbox: Mailbox) -> None:
    response = client.post(
        "/actions/api/campaigns/example-mine-strike/actions", json=action_body(client)
    )
    assert response.status_code == 201, response.get_json()
    assert response.get_json()["count"] == 1
    assert len(mailbox.messages) == 1
