@auth
Feature: A valid token is proxied with the consumer's identity
  A correctly signed HS256 token for a known consumer passes the jwt plugin. The service sees
  who the consumer is through Kong's consumer headers, and a client cannot forge them.

  Background:
    Given the stack is running

  @AUTH-2
  Scenario: admin-user reads value models
    Given I have a valid token for "admin-user"
    When I send a GET request to "/api/v1/value-models"
    Then the response status is 200
    And the response JSON "count" is "3"

  @AUTH-2
  Scenario: The service receives the consumer headers
    Given I have a valid token for "frontend-app"
    When I send a GET request to "/api/v1/value-models/_echo"
    Then the response status is 200
    And the service received the header "X-Consumer-ID" with the id of consumer "frontend-app"
    And the service received the header "X-Consumer-Username" with value "frontend-app"
    And the service received the header "X-Consumer-Custom-ID" with value "vv-frontend"
    And the service received the header "X-Credential-Identifier" with value "frontend-app-jwt-key-9b1d4e7f-2c3a-4f8e-a6b5-0d9c8e7f6a51"
    And the service did not receive the header "X-Anonymous-Consumer"

  @AUTH-2
  Scenario: Consumer headers sent by the client are replaced, not trusted
    Given I have a valid token for "frontend-app"
    And the request header "X-Consumer-ID" is "00000000-0000-0000-0000-000000000000"
    And the request header "X-Consumer-Username" is "admin-user"
    And the request header "X-Consumer-Custom-ID" is "vv-admin"
    And the request header "X-Credential-Identifier" is "admin-user-jwt-key-3f6c2a9e-8d41-4b7a-9c1e-5a2d7f0b4e61"
    And the request header "X-Anonymous-Consumer" is "true"
    When I send a GET request to "/api/v1/value-models/_echo"
    Then the response status is 200
    And the service received the header "X-Consumer-ID" with the id of consumer "frontend-app"
    And the service received the header "X-Consumer-Username" with value "frontend-app"
    And the service received the header "X-Consumer-Custom-ID" with value "vv-frontend"
    And the service received the header "X-Credential-Identifier" with value "frontend-app-jwt-key-9b1d4e7f-2c3a-4f8e-a6b5-0d9c8e7f6a51"
    And the service did not receive the header "X-Anonymous-Consumer"

  @AUTH-2
  Scenario: The scheme word may be lower-case bearer
    Given I have a valid token for "admin-user"
    And the token is sent in the "Authorization" header with scheme "bearer"
    When I send a GET request to "/api/v1/value-models"
    Then the response status is 200

  @AUTH-2
  Scenario: A token signed with HS256 creates a commitment end to end
    Given I have a valid token for "admin-user"
    When I send a POST request to "/api/v1/commitments" with JSON:
      """
      {"value_model_id": "6f1d2c3b-8a4e-4f7b-9c2d-1e5a7b3c9d01", "owner": "finance", "target_date": "2027-03-31", "amount": 250000}
      """
    Then the response status is 201
    And the response JSON "status" is "committed"
