@auth
Feature: A request without a token is refused
  Every route of the gateway requires a JWT. Without one the gateway answers like Kong's jwt
  plugin: 401, {"message":"Unauthorized"} and a Bearer challenge, and nothing reaches a service.

  Background:
    Given the stack is running
    And I have no token

  @AUTH-1
  Scenario Outline: No token on <method> <path> gives 401 Unauthorized
    When I send a <method> request to "<path>"
    Then the response status is 401
    And the response JSON is:
      """
      {"message": "Unauthorized"}
      """
    And the response header "WWW-Authenticate" is "Bearer"

    Examples:
      | method | path                          |
      | GET    | /api/v1/value-models          |
      | POST   | /api/v1/value-models          |
      | GET    | /api/v1/commitments           |
      | POST   | /api/v1/commitments           |
      | GET    | /internal/v1/sync             |

  @AUTH-1
  Scenario Outline: Authorization "<authorization>" counts as no token
    Given the request header "Authorization" is "<authorization>"
    When I send a GET request to "/api/v1/value-models"
    Then the response status is 401
    And the response JSON "message" is "Unauthorized"
    And the response header "WWW-Authenticate" is "Bearer"

    Examples:
      | authorization                  |
      | Basic YWxhZGRpbjpvcGVuc2VzYW1l |
      | Bearer                         |
      | Token abc.def.ghi              |

  @AUTH-1
  Scenario: The scheme word must be Bearer or bearer, not BEARER
    Given I have a valid token for "admin-user"
    And the token is sent in the "Authorization" header with scheme "BEARER"
    When I send a GET request to "/api/v1/value-models"
    Then the response status is 401
    And the response JSON "message" is "Unauthorized"

  @AUTH-1
  Scenario: A write without a token changes nothing
    When I send a POST request to "/api/v1/value-models" with JSON:
      """
      {"name": "Should Not Exist"}
      """
    Then the response status is 401
    Given I have a valid token for "admin-user"
    When I send a GET request to "/api/v1/value-models"
    Then the response status is 200
    And the response JSON "count" is "3"
