@rate-limit
Feature: Consumers are limited independently, and refused requests cost nothing
  limit_by: consumer gives each consumer its own counters. jwt (priority 1450) and acl (950) run
  before rate-limiting (910), so a request they refuse never reaches the counter. These hold
  whatever the configured numbers are, so they are written against the limit headers.

  Background:
    Given the stack is running
    And the stack clock stands still
    And the clock reaches the start of the next minute

  @RATE-3
  Scenario: One consumer's exhausted quota does not affect another
    Given I have a valid token for "frontend-app"
    When I send GET requests to "/api/v1/value-models" until one is refused
    Then the response status is 429
    Given I have a valid token for "admin-user"
    When I send a GET request to "/api/v1/value-models"
    Then the response status is 200
    And the response header "X-RateLimit-Remaining-Minute" is "X-RateLimit-Limit-Minute" minus 1

  @RATE-3
  Scenario: Requests refused by jwt consume no quota
    Given I have a token for "frontend-app" signed with the wrong secret
    When I send 20 GET requests to "/api/v1/value-models"
    Then the last 20 responses have status 401
    And the response has no "X-RateLimit-Remaining-Minute" header
    Given I have a valid token for "frontend-app"
    When I send a GET request to "/api/v1/value-models"
    Then the response status is 200
    And the response header "X-RateLimit-Remaining-Minute" is "X-RateLimit-Limit-Minute" minus 1

  @RATE-3
  Scenario: Requests refused by acl consume no quota
    Given I have a valid token for "internal-services"
    When I send 20 GET requests to "/api/v1/value-models"
    Then the last 20 responses have status 403
    When I send a GET request to "/internal/v1/sync"
    Then the response status is 200
    And the response header "X-RateLimit-Remaining-Minute" is "X-RateLimit-Limit-Minute" minus 1
