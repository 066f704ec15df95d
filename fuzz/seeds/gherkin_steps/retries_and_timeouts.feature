@resilience
Feature: Retries and timeouts follow Kong's rules
  A Kong service tries an upstream request retries + 1 times, but only after a connection error or
  a timeout: an HTTP error response is never retried, and a POST that was sent is not sent again.
  Each attempt waits at most read_timeout on the stack clock, then the client gets 504. What
  reached the service is read from its journal.

  Background:
    Given the stack is running
    And I have a valid token for "admin-user"

  @RETRY-1
  Scenario: A GET whose connection is reset is tried retries + 1 times, then 502
    Given "value-architect" resets every connection
    When I send a GET request to "/api/v1/value-models"
    Then the response status is 502
    And the response JSON "message" is "An invalid response was received from the upstream server"
    And "value-architect" received 4 requests
    And the gateway metric 'gauntlet_gateway_upstream_retries_total{service="value-architect"}' is 3

  @RETRY-1
  Scenario: A retry that succeeds hides the failed attempt from the client
    Given "value-architect" has the fault:
      """
      {"action": "reset", "times": 1}
      """
    When I send a GET request to "/api/v1/value-models"
    Then the response status is 200
    And "value-architect" received 2 requests

  @RETRY-1
  Scenario: An HTTP error response is not retried
    Given "value-architect" answers 503 to every request
    When I send a GET request to "/api/v1/value-models"
    Then the response status is 503
    And "value-architect" received 1 request

  @RETRY-1
  Scenario: A POST that was sent is not retried
    Given "value-architect" resets every connection
    When I send a POST request to "/api/v1/value-models" with JSON:
      """
      {"name": "Churn reduction"}
      """
    Then the response status is 502
    And "value-architect" received 1 request

  @RETRY-1
  Scenario: Every try of a refused connection is a failed attempt for the breaker
    Given "value-architect" is stopped
    When I send a GET request to "/api/v1/value-models"
    Then the response status is 502
    And the response header "X-Circuit-Breaker-State" is "CLOSED"
    And the circuit breaker of "value-architect" counts 4 consecutive failures
    And the gateway metric 'gauntlet_gateway_upstream_attempts_total{service="value-architect",outcome="connect_failed"}' is 4

  @RETRY-1
  Scenario: A GET to a hung service is tried four times, 30 seconds each, then 504
    Given "value-architect" hangs
    When I start a GET request to "/api/v1/value-models"
    And "value-architect" has received 1 request
    And 30 seconds pass
    And "value-architect" has received 2 requests
    And 30 seconds pass
    And "value-architect" has received 3 requests
    And 30 seconds pass
    And "value-architect" has received 4 requests
    And 30 seconds pass
    And the started requests finish
    Then the response status is 504
    And "value-architect" received 4 requests

  @TIMEOUT-1
  Scenario: An upstream that does not answer within 30 seconds gives 504, not before
    Given "value-architect" hangs
    When I start a POST request to "/api/v1/value-models"
    And the started requests have reached "value-architect"
    And 29 seconds pass
    Then the started requests are still waiting
    When 1 second passes
    And the started requests finish
    Then the response status is 504
    And the response JSON "message" is "The upstream server is timing out"
    And "value-architect" received 1 request

  @TIMEOUT-1
  Scenario: A timeout is a breaker failure
    Given "value-architect" hangs
    When I start a POST request to "/api/v1/value-models"
    And the started requests have reached "value-architect"
    And 30 seconds pass
    And the started requests finish
    Then the response status is 504
    And the response header "X-Circuit-Breaker-State" is "CLOSED"
    And the circuit breaker of "value-architect" counts 1 consecutive failure
