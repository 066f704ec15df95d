@plugins
Feature: ip-restriction refuses client addresses
  Kong's ip-restriction plugin (kong/plugins/ip-restriction/handler.lua, priority 990) checks the
  TCP peer's address against `deny` first, then `allow`, and refuses with
  `kong.response.error(status or 403, message or "IP address not allowed: <ip>")`. The scenarios'
  client is 127.0.0.1. Cases follow spec/03-plugins/17-ip-restriction/02-access_spec.lua.

  Background:
    Given the stack is running
    And I have a valid token for "admin-user"

  @PLUG-3
  Scenario Outline: Route <route> <result>
    When I send a GET request to "/plugin-lab/<route>/_echo"
    Then the response status is <status>
    And the response JSON "message" is "<message>"

    Examples:
      | route     | status | message                         | result                                       |
      | ip-deny   | 403    | IP address not allowed: 127.0.0.1 | refuses a denied address with Kong's text  |
      | ip-custom | 401    | Your IP address is not allowed  | refuses an address outside allow as configured |

  @PLUG-3
  Scenario: An allowed address passes
    When I send a GET request to "/plugin-lab/ip-allow/_echo"
    Then the response status is 200
    And the response JSON "path" is "/plugin-lab/ip-allow/_echo"
