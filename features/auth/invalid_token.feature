@auth
Feature: A token that does not verify is refused with Kong's message
  Each way a token can be wrong gets 401, Kong's exact message, and
  WWW-Authenticate: Bearer error="invalid_token".

  Background:
    Given the stack is running

  @AUTH-3
  Scenario: A bad signature
    Given I have a token for "admin-user" signed with the wrong secret
    When I send a GET request to "/api/v1/value-models"
    Then the response status is 401
    And the response JSON is:
      """
      {"message": "Invalid signature"}
      """
    And the response header "WWW-Authenticate" is 'Bearer error="invalid_token"'

  @AUTH-3
  Scenario: An unknown issuer
    Given I have a token issued for the unknown key "123456789"
    When I send a GET request to "/api/v1/value-models"
    Then the response status is 401
    And the response JSON "message" is "No credentials found for given 'iss'"
    And the response header "WWW-Authenticate" is 'Bearer error="invalid_token"'

  @AUTH-3
  Scenario: A token without iss
    Given I have a token for "admin-user" without the "iss" claim
    When I send a GET request to "/api/v1/value-models"
    Then the response status is 401
    And the response JSON "message" is "No mandatory 'iss' in claims"

  @AUTH-3
  Scenario: The none algorithm
    Given I have a token for "admin-user" whose header says alg "none"
    When I send a GET request to "/api/v1/value-models"
    Then the response status is 401
    And the response JSON "message" is "Bad token; invalid alg"

  @AUTH-3
  Scenario: An algorithm other than the credential's
    Given I have a token for "admin-user" signed with algorithm "HS512"
    When I send a GET request to "/api/v1/value-models"
    Then the response status is 401
    And the response JSON "message" is "Invalid algorithm"

  @AUTH-3
  Scenario Outline: The malformed token <token>
    Given I have the malformed token "<token>"
    When I send a GET request to "/api/v1/value-models"
    Then the response status is 401
    And the response JSON "message" is "Bad token; invalid JSON"
    And the response header "WWW-Authenticate" is 'Bearer error="invalid_token"'

    Examples:
      | token                    |
      | not-a-jwt                |
      | aaa.bbb.ccc              |
      | eyJhbGciOiJIUzI1NiJ9.e30 |
