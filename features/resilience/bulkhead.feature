@resilience
Feature: The bulkhead caps the requests in flight to one service
  At most max_concurrent_requests requests may be in flight to a service; the next one gets 503 at
  once, never queues, and is not a circuit-breaker failure. The per-consumer rate limit sits in
  front of the bulkhead, so the 100 slow requests come from admin-user (its whole quota for the
  minute) and the one that finds the bulkhead full from frontend-app.

  Background:
    Given the stack is running
    And the clock reaches the start of the next minute

  # Alone (@serial): "at once" is measured in real time, which dozens of concurrent scenarios
  # on a loaded machine would otherwise stretch past 500 ms.
  @BULK-1 @serial
  Scenario: The 101st concurrent request gets 503 at once and is not a breaker failure
    Given "value-architect" hangs
    And I have a valid token for "admin-user"
    When I start 100 GET requests to "/api/v1/value-models"
    And the started requests have reached "value-architect"
    Given I have a valid token for "frontend-app"
    When I send a GET request to "/api/v1/value-models"
    Then the response status is 503
    And the response JSON "message" is "Too many concurrent requests to service value-architect: its bulkhead allows 100"
    And the response came back within 500 ms
    And the response has no "X-Circuit-Breaker-State" header
    And the circuit breaker of "value-architect" counts 0 consecutive failures
    And "value-architect" received 100 requests
    And the gateway metric 'gauntlet_gateway_bulkhead_rejections_total{service="value-architect"}' is 1
    And the started requests are still waiting

  @BULK-1
  Scenario: Each service has its own bulkhead, and a finished request frees its place
    # POSTs, because a GET that timed out would be retried (and served, once the 100 hangs are
    # spent) while the breaker is still CLOSED.
    Given "value-architect" hangs on the next 100 requests
    And I have a valid token for "admin-user"
    When I start 100 POST requests to "/api/v1/value-models"
    And the started requests have reached "value-architect"
    Given I have a valid token for "frontend-app"
    When I send a GET request to "/api/v1/commitments"
    Then the response status is 200
    And the gateway metric 'gauntlet_gateway_bulkhead_in_flight{service="value-architect"}' is 100
    And the gateway metric 'gauntlet_gateway_bulkhead_in_flight{service="value-committer"}' is 0
    When 30 seconds pass
    And the started requests finish
    Then the last 100 responses have status 504
    And the gateway metric 'gauntlet_gateway_bulkhead_in_flight{service="value-architect"}' is 0
