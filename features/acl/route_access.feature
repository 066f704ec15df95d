@acl
Feature: Each consumer group reaches exactly its routes
  The valueverse security table: admin may use every route, frontend-app (group user) only the
  user routes, internal-services (group service) only the internal routes. A blocked request
  gets Kong's 403; an allowed one reaches the service with X-Consumer-Groups.

  Background:
    Given the stack is running

  @ACL-1 @ACL-4
  Scenario Outline: admin-user may <method> <path>
    Given I have a valid token for "admin-user"
    When I send a <method> request to "<path>"
    Then the response status is 200
    And the service received the header "X-Consumer-Groups" with value "admin"

    Examples:
      | method | path                       |
      | GET    | /api/v1/value-models/_echo |
      | POST   | /api/v1/value-models/_echo |
      | PUT    | /api/v1/value-models/_echo |
      | DELETE | /api/v1/value-models/_echo |
      | GET    | /api/v1/commitments/_echo  |
      | POST   | /api/v1/commitments/_echo  |
      | GET    | /internal/v1/_echo         |
      | POST   | /internal/v1/_echo         |

  @ACL-2 @ACL-4
  Scenario Outline: frontend-app may <method> <path>
    Given I have a valid token for "frontend-app"
    When I send a <method> request to "<path>"
    Then the response status is 200
    And the service received the header "X-Consumer-Groups" with value "user"

    Examples:
      | method | path                       |
      | GET    | /api/v1/value-models/_echo |
      | GET    | /api/v1/commitments/_echo  |
      | POST   | /api/v1/commitments/_echo  |

  @ACL-2
  Scenario Outline: frontend-app may not <method> <path>
    Given I have a valid token for "frontend-app"
    When I send a <method> request to "<path>"
    Then the response status is 403
    And the response JSON "message" is "You cannot consume this service"
    And the response has no "X-RateLimit-Remaining-Minute" header

    Examples:
      | method | path                       |
      | POST   | /api/v1/value-models/_echo |
      | PUT    | /api/v1/value-models/_echo |
      | DELETE | /api/v1/value-models/_echo |
      | GET    | /internal/v1/_echo         |
      | POST   | /internal/v1/sync          |

  @ACL-3 @ACL-4
  Scenario Outline: internal-services may <method> <path>
    Given I have a valid token for "internal-services"
    When I send a <method> request to "<path>"
    Then the response status is 200
    And the service received the header "X-Consumer-Groups" with value "service"

    Examples:
      | method | path               |
      | GET    | /internal/v1/_echo |
      | POST   | /internal/v1/_echo |
      | PUT    | /internal/v1/_echo |

  @ACL-3
  Scenario Outline: internal-services may not <method> <path>
    Given I have a valid token for "internal-services"
    When I send a <method> request to "<path>"
    Then the response status is 403
    And the response JSON "message" is "You cannot consume this service"

    Examples:
      | method | path                       |
      | GET    | /api/v1/value-models/_echo |
      | POST   | /api/v1/value-models/_echo |
      | PUT    | /api/v1/value-models/_echo |
      | DELETE | /api/v1/value-models/_echo |
      | GET    | /api/v1/commitments/_echo  |
      | POST   | /api/v1/commitments/_echo  |

  @ACL-4
  Scenario Outline: <consumer> (group user, <algorithm> tokens) reaches the user routes only
    Given I have a valid token for "<consumer>" signed with the private key "features/auth/keys/<private key>"
    When I send a GET request to "/api/v1/value-models/_echo"
    Then the response status is 200
    And the service received the header "X-Consumer-Groups" with value "user"
    When I send a PUT request to "/api/v1/value-models/_echo"
    Then the response status is 403
    When I send a GET request to "/internal/v1/_echo"
    Then the response status is 403

    Examples:
      | algorithm | consumer       | private key         |
      | RS256     | partner-rs256  | rsa-private.pem     |
      | PS512     | partner-ps512  | rsa-private.pem     |
      | ES256     | partner-es256  | ec-p256-private.pem |
      | ES384     | partner-es384  | ec-p384-private.pem |
      | ES512     | partner-es512  | ec-p521-private.pem |
      | EdDSA     | partner-eddsa  | ed25519-private.pem |

  @ACL-4
  Scenario: A client cannot claim groups it does not have
    Given I have a valid token for "frontend-app"
    And the request header "X-Consumer-Groups" is "admin"
    When I send a GET request to "/api/v1/value-models/_echo"
    Then the response status is 200
    And the service received the header "X-Consumer-Groups" with value "user"

  @ACL-2
  Scenario: The real write path is blocked for frontend-app and open for admin-user
    Given I have a valid token for "frontend-app"
    When I send a POST request to "/api/v1/value-models" with JSON:
      """
      {"name": "Onboarding Time Reduction", "description": "Shorten time to first value"}
      """
    Then the response status is 403
    Given I have a valid token for "admin-user"
    When I send a POST request to "/api/v1/value-models" with JSON:
      """
      {"name": "Onboarding Time Reduction", "description": "Shorten time to first value"}
      """
    Then the response status is 201
    And the response JSON "name" is "Onboarding Time Reduction"

  @ACL-2
  Scenario: Blocked requests are counted as acl refusals
    Given I have a valid token for "frontend-app"
    When I send 2 POST requests to "/api/v1/value-models"
    Then the last 2 responses have status 403
    And the gateway metric 'gauntlet_gateway_auth_failures_total{plugin="acl",reason="forbidden"}' is 2
    And the gateway metric 'gauntlet_gateway_http_requests_total{route="value-models-write",code="403",consumer="frontend-app"}' is 2

  @ACL-2
  Scenario: A path that climbs out of a user route is judged where it lands
    Given I have a valid token for "frontend-app"
    When I send a GET request to "/api/v1/value-models/../../../internal/v1/_echo"
    Then the response status is 403
    And the response JSON "message" is "You cannot consume this service"

  @ACL-1
  Scenario: The service receives the normalized path the ACL decided on
    Given I have a valid token for "admin-user"
    When I send a GET request to "/api/v1/value-models/../../../internal/v1/_echo"
    Then the response status is 200
    And the response JSON "path" is "/internal/v1/_echo"
    And the service received the header "X-Consumer-Groups" with value "admin"
