@observability
Feature: The gateway's Prometheus metrics count what it did
  The admin API's /metrics counts every answer by route, status, consumer and source (the
  service, or the gateway itself), auth refusals by plugin and reason, and upstream attempts.

  Background:
    Given the stack is running

  @OBS-1
  Scenario: Refusals and proxied requests are counted
    Given I have no token
    When I send 2 GET requests to "/api/v1/value-models"
    Then the last 2 responses have status 401
    And the gateway metric 'gauntlet_gateway_auth_failures_total{plugin="jwt",reason="no_token"}' is 2
    And the gateway metric 'gauntlet_gateway_http_requests_total{route="value-models-read",code="401",source="gateway"}' is 2
    Given I have a valid token for "admin-user"
    When I send a GET request to "/api/v1/value-models"
    Then the response status is 200
    And the gateway metric 'gauntlet_gateway_http_requests_total{route="value-models-read",code="200",consumer="admin-user",source="service"}' is 1
    And the gateway metric 'gauntlet_gateway_upstream_attempts_total{service="value-architect",outcome="response"}' is 1
    When I send a GET request to "/nowhere"
    Then the response status is 404
    And the gateway metric 'gauntlet_gateway_http_requests_total{route="",code="404",source="gateway"}' is 1
