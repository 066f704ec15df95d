@plugins
Feature: cors answers preflights and labels answers for browsers
  Kong's cors plugin (kong/plugins/cors/handler.lua, priority 2000) answers an OPTIONS request
  carrying Origin and Access-Control-Request-Method itself, before any authentication, and adds
  the Access-Control-Allow-* headers to every other answer (refusals included). The lab route
  `lab-cors` allows https://app.valueverse.test and the regex `(.*)\.partners\.valueverse\.test`
  (matched against the origin's host), with credentials. Cases follow
  spec/03-plugins/13-cors/01-access_spec.lua.

  Background:
    Given the stack is running

  @PLUG-2
  Scenario: A preflight is answered at the gateway, without a token
    Given the request header "Origin" is "https://app.valueverse.test"
    And the request header "Access-Control-Request-Method" is "POST"
    When I send a OPTIONS request to "/plugin-lab/cors"
    Then the response status is 200
    And the response header "Access-Control-Allow-Origin" is "https://app.valueverse.test"
    And the response header "Access-Control-Allow-Credentials" is "true"
    And the response header "Access-Control-Allow-Methods" is "GET,HEAD,PUT,PATCH,POST,DELETE,OPTIONS,TRACE,CONNECT"
    And the response header "Access-Control-Allow-Headers" is "Authorization,Content-Type"
    And the response header "Access-Control-Max-Age" is "3600"
    And the response header "Vary" is "Origin"
    And "value-architect" received 0 requests

  @PLUG-2
  Scenario Outline: Origin <origin> <result>
    Given I have a valid token for "admin-user"
    And the request header "Origin" is "<origin>"
    When I send a GET request to "/plugin-lab/cors/_echo"
    Then the response status is 200
    And the response header "Access-Control-Allow-Origin" is "<allowed>"
    And the response header "Access-Control-Allow-Credentials" is "true"
    And the response header "Access-Control-Expose-Headers" is "X-Request-Id"

    Examples:
      | origin                                | allowed                               | result                                  |
      | https://app.valueverse.test           | https://app.valueverse.test           | is allowed exactly                      |
      | https://app.valueverse.test:443       | https://app.valueverse.test           | is allowed without its default port     |
      | https://shop.partners.valueverse.test | https://shop.partners.valueverse.test | matches the regex by host               |

  @PLUG-2
  Scenario: An origin that is not allowed gets no Access-Control-Allow-Origin
    Given I have a valid token for "admin-user"
    And the request header "Origin" is "https://partners.valueverse.test.evil.example"
    When I send a GET request to "/plugin-lab/cors/_echo"
    Then the response status is 200
    And the response has no "Access-Control-Allow-Origin" header
    And the response header "Vary" is "Origin"

  @PLUG-2
  Scenario: A refusal by jwt still carries the CORS headers, so the browser can read it
    Given the request header "Origin" is "https://app.valueverse.test"
    When I send a GET request to "/plugin-lab/cors"
    Then the response status is 401
    And the response header "Access-Control-Allow-Origin" is "https://app.valueverse.test"
