@observability
Feature: The gateway's metrics show its breakers, retries, timeouts and bulkheads
  /metrics on the admin API exposes each breaker's state (one series per state, 1 for the current
  one) and its transitions, next to retries, timeouts and bulkhead refusals, so a dashboard shows
  the same story as the scenario.

  Background:
    Given the stack is running
    And I have a valid token for "admin-user"

  @OBS-1
  Scenario: A breaker's state and transitions are in the metrics
    Then the gateway metric 'gauntlet_gateway_circuit_breaker_state{service="value-architect",state="CLOSED"}' is 1
    Given "value-architect" answers 500 to every request
    When I send GET requests to "/api/v1/value-models" until the circuit breaker of "value-architect" is OPEN
    Then the gateway metric 'gauntlet_gateway_circuit_breaker_state{service="value-architect",state="OPEN"}' is 1
    And the gateway metric 'gauntlet_gateway_circuit_breaker_state{service="value-architect",state="CLOSED"}' is 0
    And the gateway metric 'gauntlet_gateway_circuit_breaker_state{service="value-committer",state="CLOSED"}' is 1
    And the gateway metric 'gauntlet_gateway_circuit_breaker_transitions_total{service="value-architect",from="CLOSED",to="OPEN"}' is 1
    When I send 3 GET requests to "/api/v1/value-models"
    Then the gateway metric 'gauntlet_gateway_circuit_breaker_fallbacks_total{service="value-architect"}' is 3
    When 60 seconds pass
    Given the faults on "value-architect" are cleared
    When I send 3 GET requests to "/api/v1/value-models"
    Then the gateway metric 'gauntlet_gateway_circuit_breaker_transitions_total{service="value-architect",to="CLOSED"}' is 1
    And the gateway metric 'gauntlet_gateway_circuit_breaker_transitions_total{service="value-architect"}' is 3

  @OBS-1
  Scenario: Timeouts and bulkhead places are in the metrics
    Given "value-architect" hangs
    When I start a POST request to "/api/v1/value-models"
    And the started requests have reached "value-architect"
    Then the gateway metric 'gauntlet_gateway_bulkhead_in_flight{service="value-architect"}' is 1
    When 30 seconds pass
    And the started requests finish
    Then the response status is 504
    And the gateway metric 'gauntlet_gateway_upstream_timeouts_total{service="value-architect",kind="read_timeout"}' is 1
    And the gateway metric 'gauntlet_gateway_bulkhead_in_flight{service="value-architect"}' is 0
