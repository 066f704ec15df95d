@auth
Feature: Tokens are read from the query and cookies, and must not disagree
  The valueverse jwt plugin reads the Authorization header, the jwt query parameter and the jwt
  cookie. The same token in two places is fine; two different tokens are refused.

  Background:
    Given the stack is running
    And I have a valid token for "frontend-app"

  @AUTH-5
  Scenario: A token in the jwt query parameter
    Given the token is sent in the query parameter "jwt"
    When I send a GET request to "/api/v1/value-models"
    Then the response status is 200

  @AUTH-5
  Scenario: A token in the jwt cookie
    Given the token is sent in the cookie "jwt"
    When I send a GET request to "/api/v1/value-models/_echo"
    Then the response status is 200
    And the service received the header "X-Consumer-Username" with value "frontend-app"

  @AUTH-5
  Scenario: The same token in the header and the query is accepted
    Given the same token is also sent in the query parameter "jwt"
    When I send a GET request to "/api/v1/value-models"
    Then the response status is 200

  @AUTH-5
  Scenario: Two different tokens are refused
    Given a valid token for "admin-user" is also sent in the query parameter "jwt"
    When I send a GET request to "/api/v1/value-models"
    Then the response status is 401
    And the response JSON is:
      """
      {"message": "Multiple tokens provided"}
      """
    And the response header "WWW-Authenticate" is 'Bearer error="invalid_token"'
