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
  Scenario Outline: A GET whose connection is reset is tried retries + 1 times, then 502 (<service>)
    Given "<service>" resets every connection
    When I send a GET request to "<path>"
    Then the response status is 502
    And the response JSON "message" is "An invalid response was received from the upstream server"
    And "<service>" received 4 requests
    And the gateway metric 'gauntlet_gateway_upstream_retries_total{service="<service>"}' is 3

    Examples:
      | service         | path                 |
      | value-architect | /api/v1/value-models |
      | value-committer | /api/v1/commitments  |

  @RETRY-1
  Scenario Outline: A retry that succeeds hides the failed attempt from the client (<service>)
    Given "<service>" has the fault:
      """
      {"action": "reset", "times": 1}
      """
    When I send a GET request to "<path>"
    Then the response status is 200
    And "<service>" received 2 requests

    Examples:
      | service         | path                 |
      | value-architect | /api/v1/value-models |
      | value-committer | /api/v1/commitments  |

  @RETRY-1
  Scenario Outline: An HTTP error response is not retried (<service>)
    Given "<service>" answers 503 to every request
    When I send a GET request to "<path>"
    Then the response status is 503
    And "<service>" received 1 request

    Examples:
      | service         | path                 |
      | value-architect | /api/v1/value-models |
      | value-committer | /api/v1/commitments  |

  @RETRY-1
  Scenario Outline: A POST that was sent is not retried (<service>)
    Given "<service>" resets every connection
    When I send a POST request to "<path>" with JSON:
      """
      {"name": "Churn reduction"}
      """
    Then the response status is 502
    And "<service>" received 1 request

    Examples:
      | service         | path                 |
      | value-architect | /api/v1/value-models |
      | value-committer | /api/v1/commitments  |

  @RETRY-1
  Scenario Outline: Every try of a refused connection is a failed attempt for the breaker (<service>)
    Given "<service>" is stopped
    When I send a GET request to "<path>"
    Then the response status is 502
    And the response header "X-Circuit-Breaker-State" is "CLOSED"
    And the circuit breaker of "<service>" counts 4 consecutive failures
    And the gateway metric 'gauntlet_gateway_upstream_attempts_total{service="<service>",outcome="connect_failed"}' is 4

    Examples:
      | service         | path                 |
      | value-architect | /api/v1/value-models |
      | value-committer | /api/v1/commitments  |

  @RETRY-1
  Scenario Outline: A GET to a hung service is tried four times, 30 seconds each, then 504 (<service>)
    Given "<service>" hangs
    When I start a GET request to "<path>"
    And "<service>" has received 1 request
    And 30 seconds pass
    And "<service>" has received 2 requests
    And 30 seconds pass
    And "<service>" has received 3 requests
    And 30 seconds pass
    And "<service>" has received 4 requests
    And 30 seconds pass
    And the started requests finish
    Then the response status is 504
    And "<service>" received 4 requests

    Examples:
      | service         | path                 |
      | value-architect | /api/v1/value-models |
      | value-committer | /api/v1/commitments  |

  @TIMEOUT-1
  Scenario Outline: An upstream that does not answer within 30 seconds gives 504, not before (<service>)
    # The clock stands still, so the 30 s are exact: still waiting 1 ms before, a 504 at 30 s.
    Given the stack clock stands still
    And "<service>" hangs
    When I start a POST request to "<path>"
    And the started requests have reached "<service>"
    And 29999 ms pass
    Then the started requests are still waiting
    When 1 ms passes
    And the started requests finish
    Then the response status is 504
    And the response JSON "message" is "The upstream server is timing out"
    And "<service>" received 1 request

    Examples:
      | service         | path                 |
      | value-architect | /api/v1/value-models |
      | value-committer | /api/v1/commitments  |

  @TIMEOUT-1
  Scenario Outline: A timeout is a breaker failure (<service>)
    Given "<service>" hangs
    When I start a POST request to "<path>"
    And the started requests have reached "<service>"
    And 30 seconds pass
    And the started requests finish
    Then the response status is 504
    And the response header "X-Circuit-Breaker-State" is "CLOSED"
    And the circuit breaker of "<service>" counts 1 consecutive failure

    Examples:
      | service         | path                 |
      | value-architect | /api/v1/value-models |
      | value-committer | /api/v1/commitments  |
