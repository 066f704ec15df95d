@auth
Feature: Token lifetime is enforced on the stack clock
  The valueverse jwt plugin verifies exp and nbf with no leeway and caps a token's remaining
  lifetime at maximum_expiration (86400 s). Time moves with the stack clock, so these run in
  milliseconds and pass the same way with --real-time.

  Background:
    Given the stack is running

  @AUTH-4
  Scenario: An expired token is refused
    Given I have a token for "frontend-app" that expired 10 seconds ago
    When I send a GET request to "/api/v1/value-models"
    Then the response status is 401
    And the response JSON is:
      """
      {"exp": "token expired"}
      """
    And the response header "WWW-Authenticate" is 'Bearer error="invalid_token"'

  @AUTH-4
  Scenario: A token stops working the moment it expires
    Given I have a token for "frontend-app" that expires in 30 seconds
    When I send a GET request to "/api/v1/value-models"
    Then the response status is 200
    When 30 seconds pass
    And I send a GET request to "/api/v1/value-models"
    Then the response status is 401
    And the response JSON is:
      """
      {"exp": "token expired"}
      """

  @AUTH-4
  Scenario: A token is refused until its nbf, then accepted
    Given I have a token for "frontend-app" that becomes valid in 5 minutes
    When I send a GET request to "/api/v1/value-models"
    Then the response status is 401
    And the response JSON is:
      """
      {"nbf": "token not valid yet"}
      """
    When 5 minutes pass
    And I send a GET request to "/api/v1/value-models"
    Then the response status is 200

  @AUTH-4
  Scenario: A token living longer than maximum_expiration is refused
    Given I have a token for "admin-user" that lives for 2 days
    When I send a GET request to "/api/v1/value-models"
    Then the response status is 401
    And the response JSON is:
      """
      {"exp": "exceeds maximum allowed expiration"}
      """

  @AUTH-4
  Scenario: A token living one second longer than maximum_expiration is refused
    # The clock stands still, so no second passes between signing and checking.
    Given the stack clock stands still
    And I have a token for "admin-user" that lives for 86401 seconds
    When I send a GET request to "/api/v1/value-models"
    Then the response status is 401
    And the response JSON is:
      """
      {"exp": "exceeds maximum allowed expiration"}
      """

  @AUTH-4
  Scenario: A token living exactly maximum_expiration is accepted
    Given the stack clock stands still
    And I have a token for "admin-user" that lives for 1 day
    When I send a GET request to "/api/v1/value-models"
    Then the response status is 200

  @AUTH-4
  Scenario: A token without exp is refused when exp must be verified
    Given I have a token for "admin-user" without the "exp" claim
    When I send a GET request to "/api/v1/value-models"
    Then the response status is 401
    And the response JSON is:
      """
      {"exp": "must be a number"}
      """
