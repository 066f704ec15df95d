@latency @serial
Feature: Latency faults and an open breaker, measured under load
  An injected delay is real time, so the histograms measure it: a latency fault at the service's
  inbound stage must show up in the percentiles by the amount injected, and an objective that
  held on the healthy stack must be reported as missed, and by how much. Under load, a breaker
  that has opened answers its fallback without calling the service, so those responses are fast.
  Each scenario stays within one consumer's 100 requests a minute, from the minute boundary.

  Background:
    Given the stack is running
    And I have a valid token for "admin-user"
    And the clock reaches the start of the next minute

  @LAT-1
  Scenario: A 120 ms latency fault breaks the 50 ms p99 objective by at least 50 ms
    Given "value-architect" responds after 120 ms
    When I send 50 GET requests to "/api/v1/value-models" at 100 per second
    Then every load response has status 200
    And the p99 latency objective of 50 ms is missed by at least 50 ms
    And the p50 latency is between 120 ms and 200 ms

  @LAT-1 @CB-3
  Scenario: Under load, an open breaker answers its fallback fast and nothing reaches the service
    Given "value-architect" answers 500 to every request
    When I send GET requests to "/api/v1/value-models" until the circuit breaker of "value-architect" is OPEN
    Given the faults on "value-architect" are cleared
    And "value-architect" responds after 200 ms
    When I send 90 GET requests to "/api/v1/value-models" at 300 per second
    Then at least 90 load responses have status 503
    And the p99 latency of the 5xx responses is below 50 ms
    And the circuit breaker of "value-architect" is OPEN
