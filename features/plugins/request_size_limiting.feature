@plugins
Feature: request-size-limiting refuses large bodies
  Kong's request-size-limiting plugin (kong/plugins/request-size-limiting/handler.lua, priority
  951) compares the body's Content-Length with allowed_payload_size × size_unit (kilobytes: 1024
  bytes) and refuses with 413 `Request size limit exceeded`, 417 when the client sent `Expect:
  100-continue`. The lab route `lab-size` allows 1 kilobyte. Cases follow
  spec/03-plugins/12-request-size-limiting/01-access_spec.lua.

  Background:
    Given the stack is running
    And I have a valid token for "admin-user"

  @PLUG-4
  Scenario: A body of exactly the limit passes
    When I send a POST request to "/plugin-lab/size/_echo" with a body of 1024 bytes
    Then the response status is 200

  @PLUG-4
  Scenario: One byte more gets 413
    When I send a POST request to "/plugin-lab/size/_echo" with a body of 1025 bytes
    Then the response status is 413
    And the response JSON "message" is "Request size limit exceeded"
    And "value-architect" received 0 requests

  @PLUG-4
  Scenario: Under Expect: 100-continue the refusal is 417
    Given the request header "Expect" is "100-continue"
    When I send a POST request to "/plugin-lab/size/_echo" with a body of 1025 bytes
    Then the response status is 417
    And the response JSON "message" is "Request size limit exceeded"
