@rate-limit
Feature: 10,000 requests an hour per consumer
  The hour window is counted alongside the minute window and resets on the hour. With a minute
  limit of 100, one consumer can send at most 6,000 requests in an hour, so on the valueverse
  stack the hour limit shows in the headers but is never the one that refuses; the hour window's
  accounting and reset are what these scenarios verify.

  Background:
    Given the stack is running
    And the stack clock stands still
    And the clock reaches the start of the next hour
    And I have a valid token for "admin-user"

  @RATE-2
  Scenario: The hour count carries across minute windows
    When I send 100 GET requests to "/api/v1/value-models"
    And the clock reaches the start of the next minute
    And I send 100 GET requests to "/api/v1/value-models"
    Then the "X-RateLimit-Remaining-Hour" header of the last 100 responses counts down from 9899 to 9800
    And the response header "X-RateLimit-Limit-Hour" is "10000"

  @RATE-2
  Scenario: The hour count starts again on the hour
    When I send 100 GET requests to "/api/v1/value-models"
    And the clock reaches the start of the next hour
    # The hour-old token has expired; a fresh one is the same consumer.
    Given I have a valid token for "admin-user"
    When I send a GET request to "/api/v1/value-models"
    Then the response status is 200
    And the response header "X-RateLimit-Remaining-Hour" is "9999"
    And the response header "X-RateLimit-Remaining-Minute" is "X-RateLimit-Limit-Minute" minus 1
