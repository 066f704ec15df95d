@rate-limit
Feature: 100 requests a minute per consumer
  The global rate-limiting plugin allows each consumer 100 requests per calendar minute (and
  10,000 per hour). The 101st request in a minute gets 429 with Kong's headers; the count starts
  again at the next minute. Windows follow the stack clock, which stands still here (it moves
  only by the scenario's jumps), so reset times are exact however fast the requests are sent.

  Background:
    Given the stack is running
    And I have a valid token for "frontend-app"
    And the stack clock stands still
    And the clock reaches the start of the next minute

  @RATE-1
  Scenario: The headers count down and the 101st request is refused
    When I send 100 GET requests to "/api/v1/value-models"
    Then the last 100 responses have status 200
    And the "X-RateLimit-Remaining-Minute" header of the last 100 responses counts down from 99 to 0
    And the "RateLimit-Remaining" header of the last 100 responses counts down from 99 to 0
    And the response header "X-RateLimit-Limit-Minute" is "100"
    And the response header "X-RateLimit-Limit-Hour" is "10000"
    And the response header "X-RateLimit-Remaining-Hour" is "9900"
    And the response header "RateLimit-Limit" is "100"
    And the response header "RateLimit-Reset" is "60"
    When I send a GET request to "/api/v1/value-models"
    Then the response status is 429
    And the response JSON "message" is "API rate limit exceeded"
    And the response header "X-RateLimit-Limit-Minute" is "100"
    And the response header "X-RateLimit-Remaining-Minute" is "0"
    And the response header "RateLimit-Remaining" is "0"
    And the response header "Retry-After" is "60"
    And the response header "RateLimit-Reset" is "60"
    And the gateway metric 'gauntlet_gateway_rate_limited_total{consumer="frontend-app"}' is 1

  @RATE-1
  Scenario: Retry-After counts down to the end of the minute
    When I send 100 GET requests to "/api/v1/value-models"
    And 45 seconds pass
    And I send a GET request to "/api/v1/value-models"
    Then the response status is 429
    And the response header "Retry-After" is "15"
    And the response header "RateLimit-Reset" is "15"

  @RATE-1
  Scenario: The count starts again at the next minute
    When I send 101 GET requests to "/api/v1/value-models"
    Then the response status is 429
    When the clock reaches the start of the next minute
    And I send a GET request to "/api/v1/value-models"
    Then the response status is 200
    And the response header "X-RateLimit-Remaining-Minute" is "99"

  @RATE-1
  Scenario: Concurrent requests never exceed the limit
    When I send 150 concurrent GET requests to "/api/v1/commitments"
    Then exactly 100 of the last 150 responses have status 200
    And exactly 50 of the last 150 responses have status 429

  @RATE-1
  Scenario: One counter covers every route of the consumer
    When I send 50 GET requests to "/api/v1/value-models"
    And I send 50 GET requests to "/api/v1/commitments"
    Then the last 100 responses have status 200
    When I send a POST request to "/api/v1/commitments" with JSON:
      """
      {"value_model_id": "6f1d2c3b-8a4e-4f7b-9c2d-1e5a7b3c9d01", "owner": "finance", "target_date": "2027-03-31", "amount": 1000}
      """
    Then the response status is 429
    And the response JSON "message" is "API rate limit exceeded"
