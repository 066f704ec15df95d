@plugins
Feature: correlation-id tags each request with an id
  Kong's correlation-id plugin (kong/plugins/correlation-id/handler.lua, priority 100001) keeps
  the client's id in `header_name`, or generates one, sends it upstream, and with echo_downstream
  returns it to the client. The lab route `lab-correlation` uses X-Correlation-ID and the `uuid`
  generator. Cases follow spec/03-plugins/11-correlation-id/01-access_spec.lua.

  Background:
    Given the stack is running
    And I have a valid token for "admin-user"

  @PLUG-5
  Scenario: A request without an id gets a generated UUID, upstream and back
    When I send a GET request to "/plugin-lab/correlation/_echo"
    Then the response status is 200
    And the response header "X-Correlation-ID" matches "[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}"

  @PLUG-5
  Scenario: The client's own id is kept, upstream and back
    Given the request header "X-Correlation-ID" is "order-7781"
    When I send a GET request to "/plugin-lab/correlation/_echo"
    Then the response status is 200
    And the service received the header "X-Correlation-ID" with value "order-7781"
    And the response header "X-Correlation-ID" is "order-7781"

  @PLUG-5
  Scenario: A refused request is tagged too
    Given I have no token
    When I send a GET request to "/plugin-lab/correlation"
    Then the response status is 401
    And the response header "X-Correlation-ID" matches "[0-9a-f-]{36}"
