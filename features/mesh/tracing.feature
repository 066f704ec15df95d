@mesh
Feature: One trace from the gateway through the mesh
  The gateway starts a W3C trace context when a request has none and passes a valid one on
  unchanged; the services carry it on their calls through the mesh.

  Background:
    Given the stack is running
    And I have a valid token for "admin-user"

  @OBS-2
  Scenario: A trace starts at the gateway and crosses from value-committer to value-architect
    When I send a POST request to "/api/v1/commitments" with JSON:
      """
      {"value_model_id": "6f1d2c3b-8a4e-4f7b-9c2d-1e5a7b3c9d01", "owner": "finance", "target_date": "2027-03-31", "amount": 1000}
      """
    Then the response status is 201
    And the last request to "value-committer" carries a trace context
    And the last requests to "value-committer" and "value-architect" carry the same trace id

  @OBS-2
  Scenario: A client's trace id reaches the service unchanged
    Given the request header "traceparent" is "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
    When I send a GET request to "/api/v1/value-models"
    Then the response status is 200
    And the last request to "value-architect" carries the trace id "4bf92f3577b34da6a3ce929d0e0e4736"
