@resilience
Feature: The circuit breaker protects a failing service and lets it recover
  Each service behind the gateway has its own circuit breaker (the circuit-breaker plugin in
  kong.yml). It counts failed upstream attempts — a connection error, a timeout, or a status in
  failure_statuses — and after failure_threshold of them in a row it opens: the gateway answers a
  fallback without calling the service until open_timeout has passed on the stack clock, then lets
  a few trial requests through. The clock jumps: the 60 s of recovery take milliseconds. Every
  threshold is checked on both sides, on every service that configures a breaker.

  Background:
    Given the stack is running
    And I have a valid token for "admin-user"

  @CB-1 @CB-6
  Scenario Outline: A breaker starts CLOSED and says so on every proxied response (<service>)
    Then the circuit breaker of "<service>" is CLOSED
    When I send a GET request to "<path>"
    Then the response status is 200
    And the response header "X-Circuit-Breaker-State" is "CLOSED"
    And the response's breaker state matches the admin API for "<service>"

    Examples:
      | service         | path                 |
      | value-architect | /api/v1/value-models |
      | value-committer | /api/v1/commitments  |

  @CB-2
  Scenario Outline: Five consecutive failed attempts open the breaker, and the fifth says OPEN (<service>, <status>)
    Given "<service>" answers <status> to every request
    When I send 4 GET requests to "<path>"
    Then the last 4 responses have status <status>
    And the response header "X-Circuit-Breaker-State" is "CLOSED"
    And the circuit breaker of "<service>" counts 4 consecutive failures
    When I send a GET request to "<path>"
    Then the response status is <status>
    And the response header "X-Circuit-Breaker-State" is "OPEN"
    And the circuit breaker of "<service>" is OPEN

    Examples:
      | service         | path                 | status |
      | value-architect | /api/v1/value-models | 500    |
      | value-architect | /api/v1/value-models | 502    |
      | value-architect | /api/v1/value-models | 503    |
      | value-architect | /api/v1/value-models | 504    |
      | value-committer | /api/v1/commitments  | 500    |
      | value-committer | /api/v1/commitments  | 502    |
      | value-committer | /api/v1/commitments  | 503    |
      | value-committer | /api/v1/commitments  | 504    |

  @CB-2
  Scenario Outline: A success in between resets the count (<service>)
    Given "<service>" answers 500 to the next 4 requests
    When I send 4 GET requests to "<path>"
    Then the circuit breaker of "<service>" counts 4 consecutive failures
    When I send a GET request to "<path>"
    Then the response status is 200
    And the circuit breaker of "<service>" counts 0 consecutive failures
    Given "<service>" answers 500 to the next 4 requests
    When I send 4 GET requests to "<path>"
    Then the circuit breaker of "<service>" is CLOSED
    And the circuit breaker of "<service>" counts 4 consecutive failures

    Examples:
      | service         | path                 |
      | value-architect | /api/v1/value-models |
      | value-committer | /api/v1/commitments  |

  @CB-2
  Scenario Outline: Statuses outside failure_statuses are successes (<service>)
    Given "<service>" answers 404 to every request
    When I send 10 GET requests to "<path>"
    Then the last 10 responses have status 404
    And the circuit breaker of "<service>" is CLOSED
    And the circuit breaker of "<service>" counts 0 consecutive failures

    Examples:
      | service         | path                 |
      | value-architect | /api/v1/value-models |
      | value-committer | /api/v1/commitments  |

  @CB-3
  Scenario Outline: While OPEN nothing reaches the service and the fallback comes back at once (<service>)
    Given "<service>" answers 500 to every request
    When I send GET requests to "<path>" until the circuit breaker of "<service>" is OPEN
    # From now on a request that reached the service would come back 418.
    Given the faults on "<service>" are cleared
    And "<service>" answers 418 to every request
    When I send 10 GET requests to "<path>"
    Then the last 10 responses have status 503
    And the response header "X-Circuit-Breaker-State" is "OPEN"
    And the response JSON "service" is "<service>"
    And the response header "Retry-After" is a number between 1 and 60
    And the response came back within 500 ms

    Examples:
      | service         | path                 |
      | value-architect | /api/v1/value-models |
      | value-committer | /api/v1/commitments  |

  @CB-2
  Scenario Outline: A stopped service opens the breaker after 5 failed attempts, retries counted (<service>)
    # The first request is tried retries + 1 times; the breaker opens on whichever attempt is
    # the fifth failure in a row, and no attempt follows it.
    Given "<service>" is stopped
    When I send GET requests to "<path>" until the circuit breaker of "<service>" is OPEN
    Then the response status is 502
    And the gateway metric 'gauntlet_gateway_upstream_attempts_total{service="<service>",outcome="connect_failed"}' is 5

    Examples:
      | service         | path                 |
      | value-architect | /api/v1/value-models |
      | value-committer | /api/v1/commitments  |

  @CB-4 @CB-5
  Scenario Outline: The platform runbook: a stopped service, the fallback, 60 seconds, trials, recovery (<service>)
    # Still OPEN 1 s before open_timeout, a trial at it; still HALF-OPEN after 2 trial successes,
    # CLOSED after the third. The clock stands still, so the seconds are exact.
    Given the stack clock stands still
    And "<service>" is stopped
    When I send GET requests to "<path>" until the circuit breaker of "<service>" is OPEN
    Then the response status is 502
    When I send a GET request to "<path>"
    Then the response status is 503
    And the response header "X-Circuit-Breaker-State" is "OPEN"
    And the response header "Retry-After" is "60"
    When 59 seconds pass
    And I send a GET request to "<path>"
    Then the response status is 503
    And the response header "Retry-After" is "1"
    When 1 second passes
    And "<service>" is started again
    And I send a GET request to "<path>"
    Then the response status is 200
    And the response header "X-Circuit-Breaker-State" is "HALF-OPEN"
    And the circuit breaker of "<service>" is HALF-OPEN
    When I send a GET request to "<path>"
    Then the response status is 200
    And the response header "X-Circuit-Breaker-State" is "HALF-OPEN"
    When I send a GET request to "<path>"
    Then the response status is 200
    And the response header "X-Circuit-Breaker-State" is "CLOSED"
    And the circuit breaker of "<service>" went "CLOSED → OPEN → HALF-OPEN → CLOSED"

    Examples:
      | service         | path                 |
      | value-architect | /api/v1/value-models |
      | value-committer | /api/v1/commitments  |

  @CB-5
  Scenario Outline: A failed trial reopens the breaker for another 60 seconds (<service>)
    Given the stack clock stands still
    And "<service>" answers 500 to every request
    When I send GET requests to "<path>" until the circuit breaker of "<service>" is OPEN
    And 60 seconds pass
    And I send a GET request to "<path>"
    Then the response status is 500
    And the response header "X-Circuit-Breaker-State" is "OPEN"
    When 30 seconds pass
    And I send a GET request to "<path>"
    Then the response status is 503
    And the response header "Retry-After" is "30"
    When 30 seconds pass
    And the faults on "<service>" are cleared
    And I send a GET request to "<path>"
    Then the response status is 200
    And the response header "X-Circuit-Breaker-State" is "HALF-OPEN"
    And the circuit breaker of "<service>" went "CLOSED → OPEN → HALF-OPEN → OPEN → HALF-OPEN"

    Examples:
      | service         | path                 |
      | value-architect | /api/v1/value-models |
      | value-committer | /api/v1/commitments  |

  @CB-4
  Scenario Outline: HALF-OPEN lets at most three trials through at a time (<service>)
    Given "<service>" answers 500 to every request
    When I send GET requests to "<path>" until the circuit breaker of "<service>" is OPEN
    And 60 seconds pass
    # The three trials hang; a fourth request that reached the service would get 200.
    Given the faults on "<service>" are cleared
    And "<service>" hangs on the next 3 requests
    When I start 3 GET requests to "<path>"
    And the started requests have reached "<service>"
    And I send a GET request to "<path>"
    Then the response status is 503
    And the response header "X-Circuit-Breaker-State" is "HALF-OPEN"
    And the circuit breaker of "<service>" is HALF-OPEN

    Examples:
      | service         | path                 |
      | value-architect | /api/v1/value-models |
      | value-committer | /api/v1/commitments  |

  @CB-6
  Scenario: Requests refused before the breaker carry no breaker state
    Given I have no token
    When I send a GET request to "/api/v1/value-models"
    Then the response status is 401
    And the response has no "X-Circuit-Breaker-State" header
    Given I have a valid token for "frontend-app"
    When I send GET requests to "/api/v1/value-models" until one is refused
    Then the response status is 429
    And the response has no "X-Circuit-Breaker-State" header

  @CB-6
  Scenario Outline: The header and the admin API agree through every state (<service>)
    Given "<service>" answers 500 to every request
    When I send GET requests to "<path>" until the circuit breaker of "<service>" is OPEN
    Then the response's breaker state matches the admin API for "<service>"
    When 60 seconds pass
    And I send a GET request to "<path>"
    Then the response header "X-Circuit-Breaker-State" is "OPEN"
    And the response's breaker state matches the admin API for "<service>"
    When 60 seconds pass
    And the faults on "<service>" are cleared
    And I send a GET request to "<path>"
    Then the response header "X-Circuit-Breaker-State" is "HALF-OPEN"
    And the response's breaker state matches the admin API for "<service>"
    When I send 2 GET requests to "<path>"
    Then the response header "X-Circuit-Breaker-State" is "CLOSED"
    And the response's breaker state matches the admin API for "<service>"

    Examples:
      | service         | path                 |
      | value-architect | /api/v1/value-models |
      | value-committer | /api/v1/commitments  |

  @CB-7
  Scenario Outline: <failing> failing never opens <other>'s breaker
    Given "<failing>" is stopped
    When I send GET requests to "<failing path>" until the circuit breaker of "<failing>" is OPEN
    And I send a GET request to "<other path>"
    Then the response status is 200
    And the response header "X-Circuit-Breaker-State" is "CLOSED"
    And the circuit breaker of "<other>" is CLOSED
    And the circuit breaker of "<other>" counts 0 consecutive failures

    Examples:
      | failing         | failing path         | other           | other path           |
      | value-architect | /api/v1/value-models | value-committer | /api/v1/commitments  |
      | value-committer | /api/v1/commitments  | value-architect | /api/v1/value-models |
