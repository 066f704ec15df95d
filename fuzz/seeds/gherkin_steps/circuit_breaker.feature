@resilience
Feature: The circuit breaker protects a failing service and lets it recover
  Each service behind the gateway has its own circuit breaker (the circuit-breaker plugin in
  kong.yml). It counts failed upstream attempts — a connection error, a timeout, or a status in
  failure_statuses — and after failure_threshold of them in a row it opens: the gateway answers a
  fallback without calling the service until open_timeout has passed on the stack clock, then lets
  a few trial requests through. The clock jumps: the 60 s of recovery take milliseconds.

  Background:
    Given the stack is running
    And I have a valid token for "admin-user"

  @CB-1 @CB-6
  Scenario: A breaker starts CLOSED and says so on every proxied response
    Then the circuit breaker of "value-architect" is CLOSED
    When I send a GET request to "/api/v1/value-models"
    Then the response status is 200
    And the response header "X-Circuit-Breaker-State" is "CLOSED"
    And the response's breaker state matches the admin API for "value-architect"

  @CB-2
  Scenario: Five consecutive failed attempts open the breaker, and the fifth says OPEN
    Given "value-architect" answers 500 to every request
    When I send 4 GET requests to "/api/v1/value-models"
    Then the last 4 responses have status 500
    And the response header "X-Circuit-Breaker-State" is "CLOSED"
    And the circuit breaker of "value-architect" counts 4 consecutive failures
    When I send a GET request to "/api/v1/value-models"
    Then the response status is 500
    And the response header "X-Circuit-Breaker-State" is "OPEN"
    And the circuit breaker of "value-architect" is OPEN

  @CB-2
  Scenario: A success in between resets the count
    Given "value-architect" answers 500 to the next 4 requests
    When I send 4 GET requests to "/api/v1/value-models"
    Then the circuit breaker of "value-architect" counts 4 consecutive failures
    When I send a GET request to "/api/v1/value-models"
    Then the response status is 200
    And the circuit breaker of "value-architect" counts 0 consecutive failures
    Given "value-architect" answers 500 to the next 4 requests
    When I send 4 GET requests to "/api/v1/value-models"
    Then the circuit breaker of "value-architect" is CLOSED
    And the circuit breaker of "value-architect" counts 4 consecutive failures

  @CB-2
  Scenario: Statuses outside failure_statuses are successes
    Given "value-architect" answers 404 to every request
    When I send 10 GET requests to "/api/v1/value-models"
    Then the last 10 responses have status 404
    And the circuit breaker of "value-architect" is CLOSED
    And the circuit breaker of "value-architect" counts 0 consecutive failures

  @CB-3
  Scenario: While OPEN nothing reaches the service and the fallback comes back at once
    Given "value-architect" answers 500 to every request
    When I send GET requests to "/api/v1/value-models" until the circuit breaker of "value-architect" is OPEN
    # From now on a request that reached the service would come back 418.
    Given the faults on "value-architect" are cleared
    And "value-architect" answers 418 to every request
    When I send 10 GET requests to "/api/v1/value-models"
    Then the last 10 responses have status 503
    And the response header "X-Circuit-Breaker-State" is "OPEN"
    And the response JSON "service" is "value-architect"
    And the response header "Retry-After" is a number between 1 and 60
    And the response came back within 500 ms

  @CB-2
  Scenario: A stopped service opens the breaker after 5 failed attempts, retries counted
    # The first request is tried retries + 1 times; the breaker opens on whichever attempt is
    # the fifth failure in a row, and no attempt follows it.
    Given "value-architect" is stopped
    When I send GET requests to "/api/v1/value-models" until the circuit breaker of "value-architect" is OPEN
    Then the response status is 502
    And the gateway metric 'gauntlet_gateway_upstream_attempts_total{service="value-architect",outcome="connect_failed"}' is 5

  @CB-4 @CB-5
  Scenario: The platform runbook: a stopped service, the fallback, 60 seconds, a trial, recovery
    Given "value-architect" is stopped
    When I send GET requests to "/api/v1/value-models" until the circuit breaker of "value-architect" is OPEN
    Then the response status is 502
    When I send a GET request to "/api/v1/value-models"
    Then the response status is 503
    And the response header "X-Circuit-Breaker-State" is "OPEN"
    And the response header "Retry-After" is "60"
    When 59 seconds pass
    And I send a GET request to "/api/v1/value-models"
    Then the response status is 503
    And the response header "Retry-After" is "1"
    When 1 second passes
    And "value-architect" is started again
    And I send a GET request to "/api/v1/value-models"
    Then the response status is 200
    And the response header "X-Circuit-Breaker-State" is "HALF-OPEN"
    And the circuit breaker of "value-architect" is HALF-OPEN
    When I send 2 GET requests to "/api/v1/value-models"
    Then the last 2 responses have status 200
    And the response header "X-Circuit-Breaker-State" is "CLOSED"
    And the circuit breaker of "value-architect" went "CLOSED → OPEN → HALF-OPEN → CLOSED"

  @CB-5
  Scenario: A failed trial reopens the breaker for another 60 seconds
    Given "value-architect" answers 500 to every request
    When I send GET requests to "/api/v1/value-models" until the circuit breaker of "value-architect" is OPEN
    And 60 seconds pass
    And I send a GET request to "/api/v1/value-models"
    Then the response status is 500
    And the response header "X-Circuit-Breaker-State" is "OPEN"
    When 30 seconds pass
    And I send a GET request to "/api/v1/value-models"
    Then the response status is 503
    And the response header "Retry-After" is "30"
    When 30 seconds pass
    And the faults on "value-architect" are cleared
    And I send a GET request to "/api/v1/value-models"
    Then the response status is 200
    And the response header "X-Circuit-Breaker-State" is "HALF-OPEN"
    And the circuit breaker of "value-architect" went "CLOSED → OPEN → HALF-OPEN → OPEN → HALF-OPEN"

  @CB-4
  Scenario: HALF-OPEN lets at most three trials through at a time
    Given "value-architect" answers 500 to every request
    When I send GET requests to "/api/v1/value-models" until the circuit breaker of "value-architect" is OPEN
    And 60 seconds pass
    # The three trials hang; a fourth request that reached the service would get 200.
    Given the faults on "value-architect" are cleared
    And "value-architect" hangs on the next 3 requests
    When I start 3 GET requests to "/api/v1/value-models"
    And the started requests have reached "value-architect"
    And I send a GET request to "/api/v1/value-models"
    Then the response status is 503
    And the response header "X-Circuit-Breaker-State" is "HALF-OPEN"
    And the circuit breaker of "value-architect" is HALF-OPEN

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
  Scenario: The header and the admin API agree through every state
    Given "value-architect" answers 500 to every request
    When I send GET requests to "/api/v1/value-models" until the circuit breaker of "value-architect" is OPEN
    Then the response's breaker state matches the admin API for "value-architect"
    When 60 seconds pass
    And I send a GET request to "/api/v1/value-models"
    Then the response header "X-Circuit-Breaker-State" is "OPEN"
    And the response's breaker state matches the admin API for "value-architect"
    When 60 seconds pass
    And the faults on "value-architect" are cleared
    And I send a GET request to "/api/v1/value-models"
    Then the response header "X-Circuit-Breaker-State" is "HALF-OPEN"
    And the response's breaker state matches the admin API for "value-architect"
    When I send 2 GET requests to "/api/v1/value-models"
    Then the response header "X-Circuit-Breaker-State" is "CLOSED"
    And the response's breaker state matches the admin API for "value-architect"

  @CB-7
  Scenario: value-architect failing never opens value-committer's breaker
    Given "value-architect" is stopped
    When I send GET requests to "/api/v1/value-models" until the circuit breaker of "value-architect" is OPEN
    And I send a GET request to "/api/v1/commitments"
    Then the response status is 200
    And the response header "X-Circuit-Breaker-State" is "CLOSED"
    And the circuit breaker of "value-committer" is CLOSED
    And the circuit breaker of "value-committer" counts 0 consecutive failures
