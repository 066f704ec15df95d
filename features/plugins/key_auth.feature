@plugins
Feature: key-auth identifies consumers by API key
  Kong's key-auth plugin (kong/plugins/key-auth/handler.lua, priority 1250) looks for the key in
  each of `key_names`, first as a header, then as a query argument; its refusals are 401s with
  Kong's error template and `WWW-Authenticate: Key`. On the lab route `lab-key-auth` it runs after
  the global jwt plugin without `anonymous` (Kong's logical AND): both must pass, and the API key's
  consumer is the one the upstream hears about. Cases follow spec/03-plugins/09-key-auth/02-access_spec.lua.

  Background:
    Given the stack is running
    And I have a valid token for "admin-user"

  @PLUG-1
  Scenario Outline: The API key in <where> identifies its consumer, and the upstream does not see it
    Given the request header "<header>" is "<value>"
    When I send a GET request to "<path>"
    Then the response status is 200
    And the service received the header "X-Consumer-Username" with value "frontend-app"
    And the service did not receive the header "apikey"
    And the service did not receive the header "x-api-key"
    And the response JSON "query" is "<upstream query>"

    Examples:
      | where                | header    | value                            | path                                                                    | upstream query |
      | the apikey header    | ApiKey    | vv-frontend-app-api-key-4c8e1f2a | /plugin-lab/key-auth/_echo                                             | null           |
      | the x-api-key header | X-Api-Key | vv-frontend-app-api-key-4c8e1f2a | /plugin-lab/key-auth/_echo                                             | null           |
      | the query            | X-Other   | 1                                | /plugin-lab/key-auth/_echo?a=1&apikey=vv-frontend-app-api-key-4c8e1f2a | a=1            |

  @PLUG-1
  Scenario Outline: <case> gets 401 <message>
    When I send a GET request to "<path>"
    Then the response status is 401
    And the response JSON "message" is "<message>"
    And the response header "WWW-Authenticate" is "Key"

    Examples:
      | case                   | path                                           | message                     |
      | No key                 | /plugin-lab/key-auth                          | No API key found in request |
      | An empty key           | /plugin-lab/key-auth?apikey=                  | No API key found in request |
      | An unknown key         | /plugin-lab/key-auth?apikey=not-a-known-key   | Unauthorized                |
      | Two keys for one name  | /plugin-lab/key-auth?apikey=a&apikey=b        | Duplicate API key found     |

  @PLUG-1
  Scenario: The API key does not replace the JWT: without a token jwt refuses first
    Given I have no token
    And the request header "apikey" is "vv-frontend-app-api-key-4c8e1f2a"
    When I send a GET request to "/plugin-lab/key-auth"
    Then the response status is 401
    And the response header "WWW-Authenticate" is "Bearer"
